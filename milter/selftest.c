/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * selftest.c - rcptguard -t: try the configuration against the real
 * servers, as opendkim-testkey does for keys, and say what works.
 *
 * One line per check, the verdict first:
 *
 *	ok    ldap://ldap1:389: connect
 *	ok    ldap://ldap1:389: TLS (StartTLS)
 *	ok    ldap://ldap1:389: bind as cn=rcptguard,dc=example,dc=com
 *	ok    ldap://ldap1:389: base dc=example,dc=com exists
 *	ok    ldap://ldap1:389: search (mail=postmaster@example.com): 1 entry
 *	ok    ldap://ldap1:389: RFC 4533 sync (syncprov) offered
 *	FAIL  redis://127.0.0.1:6379: write a test key: Connection refused
 *	ok    socket inet:10998@127.0.0.1: can be bound
 *	rcptguard -t: 1 of 8 checks failed
 *
 * "note" lines report what is worth knowing but is no failure (no TLS, no
 * RFC 4533 sync, no Redis).  Each LDAP URI is tried alone, through the very
 * code the daemon connects with (rg_ldap_connect(): one deadline over
 * resolving, connect, TLS and bind), and then searched with LDAPTimeout;
 * Redis through rg_redis with RedisTimeout.  After the first failure of a
 * URI its later checks are left out.  Nothing is logged; no secret is
 * printed (the bind password never, a Redis URI without its user part).
 */
#include "config.h"
#include "selftest.h"
#include "rg_clock.h"
#include "rg_ldap.h"
#include "rg_log.h"
#include "rg_redis.h"

#include <errno.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

/* The OID of the RFC 4533 sync request control in a root DSE's supportedControl. */
#define SYNC_OID "1.3.6.1.4.1.4203.1.9.1.1"
/* The local part of the sample address searched for. */
#define SAMPLE_LOCAL "postmaster"

enum verdict { V_OK, V_FAIL, V_NOTE };

struct report {
	FILE *out;
	int checks;
	int failed;
};

/* One line of the report: the verdict, then what was checked. */
static void __attribute__((format(printf, 3, 4)))
say(struct report *r, enum verdict v, const char *fmt, ...)
{
	static const char *const words[] = { "ok   ", "FAIL ", "note " };
	va_list ap;

	if (v != V_NOTE)
		r->checks++;
	r->failed += v == V_FAIL;
	fprintf(r->out, "%s ", words[v]);
	va_start(ap, fmt);
	vfprintf(r->out, fmt, ap);
	va_end(ap);
	fputc('\n', r->out);
	fflush(r->out);
}

/* How URI gets TLS under CF, for the report; *USED says whether it does. */
static const char *
tls_kind(const struct rg_config *cf, const char *uri, int *used)
{
	*used = 1;
	if (strncasecmp(uri, "ldaps://", 8) == 0)
		return "TLS (ldaps://)";
	if (strncasecmp(uri, "ldap://", 7) == 0 && cf->ldap_starttls)
		return "TLS (StartTLS)";
	*used = 0;
	if (strncasecmp(uri, "ldapi://", 8) == 0)
		return "TLS not used (ldapi://, a local socket)";
	return "TLS not used (ldap:// without LDAPStartTLS): the password and the "
	    "addresses cross the network in clear";
}

/*
 * The connect, TLS and bind lines of URI: WHY is NULL when all three
 * passed, else rg_ldap_connect()'s reason, which names the step that
 * failed ("TLS handshake ...", "StartTLS ...", "bind ...", anything else
 * before the connection stood).  Returns 0 when all passed.
 */
static int
say_connect(struct report *r, const struct rg_config *cf, const char *uri, const char *why)
{
	int used, step = 3;             /* the step that failed: 0 connect, 1 TLS, 2 bind */
	const char *tls = tls_kind(cf, uri, &used);
	char bind[RG_ERRLEN];

	if (why != NULL) {
		step = 0;
		if (strncmp(why, "TLS handshake", 13) == 0 || strncmp(why, "StartTLS", 8) == 0)
			step = 1;
		else if (strncmp(why, "bind ", 5) == 0)
			step = 2;
	}
	if (cf->ldap_bind_dn[0] != '\0')
		snprintf(bind, sizeof(bind), "bind as %s", cf->ldap_bind_dn);
	else
		snprintf(bind, sizeof(bind), "bind anonymously");
	say(r, step == 0 ? V_FAIL : V_OK, "%s: connect%s%s", uri, step == 0 ? ": " : "",
	    step == 0 ? why : "");
	if (step == 1)
		say(r, V_FAIL, "%s: TLS: %s", uri, why);
	else if (step > 1)
		say(r, used ? V_OK : V_NOTE, "%s: %s", uri, tls);
	if (step >= 2)
		say(r, step == 2 ? V_FAIL : V_OK, "%s: %s%s%s", uri, bind, step == 2 ? ": " : "",
		    step == 2 ? why : "");
	return why == NULL ? 0 : -1;
}

/* A search on LD bounded by LDAPTimeout; returns the LDAP result code. */
static int
search(const struct rg_config *cf, LDAP *ld, const char *base, int scope, const char *filter,
    char **attrs, int sizelimit, LDAPMessage **res)
{
	struct timeval tv;

	tv.tv_sec = (time_t)cf->ldap_timeout;
	tv.tv_usec = (suseconds_t)((cf->ldap_timeout - (double)tv.tv_sec) * 1e6);
	*res = NULL;
	return ldap_search_ext_s(ld, base, scope, filter, attrs, 0, NULL, NULL, &tv, sizelimit,
	    res);
}

/* Does LDAPBase exist on LD?  0 when it does. */
static int
check_base(struct report *r, const struct rg_config *cf, LDAP *ld, const char *uri)
{
	char *attrs[] = { LDAP_NO_ATTRS, NULL };
	LDAPMessage *res;
	int rc = search(cf, ld, cf->ldap_base, LDAP_SCOPE_BASE, "(objectClass=*)", attrs, 1, &res);

	ldap_msgfree(res);
	if (rc == LDAP_SUCCESS) {
		say(r, V_OK, "%s: base %s exists", uri, cf->ldap_base);
		return 0;
	}
	if (rc == LDAP_NO_SUCH_OBJECT)
		say(r, V_FAIL, "%s: base %s does not exist (LDAPBase)", uri, cf->ldap_base);
	else
		say(r, V_FAIL, "%s: base %s: %s", uri, cf->ldap_base, ldap_err2string(rc));
	return -1;
}

/* One lookup as the daemon makes it, for postmaster@ the first of Domains. */
static int
check_sample(struct report *r, const struct rg_config *cf, LDAP *ld, const char *uri)
{
	static char filter[RG_FILTER_MAX];
	char *attrs[] = { LDAP_NO_ATTRS, NULL };
	LDAPMessage *res;

	if (rg_ldap_expand_filter(cf->ldap_filter, SAMPLE_LOCAL, cf->domains.v[0], filter,
	    sizeof(filter)) < 0) {
		say(r, V_FAIL, "%s: search: LDAPFilter too long once expanded", uri);
		return -1;
	}
	int rc = search(cf, ld, cf->ldap_base, LDAP_SCOPE_SUBTREE, filter, attrs, 16, &res);
	int n = res != NULL ? ldap_count_entries(ld, res) : 0;
	ldap_msgfree(res);
	if (rc == LDAP_SUCCESS) {
		say(r, V_OK, "%s: search %s: %d %s", uri, filter, n, n == 1 ? "entry" : "entries");
		return 0;
	}
	say(r, V_FAIL, "%s: search %s: %s", uri, filter, ldap_err2string(rc));
	return -1;
}

/* Does the root DSE of LD list the RFC 4533 sync control?  A note either way. */
static void
check_sync(struct report *r, const struct rg_config *cf, LDAP *ld, const char *uri)
{
	char *attrs[] = { "supportedControl", NULL };
	LDAPMessage *res;
	int found = 0;
	int rc = search(cf, ld, "", LDAP_SCOPE_BASE, "(objectClass=*)", attrs, 1, &res);
	LDAPMessage *e = rc == LDAP_SUCCESS ? ldap_first_entry(ld, res) : NULL;
	struct berval **vals = e != NULL ? ldap_get_values_len(ld, e, "supportedControl") : NULL;

	for (int i = 0; vals != NULL && vals[i] != NULL; i++)
		if (vals[i]->bv_len == strlen(SYNC_OID) &&
		    memcmp(vals[i]->bv_val, SYNC_OID, vals[i]->bv_len) == 0)
			found = 1;
	ldap_value_free_len(vals);
	ldap_msgfree(res);
	if (rc != LDAP_SUCCESS)
		say(r, V_FAIL, "%s: root DSE: %s", uri, ldap_err2string(rc));
	else if (found)
		say(r, V_OK, "%s: RFC 4533 sync (syncprov) offered", uri);
	else
		say(r, V_NOTE, "%s: RFC 4533 sync (syncprov) not offered: directory changes "
		    "reach the suggestion index every SuggestRefresh seconds", uri);
}

/* Every check of one URI, alone. */
static void
check_uri(struct report *r, const struct rg_config *cf, const char *uri)
{
	struct rg_config one = *cf;     /* the same settings, this server only */
	char why[RG_ERRLEN], *u = strdup(uri);

	if (u == NULL) {
		say(r, V_FAIL, "%s: out of memory", uri);
		return;
	}
	one.ldap_uri = u;
	LDAP *ld = rg_ldap_connect(&one, rg_now() + cf->ldap_timeout, why, sizeof(why));
	free(u);
	if (say_connect(r, cf, uri, ld == NULL ? why : NULL) < 0)
		return;
	if (check_base(r, cf, ld, uri) == 0 && check_sample(r, cf, ld, uri) == 0)
		check_sync(r, cf, ld, uri);
	ldap_unbind_ext(ld, NULL, NULL);
}

/* The Redis URI without a user or password in it, into OUT. */
static void
redis_shown(const char *uri, char *out, size_t outlen)
{
	const char *at = strchr(uri, '@'), *slash = strchr(uri + 8, '/');

	if (strncmp(uri, "redis://", 8) == 0 && at != NULL && (slash == NULL || at < slash))
		snprintf(out, outlen, "redis://%s", at + 1);
	else
		snprintf(out, outlen, "%s", uri);
}

/* A test key written with a short TTL, read back and removed. */
static void
check_redis(struct report *r, const struct rg_config *cf)
{
	char shown[512], key[300], value[64], got[64], why[RG_ERRLEN], host[256] = "";

	if (strcmp(cf->redis_uri, "none") == 0 && cf->nredis_sentinels == 0) {
		say(r, V_NOTE, "RedisURI none: no Redis to test (each MTA host caches alone)");
		return;
	}
	if (cf->nredis_sentinels > 0)
		snprintf(shown, sizeof(shown), "Redis master %s (RedisSentinels %s)",
		    cf->redis_master_name, cf->redis_sentinels_text);
	else
		redis_shown(cf->redis_uri, shown, sizeof(shown));
	struct rg_redis *rd = rg_redis_new(cf, 0);
	if (rd == NULL) {
		say(r, V_FAIL, "%s: cannot be used", shown);
		return;
	}
	gethostname(host, sizeof(host) - 1);
	snprintf(key, sizeof(key), "rcptguard:selftest:%s:%ld", host, (long)getpid());
	snprintf(value, sizeof(value), "%ld.%ld", (long)time(NULL), (long)getpid());
	if (rg_redis_set(rd, key, value, 10, why, sizeof(why)) != RG_REDIS_OK) {
		say(r, V_FAIL, "%s: connect and write a test key (SET EX 10): %s", shown, why);
	} else {
		say(r, V_OK, "%s: connect and write a test key (SET EX 10)", shown);
		enum rg_redis_status st = rg_redis_get(rd, key, got, sizeof(got), NULL, why,
		    sizeof(why));
		if (st == RG_REDIS_OK && strcmp(got, value) == 0)
			say(r, V_OK, "%s: read it back (GET)", shown);
		else
			say(r, V_FAIL, "%s: read it back (GET): %s", shown, st == RG_REDIS_FAILED ?
			    why : st == RG_REDIS_MISS ? "gone" : "another value");
		rg_redis_del(rd, key, why, sizeof(why));
	}
	rg_redis_free(rd);
}

/* Can a stream socket of FAMILY be bound to HOST (NULL: any) and PORT? */
static void
check_inet(struct report *r, const char *sock, int family, const char *host, const char *port)
{
	struct addrinfo hints, *ai = NULL;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = family;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	int rc = getaddrinfo(host, port, &hints, &ai);
	if (rc != 0) {
		say(r, V_FAIL, "socket %s: %s", sock, gai_strerror(rc));
		return;
	}
	int fd = socket(ai->ai_family, SOCK_STREAM, 0), on = 1, e = 0;
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) < 0 ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) < 0)
		e = errno;
	if (fd >= 0)
		close(fd);
	freeaddrinfo(ai);
	if (e == 0)
		say(r, V_OK, "socket %s: can be bound", sock);
	else if (e == EADDRINUSE)
		say(r, V_FAIL, "socket %s: in use (is rcptguard running already?)", sock);
	else
		say(r, V_FAIL, "socket %s: %s", sock, strerror(e));
}

/* Make SA the unix address PATH; -1 when too long. */
static int
unix_addr(struct sockaddr_un *sa, const char *path)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa->sun_path))
		return -1;
	memcpy(sa->sun_path, path, strlen(path));
	return 0;
}

/*
 * A unix socket at PATH: nothing may accept connections on it, and a socket
 * can be made in its folder (tried with a name of our own, removed again).
 */
static void
check_unix(struct report *r, const char *sock, const char *path)
{
	struct sockaddr_un sa;
	struct stat st;
	char probe[sizeof(sa.sun_path) + 64];
	const char *slash = strrchr(path, '/');

	if (unix_addr(&sa, path) < 0) {
		say(r, V_FAIL, "socket %s: path too long", sock);
		return;
	}
	if (lstat(path, &st) == 0) {
		int fd = S_ISSOCK(st.st_mode) ? socket(AF_UNIX, SOCK_STREAM, 0) : -1;
		int used = fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
		if (fd >= 0)
			close(fd);
		if (!S_ISSOCK(st.st_mode) || used) {
			say(r, V_FAIL, "socket %s: %s", sock, used ? "in use (is rcptguard "
			    "running already?)" : "exists and is not a socket");
			return;
		}
	}
	snprintf(probe, sizeof(probe), "%.*s/.rcptguard-t.%ld", slash ? (int)(slash - path) : 1,
	    slash ? path : ".", (long)getpid());
	int fd = socket(AF_UNIX, SOCK_STREAM, 0), e = 0;
	if (unix_addr(&sa, probe) < 0)
		e = ENAMETOOLONG;
	else if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		e = errno;
	else
		unlink(probe);
	if (fd >= 0)
		close(fd);
	if (e == 0)
		say(r, V_OK, "socket %s: can be created", sock);
	else
		say(r, V_FAIL, "socket %s: cannot create a socket in %.*s: %s", sock,
		    slash ? (int)(slash - path) : 1, slash ? path : ".", strerror(e));
}

/* The milter socket in libmilter's syntax: unix:/path, inet:PORT[@HOST], inet6:... */
static void
check_socket(struct report *r, const char *sock)
{
	const char *colon = strchr(sock, ':');
	char port[32];

	if (strncmp(sock, "unix:", 5) == 0 || strncmp(sock, "local:", 6) == 0) {
		check_unix(r, sock, colon + 1);
		return;
	}
	if (sock[0] == '/') {
		check_unix(r, sock, sock);
		return;
	}
	int family = strncmp(sock, "inet6:", 6) == 0 ? AF_INET6 : AF_INET;
	const char *at = strchr(sock, '@');
	size_t plen = at ? (size_t)(at - colon - 1) : strlen(colon + 1);
	if (colon == NULL || plen == 0 || plen >= sizeof(port)) {
		say(r, V_FAIL, "socket %s: not unix:/path or inet:PORT@HOST", sock);
		return;
	}
	memcpy(port, colon + 1, plen);
	port[plen] = '\0';
	check_inet(r, sock, family, at ? at + 1 : NULL, port);
}

int
selftest_run(const struct rg_config *cf, const char *socket, FILE *out)
{
	struct report r = { out, 0, 0 };
	char *uris = strdup(cf->ldap_uri), *save = NULL;

	if (uris == NULL) {
		fprintf(out, "rcptguard -t: out of memory\n");
		return EX_TEMPFAIL;
	}
	rg_log_open("rcptguard", 0, 0, 0);     /* the report says it all, once */
	for (char *u = strtok_r(uris, " ", &save); u != NULL; u = strtok_r(NULL, " ", &save))
		check_uri(&r, cf, u);
	free(uris);
	check_redis(&r, cf);
	check_socket(&r, socket);
	if (r.failed == 0)
		fprintf(out, "rcptguard -t: all %d checks passed\n", r.checks);
	else
		fprintf(out, "rcptguard -t: %d of %d checks failed\n", r.failed, r.checks);
	return r.failed == 0 ? 0 : EX_TEMPFAIL;
}
