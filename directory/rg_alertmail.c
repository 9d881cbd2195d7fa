/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * rg_alertmail.c - a digest of alias problems, by mail, for AlertMailTo.
 *
 * A thread of the daemon wakes every AlertInterval seconds (3600 when it is
 * 0) and:
 *   1. with Redis, takes the lock rcptguard:alertmail:lock (the names here
 *      are under the default RedisKeyPrefix "rcptguard:"; SET NX EX
 *      AlertInterval); when another MTA holds it, that one sends this
 *      round's digest and this round ends here;
 *   2. gathers the alerts: with Redis, the newest DIGEST_MAX entries of the
 *      stream rcptguard:alerts (every MTA's alerts); without, what
 *      rg_alertmail_note() queued in this process;
 *   3. keeps each (alias, problem, target) never mailed before: marked with
 *      SET NX rcptguard:alertmail:sent:HASH EX SENT_KEEP in Redis (shared by
 *      every MTA), or in a set of this process without Redis;
 *   4. when any is left, writes one plain-text message, grouped by problem,
 *      one line per alert with the alias, the target and the DN, and the
 *      rcptguard-audit command that shows more; it is handed to SendmailPath
 *      -t -oi on its standard input.  When the MTA refuses it (exit status
 *      not 0, or no answer within SEND_TIMEOUT), the marks are taken back
 *      (and, without Redis, the alerts queued again) and the next round
 *      tries again.
 * Text from the directory is cleaned of control characters before it goes
 * into the message, so that it cannot add a header or a line of its own.
 */
#include "rg_alertmail.h"
#include "rg_alert.h"
#include "rg_clock.h"
#include "rg_hash.h"
#include "rg_log.h"
#include "rg_redis.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define DIGEST_MAX 1000                 /* alerts in one digest, at most */
#define QUEUE_MAX 1000                  /* alerts queued without Redis */
#define SENT_KEEP (30 * 86400)          /* an alert mailed is not mailed again for so long */
#define SENT_LOCAL_MAX 65536            /* without Redis: mailed alerts remembered */
#define SEND_TIMEOUT 30.0               /* seconds the MTA gets to take the message */
#define FIELD_MAX 1024

struct item {
	char alias[FIELD_MAX], problem[32], target[FIELD_MAX], dn[FIELD_MAX];
	uint64_t key;
};

struct batch {
	struct item *v;
	size_t n;
};

static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_t thread;
	int running, stop;
	struct rg_config *cf;           /* the thread's own copy */
	struct rg_redis *redis;
	char host[256];
	char stream[128], lock_key[128];        /* under RedisKeyPrefix */
	struct item *queue;             /* without Redis: raised here, not mailed yet */
	size_t nqueue;
	uint64_t *sent;                 /* without Redis: keys mailed (open addressing) */
} am = { .mu = PTHREAD_MUTEX_INITIALIZER };

static atomic_int noting;               /* queue notes: running, and no Redis */

/* Copy S into DST (LEN bytes), control characters turned into blanks. */
static void
clean(char *dst, size_t len, const char *s)
{
	size_t i = 0;

	for (; s != NULL && s[i] != '\0' && i + 1 < len; i++)
		dst[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? ' ' : s[i];
	dst[i] = '\0';
}

static void
item_set(struct item *it, const char *alias, const char *problem, const char *target,
    const char *dn)
{
	clean(it->alias, sizeof(it->alias), alias);
	clean(it->problem, sizeof(it->problem), problem);
	clean(it->target, sizeof(it->target), target);
	clean(it->dn, sizeof(it->dn), dn);
	uint64_t h = RG_FNV_START;
	h = rg_fnv1a(rg_fnv1a(h, it->alias), "\xff");
	h = rg_fnv1a(rg_fnv1a(h, it->problem), "\xff");
	it->key = rg_fnv1a(h, it->target);
}

void
rg_alertmail_note(const char *alias, const char *problem, const char *target,
    const char *dn)
{
	if (!atomic_load(&noting))
		return;
	pthread_mutex_lock(&am.mu);
	if (am.queue != NULL && am.nqueue < QUEUE_MAX)
		item_set(&am.queue[am.nqueue++], alias, problem, target, dn);
	pthread_mutex_unlock(&am.mu);
}

/* ---- gathering ---- */

static void
from_stream(void *arg, const char *const *f, size_t n)
{
	struct batch *b = arg;
	const char *alias = "", *problem = "", *target = "", *dn = "";

	if (b->n >= DIGEST_MAX)
		return;
	for (size_t k = 0; k + 1 < n; k += 2) {
		if (strcmp(f[k], "alias") == 0)
			alias = f[k + 1];
		else if (strcmp(f[k], "problem") == 0)
			problem = f[k + 1];
		else if (strcmp(f[k], "target") == 0)
			target = f[k + 1];
		else if (strcmp(f[k], "dn") == 0)
			dn = f[k + 1];
	}
	if (*alias != '\0' && *problem != '\0')
		item_set(&b->v[b->n++], alias, problem, target, dn);
}

/* Without Redis: 1 when KEY was mailed already; else remember it (ADD). */
static int
sent_local(uint64_t key, int add)
{
	size_t i = (size_t)(key % SENT_LOCAL_MAX);

	key |= 1;               /* 0 marks a free slot */
	for (size_t probes = 0; probes < SENT_LOCAL_MAX; probes++, i = (i + 1) % SENT_LOCAL_MAX) {
		if (am.sent[i] == key)
			return 1;
		if (am.sent[i] == 0) {
			if (add)
				am.sent[i] = key;
			return 0;
		}
	}
	/* full: start remembering afresh rather than mail nothing ever again */
	memset(am.sent, 0, SENT_LOCAL_MAX * sizeof(*am.sent));
	return 0;
}

static void
sent_key(const struct item *it, char *rkey, size_t len)
{
	snprintf(rkey, len, "%salertmail:sent:%016llx", am.cf->redis_key_prefix,
	    (unsigned long long)it->key);
}

/* Keep in B the alerts never mailed, marking them mailed; 0, or -1 when
 * Redis failed (nothing is marked then). */
static int
keep_new(struct batch *b)
{
	size_t out = 0;
	char rkey[128], why[256];

	for (size_t i = 0; i < b->n; i++) {
		int fresh;
		if (am.redis != NULL) {
			sent_key(&b->v[i], rkey, sizeof(rkey));
			enum rg_redis_status st = rg_redis_set_nx(am.redis, rkey, am.host, SENT_KEEP,
			    why, sizeof(why));
			if (st == RG_REDIS_FAILED) {
				rg_log(LOG_WARNING, "alert digest: Redis: %s; trying next time", why);
				for (size_t k = 0; k < out; k++) {
					sent_key(&b->v[k], rkey, sizeof(rkey));
					(void)rg_redis_del(am.redis, rkey, NULL, 0);
				}
				return -1;
			}
			fresh = st == RG_REDIS_OK;
		} else {
			fresh = !sent_local(b->v[i].key, 1);
		}
		if (fresh)
			b->v[out++] = b->v[i];
	}
	b->n = out;
	return 0;
}

/* Mailing failed: the alerts of B may go in the next digest. */
static void
forget_sent(const struct batch *b)
{
	char rkey[128];

	for (size_t i = 0; i < b->n; i++) {
		if (am.redis != NULL) {
			sent_key(&b->v[i], rkey, sizeof(rkey));
			(void)rg_redis_del(am.redis, rkey, NULL, 0);
		} else {
			size_t s = (size_t)(b->v[i].key % SENT_LOCAL_MAX);
			for (size_t p = 0; p < SENT_LOCAL_MAX && am.sent[s] != 0; p++) {
				if (am.sent[s] == (b->v[i].key | 1)) {
					/* a tombstone that matches no key: the probe chain goes on */
					am.sent[s] = 2;
					break;
				}
				s = (s + 1) % SENT_LOCAL_MAX;
			}
		}
	}
}

/* Mailing failed, without Redis: back into the queue, for the next round. */
static void
requeue(const struct batch *b)
{
	if (am.redis != NULL)
		return;
	pthread_mutex_lock(&am.mu);
	for (size_t i = 0; i < b->n && am.nqueue < QUEUE_MAX; i++)
		am.queue[am.nqueue++] = b->v[i];
	pthread_mutex_unlock(&am.mu);
}

/* ---- the message ---- */

static int
cmp_item(const void *x, const void *y)
{
	const struct item *a = x, *b = y;
	int c = strcmp(a->problem, b->problem);

	if (c == 0)
		c = strcmp(a->alias, b->alias);
	return c != 0 ? c : strcmp(a->target, b->target);
}

static void
write_headers(FILE *f, size_t n)
{
	const struct rg_config *cf = am.cf;

	if (cf->alert_mail_from[0] != '\0')
		fprintf(f, "From: %s\n", cf->alert_mail_from);
	fprintf(f, "To: ");
	for (size_t i = 0; i < cf->alert_mail_to.n; i++)
		fprintf(f, "%s%s", i ? ", " : "", cf->alert_mail_to.v[i]);
	fprintf(f, "\nSubject: rcptguard: %zu new alias problem%s (%s)\n", n, n == 1 ? "" : "s",
	    am.host);
	fprintf(f, "Auto-Submitted: auto-generated\n");
	fprintf(f, "MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n");
	fprintf(f, "Content-Transfer-Encoding: 8bit\n\n");
}

/* S in single quotes for a shell, a quote in it as '\\''. */
static void
put_quoted(FILE *f, const char *s)
{
	fputc('\'', f);
	for (; *s; s++)
		fputs(*s == '\'' ? "'\\''" : (char[2]){ *s, '\0' }, f);
	fputc('\'', f);
}

/* The digest of B (sorted) into F. */
static void
write_digest(FILE *f, const struct batch *b)
{
	write_headers(f, b->n);
	fprintf(f, "rcptguard found %zu alias problem%s not reported before.\n", b->n,
	    b->n == 1 ? "" : "s");
	for (size_t i = 0; i < b->n; i++) {
		const struct item *it = &b->v[i];
		if (i == 0 || strcmp(it->problem, b->v[i - 1].problem) != 0) {
			size_t k = i;
			while (k < b->n && strcmp(b->v[k].problem, it->problem) == 0)
				k++;
			fprintf(f, "\n%s (%zu)\n", it->problem, k - i);
		}
		fprintf(f, "  alias=<%s> target=<%s> dn=\"%s\"\n", it->alias,
		    it->target[0] ? it->target : "-", it->dn);
		fprintf(f, "    more: rcptguard-audit -c %s | grep -F ", am.cf->path);
		put_quoted(f, it->alias);
		fputc('\n', f);
	}
	fprintf(f, "\nThe whole directory: rcptguard-audit -c %s --html report.html\n",
	    am.cf->path);
	fprintf(f, "Each problem is mailed once; rcptguard-audit shows those still there.\n");
}

/* Wait up to SEND_TIMEOUT for PID; kill it past that.  Its exit status, or -1. */
static int
reap(pid_t pid)
{
	double until = rg_now() + SEND_TIMEOUT;
	int status;

	for (;;) {
		pid_t w = waitpid(pid, &status, WNOHANG);
		if (w == pid)
			return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
		if (w < 0 && errno != EINTR)
			return -1;
		if (rg_now() > until) {
			kill(pid, SIGKILL);
			(void)waitpid(pid, &status, 0);
			return -1;
		}
		usleep(20000);
	}
}

/* Hand B to SendmailPath -t -oi.  0 when it took the message. */
static int
send_digest(const struct batch *b)
{
	int fds[2];
	char eb[128];

	if (pipe2(fds, O_CLOEXEC) < 0)
		return -1;
	pid_t pid = fork();
	if (pid < 0) {
		close(fds[0]);
		close(fds[1]);
		return -1;
	}
	if (pid == 0) {
		dup2(fds[0], 0);
		execl(am.cf->sendmail_path, am.cf->sendmail_path, "-t", "-oi", (char *)NULL);
		_exit(127);
	}
	close(fds[0]);
	FILE *f = fdopen(fds[1], "w");
	if (f == NULL) {
		close(fds[1]);
	} else {
		write_digest(f, b);
		fclose(f);
	}
	int rc = reap(pid);
	if (rc != 0)
		rg_log(LOG_ERR, "alert digest: %s -t -oi: %s", am.cf->sendmail_path,
		    rc == 127 ? rg_strerror(ENOENT, eb, sizeof(eb)) :
		    rc < 0 ? "killed or timed out" : "exit status not 0");
	return rc == 0 ? 0 : -1;
}

/* ---- the thread ---- */

/* One round: gather, keep the new ones, mail them. */
static void
round_once(struct batch *b, int interval)
{
	char why[256];

	b->n = 0;
	if (am.redis != NULL) {
		enum rg_redis_status st = rg_redis_set_nx(am.redis, am.lock_key, am.host, interval,
		    why, sizeof(why));
		if (st != RG_REDIS_OK) {
			if (st == RG_REDIS_FAILED)
				rg_log(LOG_WARNING, "alert digest: Redis: %s; trying next time", why);
			return;         /* another MTA sends this round's digest */
		}
		if (rg_redis_xrevrange(am.redis, am.stream, DIGEST_MAX, from_stream, b, why,
		    sizeof(why)) != RG_REDIS_OK) {
			rg_log(LOG_WARNING, "alert digest: Redis: %s; trying next time", why);
			(void)rg_redis_del(am.redis, am.lock_key, NULL, 0);
			return;
		}
	} else {
		pthread_mutex_lock(&am.mu);
		memcpy(b->v, am.queue, am.nqueue * sizeof(*b->v));
		b->n = am.nqueue;
		am.nqueue = 0;
		pthread_mutex_unlock(&am.mu);
	}
	if (keep_new(b) < 0 || b->n == 0)
		return;
	qsort(b->v, b->n, sizeof(*b->v), cmp_item);
	if (send_digest(b) < 0) {
		forget_sent(b);
		requeue(b);
		return;
	}
	rg_log(LOG_INFO, "alert digest: %zu problem%s mailed to %zu address%s", b->n,
	    b->n == 1 ? "" : "s", am.cf->alert_mail_to.n, am.cf->alert_mail_to.n == 1 ? "" : "es");
}

static void *
digest_thread(void *arg)
{
	struct batch *b = arg;
	int interval = am.cf->alert_interval > 0 ? am.cf->alert_interval : 3600;

	pthread_mutex_lock(&am.mu);
	while (!am.stop) {
		struct timespec until = rg_timespec_in(interval);
		while (!am.stop && pthread_cond_timedwait(&am.cv, &am.mu, &until) != ETIMEDOUT)
			;
		if (am.stop)
			break;
		pthread_mutex_unlock(&am.mu);
		round_once(b, interval);
		pthread_mutex_lock(&am.mu);
	}
	pthread_mutex_unlock(&am.mu);
	free(b->v);
	free(b);
	return NULL;
}

static void
release(void)
{
	atomic_store(&noting, 0);
	rg_redis_free(am.redis);
	am.redis = NULL;
	rg_config_free(am.cf);
	am.cf = NULL;
	free(am.queue);
	am.queue = NULL;
	free(am.sent);
	am.sent = NULL;
	am.nqueue = 0;
}

int
rg_alertmail_start(const struct rg_config *cf, const char *file, char *err, size_t errlen)
{
	if (cf->alert_mail_to.n == 0 || am.running)
		return 0;
	if ((am.cf = rg_config_load(file, err, errlen)) == NULL)
		return -1;
	if (am.cf->alert_mail_to.n == 0) {
		release();
		return 0;
	}
	if (gethostname(am.host, sizeof(am.host) - 1) != 0)
		snprintf(am.host, sizeof(am.host), "localhost");
	am.redis = rg_redis_new(am.cf, 1);
	snprintf(am.stream, sizeof(am.stream), "%salerts", am.cf->redis_key_prefix);
	snprintf(am.lock_key, sizeof(am.lock_key), "%salertmail:lock", am.cf->redis_key_prefix);
	struct batch *b = calloc(1, sizeof(*b));
	if (b != NULL)
		b->v = calloc(DIGEST_MAX > QUEUE_MAX ? DIGEST_MAX : QUEUE_MAX, sizeof(*b->v));
	if (am.redis == NULL) {
		am.queue = calloc(QUEUE_MAX, sizeof(*am.queue));
		am.sent = calloc(SENT_LOCAL_MAX, sizeof(*am.sent));
	}
	rg_cond_init(&am.cv);
	am.stop = 0;
	if (b == NULL || b->v == NULL || (am.redis == NULL && (am.queue == NULL ||
	    am.sent == NULL)) || pthread_create(&am.thread, NULL, digest_thread, b) != 0) {
		snprintf(err, errlen, "AlertMailTo: cannot start the digest (out of memory?)");
		if (b != NULL)
			free(b->v);
		free(b);
		pthread_cond_destroy(&am.cv);
		release();
		return -1;
	}
	atomic_store(&noting, am.redis == NULL);
	am.running = 1;
	return 0;
}

void
rg_alertmail_stop(void)
{
	if (!am.running)
		return;
	pthread_mutex_lock(&am.mu);
	am.stop = 1;
	pthread_cond_signal(&am.cv);
	pthread_mutex_unlock(&am.mu);
	pthread_join(am.thread, NULL);
	pthread_cond_destroy(&am.cv);
	pthread_mutex_lock(&am.mu);
	release();
	pthread_mutex_unlock(&am.mu);
	am.running = 0;
}
