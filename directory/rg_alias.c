/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * rg_alias.c - the alias model, written once.
 *
 * An entry's addresses are its values of LDAPAddressAttributes; an entry is
 * an alias when it has a value of LDAPAliasAttributes (target addresses) or
 * LDAPMemberAttributes (member DNs), or an objectClass of LDAPAliasClasses;
 * otherwise it is a mailbox.  With LDAPForwardFilter, the values of
 * LDAPAliasAttributes count only on an entry that matches it (evaluated
 * here, on the entry as fetched): on any other they are not there.  A
 * mailbox by itself (an address, no alias
 * class, no member DN) that forwards to one of its own addresses keeps a
 * copy: it delivers locally and forwards; that target is no problem.
 * An attribute description with options
 * (RFC 4512 2.5: mail;lang-de) counts as the attribute without them, the
 * way a search for the attribute finds it.  Member DNs are compared in one
 * normal form; a recipient with a subaddress that nobody claims stands for
 * the recipient without it.  Problems have one enum and one table of names.
 *
 * Nothing here talks to a server; rg_check resolves at RCPT time and
 * rg_audit walks the whole directory, both with these rules.
 */
#include "rg_alias.h"
#include "rg_filter.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const problem_names[RG_AP_COUNT] = {
	[RG_AP_DANGLING] = "dangling-target",
	[RG_AP_DISABLED] = "disabled-target",
	[RG_AP_LOOP] = "loop",
	[RG_AP_TOO_DEEP] = "too-deep",
	[RG_AP_TOO_MANY] = "too-many-targets",
	[RG_AP_NO_TARGETS] = "no-targets",
	[RG_AP_DUPLICATE] = "duplicate-address",
	[RG_AP_SELF] = "self-target",
};

const char *
rg_alias_problem_name(enum rg_alias_problem p)
{
	return (unsigned)p < RG_AP_COUNT ? problem_names[p] : "unknown-problem";
}

int
rg_alias_attr_in(const char *attr, const struct rg_strlist *list)
{
	size_t len = strcspn(attr, ";");

	for (size_t i = 0; i < list->n; i++)
		if (strlen(list->v[i]) == len && strncasecmp(list->v[i], attr, len) == 0)
			return 1;
	return 0;
}

static int
word_in(const char *word, const struct rg_strlist *list)
{
	for (size_t i = 0; i < list->n; i++)
		if (strcasecmp(list->v[i], word) == 0)
			return 1;
	return 0;
}

/* VALUE as an address: normalised when it parses, else lower case. */
static char *
address_dup(const char *value)
{
	struct rg_address ad;

	if (rg_address_parse(value, "", &ad, NULL) == RG_ADDR_OK)
		return strdup(ad.full);
	char *d = strdup(value);
	if (d != NULL)
		for (char *p = d; *p; p++)
			*p = (char)tolower((unsigned char)*p);
	return d;
}

/* The addresses of E into OUT, in the order of LDAPAddressAttributes. */
static int
classify_addrs(const struct rg_config *cf, const struct rg_ldap_entry *e,
    struct rg_alias_entry *out)
{
	if (e->nvals == 0)
		return 0;
	out->addrs = calloc(e->nvals, sizeof(*out->addrs));
	if (out->addrs == NULL)
		return -1;
	for (size_t k = 0; k < cf->address_attrs.n; k++) {
		struct rg_strlist one = { &cf->address_attrs.v[k], 1 };
		for (size_t i = 0; i < e->nvals; i++) {
			/* proxyAddresses' "smtp:" is no part of the address; x500: ... are none */
			const char *v = rg_address_value(e->vals[i].value);
			if (!rg_alias_attr_in(e->vals[i].attr, &one) || v == NULL)
				continue;
			char *addr = address_dup(v);
			if (addr == NULL)
				return -1;
			if (rg_alias_claims(out, addr)) {
				free(addr);
				continue;
			}
			out->addrs[out->naddrs++] = addr;
		}
	}
	return 0;
}

/* The values of an entry by position in a filter's attributes (rg_filter_match). */
struct view {
	const char **ptr;
	size_t *start;                  /* npos + 1 */
};

static const char *const *
view_values(const void *arg, size_t pos, size_t *n)
{
	const struct view *v = arg;

	*n = v->start[pos + 1] - v->start[pos];
	return *n ? &v->ptr[v->start[pos]] : NULL;
}

/*
 * Does E match LDAPForwardFilter (1 also when there is none)?  An attribute
 * with options counts as the attribute, as in a search.  -1: no memory.
 */
static int
forwards(const struct rg_config *cf, const struct rg_ldap_entry *e)
{
	size_t npos;
	struct view v;

	if (cf->forward_filter == NULL)
		return 1;
	char *const *attrs = rg_filter_attrs(cf->forward_filter, &npos);
	v.ptr = malloc((e->nvals ? e->nvals : 1) * sizeof(*v.ptr));
	v.start = calloc(npos + 1, sizeof(*v.start));
	int r = -1;
	if (v.ptr != NULL && v.start != NULL) {
		size_t k = 0;
		for (size_t pos = 0; pos < npos; pos++) {
			struct rg_strlist one = { (char **)&attrs[pos], 1 };
			v.start[pos] = k;
			for (size_t i = 0; i < e->nvals; i++)
				if (rg_alias_attr_in(e->vals[i].attr, &one))
					v.ptr[k++] = e->vals[i].value;
		}
		v.start[npos] = k;
		r = rg_filter_match(cf->forward_filter, NULL, NULL, view_values, &v);
	}
	free(v.ptr);
	free(v.start);
	return r;
}

/*
 * The targets of E into OUT, in the order of its values, blanks trimmed;
 * the values of LDAPAliasAttributes only when E forwards (forwards()).
 */
static int
classify_targets(const struct rg_config *cf, const struct rg_ldap_entry *e,
    struct rg_alias_entry *out)
{
	size_t room = 0;
	int fwd = forwards(cf, e);

	if (fwd < 0)
		return -1;

	for (size_t i = 0; i < e->nvals; i++)
		room += strlen(e->vals[i].value) + 1;
	out->targets = calloc(e->nvals ? e->nvals : 1, sizeof(*out->targets));
	out->store = malloc(room ? room : 1);
	if (out->targets == NULL || out->store == NULL)
		return -1;
	char *s = out->store;
	for (size_t i = 0; i < e->nvals; i++) {
		const struct rg_ldap_value *v = &e->vals[i];
		int member = rg_alias_attr_in(v->attr, &cf->member_attrs);
		if (!member && (!fwd || !rg_alias_attr_in(v->attr, &cf->alias_attrs))) {
			if (strcasecmp(v->attr, "objectClass") == 0 &&
			    word_in(v->value, &cf->alias_classes))
				out->alias = 1;
			continue;
		}
		const char *p = v->value;
		while (*p == ' ' || *p == '\t')
			p++;
		size_t len = strlen(p);
		while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
			len--;
		memcpy(s, p, len);
		s[len] = '\0';
		out->targets[out->ntargets].value = s;
		out->targets[out->ntargets++].member = member;
		s += len + 1;
		out->alias = 1;
	}
	return 0;
}

/*
 * Does X, classified from E, keep a copy: a mailbox by itself (an address,
 * no objectClass of LDAPAliasClasses, no member DN) with a forwarding target
 * that is one of its own addresses, as given or without its subaddress?
 */
static int
keeps_copy(const struct rg_config *cf, const struct rg_ldap_entry *e,
    const struct rg_alias_entry *x)
{
	int self = 0;

	if (x->naddrs == 0)
		return 0;
	for (size_t i = 0; i < e->nvals; i++)
		if (strcasecmp(e->vals[i].attr, "objectClass") == 0 &&
		    word_in(e->vals[i].value, &cf->alias_classes))
			return 0;
	for (size_t i = 0; i < x->ntargets; i++) {
		struct rg_address a;
		if (x->targets[i].member)
			return 0;
		if (rg_address_parse(x->targets[i].value, cf->recipient_delimiter, &a,
		    NULL) == RG_ADDR_OK && (rg_alias_claims(x, a.full) ||
		    (a.base[0] != '\0' && rg_alias_claims(x, a.base))))
			self = 1;
	}
	return self;
}

int
rg_alias_classify(const struct rg_config *cf, const struct rg_ldap_entry *e,
    struct rg_alias_entry *out)
{
	memset(out, 0, sizeof(*out));
	out->dn = e->dn;
	if (classify_addrs(cf, e, out) < 0 || classify_targets(cf, e, out) < 0) {
		rg_alias_entry_free(out);
		out->dn = e->dn;
		return -1;
	}
	out->keeps_copy = keeps_copy(cf, e, out);
	return 0;
}

void
rg_alias_entry_free(struct rg_alias_entry *x)
{
	for (size_t i = 0; i < x->naddrs; i++)
		free(x->addrs[i]);
	free(x->addrs);
	free(x->targets);
	free(x->store);
	memset(x, 0, sizeof(*x));
}

enum rg_alias_problem
rg_alias_own_problem(const struct rg_config *cf, const struct rg_alias_entry *x)
{
	if (x->ntargets == 0)
		return RG_AP_NO_TARGETS;
	if (x->ntargets > (size_t)cf->alias_max_targets)
		return RG_AP_TOO_MANY;
	return RG_AP_COUNT;
}

const char *
rg_alias_name(const struct rg_alias_entry *x)
{
	return x->naddrs > 0 ? x->addrs[0] : x->dn;
}

int
rg_alias_claims(const struct rg_alias_entry *x, const char *address)
{
	for (size_t i = 0; i < x->naddrs; i++)
		if (strcasecmp(x->addrs[i], address) == 0)
			return 1;
	return 0;
}

int
rg_alias_dn_norm(const char *dn, char *out, size_t outlen)
{
	size_t o = 0;
	int esc = 0, skip = 1;          /* skip blanks at the start */

	if (outlen <= strlen(dn))
		return -1;              /* never longer than the DN itself */
	for (const char *p = dn; *p; p++) {
		unsigned char c = (unsigned char)*p;
		if (esc) {
			out[o++] = (char)tolower(c);
			esc = 0;
			continue;
		}
		if (c == ' ' && skip)
			continue;
		skip = 0;
		if (c == '\\') {
			out[o++] = (char)c;
			esc = 1;
			continue;
		}
		if (c == ',' || c == '=' || c == '+') {
			while (o > 0 && out[o - 1] == ' ' && !(o > 1 && out[o - 2] == '\\'))
				o--;
			out[o++] = (char)c;
			skip = 1;
			continue;
		}
		out[o++] = (char)tolower(c);
	}
	while (o > 0 && out[o - 1] == ' ' && !(o > 1 && out[o - 2] == '\\'))
		o--;
	out[o] = '\0';
	return 0;
}

int
rg_alias_candidates(const struct rg_address *a, const char *full[2], const char *local[2])
{
	full[0] = a->full;
	local[0] = a->local;
	if (a->base[0] == '\0')
		return 1;
	full[1] = a->base;
	local[1] = a->base_local;
	return 2;
}
