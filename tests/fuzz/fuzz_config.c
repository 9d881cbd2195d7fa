/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * fuzz_config.c - libFuzzer target for the configuration parser
 * (rg_config_load in directory/rg_config.c), fed the input as a file in a
 * memory file (memfd) opened by its /proc/self/fd path, so that the parser
 * is the one the daemon runs, without a seam.
 *
 * Properties, for every input:
 *   - no crash, no leak (each input; libFuzzer's -detect_leaks), no
 *     undefined behaviour;
 *   - a refused file gives a message that starts with the file name (or
 *     that of a file in its folder, for an Include or LDAPConfig) and is
 *     NUL-terminated inside the buffer (one of RG_ERRLEN bytes, exact size);
 *   - an accepted file gives: at least one domain, each lower case, of
 *     letters, digits, "-" and "."; LDAPURI words that
 *     are ldap://, ldaps:// or ldapi:// URIs; an LDAPFilter starting with
 *     "("; numbers within their bounds; a 16-hex-digit fingerprint, the same
 *     when the file is loaded again;
 *   - rg_net_parse() on the first line does not crash, and a network it
 *     accepts has a prefix within its family's bits.
 * Also (the strict mode, on unless RG_FUZZ_STRICT=0 is in the environment)
 * the checks of rg_config.c that came later:
 *   - an accepted LDAPFilter and LDAPDisabledFilter, expanded for a sample
 *     address, parse with libldap (ldap_pvt_put_filter);
 *   - a line with a NUL byte before any "#" is refused, not cut short;
 *   - a domain in Domains has no empty label (".", "a..b", "a.."), a typo
 *     that "rcptguard -n" must point out.
 * Inputs that name a file under /dev, /proc or /sys are skipped (a
 * LDAPBindPasswordFile of /dev/stdin would wait for input).
 */
#include "fuzz.h"
#include "rg_config.h"
#include "rg_ldap.h"

#include <fcntl.h>
#include <lber.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

int ldap_pvt_put_filter(BerElement *ber, const char *str);

static char path[64];
static int conf_fd;
static int strict;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc; (void)argv;
	/* a memory file, reached by a path: nothing to clean up at exit */
	if ((conf_fd = memfd_create("rcptguard.conf", 0)) < 0)
		abort();
	snprintf(path, sizeof(path), "/proc/self/fd/%d", conf_fd);
	strict = getenv("RG_FUZZ_STRICT") == NULL || strcmp(getenv("RG_FUZZ_STRICT"), "0") != 0;
	return 0;
}

static int
parses(const char *tmpl)
{
	char f[RG_FILTER_MAX];
	BerElement *ber;
	int rc;

	if (rg_ldap_expand_filter(tmpl, "x", "x.example.org", f, sizeof(f)) != 0)
		return 0;
	if ((ber = ber_alloc_t(LBER_USE_DER)) == NULL)
		abort();
	rc = ldap_pvt_put_filter(ber, f);
	ber_free(ber, 1);
	return rc == 0;
}

static void
check_accepted(const struct rg_config *cf)
{
	PROPERTY(cf->domains.n > 0, "no domain");
	for (size_t i = 0; i < cf->domains.n; i++) {
		const char *d = cf->domains.v[i];
		size_t n = strlen(d);
		PROPERTY(n > 0 && strspn(d, "abcdefghijklmnopqrstuvwxyz0123456789-.") == n,
		    "domain \"%s\"", d);
		if (strict)
			PROPERTY(d[0] != '.' && d[n - 1] != '.' && strstr(d, "..") == NULL,
			    "domain \"%s\" has an empty label", d);
		PROPERTY(rg_config_domain_ours(cf, d), "domain \"%s\" not ours", d);
	}
	for (const char *u = cf->ldap_uri; *u; ) {
		PROPERTY(!strncasecmp(u, "ldap://", 7) || !strncasecmp(u, "ldaps://", 8) ||
		    !strncasecmp(u, "ldapi://", 8), "LDAPURI \"%s\"", cf->ldap_uri);
		u += strcspn(u, " ");
		u += strspn(u, " ");
	}
	PROPERTY(cf->ldap_filter[0] == '(', "LDAPFilter \"%s\"", cf->ldap_filter);
	PROPERTY(cf->ldap_timeout >= 0.01 && cf->ldap_timeout <= 10, "LDAPTimeout %g",
	    cf->ldap_timeout);
	PROPERTY(cf->ldap_pool_size >= 1 && cf->ldap_pool_size <= 64, "LDAPPoolSize");
	PROPERTY(cf->suggest_max_distance >= 1 && cf->suggest_max_distance <= 2,
	    "SuggestMaxDistance");
	PROPERTY(cf->alias_max_depth >= 1 && cf->alias_max_depth <= 64, "AliasMaxDepth");
	PROPERTY(cf->cache_ttl >= 0 && cf->negative_cache_ttl >= 0, "TTL");
	PROPERTY(strlen(cf->fingerprint) == 16 && strspn(cf->fingerprint,
	    "0123456789abcdef") == 16, "fingerprint \"%s\"", cf->fingerprint);
	PROPERTY(cf->ldap_bind_dn[0] == '\0' || (cf->ldap_bind_password != NULL &&
	    cf->ldap_bind_password[0] != '\0'), "bind DN without password");
	for (size_t i = 0; i < cf->ntrusted; i++)
		PROPERTY(cf->trusted[i].prefix <= (cf->trusted[i].family == AF_INET ? 32u : 128u),
		    "TrustedNetworks prefix %u", cf->trusted[i].prefix);
	if (strict) {
		PROPERTY(parses(cf->ldap_filter), "accepted LDAPFilter \"%s\" does not parse",
		    cf->ldap_filter);
		PROPERTY(cf->ldap_disabled_filter[0] == '\0' || parses(cf->ldap_disabled_filter),
		    "accepted LDAPDisabledFilter \"%s\" does not parse", cf->ldap_disabled_filter);
	}
}

/* Is there a line with a NUL byte before anything but blanks and a "#"? */
static int
nul_in_a_line(const uint8_t *d, size_t n)
{
	int text = 0;

	for (size_t i = 0; i < n; i++) {
		if (d[i] == '\n') {
			text = 0;
		} else if (d[i] == '\0') {
			if (text >= 0)
				return 1;
		} else if (d[i] == '#' && text == 0) {
			text = -1;      /* a comment line */
		} else if (text == 0 && d[i] != ' ' && d[i] != '\t' && d[i] != '\r') {
			text = 1;
		}
	}
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *err = malloc(RG_ERRLEN);
	struct rg_config *cf, *again;
	if (size > 64 * 1024)
		return 0;
	if (memmem(data, size, "/dev", 4) || memmem(data, size, "/proc", 5) ||
	    memmem(data, size, "/sys", 4)) {
		free(err);
		return 0;
	}
	if (ftruncate(conf_fd, 0) != 0 || pwrite(conf_fd, data, size, 0) != (ssize_t)size)
		abort();

	{       /* the first line as a network */
		char *line = fuzz_str(data, size);
		struct rg_net net;
		line[strcspn(line, "\n")] = '\0';
		if (rg_net_parse(line, &net) == 0)
			PROPERTY(net.prefix <= (net.family == AF_INET ? 32u : 128u),
			    "rg_net_parse(\"%s\"): prefix %u", line, net.prefix);
		free(line);
	}

	cf = rg_config_load(path, err, RG_ERRLEN);
	if (cf == NULL) {
		/* or a file in its folder, where a relative Include or LDAPConfig leads */
		size_t dirlen = (size_t)(strrchr(path, '/') - path) + 1;
		PROPERTY(strnlen(err, RG_ERRLEN) < RG_ERRLEN && ((strncmp(err, path,
		    strlen(path)) == 0 && err[strlen(path)] == ':') ||
		    (strncmp(err, path, dirlen) == 0 && strchr(err + dirlen, ':') != NULL)),
		    "message \"%.*s\"", RG_ERRLEN, err);
		free(err);
		return 0;
	}
	check_accepted(cf);
	if (strict)
		PROPERTY(!nul_in_a_line(data, size), "a line with a NUL byte was accepted");
	again = rg_config_load(path, err, RG_ERRLEN);
	PROPERTY(again != NULL, "loads once, not twice: %s", err);
	PROPERTY(strcmp(cf->fingerprint, again->fingerprint) == 0, "fingerprint changes");
	rg_config_free(again);
	rg_config_free(cf);
	free(err);
	return 0;
}
