/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * test_audit.c - the alias graph of rg_audit, fed entries by hand.
 *
 * Each case builds a small directory, runs the audit and compares the
 * problems, one "problem|alias|target|dn" line each, with what it expects.
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

#include "rg_audit.h"

static struct rg_config *
config(const char *extra)
{
	char path[] = "/tmp/test_audit.XXXXXX", err[RG_ERRLEN];
	int fd = mkstemp(path);
	FILE *f = fdopen(fd, "w");

	assert_non_null(f);
	fprintf(f, "Domains example.com\n"
	    "LDAPURI ldap://127.0.0.1:1\n"
	    "LDAPBase dc=example,dc=com\n"
	    "LDAPAddressAttributes mail mailLocalAddress\n"
	    "LDAPAliasAttributes rfc822MailMember mailRoutingAddress\n"
	    "LDAPMemberAttributes member uniqueMember\n"
	    "%s", extra ? extra : "");
	fclose(f);
	struct rg_config *cf = rg_config_load(path, err, sizeof(err));
	unlink(path);
	if (cf == NULL)
		fail_msg("%s", err);
	return cf;
}

/* Add the entry DN with "attr=value" pairs, the list ending in NULL. */
static void
add(struct rg_audit *a, const char *dn, ...)
{
	struct rg_ldap_value vals[64];
	struct rg_ldap_entry e = { (char *)dn, vals, 0 };
	char store[64][256];
	va_list ap;
	const char *av;

	va_start(ap, dn);
	while ((av = va_arg(ap, const char *)) != NULL) {
		assert_true(e.nvals < 64);
		snprintf(store[e.nvals], sizeof(store[e.nvals]), "%s", av);
		char *eq = strchr(store[e.nvals], '=');
		assert_non_null(eq);
		*eq = '\0';
		vals[e.nvals].attr = store[e.nvals];
		vals[e.nvals].value = eq + 1;
		e.nvals++;
	}
	va_end(ap);
	assert_int_equal(rg_audit_add(a, &e), 0);
}

/* The problems, one line each, in the audit's order. */
static char *
problems(struct rg_audit *a)
{
	const struct rg_audit_problem *p;
	static char out[8192];
	size_t o = 0;

	assert_int_equal(rg_audit_run(a), 0);
	size_t n = rg_audit_problems(a, &p);
	out[0] = '\0';
	for (size_t i = 0; i < n; i++)
		o += (size_t)snprintf(out + o, sizeof(out) - o, "%s|%s|%s|%s\n", p[i].problem,
		    p[i].alias, p[i].target ? p[i].target : "-", p[i].dn);
	return out;
}

static void
users(struct rg_audit *a)
{
	add(a, "uid=ann,ou=people,dc=example,dc=com", "objectClass=inetOrgPerson",
	    "mail=Ann@Example.COM", NULL);
	add(a, "uid=ben,ou=people,dc=example,dc=com", "objectClass=inetOrgPerson",
	    "mail=ben@example.com", NULL);
}

static void
test_healthy(void **state)
{
	(void)state;
	struct rg_config *cf = config("AliasMaxDepth 3\n");
	struct rg_audit *a = rg_audit_new(cf);
	users(a);
	add(a, "cn=staff,ou=aliases,dc=example,dc=com", "objectClass=nisMailAlias",
	    "mailLocalAddress=staff@example.com", "rfc822MailMember=ann@example.com",
	    "rfc822MailMember=ben+news@example.com", "rfc822MailMember=someone@example.org",
	    "rfc822MailMember=localname", NULL);
	add(a, "cn=team,ou=groups,dc=example,dc=com", "objectClass=groupOfNames",
	    "mailLocalAddress=team@example.com",
	    "member=UID=Ann, OU=people,dc=example, dc=com", "member=cn=staff,ou=aliases,dc=example,dc=com",
	    NULL);
	/* three deep: fwd1 -> fwd2 -> fwd3 -> ann */
	add(a, "uid=fwd1,dc=example,dc=com", "mail=fwd1@example.com", "mailRoutingAddress=fwd2@example.com", NULL);
	add(a, "uid=fwd2,dc=example,dc=com", "mail=fwd2@example.com", "mailRoutingAddress=fwd3@example.com", NULL);
	add(a, "uid=fwd3,dc=example,dc=com", "mail=fwd3@example.com", "mailRoutingAddress=ann@example.com", NULL);
	assert_string_equal(problems(a), "");
	rg_audit_free(a);
	rg_config_free(cf);
}

static void
test_each_problem(void **state)
{
	(void)state;
	struct rg_config *cf = config("AliasMaxDepth 2\nAliasMaxTargets 2\n");
	struct rg_audit *a = rg_audit_new(cf);
	users(a);
	add(a, "cn=gone,dc=example,dc=com", "mailLocalAddress=a1@example.com",
	    "rfc822MailMember=gone@example.com", "rfc822MailMember=ann@example.com", NULL);
	add(a, "cn=deadmember,dc=example,dc=com", "objectClass=groupOfNames",
	    "mail=a2@example.com", "member=uid=nobody,dc=example,dc=com", NULL);
	add(a, "uid=off,dc=example,dc=com", "mail=off@example.com", NULL);
	add(a, "cn=tooff,dc=example,dc=com", "mail=a3@example.com", "mailRoutingAddress=off@example.com", NULL);
	add(a, "cn=empty,dc=example,dc=com", "objectClass=nisMailAlias", "mailLocalAddress=a4@example.com", NULL);
	add(a, "cn=many,dc=example,dc=com", "mail=a5@example.com", "rfc822MailMember=ann@example.com",
	    "rfc822MailMember=ben@example.com", "rfc822MailMember=x@example.org", NULL);
	add(a, "cn=self,dc=example,dc=com", "objectClass=nisMailAlias", "mail=a6@example.com",
	    "mail=a6b@example.com", "rfc822MailMember=a6b@example.com",
	    "rfc822MailMember=ben@example.com", NULL);
	/* a mailbox by itself listing itself keeps a copy: no self-target */
	add(a, "uid=keep,dc=example,dc=com", "mail=keep@example.com",
	    "rfc822MailMember=keep@example.com", "rfc822MailMember=ben@example.com", NULL);
	add(a, "uid=dup1,dc=example,dc=com", "mail=dup@example.com", NULL);
	add(a, "uid=dup2,dc=example,dc=com", "mail=DUP@example.com", NULL);
	add(a, "cn=d1,dc=example,dc=com", "mail=d1@example.com", "rfc822MailMember=d2@example.com", NULL);
	add(a, "cn=d2,dc=example,dc=com", "mail=d2@example.com", "rfc822MailMember=d3@example.com", NULL);
	add(a, "cn=d3,dc=example,dc=com", "mail=d3@example.com", "rfc822MailMember=ann@example.com", NULL);
	assert_int_equal(rg_audit_disable(a, "UID=off, dc=example,dc=com"), 0);
	assert_string_equal(problems(a),
	    "dangling-target|a1@example.com|gone@example.com|cn=gone,dc=example,dc=com\n"
	    "dangling-target|a2@example.com|uid=nobody,dc=example,dc=com|cn=deadmember,dc=example,dc=com\n"
	    "disabled-target|a3@example.com|off@example.com|cn=tooff,dc=example,dc=com\n"
	    "duplicate-address|dup@example.com|-|uid=dup1,dc=example,dc=com; uid=dup2,dc=example,dc=com\n"
	    "no-targets|a4@example.com|-|cn=empty,dc=example,dc=com\n"
	    "self-target|a6@example.com|a6b@example.com|cn=self,dc=example,dc=com\n"
	    "too-deep|d1@example.com|d3@example.com|cn=d1,dc=example,dc=com\n"
	    "too-many-targets|a5@example.com|-|cn=many,dc=example,dc=com\n");
	rg_audit_free(a);
	rg_config_free(cf);
}

/* The rules of rg_alias, as the audit applies them (the RCPT path the same; 82-alias-model.sh). */
static void
test_model_rules(void **state)
{
	(void)state;
	struct rg_config *cf = config("RecipientDelimiter +\n");
	struct rg_audit *a = rg_audit_new(cf);
	users(a);
	/* an address only under an option is claimed: carl@ is alive */
	add(a, "uid=carl,dc=example,dc=com", "mail;lang-de=carl@example.com", NULL);
	add(a, "cn=c,dc=example,dc=com", "mail=c@example.com", "rfc822MailMember=carl@example.com", NULL);
	add(a, "cn=cg,dc=example,dc=com", "mail=cg@example.com", "member=uid=carl,dc=example,dc=com", NULL);
	/* a target attribute with options makes an alias */
	add(a, "uid=optfwd,dc=example,dc=com", "mail=optfwd@example.com",
	    "mailRoutingAddress;lang-en=gone@example.com", NULL);
	/* the subaddress fallback that leads back to the alias itself */
	add(a, "cn=s,dc=example,dc=com", "objectClass=nisMailAlias", "mail=s@example.com",
	    "rfc822MailMember=s+x@example.com", "rfc822MailMember=ann@example.com", NULL);
	/* member DNs in another case and spacing: a loop of two groups */
	add(a, "cn=g1,dc=example,dc=com", "objectClass=groupOfNames", "member=CN=G2 , DC=Example,dc=com", NULL);
	add(a, "cn=g2,dc=example,dc=com", "objectClass=groupOfNames", "member=cn = g1,dc=example, dc=com", NULL);
	assert_string_equal(problems(a),
	    "dangling-target|optfwd@example.com|gone@example.com|uid=optfwd,dc=example,dc=com\n"
	    "loop|cn=g1,dc=example,dc=com|cn=g1,dc=example,dc=com|cn=g1,dc=example,dc=com\n"
	    "loop|cn=g2,dc=example,dc=com|cn=g2,dc=example,dc=com|cn=g2,dc=example,dc=com\n"
	    "self-target|s@example.com|s+x@example.com|cn=s,dc=example,dc=com\n");
	rg_audit_free(a);
	rg_config_free(cf);
}

static void
test_loop(void **state)
{
	(void)state;
	struct rg_config *cf = config(NULL);
	struct rg_audit *a = rg_audit_new(cf);
	users(a);
	/* x -> y -> z -> x, and w -> x from outside the cycle */
	add(a, "cn=x,dc=example,dc=com", "mail=x@example.com", "rfc822MailMember=y@example.com", NULL);
	add(a, "cn=y,dc=example,dc=com", "mail=y@example.com", "rfc822MailMember=z@example.com",
	    "rfc822MailMember=ann@example.com", NULL);
	add(a, "cn=z,dc=example,dc=com", "objectClass=groupOfNames", "mail=z@example.com",
	    "member=cn=x,dc=example,dc=com", NULL);
	add(a, "cn=w,dc=example,dc=com", "mail=w@example.com", "rfc822MailMember=x@example.com", NULL);
	assert_string_equal(problems(a),
	    "loop|x@example.com|x@example.com|cn=x,dc=example,dc=com\n"
	    "loop|y@example.com|y@example.com|cn=y,dc=example,dc=com\n"
	    "loop|z@example.com|z@example.com|cn=z,dc=example,dc=com\n");
	rg_audit_free(a);
	rg_config_free(cf);
}

/* A disabled alias is neither checked nor followed. */
static void
test_disabled_alias(void **state)
{
	(void)state;
	struct rg_config *cf = config(NULL);
	struct rg_audit *a = rg_audit_new(cf);
	add(a, "cn=old,dc=example,dc=com", "mail=old@example.com", "rfc822MailMember=gone@example.com", NULL);
	add(a, "cn=p,dc=example,dc=com", "mail=p@example.com", "rfc822MailMember=q@example.com", NULL);
	add(a, "cn=q,dc=example,dc=com", "mail=q@example.com", "rfc822MailMember=p@example.com", NULL);
	assert_int_equal(rg_audit_disable(a, "cn=old,dc=example,dc=com"), 0);
	assert_int_equal(rg_audit_disable(a, "cn=q,dc=example,dc=com"), 0);
	assert_string_equal(problems(a),
	    "disabled-target|p@example.com|q@example.com|cn=p,dc=example,dc=com\n");
	rg_audit_free(a);
	rg_config_free(cf);
}

/* A long chain: no recursion limit, and too-deep for the head only. */
static void
test_long_chain(void **state)
{
	(void)state;
	struct rg_config *cf = config("AliasMaxDepth 64\n");
	struct rg_audit *a = rg_audit_new(cf);
	char dn[64], mail[64], fwd[64];
	int n = 100000;
	for (int i = 0; i < n; i++) {
		snprintf(dn, sizeof(dn), "cn=c%d,dc=example,dc=com", i);
		snprintf(mail, sizeof(mail), "mail=c%d@example.com", i);
		snprintf(fwd, sizeof(fwd), "mailRoutingAddress=c%d@example.com", i + 1 < n ? i + 1 : 0);
		add(a, dn, mail, fwd, NULL);
	}
	const struct rg_audit_problem *p;
	assert_int_equal(rg_audit_run(a), 0);
	assert_int_equal(rg_audit_problems(a, &p), n);        /* one loop each */
	assert_string_equal(p[0].problem, "loop");
	rg_audit_free(a);
	rg_config_free(cf);
}

static void
test_dot(void **state)
{
	(void)state;
	struct rg_config *cf = config(NULL);
	struct rg_audit *a = rg_audit_new(cf);
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	users(a);
	add(a, "cn=s,dc=example,dc=com", "mail=s@example.com", "rfc822MailMember=ann@example.com",
	    "rfc822MailMember=gone@example.com", NULL);
	assert_int_equal(rg_audit_run(a), 0);
	rg_audit_dot(a, f);
	fclose(f);
	assert_non_null(strstr(buf, "digraph rcptguard {\n"));
	assert_non_null(strstr(buf, "\"s@example.com\" -> \"ann@example.com\";\n"));
	assert_non_null(strstr(buf, "\"s@example.com\" -> \"gone@example.com\" [color=red, style=dashed, "
	    "fontcolor=red, label=\"dangling-target\"];\n"));
	free(buf);
	rg_audit_free(a);
	rg_config_free(cf);
}

/* A target nobody claims goes to the enabled catch-all of its domain. */
static void
test_catchall(void **state)
{
	(void)state;
	struct rg_config *cf = config("LDAPCatchAllFilter (mail=@%d)\n");

	for (int disabled = 0; disabled < 2; disabled++) {
		struct rg_audit *a = rg_audit_new(cf);
		users(a);
		add(a, "cn=any,dc=example,dc=com", "mail=@example.com",
		    "mailRoutingAddress=ann@example.com", NULL);
		add(a, "cn=fwd,dc=example,dc=com", "mail=fwd@example.com",
		    "mailRoutingAddress=whoever@example.com", NULL);
		assert_int_equal(rg_audit_catchall(a, "Example.COM", "CN=any, dc=example,dc=com"),
		    0);
		if (disabled)
			assert_int_equal(rg_audit_disable(a, "cn=any,dc=example,dc=com"), 0);
		/* the catch-all's own "@example.com" is no address: never a problem */
		assert_string_equal(problems(a), disabled ?
		    "dangling-target|fwd@example.com|whoever@example.com|cn=fwd,dc=example,dc=com\n" :
		    "");
		rg_audit_free(a);
	}
	rg_config_free(cf);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_healthy),
		cmocka_unit_test(test_each_problem),
		cmocka_unit_test(test_model_rules),
		cmocka_unit_test(test_loop),
		cmocka_unit_test(test_disabled_alias),
		cmocka_unit_test(test_long_chain),
		cmocka_unit_test(test_dot),
		cmocka_unit_test(test_catchall),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
