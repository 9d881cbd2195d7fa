/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * bench_suggest.c - speed, memory and quality of the typo suggestions.
 *
 * Usage: bench_suggest [SIZE...]          (default: 10000 100000 1000000)
 *
 * For each SIZE, generates a directory of that many addresses the way
 * organisations name people (first.last, flast, first_last, first-last,
 * firstlast, f.last, first.m.last; numbered duplicates such as john.doe2;
 * five domains, some people with the same local part in two of them), from
 * a fixed seed, and reports:
 *
 *   - the time to build the index, the bytes it says it holds, and the
 *     growth of the resident set (/proc/self/statm) while building it;
 *   - the latency of rg_suggest_lookup(), p50 / p99 / max, for typo queries,
 *     for random never-existing addresses, and for never-existing ones
 *     shaped like the people's own (first name, a number, last name:
 *     john123.doe), which have many candidates each;
 *   - for each kind of typo, how often the one suggestion is the address
 *     the typo was made from (top-1).  A typo that is itself an existing
 *     local part (in any of the domains) is not a miss of the engine: it is
 *     counted apart and left out.  A miss for which another address is as
 *     near as the right one (by the distance without separators) is counted
 *     as "ambiguous" (checked by a full scan, for SIZE <= 100000 only);
 *   - the share of random never-existing addresses (random letters, 6 to 14
 *     of them, half with a dot) that got a suggestion, and, for
 *     information, the same for unknown but plausible first.last names.
 *
 * Build: gcc -O2 -std=gnu11 -D_GNU_SOURCE -Idirectory \
 *            tests/bench/bench_suggest.c directory/rg_suggest.c
 * (or "make tests/bench/bench_suggest"); add -DSHOW to print every miss.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "rg_suggest.h"

#define TYPOS_PER_KIND  2000
#define LATENCY_QUERIES 20000
#define RANDOM_QUERIES  20000

static char *const domains[] = {
	"example.com", "example.org", "example.net", "mail.example.com",
	"example.co.uk",
};
#define NDOMAINS (sizeof(domains) / sizeof(domains[0]))
static const int domain_weight[NDOMAINS] = { 60, 15, 10, 10, 5 };

static const char *const real_first[] = {
	"james", "john", "robert", "michael", "william", "david", "richard",
	"joseph", "thomas", "charles", "christopher", "daniel", "matthew",
	"anthony", "mark", "donald", "steven", "paul", "andrew", "joshua",
	"kenneth", "kevin", "brian", "george", "timothy", "ronald", "edward",
	"jason", "jeffrey", "ryan", "jacob", "gary", "nicholas", "eric",
	"jonathan", "stephen", "larry", "justin", "scott", "brandon",
	"benjamin", "samuel", "gregory", "alexander", "patrick", "frank",
	"raymond", "jack", "dennis", "jerry", "mary", "patricia", "jennifer",
	"linda", "elizabeth", "barbara", "susan", "jessica", "sarah", "karen",
	"lisa", "nancy", "betty", "margaret", "sandra", "ashley", "kimberly",
	"emily", "donna", "michelle", "carol", "amanda", "dorothy", "melissa",
	"deborah", "stephanie", "rebecca", "sharon", "laura", "cynthia",
	"kathleen", "amy", "angela", "shirley", "anna", "brenda", "pamela",
	"emma", "nicole", "helen", "samantha", "katherine", "christine",
	"debra", "rachel", "carolyn", "janet", "catherine", "maria", "heather",
	"olga", "ivan", "pierre", "marie", "hans", "ingrid", "giulia", "marco",
	"ahmed", "fatima", "wei", "yuki", "sven", "anders", "lars", "sofia",
	"lucas", "noah", "liam", "mia", "lea", "jan", "eva", "tom", "ben",
};
static const char *const real_last[] = {
	"smith", "johnson", "williams", "brown", "jones", "garcia", "miller",
	"davis", "rodriguez", "martinez", "hernandez", "lopez", "gonzalez",
	"wilson", "anderson", "thomas", "taylor", "moore", "jackson", "martin",
	"lee", "perez", "thompson", "white", "harris", "sanchez", "clark",
	"ramirez", "lewis", "robinson", "walker", "young", "allen", "king",
	"wright", "scott", "torres", "nguyen", "hill", "flores", "green",
	"adams", "nelson", "baker", "hall", "rivera", "campbell", "mitchell",
	"carter", "roberts", "gomez", "phillips", "evans", "turner", "diaz",
	"parker", "cruz", "edwards", "collins", "reyes", "stewart", "morris",
	"morales", "murphy", "cook", "rogers", "gutierrez", "ortiz", "morgan",
	"cooper", "peterson", "bailey", "reed", "kelly", "howard", "ramos",
	"kim", "cox", "ward", "richardson", "watson", "brooks", "chavez",
	"wood", "james", "bennett", "gray", "mendoza", "ruiz", "hughes",
	"price", "alvarez", "castillo", "sanders", "patel", "myers", "long",
	"ross", "foster", "jimenez", "mueller", "schmidt", "schneider",
	"fischer", "weber", "meyer", "wagner", "becker", "schulz", "hoffmann",
	"dubois", "durand", "leroy", "moreau", "rossi", "russo", "ferrari",
	"esposito", "bianchi", "romano", "novak", "kowalski", "nowak",
	"wisniewski", "ivanov", "petrov", "jansen", "devries", "bakker",
	"visser", "hansen", "nielsen", "larsen", "andersson", "johansson",
	"karlsson", "nilsson", "tanaka", "suzuki", "wang", "li", "zhang",
	"liu", "chen", "yang", "huang", "zhao", "wu", "zhou", "singh", "kumar",
	"sharma", "ali", "khan", "murray", "o'brien", "mcdonald", "fraser",
};
#define NREAL_FIRST (sizeof(real_first) / sizeof(real_first[0]))
#define NREAL_LAST (sizeof(real_last) / sizeof(real_last[0]))

/* ---------------------------------------------------------------------- */

static uint64_t rng_state;

static uint64_t
rng(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static size_t
below(size_t n)
{
	return (size_t)(rng() % n);
}

static double
uniform(void)
{
	return (double)(rng() >> 11) / 9007199254740992.0;
}

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long
rss_bytes(void)
{
	long size = 0, resident = 0;
	FILE *f = fopen("/proc/self/statm", "r");

	if (f == NULL)
		return 0;
	if (fscanf(f, "%ld %ld", &size, &resident) != 2)
		resident = 0;
	fclose(f);
	return resident * sysconf(_SC_PAGESIZE);
}

static void *
xmalloc(size_t n)
{
	void *p = malloc(n);

	if (p == NULL) {
		perror("malloc");
		exit(1);
	}
	return p;
}

/* ---- name pools ------------------------------------------------------ */

static const char *const onset[] = {
	"b", "c", "d", "f", "g", "h", "j", "k", "l", "m", "n", "p", "r", "s",
	"t", "v", "w", "z", "br", "ch", "cr", "dr", "gr", "kr", "pr", "sh", "st",
	"th", "tr", "bl", "fl", "kl",
};
static const char *const vowel[] = {
	"a", "e", "i", "o", "u", "a", "e", "o", "ai", "ea", "ee", "ie", "oo",
	"ou", "y",
};
static const char *const coda[] = {
	"", "", "n", "r", "l", "s", "t", "m", "nd", "rt", "ll", "ck", "ng",
	"son", "ton", "ley", "man", "berg", "ski", "er", "field", "wood",
	"sen", "stein", "ini", "ez",
};
#define N(a) (sizeof(a) / sizeof(a[0]))

static char *
made_up_name(int syllables)
{
	char buf[64];
	size_t k = 0;

	for (int s = 0; s < syllables; s++) {
		const char *o = onset[below(N(onset))];
		const char *v = vowel[below(N(vowel))];
		const char *c = s == syllables - 1 ? coda[below(N(coda))] : "";
		k += (size_t)snprintf(buf + k, sizeof(buf) - k, "%s%s%s", o, v, c);
	}
	return strdup(buf);
}

struct pool {
	char **name;
	size_t n;
};

/* Real names first (the common ones), then made-up ones, rarer. */
static void
pool_make(struct pool *p, const char *const *real, size_t nreal, size_t made)
{
	p->n = nreal + made;
	p->name = xmalloc(p->n * sizeof(*p->name));
	for (size_t i = 0; i < nreal; i++)
		p->name[i] = strdup(real[i]);
	for (size_t i = 0; i < made; i++)
		p->name[nreal + i] = made_up_name(1 + (int)below(3));
}

/* Skewed pick: low indexes (the real, common names) far more often. */
static const char *
pool_pick(const struct pool *p)
{
	double u = uniform();

	return p->name[(size_t)(u * u * u * (double)p->n)];
}

/* ---- a set of strings ------------------------------------------------ */

struct set {
	char **slot;
	size_t cap, n;
};

static uint64_t
str_hash(const char *s)
{
	uint64_t h = 1469598103934665603ULL;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

static int
set_has(const struct set *s, const char *k)
{
	for (size_t i = str_hash(k) & (s->cap - 1); s->slot[i];
	    i = (i + 1) & (s->cap - 1))
		if (strcmp(s->slot[i], k) == 0)
			return 1;
	return 0;
}

static void
set_put(struct set *s, char *k)
{
	size_t i;

	if ((s->n + 1) * 2 > s->cap) {
		struct set t = { calloc(s->cap * 2, sizeof(char *)), s->cap * 2, 0 };
		for (size_t j = 0; j < s->cap; j++)
			if (s->slot[j])
				set_put(&t, s->slot[j]);
		free(s->slot);
		*s = t;
	}
	for (i = str_hash(k) & (s->cap - 1); s->slot[i]; i = (i + 1) & (s->cap - 1))
		;
	s->slot[i] = k;
	s->n++;
}

/* ---- the directory --------------------------------------------------- */

struct dir {
	char **addr;                    /* local@domain */
	size_t n;
	struct set all;
	struct pool first, last;
};

static size_t
pick_domain(void)
{
	size_t r = below(100), d = 0;

	while (r >= (size_t)domain_weight[d]) {
		r -= (size_t)domain_weight[d];
		d++;
	}
	return d;
}

/* A local part for a person, in one of the usual forms. */
static void
person_local(const struct dir *d, char *out, size_t outlen)
{
	char first[64], last[64];
	size_t r = below(100);

	snprintf(first, sizeof(first), "%s", pool_pick(&d->first));
	snprintf(last, sizeof(last), "%s", pool_pick(&d->last));
	if (r < 55)
		snprintf(out, outlen, "%s.%s", first, last);
	else if (r < 70)
		snprintf(out, outlen, "%c%s", first[0], last);
	else if (r < 80)
		snprintf(out, outlen, "%s_%s", first, last);
	else if (r < 85)
		snprintf(out, outlen, "%s-%s", first, last);
	else if (r < 90)
		snprintf(out, outlen, "%s%s", first, last);
	else if (r < 95)
		snprintf(out, outlen, "%c.%s", first[0], last);
	else
		snprintf(out, outlen, "%s.%c.%s", first, 'a' + (int)below(26), last);
}

static int
dir_add(struct dir *d, const char *local, size_t dom)
{
	char buf[400];

	snprintf(buf, sizeof(buf), "%s@%s", local, domains[dom]);
	if (set_has(&d->all, buf))
		return 0;
	d->addr[d->n] = strdup(buf);
	set_put(&d->all, d->addr[d->n]);
	d->n++;
	return 1;
}

static void
dir_make(struct dir *d, size_t size)
{
	char local[200], numbered[220];
	static const char *const roles[] = {
		"info", "sales", "support", "postmaster", "abuse", "hr", "billing",
		"office", "admin", "jobs", "press", "helpdesk", "accounts",
	};

	memset(d, 0, sizeof(*d));
	rng_state = 20240611;
	pool_make(&d->first, real_first, NREAL_FIRST, size / 200 + 300);
	pool_make(&d->last, real_last, NREAL_LAST, size / 8 + 1000);
	d->addr = xmalloc(size * sizeof(*d->addr));
	d->all.cap = 1024;
	d->all.slot = calloc(d->all.cap, sizeof(char *));
	for (size_t i = 0; i < N(roles) && d->n < size; i++)
		for (size_t j = 0; j < NDOMAINS && d->n < size; j++)
			dir_add(d, roles[i], j);
	while (d->n < size) {
		size_t dom = pick_domain();

		person_local(d, local, sizeof(local));
		if (!dir_add(d, local, dom)) {
			for (int k = 2; ; k++) {
				snprintf(numbered, sizeof(numbered), "%s%d", local, k);
				if (dir_add(d, numbered, dom))
					break;
			}
		}
		/* some people have the same local part in a second domain */
		if (d->n < size && below(10) == 0) {
			const char *a = d->addr[d->n - 1];
			size_t ll = (size_t)(strchr(a, '@') - a);
			memcpy(local, a, ll);
			local[ll] = '\0';
			dir_add(d, local, (dom + 1 + below(NDOMAINS - 1)) % NDOMAINS);
		}
	}
}

/* ---- typos ----------------------------------------------------------- */

enum kind {
	K_DELETE, K_INSERT, K_NEIGHBOUR, K_TRANSPOSE, K_DOUBLE,
	K_NO_SEP, K_EXTRA_SEP, K_SWAP, K_KINDS
};
static const char *const kind_name[] = {
	"deletion", "insertion", "neighbouring key", "transposition",
	"doubled letter", "missing separator", "extra separator",
	"swapped name parts",
};

static int
is_sep(char c)
{
	return c == '.' || c == '_' || c == '-';
}

static const char *
neighbours(char c)
{
	static const char *const tab[26] = {
		"qwsz", "vghn", "xdfv", "serfcx", "wsdr", "drtgvc", "ftyhbv",
		"gyujnb", "ujko", "huikmn", "jiolm", "kop", "njk", "bhjm", "iklp",
		"ol", "wa", "edft", "awedxz", "rfgy", "yhji", "cfgb", "qase",
		"zsdc", "tghu", "asx",
	};

	return c >= 'a' && c <= 'z' ? tab[c - 'a'] : NULL;
}

/* Positions I (0..n-1) for which OK(s, i) holds; one at random, or -1. */
static long
random_pos(const char *s, size_t n, int (*ok)(const char *, size_t, size_t))
{
	size_t cand[128], k = 0;

	for (size_t i = 0; i <= n && k < 128; i++)
		if (ok(s, n, i))
			cand[k++] = i;
	return k ? (long)cand[below(k)] : -1;
}

static int
ok_letter(const char *s, size_t n, size_t i)
{
	return i < n && !is_sep(s[i]);
}

static int
ok_any(const char *s, size_t n, size_t i)
{
	(void)s;
	(void)n;
	(void)i;
	return 1;
}

static int
ok_neighbour(const char *s, size_t n, size_t i)
{
	return i < n && neighbours(s[i]) != NULL;
}

static int
ok_transpose(const char *s, size_t n, size_t i)
{
	return i + 1 < n && !is_sep(s[i]) && !is_sep(s[i + 1]) && s[i] != s[i + 1];
}

static int
ok_sep(const char *s, size_t n, size_t i)
{
	return i < n && is_sep(s[i]);
}

static int
ok_inside(const char *s, size_t n, size_t i)
{
	return i > 0 && i < n && !is_sep(s[i - 1]) && !is_sep(s[i]);
}

/* Make a typo of KIND in local part S into OUT; 0 when S has no room for it. */
static int
make_typo(enum kind kind, const char *s, char *out)
{
	size_t n = strlen(s);
	long i;

	switch (kind) {
	case K_DELETE:
		if (n < 2 || (i = random_pos(s, n, ok_letter)) < 0)
			return 0;
		memcpy(out, s, (size_t)i);
		strcpy(out + i, s + i + 1);
		return 1;
	case K_INSERT:
		i = random_pos(s, n, ok_any);
		memcpy(out, s, (size_t)i);
		out[i] = (char)('a' + below(26));
		strcpy(out + i + 1, s + i);
		return 1;
	case K_NEIGHBOUR: {
		const char *nb;
		if ((i = random_pos(s, n, ok_neighbour)) < 0)
			return 0;
		nb = neighbours(s[i]);
		strcpy(out, s);
		out[i] = nb[below(strlen(nb))];
		return 1;
	}
	case K_TRANSPOSE:
		if ((i = random_pos(s, n, ok_transpose)) < 0)
			return 0;
		strcpy(out, s);
		out[i] = s[i + 1];
		out[i + 1] = s[i];
		return 1;
	case K_DOUBLE:
		if ((i = random_pos(s, n, ok_letter)) < 0)
			return 0;
		memcpy(out, s, (size_t)i + 1);
		strcpy(out + i + 1, s + i);
		return 1;
	case K_NO_SEP:
		if ((i = random_pos(s, n, ok_sep)) < 0)
			return 0;
		memcpy(out, s, (size_t)i);
		strcpy(out + i, s + i + 1);
		return 1;
	case K_EXTRA_SEP:
		if ((i = random_pos(s, n, ok_inside)) < 0)
			return 0;
		memcpy(out, s, (size_t)i);
		out[i] = '.';
		strcpy(out + i + 1, s + i);
		return 1;
	case K_SWAP: {
		/* the parts in reverse order, joined by the first separator */
		const char *part[32];
		size_t plen[32], np = 0, k = 0;
		char sep = 0;
		for (size_t j = 0; j < n; ) {
			while (j < n && is_sep(s[j])) {
				if (!sep)
					sep = s[j];
				j++;
			}
			if (j == n)
				break;
			part[np] = s + j;
			while (j < n && !is_sep(s[j]))
				j++;
			plen[np] = (size_t)(s + j - part[np]);
			np++;
		}
		if (np < 2)
			return 0;
		for (size_t p = np; p > 0; p--) {
			memcpy(out + k, part[p - 1], plen[p - 1]);
			k += plen[p - 1];
			if (p > 1)
				out[k++] = sep;
		}
		out[k] = '\0';
		return strcmp(out, s) != 0;
	}
	default:
		return 0;
	}
}

/* ---- measuring ------------------------------------------------------- */

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void
split(const char *addr, char *local, char *domain)
{
	const char *at = strrchr(addr, '@');

	memcpy(local, addr, (size_t)(at - addr));
	local[at - addr] = '\0';
	strcpy(domain, at + 1);
}

static int
exists_anywhere(const struct dir *d, const char *local)
{
	char buf[700];

	for (size_t j = 0; j < NDOMAINS; j++) {
		snprintf(buf, sizeof(buf), "%s@%s", local, domains[j]);
		if (set_has(&d->all, buf))
			return 1;
	}
	return 0;
}

static size_t
strip(const char *s, char *out)
{
	size_t k = 0;

	for (; *s; s++)
		if (!is_sep(*s))
			out[k++] = *s;
	out[k] = '\0';
	return k;
}

/* Is another address of DOMAIN as near to TYPO as RIGHT is (full scan)? */
static int
ambiguous(const struct dir *d, const char *typo, const char *domain,
    const char *right)
{
	char t[128], r[128], o[128], local[128], dom[300];
	size_t tn = strip(typo, t), rn;
	int best;

	split(right, local, dom);
	rn = strip(local, r);
	best = rg_suggest_distance(t, tn, r, rn, 64);
	for (size_t i = 0; i < d->n; i++) {
		size_t on;
		if (strcmp(d->addr[i], right) == 0)
			continue;
		split(d->addr[i], local, dom);
		if (strcmp(dom, domain) != 0 || strcmp(local, typo) == 0)
			continue;
		on = strip(local, o);
		if (rg_suggest_distance(t, tn, o, on, best) <= best)
			return 1;
	}
	return 0;
}

static void
latency(const char *label, double *lat, size_t n)
{
	qsort(lat, n, sizeof(*lat), cmp_double);
	printf("  %-26s p50 %7.1f us   p99 %7.1f us   max %7.1f us\n", label,
	    lat[n / 2] * 1e6, lat[(size_t)((double)n * 0.99)] * 1e6,
	    lat[n - 1] * 1e6);
}

/* A random string of letters, sometimes with a dot, that is no address. */
static void
random_local(const struct dir *d, char *out)
{
	do {
		size_t n = 6 + below(9);
		for (size_t i = 0; i < n; i++)
			out[i] = (char)('a' + below(26));
		out[n] = '\0';
		if (below(2)) {
			size_t p = 2 + below(n - 3);
			memmove(out + p + 1, out + p, n - p + 1);
			out[p] = '.';
		}
	} while (exists_anywhere(d, out));
}

static void
run(size_t size)
{
	struct dir d;
	struct rg_suggest_builder *b;
	struct rg_suggest_index *ix;
	char local[400], domain[300], typo[400], out[400];
	double t0, t1, tadd, *lat;
	long rss0, rss1;
	size_t n;

	dir_make(&d, size);
	rss0 = rss_bytes();
	t0 = now();
	if ((b = rg_suggest_builder_new()) == NULL) {
		perror("builder");
		exit(1);
	}
	for (size_t i = 0; i < d.n; i++)
		if (rg_suggest_builder_add(b, d.addr[i], strlen(d.addr[i])) < 0) {
			perror("add");
			exit(1);
		}
	tadd = now();
	if ((ix = rg_suggest_builder_finish(b)) == NULL) {
		perror("finish");
		exit(1);
	}
	t1 = now();
	rss1 = rss_bytes();
	printf("\n== %zu addresses (%zu in the index)\n", size,
	    rg_suggest_index_count(ix));
	printf("  build %.2f s (add %.2f, finish %.2f)   index %.1f MiB"
	    "   RSS growth %.1f MiB\n", t1 - t0, tadd - t0, t1 - tadd,
	    (double)rg_suggest_index_bytes(ix) / 1048576.0,
	    (double)(rss1 - rss0) / 1048576.0);

	/* latency: typos of every kind, then random unknown addresses */
	lat = xmalloc(LATENCY_QUERIES * sizeof(*lat));
	rng_state = 7;
	for (n = 0; n < LATENCY_QUERIES; ) {
		split(d.addr[below(d.n)], local, domain);
		if (!make_typo((enum kind)below(K_KINDS), local, typo) ||
		    strlen(typo) > 64)
			continue;
		t0 = now();
		rg_suggest_lookup(ix, typo, domain, domains, NDOMAINS, 2, out,
		    sizeof(out));
		lat[n++] = now() - t0;
	}
	latency("typo queries", lat, n);
	for (n = 0; n < RANDOM_QUERIES; ) {
		random_local(&d, local);
		t0 = now();
		rg_suggest_lookup(ix, local, domains[pick_domain()], domains,
		    NDOMAINS, 2, out, sizeof(out));
		lat[n++] = now() - t0;
	}
	latency("random unknown addresses", lat, n);
	/* unknown, but shaped like the people's own (bench_rcpt.sh's): a
	 * first name, a number, a last name; each has many candidates of the
	 * right length to check */
	for (n = 0; n < RANDOM_QUERIES; n++) {
		char first[64];
		snprintf(first, sizeof(first), "%s", pool_pick(&d.first));
		snprintf(local, sizeof(local), "%s%zu.%s", first, n, pool_pick(&d.last));
		t0 = now();
		rg_suggest_lookup(ix, local, domains[pick_domain()], domains,
		    NDOMAINS, 2, out, sizeof(out));
		lat[n] = now() - t0;
	}
	latency("first<n>.last unknown", lat, n);
	free(lat);

	/* quality */
	printf("  %-20s %6s %8s %6s %7s %6s %6s %7s\n", "typo kind", "made",
	    "existing", "right", "top-1", "wrong", "none", "ambig.");
	rng_state = 11;
	size_t all_made = 0, all_right = 0;
	for (int k = 0; k < K_KINDS; k++) {
		size_t made = 0, existing = 0, right = 0, wrong = 0, none = 0;
		size_t amb = 0, tries = 0;

		while (made < TYPOS_PER_KIND && tries++ < 50 * TYPOS_PER_KIND) {
			const char *a = d.addr[below(d.n)];
			split(a, local, domain);
			if (!make_typo((enum kind)k, local, typo) ||
			    strlen(typo) > 64)
				continue;
			made++;
			if (exists_anywhere(&d, typo)) {
				existing++;
				continue;
			}
			if (rg_suggest_lookup(ix, typo, domain, domains, NDOMAINS,
			    2, out, sizeof(out)) && strcmp(out, a) == 0) {
				right++;
				continue;
			}
#ifdef SHOW
			printf("    %s: %s@%s -> [%s] want %s\n", kind_name[k], typo, domain, out, a);
#endif
			if (out[0])
				wrong++;
			else
				none++;
			if (size <= 100000 && ambiguous(&d, typo, domain, a))
				amb++;
		}
		printf("  %-20s %6zu %8zu %6zu %6.1f%% %6zu %6zu %7s\n",
		    kind_name[k], made, existing, right,
		    100.0 * (double)right / (double)(made - existing), wrong,
		    none, size <= 100000 ? (snprintf(out, sizeof(out), "%zu",
		    amb), out) : "-");
		if (k != K_SWAP) {
			all_made += made - existing;
			all_right += right;
		}
	}
	printf("  %-20s %6zu %8s %6zu %6.1f%%\n", "all single edits", all_made,
	    "", all_right, 100.0 * (double)all_right / (double)all_made);

	/* false suggestions */
	size_t got = 0, plausible = 0, pgot = 0;
	for (n = 0; n < RANDOM_QUERIES; n++) {
		random_local(&d, local);
		got += (size_t)rg_suggest_lookup(ix, local, domains[pick_domain()],
		    domains, NDOMAINS, 2, out, sizeof(out));
	}
	printf("  random never-existing addresses: %zu of %zu got a suggestion"
	    " (%.2f%%)\n", got, n, 100.0 * (double)got / (double)n);
	while (plausible < RANDOM_QUERIES) {
		char first[64];
		snprintf(first, sizeof(first), "%s", pool_pick(&d.first));
		snprintf(local, sizeof(local), "%s.%s", first, pool_pick(&d.last));
		if (exists_anywhere(&d, local))
			continue;
		plausible++;
		pgot += (size_t)rg_suggest_lookup(ix, local, domains[pick_domain()],
		    domains, NDOMAINS, 2, out, sizeof(out));
	}
	printf("  unknown plausible first.last names: %zu of %zu got a"
	    " suggestion (%.2f%%)\n", pgot, plausible,
	    100.0 * (double)pgot / (double)plausible);

	rg_suggest_index_free(ix);
	for (size_t i = 0; i < d.n; i++)
		free(d.addr[i]);
	free(d.addr);
	free(d.all.slot);
	for (size_t i = 0; i < d.first.n; i++)
		free(d.first.name[i]);
	for (size_t i = 0; i < d.last.n; i++)
		free(d.last.name[i]);
	free(d.first.name);
	free(d.last.name);
}

int
main(int argc, char **argv)
{
	static const size_t dflt[] = { 10000, 100000, 1000000 };

	if (argc < 2) {
		for (size_t i = 0; i < N(dflt); i++)
			run(dflt[i]);
	} else {
		for (int i = 1; i < argc; i++)
			run((size_t)strtoul(argv[i], NULL, 10));
	}
	return 0;
}
