/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * rg_metrics.c - counters of what rcptguard did, in Prometheus text format.
 *
 * Metrics (all prefixed rcptguard_):
 *   decisions_total{verdict,source}      one per RCPT answered
 *   lookup_duration_seconds              histogram of the check's time, for
 *                                        addresses of Domains
 *   cache_requests_total{layer,result}   layer process|redis, result hit|miss
 *   ldap_errors_total, redis_errors_total
 *   suggestions_total                    "Did you mean" suggestions found
 *   alerts_total{problem}                alias alerts raised (not repeats)
 *   harvest_throttles_total              recipients refused (421) for HarvestLimit
 *   mirror_entries, mirror_lag_seconds   shown once the mirror is ready
 *
 * The counters are C11 atomics (relaxed: each is a tally on its own); those
 * every recipient moves are kept in shards (below).  The
 * HTTP listener is libmicrohttpd's, with its own thread, answering GET
 * /metrics only; MetricsFile is written by a thread of this module into
 * FILE.tmp, then renamed, so that a reader never sees half a file.
 */
#include "config.h"
#include "rg_metrics.h"
#include "rg_alias.h"
#include "rg_check.h"
#include "rg_clock.h"
#include "rg_log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#ifdef HAVE_LIBMICROHTTPD
#include <microhttpd.h>
#endif

#define NVERDICTS (RG_V_ALIAS_LOOP + 1)       /* the last verdict of rg_check.h */
#define NSOURCES 8
#define EXPO_MAX 65536                  /* the exposition, at most */

enum mtype { COUNTER, GAUGE };

static const struct {
	const char *name, *help;
	enum mtype type;
	int reserved;                   /* not shown until first set */
} simple[RG_M_COUNT] = {
	[RG_M_LDAP_ERRORS] = { "rcptguard_ldap_errors_total",
	    "LDAP searches that could not tell (down, timeout, size limit).", COUNTER, 0 },
	[RG_M_REDIS_ERRORS] = { "rcptguard_redis_errors_total",
	    "Redis commands that failed (down, timeout, an error reply).", COUNTER, 0 },
	[RG_M_SUGGESTIONS] = { "rcptguard_suggestions_total",
	    "Suggestions found for unknown recipients.", COUNTER, 0 },
	[RG_M_HARVEST_THROTTLES] = { "rcptguard_harvest_throttles_total",
	    "Recipients refused because their client network is over HarvestLimit.", COUNTER, 0 },
	[RG_M_MIRROR_ENTRIES] = { "rcptguard_mirror_entries",
	    "Entries in the in-memory mirror of the directory.", GAUGE, 1 },
	[RG_M_MIRROR_LAG] = { "rcptguard_mirror_lag_seconds",
	    "Seconds the mirror is behind the directory.", GAUGE, 1 },
};

/* Upper bounds of the latency buckets, in seconds (+Inf follows). */
static const double buckets[] = { 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
	0.5, 1, 2.5, 5, 10 };
#define NBUCKETS (sizeof(buckets) / sizeof(buckets[0]))

static atomic_ullong counters[RG_M_COUNT];
static _Atomic double gauges[RG_M_COUNT];
static atomic_int touched[RG_M_COUNT];
static atomic_ullong cache[RG_ML_COUNT][2];
static atomic_ullong alerts[RG_AP_COUNT];

/*
 * What every recipient moves, in shards: each thread counts in one shard of
 * its own choosing, so that the two ends of the machine do not pass one
 * cache line back and forth at every recipient; the exposition adds the
 * shards up.  (A shard is a tally, not a connection's state: a thread keeps
 * its shard whatever connection it serves.)
 */
#define NSHARDS 16
struct shard {
	atomic_ullong decisions[NVERDICTS][NSOURCES];
	atomic_ullong hist[NBUCKETS + 1];       /* not cumulative; the last is +Inf */
	atomic_ullong hist_sum_us;
} __attribute__((aligned(64)));
static struct shard shards[NSHARDS];
static atomic_uint shards_given;

static struct shard *
my_shard(void)
{
	static _Thread_local int mine = -1;

	if (mine < 0)
		mine = (int)(atomic_fetch_add_explicit(&shards_given, 1, memory_order_relaxed) %
		    NSHARDS);
	return &shards[mine];
}

static const char *const layer_names[RG_ML_COUNT] = { "process", "redis" };

void
rg_metrics_add(enum rg_metric m, unsigned long n)
{
	if ((unsigned)m >= RG_M_COUNT)
		return;
	/* a zero (e.g. no throttle at this recipient) writes nothing shared */
	if (n != 0)
		atomic_fetch_add_explicit(&counters[m], n, memory_order_relaxed);
	if (!atomic_load_explicit(&touched[m], memory_order_relaxed))
		atomic_store_explicit(&touched[m], 1, memory_order_relaxed);
}

void
rg_metrics_inc(enum rg_metric m)
{
	rg_metrics_add(m, 1);
}

void
rg_metrics_set(enum rg_metric m, double value)
{
	if ((unsigned)m >= RG_M_COUNT)
		return;
	/* set at every recipient, mostly to what it was: no write then */
	if (atomic_load_explicit(&gauges[m], memory_order_relaxed) != value)
		atomic_store_explicit(&gauges[m], value, memory_order_relaxed);
	if (!atomic_load_explicit(&touched[m], memory_order_relaxed))
		atomic_store_explicit(&touched[m], 1, memory_order_relaxed);
}

void
rg_metrics_decision(int verdict, int source, double ms)
{
	if (verdict < 0 || verdict >= NVERDICTS || source < 0 || source >= NSOURCES)
		return;
	struct shard *sh = my_shard();
	atomic_fetch_add_explicit(&sh->decisions[verdict][source], 1, memory_order_relaxed);
	if (verdict == RG_V_NOT_OURS || verdict == RG_V_BAD_ADDRESS)
		return;
	double s = ms / 1000.0;
	size_t b = 0;
	while (b < NBUCKETS && s > buckets[b])
		b++;
	atomic_fetch_add_explicit(&sh->hist[b], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&sh->hist_sum_us, (unsigned long long)(ms * 1000.0 + 0.5),
	    memory_order_relaxed);
}

int
rg_metrics_cache(enum rg_metric_layer layer, int hit)
{
	if ((unsigned)layer < RG_ML_COUNT)
		atomic_fetch_add_explicit(&cache[layer][hit ? 0 : 1], 1, memory_order_relaxed);
	return hit;
}

void
rg_metrics_alert(int problem)
{
	if (problem >= 0 && problem < RG_AP_COUNT)
		atomic_fetch_add_explicit(&alerts[problem], 1, memory_order_relaxed);
}

/* ---- exposition ---- */

struct out {
	char *buf;
	size_t len, used;               /* used may pass len: the size needed */
};

static void __attribute__((format(printf, 2, 3)))
put(struct out *o, const char *fmt, ...)
{
	va_list ap;
	size_t room = o->used < o->len ? o->len - o->used : 0;

	va_start(ap, fmt);
	int n = vsnprintf(room ? o->buf + o->used : NULL, room, fmt, ap);
	va_end(ap);
	if (n > 0)
		o->used += (size_t)n;
}

static unsigned long long
get(atomic_ullong *c)
{
	return atomic_load_explicit(c, memory_order_relaxed);
}

static void
head(struct out *o, const char *name, const char *help, const char *type)
{
	put(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* The sum over the shards of the counter at OFFSET bytes into a shard. */
static unsigned long long
sum(size_t offset)
{
	unsigned long long n = 0;

	for (size_t i = 0; i < NSHARDS; i++)
		n += get((atomic_ullong *)((char *)&shards[i] + offset));
	return n;
}

static void
format_decisions(struct out *o)
{
	head(o, "rcptguard_decisions_total", "Recipients answered, by verdict and source.",
	    "counter");
	for (int v = 0; v <= RG_V_ALIAS_LOOP; v++)
		for (int s = 0; s <= RG_SRC_STALE; s++)
			put(o, "rcptguard_decisions_total{verdict=\"%s\",source=\"%s\"} %llu\n",
			    rg_verdict_name(v), rg_source_name(s),
			    sum(offsetof(struct shard, decisions[v][s])));
	head(o, "rcptguard_lookup_duration_seconds",
	    "Time to answer a recipient of Domains, cache and directory included.", "histogram");
	unsigned long long cum = 0;
	for (size_t b = 0; b < NBUCKETS; b++) {
		cum += sum(offsetof(struct shard, hist[b]));
		put(o, "rcptguard_lookup_duration_seconds_bucket{le=\"%g\"} %llu\n", buckets[b], cum);
	}
	cum += sum(offsetof(struct shard, hist[NBUCKETS]));
	put(o, "rcptguard_lookup_duration_seconds_bucket{le=\"+Inf\"} %llu\n", cum);
	put(o, "rcptguard_lookup_duration_seconds_sum %.6f\n",
	    sum(offsetof(struct shard, hist_sum_us)) / 1e6);
	/* the count is the +Inf bucket: every observation is in one bucket */
	put(o, "rcptguard_lookup_duration_seconds_count %llu\n", cum);
}

static void
format_rest(struct out *o)
{
	head(o, "rcptguard_cache_requests_total", "Cache lookups, by layer and result.",
	    "counter");
	for (int l = 0; l < RG_ML_COUNT; l++) {
		put(o, "rcptguard_cache_requests_total{layer=\"%s\",result=\"hit\"} %llu\n",
		    layer_names[l], get(&cache[l][0]));
		put(o, "rcptguard_cache_requests_total{layer=\"%s\",result=\"miss\"} %llu\n",
		    layer_names[l], get(&cache[l][1]));
	}
	head(o, "rcptguard_alerts_total", "Alias alerts raised, by problem (repeats not counted).",
	    "counter");
	for (int p = 0; p < RG_AP_COUNT; p++)
		put(o, "rcptguard_alerts_total{problem=\"%s\"} %llu\n", rg_alias_problem_name(p),
		    get(&alerts[p]));
	for (int m = 0; m < RG_M_COUNT; m++) {
		if (simple[m].reserved && !atomic_load_explicit(&touched[m], memory_order_relaxed))
			continue;
		head(o, simple[m].name, simple[m].help, simple[m].type == GAUGE ? "gauge" : "counter");
		if (simple[m].type == GAUGE)
			put(o, "%s %g\n", simple[m].name,
			    atomic_load_explicit(&gauges[m], memory_order_relaxed));
		else
			put(o, "%s %llu\n", simple[m].name, get(&counters[m]));
	}
}

size_t
rg_metrics_format(char *buf, size_t len)
{
	struct out o = { buf, len, 0 };

	if (len > 0)
		buf[0] = '\0';
	format_decisions(&o);
	format_rest(&o);
	return o.used;
}

/* ---- MetricsListen ---- */

/* Parse "inet:PORT@ADDR" / "inet6:PORT@ADDR" into SS.  0, or -1 with WHY. */
static int
parse_listen(const char *v, struct sockaddr_storage *ss, char *why, size_t whylen)
{
	int six = strncmp(v, "inet6:", 6) == 0;
	const char *p = six ? v + 6 : strncmp(v, "inet:", 5) == 0 ? v + 5 : NULL;
	char *end, addr[INET6_ADDRSTRLEN];

	memset(ss, 0, sizeof(*ss));
	if (p == NULL) {
		snprintf(why, whylen, "\"%s\": not inet:PORT@ADDRESS or inet6:PORT@ADDRESS", v);
		return -1;
	}
	long port = strtol(p, &end, 10);
	if (end == p || *end != '@' || port < 1 || port > 65535 ||
	    strlen(end + 1) >= sizeof(addr)) {
		snprintf(why, whylen, "\"%s\": want a port 1-65535, \"@\" and an IP address", v);
		return -1;
	}
	snprintf(addr, sizeof(addr), "%s", end + 1);
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
	if (six ? inet_pton(AF_INET6, addr, &s6->sin6_addr) != 1 :
	    inet_pton(AF_INET, addr, &s4->sin_addr) != 1) {
		snprintf(why, whylen, "\"%s\": \"%s\" is not an IPv%d address", v, addr, six ? 6 : 4);
		return -1;
	}
	if (six) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((unsigned short)port);
	} else {
		s4->sin_family = AF_INET;
		s4->sin_port = htons((unsigned short)port);
	}
	return 0;
}

int
rg_metrics_listen_check(const char *value, char *why, size_t whylen)
{
	struct sockaddr_storage ss;

	if (parse_listen(value, &ss, why, whylen) < 0)
		return -1;
#ifndef HAVE_LIBMICROHTTPD
	snprintf(why, whylen, "this rcptguard was built without libmicrohttpd, which MetricsListen "
	    "needs (Debian: libmicrohttpd-dev, then configure again); MetricsFile works without it");
	return -1;
#else
	return 0;
#endif
}

#ifdef HAVE_LIBMICROHTTPD
static struct MHD_Daemon *httpd;

/* GET /metrics: the exposition; anything else: 404 or 405. */
static enum MHD_Result
answer(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
    const char *version, const char *upload, size_t *upload_len, void **state)
{
	unsigned status = MHD_HTTP_OK;
	char *body;
	size_t n;

	(void)cls; (void)version; (void)upload; (void)upload_len; (void)state;
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
		status = MHD_HTTP_METHOD_NOT_ALLOWED;
		body = strdup("only GET\n");
	} else if (strcmp(url, "/metrics") != 0) {
		status = MHD_HTTP_NOT_FOUND;
		body = strdup("rcptguard: see /metrics\n");
	} else if ((body = malloc(EXPO_MAX)) != NULL &&
	    (n = rg_metrics_format(body, EXPO_MAX)) >= EXPO_MAX) {
		status = MHD_HTTP_INTERNAL_SERVER_ERROR;
		snprintf(body, EXPO_MAX, "exposition too long\n");
	}
	if (body == NULL)
		return MHD_NO;
	struct MHD_Response *r = MHD_create_response_from_buffer(strlen(body), body,
	    MHD_RESPMEM_MUST_FREE);
	if (r == NULL) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
	    status == MHD_HTTP_OK ? "text/plain; version=0.0.4; charset=utf-8" : "text/plain");
	enum MHD_Result ret = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ret;
}

static int
listen_start(const char *where, char *err, size_t errlen)
{
	struct sockaddr_storage ss;

	if (parse_listen(where, &ss, err, errlen) < 0)
		return -1;
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	/* a scrape is small and quick: one thread, few connections, a deadline */
	httpd = MHD_start_daemon(flags, 0, NULL, NULL, answer, NULL,
	    MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned)16,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10,
	    MHD_OPTION_END);
	if (httpd == NULL) {
		snprintf(err, errlen, "MetricsListen %s: cannot listen (in use? no such address?)",
		    where);
		return -1;
	}
	return 0;
}
#endif

/* ---- MetricsFile ---- */

static struct {
	pthread_t thread;
	int running, stop;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	char *path;
	int interval;
} wr = { .mu = PTHREAD_MUTEX_INITIALIZER };

/* Write the exposition into PATH.tmp and rename it over PATH.  0 or -1. */
static int
write_file(const char *path)
{
	char tmp[4096], eb[128];
	char *body = malloc(EXPO_MAX);
	int ret = -1;

	if (body == NULL)
		return -1;
	size_t n = rg_metrics_format(body, EXPO_MAX);
	if (n >= EXPO_MAX || snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp)) {
		free(body);
		return -1;
	}
	FILE *f = fopen(tmp, "w");
	if (f != NULL) {
		int bad = fwrite(body, 1, n, f) != n;
		bad |= fclose(f) != 0;
		if (!bad && rename(tmp, path) == 0)
			ret = 0;
	}
	if (ret < 0) {
		rg_log(LOG_ERR, "MetricsFile %s: %s", path, rg_strerror(errno, eb, sizeof(eb)));
		unlink(tmp);
	}
	free(body);
	return ret;
}

static void *
writer(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&wr.mu);
	while (!wr.stop) {
		pthread_mutex_unlock(&wr.mu);
		(void)write_file(wr.path);
		pthread_mutex_lock(&wr.mu);
		struct timespec until = rg_timespec_in(wr.interval);
		while (!wr.stop && pthread_cond_timedwait(&wr.cv, &wr.mu, &until) != ETIMEDOUT)
			;
	}
	pthread_mutex_unlock(&wr.mu);
	(void)write_file(wr.path);              /* the last figures, on the way out */
	return NULL;
}

int
rg_metrics_start(const struct rg_config *cf, char *err, size_t errlen)
{
#ifdef HAVE_LIBMICROHTTPD
	if (cf->metrics_listen[0] != '\0' && listen_start(cf->metrics_listen, err, errlen) < 0)
		return -1;
#else
	if (cf->metrics_listen[0] != '\0' &&
	    rg_metrics_listen_check(cf->metrics_listen, err, errlen) < 0)
		return -1;
#endif
	if (cf->metrics_file[0] == '\0')
		return 0;
	wr.path = strdup(cf->metrics_file);
	wr.interval = cf->metrics_interval;
	wr.stop = 0;
	rg_cond_init(&wr.cv);
	if (wr.path == NULL || pthread_create(&wr.thread, NULL, writer, NULL) != 0) {
		snprintf(err, errlen, "MetricsFile %s: cannot start its thread", cf->metrics_file);
		free(wr.path);
		wr.path = NULL;
		rg_metrics_stop();
		return -1;
	}
	wr.running = 1;
	return 0;
}

void
rg_metrics_stop(void)
{
#ifdef HAVE_LIBMICROHTTPD
	if (httpd != NULL)
		MHD_stop_daemon(httpd);
	httpd = NULL;
#endif
	if (!wr.running)
		return;
	pthread_mutex_lock(&wr.mu);
	wr.stop = 1;
	pthread_cond_signal(&wr.cv);
	pthread_mutex_unlock(&wr.mu);
	pthread_join(wr.thread, NULL);
	pthread_cond_destroy(&wr.cv);
	free(wr.path);
	wr.path = NULL;
	wr.running = 0;
}
