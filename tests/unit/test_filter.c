/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * test_filter.c - LDAPFilter templates evaluated in memory (rg_filter):
 * what is refused, the walk filter, the index keys, what can be mirrored,
 * and matches against entries written out here as attribute/value lists.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>
#include <cmocka.h>

#include "rg_filter.h"

/* An entry: up to 8 attributes of up to 4 values each. */
struct attr {
	const char *name;
	const char *vals[5];
};
struct entry {
	struct attr a[8];
	const struct rg_filter *f;
};

static const char *const *
values(const void *e, size_t pos, size_t *n)
{
	const struct entry *x = e;
	const char *name = rg_filter_attrs(x->f, NULL)[pos];

	*n = 0;
	for (size_t i = 0; i < 8 && x->a[i].name; i++) {
		if (strcasecmp(x->a[i].name, name) != 0)
			continue;
		while (x->a[i].vals[*n])
			(*n)++;
		return x->a[i].vals;
	}
	return NULL;
}

static struct rg_filter *
parse_ok(const char *t)
{
	struct rg_filter *f = NULL;
	char err[256] = "";

	if (rg_filter_parse(t, &f, err, sizeof(err)) != 0)
		fail_msg("%s: %s", t, err);
	return f;
}

static void
refused(void **state)
{
	static const char *bad[] = {
		"mail=%s", "(mail=%x)", "(mail=%s", "(mail=%s))", "(&(mail=%s)",
		"(mail=\\zz)", "(mail=\\4)", "(=x)", "(mail)", "(mail>x)", "(!(a=1)(b=2))",
		"(mail=a(b)", "(ma il=x)", "(:=x)", "(mail:=%s", "", "(mail=%s)(uid=%u)",
		"(mail=a**b)", "(!(a=1) )", "(mail.o=%s)", "(1.=x)", "(mail;=x)", "(01.2=x)",
	};
	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		struct rg_filter *f = NULL;
		char err[256] = "";
		if (rg_filter_parse(bad[i], &f, err, sizeof(err)) == 0)
			fail_msg("accepted %s", bad[i]);
		assert_null(f);
		assert_true(err[0] != '\0');
	}
}

static void
walk_filter(void **state)
{
	static const char *cases[][2] = {
		{ "(mail=%s)", "(mail=*)" },
		{ "(&(objectClass=inetOrgPerson)(|(mail=%s)(mailAlternateAddress=%s)))",
		  "(&(objectClass=inetOrgPerson)(|(mail=*)(mailAlternateAddress=*)))" },
		{ "(proxyAddresses=smtp:%s)", "(proxyAddresses=*)" },
		{ "(&(uid=%u)(cn=100%%)(sn=a\\2ab))", "(&(uid=*)(cn=100%)(sn=a\\2ab))" },
		{ "(&(mail=%s)(!(userAccountControl:1.2.840.113556.1.4.803:=2)))",
		  "(&(mail=*)(!(userAccountControl:1.2.840.113556.1.4.803:=2)))" },
		{ "(& (mail=%s) (objectClass=*))", "(&(mail=*)(objectClass=*))" },
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		struct rg_filter *f = parse_ok(cases[i][0]);
		char out[256];
		assert_int_equal(rg_filter_walk(f, out, sizeof(out)), 0);
		assert_string_equal(out, cases[i][1]);
		assert_int_equal(rg_filter_walk(f, out, strlen(cases[i][1])), -1);
		rg_filter_free(f);
	}
	/* a placeholder in an extensible match without an attribute: no walk form
	 * (it once passed a NULL attribute name to strlen) */
	static const char *const none[] = { "(:8:=%s)", "(&(mail=*)(:dn:2.5.13.5:=%u))" };
	for (size_t i = 0; i < sizeof(none) / sizeof(*none); i++) {
		struct rg_filter *f = parse_ok(none[i]);
		char out[256];
		assert_int_equal(rg_filter_walk(f, out, sizeof(out)), -1);
		rg_filter_free(f);
	}
}

static void
keys_and_attrs(void **state)
{
	struct rg_filter *f = parse_ok("(&(objectClass=x)(|(mail=%s)(UID=%u)"
	    "(proxyAddresses=SMTP:%u@%d)(Mail=x%%)))");
	char v[128];
	size_t n, pos;
	(void)state;

	char *const *a = rg_filter_attrs(f, &n);
	assert_int_equal(n, 4);
	assert_string_equal(a[0], "objectClass");
	assert_string_equal(a[1], "mail");
	assert_string_equal(a[2], "UID");
	assert_string_equal(a[3], "proxyAddresses");
	assert_null(a[4]);
	assert_int_equal(rg_filter_nkeys(f), 3);
	assert_string_equal(rg_filter_key_attr(f, 0, &pos), "mail");
	assert_int_equal(pos, 1);
	assert_string_equal(rg_filter_key_attr(f, 2, &pos), "proxyAddresses");
	assert_int_equal(pos, 3);
	assert_null(rg_filter_key_attr(f, 3, NULL));
	assert_int_equal(rg_filter_key_value(f, 0, "John.Doe", "Example.com", v, sizeof(v)), 0);
	assert_string_equal(v, "john.doe@example.com");
	assert_int_equal(rg_filter_key_value(f, 1, "John.Doe", "example.com", v, sizeof(v)), 0);
	assert_string_equal(v, "john.doe");
	assert_int_equal(rg_filter_key_value(f, 2, "john", "example.com", v, sizeof(v)), 0);
	assert_string_equal(v, "smtp:john@example.com");
	assert_int_equal(rg_filter_key_value(f, 2, "john", "example.com", v, 21), -1);
	rg_filter_free(f);
}

static void
mirrorable(void **state)
{
	static const char *ok[] = {
		"(mail=%s)", "(&(mail=%s)(!(x=1)))", "(|(mail=%s)(&(uid=%u)(o=y)))",
		"(&(mail=%s)(!(userAccountControl:1.2.840.113556.1.4.803:=2)))",
		"(&(mail=%s)(cn=*a*))", "(!(accountStatus=active))",
	};
	static const char *no[][2] = {
		{ "(mail=*%u*)", "(mail=*%u*): a placeholder in a substring assertion" },
		{ "(|(mail=%s)(objectClass=x))", "(|(mail=%s)(objectClass=x)): can pick" },
		{ "(&(o=y)(!(mail=%s)))", "(mail=%s): a placeholder under (!...)" },
		{ "(mail~=%s)", "(mail~=%s): approximate" },
		{ "(&(mail=%s)(cn:caseExactMatch:=x))", "(cn:caseExactMatch:=x): an extensible" },
		{ "(&(mail=%s)(n>=%u))", "(n>=%u): a placeholder in an ordering" },
	};
	char err[256];
	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(*ok); i++) {
		struct rg_filter *f = parse_ok(ok[i]);
		if (rg_filter_mirrorable(f, err, sizeof(err)) != 0)
			fail_msg("%s: %s", ok[i], err);
		rg_filter_free(f);
	}
	for (size_t i = 0; i < sizeof(no) / sizeof(*no); i++) {
		struct rg_filter *f = parse_ok(no[i][0]);
		err[0] = '\0';
		assert_int_equal(rg_filter_mirrorable(f, err, sizeof(err)), -1);
		if (strncmp(err, no[i][1], strlen(no[i][1])) != 0)
			fail_msg("%s: \"%s\", expected \"%s...\"", no[i][0], err, no[i][1]);
		rg_filter_free(f);
	}
}

static int
match(const char *tmpl, const char *local, const char *domain, struct entry *e)
{
	struct rg_filter *f = parse_ok(tmpl);
	e->f = f;
	int r = rg_filter_match(f, local, domain, values, e);
	rg_filter_free(f);
	return r;
}

static void
matches(void **state)
{
	struct entry john = { .a = {
		{ "objectClass", { "top", "inetOrgPerson", "mailUser" } },
		{ "mail", { "John.Doe@Example.COM" } },
		{ "mailAlternateAddress", { "jd@example.com", "j.doe@example.org" } },
		{ "uid", { "jdoe" } },
		{ "proxyAddresses", { "SMTP:John.Doe@example.com", "smtp:jd@example.net" } },
		{ "userAccountControl", { "514" } },
		{ "cn", { "John Doe (sales)" } },
		{ "employeeNumber", { "0042" } },
	} };
	(void)state;

	assert_int_equal(match("(mail=%s)", "john.doe", "example.com", &john), 1);
	assert_int_equal(match("(mail=%s)", "john.do", "example.com", &john), 0);
	assert_int_equal(match("(|(mail=%s)(mailAlternateAddress=%s))", "j.doe", "example.org",
	    &john), 1);
	assert_int_equal(match("(&(objectclass=INETORGPERSON)(uid=%u))", "JDOE", "x", &john), 1);
	assert_int_equal(match("(&(objectClass=posixAccount)(uid=%u))", "jdoe", "x", &john), 0);
	assert_int_equal(match("(proxyAddresses=smtp:%s)", "jd", "example.net", &john), 1);
	assert_int_equal(match("(proxyAddresses=smtp:%s)", "jd", "example.com", &john), 0);
	assert_int_equal(match("(&(mail=%s)(!(userAccountControl:1.2.840.113556.1.4.803:=2)))",
	    "john.doe", "example.com", &john), 0);
	assert_int_equal(match("(userAccountControl:1.2.840.113556.1.4.803:=514)", 0, 0, &john), 1);
	assert_int_equal(match("(userAccountControl:1.2.840.113556.1.4.803:=3)", 0, 0, &john), 0);
	assert_int_equal(match("(userAccountControl:1.2.840.113556.1.4.804:=3)", 0, 0, &john), 1);
	assert_int_equal(match("(userAccountControl:1.2.840.113556.1.4.804:=1)", 0, 0, &john), 0);
	assert_int_equal(match("(cn=*doe*\\28sales\\29)", 0, 0, &john), 1);
	assert_int_equal(match("(cn=john*sales*)", 0, 0, &john), 1);
	assert_int_equal(match("(cn=*sales*doe*)", 0, 0, &john), 0);
	assert_int_equal(match("(cn=john doe*doe \\28sales\\29)", 0, 0, &john), 0);
	assert_int_equal(match("(employeeNumber>=41)", 0, 0, &john), 1);
	assert_int_equal(match("(employeeNumber>=100)", 0, 0, &john), 0);
	assert_int_equal(match("(employeeNumber<=42)", 0, 0, &john), 1);
	assert_int_equal(match("(uid>=jc)", 0, 0, &john), 1);
	assert_int_equal(match("(mobile=*)", 0, 0, &john), 0);
	assert_int_equal(match("(!(mobile=*))", 0, 0, &john), 1);
	assert_int_equal(match("(uid=jdoe\\00)", 0, 0, &john), 0);
	assert_int_equal(match("(mail~=john)", 0, 0, &john), 0);
	assert_int_equal(match("(&(mail=%u@%d)(uid=*))", "JOHN.DOE", "EXAMPLE.com", &john), 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(refused),
		cmocka_unit_test(walk_filter),
		cmocka_unit_test(keys_and_attrs),
		cmocka_unit_test(mirrorable),
		cmocka_unit_test(matches),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
