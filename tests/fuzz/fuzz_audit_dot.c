/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * fuzz_audit_dot.c - libFuzzer target for the alias audit and its Graphviz
 * output (rg_audit_* in directory/rg_audit.c).
 *
 * Input: LDIF-like lines.  "dn: X" starts an entry; "ATTR: VALUE" adds a
 * value to it (mail, mailLocalAddress, mailForwardingAddress, member,
 * objectClass, anything); "disabled: X" marks the entry X disabled.
 * Domains are example.com and example.org, AliasMaxDepth 3,
 * AliasMaxTargets 4, alias attributes mailForwardingAddress and
 * rfc822MailMember, member attributes member and uniqueMember.
 * Properties:
 *   - no crash, no leak, no undefined behaviour, whatever the graph (loops,
 *     self-references, dangling and disabled targets, duplicates);
 *   - the problems come sorted, each once, each with a known name, an alias
 *     and a DN; the statistics count them;
 *   - the DOT text is well formed: the fixed head, then one statement a
 *     line, "ID [attrs];" for each enabled alias and "ID -> ID [attrs];"
 *     for each edge, then "}"; every ID and label a double-quoted string
 *     with its quotes and backslashes escaped and no raw newline or other
 *     control byte; as many edge statements as the statistics say, and a
 *     node statement for each alias that is not disabled.
 */
#include "fuzz.h"
#include "rg_audit.h"
#include "rg_config.h"
#include "rg_ldap.h"
#include "rg_log.h"

#include <unistd.h>

#define NVALS_MAX 64

static struct rg_config *cf;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char dir[64], conf[96], err[RG_ERRLEN];
	FILE *f;

	(void)argc; (void)argv;
	snprintf(dir, sizeof(dir), "%s/rgfuzz.XXXXXX",
	    access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
	if (mkdtemp(dir) == NULL)
		abort();
	snprintf(conf, sizeof(conf), "%s/rcptguard.conf", dir);
	if ((f = fopen(conf, "w")) == NULL)
		abort();
	fprintf(f, "Domains example.com example.org\nLDAPURI ldap://127.0.0.1:1\n"
	    "LDAPBase dc=example,dc=com\nLDAPAddressAttributes mail mailLocalAddress\n"
	    "LDAPAliasAttributes mailForwardingAddress rfc822MailMember\n"
	    "LDAPMemberAttributes member uniqueMember\nAliasMaxDepth 3\nAliasMaxTargets 4\n");
	fclose(f);
	cf = rg_config_load(conf, err, sizeof(err));
	unlink(conf);
	rmdir(dir);
	if (cf == NULL) {
		fprintf(stderr, "%s\n", err);
		abort();
	}
	rg_log_open("fuzz", 0, LOG_MAIL, 0);
	return 0;
}

/* Read one DOT string at *P; 0 when malformed. */
static int
dot_string(const char **p)
{
	const char *s = *p;

	if (*s++ != '"')
		return 0;
	for (;;) {
		unsigned char c = (unsigned char)*s++;
		if (c == '\0' || c == '\n' || c < 0x20)
			return 0;
		if (c == '"')
			break;
		if (c == '\\') {
			c = (unsigned char)*s++;
			if (c == '\0' || c == '\n' || c < 0x20)
				return 0;
		}
	}
	*p = s;
	return 1;
}

/* " [k=v, k="v"]" with values bare words or DOT strings; 1 when well formed. */
static int
dot_attrs(const char **p)
{
	const char *s = *p;

	if (strncmp(s, " [", 2) != 0)
		return 1;
	s += 2;
	for (;;) {
		size_t k = strspn(s, "abcdefghijklmnopqrstuvwxyz");
		if (k == 0 || s[k] != '=')
			return 0;
		s += k + 1;
		if (*s == '"') {
			if (!dot_string(&s))
				return 0;
		} else {
			size_t v = strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789");
			if (v == 0)
				return 0;
			s += v;
		}
		if (*s == ']')
			break;
		if (strncmp(s, ", ", 2) != 0)
			return 0;
		s += 2;
	}
	*p = s + 1;
	return 1;
}

static void
check_dot(const char *text, size_t len, const struct rg_audit_stats *st)
{
	static const char head[] = "digraph rcptguard {\n  rankdir=LR;\n"
	    "  node [shape=box, fontsize=10];\n  edge [fontsize=9];\n";
	size_t nodes = 0, edges = 0;
	const char *p = text, *end = text + len;

	PROPERTY(strlen(text) == len, "NUL byte in the DOT text");
	PROPERTY(strncmp(p, head, sizeof(head) - 1) == 0, "DOT head");
	p += sizeof(head) - 1;
	while (p < end && strcmp(p, "}\n") != 0) {
		const char *line = p;
		PROPERTY(strncmp(p, "  ", 2) == 0, "statement: %.60s", line);
		p += 2;
		PROPERTY(dot_string(&p), "ID in: %.200s", line);
		if (strncmp(p, " -> ", 4) == 0) {
			p += 4;
			PROPERTY(dot_string(&p), "edge target in: %.200s", line);
			edges++;
		} else {
			nodes++;
		}
		PROPERTY(dot_attrs(&p), "attributes in: %.200s", line);
		PROPERTY(strncmp(p, ";\n", 2) == 0, "statement end in: %.200s", line);
		p += 2;
	}
	PROPERTY(p < end && strcmp(p, "}\n") == 0, "DOT tail");
	PROPERTY(edges == st->edges, "%zu edge statements, %zu edges", edges, st->edges);
	/* every enabled alias is a node; the statistics count aliases and
	 * disabled entries (not disabled aliases), hence a range */
	PROPERTY(nodes <= st->aliases && nodes + st->disabled >= st->aliases,
	    "%zu node statements, %zu aliases, %zu disabled", nodes, st->aliases, st->disabled);
}

static int
known_problem(const char *p)
{
	static const char *const names[] = { "dangling-target", "disabled-target", "loop",
	    "too-deep", "too-many-targets", "no-targets", "duplicate-address", "self-target" };

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(p, names[i]) == 0)
			return 1;
	return 0;
}

static int
cmp_problem(const struct rg_audit_problem *p, const struct rg_audit_problem *q)
{
	int c;

	if ((c = strcmp(p->problem, q->problem)) != 0)
		return c;
	if ((c = strcmp(p->alias, q->alias)) != 0)
		return c;
	if (p->target == NULL || q->target == NULL) {
		if ((c = (p->target != NULL) - (q->target != NULL)) != 0)
			return c;
	} else if ((c = strcmp(p->target, q->target)) != 0) {
		return c;
	}
	return strcmp(p->dn, q->dn);
}

struct parsed {
	struct rg_ldap_entry e[256];
	struct rg_ldap_value v[256][NVALS_MAX];
	size_t n;
};

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct parsed ps;
	char *text, *save = NULL;
	struct rg_audit *a;

	if (size > 16384)
		return 0;
	text = fuzz_str(data, size);
	if ((a = rg_audit_new(cf)) == NULL)
		abort();
	ps.n = 0;
	for (char *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		char *colon = strstr(l, ": ");
		if (colon == NULL)
			continue;
		*colon = '\0';
		char *val = colon + 2;
		if (strcmp(l, "disabled") == 0) {
			if (rg_audit_disable(a, val) < 0)
				abort();
		} else if (strcmp(l, "dn") == 0 && ps.n < 256) {
			ps.e[ps.n].dn = val;
			ps.e[ps.n].vals = ps.v[ps.n];
			ps.e[ps.n].nvals = 0;
			ps.n++;
		} else if (ps.n > 0 && ps.e[ps.n - 1].nvals < NVALS_MAX) {
			struct rg_ldap_entry *e = &ps.e[ps.n - 1];
			e->vals[e->nvals].attr = l;
			e->vals[e->nvals].value = val;
			e->nvals++;
		}
	}
	for (size_t i = 0; i < ps.n; i++)
		if (rg_audit_add(a, &ps.e[i]) < 0)
			abort();
	if (rg_audit_run(a) < 0)
		abort();

	const struct rg_audit_problem *p;
	size_t np = rg_audit_problems(a, &p);
	struct rg_audit_stats st;
	rg_audit_stats(a, &st);
	PROPERTY(st.problems == np, "stats say %zu problems, the list %zu", st.problems, np);
	PROPERTY(st.entries == ps.n, "stats say %zu entries, %zu added", st.entries, ps.n);
	for (size_t i = 0; i < np; i++) {
		PROPERTY(known_problem(p[i].problem), "problem \"%s\"", p[i].problem);
		PROPERTY(p[i].alias != NULL && p[i].dn != NULL, "problem without alias or dn");
		if (i > 0)
			PROPERTY(cmp_problem(&p[i - 1], &p[i]) < 0, "problems %zu and %zu unsorted "
			    "or repeated", i - 1, i);
	}
	char *dot = NULL;
	size_t dotlen = 0;
	FILE *f = open_memstream(&dot, &dotlen);
	if (f == NULL)
		abort();
	rg_audit_dot(a, f);
	fclose(f);
	check_dot(dot, dotlen, &st);
	if (getenv("RG_FUZZ_DUMP") != NULL)      /* to try it on Graphviz's dot */
		fwrite(dot, 1, dotlen, stdout);
	free(dot);
	rg_audit_free(a);
	free(text);
	return 0;
}
