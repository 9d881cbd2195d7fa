/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * test_ldap_filter.c - RFC 4515 escaping of assertion values and the
 * expansion of LDAPFilter templates (%s %u %d %%).  "*", "(", ")", "\" and
 * NUL, and control bytes, become \XX (lower-case hex); bytes >= 0x80 are
 * left as they are (an address that got this far is valid UTF-8, which
 * RFC 4515 allows unescaped).  A buffer that is too small is an error,
 * never a truncated filter.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "rg_ldap.h"

struct esc_case {
	const char *in;
	size_t len;
	const char *out;
};

#define E(in, out) { in, sizeof(in) - 1, out }

static const struct esc_case esc_cases[] = {
	E("", ""),
	E("john.doe", "john.doe"),
	E("*", "\\2a"),
	E("(", "\\28"),
	E(")", "\\29"),
	E("\\", "\\5c"),
	E("a\0b", "a\\00b"),
	E("\0", "\\00"),
	E("*)(mail=*", "\\2a\\29\\28mail=\\2a"),
	E("(|(mail=*))", "\\28|\\28mail=\\2a\\29\\29"),
	E("\\2a", "\\5c2a"),
	E("a\001b\037c\177", "a\\01b\\1fc\\7f"),
	E("j\xc3\xb6rg", "j\xc3\xb6rg"),
	E("\xe2\x82\xac", "\xe2\x82\xac"),
	E("john+tag@example.com", "john+tag@example.com"),
	E("a=b&c|d!e~f<g>h", "a=b&c|d!e~f<g>h"),
	E("\"quoted\"", "\"quoted\""),
};

static void
test_escape_table(void **state)
{
	(void)state;
	char out[256];

	for (size_t i = 0; i < sizeof(esc_cases) / sizeof(esc_cases[0]); i++) {
		const struct esc_case *c = &esc_cases[i];
		memset(out, 'Z', sizeof(out));
		assert_int_equal(rg_ldap_escape_filter(c->in, c->len, out, sizeof(out)), 0);
		assert_string_equal(out, c->out);
	}
}

/* Only LEN bytes count, NUL or not; the byte after them is not read. */
static void
test_escape_len(void **state)
{
	(void)state;
	char out[64];

	assert_int_equal(rg_ldap_escape_filter("abc*def", 3, out, sizeof(out)), 0);
	assert_string_equal(out, "abc");
	assert_int_equal(rg_ldap_escape_filter("abc*def", 4, out, sizeof(out)), 0);
	assert_string_equal(out, "abc\\2a");
}

static void
test_escape_small_buffer(void **state)
{
	(void)state;
	char out[16];

	/* "abc" needs 4 bytes with its NUL */
	assert_int_equal(rg_ldap_escape_filter("abc", 3, out, 4), 0);
	assert_string_equal(out, "abc");
	assert_int_equal(rg_ldap_escape_filter("abc", 3, out, 3), -1);
	/* "\2a" needs 4 bytes with its NUL: never half an escape */
	assert_int_equal(rg_ldap_escape_filter("*", 1, out, 4), 0);
	assert_string_equal(out, "\\2a");
	assert_int_equal(rg_ldap_escape_filter("*", 1, out, 3), -1);
	assert_int_equal(rg_ldap_escape_filter("*", 1, out, 2), -1);
	assert_int_equal(rg_ldap_escape_filter("a*", 2, out, 4), -1);
	assert_int_equal(rg_ldap_escape_filter("", 0, out, 1), 0);
	assert_string_equal(out, "");
	assert_int_equal(rg_ldap_escape_filter("a", 1, out, 1), -1);
}

struct exp_case {
	const char *tmpl;
	const char *local;
	const char *domain;
	const char *out;
};

static const struct exp_case exp_cases[] = {
	{ "(mail=%s)", "john.doe", "example.com", "(mail=john.doe@example.com)" },
	{ "(uid=%u)", "john.doe", "example.com", "(uid=john.doe)" },
	{ "(&(uid=%u)(dc=%d))", "john.doe", "example.com",
	  "(&(uid=john.doe)(dc=example.com))" },
	{ "(|(mail=%s)(mailLocalAddress=%s))", "bob", "example.com",
	  "(|(mail=bob@example.com)(mailLocalAddress=bob@example.com))" },
	{ "(description=100%%)", "bob", "example.com", "(description=100%)" },
	{ "(x=%%s)", "bob", "example.com", "(x=%s)" },
	{ "(x=%%%s)", "bob", "example.com", "(x=%bob@example.com)" },
	{ "(mail=%s)", "*", "example.com", "(mail=\\2a@example.com)" },
	{ "(mail=%s)", "*)(mail=*", "example.com", "(mail=\\2a\\29\\28mail=\\2a@example.com)" },
	{ "(uid=%u)", "a\\b", "example.com", "(uid=a\\5cb)" },
	{ "(mail=%s)", "j\xc3\xb6rg", "example.com", "(mail=j\xc3\xb6rg@example.com)" },
	{ "(mail=%s)", "john", "ex*ample.com", "(mail=john@ex\\2aample.com)" },
	{ "(objectClass=*)", "john", "example.com", "(objectClass=*)" },
	{ "(mail=%s)", "", "", "(mail=@)" },
};

static void
test_expand_table(void **state)
{
	(void)state;
	char out[512];

	for (size_t i = 0; i < sizeof(exp_cases) / sizeof(exp_cases[0]); i++) {
		const struct exp_case *c = &exp_cases[i];
		memset(out, 'Z', sizeof(out));
		assert_int_equal(rg_ldap_expand_filter(c->tmpl, c->local, c->domain, out,
		    sizeof(out)), 0);
		assert_string_equal(out, c->out);
	}
}

/* Every buffer size below what is needed fails; the exact size works. */
static void
test_expand_small_buffer(void **state)
{
	(void)state;
	static const struct exp_case c[] = {
		{ "(mail=%s)", "john.doe", "example.com", "(mail=john.doe@example.com)" },
		{ "(mail=%s)", "*", "example.com", "(mail=\\2a@example.com)" },
		{ "(uid=%u)(%%)", "a(b", "x", "(uid=a\\28b)(%)" },
		{ "(dc=%d)", "a", "ex)ample", "(dc=ex\\29ample)" },
	};
	char out[128];

	for (size_t k = 0; k < sizeof(c) / sizeof(c[0]); k++) {
		size_t need = strlen(c[k].out) + 1;
		assert_int_equal(rg_ldap_expand_filter(c[k].tmpl, c[k].local, c[k].domain, out,
		    need), 0);
		assert_string_equal(out, c[k].out);
		for (size_t n = 0; n < need; n++)
			assert_int_equal(rg_ldap_expand_filter(c[k].tmpl, c[k].local,
			    c[k].domain, out, n), -1);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_escape_table),
		cmocka_unit_test(test_escape_len),
		cmocka_unit_test(test_escape_small_buffer),
		cmocka_unit_test(test_expand_table),
		cmocka_unit_test(test_expand_small_buffer),
	};

	return cmocka_run_group_tests_name("rg_ldap_filter", tests, NULL, NULL);
}
