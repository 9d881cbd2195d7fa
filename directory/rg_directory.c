/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * rg_directory.c - open and close the lookup machinery of one
 * configuration, and hand runtime state over from the running one on a
 * reload (the rules are in rg_directory.h).
 */
#include "rg_directory.h"
#include "rg_alert.h"
#include "rg_cache.h"
#include "rg_index.h"
#include "rg_ldap.h"
#include "rg_log.h"
#include "rg_filter.h"
#include "rg_mirror.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int
attrs_add(char ***attrs, size_t *n, const char *a)
{
	for (size_t i = 0; i < *n; i++)
		if (strcasecmp((*attrs)[i], a) == 0)
			return 0;
	char **v = realloc(*attrs, (*n + 2) * sizeof(*v));
	if (v == NULL)
		return -1;
	v[(*n)++] = (char *)a;
	v[*n] = NULL;
	*attrs = v;
	return 0;
}

/* 1 when the two lists hold the same strings in the same order. */
static int
same_list(const struct rg_strlist *a, const struct rg_strlist *b)
{
	if (a->n != b->n)
		return 0;
	for (size_t i = 0; i < a->n; i++)
		if (strcmp(a->v[i], b->v[i]) != 0)
			return 0;
	return 1;
}

/* 1 when A and B are the same string, NULL counting as "". */
static int
same_str(const char *a, const char *b)
{
	return strcmp(a ? a : "", b ? b : "") == 0;
}

/* The first setting the suggestion index depends on that differs between
 * A and B ("LDAPBase"...), or NULL when none does. */
static const char *
index_change(const struct rg_config *a, const struct rg_config *b)
{
	if (!same_list(&a->domains, &b->domains))
		return "Domains";
	if (strcmp(a->ldap_uri, b->ldap_uri) != 0)
		return "LDAPURI";
	if (strcmp(a->ldap_bind_dn, b->ldap_bind_dn) != 0)
		return "LDAPBindDN";
	if (!same_str(a->ldap_bind_password, b->ldap_bind_password))
		return "the bind password";
	if (a->ldap_starttls != b->ldap_starttls)
		return "LDAPStartTLS";
	if (strcmp(a->ldap_base, b->ldap_base) != 0)
		return "LDAPBase";
	if (strcmp(a->ldap_filter, b->ldap_filter) != 0)
		return "LDAPFilter";
	if (!same_list(&a->address_attrs, &b->address_attrs))
		return "LDAPAddressAttributes";
	if (strcmp(a->ldap_disabled_filter, b->ldap_disabled_filter) != 0)
		return "LDAPDisabledFilter";
	return NULL;
}

/* The first setting the in-process cache depends on that differs, or NULL. */
static const char *
cache_change(const struct rg_config *a, const struct rg_config *b)
{
	if (strcmp(a->fingerprint, b->fingerprint) != 0)
		return "lookup settings";
	if (a->cache_ttl != b->cache_ttl)
		return "CacheTTL";
	if (a->negative_cache_ttl != b->negative_cache_ttl)
		return "NegativeCacheTTL";
	if (a->stale_ttl != b->stale_ttl)
		return "StaleTTL";
	return NULL;
}

/* The first setting the mirror depends on that differs between A and B,
 * or NULL when none does: then B's directory can share A's mirror. */
static const char *
mirror_change(const struct rg_config *a, const struct rg_config *b)
{
	if (strcmp(a->fingerprint, b->fingerprint) != 0)
		return "lookup settings";       /* server, base, filters, attributes, ... */
	if (!same_str(a->ldap_bind_password, b->ldap_bind_password))
		return "the bind password";
	if (a->ldap_starttls != b->ldap_starttls)
		return "LDAPStartTLS";
	if (strcmp(a->ldap_tls_cacert_file, b->ldap_tls_cacert_file) != 0 ||
	    strcmp(a->ldap_tls_cert_file, b->ldap_tls_cert_file) != 0 ||
	    strcmp(a->ldap_tls_key_file, b->ldap_tls_key_file) != 0 ||
	    a->ldap_tls_verify != b->ldap_tls_verify)
		return "the LDAPTLS settings";
	if (a->ldap_timeout != b->ldap_timeout)
		return "LDAPTimeout";
	if (a->mirror_refresh != b->mirror_refresh)
		return "MirrorRefresh";
	if (a->negative_cache_ttl != b->negative_cache_ttl)
		return "NegativeCacheTTL";
	if (a->stale_ttl != b->stale_ttl)
		return "StaleTTL";
	return NULL;
}

/* Will a directory of CF opened with FLAGS have a mirror? */
static int
mirror_wanted(const struct rg_config *cf, int flags)
{
	char why[RG_ERRLEN];

	return cf->mirror != RG_MIRROR_NO && (flags & (RG_DIR_BACKGROUND | RG_DIR_MIRROR_WAIT)) &&
	    rg_mirror_possible(cf, why, sizeof(why)) == 0;
}

/* The suggestion index of D to be, from PREV's when the rules allow; what
 * became of it goes into KEPT.  0, or -1 out of memory. */
static int
open_index(struct rg_directory *d, int flags, const struct rg_directory *prev, char *kept,
    size_t keptlen)
{
	/* with a mirror the index is built from it: no walk, no thread of its own */
	if (mirror_wanted(d->cf, flags))
		flags &= ~(RG_DIR_BACKGROUND | RG_DIR_SUGGEST_SYNC);
	struct rg_index *from = NULL;
	const char *why = NULL;

	if (prev != NULL && prev->index != NULL) {
		why = index_change(prev->cf, d->cf);
		if (why == NULL)
			from = prev->index;
	}
	d->index = rg_index_new(d->cf, (flags & RG_DIR_BACKGROUND) != 0, from);
	if (d->index == NULL)
		return -1;
	d->index_lazy = (flags & RG_DIR_SUGGEST_SYNC) != 0;
	if (prev == NULL)
		return 0;
	if (rg_index_seeded(d->index))
		snprintf(kept, keptlen, "suggestion index");
	else if (prev->index == NULL)
		snprintf(kept, keptlen, "suggestion index loading (Suggest was off)");
	else if (why != NULL)
		snprintf(kept, keptlen, "suggestion index reloading (%s changed)", why);
	else
		snprintf(kept, keptlen, "suggestion index loading (none loaded yet)");
	return 0;
}

/* Move PREV's in-process cache into D's when the rules allow; say so in
 * KEPT, after what open_index() wrote there. */
static void
adopt_cache(struct rg_directory *d, const struct rg_directory *prev, char *kept, size_t keptlen)
{
	const char *why = cache_change(prev->cf, d->cf);
	size_t o = strlen(kept);
	int index_kept = strcmp(kept, "suggestion index") == 0;

	char cache[96];

	if (why == NULL) {
		rg_cache_adopt(d->cache, prev->cache);
		snprintf(cache, sizeof(cache), "cache kept");
	} else {
		snprintf(cache, sizeof(cache), "cache emptied (%s changed)", why);
	}
	if (index_kept && why == NULL)
		snprintf(kept + o, keptlen - o, " and cache kept");
	else if (index_kept)
		snprintf(kept + o, keptlen - o, " kept, %s", cache);
	else
		snprintf(kept + o, keptlen - o, "%s%s", o > 0 ? ", " : "", cache);
}

/* The mirror's load callback: the suggestion index from its entries. */
static void
index_from_mirror(void *arg, struct rg_mirror *m)
{
	struct rg_directory *d = arg;
	char err[RG_ERRLEN];

	if (rg_index_load_mirror(d->index, m, err, sizeof(err)) < 0)
		rg_log(LOG_ERR, "suggestion index not built from the mirror: %s", err);
}

/*
 * Share PREV's mirror with D when nothing it depends on changed and D's
 * suggestion index needs no load of its own (it was kept); what became of
 * it goes into KEPT.  1 when shared, 0 when D needs a mirror of its own.
 */
static int
adopt_mirror(struct rg_directory *d, const struct rg_directory *prev, char *kept,
    size_t keptlen)
{
	const char *why = mirror_change(prev->cf, d->cf);
	size_t o = strlen(kept);
	const char *sep = o > 0 ? ", " : "";

	if (why == NULL && (d->index == NULL || rg_index_seeded(d->index))) {
		d->mirror = rg_mirror_hold(prev->mirror, d->index ? index_from_mirror : NULL, d);
		snprintf(kept + o, keptlen - o, "%smirror kept", sep);
		return 1;
	}
	if (why != NULL)
		snprintf(kept + o, keptlen - o, "%smirror reloading (%s changed)", sep, why);
	else
		snprintf(kept + o, keptlen - o, "%smirror reloading (for the suggestion index)",
		    sep);
	return 0;
}

/* Start D's mirror, or share PREV's, when CF asks for one and it can be
 * held; 0, or -1 out of memory. */
static int
open_mirror(struct rg_directory *d, int flags, const struct rg_directory *prev, char *kept,
    size_t keptlen)
{
	struct rg_config *cf = d->cf;
	char why[RG_ERRLEN];

	if (cf->mirror == RG_MIRROR_NO || !(flags & (RG_DIR_BACKGROUND | RG_DIR_MIRROR_WAIT)))
		return 0;
	if (rg_mirror_possible(cf, why, sizeof(why)) < 0) {
		/* Mirror yes refused this at load; auto says it once and stays live */
		rg_log(LOG_NOTICE, "no directory mirror, lookups stay live: %s", why);
		return 0;
	}
	if (prev != NULL && prev->mirror != NULL && adopt_mirror(d, prev, kept, keptlen))
		return 0;
	d->mirror = rg_mirror_new(cf);
	if (d->mirror == NULL || rg_mirror_start(d->mirror, d->index ? index_from_mirror : NULL,
	    d) < 0)
		return -1;
	if ((flags & RG_DIR_MIRROR_WAIT) && !rg_mirror_wait(d->mirror, 60))
		rg_log(LOG_WARNING, "the directory mirror is not loaded after 60 s; "
		    "lookups stay live until it is");
	return 0;
}

struct rg_directory *
rg_directory_reopen(struct rg_config *cf, int flags, struct rg_directory *prev, char *kept,
    size_t keptlen, char *err, size_t errlen)
{
	struct rg_directory *d = calloc(1, sizeof(*d));

	if (keptlen > 0)
		kept[0] = '\0';
	if (d == NULL) {
		snprintf(err, errlen, "out of memory");
		rg_config_free(cf);
		return NULL;
	}
	d->cf = cf;
	d->ldap = rg_ldap_pool_new(cf);
	d->cache = rg_cache_new(cf, (flags & RG_DIR_BACKGROUND) != 0);
	if (d->ldap == NULL || d->cache == NULL)
		goto nomem;
	d->aliases = cf->alias_attrs.n > 0 || cf->member_attrs.n > 0 ||
	    cf->member_of_attrs.n > 0 || cf->ldap_disabled_filter[0] != '\0';
	if (d->aliases) {
		size_t n = 0;
		int bad = attrs_add(&d->attrs, &n, "objectClass") < 0;
		for (size_t i = 0; i < cf->address_attrs.n; i++)
			bad |= attrs_add(&d->attrs, &n, cf->address_attrs.v[i]) < 0;
		for (size_t i = 0; i < cf->alias_attrs.n; i++)
			bad |= attrs_add(&d->attrs, &n, cf->alias_attrs.v[i]) < 0;
		for (size_t i = 0; i < cf->member_attrs.n; i++)
			bad |= attrs_add(&d->attrs, &n, cf->member_attrs.v[i]) < 0;
		for (size_t i = 0; i < cf->moved_attrs.n; i++)
			bad |= attrs_add(&d->attrs, &n, cf->moved_attrs.v[i]) < 0;
		/* what LDAPForwardFilter reads, matched on the entry by rg_alias */
		for (char *const *a = cf->forward_filter ?
		    rg_filter_attrs(cf->forward_filter, NULL) : NULL; a && *a; a++)
			bad |= attrs_add(&d->attrs, &n, *a) < 0;
		if (bad)
			goto nomem;
	}
	if (flags & RG_DIR_ALERTS) {
		d->alerts = rg_alert_new(cf, d->cache);
		if (d->alerts == NULL)
			goto nomem;
	}
	if (((flags & RG_DIR_SUGGEST_SYNC) || cf->suggest != RG_SUGGEST_OFF) &&
	    open_index(d, flags, prev, kept, keptlen) < 0)
		goto nomem;
	/* last, so that the old directory's RCPTs fill its cache until now */
	if (prev != NULL)
		adopt_cache(d, prev, kept, keptlen);
	/* after everything that can fail: a shared mirror feeds D's index from now on */
	if (open_mirror(d, flags, prev, kept, keptlen) < 0)
		goto nomem;
	return d;
nomem:
	snprintf(err, errlen, "out of memory");
	rg_directory_close(d);
	return NULL;
}

struct rg_directory *
rg_directory_open(struct rg_config *cf, int flags, char *err, size_t errlen)
{
	return rg_directory_reopen(cf, flags, NULL, NULL, 0, err, errlen);
}

void
rg_directory_close(struct rg_directory *d)
{
	if (d == NULL)
		return;
	rg_mirror_free(d->mirror);
	rg_index_free(d->index);
	rg_alert_free(d->alerts);
	rg_cache_free(d->cache);
	rg_ldap_pool_free(d->ldap);
	free(d->attrs);
	rg_config_free(d->cf);
	free(d);
}

const struct rg_config *
rg_directory_config(const struct rg_directory *d)
{
	return d->cf;
}
