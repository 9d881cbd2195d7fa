/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * test_suggest.c - unit tests of rg_suggest: the distance, the index, and
 * the rules of what counts as the address that was meant.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rg_suggest.h"
#include "../fuzz/osa.h"

static char *const ours[] = { "example.com", "example.org" };

static struct rg_suggest_index *
make_index(const char *const *addr)
{
	struct rg_suggest_builder *b = rg_suggest_builder_new();
	struct rg_suggest_index *ix;

	assert_non_null(b);
	for (; *addr != NULL; addr++)
		assert_int_equal(rg_suggest_builder_add(b, *addr, strlen(*addr)), 0);
	ix = rg_suggest_builder_finish(b);
	assert_non_null(ix);
	return ix;
}

/* The suggestion for LOCAL@DOMAIN, or "" when there is none. */
static const char *
ask(const struct rg_suggest_index *ix, const char *local, const char *domain,
    int maxdist)
{
	static char out[400];
	int r;

	memset(out, 'x', sizeof(out));
	r = rg_suggest_lookup(ix, local, domain, ours, 2, maxdist, out,
	    sizeof(out));
	assert_int_equal(r, out[0] != '\0');
	return out;
}

static int
dist(const char *a, const char *b, int max)
{
	return rg_suggest_distance(a, strlen(a), b, strlen(b), max);
}

/* ---------------------------------------------------------------------- */

static void
test_distance(void **state)
{
	(void)state;
	assert_int_equal(dist("", "", 2), 0);
	assert_int_equal(dist("abc", "abc", 2), 0);
	assert_int_equal(dist("", "abc", 5), 3);
	assert_int_equal(dist("kitten", "sitting", 5), 3);
	assert_int_equal(dist("jhon", "john", 2), 1);          /* transposition */
	assert_int_equal(dist("jon", "john", 2), 1);           /* deletion */
	assert_int_equal(dist("johnn", "john", 2), 1);         /* insertion */
	assert_int_equal(dist("jphn", "john", 2), 1);          /* substitution */
	assert_int_equal(dist("ca", "abc", 5), 3);             /* OSA, not full Damerau */
	assert_int_equal(dist("abcdef", "badcfe", 5), 3);
	/* past MAX the answer is MAX + 1, early */
	assert_int_equal(dist("kitten", "sitting", 2), 3);
	assert_int_equal(dist("a", "abcdefgh", 1), 2);
	assert_int_equal(dist("abcd", "wxyz", 0), 1);
	/* bytes >= 0x80 are compared as bytes: "\xc3\xbc" is two of them */
	assert_int_equal(dist("m\xc3\xbcller", "muller", 5), 2);
	assert_int_equal(dist("m\xc3\xbcller", "m\xc3\xbcler", 5), 1);
	assert_int_equal(dist("\xc3\xbc", "\xbc\xc3", 5), 1);
}

/*
 * The lookup works the distance out a column at a time in two words: for
 * pairs of strings of up to 64 bytes a few edits apart (over a small
 * alphabet, so that edits meet), the answer is the whole matrix's, or
 * MAX + 1 past MAX.
 */
static void
test_distance_matrix(void **state)
{
	char a[65], b[65];
	unsigned seed = 12345;

	(void)state;
	for (int it = 0; it < 200000; it++) {
		int alpha, max, want;
		size_t n, m;

		seed = seed * 1103515245u + 12345u;
		alpha = 2 + (int)(seed >> 16) % 4;
		n = (seed >> 8) % (it % 4 == 0 ? 65 : 20);
		for (size_t i = 0; i < n; i++) {
			seed = seed * 1103515245u + 12345u;
			a[i] = (char)('a' + (seed >> 16) % (unsigned)alpha);
		}
		memcpy(b, a, n);
		m = n;
		for (int e = (int)(seed >> 4) % 5; e > 0; e--) {
			size_t at;

			seed = seed * 1103515245u + 12345u;
			at = m > 0 ? (seed >> 16) % (m + 1) : 0;
			switch ((seed >> 8) % 4) {
			case 0:
				if (m < 64) {
					memmove(b + at + 1, b + at, m - at);
					b[at] = (char)('a' + (seed >> 20) % (unsigned)alpha);
					m++;
				}
				break;
			case 1:
				if (at < m) {
					memmove(b + at, b + at + 1, m - at - 1);
					m--;
				}
				break;
			case 2:
				if (at < m)
					b[at] = (char)('a' + (seed >> 20) % (unsigned)alpha);
				break;
			default:
				if (at + 1 < m) {
					char t = b[at];
					b[at] = b[at + 1];
					b[at + 1] = t;
				}
			}
		}
		seed = seed * 1103515245u + 12345u;
		max = (int)(seed >> 16) % 6;
		if ((seed >> 8) % 8 == 0)
			max = 64;
		want = osa(a, n, b, m);
		if (want > max)
			want = max + 1;
		assert_int_equal(rg_suggest_distance(a, n, b, m, max), want);
	}
}

static const char *const people[] = {
	"john.doe@example.com",
	"jane.smith@example.com",
	"mark.jones@example.com",
	"mary.jones@example.com",
	"marc.brown@example.com",
	"mark.brown@example.com",
	"christina.berg@example.com",
	"anna@example.com",
	"bob.li@example.com",
	"al@example.com",
	"peter.parker@example.org",
	"j\xc3\xbcrgen.m\xc3\xbcller@example.com",
	"Zo\xc3\xab.\xc3\x9cnal@Example.COM",
	"tony.stark@elsewhere.test",
	NULL,
};

static void
test_single_edits(void **state)
{
	struct rg_suggest_index *ix = make_index(people);

	(void)state;
	assert_string_equal(ask(ix, "jhon.doe", "example.com", 2),
	    "john.doe@example.com");
	assert_string_equal(ask(ix, "jon.doe", "example.com", 2),
	    "john.doe@example.com");
	assert_string_equal(ask(ix, "john.doee", "example.com", 2),
	    "john.doe@example.com");
	assert_string_equal(ask(ix, "jane.smitg", "example.com", 2),
	    "jane.smith@example.com");
	assert_string_equal(ask(ix, "jane.smiht", "example.com", 2),
	    "jane.smith@example.com");
	/* a domain we do not know, or the wrong one: nothing */
	assert_string_equal(ask(ix, "jhon.doe", "example.net", 2), "");
	assert_string_equal(ask(ix, "tony.stakr", "example.com", 2), "");
	rg_suggest_index_free(ix);
}

static void
test_distance_two(void **state)
{
	struct rg_suggest_index *ix = make_index(people);

	(void)state;
	/* one deletion and one doubled letter */
	assert_string_equal(ask(ix, "cristina.bergg", "example.com", 2),
	    "christina.berg@example.com");
	assert_string_equal(ask(ix, "cristina.bergg", "example.com", 1), "");
	/* two substitutions */
	assert_string_equal(ask(ix, "christiba.verg", "example.com", 2),
	    "christina.berg@example.com");
	/* three is too many */
	assert_string_equal(ask(ix, "cristiba.bergg", "example.com", 2), "");
	rg_suggest_index_free(ix);
}

static void
test_short_names(void **state)
{
	struct rg_suggest_index *ix = make_index(people);

	(void)state;
	/* shorter than 6 (without separators): at most distance 1 */
	assert_string_equal(ask(ix, "bob.lii", "example.com", 2),
	    "bob.li@example.com");
	assert_string_equal(ask(ix, "bbo.lii", "example.com", 2), "");
	assert_string_equal(ask(ix, "anma", "example.com", 2),
	    "anna@example.com");
	assert_string_equal(ask(ix, "anmaa", "example.com", 2), "");
	/* very short: no typo at all, only separators */
	assert_string_equal(ask(ix, "ak", "example.com", 2), "");
	assert_string_equal(ask(ix, "a.l", "example.com", 2), "al@example.com");
	rg_suggest_index_free(ix);
}

static void
test_ties(void **state)
{
	struct rg_suggest_index *ix = make_index(people);

	(void)state;
	/* mark.jones and mary.jones are both one substitution away, and
	 * neither k nor y is next to x: no suggestion */
	assert_string_equal(ask(ix, "marx.jones", "example.com", 2), "");
	/* marc.brown / mark.brown: v is next to c, not to k */
	assert_string_equal(ask(ix, "marv.brown", "example.com", 2),
	    "marc.brown@example.com");
	/* l is next to k, not to c */
	assert_string_equal(ask(ix, "marl.brown", "example.com", 2),
	    "mark.brown@example.com");
	/* q is next to neither */
	assert_string_equal(ask(ix, "marq.brown", "example.com", 2), "");
	/* a unique smaller distance beats the keyboard: marks.jones is one
	 * away from mark.jones, two from mary.jones */
	assert_string_equal(ask(ix, "marks.jones", "example.com", 2),
	    "mark.jones@example.com");
	rg_suggest_index_free(ix);
}

static void
test_separators(void **state)
{
	static const char *const more[] = {
		"john.doe@example.com", "jane_roe@example.com",
		"max.mustermann@example.com", "max_mustermann@example.com", NULL,
	};
	struct rg_suggest_index *ix = make_index(more);

	(void)state;
	assert_string_equal(ask(ix, "johndoe", "example.com", 2),
	    "john.doe@example.com");
	assert_string_equal(ask(ix, "john_doe", "example.com", 2),
	    "john.doe@example.com");
	assert_string_equal(ask(ix, "john-doe", "example.com", 2),
	    "john.doe@example.com");
	assert_string_equal(ask(ix, "jo.hn.doe", "example.com", 2),
	    "john.doe@example.com");
	assert_string_equal(ask(ix, "jane.roe", "example.com", 2),
	    "jane_roe@example.com");
	/* separators do not count, and a typo on top is still one edit */
	assert_string_equal(ask(ix, "jhondoe", "example.com", 2),
	    "john.doe@example.com");
	/* both spellings exist and are equally near */
	assert_string_equal(ask(ix, "maxmustermann", "example.com", 2), "");
	assert_string_equal(ask(ix, "max-mustermann", "example.com", 2), "");
	/* ... unless the separator itself decides */
	assert_string_equal(ask(ix, "max..mustermann", "example.com", 2),
	    "max.mustermann@example.com");
	rg_suggest_index_free(ix);
}

static void
test_swapped_parts(void **state)
{
	static const char *const more[] = {
		"john.doe@example.com", "ann_lee@example.com",
		"mary.ann.lee@example.com", NULL,
	};
	struct rg_suggest_index *ix = make_index(more);

	(void)state;
	assert_string_equal(ask(ix, "doe.john", "example.com", 2),
	    "john.doe@example.com");
	assert_string_equal(ask(ix, "doe_john", "example.com", 2),
	    "john.doe@example.com");
	assert_string_equal(ask(ix, "lee.ann", "example.com", 2),
	    "ann_lee@example.com");
	assert_string_equal(ask(ix, "lee.mary.ann", "example.com", 2),
	    "mary.ann.lee@example.com");
	/* the swap is not offered in another domain */
	assert_string_equal(ask(ix, "doe.john", "example.org", 2), "");
	rg_suggest_index_free(ix);
}

static void
test_cross_domain(void **state)
{
	static const char *const more[] = {
		"john.doe@example.com", "jon.doe@example.org",
		"peter.parker@example.org", "tony.stark@elsewhere.test",
		"pepper.potts@example.com", "pepper.potts@example.net", NULL,
	};
	struct rg_suggest_index *ix = make_index(more);
	char out[100];

	(void)state;
	assert_string_equal(ask(ix, "peter.parker", "example.com", 2),
	    "peter.parker@example.org");
	/* the same local part beats a typo in the domain asked for */
	assert_string_equal(ask(ix, "john.doe", "example.org", 2),
	    "john.doe@example.com");
	/* not one of our domains: never offered */
	assert_string_equal(ask(ix, "tony.stark", "example.com", 2), "");
	/* example.net is in the index but not in DOMAINS */
	assert_string_equal(ask(ix, "pepper.potts", "example.org", 2),
	    "pepper.potts@example.com");
	/* in two of our domains: a tie */
	{
		char *const three[] = { "example.com", "example.org",
		    "example.net" };
		assert_int_equal(rg_suggest_lookup(ix, "pepper.potts",
		    "example.org", three, 3, 2, out, sizeof(out)), 0);
		assert_string_equal(out, "");
	}
	/* the domain asked for need not be in the index at all */
	assert_int_equal(rg_suggest_lookup(ix, "john.doe", "example.info", ours,
	    2, 2, out, sizeof(out)), 1);
	assert_string_equal(out, "john.doe@example.com");
	rg_suggest_index_free(ix);
}

static void
test_unicode_bytes(void **state)
{
	struct rg_suggest_index *ix = make_index(people);

	(void)state;
	assert_string_equal(ask(ix, "j\xc3\xbcrgen.m\xc3\xbcler", "example.com",
	    2), "j\xc3\xbcrgen.m\xc3\xbcller@example.com");
	/* u for u-umlaut is two byte edits per letter: too far */
	assert_string_equal(ask(ix, "jurgen.muller", "example.com", 2), "");
	/* ASCII was lower-cased when added, the other bytes left alone */
	assert_string_equal(ask(ix, "zo\xc3\xab.\xc3\x9cnla", "example.com", 2),
	    "zo\xc3\xab.\xc3\x9cnal@example.com");
	assert_string_equal(ask(ix, "zo\xc3\xab.\xc3\xbcnla", "example.com", 1),
	    "");
	rg_suggest_index_free(ix);
}

static void
test_never_itself(void **state)
{
	static const char *const more[] = {
		"john.doe@example.com", "johndoe@example.com",
		"chris.miller@example.com", NULL,
	};
	struct rg_suggest_index *ix = make_index(more);

	(void)state;
	/* john.doe exists: the other spelling is the only candidate */
	assert_string_equal(ask(ix, "john.doe", "example.com", 2),
	    "johndoe@example.com");
	assert_string_equal(ask(ix, "chris.miller", "example.com", 2), "");
	rg_suggest_index_free(ix);
}

static void
test_empty_index(void **state)
{
	struct rg_suggest_builder *b = rg_suggest_builder_new();
	struct rg_suggest_index *ix;
	char out[100] = "junk";

	(void)state;
	ix = rg_suggest_builder_finish(b);
	assert_non_null(ix);
	assert_int_equal(rg_suggest_index_count(ix), 0);
	assert_true(rg_suggest_index_bytes(ix) > 0);
	assert_int_equal(rg_suggest_lookup(ix, "john.doe", "example.com", ours, 2,
	    2, out, sizeof(out)), 0);
	assert_string_equal(out, "");
	rg_suggest_index_free(ix);
	assert_int_equal(rg_suggest_lookup(NULL, "john.doe", "example.com", ours,
	    2, 2, out, sizeof(out)), 0);
	assert_string_equal(out, "");
}

static void
test_builder_input(void **state)
{
	static const char *const bad[] = {
		"", "nodomain", "@example.com", "john@", "jo hn@example.com",
		"john@exa@mple.com", "tab\t@example.com",
		"a123456789012345678901234567890123456789012345678901234567890123"
		    "4@example.com",
	};
	struct rg_suggest_builder *b = rg_suggest_builder_new();
	struct rg_suggest_index *ix;
	char out[100];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(rg_suggest_builder_add(b, bad[i], strlen(bad[i])),
		    0);
	assert_int_equal(rg_suggest_builder_add(b, "John.Doe@Example.COM", 20), 0);
	assert_int_equal(rg_suggest_builder_add(b, "john.doe@example.com", 20), 0);
	/* LEN counts, not a NUL */
	assert_int_equal(rg_suggest_builder_add(b, "jane.roe@example.comXYZ", 20),
	    0);
	ix = rg_suggest_builder_finish(b);
	assert_int_equal(rg_suggest_index_count(ix), 2);
	assert_string_equal(ask(ix, "JHON.DOE", "example.com", 2),
	    "john.doe@example.com");
	assert_string_equal(ask(ix, "jhon.doe", "Example.COM", 2),
	    "john.doe@example.com");
	assert_string_equal(ask(ix, "jane.reo", "example.com", 2),
	    "jane.roe@example.com");
	/* an answer that does not fit is no answer */
	assert_int_equal(rg_suggest_lookup(ix, "jhon.doe", "example.com", ours, 2,
	    2, out, 20), 0);
	assert_string_equal(out, "");
	assert_int_equal(rg_suggest_lookup(ix, "jhon.doe", "example.com", ours, 2,
	    2, out, 21), 1);
	assert_string_equal(out, "john.doe@example.com");
	/* local parts over 64 bytes are not looked up */
	assert_int_equal(rg_suggest_lookup(ix, bad[7], "example.com", ours, 2, 2,
	    out, sizeof(out)), 0);
	rg_suggest_index_free(ix);
	rg_suggest_builder_free(rg_suggest_builder_new());
}

/*
 * The index against a full scan: random names, random near misses.  Where
 * the scan finds exactly one nearest address the index must find it; where
 * it finds several, any one of them or none; where none, none.
 */
static uint64_t seed = 42;

static unsigned
rnd(unsigned n)
{
	seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
	return (unsigned)((seed >> 33) % n);
}

static int
allowed(size_t a, size_t b)
{
	size_t l = a < b ? a : b;

	return l < 4 ? 0 : l < 8 ? 1 : 2;
}

static void
test_against_full_scan(void **state)
{
	enum { NADDR = 3000, NQUERY = 3000 };
	static char name[NADDR][20];
	struct rg_suggest_builder *b = rg_suggest_builder_new();
	struct rg_suggest_index *ix;
	const char *alpha = "abcdeilmnorst";   /* few letters: many neighbours */
	char q[40], out[100], buf[100];
	int checked_unique = 0;

	(void)state;
	for (int i = 0; i < NADDR; i++) {
		int n = 3 + (int)rnd(10);
		for (int j = 0; j < n; j++)
			name[i][j] = alpha[rnd(13)];
		name[i][n] = '\0';
		snprintf(buf, sizeof(buf), "%.19s@example.com", name[i]);
		assert_int_equal(rg_suggest_builder_add(b, buf, strlen(buf)), 0);
	}
	ix = rg_suggest_builder_finish(b);
	for (int k = 0; k < NQUERY; k++) {
		int best = 99, nbest = 0, edits = (int)rnd(3);
		size_t ql;
		int r;

		strcpy(q, name[rnd(NADDR)]);
		for (int e = 0; e < edits; e++) {
			size_t n = strlen(q), p = rnd((unsigned)n + 1);
			switch (rnd(4)) {
			case 0:
				if (n > 1)
					memmove(q + p, q + p + 1, n - p);
				break;
			case 1:
				memmove(q + p + 1, q + p, n - p + 1);
				q[p] = alpha[rnd(13)];
				break;
			case 2:
				if (p < n)
					q[p] = alpha[rnd(13)];
				break;
			default:
				if (p + 1 < n) {
					char t = q[p];
					q[p] = q[p + 1];
					q[p + 1] = t;
				}
			}
		}
		ql = strlen(q);
		for (int i = 0; i < NADDR; i++) {
			size_t nl = strlen(name[i]);
			int lim = allowed(ql, nl), d;
			if (strcmp(name[i], q) == 0)
				continue;
			d = rg_suggest_distance(q, ql, name[i], nl, lim);
			if (d > lim)
				continue;
			if (d < best) {
				best = d;
				nbest = 0;
			}
			if (d == best)
				nbest++;
		}
		r = rg_suggest_lookup(ix, q, "example.com", ours, 2, 2, out,
		    sizeof(out));
		if (nbest == 0) {
			assert_int_equal(r, 0);
		} else if (nbest == 1) {
			size_t ol;
			assert_int_equal(r, 1);
			ol = strchr(out, '@') - out;
			assert_int_equal(rg_suggest_distance(q, ql, out, ol, 9), best);
			checked_unique++;
		} else if (r == 1) {
			size_t ol = strchr(out, '@') - out;
			assert_int_equal(rg_suggest_distance(q, ql, out, ol, 9), best);
		}
	}
	assert_true(checked_unique > NQUERY / 4);
	rg_suggest_index_free(ix);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_distance),
		cmocka_unit_test(test_distance_matrix),
		cmocka_unit_test(test_single_edits),
		cmocka_unit_test(test_distance_two),
		cmocka_unit_test(test_short_names),
		cmocka_unit_test(test_ties),
		cmocka_unit_test(test_separators),
		cmocka_unit_test(test_swapped_parts),
		cmocka_unit_test(test_cross_domain),
		cmocka_unit_test(test_unicode_bytes),
		cmocka_unit_test(test_never_itself),
		cmocka_unit_test(test_empty_index),
		cmocka_unit_test(test_builder_input),
		cmocka_unit_test(test_against_full_scan),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
