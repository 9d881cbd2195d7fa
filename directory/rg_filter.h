/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * rg_filter.h - LDAPFilter templates evaluated in memory.
 *
 * The directory mirror answers a recipient without asking the server, so it
 * must decide itself which entries LDAPFilter (or LDAPDisabledFilter) picks
 * for an address.  A template is parsed once (RFC 4515 syntax, with the %s
 * %u %d %% placeholders of LDAPFilter in assertion values), and then:
 *
 *   - rg_filter_walk() gives the filter that fetches every entry the
 *     template can pick for some address: each assertion holding a
 *     placeholder becomes a presence test;
 *   - rg_filter_key_*() name the equality assertions holding a placeholder,
 *     whose values the mirror indexes (the lookup key of an address is the
 *     assertion value expanded for it, fixed text such as Active
 *     Directory's "smtp:" prefix included);
 *   - rg_filter_match() evaluates the template for one address against one
 *     entry held in memory.
 *
 * Values are compared as the mail schemas' matching rules do for ASCII:
 * equality and substrings ignore ASCII case; >= and <= compare integers
 * numerically and other values ignoring ASCII case; the extensible matches
 * of Active Directory's bit rules (1.2.840.113556.1.4.803 AND, .804 OR)
 * are evaluated on integers.  (A server's caseIgnoreMatch also folds
 * non-ASCII case and insignificant spaces; addresses are ASCII or UTF-8
 * compared as bytes here.)  What cannot be evaluated exactly in memory is
 * reported by rg_filter_mirrorable(): a placeholder outside an equality
 * assertion or under (!...), approximate match, any other extensible
 * match, and a template that can pick an entry without one of its
 * placeholder assertions holding (e.g. (|(mail=%s)(objectClass=x))), since
 * the mirror finds candidates only through the keys.
 */
#ifndef RG_FILTER_H
#define RG_FILTER_H

#include <stddef.h>

struct rg_filter;

/*
 * Parse TMPL.  Returns 0 and the parsed filter in *OUT, or -1 with the
 * problem in err.  The parse may be stricter than libldap's (only \XX
 * escapes, no blanks except between the filters of a list), never looser.
 */
int rg_filter_parse(const char *tmpl, struct rg_filter **out, char *err, size_t errlen);
void rg_filter_free(struct rg_filter *);

/*
 * Can F be evaluated exactly in memory?  0 yes; -1 no, and err names the
 * first assertion that cannot, e.g. "(mail=*%u*): a placeholder in a
 * substring assertion".
 */
int rg_filter_mirrorable(const struct rg_filter *, char *err, size_t errlen);

/*
 * The walk filter of F into OUT (RFC 4515, escaped): F with every
 * assertion that holds a placeholder turned into a presence test of its
 * attribute.  Returns 0, or -1 when OUTLEN is too small or a placeholder
 * stands in an extensible match without an attribute (no presence test
 * can stand for it).
 */
int rg_filter_walk(const struct rg_filter *, char *out, size_t outlen);

/*
 * The attribute descriptions F reads, each once (compared without case),
 * in first-use order: rg_filter_attrs() returns them NULL-terminated,
 * owned by F; *N (when not NULL) gets their number.  rg_filter_match()
 * asks for values by position in this list.
 */
char *const *rg_filter_attrs(const struct rg_filter *, size_t *n);

/*
 * The equality assertions of F holding a placeholder ("keys"): the
 * attribute of key I (its position in rg_filter_attrs() in *ATTR_POS when
 * not NULL), and its value expanded for LOCAL@DOMAIN, unescaped and
 * lower-cased (ASCII), into OUT.  A key's value is what an entry picked
 * for that address holds in that attribute (ignoring case), when the
 * assertion decides the match.  rg_filter_key_value() returns 0, or -1 when
 * OUTLEN is too small.
 */
size_t rg_filter_nkeys(const struct rg_filter *);
const char *rg_filter_key_attr(const struct rg_filter *, size_t i, size_t *attr_pos);
int rg_filter_key_value(const struct rg_filter *, size_t i, const char *local,
    const char *domain, char *out, size_t outlen);

/*
 * Values of the attribute at position POS of rg_filter_attrs() in ENTRY:
 * sets *VALS to an array of *N strings (NUL-terminated, as the server
 * sent them) and returns it; NULL with *N = 0 when the entry has none.
 */
typedef const char *const *(*rg_filter_values_fn)(const void *entry, size_t pos, size_t *n);

/*
 * Does F, expanded for LOCAL@DOMAIN (NULLs when F has no placeholder),
 * match ENTRY?  1 yes, 0 no.  Only meaningful when rg_filter_mirrorable().
 * Thread-safe: F is only read.
 */
int rg_filter_match(const struct rg_filter *, const char *local, const char *domain,
    rg_filter_values_fn values, const void *entry);

#endif
