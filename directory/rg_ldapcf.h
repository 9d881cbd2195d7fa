/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * rg_ldapcf.h - a Postfix ldap_table(5) file, read as rcptguard settings.
 *
 * LDAPConfig names a file that Postfix also reads (relay_recipient_maps =
 * proxy:ldap:FILE), so that both ask the directory the same question.  Its
 * parameters are turned into rcptguard keys with their values, each with
 * the line it came from; rg_config applies those that rcptguard.conf does
 * not set itself.  A parameter rcptguard cannot honour is an error.
 */
#ifndef RG_LDAPCF_H
#define RG_LDAPCF_H

#include <stddef.h>

/* One rcptguard key and its value, from PARAM on LINE of the file. */
struct rg_ldapcf_setting {
	const char *key;                /* "LDAPURI", "LDAPBase", ... */
	char *value;
	const char *param;              /* "server_host", ... */
	unsigned line;
};

struct rg_ldapcf {
	struct rg_ldapcf_setting *v;
	size_t n;
	char *bind_pw;                  /* bind_pw, NULL when not given; never logged */
	unsigned bind_pw_line;
};

/*
 * Read the ldap_table file PATH into OUT (released with rg_ldapcf_free()).
 * Returns 0, or -1 with "PATH:LINE: parameter: problem" (or "PATH: ...") in
 * err.
 */
int rg_ldapcf_read(const char *path, struct rg_ldapcf *out, char *err, size_t errlen);

void rg_ldapcf_free(struct rg_ldapcf *);

#endif
