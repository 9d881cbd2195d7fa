/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * test_config.c - rg_config_load(): a good file with every kind of value,
 * the defaults, and every kind of mistake an admin makes, each of which must
 * be refused with a message that names the file (and the line, when the
 * mistake is on one).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <errno.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "config.h"
#include "rg_config.h"

static char dir[64];
static char pwfile[128];

static int
setup(void **state)
{
	(void)state;
	FILE *fp;

	snprintf(dir, sizeof(dir), "/tmp/rgunit.XXXXXX");
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(pwfile, sizeof(pwfile), "%s/ldap.pw", dir);
	if ((fp = fopen(pwfile, "w")) == NULL)
		return -1;
	fputs("readerpw\n", fp);
	fclose(fp);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* Write TEXT into DIR/NAME and return the path (static buffer). */
static const char *
write_file(const char *name, const char *text)
{
	static char path[256];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
	return path;
}

/* Write the LEN bytes at BYTES into DIR/NAME and return the path (static buffer). */
static const char *
write_bytes(const char *name, const char *bytes, size_t len)
{
	static char path[256];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fp = fopen(path, "w");
	assert_non_null(fp);
	assert_int_equal(fwrite(bytes, 1, len, fp), len);
	fclose(fp);
	return path;
}

/* The three required keys. */
#define REQUIRED \
	"Domains example.com\n" \
	"LDAPURI ldap://127.0.0.1:389\n" \
	"LDAPBase dc=example,dc=com\n"

/* Load TEXT, expecting failure; the message must start with FILE:LINE: and
 * contain WORD.  LINE 0 is for mistakes that are on no one line (a missing
 * key, a conflict between keys): then FILE: or FILE:N: will do. */
static void
expect_error(const char *text, unsigned line, const char *word)
{
	char err[RG_ERRLEN], prefix[300];
	const char *path = write_file("bad.conf", text);
	struct rg_config *cf;

	err[0] = '\0';
	cf = rg_config_load(path, err, sizeof(err));
	if (cf != NULL) {
		rg_config_free(cf);
		fail_msg("accepted:\n%s", text);
	}
	if (line > 0) {
		snprintf(prefix, sizeof(prefix), "%s:%u: ", path, line);
		if (strncmp(err, prefix, strlen(prefix)) != 0)
			fail_msg("message \"%s\" does not begin with \"%s\"", err, prefix);
	} else {
		size_t n = strlen(path);
		const char *p = err + n;
		if (strncmp(err, path, n) != 0 || *p != ':')
			fail_msg("message \"%s\" does not begin with \"%s:\"", err, path);
		p++;
		p += strspn(p, "0123456789");
		if (p[0] != ':' && p[-1] != ':')
			fail_msg("message \"%s\" does not begin with \"%s:\"", err, path);
	}
	if (word != NULL && strstr(err, word) == NULL)
		fail_msg("message \"%s\" does not mention \"%s\"", err, word);
}

static struct rg_config *
load_ok(const char *text)
{
	char err[RG_ERRLEN] = "";
	const char *path = write_file("good.conf", text);
	struct rg_config *cf = rg_config_load(path, err, sizeof(err));

	if (cf == NULL)
		fail_msg("refused: %s", err);
	return cf;
}

static void
test_good_file(void **state)
{
	(void)state;
	char text[2048];
	struct rg_config *cf;

	snprintf(text, sizeof(text),
	    "# rcptguard.conf\n"
	    "\n"
	    "Socket inet:10998@127.0.0.1\n"
	    "domains Example.COM, example.org.   # ours\n"
	    "RecipientDelimiter +-\n"
	    "LDAPURI ldap://127.0.0.1:389, ldap://127.0.0.2:389\n"
	    "LDAPBASE dc=example,dc=com\n"
	    "LDAPFilter (&(objectClass=inetOrgPerson)(|(mail=%%s)(uid=%%u)))\n"
	    "LDAPBindDN cn=reader,dc=example,dc=com\n"
	    "LDAPBindPasswordFile %s\n"
	    "  LDAPTimeout   1.5  \n"
	    "RedisURI redis://127.0.0.1:6379/2\n"
	    "CacheTTL 60\n"
	    "NegativeCacheTTL 2\n"
	    "OnLookupFailure accept\n"
	    "Syslog no\n"
	    "SyslogFacility local3\n"
	    "PidFile /run/rcptguard/rcptguard.pid\n",
	    pwfile);
	cf = load_ok(text);
	assert_string_equal(cf->socket, "inet:10998@127.0.0.1");
	assert_int_equal(cf->domains.n, 2);
	assert_string_equal(cf->domains.v[0], "example.com");
	assert_string_equal(cf->domains.v[1], "example.org");
	assert_true(rg_config_domain_ours(cf, "example.com"));
	assert_true(rg_config_domain_ours(cf, "example.org"));
	assert_false(rg_config_domain_ours(cf, "example.net"));
	assert_false(rg_config_domain_ours(cf, "sub.example.com"));
	assert_string_equal(cf->recipient_delimiter, "+-");
	assert_string_equal(cf->ldap_uri, "ldap://127.0.0.1:389 ldap://127.0.0.2:389");
	assert_string_equal(cf->ldap_base, "dc=example,dc=com");
	assert_string_equal(cf->ldap_filter,
	    "(&(objectClass=inetOrgPerson)(|(mail=%s)(uid=%u)))");
	assert_string_equal(cf->ldap_bind_dn, "cn=reader,dc=example,dc=com");
	assert_string_equal(cf->ldap_bind_password_file, pwfile);
	/* the first line of the file, without its newline */
	assert_string_equal(cf->ldap_bind_password, "readerpw");
	assert_true(cf->ldap_timeout > 1.49 && cf->ldap_timeout < 1.51);
	assert_string_equal(cf->redis_uri, "redis://127.0.0.1:6379/2");
	assert_int_equal(cf->cache_ttl, 60);
	assert_int_equal(cf->negative_cache_ttl, 2);
	assert_int_equal(cf->on_lookup_failure, RG_FAIL_ACCEPT);
	assert_int_equal(cf->syslog, 0);
	assert_string_equal(cf->pid_file, "/run/rcptguard/rcptguard.pid");
	assert_int_equal(strlen(cf->fingerprint), 16);
	assert_int_equal(strspn(cf->fingerprint, "0123456789abcdef"), 16);
	rg_config_free(cf);
}

static void
test_defaults(void **state)
{
	(void)state;
	struct rg_config *cf = load_ok(REQUIRED);

	assert_string_equal(cf->socket, "unix:/run/rcptguard/rcptguard.sock");
	assert_string_equal(cf->recipient_delimiter, "+");
	assert_string_equal(cf->ldap_filter, "(mail=%s)");
	assert_string_equal(cf->ldap_bind_dn, "");
	assert_null(cf->ldap_bind_password);
	assert_int_equal(cf->ldap_starttls, 0);
	assert_true(cf->ldap_timeout > 1.99 && cf->ldap_timeout < 2.01);
	assert_string_equal(cf->redis_uri, "none");
	assert_int_equal(cf->cache_ttl, 3600);
	assert_int_equal(cf->negative_cache_ttl, 300);
	assert_int_equal(cf->on_lookup_failure, RG_FAIL_TEMPFAIL);
	assert_int_equal(cf->syslog, 1);
	assert_true(rg_config_trusted(cf, "127.0.0.1"));
	assert_true(rg_config_trusted(cf, "::1"));
	assert_false(rg_config_trusted(cf, "192.0.2.1"));
	rg_config_free(cf);
}

/* The fingerprint of REQUIRED plus EXTRA (static buffer). */
static const char *
fingerprint_of(const char *extra)
{
	static char fp[17];
	char text[1024];
	struct rg_config *cf;

	snprintf(text, sizeof(text), "%s%s", REQUIRED, extra);
	cf = load_ok(text);
	memcpy(fp, cf->fingerprint, sizeof(fp));
	rg_config_free(cf);
	return fp;
}

/*
 * The fingerprint follows every setting that can change a cached answer,
 * and only them: MTAs that differ in nothing else share the cache.
 */
static void
test_fingerprint(void **state)
{
	(void)state;
	static const char *const changes[] = {
		"LDAPFilter (uid=%u)\n",
		"LDAPDisabledFilter (description=disabled)\n",
		"LDAPAliasClasses nisMailAlias\n",
		"LDAPAliasClasses\n",
		"LDAPAddressAttributes mail mailLocalAddress\n",
		"LDAPAliasAttributes rfc822MailMember\n",
		"LDAPMemberAttributes member\n",
		"RecipientDelimiter -\n",
		"AliasMaxDepth 3\n",
		"AliasMaxTargets 10\n",
		"LDAPBindDN cn=reader,dc=example,dc=com\nLDAPBindPasswordFile PW\n",
	};
	static const char *const same[] = {
		"CacheTTL 5\nSyslog no\n",
		"NegativeCacheTTL 5\nLocalCacheSize 10\n",
		"LDAPTimeout 1\nLDAPPoolSize 2\nLDAPStartTLS yes\n",
		"Suggest off\nSuggestMaxDistance 1\nTrustedNetworks 10.0.0.0/8\n",
		"BrokenAliasAction accept\nOnLookupFailure accept\n",
		"RedisURI redis://127.0.0.1:6379\nMaxUnknownRecipients 3\n",
		"AlertInterval 60\nSocket inet:1@127.0.0.1\n",
		/* the defaults written out */
		"LDAPFilter (mail=%s)\nLDAPAliasClasses nisMailAlias groupOfNames groupOfUniqueNames\n",
	};
	char a[17], text[512], seen[20][17];
	size_t nseen = 0;

	memcpy(a, fingerprint_of(""), sizeof(a));
	for (size_t i = 0; i < sizeof(same) / sizeof(same[0]); i++)
		if (strcmp(a, fingerprint_of(same[i])) != 0)
			fail_msg("the fingerprint changed with: %s", same[i]);
	memcpy(seen[nseen++], a, sizeof(a));
	for (size_t i = 0; i < sizeof(changes) / sizeof(changes[0]); i++) {
		const char *c = changes[i], *pw = strstr(c, "PW\n");
		if (pw != NULL) {
			snprintf(text, sizeof(text), "%.*s%s\n", (int)(pw - c), c, pwfile);
			c = text;
		}
		const char *b = fingerprint_of(c);
		for (size_t j = 0; j < nseen; j++)
			if (strcmp(b, seen[j]) == 0)
				fail_msg("the fingerprint did not change with: %s", c);
		memcpy(seen[nseen++], b, 17);
	}
	/* Domains, LDAPURI, LDAPBase are required keys: another value of each */
	struct rg_config *cf = load_ok("Domains example.com example.org\n"
	    "LDAPURI ldap://127.0.0.1:389\nLDAPBase dc=example,dc=com\n");
	assert_string_not_equal(a, cf->fingerprint);
	rg_config_free(cf);
	cf = load_ok("Domains example.com\nLDAPURI ldap://127.0.0.1:390\n"
	    "LDAPBase dc=example,dc=com\n");
	assert_string_not_equal(a, cf->fingerprint);
	rg_config_free(cf);
	cf = load_ok("Domains example.com\nLDAPURI ldap://127.0.0.1:389\n"
	    "LDAPBase dc=example,dc=org\n");
	assert_string_not_equal(a, cf->fingerprint);
	rg_config_free(cf);
	/* two words are not one: the values are kept apart */
	char one[17];
	memcpy(one, fingerprint_of("LDAPAliasAttributes ab\n"), sizeof(one));
	assert_string_not_equal(one, fingerprint_of("LDAPAliasAttributes a b\n"));
	memcpy(one, fingerprint_of("LDAPAliasAttributes a\nLDAPMemberAttributes b\n"), sizeof(one));
	assert_string_not_equal(one, fingerprint_of("LDAPAliasAttributes a b\n"));
}

/* Every list ends in NULL, the empty ones too: libldap takes them as they are. */
static void
test_lists_terminated(void **state)
{
	(void)state;
	struct rg_config *cf = load_ok(REQUIRED
	    "LDAPAddressAttributes mail mailLocalAddress\n"
	    "LDAPAliasAttributes rfc822MailMember, mailRoutingAddress\n"
	    "LDAPMemberAttributes\n");
	const struct rg_strlist *lists[] = { &cf->domains, &cf->address_attrs,
	    &cf->alias_attrs, &cf->member_attrs, &cf->alias_classes };

	for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++) {
		assert_non_null(lists[i]->v);
		assert_null(lists[i]->v[lists[i]->n]);
	}
	assert_int_equal(cf->address_attrs.n, 2);
	assert_string_equal(cf->address_attrs.v[1], "mailLocalAddress");
	assert_int_equal(cf->alias_attrs.n, 2);
	assert_int_equal(cf->member_attrs.n, 0);
	assert_int_equal(cf->alias_classes.n, 3);
	rg_config_free(cf);
	/* the defaults, one word and none */
	cf = load_ok(REQUIRED);
	assert_int_equal(cf->address_attrs.n, 1);
	assert_null(cf->address_attrs.v[1]);
	assert_int_equal(cf->alias_attrs.n, 0);
	assert_non_null(cf->alias_attrs.v);
	assert_null(cf->alias_attrs.v[0]);
	rg_config_free(cf);
}

static void
test_unknown_key(void **state)
{
	(void)state;
	expect_error(REQUIRED "# comment\nFrobnicate yes\n", 5, "Frobnicate");
	expect_error("LDAPServer ldap://x\n" REQUIRED, 1, "LDAPServer");
	/* a key needs its exact name, not a prefix */
	expect_error(REQUIRED "LDAP ldap://x\n", 4, "LDAP");
}

static void
test_bad_value(void **state)
{
	(void)state;
	expect_error(REQUIRED "LDAPTimeout abc\n", 4, "LDAPTimeout");
	expect_error(REQUIRED "LDAPTimeout 0\n", 4, "LDAPTimeout");
	expect_error(REQUIRED "LDAPTimeout 2s\n", 4, "LDAPTimeout");
	expect_error(REQUIRED "LDAPTimeout\n", 4, "LDAPTimeout");
	expect_error(REQUIRED "CacheTTL -1\n", 4, "CacheTTL");
	expect_error(REQUIRED "CacheTTL 1e3\n", 4, "CacheTTL");
	expect_error(REQUIRED "NegativeCacheTTL 99999999999999999999\n", 4, "NegativeCacheTTL");
	expect_error(REQUIRED "Syslog maybe\n", 4, "Syslog");
	expect_error(REQUIRED "LDAPStartTLS enabled\n", 4, "LDAPStartTLS");
	expect_error(REQUIRED "LDAPStartTLS 2\n", 4, "yes, no, true, false, on, off, 1 or 0");
	expect_error(REQUIRED "OnLookupFailure reject\n", 4, "OnLookupFailure");
	expect_error(REQUIRED "SyslogFacility kern9\n", 4, "kern9");
	expect_error(REQUIRED "TrustedNetworks 10.0.0.0/33\n", 4, "10.0.0.0/33");
	expect_error(REQUIRED "TrustedNetworks 10.1.2.3/8\n", 4, "10.1.2.3/8");
	expect_error(REQUIRED "TrustedNetworks example.com\n", 4, "example.com");
}

static void
test_repeated_key(void **state)
{
	(void)state;
	expect_error(REQUIRED "CacheTTL 5\nCacheTTL 6\n", 5, "CacheTTL");
	/* keys are case-insensitive, so this is the same key twice */
	expect_error(REQUIRED "ldapbase dc=example,dc=org\n", 4, "LDAPBase");
}

static void
test_missing_required(void **state)
{
	(void)state;
	expect_error("LDAPURI ldap://127.0.0.1\nLDAPBase dc=example,dc=com\n", 0, "Domains");
	expect_error("Domains example.com\nLDAPBase dc=example,dc=com\n", 0, "LDAPURI");
	expect_error("Domains example.com\nLDAPURI ldap://127.0.0.1\n", 0, "LDAPBase");
	expect_error("", 0, NULL);
}

static void
test_missing_file(void **state)
{
	(void)state;
	char err[RG_ERRLEN] = "", path[128];

	snprintf(path, sizeof(path), "%s/nonexistent.conf", dir);
	assert_null(rg_config_load(path, err, sizeof(err)));
	assert_non_null(strstr(err, path));
}

static void
test_domains_file(void **state)
{
	(void)state;
	char text[512];
	struct rg_config *cf;
	const char *list = write_file("domains",
	    "# our domains\n"
	    "Example.NET\n"
	    "\n"
	    "example.org. other.example   # two on a line\n");
	char listpath[256];

	snprintf(listpath, sizeof(listpath), "%s", list);
	snprintf(text, sizeof(text), "Domains file:%s\nLDAPURI ldap://127.0.0.1\n"
	    "LDAPBase dc=example,dc=com\n", listpath);
	cf = load_ok(text);
	assert_int_equal(cf->domains.n, 3);
	assert_string_equal(cf->domains.v[0], "example.net");
	assert_string_equal(cf->domains.v[1], "example.org");
	assert_string_equal(cf->domains.v[2], "other.example");
	assert_true(rg_config_domain_ours(cf, "other.example"));
	assert_false(rg_config_domain_ours(cf, "example.com"));
	rg_config_free(cf);

	/* a list that cannot be read, and one that is empty */
	snprintf(text, sizeof(text), "Domains file:%s/no-such-file\nLDAPURI ldap://127.0.0.1\n"
	    "LDAPBase dc=example,dc=com\n", dir);
	expect_error(text, 1, "no-such-file");
	write_file("empty-domains", "# nothing\n");
	snprintf(text, sizeof(text), "Domains file:%s/empty-domains\nLDAPURI ldap://127.0.0.1\n"
	    "LDAPBase dc=example,dc=com\n", dir);
	expect_error(text, 0, "Domains");
}

static void
test_trusted_networks(void **state)
{
	(void)state;
	struct rg_config *cf = load_ok(REQUIRED
	    "TrustedNetworks 10.0.0.0/8, 192.168.1.0/24 2001:db8::/32 198.51.100.7\n");

	assert_int_equal(cf->ntrusted, 4);
	assert_true(rg_config_trusted(cf, "10.1.2.3"));
	assert_true(rg_config_trusted(cf, "10.255.255.255"));
	assert_false(rg_config_trusted(cf, "11.0.0.1"));
	assert_true(rg_config_trusted(cf, "192.168.1.77"));
	assert_false(rg_config_trusted(cf, "192.168.2.1"));
	assert_true(rg_config_trusted(cf, "2001:db8::25"));
	assert_false(rg_config_trusted(cf, "2001:db9::25"));
	assert_true(rg_config_trusted(cf, "::ffff:10.0.0.1"));
	assert_true(rg_config_trusted(cf, "198.51.100.7"));
	assert_false(rg_config_trusted(cf, "198.51.100.8"));
	/* the list replaces the default */
	assert_false(rg_config_trusted(cf, "127.0.0.1"));
	assert_false(rg_config_trusted(cf, "not an address"));
	assert_false(rg_config_trusted(cf, NULL));
	rg_config_free(cf);

	struct rg_net net;
	assert_int_equal(rg_net_parse("172.16.0.0/12", &net), 0);
	assert_int_equal(net.prefix, 12);
	assert_int_equal(rg_net_parse("172.16.0.0/33", &net), -1);
	assert_int_equal(rg_net_parse("172.16.0.1/12", &net), -1);
	assert_int_equal(rg_net_parse("172.16.0.0/", &net), -1);
	assert_int_equal(rg_net_parse("/8", &net), -1);
	assert_int_equal(rg_net_parse("fe80::/10", &net), 0);
	assert_int_equal(rg_net_parse("fe80::/129", &net), -1);
}

static void
test_bind_dn_without_password(void **state)
{
	(void)state;
	expect_error(REQUIRED "LDAPBindDN cn=reader,dc=example,dc=com\n", 0,
	    "LDAPBindPasswordFile");
}

static void
test_password_file_unreadable(void **state)
{
	(void)state;
	char text[512];

	snprintf(text, sizeof(text), REQUIRED
	    "LDAPBindDN cn=reader,dc=example,dc=com\n"
	    "LDAPBindPasswordFile %s/no-such-password\n", dir);
	expect_error(text, 0, "no-such-password");
}

static void
test_bad_filter(void **state)
{
	(void)state;
	/* the filter is a value on a line: the message names that line */
	expect_error(REQUIRED "LDAPFilter (mail=%s\n", 4, "LDAPFilter");
	expect_error(REQUIRED "LDAPFilter (&(mail=%s)(uid=%u)\n", 4, "LDAPFilter");
	expect_error(REQUIRED "LDAPFilter (mail=%s))\n", 4, "LDAPFilter");
	expect_error(REQUIRED "LDAPFilter mail=%s\n", 4, "LDAPFilter");
	expect_error(REQUIRED "LDAPFilter (mail=%x)\n", 4, "LDAPFilter");
	/* balanced, but not one filter: libldap or the server would refuse them */
	expect_error(REQUIRED "LDAPFilter (mail=%s)(uid=%u)\n", 4, "text after the filter");
	expect_error(REQUIRED "LDAPFilter (mail=%s)#x\n", 4, "text after the filter");
	expect_error(REQUIRED "LDAPFilter (mail=%s) (uid=%u)\n", 4, "LDAPFilter");
	expect_error(REQUIRED "LDAPFilter ((mail=%s))\n", 4, "Bad search filter");
	expect_error(REQUIRED "LDAPFilter (ma il=%s)\n", 4, "Bad search filter");
	expect_error(REQUIRED "LDAPFilter (mail=%s\\zz)\n", 4, "Bad search filter");
	expect_error(REQUIRED "LDAPFilter (!(mail=%s)(uid=%u))\n", 4, "Bad search filter");
	expect_error(REQUIRED "LDAPFilter (&(mail=%s)(uid=%u)\n", 4, "unbalanced");
	expect_error(REQUIRED "LDAPFilter (mail=%s)\n" "LDAPDisabledFilter (description=disabled\n",
	    5, "LDAPDisabledFilter");
	expect_error(REQUIRED "LDAPDisabledFilter (description=disabled))\n", 4, "LDAPDisabledFilter");
	expect_error(REQUIRED "LDAPDisabledFilter description=disabled\n", 4, "LDAPDisabledFilter");
	expect_error(REQUIRED "LDAPDisabledFilter (a=b)(c=d)\n", 4, "text after the filter");
	/* an address where the filter has syntax: "john doe"@ would make (john doe=x) */
	expect_error(REQUIRED "LDAPFilter (%u=x)\n", 4, "outside an assertion value");
	expect_error(REQUIRED "LDAPFilter (&(mail=x)(%s=*))\n", 4, "outside an assertion value");
	expect_error(REQUIRED "LDAPFilter (|(m%d=x)(mail=%s))\n", 4, "outside an assertion value");
	expect_error(REQUIRED "LDAPDisabledFilter (!(a=b)(c=d))\n", 4, "Bad search filter");
	expect_error(REQUIRED "LDAPDisabledFilter (a=b\\)\n", 4, "LDAPDisabledFilter");
	/* it is sent as written, never expanded: a % would be taken for a
	 * placeholder by a reader (and by the mirror); \25 is the percent sign */
	expect_error(REQUIRED "LDAPDisabledFilter (description=%u-left)\n", 4, "a % sign");
	expect_error(REQUIRED "LDAPDisabledFilter (description=100%%)\n", 4, "\\25");
}

/* Filters that the server takes are still accepted. */
static void
test_good_filters(void **state)
{
	(void)state;
	static const char *const good[] = {
		"LDAPFilter (mail=%s)\n",
		"LDAPFilter (&(objectClass=inetOrgPerson)(|(mail=%s)(mailAlternateAddress=%u@%d)))\n",
		"LDAPFilter (mail=%s) # a comment\n",
		"LDAPFilter (&(mail=%s)(!(description=a\\28b\\29)))\n",
		"LDAPFilter (mail=100%%-%s)\n",
		"LDAPFilter (1.2.840.113556.1.4.1=%s)\n",
		"LDAPDisabledFilter (|(pwdAccountLockedTime=*)(description=disabled))\n",
		"LDAPDisabledFilter (accountStatus:caseIgnoreMatch:=DISABLED)\n",
		"LDAPAddressAttributes mail mailLocalAddress;lang-en 0.9.2342.19200300.100.1.3\n",
		"LDAPAliasClasses nisMailAlias 1.3.6.1.1.1.2.11\n",
	};
	char text[512];

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		snprintf(text, sizeof(text), REQUIRED "%s", good[i]);
		rg_config_free(load_ok(text));
	}
}

/* Attribute and class names end up in filters and attribute lists. */
static void
test_bad_names(void **state)
{
	(void)state;
	expect_error(REQUIRED "LDAPAddressAttributes mail mail)\n", 4, "mail)");
	expect_error(REQUIRED "LDAPAddressAttributes mail=*\n", 4, "LDAPAddressAttributes");
	expect_error(REQUIRED "LDAPAddressAttributes\n", 4, "LDAPAddressAttributes");
	expect_error(REQUIRED "LDAPAliasAttributes rfc822MailMember 2mail\n", 4, "2mail");
	expect_error(REQUIRED "LDAPMemberAttributes member;\n", 4, "member;");
	expect_error(REQUIRED "LDAPMemberAttributes 1.2..3\n", 4, "1.2..3");
	expect_error(REQUIRED "LDAPAliasClasses nisMailAlias group(OfNames\n", 4, "group(OfNames");
	expect_error(REQUIRED "LDAPAliasClasses top;x\n", 4, "LDAPAliasClasses");
}

/* A NUL byte would cut the line short where C strings end: refused, by line. */
static void
test_nul_byte(void **state)
{
	(void)state;
	static const char text[] = REQUIRED "CacheTTL 60\0 # what follows is lost\n";
	static const char text2[] = REQUIRED "LDAPFilter (mail=%s)\0(uid=%u)\n";
	char err[RG_ERRLEN] = "", prefix[300];
	const char *path = write_bytes("nul.conf", text, sizeof(text) - 1);

	assert_null(rg_config_load(path, err, sizeof(err)));
	snprintf(prefix, sizeof(prefix), "%s:4: ", path);
	assert_memory_equal(err, prefix, strlen(prefix));
	assert_non_null(strstr(err, "NUL"));
	path = write_bytes("nul2.conf", text2, sizeof(text2) - 1);
	assert_null(rg_config_load(path, err, sizeof(err)));
	snprintf(prefix, sizeof(prefix), "%s:4: ", path);
	assert_memory_equal(err, prefix, strlen(prefix));
	/* the last line, without a newline */
	path = write_bytes("nul3.conf", REQUIRED "Syslog no\0", sizeof(REQUIRED) + 9);
	assert_null(rg_config_load(path, err, sizeof(err)));
	assert_non_null(strstr(err, ":4: NUL"));
	/* in a list read from a file: that file and its line are named */
	char list[256], conf[600];
	snprintf(list, sizeof(list), "%s", write_bytes("domains-nul",
	    "example.com\nexample.org\0example.net\n", 36));
	snprintf(conf, sizeof(conf), "LDAPURI ldap://127.0.0.1\nLDAPBase dc=x\n"
	    "Domains file:%s\n", list);
	path = write_file("nul4.conf", conf);
	assert_null(rg_config_load(path, err, sizeof(err)));
	snprintf(prefix, sizeof(prefix), "%s:3: ", path);
	assert_memory_equal(err, prefix, strlen(prefix));
	snprintf(prefix, sizeof(prefix), "%s:2: NUL", list);
	if (strstr(err, prefix) == NULL)
		fail_msg("message \"%s\" does not name %s", err, prefix);
	/* a line of 4094 characters is fine, one more is not */
	char *big = malloc(5000);
	assert_non_null(big);
	int n = snprintf(big, 5000, REQUIRED "LDAPBindDN ");
	memset(big + n, 'x', 4094 - 11);
	snprintf(big + n + 4094 - 11, 5000 - (size_t)n - 4083, "\nFoo 1\n");
	expect_error(big, 5, "Foo");
	snprintf(big + n + 4094 - 11, 5000 - (size_t)n - 4083, "x\n");
	expect_error(big, 4, "longer than 4094");
	free(big);
}

static void
test_bad_whole_values(void **state)
{
	(void)state;
	/* checks of a value's inner syntax name the key */
	/* empty labels: ".", "a..b", ".a" are no domain names */
	expect_error("Domains .\nLDAPURI ldap://127.0.0.1\nLDAPBase dc=x\n", 0,
	    "is not a domain name");
	expect_error("Domains example..com\nLDAPURI ldap://127.0.0.1\nLDAPBase dc=x\n", 0,
	    "is not a domain name");
	expect_error("Domains .example.com\nLDAPURI ldap://127.0.0.1\nLDAPBase dc=x\n", 0,
	    "is not a domain name");
	expect_error("Domains example.com..\nLDAPURI ldap://127.0.0.1\nLDAPBase dc=x\n", 0,
	    "is not a domain name");
	expect_error("Domains exa_mple.com\nLDAPURI ldap://127.0.0.1\nLDAPBase dc=x\n", 0,
	    "exa_mple.com");
	expect_error("Domains example.com\nLDAPURI http://127.0.0.1\nLDAPBase dc=x\n", 0,
	    "http://127.0.0.1");
	expect_error(REQUIRED "RedisURI http://127.0.0.1\n", 0, "RedisURI");
	expect_error(REQUIRED "Socket /run/x.sock\n", 0, "Socket");
	expect_error(REQUIRED "RecipientDelimiter a\n", 0, "RecipientDelimiter");
}

/* HarvestLimit, HarvestExemptNetworks, the Redis keys and RedisURI's credentials. */
static void
test_redis_and_harvest(void **state)
{
	(void)state;
	struct rg_config *cf = load_ok(REQUIRED);

	assert_int_equal(cf->harvest_limit, 30);
	assert_int_equal(cf->harvest_window, 600);
	assert_int_equal(cf->harvest_prefix4, 32);
	assert_int_equal(cf->harvest_prefix6, 64);
	assert_string_equal(cf->redis_key_prefix, "rcptguard:");
	assert_null(cf->redis_password);
	/* HarvestExemptNetworks unset: TrustedNetworks */
	assert_true(rg_config_harvest_exempt(cf, "127.0.0.2"));
	assert_false(rg_config_harvest_exempt(cf, "192.0.2.1"));
	rg_config_free(cf);

	cf = load_ok(REQUIRED "HarvestLimit 0\nHarvestExemptNetworks none\n");
	assert_int_equal(cf->harvest_limit, 0);
	assert_false(rg_config_harvest_exempt(cf, "127.0.0.1"));
	rg_config_free(cf);
	cf = load_ok(REQUIRED "HarvestLimit 5/60\nHarvestExemptNetworks 192.0.2.0/24\n");
	assert_int_equal(cf->harvest_limit, 5);
	assert_int_equal(cf->harvest_window, 60);
	assert_true(rg_config_harvest_exempt(cf, "192.0.2.9"));
	assert_false(rg_config_harvest_exempt(cf, "127.0.0.1"));
	rg_config_free(cf);

	char text[512];
	write_file("redis.pw", "s3cret\n");
	snprintf(text, sizeof(text), REQUIRED "RedisPasswordFile %s/redis.pw\nRedisUser rg\n", dir);
	cf = load_ok(text);
	assert_string_equal(cf->redis_password, "s3cret");
	assert_string_equal(cf->redis_user, "rg");
	rg_config_free(cf);

	expect_error(REQUIRED "HarvestLimit 30\n", 0, "HarvestLimit");
	expect_error(REQUIRED "HarvestLimit 30/0\n", 0, "HarvestLimit");
	expect_error(REQUIRED "HarvestLimit 0/600\n", 0, "HarvestLimit");
	expect_error(REQUIRED "HarvestLimit 30/600s\n", 0, "HarvestLimit");
	expect_error(REQUIRED "HarvestPrefix4 33\n", 0, "HarvestPrefix4");
	expect_error(REQUIRED "RedisUser rg\n", 0, "RedisPasswordFile is not");
	expect_error(REQUIRED "RedisKeyPrefix a b\n", 0, "RedisKeyPrefix");
	expect_error(REQUIRED "RedisURI redis://:s3cret@127.0.0.1:6379/0\n", 0,
	    "must not carry credentials");
	expect_error(REQUIRED "RedisURI redis://rg:pw@127.0.0.1\n", 0, "RedisPasswordFile");
#ifndef HAVE_HIREDIS_SSL
	expect_error(REQUIRED "RedisURI rediss://127.0.0.1:6380\n", 0, "stunnel");
	expect_error(REQUIRED "RedisTLSCACertFile /etc/ssl/certs/ca-certificates.crt\n", 0,
	    "hiredis_ssl");
#else
	expect_error(REQUIRED "RedisTLSCACertFile /etc/ssl/certs/ca-certificates.crt\n", 0,
	    "not rediss://");
#endif
}

/* RedisSentinels, RedisMasterName, RedisDB, RedisSentinelPasswordFile. */
static void
test_redis_sentinels(void **state)
{
	(void)state;
	struct rg_config *cf = load_ok(REQUIRED);
	char text[1024];

	assert_int_equal(cf->nredis_sentinels, 0);
	assert_string_equal(cf->redis_master_name, "");
	assert_int_equal(cf->redis_db, 0);
	assert_null(cf->redis_sentinel_password);
	rg_config_free(cf);

	cf = load_ok(REQUIRED "RedisSentinels 10.0.0.1:26379,sentinel-2.example.com:26380, "
	    "[::1]:26381  s_4:1\nRedisMasterName mymaster\nRedisDB 3\n");
	assert_int_equal(cf->nredis_sentinels, 4);
	assert_string_equal(cf->redis_sentinels[0].host, "10.0.0.1");
	assert_int_equal(cf->redis_sentinels[0].port, 26379);
	assert_string_equal(cf->redis_sentinels[1].host, "sentinel-2.example.com");
	assert_int_equal(cf->redis_sentinels[1].port, 26380);
	assert_string_equal(cf->redis_sentinels[2].host, "::1");
	assert_int_equal(cf->redis_sentinels[2].port, 26381);
	assert_string_equal(cf->redis_sentinels[3].host, "s_4");
	assert_int_equal(cf->redis_sentinels[3].port, 1);
	assert_string_equal(cf->redis_master_name, "mymaster");
	assert_int_equal(cf->redis_db, 3);
	assert_string_equal(cf->redis_uri, "none");
	/* -v prints what reads back: no RedisURI beside RedisSentinels */
	char *out = NULL;
	size_t len = 0;
	FILE *mem = open_memstream(&out, &len);
	assert_non_null(mem);
	rg_config_print(cf, mem);
	fclose(mem);
	assert_null(strstr(out, "RedisURI"));
	rg_config_free(cf);
	cf = load_ok(out);
	assert_int_equal(cf->nredis_sentinels, 4);
	assert_string_equal(cf->redis_sentinels[3].host, "s_4");
	free(out);
	rg_config_free(cf);

	write_file("sentinel.pw", "sentinelpw\n");
	snprintf(text, sizeof(text), REQUIRED "RedisSentinels 127.0.0.1:26379\n"
	    "RedisMasterName m\nRedisSentinelPasswordFile %s/sentinel.pw\n", dir);
	cf = load_ok(text);
	assert_string_equal(cf->redis_sentinel_password, "sentinelpw");
	rg_config_free(cf);

	/* RedisURI beside RedisSentinels, even "none": the message names both
	 * keys and the line of RedisURI */
	expect_error(REQUIRED "RedisURI redis://127.0.0.1:6379\nRedisSentinels 127.0.0.1:26379\n"
	    "RedisMasterName m\n", 4, "RedisURI and RedisSentinels exclude each other");
	expect_error(REQUIRED "RedisSentinels 127.0.0.1:26379\nRedisMasterName m\n"
	    "RedisURI none\n", 6, "RedisURI and RedisSentinels");
	expect_error(REQUIRED "RedisSentinels 127.0.0.1:26379\n", 0, "needs RedisMasterName");
	expect_error(REQUIRED "RedisMasterName m\n", 4, "RedisSentinels is not");
	expect_error(REQUIRED "RedisDB 2\n", 4, "part of the URI");
	expect_error(REQUIRED "RedisSentinelPasswordFile /x\n", 4, "RedisSentinels is not");
	expect_error(REQUIRED "RedisSentinels 127.0.0.1:1\nRedisMasterName m\n"
	    "RedisSentinelPasswordFile pw\n", 6, "relative path");
	snprintf(text, sizeof(text), REQUIRED "RedisSentinels 127.0.0.1:1\nRedisMasterName m\n"
	    "RedisSentinelPasswordFile %s/none.pw\n", dir);
	expect_error(text, 6, "cannot read");
	expect_error(REQUIRED "RedisSentinels 127.0.0.1:1\nRedisMasterName m\nRedisDB 65536\n", 6,
	    "RedisDB");
	expect_error(REQUIRED "RedisSentinels 127.0.0.1:1\nRedisMasterName a b\n", 5,
	    "no blank");
	static const char *const bad[] = { "127.0.0.1", "127.0.0.1:", "127.0.0.1:0",
	    "127.0.0.1:65536", "127.0.0.1:26379x", ":26379", "::1:26379", "[::1]26379",
	    "[::1:26379", "[]:1", "[g::1]:1", "host/x:1", "a:1:2", "127.0.0.1:-1" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), REQUIRED "RedisSentinels 127.0.0.1:26379,%s\n"
		    "RedisMasterName m\n", bad[i]);
		char word[64];
		snprintf(word, sizeof(word), "\"%s\" is not HOST:PORT", bad[i]);
		expect_error(text, 4, word);
	}
	snprintf(text, sizeof(text), REQUIRED "RedisMasterName m\nRedisSentinels");
	for (int i = 0; i < RG_SENTINELS_MAX + 1; i++)
		snprintf(text + strlen(text), sizeof(text) - strlen(text), " 127.0.0.1:%d", i + 1);
	snprintf(text + strlen(text), sizeof(text) - strlen(text), "\n");
	expect_error(text, 5, "more than 16");
}

/* RejectText, TempfailText, SuggestText: defaults, and what is refused. */
static void
test_reply_texts(void **state)
{
	(void)state;
	struct rg_config *cf = load_ok(REQUIRED);
	assert_string_equal(cf->reject_text, "<%a>: Recipient address rejected: User unknown");
	assert_string_equal(cf->tempfail_text, "<%a>: Temporary lookup failure");
	assert_string_equal(cf->suggest_text, "Did you mean <%s>?");
	rg_config_free(cf);
	cf = load_ok(REQUIRED "RejectText <%a>: unknown; write to postmaster@example.com\n"
	    "TempfailText 100%% busy   # later\nSuggestText <%a>? Try <%s>\n");
	assert_string_equal(cf->reject_text, "<%a>: unknown; write to postmaster@example.com");
	assert_string_equal(cf->tempfail_text, "100%% busy");
	rg_config_free(cf);
	expect_error(REQUIRED "RejectText <%a>: did you mean %s?\n", 4, "RejectText \"%s\"");
	expect_error(REQUIRED "SuggestText try %u\n", 4, "SuggestText \"%u\"");
	expect_error(REQUIRED "TempfailText 50% busy\n", 4, "TempfailText");
	expect_error(REQUIRED "TempfailText busy\x01\n", 4, "control character");
	expect_error(REQUIRED "RejectText j\xc3\xb6rg\n", 4, "non-ASCII");
	expect_error(REQUIRED "RejectText\n", 4, "RejectText is empty");
}

/* Booleans take the words opendkim's files use: yes/no, true/false, on/off, 1/0. */
static void
test_booleans(void **state)
{
	(void)state;
	static const struct {
		const char *word;
		int value;
	} words[] = {
		{ "yes", 1 }, { "no", 0 }, { "true", 1 }, { "false", 0 }, { "on", 1 },
		{ "off", 0 }, { "1", 1 }, { "0", 0 }, { "ON", 1 }, { "False", 0 }, { "Yes", 1 },
	};
	char text[512];

	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
		snprintf(text, sizeof(text), REQUIRED "LDAPStartTLS %s\nSyslog %s\n",
		    words[i].word, words[i].word);
		struct rg_config *cf = load_ok(text);
		assert_int_equal(cf->ldap_starttls, words[i].value);
		assert_int_equal(cf->syslog, words[i].value);
		rg_config_free(cf);
	}
	expect_error(REQUIRED "Syslog y\n", 4, "Syslog");
	expect_error(REQUIRED "Syslog 01\n", 4, "Syslog");
}

/* "#" starts a comment at the start of a line or after a blank, not inside a value. */
static void
test_comments(void **state)
{
	(void)state;
	struct rg_config *cf = load_ok("# a comment\n   # an indented comment\n"
	    "\t#\tafter a tab\n" REQUIRED
	    "AlertLog /var/log/rcptguard/alerts#1   # the # in the name stays\n"
	    "PidFile /run/x.pid\t# after a tab\n"
	    "UserID rcptguard#\n"
	    "RecipientDelimiter #\n");
	assert_string_equal(cf->alert_log, "/var/log/rcptguard/alerts#1");
	assert_string_equal(cf->pid_file, "/run/x.pid");
	assert_string_equal(cf->user_id, "rcptguard#");
	/* a value that is only a comment is an empty value */
	assert_string_equal(cf->recipient_delimiter, "");
	rg_config_free(cf);
	cf = load_ok("Domains example.com # and no other\n"
	    "LDAPURI ldap://127.0.0.1:389/#x ldap://127.0.0.2 # two servers\n"
	    "LDAPBase dc=example,dc=com#\n");
	assert_int_equal(cf->domains.n, 1);
	assert_string_equal(cf->ldap_uri, "ldap://127.0.0.1:389/#x ldap://127.0.0.2");
	assert_string_equal(cf->ldap_base, "dc=example,dc=com#");
	rg_config_free(cf);
	/* a key right after "#" is no key: the whole line is a comment */
	cf = load_ok(REQUIRED "#CacheTTL 5\n");
	assert_int_equal(cf->cache_ttl, 3600);
	rg_config_free(cf);
}

/* Make DIR/NAME a folder. */
static void
make_dir(const char *name)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	assert_true(mkdir(path, 0700) == 0 || errno == EEXIST);
}

/* Load DIR/NAME, expecting an error that begins with DIR/WHERE: and has WORD. */
static void
expect_include_error(const char *name, const char *where, const char *word)
{
	char err[RG_ERRLEN] = "", path[256], prefix[300];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	struct rg_config *cf = rg_config_load(path, err, sizeof(err));
	if (cf != NULL) {
		rg_config_free(cf);
		fail_msg("%s accepted", name);
	}
	snprintf(prefix, sizeof(prefix), "%s/%s: ", dir, where);
	if (strncmp(err, prefix, strlen(prefix)) != 0)
		fail_msg("message \"%s\" does not begin with \"%s\"", err, prefix);
	if (strstr(err, word) == NULL)
		fail_msg("message \"%s\" does not mention \"%s\"", err, word);
}

static void
test_include(void **state)
{
	(void)state;
	char err[RG_ERRLEN] = "", path[256];

	/* relative names are taken in the folder of the file that names them */
	make_dir("inc");
	write_file("inc/site.conf", "LDAPURI ldap://127.0.0.1:389\nInclude base.conf\n"
	    "LDAPStartTLS on\n");
	write_file("inc/base.conf", "LDAPBase dc=example,dc=com\n");
	write_file("main.conf", "Domains example.com\n  include   inc/site.conf  # shared\n"
	    "CacheTTL 60\n");
	snprintf(path, sizeof(path), "%s/main.conf", dir);
	struct rg_config *cf = rg_config_load(path, err, sizeof(err));
	if (cf == NULL)
		fail_msg("refused: %s", err);
	assert_string_equal(cf->ldap_base, "dc=example,dc=com");
	assert_int_equal(cf->ldap_starttls, 1);
	assert_int_equal(cf->cache_ttl, 60);
	assert_string_equal(cf->path, path);
	rg_config_free(cf);
	/* an absolute name */
	snprintf(path, sizeof(path), "Domains example.com\nInclude %s/inc/site.conf\n", dir);
	write_file("abs.conf", path);
	snprintf(path, sizeof(path), "%s/abs.conf", dir);
	cf = rg_config_load(path, err, sizeof(err));
	if (cf == NULL)
		fail_msg("refused: %s", err);
	rg_config_free(cf);

	/* errors inside an included file name that file and its line */
	write_file("inc/bad.conf", "LDAPBase dc=x\nCacheTTL soon\n");
	write_file("m1.conf", "Domains example.com\nLDAPURI ldap://127.0.0.1\nInclude inc/bad.conf\n");
	expect_include_error("m1.conf", "inc/bad.conf:2", "CacheTTL");
	/* and so do the checks run once every file is read */
	write_file("inc/baddom.conf", "Domains exa_mple.com\n");
	write_file("m2.conf", "LDAPURI ldap://127.0.0.1\nLDAPBase dc=x\nInclude inc/baddom.conf\n");
	expect_include_error("m2.conf", "inc/baddom.conf:1", "exa_mple.com");
	/* a missing file is named by the Include line */
	write_file("m3.conf", REQUIRED "Include inc/nonexistent.conf\n");
	expect_include_error("m3.conf", "m3.conf:4", "inc/nonexistent.conf");
	write_file("m4.conf", REQUIRED "Include\n");
	expect_include_error("m4.conf", "m4.conf:4", "Include");
	/* a key set twice across files names both places */
	write_file("m5.conf", REQUIRED "Include inc/base.conf\n");
	expect_include_error("m5.conf", "inc/base.conf:1", "m5.conf:3");
	/* only regular files: a folder, a device, a pipe could hold anything, or never end */
	write_file("m7.conf", REQUIRED "Include /dev/zero\n");
	expect_include_error("m7.conf", "m7.conf:4", "not a regular file");
	write_file("m8.conf", REQUIRED "Include inc\n");
	expect_include_error("m8.conf", "m8.conf:4", "not a regular file");
	/* cycles are refused */
	write_file("self.conf", REQUIRED "Include self.conf\n");
	expect_include_error("self.conf", "self.conf:4", "includes itself");
	write_file("inc/a.conf", "Include b.conf\n");
	write_file("inc/b.conf", "CacheTTL 5\nInclude ../inc/a.conf\n");
	write_file("m6.conf", REQUIRED "Include inc/a.conf\n");
	expect_include_error("m6.conf", "inc/b.conf:2", "includes itself");
	/* depth: a chain of RG_INCLUDE_DEPTH files loads, one more does not */
	char name[32], text[64];
	for (int i = 1; i < RG_INCLUDE_DEPTH + 1; i++) {
		snprintf(name, sizeof(name), "inc/d%d.conf", i);
		snprintf(text, sizeof(text), "Include d%d.conf\n", i + 1);
		write_file(name, text);
	}
	snprintf(name, sizeof(name), "inc/d%d.conf", RG_INCLUDE_DEPTH);
	write_file(name, "# the last\n");
	write_file("deep.conf", REQUIRED "Include inc/d2.conf\n");
	cf = load_ok(REQUIRED "Include inc/d2.conf\n");     /* good.conf, d2 .. d8: 8 files */
	rg_config_free(cf);
	write_file("deeper.conf", REQUIRED "Include inc/d1.conf\n");
	snprintf(name, sizeof(name), "inc/d%d.conf:1", RG_INCLUDE_DEPTH - 1);
	expect_include_error("deeper.conf", name, "deep");
}

/* Write TEXT as DIR/lc.conf and load it, expecting an error that begins
 * with DIR/WHERE: and mentions WORD. */
static void
expect_ldapcf_error(const char *text, const char *where, const char *word)
{
	write_file("lc.conf", text);
	expect_include_error("lc.conf", where, word);
}

/* A Postfix ldap_table(5) file read through LDAPConfig. */
static void
test_ldap_config(void **state)
{
	(void)state;
	char err[RG_ERRLEN] = "", path[256];

	write_file("ldap.cf", "# relay_recipient_maps = proxy:ldap:ldap.cf\n"
	    "server_host = ldap1.example.com, ldap2.example.com:1389\n"
	    "    ldaps://ldap3.example.com:636\n"
	    "\tldapi://%2Frun%2Fslapd%2Fldapi\n"
	    "server_port = 3389\n"
	    "search_base = ou=people, dc=example, dc=com\n"
	    "query_filter = (&(objectClass=inetOrgPerson)(|(mail=%s)(uid=%U)))\n"
	    "domain = example.com, example.org\n"
	    "result_attribute = mail, mailAlternateAddress\n"
	    "bind = yes\nbind_dn = cn=reader,dc=example,dc=com\nbind_pw = se cret#1\n"
	    "start_tls = no\nversion = 3\ntimeout = 5\nscope = sub\ndereference = 0\n"
	    "result_format = %s\nchase_referrals = 0\ndebuglevel = 0\n"
	    "tls_ca_cert_file = /etc/ssl/certs/site-ca.pem\ntls_require_cert = no\n");
	snprintf(path, sizeof(path), "%s/lc.conf", dir);
	write_file("lc.conf", "LDAPConfig ldap.cf\n");
	struct rg_config *cf = rg_config_load(path, err, sizeof(err));
	if (cf == NULL)
		fail_msg("refused: %s", err);
	assert_string_equal(cf->ldap_uri, "ldap://ldap1.example.com:3389 "
	    "ldap://ldap2.example.com:1389 ldaps://ldap3.example.com:636 "
	    "ldapi://%2Frun%2Fslapd%2Fldapi");
	assert_string_equal(cf->ldap_base, "ou=people, dc=example, dc=com");
	assert_string_equal(cf->ldap_filter,
	    "(&(objectClass=inetOrgPerson)(|(mail=%s)(uid=%u)))");
	assert_int_equal(cf->domains.n, 2);
	assert_string_equal(cf->domains.v[1], "example.org");
	assert_int_equal(cf->address_attrs.n, 2);
	assert_string_equal(cf->address_attrs.v[1], "mailAlternateAddress");
	assert_string_equal(cf->ldap_bind_dn, "cn=reader,dc=example,dc=com");
	assert_string_equal(cf->ldap_bind_password, "se cret#1");
	assert_int_equal(cf->ldap_starttls, 0);
	assert_true(cf->ldap_timeout == 5);
	assert_string_equal(cf->ldap_tls_cacert_file, "/etc/ssl/certs/site-ca.pem");
	assert_int_equal(cf->ldap_tls_verify, RG_TLS_NEVER);
	rg_config_free(cf);

	/* rcptguard.conf wins over the file, key by key */
	char text[512];
	snprintf(text, sizeof(text), "LDAPBase dc=example,dc=com\nLDAPTimeout 1\n"
	    "LDAPBindPasswordFile %s\nLDAPConfig ldap.cf\nDomains example.net\n", pwfile);
	cf = load_ok(text);
	assert_string_equal(cf->ldap_base, "dc=example,dc=com");
	assert_true(cf->ldap_timeout == 1);
	assert_string_equal(cf->ldap_bind_password, "readerpw");
	assert_int_equal(cf->domains.n, 1);
	assert_string_equal(cf->ldap_uri + strlen(cf->ldap_uri) - 5, "ldapi");
	rg_config_free(cf);

	/* ldap_table(5)'s defaults; a filter without parentheses gets them */
	write_file("min.cf", "search_base = dc=example,dc=com\ndomain = example.com\n");
	cf = load_ok("LDAPConfig min.cf\n");
	assert_string_equal(cf->ldap_uri, "ldap://localhost:389");
	assert_string_equal(cf->ldap_filter, "(mailacceptinggeneralid=%s)");
	assert_string_equal(cf->ldap_bind_dn, "");
	assert_null(cf->ldap_bind_password);
	rg_config_free(cf);
	write_file("nobind.cf", "search_base = dc=x\ndomain = example.com\nquery_filter = mail=%s\n"
	    "bind = no\nbind_dn = cn=reader,dc=x\nbind_pw = pw\n");
	cf = load_ok("LDAPConfig nobind.cf\n");
	assert_string_equal(cf->ldap_filter, "(mail=%s)");
	assert_string_equal(cf->ldap_bind_dn, "");
	assert_null(cf->ldap_bind_password);
	rg_config_free(cf);

	/* a relative name is taken in the folder of the file that sets LDAPConfig */
	make_dir("pf");
	write_file("pf/ldap.cf", "search_base = dc=x\ndomain = example.com\n");
	write_file("pf/rg.conf", "LDAPConfig ldap.cf\n");
	cf = load_ok("Include pf/rg.conf\n");
	assert_string_equal(cf->ldap_base, "dc=x");
	rg_config_free(cf);
}

/* What rcptguard cannot honour names the ldap_table file, its line and parameter. */
static void
test_ldap_config_errors(void **state)
{
	(void)state;
	static const struct {
		const char *line;
		const char *word;
	} bad[] = {
		{ "scope = one", "scope" },
		{ "bind = sasl", "SASL" },
		{ "version = 2", "version 3" },
		{ "query_filter = (&(mail=%s)(dc=%2))", "\"%2\"" },
		{ "search_base = ou=%d,dc=x", "search_base" },
		{ "domain = example.com, hash:/etc/postfix/domains", "hash:/etc/postfix/domains" },
		{ "domain = /etc/postfix/domains", "not files" },
		{ "special_result_attribute = member", "special_result_attribute" },
		{ "size_limit = 1", "size_limit: rcptguard cannot honour" },
		{ "server_port = ldap", "server_port" },
		{ "server_host = http://ldap.example.com", "http://ldap.example.com" },
		{ "timeout = 30", "timeout: LDAPTimeout wants" },
		{ "dereference = 3", "dereference" },
		{ "tls_require_cert = maybe", "tls_require_cert" },
		{ "tls_ca_cert_file = ca.pem", "LDAPTLSCACertFile \"ca.pem\" is a relative path" },
		{ "start_tls = perhaps", "start_tls: LDAPStartTLS" },
		{ "result_format = smtp:[%s]", "result_format" },
		{ "chase_referrals = 1", "referrals" },
		{ "bind_pw =\nbind_dn = cn=reader,dc=x", "bind_pw is empty" },
		{ "search_base dc=x", "name = value" },
		{ "search_base = dc=y", "set twice (first on line 1)" },
		{ "query_filter = (mail=%s)(uid=%u)", "LDAPFilter" },
	};
	char text[512];

	write_file("lc.conf", "");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), "search_base = dc=x\n# a comment\n%s\n",
		    bad[i].line);
		write_file("bad.cf", text);
		expect_ldapcf_error("Domains example.com\nLDAPConfig bad.cf\n", "bad.cf:3",
		    bad[i].word);
	}
	write_file("bad.cf", "  server_host = ldap1\nsearch_base = dc=x\n");
	expect_ldapcf_error("LDAPConfig bad.cf\n", "bad.cf:1", "continuation");
	expect_ldapcf_error("# x\nLDAPConfig nonexistent.cf\n", "lc.conf:2", "cannot open");
	expect_ldapcf_error("LDAPConfig /dev/zero\n", "lc.conf:1", "not a regular file");
	/* still required: what neither file gives */
	write_file("bad.cf", "domain = example.com\n");
	expect_ldapcf_error("LDAPConfig bad.cf\n", "lc.conf", "LDAPBase is required");
}

/* The words of L joined by one blank (static buffer). */
static const char *
joined(const struct rg_strlist *l)
{
	static char buf[512];

	buf[0] = '\0';
	for (size_t i = 0; i < l->n; i++) {
		strncat(buf, i ? " " : "", sizeof(buf) - strlen(buf) - 1);
		strncat(buf, l->v[i], sizeof(buf) - strlen(buf) - 1);
	}
	return buf;
}

/* The nine keys of a preset, as CF has them, one a line (to be freed). */
static char *
preset_values(const struct rg_config *cf)
{
	const struct rg_strlist *lists[] = { &cf->address_attrs, &cf->alias_attrs,
	    &cf->member_attrs, &cf->member_of_attrs, &cf->alias_classes };
	char *out = NULL;
	size_t len = 0;
	FILE *mem = open_memstream(&out, &len);

	assert_non_null(mem);
	fprintf(mem, "%s\n", cf->ldap_filter);
	for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++)
		fprintf(mem, "%s\n", joined(lists[i]));
	fprintf(mem, "%s\n%s\n%s\n", cf->ldap_disabled_filter, cf->ldap_forward_filter,
	    cf->ldap_catchall_filter);
	fclose(mem);
	return out;
}

/* DirectorySchema: each preset's values of the nine keys it sets. */
static void
test_presets(void **state)
{
	(void)state;
	static const struct {
		const char *schema, *want;
	} cases[] = {
		{ "iredmail",
		  "(&(|(objectClass=mailUser)(objectClass=mailList)(objectClass=mailAlias)"
		  "(objectClass=mailExternalUser))(|(mail=%s)(shadowAddress=%s)))\n"
		  "mail shadowAddress\nmailForwardingAddress\n\nmemberOfGroup\nmailAlias\n"
		  "(|(!(accountStatus=active))(domainStatus=disabled)(&(!(mail=@*))"
		  "(!(shadowAddress=@*))(|(!(enabledService=mail))(!(enabledService=deliver))))"
		  "(&(objectClass=mailList)(!(enabledService=mlmmj))))\n"
		  "(|(enabledService=forward)(objectClass=mailAlias)(mail=@*)(shadowAddress=@*))\n"
		  "(&(objectClass=mailUser)(|(mail=@%d)(shadowAddress=@%d)))\n" },
		{ "ad",
		  "(&(|(objectClass=user)(objectClass=group)(objectClass=contact))"
		  "(|(mail=%s)(proxyAddresses=smtp:%s)))\n"
		  "mail proxyAddresses\n\nmember\n\ngroup\n"
		  "(userAccountControl:1.2.840.113556.1.4.803:=2)\n\n\n" },
		{ "univention",
		  "(|(&(objectClass=univentionMail)(|(mailPrimaryAddress=%s)"
		  "(mailAlternativeAddress=%s)))(&(|(objectClass=posixGroup)"
		  "(objectClass=univentionMailList)(objectClass=univentionMailSharedFolder))"
		  "(mailPrimaryAddress=%s)))\n"
		  "mailPrimaryAddress mailAlternativeAddress\n"
		  "mailForwardAddress univentionMailMember\n"
		  "uniqueMember\n\nposixGroup univentionMailList\n\n\n\n" },
		{ "KOLAB",
		  "(&(|(mail=%s)(alias=%s))(|(objectClass=kolabInetOrgPerson)"
		  "(objectClass=kolabGroupOfUniqueNames)(objectClass=groupOfUniqueNames)"
		  "(objectClass=groupOfURLs)(objectClass=kolabSharedFolder)"
		  "(&(objectClass=mailRecipient)(objectClass=inetOrgPerson)"
		  "(mailForwardingAddress=*))))\n"
		  "mail alias\nmailForwardingAddress\nuniqueMember\n\ngroupOfUniqueNames\n\n"
		  "(!(objectClass=kolabInetOrgPerson))\n\n" },
		{ "postfix-book",
		  "(|(mail=%s)(mailAlias=%s))\n"
		  "mail mailAlias\n\n\nmailGroupMember\n\n(!(mailEnabled=TRUE))\n\n\n" },
		{ "inetorgperson", "(mail=%s)\nmail\n\n\n\n\n\n\n\n" },
		{ "none", "(mail=%s)\nmail\n\n\n\n"
		  "nisMailAlias groupOfNames groupOfUniqueNames\n\n\n\n" },
	};
	char text[512];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(text, sizeof(text), REQUIRED "DirectorySchema %s\n", cases[i].schema);
		struct rg_config *cf = load_ok(text);
		char *got = preset_values(cf);
		if (strcmp(got, cases[i].want) != 0)
			fail_msg("DirectorySchema %s:\n%s\nwanted:\n%s", cases[i].schema, got,
			    cases[i].want);
		free(got);
		assert_int_equal(cf->preset_keys.n, strcmp(cases[i].schema, "none") ? 9 : 0);
		rg_config_free(cf);
	}
	expect_error(REQUIRED "DirectorySchema openldap\n", 4, "DirectorySchema wants one of");
	expect_error(REQUIRED "DirectorySchema iredmail\nDirectorySchema ad\n", 5, "set twice");
}

/*
 * A key the file sets wins over the preset, before or after the
 * DirectorySchema line, and so does one set by LDAPConfig; "rcptguard -n
 * -v" marks only the values that came from the preset.
 */
static void
test_preset_file_wins(void **state)
{
	(void)state;
	struct rg_config *cf;

	cf = load_ok(REQUIRED "LDAPDisabledFilter (accountStatus=locked)\n"
	    "DirectorySchema iredmail\nLDAPAliasClasses mailList\n");
	assert_string_equal(cf->ldap_disabled_filter, "(accountStatus=locked)");
	assert_string_equal(joined(&cf->alias_classes), "mailList");
	assert_string_equal(joined(&cf->member_of_attrs), "memberOfGroup");
	assert_string_equal(joined(&cf->address_attrs), "mail shadowAddress");
	assert_int_equal(cf->preset_keys.n, 7);

	char *out = NULL;
	size_t len = 0;
	FILE *mem = open_memstream(&out, &len);
	assert_non_null(mem);
	rg_config_print(cf, mem);
	fclose(mem);
	assert_non_null(strstr(out, "\nLDAPDisabledFilter (accountStatus=locked)\n"));
	assert_non_null(strstr(out, "\nLDAPAliasClasses mailList\n"));
	assert_non_null(strstr(out, "\nLDAPMemberAttributes  # from DirectorySchema iredmail\n"));
	assert_non_null(strstr(out, "\nLDAPMemberOfAttributes memberOfGroup  "
	    "# from DirectorySchema iredmail\n"));
	assert_non_null(strstr(out, "\nDirectorySchema iredmail\n"));
	assert_non_null(strstr(out, "\nMaxUnknownRecipients 20\n"));
	assert_non_null(strstr(out, "\nTrustedNetworks 127.0.0.0/8 ::1/128\n"));
	assert_null(strstr(out, "Password\n"));
	free(out);

	/* an explicit configuration of the same values answers the same */
	char fp[sizeof(cf->fingerprint)];
	memcpy(fp, cf->fingerprint, sizeof(fp));
	rg_config_free(cf);
	cf = load_ok(REQUIRED "LDAPDisabledFilter (accountStatus=locked)\n"
	    "LDAPAliasClasses mailList\n"
	    "LDAPFilter (&(|(objectClass=mailUser)(objectClass=mailList)"
	    "(objectClass=mailAlias)(objectClass=mailExternalUser))"
	    "(|(mail=%s)(shadowAddress=%s)))\n"
	    "LDAPAddressAttributes mail shadowAddress\n"
	    "LDAPAliasAttributes mailForwardingAddress\nLDAPMemberOfAttributes memberOfGroup\n"
	    "LDAPForwardFilter (|(enabledService=forward)(objectClass=mailAlias)(mail=@*)"
	    "(shadowAddress=@*))\n"
	    "LDAPCatchAllFilter (&(objectClass=mailUser)(|(mail=@%d)(shadowAddress=@%d)))\n");
	assert_string_equal(cf->fingerprint, fp);
	assert_int_equal(cf->preset_keys.n, 0);
	rg_config_free(cf);

	/* a value of the file is checked where it is written */
	expect_error(REQUIRED "DirectorySchema ad\nLDAPFilter (mail=%s\n", 5, "LDAPFilter");
	expect_error(REQUIRED "LDAPFilter (mail=%s\nDirectorySchema ad\n", 4, "LDAPFilter");

	/* LDAPConfig's query_filter wins over the preset too */
	write_file("ad.cf", "query_filter = (userPrincipalName=%s)\n");
	cf = load_ok(REQUIRED "DirectorySchema ad\nLDAPConfig ad.cf\n");
	assert_string_equal(cf->ldap_filter, "(userPrincipalName=%s)");
	assert_string_equal(joined(&cf->member_attrs), "member");
	rg_config_free(cf);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_file),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_fingerprint),
		cmocka_unit_test(test_lists_terminated),
		cmocka_unit_test(test_unknown_key),
		cmocka_unit_test(test_bad_value),
		cmocka_unit_test(test_repeated_key),
		cmocka_unit_test(test_missing_required),
		cmocka_unit_test(test_missing_file),
		cmocka_unit_test(test_domains_file),
		cmocka_unit_test(test_trusted_networks),
		cmocka_unit_test(test_bind_dn_without_password),
		cmocka_unit_test(test_password_file_unreadable),
		cmocka_unit_test(test_bad_filter),
		cmocka_unit_test(test_good_filters),
		cmocka_unit_test(test_bad_names),
		cmocka_unit_test(test_bad_whole_values),
		cmocka_unit_test(test_nul_byte),
		cmocka_unit_test(test_redis_and_harvest),
		cmocka_unit_test(test_redis_sentinels),
		cmocka_unit_test(test_booleans),
		cmocka_unit_test(test_reply_texts),
		cmocka_unit_test(test_comments),
		cmocka_unit_test(test_include),
		cmocka_unit_test(test_ldap_config),
		cmocka_unit_test(test_ldap_config_errors),
		cmocka_unit_test(test_presets),
		cmocka_unit_test(test_preset_file_wins),
	};

	return cmocka_run_group_tests_name("rg_config", tests, setup, teardown);
}
