/*
 * rg_check.c - from an envelope recipient to a verdict.
 *
 * The steps, in order: parse and normalise the address (rg_address); is the
 * domain one of ours; ask the cache (rg_cache); ask LDAP (rg_ldap) and
 * remember an authoritative answer for CacheTTL / NegativeCacheTTL; for
 * user+tag@domain that is unknown as given, ask again for user@domain; for
 * an unknown address, find what the sender probably meant when the asker may
 * see it.  A lookup that could not tell is RG_V_TEMPFAIL, never unknown.
 */
#include "rg_check.h"
#include "rg_cache.h"
#include "rg_ldap.h"
#include "rg_log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* More entries than this for one address: the filter is wrong; could not tell. */
#define LOOKUP_MAX_ENTRIES 16

struct rg_directory {
	struct rg_config *cf;
	struct rg_ldap_pool *ldap;
	struct rg_cache *cache;
};

static const char *const verdict_names[] = {
	[RG_V_OK] = "ok",
	[RG_V_UNKNOWN] = "unknown",
	[RG_V_TEMPFAIL] = "tempfail",
	[RG_V_NOT_OURS] = "not-ours",
	[RG_V_BAD_ADDRESS] = "bad-address",
	[RG_V_ALIAS_BROKEN] = "alias-broken",
};

static const char *const source_names[] = {
	[RG_SRC_NONE] = "none",
	[RG_SRC_CACHE] = "cache",
	[RG_SRC_LDAP] = "ldap",
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

struct rg_directory *
rg_directory_open(struct rg_config *cf, int flags, char *err, size_t errlen)
{
	struct rg_directory *d = calloc(1, sizeof(*d));

	if (d == NULL) {
		snprintf(err, errlen, "out of memory");
		rg_config_free(cf);
		return NULL;
	}
	d->cf = cf;
	d->ldap = rg_ldap_pool_new(cf);
	d->cache = rg_cache_new(cf, (flags & RG_DIR_BACKGROUND) != 0);
	if (d->ldap == NULL || d->cache == NULL) {
		snprintf(err, errlen, "out of memory");
		rg_directory_close(d);
		return NULL;
	}
	return d;
}

void
rg_directory_close(struct rg_directory *d)
{
	if (d == NULL)
		return;
	rg_cache_free(d->cache);
	rg_ldap_pool_free(d->ldap);
	rg_config_free(d->cf);
	free(d);
}

const struct rg_config *
rg_directory_config(const struct rg_directory *d)
{
	return d->cf;
}

/*
 * Does LOCAL@DOMAIN exist?  RG_FOUND, RG_NOTFOUND or RG_LOOKUP_FAIL, and
 * where the answer came from.
 */
static enum rg_found
lookup(struct rg_directory *d, const char *full, const char *local, const char *domain,
    enum rg_source *src, char *why, size_t whylen)
{
	char value[RG_CACHE_VALUE_MAX];
	char filter[4 * RG_ADDR_MAX + 1024];

	if (rg_cache_get(d->cache, full, value, sizeof(value))) {
		*src = RG_SRC_CACHE;
		return strcmp(value, "ok") == 0 ? RG_FOUND : RG_NOTFOUND;
	}
	*src = RG_SRC_LDAP;
	if (rg_ldap_expand_filter(d->cf->ldap_filter, local, domain, filter, sizeof(filter)) < 0) {
		snprintf(why, whylen, "filter too long");
		return RG_LOOKUP_FAIL;
	}
	enum rg_found f = rg_ldap_search(d->ldap, filter, NULL, LOOKUP_MAX_ENTRIES, NULL, why,
	    whylen);
	if (f == RG_FOUND)
		rg_cache_put(d->cache, full, "ok", d->cf->cache_ttl);
	else if (f == RG_NOTFOUND)
		rg_cache_put(d->cache, full, "unknown", d->cf->negative_cache_ttl);
	return f;
}

void
rg_check(struct rg_directory *d, const char *rcpt, const struct rg_asker *who,
    struct rg_answer *ans)
{
	struct rg_address a;
	double t0 = rg_now();
	char *why = ans->detail;

	(void)who;
	memset(ans, 0, sizeof(*ans));
	switch (rg_address_parse(rcpt, d->cf->recipient_delimiter, &a, &ans->why)) {
	case RG_ADDR_OK:
		break;
	case RG_ADDR_NODOMAIN:
		ans->verdict = RG_V_NOT_OURS;
		snprintf(ans->address, sizeof(ans->address), "%s", a.local);
		goto done;
	case RG_ADDR_NULL:
		ans->verdict = RG_V_BAD_ADDRESS;
		ans->why = "null recipient <>";
		goto done;
	case RG_ADDR_BAD:
		ans->verdict = RG_V_BAD_ADDRESS;
		goto done;
	}
	snprintf(ans->address, sizeof(ans->address), "%s", a.full);
	if (!rg_config_domain_ours(d->cf, a.domain)) {
		ans->verdict = RG_V_NOT_OURS;
		goto done;
	}
	why[0] = '\0';
	enum rg_found f = lookup(d, a.full, a.local, a.domain, &ans->source, why, sizeof(ans->detail));
	if (f == RG_NOTFOUND && a.base[0] != '\0') {
		enum rg_source src2;
		f = lookup(d, a.base, a.base_local, a.domain, &src2, why, sizeof(ans->detail));
		if (src2 == RG_SRC_LDAP)
			ans->source = RG_SRC_LDAP;
	}
	switch (f) {
	case RG_FOUND:
		ans->verdict = RG_V_OK;
		break;
	case RG_NOTFOUND:
		ans->verdict = RG_V_UNKNOWN;
		break;
	case RG_LOOKUP_FAIL:
		ans->verdict = RG_V_TEMPFAIL;
		ans->why = why;
		break;
	}
done:
	ans->ms = (rg_now() - t0) * 1000.0;
}
