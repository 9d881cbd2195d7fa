/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * rg_alias.h - the alias model: what one directory entry is (mailbox or
 * alias), its addresses, its targets and member DNs, and the names of the
 * problems an alias can have.  The RCPT-time resolver (rg_check), the audit
 * (rg_audit), the suggestion index (rg_index) and the alerts (rg_alert) all
 * read entries through this module, so they cannot disagree.
 */
#ifndef RG_ALIAS_H
#define RG_ALIAS_H

#include <stddef.h>

#include "rg_address.h"
#include "rg_config.h"
#include "rg_ldap.h"

/* What can be wrong with an alias; the order is the order of the audit's reports. */
enum rg_alias_problem {
	RG_AP_DANGLING,         /* a target nobody claims, a member DN that does not exist */
	RG_AP_DISABLED,         /* a target whose entries are all disabled */
	RG_AP_LOOP,             /* the alias reaches itself */
	RG_AP_TOO_DEEP,         /* more than AliasMaxDepth aliases in a chain */
	RG_AP_TOO_MANY,         /* more than AliasMaxTargets targets */
	RG_AP_NO_TARGETS,       /* an alias without a target */
	RG_AP_DUPLICATE,        /* an address that two or more entries claim */
	RG_AP_SELF,             /* the alias lists itself */
	RG_AP_COUNT
};

/* The problem's name in logs, alerts and reports ("dangling-target", ...). */
const char *rg_alias_problem_name(enum rg_alias_problem);

/* One target of an alias, in the order of the entry's values. */
struct rg_alias_target {
	const char *value;      /* blanks around it trimmed */
	int member;             /* 1: a member DN (LDAPMemberAttributes), 0: an address */
};

/*
 * An entry as the model sees it.  An attribute with options counts as the
 * attribute itself: mail;lang-de is mail.
 */
struct rg_alias_entry {
	const char *dn;                 /* the entry's own DN, as the server gave it */
	int alias;                      /* an alias; otherwise a mailbox */
	int keeps_copy;                 /* a mailbox that lists one of its own addresses
					 * among its forwarding targets: delivers locally
					 * too (see rg_alias_classify()) */
	char **addrs;                   /* its addresses, lower case, in the order of
					 * LDAPAddressAttributes, each once, any domain */
	size_t naddrs;
	struct rg_alias_target *targets;
	size_t ntargets;                /* LDAPAliasAttributes and LDAPMemberAttributes values */
	char *store;                    /* the trimmed target values */
};

/*
 * Classify the entry E under CF into OUT: an alias when it has a value of
 * LDAPAliasAttributes or LDAPMemberAttributes, or an objectClass of
 * LDAPAliasClasses; otherwise a mailbox.  With LDAPForwardFilter, the
 * values of LDAPAliasAttributes count only when E matches it (E must hold
 * the attributes the filter reads).  An entry that is a mailbox by
 * itself (it has an address, no objectClass of LDAPAliasClasses and no
 * value of LDAPMemberAttributes) and whose LDAPAliasAttributes name one of
 * its own addresses (as given or without its subaddress) keeps a copy:
 * OUT->keeps_copy, and it is still an alias for its other targets.  OUT
 * points into E (keep E alive).
 * 0, or -1 when out of memory (OUT is then empty).  rg_alias_entry_free()
 * releases OUT in both cases.
 */
int rg_alias_classify(const struct rg_config *cf, const struct rg_ldap_entry *e,
    struct rg_alias_entry *out);
void rg_alias_entry_free(struct rg_alias_entry *);

/*
 * The problem of alias X by itself, before any target is looked at:
 * RG_AP_NO_TARGETS, RG_AP_TOO_MANY (more than AliasMaxTargets; not expanded
 * at RCPT time), or RG_AP_COUNT when it has none.
 */
enum rg_alias_problem rg_alias_own_problem(const struct rg_config *cf,
    const struct rg_alias_entry *x);

/* How reports name the entry: its first address, or its DN when it has none. */
const char *rg_alias_name(const struct rg_alias_entry *);

/* Does the entry claim ADDRESS (compared without case)? */
int rg_alias_claims(const struct rg_alias_entry *, const char *address);

/* Is ATTR, maybe with ";options", one of the attributes in LIST? */
int rg_alias_attr_in(const char *attr, const struct rg_strlist *list);

/*
 * DN in a form that compares with strcmp: lower case, no blanks around ',',
 * '=' and '+' nor at either end (escaped characters kept).  Writes at most
 * OUTLEN bytes; returns 0, or -1 when OUTLEN is too small.
 */
int rg_alias_dn_norm(const char *dn, char *out, size_t outlen);

/*
 * The addresses recipient A stands for, in the order to try them: as given,
 * then, when it has a subaddress, without it (user+tag -> user): the second
 * is asked only when nobody claims the first.  Fills FULL and LOCAL; returns
 * how many (1 or 2).
 */
int rg_alias_candidates(const struct rg_address *a, const char *full[2], const char *local[2]);

#endif
