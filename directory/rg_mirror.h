/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * rg_mirror.h - the directory in memory: every entry LDAPFilter can pick
 * for some address, and what alias resolution reads, loaded once and kept
 * in step with the server by RFC 4533 (refreshAndPersist), or reloaded
 * every MirrorRefresh seconds when the server does not offer it.  The
 * RCPT path reads it without I/O; it never waits for a load.
 */
#ifndef RG_MIRROR_H
#define RG_MIRROR_H

#include <stddef.h>

#include "rg_config.h"
#include "rg_ldap.h"

struct rg_mirror;

/* How far an answer from the mirror may be trusted right now. */
enum rg_mirror_trust {
	RG_MIRROR_NONE,         /* not loaded, or too old: ask the directory */
	RG_MIRROR_POSITIVE,     /* found is found; unknown is asked again */
	RG_MIRROR_ALL,          /* in step with the directory: every answer */
};

/*
 * Can CF's lookups be answered from a mirror?  0 yes; -1 no, with the
 * reason in err (the assertion that cannot be evaluated in memory).
 */
int rg_mirror_possible(const struct rg_config *cf, char *err, size_t errlen);

/*
 * A mirror for CF (rg_mirror_possible() said yes), which it holds
 * (rg_config_hold()) as long as it lives.  Nothing is loaded until
 * rg_mirror_start().  NULL when out of memory.
 */
struct rg_mirror *rg_mirror_new(struct rg_config *cf);

/*
 * Load and follow the directory from a thread of the mirror's own.
 * ON_LOAD (or NULL) is called from that thread after each complete load
 * (not after single changes), with ARG; it may call rg_mirror_each().
 * 0, or -1 when the thread cannot start.
 */
typedef void (*rg_mirror_loaded_fn)(void *arg, struct rg_mirror *);
int rg_mirror_start(struct rg_mirror *, rg_mirror_loaded_fn on_load, void *arg);

/* Wait at most SECONDS for the first load; 1 when loaded, 0 when not. */
int rg_mirror_wait(struct rg_mirror *, double seconds);

/*
 * One more owner for M, which takes over its load callback: from now on
 * ON_LOAD (or NULL) is called with ARG; a call for the old owner that is
 * under way has ended when this returns.  What is loaded and the session
 * with the directory go on as they are.  M.
 */
struct rg_mirror *rg_mirror_hold(struct rg_mirror *m, rg_mirror_loaded_fn on_load, void *arg);

/* Let go of M: the last owner stops the thread and frees everything. */
void rg_mirror_free(struct rg_mirror *);

/* How far M may be trusted at NOW (rg_now()); takes no lock. */
enum rg_mirror_trust rg_mirror_trust(struct rg_mirror *m, double now);

/*
 * Is LOCAL@DOMAIN a plain mailbox in M: one entry that LDAPFilter picks and
 * LDAPDisabledFilter does not, with no value that could make it an alias
 * (of LDAPAliasAttributes or LDAPMemberAttributes, or an objectClass of
 * LDAPAliasClasses)?  1: yes, and nothing is copied out; 0: no entry at all
 * (what rg_mirror_find() would say, without WANT_DISABLED); -1: not said
 * here, rg_mirror_find() tells.  Asked first at every recipient.
 */
int rg_mirror_mailbox(struct rg_mirror *m, const char *local, const char *domain);

/*
 * The entries LDAPFilter picks for LOCAL@DOMAIN that LDAPDisabledFilter
 * does not (or, with DISABLED, does), as rg_ldap_search() would find them:
 * DN and the values of objectClass, LDAPAddressAttributes,
 * LDAPAliasAttributes and LDAPMemberAttributes.  RES may be NULL.  More
 * than MAXENTRIES entries is RG_LOOKUP_FAIL with the reason in err, as is
 * running out of memory; nothing loaded yet is RG_LOOKUP_FAIL too.
 */
enum rg_found rg_mirror_find(struct rg_mirror *, const char *local, const char *domain,
    int disabled, int maxentries, struct rg_ldap_result *res, char *err, size_t errlen);

/* The same for the entry named DN, as rg_ldap_read_dn() would read it. */
/*
 * Does the mirror answer LDAPCatchAllFilter?  Only when it has an equality
 * assertion holding %d (the key it is found by) and nothing the mirror
 * cannot evaluate; otherwise the catch-all is asked of the server.
 */
int rg_mirror_has_catch_all(const struct rg_mirror *);

/* The catch-all entries of DOMAIN that are not disabled, as
 * rg_mirror_find() returns them. */
enum rg_found rg_mirror_catch_all(struct rg_mirror *, const char *domain, int maxentries,
    struct rg_ldap_result *res, char *err, size_t errlen);

/*
 * Does a living entry (one LDAPFilter could pick for some address, not
 * disabled) name GROUP in LDAPMemberOfAttributes?  Counted as entries come
 * and go, so it costs one table lookup however many members there are.
 * RG_NOTFOUND without the key; RG_LOOKUP_FAIL when nothing is loaded.
 */
enum rg_found rg_mirror_member_of(struct rg_mirror *, const char *group, char *err,
    size_t errlen);

enum rg_found rg_mirror_read_dn(struct rg_mirror *, const char *dn, int disabled,
    struct rg_ldap_result *res, char *err, size_t errlen);

/*
 * Call FN for every entry that LDAPDisabledFilter does not pick, with the
 * values described at rg_mirror_find().  Only from the ON_LOAD callback
 * (the mirror does not change meanwhile).  FN returning non-zero stops it
 * with -1; 0 when every entry was seen.
 */
int rg_mirror_each(struct rg_mirror *, rg_ldap_walk_fn fn, void *arg);

#endif
