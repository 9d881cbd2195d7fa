/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * rg_audit.c - the alias graph of a whole directory, and what is wrong in it.
 *
 * The model is rg_alias's (the runtime check reads entries through it too):
 *   - an entry's addresses are its values of LDAPAddressAttributes (an
 *     attribute with options, mail;lang-de, counts as mail), lower case;
 *     only addresses of Domains are indexed;
 *   - an entry is an alias when it has a value of LDAPAliasAttributes
 *     (target addresses) or LDAPMemberAttributes (member DNs), or an
 *     objectClass of LDAPAliasClasses; otherwise a mailbox;
 *   - a target address is internal when its domain is one of Domains (an
 *     address without a domain counts as external); only internal targets
 *     are checked; one with a subaddress that nobody claims is tried
 *     without it, as a recipient would be;
 *   - a member DN names an entry (compared case-insensitively, spaces
 *     around ',', '=' and '+' ignored);
 *   - a disabled entry (matching LDAPDisabledFilter) receives no mail; a
 *     disabled alias is not checked and not expanded;
 *   - an internal target that nobody claims (nor without its subaddress)
 *     goes to the enabled catch-all entries of its domain
 *     (rg_audit_catchall(), LDAPCatchAllFilter), as at RCPT time; only
 *     when there is none is it dangling.
 *   - an address that a living member names in LDAPMemberOfAttributes
 *     (rg_audit_named()) receives mail, with an entry of its own or not:
 *     a target naming it is alive, and a group entry with such members and
 *     no targets is no no-targets.
 *
 * Problems, per enabled alias A:
 *   dangling-target    an internal target address nobody claims, or a member
 *                      DN that does not exist (target: the address or DN)
 *   disabled-target    a target whose entries are all disabled
 *   self-target        A lists one of its own addresses (or its own DN),
 *                      unless A keeps a copy (rg_alias_classify())
 *   no-targets         A has no target at all
 *   too-many-targets   more than AliasMaxTargets targets (no target named)
 *   loop               A reaches itself through other aliases; once per
 *                      alias on the cycle, target = the value, as written in
 *                      the alias before A on the cycle, that leads back to A
 *                      (the smallest one when there are several)
 *   too-deep           more than AliasMaxDepth aliases on the longest chain
 *                      that starts at A (A counts as one; a cycle counts as
 *                      one, it is reported as a loop); target = the first
 *                      target beyond the limit on that chain.  Not reported
 *                      for aliases on a cycle.
 * and once per address of Domains that two or more entries claim:
 *   duplicate-address  alias = the address, dn = the DNs sorted, "; "-joined.
 *
 * An alias is named by its first address (in LDAPAddressAttributes order),
 * or by its DN when it has none; a member target by the member's name the
 * same way, or by the DN as written when the member does not exist.
 *
 * Cycles are found with Tarjan's algorithm (iterative: a chain of 100k
 * aliases must not overflow the stack); depths follow from the order in
 * which it completes the strongly connected components.
 */
#include "rg_audit.h"
#include "rg_address.h"
#include "rg_alias.h"

#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <unistd.h>

struct strv {
	char **v;
	size_t n, cap;
};

struct ent {
	char *dn;
	char *ndn;              /* normalised, for member lookups */
	struct strv addrs;      /* lower case, ours only, in attribute order */
	char *name;             /* first address (any domain), or NULL: use dn */
	struct strv fwd;        /* LDAPAliasAttributes values */
	struct strv members;    /* LDAPMemberAttributes values */
	unsigned alias : 1, disabled : 1;
	unsigned keeps_copy : 1;        /* a mailbox forwarding to itself too */
	enum rg_alias_problem own;      /* rg_alias_own_problem(), for an alias */
	unsigned problems;      /* bits of node problems, for the graph */
};

struct edge {
	size_t src;
	char *shown;            /* how reports name the target */
	size_t first, n;        /* destinations: dst[first .. first+n) */
	unsigned external : 1;
	unsigned named : 1;     /* a group address that living members name */
	unsigned problems;      /* bits of edge problems */
};

/* A string -> index map, open addressing; keys are owned elsewhere. */
struct smap {
	const char **k;
	size_t *v;
	size_t cap, n;
};

/* One occurrence of an address in an entry, chained per address. */
struct occ {
	size_t ent;
	size_t next;            /* SIZE_MAX ends the chain */
};

struct owned_problem {
	struct rg_audit_problem p;
	char *own;              /* a string the problem owns, or NULL */
};

struct rg_audit {
	const struct rg_config *cf;
	struct ent *e;
	size_t n, cap;
	struct strv disabled_dns;       /* normalised */
	struct strv catchall_domains;   /* lower case, one per catch-all entry */
	struct strv catchall_dns;       /* normalised, the same order */
	struct strv named;              /* rg_audit_named(), lower case */
	struct smap by_named;           /* those, for lookups */

	struct smap by_dn;              /* ndn -> entry */
	struct smap by_addr;            /* address -> head occurrence */
	struct occ *occ;
	size_t nocc, capocc;

	struct edge *edges;
	size_t nedges, capedges;
	size_t *dst;
	size_t ndst, capdst;

	size_t *comp;                   /* entry -> component (SIZE_MAX: none) */
	size_t *comp_size;

	struct owned_problem *pr;
	size_t npr, cappr;
	struct rg_audit_problem *out;   /* the sorted view handed out */
	size_t nout;
	int ran;
};

/* --- small utilities --------------------------------------------------------- */

static int
grow(void **p, size_t *cap, size_t need, size_t size)
{
	if (need <= *cap)
		return 0;
	size_t nc = *cap ? *cap : 16;
	while (nc < need)
		nc *= 2;
	void *np = realloc(*p, nc * size);
	if (np == NULL)
		return -1;
	*p = np;
	*cap = nc;
	return 0;
}

static int
strv_push(struct strv *s, char *str)
{
	if (str == NULL || grow((void **)&s->v, &s->cap, s->n + 1, sizeof(*s->v)) < 0) {
		free(str);
		return -1;
	}
	s->v[s->n++] = str;
	return 0;
}

static void
strv_free(struct strv *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	memset(s, 0, sizeof(*s));
}

static uint64_t
hash(const char *s)
{
	uint64_t h = 1469598103934665603ULL;

	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ULL;
	}
	return h;
}

static size_t
smap_slot(const struct smap *m, const char *key)
{
	size_t i = (size_t)hash(key) & (m->cap - 1);

	while (m->k[i] != NULL && strcmp(m->k[i], key) != 0)
		i = (i + 1) & (m->cap - 1);
	return i;
}

/* The value of KEY, or SIZE_MAX. */
static size_t
smap_get(const struct smap *m, const char *key)
{
	if (m->cap == 0)
		return SIZE_MAX;
	size_t i = smap_slot(m, key);
	return m->k[i] != NULL ? m->v[i] : SIZE_MAX;
}

static int
smap_put(struct smap *m, const char *key, size_t value)
{
	if ((m->n + 1) * 2 > m->cap) {
		struct smap nm = { NULL, NULL, m->cap ? m->cap * 2 : 1024, 0 };
		nm.k = calloc(nm.cap, sizeof(*nm.k));
		nm.v = calloc(nm.cap, sizeof(*nm.v));
		if (nm.k == NULL || nm.v == NULL) {
			free(nm.k);
			free(nm.v);
			return -1;
		}
		for (size_t i = 0; i < m->cap; i++) {
			if (m->k[i] != NULL) {
				size_t j = smap_slot(&nm, m->k[i]);
				nm.k[j] = m->k[i];
				nm.v[j] = m->v[i];
				nm.n++;
			}
		}
		free(m->k);
		free(m->v);
		*m = nm;
	}
	size_t i = smap_slot(m, key);
	if (m->k[i] == NULL) {
		m->k[i] = key;
		m->n++;
	}
	m->v[i] = value;
	return 0;
}

static void
smap_free(struct smap *m)
{
	free(m->k);
	free(m->v);
	memset(m, 0, sizeof(*m));
}

static char *
lower_dup(const char *s)
{
	char *d = strdup(s);

	if (d != NULL)
		for (char *p = d; *p; p++)
			*p = (char)tolower((unsigned char)*p);
	return d;
}

/* DN normalised (rg_alias_dn_norm), in memory of its own; NULL when out of memory. */
static char *
dn_norm(const char *dn)
{
	size_t len = strlen(dn) + 1;
	char *out = malloc(len);

	if (out != NULL)
		rg_alias_dn_norm(dn, out, len);
	return out;
}

static const char *
ent_name(const struct ent *e)
{
	return e->name != NULL ? e->name : e->dn;
}

/* --- taking entries in ---------------------------------------------------------- */

struct rg_audit *
rg_audit_new(const struct rg_config *cf)
{
	struct rg_audit *a = calloc(1, sizeof(*a));

	if (a != NULL)
		a->cf = cf;
	return a;
}

static void
ent_free(struct ent *e)
{
	free(e->dn);
	free(e->ndn);
	free(e->name);
	strv_free(&e->addrs);
	strv_free(&e->fwd);
	strv_free(&e->members);
}

int
rg_audit_add(struct rg_audit *a, const struct rg_ldap_entry *le)
{
	const struct rg_config *cf = a->cf;
	struct rg_alias_entry x;
	struct ent e;

	if (grow((void **)&a->e, &a->cap, a->n + 1, sizeof(*a->e)) < 0)
		return -1;
	memset(&e, 0, sizeof(e));
	if (rg_alias_classify(cf, le, &x) < 0)
		goto oom;
	e.dn = strdup(le->dn);
	e.ndn = dn_norm(le->dn);
	e.alias = x.alias;
	e.keeps_copy = x.keeps_copy;
	e.own = rg_alias_own_problem(cf, &x);
	if (e.dn == NULL || e.ndn == NULL)
		goto oom;
	if (x.naddrs > 0 && (e.name = strdup(rg_alias_name(&x))) == NULL)
		goto oom;
	/* only addresses of Domains are indexed */
	for (size_t i = 0; i < x.naddrs; i++) {
		struct rg_address ad;
		if (rg_address_parse(x.addrs[i], "", &ad, NULL) == RG_ADDR_OK &&
		    rg_config_domain_ours(cf, ad.domain) && strv_push(&e.addrs, strdup(x.addrs[i])) < 0)
			goto oom;
	}
	for (size_t i = 0; i < x.ntargets; i++)
		if (strv_push(x.targets[i].member ? &e.members : &e.fwd,
		    strdup(x.targets[i].value)) < 0)
			goto oom;
	rg_alias_entry_free(&x);
	a->e[a->n++] = e;
	return 0;
oom:
	rg_alias_entry_free(&x);
	ent_free(&e);
	return -1;
}

int
rg_audit_catchall(struct rg_audit *a, const char *domain, const char *dn)
{
	if (strv_push(&a->catchall_domains, lower_dup(domain)) < 0)
		return -1;
	if (strv_push(&a->catchall_dns, dn_norm(dn)) < 0) {
		free(a->catchall_domains.v[--a->catchall_domains.n]);
		return -1;
	}
	return 0;
}

int
rg_audit_disable(struct rg_audit *a, const char *dn)
{
	return strv_push(&a->disabled_dns, dn_norm(dn));
}

int
rg_audit_named(struct rg_audit *a, const char *address)
{
	return strv_push(&a->named, lower_dup(address));
}

/* Do living members name ADDRESS (rg_audit_named())? */
static int
is_named(const struct rg_audit *a, const char *address)
{
	return smap_get(&a->by_named, address) != SIZE_MAX;
}

/* Do living members name one of the addresses of entry I? */
static int
ent_named(const struct rg_audit *a, size_t i)
{
	for (size_t j = 0; j < a->e[i].addrs.n; j++)
		if (is_named(a, a->e[i].addrs.v[j]))
			return 1;
	return 0;
}

/* --- problems ------------------------------------------------------------------- */

static int
add_problem(struct rg_audit *a, enum rg_alias_problem p, const char *alias, const char *target,
    const char *dn, char *own)
{
	if (grow((void **)&a->pr, &a->cappr, a->npr + 1, sizeof(*a->pr)) < 0) {
		free(own);
		return -1;
	}
	struct owned_problem *op = &a->pr[a->npr++];
	op->p.problem = rg_alias_problem_name(p);
	op->p.alias = alias;
	op->p.target = target;
	op->p.dn = dn;
	op->own = own;
	return 0;
}

static int
ent_problem(struct rg_audit *a, size_t i, enum rg_alias_problem p, const char *target)
{
	a->e[i].problems |= 1u << p;
	return add_problem(a, p, ent_name(&a->e[i]), target, a->e[i].dn, NULL);
}

static int
cmp_opt(const char *x, const char *y)
{
	if (x == NULL || y == NULL)
		return (x != NULL) - (y != NULL);
	return strcmp(x, y);
}

static int
cmp_problem(const void *x, const void *y)
{
	const struct rg_audit_problem *p = x, *q = y;
	int c;

	if ((c = strcmp(p->problem, q->problem)) != 0)
		return c;
	if ((c = strcmp(p->alias, q->alias)) != 0)
		return c;
	if ((c = cmp_opt(p->target, q->target)) != 0)
		return c;
	return strcmp(p->dn, q->dn);
}

static int
cmp_str(const void *x, const void *y)
{
	return strcmp(*(char *const *)x, *(char *const *)y);
}

/* --- the graph ------------------------------------------------------------------ */

static int
index_entries(struct rg_audit *a)
{
	for (size_t i = 0; i < a->n; i++) {
		struct ent *e = &a->e[i];
		if (smap_put(&a->by_dn, e->ndn, i) < 0)
			return -1;
		for (size_t j = 0; j < e->addrs.n; j++) {
			if (grow((void **)&a->occ, &a->capocc, a->nocc + 1, sizeof(*a->occ)) < 0)
				return -1;
			size_t head = smap_get(&a->by_addr, e->addrs.v[j]);
			a->occ[a->nocc].ent = i;
			a->occ[a->nocc].next = head;
			if (smap_put(&a->by_addr, e->addrs.v[j], a->nocc) < 0)
				return -1;
			a->nocc++;
		}
	}
	for (size_t i = 0; i < a->named.n; i++)
		if (smap_put(&a->by_named, a->named.v[i], i) < 0)
			return -1;
	for (size_t i = 0; i < a->disabled_dns.n; i++) {
		size_t k = smap_get(&a->by_dn, a->disabled_dns.v[i]);
		if (k != SIZE_MAX)
			a->e[k].disabled = 1;
	}
	return 0;
}

static int
push_dst(struct rg_audit *a, size_t ent)
{
	if (grow((void **)&a->dst, &a->capdst, a->ndst + 1, sizeof(*a->dst)) < 0)
		return -1;
	a->dst[a->ndst++] = ent;
	return 0;
}

/* The enabled catch-all entries of DOMAIN, appended to dst; their count. */
static size_t
catchalls(struct rg_audit *a, const char *domain, int *oom)
{
	size_t n = 0;

	for (size_t i = 0; i < a->catchall_domains.n; i++) {
		if (strcmp(a->catchall_domains.v[i], domain) != 0)
			continue;
		size_t k = smap_get(&a->by_dn, a->catchall_dns.v[i]);
		if (k == SIZE_MAX || a->e[k].disabled)
			continue;
		if (push_dst(a, k) < 0) {
			*oom = 1;
			return n;
		}
		n++;
	}
	return n;
}

/* The entries that claim ADDR, appended to dst; their count. */
static size_t
claimants(struct rg_audit *a, const char *addr, int *oom)
{
	size_t n = 0;

	for (size_t o = smap_get(&a->by_addr, addr); o != SIZE_MAX; o = a->occ[o].next) {
		if (push_dst(a, a->occ[o].ent) < 0) {
			*oom = 1;
			return n;
		}
		n++;
	}
	return n;
}

static struct edge *
new_edge(struct rg_audit *a, size_t src)
{
	if (grow((void **)&a->edges, &a->capedges, a->nedges + 1, sizeof(*a->edges)) < 0)
		return NULL;
	struct edge *ed = &a->edges[a->nedges++];
	memset(ed, 0, sizeof(*ed));
	ed->src = src;
	ed->first = a->ndst;
	return ed;
}

/* The edges of alias I, with their edge problems. */
static int
alias_edges(struct rg_audit *a, size_t i)
{
	const struct rg_config *cf = a->cf;
	int oom = 0;

	for (size_t j = 0; j < a->e[i].fwd.n; j++) {
		const char *val = a->e[i].fwd.v[j];
		struct edge *ed = new_edge(a, i);
		struct rg_address ad;
		if (ed == NULL)
			return -1;
		if (rg_address_parse(val, cf->recipient_delimiter, &ad, NULL) != RG_ADDR_OK ||
		    !rg_config_domain_ours(cf, ad.domain)) {
			ed->external = 1;
			if ((ed->shown = lower_dup(val)) == NULL)
				return -1;
			continue;
		}
		if ((ed->shown = strdup(ad.full)) == NULL)
			return -1;
		const char *full[2], *local[2];
		int nc = rg_alias_candidates(&ad, full, local);
		for (int c = 0; c < nc && ed->n == 0; c++)
			ed->n = claimants(a, full[c], &oom);
		for (int c = 0; c < nc; c++)
			ed->named |= is_named(a, full[c]);
		if (ed->n == 0 && !ed->named && !oom)
			ed->n = catchalls(a, ad.domain, &oom);
		if (oom)
			return -1;
	}
	for (size_t j = 0; j < a->e[i].members.n; j++) {
		char *ndn = dn_norm(a->e[i].members.v[j]);
		struct edge *ed = new_edge(a, i);
		if (ndn == NULL || ed == NULL) {
			free(ndn);
			return -1;
		}
		size_t k = smap_get(&a->by_dn, ndn);
		free(ndn);
		if (k != SIZE_MAX) {
			if (push_dst(a, k) < 0)
				return -1;
			ed->n = 1;
			ed->shown = strdup(ent_name(&a->e[k]));
		} else {
			ed->shown = strdup(a->e[i].members.v[j]);
		}
		if (ed->shown == NULL)
			return -1;
	}
	return 0;
}

static int
edge_problems(struct rg_audit *a, struct edge *ed)
{
	if (ed->external || ed->named)
		return 0;
	if (ed->n == 0) {
		ed->problems |= 1u << RG_AP_DANGLING;
	} else {
		size_t live = 0;
		for (size_t d = ed->first; d < ed->first + ed->n; d++) {
			if (a->dst[d] == ed->src && !a->e[ed->src].keeps_copy)
				ed->problems |= 1u << RG_AP_SELF;
			if (!a->e[a->dst[d]].disabled)
				live++;
		}
		if (live == 0)
			ed->problems |= 1u << RG_AP_DISABLED;
	}
	for (int p = 0; p < RG_AP_COUNT; p++)
		if ((ed->problems & (1u << p)) && add_problem(a, (enum rg_alias_problem)p,
		    ent_name(&a->e[ed->src]), ed->shown, a->e[ed->src].dn, NULL) < 0)
			return -1;
	return 0;
}

/*
 * Does the graph walk from alias I follow D (an enabled alias, not I, and
 * not a mailbox that keeps a copy: mail that reaches it is delivered)?
 */
static int
follows(const struct rg_audit *a, size_t i, size_t d)
{
	return d != i && a->e[d].alias && !a->e[d].keeps_copy && !a->e[d].disabled;
}

/*
 * Tarjan's strongly connected components over the enabled aliases, without
 * recursion.  Components are numbered in the order they complete, so every
 * component's successors have smaller numbers.
 */
struct frame {
	size_t v, edge, d;      /* the node, its next edge, next destination in it */
};

static int
components(struct rg_audit *a, const size_t *estart, size_t *ncomp)
{
	size_t n = a->n, next = 0, sp = 0, fp = 0;
	size_t *idx = malloc(n * sizeof(*idx)), *low = malloc(n * sizeof(*low));
	size_t *stack = malloc(n * sizeof(*stack));
	struct frame *fr = malloc(n * sizeof(*fr));
	unsigned char *on = calloc(n, 1);
	int ret = -1;

	*ncomp = 0;
	if (n > 0 && (idx == NULL || low == NULL || stack == NULL || fr == NULL || on == NULL))
		goto out;
	for (size_t i = 0; i < n; i++) {
		idx[i] = SIZE_MAX;
		a->comp[i] = SIZE_MAX;
	}
	for (size_t root = 0; root < n; root++) {
		if (!a->e[root].alias || a->e[root].disabled || idx[root] != SIZE_MAX)
			continue;
		idx[root] = low[root] = next++;
		stack[sp++] = root;
		on[root] = 1;
		fr[fp++] = (struct frame){ root, estart[root], SIZE_MAX };
		while (fp > 0) {
			struct frame *f = &fr[fp - 1];
			size_t v = f->v, w = SIZE_MAX;
			/* the next destination of v that the walk follows */
			while (w == SIZE_MAX && f->edge < estart[v + 1]) {
				const struct edge *ed = &a->edges[f->edge];
				if (f->d == SIZE_MAX)
					f->d = ed->first;
				if (ed->external || f->d >= ed->first + ed->n) {
					f->edge++;
					f->d = SIZE_MAX;
					continue;
				}
				size_t d = a->dst[f->d++];
				if (follows(a, v, d))
					w = d;
			}
			if (w != SIZE_MAX) {
				if (idx[w] == SIZE_MAX) {
					idx[w] = low[w] = next++;
					stack[sp++] = w;
					on[w] = 1;
					fr[fp++] = (struct frame){ w, estart[w], SIZE_MAX };
				} else if (on[w] && idx[w] < low[v]) {
					low[v] = idx[w];
				}
				continue;
			}
			if (low[v] == idx[v]) {
				size_t c = (*ncomp)++, size = 0, x;
				do {
					x = stack[--sp];
					on[x] = 0;
					a->comp[x] = c;
					size++;
				} while (x != v);
				a->comp_size[c] = size;
			}
			fp--;
			if (fp > 0 && low[v] < low[fr[fp - 1].v])
				low[fr[fp - 1].v] = low[v];
		}
	}
	ret = 0;
out:
	free(idx);
	free(low);
	free(stack);
	free(fr);
	free(on);
	return ret;
}

/* loop: once per alias on a cycle, naming the smallest value that leads back to it. */
static int
loops(struct rg_audit *a)
{
	const char **closing = calloc(a->n ? a->n : 1, sizeof(*closing));

	if (closing == NULL)
		return -1;
	for (size_t k = 0; k < a->nedges; k++) {
		struct edge *ed = &a->edges[k];
		size_t c = a->comp[ed->src];
		if (ed->external || c == SIZE_MAX || a->comp_size[c] < 2)
			continue;
		for (size_t d = ed->first; d < ed->first + ed->n; d++) {
			size_t w = a->dst[d];
			if (!follows(a, ed->src, w) || a->comp[w] != c)
				continue;
			ed->problems |= 1u << RG_AP_LOOP;
			if (closing[w] == NULL || strcmp(ed->shown, closing[w]) < 0)
				closing[w] = ed->shown;
		}
	}
	int ret = 0;
	for (size_t i = 0; i < a->n && ret == 0; i++)
		if (closing[i] != NULL)
			ret = ent_problem(a, i, RG_AP_LOOP, closing[i]);
	free(closing);
	return ret;
}

/*
 * too-deep: the depth of a component is one more than the deepest of its
 * successors; components complete after their successors, so one pass in
 * completion order does.
 */
static int
depths(struct rg_audit *a, const size_t *estart, size_t ncomp)
{
	size_t *depth = calloc(ncomp ? ncomp : 1, sizeof(*depth));
	size_t *byc = malloc((a->n ? a->n : 1) * sizeof(*byc));
	size_t *cstart = calloc(ncomp + 1, sizeof(*cstart));
	size_t max = (size_t)a->cf->alias_max_depth;
	int ret = -1;

	if (depth == NULL || byc == NULL || cstart == NULL)
		goto out;
	/* the members of each component, grouped */
	for (size_t i = 0; i < a->n; i++)
		if (a->comp[i] != SIZE_MAX)
			cstart[a->comp[i] + 1]++;
	for (size_t c = 0; c < ncomp; c++)
		cstart[c + 1] += cstart[c];
	{
		size_t *fill = malloc((ncomp ? ncomp : 1) * sizeof(*fill));
		if (fill == NULL)
			goto out;
		memcpy(fill, cstart, ncomp * sizeof(*fill));
		for (size_t i = 0; i < a->n; i++)
			if (a->comp[i] != SIZE_MAX)
				byc[fill[a->comp[i]]++] = i;
		free(fill);
	}
	for (size_t c = 0; c < ncomp; c++) {
		size_t best = 0;
		for (size_t m = cstart[c]; m < cstart[c + 1]; m++) {
			size_t v = byc[m];
			for (size_t k = estart[v]; k < estart[v + 1]; k++) {
				const struct edge *ed = &a->edges[k];
				for (size_t d = ed->first; !ed->external && d < ed->first + ed->n; d++) {
					size_t w = a->dst[d];
					if (follows(a, v, w) && a->comp[w] != c && depth[a->comp[w]] > best)
						best = depth[a->comp[w]];
				}
			}
		}
		depth[c] = best + 1;
	}
	ret = 0;
	for (size_t i = 0; i < a->n && ret == 0; i++) {
		size_t c = a->comp[i];
		if (c == SIZE_MAX || a->comp_size[c] > 1 || depth[c] <= max)
			continue;
		/* follow the deepest chain down to the first target beyond the limit */
		size_t v = i;
		const char *target = NULL;
		for (size_t level = 1; level <= max; level++) {
			size_t want = depth[a->comp[v]] - 1, nextv = SIZE_MAX;
			const char *shown = NULL;
			for (size_t k = estart[v]; k < estart[v + 1]; k++) {
				const struct edge *ed = &a->edges[k];
				for (size_t d = ed->first; !ed->external && d < ed->first + ed->n; d++) {
					size_t w = a->dst[d];
					if (follows(a, v, w) && a->comp[w] != a->comp[v] &&
					    depth[a->comp[w]] == want &&
					    (shown == NULL || strcmp(ed->shown, shown) < 0)) {
						shown = ed->shown;
						nextv = w;
					}
				}
			}
			if (nextv == SIZE_MAX)
				break;
			target = shown;
			v = nextv;
		}
		ret = ent_problem(a, i, RG_AP_TOO_DEEP, target);
	}
out:
	free(depth);
	free(byc);
	free(cstart);
	return ret;
}

static int
duplicates(struct rg_audit *a)
{
	for (size_t s = 0; s < a->by_addr.cap; s++) {
		const char *addr = a->by_addr.k[s];
		if (addr == NULL)
			continue;
		size_t head = a->by_addr.v[s], count = 0, len = 0;
		for (size_t o = head; o != SIZE_MAX; o = a->occ[o].next) {
			count++;
			len += strlen(a->e[a->occ[o].ent].dn) + 2;
		}
		if (count < 2)
			continue;
		char **dns = malloc(count * sizeof(*dns));
		char *joined = malloc(len + 1);
		if (dns == NULL || joined == NULL) {
			free(dns);
			free(joined);
			return -1;
		}
		size_t k = 0;
		for (size_t o = head; o != SIZE_MAX; o = a->occ[o].next) {
			dns[k++] = a->e[a->occ[o].ent].dn;
			a->e[a->occ[o].ent].problems |= 1u << RG_AP_DUPLICATE;
		}
		qsort(dns, count, sizeof(*dns), cmp_str);
		joined[0] = '\0';
		for (k = 0; k < count; k++) {
			if (k > 0)
				strcat(joined, "; ");
			strcat(joined, dns[k]);
		}
		free(dns);
		if (add_problem(a, RG_AP_DUPLICATE, addr, NULL, joined, joined) < 0)
			return -1;
	}
	return 0;
}

int
rg_audit_run(struct rg_audit *a)
{
	size_t *estart = NULL, ncomp = 0;
	int ret = -1;

	if (a->ran)
		return 0;
	a->ran = 1;
	if (index_entries(a) < 0)
		return -1;
	/* the edges of every enabled alias, grouped by source */
	estart = malloc((a->n + 1) * sizeof(*estart));
	if (estart == NULL)
		return -1;
	for (size_t i = 0; i < a->n; i++) {
		struct ent *e = &a->e[i];
		estart[i] = a->nedges;
		if (!e->alias || e->disabled)
			continue;
		if (alias_edges(a, i) < 0)
			goto out;
		/* a group whose members name it needs no targets */
		if (e->own == RG_AP_NO_TARGETS && ent_named(a, i))
			continue;
		if (e->own != RG_AP_COUNT && ent_problem(a, i, e->own, NULL) < 0)
			goto out;
	}
	estart[a->n] = a->nedges;
	for (size_t k = 0; k < a->nedges; k++)
		if (edge_problems(a, &a->edges[k]) < 0)
			goto out;
	a->comp = malloc((a->n ? a->n : 1) * sizeof(*a->comp));
	a->comp_size = malloc((a->n ? a->n : 1) * sizeof(*a->comp_size));
	if (a->comp == NULL || a->comp_size == NULL)
		goto out;
	if (components(a, estart, &ncomp) < 0 || loops(a) < 0 || depths(a, estart, ncomp) < 0 ||
	    duplicates(a) < 0)
		goto out;

	/* sorted, each problem once */
	a->out = malloc((a->npr ? a->npr : 1) * sizeof(*a->out));
	if (a->out == NULL)
		goto out;
	size_t n = 0;
	for (size_t i = 0; i < a->npr; i++)
		a->out[i] = a->pr[i].p;
	qsort(a->out, a->npr, sizeof(*a->out), cmp_problem);
	for (size_t i = 0; i < a->npr; i++)
		if (n == 0 || cmp_problem(&a->out[n - 1], &a->out[i]) != 0)
			a->out[n++] = a->out[i];
	a->nout = n;        /* pr[] keeps every owned string until the end */
	ret = 0;
out:
	free(estart);
	return ret;
}

size_t
rg_audit_problems(const struct rg_audit *a, const struct rg_audit_problem **out)
{
	*out = a->out;
	return a->out != NULL ? a->nout : 0;
}

void
rg_audit_stats(const struct rg_audit *a, struct rg_audit_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->entries = a->n;
	for (size_t i = 0; i < a->n; i++) {
		st->aliases += a->e[i].alias;
		st->disabled += a->e[i].disabled;
	}
	st->edges = a->nedges;
	st->problems = a->out != NULL ? a->nout : 0;
}

/* --- Graphviz ------------------------------------------------------------------- */

static void
dot_id(FILE *f, const char *s)
{
	fputc('"', f);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			fputc('\\', f);
		if (*p < 0x20)
			fputc(' ', f);
		else
			fputc(*p, f);
	}
	fputc('"', f);
}

/* The names of the problems in BITS, ", "-joined, as a DOT string. */
static void
dot_label(FILE *f, unsigned bits)
{
	int first = 1;

	fputc('"', f);
	for (int p = 0; p < RG_AP_COUNT; p++) {
		if (bits & (1u << p)) {
			fprintf(f, "%s%s", first ? "" : ", ", rg_alias_problem_name(p));
			first = 0;
		}
	}
	fputc('"', f);
}

void
rg_audit_dot(const struct rg_audit *a, FILE *f)
{
	fprintf(f, "digraph rcptguard {\n");
	fprintf(f, "  rankdir=LR;\n");
	fprintf(f, "  node [shape=box, fontsize=10];\n");
	fprintf(f, "  edge [fontsize=9];\n");
	for (size_t i = 0; i < a->n; i++) {
		const struct ent *e = &a->e[i];
		if (!e->alias || e->disabled)
			continue;
		fprintf(f, "  ");
		dot_id(f, ent_name(e));
		if (e->problems != 0) {
			fprintf(f, " [style=\"rounded,dashed\", color=red, xlabel=");
			dot_label(f, e->problems);
			fprintf(f, "];\n");
		} else {
			fprintf(f, " [style=rounded];\n");
		}
	}
	for (size_t k = 0; k < a->nedges; k++) {
		const struct edge *ed = &a->edges[k];
		fprintf(f, "  ");
		dot_id(f, ent_name(&a->e[ed->src]));
		fprintf(f, " -> ");
		dot_id(f, ed->shown);
		if (ed->problems != 0) {
			fprintf(f, " [color=red, style=dashed, fontcolor=red, label=");
			dot_label(f, ed->problems);
			fprintf(f, "]");
		} else if (ed->external) {
			fprintf(f, " [color=gray]");
		}
		fprintf(f, ";\n");
	}
	fprintf(f, "}\n");
}

/* --- HTML --------------------------------------------------------------------------- */

#define CHAIN_NODES_MAX 60      /* a chain larger than this is shown as a table only */
#define CHAINS_MAX 500          /* chains drawn in one page, at most */

static void
html_text(FILE *f, const char *s)
{
	for (; s != NULL && *s; s++) {
		switch (*s) {
		case '&': fputs("&amp;", f); break;
		case '<': fputs("&lt;", f); break;
		case '>': fputs("&gt;", f); break;
		case '"': fputs("&quot;", f); break;
		case '\'': fputs("&#39;", f); break;
		default:
			if ((unsigned char)*s < 0x20)
				fputc(' ', f);
			else
				fputc(*s, f);
		}
	}
}

/* The edges by source: edges of entry I are by_src[start[I] .. start[I+1]). */
static int
edges_by_src(const struct rg_audit *a, size_t **startp, size_t **by_srcp)
{
	size_t *start = calloc(a->n + 1, sizeof(*start));
	size_t *by_src = malloc((a->nedges ? a->nedges : 1) * sizeof(*by_src));

	if (start == NULL || by_src == NULL) {
		free(start);
		free(by_src);
		return -1;
	}
	for (size_t k = 0; k < a->nedges; k++)
		start[a->edges[k].src + 1]++;
	for (size_t i = 0; i < a->n; i++)
		start[i + 1] += start[i];
	size_t *fill = calloc(a->n + 1, sizeof(*fill));
	if (fill == NULL) {
		free(start);
		free(by_src);
		return -1;
	}
	for (size_t k = 0; k < a->nedges; k++) {
		size_t src = a->edges[k].src;
		by_src[start[src] + fill[src]++] = k;
	}
	free(fill);
	*startp = start;
	*by_srcp = by_src;
	return 0;
}

/*
 * The chain of alias ROOT as a DOT digraph into F: every alias reachable
 * from it and their edges, styled as rg_audit_dot() does.  0, or -1 when
 * the chain has more than CHAIN_NODES_MAX aliases (nothing useful to draw).
 */
static int
chain_dot(const struct rg_audit *a, size_t root, const size_t *start, const size_t *by_src,
    FILE *f)
{
	size_t q[CHAIN_NODES_MAX], nq = 0;

	q[nq++] = root;
	for (size_t h = 0; h < nq; h++) {
		for (size_t j = start[q[h]]; j < start[q[h] + 1]; j++) {
			const struct edge *ed = &a->edges[by_src[j]];
			for (size_t d = ed->first; d < ed->first + ed->n; d++) {
				size_t t = a->dst[d], seen = 0;
				if (!a->e[t].alias || a->e[t].disabled)
					continue;
				for (size_t x = 0; x < nq && !seen; x++)
					seen = q[x] == t;
				if (!seen && nq == CHAIN_NODES_MAX)
					return -1;
				if (!seen)
					q[nq++] = t;
			}
		}
	}
	fprintf(f, "digraph chain {\n  rankdir=LR;\n  node [shape=box, fontsize=10];\n"
	    "  edge [fontsize=9];\n");
	for (size_t h = 0; h < nq; h++) {
		const struct ent *e = &a->e[q[h]];
		fprintf(f, "  ");
		dot_id(f, ent_name(e));
		fprintf(f, " [style=\"rounded%s%s\"%s", h == 0 ? ",bold" : "",
		    e->problems ? ",dashed" : "", e->problems ? ", color=red, xlabel=" : "");
		if (e->problems)
			dot_label(f, e->problems);
		fprintf(f, "];\n");
		for (size_t j = start[q[h]]; j < start[q[h] + 1]; j++) {
			const struct edge *ed = &a->edges[by_src[j]];
			fprintf(f, "  ");
			dot_id(f, ent_name(e));
			fprintf(f, " -> ");
			dot_id(f, ed->shown);
			if (ed->problems != 0) {
				fprintf(f, " [color=red, style=dashed, fontcolor=red, label=");
				dot_label(f, ed->problems);
				fprintf(f, "]");
			} else if (ed->external) {
				fprintf(f, " [color=gray]");
			}
			fprintf(f, ";\n");
		}
	}
	fprintf(f, "}\n");
	return 0;
}

static void svg_copy(const char *s, FILE *f);

/*
 * Run DOT -Tsvg on the text of IN and copy its <svg> element into F,
 * without the XML prologue and the namespace attributes (inline SVG in
 * HTML needs neither, and the page must name no other resource).  0, or
 * -1 when DOT could not be run or gave no SVG.
 */
static int
svg_of(const char *dot, FILE *in, FILE *f)
{
	int out[2];

	fflush(in);
	rewind(in);
	if (pipe(out) < 0)
		return -1;
	pid_t pid = fork();
	if (pid < 0) {
		close(out[0]);
		close(out[1]);
		return -1;
	}
	if (pid == 0) {
		dup2(fileno(in), 0);
		dup2(out[1], 1);
		close(out[0]);
		close(out[1]);
		execlp(dot, dot, "-Tsvg", (char *)NULL);
		_exit(127);
	}
	close(out[1]);
	char *svg = NULL;
	size_t len = 0;
	FILE *r = fdopen(out[0], "r");
	FILE *mem = open_memstream(&svg, &len);
	int c;
	while (r != NULL && mem != NULL && (c = fgetc(r)) != EOF)
		fputc(c, mem);
	if (r != NULL)
		fclose(r);
	else
		close(out[0]);
	if (mem != NULL)
		fclose(mem);
	int status = 0;
	waitpid(pid, &status, 0);
	char *s = svg != NULL ? strstr(svg, "<svg") : NULL;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || s == NULL) {
		free(svg);
		return -1;
	}
	svg_copy(s, f);
	free(svg);
	return 0;
}

/* Copy the <svg> element S into F, without its xmlns attributes. */
static void
svg_copy(const char *s, FILE *f)
{
	const char *end = strstr(s, "</svg>");
	const char *tag_end = strchr(s, '>');

	if (end == NULL || tag_end == NULL)
		return;
	end += 6;
	for (const char *p = s; p < end; p++) {
		if (p < tag_end && strncmp(p, " xmlns", 6) == 0) {
			const char *q = strchr(p, '"');
			q = q != NULL ? strchr(q + 1, '"') : NULL;
			if (q != NULL && q < tag_end) {
				p = q;
				continue;
			}
		}
		fputc(*p, f);
	}
	fputc('\n', f);
}

/* The entry a problem is about, or SIZE_MAX (duplicate-address, or none). */
static size_t
problem_entry(const struct rg_audit *a, const struct rg_audit_problem *p)
{
	if (strstr(p->dn, "; ") != NULL)
		return SIZE_MAX;
	char *ndn = dn_norm(p->dn);
	size_t k = ndn != NULL ? smap_get(&a->by_dn, ndn) : SIZE_MAX;
	free(ndn);
	return k != SIZE_MAX && a->e[k].alias ? k : SIZE_MAX;
}

static const char html_style[] =
    "body{font-family:sans-serif;margin:2em;color:#222;background:#fff}"
    "h1{font-size:1.6em}h2{border-bottom:2px solid #c33;padding-bottom:.2em;margin-top:1.6em}"
    "table{border-collapse:collapse;margin:.5em 0}"
    "th,td{border:1px solid #bbb;padding:.3em .6em;text-align:left;font-size:.9em}"
    "th{background:#eee}td.n{text-align:right}"
    ".kind{color:#c33;font-weight:bold}.chain{border:1px solid #ddd;margin:1em 0;padding:.5em}"
    ".chain svg{max-width:100%;height:auto}.note{color:#666}";

static void
html_head(FILE *f, const struct rg_audit *a, size_t n)
{
	struct rg_audit_stats st;

	rg_audit_stats(a, &st);
	fprintf(f, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
	    "<title>rcptguard-audit: %zu problem%s</title>\n<style>%s</style>\n</head>\n<body>\n",
	    n, n == 1 ? "" : "s", html_style);
	fprintf(f, "<h1>rcptguard-audit: %zu alias problem%s</h1>\n", n, n == 1 ? "" : "s");
	fprintf(f, "<p>Base <code>");
	html_text(f, a->cf->ldap_base);
	fprintf(f, "</code>: %zu entries, %zu aliases, %zu disabled, %zu targets.</p>\n",
	    st.entries, st.aliases, st.disabled, st.edges);
}

/* The count of each kind, linked to its table. */
static void
html_summary(FILE *f, const struct rg_audit_problem *p, size_t n)
{
	fprintf(f, "<h2>Problems by kind</h2>\n<table>\n<tr><th>problem</th><th>count</th></tr>\n");
	for (size_t i = 0; i < n;) {
		size_t k = i;
		while (k < n && strcmp(p[k].problem, p[i].problem) == 0)
			k++;
		fprintf(f, "<tr><td><a href=\"#%s\" class=\"kind\">%s</a></td><td class=\"n\">%zu"
		    "</td></tr>\n", p[i].problem, p[i].problem, k - i);
		i = k;
	}
	fprintf(f, "</table>\n");
	if (n == 0)
		fprintf(f, "<p>No problem found.</p>\n");
}

/* A table per kind; an alias with a chain drawn links to it. */
static void
html_tables(FILE *f, const struct rg_audit *a, const struct rg_audit_problem *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (i == 0 || strcmp(p[i].problem, p[i - 1].problem) != 0)
			fprintf(f, "<h2 id=\"%s\">%s</h2>\n<table>\n<tr><th>alias</th><th>target</th>"
			    "<th>DN</th></tr>\n", p[i].problem, p[i].problem);
		size_t k = problem_entry(a, &p[i]);
		fprintf(f, "<tr><td>");
		if (k != SIZE_MAX)
			fprintf(f, "<a href=\"#chain-%zu\">", k);
		html_text(f, p[i].alias);
		fprintf(f, "%s</td><td>", k != SIZE_MAX ? "</a>" : "");
		html_text(f, p[i].target != NULL ? p[i].target : "-");
		fprintf(f, "</td><td>");
		html_text(f, p[i].dn);
		fprintf(f, "</td></tr>\n");
		if (i + 1 == n || strcmp(p[i].problem, p[i + 1].problem) != 0)
			fprintf(f, "</table>\n");
	}
}

/* One chain: its DOT through DOT (NULL or failing: a note instead).
 * Returns 0, or -1 when DOT could not be run (not to be tried again). */
static int
html_chain(FILE *f, const struct rg_audit *a, size_t k, const size_t *start,
    const size_t *by_src, const char *dot)
{
	int ret = 0;

	fprintf(f, "<div class=\"chain\" id=\"chain-%zu\">\n<h3>", k);
	html_text(f, ent_name(&a->e[k]));
	fprintf(f, "</h3>\n");
	FILE *tmp = dot != NULL ? tmpfile() : NULL;
	if (tmp != NULL && chain_dot(a, k, start, by_src, tmp) < 0)
		fprintf(f, "<p class=\"note\">A chain of more than %d aliases: see the tables.</p>\n",
		    CHAIN_NODES_MAX);
	else if (tmp != NULL && svg_of(dot, tmp, f) < 0)
		ret = -1;
	if (tmp != NULL)
		fclose(tmp);
	if (dot == NULL || ret < 0)
		fprintf(f, "<p class=\"note\">Graphviz (dot) is not installed: the tables only.</p>\n");
	fprintf(f, "</div>\n");
	return ret;
}

int
rg_audit_html(const struct rg_audit *a, FILE *f, const char *dot)
{
	const struct rg_audit_problem *p;
	size_t n = rg_audit_problems(a, &p), *start, *by_src, nchains = 0;
	unsigned char *drawn = calloc(a->n ? a->n : 1, 1);

	if (drawn == NULL || edges_by_src(a, &start, &by_src) < 0) {
		free(drawn);
		return -1;
	}
	html_head(f, a, n);
	html_summary(f, p, n);
	html_tables(f, a, p, n);
	if (n > 0)
		fprintf(f, "<h2 id=\"chains\">Chains of the broken aliases</h2>\n");
	for (size_t i = 0; i < n && nchains < CHAINS_MAX; i++) {
		size_t k = problem_entry(a, &p[i]);
		if (k == SIZE_MAX || drawn[k])
			continue;
		drawn[k] = 1;
		nchains++;
		if (html_chain(f, a, k, start, by_src, dot) < 0)
			dot = NULL;
	}
	fprintf(f, "</body>\n</html>\n");
	free(drawn);
	free(start);
	free(by_src);
	return ferror(f) ? -1 : 0;
}

void
rg_audit_free(struct rg_audit *a)
{
	if (a == NULL)
		return;
	for (size_t i = 0; i < a->n; i++)
		ent_free(&a->e[i]);
	free(a->e);
	strv_free(&a->disabled_dns);
	strv_free(&a->catchall_domains);
	strv_free(&a->catchall_dns);
	strv_free(&a->named);
	smap_free(&a->by_named);
	smap_free(&a->by_dn);
	smap_free(&a->by_addr);
	free(a->occ);
	for (size_t k = 0; k < a->nedges; k++)
		free(a->edges[k].shown);
	free(a->edges);
	free(a->dst);
	free(a->comp);
	free(a->comp_size);
	for (size_t i = 0; i < a->npr; i++)
		free(a->pr[i].own);
	free(a->out);
	free(a->pr);
	free(a);
}
