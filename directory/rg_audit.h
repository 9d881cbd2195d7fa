/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * rg_audit.h - the alias graph of a whole directory, and what is wrong in it.
 *
 * Feed every entry of the directory with rg_audit_add(), the DN of every
 * disabled entry with rg_audit_disable() and every catch-all entry with
 * rg_audit_catchall(), in any order; rg_audit_run() then
 * builds the graph and lists the problems, sorted.  The model is rg_alias's,
 * the one of the runtime check (see rg_audit.c for the rules).  Not thread-safe;
 * one audit is one single-threaded pass.
 */
#ifndef RG_AUDIT_H
#define RG_AUDIT_H

#include <stddef.h>
#include <stdio.h>

#include "rg_config.h"
#include "rg_ldap.h"

struct rg_audit;

struct rg_audit_problem {
	const char *problem;    /* "dangling-target", "loop", ... */
	const char *alias;      /* the alias's first address, or its DN */
	const char *target;     /* NULL when the problem names none */
	const char *dn;         /* the alias's DN ("; "-joined for duplicate-address) */
};

struct rg_audit_stats {
	size_t entries, aliases, disabled, edges, problems;
};

/* CF must outlive the audit. */
struct rg_audit *rg_audit_new(const struct rg_config *cf);
void rg_audit_free(struct rg_audit *);

/* Take in one entry (copied).  0, or -1 when out of memory. */
int rg_audit_add(struct rg_audit *, const struct rg_ldap_entry *);

/* The entry DN is a catch-all of DOMAIN (LDAPCatchAllFilter found it for
 * DOMAIN): it takes the mail of the addresses of DOMAIN nobody claims.
 * 0, or -1 when out of memory. */
int rg_audit_catchall(struct rg_audit *, const char *domain, const char *dn);
/* Mark the entry DN as disabled.  0, or -1 when out of memory. */
int rg_audit_disable(struct rg_audit *, const char *dn);

/*
 * ADDRESS is named in LDAPMemberOfAttributes by an entry that is not
 * disabled and that LDAPFilter could pick for some address: a group address
 * with a living member, whether or not it has an entry.  0, or -1 when out
 * of memory.
 */
int rg_audit_named(struct rg_audit *, const char *address);

/* Build the graph and find the problems.  0, or -1 when out of memory. */
int rg_audit_run(struct rg_audit *);

/* The problems found by rg_audit_run(), sorted; their count is returned. */
size_t rg_audit_problems(const struct rg_audit *, const struct rg_audit_problem **);

void rg_audit_stats(const struct rg_audit *, struct rg_audit_stats *);

/* A Graphviz digraph of every alias and its targets, broken edges in red. */
void rg_audit_dot(const struct rg_audit *, FILE *);

/*
 * One self-contained HTML page into F: the problems by kind with counts, a
 * table per kind, and the chain of each broken alias as inline SVG made by
 * the Graphviz program DOT (e.g. "dot"; NULL, or one that cannot be run:
 * the tables alone).  0, or -1 when out of memory or F failed.
 */
int rg_audit_html(const struct rg_audit *, FILE *f, const char *dot);

#endif
