/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * rg_mirror.c - the directory in memory (rg_mirror.h).
 *
 * What is held: every entry under LDAPBase that the walk filter of
 * LDAPFilter picks (rg_filter: each assertion holding %s, %u or %d turned
 * into a presence test), or that has a value of LDAPAddressAttributes,
 * LDAPAliasAttributes or LDAPMemberAttributes, or an objectClass of
 * LDAPAliasClasses: the entries an address can find, the aliases and the
 * members they reach by DN.  Of each entry, its DN, its entryUUID and the
 * values of the attributes LDAPFilter, LDAPDisabledFilter and the alias
 * model read (and LDAPMovedToAttribute, so that a disabled entry found here
 * names where its person went as the server would), packed in one block
 * (the attribute as a one-byte number).  The entries LDAPCatchAllFilter
 * picks are held too, and the values of LDAPMemberOfAttributes.
 * Four hash tables lead to entries: the values of the equality assertions
 * of LDAPFilter that hold a placeholder (lower case), those of
 * LDAPCatchAllFilter that can be a catch-all's (the text around its %d),
 * the normalised DN, and the entryUUID.  A lookup takes the candidates a
 * key finds and evaluates the filter and LDAPDisabledFilter on them in
 * memory, so the answer is the server's.  A fifth table counts, for each
 * group address, the living entries (in the walk form of LDAPFilter, not
 * disabled) that name it, kept as entries come, change and go: a group
 * of 50,000 members is one lookup, as it is one existence search on the
 * server.
 *
 * How it is kept: a thread opens an RFC 4533 refreshAndPersist session.
 * Its refresh phase (no cookie: every entry) is loaded into a new set that
 * replaces the old one whole when the phase ends; from then on each add,
 * modify, rename and delete is applied as it comes, under the write lock.
 * A session lost is opened again (with a fresh refresh), the old set
 * answering meanwhile with the trust rg_mirror_trust() gives it.  A server
 * without RFC 4533 (or refusing the whole refresh, a size limit) gets a
 * paged walk every MirrorRefresh seconds instead.
 *
 * One read-write lock (writers first, so a burst of RCPTs cannot hold a
 * change back) guards the set; a reader holds it for one lookup and copies
 * what it returns.
 */
#include "rg_mirror.h"
#include "rg_alias.h"
#include "rg_clock.h"
#include "rg_filter.h"
#include "rg_log.h"
#include "rg_metrics.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#define PAGE_SIZE 1000
#define PAGE_TIMEOUT_MIN 10.0
#define ATTR_MAX 255                    /* attribute descriptions in one set */
#define CAND_MAX 64                     /* candidates a lookup evaluates */
#define RETRY_MAX 30.0                  /* seconds between session attempts, at most */
#define ON_CHANGE_MIN 5.0               /* seconds between ON_LOAD calls for changes */
#define CA_KEYS_MAX 8                   /* catch-all keys whose shape is known */
#define PREFER_PROBE 5.0                /* seconds between looks for an earlier LDAPURI
					 * server while the session is on a later one */

/* One entry, packed: DN NUL, then per value an attribute number and the value NUL. */
struct ment {
	unsigned char uuid[16];
	uint32_t nvals;
	uint32_t size;
	char data[];
};

/* An open-addressing table of (32-bit hash, entry number) pairs. */
struct table {
	uint64_t *slot;                 /* 0 empty, TOMB deleted */
	size_t cap, used, tomb;         /* cap a power of two */
};
#define TOMB UINT64_MAX

/* How many living members name each group address (LDAPMemberOfAttributes):
 * open addressing on the lower-case address, which the table owns.  A count
 * that falls to 0 keeps its row, for the next member. */
struct gslot {
	uint32_t hash;
	uint32_t count;
	char *key;                      /* NULL: empty */
};
struct groups {
	struct gslot *slot;
	size_t cap, used;               /* cap a power of two */
};

/* One loaded set. */
struct set {
	struct ment **ents;             /* by number; 0 unused, NULL free */
	uint32_t nents, cap;
	uint32_t *freed;                /* numbers to reuse */
	size_t nfreed, freedcap;
	size_t live;                    /* entries held */
	size_t bytes;                   /* in the entries */
	struct table keys, dns, uuids;
	struct table cakeys;            /* LDAPCatchAllFilter's keys */
	struct groups groups;
	char *attr[ATTR_MAX];           /* attribute descriptions by number */
	int nattr;
	int16_t fpos[ATTR_MAX];         /* position in LDAPFilter's attributes, -1 */
	int16_t dpos[ATTR_MAX];         /* position in LDAPDisabledFilter's, -1 */
	int16_t spos[ATTR_MAX];         /* in the member scope's, -1 */
	int16_t cpos[ATTR_MAX];         /* in LDAPCatchAllFilter's, -1 */
	unsigned char mof[ATTR_MAX];    /* one of LDAPMemberOfAttributes */
	unsigned char want[ATTR_MAX];   /* returned by lookups */
};

struct rg_mirror {
	struct rg_config *cf;           /* held: the mirror may outlive its directory */
	int holds;                      /* rg_mirror_hold() calls not yet freed */
	struct rg_filter *f, *dis;      /* dis NULL without LDAPDisabledFilter */
	struct rg_filter *scope;        /* the entries that may name a group
					 * (cf->member_scope), NULL without
					 * LDAPMemberOfAttributes */
	struct rg_filter *ca;           /* LDAPCatchAllFilter, NULL when there is
					 * none or the mirror cannot answer it */
	struct {                        /* what a value of its keys looks like: */
		char pre[64], suf[64];  /* the text around %d (lower case) */
		int any;                /* unknown: every value is indexed */
	} ca_shape[CA_KEYS_MAX];
	char **fetch;                   /* the attributes loaded */
	size_t nfetch;
	size_t nwant;                   /* the first nwant of fetch are returned */
	char *walk;                     /* the filter of the load */
	pthread_rwlock_t lock;          /* guards set (pointer and contents) */
	struct set *set;
	pthread_mutex_t mu;             /* guards what follows */
	pthread_cond_t cv;
	int stop, started;
	int sync;                       /* the server follows RFC 4533 */
	int live;                       /* a session is in step */
	int load_failed;                /* the last walk failed */
	double lost_at, loaded_at;
	LDAP *sync_ld;                  /* the session's handle, to shut down */
	int which;                      /* the session's server: its place in LDAPURI */
	pthread_t thread;
	pthread_mutex_t cb_mu;          /* guards on_load and its argument, and is
					 * held while the callback runs */
	rg_mirror_loaded_fn on_load;
	void *on_load_arg;
	struct set *building;           /* the sync thread's set being refreshed */
	int changed;                    /* changes applied since ON_LOAD last ran */
	double on_load_at;
	double t0;
	int said_ready;
};

/* ---- hashing and the tables ---- */

static uint32_t
hash_lower(const char *s, size_t len)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)tolower((unsigned char)s[i]);
		h *= 16777619u;
	}
	return h;
}

static int
table_grow(struct table *t)
{
	size_t cap = t->cap ? t->cap : 1024;

	while ((t->used - t->tomb + 1) * 10 > cap * 5)
		cap *= 2;
	uint64_t *ns = calloc(cap, sizeof(*ns));
	if (ns == NULL)
		return -1;
	for (size_t i = 0; i < t->cap; i++) {
		uint64_t v = t->slot[i];
		if (v == 0 || v == TOMB)
			continue;
		size_t j = (size_t)(v >> 32) & (cap - 1);
		while (ns[j] != 0)
			j = (j + 1) & (cap - 1);
		ns[j] = v;
	}
	free(t->slot);
	t->slot = ns;
	t->used -= t->tomb;
	t->tomb = 0;
	t->cap = cap;
	return 0;
}

static int
table_add(struct table *t, uint32_t h, uint32_t id)
{
	if ((t->used + 1) * 10 > t->cap * 7 && table_grow(t) < 0)
		return -1;
	size_t j = h & (t->cap - 1);
	while (t->slot[j] != 0 && t->slot[j] != TOMB)
		j = (j + 1) & (t->cap - 1);
	if (t->slot[j] == TOMB)
		t->tomb--;
	else
		t->used++;
	t->slot[j] = (uint64_t)h << 32 | id;
	return 0;
}

static void
table_del(struct table *t, uint32_t h, uint32_t id)
{
	uint64_t want = (uint64_t)h << 32 | id;

	if (t->cap == 0)
		return;
	for (size_t j = h & (t->cap - 1); t->slot[j] != 0; j = (j + 1) & (t->cap - 1)) {
		if (t->slot[j] == want) {
			t->slot[j] = TOMB;
			t->tomb++;
			return;
		}
	}
}

/* The entry numbers under hash H, into IDS (at most MAX, each once); how many. */
static size_t
table_get(const struct table *t, uint32_t h, uint32_t *ids, size_t n, size_t max)
{
	if (t->cap == 0)
		return n;
	for (size_t j = h & (t->cap - 1); t->slot[j] != 0; j = (j + 1) & (t->cap - 1)) {
		uint64_t v = t->slot[j];
		if (v == TOMB || (uint32_t)(v >> 32) != h)
			continue;
		uint32_t id = (uint32_t)v;
		size_t k = 0;
		while (k < n && ids[k] != id)
			k++;
		if (k == n && n < max)
			ids[n++] = id;
	}
	return n;
}

/* The row of KEY (LEN bytes, hash H) in G, or its empty slot; NULL when G is empty. */
static struct gslot *
groups_slot(const struct groups *g, uint32_t h, const char *key, size_t len)
{
	if (g->cap == 0)
		return NULL;
	for (size_t j = h & (g->cap - 1);; j = (j + 1) & (g->cap - 1)) {
		struct gslot *x = &g->slot[j];
		if (x->key == NULL || (x->hash == h && strncasecmp(x->key, key, len) == 0 &&
		    x->key[len] == '\0'))
			return x;
	}
}

/* Count one living member more (DELTA 1) or less (-1) for group KEY. */
static int
groups_add(struct groups *g, const char *key, int delta)
{
	size_t len = strlen(key);
	uint32_t h = hash_lower(key, len);

	if (delta > 0 && (g->used + 1) * 10 > g->cap * 7) {
		size_t cap = g->cap ? 2 * g->cap : 256;
		struct gslot *ns = calloc(cap, sizeof(*ns));
		if (ns == NULL)
			return -1;
		for (size_t i = 0; i < g->cap; i++) {
			if (g->slot[i].key == NULL)
				continue;
			size_t j = g->slot[i].hash & (cap - 1);
			while (ns[j].key != NULL)
				j = (j + 1) & (cap - 1);
			ns[j] = g->slot[i];
		}
		free(g->slot);
		g->slot = ns;
		g->cap = cap;
	}
	struct gslot *x = groups_slot(g, h, key, len);
	if (x == NULL || x->key == NULL) {
		if (delta < 0)
			return 0;       /* never counted (out of memory then) */
		if ((x->key = strdup(key)) == NULL)
			return -1;
		for (char *c = x->key; *c != '\0'; c++)
			*c = (char)tolower((unsigned char)*c);
		x->hash = h;
		x->count = 0;
		g->used++;
	}
	if (delta > 0)
		x->count++;
	else if (x->count > 0)
		x->count--;
	return 0;
}

static void
groups_free(struct groups *g)
{
	for (size_t i = 0; i < g->cap; i++)
		free(g->slot[i].key);
	free(g->slot);
}

/* ---- one set ---- */

static void
set_free(struct set *s)
{
	if (s == NULL)
		return;
	for (uint32_t i = 1; s->ents != NULL && i < s->nents; i++)
		free(s->ents[i]);
	free(s->ents);
	free(s->freed);
	free(s->keys.slot);
	free(s->dns.slot);
	free(s->uuids.slot);
	free(s->cakeys.slot);
	groups_free(&s->groups);
	for (int i = 0; i < s->nattr; i++)
		free(s->attr[i]);
	free(s);
}

static struct set *
set_new(void)
{
	struct set *s = calloc(1, sizeof(*s));

	if (s != NULL)
		s->nents = 1;           /* number 0 is never an entry */
	return s;
}

/* Position of ATTR (options ignored) in the NULL-terminated LIST, or -1. */
static int
attr_pos(const char *attr, char *const *list)
{
	size_t len = strcspn(attr, ";");

	for (int i = 0; list != NULL && list[i] != NULL; i++)
		if (strlen(list[i]) == len && strncasecmp(list[i], attr, len) == 0)
			return i;
	return -1;
}

/* The number of attribute description A in S, added when new; -1 when full. */
static int
set_attr(struct rg_mirror *m, struct set *s, const char *a)
{
	for (int i = 0; i < s->nattr; i++)
		if (strcasecmp(s->attr[i], a) == 0)
			return i;
	if (s->nattr == ATTR_MAX || (s->attr[s->nattr] = strdup(a)) == NULL)
		return -1;
	int i = s->nattr++;
	s->fpos[i] = (int16_t)attr_pos(a, rg_filter_attrs(m->f, NULL));
	s->dpos[i] = (int16_t)(m->dis ? attr_pos(a, rg_filter_attrs(m->dis, NULL)) : -1);
	s->spos[i] = (int16_t)(m->scope ? attr_pos(a, rg_filter_attrs(m->scope, NULL)) : -1);
	s->cpos[i] = (int16_t)(m->ca ? attr_pos(a, rg_filter_attrs(m->ca, NULL)) : -1);
	s->mof[i] = attr_pos(a, m->cf->member_of_attrs.v) >= 0;
	int w = attr_pos(a, m->fetch);
	s->want[i] = w >= 0 && (size_t)w < m->nwant;
	return i;
}

static const char *
ment_dn(const struct ment *e)
{
	return e->data;
}

/* Walk the values of E: *P starts at 0; 1 with *ATTR and *VAL, 0 at the end. */
static int
ment_next(const struct ment *e, size_t *p, int *attr, const char **val)
{
	if (*p == 0)
		*p = strlen(e->data) + 1;
	if (*p >= e->size)
		return 0;
	*attr = (unsigned char)e->data[*p];
	*val = e->data + *p + 1;
	*p += 2 + strlen(*val);
	return 1;
}

static uint32_t
dn_hash(const char *dn, int *ok)
{
	size_t len = strlen(dn) + 1;
	char small[512], *n = len <= sizeof(small) ? small : malloc(len);
	uint32_t h = 0;

	*ok = n != NULL && rg_alias_dn_norm(dn, n, len) == 0;
	if (*ok)
		h = hash_lower(n, strlen(n));
	if (n != small)
		free(n);
	return h;
}

static int match(const struct rg_filter *f, const int16_t *posmap, const struct ment *e,
    const char *local, const char *domain);
static int disabled(const struct rg_mirror *m, const struct set *s, const struct ment *e);

/* The text around %d in each key of the catch-all filter, so that only the
 * values that can be a catch-all's are indexed under it. */
static void
ca_shapes(struct rg_mirror *m)
{
	char x[RG_FILTER_MAX];

	for (size_t k = 0; k < CA_KEYS_MAX; k++) {
		m->ca_shape[k].any = 1;
		if (k >= rg_filter_nkeys(m->ca) ||
		    rg_filter_key_value(m->ca, k, "", "\001", x, sizeof(x)) < 0)
			continue;
		char *d = strchr(x, '\001');
		if (d == NULL || strchr(d + 1, '\001') != NULL ||
		    (size_t)(d - x) >= sizeof(m->ca_shape[k].pre) ||
		    strlen(d + 1) >= sizeof(m->ca_shape[k].suf))
			continue;
		*d = '\0';
		strcpy(m->ca_shape[k].pre, x);
		strcpy(m->ca_shape[k].suf, d + 1);
		m->ca_shape[k].any = 0;
	}
}

/* Can V be the value of catch-all key K for some domain? */
static int
ca_fits(const struct rg_mirror *m, size_t k, const char *v)
{
	if (k >= CA_KEYS_MAX || m->ca_shape[k].any)
		return 1;
	size_t pl = strlen(m->ca_shape[k].pre), sl = strlen(m->ca_shape[k].suf), vl = strlen(v);
	return vl > pl + sl && strncasecmp(v, m->ca_shape[k].pre, pl) == 0 &&
	    strcasecmp(v + vl - sl, m->ca_shape[k].suf) == 0;
}

/* Add or remove (DEL) in T the rows of entry ID of E under the keys of
 * filter F (attribute map POSMAP): each value of an attribute that an
 * equality assertion of F holding a placeholder tests; for the catch-all
 * filter (M non-NULL), only the values that fit its keys' shape. */
static int
index_keys(const struct rg_mirror *m, struct table *t, const struct rg_filter *f,
    const int16_t *posmap, const struct ment *e, uint32_t id, int del)
{
	int bad = 0;

	for (size_t k = 0; k < rg_filter_nkeys(f); k++) {
		size_t pos;
		rg_filter_key_attr(f, k, &pos);
		size_t p = 0;
		int a;
		const char *v;
		while (ment_next(e, &p, &a, &v)) {
			if (posmap[a] != (int16_t)pos || (m != NULL && !ca_fits(m, k, v)))
				continue;
			uint32_t h = hash_lower(v, strlen(v));
			bad |= del ? (table_del(t, h, id), 0) : table_add(t, h, id);
		}
	}
	return bad;
}

/* Count E in (DEL: out of) the groups it names, when it is a living member:
 * in the member scope and not disabled. */
static int
index_groups(struct rg_mirror *m, struct set *s, const struct ment *e, int del)
{
	size_t p = 0;
	int a, bad = 0, named = 0;
	const char *v;

	while (!named && ment_next(e, &p, &a, &v))
		named = s->mof[a];
	if (!named || m->scope == NULL)
		return 0;
	int in = match(m->scope, s->spos, e, NULL, NULL);
	int dis = in > 0 ? disabled(m, s, e) : 0;
	if (in < 0 || dis < 0)
		return -1;
	if (!in || dis)
		return 0;
	for (p = 0; ment_next(e, &p, &a, &v);)
		if (s->mof[a])
			bad |= groups_add(&s->groups, v, del ? -1 : 1);
	return bad;
}

/* Add or remove (DEL) the table rows of entry ID. */
static int
set_index(struct rg_mirror *m, struct set *s, uint32_t id, int del)
{
	const struct ment *e = s->ents[id];
	int ok, bad = 0;
	uint32_t h = dn_hash(ment_dn(e), &ok);
	static const unsigned char zero[16];

	if (ok)
		bad |= del ? (table_del(&s->dns, h, id), 0) : table_add(&s->dns, h, id);
	if (memcmp(e->uuid, zero, 16) != 0) {
		h = hash_lower((const char *)e->uuid, 16);
		bad |= del ? (table_del(&s->uuids, h, id), 0) : table_add(&s->uuids, h, id);
	}
	bad |= index_keys(NULL, &s->keys, m->f, s->fpos, e, id, del);
	if (m->ca != NULL)
		bad |= index_keys(m, &s->cakeys, m->ca, s->cpos, e, id, del);
	bad |= index_groups(m, s, e, del);
	return bad ? -1 : 0;
}

/* The number of the entry with UUID in S, or 0. */
static uint32_t
set_by_uuid(const struct set *s, const unsigned char *uuid)
{
	uint32_t ids[CAND_MAX];
	size_t n = table_get(&s->uuids, hash_lower((const char *)uuid, 16), ids, 0, CAND_MAX);

	for (size_t i = 0; i < n; i++)
		if (s->ents[ids[i]] != NULL && memcmp(s->ents[ids[i]]->uuid, uuid, 16) == 0)
			return ids[i];
	return 0;
}

static void
set_remove(struct rg_mirror *m, struct set *s, uint32_t id)
{
	struct ment *e = s->ents[id];

	set_index(m, s, id, 1);
	s->bytes -= sizeof(*e) + e->size;
	s->live--;
	free(e);
	s->ents[id] = NULL;
	if (s->nfreed == s->freedcap) {
		size_t cap = s->freedcap ? 2 * s->freedcap : 64;
		uint32_t *v = realloc(s->freed, cap * sizeof(*v));
		if (v == NULL)
			return;         /* the number is not reused: no harm */
		s->freed = v;
		s->freedcap = cap;
	}
	s->freed[s->nfreed++] = id;
}

/* A free entry number in S; 0 when out of memory. */
static uint32_t
set_slot(struct set *s)
{
	if (s->nfreed > 0)
		return s->freed[--s->nfreed];
	if (s->nents >= s->cap) {
		uint32_t cap = s->cap ? 2 * s->cap : 1024;
		struct ment **v = realloc(s->ents, cap * sizeof(*v));
		if (v == NULL)
			return 0;
		s->ents = v;
		s->cap = cap;
	}
	s->ents[s->nents] = NULL;
	return s->nents++;
}

/*
 * Put the entry E (with UUID, or NULL) into S, replacing the one with the
 * same UUID.  Only the values of the attributes loaded are kept.
 */
static int
set_put(struct rg_mirror *m, struct set *s, const struct rg_ldap_entry *e,
    const unsigned char *uuid)
{
	size_t size = strlen(e->dn) + 1;
	int ids[e->nvals ? e->nvals : 1];

	for (size_t i = 0; i < e->nvals; i++) {
		ids[i] = attr_pos(e->vals[i].attr, m->fetch) < 0 ? -1 : set_attr(m, s, e->vals[i].attr);
		if (ids[i] >= 0)
			size += strlen(e->vals[i].value) + 2;
	}
	struct ment *x = malloc(sizeof(*x) + size);
	if (x == NULL)
		return -1;
	memset(x->uuid, 0, 16);
	if (uuid != NULL)
		memcpy(x->uuid, uuid, 16);
	x->size = (uint32_t)size;
	x->nvals = 0;
	char *p = stpcpy(x->data, e->dn) + 1;
	for (size_t i = 0; i < e->nvals; i++) {
		if (ids[i] < 0)
			continue;
		*p++ = (char)ids[i];
		p = stpcpy(p, e->vals[i].value) + 1;
		x->nvals++;
	}
	uint32_t old = uuid != NULL ? set_by_uuid(s, uuid) : 0;
	if (old != 0)
		set_remove(m, s, old);
	uint32_t id = set_slot(s);
	if (id == 0) {
		free(x);
		return -1;
	}
	s->ents[id] = x;
	s->live++;
	s->bytes += sizeof(*x) + size;
	return set_index(m, s, id, 0);
}

static size_t
set_mib(const struct set *s)
{
	size_t b = s->bytes + s->cap * sizeof(*s->ents) +
	    (s->keys.cap + s->dns.cap + s->uuids.cap + s->cakeys.cap) * sizeof(uint64_t) +
	    s->groups.cap * sizeof(*s->groups.slot);

	return (b + (1 << 19)) >> 20;
}

/* ---- evaluating filters on an entry ---- */

/* The values of one entry by position in one filter's attributes. */
struct view {
	const char **ptr;
	size_t *start;                  /* npos + 1 */
	const char *ptr_small[32];
	size_t start_small[33];
};

static const char *const *
view_values(const void *arg, size_t pos, size_t *n)
{
	const struct view *v = arg;

	*n = v->start[pos + 1] - v->start[pos];
	return *n ? &v->ptr[v->start[pos]] : NULL;
}

/* Fill V for E under the map POSMAP of a filter of NPOS attributes. */
static int
view_fill(struct view *v, const struct ment *e, const int16_t *posmap, size_t npos)
{
	v->ptr = e->nvals <= 32 ? v->ptr_small : malloc(e->nvals * sizeof(*v->ptr));
	v->start = npos < 33 ? v->start_small : calloc(npos + 1, sizeof(*v->start));
	if (v->ptr == NULL || v->start == NULL)
		return -1;
	memset(v->start, 0, (npos + 1) * sizeof(*v->start));
	size_t p = 0, k = 0;
	int a;
	const char *val;
	for (size_t pos = 0; pos < npos; pos++) {
		v->start[pos] = k;
		p = 0;
		while (ment_next(e, &p, &a, &val))
			if (posmap[a] == (int16_t)pos)
				v->ptr[k++] = val;
	}
	v->start[npos] = k;
	return 0;
}

static void
view_free(struct view *v)
{
	if (v->ptr != v->ptr_small)
		free(v->ptr);
	if (v->start != v->start_small)
		free(v->start);
}

/* Does filter F (attribute map POSMAP) match E for LOCAL@DOMAIN?  -1: no memory. */
static int
match(const struct rg_filter *f, const int16_t *posmap, const struct ment *e,
    const char *local, const char *domain)
{
	struct view v;
	size_t npos;

	rg_filter_attrs(f, &npos);
	if (view_fill(&v, e, posmap, npos) < 0) {
		view_free(&v);
		return -1;
	}
	int r = rg_filter_match(f, local, domain, view_values, &v);
	view_free(&v);
	return r;
}

/* Is E picked by LDAPDisabledFilter?  -1: no memory. */
static int
disabled(const struct rg_mirror *m, const struct set *s, const struct ment *e)
{
	return m->dis == NULL ? 0 : match(m->dis, s->dpos, e, NULL, NULL);
}

/* ---- lookups ---- */

static void
entry_release(struct rg_ldap_entry *x)
{
	free(x->dn);
	for (size_t i = 0; i < x->nvals; i++) {
		free(x->vals[i].attr);
		free(x->vals[i].value);
	}
	free(x->vals);
}

/* Copy E's returned values into OUT (freed by rg_ldap_result_free()). */
static int
copy_entry(const struct set *s, const struct ment *e, struct rg_ldap_entry *out)
{
	size_t p = 0;
	int a;
	const char *v;

	memset(out, 0, sizeof(*out));
	if ((out->dn = strdup(ment_dn(e))) == NULL ||
	    (out->vals = calloc(e->nvals ? e->nvals : 1, sizeof(*out->vals))) == NULL)
		return -1;
	while (ment_next(e, &p, &a, &v)) {
		if (!s->want[a])
			continue;
		struct rg_ldap_value *x = &out->vals[out->nvals];
		x->attr = strdup(s->attr[a]);
		x->value = strdup(v);
		if (x->attr == NULL || x->value == NULL) {
			free(x->attr);
			free(x->value);
			return -1;
		}
		out->nvals++;
	}
	return 0;
}

/* Copy the entries IDS of S into RES (NULL: nothing to copy). */
static enum rg_found
copy_result(const struct set *s, const uint32_t *ids, size_t n, struct rg_ldap_result *res,
    char *err, size_t errlen)
{
	if (res == NULL)
		return n > 0 ? RG_FOUND : RG_NOTFOUND;
	memset(res, 0, sizeof(*res));
	if (n == 0)
		return RG_NOTFOUND;
	res->entries = calloc(n, sizeof(*res->entries));
	if (res->entries == NULL)
		goto nomem;
	for (size_t i = 0; i < n; i++) {
		res->nentries++;
		if (copy_entry(s, s->ents[ids[i]], &res->entries[i]) < 0)
			goto nomem;
	}
	return RG_FOUND;
nomem:
	snprintf(err, errlen, "out of memory");
	return RG_LOOKUP_FAIL;
}

/* Keep the candidates IDS that are (DISABLED: not) picked by LDAPDisabledFilter
 * and, unless F is NULL, by F (attribute map POSMAP) for LOCAL@DOMAIN; how
 * many, or -1. */
static long
keep_matching(const struct rg_mirror *m, const struct set *s, uint32_t *ids, size_t n,
    const struct rg_filter *f, const int16_t *posmap, const char *local, const char *domain,
    int want_disabled)
{
	size_t k = 0;

	for (size_t i = 0; i < n; i++) {
		const struct ment *e = s->ents[ids[i]];
		if (e == NULL)
			continue;
		int ok = f != NULL ? match(f, posmap, e, local, domain) : 1;
		int dis = ok > 0 ? disabled(m, s, e) : 0;
		if (ok < 0 || dis < 0)
			return -1;
		if (ok && dis == want_disabled)
			ids[k++] = ids[i];
	}
	return (long)k;
}

/*
 * The entries filter F (LDAPFilter, or with CA LDAPCatchAllFilter) picks
 * for LOCAL@DOMAIN, as rg_mirror_find() says.
 */
static enum rg_found
find(struct rg_mirror *m, int ca, const char *local, const char *domain, int want_disabled,
    int maxentries, struct rg_ldap_result *res, char *err, size_t errlen)
{
	uint32_t ids[CAND_MAX];
	size_t n = 0;
	char key[RG_FILTER_MAX];
	enum rg_found f = RG_LOOKUP_FAIL;
	const struct rg_filter *flt = ca ? m->ca : m->f;

	if (res != NULL)
		memset(res, 0, sizeof(*res));
	pthread_rwlock_rdlock(&m->lock);
	struct set *s = m->set;
	if (s == NULL) {
		snprintf(err, errlen, "the directory mirror is not loaded");
		goto out;
	}
	const struct table *t = ca ? &s->cakeys : &s->keys;
	for (size_t k = 0; k < rg_filter_nkeys(flt); k++)
		if (rg_filter_key_value(flt, k, local, domain, key, sizeof(key)) == 0)
			n = table_get(t, hash_lower(key, strlen(key)), ids, n, CAND_MAX);
	long kept = keep_matching(m, s, ids, n, flt, ca ? s->cpos : s->fpos, local, domain,
	    want_disabled);
	if (kept < 0) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	if (kept > maxentries || n == CAND_MAX) {
		snprintf(err, errlen, "more than %d entries for one address", maxentries);
		goto out;
	}
	f = copy_result(s, ids, (size_t)kept, res, err, errlen);
out:
	pthread_rwlock_unlock(&m->lock);
	return f;
}

enum rg_found
rg_mirror_find(struct rg_mirror *m, const char *local, const char *domain, int want_disabled,
    int maxentries, struct rg_ldap_result *res, char *err, size_t errlen)
{
	return find(m, 0, local, domain, want_disabled, maxentries, res, err, errlen);
}

int
rg_mirror_has_catch_all(const struct rg_mirror *m)
{
	return m->ca != NULL;
}

enum rg_found
rg_mirror_catch_all(struct rg_mirror *m, const char *domain, int maxentries,
    struct rg_ldap_result *res, char *err, size_t errlen)
{
	if (m->ca == NULL) {
		snprintf(err, errlen, "the directory mirror does not hold the catch-all");
		return RG_LOOKUP_FAIL;
	}
	return find(m, 1, "", domain, 0, maxentries, res, err, errlen);
}

enum rg_found
rg_mirror_member_of(struct rg_mirror *m, const char *group, char *err, size_t errlen)
{
	enum rg_found f = RG_LOOKUP_FAIL;

	pthread_rwlock_rdlock(&m->lock);
	const struct set *s = m->set;
	if (s == NULL) {
		snprintf(err, errlen, "the directory mirror is not loaded");
	} else if (m->scope == NULL) {
		f = RG_NOTFOUND;
	} else {
		size_t len = strlen(group);
		const struct gslot *x = groups_slot(&s->groups, hash_lower(group, len), group, len);
		f = x != NULL && x->key != NULL && x->count > 0 ? RG_FOUND : RG_NOTFOUND;
	}
	pthread_rwlock_unlock(&m->lock);
	return f;
}

enum rg_found
rg_mirror_read_dn(struct rg_mirror *m, const char *dn, int want_disabled,
    struct rg_ldap_result *res, char *err, size_t errlen)
{
	uint32_t ids[CAND_MAX];
	int ok;
	uint32_t h = dn_hash(dn, &ok);
	enum rg_found f = RG_LOOKUP_FAIL;
	size_t len = strlen(dn) + 1;
	char *want = malloc(len), *have = NULL;

	if (res != NULL)
		memset(res, 0, sizeof(*res));
	if (!ok || want == NULL || rg_alias_dn_norm(dn, want, len) < 0) {
		free(want);
		/* not a DN the mirror can hold: the server would not find it either */
		return ok ? RG_LOOKUP_FAIL : RG_NOTFOUND;
	}
	pthread_rwlock_rdlock(&m->lock);
	struct set *s = m->set;
	if (s == NULL) {
		snprintf(err, errlen, "the directory mirror is not loaded");
		goto out;
	}
	size_t n = table_get(&s->dns, h, ids, 0, CAND_MAX), k = 0;
	for (size_t i = 0; i < n; i++) {
		const char *edn = ment_dn(s->ents[ids[i]]);
		size_t elen = strlen(edn) + 1;
		free(have);
		if ((have = malloc(elen)) != NULL && rg_alias_dn_norm(edn, have, elen) == 0 &&
		    strcmp(have, want) == 0)
			ids[k++] = ids[i];
	}
	long kept = keep_matching(m, s, ids, k > 1 ? 1 : k, NULL, NULL, NULL, NULL,
	    want_disabled);
	if (kept < 0)
		snprintf(err, errlen, "out of memory");
	else
		f = copy_result(s, ids, (size_t)kept, res, err, errlen);
out:
	pthread_rwlock_unlock(&m->lock);
	free(want);
	free(have);
	return f;
}

int
rg_mirror_each(struct rg_mirror *m, rg_ldap_walk_fn fn, void *arg)
{
	/* only the mirror's thread changes the set, and it is the caller */
	const struct set *s = m->set;

	for (uint32_t id = 1; s != NULL && id < s->nents; id++) {
		const struct ment *e = s->ents[id];
		struct rg_ldap_entry x;
		if (e == NULL || disabled(m, s, e) != 0)
			continue;
		int rc = copy_entry(s, e, &x) < 0 ? -1 : fn(arg, &x);
		entry_release(&x);
		if (rc != 0)
			return -1;
	}
	return 0;
}

/* ---- loading ---- */

/* The filter of the entries held into M->walk; -1 when out of memory. */
static int
make_walk(struct rg_mirror *m)
{
	const struct rg_config *cf = m->cf;
	char walk[RG_FILTER_MAX];
	size_t o = 0, len = sizeof(walk);
	const struct rg_strlist *lists[] = { &cf->address_attrs, &cf->alias_attrs,
	    &cf->member_attrs };

	if (rg_filter_walk(m->f, walk + 2, len - 2) < 0)
		return -1;
	walk[0] = '(';
	walk[1] = '|';
	o = strlen(walk);
	/* the catch-all entries (the members that name a group are in LDAPFilter's) */
	if (m->ca != NULL) {
		if (rg_filter_walk(m->ca, walk + o, len - o) < 0)
			return -1;
		o += strlen(walk + o);
	}
	for (size_t l = 0; l < 3; l++)
		for (size_t i = 0; i < lists[l]->n && o < len; i++)
			o += (size_t)snprintf(walk + o, len - o, "(%s=*)", lists[l]->v[i]);
	for (size_t i = 0; i < cf->alias_classes.n && o < len; i++)
		o += (size_t)snprintf(walk + o, len - o, "(objectClass=%s)", cf->alias_classes.v[i]);
	if (o + 2 > len)
		return -1;
	strcpy(walk + o, ")");
	return (m->walk = strdup(walk)) == NULL ? -1 : 0;
}

/* Add attribute A to M->fetch unless it is there. */
static int
fetch_add(struct rg_mirror *m, const char *a)
{
	if (attr_pos(a, m->fetch) >= 0)
		return 0;
	char **v = realloc(m->fetch, (m->nfetch + 2) * sizeof(*v));
	if (v == NULL)
		return -1;
	m->fetch = v;
	v[m->nfetch++] = (char *)a;     /* owned by the configuration or a filter */
	v[m->nfetch] = NULL;
	return 0;
}

/* The attributes loaded: first what lookups return, then what the filters read. */
static int
make_fetch(struct rg_mirror *m)
{
	const struct rg_config *cf = m->cf;
	const struct rg_strlist *lists[] = { &cf->address_attrs, &cf->alias_attrs,
	    &cf->member_attrs, &cf->moved_attrs };
	int bad = fetch_add(m, "objectClass");

	for (size_t l = 0; l < 4; l++)
		for (size_t i = 0; i < lists[l]->n; i++)
			bad |= fetch_add(m, lists[l]->v[i]);
	/* LDAPForwardFilter is matched by rg_alias on the entries returned */
	for (char *const *a = cf->forward_filter ? rg_filter_attrs(cf->forward_filter, NULL) :
	    NULL; a && *a; a++)
		bad |= fetch_add(m, *a);
	m->nwant = m->nfetch;
	for (char *const *a = rg_filter_attrs(m->f, NULL); *a != NULL; a++)
		bad |= fetch_add(m, *a);
	for (char *const *a = m->dis ? rg_filter_attrs(m->dis, NULL) : NULL; a && *a; a++)
		bad |= fetch_add(m, *a);
	for (char *const *a = m->ca ? rg_filter_attrs(m->ca, NULL) : NULL; a && *a; a++)
		bad |= fetch_add(m, *a);
	for (size_t i = 0; i < cf->member_of_attrs.n; i++)
		bad |= fetch_add(m, cf->member_of_attrs.v[i]);
	return bad ? -1 : 0;
}

struct walk_load {
	struct rg_mirror *m;
	struct set *s;
};

static int
walk_entry(void *arg, const struct rg_ldap_entry *e)
{
	struct walk_load *w = arg;

	return set_put(w->m, w->s, e, NULL);
}

/* Tell M's owner that the set changed (from the mirror's thread only). */
static void
call_on_load(struct rg_mirror *m)
{
	pthread_mutex_lock(&m->cb_mu);
	if (m->on_load != NULL)
		m->on_load(m->on_load_arg, m);
	pthread_mutex_unlock(&m->cb_mu);
}

/* Replace M's set with FRESH; log the first time. */
static void
publish(struct rg_mirror *m, struct set *fresh)
{
	pthread_rwlock_wrlock(&m->lock);
	struct set *old = m->set;
	m->set = fresh;
	pthread_rwlock_unlock(&m->lock);
	set_free(old);
	/* what is built from the mirror is there before it says it is ready */
	m->changed = 0;
	m->on_load_at = rg_now();
	call_on_load(m);
	pthread_mutex_lock(&m->mu);
	int first = !m->said_ready;
	m->said_ready = 1;
	m->loaded_at = rg_now();
	pthread_cond_broadcast(&m->cv);
	pthread_mutex_unlock(&m->mu);
	rg_metrics_set(RG_M_MIRROR_ENTRIES, (double)fresh->live);
	if (first)
		rg_log(LOG_INFO, "mirror ready: %zu entries, %zu MiB, %.0f s", fresh->live,
		    set_mib(fresh), rg_now() - m->t0);
}

/* One paged walk into a new set; 0, or -1 with err. */
static int
walk_load(struct rg_mirror *m, char *err, size_t errlen)
{
	struct walk_load w = { m, set_new() };
	const struct rg_config *cf = m->cf;
	double timeout = cf->ldap_timeout > PAGE_TIMEOUT_MIN ? cf->ldap_timeout : PAGE_TIMEOUT_MIN;

	if (w.s == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (rg_ldap_walk(cf, m->walk, m->fetch, PAGE_SIZE, timeout, walk_entry, &w, err,
	    errlen) < 0) {
		set_free(w.s);
		return -1;
	}
	publish(m, w.s);
	return 0;
}

/* ---- following the directory (RFC 4533 refreshAndPersist) ---- */

/* Copy the entry MSG into E; -1 when out of memory. */
static int
msg_entry(LDAP *ld, LDAPMessage *msg, struct rg_ldap_entry *e)
{
	BerElement *ber = NULL;
	char *dn = ldap_get_dn(ld, msg);
	int bad = 0;

	memset(e, 0, sizeof(*e));
	if (dn == NULL || (e->dn = strdup(dn)) == NULL)
		bad = 1;
	ldap_memfree(dn);
	for (char *a = bad ? NULL : ldap_first_attribute(ld, msg, &ber); a != NULL;
	    a = ldap_next_attribute(ld, msg, ber)) {
		struct berval **vals = ldap_get_values_len(ld, msg, a);
		size_t nv = vals ? (size_t)ldap_count_values_len(vals) : 0;
		struct rg_ldap_value *v = realloc(e->vals, (e->nvals + nv + 1) * sizeof(*v));
		if (v != NULL)
			e->vals = v;
		for (size_t i = 0; v != NULL && i < nv; i++) {
			v = &e->vals[e->nvals];
			v->attr = strdup(a);
			v->value = strndup(vals[i]->bv_val, vals[i]->bv_len);
			e->nvals++;
			bad |= v->attr == NULL || v->value == NULL;
			v = e->vals;
		}
		bad |= v == NULL;
		ldap_value_free_len(vals);
		ldap_memfree(a);
	}
	if (ber != NULL)
		ber_free(ber, 0);
	return bad ? -1 : 0;
}

/* Apply one change to the set being refreshed, or under the lock to the one in use. */
static void
apply(struct rg_mirror *m, LDAP *ld, LDAPMessage *msg, const unsigned char *uuid, int del)
{
	struct set *s = m->building != NULL ? m->building : m->set;
	struct rg_ldap_entry e;
	int rc = 0;

	if (s == NULL)
		return;
	if (!del && msg_entry(ld, msg, &e) < 0) {
		entry_release(&e);
		rg_log(LOG_ERR, "mirror: out of memory applying a change");
		return;
	}
	if (s == m->set)
		pthread_rwlock_wrlock(&m->lock);
	if (del) {
		uint32_t id = set_by_uuid(s, uuid);
		if (id != 0)
			set_remove(m, s, id);
	} else {
		rc = set_put(m, s, &e, uuid);
	}
	if (s == m->set) {
		pthread_rwlock_unlock(&m->lock);
		m->changed = 1;
	}
	if (!del)
		entry_release(&e);
	if (rc < 0)
		rg_log(LOG_ERR, "mirror: out of memory applying a change");
}

static int
sync_entry(ldap_sync_t *ls, LDAPMessage *msg, struct berval *uuid, ldap_sync_refresh_t phase)
{
	struct rg_mirror *m = ls->ls_private;

	if (uuid == NULL || uuid->bv_len != 16)
		return 0;
	if (phase == LDAP_SYNC_CAPI_DELETE)
		apply(m, ls->ls_ld, msg, (const unsigned char *)uuid->bv_val, 1);
	else if (phase == LDAP_SYNC_CAPI_ADD || phase == LDAP_SYNC_CAPI_MODIFY ||
	    (phase == LDAP_SYNC_CAPI_PRESENT && m->building != NULL))
		apply(m, ls->ls_ld, msg, (const unsigned char *)uuid->bv_val, 0);
	return 0;
}

static int
sync_intermediate(ldap_sync_t *ls, LDAPMessage *msg, BerVarray uuids, ldap_sync_refresh_t phase)
{
	struct rg_mirror *m = ls->ls_private;

	(void)msg;
	if (phase == LDAP_SYNC_CAPI_DONE && m->building != NULL) {
		struct set *fresh = m->building;
		m->building = NULL;
		pthread_mutex_lock(&m->mu);
		int again = m->sync;
		m->sync = m->live = 1;
		pthread_mutex_unlock(&m->mu);
		publish(m, fresh);
		if (again)
			rg_log(LOG_INFO, "mirror in step with the directory again: %zu entries",
			    fresh->live);
	} else if (phase == LDAP_SYNC_CAPI_DELETES_IDSET) {
		for (size_t i = 0; uuids != NULL && uuids[i].bv_val != NULL; i++)
			if (uuids[i].bv_len == 16)
				apply(m, ls->ls_ld, NULL, (const unsigned char *)uuids[i].bv_val, 1);
	}
	return 0;
}

static int
sync_result(ldap_sync_t *ls, LDAPMessage *msg, int deletes)
{
	(void)ls; (void)msg; (void)deletes;
	return 0;
}

/* Sleep SECONDS unless stopped; 1 when stopped. */
static int
pause_unless_stopped(struct rg_mirror *m, double seconds)
{
	struct timespec ts = rg_timespec_in(seconds);

	pthread_mutex_lock(&m->mu);
	while (!m->stop && pthread_cond_timedwait(&m->cv, &m->mu, &ts) == 0)
		;
	int stop = m->stop;
	pthread_mutex_unlock(&m->mu);
	return stop;
}

/* Note the session's handle (NULL: none); 0 when a stop was asked for. */
static int
sync_handle(struct rg_mirror *m, LDAP *ld)
{
	pthread_mutex_lock(&m->mu);
	m->sync_ld = ld;
	int go = !m->stop;
	pthread_mutex_unlock(&m->mu);
	return go;
}

/* The session ended (RC; MOVING: to go back to an earlier server): answers
 * from the set age from now. */
static void
session_lost(struct rg_mirror *m, int rc, int moving)
{
	pthread_mutex_lock(&m->mu);
	int was = m->live, stop = m->stop;
	if (was)
		m->lost_at = rg_now();
	m->live = 0;
	pthread_mutex_unlock(&m->mu);
	if (was && !stop && !moving)
		rg_log(LOG_WARNING, "mirror lost its session with the directory (%s); "
		    "found addresses answer from it for %d s, unknown ones for %d s",
		    ldap_err2string(rc), m->cf->stale_ttl, m->cf->negative_cache_ttl);
}

/* Is RC the server's way of saying it will not synchronise with us? */
static int
no_sync(int rc)
{
	return rc == LDAP_UNAVAILABLE_CRITICAL_EXTENSION || rc == LDAP_PROTOCOL_ERROR ||
	    rc == LDAP_UNWILLING_TO_PERFORM || rc == LDAP_INSUFFICIENT_ACCESS ||
	    rc == LDAP_SIZELIMIT_EXCEEDED || rc == LDAP_ADMINLIMIT_EXCEEDED;
}

/* The URI at place WHICH of LDAPURI into BUF. */
static const char *
uri_at(const struct rg_config *cf, int which, char *buf, size_t len)
{
	const char *q = cf->ldap_uri;

	for (int i = 0;; i++) {
		q += strspn(q, " ");
		size_t n = strcspn(q, " ");
		if (i == which || q[n] == '\0') {
			snprintf(buf, len, "%.*s", (int)n, q);
			return buf;
		}
		q += n;
	}
}

/*
 * LDAPURI order is preference: while the session is on a later server, is
 * it time to end it for an earlier one that answers again?  Looked at every
 * PREFER_PROBE seconds from *NEXT on (a refused connect costs nothing; one
 * that hangs is tried as that server's back-off allows).
 */
static int
earlier_back(struct rg_mirror *m, double *next)
{
	const struct rg_config *cf = m->cf;
	double now = rg_now();
	char uri[512];

	if (m->which == 0 || now < *next)
		return 0;
	*next = now + PREFER_PROBE;
	if (!rg_ldap_earlier_up(cf, m->which, now + cf->ldap_timeout))
		return 0;
	rg_log(LOG_INFO, "mirror: an earlier LDAPURI server answers again; the session "
	    "leaves %s for it", uri_at(cf, m->which, uri, sizeof(uri)));
	return 1;
}

/*
 * One refreshAndPersist session, until it ends.  1 when the server does not
 * offer it (then the set is reloaded by walks); 0 otherwise.
 */
static int
sync_session(struct rg_mirror *m, int *said_down)
{
	const struct rg_config *cf = m->cf;
	char err[RG_ERRLEN], uri[512];
	int which = 0, moving = 0;
	LDAP *ld = rg_ldap_connect_at(cf, rg_now() + cf->ldap_timeout, &which, err, sizeof(err));

	if (ld == NULL) {
		if (!*said_down)
			rg_log(LOG_WARNING, "mirror: cannot reach the directory: %s", err);
		*said_down = 1;
		return 0;
	}
	*said_down = 0;
	if (which != m->which)
		rg_log(LOG_INFO, "mirror: session with %s (place %d in LDAPURI)",
		    uri_at(cf, which, uri, sizeof(uri)), which + 1);
	m->which = which;
	double next_probe = rg_now() + PREFER_PROBE;
	ldap_sync_t ls;
	ldap_sync_initialize(&ls);
	ls.ls_base = strdup(cf->ldap_base);
	ls.ls_scope = LDAP_SCOPE_SUBTREE;
	ls.ls_filter = strdup(m->walk);
	ls.ls_attrs = m->fetch;
	ls.ls_timeout = 1;              /* poll, so that a stop is seen */
	ls.ls_search_entry = sync_entry;
	ls.ls_intermediate = sync_intermediate;
	ls.ls_search_result = sync_result;
	ls.ls_private = m;
	ls.ls_ld = ld;
	m->building = set_new();
	int rc = LDAP_NO_MEMORY;
	if (m->building != NULL && ls.ls_base != NULL && ls.ls_filter != NULL &&
	    sync_handle(m, ld))
		rc = ldap_sync_init(&ls, LDAP_SYNC_REFRESH_AND_PERSIST);
	int nosync = no_sync(rc);
	if (nosync)
		rg_log(LOG_INFO, "mirror: the directory does not offer RFC 4533 synchronisation "
		    "for the whole mirror (%s): reloading it every %d s", ldap_err2string(rc),
		    cf->mirror_refresh);
	while (rc == LDAP_SUCCESS && !pause_unless_stopped(m, 0) &&
	    !(moving = earlier_back(m, &next_probe))) {
		rc = ldap_sync_poll(&ls);
		if (m->changed) {
			pthread_rwlock_rdlock(&m->lock);
			if (m->set != NULL)
				rg_metrics_set(RG_M_MIRROR_ENTRIES, (double)m->set->live);
			pthread_rwlock_unlock(&m->lock);
		}
		if (m->changed && rg_now() - m->on_load_at >= ON_CHANGE_MIN) {
			/* what is built from the mirror follows changes too, gathered */
			m->changed = 0;
			m->on_load_at = rg_now();
			call_on_load(m);
		}
	}
	set_free(m->building);
	m->building = NULL;
	session_lost(m, rc, moving);
	ls.ls_attrs = NULL;             /* not ours to free */
	sync_handle(m, NULL);
	ldap_sync_destroy(&ls, 0);      /* frees base, filter, and unbinds */
	return nosync;
}

/* Without RFC 4533: a walk every MirrorRefresh seconds. */
static void
walk_loop(struct rg_mirror *m)
{
	const struct rg_config *cf = m->cf;
	char err[RG_ERRLEN];
	int failing = 0;

	do {
		int rc = walk_load(m, err, sizeof(err));
		if (rc < 0 && !failing)
			rg_log(LOG_ERR, "mirror not %s: %s", m->set ? "reloaded, keeping the old one" :
			    "loaded", err);
		failing = rc < 0;
		pthread_mutex_lock(&m->mu);
		m->load_failed = failing;
		pthread_mutex_unlock(&m->mu);
	} while (!pause_unless_stopped(m, failing && cf->mirror_refresh > 30 ? 30 :
	    cf->mirror_refresh));
}

static void *
mirror_thread(void *arg)
{
	struct rg_mirror *m = arg;
	double retry = 1;
	int said_down = 0;

	while (!pause_unless_stopped(m, 0)) {
		if (sync_session(m, &said_down)) {
			walk_loop(m);
			break;
		}
		pthread_mutex_lock(&m->mu);
		if (m->sync)
			retry = 1;      /* it was in step: try again soon */
		pthread_mutex_unlock(&m->mu);
		if (pause_unless_stopped(m, retry))
			break;
		retry = retry * 2 > RETRY_MAX ? RETRY_MAX : retry * 2;
	}
	return NULL;
}

/* ---- the mirror ---- */

int
rg_mirror_possible(const struct rg_config *cf, char *err, size_t errlen)
{
	struct rg_filter *f = NULL;
	int ok = rg_filter_parse(cf->ldap_filter, &f, err, errlen) == 0 &&
	    rg_filter_mirrorable(f, err, errlen) == 0;

	if (ok && rg_filter_nkeys(f) == 0) {
		snprintf(err, errlen, "%s: no equality assertion holding %%s, %%u or %%d",
		    cf->ldap_filter);
		ok = 0;
	}
	rg_filter_free(f);
	f = NULL;
	if (ok && cf->ldap_disabled_filter[0] != '\0') {
		/* no % sign in it: rg_config refuses one */
		ok = rg_filter_parse(cf->ldap_disabled_filter, &f, err, errlen) == 0 &&
		    rg_filter_mirrorable(f, err, errlen) == 0;
		rg_filter_free(f);
	}
	return ok ? 0 : -1;
}

struct rg_mirror *
rg_mirror_new(struct rg_config *cf)
{
	struct rg_mirror *m = calloc(1, sizeof(*m));
	char err[RG_ERRLEN];
	pthread_rwlockattr_t ra;

	if (m == NULL)
		return NULL;
	m->cf = rg_config_hold(cf);
	pthread_rwlockattr_init(&ra);
	/* a change waits for the lookups under way, not for those after it */
	pthread_rwlockattr_setkind_np(&ra, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&m->lock, &ra);
	pthread_rwlockattr_destroy(&ra);
	pthread_mutex_init(&m->mu, NULL);
	pthread_mutex_init(&m->cb_mu, NULL);
	rg_cond_init(&m->cv);
	if (cf->ldap_catchall_filter[0] != '\0' &&
	    rg_filter_parse(cf->ldap_catchall_filter, &m->ca, err, sizeof(err)) == 0 &&
	    (rg_filter_mirrorable(m->ca, err, sizeof(err)) < 0 || rg_filter_nkeys(m->ca) == 0)) {
		/* no key to find it by: the catch-all is asked of the server */
		rg_filter_free(m->ca);
		m->ca = NULL;
	}
	if (m->ca != NULL)
		ca_shapes(m);
	if (rg_filter_parse(cf->ldap_filter, &m->f, err, sizeof(err)) < 0 ||
	    (cf->ldap_disabled_filter[0] != '\0' &&
	    rg_filter_parse(cf->ldap_disabled_filter, &m->dis, err, sizeof(err)) < 0) ||
	    (cf->member_scope != NULL &&
	    rg_filter_parse(cf->member_scope, &m->scope, err, sizeof(err)) < 0) ||
	    make_fetch(m) < 0 || make_walk(m) < 0) {
		rg_mirror_free(m);
		return NULL;
	}
	return m;
}

int
rg_mirror_start(struct rg_mirror *m, rg_mirror_loaded_fn on_load, void *arg)
{
	m->on_load = on_load;           /* no thread yet: no lock needed */
	m->on_load_arg = arg;
	m->t0 = rg_now();
	if (pthread_create(&m->thread, NULL, mirror_thread, m) != 0)
		return -1;
	m->started = 1;
	return 0;
}

int
rg_mirror_wait(struct rg_mirror *m, double seconds)
{
	struct timespec ts = rg_timespec_in(seconds);

	pthread_mutex_lock(&m->mu);
	while (!m->said_ready && pthread_cond_timedwait(&m->cv, &m->mu, &ts) == 0)
		;
	int ready = m->said_ready;
	pthread_mutex_unlock(&m->mu);
	return ready;
}

enum rg_mirror_trust
rg_mirror_trust(struct rg_mirror *m)
{
	const struct rg_config *cf = m->cf;
	enum rg_mirror_trust t = RG_MIRROR_NONE;

	pthread_mutex_lock(&m->mu);
	double now = rg_now(), lost = now - m->lost_at, age = now - m->loaded_at;
	if (!m->said_ready)
		t = RG_MIRROR_NONE;
	else if (m->sync && (m->live || lost < cf->negative_cache_ttl))
		t = RG_MIRROR_ALL;
	else if (m->sync && lost < cf->stale_ttl)
		t = RG_MIRROR_POSITIVE;
	else if (!m->sync && (!m->load_failed || age < cf->stale_ttl))
		t = RG_MIRROR_POSITIVE;
	/* how far behind the directory it may be: 0 while a session is in step */
	if (m->said_ready)
		rg_metrics_set(RG_M_MIRROR_LAG, m->sync && m->live ? 0 : m->sync ? lost : age);
	pthread_mutex_unlock(&m->mu);
	return t;
}

struct rg_mirror *
rg_mirror_hold(struct rg_mirror *m, rg_mirror_loaded_fn on_load, void *arg)
{
	__atomic_add_fetch(&m->holds, 1, __ATOMIC_RELAXED);
	/* a callback under way for the old owner ends first */
	pthread_mutex_lock(&m->cb_mu);
	m->on_load = on_load;
	m->on_load_arg = arg;
	pthread_mutex_unlock(&m->cb_mu);
	return m;
}

void
rg_mirror_free(struct rg_mirror *m)
{
	/* an owner other than the last one lets go */
	if (m == NULL || __atomic_fetch_sub(&m->holds, 1, __ATOMIC_ACQ_REL) > 0)
		return;
	if (m->started) {
		pthread_mutex_lock(&m->mu);
		m->stop = 1;
		pthread_cond_broadcast(&m->cv);
		int fd = -1;
		if (m->sync_ld != NULL &&
		    ldap_get_option(m->sync_ld, LDAP_OPT_DESC, &fd) == LDAP_OPT_SUCCESS && fd >= 0)
			shutdown(fd, SHUT_RDWR);        /* out of a long refresh or poll */
		pthread_mutex_unlock(&m->mu);
		pthread_join(m->thread, NULL);
	}
	set_free(m->set);
	rg_filter_free(m->f);
	rg_filter_free(m->dis);
	rg_filter_free(m->scope);
	rg_filter_free(m->ca);
	free(m->fetch);
	free(m->walk);
	pthread_rwlock_destroy(&m->lock);
	pthread_mutex_destroy(&m->mu);
	pthread_mutex_destroy(&m->cb_mu);
	pthread_cond_destroy(&m->cv);
	rg_config_free(m->cf);
	free(m);
}
