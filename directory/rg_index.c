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
 */
#include "rg_index.h"
#include "rg_ldap.h"
#include "rg_log.h"
#include "rg_suggest.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define PAGE_SIZE 500
#define PAGE_TIMEOUT_MIN 10.0

struct rg_index {
	const struct rg_config *cf;
	pthread_rwlock_t lock;
	struct rg_suggest_index *idx;   /* NULL until the first load */
	int failing;                    /* the last load failed (said once) */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int stop, background;
	pthread_t thread;
};

struct load {
	const struct rg_config *cf;
	struct rg_suggest_builder *b;
	int nomem;
};

static int
add_entry(void *arg, const struct rg_ldap_entry *e)
{
	struct load *l = arg;

	for (size_t i = 0; i < e->nvals; i++) {
		const char *v = e->vals[i].value;
		const char *at = strrchr(v, '@');
		int wanted = 0;
		for (size_t k = 0; k < l->cf->address_attrs.n; k++)
			if (strcasecmp(e->vals[i].attr, l->cf->address_attrs.v[k]) == 0)
				wanted = 1;
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

int
rg_index_load(struct rg_index *x, char *err, size_t errlen)
{
	const struct rg_config *cf = x->cf;
	char filter[4096];
	size_t o = 0;
	double t0 = rg_now();

	o += (size_t)snprintf(filter + o, sizeof(filter) - o, "%s(|",
	    cf->ldap_disabled_filter[0] ? "(&" : "");
	for (size_t i = 0; i < cf->address_attrs.n && o < sizeof(filter); i++)
		o += (size_t)snprintf(filter + o, sizeof(filter) - o, "(%s=*)", cf->address_attrs.v[i]);
	if (o < sizeof(filter))
		o += (size_t)snprintf(filter + o, sizeof(filter) - o, ")");
	if (cf->ldap_disabled_filter[0] && o < sizeof(filter))
		o += (size_t)snprintf(filter + o, sizeof(filter) - o, "(!%s))", cf->ldap_disabled_filter);
	if (o >= sizeof(filter)) {
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
	struct rg_suggest_index *fresh = rg_suggest_builder_finish(l.b);
	if (fresh == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	pthread_rwlock_wrlock(&x->lock);
	struct rg_suggest_index *old = x->idx;
	x->idx = fresh;
	pthread_rwlock_unlock(&x->lock);
	rg_suggest_index_free(old);
	rg_log(LOG_INFO, "suggestion index loaded: %zu addresses, %zu KiB, %.1f s",
	    rg_suggest_index_count(fresh), rg_suggest_index_bytes(fresh) / 1024, rg_now() - t0);
	return 0;
}

static void *
refresh_thread(void *arg)
{
	struct rg_index *x = arg;
	char err[RG_ERRLEN];

	pthread_mutex_lock(&x->mu);
	while (!x->stop) {
		pthread_mutex_unlock(&x->mu);
		if (rg_index_load(x, err, sizeof(err)) < 0) {
			if (!x->failing)
				rg_log(LOG_ERR, "suggestion index not %s: %s",
				    x->idx ? "refreshed, keeping the old one" : "loaded", err);
			x->failing = 1;
		} else {
			x->failing = 0;
		}
		pthread_mutex_lock(&x->mu);
		/* after a failure try again sooner, but not in a tight loop */
		struct timespec ts = rg_timespec_in(x->failing && x->cf->suggest_refresh > 30 ? 30 :
		    x->cf->suggest_refresh);
		while (!x->stop && pthread_cond_timedwait(&x->cv, &x->mu, &ts) == 0)
			;
	}
	pthread_mutex_unlock(&x->mu);
	return NULL;
}

struct rg_index *
rg_index_new(const struct rg_config *cf, int background)
{
	struct rg_index *x = calloc(1, sizeof(*x));

	if (x == NULL)
		return NULL;
	x->cf = cf;
	pthread_rwlock_init(&x->lock, NULL);
	pthread_mutex_init(&x->mu, NULL);
	rg_cond_init(&x->cv);
	if (background && pthread_create(&x->thread, NULL, refresh_thread, x) == 0)
		x->background = 1;
	return x;
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
		pthread_mutex_unlock(&x->mu);
		pthread_join(x->thread, NULL);
	}
	rg_suggest_index_free(x->idx);
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
		found = rg_suggest_lookup(x->idx, local, domain, x->cf->domains.v, x->cf->domains.n,
		    x->cf->suggest_max_distance, out, outlen);
	pthread_rwlock_unlock(&x->lock);
	return found;
}
