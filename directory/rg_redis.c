/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * rg_redis.c - the connection pool to Redis, and the few commands rcptguard
 * sends (GET with PTTL, SET EX, SET NX EX, DEL, XADD, XREVRANGE, and a
 * sliding window in a sorted set: ZCOUNT, or MULTI ZREMRANGEBYSCORE ZADD
 * ZCOUNT EXPIRE EXEC).
 *
 * Reads: RedisURI (redis://HOST:PORT[/DB] or unix:/PATH[?db=N]), or
 * RedisSentinels, RedisMasterName, RedisDB and RedisSentinelPasswordFile;
 * RedisTimeout, RedisPasswordFile and RedisUser (AUTH on every connect).
 * Reports: "Redis unreachable (WHY)" once when a connection fails (a
 * refused AUTH too, or no sentinel naming the master), "Redis reachable
 * again" when one opens again, "Redis master NAME is HOST:PORT" when the
 * sentinels name a new one, and an
 * error reply (OOM, READONLY...) as "Redis refused COMMAND: ERROR" at most
 * every five minutes.  Every command answers ok, miss or failed
 * (rg_redis.h); the callers decide what a failure means (for the cache, a
 * miss).
 *
 * Redis is a help, not a need: every connect and command has RedisTimeout;
 * a context that failed is dropped with every idle one (they reach the same
 * server); contexts are re-opened with a short backoff (at most
 * REDIS_BACKOFF_MAX, so that Redis is used again within a second of its
 * return) from a thread of their own in the daemon, on demand in the
 * command-line tools.  A new context must answer PING before it is handed
 * out, so that a hung server costs the reconnecting thread its timeout, not
 * an RCPT; and the thread closes idle contexts whose server hung up.  An
 * error reply leaves the context open.  Nothing is logged while the mutex
 * is held.
 *
 * With RedisSentinels, the server is the master they name: before a
 * connect, when none is known, the sentinels are asked in order
 * (SENTINEL get-master-addr-by-name, each within RedisTimeout) and the
 * first answer is taken; the server must then say ROLE master.  A failure
 * of a context to it (dropped, timed out, READONLY, ROLE replica, a
 * refused connect) forgets it and closes every context to it, so that the
 * next connect asks the sentinels again: a failover is followed without a
 * restart, through the same backoff and thread as a reconnect, so that
 * dead sentinels cost the thread a few RedisTimeouts per attempt and no
 * RCPT anything.  Reads and writes go to the master only.
 *
 * Every call goes through a table of functions (struct rg_redis_backend):
 * the pool here is one backend, a test's fake is another.  Only this file
 * knows hiredis.
 */
#include "config.h"
#include "rg_redis.h"
#include "rg_clock.h"
#include "rg_log.h"
#include "rg_metrics.h"

#include <hiredis/hiredis.h>
#ifdef HAVE_HIREDIS_SSL
#include <hiredis/hiredis_ssl.h>
#endif
#ifdef HAVE_MALLOC_TRIM
#include <malloc.h>
#endif
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REDIS_SLOTS 4
#define REDIS_BACKOFF_MIN 0.1       /* seconds before the first reconnect */
#define REDIS_BACKOFF_MAX 0.5       /* and at most, however long it is down */
#define REDIS_TICK 0.25             /* the reconnecting thread looks this often */
#define REDIS_ERROR_LOG_EVERY 300       /* seconds between logs of error replies */
#define REDIS_FIELDS_MAX 32         /* strings in one XADD's fields */

struct rg_redis {
	const struct rg_redis_backend *be;
	void *arg;
};

struct rslot {
	redisContext *c;
	int busy;
	unsigned gen;                   /* p->gen when it was opened */
};

/*
 * The real backend: connections to one server, RedisURI's or the master
 * that RedisSentinels name.
 */
struct pool {
	const struct rg_config *cf;
	char host[256];                 /* RedisURI's; with sentinels, the master */
	int port;
	char upath[256];
	int db;
	int tls;                        /* rediss:// */
#ifdef HAVE_HIREDIS_SSL
	redisSSLContext *ssl;
#endif
	pthread_mutex_t mu;
	struct rslot slots[REDIS_SLOTS];
	double retry_at, backoff;
	int down_logged;
	double error_logged_at;         /* last "Redis refused" */
	int background;
	pthread_t thread;
	pthread_cond_t cv;
	int stop;
	int sentinel;                   /* RedisSentinels name the server */
	int master_known;               /* host and port hold their last answer */
	unsigned gen;                   /* bumped when that answer is forgotten */
	char said_host[256];            /* the master last logged */
	int said_port;
};

/* Where a new context goes, and the generation of that answer. */
struct target {
	char host[256];
	int port;
	unsigned gen;
};

static void setwhy(char *why, size_t whylen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
setwhy(char *why, size_t whylen, const char *fmt, ...)
{
	va_list ap;

	if (why == NULL || whylen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(why, whylen, fmt, ap);
	va_end(ap);
}

/* ---- the connections ---- */

/* redis://HOST:PORT[/DB] (rediss:// with hiredis_ssl) or unix:/PATH[?db=N]
 * into P; -1 when malformed. */
static int
parse_uri(struct pool *p, const char *uri)
{
	if (strncmp(uri, "unix:", 5) == 0) {
		const char *q = strstr(uri, "?db=");
		size_t len = q ? (size_t)(q - uri - 5) : strlen(uri + 5);
		if (len == 0 || len >= sizeof(p->upath))
			return -1;
		memcpy(p->upath, uri + 5, len);
		p->upath[len] = '\0';
		p->db = q ? atoi(q + 4) : 0;
		return 0;
	}
	const char *h;
#ifdef HAVE_HIREDIS_SSL
	p->tls = strncmp(uri, "rediss://", 9) == 0;
#endif
	if (p->tls)
		h = uri + 9;
	else if (strncmp(uri, "redis://", 8) == 0)
		h = uri + 8;
	else
		return -1;
	const char *colon = strrchr(h, ':');
	const char *slash = strchr(h, '/');
	if (slash != NULL && colon != NULL && colon > slash)
		colon = NULL;
	size_t hlen = colon ? (size_t)(colon - h) : slash ? (size_t)(slash - h) : strlen(h);
	if (hlen == 0 || hlen >= sizeof(p->host))
		return -1;
	memcpy(p->host, h, hlen);
	p->host[hlen] = '\0';
	p->port = colon ? atoi(colon + 1) : 6379;
	p->db = slash ? atoi(slash + 1) : 0;
	return (p->port > 0 && p->port < 65536) ? 0 : -1;
}

static struct timeval
pool_tv(const struct pool *p)
{
	struct timeval tv;
	double t = p->cf->redis_timeout;

	tv.tv_sec = (time_t)t;
	tv.tv_usec = (suseconds_t)((t - (double)tv.tv_sec) * 1e6);
	return tv;
}

#ifdef HAVE_HIREDIS_SSL
/*
 * rediss://: the TLS handshake on the new context RC, bounded by
 * RedisTimeout (set on RC before), the server's certificate checked against
 * RedisTLSCACertFile (or the system's CAs).  0, or -1 with WHY.
 */
static int
pool_tls(const struct pool *p, redisContext *rc, char *why, size_t whylen)
{
	if (!p->tls)
		return 0;
	if (redisInitiateSSLWithContext(rc, p->ssl) != REDIS_OK) {
		setwhy(why, whylen, "TLS: %s", rc->errstr[0] ? rc->errstr : "handshake failed");
		return -1;
	}
	return 0;
}

static void
tls_init_once(void)
{
	redisInitOpenSSL();
}

/* The TLS context of a rediss:// pool; 0, or -1 (logged). */
static int
pool_tls_context(struct pool *p)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	const char *ca = p->cf->redis_tls_ca_file;
	redisSSLContextError err = REDIS_SSL_CTX_NONE;

	if (!p->tls)
		return 0;
	pthread_once(&once, tls_init_once);
	p->ssl = redisCreateSSLContext(ca[0] ? ca : NULL, NULL, NULL, NULL, p->host, &err);
	if (p->ssl == NULL) {
		rg_log(LOG_ERR, "RedisURI: cannot set up TLS (%s); not using Redis",
		    redisSSLContextGetError(err));
		return -1;
	}
	return 0;
}
#else
static int
pool_tls(const struct pool *p, redisContext *rc, char *why, size_t whylen)
{
	(void)p; (void)rc; (void)why; (void)whylen;
	return 0;
}

static int
pool_tls_context(struct pool *p)
{
	(void)p;
	return 0;
}
#endif

/*
 * AUTH [RedisUser] PASSWORD on the new context RC, when RedisPasswordFile is
 * set; within RedisTimeout, as every command.  0, or -1 with WHY: a refusal
 * (WRONGPASS) makes the context useless, and it is dropped like a failed
 * connect, so that it is logged once, not once per request.  The password
 * never goes into WHY: Redis's error text does not repeat it.
 */
static int
pool_auth(const struct pool *p, redisContext *rc, char *why, size_t whylen)
{
	const struct rg_config *cf = p->cf;
	const char *argv[3];
	int argc = 0;

	if (cf->redis_password == NULL)
		return 0;
	argv[argc++] = "AUTH";
	if (cf->redis_user[0] != '\0')
		argv[argc++] = cf->redis_user;
	argv[argc++] = cf->redis_password;
	redisReply *r = redisCommandArgv(rc, argc, argv, NULL);
	int bad = r == NULL || r->type == REDIS_REPLY_ERROR;
	if (r == NULL)
		setwhy(why, whylen, "AUTH: %s", rc->err ? rc->errstr : "no answer");
	else if (bad)
		setwhy(why, whylen, "AUTH%s%s refused: %s", argc == 3 ? " as " : "",
		    argc == 3 ? cf->redis_user : "", r->str);
	if (r != NULL)
		freeReplyObject(r);
	return bad ? -1 : 0;
}

/* SELECT the database when it is not 0.  0, or -1 with WHY. */
static int
pool_select(const struct pool *p, redisContext *rc, char *why, size_t whylen)
{
	if (p->db == 0)
		return 0;
	redisReply *r = redisCommand(rc, "SELECT %d", p->db);
	int bad = r == NULL || r->type == REDIS_REPLY_ERROR;
	if (bad)
		setwhy(why, whylen, "SELECT %d: %s", p->db, r ? r->str : rc->errstr);
	if (r)
		freeReplyObject(r);
	return bad ? -1 : 0;
}

/*
 * With RedisSentinels: does the server of T on RC answer ROLE with
 * "master"?  A replica (the sentinels' answer is out of date: a failover
 * is under way) or an error reply fails, with WHY.
 */
static int
pool_role(const struct pool *p, redisContext *rc, const struct target *t, char *why,
    size_t whylen)
{
	if (!p->sentinel)
		return 0;
	redisReply *r = redisCommand(rc, "ROLE");
	const redisReply *e = r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements > 0 &&
	    r->element[0]->type == REDIS_REPLY_STRING ? r->element[0] : NULL;
	int master = e != NULL && strcmp(e->str, "master") == 0;

	if (r == NULL)
		setwhy(why, whylen, "ROLE: %s", rc->err ? rc->errstr : "no answer");
	else if (r->type == REDIS_REPLY_ERROR)
		setwhy(why, whylen, "ROLE: %s", r->str);
	else if (!master)
		setwhy(why, whylen, "%s:%d, named master by the sentinels, says ROLE %s",
		    t->host, t->port, e != NULL ? e->str : "(unexpected reply)");
	if (r != NULL)
		freeReplyObject(r);
	return master ? 0 : -1;
}

/*
 * Connect to T (or RedisURI's unix socket), set the timeout, authenticate
 * (RedisPasswordFile), PING, select the database, and with RedisSentinels
 * check that it is the master (ROLE): a server that
 * accepts the connection but does not answer (hung, stopped) fails here,
 * within RedisTimeout, and not later in the hands of an RCPT.  An error
 * reply to PING (NOAUTH, NOPERM) is a live server: the context is kept.
 */
static redisContext *
pool_open(struct pool *p, const struct target *t, char *why, size_t whylen)
{
	struct timeval tv = pool_tv(p);
	redisContext *rc = p->upath[0] ? redisConnectUnixWithTimeout(p->upath, tv)
	    : redisConnectWithTimeout(t->host, t->port, tv);

	if (rc == NULL) {
		setwhy(why, whylen, "out of memory");
		return NULL;
	}
	if (rc->err) {
		setwhy(why, whylen, "%s", rc->errstr);
		redisFree(rc);
		return NULL;
	}
	redisSetTimeout(rc, tv);
	if (pool_tls(p, rc, why, whylen) < 0 || pool_auth(p, rc, why, whylen) < 0) {
		redisFree(rc);
		return NULL;
	}
	redisReply *r = redisCommand(rc, "PING");
	if (r == NULL) {
		setwhy(why, whylen, "PING: %s", rc->err ? rc->errstr : "no answer");
		redisFree(rc);
		return NULL;
	}
	freeReplyObject(r);
	if (pool_select(p, rc, why, whylen) < 0 || pool_role(p, rc, t, why, whylen) < 0) {
		redisFree(rc);
		return NULL;
	}
	return rc;
}

/* ---- Redis Sentinel ---- */

/*
 * SENTINEL get-master-addr-by-name RedisMasterName on RC, a sentinel's
 * context, into T's host and port.  0, or -1 with WHY.
 */
static int
sentinel_query(const struct pool *p, redisContext *rc, struct target *t, char *why,
    size_t whylen)
{
	const char *name = p->cf->redis_master_name;
	const char *argv[] = { "SENTINEL", "get-master-addr-by-name", name };
	redisReply *r = redisCommandArgv(rc, 3, argv, NULL);
	int ok = 0;

	if (r == NULL) {
		setwhy(why, whylen, "%s", rc->err ? rc->errstr : "no answer");
		return -1;
	}
	if (r->type == REDIS_REPLY_ERROR) {
		setwhy(why, whylen, "%s", r->str);
	} else if (r->type == REDIS_REPLY_NIL) {
		setwhy(why, whylen, "knows no master %s", name);
	} else if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
	    r->element[0]->type != REDIS_REPLY_STRING ||
	    r->element[1]->type != REDIS_REPLY_STRING ||
	    r->element[0]->len == 0 || r->element[0]->len >= sizeof(t->host)) {
		setwhy(why, whylen, "unexpected reply");
	} else {
		t->port = atoi(r->element[1]->str);
		memcpy(t->host, r->element[0]->str, r->element[0]->len + 1);
		ok = t->port > 0 && t->port < 65536;
		if (!ok)
			setwhy(why, whylen, "unexpected port %s", r->element[1]->str);
	}
	freeReplyObject(r);
	return ok ? 0 : -1;
}

/*
 * Ask the sentinel S where the master is: connect, AUTH with
 * RedisSentinelPasswordFile when set, and the query, each within
 * RedisTimeout.  0 with T's host and port, or -1 with WHY.
 */
static int
sentinel_ask(const struct pool *p, const struct rg_hostport *s, struct target *t, char *why,
    size_t whylen)
{
	struct timeval tv = pool_tv(p);
	redisContext *rc = redisConnectWithTimeout(s->host, s->port, tv);
	int rv = -1;

	if (rc == NULL) {
		setwhy(why, whylen, "out of memory");
		return -1;
	}
	if (rc->err) {
		setwhy(why, whylen, "%s", rc->errstr);
		redisFree(rc);
		return -1;
	}
	redisSetTimeout(rc, tv);
	if (p->cf->redis_sentinel_password != NULL) {
		const char *auth[] = { "AUTH", p->cf->redis_sentinel_password };
		redisReply *r = redisCommandArgv(rc, 2, auth, NULL);
		if (r == NULL || r->type == REDIS_REPLY_ERROR)
			setwhy(why, whylen, "AUTH refused: %s", r ? r->str : rc->errstr);
		else
			rv = 0;
		if (r != NULL)
			freeReplyObject(r);
	} else {
		rv = 0;
	}
	if (rv == 0)
		rv = sentinel_query(p, rc, t, why, whylen);
	redisFree(rc);
	return rv;
}

/*
 * The master's address from the first of RedisSentinels that gives it,
 * asked in order.  0 with T's host and port and *FROM the sentinel that
 * answered, or -1 with each sentinel's reason in WHY (never a password).
 */
static int
sentinel_discover(const struct pool *p, struct target *t, size_t *from, char *why,
    size_t whylen)
{
	const struct rg_config *cf = p->cf;

	setwhy(why, whylen, "no sentinel named the master %s:", cf->redis_master_name);
	for (size_t i = 0; i < cf->nredis_sentinels; i++) {
		const struct rg_hostport *s = &cf->redis_sentinels[i];
		char reason[160];
		if (sentinel_ask(p, s, t, reason, sizeof(reason)) == 0) {
			*from = i;
			return 0;
		}
		size_t used = why != NULL ? strlen(why) : whylen;
		if (used < whylen)
			setwhy(why + used, whylen - used, "%s %s:%d %s", i ? ";" : "", s->host,
			    s->port, reason);
	}
	return -1;
}

/*
 * Where to open the next context, into T: RedisURI's server; with
 * RedisSentinels the master they named last, or, when that was forgotten
 * (after a failure), what they say now (I/O, without the mutex; a new
 * address is logged).  0, or -1 with WHY.
 */
static int
pool_target(struct pool *p, struct target *t, char *why, size_t whylen)
{
	size_t from = 0;
	int known, changed = 0;

	pthread_mutex_lock(&p->mu);
	known = !p->sentinel || p->master_known;
	if (known) {
		memcpy(t->host, p->host, sizeof(t->host));
		t->port = p->port;
	}
	t->gen = p->gen;
	pthread_mutex_unlock(&p->mu);
	if (known)
		return 0;
	if (sentinel_discover(p, t, &from, why, whylen) < 0)
		return -1;
	pthread_mutex_lock(&p->mu);
	if (p->gen == t->gen && !p->master_known) {
		memcpy(p->host, t->host, sizeof(p->host));
		p->port = t->port;
		p->master_known = 1;
		changed = strcmp(p->said_host, t->host) != 0 || p->said_port != t->port;
		memcpy(p->said_host, t->host, sizeof(p->said_host));
		p->said_port = t->port;
	}
	pthread_mutex_unlock(&p->mu);
	if (changed)
		rg_log(LOG_INFO, "Redis master %s is %s:%d (sentinel %s:%d)",
		    p->cf->redis_master_name, t->host, t->port, p->cf->redis_sentinels[from].host,
		    p->cf->redis_sentinels[from].port);
	return 0;
}

/*
 * Called with mu held.  With RedisSentinels, after a failure of a context
 * of generation GEN (a drop, a timeout, READONLY, a refused connect, ROLE
 * replica): forget the master it led to, so that the next connect asks
 * the sentinels again, and move the idle contexts into DROP (*NDROP
 * entries; REDIS_SLOTS more fit).  A failure of an older generation
 * changes nothing.
 */
static void
pool_forget(struct pool *p, unsigned gen, redisContext **drop, size_t *ndrop)
{
	if (!p->sentinel || !p->master_known || gen != p->gen)
		return;
	p->master_known = 0;
	p->gen++;
	for (int i = 0; i < REDIS_SLOTS; i++) {
		if (p->slots[i].c != NULL && !p->slots[i].busy) {
			drop[(*ndrop)++] = p->slots[i].c;
			p->slots[i].c = NULL;
		}
	}
}

/* Free the N contexts of DROP (mu not held). */
static void
drop_free(redisContext **drop, size_t n)
{
	for (size_t i = 0; i < n; i++)
		redisFree(drop[i]);
}

/* A change of Redis's state, logged once the mutex is released. */
struct rnote {
	int down, back;
	char why[256];
};

static void
note_log(const struct rnote *n)
{
	if (n->down)
		rg_log(LOG_WARNING, "Redis unreachable (%s); answering from LDAP until it is back",
		    n->why);
	if (n->back) {
		rg_log(LOG_INFO, "Redis reachable again");
#ifdef HAVE_MALLOC_TRIM
		/*
		 * An outage leaves the buffers of the contexts that failed freed
		 * but scattered in the arenas of the threads that held them; give
		 * the free pages back once, now that the pool is whole again.
		 */
		malloc_trim(0);
#endif
	}
}

/* Called with mu held: note a failure and when to try again. */
static void
pool_failed(struct pool *p, const char *why, struct rnote *note)
{
	p->retry_at = rg_now() + p->backoff;
	p->backoff = p->backoff * 2 > REDIS_BACKOFF_MAX ? REDIS_BACKOFF_MAX : p->backoff * 2;
	if (!p->down_logged) {
		p->down_logged = 1;
		note->down = 1;
		snprintf(note->why, sizeof(note->why), "%s", why);
	}
}

/* Called with mu held. */
static void
pool_ok(struct pool *p, struct rnote *note)
{
	note->back = p->down_logged;
	p->down_logged = 0;
	p->backoff = REDIS_BACKOFF_MIN;
	p->retry_at = 0;
}

/*
 * Open a context into slot I, marked busy by the caller (mu not held): to
 * the target, found first with RedisSentinels.  A failure starts the
 * backoff (and forgets the master); a context opened to a master forgotten
 * meanwhile is closed.  0, or -1 with WHY.
 */
static int
fill_slot(struct pool *p, int i, char *why, size_t whylen)
{
	struct rnote note = { 0, 0, "" };
	redisContext *drop[REDIS_SLOTS + 1];
	size_t ndrop = 0;
	struct target t;
	redisContext *rc = NULL;

	if (pool_target(p, &t, why, whylen) == 0)
		rc = pool_open(p, &t, why, whylen);
	pthread_mutex_lock(&p->mu);
	p->slots[i].busy = 0;
	if (rc == NULL) {
		pool_failed(p, why, &note);
		pool_forget(p, t.gen, drop, &ndrop);
	} else if (t.gen != p->gen) {
		drop[ndrop++] = rc;
	} else {
		p->slots[i].c = rc;
		p->slots[i].gen = t.gen;
		pool_ok(p, &note);
	}
	pthread_mutex_unlock(&p->mu);
	drop_free(drop, ndrop);
	note_log(&note);
	return rc == NULL ? -1 : 0;
}

/* Open contexts for up to MAX empty slots; mu is not held on entry.  The
 * last failure's reason goes to WHY. */
static void
pool_fill(struct pool *p, int max, char *why, size_t whylen)
{
	for (int i = 0; i < REDIS_SLOTS && max > 0; i++) {
		pthread_mutex_lock(&p->mu);
		int want = p->slots[i].c == NULL && !p->slots[i].busy && rg_now() >= p->retry_at;
		if (want)
			p->slots[i].busy = 1;
		pthread_mutex_unlock(&p->mu);
		if (!want)
			continue;
		char reason[256];
		if (fill_slot(p, i, reason, sizeof(reason)) < 0) {
			setwhy(why, whylen, "%s", reason);
			return;
		}
		max--;
	}
}

/*
 * Close idle contexts whose server went away: an idle connection has
 * nothing to read, so one that polls readable has met its end (EOF, reset;
 * with RedisSentinels the master is then asked for again, and a failover
 * closes the connections to the old master: Sentinel kills them).
 * No I/O, no waiting; a killed Redis is seen here within REDIS_TICK, before
 * an RCPT takes a dead context.
 */
static void
pool_sweep(struct pool *p)
{
	redisContext *drop[REDIS_SLOTS];
	size_t ndrop = 0;

	pthread_mutex_lock(&p->mu);
	for (int i = 0; i < REDIS_SLOTS; i++) {
		redisContext *rc = p->slots[i].c;
		if (rc == NULL || p->slots[i].busy)
			continue;
		struct pollfd pfd = { .fd = rc->fd, .events = POLLIN };
		if (poll(&pfd, 1, 0) != 0 || p->slots[i].gen != p->gen) {
			drop[ndrop++] = rc;
			p->slots[i].c = NULL;
			pool_forget(p, p->slots[i].gen, drop, &ndrop);
		}
	}
	pthread_mutex_unlock(&p->mu);
	drop_free(drop, ndrop);
}

static void *
pool_thread(void *arg)
{
	struct pool *p = arg;

	pthread_mutex_lock(&p->mu);
	while (!p->stop) {
		pthread_mutex_unlock(&p->mu);
		pool_sweep(p);
		pool_fill(p, REDIS_SLOTS, NULL, 0);
		pthread_mutex_lock(&p->mu);
		struct timespec ts = rg_timespec_in(REDIS_TICK);
		pthread_cond_timedwait(&p->cv, &p->mu, &ts);
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

/*
 * An open context, marked busy, or NULL (WHY says why).  With none open,
 * the tools open one now (after the backoff); the daemon leaves that to its
 * thread and does without meanwhile: an RCPT never waits for a connect.
 */
static redisContext *
pool_take(struct pool *p, char *why, size_t whylen)
{
	setwhy(why, whylen, "not connected (reconnecting)");
	for (int attempt = 0; attempt < 2; attempt++) {
		pthread_mutex_lock(&p->mu);
		for (int i = 0; i < REDIS_SLOTS; i++) {
			if (!p->slots[i].busy && p->slots[i].c != NULL) {
				p->slots[i].busy = 1;
				redisContext *rc = p->slots[i].c;
				pthread_mutex_unlock(&p->mu);
				return rc;
			}
		}
		pthread_mutex_unlock(&p->mu);
		if (p->background)
			return NULL;
		pool_fill(p, 1, why, whylen);
	}
	return NULL;
}

/*
 * Give RC back.  A context that FAILED (I/O error, timeout; with
 * RedisSentinels READONLY too; FAILED says why) is closed, and
 * so is every idle one: they lead to the same server, and a hung server
 * would otherwise cost one RedisTimeout per context to the RCPTs that take
 * them; with RedisSentinels the master is asked for again.  A context to a
 * master forgotten while it was out is closed too.  The thread re-opens
 * them, each checked with PING (and ROLE) first.
 */
static void
pool_give(struct pool *p, redisContext *rc, const char *failed)
{
	redisContext *drop[REDIS_SLOTS + 1];
	struct rnote note = { 0, 0, "" };
	size_t ndrop = 0;

	pthread_mutex_lock(&p->mu);
	for (int i = 0; i < REDIS_SLOTS; i++) {
		if (p->slots[i].c == rc) {
			if (failed != NULL)
				pool_failed(p, failed, &note);
			if (failed != NULL || p->slots[i].gen != p->gen) {
				drop[ndrop++] = rc;
				p->slots[i].c = NULL;
			}
			p->slots[i].busy = 0;
			if (failed != NULL)
				pool_forget(p, p->slots[i].gen, drop, &ndrop);
			break;
		}
	}
	for (int i = 0; failed != NULL && i < REDIS_SLOTS; i++) {
		if (p->slots[i].c != NULL && !p->slots[i].busy) {
			drop[ndrop++] = p->slots[i].c;
			p->slots[i].c = NULL;
		}
	}
	pthread_mutex_unlock(&p->mu);
	drop_free(drop, ndrop);
	note_log(&note);
}

/* An error reply (OOM, READONLY...): the connection stays, the admin is
 * told, at most every five minutes. */
static void
pool_refused(struct pool *p, const char *command, const char *error)
{
	double now = rg_now();
	int say;

	pthread_mutex_lock(&p->mu);
	say = p->error_logged_at == 0 || now - p->error_logged_at >= REDIS_ERROR_LOG_EVERY;
	if (say)
		p->error_logged_at = now;
	pthread_mutex_unlock(&p->mu);
	if (say)
		rg_log(LOG_WARNING, "Redis refused %s: %s (said at most every %d s)", command,
		    error, REDIS_ERROR_LOG_EVERY);
}

/* ---- commands ---- */

/* One command: ARGC strings of ARGV. */
struct cmd {
	int argc;
	const char **argv;
};

static void
replies_free(redisReply **out, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (out[i] != NULL)
			freeReplyObject(out[i]);
		out[i] = NULL;
	}
}

/*
 * With RedisSentinels, a READONLY error among the N replies OUT: the
 * server is a replica now (a failover happened), and the context is
 * dropped like a failed one.  Returns that error text, or NULL.
 */
static const char *
replies_readonly(const struct pool *p, redisReply **out, size_t n)
{
	for (size_t i = 0; p->sentinel && i < n; i++)
		if (out[i]->type == REDIS_REPLY_ERROR && strncmp(out[i]->str, "READONLY", 8) == 0)
			return out[i]->str;
	return NULL;
}

/*
 * Send the N commands CMD in one round trip and read their replies into
 * OUT.  0 when every one answered without an error; -1 otherwise, with
 * WHY set and OUT empty.  NAME is the command's name in "Redis refused".
 */
static int
pool_run(struct pool *p, const char *name, const struct cmd *cmd, size_t n, redisReply **out,
    char *why, size_t whylen)
{
	redisContext *rc = pool_take(p, why, whylen);
	int failed = 0;

	rg_metrics_add(RG_M_REDIS_ERRORS, rc == NULL);
	for (size_t i = 0; i < n; i++)
		out[i] = NULL;
	if (rc == NULL)
		return -1;
	for (size_t i = 0; i < n && !failed; i++)
		failed = redisAppendCommandArgv(rc, cmd[i].argc, cmd[i].argv, NULL) != REDIS_OK;
	for (size_t i = 0; i < n && !failed; i++)
		failed = redisGetReply(rc, (void **)&out[i]) != REDIS_OK || out[i] == NULL;
	const char *readonly = failed ? NULL : replies_readonly(p, out, n);
	char reason[256];
	if (failed)
		setwhy(reason, sizeof(reason), "%s", rc->err ? rc->errstr : "no reply");
	else if (readonly != NULL)
		setwhy(reason, sizeof(reason), "%s", readonly);
	failed = failed || readonly != NULL;
	if (failed)
		setwhy(why, whylen, "%s", reason);
	rg_metrics_add(RG_M_REDIS_ERRORS, failed);
	pool_give(p, rc, failed ? reason : NULL);
	if (failed) {
		replies_free(out, n);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		if (out[i]->type == REDIS_REPLY_ERROR) {
			setwhy(why, whylen, "%s", out[i]->str);
			pool_refused(p, name, out[i]->str);
			replies_free(out, n);
			return -1;
		}
	}
	return 0;
}

static enum rg_redis_status
pool_get(void *arg, const char *key, char *value, size_t vlen, double *ttl, char *why,
    size_t whylen)
{
	const char *get[] = { "GET", key }, *pttl[] = { "PTTL", key };
	const struct cmd cmd[2] = { { 2, get }, { 2, pttl } };
	redisReply *r[2];
	enum rg_redis_status st = RG_REDIS_FAILED;

	if (pool_run(arg, "GET", cmd, 2, r, why, whylen) < 0)
		return RG_REDIS_FAILED;
	if (r[0]->type == REDIS_REPLY_NIL || (r[1]->type == REDIS_REPLY_INTEGER &&
	    r[1]->integer == -2)) {
		st = RG_REDIS_MISS;
	} else if (r[0]->type != REDIS_REPLY_STRING || r[1]->type != REDIS_REPLY_INTEGER) {
		setwhy(why, whylen, "GET: unexpected reply");
	} else if (r[0]->len >= vlen) {
		setwhy(why, whylen, "GET: a value of %zu bytes, more than %zu", (size_t)r[0]->len,
		    vlen - 1);
	} else {
		memcpy(value, r[0]->str, r[0]->len);
		value[r[0]->len] = '\0';
		if (ttl != NULL)
			*ttl = r[1]->integer < 0 ? -1 : (double)r[1]->integer / 1000.0;
		st = RG_REDIS_OK;
	}
	replies_free(r, 2);
	return st;
}

static enum rg_redis_status
pool_set(void *arg, const char *key, const char *value, int seconds, int nx, char *why,
    size_t whylen)
{
	char ex[16];
	const char *argv[] = { "SET", key, value, "EX", ex, "NX" };
	const struct cmd cmd = { nx ? 6 : 5, argv };
	redisReply *r;
	enum rg_redis_status st = RG_REDIS_FAILED;

	snprintf(ex, sizeof(ex), "%d", seconds);
	if (pool_run(arg, nx ? "SET NX" : "SET", &cmd, 1, &r, why, whylen) < 0)
		return RG_REDIS_FAILED;
	if (r->type == REDIS_REPLY_STATUS)
		st = RG_REDIS_OK;
	else if (nx && r->type == REDIS_REPLY_NIL)
		st = RG_REDIS_MISS;
	else
		setwhy(why, whylen, "SET: unexpected reply");
	freeReplyObject(r);
	return st;
}

static enum rg_redis_status
pool_del(void *arg, const char *key, char *why, size_t whylen)
{
	const char *argv[] = { "DEL", key };
	const struct cmd cmd = { 2, argv };
	redisReply *r;

	if (pool_run(arg, "DEL", &cmd, 1, &r, why, whylen) < 0)
		return RG_REDIS_FAILED;
	freeReplyObject(r);
	return RG_REDIS_OK;
}

static enum rg_redis_status
pool_xadd(void *arg, const char *stream, int maxlen, const char *const *fields, size_t nfields,
    char *why, size_t whylen)
{
	const char *argv[6 + REDIS_FIELDS_MAX];
	char max[16];
	redisReply *r;
	int argc = 0;

	if (nfields > REDIS_FIELDS_MAX || nfields % 2 != 0) {
		setwhy(why, whylen, "XADD: %zu strings of fields", nfields);
		return RG_REDIS_FAILED;
	}
	snprintf(max, sizeof(max), "%d", maxlen);
	argv[argc++] = "XADD";
	argv[argc++] = stream;
	argv[argc++] = "MAXLEN";
	argv[argc++] = "~";
	argv[argc++] = max;
	argv[argc++] = "*";
	for (size_t i = 0; i < nfields; i++)
		argv[argc++] = fields[i];
	const struct cmd cmd = { argc, argv };
	if (pool_run(arg, "XADD", &cmd, 1, &r, why, whylen) < 0)
		return RG_REDIS_FAILED;
	freeReplyObject(r);
	return RG_REDIS_OK;
}

/* Call FN with the string fields of the stream entry ENT (id, [k, v, ...]). */
static void
entry_call(const redisReply *ent, rg_redis_entry_fn *fn, void *fnarg)
{
	if (ent->type != REDIS_REPLY_ARRAY || ent->elements < 2 ||
	    ent->element[1]->type != REDIS_REPLY_ARRAY)
		return;
	const redisReply *kv = ent->element[1];
	const char **fields = calloc(kv->elements + 1, sizeof(*fields));
	size_t n = 0;
	if (fields == NULL)
		return;
	for (size_t k = 0; k + 1 < kv->elements; k += 2) {
		if (kv->element[k]->type != REDIS_REPLY_STRING ||
		    kv->element[k + 1]->type != REDIS_REPLY_STRING)
			continue;
		fields[n++] = kv->element[k]->str;
		fields[n++] = kv->element[k + 1]->str;
	}
	fn(fnarg, fields, n);
	free(fields);
}

static enum rg_redis_status
pool_xrevrange(void *arg, const char *stream, int count, rg_redis_entry_fn *fn, void *fnarg,
    char *why, size_t whylen)
{
	char n[16];
	const char *argv[] = { "XREVRANGE", stream, "+", "-", "COUNT", n };
	const struct cmd cmd = { 6, argv };
	redisReply *r;

	snprintf(n, sizeof(n), "%d", count);
	if (pool_run(arg, "XREVRANGE", &cmd, 1, &r, why, whylen) < 0)
		return RG_REDIS_FAILED;
	if (r->type != REDIS_REPLY_ARRAY) {
		setwhy(why, whylen, "XREVRANGE: unexpected reply");
		freeReplyObject(r);
		return RG_REDIS_FAILED;
	}
	/* newest first from Redis; called oldest first */
	for (size_t i = r->elements; i-- > 0;)
		entry_call(r->element[i], fn, fnarg);
	freeReplyObject(r);
	return RG_REDIS_OK;
}

/* The window's count when only counting: ZCOUNT KEY (NOW-WINDOW +inf. */
static enum rg_redis_status
zwindow_count(struct pool *p, const char *key, const char *from, long *count, char *why,
    size_t whylen)
{
	const char *argv[] = { "ZCOUNT", key, from, "+inf" };
	const struct cmd cmd = { 4, argv };
	redisReply *r;
	enum rg_redis_status st = RG_REDIS_FAILED;

	if (pool_run(p, "ZCOUNT", &cmd, 1, &r, why, whylen) < 0)
		return RG_REDIS_FAILED;
	if (r->type == REDIS_REPLY_INTEGER) {
		*count = (long)r->integer;
		st = RG_REDIS_OK;
	} else {
		setwhy(why, whylen, "ZCOUNT: unexpected reply");
	}
	freeReplyObject(r);
	return st;
}

static enum rg_redis_status
pool_zwindow(void *arg, const char *key, double now, int window, const char *member,
    long *count, char *why, size_t whylen)
{
	char from[40], at[40], old[40], ex[16];

	snprintf(from, sizeof(from), "(%.6f", now - window);
	if (member == NULL)
		return zwindow_count(arg, key, from, count, why, whylen);
	snprintf(old, sizeof(old), "%.6f", now - window);
	snprintf(at, sizeof(at), "%.6f", now);
	snprintf(ex, sizeof(ex), "%d", window);
	const char *multi[] = { "MULTI" }, *exec[] = { "EXEC" };
	const char *rem[] = { "ZREMRANGEBYSCORE", key, "-inf", old };
	const char *add[] = { "ZADD", key, at, member };
	const char *cnt[] = { "ZCOUNT", key, from, "+inf" };
	const char *exp[] = { "EXPIRE", key, ex };
	const struct cmd cmd[6] = { { 1, multi }, { 4, rem }, { 4, add }, { 4, cnt },
	    { 3, exp }, { 1, exec } };
	redisReply *r[6];
	enum rg_redis_status st = RG_REDIS_FAILED;

	if (pool_run(arg, "MULTI/EXEC (the harvest window)", cmd, 6, r, why, whylen) < 0)
		return RG_REDIS_FAILED;
	const redisReply *e = r[5];
	if (e->type == REDIS_REPLY_ARRAY && e->elements == 4 &&
	    e->element[2]->type == REDIS_REPLY_INTEGER) {
		*count = (long)e->element[2]->integer;
		st = RG_REDIS_OK;
	} else {
		setwhy(why, whylen, "EXEC: unexpected reply");
	}
	replies_free(r, 6);
	return st;
}

static void
pool_free(void *arg)
{
	struct pool *p = arg;

	if (p->background) {
		pthread_mutex_lock(&p->mu);
		p->stop = 1;
		pthread_cond_signal(&p->cv);
		pthread_mutex_unlock(&p->mu);
		pthread_join(p->thread, NULL);
	}
	for (int i = 0; i < REDIS_SLOTS; i++)
		if (p->slots[i].c)
			redisFree(p->slots[i].c);
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->cv);
#ifdef HAVE_HIREDIS_SSL
	if (p->ssl != NULL)
		redisFreeSSLContext(p->ssl);
#endif
	free(p);
}

static const struct rg_redis_backend pool_backend = {
	.get = pool_get,
	.set = pool_set,
	.del = pool_del,
	.xadd = pool_xadd,
	.xrevrange = pool_xrevrange,
	.zwindow = pool_zwindow,
	.free = pool_free,
};

/* ---- the handle ---- */

struct rg_redis *
rg_redis_with(const struct rg_redis_backend *be, void *arg)
{
	struct rg_redis *r = calloc(1, sizeof(*r));

	if (r == NULL)
		return NULL;
	r->be = be;
	r->arg = arg;
	return r;
}

struct rg_redis *
rg_redis_new(const struct rg_config *cf, int background)
{
	int sentinel = cf->nredis_sentinels > 0;
	if (!sentinel && (cf->redis_uri[0] == '\0' || strcmp(cf->redis_uri, "none") == 0))
		return NULL;
	struct pool *p = calloc(1, sizeof(*p));
	if (p == NULL)
		return NULL;
	p->cf = cf;
	p->sentinel = sentinel;
	p->db = cf->redis_db;
	if (!sentinel && parse_uri(p, cf->redis_uri) < 0) {
		rg_log(LOG_ERR, "RedisURI %s: cannot parse; not using Redis", cf->redis_uri);
		free(p);
		return NULL;
	}
	if (pool_tls_context(p) < 0) {
		free(p);
		return NULL;
	}
	pthread_mutex_init(&p->mu, NULL);
	rg_cond_init(&p->cv);
	p->backoff = REDIS_BACKOFF_MIN;
	struct rg_redis *r = rg_redis_with(&pool_backend, p);
	if (r == NULL) {
		pool_free(p);
		return NULL;
	}
	p->background = background;
	if (background && pthread_create(&p->thread, NULL, pool_thread, p) != 0)
		p->background = 0;
	return r;
}

void
rg_redis_free(struct rg_redis *r)
{
	if (r == NULL)
		return;
	if (r->be->free != NULL)
		r->be->free(r->arg);
	free(r);
}

/* NULL handle, or a backend without this command: fail, saying so. */
static enum rg_redis_status
unusable(const struct rg_redis *r, char *why, size_t whylen)
{
	setwhy(why, whylen, r == NULL ? "Redis is not configured" : "not supported");
	return RG_REDIS_FAILED;
}

enum rg_redis_status
rg_redis_get(struct rg_redis *r, const char *key, char *value, size_t vlen, double *ttl,
    char *why, size_t whylen)
{
	if (r == NULL || r->be->get == NULL)
		return unusable(r, why, whylen);
	if (vlen == 0) {
		setwhy(why, whylen, "GET: no room for a value");
		return RG_REDIS_FAILED;
	}
	return r->be->get(r->arg, key, value, vlen, ttl, why, whylen);
}

enum rg_redis_status
rg_redis_set(struct rg_redis *r, const char *key, const char *value, int seconds, char *why,
    size_t whylen)
{
	if (r == NULL || r->be->set == NULL)
		return unusable(r, why, whylen);
	return r->be->set(r->arg, key, value, seconds, 0, why, whylen);
}

enum rg_redis_status
rg_redis_set_nx(struct rg_redis *r, const char *key, const char *value, int seconds,
    char *why, size_t whylen)
{
	if (r == NULL || r->be->set == NULL)
		return unusable(r, why, whylen);
	return r->be->set(r->arg, key, value, seconds, 1, why, whylen);
}

enum rg_redis_status
rg_redis_del(struct rg_redis *r, const char *key, char *why, size_t whylen)
{
	if (r == NULL || r->be->del == NULL)
		return unusable(r, why, whylen);
	return r->be->del(r->arg, key, why, whylen);
}

enum rg_redis_status
rg_redis_xadd(struct rg_redis *r, const char *stream, int maxlen, const char *const *fields,
    size_t nfields, char *why, size_t whylen)
{
	if (r == NULL || r->be->xadd == NULL)
		return unusable(r, why, whylen);
	return r->be->xadd(r->arg, stream, maxlen, fields, nfields, why, whylen);
}

enum rg_redis_status
rg_redis_xrevrange(struct rg_redis *r, const char *stream, int count, rg_redis_entry_fn *fn,
    void *fnarg, char *why, size_t whylen)
{
	if (r == NULL || r->be->xrevrange == NULL)
		return unusable(r, why, whylen);
	return r->be->xrevrange(r->arg, stream, count, fn, fnarg, why, whylen);
}

enum rg_redis_status
rg_redis_zwindow(struct rg_redis *r, const char *key, double now, int window,
    const char *member, long *count, char *why, size_t whylen)
{
	if (r == NULL || r->be->zwindow == NULL)
		return unusable(r, why, whylen);
	return r->be->zwindow(r->arg, key, now, window, member, count, why, whylen);
}
