/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * rg_check.c - from an envelope recipient to a verdict.
 *
 * The steps, in order: parse and normalise the address (rg_address); is the
 * domain one of ours; ask the cache (rg_cache); ask LDAP (rg_ldap) and
 * remember an authoritative answer for CacheTTL / NegativeCacheTTL; for
 * user+tag@domain that is unknown as given, ask again for user@domain; for
 * an alias, resolve its internal targets through the same steps (loop, depth
 * and fan-out guarded) and alert on what is broken (rg_alert); for an
 * unknown address, find what the sender probably meant when the asker may
 * see it (rg_index).  A lookup that could not tell is RG_V_TEMPFAIL, never
 * unknown, and so is an alias whose only hope is a target that could not be
 * looked up.  An alias whose expansion meets a loop is RG_V_ALIAS_LOOP,
 * whatever else it reaches: the MTA would defer its mail for ever.
 *
 * Stale answers: a found address (a mailbox, or an alias that resolved to a
 * living target) stays in the cache for StaleTTL.  When the directory
 * cannot answer for an address that the cache last saw as found, it is
 * found (source "stale"); an address never seen, or last seen unknown, is
 * still "could not tell".  A negative answer is never served stale: every
 * negative answer replaces (or, when not cached, removes) the positive one.
 * An answer built with a stale part is not cached.
 *
 * The alias model is rg_alias's, the one rcptguard-audit uses: which entry
 *   is an alias, its addresses, targets and member DNs (compared normalised
 *   on the path, for loops), the subaddress fallback, the problem names.
 *   An entry matching LDAPDisabledFilter receives no mail.  External targets
 *   (domain not in Domains) are taken as living and never checked.  A
 *   mailbox that keeps a copy (rg_alias) receives the mail whatever its
 *   other targets are.  With LDAPMemberOfAttributes, an address that a
 *   living member names is found, asked with one existence search (the
 *   mirror counts the living members of each group as entries change).
 *
 * People who left: a disabled entry with a value of LDAPMovedToAttribute
 * that is a plain address (dot-atom local part, host name domain, at most
 * RG_MOVED_MAX characters) makes the recipient RG_V_MOVED, with that
 * address; a value that is not one is directory data not fit for a reply
 * line, and the recipient stays unknown.  The cache keeps such an answer as
 * "moved ADDRESS" (a version before this reads it as a value of another
 * version and looks again; the key fingerprint changed with the key anyway).
 *
 * Catch-all: an address of DOMAIN that is not there at all (not disabled),
 * at the top or as an alias target, is asked of LDAPCatchAllFilter
 * expanded for DOMAIN, as Postfix's virtual alias maps fall back to
 * @domain; an enabled entry it finds that receives mail (a mailbox, or an
 * alias with a living target) takes it.  The entries it finds are not
 * counted as duplicates of anything.  It is resolved at the depth below
 * the address, under the name "@DOMAIN" (no address is), which is also
 * its cache key and what closes a loop back into it.  From the mirror
 * when it holds the catch-all (rg_mirror_has_catch_all()), else of the
 * cache and the server.
 */
#include "rg_check.h"
#include "rg_directory.h"
#include "rg_alert.h"
#include "rg_alias.h"
#include "rg_cache.h"
#include "rg_index.h"
#include "rg_ldap.h"
#include "rg_log.h"
#include "rg_mirror.h"
#include "rg_metrics.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* More entries than this for one address: the filter is wrong; could not tell. */
#define LOOKUP_MAX_ENTRIES 16
#define FILTER_MAX RG_FILTER_MAX
/* The longest a whole recipient check may take, in seconds. */
#define RG_CHECK_BUDGET_MAX 20.0

/* Status of one address while resolving. */
enum st { ST_OK, ST_UNKNOWN, ST_DISABLED, ST_BROKEN, ST_LOOP, ST_FAIL };

static const char *const st_names[] = {
	[ST_OK] = "ok", [ST_UNKNOWN] = "unknown", [ST_DISABLED] = "disabled",
	[ST_BROKEN] = "alias-broken", [ST_LOOP] = "alias-loop", [ST_FAIL] = "tempfail",
};

/* One resolution: the path for loop detection, and what to report. */
struct resolve {
	struct rg_directory *d;
	const char *path[RG_ALIAS_DEPTH_MAX + 2];
	int depth;
	struct rg_answer *ans;
	char *why;
	size_t whylen;
	double t0;                      /* when the check began (rg_now()) */
	double until;                   /* the deadline of the whole check */
	int mirror;                     /* look up in the mirror, not the cache and server */
	int stale;                      /* stale answers used so far */
	char moved[RG_MOVED_MAX + 1];   /* where the person of the address at the
					 * top went (a disabled entry), or "" */
};

static const char *const verdict_names[] = {
	[RG_V_OK] = "ok",
	[RG_V_UNKNOWN] = "unknown",
	[RG_V_TEMPFAIL] = "tempfail",
	[RG_V_NOT_OURS] = "not-ours",
	[RG_V_BAD_ADDRESS] = "bad-address",
	[RG_V_ALIAS_BROKEN] = "alias-broken",
	[RG_V_MOVED] = "moved",
	[RG_V_DISABLED] = "disabled",
	[RG_V_ALIAS_LOOP] = "alias-loop",
};

static const char *const source_names[] = {
	[RG_SRC_NONE] = "none",
	[RG_SRC_CACHE] = "cache",
	[RG_SRC_LDAP] = "ldap",
	[RG_SRC_STALE] = "stale",
	[RG_SRC_MIRROR] = "mirror",
};

const char *
rg_verdict_name(enum rg_verdict v)
{
	return verdict_names[v];
}

const char *
rg_source_name(enum rg_source s)
{
	return source_names[s];
}

/* ---- reporting ---- */

static void
report_at(struct resolve *r, int depth, const char *target, const char *verdict,
    const char *problem)
{
	struct rg_expansion *x = r->ans->expansion;

	if (x == NULL)
		return;
	if (x->n == x->cap) {
		size_t cap = x->cap ? 2 * x->cap : 16;
		struct rg_expansion_item *v = realloc(x->items, cap * sizeof(*v));
		if (v == NULL)
			return;
		x->items = v;
		x->cap = cap;
	}
	struct rg_expansion_item *it = &x->items[x->n++];
	it->depth = depth;
	snprintf(it->target, sizeof(it->target), "%s", target);
	snprintf(it->verdict, sizeof(it->verdict), "%s", verdict);
	snprintf(it->problem, sizeof(it->problem), "%s", problem ? problem : "");
}

/* The name of problem P for the expansion (rg_alias's table). */
static const char *
pname(enum rg_alias_problem p)
{
	return rg_alias_problem_name(p);
}

static void
problem(struct resolve *r, const char *alias, enum rg_alias_problem p, const char *target,
    const char *dn)
{
	r->ans->problems++;
	if (r->d->alerts != NULL)
		rg_alert(r->d->alerts, alias, p, target, dn);
}

/* ---- lookups ---- */

/* "(&FILTER(!DISABLED))" or FILTER; "(&FILTER DISABLED)" when WANT_DISABLED. */
static int
with_disabled(const struct rg_config *cf, const char *filter, int want_disabled, char *out,
    size_t outlen)
{
	int n;

	if (cf->ldap_disabled_filter[0] == '\0')
		n = snprintf(out, outlen, "%s", filter);
	else if (want_disabled)
		n = snprintf(out, outlen, "(&%s%s)", filter, cf->ldap_disabled_filter);
	else
		n = snprintf(out, outlen, "(&%s(!%s))", filter, cf->ldap_disabled_filter);
	return n < 0 || (size_t)n >= outlen ? -1 : 0;
}

static enum st resolve_address(struct resolve *r, const char *full, const char *local,
    const char *domain, int *loop_min, enum rg_source *src);
static enum st lookup_address(struct resolve *r, const char *full, const char *local,
    const char *domain, int *loop_min);
static enum rg_found find_dn(struct resolve *r, const char *mdn, int want_disabled,
    struct rg_ldap_result *res);
static enum st catch_all(struct resolve *r, const char *domain, int *loop_min,
    enum rg_source *src);
static enum rg_found find_members(struct resolve *r, const char *full);

/*
 * The checks before CAND, one of the candidates of the target FULL of an
 * alias, is looked up at r->depth + 1: the alias itself, a loop, the depth
 * limit.  1 with the status in *S when it is not to be looked up; else 0.
 */
static int
target_cut(struct resolve *r, const char *alias, const char *dn, const char *full,
    const char *cand, const struct rg_alias_entry *self, int *loop_min, enum st *s)
{
	if (strcmp(cand, alias) == 0 || (self != NULL && rg_alias_claims(self, cand))) {
		if (self != NULL && self->keeps_copy) {
			/* a mailbox that keeps a copy: delivered locally, no problem */
			report_at(r, r->depth + 1, full, "local", NULL);
			*s = ST_OK;
			return 1;
		}
		problem(r, alias, RG_AP_SELF, full, dn);
		report_at(r, r->depth + 1, full, "self", pname(RG_AP_SELF));
		*s = ST_BROKEN;
		return 1;
	}
	for (int i = 0; i <= r->depth; i++) {
		if (strcmp(r->path[i], cand) == 0) {
			problem(r, alias, RG_AP_LOOP, full, dn);
			report_at(r, r->depth + 1, full, "loop", pname(RG_AP_LOOP));
			if (i < *loop_min)
				*loop_min = i;
			*s = ST_LOOP;
			return 1;
		}
	}
	if (r->depth + 1 > r->d->cf->alias_max_depth) {
		/* cannot tell how it ends: let it through, tell the admin */
		problem(r, alias, RG_AP_TOO_DEEP, full, dn);
		report_at(r, r->depth + 1, full, "too-deep", pname(RG_AP_TOO_DEEP));
		*loop_min = -1;
		*s = ST_OK;
		return 1;
	}
	return 0;
}

/* The status of one target address of an alias (SELF, or NULL) at depth r->depth. */
static enum st
resolve_target(struct resolve *r, const char *alias, const char *dn, const char *target,
    const struct rg_alias_entry *self, int *loop_min)
{
	const struct rg_config *cf = r->d->cf;
	const char *full[2], *local[2];
	struct rg_address a;
	enum rg_source src;
	enum st s = ST_UNKNOWN;

	enum rg_addr_status as = rg_address_parse(target, cf->recipient_delimiter, &a, NULL);
	if (as == RG_ADDR_NODOMAIN) {
		/* no domain: not one of ours, so not ours to check */
		report_at(r, r->depth + 1, target, "external", NULL);
		return ST_OK;
	}
	if (as != RG_ADDR_OK) {
		/* a malformed value: nothing we can deliver to */
		problem(r, alias, RG_AP_DANGLING, target, dn);
		report_at(r, r->depth + 1, target, "unknown", pname(RG_AP_DANGLING));
		return ST_UNKNOWN;
	}
	if (!rg_config_domain_ours(cf, a.domain)) {
		report_at(r, r->depth + 1, a.full, "external", NULL);
		return ST_OK;
	}
	size_t at = r->ans->expansion ? r->ans->expansion->n : 0;
	int nc = rg_alias_candidates(&a, full, local);
	for (int c = 0; c < nc && s == ST_UNKNOWN; c++) {
		if (target_cut(r, alias, dn, a.full, full[c], self, loop_min, &s))
			return s;
		r->depth++;
		r->path[r->depth] = full[c];
		s = resolve_address(r, full[c], local[c], a.domain, loop_min, &src);
		if (s == ST_UNKNOWN && c == nc - 1)
			s = catch_all(r, a.domain, loop_min, &src);
		r->depth--;
	}
	enum rg_alias_problem prob = s == ST_UNKNOWN ? RG_AP_DANGLING : RG_AP_DISABLED;
	/* a nested alias reports its own problems; here only its verdict */
	if (s == ST_UNKNOWN || s == ST_DISABLED) {
		problem(r, alias, prob, a.full, dn);
		if (r->ans->expansion != NULL && r->ans->expansion->n > at)
			snprintf(r->ans->expansion->items[at].problem,
			    sizeof(r->ans->expansion->items[at].problem), "%s", pname(prob));
	}
	return s;
}

static enum st resolve_alias(struct resolve *r, const char *alias,
    const struct rg_alias_entry *x, int *loop_min);

/*
 * A member (DN MDN as written, entry X) of an alias that is an alias without
 * an address of its own: known by its DN, compared normalised on the path.
 */
static enum st
resolve_nested(struct resolve *r, const char *alias, const char *dn, const char *mdn,
    const struct rg_alias_entry *x, int *loop_min)
{
	size_t len = strlen(mdn) + 1;
	char *ndn = malloc(len);
	enum st s;

	if (ndn == NULL) {
		snprintf(r->why, r->whylen, "out of memory");
		return ST_FAIL;
	}
	rg_alias_dn_norm(mdn, ndn, len);
	for (int i = 0; i <= r->depth; i++) {
		if (strcmp(r->path[i], ndn) == 0) {
			problem(r, alias, RG_AP_LOOP, mdn, dn);
			report_at(r, r->depth + 1, mdn, "loop", pname(RG_AP_LOOP));
			if (i < *loop_min)
				*loop_min = i;
			free(ndn);
			return ST_LOOP;
		}
	}
	if (r->depth + 1 > r->d->cf->alias_max_depth) {
		problem(r, alias, RG_AP_TOO_DEEP, mdn, dn);
		report_at(r, r->depth + 1, mdn, "too-deep", pname(RG_AP_TOO_DEEP));
		*loop_min = -1;
		free(ndn);
		return ST_OK;
	}
	report_at(r, r->depth + 1, mdn, "alias", NULL);
	r->depth++;
	r->path[r->depth] = ndn;
	s = resolve_alias(r, rg_alias_name(x), x, loop_min);
	r->depth--;
	free(ndn);
	return s;
}

/* Is MDN the DN of SELF, the alias that lists it? */
static int
is_self_dn(const struct rg_alias_entry *self, const char *mdn)
{
	size_t n1 = strlen(mdn) + 1, n2 = strlen(self->dn) + 1;
	char *a = malloc(n1), *b = malloc(n2);
	int same = a != NULL && b != NULL && rg_alias_dn_norm(mdn, a, n1) == 0 &&
	    rg_alias_dn_norm(self->dn, b, n2) == 0 && strcmp(a, b) == 0;

	free(a);
	free(b);
	return same;
}

/*
 * A member MDN of an alias that is not there (or is disabled): disabled,
 * then named as the audit names it, or dangling.
 */
static enum st
member_missing(struct resolve *r, const char *alias, const char *dn, const char *mdn)
{
	const struct rg_config *cf = r->d->cf;
	struct rg_ldap_result res;
	struct rg_alias_entry x;
	enum rg_found f = RG_NOTFOUND;

	memset(&res, 0, sizeof(res));
	if (cf->ldap_disabled_filter[0] != '\0')
		f = find_dn(r, mdn, 1, &res);
	if (f == RG_FOUND && rg_alias_classify(cf, &res.entries[0], &x) == 0) {
		problem(r, alias, RG_AP_DISABLED, rg_alias_name(&x), dn);
		report_at(r, r->depth + 1, rg_alias_name(&x), "disabled", pname(RG_AP_DISABLED));
		rg_alias_entry_free(&x);
		rg_ldap_result_free(&res);
		return ST_DISABLED;
	}
	rg_ldap_result_free(&res);
	problem(r, alias, RG_AP_DANGLING, mdn, dn);
	report_at(r, r->depth + 1, mdn, "unknown", pname(RG_AP_DANGLING));
	return ST_UNKNOWN;
}

/* The status of the member entry MDN of the alias SELF (named ALIAS). */
static enum st
resolve_member(struct resolve *r, const char *alias, const struct rg_alias_entry *self,
    const char *mdn, int *loop_min)
{
	const struct rg_config *cf = r->d->cf;
	struct rg_ldap_result res;
	struct rg_alias_entry x;
	enum st s = ST_UNKNOWN;

	if (is_self_dn(self, mdn)) {
		problem(r, alias, RG_AP_SELF, rg_alias_name(self), self->dn);
		report_at(r, r->depth + 1, rg_alias_name(self), "self", pname(RG_AP_SELF));
		return ST_BROKEN;
	}
	enum rg_found f = find_dn(r, mdn, 0, &res);
	if (f == RG_LOOKUP_FAIL) {
		rg_metrics_inc(RG_M_LDAP_ERRORS);
		/* a result cut short (out of memory) may hold what was copied */
		rg_ldap_result_free(&res);
		report_at(r, r->depth + 1, mdn, "tempfail", NULL);
		return ST_FAIL;
	}
	if (f == RG_NOTFOUND) {
		rg_ldap_result_free(&res);
		return member_missing(r, alias, self->dn, mdn);
	}
	/* the member's own address goes the way of any target: cached, loop-checked */
	if (rg_alias_classify(cf, &res.entries[0], &x) < 0) {
		snprintf(r->why, r->whylen, "out of memory");
		s = ST_FAIL;
	} else if (x.naddrs == 0 && x.alias) {
		/* a group inside a group, known by its DN only */
		s = resolve_nested(r, alias, self->dn, mdn, &x, loop_min);
	} else if (x.naddrs == 0) {
		problem(r, alias, RG_AP_DANGLING, mdn, self->dn);
		report_at(r, r->depth + 1, mdn, "no-address", pname(RG_AP_DANGLING));
	} else {
		s = resolve_target(r, alias, self->dn, x.addrs[0], NULL, loop_min);
	}
	rg_alias_entry_free(&x);
	rg_ldap_result_free(&res);
	return s;
}

/* The status of an alias entry X found for ALIAS. */
static enum st
resolve_alias(struct resolve *r, const char *alias, const struct rg_alias_entry *x,
    int *loop_min)
{
	enum rg_alias_problem own = rg_alias_own_problem(r->d->cf, x);
	int living = 0, unsure = 0, loop = 0;

	if (own != RG_AP_COUNT) {
		/* too many: too costly to check at RCPT time, so let it through */
		problem(r, alias, own, NULL, x->dn);
		return own == RG_AP_NO_TARGETS ? ST_BROKEN : ST_OK;
	}
	for (size_t i = 0; i < x->ntargets; i++) {
		const struct rg_alias_target *t = &x->targets[i];
		enum st s = t->member ? resolve_member(r, alias, x, t->value, loop_min) :
		    resolve_target(r, alias, x->dn, t->value, x, loop_min);
		if (s == ST_OK)
			living++;
		else if (s == ST_FAIL)
			unsure++;
		else if (s == ST_LOOP)
			loop++;
	}
	/* a loop anywhere defers the mail, whatever else lives */
	return loop ? ST_LOOP : living ? ST_OK : unsure ? ST_FAIL : ST_BROKEN;
}

/*
 * The status of the alias X found for FULL at r->depth, which is 0 when X
 * keeps a copy (below the top such an entry is a mailbox): its targets are
 * resolved for the alerts, but it receives the mail itself, and reaching it
 * again on the way is no loop.
 */
static enum st
keep_copy_alias(struct resolve *r, const char *full, const struct rg_alias_entry *x,
    int *loop_min)
{
	const char *top = r->path[0];

	if (!x->keeps_copy)
		return resolve_alias(r, full, x, loop_min);
	r->path[0] = "";        /* never a candidate */
	enum st s = resolve_alias(r, full, x, loop_min);
	r->path[0] = top;
	return s == ST_LOOP ? ST_LOOP : ST_OK;
}

/*
 * The status of the entries RES found for FULL at r->depth: a mailbox among
 * them receives the mail; otherwise each alias is resolved.
 */
static enum st
resolve_found(struct resolve *r, const char *full, const struct rg_ldap_result *res,
    int *loop_min)
{
	struct rg_alias_entry xs[LOOKUP_MAX_ENTRIES];
	size_t n = 0;
	int mailbox = 0, living = 0, unsure = 0, loop = 0;
	enum st s = ST_FAIL;

	if (res->nentries > 1) {
		char dns[1024] = "";
		for (size_t i = 0; i < res->nentries; i++) {
			size_t len = strlen(dns);
			snprintf(dns + len, sizeof(dns) - len, "%s%s", i ? "; " : "", res->entries[i].dn);
		}
		problem(r, full, RG_AP_DUPLICATE, NULL, dns);
	}
	for (; n < res->nentries && n < LOOKUP_MAX_ENTRIES; n++) {
		if (rg_alias_classify(r->d->cf, &res->entries[n], &xs[n]) < 0) {
			snprintf(r->why, r->whylen, "out of memory");
			goto out;
		}
		/* below the top, a mailbox that keeps a copy is a mailbox */
		mailbox |= !xs[n].alias || (xs[n].keeps_copy && r->depth > 0);
	}
	if (r->depth > 0)
		report_at(r, r->depth, full, mailbox ? "ok" : "alias", NULL);
	if (mailbox) {
		s = ST_OK;
		goto out;
	}
	/* members that name the address (LDAPMemberOfAttributes) receive it too */
	enum rg_found members = find_members(r, full);
	for (size_t i = 0; i < n; i++) {
		if (members == RG_FOUND && xs[i].ntargets == 0)
			continue;       /* a group of such members: no-targets is no problem */
		enum st es = keep_copy_alias(r, full, &xs[i], loop_min);
		living += es == ST_OK;
		unsure += es == ST_FAIL;
		loop += es == ST_LOOP;
	}
	living += members == RG_FOUND;
	unsure += members == RG_LOOKUP_FAIL;
	s = loop ? ST_LOOP : living ? ST_OK : unsure ? ST_FAIL : ST_BROKEN;
out:
	for (size_t i = 0; i < n; i++)
		rg_alias_entry_free(&xs[i]);
	return s;
}

#define MOVED_PREFIX "moved "

/* The cache value of S ("ok", "unknown" ...; "moved ADDRESS" for a disabled
 * entry that names MOVED) into BUF. */
static const char *
cache_value(enum st s, const char *moved, char *buf, size_t buflen)
{
	if (s != ST_DISABLED || moved[0] == '\0')
		return st_names[s];
	snprintf(buf, buflen, MOVED_PREFIX "%s", moved);
	return buf;
}

/* The status a cache value V stands for; MOVED gets the address of a
 * "moved ADDRESS" value, else "". */
static enum st
from_cache_value(const char *v, char *moved)
{
	moved[0] = '\0';
	if (strncmp(v, MOVED_PREFIX, strlen(MOVED_PREFIX)) == 0) {
		if (rg_address_plain(v + strlen(MOVED_PREFIX), moved, RG_MOVED_MAX + 1) < 0)
			return ST_FAIL;
		return ST_DISABLED;
	}
	for (int s = ST_OK; s <= ST_LOOP; s++)
		if (strcmp(v, st_names[s]) == 0)
			return (enum st)s;
	return ST_FAIL;         /* a value of another version: look again */
}

/*
 * The directory could not tell about FULL: did the cache see it found less
 * than StaleTTL ago?  Only a positive answer counts; r->why keeps the reason
 * the directory failed.
 */
static int
stale_found(struct resolve *r, const char *full)
{
	char value[RG_CACHE_VALUE_MAX], moved[RG_MOVED_MAX + 1];

	if (!rg_cache_get_stale(r->d->cache, full, value, sizeof(value)) ||
	    from_cache_value(value, moved) != ST_OK)
		return 0;
	r->stale++;
	if (r->depth > 0)
		report_at(r, r->depth, full, "ok", "stale");
	return 1;
}

/* Remember what FULL resolved to (MOVED: where a disabled entry's person
 * went, or ""); a negative answer replaces a positive one. */
static void
remember(struct resolve *r, const char *full, enum st s, const char *moved, int cacheable)
{
	const struct rg_config *cf = r->d->cf;
	char buf[sizeof(MOVED_PREFIX) + RG_MOVED_MAX];
	const char *v = cache_value(s, moved, buf, sizeof(buf));

	if (r->mirror || s == ST_FAIL || (s == ST_OK && !cacheable))
		return;
	if (!cacheable)
		rg_cache_put(r->d->cache, full, v, 0, 0);
	else if (s == ST_OK)
		rg_cache_put(r->d->cache, full, v, cf->cache_ttl, cf->stale_ttl);
	else
		rg_cache_put(r->d->cache, full, v, cf->negative_cache_ttl, 0);
}

/*
 * The entries LDAPFilter picks for LOCAL@DOMAIN that LDAPDisabledFilter
 * does not (WANT_DISABLED: does), from the mirror or the server; RES (or
 * NULL) gets them with the alias attributes, ERR why a lookup failed.
 */
static enum rg_found
find_address(struct resolve *r, const char *local, const char *domain, int want_disabled,
    struct rg_ldap_result *res, char *err, size_t errlen)
{
	struct rg_directory *d = r->d;
	enum rg_found f = RG_LOOKUP_FAIL;

	if (r->mirror)
		return rg_mirror_find(d->mirror, local, domain, want_disabled, LOOKUP_MAX_ENTRIES,
		    res, err, errlen);
	/* filters can be long; nested aliases recurse: not on the stack */
	char *filter = malloc(FILTER_MAX), *base_filter = malloc(FILTER_MAX);
	if (res != NULL)
		memset(res, 0, sizeof(*res));
	if (filter == NULL || base_filter == NULL)
		snprintf(err, errlen, "out of memory");
	else if (rg_ldap_expand_filter(d->cf->ldap_filter, local, domain, base_filter,
	    FILTER_MAX) < 0 || with_disabled(d->cf, base_filter, want_disabled, filter,
	    FILTER_MAX) < 0)
		snprintf(err, errlen, "filter too long");
	else
		f = rg_ldap_search(d->ldap, filter, res != NULL ? d->attrs : NULL,
		    LOOKUP_MAX_ENTRIES, r->until, res, err, errlen);
	free(filter);
	free(base_filter);
	return f;
}

/*
 * Does an entry that is not disabled, and that LDAPFilter could pick for
 * some address (its address assertions made presence tests), name FULL in
 * LDAPMemberOfAttributes?  One existence search, however many members the
 * group has; RG_NOTFOUND without that key.
 */
static enum rg_found
find_members(struct resolve *r, const char *full)
{
	const struct rg_config *cf = r->d->cf;
	enum rg_found f = RG_LOOKUP_FAIL;
	char esc[3 * RG_ADDR_MAX + 1];

	if (cf->member_of_attrs.n == 0)
		return RG_NOTFOUND;
	if (r->mirror)
		return rg_mirror_member_of(r->d->mirror, full, r->why, r->whylen);
	char *names = malloc(FILTER_MAX), *filter = malloc(FILTER_MAX);
	if (names == NULL || filter == NULL) {
		snprintf(r->why, r->whylen, "out of memory");
		goto out;
	}
	size_t o = (size_t)snprintf(names, FILTER_MAX, "(&%s(|", cf->member_scope);
	int bad = rg_ldap_escape_filter(full, strlen(full), esc, sizeof(esc)) < 0;
	for (size_t i = 0; i < cf->member_of_attrs.n && !bad && o < FILTER_MAX; i++)
		o += (size_t)snprintf(names + o, FILTER_MAX - o, "(%s=%s)",
		    cf->member_of_attrs.v[i], esc);
	if (!bad && o + 3 <= FILTER_MAX)
		strcpy(names + o, "))");
	if (bad || o + 3 > FILTER_MAX || with_disabled(cf, names, 0, filter, FILTER_MAX) < 0) {
		snprintf(r->why, r->whylen, "filter too long");
		goto out;
	}
	f = rg_ldap_exists(r->d->ldap, filter, r->until, r->why, r->whylen);
	if (f == RG_LOOKUP_FAIL)
		rg_metrics_inc(RG_M_LDAP_ERRORS);
out:
	free(names);
	free(filter);
	return f;
}

/* The entry MDN that is not (WANT_DISABLED: is) disabled, from the mirror or the server. */
static enum rg_found
find_dn(struct resolve *r, const char *mdn, int want_disabled, struct rg_ldap_result *res)
{
	char filter[4200];            /* "(objectClass=*)" and a filter of one line */

	if (r->mirror)
		return rg_mirror_read_dn(r->d->mirror, mdn, want_disabled, res, r->why, r->whylen);
	with_disabled(r->d->cf, "(objectClass=*)", want_disabled, filter, sizeof(filter));
	return rg_ldap_read_dn(r->d->ldap, mdn, filter, r->d->attrs, r->until, res, r->why,
	    r->whylen);
}

/*
 * The first value of LDAPMovedToAttribute (in the order of its attributes)
 * among the entries of RES that rg_address_plain() takes (at most
 * RG_MOVED_MAX characters), into MOVED; "" when there is none.
 */
static void
moved_to(const struct rg_config *cf, const struct rg_ldap_result *res, char *moved)
{
	moved[0] = '\0';
	for (size_t k = 0; k < cf->moved_attrs.n; k++)
		for (size_t i = 0; i < res->nentries; i++)
			for (size_t j = 0; j < res->entries[i].nvals; j++) {
				const struct rg_ldap_value *v = &res->entries[i].vals[j];
				if (strcasecmp(v->attr, cf->moved_attrs.v[k]) == 0 &&
				    rg_address_plain(v->value, moved, RG_MOVED_MAX + 1) == 0)
					return;
			}
}

/*
 * LOCAL@DOMAIN has no living entry: is it disabled, or not there at all?
 * Both receive nothing, but the admin is told which, and a disabled entry
 * may name where its person went (into MOVED, else "").  *SURE is 0 when it
 * could not be told (then nothing is cached).
 */
static enum st
not_living(struct resolve *r, const char *local, const char *domain, char *moved, int *sure)
{
	const struct rg_config *cf = r->d->cf;
	struct rg_ldap_result res;
	char why2[RG_ERRLEN];
	int want = cf->moved_attrs.n > 0;

	moved[0] = '\0';
	*sure = 1;
	if (cf->ldap_disabled_filter[0] == '\0')
		return ST_UNKNOWN;
	memset(&res, 0, sizeof(res));
	enum rg_found g = find_address(r, local, domain, 1, want ? &res : NULL, why2,
	    sizeof(why2));
	if (g == RG_FOUND && want)
		moved_to(cf, &res, moved);
	rg_ldap_result_free(&res);
	*sure = g != RG_LOOKUP_FAIL;
	return g == RG_FOUND ? ST_DISABLED : ST_UNKNOWN;
}

/*
 * Resolve FULL (LOCAL@DOMAIN) at r->depth.  *loop_min is lowered to the path
 * index a loop went back to (or -1 for a depth cut), so that an answer that
 * depends on the path it was reached by is not cached.  From the mirror,
 * the cache is neither asked nor filled.
 */
static enum st
resolve_address(struct resolve *r, const char *full, const char *local, const char *domain,
    int *loop_min, enum rg_source *src)
{
	struct rg_directory *d = r->d;
	char value[RG_CACHE_VALUE_MAX], moved[RG_MOVED_MAX + 1];
	enum st s;

	if (!r->mirror && rg_cache_get(d->cache, full, value, sizeof(value))) {
		s = from_cache_value(value, moved);
		if (s != ST_FAIL) {
			*src = RG_SRC_CACHE;
			if (r->depth == 0)
				memcpy(r->moved, moved, sizeof(r->moved));
			if (r->depth > 0)
				report_at(r, r->depth, full, st_names[s], NULL);
			return s;
		}
	}
	*src = r->mirror ? RG_SRC_MIRROR : RG_SRC_LDAP;
	s = lookup_address(r, full, local, domain, loop_min);
	if (s == ST_FAIL && !r->mirror && stale_found(r, full)) {
		*src = RG_SRC_STALE;
		s = ST_OK;
	}
	return s;
}

static enum st
lookup_address(struct resolve *r, const char *full, const char *local, const char *domain,
    int *loop_min)
{
	struct rg_directory *d = r->d;
	struct rg_ldap_result res;
	int want = d->aliases || r->mirror;
	enum st s;

	/* most recipients are a plain mailbox or nothing at all: the mirror says
	 * so without copying an entry out (at the top, where a mailbox adds
	 * nothing to an admin's expansion), and is not asked twice */
	int said = r->mirror && r->depth == 0 ? rg_mirror_mailbox(d->mirror, local, domain) : -1;
	if (said == 1)
		return ST_OK;
	memset(&res, 0, sizeof(res));
	enum rg_found f = said == 0 ? RG_NOTFOUND : find_address(r, local, domain, 0,
	    want ? &res : NULL, r->why, r->whylen);
	if (f == RG_LOOKUP_FAIL) {
		rg_metrics_inc(RG_M_LDAP_ERRORS);
		/* a result cut short (out of memory) may hold what was copied */
		if (want)
			rg_ldap_result_free(&res);
		if (r->depth > 0)
			report_at(r, r->depth, full, "tempfail", NULL);
		return ST_FAIL;
	}
	if (f == RG_NOTFOUND) {
		/* no entry of its own, but members that name it: a group */
		enum rg_found g = find_members(r, full);
		if (g != RG_NOTFOUND) {
			s = g == RG_FOUND ? ST_OK : ST_FAIL;
			if (r->depth > 0)
				report_at(r, r->depth, full, g == RG_FOUND ? "members" : "tempfail",
				    NULL);
			remember(r, full, s, "", 1);
			return s;
		}
		char moved[RG_MOVED_MAX + 1];
		int sure;
		s = not_living(r, local, domain, moved, &sure);
		if (r->depth > 0)
			report_at(r, r->depth, full, st_names[s], NULL);
		else
			memcpy(r->moved, moved, sizeof(r->moved));
		remember(r, full, s, moved, sure);
		return s;
	}
	if (!d->aliases) {
		if (want)
			rg_ldap_result_free(&res);
		remember(r, full, ST_OK, "", 1);
		return ST_OK;
	}
	/* found: a mailbox among the entries receives the mail */
	int my_loop_min = INT_MAX, stale_before = r->stale;
	s = resolve_found(r, full, &res, &my_loop_min);
	rg_ldap_result_free(&res);
	if (my_loop_min < *loop_min)
		*loop_min = my_loop_min;
	/* cache only what does not depend on the way here, nor on a stale answer */
	if (r->stale == stale_before)
		remember(r, full, s, "", my_loop_min >= r->depth);
	return s;
}

/* ---- the catch-all ---- */

/*
 * The catch-all entries of DOMAIN, named KEY ("@DOMAIN"), looked up at
 * r->depth: ST_OK when one receives mail, ST_BROKEN when those found do
 * not, ST_UNKNOWN when there is none, ST_FAIL when it could not be told.
 */
static enum st
catch_all_lookup(struct resolve *r, const char *key, const char *domain, int *loop_min)
{
	struct rg_directory *d = r->d;
	char *base = malloc(FILTER_MAX), *filter = malloc(FILTER_MAX);
	struct rg_ldap_result res;
	enum st s = ST_FAIL;
	int living = 0, unsure = 0;

	memset(&res, 0, sizeof(res));
	if (base == NULL || filter == NULL) {
		snprintf(r->why, r->whylen, "out of memory");
		goto out;
	}
	if (rg_ldap_expand_filter(d->cf->ldap_catchall_filter, "", domain, base, FILTER_MAX) < 0 ||
	    with_disabled(d->cf, base, 0, filter, FILTER_MAX) < 0) {
		snprintf(r->why, r->whylen, "catch-all filter too long");
		goto out;
	}
	enum rg_found f = r->mirror ? rg_mirror_catch_all(d->mirror, domain, LOOKUP_MAX_ENTRIES,
	    &res, r->why, r->whylen) : rg_ldap_search(d->ldap, filter, d->aliases ? d->attrs :
	    NULL, LOOKUP_MAX_ENTRIES, r->until, &res, r->why, r->whylen);
	if (f == RG_LOOKUP_FAIL)
		rg_metrics_inc(RG_M_LDAP_ERRORS);
	if (f != RG_FOUND) {
		s = f == RG_NOTFOUND ? ST_UNKNOWN : ST_FAIL;
		goto out;
	}
	report_at(r, r->depth, key, "catch-all", NULL);
	for (size_t i = 0; i < res.nentries && d->aliases; i++) {
		struct rg_alias_entry x;
		if (rg_alias_classify(d->cf, &res.entries[i], &x) < 0) {
			snprintf(r->why, r->whylen, "out of memory");
			goto out;
		}
		enum st es = !x.alias ? ST_OK : resolve_alias(r, rg_alias_name(&x), &x, loop_min);
		rg_alias_entry_free(&x);
		living += es == ST_OK;
		unsure += es == ST_FAIL;
	}
	s = living || !d->aliases ? ST_OK : unsure ? ST_FAIL : ST_BROKEN;
out:
	rg_ldap_result_free(&res);
	free(base);
	free(filter);
	return s;
}

/*
 * An address of DOMAIN at r->depth is not there: does the catch-all of
 * DOMAIN (LDAPCatchAllFilter) take its mail?  ST_OK yes, ST_FAIL could not
 * tell, ST_UNKNOWN no (also when there is no catch-all, or the way here
 * came through it already: a loop, which the alias that closes it reports).
 * *SRC says where the answer came from.
 */
static enum st
catch_all(struct resolve *r, const char *domain, int *loop_min, enum rg_source *src)
{
	const struct rg_config *cf = r->d->cf;
	char key[RG_DOMAIN_MAX + 2], value[RG_CACHE_VALUE_MAX], moved[RG_MOVED_MAX + 1];
	int mirror = r->mirror, my_loop_min = INT_MAX, stale_before = r->stale;
	enum st s;

	if (cf->ldap_catchall_filter[0] == '\0')
		return ST_UNKNOWN;
	snprintf(key, sizeof(key), "@%s", domain);
	for (int i = 0; i <= r->depth; i++) {
		if (strcmp(r->path[i], key) == 0) {
			if (i < *loop_min)
				*loop_min = i;
			return ST_UNKNOWN;
		}
	}
	if (r->depth + 1 > cf->alias_max_depth) {
		/* cannot tell how it ends: let it through */
		report_at(r, r->depth + 1, key, "too-deep", pname(RG_AP_TOO_DEEP));
		*loop_min = -1;
		return ST_OK;
	}
	/* from the mirror when it holds the catch-all, else the cache and the server */
	r->mirror = mirror && rg_mirror_has_catch_all(r->d->mirror);
	*src = RG_SRC_CACHE;
	if (!r->mirror && rg_cache_get(r->d->cache, key, value, sizeof(value)) &&
	    (s = from_cache_value(value, moved)) != ST_FAIL) {
		if (s != ST_UNKNOWN)
			report_at(r, r->depth + 1, key, s == ST_OK ? "catch-all" : st_names[s], NULL);
		r->mirror = mirror;
		return s == ST_OK ? ST_OK : ST_UNKNOWN;
	}
	*src = r->mirror ? RG_SRC_MIRROR : RG_SRC_LDAP;
	r->depth++;
	r->path[r->depth] = key;
	s = catch_all_lookup(r, key, domain, &my_loop_min);
	r->depth--;
	if (my_loop_min < *loop_min)
		*loop_min = my_loop_min;
	if (r->stale == stale_before)
		remember(r, key, s, "", my_loop_min > r->depth);
	if (s == ST_FAIL && !r->mirror && stale_found(r, key))
		s = ST_OK;
	r->mirror = mirror;
	return s == ST_OK || s == ST_FAIL ? s : ST_UNKNOWN;
}

/* ---- the check ---- */

/*
 * Resolve the recipient A at the top of the path: as given, then without its
 * subaddress when nobody claims it; *SOURCE says where the answer came from.
 */
static enum st
resolve_recipient(struct resolve *r, const struct rg_address *a, int *loop_min,
    enum rg_source *source)
{
	const char *full[2], *local[2];
	int nc = rg_alias_candidates(a, full, local);
	enum st s = ST_UNKNOWN;

	for (int c = 0; c < nc && s == ST_UNKNOWN; c++) {
		enum rg_source src;
		r->path[0] = full[c];
		s = resolve_address(r, full[c], local[c], a->domain, loop_min, &src);
		if (c == 0 || src != RG_SRC_CACHE)
			*source = src;
		if (s == ST_UNKNOWN && c == nc - 1 && (s = catch_all(r, a->domain, loop_min,
		    &src)) != ST_UNKNOWN)
			*source = src;
	}
	return s;
}

/*
 * Resolve A at the top, from the mirror as far as it may be trusted now
 * (a found address always; an unknown one only while it is in step with
 * the directory), else as without it.
 */
static enum st
resolve_top(struct resolve *r, const struct rg_address *a, int *loop_min,
    enum rg_source *source)
{
	struct rg_directory *d = r->d;
	enum rg_mirror_trust trust = d->mirror ? rg_mirror_trust(d->mirror, r->t0) : RG_MIRROR_NONE;

	if (trust != RG_MIRROR_NONE) {
		r->mirror = 1;
		enum st s = resolve_recipient(r, a, loop_min, source);
		r->mirror = 0;
		if (s == ST_OK || (trust == RG_MIRROR_ALL && s != ST_FAIL))
			return s;
		/* not the mirror's to say: start again from the cache and the server */
		if (r->ans->expansion != NULL)
			r->ans->expansion->n = 0;
		r->ans->problems = 0;
		r->why[0] = '\0';
		r->moved[0] = '\0';
		*loop_min = INT_MAX;
	}
	return resolve_recipient(r, a, loop_min, source);
}

/* The verdict of the status S of a whole recipient. */
static enum rg_verdict
verdict_of(enum st s)
{
	switch (s) {
	case ST_OK:
		return RG_V_OK;
	case ST_UNKNOWN:
	case ST_DISABLED:
		return RG_V_UNKNOWN;
	case ST_BROKEN:
		return RG_V_ALIAS_BROKEN;
	case ST_LOOP:
		return RG_V_ALIAS_LOOP;
	case ST_FAIL:
		break;
	}
	return RG_V_TEMPFAIL;
}

int
rg_check_may_suggest(const struct rg_config *cf, const struct rg_asker *who)
{
	if (who->admin)
		return 1;
	if (who->no_suggest)
		return 0;
	switch (cf->suggest) {
	case RG_SUGGEST_OFF:
		return 0;
	case RG_SUGGEST_ALL:
		return 1;
	case RG_SUGGEST_TRUSTED:
		return who->authenticated || rg_config_trusted(cf, who->client_ip);
	}
	return 0;
}

/* S into OUT (OUTLEN bytes), cut to fit: snprintf's "%s" without the formatting. */
static void
copy_text(char *out, size_t outlen, const char *s)
{
	size_t n = strlen(s);

	if (n >= outlen)
		n = outlen - 1;
	memcpy(out, s, n);
	out[n] = '\0';
}

void
rg_check(struct rg_directory *d, const char *rcpt, const struct rg_asker *who,
    struct rg_answer *ans)
{
	struct rg_address a;
	double t0 = rg_now();
	struct resolve r;
	int loop_min = INT_MAX;

	memset(ans, 0, sizeof(*ans));
	/* Not ours, whatever its syntax: not ours to judge (an outbound relay from
	 * a trusted client may well use an address we would find odd). */
	char dom[RG_DOMAIN_MAX + 2];
	int dom_ours = 0;
	if (rg_address_domain(rcpt, dom, sizeof(dom)) == 0) {
		if (!rg_config_domain_ours(d->cf, dom)) {
			ans->verdict = RG_V_NOT_OURS;
			copy_text(ans->address, sizeof(ans->address), rcpt);
			goto done;
		}
		dom_ours = 1;
	}
	switch (rg_address_parse(rcpt, d->cf->recipient_delimiter, &a, &ans->why)) {
	case RG_ADDR_OK:
		break;
	case RG_ADDR_NODOMAIN:
		ans->verdict = RG_V_NOT_OURS;
		copy_text(ans->address, sizeof(ans->address), a.local);
		goto done;
	case RG_ADDR_NULL:
		ans->verdict = RG_V_BAD_ADDRESS;
		ans->why = "null recipient <>";
		goto done;
	case RG_ADDR_BAD:
		ans->verdict = RG_V_BAD_ADDRESS;
		goto done;
	}
	copy_text(ans->address, sizeof(ans->address), a.full);
	/* the lenient domain above is the parsed one for a plain address */
	if (!(dom_ours && strcmp(dom, a.domain) == 0) && !rg_config_domain_ours(d->cf, a.domain)) {
		ans->verdict = RG_V_NOT_OURS;
		goto done;
	}
	if (who->admin)
		ans->expansion = calloc(1, sizeof(*ans->expansion));
	memset(&r, 0, sizeof(r));
	r.d = d;
	r.ans = ans;
	r.why = ans->detail;
	r.whylen = sizeof(ans->detail);
	r.path[0] = a.full;
	r.t0 = t0;
	/* one deadline for the whole check, aliases included, well under the
	 * MTA's milter timeout */
	double budget = 2 * d->cf->ldap_timeout;
	r.until = t0 + (budget > RG_CHECK_BUDGET_MAX ? RG_CHECK_BUDGET_MAX : budget);
	enum st s = resolve_top(&r, &a, &loop_min, &ans->source);
	if (s == ST_FAIL && a.base[0] != '\0' && stale_found(&r, a.base)) {
		/* user+tag@ could not be looked up; user@ was found not long ago */
		s = ST_OK;
	}
	if (s == ST_OK && r.stale > 0) {
		/* say why the directory was not asked, or could not answer */
		ans->source = RG_SRC_STALE;
		ans->why = ans->detail[0] != '\0' ? ans->detail : NULL;
	}
	ans->verdict = verdict_of(s);
	if (s == ST_DISABLED && r.moved[0] != '\0') {
		ans->verdict = RG_V_MOVED;
		memcpy(ans->moved_to, r.moved, sizeof(ans->moved_to));
	} else if (s == ST_DISABLED && d->cf->disabled_reply == RG_DISABLED_DISABLED) {
		ans->verdict = RG_V_DISABLED;
	}
	if (s == ST_FAIL)
		ans->why = ans->detail;
	if (ans->verdict == RG_V_UNKNOWN && d->index != NULL && rg_check_may_suggest(d->cf, who)) {
		if (d->index_lazy) {
			/* one load per run, and only when an address is unknown */
			char err[RG_ERRLEN];
			d->index_lazy = 0;
			if (rg_index_load(d->index, err, sizeof(err)) < 0)
				rg_log(LOG_WARNING, "no suggestions: index not loaded: %s", err);
		}
		rg_index_suggest(d->index, a.base[0] ? a.base_local : a.local, a.domain,
		    ans->suggestion, sizeof(ans->suggestion));
		rg_metrics_add(RG_M_SUGGESTIONS, ans->suggestion[0] != '\0');
	}
done:
	ans->ms = (rg_now() - t0) * 1000.0;
}

void
rg_answer_free(struct rg_answer *ans)
{
	if (ans->expansion != NULL) {
		free(ans->expansion->items);
		free(ans->expansion);
		ans->expansion = NULL;
	}
}
