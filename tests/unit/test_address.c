/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * test_address.c - rg_address_parse() on a table of recipients, the
 * hostile ones included: brackets, source routes, quoted local parts, case,
 * trailing dots, <>, over-long parts, bytes >= 0x80, control characters,
 * LDAP filter syntax in the local part, and subaddresses.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "rg_address.h"

struct addr_case {
	const char *input;
	const char *delims;
	enum rg_addr_status status;
	const char *local;      /* checked for OK and NODOMAIN */
	const char *domain;     /* checked for OK */
	const char *base;       /* checked for OK; "" when no subaddress */
};

#define OK_(in, d, l, dom, b) { in, d, RG_ADDR_OK, l, dom, b }
#define BAD_(in) { in, "+", RG_ADDR_BAD, NULL, NULL, NULL }

static const struct addr_case cases[] = {
	/* plain forms */
	OK_("john.doe@example.com", "+", "john.doe", "example.com", ""),
	OK_("<john.doe@example.com>", "+", "john.doe", "example.com", ""),
	OK_("  <john.doe@example.com>  ", "+", "john.doe", "example.com", ""),
	/* case: ASCII folded, everything else left alone */
	OK_("<John.Doe@EXAMPLE.COM>", "+", "john.doe", "example.com", ""),
	OK_("MIXED.CASE@Example.Com", "+", "mixed.case", "example.com", ""),
	/* source routes are ignored (RFC 5321, appendix C) */
	OK_("<@relay.example:john@example.com>", "+", "john", "example.com", ""),
	OK_("<@a.example,@b.example:john@example.com>", "+", "john", "example.com", ""),
	OK_("@a.example:john@example.com", "+", "john", "example.com", ""),
	BAD_("<@a.example>"),
	BAD_("<@a.example:>"),
	BAD_("<@a ex:john@example.com>"),
	BAD_("@example.com"),
	/* quoted local parts: quotes and backslash escapes removed */
	OK_("\"john doe\"@example.com", "+", "john doe", "example.com", ""),
	OK_("<\"John.Doe\"@example.com>", "+", "john.doe", "example.com", ""),
	OK_("\"a\\\"b\"@example.com", "+", "a\"b", "example.com", ""),
	OK_("\"a\\\\b\"@example.com", "+", "a\\b", "example.com", ""),
	BAD_("\"john@example.com"),
	BAD_("\"john\"doe@example.com"),
	BAD_("\"john\\"),
	/* trailing dot of the domain */
	OK_("john@example.com.", "+", "john", "example.com", ""),
	OK_("<john@Example.COM.>", "+", "john", "example.com", ""),
	BAD_("john@example.com.."),
	BAD_("john@."),
	/* address literals */
	OK_("john@[192.0.2.1]", "+", "john", "[192.0.2.1]", ""),
	BAD_("john@[192.0.2.1"),
	BAD_("john@[192.0.2.\xff]"),          /* malformed UTF-8 in a literal too */
	/* malformed */
	BAD_("<john@example.com"),
	BAD_("john@example.com>"),
	BAD_("<<john@example.com>>"),
	BAD_("john@"),
	BAD_("john@@example.com"),
	BAD_("john doe@example.com"),
	BAD_("john@exa mple.com"),
	BAD_("john@example..com"),
	BAD_("john@.example.com"),
	OK_(".john@example.com", "+", ".john", "example.com", ""),
	OK_("john.@example.com", "+", "john.", "example.com", ""),
	OK_("jo..hn@example.com", "+", "jo..hn", "example.com", ""),
	BAD_("jo,hn@example.com"),
	BAD_("jo;hn@example.com"),
	BAD_("jo:hn@example.com"),
	BAD_("jo[hn@example.com"),
	BAD_("john@exam_ple.com"),
	BAD_("john@example.com;x"),
	/* control characters, anywhere */
	BAD_("jo\001hn@example.com"),
	BAD_("jo\thn@example.com"),
	BAD_("john@example.com\r\n"),
	BAD_("john@exa\nmple.com"),
	BAD_("jo\177hn@example.com"),
	BAD_("<john@example.com>\033"),
	BAD_("\"jo\001hn\"@example.com"),
	/* bytes >= 0x80: valid UTF-8 kept as is, anything else refused */
	OK_("j\xc3\xb6rg@example.com", "+", "j\xc3\xb6rg", "example.com", ""),
	OK_("J\xc3\x96RG@example.com", "+", "j\xc3\x96rg", "example.com", ""),
	OK_("\xe2\x82\xac@example.com", "+", "\xe2\x82\xac", "example.com", ""),
	OK_("\xf0\x9f\x93\xab@example.com", "+", "\xf0\x9f\x93\xab", "example.com", ""),
	OK_("info@b\xc3\xbc" "cher.example", "+", "info", "b\xc3\xbc" "cher.example", ""),
	BAD_("j\xc3@example.com"),              /* truncated sequence */
	BAD_("j\xc3" "a@example.com"),          /* bad continuation byte */
	BAD_("\xff@example.com"),               /* never in UTF-8 */
	BAD_("\x80x@example.com"),              /* lone continuation byte */
	BAD_("\xc0\xaf@example.com"),           /* over-long encoding of "/" */
	BAD_("\xed\xa0\x80@example.com"),       /* UTF-16 surrogate */
	BAD_("\xf4\x90\x80\x80@example.com"),   /* above U+10FFFF */
	BAD_("john@ex\xff" "ample.com"),
	BAD_("john@\xc3.example"),
	/* LDAP filter syntax is data here: the LDAP module escapes it */
	OK_("*@example.com", "+", "*", "example.com", ""),
	OK_("(mail=*)@example.com", "+", "(mail=*)", "example.com", ""),
	OK_("*)(mail=*@example.com", "+", "*)(mail=*", "example.com", ""),
	OK_("a\\2a@example.com", "+", "a\\2a", "example.com", ""),
	OK_("\"*\"@example.com", "+", "*", "example.com", ""),
	/* subaddresses */
	OK_("john.doe+tag@example.com", "+", "john.doe+tag", "example.com",
	    "john.doe@example.com"),
	OK_("John.Doe+Tag@Example.com", "+", "john.doe+tag", "example.com",
	    "john.doe@example.com"),
	OK_("john.doe+a+b@example.com", "+", "john.doe+a+b", "example.com",
	    "john.doe@example.com"),
	OK_("john.doe+@example.com", "+", "john.doe+", "example.com",
	    "john.doe@example.com"),
	OK_("+tag@example.com", "+", "+tag", "example.com", ""),
	OK_("john-tag@example.com", "+", "john-tag", "example.com", ""),
	OK_("john-tag@example.com", "+-", "john-tag", "example.com", "john@example.com"),
	OK_("john+tag@example.com", "+-", "john+tag", "example.com", "john@example.com"),
	OK_("john-a+b@example.com", "+-", "john-a+b", "example.com", "john@example.com"),
	OK_("john+a-b@example.com", "+-", "john+a-b", "example.com", "john@example.com"),
	OK_("john+tag@example.com", "", "john+tag", "example.com", ""),
	OK_("john+tag@example.com", NULL, "john+tag", "example.com", ""),
	/* <> and bare local parts */
	{ "<>", "+", RG_ADDR_NULL, NULL, NULL, NULL },
	{ "", "+", RG_ADDR_NULL, NULL, NULL, NULL },
	{ " <> ", "+", RG_ADDR_NULL, NULL, NULL, NULL },
	{ "postmaster", "+", RG_ADDR_NODOMAIN, "postmaster", NULL, NULL },
	{ "<Postmaster>", "+", RG_ADDR_NODOMAIN, "postmaster", NULL, NULL },
};

static const char *
status_name(enum rg_addr_status s)
{
	switch (s) {
	case RG_ADDR_OK: return "OK";
	case RG_ADDR_NODOMAIN: return "NODOMAIN";
	case RG_ADDR_NULL: return "NULL";
	case RG_ADDR_BAD: return "BAD";
	}
	return "?";
}

static void
test_table(void **state)
{
	(void)state;
	int failures = 0;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct addr_case *c = &cases[i];
		struct rg_address a;
		const char *why = "unset";
		char full[RG_ADDR_MAX + 2];
		enum rg_addr_status st = rg_address_parse(c->input, c->delims, &a, &why);
		int bad = 0;

		if (st != c->status) {
			print_error("case %zu \"%s\": status %s, expected %s (why: %s)\n", i,
			    c->input, status_name(st), status_name(c->status), why ? why : "-");
			failures++;
			continue;
		}
		if (st == RG_ADDR_BAD) {
			if (why == NULL || why[0] == '\0') {
				print_error("case %zu \"%s\": BAD without a reason\n", i, c->input);
				failures++;
			}
			continue;
		}
		if (why != NULL) {
			print_error("case %zu \"%s\": reason \"%s\" on success\n", i, c->input, why);
			bad = 1;
		}
		if (c->local != NULL && strcmp(a.local, c->local) != 0) {
			print_error("case %zu \"%s\": local \"%s\", expected \"%s\"\n", i, c->input,
			    a.local, c->local);
			bad = 1;
		}
		if (st == RG_ADDR_OK) {
			snprintf(full, sizeof(full), "%s@%s", c->local, c->domain);
			if (strcmp(a.domain, c->domain) != 0) {
				print_error("case %zu \"%s\": domain \"%s\", expected \"%s\"\n", i,
				    c->input, a.domain, c->domain);
				bad = 1;
			}
			if (strcmp(a.full, full) != 0) {
				print_error("case %zu \"%s\": full \"%s\", expected \"%s\"\n", i,
				    c->input, a.full, full);
				bad = 1;
			}
			if (strcmp(a.base, c->base) != 0) {
				print_error("case %zu \"%s\": base \"%s\", expected \"%s\"\n", i,
				    c->input, a.base, c->base);
				bad = 1;
			}
			if (c->base[0] != '\0') {
				const char *at = strchr(c->base, '@');
				if (strlen(a.base_local) != (size_t)(at - c->base) ||
				    strncmp(a.base_local, c->base, (size_t)(at - c->base)) != 0) {
					print_error("case %zu \"%s\": base_local \"%s\", expected \"%.*s\"\n",
					    i, c->input, a.base_local, (int)(at - c->base), c->base);
					bad = 1;
				}
			} else if (a.base_local[0] != '\0') {
				print_error("case %zu \"%s\": base_local \"%s\", expected none\n", i,
				    c->input, a.base_local);
				bad = 1;
			}
		}
		failures += bad;
	}
	assert_int_equal(failures, 0);
}

/* A domain of exactly LEN octets made of valid labels. */
static void
make_domain(char *buf, size_t len)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (i % 64 == 63) ? '.' : 'a';
	if (buf[len - 1] == '.')
		buf[len - 1] = 'b';
	buf[len] = '\0';
}

static void
test_local_64(void **state)
{
	(void)state;
	char local[RG_LOCAL_MAX + 1], in[200];
	struct rg_address a;
	const char *why;

	memset(local, 'x', RG_LOCAL_MAX);
	local[RG_LOCAL_MAX] = '\0';
	snprintf(in, sizeof(in), "<%s@example.com>", local);
	assert_int_equal(rg_address_parse(in, "+", &a, &why), RG_ADDR_OK);
	assert_string_equal(a.local, local);
	assert_int_equal(strlen(a.full), RG_LOCAL_MAX + 1 + strlen("example.com"));

	snprintf(in, sizeof(in), "\"%s\"@example.com", local);
	assert_int_equal(rg_address_parse(in, "+", &a, &why), RG_ADDR_OK);
	assert_string_equal(a.local, local);
}

static void
test_local_65(void **state)
{
	(void)state;
	char local[RG_LOCAL_MAX + 2], in[200];
	struct rg_address a;
	const char *why = NULL;

	memset(local, 'x', RG_LOCAL_MAX + 1);
	local[RG_LOCAL_MAX + 1] = '\0';
	snprintf(in, sizeof(in), "<%s@example.com>", local);
	assert_int_equal(rg_address_parse(in, "+", &a, &why), RG_ADDR_BAD);
	assert_non_null(why);
	/* refused, not truncated */
	assert_string_equal(a.full, "");

	snprintf(in, sizeof(in), "\"%s\"@example.com", local);
	assert_int_equal(rg_address_parse(in, "+", &a, &why), RG_ADDR_BAD);

	/* the same without a domain */
	assert_int_equal(rg_address_parse(local, "+", &a, &why), RG_ADDR_BAD);
}

static void
test_domain_255(void **state)
{
	(void)state;
	char dom[RG_DOMAIN_MAX + 2], in[RG_DOMAIN_MAX + 80];
	char local[RG_LOCAL_MAX + 1];
	struct rg_address a;
	const char *why;

	make_domain(dom, RG_DOMAIN_MAX);
	snprintf(in, sizeof(in), "john@%s", dom);
	assert_int_equal(rg_address_parse(in, "+", &a, &why), RG_ADDR_OK);
	assert_string_equal(a.domain, dom);

	/* with its trailing dot it is 256 octets on the wire, and still fine */
	snprintf(in, sizeof(in), "<john@%s.>", dom);
	assert_int_equal(rg_address_parse(in, "+", &a, &why), RG_ADDR_OK);
	assert_string_equal(a.domain, dom);

	/* the longest address there is: 64 + 1 + 255 octets */
	memset(local, 'x', RG_LOCAL_MAX);
	local[RG_LOCAL_MAX] = '\0';
	snprintf(in, sizeof(in), "<%s@%s>", local, dom);
	assert_int_equal(rg_address_parse(in, "+", &a, &why), RG_ADDR_OK);
	assert_int_equal(strlen(a.full), RG_ADDR_MAX);
}

static void
test_domain_256(void **state)
{
	(void)state;
	char dom[RG_DOMAIN_MAX + 2], in[RG_DOMAIN_MAX + 80];
	struct rg_address a;
	const char *why = NULL;

	make_domain(dom, RG_DOMAIN_MAX + 1);
	snprintf(in, sizeof(in), "john@%s", dom);
	assert_int_equal(rg_address_parse(in, "+", &a, &why), RG_ADDR_BAD);
	assert_non_null(why);
	assert_string_equal(a.full, "");
}

static void
test_overlong_input(void **state)
{
	(void)state;
	char in[5000];
	struct rg_address a;
	const char *why = NULL;

	/* a source route makes a long but harmless prefix; still refused cleanly */
	memset(in, 'a', sizeof(in) - 1);
	in[0] = '@';
	memcpy(in + sizeof(in) - 20, ":john@example.com", 18);
	assert_int_equal(rg_address_parse(in, "+", &a, &why), RG_ADDR_BAD);
	assert_non_null(why);
}

static void
test_null_why(void **state)
{
	(void)state;
	struct rg_address a;

	/* why may be NULL */
	assert_int_equal(rg_address_parse("jo\001hn@example.com", "+", &a, NULL), RG_ADDR_BAD);
	assert_int_equal(rg_address_parse("john@example.com", "+", &a, NULL), RG_ADDR_OK);
	assert_int_equal(rg_address_parse(NULL, "+", &a, NULL), RG_ADDR_BAD);
}

/* Which directory values may be shown to a sender as an address. */
static void
test_plain(void **state)
{
	static const char *const good[][2] = {
		{ "carol@newcorp.example", "carol@newcorp.example" },
		{ "Dora.Lee@NewCorp.Example", "Dora.Lee@newcorp.example" },
		{ "a+b_c!#$%&'*/=?^`{|}~-@x-y.example", "a+b_c!#$%&'*/=?^`{|}~-@x-y.example" },
	};
	static const char *const bad[] = {
		"", "carol", "@newcorp.example", "carol@", "dave at newcorp", "<carol@x.example>",
		"\"quinn q\"@x.example", "x@evil.example>\r\n250 2.1.5 Ok", ".a@x.example",
		"a.@x.example", "a..b@x.example", "a@.x.example", "a@x..example", "a@x.example.",
		"a@b@x.example", "@a:b@x.example", "a b@x.example", "a@[127.0.0.1]",
		"j\xc3\xb6rg@x.example", "a@x_y.example",
	};
	char out[64];

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		assert_int_equal(rg_address_plain(good[i][0], out, sizeof(out)), 0);
		assert_string_equal(out, good[i][1]);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (rg_address_plain(bad[i], out, sizeof(out)) != -1)
			fail_msg("took \"%s\"", bad[i]);
	/* shorter than OUTLEN, or not at all */
	assert_int_equal(rg_address_plain("abc@x.example", out, 14), 0);
	assert_int_equal(rg_address_plain("abc@x.example", out, 13), -1);
}

/* Attribute values: Active Directory's "smtp:" stripped, other types no address. */
static void
test_value(void **state)
{
	(void)state;
	assert_string_equal(rg_address_value("ada@example.com"), "ada@example.com");
	assert_string_equal(rg_address_value("SMTP:Ada@Example.com"), "Ada@Example.com");
	assert_string_equal(rg_address_value("smtp:ada.lovelace@example.com"),
	    "ada.lovelace@example.com");
	assert_string_equal(rg_address_value("sMtP:x@example.com"), "x@example.com");
	assert_null(rg_address_value("X500:/o=Example/ou=Exchange/cn=ada"));
	assert_null(rg_address_value("x400:c=US;a= ;p=Example;"));
	assert_null(rg_address_value("sip:ada@example.com"));
	assert_null(rg_address_value("smtps:ada@example.com"));
	/* no type: the value as it is, whatever it holds */
	assert_string_equal(rg_address_value("\"a:b\"@example.com"), "\"a:b\"@example.com");
	assert_string_equal(rg_address_value(":x@example.com"), ":x@example.com");
	assert_string_equal(rg_address_value(""), "");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_local_64),
		cmocka_unit_test(test_local_65),
		cmocka_unit_test(test_domain_255),
		cmocka_unit_test(test_domain_256),
		cmocka_unit_test(test_overlong_input),
		cmocka_unit_test(test_null_why),
		cmocka_unit_test(test_plain),
		cmocka_unit_test(test_value),
	};

	return cmocka_run_group_tests_name("rg_address", tests, NULL, NULL);
}
