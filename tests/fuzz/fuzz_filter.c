/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * fuzz_filter.c - libFuzzer target for LDAPFilter templates evaluated in
 * memory (directory/rg_filter.c), checked against libldap's own parser.
 *
 * Input: template, local part and domain separated by NUL bytes.
 * Properties:
 *   - a template rg_filter_parse() accepts is one libldap accepts: its
 *     expansion for the address (rg_ldap_expand_filter) parses with
 *     ldap_pvt_put_filter, and so does its walk filter (never looser);
 *   - the keys name attributes of rg_filter_attrs(), and their values
 *     expand within a buffer of the right size;
 *   - completeness of the mirror's lookups: for a mirrorable template, an
 *     entry that rg_filter_match() picks for the address holds one key's
 *     value (ignoring case) in that key's attribute.  The entry is made of
 *     values derived from the address, so matches are common.
 */
#include "fuzz.h"
#include "rg_filter.h"
#include "rg_ldap.h"

#include "ldapparse.h"
#include <strings.h>



/* Every attribute of the made-up entry holds these values. */
struct entry {
	const char *vals[5];
};

static const char *const *
values(const void *e, size_t pos, size_t *n)
{
	const struct entry *x = e;

	/* attributes at odd positions are absent: presence tests both ways */
	if (pos % 2 == 1) {
		*n = 0;
		return NULL;
	}
	*n = 4;
	return x->vals;
}

static void
check_keys(struct rg_filter *f, const struct entry *e, const char *local, const char *domain)
{
	size_t nattrs;
	char *const *attrs = rg_filter_attrs(f, &nattrs);
	char v[2048], err[512];
	int found = 0;

	for (size_t i = 0; i < rg_filter_nkeys(f); i++) {
		size_t pos = nattrs;
		const char *a = rg_filter_key_attr(f, i, &pos);
		PROPERTY(a != NULL && pos < nattrs && strcmp(a, attrs[pos]) == 0, "key %zu", i);
		if (rg_filter_key_value(f, i, local, domain, v, sizeof(v)) < 0)
			continue;
		if (pos % 2 == 1)
			continue;
		for (size_t j = 0; j < 4; j++)
			if (strcasecmp(e->vals[j], v) == 0)
				found = 1;
	}
	if (rg_filter_mirrorable(f, err, sizeof(err)) == 0 && rg_filter_nkeys(f) > 0 &&
	    rg_filter_match(f, local, domain, values, e))
		PROPERTY(found, "picked without a key holding: %s", err);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *part[3], *buf;
	struct rg_filter *f = NULL;
	char err[512], walk[8192], full[1024], smtp[1100];
	static char exp[RG_FILTER_MAX];

	fuzz_split(data, size, part, 3, &buf);
	const char *tmpl = part[0], *local = part[1], *domain = part[2];
	/* an address has a local part and a domain, neither empty */
	if (*local == '\0' || *domain == '\0' || strlen(local) > 64 || strlen(domain) > 255 ||
	    rg_filter_parse(tmpl, &f, err, sizeof(err)) < 0) {
		free(buf);
		return 0;
	}
	if (rg_ldap_expand_filter(tmpl, local, domain, exp, sizeof(exp)) == 0)
		PROPERTY(fuzz_libldap_parses(exp), "libldap refuses \"%s\"", exp);
	if (rg_filter_walk(f, walk, sizeof(walk)) == 0)
		PROPERTY(fuzz_libldap_parses(walk), "libldap refuses the walk filter \"%s\"", walk);
	snprintf(full, sizeof(full), "%s@%s", local, domain);
	snprintf(smtp, sizeof(smtp), "smtp:%s", full);
	struct entry e = { { full, local, domain, smtp, NULL } };
	check_keys(f, &e, local, domain);
	rg_filter_free(f);
	free(buf);
	return 0;
}
