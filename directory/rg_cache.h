/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * rg_cache.h - remembered answers: an in-process LRU, and Redis shared by
 * every MTA when RedisURI is set.  Only authoritative answers are cached;
 * "could not tell" never is.  Found addresses are kept past their freshness,
 * for StaleTTL, to answer for an outage of the directory.  Redis is reached
 * through rg_redis; a Redis that fails is a miss.
 */
#ifndef RG_CACHE_H
#define RG_CACHE_H

#include <stddef.h>

#include "rg_config.h"
#include "rg_redis.h"

#define RG_CACHE_VALUE_MAX 256

struct rg_cache;

/* With Redis when RedisURI is set (rg_redis_new()).  BACKGROUND: reconnect
 * to Redis from a thread of its own (the daemon). */
struct rg_cache *rg_cache_new(const struct rg_config *, int background);

/* With REDIS (NULL: in process only; a fake in tests).  The cache owns
 * REDIS from now on, also when it returns NULL (out of memory). */
struct rg_cache *rg_cache_new_with(const struct rg_config *, struct rg_redis *redis);

void rg_cache_free(struct rg_cache *);

/*
 * Look KEY up, first in process, then in Redis.  Returns 1 and copies the
 * value into VALUE on a fresh hit, 0 otherwise (a miss, or an entry that
 * is only kept for an outage).  Redis being down is a miss.
 */
int rg_cache_get(struct rg_cache *, const char *key, char *value, size_t vlen);

/*
 * For when the directory cannot answer: the value stored under KEY less
 * than StaleTTL ago, fresh or not, if it is still kept.  Returns 1 and
 * copies it into VALUE, 0 otherwise (and always 0 when StaleTTL is 0).
 */
int rg_cache_get_stale(struct rg_cache *, const char *key, char *value, size_t vlen);

/*
 * Remember KEY=VALUE: fresh for TTL seconds, kept for KEEP seconds in all
 * (for rg_cache_get_stale(); a KEEP below TTL counts as TTL).  With both 0,
 * KEY is forgotten instead, so that no older answer outlives a newer one.
 */
void rg_cache_put(struct rg_cache *, const char *key, const char *value, int ttl, int keep);

/*
 * Move every in-process entry of FROM into TO (a new cache, not yet in use),
 * oldest first, as many of the most recent as TO has room for; FROM is left
 * empty and usable.  For a reload: the caller sees to it that the answers
 * stand under TO's configuration (rg_directory.h).  Returns the number moved.
 */
size_t rg_cache_adopt(struct rg_cache *to, struct rg_cache *from);

/* The Redis context pool, for others that share the connection (alerts). */
struct rg_redis *rg_cache_redis(struct rg_cache *);     /* NULL: no Redis */

#endif
