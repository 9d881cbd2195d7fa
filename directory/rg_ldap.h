/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * rg_ldap.h - the directory: connections, escaping, filter expansion and
 * recipient lookups, each bounded by one deadline.
 */
#ifndef RG_LDAP_H
#define RG_LDAP_H

#include <stddef.h>
#include <ldap.h>

#include "rg_clock.h"
#include "rg_config.h"

/*
 * Initialise libldap's global options once, from main() before any thread
 * starts: libldap does it lazily at the first call, and two threads making
 * their first call at once race in it.  Returns 0, or -1 when libldap
 * refuses (nothing else will work then either).
 */
int rg_ldap_global_init(void);

/* The three answers of a lookup (Postfix's found / not found / could not tell). */
enum rg_found { RG_NOTFOUND = 0, RG_FOUND = 1, RG_LOOKUP_FAIL = -1 };

/*
 * Escape VALUE (LEN bytes) for an RFC 4515 assertion value into OUT.
 * Returns 0, or -1 when OUTLEN is too small (never a truncated result).
 */
int rg_ldap_escape_filter(const char *value, size_t len, char *out, size_t outlen);

/*
 * Expand the LDAPFilter template: %s the whole address, %u the local part,
 * %d the domain, %% a percent sign; every substituted value escaped.
 * Returns 0, or -1 when OUTLEN is too small.
 */
int rg_ldap_expand_filter(const char *tmpl, const char *local, const char *domain,
    char *out, size_t outlen);

/*
 * Open (name resolution included), configure, StartTLS or TLS, and bind a
 * handle to the first LDAPURI server that answers, all before the monotonic
 * time DEADLINE; while a later URI is left, an attempt gets half of what
 * remains.  Returns the handle, or NULL with the reason in err (never the
 * password).
 */
LDAP *rg_ldap_connect(const struct rg_config *, double deadline, char *err, size_t errlen);

/* The same; *WHICH (when not NULL) gets the place in LDAPURI (0: the
 * first) of the server the handle is bound to. */
LDAP *rg_ldap_connect_at(const struct rg_config *, double deadline, int *which, char *err,
    size_t errlen);

/*
 * Does a server before place WHICH in LDAPURI answer now?  1 when one of
 * them, tried in order as its back-off allows, took a connect and bind
 * before DEADLINE (that handle is closed again; the servers' health is
 * updated as by any connect), 0 otherwise.
 */
int rg_ldap_earlier_up(const struct rg_config *, int which, double deadline);

/* A small pool of bound handles, shared by all threads. */
struct rg_ldap_pool;

struct rg_ldap_pool *rg_ldap_pool_new(const struct rg_config *);
void rg_ldap_pool_free(struct rg_ldap_pool *);

/*
 * One entry that a lookup found: its DN and the values of the attributes
 * the caller asked for.  Freed by rg_ldap_entries_free().
 */
struct rg_ldap_value {
	char *attr;
	char *value;
};
struct rg_ldap_entry {
	char *dn;
	struct rg_ldap_value *vals;
	size_t nvals;
};
struct rg_ldap_result {
	struct rg_ldap_entry *entries;
	size_t nentries;
};
void rg_ldap_result_free(struct rg_ldap_result *);

/*
 * Search under LDAPBase with FILTER (already expanded and escaped) for at
 * most MAXENTRIES entries, returning ATTRS (NULL: none).  The whole call,
 * including a reconnect, ends within LDAPTimeout.  More entries than
 * MAXENTRIES, a timeout, a referral, or any error is RG_LOOKUP_FAIL with a
 * reason in err.  UNTIL (monotonic, 0 for none) ends it sooner: the deadline
 * of the whole recipient check.
 * RES may be NULL when only existence matters.
 */
enum rg_found rg_ldap_search(struct rg_ldap_pool *, const char *filter,
    char *const *attrs, int maxentries, double until, struct rg_ldap_result *res,
    char *err, size_t errlen);

/*
 * Is there an entry under LDAPBase that matches FILTER?  One search with
 * size limit 1 and no attributes: RG_FOUND also when the server stops at
 * the limit.  Deadlines and failures as rg_ldap_search().
 */
enum rg_found rg_ldap_exists(struct rg_ldap_pool *, const char *filter, double until,
    char *err, size_t errlen);

/* The same, reading one entry by DN (scope base). */
enum rg_found rg_ldap_read_dn(struct rg_ldap_pool *, const char *dn,
    const char *filter, char *const *attrs, double until, struct rg_ldap_result *res,
    char *err, size_t errlen);

/*
 * Walk every entry under LDAPBase that matches FILTER with a paged search
 * (RFC 2696, PAGESIZE entries a page) on a handle of its own, calling FN for
 * each entry.  A walk cut short (size limit, time limit, lost connection,
 * FN returning non-zero) or partial (a search reference: part of the tree
 * is on another server, and referrals are not followed; err names its URL)
 * returns -1 with the reason in err; 0 means every entry was seen.  TIMEOUT bounds each page, not the whole walk.
 */
typedef int (*rg_ldap_walk_fn)(void *arg, const struct rg_ldap_entry *);
int rg_ldap_walk(const struct rg_config *, const char *filter, char *const *attrs,
    int pagesize, double timeout, rg_ldap_walk_fn fn, void *arg, char *err, size_t errlen);

#endif
