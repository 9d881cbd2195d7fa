/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * rg_alert.c - alerts about broken aliases, where the admin looks.
 *
 * An alert is (alias, problem, target, dn).  It goes out as:
 *   - a syslog warning:  alias problem: alias=<A> problem=P target=<T> dn="D"
 *   - a line in AlertLog: {"time":"RFC 3339","alias":..,"problem":..,
 *     "target":..,"dn":..,"host":..}
 *   - with Redis, an entry of the stream rcptguard:alerts (about 10000 kept;
 *     RedisKeyPrefix stands for "rcptguard:" in it and in every key)
 *     carrying the same fields, so alerts of every MTA land in one place.
 * The same (alias, problem, target) is not repeated within AlertInterval:
 * remembered in process, and through Redis (SET NX EX) across MTAs.
 * Redis is the cache's (rg_cache_redis()), reached through rg_redis; when
 * it fails, an alert is raised as if no other MTA had seen it, and the
 * stream entry is lost (the log line and AlertLog still have it).
 */
#include "rg_alert.h"
#include "rg_alertmail.h"
#include "rg_metrics.h"
#include "rg_hash.h"
#include "rg_clock.h"
#include "rg_escape.h"
#include "rg_log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define SEEN_MAX 4096

struct seen {
	uint64_t key;
	double at;
};

struct rg_alerter {
	const struct rg_config *cf;
	struct rg_cache *cache;
	char host[256];
	pthread_mutex_t mu;
	struct seen seen[SEEN_MAX];     /* a small ring of recent alerts */
	size_t nseen, next;
};

static uint64_t
alert_key(const char *alias, const char *problem, const char *target)
{
	uint64_t h = RG_FNV_START;
	const char *parts[3] = { alias, problem, target };

	for (int i = 0; i < 3; i++)
		h = rg_fnv1a(rg_fnv1a(h, parts[i]), "\xff");   /* a byte no part holds */
	return h;
}

struct rg_alerter *
rg_alert_new(const struct rg_config *cf, struct rg_cache *cache)
{
	struct rg_alerter *a = calloc(1, sizeof(*a));

	if (a == NULL)
		return NULL;
	a->cf = cf;
	a->cache = cache;
	if (gethostname(a->host, sizeof(a->host) - 1) != 0)
		snprintf(a->host, sizeof(a->host), "localhost");
	pthread_mutex_init(&a->mu, NULL);
	return a;
}

void
rg_alert_free(struct rg_alerter *a)
{
	if (a == NULL)
		return;
	pthread_mutex_destroy(&a->mu);
	free(a);
}

/* 1 when KEY was raised within AlertInterval here; else remember it now. */
static int
seen_recently(struct rg_alerter *a, uint64_t key)
{
	double now = rg_now();
	int seen = 0;

	pthread_mutex_lock(&a->mu);
	for (size_t i = 0; i < a->nseen; i++) {
		if (a->seen[i].key == key && now - a->seen[i].at < a->cf->alert_interval) {
			seen = 1;
			break;
		}
	}
	if (!seen) {
		a->seen[a->next].key = key;
		a->seen[a->next].at = now;
		a->next = (a->next + 1) % SEEN_MAX;
		if (a->nseen < SEEN_MAX)
			a->nseen++;
	}
	pthread_mutex_unlock(&a->mu);
	return seen;
}

void
rg_alert_stream(const struct rg_config *cf, char *out, size_t outlen)
{
	snprintf(out, outlen, "%salerts", cf->redis_key_prefix);
}

/* Through Redis: 1 when another MTA (or this one) raised it already. */
static int
seen_in_redis(struct rg_alerter *a, uint64_t key)
{
	char rkey[128];

	snprintf(rkey, sizeof(rkey), "%salert:%s:%016llx", a->cf->redis_key_prefix,
	    a->cf->fingerprint, (unsigned long long)key);
	return rg_redis_set_nx(rg_cache_redis(a->cache), rkey, "1", a->cf->alert_interval,
	    NULL, 0) == RG_REDIS_MISS;
}

static void
to_stream(struct rg_alerter *a, const char *time, const char *alias, const char *problem,
    const char *target, const char *dn)
{
	const char *fields[12];
	size_t n = 0;

	fields[n++] = "time"; fields[n++] = time;
	fields[n++] = "alias"; fields[n++] = alias;
	fields[n++] = "problem"; fields[n++] = problem;
	if (*target) {
		fields[n++] = "target";
		fields[n++] = target;
	}
	fields[n++] = "dn"; fields[n++] = dn;
	fields[n++] = "host"; fields[n++] = a->host;
	char stream[128];
	rg_alert_stream(a->cf, stream, sizeof(stream));
	(void)rg_redis_xadd(rg_cache_redis(a->cache), stream, RG_ALERT_STREAM_MAX,
	    fields, n, NULL, 0);
}

/*
 * The AlertLog line of an alert, in a buffer of its own size (free() it):
 * fields of any length are written whole.  NULL when out of memory.
 */
static char *
file_line(struct rg_alerter *a, const char *time, const char *alias, const char *problem,
    const char *target, const char *dn, size_t *len)
{
	char *line = NULL;
	FILE *m = open_memstream(&line, len);

	if (m == NULL)
		return NULL;
	fprintf(m, "{\"time\":\"%s\",\"alias\":", time);
	rg_escape_json_print(m, alias);
	fputs(",\"problem\":", m);
	rg_escape_json_print(m, problem);
	if (*target) {
		fputs(",\"target\":", m);
		rg_escape_json_print(m, target);
	}
	fputs(",\"dn\":", m);
	rg_escape_json_print(m, dn);
	fputs(",\"host\":", m);
	rg_escape_json_print(m, a->host);
	fputs("}\n", m);
	if (ferror(m) || fclose(m) != 0) {
		free(line);
		return NULL;
	}
	return line;
}

static void
to_file(struct rg_alerter *a, const char *time, const char *alias, const char *problem,
    const char *target, const char *dn)
{
	size_t n = 0;
	char *line = file_line(a, time, alias, problem, target, dn, &n);

	if (line == NULL) {
		rg_log(LOG_ERR, "AlertLog %s: out of memory: alert for <%s> not written",
		    a->cf->alert_log, alias);
		return;
	}
	char eb[128];
	int fd = open(a->cf->alert_log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (fd < 0) {
		rg_log(LOG_ERR, "AlertLog %s: %s", a->cf->alert_log, rg_strerror(errno, eb, sizeof(eb)));
		free(line);
		return;
	}
	/* one write of one line: appends of several threads do not interleave */
	ssize_t w = write(fd, line, n);
	if (w < 0)
		rg_log(LOG_ERR, "AlertLog %s: %s", a->cf->alert_log, rg_strerror(errno, eb, sizeof(eb)));
	else if ((size_t)w != n)
		/* no errno for a short write: the disk is full or a file size limit met */
		rg_log(LOG_ERR, "AlertLog %s: short write (%zd of %zu bytes)", a->cf->alert_log, w, n);
	close(fd);
	free(line);
}

/*
 * The syslog warning.  The alias, the target and the DN are the
 * directory's data: written with \xNN for what could end a field or the
 * line (as the decision line writes a recipient), so that none can pose as
 * another field or another line.
 */
static void
log_problem(const char *alias, const char *problem, const char *target, const char *dn)
{
	char a[RG_ADDR_MAX * 4 + 1], t[RG_ADDR_MAX * 4 + 1], d[1024 * 4 + 1];
	/* in angle brackets: "=" is a member DN's own */
	const unsigned field = RG_ESC_ANGLE | RG_ESC_QUOTE | RG_ESC_BACKSLASH | RG_ESC_SPACE |
	    RG_ESC_8BIT;

	rg_escape_text(alias, strlen(alias), field, a, sizeof(a));
	rg_escape_text(target, strlen(target), field, t, sizeof(t));
	/* in quotes: spaces and "=" are a DN's own */
	rg_escape_text(dn, strlen(dn), RG_ESC_QUOTE | RG_ESC_BACKSLASH | RG_ESC_8BIT, d, sizeof(d));
	if (*target)
		rg_log(LOG_WARNING, "alias problem: alias=<%s> problem=%s target=<%s> dn=\"%s\"",
		    a, problem, t, d);
	else
		rg_log(LOG_WARNING, "alias problem: alias=<%s> problem=%s dn=\"%s\"", a, problem, d);
}

int
rg_alert(struct rg_alerter *a, const char *alias, enum rg_alias_problem kind,
    const char *target, const char *dn)
{
	const char *problem = rg_alias_problem_name(kind);
	char time_s[32];
	struct tm tm;
	time_t now = time(NULL);

	if (a == NULL)
		return 0;
	if (target == NULL)
		target = "";
	if (dn == NULL)
		dn = "";
	uint64_t key = alert_key(alias, problem, target);
	if (a->cf->alert_interval > 0 && (seen_recently(a, key) || seen_in_redis(a, key)))
		return 0;
	gmtime_r(&now, &tm);
	strftime(time_s, sizeof(time_s), "%Y-%m-%dT%H:%M:%SZ", &tm);
	log_problem(alias, problem, target, dn);
	if (a->cf->alert_log[0] != '\0')
		to_file(a, time_s, alias, problem, target, dn);
	to_stream(a, time_s, alias, problem, target, dn);
	rg_metrics_alert(kind);
	rg_alertmail_note(alias, problem, target, dn);
	return 1;
}
