/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * rg_check.h - the one question rcptguard answers: may this recipient
 * receive mail?  Used alike by the milter and by rcptguard-query, so what
 * an admin sees with the tool is what the MTA gets.
 */
#ifndef RG_CHECK_H
#define RG_CHECK_H

#include "rg_address.h"
#include "rg_config.h"
#include "rg_directory.h"

enum rg_verdict {
	RG_V_OK,                /* exists: continue */
	RG_V_UNKNOWN,           /* authoritatively unknown: 550 5.1.1 */
	RG_V_TEMPFAIL,          /* could not tell: 451 4.3.0 (or accept) */
	RG_V_NOT_OURS,          /* not one of Domains: continue, no lookup */
	RG_V_BAD_ADDRESS,       /* syntax: 550 5.1.3 */
	RG_V_ALIAS_BROKEN,      /* alias with no living target */
	RG_V_MOVED,             /* disabled, and names where its person went:
				 * 550 5.1.6 (relocated) */
	RG_V_DISABLED,          /* disabled, with DisabledReply disabled: 550 5.2.1
				 * (with DisabledReply unknown it is RG_V_UNKNOWN) */
	RG_V_ALIAS_LOOP,        /* an alias loop on the way: 451 4.4.6 */
};

/* The longest LDAPMovedToAttribute value shown in a reply. */
#define RG_MOVED_MAX 128

enum rg_source { RG_SRC_NONE, RG_SRC_CACHE, RG_SRC_LDAP,
	RG_SRC_STALE,           /* the directory could not answer: the cache's last
				 * positive answer, less than StaleTTL old */
	RG_SRC_MIRROR,          /* the directory in memory (rg_mirror) */
};

/* Who asks: decides whether a suggestion may be shown. */
struct rg_asker {
	const char *client_ip;          /* NULL when not known */
	int authenticated;              /* SMTP AUTH succeeded */
	int admin;                      /* rcptguard-query: suggestions and the
					 * alias expansion, whatever Suggest says */
	int no_suggest;                 /* the reply will carry no suggestion
					 * (HarvestLimit): do not look for one */
};

#define RG_ALIAS_DEPTH_MAX 64           /* the bound of AliasMaxDepth */

/* One target met while resolving an alias, for the admin's eyes. */
struct rg_expansion_item {
	int depth;                      /* 1 for a direct target */
	char target[512];               /* an address, or a member DN */
	char verdict[16];               /* ok, unknown, disabled, alias, external, ... */
	char problem[24];               /* "" or a problem name */
};
struct rg_expansion {
	struct rg_expansion_item *items;
	size_t n, cap;
};

struct rg_answer {
	enum rg_verdict verdict;
	enum rg_source source;
	char address[RG_ADDR_MAX + 1];  /* normalised, as looked up */
	char suggestion[RG_ADDR_MAX + 1];       /* "" when none */
	char moved_to[RG_MOVED_MAX + 1];        /* RG_V_MOVED: the new address */
	const char *why;                /* for RG_V_BAD_ADDRESS / RG_V_TEMPFAIL, and
					 * why the directory failed (RG_SRC_STALE) */
	char detail[RG_ERRLEN];         /* the text why may point to */
	double ms;
	int problems;                   /* alias problems met */
	struct rg_expansion *expansion; /* for an admin asker; rg_answer_free() */
};

/* Answer for RCPT (as the MTA gave it) on behalf of WHO. */
void rg_check(struct rg_directory *, const char *rcpt, const struct rg_asker *who,
    struct rg_answer *ans);

/* May WHO see a suggestion under CF (Suggest, TrustedNetworks)? */
int rg_check_may_suggest(const struct rg_config *cf, const struct rg_asker *who);

/* Release what rg_check() allocated in ANS (the expansion). */
void rg_answer_free(struct rg_answer *ans);

const char *rg_verdict_name(enum rg_verdict);
const char *rg_source_name(enum rg_source);

#endif
