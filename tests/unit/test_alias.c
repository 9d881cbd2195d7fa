/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * test_alias.c - the alias model of rg_alias, one table row an entry.
 *
 * Each row is an entry ("attr=value" pairs) and what the classifier must
 * make of it, written "kind|addresses|targets": kind alias or mailbox,
 * the addresses ","-joined, the targets ","-joined with "t:" for an
 * address and "m:" for a member DN.  Then an alias's own problems, the DN
 * normal form, the subaddress candidates and the problem names.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "rg_alias.h"

static struct rg_config *
config(void)
{
	char path[] = "/tmp/test_alias.XXXXXX", err[RG_ERRLEN];
	int fd = mkstemp(path);
	FILE *f = fdopen(fd, "w");

	assert_non_null(f);
	fprintf(f, "Domains example.com\n"
	    "LDAPURI ldap://127.0.0.1:1\n"
	    "LDAPBase dc=example,dc=com\n"
	    "LDAPAddressAttributes mail mailLocalAddress\n"
	    "LDAPAliasAttributes rfc822MailMember mailRoutingAddress\n"
	    "LDAPMemberAttributes member uniqueMember\n"
	    "RecipientDelimiter +\n");
	fclose(f);
	struct rg_config *cf = rg_config_load(path, err, sizeof(err));
	unlink(path);
	if (cf == NULL)
		fail_msg("%s", err);
	return cf;
}

struct row {
	const char *what;
	const char *vals[8];            /* "attr=value", NULL-terminated */
	const char *want;               /* kind|addresses|targets */
	const char *name;               /* rg_alias_name() */
};

#define DN "cn=x,dc=example,dc=com"

static const struct row rows[] = {
	{ "a mailbox", { "objectClass=inetOrgPerson", "mail=Ann@Example.COM", NULL },
	    "mailbox|ann@example.com|", "ann@example.com" },
	{ "an address under an option is an address",
	    { "objectClass=inetOrgPerson", "mail;lang-de=carl@example.com", NULL },
	    "mailbox|carl@example.com|", "carl@example.com" },
	{ "addresses in LDAPAddressAttributes order, each once, any domain",
	    { "mailLocalAddress=second@example.com", "mail=first@example.org",
	      "mail;lang-en=FIRST@example.org", "mailLocalAddress=second@example.com", NULL },
	    "mailbox|first@example.org,second@example.com|", "first@example.org" },
	{ "attributes whose names only begin alike are other attributes",
	    { "mailer=x@example.com", "mailLocalAddressX=y@example.com",
	      "rfc822MailMemberX=z@example.com", "memberOf=cn=g,dc=example,dc=com", NULL },
	    "mailbox||", DN },
	{ "an alias by its target attribute",
	    { "objectClass=inetOrgPerson", "mail=fwd@example.com",
	      "mailRoutingAddress=ann@example.com", NULL },
	    "alias|fwd@example.com|t:ann@example.com", "fwd@example.com" },
	{ "an alias by a target attribute with options",
	    { "objectClass=inetOrgPerson", "mail=optfwd@example.com",
	      "mailRoutingAddress;lang-en=gone@example.com", NULL },
	    "alias|optfwd@example.com|t:gone@example.com", "optfwd@example.com" },
	{ "an alias by its class only, without targets",
	    { "objectClass=top", "objectClass=NISMAILALIAS", "mailLocalAddress=empty@example.com", NULL },
	    "alias|empty@example.com|", "empty@example.com" },
	{ "targets and members in the entry's order, blanks trimmed",
	    { "objectClass=groupOfNames", "member= uid=ann,dc=example,dc=com ",
	      "rfc822MailMember=\tben@example.com", "uniqueMember;x-y=UID=Cy, DC=example", NULL },
	    "alias||m:uid=ann,dc=example,dc=com,t:ben@example.com,m:UID=Cy, DC=example", DN },
	{ "a group without an address is named by its DN",
	    { "objectClass=groupOfUniqueNames", NULL }, "alias||", DN },
};

static char *
describe(const struct rg_alias_entry *x)
{
	static char out[1024];
	size_t o = (size_t)snprintf(out, sizeof(out), "%s|", x->alias ? "alias" : "mailbox");

	for (size_t i = 0; i < x->naddrs; i++)
		o += (size_t)snprintf(out + o, sizeof(out) - o, "%s%s", i ? "," : "", x->addrs[i]);
	o += (size_t)snprintf(out + o, sizeof(out) - o, "|");
	for (size_t i = 0; i < x->ntargets; i++)
		o += (size_t)snprintf(out + o, sizeof(out) - o, "%s%s:%s", i ? "," : "",
		    x->targets[i].member ? "m" : "t", x->targets[i].value);
	return out;
}

static void
test_classify(void **state)
{
	(void)state;
	struct rg_config *cf = config();

	for (size_t r = 0; r < sizeof(rows) / sizeof(rows[0]); r++) {
		struct rg_ldap_value vals[8];
		char store[8][256];
		struct rg_ldap_entry e = { DN, vals, 0 };
		struct rg_alias_entry x;
		for (; rows[r].vals[e.nvals] != NULL; e.nvals++) {
			snprintf(store[e.nvals], sizeof(store[e.nvals]), "%s", rows[r].vals[e.nvals]);
			char *eq = strchr(store[e.nvals], '=');
			assert_non_null(eq);
			*eq = '\0';
			vals[e.nvals].attr = store[e.nvals];
			vals[e.nvals].value = eq + 1;
		}
		assert_int_equal(rg_alias_classify(cf, &e, &x), 0);
		if (strcmp(describe(&x), rows[r].want) != 0 || strcmp(rg_alias_name(&x), rows[r].name) != 0)
			fail_msg("%s: want %s (%s), got %s (%s)", rows[r].what, rows[r].want,
			    rows[r].name, describe(&x), rg_alias_name(&x));
		rg_alias_entry_free(&x);
	}
	rg_config_free(cf);
}

static void
test_claims(void **state)
{
	(void)state;
	struct rg_config *cf = config();
	struct rg_ldap_value vals[] = { { "mail;lang-de", "Dora@Example.com" } };
	struct rg_ldap_entry e = { DN, vals, 1 };
	struct rg_alias_entry x;

	assert_int_equal(rg_alias_classify(cf, &e, &x), 0);
	assert_true(rg_alias_claims(&x, "dora@example.com"));
	assert_true(rg_alias_claims(&x, "DORA@example.com"));
	assert_false(rg_alias_claims(&x, "dora+x@example.com"));
	rg_alias_entry_free(&x);
	assert_true(rg_alias_attr_in("MAIL;lang-de;x-y", &cf->address_attrs));
	assert_false(rg_alias_attr_in("mai", &cf->address_attrs));
	rg_config_free(cf);
}

static void
test_own_problem(void **state)
{
	(void)state;
	struct rg_config *cf = config();
	struct rg_ldap_value none[] = { { "objectClass", "nisMailAlias" } };
	struct rg_ldap_value three[] = { { "rfc822MailMember", "a@example.com" },
		{ "member", "uid=b,dc=example,dc=com" }, { "mailRoutingAddress;x-y", "c@example.com" } };
	struct rg_ldap_entry e0 = { DN, none, 1 }, e3 = { DN, three, 3 };
	struct rg_alias_entry x0, x3;

	assert_int_equal(rg_alias_classify(cf, &e0, &x0), 0);
	assert_int_equal(rg_alias_classify(cf, &e3, &x3), 0);
	assert_int_equal(rg_alias_own_problem(cf, &x0), RG_AP_NO_TARGETS);
	cf->alias_max_targets = 3;
	assert_int_equal(rg_alias_own_problem(cf, &x3), RG_AP_COUNT);
	cf->alias_max_targets = 2;
	assert_int_equal(rg_alias_own_problem(cf, &x3), RG_AP_TOO_MANY);
	rg_alias_entry_free(&x0);
	rg_alias_entry_free(&x3);
	rg_config_free(cf);
}

static void
test_dn_norm(void **state)
{
	(void)state;
	static const char *const cases[][2] = {
		{ "cn=g1,ou=groups,dc=example,dc=com", "cn=g1,ou=groups,dc=example,dc=com" },
		{ "CN=G1 , OU=Groups,DC=Example,DC=COM", "cn=g1,ou=groups,dc=example,dc=com" },
		{ "  cn = g1,  ou=groups , dc=example,dc=com  ", "cn=g1,ou=groups,dc=example,dc=com" },
		{ "cn=a + sn=b,dc=x", "cn=a+sn=b,dc=x" },
		{ "cn=Smith\\, John,dc=x", "cn=smith\\, john,dc=x" },
		{ "cn=trailing\\ ,dc=x", "cn=trailing\\ ,dc=x" },
		{ "cn=two words,dc=x", "cn=two words,dc=x" },
	};
	char out[128];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(rg_alias_dn_norm(cases[i][0], out, sizeof(out)), 0);
		assert_string_equal(out, cases[i][1]);
	}
	assert_int_equal(rg_alias_dn_norm("cn=g1,dc=x", out, 10), -1);
}

static void
test_candidates(void **state)
{
	(void)state;
	struct rg_address a;
	const char *full[2], *local[2];

	assert_int_equal(rg_address_parse("Ann+News@example.com", "+", &a, NULL), RG_ADDR_OK);
	assert_int_equal(rg_alias_candidates(&a, full, local), 2);
	assert_string_equal(full[0], "ann+news@example.com");
	assert_string_equal(local[0], "ann+news");
	assert_string_equal(full[1], "ann@example.com");
	assert_string_equal(local[1], "ann");
	assert_int_equal(rg_address_parse("ann@example.com", "+", &a, NULL), RG_ADDR_OK);
	assert_int_equal(rg_alias_candidates(&a, full, local), 1);
	assert_string_equal(full[0], "ann@example.com");
}

static void
test_problem_names(void **state)
{
	(void)state;
	static const char *const want[RG_AP_COUNT] = {
		"dangling-target", "disabled-target", "loop", "too-deep", "too-many-targets",
		"no-targets", "duplicate-address", "self-target",
	};

	for (int p = 0; p < RG_AP_COUNT; p++)
		assert_string_equal(rg_alias_problem_name((enum rg_alias_problem)p), want[p]);
	/* each fits the expansion's problem field of rg_check.h (24 bytes) */
	for (int p = 0; p < RG_AP_COUNT; p++)
		assert_true(strlen(rg_alias_problem_name((enum rg_alias_problem)p)) < 24);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_classify),
		cmocka_unit_test(test_claims),
		cmocka_unit_test(test_own_problem),
		cmocka_unit_test(test_dn_norm),
		cmocka_unit_test(test_candidates),
		cmocka_unit_test(test_problem_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
