/*
 * rg_cache.c - the answer cache: in process first, then Redis.
 *
 * The in-process cache is a hash table with a least-recently-used list,
 * LocalCacheSize entries at most, behind one mutex that is never held
 * across I/O.  Redis, when RedisURI is set, is shared by every MTA that
 * points at it; its keys are "rcptguard:v1:FINGERPRINT:ADDRESS", the
 * fingerprint standing for the lookup settings, so a changed LDAPURI, base or
 * filter never reads an answer given under the old ones.
 *
 * Every entry has two ages: it is fresh for its TTL (CacheTTL,
 * NegativeCacheTTL), and it is kept longer, for StaleTTL, when the caller
 * asks (found addresses): rg_cache_get() returns fresh entries only, and
 * rg_cache_get_stale() returns an entry stored less than StaleTTL ago,
 * fresh or not, for when the directory cannot answer.  In Redis the value
 * carries when it was stored and until when it is fresh, as wall-clock
 * times, "VALUE;seen=EPOCH;fresh=EPOCH", so that every MTA sharing it
 * agrees; the key lives as long as the entry is kept.
 *
 * Redis is a help, not a need: every command has RedisTimeout; a context
 * that failed is dropped with every idle one (they reach the same server),
 * "Redis unreachable" is logged once, lookups go to LDAP meanwhile, and
 * contexts are re-opened with a short backoff (at most REDIS_BACKOFF_MAX,
 * so that Redis is used again within a second of its return) from a thread
 * of their own in the daemon, on demand in the command-line tools.  A new
 * context must answer PING before it is handed out, so that a hung server
 * costs the reconnecting thread its timeout, not an RCPT; and the thread
 * closes idle contexts whose server hung up.  Nothing is logged while a
 * mutex is held.
 */
#include "rg_cache.h"
#include "rg_hash.h"
#include "rg_clock.h"
#include "rg_log.h"

#include <hiredis/hiredis.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REDIS_SLOTS 4
#define REDIS_BACKOFF_MIN 0.1       /* seconds before the first reconnect */
#define REDIS_BACKOFF_MAX 0.5       /* and at most, however long it is down */
#define REDIS_TICK 0.25             /* the reconnecting thread looks this often */
#define REDIS_ERROR_LOG_EVERY 300       /* seconds between logs of error replies */

struct node {
	struct node *hnext;             /* hash chain */
	struct node *prev, *next;       /* LRU list, most recent first */
	double seen;                    /* monotonic: when the answer was given */
	double fresh_until;             /* rg_cache_get() returns it until then */
	double keep_until;              /* rg_cache_get_stale() until then */
	uint64_t hash;
	char value[RG_CACHE_VALUE_MAX];
	char key[];
};

struct rslot {
	redisContext *c;
	int busy;
};

struct rg_cache {
	const struct rg_config *cf;

	pthread_mutex_t mu;             /* the local table */
	struct node **buckets;
	size_t nbuckets, count, cap;
	struct node *head, *tail;

	/* Redis */
	int use_redis;
	char host[256];
	int port;
	char upath[256];
	int db;
	pthread_mutex_t rmu;
	struct rslot rslots[REDIS_SLOTS];
	double retry_at, backoff;
	int down_logged;
	double error_logged_at;         /* last "Redis answered with an error" */
	int background;
	pthread_t thread;
	pthread_cond_t rcv;
	int stop;
};

static uint64_t
hash_str(const char *s)
{
	return rg_fnv1a(RG_FNV_START, s);
}

/* ---- in process ---- */

static void
lru_unlink(struct rg_cache *c, struct node *n)
{
	if (n->prev)
		n->prev->next = n->next;
	else
		c->head = n->next;
	if (n->next)
		n->next->prev = n->prev;
	else
		c->tail = n->prev;
	n->prev = n->next = NULL;
}

static void
lru_front(struct rg_cache *c, struct node *n)
{
	n->next = c->head;
	n->prev = NULL;
	if (c->head)
		c->head->prev = n;
	c->head = n;
	if (c->tail == NULL)
		c->tail = n;
}

/* Take N out of C's table and list, without freeing it. */
static void
table_unlink(struct rg_cache *c, struct node *n)
{
	struct node **pp = &c->buckets[n->hash & (c->nbuckets - 1)];

	while (*pp != n)
		pp = &(*pp)->hnext;
	*pp = n->hnext;
	lru_unlink(c, n);
	c->count--;
}

static void
table_remove(struct rg_cache *c, struct node *n)
{
	table_unlink(c, n);
	free(n);
}

static struct node *
table_find(struct rg_cache *c, const char *key, uint64_t h)
{
	for (struct node *n = c->buckets[h & (c->nbuckets - 1)]; n; n = n->hnext)
		if (n->hash == h && strcmp(n->key, key) == 0)
			return n;
	return NULL;
}

/*
 * Copy the value of KEY into VALUE: a fresh entry, or with STALE one stored
 * less than StaleTTL ago.  An entry no longer kept is dropped.  1 on a hit.
 */
static int
local_get(struct rg_cache *c, const char *key, char *value, size_t vlen, int stale)
{
	uint64_t h = hash_str(key);
	double now = rg_now();
	int hit = 0;

	if (c->cap == 0)
		return 0;
	pthread_mutex_lock(&c->mu);
	struct node *n = table_find(c, key, h);
	if (n != NULL && n->keep_until <= now) {
		table_remove(c, n);
	} else if (n != NULL && (stale ? now - n->seen < c->cf->stale_ttl : now < n->fresh_until)) {
		lru_unlink(c, n);
		lru_front(c, n);
		snprintf(value, vlen, "%s", n->value);
		hit = 1;
	}
	pthread_mutex_unlock(&c->mu);
	return hit;
}

/* Forget KEY in process. */
static void
local_forget(struct rg_cache *c, const char *key)
{
	uint64_t h = hash_str(key);

	if (c->cap == 0)
		return;
	pthread_mutex_lock(&c->mu);
	struct node *n = table_find(c, key, h);
	if (n != NULL)
		table_remove(c, n);
	pthread_mutex_unlock(&c->mu);
}

/* Remember KEY=VALUE given AGE seconds ago, fresh for FRESH more seconds and
 * kept for KEEP more (KEEP >= FRESH). */
static void
local_put(struct rg_cache *c, const char *key, const char *value, double fresh, double keep,
    double age)
{
	uint64_t h = hash_str(key);
	size_t klen = strlen(key);
	double now = rg_now();

	if (c->cap == 0 || keep <= 0)
		return;
	struct node *n = malloc(sizeof(*n) + klen + 1);
	if (n == NULL)
		return;
	memset(n, 0, sizeof(*n));
	memcpy(n->key, key, klen + 1);
	snprintf(n->value, sizeof(n->value), "%s", value);
	n->hash = h;
	n->seen = now - age;
	n->fresh_until = now + fresh;
	n->keep_until = now + keep;
	pthread_mutex_lock(&c->mu);
	struct node *old = table_find(c, key, h);
	if (old != NULL)
		table_remove(c, old);
	while (c->count >= c->cap && c->tail != NULL)
		table_remove(c, c->tail);
	struct node **b = &c->buckets[h & (c->nbuckets - 1)];
	n->hnext = *b;
	*b = n;
	lru_front(c, n);
	c->count++;
	pthread_mutex_unlock(&c->mu);
}

size_t
rg_cache_adopt(struct rg_cache *to, struct rg_cache *from)
{
	double now = rg_now();
	size_t moved = 0;

	/* TO is not in use yet, so no one else holds both locks */
	pthread_mutex_lock(&from->mu);
	pthread_mutex_lock(&to->mu);
	while (from->tail != NULL) {
		struct node *n = from->tail;    /* oldest first: the order stays */
		table_unlink(from, n);
		if (to->cap == 0 || n->keep_until <= now ||
		    table_find(to, n->key, n->hash) != NULL) {
			free(n);
			continue;
		}
		while (to->count >= to->cap && to->tail != NULL)
			table_remove(to, to->tail);
		struct node **b = &to->buckets[n->hash & (to->nbuckets - 1)];
		n->hnext = *b;
		*b = n;
		lru_front(to, n);
		to->count++;
		moved++;
	}
	pthread_mutex_unlock(&to->mu);
	pthread_mutex_unlock(&from->mu);
	return moved;
}

/* ---- Redis ---- */

/* redis://HOST:PORT[/DB] or unix:/PATH[?db=N] */
static int
parse_redis_uri(struct rg_cache *c, const char *uri)
{
	if (strncmp(uri, "unix:", 5) == 0) {
		const char *q = strstr(uri, "?db=");
		size_t len = q ? (size_t)(q - uri - 5) : strlen(uri + 5);
		if (len == 0 || len >= sizeof(c->upath))
			return -1;
		memcpy(c->upath, uri + 5, len);
		c->upath[len] = '\0';
		c->db = q ? atoi(q + 4) : 0;
		return 0;
	}
	const char *p = uri + 8;        /* after redis:// */
	const char *colon = strrchr(p, ':');
	const char *slash = strchr(p, '/');
	if (slash != NULL && colon != NULL && colon > slash)
		colon = NULL;
	size_t hlen = colon ? (size_t)(colon - p) : slash ? (size_t)(slash - p) : strlen(p);
	if (hlen == 0 || hlen >= sizeof(c->host))
		return -1;
	memcpy(c->host, p, hlen);
	c->host[hlen] = '\0';
	c->port = colon ? atoi(colon + 1) : 6379;
	c->db = slash ? atoi(slash + 1) : 0;
	return (c->port > 0 && c->port < 65536) ? 0 : -1;
}

static struct timeval
redis_tv(const struct rg_cache *c)
{
	struct timeval tv;
	double t = c->cf->redis_timeout;

	tv.tv_sec = (time_t)t;
	tv.tv_usec = (suseconds_t)((t - (double)tv.tv_sec) * 1e6);
	return tv;
}

/*
 * Connect, set the timeout, select the database, and PING: a server that
 * accepts the connection but does not answer (hung, stopped) fails here,
 * within RedisTimeout, and not later in the hands of an RCPT.  An error
 * reply to PING (NOAUTH, NOPERM) is a live server: the context is kept.
 */
static redisContext *
redis_open(struct rg_cache *c, char *why, size_t whylen)
{
	struct timeval tv = redis_tv(c);
	redisContext *rc = c->upath[0] ? redisConnectUnixWithTimeout(c->upath, tv)
	    : redisConnectWithTimeout(c->host, c->port, tv);

	if (rc == NULL) {
		snprintf(why, whylen, "out of memory");
		return NULL;
	}
	if (rc->err) {
		snprintf(why, whylen, "%s", rc->errstr);
		redisFree(rc);
		return NULL;
	}
	redisSetTimeout(rc, tv);
	redisReply *r = redisCommand(rc, "PING");
	if (r == NULL) {
		snprintf(why, whylen, "PING: %s", rc->err ? rc->errstr : "no answer");
		redisFree(rc);
		return NULL;
	}
	freeReplyObject(r);
	if (c->db != 0) {
		r = redisCommand(rc, "SELECT %d", c->db);
		int bad = r == NULL || r->type == REDIS_REPLY_ERROR;
		if (bad)
			snprintf(why, whylen, "SELECT %d: %s", c->db, r ? r->str : rc->errstr);
		if (r)
			freeReplyObject(r);
		if (bad) {
			redisFree(rc);
			return NULL;
		}
	}
	return rc;
}

/* A change of Redis's state, logged once the mutex is released. */
struct rnote {
	int down, back;
	char why[256];
};

static void
redis_note_log(const struct rnote *n)
{
	if (n->down)
		rg_log(LOG_WARNING, "Redis unreachable (%s); answering from LDAP until it is back",
		    n->why);
	if (n->back)
		rg_log(LOG_INFO, "Redis reachable again");
}

/* Called with rmu held: note a failure and when to try again. */
static void
redis_failed(struct rg_cache *c, const char *why, struct rnote *note)
{
	c->retry_at = rg_now() + c->backoff;
	c->backoff = c->backoff * 2 > REDIS_BACKOFF_MAX ? REDIS_BACKOFF_MAX : c->backoff * 2;
	if (!c->down_logged) {
		c->down_logged = 1;
		note->down = 1;
		snprintf(note->why, sizeof(note->why), "%s", why);
	}
}

/* Called with rmu held. */
static void
redis_ok(struct rg_cache *c, struct rnote *note)
{
	note->back = c->down_logged;
	c->down_logged = 0;
	c->backoff = REDIS_BACKOFF_MIN;
	c->retry_at = 0;
}

/* Open contexts for empty slots; rmu is not held on entry. */
static void
redis_fill(struct rg_cache *c, int max)
{
	for (int i = 0; i < REDIS_SLOTS && max > 0; i++) {
		struct rnote note = { 0, 0, "" };
		pthread_mutex_lock(&c->rmu);
		int want = c->rslots[i].c == NULL && !c->rslots[i].busy && rg_now() >= c->retry_at;
		if (want)
			c->rslots[i].busy = 1;
		pthread_mutex_unlock(&c->rmu);
		if (!want)
			continue;
		char why[256];
		redisContext *rc = redis_open(c, why, sizeof(why));
		pthread_mutex_lock(&c->rmu);
		c->rslots[i].c = rc;
		c->rslots[i].busy = 0;
		if (rc == NULL)
			redis_failed(c, why, &note);
		else
			redis_ok(c, &note);
		pthread_mutex_unlock(&c->rmu);
		redis_note_log(&note);
		if (rc == NULL)
			return;
		max--;
	}
}

/*
 * Close idle contexts whose server went away: an idle connection has
 * nothing to read, so one that polls readable has met its end (EOF, reset).
 * No I/O, no waiting; a killed Redis is seen here within REDIS_TICK, before
 * an RCPT takes a dead context.
 */
static void
redis_sweep(struct rg_cache *c)
{
	redisContext *drop[REDIS_SLOTS];
	size_t ndrop = 0;

	pthread_mutex_lock(&c->rmu);
	for (int i = 0; i < REDIS_SLOTS; i++) {
		redisContext *rc = c->rslots[i].c;
		if (rc == NULL || c->rslots[i].busy)
			continue;
		struct pollfd pfd = { .fd = rc->fd, .events = POLLIN };
		if (poll(&pfd, 1, 0) != 0) {
			drop[ndrop++] = rc;
			c->rslots[i].c = NULL;
		}
	}
	pthread_mutex_unlock(&c->rmu);
	for (size_t i = 0; i < ndrop; i++)
		redisFree(drop[i]);
}

static void *
redis_thread(void *arg)
{
	struct rg_cache *c = arg;

	pthread_mutex_lock(&c->rmu);
	while (!c->stop) {
		pthread_mutex_unlock(&c->rmu);
		redis_sweep(c);
		redis_fill(c, REDIS_SLOTS);
		pthread_mutex_lock(&c->rmu);
		struct timespec ts = rg_timespec_in(REDIS_TICK);
		pthread_cond_timedwait(&c->rcv, &c->rmu, &ts);
	}
	pthread_mutex_unlock(&c->rmu);
	return NULL;
}

struct redisContext *
rg_cache_redis_take(struct rg_cache *c)
{
	if (!c->use_redis)
		return NULL;
	for (int attempt = 0; attempt < 2; attempt++) {
		pthread_mutex_lock(&c->rmu);
		for (int i = 0; i < REDIS_SLOTS; i++) {
			if (!c->rslots[i].busy && c->rslots[i].c != NULL) {
				c->rslots[i].busy = 1;
				redisContext *rc = c->rslots[i].c;
				pthread_mutex_unlock(&c->rmu);
				return rc;
			}
		}
		pthread_mutex_unlock(&c->rmu);
		/* none open: the tools open one now (after the backoff); the daemon leaves it
		 * to its thread and answers from LDAP meanwhile */
		if (c->background)
			return NULL;
		redis_fill(c, 1);
	}
	return NULL;
}

/*
 * Give RC back.  A context that FAILED (I/O error, timeout) is closed, and
 * so is every idle one: they lead to the same server, and a hung server
 * would otherwise cost one RedisTimeout per context to the RCPTs that take
 * them.  The thread re-opens them, each checked with PING first.
 */
void
rg_cache_redis_give(struct rg_cache *c, struct redisContext *rc, int failed)
{
	redisContext *drop[REDIS_SLOTS + 1];
	struct rnote note = { 0, 0, "" };
	size_t ndrop = 0;

	if (rc == NULL)
		return;
	pthread_mutex_lock(&c->rmu);
	for (int i = 0; i < REDIS_SLOTS; i++) {
		if (c->rslots[i].c == rc) {
			if (failed) {
				redis_failed(c, rc->err ? rc->errstr : "bad reply", &note);
				drop[ndrop++] = rc;
				c->rslots[i].c = NULL;
			}
			c->rslots[i].busy = 0;
			break;
		}
	}
	for (int i = 0; failed && i < REDIS_SLOTS; i++) {
		if (c->rslots[i].c != NULL && !c->rslots[i].busy) {
			drop[ndrop++] = c->rslots[i].c;
			c->rslots[i].c = NULL;
		}
	}
	pthread_mutex_unlock(&c->rmu);
	for (size_t i = 0; i < ndrop; i++)
		redisFree(drop[i]);
	redis_note_log(&note);
}

void
rg_cache_redis_error(struct rg_cache *c, const char *command, const char *error)
{
	double now = rg_now();
	int say;

	pthread_mutex_lock(&c->rmu);
	say = c->error_logged_at == 0 || now - c->error_logged_at >= REDIS_ERROR_LOG_EVERY;
	if (say)
		c->error_logged_at = now;
	pthread_mutex_unlock(&c->rmu);
	if (say)
		rg_log(LOG_WARNING, "Redis refused %s: %s (said at most every %d s)", command,
		    error, REDIS_ERROR_LOG_EVERY);
}

static void
redis_key(const struct rg_cache *c, const char *key, char *out, size_t outlen)
{
	snprintf(out, outlen, "rcptguard:v1:%s:%s", c->cf->fingerprint, key);
}

/* Seconds since the epoch: the times stored in Redis, which MTAs share. */
static double
wall_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* An entry as Redis holds it, in seconds from now. */
struct rentry {
	char value[RG_CACHE_VALUE_MAX];
	double age;                     /* since it was stored */
	double fresh;                   /* fresh for (may be < 0: kept only) */
	double keep;                    /* kept for: the key's TTL */
};

/* "VALUE;seen=EPOCH;fresh=EPOCH" (or a bare VALUE, fresh while kept) into E. */
static void
rentry_parse(const char *raw, size_t len, double ttl, struct rentry *e)
{
	double seen, fresh;

	snprintf(e->value, sizeof(e->value), "%.*s", (int)len, raw);
	e->age = 0;
	e->fresh = e->keep = ttl;
	char *semi = strchr(e->value, ';');
	if (semi == NULL)
		return;
	if (sscanf(semi, ";seen=%lf;fresh=%lf", &seen, &fresh) == 2) {
		double now = wall_now();
		e->age = now > seen ? now - seen : 0;
		e->fresh = fresh - now < ttl ? fresh - now : ttl;
	}
	*semi = '\0';
}

/* 1 when Redis holds KEY; what it holds in *E. */
static int
redis_get(struct rg_cache *c, const char *key, struct rentry *e)
{
	redisContext *rc = rg_cache_redis_take(c);
	char rkey[RG_CACHE_VALUE_MAX + 400];
	redisReply *r1 = NULL, *r2 = NULL;
	int hit = 0, failed = 0;

	if (rc == NULL)
		return 0;
	redis_key(c, key, rkey, sizeof(rkey));
	/* two commands, one round trip */
	if (redisAppendCommand(rc, "GET %s", rkey) != REDIS_OK ||
	    redisAppendCommand(rc, "PTTL %s", rkey) != REDIS_OK ||
	    redisGetReply(rc, (void **)&r1) != REDIS_OK ||
	    redisGetReply(rc, (void **)&r2) != REDIS_OK) {
		failed = 1;
	} else if (r1->type == REDIS_REPLY_STRING && r2->type == REDIS_REPLY_INTEGER &&
	    r2->integer > 0) {
		rentry_parse(r1->str, r1->len, (double)r2->integer / 1000.0, e);
		hit = 1;
	} else if (r1->type == REDIS_REPLY_ERROR) {
		rg_cache_redis_error(c, "GET", r1->str);
	}
	if (r1)
		freeReplyObject(r1);
	if (r2)
		freeReplyObject(r2);
	rg_cache_redis_give(c, rc, failed);
	return hit;
}

/* KEY=VALUE, fresh for FRESH seconds, the key kept for KEEP (>= 1). */
static void
redis_put(struct rg_cache *c, const char *key, const char *value, int fresh, int keep)
{
	redisContext *rc = rg_cache_redis_take(c);
	char rkey[RG_CACHE_VALUE_MAX + 400], rvalue[RG_CACHE_VALUE_MAX + 64];

	if (rc == NULL)
		return;
	double now = wall_now();
	redis_key(c, key, rkey, sizeof(rkey));
	snprintf(rvalue, sizeof(rvalue), "%s;seen=%.3f;fresh=%.3f", value, now, now + fresh);
	redisReply *r = redisCommand(rc, "SET %s %s EX %d", rkey, rvalue, keep);
	int failed = r == NULL || rc->err != 0;
	if (r && r->type == REDIS_REPLY_ERROR)
		rg_cache_redis_error(c, "SET", r->str);
	if (r)
		freeReplyObject(r);
	rg_cache_redis_give(c, rc, failed);
}

static void
redis_forget(struct rg_cache *c, const char *key)
{
	redisContext *rc = rg_cache_redis_take(c);
	char rkey[RG_CACHE_VALUE_MAX + 400];

	if (rc == NULL)
		return;
	redis_key(c, key, rkey, sizeof(rkey));
	redisReply *r = redisCommand(rc, "DEL %s", rkey);
	int failed = r == NULL || rc->err != 0;
	if (r && r->type == REDIS_REPLY_ERROR)
		rg_cache_redis_error(c, "DEL", r->str);
	if (r)
		freeReplyObject(r);
	rg_cache_redis_give(c, rc, failed);
}

/* ---- the cache ---- */

struct rg_cache *
rg_cache_new(const struct rg_config *cf, int background)
{
	struct rg_cache *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return NULL;
	c->cf = cf;
	c->cap = (size_t)cf->local_cache_size;
	c->nbuckets = 16;
	while (c->nbuckets < c->cap + c->cap / 4)
		c->nbuckets <<= 1;
	c->buckets = calloc(c->nbuckets, sizeof(*c->buckets));
	if (c->buckets == NULL) {
		free(c);
		return NULL;
	}
	pthread_mutex_init(&c->mu, NULL);
	pthread_mutex_init(&c->rmu, NULL);
	rg_cond_init(&c->rcv);
	c->backoff = REDIS_BACKOFF_MIN;
	if (strcmp(cf->redis_uri, "none") != 0) {
		if (parse_redis_uri(c, cf->redis_uri) < 0) {
			rg_log(LOG_ERR, "RedisURI %s: cannot parse; not using Redis", cf->redis_uri);
		} else {
			c->use_redis = 1;
			c->background = background;
			if (background && pthread_create(&c->thread, NULL, redis_thread, c) != 0)
				c->background = 0;
		}
	}
	return c;
}

void
rg_cache_free(struct rg_cache *c)
{
	if (c == NULL)
		return;
	if (c->background) {
		pthread_mutex_lock(&c->rmu);
		c->stop = 1;
		pthread_cond_signal(&c->rcv);
		pthread_mutex_unlock(&c->rmu);
		pthread_join(c->thread, NULL);
	}
	for (int i = 0; i < REDIS_SLOTS; i++)
		if (c->rslots[i].c)
			redisFree(c->rslots[i].c);
	while (c->head)
		table_remove(c, c->head);
	free(c->buckets);
	pthread_mutex_destroy(&c->mu);
	pthread_mutex_destroy(&c->rmu);
	pthread_cond_destroy(&c->rcv);
	free(c);
}

int
rg_cache_get(struct rg_cache *c, const char *key, char *value, size_t vlen)
{
	struct rentry e;

	if (local_get(c, key, value, vlen, 0))
		return 1;
	if (!c->use_redis || !redis_get(c, key, &e))
		return 0;
	/* kept here too, even when it is no longer fresh: an outage may need it */
	if (e.fresh > 0 || c->cf->stale_ttl > 0)
		local_put(c, key, e.value, e.fresh, e.keep, e.age);
	if (e.fresh <= 0)
		return 0;
	snprintf(value, vlen, "%s", e.value);
	return 1;
}

int
rg_cache_get_stale(struct rg_cache *c, const char *key, char *value, size_t vlen)
{
	struct rentry e;

	if (c->cf->stale_ttl <= 0)
		return 0;
	if (local_get(c, key, value, vlen, 1))
		return 1;
	if (!c->use_redis || !redis_get(c, key, &e) || e.age >= c->cf->stale_ttl)
		return 0;
	local_put(c, key, e.value, e.fresh, e.keep, e.age);
	snprintf(value, vlen, "%s", e.value);
	return 1;
}

void
rg_cache_put(struct rg_cache *c, const char *key, const char *value, int ttl, int keep)
{
	if (keep < ttl)
		keep = ttl;
	if (keep <= 0) {
		/* not to be remembered: neither may an older answer be */
		local_forget(c, key);
		if (c->use_redis && c->cf->stale_ttl > 0)
			redis_forget(c, key);
		return;
	}
	local_put(c, key, value, ttl, keep, 0);
	if (c->use_redis)
		redis_put(c, key, value, ttl, keep);
}
