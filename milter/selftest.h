/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * selftest.h - rcptguard -t: the configuration tried against the real
 * servers, one line per check.
 */
#ifndef SELFTEST_H
#define SELFTEST_H

#include <stdio.h>

#include "rg_config.h"

/*
 * Try CF against its servers and print one line per check on OUT: for each
 * LDAPURI the connect, TLS, the bind, LDAPBase, one search with a sample
 * address and whether RFC 4533 sync is offered; Redis (a test key written
 * with a short TTL and read back); and whether SOCKET can be bound.  Every
 * network step ends within LDAPTimeout or RedisTimeout.  Returns 0 when
 * every check passed, EX_TEMPFAIL (75) when one did not.
 */
int selftest_run(const struct rg_config *cf, const char *socket, FILE *out);

#endif
