/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * fuzz_suggest.c - libFuzzer target for "Did you mean" (directory/
 * rg_suggest.c): an index built from addresses the fuzzer chooses, asked
 * about addresses the fuzzer chooses.
 *
 * Input: one byte (SuggestMaxDistance 1 or 2), then the addresses of the
 * index one per line, a NUL byte, then the queries one per line
 * ("local@domain", split at the last "@").  Domains are example.com,
 * example.org and the query's own.
 * Properties:
 *   - no crash, no leak, no undefined behaviour;
 *   - the address asked about is never suggested;
 *   - a suggestion is always an address of the index (as the builder takes
 *     it: one "@", no blank or control byte, parts of 1..64 and 1..255
 *     bytes, ASCII folded to lower case);
 *   - in another domain it is the same local part, and that domain is one
 *     of Domains; in the same domain its local part is within
 *     SuggestMaxDistance of the query's with the separators taken out, or
 *     is made of the same name parts in another order;
 *   - the same question twice gets the same answer;
 *   - rg_suggest_distance() agrees with a plain dynamic-programming optimal
 *     string alignment distance (capped at MAX + 1; strings longer than a
 *     local part, 64 bytes, are always MAX + 1).
 */
#include "fuzz.h"
#include "osa.h"
#include "rg_suggest.h"

#define NADDR_MAX 256

static void
lower(char *s)
{
	for (; *s; s++)
		if (*s >= 'A' && *s <= 'Z')
			*s = (char)(*s - 'A' + 'a');
}

/* What rg_suggest_builder_add() takes. */
static int
acceptable(const char *a, size_t n)
{
	const char *at = NULL;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)a[i];
		if (c <= ' ' || c == 0x7f)
			return 0;
		if (c == '@') {
			if (at != NULL)
				return 0;
			at = a + i;
		}
	}
	return at != NULL && at > a && at - a <= 64 && n - (size_t)(at - a) - 1 >= 1 &&
	    n - (size_t)(at - a) - 1 <= 255;
}

static void
check_distance(const char *a, const char *b)
{
	size_t n = strlen(a), m = strlen(b);

	if (n > OSA_MAX || m > OSA_MAX)
		return;
	/* longer than a local part: "too far" by contract */
	int ref = n > 64 || m > 64 ? 1000 : osa(a, n, b, m);
	for (int max = 0; max <= 3; max++) {
		int got = rg_suggest_distance(a, n, b, m, max);
		int want = ref > max ? max + 1 : ref;
		PROPERTY(got == want, "distance(\"%s\", \"%s\", %d) = %d, not %d", a, b, max,
		    got, want);
	}
}

static int
is_sep(char c)
{
	return c == '.' || c == '_' || c == '-';
}

static size_t
skeleton(const char *s, char *out)
{
	size_t k = 0;

	for (; *s; s++)
		if (!is_sep(*s))
			out[k++] = *s;
	out[k] = '\0';
	return k;
}

static int
cmp_str(const void *x, const void *y)
{
	return strcmp(*(char *const *)x, *(char *const *)y);
}

/* Name parts of S, sorted and joined by "." into OUT. */
static void
sorted_parts(const char *s, char *out)
{
	char buf[512], *parts[256], *save = NULL;
	size_t np = 0;

	snprintf(buf, sizeof(buf), "%s", s);
	for (char *p = strtok_r(buf, "._-", &save); p && np < 256; p = strtok_r(NULL, "._-", &save))
		parts[np++] = p;
	qsort(parts, np, sizeof(parts[0]), cmp_str);
	out[0] = '\0';
	for (size_t i = 0; i < np; i++) {
		if (i)
			strcat(out, ".");
		strcat(out, parts[i]);
	}
}

static void
check_query(const struct rg_suggest_index *ix, char **known, size_t nknown, char *q,
    int maxdist)
{
	char *at = strrchr(q, '@'), out[600], again[600], self[600];
	char *domains[3] = { "example.com", "example.org", NULL };

	if (at == NULL)
		return;
	*at = '\0';
	const char *local = q, *domain = at + 1;
	domains[2] = (char *)domain;
	int r = rg_suggest_lookup(ix, local, domain, domains, 3, maxdist, out, sizeof(out));
	int r2 = rg_suggest_lookup(ix, local, domain, domains, 3, maxdist, again, sizeof(again));
	PROPERTY(r == r2 && strcmp(out, again) == 0, "two answers for one question");
	if (!r) {
		PROPERTY(out[0] == '\0', "no suggestion, but \"%s\"", out);
		return;
	}
	snprintf(self, sizeof(self), "%s@%s", local, domain);
	lower(self);
	PROPERTY(strcmp(out, self) != 0, "suggests the address itself: %s", out);
	size_t i;
	for (i = 0; i < nknown; i++)
		if (strcmp(known[i], out) == 0)
			break;
	PROPERTY(i < nknown, "suggests %s, which is not in the index", out);

	char ql[300], sl[300], qd[300], qs[300], ss[300], qp[600], sp[600];
	char *sat = strrchr(out, '@');
	snprintf(ql, sizeof(ql), "%s", local);
	lower(ql);
	snprintf(qd, sizeof(qd), "%s", domain);
	lower(qd);
	snprintf(sl, sizeof(sl), "%.*s", (int)(sat - out), out);
	if (strcmp(sat + 1, qd) != 0) {
		PROPERTY(strcmp(sl, ql) == 0, "%s in another domain for %s@%s", out, local, domain);
		PROPERTY(!strcmp(sat + 1, "example.com") || !strcmp(sat + 1, "example.org"),
		    "%s: not one of Domains", out);
		return;
	}
	size_t qn = skeleton(ql, qs), sn = skeleton(sl, ss);
	sorted_parts(ql, qp);
	sorted_parts(sl, sp);
	PROPERTY(rg_suggest_distance(qs, qn, ss, sn, maxdist) <= maxdist || strcmp(qp, sp) == 0,
	    "%s is too far from %s@%s", out, local, domain);
	check_distance(ql, sl);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *known[NADDR_MAX], *buf, *parts[2], *save = NULL;
	size_t nknown = 0;

	if (size < 1 || size > 16384)
		return 0;
	int maxdist = 1 + (data[0] & 1);
	fuzz_split(data + 1, size - 1, parts, 2, &buf);

	struct rg_suggest_builder *b = rg_suggest_builder_new();
	if (b == NULL)
		abort();
	for (char *a = strtok_r(parts[0], "\n", &save); a && nknown < NADDR_MAX;
	    a = strtok_r(NULL, "\n", &save)) {
		if (rg_suggest_builder_add(b, a, strlen(a)) != 0)
			abort();
		if (acceptable(a, strlen(a))) {
			lower(a);
			known[nknown++] = a;
		}
	}
	struct rg_suggest_index *ix = rg_suggest_builder_finish(b);
	if (ix == NULL)
		abort();
	PROPERTY(rg_suggest_index_count(ix) <= nknown, "%zu addresses from %zu",
	    rg_suggest_index_count(ix), nknown);
	save = NULL;
	int nq = 0;
	for (char *q = strtok_r(parts[1], "\n", &save); q && nq < 16; q = strtok_r(NULL, "\n", &save), nq++)
		check_query(ix, known, nknown, q, maxdist);
	if (nknown >= 2)
		check_distance(known[0], known[1]);
	rg_suggest_index_free(ix);
	free(buf);
	return 0;
}
