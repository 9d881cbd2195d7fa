/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * rg_redis.h - Redis, as the rest of rcptguard sees it: a handful of
 * commands, each answered ok, miss or failed, never waiting longer than
 * RedisTimeout.  No hiredis type crosses this header.
 *
 * A handle is a backend (a table of functions) and its state: rg_redis_new()
 * makes the real one, a pool of connections to RedisURI (or to the master
 * that RedisSentinels name); a test makes a
 * fake one with rg_redis_with().  Every function takes a NULL handle (no
 * Redis configured) and then fails with "Redis is not configured".
 */
#ifndef RG_REDIS_H
#define RG_REDIS_H

#include <stddef.h>

#include "rg_config.h"

enum rg_redis_status {
	RG_REDIS_OK,            /* done; for a read, found */
	RG_REDIS_MISS,          /* answered, but no key (GET), or the key was there (SET NX) */
	RG_REDIS_FAILED,        /* down, timed out, an error reply: WHY says which */
};

/* One stream entry: NFIELDS strings, field and value in turn. */
typedef void rg_redis_entry_fn(void *arg, const char *const *fields, size_t nfields);

/*
 * A backend.  Each function gets ARG (the backend's state) and, on failure,
 * writes the reason into WHY (WHYLEN bytes, may be 0).  See the functions
 * below for what each does.
 */
struct rg_redis_backend {
	enum rg_redis_status (*get)(void *arg, const char *key, char *value, size_t vlen,
	    double *ttl, char *why, size_t whylen);
	enum rg_redis_status (*set)(void *arg, const char *key, const char *value, int seconds,
	    int nx, char *why, size_t whylen);
	enum rg_redis_status (*del)(void *arg, const char *key, char *why, size_t whylen);
	enum rg_redis_status (*xadd)(void *arg, const char *stream, int maxlen,
	    const char *const *fields, size_t nfields, char *why, size_t whylen);
	enum rg_redis_status (*xrevrange)(void *arg, const char *stream, int count,
	    rg_redis_entry_fn *fn, void *fnarg, char *why, size_t whylen);
	enum rg_redis_status (*zwindow)(void *arg, const char *key, double now, int window,
	    const char *member, long *count, char *why, size_t whylen);
	void (*free)(void *arg);
};

struct rg_redis;

/*
 * The pool of connections to cf->redis_uri, or with RedisSentinels to the
 * master they name (found, and found again after a failover, by the pool);
 * NULL when RedisURI is none and there are no sentinels, when it
 * cannot be parsed (logged) or memory is short.  BACKGROUND: reconnect from
 * a thread of its own (the daemon); else on demand, in the caller (tools).
 * Never fails for Redis being down: commands fail instead.
 */
struct rg_redis *rg_redis_new(const struct rg_config *cf, int background);

/* A handle on another backend (a fake, in tests); NULL when memory is short.
 * rg_redis_free() calls BACKEND->free(ARG) when it is set. */
struct rg_redis *rg_redis_with(const struct rg_redis_backend *backend, void *arg);

void rg_redis_free(struct rg_redis *);

/*
 * GET KEY.  OK: its value is in VALUE, and *TTL (may be NULL) holds the
 * seconds the key still lives, or -1 when it never expires.  MISS: no such
 * key.  FAILED also for a value longer than VLEN - 1: it is refused, not cut.
 */
enum rg_redis_status rg_redis_get(struct rg_redis *, const char *key, char *value,
    size_t vlen, double *ttl, char *why, size_t whylen);

/* SET KEY VALUE EX SECONDS (>= 1).  OK when stored. */
enum rg_redis_status rg_redis_set(struct rg_redis *, const char *key, const char *value,
    int seconds, char *why, size_t whylen);

/* SET KEY VALUE NX EX SECONDS: OK when stored now, MISS when KEY was there. */
enum rg_redis_status rg_redis_set_nx(struct rg_redis *, const char *key, const char *value,
    int seconds, char *why, size_t whylen);

/* DEL KEY: OK whether or not it was there. */
enum rg_redis_status rg_redis_del(struct rg_redis *, const char *key, char *why, size_t whylen);

/* XADD STREAM MAXLEN ~ MAXLEN * FIELDS...: NFIELDS strings, field and value
 * in turn.  OK when added. */
enum rg_redis_status rg_redis_xadd(struct rg_redis *, const char *stream, int maxlen,
    const char *const *fields, size_t nfields, char *why, size_t whylen);

/* XREVRANGE STREAM + - COUNT COUNT: FN is called for each entry, oldest
 * first.  OK when read (an empty or missing stream is OK, with no call). */
enum rg_redis_status rg_redis_xrevrange(struct rg_redis *, const char *stream, int count,
    rg_redis_entry_fn *fn, void *fnarg, char *why, size_t whylen);

/*
 * A sliding window of events in the sorted set KEY, scored by time (NOW,
 * seconds since the epoch).  With MEMBER (unique to the event): in one
 * round trip and atomically (MULTI ... EXEC), drop the events older than
 * WINDOW seconds, add MEMBER at NOW, and let the set expire WINDOW seconds
 * after its last event.  *COUNT is then the number of events within WINDOW
 * seconds of NOW (ZCOUNT alone when MEMBER is NULL).  OK when counted.
 */
enum rg_redis_status rg_redis_zwindow(struct rg_redis *, const char *key, double now,
    int window, const char *member, long *count, char *why, size_t whylen);

#endif
