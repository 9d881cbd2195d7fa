/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * rg_index.c - keep the suggestion index (rg_suggest) filled from LDAP.
 *
 * A load walks every entry under LDAPBase that has one of
 * LDAPAddressAttributes (and is not disabled, when LDAPDisabledFilter is
 * set) with the paged-results control, keeps the addresses of our Domains,
 * and swaps the finished index in under a write lock held for a pointer
 * store.  A load cut short (size limit, timeout, lost server) keeps the old
 * index and is logged once until a load succeeds again: a partial index
 * would make suggestions from half a directory.
 *
 * When the server offers RFC 4533 content synchronisation (slapd's
 * syncprov), a watcher thread keeps a refreshAndPersist search open and a
 * change in the directory brings the next reload forward (a burst of
 * changes gathered for a second, at most one such reload every 5 s); the
 * timed reload stays as the fallback.
 *
 * With the directory mirror (rg_mirror) the index is built from it instead,
 * after each of its loads and at most every few seconds while it follows
 * changes: one walk of the directory, not two (rg_index_load_mirror()).
 *
 * On a reload with unchanged index settings (rg_directory.h) the new index
 * starts from the running one's addresses: a loaded set is shared by
 * counted reference, and freed by the last index that lets go of it, so an
 * RCPT reading it under one index's lock never sees it freed by the other.
 */
#include "rg_index.h"
#include "rg_alias.h"
#include "rg_ldap.h"
#include "rg_log.h"
#include "rg_mirror.h"
#include "rg_suggest.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#define PAGE_SIZE 500
#define PAGE_TIMEOUT_MIN 10.0
#define CHANGE_SETTLE 1.0               /* seconds to gather a burst of changes */
#define CHANGE_RELOAD_MIN 5.0           /* seconds between reloads for changes */

/* One loaded set of addresses, shared by the indexes that point at it. */
struct held {
	atomic_int refs;
	struct rg_suggest_index *idx;
	double loaded;                  /* rg_now() when its load ended */
};

struct rg_index {
	const struct rg_config *cf;
	pthread_rwlock_t lock;
	struct held *idx;               /* NULL until the first load */
	int failing;                    /* under mu: the last load failed (said once) */
	int load_first;                 /* load at the start, before a wait */
	int seeded;                     /* started from another index's addresses */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int stop, background;
	pthread_t thread;
	/* RFC 4533: a change in the directory asks for a reload now */
	int watching;                   /* the watcher thread runs */
	pthread_t watcher;
	int changed;                    /* under mu */
	int live;                       /* the server sends changes as they happen */
	LDAP *watch_ld;                 /* under mu: the watcher's handle */
};

struct load {
	const struct rg_config *cf;
	struct rg_suggest_builder *b;
	int nomem;
};

static int index_filter(const struct rg_config *cf, char *filter, size_t len);

/* Let go of H (NULL: nothing); the last one frees it. */
static void
held_drop(struct held *h)
{
	if (h != NULL && atomic_fetch_sub(&h->refs, 1) == 1) {
		rg_suggest_index_free(h->idx);
		free(h);
	}
}

static int
add_entry(void *arg, const struct rg_ldap_entry *e)
{
	struct load *l = arg;

	for (size_t i = 0; i < e->nvals; i++) {
		/* as rg_alias counts addresses: mail;lang-de is mail, smtp:ADDR is ADDR */
		const char *v = rg_address_value(e->vals[i].value);
		const char *at = v != NULL ? strrchr(v, '@') : NULL;
		int wanted = rg_alias_attr_in(e->vals[i].attr, &l->cf->address_attrs);
		if (!wanted || at == NULL)
			continue;
		char dom[256];
		snprintf(dom, sizeof(dom), "%s", at + 1);
		for (char *p = dom; *p; p++)
			if (*p >= 'A' && *p <= 'Z')
				*p = (char)(*p - 'A' + 'a');
		if (!rg_config_domain_ours(l->cf, dom))
			continue;
		if (rg_suggest_builder_add(l->b, v, strlen(v)) < 0) {
			l->nomem = 1;
			return -1;
		}
	}
	return 0;
}

/* Swap the addresses L gathered in as X's index (L's builder is used up). */
static int
index_finish(struct rg_index *x, struct load *l, double t0, const char *from, char *err,
    size_t errlen)
{
	struct held *fresh = calloc(1, sizeof(*fresh));
	if (fresh == NULL || (fresh->idx = rg_suggest_builder_finish(l->b)) == NULL) {
		free(fresh);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	atomic_init(&fresh->refs, 1);
	fresh->loaded = rg_now();
	pthread_rwlock_wrlock(&x->lock);
	struct held *old = x->idx;
	x->idx = fresh;
	pthread_rwlock_unlock(&x->lock);
	held_drop(old);
	rg_log(LOG_INFO, "suggestion index loaded%s: %zu addresses, %zu KiB, %.1f s", from,
	    rg_suggest_index_count(fresh->idx), rg_suggest_index_bytes(fresh->idx) / 1024,
	    rg_now() - t0);
	return 0;
}

int
rg_index_load(struct rg_index *x, char *err, size_t errlen)
{
	const struct rg_config *cf = x->cf;
	char filter[4096];
	double t0 = rg_now();

	if (index_filter(cf, filter, sizeof(filter)) < 0) {
		snprintf(err, errlen, "LDAPAddressAttributes make a filter too long");
		return -1;
	}
	struct load l = { cf, rg_suggest_builder_new(), 0 };
	if (l.b == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	double timeout = cf->ldap_timeout > PAGE_TIMEOUT_MIN ? cf->ldap_timeout : PAGE_TIMEOUT_MIN;
	if (rg_ldap_walk(cf, filter, cf->address_attrs.v, PAGE_SIZE, timeout, add_entry, &l,
	    err, errlen) < 0) {
		if (l.nomem)
			snprintf(err, errlen, "out of memory");
		rg_suggest_builder_free(l.b);
		return -1;
	}
	return index_finish(x, &l, t0, "", err, errlen);
}

int
rg_index_load_mirror(struct rg_index *x, struct rg_mirror *m, char *err, size_t errlen)
{
	struct load l = { x->cf, rg_suggest_builder_new(), 0 };
	double t0 = rg_now();

	if (l.b == NULL || rg_mirror_each(m, add_entry, &l) < 0) {
		snprintf(err, errlen, "out of memory");
		rg_suggest_builder_free(l.b);
		return -1;
	}
	return index_finish(x, &l, t0, " from the mirror", err, errlen);
}

/* Build the filter of the entries the index is made from. */
static int
index_filter(const struct rg_config *cf, char *filter, size_t len)
{
	size_t o = 0;

	o += (size_t)snprintf(filter + o, len - o, "%s(|", cf->ldap_disabled_filter[0] ? "(&" : "");
	for (size_t i = 0; i < cf->address_attrs.n && o < len; i++)
		o += (size_t)snprintf(filter + o, len - o, "(%s=*)", cf->address_attrs.v[i]);
	if (o < len)
		o += (size_t)snprintf(filter + o, len - o, ")");
	if (cf->ldap_disabled_filter[0] && o < len)
		o += (size_t)snprintf(filter + o, len - o, "(!%s))", cf->ldap_disabled_filter);
	return o < len ? 0 : -1;
}

/* ---- following changes live (RFC 4533 refreshAndPersist) ---- */

static void
note_change(struct rg_index *x)
{
	pthread_mutex_lock(&x->mu);
	x->changed = 1;
	pthread_cond_broadcast(&x->cv);
	pthread_mutex_unlock(&x->mu);
}

static int
sync_entry(ldap_sync_t *ls, LDAPMessage *msg, struct berval *uuid, ldap_sync_refresh_t phase)
{
	struct rg_index *x = ls->ls_private;

	(void)msg; (void)uuid;
	/* the refresh phase replays what the last load already saw */
	if (x->live && (phase == LDAP_SYNC_CAPI_ADD || phase == LDAP_SYNC_CAPI_MODIFY ||
	    phase == LDAP_SYNC_CAPI_DELETE))
		note_change(x);
	return 0;
}

static int
sync_intermediate(ldap_sync_t *ls, LDAPMessage *msg, BerVarray uuids, ldap_sync_refresh_t phase)
{
	struct rg_index *x = ls->ls_private;

	(void)msg; (void)uuids;
	if (phase == LDAP_SYNC_CAPI_DONE && !x->live) {
		x->live = 1;
		rg_log(LOG_INFO, "suggestion index follows directory changes as they happen "
		    "(RFC 4533)");
	} else if (x->live && (phase & LDAP_SYNC_CAPI_IDSET_FLAG)) {
		note_change(x);
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
pause_unless_stopped(struct rg_index *x, double seconds)
{
	struct timespec ts = rg_timespec_in(seconds);

	pthread_mutex_lock(&x->mu);
	while (!x->stop && pthread_cond_timedwait(&x->cv, &x->mu, &ts) == 0)
		;
	int stop = x->stop;
	pthread_mutex_unlock(&x->mu);
	return stop;
}

/* 1 when a stop was asked for (x->stop is written by rg_index_free()). */
static int
stopping(struct rg_index *x)
{
	pthread_mutex_lock(&x->mu);
	int stop = x->stop;
	pthread_mutex_unlock(&x->mu);
	return stop;
}

/*
 * Note the watcher's handle (NULL: none), so that a stop can shut its socket
 * down; returns 0 when a stop is already asked for.
 */
static int
watch_handle(struct rg_index *x, LDAP *ld)
{
	pthread_mutex_lock(&x->mu);
	x->watch_ld = ld;
	int go = !x->stop;
	pthread_mutex_unlock(&x->mu);
	return go;
}

static void *
watch_thread(void *arg)
{
	struct rg_index *x = arg;
	const struct rg_config *cf = x->cf;
	char err[RG_ERRLEN], filter[4096];
	static char *no_attrs[] = { LDAP_NO_ATTRS, NULL };
	int said_down = 0;

	if (index_filter(cf, filter, sizeof(filter)) < 0)
		return NULL;
	while (!pause_unless_stopped(x, 0)) {
		LDAP *ld = rg_ldap_connect(cf, rg_now() + cf->ldap_timeout, err, sizeof(err));
		if (ld == NULL) {
			if (!said_down)
				rg_log(LOG_WARNING, "not following directory changes: %s", err);
			said_down = 1;
			if (pause_unless_stopped(x, 30))
				break;
			continue;
		}
		ldap_sync_t ls;
		ldap_sync_initialize(&ls);
		ls.ls_base = strdup(cf->ldap_base);
		ls.ls_scope = LDAP_SCOPE_SUBTREE;
		ls.ls_filter = strdup(filter);
		ls.ls_attrs = no_attrs;         /* only that something changed matters */
		ls.ls_timeout = 1;              /* poll, so that a stop is seen */
		ls.ls_search_entry = sync_entry;
		ls.ls_intermediate = sync_intermediate;
		ls.ls_search_result = sync_result;
		ls.ls_private = x;
		ls.ls_ld = ld;
		x->live = 0;
		if (!watch_handle(x, ld)) {
			ls.ls_attrs = NULL;
			ldap_sync_destroy(&ls, 0);
			break;
		}
		/* the refresh phase runs to its end inside ldap_sync_init(); a stop
		 * meanwhile shuts the connection down under it */
		int rc = ldap_sync_init(&ls, LDAP_SYNC_REFRESH_AND_PERSIST);
		if (rc == LDAP_UNAVAILABLE_CRITICAL_EXTENSION || rc == LDAP_PROTOCOL_ERROR ||
		    rc == LDAP_UNWILLING_TO_PERFORM || rc == LDAP_INSUFFICIENT_ACCESS) {
			rg_log(LOG_INFO, "the directory does not offer RFC 4533 synchronisation "
			    "(%s): the suggestion index is reloaded every %d s", ldap_err2string(rc),
			    cf->suggest_refresh);
			ls.ls_attrs = NULL;
			watch_handle(x, NULL);
			ldap_sync_destroy(&ls, 0);
			break;
		}
		while (rc == LDAP_SUCCESS && !pause_unless_stopped(x, 0)) {
			said_down = 0;
			rc = ldap_sync_poll(&ls);
		}
		if (rc != LDAP_SUCCESS && !stopping(x))
			rg_log(LOG_WARNING, "following directory changes stopped (%s); "
			    "trying again in 30 s", ldap_err2string(rc));
		ls.ls_attrs = NULL;             /* not ours to free */
		watch_handle(x, NULL);
		ldap_sync_destroy(&ls, 0);      /* frees base, filter, and unbinds */
		x->live = 0;
		if (pause_unless_stopped(x, 30))
			break;
	}
	return NULL;
}

/* Wait under x->mu until a stop, a change, or PERIOD seconds after LOADED. */
static void
wait_for_reload(struct rg_index *x, double loaded, double period)
{
	double left = loaded + period - rg_now();
	struct timespec ts = rg_timespec_in(left > 0 ? left : 0);

	while (!x->stop && !x->changed && pthread_cond_timedwait(&x->cv, &x->mu, &ts) == 0)
		;
	if (!x->stop && x->changed) {
		/* a change: reload soon, gathering the changes of a burst, and at
		 * most one reload every CHANGE_RELOAD_MIN seconds */
		double wait = CHANGE_SETTLE;
		if (rg_now() + wait < loaded + CHANGE_RELOAD_MIN)
			wait = loaded + CHANGE_RELOAD_MIN - rg_now();
		ts = rg_timespec_in(wait);
		while (!x->stop && pthread_cond_timedwait(&x->cv, &x->mu, &ts) != ETIMEDOUT)
			;
	}
}

static void *
refresh_thread(void *arg)
{
	struct rg_index *x = arg;
	char err[RG_ERRLEN];
	/* only this thread stores x->idx: it may read it unlocked */
	double loaded = x->idx != NULL ? x->idx->loaded : 0;
	int load = x->load_first;

	pthread_mutex_lock(&x->mu);
	while (!x->stop) {
		if (load) {
			pthread_mutex_unlock(&x->mu);
			int rc = rg_index_load(x, err, sizeof(err));
			if (rc < 0 && !x->failing)
				rg_log(LOG_ERR, "suggestion index not %s: %s",
				    x->idx ? "refreshed, keeping the old one" : "loaded", err);
			loaded = rg_now();
			pthread_mutex_lock(&x->mu);
			x->failing = rc < 0;
			x->changed = 0;
		}
		load = 1;
		/* after a failure try again sooner, but not in a tight loop */
		wait_for_reload(x, loaded, x->failing && x->cf->suggest_refresh > 30 ? 30 :
		    x->cf->suggest_refresh);
	}
	pthread_mutex_unlock(&x->mu);
	return NULL;
}

/* Start X from FROM's addresses, if it has any; X loads at once when it has
 * none, or when FROM's last load failed or a change is waiting for a load. */
static void
seed(struct rg_index *x, struct rg_index *from)
{
	x->load_first = 1;
	if (from == NULL)
		return;
	pthread_rwlock_rdlock(&from->lock);
	x->idx = from->idx;
	if (x->idx != NULL)
		atomic_fetch_add(&x->idx->refs, 1);
	pthread_rwlock_unlock(&from->lock);
	pthread_mutex_lock(&from->mu);
	x->load_first = x->idx == NULL || from->failing || from->changed;
	x->seeded = x->idx != NULL;
	pthread_mutex_unlock(&from->mu);
}

struct rg_index *
rg_index_new(const struct rg_config *cf, int background, struct rg_index *from)
{
	struct rg_index *x = calloc(1, sizeof(*x));

	if (x == NULL)
		return NULL;
	x->cf = cf;
	pthread_rwlock_init(&x->lock, NULL);
	pthread_mutex_init(&x->mu, NULL);
	rg_cond_init(&x->cv);
	seed(x, from);
	if (background && pthread_create(&x->thread, NULL, refresh_thread, x) == 0) {
		x->background = 1;
		if (pthread_create(&x->watcher, NULL, watch_thread, x) == 0)
			x->watching = 1;
	}
	return x;
}

int
rg_index_seeded(const struct rg_index *x)
{
	return x->seeded;
}

void
rg_index_free(struct rg_index *x)
{
	if (x == NULL)
		return;
	if (x->background) {
		pthread_mutex_lock(&x->mu);
		x->stop = 1;
		pthread_cond_broadcast(&x->cv);
		if (x->watch_ld != NULL) {
			/* wake the watcher out of a long refresh or poll */
			int fd = -1;
			if (ldap_get_option(x->watch_ld, LDAP_OPT_DESC, &fd) == LDAP_OPT_SUCCESS &&
			    fd >= 0)
				shutdown(fd, SHUT_RDWR);
		}
		pthread_mutex_unlock(&x->mu);
		pthread_join(x->thread, NULL);
		if (x->watching)
			pthread_join(x->watcher, NULL);
	}
	held_drop(x->idx);
	pthread_rwlock_destroy(&x->lock);
	pthread_mutex_destroy(&x->mu);
	pthread_cond_destroy(&x->cv);
	free(x);
}

int
rg_index_suggest(struct rg_index *x, const char *local, const char *domain, char *out,
    size_t outlen)
{
	int found = 0;

	out[0] = '\0';
	/* a reload in progress holds the write lock only to store a pointer */
	pthread_rwlock_rdlock(&x->lock);
	if (x->idx != NULL)
		found = rg_suggest_lookup(x->idx->idx, local, domain, x->cf->domains.v, x->cf->domains.n,
		    x->cf->suggest_max_distance, out, outlen);
	pthread_rwlock_unlock(&x->lock);
	return found;
}
