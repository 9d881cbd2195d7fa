/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * rg_cache.c - the answer cache: in process first, then Redis.
 *
 * The in-process cache is a hash table with a least-recently-used list,
 * LocalCacheSize entries at most, behind one mutex that is never held
 * across I/O.  Redis, when RedisURI is set, is shared by every MTA that
 * points at it; its keys are "rcptguard:v1:FINGERPRINT:ADDRESS" (RedisKeyPrefix
 * in place of "rcptguard:"), the
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
 * Redis is a help, not a need: it is reached through rg_redis, which keeps
 * the connections, gives every command RedisTimeout and logs outages and
 * error replies; here a Redis that failed is a miss, and a write that
 * failed is not retried: lookups go to LDAP meanwhile.  A cache made
 * with rg_cache_new_with() uses the Redis handle it is given: NULL for none,
 * or a fake one (rg_redis_with()) in the unit tests.  Redis is never asked,
 * and nothing is logged, while the
 * mutex is held.
 */
#include "rg_cache.h"
#include "rg_metrics.h"
#include "rg_hash.h"
#include "rg_clock.h"
#include "rg_log.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

struct rg_cache {
	const struct rg_config *cf;

	pthread_mutex_t mu;             /* the local table */
	struct node **buckets;
	size_t nbuckets, count, cap;
	struct node *head, *tail;

	struct rg_redis *redis;         /* NULL: no Redis */
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

static void
redis_key(const struct rg_cache *c, const char *key, char *out, size_t outlen)
{
	snprintf(out, outlen, "%sv1:%s:%s", c->cf->redis_key_prefix, c->cf->fingerprint, key);
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
		/* counted from SEEN, both as written: "now" may fall before SEEN
		 * (rounded to the millisecond, or another MTA's clock), and must
		 * not make an entry fresh for longer than it was given */
		double now = wall_now();
		e->age = now > seen ? now - seen : 0;
		e->fresh = fresh - seen - e->age < ttl ? fresh - seen - e->age : ttl;
	}
	*semi = '\0';
}

/* 1 when Redis holds KEY and still keeps it; what it holds in *E.  A
 * failure (down, slow, an error reply, a value too long) is a miss. */
static int
redis_get(struct rg_cache *c, const char *key, struct rentry *e)
{
	char rkey[RG_CACHE_VALUE_MAX + 400], raw[RG_CACHE_VALUE_MAX];
	double ttl;

	redis_key(c, key, rkey, sizeof(rkey));
	if (rg_redis_get(c->redis, rkey, raw, sizeof(raw), &ttl, NULL, 0) != RG_REDIS_OK ||
	    ttl <= 0)
		return 0;
	rentry_parse(raw, strlen(raw), ttl, e);
	return 1;
}

/* KEY=VALUE, fresh for FRESH seconds, the key kept for KEEP (>= 1). */
static void
redis_put(struct rg_cache *c, const char *key, const char *value, int fresh, int keep)
{
	char rkey[RG_CACHE_VALUE_MAX + 400], rvalue[RG_CACHE_VALUE_MAX + 64];
	double now = wall_now();

	redis_key(c, key, rkey, sizeof(rkey));
	snprintf(rvalue, sizeof(rvalue), "%s;seen=%.3f;fresh=%.3f", value, now, now + fresh);
	(void)rg_redis_set(c->redis, rkey, rvalue, keep, NULL, 0);
}

static void
redis_forget(struct rg_cache *c, const char *key)
{
	char rkey[RG_CACHE_VALUE_MAX + 400];

	redis_key(c, key, rkey, sizeof(rkey));
	(void)rg_redis_del(c->redis, rkey, NULL, 0);
}

/* ---- the cache ---- */

struct rg_cache *
rg_cache_new_with(const struct rg_config *cf, struct rg_redis *redis)
{
	struct rg_cache *c = calloc(1, sizeof(*c));

	if (c == NULL) {
		rg_redis_free(redis);
		return NULL;
	}
	c->cf = cf;
	c->cap = (size_t)cf->local_cache_size;
	c->nbuckets = 16;
	while (c->nbuckets < c->cap + c->cap / 4)
		c->nbuckets <<= 1;
	c->buckets = calloc(c->nbuckets, sizeof(*c->buckets));
	if (c->buckets == NULL) {
		rg_redis_free(redis);
		free(c);
		return NULL;
	}
	pthread_mutex_init(&c->mu, NULL);
	c->redis = redis;
	return c;
}

struct rg_cache *
rg_cache_new(const struct rg_config *cf, int background)
{
	return rg_cache_new_with(cf, rg_redis_new(cf, background));
}

void
rg_cache_free(struct rg_cache *c)
{
	if (c == NULL)
		return;
	rg_redis_free(c->redis);
	while (c->head)
		table_remove(c, c->head);
	free(c->buckets);
	pthread_mutex_destroy(&c->mu);
	free(c);
}

struct rg_redis *
rg_cache_redis(struct rg_cache *c)
{
	return c != NULL ? c->redis : NULL;
}

int
rg_cache_get(struct rg_cache *c, const char *key, char *value, size_t vlen)
{
	struct rentry e;

	if (rg_metrics_cache(RG_ML_PROCESS, local_get(c, key, value, vlen, 0)))
		return 1;
	if (c->redis == NULL)
		return 0;
	if (!redis_get(c, key, &e))
		return rg_metrics_cache(RG_ML_REDIS, 0);
	/* kept here too, even when it is no longer fresh: an outage may need it */
	if (e.fresh > 0 || c->cf->stale_ttl > 0)
		local_put(c, key, e.value, e.fresh, e.keep, e.age);
	if (!rg_metrics_cache(RG_ML_REDIS, e.fresh > 0))
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
	if (c->redis == NULL || !redis_get(c, key, &e) || e.age >= c->cf->stale_ttl)
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
		if (c->redis != NULL && c->cf->stale_ttl > 0)
			redis_forget(c, key);
		return;
	}
	local_put(c, key, value, ttl, keep, 0);
	if (c->redis != NULL)
		redis_put(c, key, value, ttl, keep);
}
