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
#include <sched.h>
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

/*
 * One entry, packed: its DN NUL, then per value an attribute number and the
 * value NUL.  A DN that ends with ",LDAPBase" is kept without it (DN_BASE;
 * the base entry itself as ""), and the values of objectClass are numbers in
 * the set's vocabulary (see voc_put()): at a million entries these two are
 * a fifth of the mirror.
 */
struct ment {
	unsigned char uuid[16];
	uint32_t dnh;                   /* hash of the normalized DN (DN_OK) */
	uint32_t size;                  /* of data, and the flags below */
	char data[];
};
#define DN_BASE         0x80000000u     /* data holds the DN without the base */
#define DN_OK           0x40000000u     /* the DN normalizes: in the table dns */
#define ENT_OWN         0x20000000u     /* malloc()ed alone, not in a block */
#define SIZE_MASK       0x1fffffffu

/*
 * Entries are packed into blocks, one after the other: no allocator header
 * or rounding per entry, and no holes left between them by what a load
 * allocates and frees meanwhile.  Blocks start small (BLOCK_MIN) and double
 * up to BLOCK_MAX.  A removed entry's room is only counted; once it is an
 * eighth of the blocks, set_compact() moves the living entries into one
 * block of their size.  An entry of OWN_MIN bytes or more (a large group)
 * is allocated alone.
 */
#define BLOCK_MIN       4096
#define BLOCK_MAX       (1u << 20)
#define OWN_MIN         (BLOCK_MAX / 8)
struct pool {
	char **block;
	size_t n, cap;                  /* blocks, room in block[] */
	size_t bytes;                   /* in the blocks */
	size_t used;                    /* by living entries */
	size_t last, left;              /* the last block's size, and its room */
	size_t next;                    /* the size of the next block */
};
#define VOC_REF         '\001'          /* starts a vocabulary value */
#define VOC_MAX         1024            /* words in a vocabulary, at most */

/* An open-addressing table of (32-bit hash, entry number) pairs. */
struct table {
	uint64_t *slot;                 /* 0 empty, TOMB deleted */
	size_t cap, used, tomb;         /* cap a power of two */
};
#define TOMB UINT64_MAX

/* An open-addressing table of entry numbers alone, 4 bytes a row, for the
 * keys each entry has exactly one of: its DN (DN_OK) or its entryUUID.  A
 * row's hash is the entry's, so a lookup reads the entries it probes. */
struct itable {
	uint32_t *slot;                 /* 0 empty, ITOMB deleted */
	size_t cap, used, tomb;         /* cap a power of two */
};
#define ITOMB UINT32_MAX
enum { BY_DN, BY_UUID };

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
	struct table keys;
	struct itable dns, uuids;
	struct table cakeys;            /* LDAPCatchAllFilter's keys */
	char *base;                     /* LDAPBase, left out of the DNs held */
	size_t baselen;
	char **voc;                     /* the vocabulary, by number */
	size_t nvoc, voccap;
	char *scratch;                  /* where set_put() packs an entry */
	size_t scratchcap;
	struct pool pool;               /* where the entries are */
	struct groups groups;
	char *attr[ATTR_MAX];           /* attribute descriptions by number */
	int nattr;
	int16_t fpos[ATTR_MAX];         /* position in LDAPFilter's attributes, -1 */
	int16_t dpos[ATTR_MAX];         /* position in LDAPDisabledFilter's, -1 */
	int16_t spos[ATTR_MAX];         /* in the member scope's, -1 */
	int16_t cpos[ATTR_MAX];         /* in LDAPCatchAllFilter's, -1 */
	unsigned char mof[ATTR_MAX];    /* one of LDAPMemberOfAttributes */
	unsigned char want[ATTR_MAX];   /* returned by lookups */
	unsigned char isvoc[ATTR_MAX];  /* values kept in the vocabulary */
	unsigned char aliasy[ATTR_MAX]; /* of LDAPAliasAttributes or
					 * LDAPMemberAttributes: a value may make
					 * the entry an alias */
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
	unsigned trust_seq;             /* odd while the fields rg_mirror_trust()
					 * reads change: it reads them unlocked */
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

/* The hash of entry E in the table BY (BY_DN or BY_UUID). */
static uint32_t
ment_hash(const struct ment *e, int by)
{
	return by == BY_DN ? e->dnh : hash_lower((const char *)e->uuid, 16);
}

static int
itable_grow(const struct set *s, struct itable *t, int by)
{
	size_t cap = t->cap ? t->cap : 1024;

	while ((t->used - t->tomb + 1) * 10 > cap * 5)
		cap *= 2;
	uint32_t *ns = calloc(cap, sizeof(*ns));
	if (ns == NULL)
		return -1;
	for (size_t i = 0; i < t->cap; i++) {
		uint32_t id = t->slot[i];
		if (id == 0 || id == ITOMB)
			continue;
		size_t j = ment_hash(s->ents[id], by) & (cap - 1);
		while (ns[j] != 0)
			j = (j + 1) & (cap - 1);
		ns[j] = id;
	}
	free(t->slot);
	t->slot = ns;
	t->used -= t->tomb;
	t->tomb = 0;
	t->cap = cap;
	return 0;
}

/* Add entry ID (in S already) to T under its hash H. */
static int
itable_add(const struct set *s, struct itable *t, int by, uint32_t h, uint32_t id)
{
	if ((t->used + 1) * 10 > t->cap * 7 && itable_grow(s, t, by) < 0)
		return -1;
	size_t j = h & (t->cap - 1);
	while (t->slot[j] != 0 && t->slot[j] != ITOMB)
		j = (j + 1) & (t->cap - 1);
	if (t->slot[j] == ITOMB)
		t->tomb--;
	else
		t->used++;
	t->slot[j] = id;
	return 0;
}

static void
itable_del(struct itable *t, uint32_t h, uint32_t id)
{
	if (t->cap == 0)
		return;
	for (size_t j = h & (t->cap - 1); t->slot[j] != 0; j = (j + 1) & (t->cap - 1)) {
		if (t->slot[j] == id) {
			t->slot[j] = ITOMB;
			t->tomb++;
			return;
		}
	}
}

/* The entries of S under hash H in T, into IDS (at most MAX); how many. */
static size_t
itable_get(const struct set *s, const struct itable *t, int by, uint32_t h, uint32_t *ids,
    size_t max)
{
	size_t n = 0;

	if (t->cap == 0)
		return 0;
	for (size_t j = h & (t->cap - 1); t->slot[j] != 0 && n < max;
	    j = (j + 1) & (t->cap - 1)) {
		uint32_t id = t->slot[j];
		if (id != ITOMB && ment_hash(s->ents[id], by) == h)
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
pool_free(struct pool *p)
{
	for (size_t i = 0; i < p->n; i++)
		free(p->block[i]);
	free(p->block);
	memset(p, 0, sizeof(*p));
}

/* A new block of SIZE bytes at the end of P; -1 when out of memory. */
static int
pool_grow(struct pool *p, size_t size)
{
	if (p->n == p->cap) {
		size_t cap = p->cap ? 2 * p->cap : 16;
		char **v = realloc(p->block, cap * sizeof(*v));
		if (v == NULL)
			return -1;
		p->block = v;
		p->cap = cap;
	}
	if ((p->block[p->n] = malloc(size)) == NULL)
		return -1;
	p->n++;
	p->bytes += size;
	p->last = p->left = size;
	return 0;
}

/* N bytes (a multiple of 4) in P; NULL when out of memory. */
static void *
pool_alloc(struct pool *p, size_t n)
{
	if (p->n == 0 || p->left < n) {
		size_t size = p->next < BLOCK_MIN ? BLOCK_MIN : p->next;
		if (pool_grow(p, size < n ? n : size) < 0)
			return NULL;
		p->next = 2 * size > BLOCK_MAX ? BLOCK_MAX : 2 * size;
	}
	void *x = p->block[p->n - 1] + (p->last - p->left);
	p->left -= n;
	p->used += n;
	return x;
}

/* The bytes entry E takes in a block. */
static size_t
ment_bytes(const struct ment *e)
{
	return (sizeof(*e) + (e->size & SIZE_MASK) + 3) & ~(size_t)3;
}

/* Room for an entry of SIZE bytes of data in S, its size still 0 but for
 * ENT_OWN; NULL when out of memory. */
static struct ment *
ment_alloc(struct set *s, size_t size)
{
	size_t n = (sizeof(struct ment) + size + 3) & ~(size_t)3;
	struct ment *x = n >= OWN_MIN ? malloc(n) : pool_alloc(&s->pool, n);

	if (x != NULL)
		x->size = n >= OWN_MIN ? ENT_OWN : 0;
	return x;
}

/*
 * Move S's living entries into one block of their size, when an eighth of
 * the blocks is room left by removed entries (at a million entries, about
 * 11 MiB, or a hundred thousand changes).  From the mirror's thread, the
 * only one that changes a set: the entries are copied while lookups go on,
 * and LOCK (S is in use; NULL: it is not) is held for writing only while
 * the entry pointers are turned to the copies.
 */
static void
set_compact(struct set *s, pthread_rwlock_t *lock)
{
	struct pool *p = &s->pool, fresh = { 0 };
	size_t dead = p->bytes - p->used - p->left;     /* the last block's room is not */
	double t0 = rg_now();

	if (dead < BLOCK_MIN || dead < (p->bytes - p->left) / 8)
		return;
	if (p->used > 0 && pool_grow(&fresh, p->used) < 0) {
		pool_free(&fresh);
		return;                 /* the room stays unused: no harm */
	}
	for (uint32_t id = 1; id < s->nents; id++) {
		const struct ment *e = s->ents[id];
		if (e != NULL && !(e->size & ENT_OWN))
			memcpy(pool_alloc(&fresh, ment_bytes(e)), e, ment_bytes(e));
	}
	if (lock != NULL)
		pthread_rwlock_wrlock(lock);
	double t1 = rg_now();
	char *at = fresh.n > 0 ? fresh.block[0] : NULL;
	for (uint32_t id = 1; id < s->nents; id++) {
		const struct ment *e = s->ents[id];
		if (e != NULL && !(e->size & ENT_OWN)) {
			s->ents[id] = (struct ment *)at;
			at += ment_bytes(e);
		}
	}
	struct pool old = *p;
	/* the next blocks in proportion: a small set's next is not 1 MiB */
	fresh.next = p->used / 16 < BLOCK_MIN ? BLOCK_MIN :
	    p->used / 16 > BLOCK_MAX ? BLOCK_MAX : p->used / 16;
	*p = fresh;
	double t2 = rg_now();
	if (lock != NULL)
		pthread_rwlock_unlock(lock);
	size_t back = old.bytes - p->bytes;
	pool_free(&old);
	rg_log(LOG_INFO, "mirror: entries packed again, %zu KiB given back in %.0f ms "
	    "(lookups held %.0f ms)", back >> 10, (rg_now() - t0) * 1000, (t2 - t1) * 1000);
}

/* Let go of entry E of S. */
static void
ment_release(struct set *s, struct ment *e)
{
	if (e->size & ENT_OWN)
		free(e);
	else
		s->pool.used -= ment_bytes(e);
}

static void
set_free(struct set *s)
{
	if (s == NULL)
		return;
	for (uint32_t i = 1; s->ents != NULL && i < s->nents; i++)
		if (s->ents[i] != NULL && (s->ents[i]->size & ENT_OWN))
			free(s->ents[i]);
	free(s->ents);
	pool_free(&s->pool);
	free(s->freed);
	free(s->keys.slot);
	free(s->dns.slot);
	free(s->uuids.slot);
	free(s->cakeys.slot);
	groups_free(&s->groups);
	for (int i = 0; i < s->nattr; i++)
		free(s->attr[i]);
	for (size_t i = 0; i < s->nvoc; i++)
		free(s->voc[i]);
	free(s->voc);
	free(s->scratch);
	free(s->base);
	free(s);
}

static struct set *
set_new(const struct rg_mirror *m)
{
	struct set *s = calloc(1, sizeof(*s));
	const char *base = m->cf->ldap_base != NULL ? m->cf->ldap_base : "";

	if (s == NULL)
		return NULL;
	s->nents = 1;                   /* number 0 is never an entry */
	if ((s->base = strdup(base)) == NULL) {
		free(s);
		return NULL;
	}
	s->baselen = strlen(base);
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
	s->isvoc[i] = strncasecmp(a, "objectClass", 11) == 0 && (a[11] == '\0' || a[11] == ';');
	s->aliasy[i] = attr_pos(a, m->cf->alias_attrs.v) >= 0 ||
	    attr_pos(a, m->cf->member_attrs.v) >= 0;
	int w = attr_pos(a, m->fetch);
	s->want[i] = w >= 0 && (size_t)w < m->nwant;
	return i;
}

/* The DN of E (of S) in a new string; NULL when out of memory. */
static char *
ment_dn(const struct set *s, const struct ment *e)
{
	if (!(e->size & DN_BASE))
		return strdup(e->data);
	size_t n = strlen(e->data);
	char *dn = malloc(n + 1 + s->baselen + 1);
	if (dn == NULL)
		return NULL;
	if (n == 0) {
		memcpy(dn, s->base, s->baselen + 1);
	} else {
		memcpy(dn, e->data, n);
		dn[n] = ',';
		memcpy(dn + n + 1, s->base, s->baselen + 1);
	}
	return dn;
}

/*
 * A vocabulary value (VOC_REF, then the word's number in two bytes: high
 * 2..255, low 1..255) or, for a value of such an attribute that starts
 * with VOC_REF itself, VOC_REF and the value.
 */
static const char *
voc_get(const struct set *s, const char *v)
{
	if (v[0] != VOC_REF)
		return v;
	if (v[1] == VOC_REF)
		return v + 1;
	size_t n = ((size_t)(unsigned char)v[1] - 2) * 255 + (unsigned char)v[2] - 1;
	return n < s->nvoc ? s->voc[n] : "";
}

/* Walk the values of E (of S): *P starts at 0; 1 with *ATTR and *VAL, 0 at the end. */
static int
ment_next(const struct set *s, const struct ment *e, size_t *p, int *attr, const char **val)
{
	if (*p == 0)
		*p = strlen(e->data) + 1;
	if (*p >= (e->size & SIZE_MASK))
		return 0;
	*attr = (unsigned char)e->data[*p];
	*val = e->data + *p + 1;
	*p += 2 + strlen(*val);
	if (s->isvoc[*attr])
		*val = voc_get(s, *val);
	return 1;
}

/* How many values E holds. */
static size_t
ment_count(const struct ment *e)
{
	size_t n = 0, size = e->size & SIZE_MASK;

	for (size_t p = strlen(e->data) + 1; p < size; p += 2 + strlen(e->data + p + 1))
		n++;
	return n;
}

/*
 * Write value V of an attribute kept in S's vocabulary to OUT (4 bytes at
 * least, or strlen(V) + 2): its word's number when the vocabulary has it or
 * room for it, else V itself.  Returns the bytes written, NUL included; 0
 * when out of memory.
 */
static size_t
voc_put(struct set *s, const char *v, char *out)
{
	size_t n = 0;

	while (n < s->nvoc && strcmp(s->voc[n], v) != 0)
		n++;
	if (n == s->nvoc && n < VOC_MAX) {
		if (s->nvoc == s->voccap) {
			size_t cap = s->voccap ? 2 * s->voccap : 16;
			char **nv = realloc(s->voc, cap * sizeof(*nv));
			if (nv == NULL)
				return 0;
			s->voc = nv;
			s->voccap = cap;
		}
		if ((s->voc[n] = strdup(v)) == NULL)
			return 0;
		s->nvoc++;
	}
	if (n < s->nvoc) {
		out[0] = VOC_REF;
		out[1] = (char)(2 + n / 255);
		out[2] = (char)(1 + n % 255);
		out[3] = '\0';
		return 4;
	}
	size_t len = strlen(v);
	if (v[0] == VOC_REF)
		*out++ = VOC_REF;
	memcpy(out, v, len + 1);
	return len + 1 + (v[0] == VOC_REF);
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

static int match(const struct set *s, const struct rg_filter *f, const int16_t *posmap,
    const struct ment *e, const char *local, const char *domain);
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
index_keys(const struct rg_mirror *m, const struct set *s, struct table *t,
    const struct rg_filter *f, const int16_t *posmap, const struct ment *e, uint32_t id,
    int del)
{
	int bad = 0;

	for (size_t k = 0; k < rg_filter_nkeys(f); k++) {
		size_t pos;
		rg_filter_key_attr(f, k, &pos);
		size_t p = 0;
		int a;
		const char *v;
		while (ment_next(s, e, &p, &a, &v)) {
			if (posmap[a] != (int16_t)pos || (t == &s->cakeys && !ca_fits(m, k, v)))
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

	while (!named && ment_next(s, e, &p, &a, &v))
		named = s->mof[a];
	if (!named || m->scope == NULL)
		return 0;
	int in = match(s, m->scope, s->spos, e, NULL, NULL);
	int dis = in > 0 ? disabled(m, s, e) : 0;
	if (in < 0 || dis < 0)
		return -1;
	if (!in || dis)
		return 0;
	for (p = 0; ment_next(s, e, &p, &a, &v);)
		if (s->mof[a])
			bad |= groups_add(&s->groups, v, del ? -1 : 1);
	return bad;
}

/* Add or remove (DEL) the table rows of entry ID. */
static int
set_index(struct rg_mirror *m, struct set *s, uint32_t id, int del)
{
	const struct ment *e = s->ents[id];
	int bad = 0;
	static const unsigned char zero[16];

	if (e->size & DN_OK)
		bad |= del ? (itable_del(&s->dns, e->dnh, id), 0) :
		    itable_add(s, &s->dns, BY_DN, e->dnh, id);
	if (memcmp(e->uuid, zero, 16) != 0) {
		uint32_t h = ment_hash(e, BY_UUID);
		bad |= del ? (itable_del(&s->uuids, h, id), 0) :
		    itable_add(s, &s->uuids, BY_UUID, h, id);
	}
	bad |= index_keys(m, s, &s->keys, m->f, s->fpos, e, id, del);
	if (m->ca != NULL)
		bad |= index_keys(m, s, &s->cakeys, m->ca, s->cpos, e, id, del);
	bad |= index_groups(m, s, e, del);
	return bad ? -1 : 0;
}

/* The number of the entry with UUID in S, or 0. */
static uint32_t
set_by_uuid(const struct set *s, const unsigned char *uuid)
{
	uint32_t ids[CAND_MAX];
	size_t n = itable_get(s, &s->uuids, BY_UUID, hash_lower((const char *)uuid, 16), ids,
	    CAND_MAX);

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
	s->bytes -= sizeof(*e) + (e->size & SIZE_MASK);
	s->live--;
	ment_release(s, e);
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
		/* by half again: set_trim() leaves no room after a load */
		uint32_t cap = s->cap ? s->cap + s->cap / 2 : 1024;
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
	size_t dnlen = strlen(e->dn), keep = dnlen;
	uint32_t flags = 0;
	int ok;
	uint32_t dnh = dn_hash(e->dn, &ok);
	int ids[e->nvals ? e->nvals : 1];

	/* "...,BASE" kept as "...", BASE itself as "" */
	if (s->baselen > 0 && (dnlen == s->baselen || dnlen > s->baselen + 1) &&
	    memcmp(e->dn + dnlen - s->baselen, s->base, s->baselen) == 0 &&
	    (dnlen == s->baselen || e->dn[dnlen - s->baselen - 1] == ',')) {
		keep = dnlen == s->baselen ? 0 : dnlen - s->baselen - 1;
		flags |= DN_BASE;
	}
	/* packed in S's scratch first: a word's number is shorter than the word */
	size_t size = keep + 1;
	for (size_t i = 0; i < e->nvals; i++) {
		ids[i] = attr_pos(e->vals[i].attr, m->fetch) < 0 ? -1 : set_attr(m, s, e->vals[i].attr);
		if (ids[i] >= 0)
			size += strlen(e->vals[i].value) + 2 + (s->isvoc[ids[i]] ? 3 : 0);
	}
	if (size > SIZE_MASK)
		return -1;
	if (size > s->scratchcap) {
		char *b = realloc(s->scratch, size + 1024);
		if (b == NULL)
			return -1;
		s->scratch = b;
		s->scratchcap = size + 1024;
	}
	memcpy(s->scratch, e->dn, keep);
	s->scratch[keep] = '\0';
	char *p = s->scratch + keep + 1;
	for (size_t i = 0; i < e->nvals; i++) {
		if (ids[i] < 0)
			continue;
		*p++ = (char)ids[i];
		if (!s->isvoc[ids[i]]) {
			p = stpcpy(p, e->vals[i].value) + 1;
		} else {
			size_t n = voc_put(s, e->vals[i].value, p);
			if (n == 0)
				return -1;
			p += n;
		}
	}
	size = (size_t)(p - s->scratch);
	/* the old entry goes only once the new one has its room */
	struct ment *x = ment_alloc(s, size);
	if (x == NULL)
		return -1;
	memset(x->uuid, 0, 16);
	if (uuid != NULL)
		memcpy(x->uuid, uuid, 16);
	x->dnh = ok ? dnh : 0;
	memcpy(x->data, s->scratch, size);
	x->size |= (uint32_t)size | flags | (ok ? DN_OK : 0);
	uint32_t old = uuid != NULL ? set_by_uuid(s, uuid) : 0;
	if (old != 0)
		set_remove(m, s, old);
	uint32_t id = set_slot(s);
	if (id == 0) {
		ment_release(s, x);
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
	/* the blocks, and the entries allocated alone */
	size_t b = s->pool.bytes + (s->bytes > s->pool.used ? s->bytes - s->pool.used : 0) +
	    s->cap * sizeof(*s->ents) +
	    (s->keys.cap + s->cakeys.cap) * sizeof(uint64_t) +
	    (s->dns.cap + s->uuids.cap) * sizeof(uint32_t) +
	    s->groups.cap * sizeof(*s->groups.slot);

	return (b + (1 << 19)) >> 20;
}

/* ---- evaluating filters on an entry ---- */

/* The values of one entry, walked once for all the filters that look at it. */
struct vals {
	size_t n;
	unsigned char *attr;
	const char **val;
	unsigned char attr_small[48];
	const char *val_small[48];
};

static void
vals_free(struct vals *x)
{
	if (x->attr != x->attr_small)
		free(x->attr);
	if (x->val != x->val_small)
		free(x->val);
}

/* Fill X with the values of E (of S); -1 out of memory. */
static int
vals_fill(struct vals *x, const struct set *s, const struct ment *e)
{
	size_t p = 0, cap = sizeof(x->val_small) / sizeof(x->val_small[0]);
	int a;
	const char *v;

	x->n = 0;
	x->attr = x->attr_small;
	x->val = x->val_small;
	while (ment_next(s, e, &p, &a, &v)) {
		if (x->n == cap) {
			/* a large entry: counted, then walked again */
			cap = ment_count(e);
			x->attr = malloc(cap);
			x->val = malloc(cap * sizeof(*x->val));
			if (x->attr == NULL || x->val == NULL)
				return -1;
			x->n = 0;
			for (p = 0; x->n < cap && ment_next(s, e, &p, &a, &v); x->n++) {
				x->attr[x->n] = (unsigned char)a;
				x->val[x->n] = v;
			}
			return 0;
		}
		x->attr[x->n] = (unsigned char)a;
		x->val[x->n++] = v;
	}
	return 0;
}

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

/* Fill V from the values X under the map POSMAP of a filter of NPOS
 * attributes: one pass counts the values of each position, a second puts
 * them in place. */
static int
view_fill(struct view *v, const struct vals *x, const int16_t *posmap, size_t npos)
{
	size_t total = 0;

	v->ptr = v->ptr_small;
	v->start = npos < 33 ? v->start_small : calloc(npos + 1, sizeof(*v->start));
	if (v->start == NULL)
		return -1;
	memset(v->start, 0, (npos + 1) * sizeof(*v->start));
	/* start[i + 1]: how many values position i has */
	for (size_t i = 0; i < x->n; i++)
		if (posmap[x->attr[i]] >= 0 && (size_t)posmap[x->attr[i]] < npos) {
			v->start[posmap[x->attr[i]] + 1]++;
			total++;
		}
	if (total > 32 && (v->ptr = malloc(total * sizeof(*v->ptr))) == NULL)
		return -1;
	/* start[i]: where position i begins, moved on as its values are put */
	for (size_t i = 1; i <= npos; i++)
		v->start[i] += v->start[i - 1];
	for (size_t i = 0; i < x->n; i++)
		if (posmap[x->attr[i]] >= 0 && (size_t)posmap[x->attr[i]] < npos)
			v->ptr[v->start[posmap[x->attr[i]]]++] = x->val[i];
	/* each start[i] is now where i + 1 begins: back by one position */
	memmove(v->start + 1, v->start, npos * sizeof(*v->start));
	v->start[0] = 0;
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

/* Does filter F (attribute map POSMAP) match the values X for LOCAL@DOMAIN?
 * -1: no memory. */
static int
match_vals(const struct rg_filter *f, const int16_t *posmap, const struct vals *x,
    const char *local, const char *domain)
{
	struct view v;
	size_t npos;

	rg_filter_attrs(f, &npos);
	if (view_fill(&v, x, posmap, npos) < 0) {
		view_free(&v);
		return -1;
	}
	int r = rg_filter_match(f, local, domain, view_values, &v);
	view_free(&v);
	return r;
}

/* Does filter F (attribute map POSMAP) match E for LOCAL@DOMAIN?  -1: no memory. */
static int
match(const struct set *s, const struct rg_filter *f, const int16_t *posmap,
    const struct ment *e, const char *local, const char *domain)
{
	struct vals x;
	int r = vals_fill(&x, s, e) < 0 ? -1 : match_vals(f, posmap, &x, local, domain);

	vals_free(&x);
	return r;
}

/* Are the values X (of S) picked by LDAPDisabledFilter?  -1: no memory. */
static int
disabled_vals(const struct rg_mirror *m, const struct set *s, const struct vals *x)
{
	return m->dis == NULL ? 0 : match_vals(m->dis, s->dpos, x, NULL, NULL);
}

/* Is E picked by LDAPDisabledFilter?  -1: no memory. */
static int
disabled(const struct rg_mirror *m, const struct set *s, const struct ment *e)
{
	struct vals x;
	int r;

	if (m->dis == NULL)
		return 0;
	r = vals_fill(&x, s, e) < 0 ? -1 : disabled_vals(m, s, &x);
	vals_free(&x);
	return r;
}

/* ---- the state rg_mirror_trust() reads ----
 * Written under m->mu, between trust_begin() and trust_end(); read without
 * a lock, again until the count is even and unchanged (a sequence lock). */

static void
trust_begin(struct rg_mirror *m)
{
	__atomic_store_n(&m->trust_seq, m->trust_seq + 1, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);
}

static void
trust_end(struct rg_mirror *m)
{
	__atomic_store_n(&m->trust_seq, m->trust_seq + 1, __ATOMIC_RELEASE);
}

static void
put_int(int *p, int v)
{
	__atomic_store_n(p, v, __ATOMIC_RELAXED);
}

static int
get_int(const int *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

static void
put_time(double *p, double v)
{
	__atomic_store(p, &v, __ATOMIC_RELAXED);
}

static double
get_time(const double *p)
{
	double v;

	__atomic_load(p, &v, __ATOMIC_RELAXED);
	return v;
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
	size_t nvals = ment_count(e);
	if ((out->dn = ment_dn(s, e)) == NULL ||
	    (out->vals = calloc(nvals ? nvals : 1, sizeof(*out->vals))) == NULL)
		return -1;
	while (ment_next(s, e, &p, &a, &v)) {
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
		struct vals x;
		if (e == NULL)
			continue;
		if (vals_fill(&x, s, e) < 0) {
			vals_free(&x);
			return -1;
		}
		int ok = f != NULL ? match_vals(f, posmap, &x, local, domain) : 1;
		int dis = ok > 0 ? disabled_vals(m, s, &x) : 0;
		vals_free(&x);
		if (ok < 0 || dis < 0)
			return -1;
		if (ok && dis == want_disabled)
			ids[k++] = ids[i];
	}
	return (long)k;
}

/*
 * The entries of S that filter F (LDAPFilter, or with CA LDAPCatchAllFilter)
 * picks for LOCAL@DOMAIN, and that LDAPDisabledFilter does not (WANT_DISABLED:
 * does), into IDS (CAND_MAX): how many, or -1 out of memory; *N the
 * candidates the keys gave (CAND_MAX: maybe more).  Under the read lock.
 */
static long
candidates(const struct rg_mirror *m, const struct set *s, int ca, const char *local,
    const char *domain, int want_disabled, uint32_t *ids, size_t *n)
{
	char key[RG_FILTER_MAX];
	const struct rg_filter *flt = ca ? m->ca : m->f;
	const struct table *t = ca ? &s->cakeys : &s->keys;

	*n = 0;
	for (size_t k = 0; k < rg_filter_nkeys(flt); k++)
		if (rg_filter_key_value(flt, k, local, domain, key, sizeof(key)) == 0)
			*n = table_get(t, hash_lower(key, strlen(key)), ids, *n, CAND_MAX);
	return keep_matching(m, s, ids, *n, flt, ca ? s->cpos : s->fpos, local, domain,
	    want_disabled);
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
	enum rg_found f = RG_LOOKUP_FAIL;

	if (res != NULL)
		memset(res, 0, sizeof(*res));
	pthread_rwlock_rdlock(&m->lock);
	struct set *s = m->set;
	if (s == NULL) {
		snprintf(err, errlen, "the directory mirror is not loaded");
		goto out;
	}
	long kept = candidates(m, s, ca, local, domain, want_disabled, ids, &n);
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

/* Could a value of E (of S) make it an alias: one of LDAPAliasAttributes or
 * LDAPMemberAttributes, or an objectClass of LDAPAliasClasses? */
static int
aliasy(const struct rg_mirror *m, const struct set *s, const struct ment *e)
{
	const struct rg_strlist *classes = &m->cf->alias_classes;
	size_t p = 0;
	int a;
	const char *v;

	while (ment_next(s, e, &p, &a, &v)) {
		if (s->aliasy[a])
			return 1;
		if (!s->isvoc[a])
			continue;
		v = voc_get(s, v);
		for (size_t i = 0; i < classes->n; i++)
			if (strcasecmp(classes->v[i], v) == 0)
				return 1;
	}
	return 0;
}

int
rg_mirror_mailbox(struct rg_mirror *m, const char *local, const char *domain)
{
	uint32_t ids[CAND_MAX];
	size_t n = 0;
	int said = -1;

	pthread_rwlock_rdlock(&m->lock);
	struct set *s = m->set;
	if (s != NULL) {
		long kept = candidates(m, s, 0, local, domain, 0, ids, &n);
		if (n < CAND_MAX && kept == 0)
			said = 0;
		else if (n < CAND_MAX && kept == 1 && !aliasy(m, s, s->ents[ids[0]]))
			said = 1;
	}
	pthread_rwlock_unlock(&m->lock);
	return said;
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
	size_t n = itable_get(s, &s->dns, BY_DN, h, ids, CAND_MAX), k = 0;
	for (size_t i = 0; i < n; i++) {
		char *edn = ment_dn(s, s->ents[ids[i]]);
		size_t elen = edn != NULL ? strlen(edn) + 1 : 0;
		free(have);
		if (edn != NULL && (have = malloc(elen)) != NULL &&
		    rg_alias_dn_norm(edn, have, elen) == 0 && strcmp(have, want) == 0)
			ids[k++] = ids[i];
		free(edn);
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

/* Give back the room left for entry numbers after a load. */
static void
set_trim(struct set *s)
{
	if (s->cap > s->nents + s->nents / 8) {
		struct ment **v = realloc(s->ents, s->nents * sizeof(*v));
		if (v != NULL) {
			s->ents = v;
			s->cap = s->nents;
		}
	}
}

/* Replace M's set with FRESH; log the first time. */
static void
publish(struct rg_mirror *m, struct set *fresh)
{
	set_trim(fresh);
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
	trust_begin(m);
	put_int(&m->said_ready, 1);
	put_time(&m->loaded_at, rg_now());
	trust_end(m);
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
	struct walk_load w = { m, set_new(m) };
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
	set_compact(s, s == m->set ? &m->lock : NULL);
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
		trust_begin(m);
		put_int(&m->sync, 1);
		put_int(&m->live, 1);
		trust_end(m);
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
	trust_begin(m);
	if (was)
		put_time(&m->lost_at, rg_now());
	put_int(&m->live, 0);
	trust_end(m);
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
	m->building = set_new(m);
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
		trust_begin(m);
		put_int(&m->load_failed, failing);
		trust_end(m);
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
rg_mirror_trust(struct rg_mirror *m, double now)
{
	const struct rg_config *cf = m->cf;
	enum rg_mirror_trust t = RG_MIRROR_NONE;
	int ready, sync, live, failed;
	double lost_at, loaded_at;
	unsigned seq;

	/* read at every recipient: no lock, the fields as one consistent whole */
	do {
		while ((seq = __atomic_load_n(&m->trust_seq, __ATOMIC_ACQUIRE)) & 1)
			sched_yield();  /* a writer is between its two counts */
		ready = get_int(&m->said_ready);
		sync = get_int(&m->sync);
		live = get_int(&m->live);
		failed = get_int(&m->load_failed);
		lost_at = get_time(&m->lost_at);
		loaded_at = get_time(&m->loaded_at);
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
	} while (__atomic_load_n(&m->trust_seq, __ATOMIC_RELAXED) != seq);
	double lost = now - lost_at, age = now - loaded_at;
	if (!ready)
		t = RG_MIRROR_NONE;
	else if (sync && (live || lost < cf->negative_cache_ttl))
		t = RG_MIRROR_ALL;
	else if (sync && lost < cf->stale_ttl)
		t = RG_MIRROR_POSITIVE;
	else if (!sync && (!failed || age < cf->stale_ttl))
		t = RG_MIRROR_POSITIVE;
	/* how far behind the directory it may be: 0 while a session is in step */
	if (ready)
		rg_metrics_set(RG_M_MIRROR_LAG, sync && live ? 0 : sync ? lost : age);
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
