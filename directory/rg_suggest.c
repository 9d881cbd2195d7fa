/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * rg_suggest.c - the valid address nearest to an unknown one.
 *
 * Builds an in-memory index of every valid address and answers "which one
 * did the sender most likely mean?" for an address the directory does not
 * know.  What counts as meant, best first:
 *
 *   - the same local part in another of the domains rcptguard answers for
 *     (john.doe@example.org -> john.doe@example.com);
 *   - the smallest Damerau (optimal string alignment) distance between the
 *     local parts with the separators ".", "_" and "-" taken out, so that
 *     johndoe, john_doe and john-doe all find john.doe; among equals, the
 *     smaller distance with the separators left in;
 *   - the name parts in another order (doe.john -> john.doe), which counts as
 *     distance 1.
 *
 * Only addresses in the domain asked for are candidates, except for the
 * first rule.  When several candidates are equally near, the one whose
 * differing characters sit next to each other on a QWERTY keyboard wins;
 * when that does not decide either, there is no suggestion.  The address
 * itself is never suggested.  Bytes >= 0x80 are compared as bytes.
 *
 * To keep random addresses from getting suggestions, distance 1 needs a
 * local part (without separators) of at least SUGGEST_MIN_D1 (4) bytes and
 * distance 2 one of at least SUGGEST_MIN_D2 (8) bytes, on both sides; this
 * is stricter than SuggestMaxDistance's "shorter than 6: at most 1".
 * Shorter ones are still found when only separators differ.
 *
 * The index: the local parts in one text block, one 8-byte record per
 * address, an open-addressing table of the exact addresses, and a
 * symmetric-deletion table.  For the latter every address contributes the
 * variants of a short key (its separator-free local part, or the first and
 * last four bytes of it when longer than eight) with up to two bytes deleted;
 * the table keeps, per hash bucket, only the numbers of the addresses (no
 * strings, no hashes): a hit is checked with the real distance anyway.
 * Two strings within distance k share a variant with at most k deletions
 * on each side (this holds for the two ends too), so the lookup misses
 * nothing.  Distance 1 is looked for first; the variants with two deletions
 * only when nothing nearer turned up.  Name parts sorted and joined are a
 * second, smaller bucket table.  Address numbers take three bytes there
 * (four past 2^24 - 1 addresses), and where a bucket starts two: counted from
 * a four-byte start per 32 buckets (four bytes a bucket in a table where
 * 32 buckets hold more than 65535 numbers).  About 160 bytes an address
 * (157 for bench_suggest's million: 96 of numbers, 19 of bucket starts,
 * 17 of the exact table, 15 of local parts, 8 of records).
 *
 * Thread safety: the builder is for one thread; a finished index is never
 * written to again, and rg_suggest_lookup() uses only its own stack and
 * heap memory, so any number of threads may look up at once.
 *
 * Limits: local parts of at most 64 bytes and domains of at most 255; at most
 * 65535 distinct domains and 2^32 - 2 addresses (more are ignored).
 */
#include "rg_suggest.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define LOCAL_MAX       64
#define DOMAIN_MAX      255
#define KEY_HALF        4               /* bytes kept from each end */
#define KEY_MAX         (2 * KEY_HALF)
#define VARIANTS_MAX    (1 + KEY_MAX + KEY_MAX * (KEY_MAX - 1) / 2)
#define SUGGEST_MIN_D1  4               /* shortest local part for distance 1 */
#define SUGGEST_MIN_D2  8               /* ... and for distance 2 */
#define TIES_MAX        16              /* more equal candidates: no answer */
#define BUCKET_FILL     4               /* deletion variants per bucket */
#ifndef RG_SUGGEST_ID3_MAX
#define RG_SUGGEST_ID3_MAX 0xffffff     /* most addresses numbered in 3 bytes */
#endif
#define BUCKET_GROUP    32              /* buckets sharing a 4-byte start */
#ifndef RG_SUGGEST_REL_MAX
#define RG_SUGGEST_REL_MAX 0xffff       /* most numbers in a group of buckets */
#endif
_Static_assert((BUCKET_GROUP & (BUCKET_GROUP - 1)) == 0, "a power of two");
_Static_assert(RG_SUGGEST_REL_MAX <= UINT16_MAX, "relative starts are 16-bit");

enum { SEED_EXACT = 1, SEED_DOMAIN, SEED_DELETE, SEED_SWAP };

struct rec {
	uint32_t off;                   /* local part in text */
	uint16_t dom;                   /* domain number */
	uint8_t len;                    /* local part length */
	uint8_t skel;                   /* ... without separators */
};

struct table {                          /* bucket number -> address numbers */
	uint32_t *base;                 /* start of each group of buckets */
	uint16_t *rel;                  /* nb + 1 starts, from their group's */
	uint32_t *off;                  /* nb + 1 starts, when rel does not do */
	unsigned char *ids;             /* nids numbers of w bytes, little-endian */
	uint32_t nb;                    /* buckets */
	size_t nids;
	size_t w;                       /* 3, or 4 past 2^24 - 1 addresses */
};

struct rg_suggest_builder {
	char *text;                     /* local parts, then domain names */
	size_t tlen, tcap;
	struct rec *rec;
	size_t nrec, reccap;
	uint64_t *exact;                /* hash tag << 32 | number + 1 */
	size_t exact_cap;
	uint32_t *domoff;
	uint8_t *domlen;
	size_t ndom, domcap;
	uint32_t *domtab;               /* domain number + 1 */
	size_t domtab_cap;
};

struct rg_suggest_index {
	struct rg_suggest_builder b;    /* the arrays above, now read-only */
	struct table del;
	struct table swap;
};

/* ---------------------------------------------------------------------- */

static int
is_sep(unsigned char c)
{
	return c == '.' || c == '_' || c == '-';
}

/* Copy N bytes of S to OUT with ASCII folded to lower case. */
static void
lower(char *out, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		out[i] = (char)(s[i] >= 'A' && s[i] <= 'Z' ? s[i] - 'A' + 'a' : s[i]);
}

static uint64_t
mix64(uint64_t h)
{
	h ^= h >> 32;
	h *= 0xd6e8feb86659fd93ULL;
	h ^= h >> 32;
	h *= 0xd6e8feb86659fd93ULL;
	h ^= h >> 32;
	return h;
}

static uint64_t
hash_bytes(const void *p, size_t n, uint64_t seed)
{
	const unsigned char *s = p;
	uint64_t h = mix64(seed) ^ (n * 0x9e3779b97f4a7c15ULL);
	uint64_t w;

	while (n >= 8) {
		memcpy(&w, s, 8);
		h = (h ^ w) * 0x9e3779b97f4a7c15ULL;
		h ^= h >> 29;
		s += 8;
		n -= 8;
	}
	if (n > 0) {
		w = 0;
		memcpy(&w, s, n);
		h = (h ^ w) * 0x9e3779b97f4a7c15ULL;
		h ^= h >> 29;
	}
	return mix64(h);
}

/* Bucket of hash H in a table of NB buckets. */
static uint32_t
bucket(uint64_t h, uint32_t nb)
{
	return (uint32_t)(((h >> 32) * nb) >> 32);
}

static uint64_t
seed_of(int kind, unsigned dom)
{
	return ((uint64_t)kind << 32) | dom;
}

/* Copy S without separators into OUT; returns the length. */
static size_t
skeleton(const char *s, size_t n, char *out)
{
	size_t k = 0;

	for (size_t i = 0; i < n; i++)
		if (!is_sep((unsigned char)s[i]))
			out[k++] = s[i];
	return k;
}

/* The deletion key of a skeleton: itself, or its two ends. */
static size_t
key_of(const char *skel, size_t n, char *key)
{
	if (n <= KEY_MAX) {
		memcpy(key, skel, n);
		return n;
	}
	memcpy(key, skel, KEY_HALF);
	memcpy(key + KEY_HALF, skel + n - KEY_HALF, KEY_HALF);
	return KEY_MAX;
}

/*
 * A deletion key of up to eight bytes is kept in a 64-bit word, byte I at
 * bits 8I: a variant is then a few shifts and masks, not a copy.
 */
static uint64_t
word_delete(uint64_t w, size_t i)
{
	uint64_t low = i == 0 ? 0 : ~0ULL >> (64 - 8 * i);

	return (w & low) | ((w >> 8) & ~low);
}

static uint64_t
hash_word(uint64_t w, size_t n, uint64_t mixed)
{
	uint64_t h = mixed ^ (n * 0x9e3779b97f4a7c15ULL);

	h = (h ^ w) * 0x9e3779b97f4a7c15ULL;
	h ^= h >> 29;
	return mix64(h);
}

/*
 * Hashes of KEY with MINDEL to MAXDEL bytes deleted, into OUT (room for
 * VARIANTS_MAX).  Returns how many.
 */
static size_t
variants(const char *key, size_t n, int mindel, int maxdel, uint64_t seed,
    uint64_t *out)
{
	_Static_assert(KEY_MAX <= 8, "a key fits in a word");
	uint64_t w = 0, mixed = mix64(seed);
	size_t k = 0;

	for (size_t i = 0; i < n; i++)
		w |= (uint64_t)(unsigned char)key[i] << (8 * i);
	if (mindel <= 0)
		out[k++] = hash_word(w, n, mixed);
	if (maxdel >= 1 && mindel <= 1)
		for (size_t i = 0; i < n; i++)
			out[k++] = hash_word(word_delete(w, i), n - 1, mixed);
	if (maxdel >= 2 && n >= 2)
		for (size_t i = 0; i < n; i++)
			for (size_t j = i + 1; j < n; j++)
				out[k++] = hash_word(word_delete(word_delete(w,
				    j), i), n - 2, mixed);
	return k;
}

/* Name parts sorted bytewise and joined with "."; 0 when fewer than two. */
static size_t
sorted_parts(const char *s, size_t n, char *out)
{
	struct { const char *p; size_t n; } part[LOCAL_MAX / 2 + 1], t;
	size_t np = 0, k = 0, i = 0;

	while (i < n) {
		while (i < n && is_sep((unsigned char)s[i]))
			i++;
		if (i == n)
			break;
		part[np].p = s + i;
		while (i < n && !is_sep((unsigned char)s[i]))
			i++;
		part[np].n = (size_t)(s + i - part[np].p);
		np++;
	}
	if (np < 2)
		return 0;
	for (size_t a = 1; a < np; a++)
		for (size_t b = a; b > 0; b--) {
			size_t m = part[b].n < part[b - 1].n ? part[b].n : part[b - 1].n;
			int c = memcmp(part[b - 1].p, part[b].p, m);
			if (c < 0 || (c == 0 && part[b - 1].n <= part[b].n))
				break;
			t = part[b];
			part[b] = part[b - 1];
			part[b - 1] = t;
		}
	for (size_t a = 0; a < np; a++) {
		if (a > 0)
			out[k++] = '.';
		memcpy(out + k, part[a].p, part[a].n);
		k += part[a].n;
	}
	return k;
}

/* Largest distance allowed between local parts of L bytes (the shorter). */
static int
allowed(size_t l, int maxdist)
{
	if (l < SUGGEST_MIN_D1 || maxdist < 1)
		return 0;
	if (l < SUGGEST_MIN_D2 || maxdist < 2)
		return 1;
	return 2;
}

/* ---------------------------------------------------------------------- */

/* Where each byte occurs in a string of at most LOCAL_MAX (64) bytes. */
struct pattern {
	uint64_t eq[256];
	size_t len;
};
_Static_assert(LOCAL_MAX <= 64, "a pattern fits in a word");

/* P, zeroed, for S (N bytes, at most LOCAL_MAX). */
static void
pattern_set(struct pattern *p, const char *s, size_t n)
{
	p->len = n;
	for (size_t i = 0; i < n; i++)
		p->eq[(unsigned char)s[i]] |= (uint64_t)1 << i;
}

/*
 * The optimal string alignment distance between pattern P and T (N bytes;
 * with SKIP, T's separators left out), after Hyyro's bit-vector method
 * (2003): a column of the matrix is two words, the rows where it goes one
 * up and one down from the row above, so a column costs a dozen word
 * operations whatever the lengths.
 */
static int
osa_bits(const struct pattern *p, const char *t, size_t n, int skip)
{
	uint64_t vp = ~0ULL, vn = 0, d0 = 0, prev = 0, last;
	int dist = (int)p->len;

	if (p->len == 0) {
		for (size_t j = 0; j < n; j++)
			dist += !(skip && is_sep((unsigned char)t[j]));
		return dist;
	}
	last = (uint64_t)1 << (p->len - 1);
	for (size_t j = 0; j < n; j++) {
		unsigned char c = (unsigned char)t[j];
		uint64_t eq, tr, hp, hn;

		if (skip && is_sep(c))
			continue;
		eq = p->eq[c];
		/* a transposition: this byte matched one row down last column */
		tr = ((~d0 & eq) << 1) & prev;
		d0 = (((eq & vp) + vp) ^ vp) | eq | vn | tr;
		hp = vn | ~(d0 | vp);
		hn = d0 & vp;
		dist += (hp & last) != 0;
		dist -= (hn & last) != 0;
		hp = (hp << 1) | 1;
		hn <<= 1;
		vp = hn | ~(d0 | hp);
		vn = hp & d0;
		prev = eq;
	}
	return dist;
}

int
rg_suggest_distance(const char *a, size_t n, const char *b, size_t m, int max)
{
	struct pattern p;
	int d;

	if (max < 0)
		max = 0;
	if (max > INT_MAX - 2)
		max = INT_MAX - 2;
	if (n > LOCAL_MAX || m > LOCAL_MAX)
		return max + 1;
	if ((n > m ? n - m : m - n) > (size_t)max)
		return max + 1;
	memset(&p, 0, sizeof(p));
	pattern_set(&p, a, n);
	d = osa_bits(&p, b, m, 0);
	return d > max ? max + 1 : d;
}

/* QWERTY neighbours (same row, or the two touching keys above and below). */
static int
key_pos(unsigned char ch, int *row, int *col)
{
	static const char *const rows[] = {
		"1234567890-=", "qwertyuiop[]", "asdfghjkl;'", "zxcvbnm,./",
	};

	for (int r = 0; r < 4; r++) {
		const char *q = strchr(rows[r], ch);
		if (ch != 0 && q != NULL) {
			*row = r;
			*col = (int)(q - rows[r]);
			return 1;
		}
	}
	return 0;
}

static int
adjacent(unsigned char a, unsigned char b)
{
	int ra, ca, rb, cb;

	if (a == b || !key_pos(a, &ra, &ca) || !key_pos(b, &rb, &cb))
		return 0;
	if (ra == rb)
		return ca - cb == 1 || cb - ca == 1;
	if (rb == ra - 1)
		return cb == ca || cb == ca + 1;
	if (rb == ra + 1)
		return cb == ca - 1 || cb == ca;
	return 0;
}

/*
 * Edit cost of typing Q when C was meant, in quarters: a slip to a
 * neighbouring key, an extra key next to (or the same as) the one beside it,
 * or a missed key next to (or the same as) the one beside it, costs 3; any
 * other edit 4.
 */
static int
keyboard_cost(const char *qs, size_t n, const char *cs, size_t m)
{
	/* rows i-2, i-1 and i of the matrix, C along the row */
	int r0[LOCAL_MAX + 1], r1[LOCAL_MAX + 1], r2[LOCAL_MAX + 1];
	int *pp = r0, *p = r1, *d = r2, *t;
	const unsigned char *q = (const unsigned char *)qs;
	const unsigned char *c = (const unsigned char *)cs;

	if (n > LOCAL_MAX || m > LOCAL_MAX)
		return 1 << 20;
	for (size_t i = 0; i <= n; i++) {
		for (size_t j = 0; j <= m; j++) {
			int v = i == 0 && j == 0 ? 0 : 1 << 20, w;

			if (i > 0) {            /* Q has an extra byte */
				w = 4;
				if ((i > 1 && (q[i - 1] == q[i - 2] ||
				    adjacent(q[i - 1], q[i - 2]))) ||
				    (i < n && (q[i - 1] == q[i] ||
				    adjacent(q[i - 1], q[i]))))
					w = 3;
				if (p[j] + w < v)
					v = p[j] + w;
			}
			if (j > 0) {            /* Q misses a byte of C */
				w = 4;
				if ((j > 1 && (c[j - 1] == c[j - 2] ||
				    adjacent(c[j - 1], c[j - 2]))) ||
				    (j < m && (c[j - 1] == c[j] ||
				    adjacent(c[j - 1], c[j]))))
					w = 3;
				if (d[j - 1] + w < v)
					v = d[j - 1] + w;
			}
			if (i > 0 && j > 0) {
				w = q[i - 1] == c[j - 1] ? 0 :
				    adjacent(q[i - 1], c[j - 1]) ? 3 : 4;
				if (p[j - 1] + w < v)
					v = p[j - 1] + w;
			}
			if (i > 1 && j > 1 && q[i - 1] == c[j - 2] &&
			    q[i - 2] == c[j - 1] && pp[j - 2] + 4 < v)
				v = pp[j - 2] + 4;
			d[j] = v;
		}
		t = pp;
		pp = p;
		p = d;
		d = t;
	}
	return p[m];
}

/* ---------------------------------------------------------------------- */

static void *
grow(void *p, size_t *cap, size_t need, size_t size)
{
	size_t n = *cap ? *cap : 64;
	void *q;

	if (need <= *cap)
		return p;
	while (n < need)
		n *= 2;
	if ((q = realloc(p, n * size)) == NULL)
		return NULL;
	*cap = n;
	return q;
}

struct rg_suggest_builder *
rg_suggest_builder_new(void)
{
	struct rg_suggest_builder *b = calloc(1, sizeof(*b));

	if (b == NULL)
		return NULL;
	b->exact_cap = 1024;
	b->domtab_cap = 16;
	b->exact = calloc(b->exact_cap, sizeof(*b->exact));
	b->domtab = calloc(b->domtab_cap, sizeof(*b->domtab));
	if (b->exact == NULL || b->domtab == NULL) {
		rg_suggest_builder_free(b);
		errno = ENOMEM;
		return NULL;
	}
	return b;
}

void
rg_suggest_builder_free(struct rg_suggest_builder *b)
{
	if (b == NULL)
		return;
	free(b->text);
	free(b->rec);
	free(b->exact);
	free(b->domoff);
	free(b->domlen);
	free(b->domtab);
	free(b);
}

/* Number of domain D (N bytes), or -1. */
static long
domain_find(const struct rg_suggest_builder *b, const char *d, size_t n)
{
	size_t mask = b->domtab_cap - 1;
	size_t i = hash_bytes(d, n, SEED_DOMAIN) & mask;

	for (; b->domtab[i] != 0; i = (i + 1) & mask) {
		uint32_t id = b->domtab[i] - 1;
		if (b->domlen[id] == n && memcmp(b->text + b->domoff[id], d, n) == 0)
			return id;
	}
	return -1;
}

static int
text_add(struct rg_suggest_builder *b, const char *s, size_t n, uint32_t *off)
{
	char *t;

	if (b->tlen + n > UINT32_MAX)
		return 1;               /* full: ignored */
	if ((t = grow(b->text, &b->tcap, b->tlen + n, 1)) == NULL)
		return -1;
	b->text = t;
	memcpy(b->text + b->tlen, s, n);
	*off = (uint32_t)b->tlen;
	b->tlen += n;
	return 0;
}

/* Number of domain D, added when new; -1 on ENOMEM, -2 when full. */
static long
domain_add(struct rg_suggest_builder *b, const char *d, size_t n)
{
	long id = domain_find(b, d, n);
	uint32_t *tab, *off;
	uint8_t *len;
	size_t cap, mask, i;
	int r;

	if (id >= 0)
		return id;
	if (b->ndom >= UINT16_MAX)
		return -2;
	if ((b->ndom + 1) * 2 > b->domtab_cap) {
		cap = b->domtab_cap * 2;
		if ((tab = calloc(cap, sizeof(*tab))) == NULL)
			return -1;
		for (size_t k = 0; k < b->ndom; k++) {
			i = hash_bytes(b->text + b->domoff[k], b->domlen[k],
			    SEED_DOMAIN) & (cap - 1);
			while (tab[i] != 0)
				i = (i + 1) & (cap - 1);
			tab[i] = (uint32_t)k + 1;
		}
		free(b->domtab);
		b->domtab = tab;
		b->domtab_cap = cap;
	}
	cap = b->domcap;
	if ((off = grow(b->domoff, &cap, b->ndom + 1, sizeof(*off))) == NULL)
		return -1;
	b->domoff = off;
	cap = b->domcap;
	if ((len = grow(b->domlen, &cap, b->ndom + 1, sizeof(*len))) == NULL)
		return -1;
	b->domlen = len;
	b->domcap = cap;
	if ((r = text_add(b, d, n, &b->domoff[b->ndom])) != 0)
		return r < 0 ? -1 : -2;
	b->domlen[b->ndom] = (uint8_t)n;
	mask = b->domtab_cap - 1;
	i = hash_bytes(d, n, SEED_DOMAIN) & mask;
	while (b->domtab[i] != 0)
		i = (i + 1) & mask;
	b->domtab[i] = (uint32_t)b->ndom + 1;
	return (long)b->ndom++;
}

/* Number of address LOCAL@domain DOM, or -1; *SLOT is where it would go. */
static long
exact_find(const struct rg_suggest_builder *b, unsigned dom, const char *l,
    size_t n, size_t *slot)
{
	size_t mask = b->exact_cap - 1;
	uint64_t h = hash_bytes(l, n, seed_of(SEED_EXACT, dom));
	uint64_t tag = h >> 32;
	size_t i = h & mask;

	for (; b->exact[i] != 0; i = (i + 1) & mask) {
		uint64_t e = b->exact[i];
		const struct rec *r;

		if (e >> 32 != tag)
			continue;
		r = &b->rec[(e & 0xffffffffu) - 1];
		if (r->dom == dom && r->len == n &&
		    memcmp(b->text + r->off, l, n) == 0)
			return (long)((e & 0xffffffffu) - 1);
	}
	if (slot)
		*slot = i;
	return -1;
}

static int
exact_grow(struct rg_suggest_builder *b)
{
	size_t cap = b->exact_cap * 2, mask = cap - 1;
	uint64_t *tab = calloc(cap, sizeof(*tab));

	if (tab == NULL)
		return -1;
	for (size_t k = 0; k < b->nrec; k++) {
		const struct rec *r = &b->rec[k];
		uint64_t h = hash_bytes(b->text + r->off, r->len,
		    seed_of(SEED_EXACT, r->dom));
		size_t i = h & mask;
		while (tab[i] != 0)
			i = (i + 1) & mask;
		tab[i] = (h >> 32) << 32 | (uint64_t)(k + 1);
	}
	free(b->exact);
	b->exact = tab;
	b->exact_cap = cap;
	return 0;
}

int
rg_suggest_builder_add(struct rg_suggest_builder *b, const char *addr,
    size_t len)
{
	char local[LOCAL_MAX], dom[DOMAIN_MAX], skel[LOCAL_MAX];
	const char *at = NULL;
	size_t ll, dl, slot;
	struct rec *rec, r;
	long d;
	int e;

	if (b == NULL || addr == NULL)
		return 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)addr[i];
		if (c <= ' ' || c == 0x7f)
			return 0;       /* control byte, blank or NUL */
		if (c == '@') {
			if (at != NULL)
				return 0;       /* two of them */
			at = addr + i;
		}
	}
	if (at == NULL)
		return 0;
	ll = (size_t)(at - addr);
	dl = len - ll - 1;
	if (ll == 0 || ll > LOCAL_MAX || dl == 0 || dl > DOMAIN_MAX)
		return 0;
	lower(local, addr, ll);
	lower(dom, at + 1, dl);
	if (b->nrec >= UINT32_MAX - 1)
		return 0;

	if ((d = domain_add(b, dom, dl)) < 0) {
		if (d == -2)
			return 0;
		errno = ENOMEM;
		return -1;
	}
	if (exact_find(b, (unsigned)d, local, ll, &slot) >= 0)
		return 0;               /* duplicate */
	/* up to three quarters full: at a million addresses half would take
	 * twice the table (32 MiB instead of 16) */
	if ((b->nrec + 1) * 4 > b->exact_cap * 3) {
		if (exact_grow(b) < 0) {
			errno = ENOMEM;
			return -1;
		}
		(void)exact_find(b, (unsigned)d, local, ll, &slot);
	}
	if ((rec = grow(b->rec, &b->reccap, b->nrec + 1, sizeof(*rec))) == NULL) {
		errno = ENOMEM;
		return -1;
	}
	b->rec = rec;
	if ((e = text_add(b, local, ll, &r.off)) != 0) {
		if (e > 0)
			return 0;
		errno = ENOMEM;
		return -1;
	}
	r.dom = (uint16_t)d;
	r.len = (uint8_t)ll;
	r.skel = (uint8_t)skeleton(local, ll, skel);
	b->rec[b->nrec] = r;
	b->exact[slot] = (hash_bytes(local, ll, seed_of(SEED_EXACT, (unsigned)d))
	    >> 32) << 32 | (uint64_t)(b->nrec + 1);
	b->nrec++;
	return 0;
}

/* ---------------------------------------------------------------------- */

/* Bucket numbers (of NB) an address contributes to a table, each once, in
 * no particular order.  Returns how many. */
static size_t
rec_buckets(const struct rg_suggest_builder *b, size_t id, int swap,
    uint32_t nb, uint32_t *out)
{
	const struct rec *r = &b->rec[id];
	const char *l = b->text + r->off;
	char buf[LOCAL_MAX], key[KEY_MAX];
	uint64_t h[VARIANTS_MAX];
	size_t n, k, u;

	if (swap) {
		if ((n = sorted_parts(l, r->len, buf)) == 0)
			return 0;
		out[0] = bucket(hash_bytes(buf, n, seed_of(SEED_SWAP, r->dom)),
		    nb);
		return 1;
	}
	if (r->skel == 0)
		return 0;
	n = skeleton(l, r->len, buf);
	k = key_of(buf, n, key);
	n = variants(key, k, 0, allowed(r->skel, 2), seed_of(SEED_DELETE, r->dom),
	    h);
	/* repeats out through a small set (bucket + 1; 0 empty) */
	_Static_assert(VARIANTS_MAX < 64, "the set holds every variant");
	uint32_t seen[64] = { 0 };
	for (u = 0, k = 0; k < n; k++) {
		uint32_t x = bucket(h[k], nb) + 1;
		size_t j = (x * 2654435761u) >> 26;
		while (seen[j] != 0 && seen[j] != x)
			j = (j + 1) & 63;
		if (seen[j] == 0) {
			seen[j] = x;
			out[u++] = x - 1;
		}
	}
	return u;
}

static inline uint32_t
id_at(const struct table *t, size_t k)
{
	const unsigned char *p = t->ids + k * t->w;
	uint32_t v = p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16;

	return t->w == 4 ? v | (uint32_t)p[3] << 24 : v;
}

static inline void
id_put(struct table *t, size_t k, uint32_t id)
{
	unsigned char *p = t->ids + k * t->w;

	p[0] = (unsigned char)id;
	p[1] = (unsigned char)(id >> 8);
	p[2] = (unsigned char)(id >> 16);
	if (t->w == 4)
		p[3] = (unsigned char)(id >> 24);
}

/* Where the numbers of bucket B start in ids (B == nb: where they end). */
static inline uint32_t
start_of(const struct table *t, uint32_t b)
{
	if (t->rel != NULL)
		return t->base[b / BUCKET_GROUP] + t->rel[b];
	return t->off[b];
}

/*
 * Ask for huge pages for a big table: filling it touches pages at random,
 * and with 4 KiB pages the TLB misses cost more than the work.
 */
static void
hint_huge(void *p, size_t n)
{
#ifdef MADV_HUGEPAGE
	uintptr_t a = ((uintptr_t)p + 0x1fffff) & ~(uintptr_t)0x1fffff;
	uintptr_t e = ((uintptr_t)p + n) & ~(uintptr_t)0x1fffff;

	if (e > a)
		(void)madvise((void *)a, e - a, MADV_HUGEPAGE);
#else
	(void)p;
	(void)n;
#endif
}

/*
 * The bucket starts in two bytes each, counted from a four-byte start per
 * group of BUCKET_GROUP buckets: at four bytes a bucket they were a fifth of
 * the index.  The counts go into rel[] itself and become the starts in
 * place, so no four-byte array is ever needed.  A group with more than
 * RG_SUGGEST_REL_MAX numbers (many addresses of one key) does not fit; the
 * table then keeps four-byte starts, counted over again.  Returns 1 when the
 * starts are in rel[], 0 when they did not fit, -1 when out of memory.
 */
static int
starts_narrow(const struct rg_suggest_builder *b, int swap, struct table *t)
{
	uint32_t bk[VARIANTS_MAX];
	size_t nb = t->nb, sum = 0, in = 0;

	if ((t->rel = calloc(nb + 1, sizeof(*t->rel))) == NULL)
		return -1;
	hint_huge(t->rel, (nb + 1) * sizeof(*t->rel));
	for (size_t id = 0; id < b->nrec; id++) {
		size_t n = rec_buckets(b, id, swap, t->nb, bk);
		for (size_t i = 0; i < n; i++)
			if (t->rel[bk[i]]++ == RG_SUGGEST_REL_MAX)
				goto wide;
	}
	if ((t->base = malloc((nb / BUCKET_GROUP + 1) *
	    sizeof(*t->base))) == NULL) {
		free(t->rel);
		t->rel = NULL;
		return -1;
	}
	for (size_t i = 0; i <= nb; i++) {
		size_t c = i < nb ? t->rel[i] : 0;

		if (i % BUCKET_GROUP == 0) {
			t->base[i / BUCKET_GROUP] = (uint32_t)sum;
			in = 0;
		}
		t->rel[i] = (uint16_t)in;
		in += c;
		sum += c;
		/* the fill counts each start up to the next: the last
		 * bucket's reaches the group's total */
		if (in > RG_SUGGEST_REL_MAX)
			goto wide;
	}
	return 1;
wide:
	free(t->rel);
	free(t->base);
	t->rel = NULL;
	t->base = NULL;
	return 0;
}

static int
table_build(const struct rg_suggest_builder *b, int swap, struct table *t)
{
	uint32_t bk[VARIANTS_MAX];
	size_t total = 0, nb;
	int fit;

	for (size_t id = 0; id < b->nrec; id++) {
		const struct rec *r = &b->rec[id];
		size_t k = swap ? 1 : r->skel < KEY_MAX ? r->skel : KEY_MAX;
		total += swap ? 1 : 1 + k + k * (k - 1) / 2;
	}
	/* about four entries a bucket: a bucket costs as much as an entry */
	total = total / BUCKET_FILL + 1;
	t->nb = total > UINT32_MAX - 1 ? UINT32_MAX - 1 : (uint32_t)total;
	nb = t->nb;
	if ((fit = starts_narrow(b, swap, t)) < 0)
		return -1;
	if (fit == 0) {
		if ((t->off = calloc(nb + 1, sizeof(*t->off))) == NULL)
			return -1;
		hint_huge(t->off, (nb + 1) * sizeof(*t->off));
		for (size_t id = 0; id < b->nrec; id++) {
			size_t n = rec_buckets(b, id, swap, t->nb, bk);
			for (size_t i = 0; i < n; i++)
				t->off[bk[i] + 1]++;
		}
		for (size_t i = 0; i < nb; i++)
			t->off[i + 1] += t->off[i];
	}
	t->nids = start_of(t, t->nb);
	/* three bytes a number while they fit: the deletion table is most of
	 * the index, and a quarter of it would be zero bytes */
	t->w = b->nrec <= RG_SUGGEST_ID3_MAX ? 3 : 4;
	if ((t->ids = malloc((t->nids ? t->nids : 1) * t->w)) == NULL)
		return -1;
	hint_huge(t->ids, t->nids * t->w);
	/* fill, using the starts as cursors, then shift them back */
	for (size_t id = 0; id < b->nrec; id++) {
		size_t n = rec_buckets(b, id, swap, t->nb, bk);
		for (size_t i = 0; i < n; i++) {
			uint32_t k = bk[i];

			if (t->rel != NULL)
				k = t->base[k / BUCKET_GROUP] + t->rel[k]++;
			else
				k = t->off[k]++;
			id_put(t, k, (uint32_t)id);
		}
	}
	if (t->rel != NULL) {
		/* a group's first bucket starts at its base */
		for (size_t i = nb; i > 0; i--)
			t->rel[i] = i % BUCKET_GROUP ? t->rel[i - 1] : 0;
		t->rel[0] = 0;
	} else {
		for (size_t i = nb; i > 0; i--)
			t->off[i] = t->off[i - 1];
		t->off[0] = 0;
	}
	return 0;
}

static void
table_free(struct table *t)
{
	free(t->base);
	free(t->rel);
	free(t->off);
	free(t->ids);
}

static size_t
table_bytes(const struct table *t)
{
	size_t n = (size_t)t->nb + 1;

	if (t->rel != NULL)
		n = n * sizeof(*t->rel) +
		    (t->nb / BUCKET_GROUP + 1) * sizeof(*t->base);
	else
		n *= sizeof(*t->off);
	return n + t->nids * t->w;
}

static void
shrink(void **p, size_t n, size_t size)
{
	void *q;

	if (n > 0 && (q = realloc(*p, n * size)) != NULL)
		*p = q;
}

struct rg_suggest_index *
rg_suggest_builder_finish(struct rg_suggest_builder *b)
{
	struct rg_suggest_index *ix;

	if (b == NULL)
		return NULL;
	if ((ix = calloc(1, sizeof(*ix))) == NULL)
		goto nomem;
	shrink((void **)&b->text, b->tlen, 1);
	shrink((void **)&b->rec, b->nrec, sizeof(*b->rec));
	b->tcap = b->tlen;
	b->reccap = b->nrec;
	if (table_build(b, 0, &ix->del) < 0 || table_build(b, 1, &ix->swap) < 0)
		goto nomem;
	ix->b = *b;
	free(b);
	return ix;
nomem:
	if (ix != NULL) {
		table_free(&ix->del);
		table_free(&ix->swap);
		free(ix);
	}
	rg_suggest_builder_free(b);
	errno = ENOMEM;
	return NULL;
}

void
rg_suggest_index_free(struct rg_suggest_index *ix)
{
	if (ix == NULL)
		return;
	free(ix->b.text);
	free(ix->b.rec);
	free(ix->b.exact);
	free(ix->b.domoff);
	free(ix->b.domlen);
	free(ix->b.domtab);
	table_free(&ix->del);
	table_free(&ix->swap);
	free(ix);
}

size_t
rg_suggest_index_count(const struct rg_suggest_index *ix)
{
	return ix ? ix->b.nrec : 0;
}

size_t
rg_suggest_index_bytes(const struct rg_suggest_index *ix)
{
	const struct rg_suggest_builder *b;

	if (ix == NULL)
		return 0;
	b = &ix->b;
	return sizeof(*ix) + b->tcap + b->reccap * sizeof(*b->rec) +
	    b->exact_cap * sizeof(*b->exact) +
	    b->domcap * (sizeof(*b->domoff) + sizeof(*b->domlen)) +
	    b->domtab_cap * sizeof(*b->domtab) +
	    table_bytes(&ix->del) + table_bytes(&ix->swap);
}

/* ---------------------------------------------------------------------- */

enum { CAND_EDIT, CAND_SWAP, CAND_CROSS };

struct cand {
	uint32_t id;
	int kind;
};

struct query {
	const struct rg_suggest_index *ix;
	const char *local;              /* as asked */
	size_t len;
	char skel[LOCAL_MAX];
	size_t slen;
	long dom;                       /* -1: domain not in the index */
	int maxdist;
	int top;                        /* largest distance for this query */
	int best_ds, best_df;           /* rank of the candidates in c[] */
	struct cand c[TIES_MAX];
	int nc;
	int overflow;                   /* more than TIES_MAX at best rank */
	struct pattern pskel;           /* skel, for the distance */
	struct pattern plocal;          /* local, for the distance */
};

/* Offer candidate ID at distance DS (without separators) and DF (with). */
static void
offer(struct query *q, uint32_t id, int kind, int ds, int df)
{
	if (ds < q->best_ds || (ds == q->best_ds && df < q->best_df)) {
		q->best_ds = ds;
		q->best_df = df;
		q->nc = 0;
		q->overflow = 0;
	} else if (ds != q->best_ds || df != q->best_df) {
		return;
	}
	for (int i = 0; i < q->nc; i++)
		if (q->c[i].id == id)
			return;
	if (q->nc == TIES_MAX) {
		q->overflow = 1;
		return;
	}
	q->c[q->nc].id = id;
	q->c[q->nc].kind = kind;
	q->nc++;
}

/* Check address ID against the query with the real distances. */
static void
verify(struct query *q, uint32_t id)
{
	const struct rec *r = &q->ix->b.rec[id];
	const char *l = q->ix->b.text + r->off;
	int cut, ds, df;

	if (r->dom != q->dom)
		return;
	cut = allowed(r->skel < q->slen ? r->skel : q->slen, q->maxdist);
	if (cut > q->best_ds)
		cut = q->best_ds;
	if ((r->skel > q->slen ? r->skel - q->slen : q->slen - r->skel) >
	    (size_t)cut)
		return;
	if (r->len == q->len && memcmp(l, q->local, q->len) == 0)
		return;                 /* the address itself */
	ds = osa_bits(&q->pskel, l, r->len, 1);
	if (ds > cut)
		return;
	df = osa_bits(&q->plocal, l, r->len, 0);
	offer(q, id, CAND_EDIT, ds, df);
}

/* A small set of address numbers, to look at each candidate once. */
struct seen {
	uint32_t *slot;
	size_t mask;
};

static int
seen_add(struct seen *s, uint32_t id)
{
	size_t i = (id * 0x9e3779b1u) & s->mask;

	for (; s->slot[i] != 0; i = (i + 1) & s->mask)
		if (s->slot[i] == id + 1)
			return 0;
	s->slot[i] = id + 1;
	return 1;
}

/*
 * The numbers in buckets BK[0..N) (their starts in ST, their ends in EN),
 * each checked once.  The table, the records and the local parts are read at
 * random places: in a large index nearly every read is a cache miss.  So the
 * numbers are gathered first and the records asked for ahead of use, which
 * lets the misses overlap instead of following one another.
 */
static void
scan(struct query *q, const struct table *t, const uint32_t *st,
    const uint32_t *en, size_t n, struct seen *s, uint32_t *ids)
{
	const struct rec *rec = q->ix->b.rec;
	size_t m = 0;

	for (size_t i = 0; i < n; i++)
		for (uint32_t k = st[i]; k < en[i]; k++) {
			ids[m] = id_at(t, k);
			__builtin_prefetch(&rec[ids[m]]);
			m++;
		}
	for (size_t i = 0; i < m; i++) {
		const struct rec *r = &rec[ids[i]];

		/* what verify() refuses anyway, before the set */
		if (r->dom != q->dom || (r->skel > q->slen ?
		    r->skel - q->slen : q->slen - r->skel) > (size_t)q->top)
			continue;
		if (seen_add(s, ids[i]))
			verify(q, ids[i]);
	}
}

/* Candidates within the allowed distance, from the deletion table. */
static int
search_edits(struct query *q)
{
	const struct table *t = &q->ix->del;
	char key[KEY_MAX];
	uint64_t h[VARIANTS_MAX];
	uint32_t bk[VARIANTS_MAX], st[VARIANTS_MAX], en[VARIANTS_MAX];
	uint32_t stack[1536], *mem;
	size_t k, n1, n2, total = 0, cap = 1;
	int top = allowed(q->slen, q->maxdist);
	struct seen s;

	if (q->slen == 0 || t->nids == 0)
		return 0;
	q->top = top;
	k = key_of(q->skel, q->slen, key);
	n1 = variants(key, k, 0, top < 1 ? 0 : 1, seed_of(SEED_DELETE,
	    (unsigned)q->dom), h);
	n2 = top < 2 ? 0 : variants(key, k, 2, 2, seed_of(SEED_DELETE,
	    (unsigned)q->dom), h + n1);
	/* every bucket's start asked for at once, then read */
	for (size_t i = 0; i < n1 + n2; i++) {
		bk[i] = bucket(h[i], t->nb);
		if (t->rel != NULL) {
			__builtin_prefetch(&t->base[bk[i] / BUCKET_GROUP]);
			__builtin_prefetch(&t->rel[bk[i]]);
		} else {
			__builtin_prefetch(&t->off[bk[i]]);
		}
	}
	for (size_t i = 0; i < n1 + n2; i++) {
		st[i] = start_of(t, bk[i]);
		en[i] = start_of(t, bk[i] + 1);
		__builtin_prefetch(t->ids + (size_t)st[i] * t->w);
		total += en[i] - st[i];
	}
	while (cap < 2 * total)
		cap *= 2;
	if (cap + total <= sizeof(stack) / sizeof(stack[0])) {
		mem = stack;
	} else if ((mem = malloc((cap + total) * sizeof(*mem))) == NULL) {
		return -1;
	}
	s.slot = mem;
	memset(s.slot, 0, cap * sizeof(*s.slot));
	s.mask = cap - 1;
	scan(q, t, st, en, n1, &s, mem + cap);
	if (q->best_ds > 1)
		scan(q, t, st + n1, en + n1, n2, &s, mem + cap);
	if (mem != stack)
		free(mem);
	return 0;
}

/* The same name parts in another order count as distance 1. */
static void
search_swaps(struct query *q)
{
	const struct table *t = &q->ix->swap;
	char mine[LOCAL_MAX], theirs[LOCAL_MAX], skel[LOCAL_MAX];
	size_t n = sorted_parts(q->local, q->len, mine);
	uint32_t b;

	if (n == 0 || t->nids == 0 || q->maxdist < 1)
		return;
	b = bucket(hash_bytes(mine, n, seed_of(SEED_SWAP, (unsigned)q->dom)),
	    t->nb);
	for (uint32_t k = start_of(t, b), e = start_of(t, b + 1); k < e; k++) {
		uint32_t id = id_at(t, k);
		const struct rec *r = &q->ix->b.rec[id];
		const char *l = q->ix->b.text + r->off;

		if (r->dom != q->dom || r->skel != q->slen)
			continue;
		if (sorted_parts(l, r->len, theirs) != n ||
		    memcmp(theirs, mine, n) != 0)
			continue;
		if (skeleton(l, r->len, skel) == q->slen &&
		    memcmp(skel, q->skel, q->slen) == 0)
			continue;       /* same order: an edit, not a swap */
		offer(q, id, CAND_SWAP, 1, 1);
	}
}

/* The same local part in another of our domains. */
static void
search_domains(struct query *q, const char *domain, char *const *domains,
    size_t ndomains)
{
	const struct rg_suggest_builder *b = &q->ix->b;

	for (size_t i = 0; i < ndomains; i++) {
		char dbuf[DOMAIN_MAX];
		size_t dl;
		long d, id;

		if (domains[i] == NULL || (dl = strlen(domains[i])) > DOMAIN_MAX)
			continue;
		lower(dbuf, domains[i], dl);
		if ((d = domain_find(b, dbuf, dl)) < 0 || d == q->dom ||
		    (dl == strlen(domain) && memcmp(dbuf, domain, dl) == 0))
			continue;
		if ((id = exact_find(b, (unsigned)d, q->local, q->len, NULL)) >= 0)
			offer(q, (uint32_t)id, CAND_CROSS, 0, 0);
	}
}

/* Of the equally near candidates, the one keyboard slips explain best. */
static long
tie_break(const struct query *q)
{
	long best = -1;
	int bcost = 0, ties = 0;

	if (q->nc == 1 && !q->overflow)
		return q->c[0].id;
	if (q->nc == 0 || q->overflow)
		return -1;
	for (int i = 0; i < q->nc; i++) {
		const struct rec *r = &q->ix->b.rec[q->c[i].id];
		int cost = q->c[i].kind == CAND_CROSS ? 0 :
		    q->c[i].kind == CAND_SWAP ? 4 :
		    keyboard_cost(q->local, q->len, q->ix->b.text + r->off, r->len);

		if (best < 0 || cost < bcost) {
			best = q->c[i].id;
			bcost = cost;
			ties = 0;
		} else if (cost == bcost) {
			ties++;
		}
	}
	return ties ? -1 : best;
}

int
rg_suggest_lookup(const struct rg_suggest_index *ix, const char *local,
    const char *domain, char *const *domains, size_t ndomains, int maxdist,
    char *out, size_t outlen)
{
	struct query *q;
	char lbuf[LOCAL_MAX + 1], dbuf[DOMAIN_MAX + 1];
	const struct rec *r;
	size_t dl, n;
	long id;

	if (out != NULL && outlen > 0)
		out[0] = '\0';
	if (ix == NULL || local == NULL || domain == NULL || out == NULL ||
	    ix->b.nrec == 0)
		return 0;
	n = strlen(local);
	dl = strlen(domain);
	if (n == 0 || n > LOCAL_MAX || dl == 0 || dl > DOMAIN_MAX)
		return 0;
	lower(lbuf, local, n + 1);
	lower(dbuf, domain, dl + 1);
	domain = dbuf;
	if ((q = calloc(1, sizeof(*q))) == NULL)
		return 0;
	q->ix = ix;
	q->local = lbuf;
	q->len = n;
	q->slen = skeleton(lbuf, n, q->skel);
	pattern_set(&q->pskel, q->skel, q->slen);
	pattern_set(&q->plocal, lbuf, n);
	q->dom = domain_find(&ix->b, domain, dl);
	q->maxdist = maxdist > 2 ? 2 : maxdist;
	q->best_ds = q->best_df = 1 << 20;

	search_domains(q, domain, domains, ndomains);
	if (q->dom >= 0) {
		search_swaps(q);
		if (q->best_ds > 0 && search_edits(q) < 0)
			q->nc = 0;      /* no memory: no suggestion */
	}
	id = tie_break(q);
	free(q);
	if (id < 0)
		return 0;
	r = &ix->b.rec[id];
	dl = ix->b.domlen[r->dom];
	if ((size_t)r->len + 1 + dl + 1 > outlen)
		return 0;
	memcpy(out, ix->b.text + r->off, r->len);
	out[r->len] = '@';
	memcpy(out + r->len + 1, ix->b.text + ix->b.domoff[r->dom], dl);
	out[r->len + 1 + dl] = '\0';
	return 1;
}
