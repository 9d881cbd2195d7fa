/*
 * rg_directory.c - open and close the lookup machinery of one
 * configuration.
 */
#include "rg_directory.h"
#include "rg_alert.h"
#include "rg_cache.h"
#include "rg_index.h"
#include "rg_ldap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int
attrs_add(char ***attrs, size_t *n, const char *a)
{
	for (size_t i = 0; i < *n; i++)
		if (strcasecmp((*attrs)[i], a) == 0)
			return 0;
	char **v = realloc(*attrs, (*n + 2) * sizeof(*v));
	if (v == NULL)
		return -1;
	v[(*n)++] = (char *)a;
	v[*n] = NULL;
	*attrs = v;
	return 0;
}

struct rg_directory *
rg_directory_open(struct rg_config *cf, int flags, char *err, size_t errlen)
{
	struct rg_directory *d = calloc(1, sizeof(*d));

	if (d == NULL) {
		snprintf(err, errlen, "out of memory");
		rg_config_free(cf);
		return NULL;
	}
	d->cf = cf;
	d->ldap = rg_ldap_pool_new(cf);
	d->cache = rg_cache_new(cf, (flags & RG_DIR_BACKGROUND) != 0);
	if (d->ldap == NULL || d->cache == NULL)
		goto nomem;
	d->aliases = cf->alias_attrs.n > 0 || cf->member_attrs.n > 0 ||
	    cf->ldap_disabled_filter[0] != '\0';
	if (d->aliases) {
		size_t n = 0;
		int bad = attrs_add(&d->attrs, &n, "objectClass") < 0;
		for (size_t i = 0; i < cf->address_attrs.n; i++)
			bad |= attrs_add(&d->attrs, &n, cf->address_attrs.v[i]) < 0;
		for (size_t i = 0; i < cf->alias_attrs.n; i++)
			bad |= attrs_add(&d->attrs, &n, cf->alias_attrs.v[i]) < 0;
		for (size_t i = 0; i < cf->member_attrs.n; i++)
			bad |= attrs_add(&d->attrs, &n, cf->member_attrs.v[i]) < 0;
		if (bad)
			goto nomem;
	}
	if (flags & RG_DIR_ALERTS) {
		d->alerts = rg_alert_new(cf, d->cache);
		if (d->alerts == NULL)
			goto nomem;
	}
	if ((flags & RG_DIR_SUGGEST_SYNC) || cf->suggest != RG_SUGGEST_OFF) {
		d->index = rg_index_new(cf, (flags & RG_DIR_BACKGROUND) != 0);
		if (d->index == NULL)
			goto nomem;
		d->index_lazy = (flags & RG_DIR_SUGGEST_SYNC) != 0;
	}
	return d;
nomem:
	snprintf(err, errlen, "out of memory");
	rg_directory_close(d);
	return NULL;
}

void
rg_directory_close(struct rg_directory *d)
{
	if (d == NULL)
		return;
	rg_index_free(d->index);
	rg_alert_free(d->alerts);
	rg_cache_free(d->cache);
	rg_ldap_pool_free(d->ldap);
	free(d->attrs);
	rg_config_free(d->cf);
	free(d);
}

const struct rg_config *
rg_directory_config(const struct rg_directory *d)
{
	return d->cf;
}
