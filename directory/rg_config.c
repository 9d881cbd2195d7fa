/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * rg_config.c - load and check the rcptguard configuration file.
 *
 * The file holds one "Key value" per line; keys are case-insensitive, "#"
 * starts a comment, blank lines are ignored.  Every key is described once in
 * the table below (designated initializers) with its type, default, bounds,
 * whether it can change a cached answer, and the check of its value, run
 * once the whole file is read; the password file is read last, when every
 * check passed.  An unknown key, a value
 * out of bounds, a repeated key or a missing required key is an error that
 * names the file and the line.  The result is read-only once returned.
 */
#include "rg_config.h"
#include "rg_hash.h"
#include "rg_clock.h"
#include "rg_ldap.h"
#include "rg_metrics.h"

#include <arpa/inet.h>
#include <lber.h>
#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <syslog.h>

enum kind { K_STR, K_BOOL, K_INT, K_DOUBLE, K_LIST, K_ENUM, K_NETS, K_FACILITY };

struct key;

/*
 * The check of one value, run once every key is read, in table order (so a
 * check may rely on the keys above it).  Returns 0, or -1 with the problem
 * in why; the error then carries the line the key was set on.
 */
typedef int (*key_check)(struct rg_config *, const struct key *, char *why, size_t whylen);

struct key {
	const char *name;
	enum kind kind;
	size_t off;
	const char *def;               /* default, as it would be written */
	double min, max;               /* for K_INT and K_DOUBLE */
	const char *const *choices;    /* for K_ENUM, index is the value */
	int required;
	int answer;                    /* can change a cached answer: in the fingerprint */
	key_check check;               /* NULL when the type's own bounds suffice */
};

static const char *const on_failure_names[] = { "tempfail", "accept", NULL };
static const char *const suggest_names[] = { "off", "trusted", "all", NULL };
static const char *const broken_names[] = { "reject", "accept", "tempfail", NULL };

#define OFF(f) offsetof(struct rg_config, f)

/* Checks of single values, defined further down. */
static int check_domains(struct rg_config *, const struct key *, char *, size_t);
static int check_socket(struct rg_config *, const struct key *, char *, size_t);
static int check_uris(struct rg_config *, const struct key *, char *, size_t);
static int check_filter(struct rg_config *, const struct key *, char *, size_t);
static int check_disabled_filter(struct rg_config *, const struct key *, char *, size_t);
static int check_redis_uri(struct rg_config *, const struct key *, char *, size_t);
static int check_delimiter(struct rg_config *, const struct key *, char *, size_t);
static int check_attr_names(struct rg_config *, const struct key *, char *, size_t);
static int check_class_names(struct rg_config *, const struct key *, char *, size_t);
static int check_metrics_listen(struct rg_config *, const struct key *, char *, size_t);

static const struct key keys[] = {
	{ .name = "Socket", .kind = K_STR, .off = OFF(socket),
	    .def = "unix:/run/rcptguard/rcptguard.sock", .check = check_socket },
	{ .name = "UserID", .kind = K_STR, .off = OFF(user_id), .def = "" },
	{ .name = "PidFile", .kind = K_STR, .off = OFF(pid_file), .def = "" },
	{ .name = "Syslog", .kind = K_BOOL, .off = OFF(syslog), .def = "yes" },
	{ .name = "SyslogFacility", .kind = K_FACILITY, .off = OFF(syslog_facility),
	    .def = "mail" },
	{ .name = "MaxUnknownRecipients", .kind = K_INT, .off = OFF(max_unknown), .def = "20",
	    .min = 0, .max = 100000 },
	{ .name = "Domains", .kind = K_LIST, .off = OFF(domains), .def = "", .required = 1,
	    .answer = 1, .check = check_domains },
	{ .name = "RecipientDelimiter", .kind = K_STR, .off = OFF(recipient_delimiter),
	    .def = "+", .answer = 1, .check = check_delimiter },
	{ .name = "LDAPURI", .kind = K_STR, .off = OFF(ldap_uri), .def = "", .required = 1,
	    .answer = 1, .check = check_uris },
	{ .name = "LDAPBase", .kind = K_STR, .off = OFF(ldap_base), .def = "", .required = 1,
	    .answer = 1 },
	{ .name = "LDAPFilter", .kind = K_STR, .off = OFF(ldap_filter), .def = "(mail=%s)",
	    .answer = 1, .check = check_filter },
	{ .name = "LDAPBindDN", .kind = K_STR, .off = OFF(ldap_bind_dn), .def = "", .answer = 1 },
	{ .name = "LDAPBindPasswordFile", .kind = K_STR, .off = OFF(ldap_bind_password_file),
	    .def = "" },
	{ .name = "LDAPStartTLS", .kind = K_BOOL, .off = OFF(ldap_starttls), .def = "no" },
	{ .name = "LDAPTimeout", .kind = K_DOUBLE, .off = OFF(ldap_timeout), .def = "2",
	    .min = 0.01, .max = 10 },
	{ .name = "LDAPPoolSize", .kind = K_INT, .off = OFF(ldap_pool_size), .def = "4",
	    .min = 1, .max = 64 },
	{ .name = "RedisURI", .kind = K_STR, .off = OFF(redis_uri), .def = "none",
	    .check = check_redis_uri },
	{ .name = "RedisTimeout", .kind = K_DOUBLE, .off = OFF(redis_timeout), .def = "0.5",
	    .min = 0.01, .max = 2 },
	{ .name = "CacheTTL", .kind = K_INT, .off = OFF(cache_ttl), .def = "3600",
	    .min = 0, .max = 604800 },
	{ .name = "NegativeCacheTTL", .kind = K_INT, .off = OFF(negative_cache_ttl), .def = "300",
	    .min = 0, .max = 604800 },
	{ .name = "StaleTTL", .kind = K_INT, .off = OFF(stale_ttl), .def = "86400",
	    .min = 0, .max = 2592000 },
	{ .name = "LocalCacheSize", .kind = K_INT, .off = OFF(local_cache_size), .def = "100000",
	    .min = 0, .max = 10000000 },
	{ .name = "OnLookupFailure", .kind = K_ENUM, .off = OFF(on_lookup_failure),
	    .def = "tempfail", .choices = on_failure_names },
	{ .name = "Suggest", .kind = K_ENUM, .off = OFF(suggest), .def = "trusted",
	    .choices = suggest_names },
	{ .name = "TrustedNetworks", .kind = K_NETS, .def = "127.0.0.0/8, ::1" },
	{ .name = "SuggestMaxDistance", .kind = K_INT, .off = OFF(suggest_max_distance),
	    .def = "2", .min = 1, .max = 2 },
	{ .name = "LDAPAddressAttributes", .kind = K_LIST, .off = OFF(address_attrs),
	    .def = "mail", .answer = 1, .check = check_attr_names },
	{ .name = "SuggestRefresh", .kind = K_INT, .off = OFF(suggest_refresh), .def = "300",
	    .min = 10, .max = 86400 },
	{ .name = "LDAPAliasAttributes", .kind = K_LIST, .off = OFF(alias_attrs), .def = "",
	    .answer = 1, .check = check_attr_names },
	{ .name = "LDAPMemberAttributes", .kind = K_LIST, .off = OFF(member_attrs), .def = "",
	    .answer = 1, .check = check_attr_names },
	{ .name = "LDAPAliasClasses", .kind = K_LIST, .off = OFF(alias_classes),
	    .def = "nisMailAlias groupOfNames groupOfUniqueNames", .answer = 1,
	    .check = check_class_names },
	{ .name = "LDAPDisabledFilter", .kind = K_STR, .off = OFF(ldap_disabled_filter),
	    .def = "", .answer = 1, .check = check_disabled_filter },
	{ .name = "AliasMaxDepth", .kind = K_INT, .off = OFF(alias_max_depth), .def = "8",
	    .min = 1, .max = 64, .answer = 1 },
	{ .name = "AliasMaxTargets", .kind = K_INT, .off = OFF(alias_max_targets), .def = "1000",
	    .min = 1, .max = 100000, .answer = 1 },
	{ .name = "BrokenAliasAction", .kind = K_ENUM, .off = OFF(broken_alias_action),
	    .def = "reject", .choices = broken_names },
	{ .name = "AlertLog", .kind = K_STR, .off = OFF(alert_log), .def = "" },
	{ .name = "AlertInterval", .kind = K_INT, .off = OFF(alert_interval), .def = "3600",
	    .min = 0, .max = 604800 },
	{ .name = "MetricsListen", .kind = K_STR, .off = OFF(metrics_listen), .def = "",
	    .check = check_metrics_listen },
	{ .name = "MetricsFile", .kind = K_STR, .off = OFF(metrics_file), .def = "" },
	{ .name = "MetricsInterval", .kind = K_INT, .off = OFF(metrics_interval), .def = "15",
	    .min = 1, .max = 3600 },
	{ .name = "AlertMailTo", .kind = K_LIST, .off = OFF(alert_mail_to), .def = "" },
	{ .name = "AlertMailFrom", .kind = K_STR, .off = OFF(alert_mail_from), .def = "" },
	{ .name = "SendmailPath", .kind = K_STR, .off = OFF(sendmail_path),
	    .def = "/usr/sbin/sendmail" },
};

#define NKEYS (sizeof(keys) / sizeof(keys[0]))
#define LINE_MAX_LEN 4094               /* characters of a line, newline not counted */

static const struct {
	const char *name;
	int value;
} facilities[] = {
	{ "mail", LOG_MAIL }, { "daemon", LOG_DAEMON }, { "user", LOG_USER },
	{ "local0", LOG_LOCAL0 }, { "local1", LOG_LOCAL1 }, { "local2", LOG_LOCAL2 },
	{ "local3", LOG_LOCAL3 }, { "local4", LOG_LOCAL4 }, { "local5", LOG_LOCAL5 },
	{ "local6", LOG_LOCAL6 }, { "local7", LOG_LOCAL7 },
};

static void
seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* Empty L: back to one NULL slot (v is never NULL after this). */
static int
strlist_clear(struct rg_strlist *l)
{
	if (l->v != NULL)
		for (size_t i = 0; i < l->n; i++)
			free(l->v[i]);
	free(l->v);
	l->n = 0;
	l->v = calloc(1, sizeof(*l->v));
	return l->v == NULL ? -1 : 0;
}

/* Release what L holds; L is left with no array at all. */
static void
strlist_free(struct rg_strlist *l)
{
	if (l->v != NULL)
		for (size_t i = 0; i < l->n; i++)
			free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

/* Append the LEN bytes at S to L, keeping v[n] NULL.  -1: out of memory. */
static int
strlist_add(struct rg_strlist *l, const char *s, size_t len)
{
	char *copy = strndup(s, len);
	if (copy == NULL)
		return -1;
	char **v = realloc(l->v, (l->n + 2) * sizeof(*v));
	if (v == NULL) {
		free(copy);
		return -1;
	}
	l->v = v;
	v[l->n++] = copy;
	v[l->n] = NULL;
	return 0;
}

/* Split VALUE at commas and blanks into LIST. */
static int
split_words(const char *value, struct rg_strlist *list)
{
	const char *p = value;

	while (*p) {
		while (*p == ',' || isspace((unsigned char)*p))
			p++;
		if (*p == '\0')
			break;
		const char *start = p;
		while (*p && *p != ',' && !isspace((unsigned char)*p))
			p++;
		if (strlist_add(list, start, (size_t)(p - start)) < 0)
			return -1;
	}
	return 0;
}

/*
 * "file:/path" reads words from a file, one or more a line, "#" comments.
 * Anything else is split in place.
 */
static int
read_words(const char *value, struct rg_strlist *list, char *why, size_t whylen)
{
	if (strncmp(value, "file:", 5) != 0) {
		if (split_words(value, list) < 0) {
			seterr(why, whylen, "out of memory");
			return -1;
		}
		return 0;
	}
	FILE *fp = fopen(value + 5, "r");
	if (fp == NULL) {
		seterr(why, whylen, "cannot read %s: %s", value + 5, strerror(errno));
		return -1;
	}
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	unsigned lineno = 0;
	int rc = 0;
	while (rc == 0 && (len = getline(&line, &cap, fp)) >= 0) {
		lineno++;
		if (memchr(line, '\0', (size_t)len) != NULL) {
			seterr(why, whylen, "%s:%u: NUL byte in line", value + 5, lineno);
			rc = -1;
			break;
		}
		char *hash = strchr(line, '#');
		if (hash != NULL)
			*hash = '\0';
		if (split_words(line, list) < 0) {
			seterr(why, whylen, "out of memory");
			rc = -1;
		}
	}
	free(line);
	fclose(fp);
	return rc;
}

int
rg_net_parse(const char *text, struct rg_net *net)
{
	char buf[INET6_ADDRSTRLEN + 8];
	const char *slash = strchr(text, '/');
	size_t alen = slash ? (size_t)(slash - text) : strlen(text);

	if (alen == 0 || alen >= sizeof(buf) - 1)
		return -1;
	memcpy(buf, text, alen);
	buf[alen] = '\0';
	memset(net, 0, sizeof(*net));
	unsigned maxbits;
	if (inet_pton(AF_INET, buf, net->addr) == 1) {
		net->family = AF_INET;
		maxbits = 32;
	} else if (inet_pton(AF_INET6, buf, net->addr) == 1) {
		net->family = AF_INET6;
		maxbits = 128;
	} else {
		return -1;
	}
	net->prefix = maxbits;
	if (slash != NULL) {
		char *end;
		errno = 0;
		unsigned long bits = strtoul(slash + 1, &end, 10);
		if (slash[1] == '\0' || *end != '\0' || errno != 0 || bits > maxbits)
			return -1;
		net->prefix = (unsigned)bits;
	}
	/* The host bits must be zero, as Postfix insists: 10.1.2.3/8 is a typo. */
	for (unsigned bit = net->prefix; bit < maxbits; bit++)
		if (net->addr[bit / 8] & (0x80 >> (bit % 8)))
			return -1;
	return 0;
}

static int
net_match(const struct rg_net *net, int family, const unsigned char *addr)
{
	if (net->family != family)
		return 0;
	unsigned full = net->prefix / 8, rest = net->prefix % 8;
	if (memcmp(net->addr, addr, full) != 0)
		return 0;
	if (rest == 0)
		return 1;
	unsigned char mask = (unsigned char)(0xff << (8 - rest));
	return (net->addr[full] & mask) == (addr[full] & mask);
}

int
rg_config_trusted(const struct rg_config *cf, const char *ip)
{
	unsigned char addr[16];
	int family;

	if (ip == NULL)
		return 0;
	if (inet_pton(AF_INET, ip, addr) == 1) {
		family = AF_INET;
	} else if (inet_pton(AF_INET6, ip, addr) == 1) {
		family = AF_INET6;
		/* ::ffff:a.b.c.d is the IPv4 client it stands for */
		static const unsigned char mapped[12] = { 0,0,0,0,0,0,0,0,0,0,0xff,0xff };
		if (memcmp(addr, mapped, 12) == 0) {
			memmove(addr, addr + 12, 4);
			family = AF_INET;
		}
	} else {
		return 0;
	}
	for (size_t i = 0; i < cf->ntrusted; i++)
		if (net_match(&cf->trusted[i], family, addr))
			return 1;
	return 0;
}

static int
parse_nets(struct rg_config *cf, const char *value, char *why, size_t whylen)
{
	struct rg_strlist words = { NULL, 0 };

	if (read_words(value, &words, why, whylen) < 0)
		return -1;
	free(cf->trusted);
	cf->trusted = calloc(words.n ? words.n : 1, sizeof(*cf->trusted));
	cf->ntrusted = 0;
	if (cf->trusted == NULL) {
		strlist_free(&words);
		seterr(why, whylen, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < words.n; i++) {
		if (rg_net_parse(words.v[i], &cf->trusted[cf->ntrusted]) < 0) {
			seterr(why, whylen, "\"%s\" is not a network in CIDR form "
			    "(address/bits, host bits zero)", words.v[i]);
			strlist_free(&words);
			return -1;
		}
		cf->ntrusted++;
	}
	strlist_free(&words);
	return 0;
}

/* Store the index of VALUE among K's choices; on error write why and return -1. */
static int
set_enum(struct rg_config *cf, const struct key *k, const char *value, char *why,
    size_t whylen)
{
	char *base = (char *)cf;

	for (int i = 0; k->choices[i] != NULL; i++) {
		if (strcasecmp(value, k->choices[i]) == 0) {
			*(int *)(base + k->off) = i;
			return 0;
		}
	}
	char list[128] = "";
	for (int i = 0; k->choices[i] != NULL; i++) {
		strncat(list, i ? ", " : "", sizeof(list) - strlen(list) - 1);
		strncat(list, k->choices[i], sizeof(list) - strlen(list) - 1);
	}
	seterr(why, whylen, "%s wants one of %s, not \"%s\"", k->name, list, value);
	return -1;
}

/* Store VALUE for key K; on error write why and return -1. */
static int
set_value(struct rg_config *cf, const struct key *k, const char *value,
    char *why, size_t whylen)
{
	char *base = (char *)cf;
	char *end;

	switch (k->kind) {
	case K_STR: {
		char **sp = (char **)(base + k->off);
		char *copy = strdup(value);
		if (copy == NULL) {
			seterr(why, whylen, "out of memory");
			return -1;
		}
		free(*sp);
		*sp = copy;
		return 0;
	}
	case K_BOOL: {
		int *ip = (int *)(base + k->off);
		if (!strcasecmp(value, "yes") || !strcasecmp(value, "true") ||
		    !strcmp(value, "1"))
			*ip = 1;
		else if (!strcasecmp(value, "no") || !strcasecmp(value, "false") ||
		    !strcmp(value, "0"))
			*ip = 0;
		else {
			seterr(why, whylen, "%s wants yes or no, not \"%s\"", k->name, value);
			return -1;
		}
		return 0;
	}
	case K_INT: {
		errno = 0;
		long v = strtol(value, &end, 10);
		if (*value == '\0' || *end != '\0' || errno != 0 || v < k->min || v > k->max) {
			seterr(why, whylen, "%s wants a whole number from %.0f to %.0f, not \"%s\"",
			    k->name, k->min, k->max, value);
			return -1;
		}
		*(int *)(base + k->off) = (int)v;
		return 0;
	}
	case K_DOUBLE: {
		errno = 0;
		double v = strtod(value, &end);
		if (*value == '\0' || *end != '\0' || errno != 0 || !(v >= k->min && v <= k->max)) {
			seterr(why, whylen, "%s wants a number of seconds from %g to %g, not \"%s\"",
			    k->name, k->min, k->max, value);
			return -1;
		}
		*(double *)(base + k->off) = v;
		return 0;
	}
	case K_LIST: {
		struct rg_strlist *l = (struct rg_strlist *)(base + k->off);
		if (strlist_clear(l) < 0) {
			seterr(why, whylen, "out of memory");
			return -1;
		}
		return read_words(value, l, why, whylen);
	}
	case K_ENUM:
		return set_enum(cf, k, value, why, whylen);
	case K_NETS:
		return parse_nets(cf, value, why, whylen);
	case K_FACILITY:
		for (size_t i = 0; i < sizeof(facilities) / sizeof(facilities[0]); i++) {
			if (strcasecmp(value, facilities[i].name) == 0) {
				*(int *)(base + k->off) = facilities[i].value;
				return 0;
			}
		}
		seterr(why, whylen, "%s: unknown syslog facility \"%s\"", k->name, value);
		return -1;
	}
	return -1;
}

static void
fnv1a(uint64_t *h, const char *s)
{
	*h = rg_fnv1a(rg_fnv1a(*h, s), "\xff");   /* a separator no value contains */
}

void
rg_config_free(struct rg_config *cf)
{
	if (cf == NULL)
		return;
	for (size_t i = 0; i < NKEYS; i++) {
		char *base = (char *)cf;
		if (keys[i].kind == K_STR)
			free(*(char **)(base + keys[i].off));
		else if (keys[i].kind == K_LIST)
			strlist_free((struct rg_strlist *)(base + keys[i].off));
	}
	if (cf->ldap_bind_password != NULL) {
		explicit_bzero(cf->ldap_bind_password, strlen(cf->ldap_bind_password));
		free(cf->ldap_bind_password);
	}
	free(cf->trusted);
	free(cf->path);
	free(cf);
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

static int
read_password(struct rg_config *cf, char *why, size_t whylen)
{
	FILE *fp = fopen(cf->ldap_bind_password_file, "r");
	if (fp == NULL) {
		seterr(why, whylen, "LDAPBindPasswordFile: cannot read %s: %s",
		    cf->ldap_bind_password_file, strerror(errno));
		return -1;
	}
	char buf[1024];
	size_t n = fread(buf, 1, sizeof(buf) - 1, fp);
	fclose(fp);
	buf[n] = '\0';
	/* the first line is the password; a trailing newline is not part of it */
	buf[strcspn(buf, "\r\n")] = '\0';
	cf->ldap_bind_password = strdup(buf);
	explicit_bzero(buf, sizeof(buf));
	if (cf->ldap_bind_password == NULL) {
		seterr(why, whylen, "out of memory");
		return -1;
	}
	return 0;
}

static int
key_index(const char *name)
{
	for (size_t k = 0; k < NKEYS; k++)
		if (strcmp(keys[k].name, name) == 0)
			return (int)k;
	return -1;
}

/* Name the key at fault, so that the message can carry its line. */
#define BADKEY(name) (*badkey = key_index(name))

/*
 * libldap's own filter encoder: ldap_search_ext() turns the filter string
 * into BER with it, and a string it refuses ends the search with "Bad
 * search filter".  libldap exports it (OpenLDAP 2.4 to 2.6) but declares it
 * only in its private header ldap-int.h, which is not installed.  Returns 0,
 * or -1 when STR is not a filter.
 */
int ldap_pvt_put_filter(BerElement *ber, const char *str);

/* The address a filter template is expanded with to be checked. */
#define SAMPLE_LOCAL "sample.user"

/*
 * The outer shape of filter F: one parenthesised filter, balanced, nothing
 * after it ("\" quotes the character after it, as libldap reads it).
 * Returns 0, or -1 with the problem in why.
 */
static int
filter_shape(const char *f, char *why, size_t whylen)
{
	int depth = 0;

	if (*f != '(') {
		seterr(why, whylen, "must start with \"(\"");
		return -1;
	}
	for (const char *p = f; *p; p++) {
		if (*p == '\\' && p[1] != '\0') {
			p++;
		} else if (*p == '(') {
			depth++;
		} else if (*p == ')' && --depth == 0) {
			if (p[1] != '\0') {
				seterr(why, whylen, "has text after the filter: \"%s\" "
				    "(several filters are joined with (&...) or (|...))", p + 1);
				return -1;
			}
			return 0;
		}
	}
	seterr(why, whylen, "has unbalanced parentheses");
	return -1;
}

/* Does libldap take F as a search filter?  0 yes, -1 no (why says so). */
static int
filter_parses(const char *f, char *why, size_t whylen)
{
	BerElement *ber = ber_alloc_t(LBER_USE_DER);
	if (ber == NULL) {
		seterr(why, whylen, "out of memory");
		return -1;
	}
	int rc = ldap_pvt_put_filter(ber, f);
	ber_free(ber, 1);
	if (rc < 0) {
		seterr(why, whylen, "is not an LDAP search filter (RFC 4515): every "
		    "lookup would fail with \"Bad search filter\"");
		return -1;
	}
	return 0;
}

/*
 * LDAPFilter's %-sequences: only %s %u %d %%, and %s %u %d only in an
 * assertion value (after the "=" of an item): elsewhere an address would be
 * read as filter syntax, e.g. "(%u=x)" with the local part "john doe".
 * 0, or -1 with why.
 */
static int
filter_percents(const char *f, char *why, size_t whylen)
{
	int in_value = 0;

	for (const char *p = f; *p; p++) {
		if (*p == '\\' && p[1] != '\0') {
			p++;
			continue;
		}
		if (*p == '(' || *p == ')')
			in_value = 0;
		else if (*p == '=')
			in_value = 1;
		if (*p != '%')
			continue;
		if (p[1] != 's' && p[1] != 'u' && p[1] != 'd' && p[1] != '%') {
			seterr(why, whylen, "\"%%%c\" is not one of %%s %%u %%d %%%%",
			    p[1] ? p[1] : ' ');
			return -1;
		}
		if (p[1] != '%' && !in_value) {
			seterr(why, whylen, "\"%%%c\" stands outside an assertion value "
			    "(an address there would be read as filter syntax)", p[1]);
			return -1;
		}
		p++;
	}
	return 0;
}

/* Can LDAPFilter F, expanded for the longest address, exceed RG_FILTER_MAX? */
static int
filter_too_long(const char *f, const char *disabled)
{
	size_t worst = strlen(f) + strlen(disabled) + 8;

	for (const char *p = f; *p; p++) {
		if (*p == '%' && p[1] == 's')
			worst += 3 * (64 + 255) + 1;
		else if (*p == '%' && p[1] == 'u')
			worst += 3 * 64;
		else if (*p == '%' && p[1] == 'd')
			worst += 3 * 255;
		if (*p == '%' && p[1] != '\0')
			p++;
	}
	return worst >= RG_FILTER_MAX;
}

/*
 * Is NAME an attribute description of RFC 4512 2.5 (a name or a numeric
 * OID, then ";option"s when OPTIONS)?  Class names take no options.
 */
static int
attr_name_ok(const char *name, int options)
{
	const char *p = name;

	if (isdigit((unsigned char)*p)) {
		/* numericoid: number *( "." number ), no leading zeros */
		for (;;) {
			if (!isdigit((unsigned char)*p) || (*p == '0' && isdigit((unsigned char)p[1])))
				return 0;
			while (isdigit((unsigned char)*p))
				p++;
			if (*p != '.')
				break;
			p++;
		}
	} else {
		if (!isalpha((unsigned char)*p))
			return 0;
		while (isalnum((unsigned char)*p) || *p == '-')
			p++;
	}
	while (options && *p == ';') {
		const char *o = ++p;
		while (isalnum((unsigned char)*p) || *p == '-')
			p++;
		if (p == o)
			return 0;
	}
	return *p == '\0';
}

/* Each name of the list of key K is one: OPTIONS, of an attribute (with
 * options such as ";lang-de"), not of an object class. */
static int
check_list_names(struct rg_config *cf, const struct key *k, int options, char *why,
    size_t whylen)
{
	const struct rg_strlist *l = (const void *)((char *)cf + k->off);

	for (size_t i = 0; i < l->n; i++) {
		if (!attr_name_ok(l->v[i], options)) {
			seterr(why, whylen, "%s: \"%s\" is not an LDAP %s name", k->name, l->v[i],
			    options ? "attribute" : "object class");
			return -1;
		}
	}
	return 0;
}

static int
check_attr_names(struct rg_config *cf, const struct key *k, char *why, size_t whylen)
{
	if (check_list_names(cf, k, 1, why, whylen) < 0)
		return -1;
	if (k->off == OFF(address_attrs) && cf->address_attrs.n == 0) {
		seterr(why, whylen, "LDAPAddressAttributes names no attribute");
		return -1;
	}
	return 0;
}

static int
check_class_names(struct rg_config *cf, const struct key *k, char *why, size_t whylen)
{
	return check_list_names(cf, k, 0, why, whylen);
}

/*
 * LDAPFilter must be a filter the server takes: it is expanded for a
 * sample address of the first of Domains (checked above it) and run through
 * libldap's own filter encoder.
 */
static int
check_filter(struct rg_config *cf, const struct key *k, char *why, size_t whylen)
{
	char problem[RG_ERRLEN], expanded[RG_FILTER_MAX];
	const char *f = cf->ldap_filter;

	(void)k;
	if (filter_percents(f, problem, sizeof(problem)) < 0) {
		seterr(why, whylen, "LDAPFilter: %s", problem);
		return -1;
	}
	if (filter_too_long(f, cf->ldap_disabled_filter)) {
		seterr(why, whylen, "LDAPFilter \"%s\" can expand to more than %d characters",
		    f, RG_FILTER_MAX - 1);
		return -1;
	}
	snprintf(problem, sizeof(problem), "is too long once expanded");
	if (filter_shape(f, problem, sizeof(problem)) < 0 ||
	    rg_ldap_expand_filter(f, SAMPLE_LOCAL, cf->domains.v[0], expanded,
	    sizeof(expanded)) < 0 || filter_parses(expanded, problem, sizeof(problem)) < 0) {
		seterr(why, whylen, "LDAPFilter \"%s\" %s", f, problem);
		return -1;
	}
	return 0;
}

/* LDAPDisabledFilter, when set, must be a filter the server takes. */
static int
check_disabled_filter(struct rg_config *cf, const struct key *k, char *why, size_t whylen)
{
	char problem[RG_ERRLEN];
	const char *d = cf->ldap_disabled_filter;

	(void)k;
	if (d[0] != '\0' && (filter_shape(d, problem, sizeof(problem)) < 0 ||
	    filter_parses(d, problem, sizeof(problem)) < 0)) {
		seterr(why, whylen, "LDAPDisabledFilter \"%s\" %s", d, problem);
		return -1;
	}
	return 0;
}

/*
 * LDAPURI: every word must be an ldap://, ldaps:// or ldapi:// URI; they are
 * stored space-separated, the form ldap_initialize() takes.
 */
static int
check_uris(struct rg_config *cf, const struct key *k, char *why, size_t whylen)
{
	(void)k;
	struct rg_strlist uris = { NULL, 0 };
	if (split_words(cf->ldap_uri, &uris) < 0) {
		strlist_free(&uris);
		seterr(why, whylen, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < uris.n; i++) {
		if (strncasecmp(uris.v[i], "ldap://", 7) && strncasecmp(uris.v[i], "ldaps://", 8) &&
		    strncasecmp(uris.v[i], "ldapi://", 8)) {
			seterr(why, whylen, "LDAPURI: \"%s\" is not an ldap://, ldaps:// or ldapi:// URI",
			    uris.v[i]);
			strlist_free(&uris);
				return -1;
		}
	}
	size_t len = 1;
	for (size_t i = 0; i < uris.n; i++)
		len += strlen(uris.v[i]) + 1;
	char *joined = calloc(1, len);
	if (joined == NULL) {
		strlist_free(&uris);
		seterr(why, whylen, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < uris.n; i++) {
		if (i)
			strcat(joined, " ");
		strcat(joined, uris.v[i]);
	}
	strlist_free(&uris);
	free(cf->ldap_uri);
	cf->ldap_uri = joined;
	return 0;
}

/* Domains: names, lower-cased, without a trailing dot. */
static int
check_domains(struct rg_config *cf, const struct key *k, char *why, size_t whylen)
{
	(void)k;
	if (cf->domains.n == 0) {
		seterr(why, whylen, "Domains names no domain");
		return -1;
	}
	for (size_t i = 0; i < cf->domains.n; i++) {
		char *d = cf->domains.v[i];
		for (char *p = d; *p; p++)
			*p = (char)tolower((unsigned char)*p);
		size_t n = strlen(d);
		if (n > 1 && d[n - 1] == '.')
			d[n - 1] = '\0';
		if (*d == '\0' || *d == '.' || d[strlen(d) - 1] == '.' || strstr(d, "..") != NULL ||
		    strlen(d) > 253 ||
		    strspn(d, "abcdefghijklmnopqrstuvwxyz0123456789-.") != strlen(d)) {
			seterr(why, whylen, "Domains: \"%s\" is not a domain name", d);
			return -1;
		}
	}
	return 0;
}

static int
check_socket(struct rg_config *cf, const struct key *k, char *why, size_t whylen)
{
	(void)k;
	if (strncmp(cf->socket, "unix:", 5) != 0 && strncmp(cf->socket, "local:", 6) != 0 &&
	    strncmp(cf->socket, "inet:", 5) != 0 && strncmp(cf->socket, "inet6:", 6) != 0) {
		seterr(why, whylen, "Socket \"%s\" is neither unix:/path nor inet:PORT@HOST",
		    cf->socket);
		return -1;
	}
	return 0;
}

static int
check_redis_uri(struct rg_config *cf, const struct key *k, char *why, size_t whylen)
{
	(void)k;
	if (strncmp(cf->redis_uri, "redis://", 8) != 0 && strncmp(cf->redis_uri, "unix:", 5) != 0 &&
	    strcmp(cf->redis_uri, "none") != 0) {
		seterr(why, whylen, "RedisURI \"%s\" is none, redis://HOST:PORT[/DB] "
		    "or unix:/PATH[?db=N]", cf->redis_uri);
		return -1;
	}
	return 0;
}

static int
check_metrics_listen(struct rg_config *cf, const struct key *k, char *why, size_t whylen)
{
	(void)k;
	if (cf->metrics_listen[0] == '\0')
		return 0;
	return rg_metrics_listen_check(cf->metrics_listen, why, whylen);
}

static int
check_delimiter(struct rg_config *cf, const struct key *k, char *why, size_t whylen)
{
	(void)k;
	for (const char *p = cf->recipient_delimiter; *p; p++) {
		if (isalnum((unsigned char)*p) || *p == '.' || *p == '@' || isspace((unsigned char)*p)) {
			seterr(why, whylen, "RecipientDelimiter \"%s\": '%c' cannot start a subaddress",
			    cf->recipient_delimiter, *p);
			return -1;
		}
	}
	return 0;
}

/*
 * Every value's own check, in table order, then what involves two keys (a
 * bind DN needs a password file).  The password file is read only when
 * everything else passed.  *BADKEY names the key at fault.
 */
static int
check_whole(struct rg_config *cf, char *why, size_t whylen, int *badkey)
{
	for (size_t k = 0; k < NKEYS; k++) {
		if (keys[k].check != NULL && keys[k].check(cf, &keys[k], why, whylen) < 0) {
			*badkey = (int)k;
			return -1;
		}
	}
	if (cf->ldap_bind_password_file[0] == '\0') {
		if (cf->ldap_bind_dn[0] != '\0') {
			seterr(why, whylen, "LDAPBindDN is set but LDAPBindPasswordFile is not");
			BADKEY("LDAPBindDN");
			return -1;
		}
		return 0;
	}
	if (read_password(cf, why, whylen) < 0) {
		BADKEY("LDAPBindPasswordFile");
		return -1;
	}
	if (cf->ldap_bind_dn[0] != '\0' && cf->ldap_bind_password[0] == '\0') {
		/* a simple bind with a DN and no password is an unauthenticated
		 * bind (RFC 4513 5.1.2): never what was meant */
		seterr(why, whylen, "LDAPBindPasswordFile %s is empty", cf->ldap_bind_password_file);
		BADKEY("LDAPBindPasswordFile");
		return -1;
	}
	return 0;
}

/* Hash the name and the value of key K of CF into *H. */
static void
fingerprint_key(uint64_t *h, const struct rg_config *cf, const struct key *k)
{
	const char *base = (const char *)cf;
	char num[32];

	fnv1a(h, k->name);
	switch (k->kind) {
	case K_STR:
		fnv1a(h, *(char *const *)(base + k->off));
		break;
	case K_LIST: {
		const struct rg_strlist *l = (const struct rg_strlist *)(base + k->off);
		for (size_t i = 0; i < l->n; i++)
			fnv1a(h, l->v[i]);
		break;
	}
	case K_INT:
	case K_BOOL:
	case K_ENUM:
		snprintf(num, sizeof(num), "%d", *(const int *)(base + k->off));
		fnv1a(h, num);
		break;
	default:
		break;          /* no key of another kind has .answer */
	}
	fnv1a(h, "");           /* the end of the value: no list runs into the next key */
}

/*
 * FNV-1a, in hex, over the keys marked .answer: those whose values can
 * change an answer that the cache keeps (ok, unknown, disabled,
 * alias-broken): which server and entries are asked, as whom, with which
 * filter; what makes an entry an alias and its targets living or dead;
 * which domains are ours; how an address is split.  Keys that only change
 * what is done with an answer (the reply, the TTLs, the suggestions) stay
 * out, so that MTAs that differ only in them share Redis.  Part of every
 * cache key.
 */
static void
make_fingerprint(struct rg_config *cf)
{
	uint64_t h = RG_FNV_START;

	for (size_t k = 0; k < NKEYS; k++)
		if (keys[k].answer)
			fingerprint_key(&h, cf, &keys[k]);
	snprintf(cf->fingerprint, sizeof(cf->fingerprint), "%016llx", (unsigned long long)h);
}

/*
 * One line of FILE, LEN bytes as read (a NUL among them is refused, not
 * taken for the end of the line): a comment, a blank line, or "Key value",
 * stored into CF.  SEEN[k] is the line key k was set on.  Returns 0, or -1
 * with "FILE:LINE: problem" in err.
 */
static int
read_line(struct rg_config *cf, const char *file, unsigned lineno, char *line, size_t len,
    unsigned *seen, char *err, size_t errlen)
{
	char why[RG_ERRLEN];

	if (memchr(line, '\0', len) != NULL) {
		seterr(err, errlen, "%s:%u: NUL byte in line", file, lineno);
		return -1;
	}
	if (len > 0 && line[len - 1] == '\n')
		len--;
	if (len > LINE_MAX_LEN) {
		seterr(err, errlen, "%s:%u: line longer than %d characters", file, lineno,
		    LINE_MAX_LEN);
		return -1;
	}
	char *s = trim(line);
	if (*s == '#' || *s == '\0')
		return 0;
	char *name = s;
	while (*s && !isspace((unsigned char)*s))
		s++;
	if (*s)
		*s++ = '\0';
	char *value = trim(s);
	/* a "#" after blank space starts a comment, not inside a value */
	for (char *h = value; *h; h++) {
		if (*h == '#' && (h == value || isspace((unsigned char)h[-1]))) {
			*h = '\0';
			value = trim(value);
			break;
		}
	}
	size_t k;
	for (k = 0; k < NKEYS; k++)
		if (strcasecmp(name, keys[k].name) == 0)
			break;
	if (k == NKEYS) {
		seterr(err, errlen, "%s:%u: unknown key \"%s\"", file, lineno, name);
		return -1;
	}
	if (seen[k]) {
		seterr(err, errlen, "%s:%u: %s is set twice", file, lineno, keys[k].name);
		return -1;
	}
	seen[k] = lineno;
	if (set_value(cf, &keys[k], value, why, sizeof(why)) < 0) {
		seterr(err, errlen, "%s:%u: %s", file, lineno, why);
		return -1;
	}
	return 0;
}

struct rg_config *
rg_config_load(const char *file, char *err, size_t errlen)
{
	struct rg_config *cf = calloc(1, sizeof(*cf));
	char why[RG_ERRLEN];
	unsigned seen[NKEYS];           /* the line a key was set on */
	FILE *fp = NULL;

	if (cf == NULL) {
		seterr(err, errlen, "%s: out of memory", file);
		return NULL;
	}
	memset(seen, 0, sizeof(seen));
	cf->path = strdup(file);
	for (size_t i = 0; i < NKEYS; i++) {
		if (set_value(cf, &keys[i], keys[i].def, why, sizeof(why)) < 0) {
			seterr(err, errlen, "%s: default of %s: %s", file, keys[i].name, why);
			goto fail;
		}
	}
	fp = fopen(file, "r");
	if (fp == NULL) {
		seterr(err, errlen, "%s: cannot open: %s", file, strerror(errno));
		goto fail;
	}
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	unsigned lineno = 0;
	while ((len = getline(&line, &cap, fp)) >= 0) {
		if (read_line(cf, file, ++lineno, line, (size_t)len, seen, err, errlen) < 0) {
			free(line);
			goto fail;
		}
	}
	free(line);
	if (ferror(fp)) {
		seterr(err, errlen, "%s: read error: %s", file, strerror(errno));
		goto fail;
	}
	fclose(fp);
	fp = NULL;
	for (size_t k = 0; k < NKEYS; k++) {
		if (keys[k].required && !seen[k]) {
			seterr(err, errlen, "%s: %s is required", file, keys[k].name);
			goto fail;
		}
	}
	int badkey = -1;
	if (check_whole(cf, why, sizeof(why), &badkey) < 0) {
		if (badkey >= 0 && seen[badkey] > 0)
			seterr(err, errlen, "%s:%u: %s", file, seen[badkey], why);
		else
			seterr(err, errlen, "%s: %s", file, why);
		goto fail;
	}
	make_fingerprint(cf);
	return cf;
fail:
	if (fp != NULL)
		fclose(fp);
	rg_config_free(cf);
	return NULL;
}

int
rg_config_domain_ours(const struct rg_config *cf, const char *domain)
{
	for (size_t i = 0; i < cf->domains.n; i++)
		if (strcmp(cf->domains.v[i], domain) == 0)
			return 1;
	return 0;
}
