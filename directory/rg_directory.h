/*
 * rg_directory.h - the lookup machinery one configuration runs on: the
 * LDAP pool, the answer cache, the suggestion index and the alerter, built
 * from an immutable configuration and closed whole.
 */
#ifndef RG_DIRECTORY_H
#define RG_DIRECTORY_H

#include <stddef.h>

#include "rg_config.h"

/* Flags for rg_directory_open(). */
#define RG_DIR_SUGGEST_SYNC 0x01        /* load the suggestion index in the caller's thread,
					 * at the first unknown address (the query tool);
					 * not thread-safe */
#define RG_DIR_BACKGROUND   0x02        /* start background threads (the daemon) */
#define RG_DIR_ALERTS       0x04        /* raise alerts for alias problems */

/* The parts, for rg_check.c; everyone else goes through the functions below. */
struct rg_directory {
	struct rg_config *cf;
	struct rg_ldap_pool *ldap;
	struct rg_cache *cache;
	struct rg_index *index;         /* NULL when Suggest is off and no tool asks */
	struct rg_alerter *alerts;      /* NULL: problems are reported, not alerted */
	int index_lazy;                 /* load the index at the first unknown (the tools) */
	int aliases;                    /* any alias key set */
	char **attrs;                   /* attributes an alias lookup reads */
};

/*
 * Build the lookup machinery for CF (which the directory then owns and
 * frees).  Nothing here connects to a server yet; returns NULL with a reason in err on failure.
 */
struct rg_directory *rg_directory_open(struct rg_config *cf, int flags,
    char *err, size_t errlen);

void rg_directory_close(struct rg_directory *);
const struct rg_config *rg_directory_config(const struct rg_directory *);

#endif
