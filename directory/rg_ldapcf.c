/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * rg_ldapcf.c - read a Postfix ldap_table(5) file as rcptguard settings.
 *
 * The file is Postfix's: "name = value" lines, a line that starts with a
 * blank continues the one before, a line whose first non-blank is "#" is a
 * comment.  Each parameter becomes an rcptguard key, so that Postfix's
 * proxy:ldap and rcptguard ask the same servers the same question:
 *
 *	server_host, server_port   LDAPURI (host[:port] becomes ldap://host:port,
 *	                           ldap://, ldaps://, ldapi:// URLs stay)
 *	search_base                LDAPBase (no % expansion)
 *	query_filter               LDAPFilter (%s %u %d %% and %S %U %D; a
 *	                           filter without parentheses gets them, as
 *	                           Postfix does)
 *	domain                     Domains (names; no files, no tables)
 *	result_attribute           LDAPAddressAttributes
 *	bind, bind_dn, bind_pw     LDAPBindDN and the password (bind = no: anonymous)
 *	start_tls                  LDAPStartTLS
 *	timeout                    LDAPTimeout
 *
 * and these are honoured when they ask for what rcptguard does anyway:
 * version 3, scope sub, dereference 0, chase_referrals 0, result_format
 * %s, tls_require_cert and tls_ca_cert_file as libldap's own configuration
 * (ldap.conf(5): TLS_REQCERT, TLS_CACERT) has them; debuglevel is ignored.
 * Anything else (another value, another parameter: SASL, client
 * certificates, special result attributes, size limits) is an error that
 * names the parameter and its line: rcptguard would answer differently
 * from Postfix.  Defaults as ldap_table(5) has them: server_host
 * localhost, server_port 389, query_filter mailacceptinggeneralid=%s.
 */
#include "rg_ldapcf.h"

#include <ctype.h>
#include <errno.h>
#include <ldap.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#define LINE_MAX_LEN 4094
#define VALUE_MAX 8192                  /* a logical line, continuations joined */

/* One "name = value" of the file. */
struct param {
	char name[64];
	char *value;
	unsigned line;
};

struct file {
	const char *path;
	struct param *v;
	size_t n;
	int no_bind;                    /* bind = no: bind_dn and bind_pw unused */
};

typedef int (*handler)(struct rg_ldapcf *, struct file *, const struct param *, char *why,
    size_t whylen);

static void
seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static char *
trim(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	size_t n = strlen(s);
	while (n > 0 && isspace((unsigned char)s[n - 1]))
		s[--n] = '\0';
	return s;
}

/* Add KEY = VALUE (copied) from PARAM on LINE.  -1: out of memory. */
static int
add(struct rg_ldapcf *cf, const char *key, const char *value, const char *param, unsigned line)
{
	struct rg_ldapcf_setting *v = realloc(cf->v, (cf->n + 1) * sizeof(*v));

	if (v == NULL)
		return -1;
	cf->v = v;
	if ((v[cf->n].value = strdup(value)) == NULL)
		return -1;
	v[cf->n].key = key;
	v[cf->n].param = param;
	v[cf->n].line = line;
	cf->n++;
	return 0;
}

/* The parameter NAME of F, or NULL. */
static const struct param *
find(const struct file *f, const char *name)
{
	for (size_t i = 0; i < f->n; i++)
		if (strcmp(f->v[i].name, name) == 0)
			return &f->v[i];
	return NULL;
}

/* Append the LEN bytes at S and a separator to the buffer OUT of OUTLEN.  -1: full. */
static int
append(char *out, size_t outlen, const char *s, size_t len)
{
	size_t o = strlen(out);

	if (o + len + 2 > outlen)
		return -1;
	if (o > 0)
		out[o++] = ' ';
	memcpy(out + o, s, len);
	out[o + len] = '\0';
	return 0;
}

/* --- the parameters rcptguard maps ------------------------------------------ */

/* One server_host item ITEM (LEN bytes) as a URI into URIS. */
static int
server_uri(const char *item, size_t len, const char *port, char *uris, size_t urislen,
    char *why, size_t whylen)
{
	char uri[1024];
	const char *sep = memchr(item, ':', len), *scheme_end = NULL;

	for (size_t i = 0; i + 2 < len; i++)
		if (item[i] == ':' && item[i + 1] == '/' && item[i + 2] == '/')
			scheme_end = item + i;
	if (scheme_end != NULL) {
		size_t sl = (size_t)(scheme_end - item);
		if (!((sl == 4 && strncasecmp(item, "ldap", 4) == 0) ||
		    (sl == 5 && (strncasecmp(item, "ldaps", 5) == 0 ||
		    strncasecmp(item, "ldapi", 5) == 0)))) {
			seterr(why, whylen, "\"%.*s\" is not an ldap://, ldaps:// or ldapi:// URL",
			    (int)len, item);
			return -1;
		}
		snprintf(uri, sizeof(uri), "%.*s", (int)len, item);
	} else if (item[0] == '[' || sep != NULL) {
		/* host:port, or [v6]:port; a bare [v6] gets server_port */
		const char *close = item[0] == '[' ? memchr(item, ']', len) : NULL;
		int has_port = item[0] == '[' ? close != NULL && close + 1 < item + len : 1;
		snprintf(uri, sizeof(uri), "ldap://%.*s%s%s", (int)len, item, has_port ? "" : ":",
		    has_port ? "" : port);
	} else {
		snprintf(uri, sizeof(uri), "ldap://%.*s:%s", (int)len, item, port);
	}
	if (append(uris, urislen, uri, strlen(uri)) < 0) {
		seterr(why, whylen, "too long");
		return -1;
	}
	return 0;
}

/* server_port: the port of a server_host given without one. */
static int
h_server_port(struct rg_ldapcf *cf, struct file *f, const struct param *p, char *why,
    size_t whylen)
{
	char *end;

	(void)cf;
	(void)f;
	errno = 0;
	long n = strtol(p->value, &end, 10);
	if (p->value[0] == '\0' || *end != '\0' || errno != 0 || n < 1 || n > 65535) {
		seterr(why, whylen, "\"%s\" is not a port number", p->value);
		return -1;
	}
	return 0;
}

/* server_host (with server_port, checked before): LDAPURI. */
static int
h_server_host(struct rg_ldapcf *cf, struct file *f, const struct param *p, char *why,
    size_t whylen)
{
	char uris[VALUE_MAX];
	const struct param *pp = find(f, "server_port");
	const char *port = pp != NULL ? pp->value : "389";

	uris[0] = '\0';
	for (const char *s = p->value; *s;) {
		s += strspn(s, ", \t");
		size_t len = strcspn(s, ", \t");
		if (len > 0 && server_uri(s, len, port, uris, sizeof(uris), why, whylen) < 0)
			return -1;
		s += len;
	}
	if (uris[0] == '\0') {
		seterr(why, whylen, "names no server");
		return -1;
	}
	return add(cf, "LDAPURI", uris, "server_host", p->line);
}

/* search_base: LDAPBase, %% as "%", no other expansion. */
static int
h_search_base(struct rg_ldapcf *cf, struct file *f, const struct param *p, char *why,
    size_t whylen)
{
	char base[VALUE_MAX];
	size_t o = 0;

	(void)f;
	for (const char *s = p->value; *s; s++) {
		if (*s == '%' && s[1] != '%') {
			seterr(why, whylen, "\"%%%c\": rcptguard searches one fixed base, with no "
			    "%% expansion", s[1] ? s[1] : ' ');
			return -1;
		}
		if (o + 1 >= sizeof(base)) {
			seterr(why, whylen, "too long");
			return -1;
		}
		base[o++] = *s;
		s += *s == '%';
	}
	base[o] = '\0';
	return add(cf, "LDAPBase", base, "search_base", p->line);
}

/* query_filter: LDAPFilter; %S %U %D as %s %u %d; parentheses added when missing. */
static int
h_query_filter(struct rg_ldapcf *cf, struct file *f, const struct param *p, char *why,
    size_t whylen)
{
	char filter[VALUE_MAX];
	size_t o = 0;
	int wrap = p->value[0] != '(';

	(void)f;
	if (wrap)
		filter[o++] = '(';
	for (const char *s = p->value; *s; s++) {
		if (o + 4 >= sizeof(filter)) {
			seterr(why, whylen, "too long");
			return -1;
		}
		filter[o++] = *s;
		if (*s != '%')
			continue;
		char c = s[1];
		if (c == 'S' || c == 'U' || c == 'D')
			c = (char)tolower((unsigned char)c);
		if (c != 's' && c != 'u' && c != 'd' && c != '%') {
			seterr(why, whylen, "\"%%%c\": rcptguard expands %%s %%u %%d (and %%S %%U "
			    "%%D) and %%%% only", s[1] ? s[1] : ' ');
			return -1;
		}
		filter[o++] = c;
		s++;
	}
	if (wrap)
		filter[o++] = ')';
	filter[o] = '\0';
	return add(cf, "LDAPFilter", filter, "query_filter", p->line);
}

/* domain: Domains, names only. */
static int
h_domain(struct rg_ldapcf *cf, struct file *f, const struct param *p, char *why,
    size_t whylen)
{
	(void)f;
	for (const char *s = p->value; *s;) {
		s += strspn(s, ", \t");
		size_t len = strcspn(s, ", \t");
		if (memchr(s, '/', len) != NULL || memchr(s, ':', len) != NULL) {
			seterr(why, whylen, "\"%.*s\": rcptguard takes domain names here, not files "
			    "or tables (list them, or use Domains file:/path in rcptguard.conf)",
			    (int)len, s);
			return -1;
		}
		s += len;
	}
	return add(cf, "Domains", p->value, "domain", p->line);
}

/* result_attribute: LDAPAddressAttributes. */
static int
h_result_attribute(struct rg_ldapcf *cf, struct file *f, const struct param *p, char *why,
    size_t whylen)
{
	(void)f;
	if (strspn(p->value, ", \t") == strlen(p->value)) {
		seterr(why, whylen, "is empty: rcptguard needs the attribute that holds the "
		    "addresses");
		return -1;
	}
	return add(cf, "LDAPAddressAttributes", p->value, "result_attribute", p->line);
}

/* bind: yes/simple (bind_dn and bind_pw), no/none (anonymous); no SASL. */
static int
h_bind(struct rg_ldapcf *cf, struct file *f, const struct param *p, char *why, size_t whylen)
{
	const char *v = p->value;

	if (!strcasecmp(v, "yes") || !strcasecmp(v, "simple") || !strcasecmp(v, "true") ||
	    !strcmp(v, "1"))
		return 0;
	if (!strcasecmp(v, "no") || !strcasecmp(v, "none") || !strcasecmp(v, "false") ||
	    !strcmp(v, "0")) {
		f->no_bind = 1;
		return add(cf, "LDAPBindDN", "", "bind", p->line);
	}
	seterr(why, whylen, "\"%s\": rcptguard binds simply (yes) or not at all (no); "
	    "no SASL", v);
	return -1;
}

static int
h_bind_dn(struct rg_ldapcf *cf, struct file *f, const struct param *p, char *why,
    size_t whylen)
{
	(void)why;
	(void)whylen;
	return f->no_bind ? 0 : add(cf, "LDAPBindDN", p->value, "bind_dn", p->line);
}

static int
h_bind_pw(struct rg_ldapcf *cf, struct file *f, const struct param *p, char *why,
    size_t whylen)
{
	(void)why;
	(void)whylen;
	if (f->no_bind)
		return 0;
	if ((cf->bind_pw = strdup(p->value)) == NULL)
		return -1;
	cf->bind_pw_line = p->line;
	return 0;
}

static int
h_start_tls(struct rg_ldapcf *cf, struct file *f, const struct param *p, char *why,
    size_t whylen)
{
	(void)f;
	(void)why;
	(void)whylen;
	return add(cf, "LDAPStartTLS", p->value, "start_tls", p->line);
}

static int
h_timeout(struct rg_ldapcf *cf, struct file *f, const struct param *p, char *why,
    size_t whylen)
{
	(void)f;
	(void)why;
	(void)whylen;
	return add(cf, "LDAPTimeout", p->value, "timeout", p->line);
}

/* --- the parameters honoured when they ask for what rcptguard does -------- */

/* The value of P must be one of the words in OK (case-insensitive, "|" between). */
static int
must_be(const struct param *p, const char *ok, const char *what, char *why, size_t whylen)
{
	size_t n = strlen(p->value);

	for (const char *s = ok; *s;) {
		size_t len = strcspn(s, "|");
		if (len == n && strncasecmp(s, p->value, n) == 0)
			return 0;
		s += len + (s[len] == '|');
	}
	seterr(why, whylen, "\"%s\": rcptguard %s", p->value, what);
	return -1;
}

static int
h_version(struct rg_ldapcf *cf, struct file *f, const struct param *p, char *why, size_t whylen)
{
	(void)cf;
	(void)f;
	return must_be(p, "3", "speaks LDAP version 3 only", why, whylen);
}

static int
h_scope(struct rg_ldapcf *cf, struct file *f, const struct param *p, char *why, size_t whylen)
{
	(void)cf;
	(void)f;
	return must_be(p, "sub", "searches the whole subtree (scope sub) only", why, whylen);
}

static int
h_dereference(struct rg_ldapcf *cf, struct file *f, const struct param *p, char *why,
    size_t whylen)
{
	(void)cf;
	(void)f;
	return must_be(p, "0", "never dereferences LDAP aliases (dereference 0)", why, whylen);
}

static int
h_chase_referrals(struct rg_ldapcf *cf, struct file *f, const struct param *p, char *why,
    size_t whylen)
{
	(void)cf;
	(void)f;
	return must_be(p, "0|no", "never follows referrals (a referral is a temporary "
	    "failure)", why, whylen);
}

static int
h_result_format(struct rg_ldapcf *cf, struct file *f, const struct param *p, char *why,
    size_t whylen)
{
	(void)cf;
	(void)f;
	return must_be(p, "%s", "only asks whether an entry exists (result_format %s)", why,
	    whylen);
}

/* tls_require_cert: as libldap's TLS_REQCERT has it (yes: demand or hard; no: never). */
static int
h_tls_require_cert(struct rg_ldapcf *cf, struct file *f, const struct param *p, char *why,
    size_t whylen)
{
	int req = LDAP_OPT_X_TLS_DEMAND;

	(void)cf;
	(void)f;
	ldap_get_option(NULL, LDAP_OPT_X_TLS_REQUIRE_CERT, &req);
	int checks = req == LDAP_OPT_X_TLS_DEMAND || req == LDAP_OPT_X_TLS_HARD;
	return must_be(p, checks ? "yes|true|1" : "no|false|0", checks ?
	    "checks the server certificate (TLS_REQCERT in ldap.conf(5) says so)" :
	    "does not check the server certificate (TLS_REQCERT in ldap.conf(5) says so)",
	    why, whylen);
}

/* tls_ca_cert_file: the file libldap's TLS_CACERT names. */
static int
h_tls_ca_cert_file(struct rg_ldapcf *cf, struct file *f, const struct param *p, char *why,
    size_t whylen)
{
	char *ca = NULL;

	(void)cf;
	(void)f;
	ldap_get_option(NULL, LDAP_OPT_X_TLS_CACERTFILE, &ca);
	int same = ca != NULL && strcmp(ca, p->value) == 0;
	if (!same)
		seterr(why, whylen, "\"%s\": rcptguard trusts the CA certificates that "
		    "TLS_CACERT in ldap.conf(5) names (%s); set it there", p->value,
		    ca != NULL ? ca : "none");
	ldap_memfree(ca);
	return same ? 0 : -1;
}

static int
h_ignore(struct rg_ldapcf *cf, struct file *f, const struct param *p, char *why, size_t whylen)
{
	(void)cf;
	(void)f;
	(void)p;
	(void)why;
	(void)whylen;
	return 0;
}

/* In this order: server_port before server_host, bind before bind_dn and bind_pw. */
static const struct {
	const char *name;
	handler fn;
} params[] = {
	{ "server_port", h_server_port },
	{ "server_host", h_server_host },
	{ "search_base", h_search_base },
	{ "query_filter", h_query_filter },
	{ "domain", h_domain },
	{ "result_attribute", h_result_attribute },
	{ "bind", h_bind },
	{ "bind_dn", h_bind_dn },
	{ "bind_pw", h_bind_pw },
	{ "start_tls", h_start_tls },
	{ "tls_ca_cert_file", h_tls_ca_cert_file },
	{ "tls_require_cert", h_tls_require_cert },
	{ "version", h_version },
	{ "timeout", h_timeout },
	{ "scope", h_scope },
	{ "dereference", h_dereference },
	{ "chase_referrals", h_chase_referrals },
	{ "result_format", h_result_format },
	{ "debuglevel", h_ignore },
};

#define NPARAMS (sizeof(params) / sizeof(params[0]))

/* --- the file ------------------------------------------------------------------ */

/*
 * Add the logical line TEXT, begun on LINE, to F: "name = value".  Returns
 * 0, or -1 with the problem in err.
 */
static int
store(struct file *f, char *text, unsigned line, char *err, size_t errlen)
{
	char *eq = strchr(text, '=');

	if (eq == NULL) {
		seterr(err, errlen, "%s:%u: not \"name = value\"", f->path, line);
		return -1;
	}
	*eq = '\0';
	char *name = trim(text), *value = trim(eq + 1);
	if (*name == '\0' || strlen(name) >= sizeof(f->v[0].name) || strpbrk(name, " \t")) {
		seterr(err, errlen, "%s:%u: not \"name = value\"", f->path, line);
		return -1;
	}
	const struct param *before = find(f, name);
	if (before != NULL) {
		seterr(err, errlen, "%s:%u: %s is set twice (first on line %u)", f->path, line,
		    name, before->line);
		return -1;
	}
	struct param *v = realloc(f->v, (f->n + 1) * sizeof(*v));
	if (v == NULL || (v[f->n].value = strdup(value)) == NULL) {
		if (v != NULL)
			f->v = v;
		seterr(err, errlen, "%s: out of memory", f->path);
		return -1;
	}
	f->v = v;
	snprintf(v[f->n].name, sizeof(v[f->n].name), "%s", name);
	v[f->n].line = line;
	f->n++;
	return 0;
}

/*
 * One physical line LINE (LEN bytes, newline included) of F, number
 * LINENO: a comment, a blank line, a continuation of the logical line in
 * LOGICAL (begun on *START), or the start of a new one (the previous one
 * is stored first).  Returns 0, or -1 with err set.
 */
static int
read_line(struct file *f, char *line, size_t len, unsigned lineno, char *logical,
    unsigned *start, char *err, size_t errlen)
{
	if (memchr(line, '\0', len) != NULL) {
		seterr(err, errlen, "%s:%u: NUL byte in line", f->path, lineno);
		return -1;
	}
	if (len > 0 && line[len - 1] == '\n')
		line[--len] = '\0';
	if (len > LINE_MAX_LEN) {
		seterr(err, errlen, "%s:%u: line longer than %d characters", f->path, lineno,
		    LINE_MAX_LEN);
		return -1;
	}
	char *t = trim(line);
	if (*t == '#' || *t == '\0')
		return 0;
	if (isspace((unsigned char)line[0])) {
		if (*start == 0) {
			seterr(err, errlen, "%s:%u: a continuation line with nothing to continue",
			    f->path, lineno);
			return -1;
		}
	} else {
		if (*start != 0 && store(f, logical, *start, err, errlen) < 0)
			return -1;
		logical[0] = '\0';
		*start = lineno;
	}
	if (append(logical, VALUE_MAX, t, strlen(t)) < 0) {
		seterr(err, errlen, "%s:%u: longer than %d characters with its continuation "
		    "lines", f->path, *start, VALUE_MAX - 1);
		return -1;
	}
	return 0;
}

/* Read every parameter of PATH into F.  0, or -1 with err set. */
static int
read_params(struct file *f, char *err, size_t errlen)
{
	char logical[VALUE_MAX];
	FILE *fp = fopen(f->path, "r");

	if (fp == NULL) {
		seterr(err, errlen, "%s: cannot open: %s", f->path, strerror(errno));
		return -1;
	}
	struct stat st;
	if (fstat(fileno(fp), &st) < 0 || !S_ISREG(st.st_mode)) {
		seterr(err, errlen, "%s: not a regular file", f->path);
		fclose(fp);
		return -1;
	}
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	unsigned lineno = 0, start = 0;
	int rc = 0;
	logical[0] = '\0';
	while (rc == 0 && (len = getline(&line, &cap, fp)) >= 0)
		rc = read_line(f, line, (size_t)len, ++lineno, logical, &start, err, errlen);
	if (rc == 0 && ferror(fp)) {
		seterr(err, errlen, "%s: read error: %s", f->path, strerror(errno));
		rc = -1;
	}
	if (rc == 0 && start != 0)
		rc = store(f, logical, start, err, errlen);
	free(line);
	fclose(fp);
	return rc;
}

/* The handler of NAME, or NULL for a parameter rcptguard does not know. */
static handler
handler_of(const char *name)
{
	for (size_t i = 0; i < NPARAMS; i++)
		if (strcmp(params[i].name, name) == 0)
			return params[i].fn;
	return NULL;
}

/* Run every handler, in table order; ldap_table(5)'s defaults where F has none. */
static int
map_params(struct rg_ldapcf *out, struct file *f, char *err, size_t errlen)
{
	static const struct param def_host = { "server_host", "localhost", 0 };
	static const struct param def_filter = { "query_filter", "mailacceptinggeneralid=%s", 0 };
	char why[512];

	for (size_t i = 0; i < f->n; i++) {
		if (handler_of(f->v[i].name) == NULL) {
			seterr(err, errlen, "%s:%u: %s: rcptguard cannot honour this parameter "
			    "(see LDAPConfig in rcptguard.conf(5))", f->path, f->v[i].line,
			    f->v[i].name);
			return -1;
		}
	}
	for (size_t i = 0; i < NPARAMS; i++) {
		const struct param *p = find(f, params[i].name);
		if (p == NULL && strcmp(params[i].name, "server_host") == 0)
			p = &def_host;
		if (p == NULL && strcmp(params[i].name, "query_filter") == 0)
			p = &def_filter;
		if (p == NULL)
			continue;
		why[0] = '\0';
		if (params[i].fn(out, f, p, why, sizeof(why)) < 0) {
			if (why[0] == '\0')
				snprintf(why, sizeof(why), "out of memory");
			if (p->line > 0)
				seterr(err, errlen, "%s:%u: %s: %s", f->path, p->line, p->name, why);
			else
				seterr(err, errlen, "%s: %s (default %s): %s", f->path, p->name,
				    p->value, why);
			return -1;
		}
	}
	return 0;
}

int
rg_ldapcf_read(const char *path, struct rg_ldapcf *out, char *err, size_t errlen)
{
	struct file f = { path, NULL, 0, 0 };

	memset(out, 0, sizeof(*out));
	int rc = read_params(&f, err, errlen);
	if (rc == 0)
		rc = map_params(out, &f, err, errlen);
	for (size_t i = 0; i < f.n; i++) {
		if (strcmp(f.v[i].name, "bind_pw") == 0)
			explicit_bzero(f.v[i].value, strlen(f.v[i].value));
		free(f.v[i].value);
	}
	free(f.v);
	if (rc < 0)
		rg_ldapcf_free(out);
	return rc;
}

void
rg_ldapcf_free(struct rg_ldapcf *cf)
{
	for (size_t i = 0; i < cf->n; i++)
		free(cf->v[i].value);
	free(cf->v);
	if (cf->bind_pw != NULL) {
		explicit_bzero(cf->bind_pw, strlen(cf->bind_pw));
		free(cf->bind_pw);
	}
	memset(cf, 0, sizeof(*cf));
}
