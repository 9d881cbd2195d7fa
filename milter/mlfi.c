/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * mlfi.c - the milter callbacks: one verdict per RCPT TO, and its reply.
 *
 * Each SMTP connection gets a context of its own in its milter session
 * (milter/protocol.h, the session's priv): client address, whether it
 * authenticated, how many unknown recipients it tried, and a connection id
 * for the log.  Nothing about a connection lives in a global or a
 * thread-local: the callbacks do not assume which thread serves which
 * connection.
 *
 * The reply itself is built by rg_reply_build() (directory/rg_reply.c),
 * which rcptguard-query calls too.
 *
 * Every decision is logged on one line (with LogAccepted no, not those that
 * let a valid recipient through on a sure answer), the client address
 * before anything the client chose; the recipient, suggestion and queue id
 * are escaped with rg_escape_text(), so a space, "<", ">", "=", a quote or a
 * byte outside printable ASCII shows as \xNN and cannot pose as another
 * field:
 *	conn=ID [queue=QID] client=IP rcpt=<ADDR> verdict=V source=S ms=N
 *	    reply="550 5.1.1"|reply=continue [suggestion=<S> | reason="..."]
 * (source=stale: the directory could not answer and the address was found
 * less than StaleTTL ago; the line, a warning, says why in reason="...")
 */
#include "config.h"
#include "mlfi.h"
#include "rg_escape.h"
#include "rg_harvest.h"
#include "rg_log.h"
#include "rg_metrics.h"
#include "rg_reply.h"
#include "rg_cache.h"

#include <arpa/inet.h>
#ifdef HAVE_MALLOC_TRIM
#include <malloc.h>
#endif
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* The current directory, swapped whole on reload, counted while in use. */
struct dirref {
	struct rg_directory *dir;
	int refs;
};

static pthread_mutex_t dir_mu = PTHREAD_MUTEX_INITIALIZER;
/* Unknown recipients per client network, kept across reloads (rg_harvest). */
static pthread_once_t harvest_once = PTHREAD_ONCE_INIT;
static struct rg_harvest *harvest;
static struct dirref *dir_current;
static atomic_uint_fast32_t conn_counter;

struct conn {
	char id[16];
	char client[INET6_ADDRSTRLEN];  /* "" when not an IP client */
	int authenticated;
	int unknown;                    /* unknown recipients so far */
	int sendmail;                   /* reply text without the address */
};

static void *
dir_close_thread(void *arg)
{
	struct dirref *r = arg;

	rg_directory_close(r->dir);
	free(r);
#ifdef HAVE_MALLOC_TRIM
	/*
	 * A directory is built on the reloading thread and its index on a
	 * loader thread, each in glibc's arena of that thread; what it frees
	 * here stays in those arenas, scattered between live blocks, and
	 * reloads after reloads grow the resident size with no leak at all.
	 * Hand the free pages of every arena back to the system.
	 */
	malloc_trim(0);
#endif
	return NULL;
}

static struct dirref *
dir_take(void)
{
	pthread_mutex_lock(&dir_mu);
	struct dirref *r = dir_current;
	if (r != NULL)
		r->refs++;
	pthread_mutex_unlock(&dir_mu);
	return r;
}

static void
dir_give(struct dirref *r)
{
	int last;

	pthread_mutex_lock(&dir_mu);
	last = --r->refs == 0;
	pthread_mutex_unlock(&dir_mu);
	if (last) {
		/* closing joins background threads (an index load may be running):
		 * not on an RCPT thread */
		pthread_t t;
		if (pthread_create(&t, NULL, dir_close_thread, r) == 0)
			pthread_detach(t);
		else
			dir_close_thread(r);
	}
}

void
mlfi_set_directory(struct rg_directory *d)
{
	struct dirref *r = calloc(1, sizeof(*r)), *old;

	if (r == NULL) {
		rg_log(LOG_ERR, "out of memory; keeping the old configuration");
		rg_directory_close(d);
		return;
	}
	r->dir = d;
	r->refs = 1;                    /* the reference "current" holds */
	pthread_mutex_lock(&dir_mu);
	old = dir_current;
	dir_current = r;
	pthread_mutex_unlock(&dir_mu);
	if (old != NULL)
		dir_give(old);
}

int
mlfi_reload(struct rg_config *cf, int flags, char *kept, size_t keptlen, char *err,
    size_t errlen)
{
	struct dirref *cur = dir_take();        /* not closed while it hands over */
	struct rg_directory *d = rg_directory_reopen(cf, flags, cur ? cur->dir : NULL, kept,
	    keptlen, err, errlen);

	if (cur != NULL)
		dir_give(cur);
	if (d == NULL)
		return -1;
	mlfi_set_directory(d);
	return 0;
}

static void
harvest_init(void)
{
	harvest = rg_harvest_new();
}

void
mlfi_shutdown(void)
{
	pthread_mutex_lock(&dir_mu);
	struct dirref *old = dir_current;
	dir_current = NULL;
	int last = old != NULL && --old->refs == 0;
	pthread_mutex_unlock(&dir_mu);
	if (last)
		dir_close_thread(old);
	rg_harvest_free(harvest);
	harvest = NULL;
}

/*
 * The MTA need not wait for an answer to CONNECT and MAIL (rcptguard
 * decides at RCPT only): the session asks for "no reply" to both where the
 * MTA offers it (Postfix and Sendmail do), and answers CONTINUE where not.
 * Without a context (out of memory) every RCPT is a temporary failure.
 */
static enum mp_status
mlfi_connect(struct mp_session *s, const char *hostname, const struct sockaddr *sa)
{
	struct conn *c = s->priv;

	(void)hostname;
	if (c == NULL) {
		if ((c = calloc(1, sizeof(*c))) == NULL)
			return MP_TEMPFAIL;
		s->priv = c;
	}
	snprintf(c->id, sizeof(c->id), "%08X",
	    (unsigned)(atomic_fetch_add(&conn_counter, 1) + 1));
	c->client[0] = '\0';
	c->authenticated = c->unknown = 0;
	if (sa != NULL && sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, c->client,
		    sizeof(c->client));
	else if (sa != NULL && sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, c->client,
		    sizeof(c->client));
	/* Postfix says "v" = "Postfix x.y"; Sendmail sends {if_name} and no "v" */
	const char *v = mp_symval(s, "v");
	if (v != NULL)
		c->sendmail = strncmp(v, "Postfix", 7) != 0 && v[0] >= '0' && v[0] <= '9';
	else
		c->sendmail = mp_symval(s, "{if_name}") != NULL ||
		    mp_symval(s, "{if_addr}") != NULL;
	return MP_CONTINUE;
}

static enum mp_status
mlfi_envfrom(struct mp_session *s, char **argv)
{
	struct conn *c = s->priv;
	const char *auth = mp_symval(s, "{auth_authen}");

	(void)argv;
	if (c != NULL)
		c->authenticated = auth != NULL && *auth != '\0';
	return MP_CONTINUE;
}

/* What a client chose, in a log field: nothing that could end the field. */
#define LOG_FIELD (RG_ESC_FIELD | RG_ESC_SPACE | RG_ESC_8BIT)

/*
 * Hand R to the session, with "%" doubled, as the milter protocol wants
 * (Sendmail reads the text as a format).
 */
static void
set_reply(struct mp_session *s, const struct rg_reply *r)
{
	char t[RG_REPLY_LINES][2 * RG_REPLY_TEXT_MAX + 1];
	const char *lines[RG_REPLY_LINES];

	for (int i = 0; i < r->nlines; i++) {
		rg_reply_percent(r->text[i], t[i], sizeof(t[i]));
		lines[i] = t[i];
	}
	if (mp_setreply(s, r->code, r->xcode, r->nlines, lines) < 0)
		rg_log(LOG_ERR, "reply %s %s does not fit the milter protocol; the MTA's own "
		    "text goes out", r->code, r->xcode);
}

/* The decision line as it is put together: appended to, cut at the end. */
struct line {
	char buf[RG_LOG_LINE_MAX];
	size_t n;
};

static void
put(struct line *l, const char *s, size_t len)
{
	size_t room = sizeof(l->buf) - 1 - l->n;

	if (len > room)
		len = room;
	memcpy(l->buf + l->n, s, len);
	l->n += len;
}

static void
puts_(struct line *l, const char *s)
{
	put(l, s, strlen(s));
}

/* S (LEN bytes), escaped with FLAGS (rg_escape_text()) into at most MAX - 1
 * bytes. */
static void
put_escaped(struct line *l, const char *s, size_t len, unsigned flags, size_t max)
{
	size_t room = sizeof(l->buf) - l->n;

	l->n += rg_escape_text(s, len, flags, l->buf + l->n, room < max ? room : max);
}

static void
put_ulong(struct line *l, unsigned long v)
{
	char d[24];
	size_t i = sizeof(d);

	do
		d[--i] = (char)('0' + v % 10);
	while ((v /= 10) != 0 && i > 0);
	put(l, d + i, sizeof(d) - i);
}

/*
 * One line per decision.  The client address comes before anything the
 * client chose, and every such field is escaped so that it cannot look like
 * another field (see rg_escape_text()).  Put together by hand rather than
 * with a format: it is written for every recipient.
 */
static void
log_decision(const struct mp_session *s, const struct conn *c, const char *rcpt,
    const struct rg_answer *ans, const struct rg_reply *r)
{
	struct line l;
	char sum[16];
	const char *qid = mp_symval(s, "i");
	size_t n = strlen(rcpt);

	if (n >= 2 && rcpt[0] == '<' && rcpt[n - 1] == '>') {
		rcpt++;
		n -= 2;
	}
	l.n = 0;
	puts_(&l, "conn=");
	puts_(&l, c->id);
	if (qid != NULL) {
		puts_(&l, " queue=");
		put_escaped(&l, qid, strlen(qid), LOG_FIELD, 57);
	}
	puts_(&l, " client=");
	puts_(&l, c->client[0] ? c->client : "unknown");
	puts_(&l, " rcpt=<");
	put_escaped(&l, rcpt, n, LOG_FIELD, 4 * RG_ADDR_MAX + 64);
	puts_(&l, "> verdict=");
	puts_(&l, rg_verdict_name(ans->verdict));
	puts_(&l, " source=");
	puts_(&l, rg_source_name(ans->source));
	puts_(&l, " ms=");
	put_ulong(&l, ans->ms > 0 ? (unsigned long)(ans->ms + 0.5) : 0);
	puts_(&l, r->code != NULL ? " reply=\"" : " reply=");
	puts_(&l, rg_reply_summary(r, sum, sizeof(sum)));
	if (r->code != NULL)
		puts_(&l, "\"");
	if (ans->suggestion[0] != '\0') {
		puts_(&l, " suggestion=<");
		put_escaped(&l, ans->suggestion, strlen(ans->suggestion), LOG_FIELD,
		    4 * RG_ADDR_MAX + 4);
		puts_(&l, ">");
	} else if (ans->why != NULL) {
		puts_(&l, " reason=\"");
		put_escaped(&l, ans->why, strlen(ans->why), LOG_FIELD & ~RG_ESC_SPACE,
		    4 * RG_ERRLEN);
		puts_(&l, "\"");
	}
	l.buf[l.n] = '\0';
	/* a stale answer means the directory is away: worth a warning too */
	rg_log_text(ans->verdict == RG_V_TEMPFAIL || ans->source == RG_SRC_STALE ? LOG_WARNING :
	    LOG_INFO, l.buf);
}

static enum mp_status
mlfi_envrcpt(struct mp_session *s, char **argv)
{
	struct conn *c = s->priv;
	struct rg_answer ans;
	struct rg_reply r;
	const char *rcpt = argv != NULL && argv[0] != NULL ? argv[0] : "";

	if (c == NULL)
		return MP_TEMPFAIL;
	struct dirref *d = dir_take();
	if (d == NULL)
		return MP_TEMPFAIL;
	const struct rg_config *cf = rg_directory_config(d->dir);
	struct rg_redis *redis = rg_cache_redis(d->dir->cache);
	int seen;
	pthread_once(&harvest_once, harvest_init);
	enum rg_harvest_state hs = rg_harvest_check(harvest, cf, redis, c->client,
	    c->authenticated, &seen);
	rg_metrics_add(RG_M_HARVEST_THROTTLES, hs == RG_HARVEST_OVER);
	/* no suggestion past half of HarvestLimit: none is looked for either */
	int may_suggest = hs == RG_HARVEST_EXEMPT || 2 * seen <= cf->harvest_limit;
	struct rg_asker who = { c->client[0] ? c->client : NULL, c->authenticated, 0,
		!may_suggest };
	if (hs == RG_HARVEST_OVER) {
		/* the reply is 421 whatever the answer: spare the lookup */
		memset(&ans, 0, sizeof(ans));
		ans.verdict = RG_V_TEMPFAIL;
		ans.source = RG_SRC_NONE;
		ans.why = "client over HarvestLimit";
	} else {
		rg_check(d->dir, rcpt, &who, &ans);
		rg_metrics_decision(ans.verdict, ans.source, ans.ms);
	}
	struct rg_reply_facts facts = {
		.mta = c->sendmail ? RG_MTA_SENDMAIL : RG_MTA_POSTFIX,
		.unknown_before = c->unknown,
		.may_suggest = may_suggest,
		.harvest_over = hs == RG_HARVEST_OVER ? c->client : NULL,
	};
	if (!facts.may_suggest)
		ans.suggestion[0] = '\0';
	rg_reply_build(cf, &ans, rcpt, &facts, &r);
	c->unknown += r.counts_unknown;
	if (r.counts_unknown && hs == RG_HARVEST_UNDER)
		rg_harvest_unknown(harvest, cf, redis, c->client);
	if (r.action != RG_ACT_CONTINUE)
		set_reply(s, &r);
	/* LogAccepted no: a recipient let through as valid (or not ours to
	 * check) on a sure answer goes unlogged; a temporary failure or a
	 * broken alias let through by configuration, and a stale answer, not */
	if (cf->log_accepted || r.action != RG_ACT_CONTINUE || ans.source == RG_SRC_STALE ||
	    (ans.verdict != RG_V_OK && ans.verdict != RG_V_NOT_OURS))
		log_decision(s, c, rcpt, &ans, &r);
	rg_answer_free(&ans);
	dir_give(d);
	return r.action == RG_ACT_REJECT ? MP_REJECT :
	    r.action == RG_ACT_TEMPFAIL ? MP_TEMPFAIL : MP_CONTINUE;
}

static void
mlfi_close(struct mp_session *s)
{
	free(s->priv);
	s->priv = NULL;
}

/* No modifications; every stage after RCPT skipped where the MTA allows. */
const struct mp_filter mlfi_filter = {
	.steps_off = MP_STEPS_AFTER_RCPT,
	.no_reply = SMFIP_NR_CONN | SMFIP_NR_MAIL,
	.connect = mlfi_connect,
	.mail = mlfi_envfrom,
	.rcpt = mlfi_envrcpt,
	.close = mlfi_close,
};
