/*
 * rg_index.h - the index of valid addresses behind "Did you mean": loaded
 * from LDAP with a paged search, refreshed every SuggestRefresh seconds in
 * the background, swapped in whole.  The RCPT path never waits for a load.
 */
#ifndef RG_INDEX_H
#define RG_INDEX_H

#include <stddef.h>

#include "rg_config.h"

struct rg_index;

/* BACKGROUND: load now and every SuggestRefresh seconds from a thread. */
struct rg_index *rg_index_new(const struct rg_config *, int background);
void rg_index_free(struct rg_index *);

/* Load (or reload) now, in the caller's thread.  0, or -1 with err. */
int rg_index_load(struct rg_index *, char *err, size_t errlen);

/* The suggestion for an unknown LOCAL@DOMAIN; 0 when none (or no index yet). */
int rg_index_suggest(struct rg_index *, const char *local, const char *domain,
    char *out, size_t outlen);

#endif
