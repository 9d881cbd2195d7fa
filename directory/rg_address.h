/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * rg_address.h - take an envelope recipient apart and normalise it.
 */
#ifndef RG_ADDRESS_H
#define RG_ADDRESS_H

#include <stddef.h>

#define RG_LOCAL_MAX 64                 /* RFC 5321 4.5.3.1.1 */
#define RG_DOMAIN_MAX 255               /* RFC 5321 4.5.3.1.2 */
#define RG_ADDR_MAX (RG_LOCAL_MAX + 1 + RG_DOMAIN_MAX)

enum rg_addr_status {
	RG_ADDR_OK,             /* local@domain, parsed */
	RG_ADDR_NODOMAIN,       /* a bare local part, e.g. <postmaster> */
	RG_ADDR_NULL,           /* <> */
	RG_ADDR_BAD,            /* syntax error, control byte, over-long part */
};

/* Five strings; the bytes past each one's NUL are not set. */
struct rg_address {
	char local[RG_LOCAL_MAX + 1];   /* lower case, unquoted */
	char domain[RG_DOMAIN_MAX + 1]; /* lower case, no trailing dot */
	char full[RG_ADDR_MAX + 1];     /* local@domain */
	char base[RG_ADDR_MAX + 1];     /* without subaddress; "" when none */
	char base_local[RG_LOCAL_MAX + 1];
};

/*
 * Parse RCPT (as the MTA hands it: with or without angle brackets, maybe
 * with a source route).  DELIMS are the RecipientDelimiter characters.
 * On RG_ADDR_BAD, *why (when not NULL) says what is wrong.
 */
enum rg_addr_status rg_address_parse(const char *rcpt, const char *delims,
    struct rg_address *out, const char **why);

/*
 * The domain of RCPT, leniently: whatever follows the last "@", lower case,
 * without a closing bracket or trailing dot.  Enough to tell whether an
 * address is ours before judging its syntax.  0, or -1 when there is none.
 */
int rg_address_domain(const char *rcpt, char *out, size_t outlen);

/*
 * Is V, a value read from the directory, an address fit to be shown to a
 * sender in a reply line: a dot-atom local part, "@", a domain of letters,
 * digits, "-" and dots, shorter than OUTLEN, and one rg_address_parse()
 * takes?  A quoted local part, a source route, angle brackets, blanks or
 * any byte outside printable ASCII are not.  0 with V (domain in lower
 * case) in OUT, or -1.
 */
int rg_address_plain(const char *v, char *out, size_t outlen);

/*
 * The address an attribute value V holds: V itself, or what follows a
 * leading "smtp:" (any case), as Active Directory's proxyAddresses write
 * it; NULL when V starts with another "TYPE:" (x500:, X400:, sip: ...),
 * which is no mail address.  An address itself never starts so: ":" is
 * not allowed unquoted in a local part.
 */
const char *rg_address_value(const char *v);

#endif
