/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * rg_directory.h - the lookup machinery one configuration runs on: the
 * LDAP pool, the answer cache, the suggestion index and the alerter, built
 * from an immutable configuration and closed whole.
 *
 * A reload builds a new directory from the new configuration and from the
 * running one (rg_directory_reopen()): runtime state whose settings are
 * unchanged is handed over instead of starting empty.  The rules:
 *
 *   suggestion index: kept when Domains, LDAPURI, LDAPBindDN, the bind
 *     password (the file's content), LDAPStartTLS, LDAPBase, LDAPFilter,
 *     LDAPAddressAttributes and LDAPDisabledFilter are all unchanged, Suggest
 *     was on and the old index holds addresses (a load ended).  These are
 *     what the load reads (server, identity, subtree, attributes, disabled
 *     entries, which domains count), plus LDAPFilter: the load does not use
 *     it, but a new one means the directory is read differently, so the
 *     index is loaded again rather than trusted.  The addresses are shared
 *     (counted references), not copied; the new directory's own threads
 *     load again after SuggestRefresh, or at once when the old index had
 *     noticed a change in the directory that it had not loaded yet.
 *   in-process cache: kept when the fingerprint (every setting that can
 *     change an answer, rg_config.c) and CacheTTL, NegativeCacheTTL and
 *     StaleTTL are unchanged, since each entry carries the times it was
 *     given under them.  A changed LocalCacheSize keeps the most recent
 *     entries that fit.  The entries are moved, under both caches' locks;
 *     the old directory, still answering RCPTs that hold it, goes on with
 *     an empty cache of its own until it is closed.
 *   Redis needs no handover: its keys carry the fingerprint.
 *   mirror (Mirror yes or auto): started by a directory with background
 *     threads (RG_DIR_BACKGROUND) or RG_DIR_MIRROR_WAIT; lookups are live
 *     until its first load ends.  Shared, not started again, when the
 *     fingerprint, the bind password, LDAPStartTLS, the LDAPTLS keys,
 *     LDAPTimeout, MirrorRefresh, NegativeCacheTTL and StaleTTL are
 *     unchanged and the suggestion index was kept: both directories
 *     answer from the one set and its session with the server goes on;
 *     its changes feed the new directory's index from then on.  The last
 *     directory holding it stops it.
 *
 * Background threads (index refresh and watch, Redis reconnect) belong to
 * the directory that started them and end when it is closed.
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
#define RG_DIR_MIRROR_WAIT  0x08        /* start the mirror (Mirror yes or auto) and wait
					 * for its first load (the query tool) */

/* The parts, for rg_check.c; everyone else goes through the functions below. */
struct rg_directory {
	struct rg_config *cf;
	struct rg_ldap_pool *ldap;
	struct rg_cache *cache;
	struct rg_index *index;         /* NULL when Suggest is off and no tool asks */
	struct rg_alerter *alerts;      /* NULL: problems are reported, not alerted */
	struct rg_mirror *mirror;       /* NULL: Mirror no, or a filter it cannot hold */
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

/*
 * As rg_directory_open(), taking over from PREV (the running directory, or
 * NULL) what the rules above allow.  PREV stays usable, and must not be
 * closed during the call.  KEPT receives what was kept or why not, for the
 * log: "suggestion index and cache kept, mirror kept", "suggestion index
 * reloading (LDAPBase changed), cache kept, mirror reloading (lookup
 * settings changed)", ...
 */
struct rg_directory *rg_directory_reopen(struct rg_config *cf, int flags,
    struct rg_directory *prev, char *kept, size_t keptlen, char *err, size_t errlen);

void rg_directory_close(struct rg_directory *);
const struct rg_config *rg_directory_config(const struct rg_directory *);

#endif
