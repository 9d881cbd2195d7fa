/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * rg_harvest.h - unknown recipients per client network, across connections
 * and MTAs, within a sliding window (HarvestLimit): address harvesting
 * opens a new connection every few guesses, so a count per SMTP session
 * (MaxUnknownRecipients) does not see it.
 */
#ifndef RG_HARVEST_H
#define RG_HARVEST_H

#include "rg_config.h"
#include "rg_redis.h"

enum rg_harvest_state {
	RG_HARVEST_EXEMPT,              /* not counted: HarvestLimit 0, authenticated,
					 * HarvestExemptNetworks, no IP address */
	RG_HARVEST_UNDER,               /* counted, under the limit */
	RG_HARVEST_OVER,                /* at or over the limit: 421 for every recipient */
};

/* The counts kept in this process (used without Redis, and when it fails). */
struct rg_harvest;

/* NULL when memory is short. */
struct rg_harvest *rg_harvest_new(void);
void rg_harvest_free(struct rg_harvest *);

/*
 * Where CLIENT (a textual IP address; NULL or "" when none) stands under
 * CF, AUTHENTICATED telling whether it did SMTP AUTH.  *COUNT (may be NULL)
 * gets the unknown recipients of its network (HarvestPrefix4/6) within the
 * window: from REDIS when given and answering (one round trip, within
 * RedisTimeout), else from this process.  Logs "harvest: client=...
 * unknown=N window=S" once per window for a network over its limit.
 */
enum rg_harvest_state rg_harvest_check(struct rg_harvest *, const struct rg_config *cf,
    struct rg_redis *redis, const char *client, int authenticated, int *count);

/*
 * One more unknown recipient from CLIENT, which rg_harvest_check() found
 * counted (not exempt): added in this process and, when REDIS is given, in
 * Redis (one round trip, atomic).  A failure of Redis only loses the shared
 * count.
 */
void rg_harvest_unknown(struct rg_harvest *, const struct rg_config *cf,
    struct rg_redis *redis, const char *client);

#endif
