/* SPDX-License-Identifier: BSD-2-Clause */
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

/*
 * BACKGROUND: load now and every SuggestRefresh seconds from a thread.
 * FROM (or NULL): an index whose addresses this one starts with, when the
 * settings they were loaded under are this one's too (rg_directory.h); then
 * the first load comes SuggestRefresh after FROM's last, or at once when
 * FROM's last load failed or FROM saw a change it has not loaded yet.
 * FROM stays usable, and may be freed before or after this index.
 */
struct rg_index *rg_index_new(const struct rg_config *, int background, struct rg_index *from);
void rg_index_free(struct rg_index *);

/* 1 when X started with the addresses of the FROM it was made from. */
int rg_index_seeded(const struct rg_index *x);

/* Load (or reload) now, in the caller's thread.  0, or -1 with err. */
int rg_index_load(struct rg_index *, char *err, size_t errlen);

/*
 * Build the index from the mirror M instead of LDAP, in the caller's thread
 * (the mirror's load callback, rg_mirror_each()).  0, or -1 with err.
 */
struct rg_mirror;
int rg_index_load_mirror(struct rg_index *, struct rg_mirror *m, char *err, size_t errlen);

/* The suggestion for an unknown LOCAL@DOMAIN; 0 when none (or no index yet). */
int rg_index_suggest(struct rg_index *, const char *local, const char *domain,
    char *out, size_t outlen);

#endif
