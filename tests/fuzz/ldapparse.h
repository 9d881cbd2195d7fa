/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * ldapparse.h - the fuzz targets' question to libldap: is this a search
 * filter?  (ldap_pvt_put_filter encodes a filter string into BER and is
 * what every search runs; libldap exports it without declaring it in a
 * public header.)
 */
#ifndef RG_FUZZ_LDAPPARSE_H
#define RG_FUZZ_LDAPPARSE_H

#include <lber.h>
#include <stdlib.h>

int ldap_pvt_put_filter(BerElement *ber, const char *str);

/* 1 when libldap takes FILTER as a search filter, else 0. */
static inline int
fuzz_libldap_parses(const char *filter)
{
	BerElement *ber = ber_alloc_t(LBER_USE_DER);
	int rc;

	if (ber == NULL)
		abort();
	rc = ldap_pvt_put_filter(ber, filter);
	ber_free(ber, 1);
	return rc == 0;
}

#endif
