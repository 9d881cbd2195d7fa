/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * rcptguard-audit - every broken alias of the directory, offline.
 *
 * rcptguard-audit [-c FILE] [-v] [--json | --dot | --html FILE | --alerts | --moved]
 *
 * Reads every entry under LDAPBase with a paged search, bound as LDAPBindDN
 * (the addresses, alias targets, members and object classes), then the
 * entries that match LDAPDisabledFilter and, with LDAPCatchAllFilter, the
 * catch-all entries of each of Domains, builds the alias graph (rg_audit)
 * and prints each problem:
 *   (default)  a table "PROBLEM  ALIAS  TARGET  DN", sorted, "-" for no target
 *   --json     one object a line: problem, alias, target, dn, host, time
 *   --dot      a Graphviz digraph of the aliases and their targets, broken
 *              edges red and dashed, labelled with the problem
 *   --html FILE  one self-contained page in FILE: the problems by kind with
 *              counts, a table per kind, and each broken alias's chain as
 *              inline SVG drawn by Graphviz's dot when it is in PATH
 *   --alerts   instead of an audit, the last 100 runtime alerts, oldest
 *              first, one JSON object a line: from the Redis stream
 *              rcptguard:alerts when RedisURI is set, else from AlertLog
 *   --moved    instead of an audit, the people who left: every address of
 *              an entry that matches LDAPDisabledFilter and has a value of
 *              LDAPMovedToAttribute, the new address, and what RCPT answers
 *              (moved; unknown or disabled when no value is a plain address,
 *              the first value shown then); a table "ADDRESS  MOVED-TO
 *              ANSWER  DN" sorted by address.  Exit 0, or 75 / 78 as below.
 * -v prints counts and timings to standard error.
 *
 * Exit status: 0 clean, 1 problems found, 75 the directory (or the alert
 * source) could not be read whole, 78 a bad configuration, 64 usage.  A
 * walk cut short is never reported as a clean directory.
 */
#include "config.h"
#include "rg_address.h"
#include "rg_alert.h"
#include "rg_alias.h"
#include "rg_audit.h"
#include "rg_check.h"
#include "rg_escape.h"
#include "rg_ldap.h"
#include "rg_filter.h"
#include "rg_log.h"
#include "rg_redis.h"

#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#define PAGE_SIZE 500
#define PAGE_TIMEOUT_MIN 10.0   /* seconds a page may take, at least */
#define ALERTS_MAX 100

enum mode { M_TABLE, M_JSON, M_DOT, M_ALERTS, M_HTML, M_MOVED };

static int verbose;
static const char *html_file;            /* --html FILE */

static void
usage(void)
{
	fprintf(stderr, "usage: rcptguard-audit [-c FILE] [-v] [--json | --dot | --html FILE | "
	    "--alerts | --moved]\n");
	exit(EX_USAGE);
}

static void
print_json_string(FILE *f, const char *s)
{
	rg_escape_json_print(f, s);
}

/* Print S padded to WIDTH, control bytes as \xNN (one problem, one line). */
static void
print_plain(const char *s, size_t width)
{
	for (size_t n = rg_escape_text_print(stdout, s, 0); n < width; n++)
		putchar(' ');
}

/* --- the audit -------------------------------------------------------------- */

struct walk {
	struct rg_audit *audit;
	int oom;
	const char *domain;     /* for on_catchall() */
	const struct rg_config *cf;
};

static int
on_entry(void *arg, const struct rg_ldap_entry *e)
{
	struct walk *w = arg;

	if (rg_audit_add(w->audit, e) < 0) {
		w->oom = 1;
		return -1;
	}
	return 0;
}

static int
on_disabled(void *arg, const struct rg_ldap_entry *e)
{
	struct walk *w = arg;

	if (rg_audit_disable(w->audit, e->dn) < 0) {
		w->oom = 1;
		return -1;
	}
	return 0;
}

static int
on_catchall(void *arg, const struct rg_ldap_entry *e)
{
	struct walk *w = arg;

	if (rg_audit_catchall(w->audit, w->domain, e->dn) < 0) {
		w->oom = 1;
		return -1;
	}
	return 0;
}

/* Each LDAPMemberOfAttributes value of a living member: a group it names. */
static int
on_member(void *arg, const struct rg_ldap_entry *e)
{
	struct walk *w = arg;

	for (size_t i = 0; i < e->nvals; i++) {
		if (!rg_alias_attr_in(e->vals[i].attr, &w->cf->member_of_attrs))
			continue;
		if (rg_audit_named(w->audit, e->vals[i].value) < 0) {
			w->oom = 1;
			return -1;
		}
	}
	return 0;
}

/*
 * The catch-all entries of each of Domains into W's audit (one walk per
 * domain: the filter holds %d).  0, or -1 with the reason said on standard
 * error and *RET set.
 */
static int
read_catchalls(const struct rg_config *cf, struct walk *w, double timeout, int *ret)
{
	static char *const no_attrs[] = { LDAP_NO_ATTRS, NULL };
	char err[RG_ERRLEN] = "", filter[RG_FILTER_MAX];

	for (size_t i = 0; i < cf->domains.n; i++) {
		w->domain = cf->domains.v[i];
		if (rg_ldap_expand_filter(cf->ldap_catchall_filter, "", w->domain, filter,
		    sizeof(filter)) < 0) {
			fprintf(stderr, "rcptguard-audit: LDAPCatchAllFilter too long for %s\n",
			    w->domain);
			*ret = EX_CONFIG;
			return -1;
		}
		if (rg_ldap_walk(cf, filter, no_attrs, PAGE_SIZE, timeout, on_catchall, w, err,
		    sizeof(err)) != 0) {
			fprintf(stderr, "rcptguard-audit: cannot read the catch-all entries (%s): "
			    "%s\n", filter, w->oom ? "out of memory" : err);
			*ret = w->oom ? EX_OSERR : EX_TEMPFAIL;
			return -1;
		}
	}
	return 0;
}

/*
 * The entries that may name a group (LDAPMemberOfAttributes): LDAPFilter's
 * walk form, one of those attributes present, not disabled.  -1: too long.
 */
static int
member_filter(const struct rg_config *cf, char *out, size_t outlen)
{
	size_t o = (size_t)snprintf(out, outlen, "(&%s(|", cf->member_scope);

	for (size_t i = 0; i < cf->member_of_attrs.n && o < outlen; i++)
		o += (size_t)snprintf(out + o, outlen - o, "(%s=*)", cf->member_of_attrs.v[i]);
	if (o < outlen && cf->ldap_disabled_filter[0] != '\0')
		o += (size_t)snprintf(out + o, outlen - o, ")(!%s))", cf->ldap_disabled_filter);
	else if (o < outlen)
		o += (size_t)snprintf(out + o, outlen - o, "))");
	return o < outlen ? 0 : -1;
}

/*
 * The groups that living members name (LDAPMemberOfAttributes) into W's
 * audit, in one walk.  0, or the exit status after saying why not.
 */
static int
read_members(const struct rg_config *cf, struct walk *w, double timeout)
{
	char filter[RG_FILTER_MAX], err[RG_ERRLEN] = "";

	if (member_filter(cf, filter, sizeof(filter)) == 0 &&
	    rg_ldap_walk(cf, filter, cf->member_of_attrs.v, PAGE_SIZE, timeout, on_member, w,
	    err, sizeof(err)) == 0)
		return 0;
	fprintf(stderr, "rcptguard-audit: cannot read the group members: %s\n",
	    w->oom ? "out of memory" : err[0] ? err : "filter too long");
	return w->oom ? EX_OSERR : EX_TEMPFAIL;
}

/* The attributes to read: what LDAPForwardFilter reads, addresses, targets,
 * members, objectClass. */
static char **
walk_attrs(const struct rg_config *cf)
{
	size_t nf = 0;
	char *const *fa = cf->forward_filter ? rg_filter_attrs(cf->forward_filter, &nf) : NULL;
	size_t n = cf->address_attrs.n + cf->alias_attrs.n + cf->member_attrs.n + nf + 2, k = 0;
	char **attrs = calloc(n, sizeof(*attrs));

	if (attrs == NULL)
		return NULL;
	for (size_t i = 0; i < nf; i++)
		attrs[k++] = fa[i];     /* LDAPForwardFilter, matched by rg_alias */
	for (size_t i = 0; i < cf->address_attrs.n; i++)
		attrs[k++] = cf->address_attrs.v[i];
	for (size_t i = 0; i < cf->alias_attrs.n; i++)
		attrs[k++] = cf->alias_attrs.v[i];
	for (size_t i = 0; i < cf->member_attrs.n; i++)
		attrs[k++] = cf->member_attrs.v[i];
	attrs[k++] = "objectClass";
	attrs[k] = NULL;
	return attrs;
}

static void
print_table(const struct rg_audit_problem *p, size_t n)
{
	size_t w[3] = { strlen("PROBLEM"), strlen("ALIAS"), strlen("TARGET") };

	for (size_t i = 0; i < n; i++) {
		size_t l;
		if ((l = rg_escape_text_width(p[i].problem, 0)) > w[0])
			w[0] = l;
		if ((l = rg_escape_text_width(p[i].alias, 0)) > w[1])
			w[1] = l;
		if ((l = rg_escape_text_width(p[i].target ? p[i].target : "-", 0)) > w[2])
			w[2] = l;
	}
	print_plain("PROBLEM", w[0] + 2);
	print_plain("ALIAS", w[1] + 2);
	print_plain("TARGET", w[2] + 2);
	printf("DN\n");
	for (size_t i = 0; i < n; i++) {
		print_plain(p[i].problem, w[0] + 2);
		print_plain(p[i].alias, w[1] + 2);
		print_plain(p[i].target ? p[i].target : "-", w[2] + 2);
		print_plain(p[i].dn, 0);
		putchar('\n');
	}
}

static void
print_json(const struct rg_audit_problem *p, size_t n)
{
	char host[256], when[32];
	time_t now = time(NULL);
	struct tm tm;

	if (gethostname(host, sizeof(host)) != 0)
		strcpy(host, "localhost");
	host[sizeof(host) - 1] = '\0';
	gmtime_r(&now, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	for (size_t i = 0; i < n; i++) {
		printf("{\"problem\":");
		print_json_string(stdout, p[i].problem);
		printf(",\"alias\":");
		print_json_string(stdout, p[i].alias);
		if (p[i].target != NULL) {
			printf(",\"target\":");
			print_json_string(stdout, p[i].target);
		}
		printf(",\"dn\":");
		print_json_string(stdout, p[i].dn);
		printf(",\"host\":");
		print_json_string(stdout, host);
		printf(",\"time\":\"%s\"}\n", when);
	}
}

/* The page of --html into html_file.  0, or -1 (said on standard error). */
static int
write_html(const struct rg_audit *a)
{
	FILE *f = fopen(html_file, "w");

	if (f == NULL) {
		fprintf(stderr, "rcptguard-audit: %s: %s\n", html_file, strerror(errno));
		return -1;
	}
	int bad = rg_audit_html(a, f, "dot") < 0;
	if (fclose(f) != 0 || bad) {
		fprintf(stderr, "rcptguard-audit: %s: %s\n", html_file,
		    errno ? strerror(errno) : "cannot write");
		return -1;
	}
	return 0;
}

static int
audit(const struct rg_config *cf, enum mode mode)
{
	char err[RG_ERRLEN] = "";
	double timeout = cf->ldap_timeout > PAGE_TIMEOUT_MIN ? cf->ldap_timeout : PAGE_TIMEOUT_MIN;
	double t0 = rg_now(), t1, t2, t3;
	struct walk w = { rg_audit_new(cf), 0, NULL, cf };
	char **attrs = walk_attrs(cf);
	int ret = EX_TEMPFAIL;

	if (w.audit == NULL || attrs == NULL) {
		fprintf(stderr, "rcptguard-audit: out of memory\n");
		ret = EX_OSERR;
		goto out;
	}
	if (rg_ldap_walk(cf, "(objectClass=*)", attrs, PAGE_SIZE, timeout, on_entry, &w,
	    err, sizeof(err)) != 0) {
		fprintf(stderr, "rcptguard-audit: cannot read the whole directory under %s: %s\n",
		    cf->ldap_base, w.oom ? "out of memory" : err);
		ret = w.oom ? EX_OSERR : EX_TEMPFAIL;
		goto out;
	}
	t1 = rg_now();
	if (cf->ldap_disabled_filter[0] != '\0') {
		static char *const no_attrs[] = { LDAP_NO_ATTRS, NULL };
		if (rg_ldap_walk(cf, cf->ldap_disabled_filter, no_attrs, PAGE_SIZE, timeout,
		    on_disabled, &w, err, sizeof(err)) != 0) {
			fprintf(stderr, "rcptguard-audit: cannot read the disabled entries (%s): %s\n",
			    cf->ldap_disabled_filter, w.oom ? "out of memory" : err);
			ret = w.oom ? EX_OSERR : EX_TEMPFAIL;
			goto out;
		}
	}
	if (cf->ldap_catchall_filter[0] != '\0' && read_catchalls(cf, &w, timeout, &ret) < 0)
		goto out;
	if (cf->member_of_attrs.n > 0 && (ret = read_members(cf, &w, timeout)) != 0)
		goto out;
	t2 = rg_now();
	if (rg_audit_run(w.audit) < 0) {
		fprintf(stderr, "rcptguard-audit: out of memory\n");
		ret = EX_OSERR;
		goto out;
	}
	t3 = rg_now();

	const struct rg_audit_problem *p;
	size_t n = rg_audit_problems(w.audit, &p);
	switch (mode) {
	case M_JSON:
		print_json(p, n);
		break;
	case M_DOT:
		rg_audit_dot(w.audit, stdout);
		break;
	case M_HTML:
		if (write_html(w.audit) < 0) {
			ret = EX_IOERR;
			goto out;
		}
		break;
	default:
		print_table(p, n);
		break;
	}
	if (verbose) {
		struct rg_audit_stats st;
		rg_audit_stats(w.audit, &st);
		fprintf(stderr, "rcptguard-audit: %zu entries (%zu aliases, %zu disabled), "
		    "%zu targets, %zu problems; read %.2f s, disabled %.2f s, graph %.2f s, "
		    "total %.2f s\n", st.entries, st.aliases, st.disabled, st.edges, st.problems,
		    t1 - t0, t2 - t1, t3 - t2, rg_now() - t0);
	}
	ret = n > 0 ? 1 : 0;
out:
	if (fflush(stdout) != 0 && ret < 2) {
		fprintf(stderr, "rcptguard-audit: standard output: %s\n", strerror(errno));
		ret = EX_IOERR;
	}
	free(attrs);
	rg_audit_free(w.audit);
	return ret;
}

/* --- people who left --------------------------------------------------------- */

struct moved_row {
	char *addr, *to, *dn;
	const char *answer;
};

struct moved_list {
	const struct rg_config *cf;
	struct moved_row *v;
	size_t n, cap;
	int oom;
};

/*
 * The new address entry E names, as the RCPT path takes it (the first plain
 * address in LDAPMovedToAttribute order), into OUT: 1.  Else 0 with its
 * first value of those attributes in *FIRST, or -1 when it has none.
 */
static int
moved_value(const struct rg_config *cf, const struct rg_ldap_entry *e, const char **first,
    char *out)
{
	*first = NULL;
	for (size_t k = 0; k < cf->moved_attrs.n; k++)
		for (size_t j = 0; j < e->nvals; j++) {
			if (strcasecmp(e->vals[j].attr, cf->moved_attrs.v[k]) != 0)
				continue;
			if (rg_address_plain(e->vals[j].value, out, RG_MOVED_MAX + 1) == 0)
				return 1;
			if (*first == NULL)
				*first = e->vals[j].value;
		}
	return *first != NULL ? 0 : -1;
}

/* One row for ADDR of the entry DN; -1 when out of memory. */
static int
moved_push(struct moved_list *l, const char *addr, const char *to, const char *answer,
    const char *dn)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 64;
		struct moved_row *v = realloc(l->v, cap * sizeof(*v));
		if (v == NULL)
			return -1;
		l->v = v;
		l->cap = cap;
	}
	struct moved_row *r = &l->v[l->n];
	r->addr = strdup(addr);
	r->to = strdup(to);
	r->dn = strdup(dn);
	r->answer = answer;
	if (r->addr == NULL || r->to == NULL || r->dn == NULL) {
		free(r->addr);
		free(r->to);
		free(r->dn);
		return -1;
	}
	for (char *p = r->addr; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	l->n++;
	return 0;
}

static int
on_moved(void *arg, const struct rg_ldap_entry *e)
{
	struct moved_list *l = arg;
	const struct rg_config *cf = l->cf;
	char to[RG_MOVED_MAX + 1];
	const char *first;

	int m = moved_value(cf, e, &first, to);
	if (m < 0)
		return 0;
	const char *answer = m ? "moved" :
	    cf->disabled_reply == RG_DISABLED_DISABLED ? "disabled" : "unknown";
	for (size_t k = 0; k < cf->address_attrs.n; k++)
		for (size_t j = 0; j < e->nvals; j++) {
			const char *a = e->vals[j].attr;
			size_t an = strlen(cf->address_attrs.v[k]);
			/* an attribute with options (mail;lang-de) counts as mail */
			if (strncasecmp(a, cf->address_attrs.v[k], an) != 0 ||
			    (a[an] != '\0' && a[an] != ';'))
				continue;
			if (moved_push(l, e->vals[j].value, m ? to : first, answer, e->dn) < 0) {
				l->oom = 1;
				return -1;
			}
		}
	return 0;
}

static int
moved_cmp(const void *a, const void *b)
{
	const struct moved_row *x = a, *y = b;
	int c = strcmp(x->addr, y->addr);

	return c != 0 ? c : strcmp(x->dn, y->dn);
}

static void
print_moved(const struct moved_list *l)
{
	size_t w[3] = { strlen("ADDRESS"), strlen("MOVED-TO"), strlen("disabled") };

	for (size_t i = 0; i < l->n; i++) {
		size_t n;
		if ((n = rg_escape_text_width(l->v[i].addr, 0)) > w[0])
			w[0] = n;
		if ((n = rg_escape_text_width(l->v[i].to, 0)) > w[1])
			w[1] = n;
	}
	print_plain("ADDRESS", w[0] + 2);
	print_plain("MOVED-TO", w[1] + 2);
	print_plain("ANSWER", w[2] + 2);
	printf("DN\n");
	for (size_t i = 0; i < l->n; i++) {
		print_plain(l->v[i].addr, w[0] + 2);
		print_plain(l->v[i].to, w[1] + 2);
		print_plain(l->v[i].answer, w[2] + 2);
		print_plain(l->v[i].dn, 0);
		putchar('\n');
	}
}

/* --moved: the disabled entries that name a new address, as a table. */
static int
moved(const struct rg_config *cf)
{
	char err[RG_ERRLEN] = "";
	double timeout = cf->ldap_timeout > PAGE_TIMEOUT_MIN ? cf->ldap_timeout : PAGE_TIMEOUT_MIN;
	size_t na = cf->address_attrs.n + cf->moved_attrs.n + 1, k = 0;
	char **attrs = calloc(na, sizeof(*attrs));
	struct moved_list l = { cf, NULL, 0, 0, 0 };
	int ret = EX_OK;

	if (attrs == NULL)
		return EX_OSERR;
	for (size_t i = 0; i < cf->address_attrs.n; i++)
		attrs[k++] = cf->address_attrs.v[i];
	for (size_t i = 0; i < cf->moved_attrs.n; i++)
		attrs[k++] = cf->moved_attrs.v[i];
	if (rg_ldap_walk(cf, cf->ldap_disabled_filter, attrs, PAGE_SIZE, timeout, on_moved, &l,
	    err, sizeof(err)) != 0) {
		fprintf(stderr, "rcptguard-audit: cannot read the disabled entries (%s): %s\n",
		    cf->ldap_disabled_filter, l.oom ? "out of memory" : err);
		ret = l.oom ? EX_OSERR : EX_TEMPFAIL;
	} else {
		qsort(l.v, l.n, sizeof(*l.v), moved_cmp);
		print_moved(&l);
		if (fflush(stdout) != 0) {
			fprintf(stderr, "rcptguard-audit: standard output: %s\n", strerror(errno));
			ret = EX_IOERR;
		}
	}
	for (size_t i = 0; i < l.n; i++) {
		free(l.v[i].addr);
		free(l.v[i].to);
		free(l.v[i].dn);
	}
	free(l.v);
	free(attrs);
	return ret;
}

/* --- recent alerts ---------------------------------------------------------- */

/* The last ALERTS_MAX lines of the file PATH, as they are. */
static int
alerts_from_file(const char *path)
{
	FILE *f = fopen(path, "r");
	struct stat sb;
	char buf[65536];

	if (f == NULL) {
		if (errno == ENOENT)
			return 0;       /* no alert yet */
		fprintf(stderr, "rcptguard-audit: %s: %s\n", path, strerror(errno));
		return EX_TEMPFAIL;
	}
	if (fstat(fileno(f), &sb) != 0) {
		fprintf(stderr, "rcptguard-audit: %s: %s\n", path, strerror(errno));
		fclose(f);
		return EX_TEMPFAIL;
	}
	/* scan back from the end for the newline before the last ALERTS_MAX lines */
	off_t end = sb.st_size, pos = end, start = 0;
	int lines = 0, found = 0;
	while (pos > 0 && !found) {
		size_t chunk = pos > (off_t)sizeof(buf) ? sizeof(buf) : (size_t)pos;
		pos -= (off_t)chunk;
		if (fseeko(f, pos, SEEK_SET) != 0 || fread(buf, 1, chunk, f) != chunk) {
			fprintf(stderr, "rcptguard-audit: %s: cannot read\n", path);
			fclose(f);
			return EX_TEMPFAIL;
		}
		for (size_t i = chunk; i-- > 0;) {
			if (buf[i] != '\n' || pos + (off_t)i == end - 1)
				continue;
			if (++lines == ALERTS_MAX) {
				start = pos + (off_t)i + 1;
				found = 1;
				break;
			}
		}
	}
	if (fseeko(f, start, SEEK_SET) != 0) {
		fclose(f);
		return EX_TEMPFAIL;
	}
	size_t got;
	while ((got = fread(buf, 1, sizeof(buf), f)) > 0)
		fwrite(buf, 1, got, stdout);
	if (end > 0 && start < end) {
		/* a last line without its newline still ends one */
		if (fseeko(f, end - 1, SEEK_SET) == 0 && fgetc(f) != '\n')
			putchar('\n');
	}
	fclose(f);
	return 0;
}

/* One alert of the stream, as a JSON line. */
static void
print_alert(void *arg, const char *const *fields, size_t n)
{
	(void)arg;
	putchar('{');
	for (size_t k = 0; k + 1 < n; k += 2) {
		if (k > 0)
			putchar(',');
		print_json_string(stdout, fields[k]);
		putchar(':');
		print_json_string(stdout, fields[k + 1]);
	}
	printf("}\n");
}

static int
alerts_from_redis(const struct rg_config *cf)
{
	struct rg_redis *r = rg_redis_new(cf, 0);
	char why[256], stream[128];
	int ret = 0;

	if (r == NULL) {
		fprintf(stderr, "rcptguard-audit: Redis %s: not reachable\n",
		    cf->nredis_sentinels > 0 ? cf->redis_sentinels_text : cf->redis_uri);
		return EX_TEMPFAIL;
	}
	rg_alert_stream(cf, stream, sizeof(stream));
	if (rg_redis_xrevrange(r, stream, ALERTS_MAX, print_alert, NULL, why,
	    sizeof(why)) != RG_REDIS_OK) {
		fprintf(stderr, "rcptguard-audit: Redis XREVRANGE %s: %s\n", stream, why);
		ret = EX_TEMPFAIL;
	}
	rg_redis_free(r);
	return ret;
}

static int
alerts(const struct rg_config *cf)
{
	int ret;

	if ((strcmp(cf->redis_uri, "none") != 0 && cf->redis_uri[0] != '\0') ||
	    cf->nredis_sentinels > 0)
		ret = alerts_from_redis(cf);
	else if (cf->alert_log[0] != '\0')
		ret = alerts_from_file(cf->alert_log);
	else {
		fprintf(stderr, "rcptguard-audit: %s: neither RedisURI nor AlertLog is set; "
		    "no alerts are kept\n", cf->path);
		return EX_CONFIG;
	}
	if (fflush(stdout) != 0 && ret == 0)
		ret = EX_IOERR;
	return ret;
}

int
main(int argc, char **argv)
{
	const char *file = SYSCONFDIR "/rcptguard.conf";
	enum mode mode = M_TABLE;
	int nmodes = 0;
	char err[RG_ERRLEN];

	signal(SIGPIPE, SIG_IGN);
	rg_log_open("rcptguard-audit", 0, 0, 1);
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-c") == 0 && i + 1 < argc)
			file = argv[++i];
		else if (strcmp(argv[i], "-v") == 0)
			verbose = 1;
		else if (strcmp(argv[i], "--json") == 0)
			mode = M_JSON, nmodes++;
		else if (strcmp(argv[i], "--dot") == 0)
			mode = M_DOT, nmodes++;
		else if (strcmp(argv[i], "--html") == 0 && i + 1 < argc)
			mode = M_HTML, nmodes++, html_file = argv[++i];
		else if (strcmp(argv[i], "--alerts") == 0)
			mode = M_ALERTS, nmodes++;
		else if (strcmp(argv[i], "--moved") == 0)
			mode = M_MOVED, nmodes++;
		else if (strcmp(argv[i], "-V") == 0 || strcmp(argv[i], "--version") == 0) {
			printf("rcptguard-audit %s\n", PACKAGE_VERSION);
			return 0;
		} else
			usage();
	}
	if (nmodes > 1)
		usage();
	/* libldap's global state, once, before anything could use it */
	if (rg_ldap_global_init() < 0) {
		fprintf(stderr, "rcptguard-audit: cannot initialise libldap\n");
		return EX_SOFTWARE;
	}
	struct rg_config *cf = rg_config_load(file, err, sizeof(err));
	if (cf == NULL) {
		fprintf(stderr, "rcptguard-audit: %s\n", err);
		return EX_CONFIG;
	}
	int ret;
	if (mode == M_ALERTS) {
		ret = alerts(cf);
	} else if (mode == M_MOVED && cf->moved_attrs.n == 0) {
		fprintf(stderr, "rcptguard-audit: %s: LDAPMovedToAttribute is empty; nobody has "
		    "moved\n", cf->path);
		ret = EX_CONFIG;
	} else if (mode == M_MOVED) {
		ret = moved(cf);
	} else if (cf->alias_attrs.n == 0 && cf->member_attrs.n == 0 &&
	    cf->alias_classes.n == 0 && cf->member_of_attrs.n == 0) {
		fprintf(stderr, "rcptguard-audit: %s: LDAPAliasAttributes, LDAPMemberAttributes, "
		    "LDAPAliasClasses and LDAPMemberOfAttributes are all empty; there are no "
		    "aliases to audit\n", cf->path);
		ret = EX_CONFIG;
	} else {
		ret = audit(cf, mode);
	}
	rg_config_free(cf);
	return ret;
}
