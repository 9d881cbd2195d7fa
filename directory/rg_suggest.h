/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * rg_suggest.h - "Did you mean <x>?": the valid address nearest to an
 * unknown one.
 *
 * An index is built once from every valid address (a builder collects them,
 * finish turns them into an immutable index) and is then read by any number
 * of threads at once without locking.  Replacing it is the caller's business:
 * build a new one and swap the pointer.
 */
#ifndef RG_SUGGEST_H
#define RG_SUGGEST_H

#include <stddef.h>

struct rg_suggest_index;
struct rg_suggest_builder;

struct rg_suggest_builder *rg_suggest_builder_new(void);

/*
 * Add ADDR ("local@domain", LEN bytes, no NUL needed).  ASCII is folded to
 * lower case; duplicates and malformed input are ignored.  Returns 0, or -1
 * with errno ENOMEM (the builder stays usable).
 */
int rg_suggest_builder_add(struct rg_suggest_builder *, const char *addr,
    size_t len);

/* Turn the builder into an index; the builder is gone either way.  NULL on
 * ENOMEM. */
struct rg_suggest_index *rg_suggest_builder_finish(struct rg_suggest_builder *);

/* Free a builder that was never finished. */
void rg_suggest_builder_free(struct rg_suggest_builder *);

void rg_suggest_index_free(struct rg_suggest_index *);
size_t rg_suggest_index_count(const struct rg_suggest_index *);
size_t rg_suggest_index_bytes(const struct rg_suggest_index *);

/*
 * LOCAL (lower case, subaddress removed) and DOMAIN (lower case) of an
 * unknown address.  DOMAINS/NDOMAINS are the domains rcptguard answers for:
 * the same local part in another of them is a candidate.  MAXDIST is
 * SuggestMaxDistance (1 or 2).  Returns 1 and writes "local@domain" to OUT
 * when one valid address is clearly the nearest; returns 0 with OUT[0] = 0
 * otherwise (also when the answer would not fit in OUTLEN).
 */
int rg_suggest_lookup(const struct rg_suggest_index *, const char *local,
    const char *domain, char *const *domains, size_t ndomains, int maxdist,
    char *out, size_t outlen);

/* Damerau (optimal string alignment) distance of A and B, bytewise; returns
 * MAX + 1 as soon as it is known to exceed MAX.  Exported for the tests. */
int rg_suggest_distance(const char *a, size_t alen, const char *b,
    size_t blen, int max);

#endif
