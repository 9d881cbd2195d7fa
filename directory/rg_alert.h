/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * rg_alert.h - tell the admin about a broken alias: a syslog warning, a
 * JSON line in AlertLog, an entry in the Redis stream rcptguard:alerts
 * (RedisKeyPrefix, then "alerts");
 * the same alert at most once per AlertInterval.
 */
#ifndef RG_ALERT_H
#define RG_ALERT_H

#include "rg_alias.h"
#include "rg_cache.h"
#include "rg_config.h"

#define RG_ALERT_STREAM "rcptguard:alerts"     /* under the default RedisKeyPrefix */
#define RG_ALERT_STREAM_MAX 10000

/* The stream's name under CF's RedisKeyPrefix: PREFIX "alerts". */
void rg_alert_stream(const struct rg_config *cf, char *out, size_t outlen);

struct rg_alerter;

/* CACHE gives the Redis connection (may be NULL). */
struct rg_alerter *rg_alert_new(const struct rg_config *, struct rg_cache *);
void rg_alert_free(struct rg_alerter *);

/* Raise one alert; TARGET and DN may be NULL or "".  Returns 1 when it went
 * out, 0 when suppressed as a repeat. */
int rg_alert(struct rg_alerter *, const char *alias, enum rg_alias_problem problem,
    const char *target, const char *dn);

#endif
