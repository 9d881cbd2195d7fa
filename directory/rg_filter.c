/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * rg_filter.c - LDAPFilter templates evaluated in memory (see rg_filter.h).
 *
 * A template is parsed into a tree of nodes.  An assertion value is a list
 * of pieces: literal bytes (unescaped, "%%" already turned into "%") or a
 * placeholder (%s, %u, %d).  A substring assertion holds one such value per
 * part between its stars.  Evaluation expands a value for the address into
 * a buffer on the stack and compares it with the entry's values.
 */
#include "rg_filter.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define DEPTH_MAX 64                    /* nesting of (&...) (|...) (!...) */
#define VALUE_MAX 2048                  /* an assertion value, expanded */

#define RULE_BIT_AND "1.2.840.113556.1.4.803"
#define RULE_BIT_OR "1.2.840.113556.1.4.804"

enum ntype { N_AND, N_OR, N_NOT, N_EQ, N_PRESENT, N_SUB, N_GE, N_LE, N_APPROX, N_EXT };

/* One piece of an assertion value: literal text, or a placeholder. */
struct piece {
	char tok;                       /* 0 (literal), 's', 'u' or 'd' */
	char *text;                     /* literal bytes */
	size_t len;
};

struct value {
	struct piece *p;
	size_t n;
	int has_tok;
};

struct node {
	enum ntype t;
	char *src;                      /* the item as written, for messages */
	size_t attr;                    /* N_EQ .. N_EXT: position in attrs */
	int has_attr;                   /* N_EXT may have none */
	struct value v;                 /* N_EQ, N_GE, N_LE, N_APPROX, N_EXT */
	struct value *parts;            /* N_SUB: initial, any..., final */
	size_t nparts;
	char *rule;                     /* N_EXT: the matching rule, or NULL */
	int dnattrs;                    /* N_EXT: ":dn" */
	struct node **kids;             /* N_AND, N_OR, N_NOT */
	size_t nkids;
};

struct key {
	size_t attr;
	const struct value *v;
};

struct rg_filter {
	struct node *root;
	char *tmpl;                     /* the template as given */
	char **attrs;                   /* NULL-terminated */
	size_t nattrs;
	struct key *keys;
	size_t nkeys;
};

struct parser {
	struct rg_filter *f;
	const char *s;                  /* the template */
	const char *p;                  /* next byte to read */
	char *err;
	size_t errlen;
	int failed;
};

static void
seterr(struct parser *ps, const char *fmt, ...)
{
	va_list ap;

	if (ps->failed)
		return;
	ps->failed = 1;
	if (ps->errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(ps->err, ps->errlen, fmt, ap);
	va_end(ap);
}

static void
value_clear(struct value *v)
{
	for (size_t i = 0; i < v->n; i++)
		free(v->p[i].text);
	free(v->p);
	v->p = NULL;
	v->n = 0;
}

static void
node_free(struct node *n)
{
	if (n == NULL)
		return;
	for (size_t i = 0; i < n->nkids; i++)
		node_free(n->kids[i]);
	free(n->kids);
	value_clear(&n->v);
	for (size_t i = 0; i < n->nparts; i++)
		value_clear(&n->parts[i]);
	free(n->parts);
	free(n->rule);
	free(n->src);
	free(n);
}

void
rg_filter_free(struct rg_filter *f)
{
	if (f == NULL)
		return;
	node_free(f->root);
	for (size_t i = 0; i < f->nattrs; i++)
		free(f->attrs[i]);
	free(f->attrs);
	free(f->keys);
	free(f->tmpl);
	free(f);
}

/* The position of attribute NAME (LEN bytes) in F's list, added if new. */
static int
attr_pos(struct parser *ps, const char *name, size_t len, size_t *pos)
{
	struct rg_filter *f = ps->f;

	for (size_t i = 0; i < f->nattrs; i++) {
		if (strlen(f->attrs[i]) == len && strncasecmp(f->attrs[i], name, len) == 0) {
			*pos = i;
			return 0;
		}
	}
	char **a = realloc(f->attrs, (f->nattrs + 2) * sizeof(*a));
	if (a == NULL)
		goto nomem;
	f->attrs = a;
	if ((a[f->nattrs] = strndup(name, len)) == NULL)
		goto nomem;
	*pos = f->nattrs++;
	a[f->nattrs] = NULL;
	return 0;
nomem:
	seterr(ps, "out of memory");
	return -1;
}

static int
add_piece(struct parser *ps, struct value *v, char tok, const char *text, size_t len)
{
	struct piece *p = realloc(v->p, (v->n + 1) * sizeof(*p));

	if (p == NULL) {
		seterr(ps, "out of memory");
		return -1;
	}
	v->p = p;
	p[v->n] = (struct piece){ .tok = tok, .len = len };
	if (tok == 0 && (p[v->n].text = malloc(len + 1)) == NULL) {
		seterr(ps, "out of memory");
		return -1;
	}
	if (tok == 0) {
		memcpy(p[v->n].text, text, len);
		p[v->n].text[len] = '\0';
	} else {
		v->has_tok = 1;
	}
	v->n++;
	return 0;
}

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower((unsigned char)c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/*
 * Parse the assertion value in [B, E) into V: \XX escapes, %s %u %d %%.
 * A star is not allowed here (the caller splits substrings first).
 */
static int
parse_value(struct parser *ps, const char *b, const char *e, struct value *v)
{
	char lit[VALUE_MAX];
	size_t n = 0;

	for (const char *p = b; p < e; p++) {
		char c = *p;
		if (c == '\\') {
			int hi = p + 1 < e ? hexval(p[1]) : -1;
			int lo = p + 2 < e ? hexval(p[2]) : -1;
			if (hi < 0 || lo < 0) {
				seterr(ps, "\"%.*s\": a backslash must be followed by two hex digits",
				    (int)(e - b), b);
				return -1;
			}
			c = (char)(hi << 4 | lo);
			p += 2;
		} else if (c == '%') {
			char t = p + 1 < e ? p[1] : '\0';
			p++;
			if (t == 's' || t == 'u' || t == 'd') {
				if ((n > 0 && add_piece(ps, v, 0, lit, n) < 0) ||
				    add_piece(ps, v, t, NULL, 0) < 0)
					return -1;
				n = 0;
				continue;
			}
			if (t != '%') {
				seterr(ps, "\"%%%c\" is not one of %%s %%u %%d %%%%", t ? t : ' ');
				return -1;
			}
		} else if (c == '(' || c == ')' || c == '*' || c == '\0') {
			seterr(ps, "\"%.*s\": unescaped \"%c\" in a value", (int)(e - b), b, c);
			return -1;
		}
		if (n + 1 >= sizeof(lit)) {
			seterr(ps, "an assertion value is longer than %d bytes", VALUE_MAX);
			return -1;
		}
		lit[n++] = c;
	}
	return n > 0 ? add_piece(ps, v, 0, lit, n) : 0;
}

/* Parse a substring value [B, E) (it holds at least one star) into N. */
static int
parse_substrings(struct parser *ps, const char *b, const char *e, struct node *n)
{
	size_t stars = 0;

	for (const char *p = b; p < e; p++)
		if (*p == '*')
			stars++;
	n->parts = calloc(stars + 1, sizeof(*n->parts));
	if (n->parts == NULL) {
		seterr(ps, "out of memory");
		return -1;
	}
	n->nparts = stars + 1;
	const char *from = b;
	size_t i = 0;
	for (const char *p = b; p <= e; p++) {
		if (p < e && *p != '*')
			continue;
		if (i > 0 && i < stars && p == from) {
			seterr(ps, "\"%.*s\": two stars in a row", (int)(e - b), b);
			return -1;
		}
		if (parse_value(ps, from, p, &n->parts[i++]) < 0)
			return -1;
		from = p + 1;
	}
	return 0;
}

static int
attr_char(int c)
{
	return isalnum((unsigned char)c) || c == '-' || c == '.' || c == ';';
}

/*
 * Is [B, E) an attribute description (RFC 4512 2.5): a name (a letter,
 * then letters, digits, hyphens) or a numeric OID, then ";option"s?
 */
static int
attr_ok(const char *b, const char *e)
{
	const char *p = b;

	if (p < e && isalpha((unsigned char)*p)) {
		while (p < e && (isalnum((unsigned char)*p) || *p == '-'))
			p++;
	} else {
		for (;;) {
			const char *d = p;
			while (p < e && isdigit((unsigned char)*p))
				p++;
			if (p == d || (p - d > 1 && *d == '0'))
				return 0;
			if (p == e || *p != '.')
				break;
			p++;
		}
	}
	while (p < e && *p == ';') {
		const char *o = ++p;
		while (p < e && (isalnum((unsigned char)*p) || *p == '-'))
			p++;
		if (p == o)
			return 0;
	}
	return p == e;
}

/* An extensible item: [attr][:dn][:rule]:=value, from ps->p to E. */
static int
parse_extensible(struct parser *ps, const char *b, const char *colon, const char *e,
    struct node *n)
{
	n->t = N_EXT;
	if (colon > b && !attr_ok(b, colon)) {
		seterr(ps, "\"%.*s\": bad attribute name", (int)(colon - b), b);
		return -1;
	}
	if (colon > b) {
		if (attr_pos(ps, b, (size_t)(colon - b), &n->attr) < 0)
			return -1;
		n->has_attr = 1;
	}
	const char *p = colon;
	const char *eq = strstr(p, ":=");
	if (eq == NULL || eq >= e) {
		seterr(ps, "\"%.*s\": not an extensible match", (int)(e - b), b);
		return -1;
	}
	if (strncasecmp(p, ":dn", 3) == 0 && (p + 3 == eq || p[3] == ':')) {
		n->dnattrs = 1;
		p += 3;
	}
	if (p < eq) {
		p++;    /* the ':' before the rule */
		if (!attr_ok(p, eq) || memchr(p, ';', (size_t)(eq - p)) != NULL) {
			seterr(ps, "\"%.*s\": bad matching rule", (int)(e - b), b);
			return -1;
		}
		if (p == eq || (n->rule = strndup(p, (size_t)(eq - p))) == NULL) {
			seterr(ps, p == eq ? "\"%.*s\": empty matching rule" : "out of memory",
			    (int)(e - b), b);
			return -1;
		}
	}
	if (!n->has_attr && n->rule == NULL) {
		seterr(ps, "\"%.*s\": an extensible match needs an attribute or a rule",
		    (int)(e - b), b);
		return -1;
	}
	return parse_value(ps, eq + 2, e, &n->v);
}

/* An item (the text between the parentheses, [B, E)) into N. */
static int
parse_item(struct parser *ps, const char *b, const char *e, struct node *n)
{
	const char *p = b;

	while (p < e && attr_char(*p))
		p++;
	if (p < e && *p == ':')
		return parse_extensible(ps, b, p, e, n);
	if (p == b || p == e) {
		seterr(ps, "\"(%.*s)\" is not an assertion (attribute, then =, ~=, >= or <=)",
		    (int)(e - b), b);
		return -1;
	}
	if (!attr_ok(b, p)) {
		seterr(ps, "\"%.*s\": bad attribute name", (int)(p - b), b);
		return -1;
	}
	if (attr_pos(ps, b, (size_t)(p - b), &n->attr) < 0)
		return -1;
	n->has_attr = 1;
	const char *v = p + 1;
	if (*p == '~' || *p == '>' || *p == '<') {
		if (p + 1 >= e || p[1] != '=') {
			seterr(ps, "\"(%.*s)\": \"%c\" must be followed by \"=\"", (int)(e - b), b, *p);
			return -1;
		}
		n->t = *p == '~' ? N_APPROX : *p == '>' ? N_GE : N_LE;
		return parse_value(ps, p + 2, e, &n->v);
	}
	if (*p != '=') {
		seterr(ps, "\"(%.*s)\": bad character \"%c\" in an attribute name",
		    (int)(e - b), b, *p);
		return -1;
	}
	if (e - v == 1 && *v == '*') {
		n->t = N_PRESENT;
		return 0;
	}
	if (memchr(v, '*', (size_t)(e - v)) != NULL) {
		n->t = N_SUB;
		return parse_substrings(ps, v, e, n);
	}
	n->t = N_EQ;
	return parse_value(ps, v, e, &n->v);
}

static struct node *parse_filter(struct parser *ps, int depth);

/* The filters of an (&...) or (|...) list, up to its ")". */
static int
parse_list(struct parser *ps, struct node *n, int depth)
{
	for (;;) {
		while (*ps->p == ' ')
			ps->p++;
		if (*ps->p == ')')
			return 0;
		struct node *k = parse_filter(ps, depth + 1);
		if (k == NULL)
			return -1;
		struct node **kids = realloc(n->kids, (n->nkids + 1) * sizeof(*kids));
		if (kids == NULL) {
			node_free(k);
			seterr(ps, "out of memory");
			return -1;
		}
		n->kids = kids;
		n->kids[n->nkids++] = k;
		if (n->t == N_NOT)
			return 0;
	}
}

/* Where the item starting at P ends: its ")" (escapes skipped), or NULL. */
static const char *
item_end(const char *p)
{
	for (; *p != '\0'; p++) {
		if (*p == '\\' && p[1] != '\0')
			p++;
		else if (*p == '(')
			return NULL;
		else if (*p == ')')
			return p;
	}
	return NULL;
}

/* One parenthesised filter at ps->p. */
static struct node *
parse_filter(struct parser *ps, int depth)
{
	const char *start = ps->p;

	if (depth > DEPTH_MAX) {
		seterr(ps, "nested more than %d deep", DEPTH_MAX);
		return NULL;
	}
	if (*ps->p != '(') {
		seterr(ps, "expected \"(\" at \"%.20s\"", ps->p);
		return NULL;
	}
	struct node *n = calloc(1, sizeof(*n));
	if (n == NULL) {
		seterr(ps, "out of memory");
		return NULL;
	}
	ps->p++;
	char c = *ps->p;
	if (c == '&' || c == '|' || c == '!') {
		n->t = c == '&' ? N_AND : c == '|' ? N_OR : N_NOT;
		ps->p++;
		if (parse_list(ps, n, depth) < 0)
			goto fail;
		if (n->t == N_NOT && n->nkids != 1) {
			seterr(ps, "(! must hold one filter");
			goto fail;
		}
		while (n->t != N_NOT && *ps->p == ' ')
			ps->p++;
		if (*ps->p != ')') {
			seterr(ps, "expected \")\" at \"%.20s\"", ps->p);
			goto fail;
		}
	} else {
		const char *e = item_end(ps->p);
		if (e == NULL) {
			seterr(ps, "unbalanced parentheses at \"%.20s\"", start);
			goto fail;
		}
		if (parse_item(ps, ps->p, e, n) < 0)
			goto fail;
		ps->p = e;
	}
	ps->p++;
	if ((n->src = strndup(start, (size_t)(ps->p - start))) == NULL) {
		seterr(ps, "out of memory");
		goto fail;
	}
	return n;
fail:
	node_free(n);
	return NULL;
}

/* Collect the equality assertions holding a placeholder, in order. */
static int
collect_keys(struct rg_filter *f, const struct node *n)
{
	if (n->t == N_EQ && n->v.has_tok) {
		struct key *k = realloc(f->keys, (f->nkeys + 1) * sizeof(*k));
		if (k == NULL)
			return -1;
		f->keys = k;
		k[f->nkeys++] = (struct key){ .attr = n->attr, .v = &n->v };
	}
	for (size_t i = 0; i < n->nkids; i++)
		if (collect_keys(f, n->kids[i]) < 0)
			return -1;
	return 0;
}

int
rg_filter_parse(const char *tmpl, struct rg_filter **out, char *err, size_t errlen)
{
	struct rg_filter *f = calloc(1, sizeof(*f));
	struct parser ps = { .f = f, .s = tmpl, .p = tmpl, .err = err, .errlen = errlen };

	*out = NULL;
	if (f == NULL || (f->tmpl = strdup(tmpl)) == NULL ||
	    (f->attrs = calloc(1, sizeof(*f->attrs))) == NULL) {
		seterr(&ps, "out of memory");
		rg_filter_free(f);
		return -1;
	}
	f->root = parse_filter(&ps, 0);
	if (f->root != NULL && *ps.p != '\0')
		seterr(&ps, "text after the filter: \"%.20s\"", ps.p);
	if (!ps.failed && collect_keys(f, f->root) < 0)
		seterr(&ps, "out of memory");
	if (ps.failed) {
		rg_filter_free(f);
		return -1;
	}
	*out = f;
	return 0;
}

/* Does N hold a placeholder anywhere? */
static int
has_tok(const struct node *n)
{
	if (n->v.has_tok)
		return 1;
	for (size_t i = 0; i < n->nparts; i++)
		if (n->parts[i].has_tok)
			return 1;
	for (size_t i = 0; i < n->nkids; i++)
		if (has_tok(n->kids[i]))
			return 1;
	return 0;
}

/* Can N only match when one of its placeholder equalities holds? */
static int
anchored(const struct node *n)
{
	switch (n->t) {
	case N_EQ:
		return n->v.has_tok;
	case N_AND:
		for (size_t i = 0; i < n->nkids; i++)
			if (anchored(n->kids[i]))
				return 1;
		return 0;
	case N_OR:
		for (size_t i = 0; i < n->nkids; i++)
			if (!anchored(n->kids[i]))
				return 0;
		return n->nkids > 0;
	default:
		return 0;
	}
}

/* The first item of N that cannot be evaluated in memory, or NULL. */
static const struct node *
unmirrorable(const struct node *n, int negated, const char **why)
{
	if (negated && has_tok(n) && n->t != N_AND && n->t != N_OR && n->t != N_NOT) {
		*why = "a placeholder under (!...)";
		return n;
	}
	switch (n->t) {
	case N_AND:
	case N_OR:
	case N_NOT:
		for (size_t i = 0; i < n->nkids; i++) {
			const struct node *bad = unmirrorable(n->kids[i],
			    negated || n->t == N_NOT, why);
			if (bad != NULL)
				return bad;
		}
		return NULL;
	case N_SUB:
		*why = "a placeholder in a substring assertion";
		return has_tok(n) ? n : NULL;
	case N_GE:
	case N_LE:
		*why = "a placeholder in an ordering assertion";
		return n->v.has_tok ? n : NULL;
	case N_APPROX:
		*why = "approximate match (~=) depends on the server";
		return n;
	case N_EXT:
		*why = "an extensible match other than Active Directory's bit rules";
		if (!n->has_attr || n->dnattrs || n->rule == NULL || n->v.has_tok ||
		    (strcmp(n->rule, RULE_BIT_AND) != 0 && strcmp(n->rule, RULE_BIT_OR) != 0))
			return n;
		return NULL;
	default:
		return NULL;
	}
}

int
rg_filter_mirrorable(const struct rg_filter *f, char *err, size_t errlen)
{
	const char *why = "";
	const struct node *bad = unmirrorable(f->root, 0, &why);

	if (bad != NULL) {
		snprintf(err, errlen, "%s: %s", bad->src, why);
		return -1;
	}
	if (has_tok(f->root) && !anchored(f->root)) {
		snprintf(err, errlen, "%s: can pick an entry without an equality "
		    "assertion on %%s, %%u or %%d holding", f->root->src);
		return -1;
	}
	return 0;
}

/* Append the text [S, S+LEN) to OUT at *O; -1 when it does not fit. */
static int
put(char *out, size_t outlen, size_t *o, const char *s, size_t len)
{
	if (*o + len >= outlen)
		return -1;
	memcpy(out + *o, s, len);
	*o += len;
	out[*o] = '\0';
	return 0;
}

/* N as a walk filter into OUT at *O. */
static int
walk(const struct rg_filter *f, const struct node *n, char *out, size_t outlen, size_t *o)
{
	if (n->t == N_AND || n->t == N_OR || n->t == N_NOT) {
		const char *op = n->t == N_AND ? "(&" : n->t == N_OR ? "(|" : "(!";
		if (put(out, outlen, o, op, 2) < 0)
			return -1;
		for (size_t i = 0; i < n->nkids; i++)
			if (walk(f, n->kids[i], out, outlen, o) < 0)
				return -1;
		return put(out, outlen, o, ")", 1);
	}
	if (has_tok(n)) {
		if (!n->has_attr)
			return -1;      /* (:rule:=%s): no attribute to test for */
		const char *a = f->attrs[n->attr];
		return put(out, outlen, o, "(", 1) < 0 || put(out, outlen, o, a, strlen(a)) < 0 ||
		    put(out, outlen, o, "=*)", 3) < 0 ? -1 : 0;
	}
	/* as written, but "%%" is the "%" the server is to see */
	for (const char *p = n->src; *p; p++) {
		if (*p == '\\' && p[1] != '\0') {
			if (put(out, outlen, o, p, 2) < 0)
				return -1;
			p++;
			continue;
		}
		if (put(out, outlen, o, p, 1) < 0)
			return -1;
		if (*p == '%' && p[1] == '%')
			p++;
	}
	return 0;
}

int
rg_filter_walk(const struct rg_filter *f, char *out, size_t outlen)
{
	size_t o = 0;

	if (outlen == 0)
		return -1;
	out[0] = '\0';
	return walk(f, f->root, out, outlen, &o);
}

char *const *
rg_filter_attrs(const struct rg_filter *f, size_t *n)
{
	if (n != NULL)
		*n = f->nattrs;
	return f->attrs;
}

size_t
rg_filter_nkeys(const struct rg_filter *f)
{
	return f->nkeys;
}

const char *
rg_filter_key_attr(const struct rg_filter *f, size_t i, size_t *attr_pos)
{
	if (i >= f->nkeys)
		return NULL;
	if (attr_pos != NULL)
		*attr_pos = f->keys[i].attr;
	return f->attrs[f->keys[i].attr];
}

/* V expanded for LOCAL@DOMAIN into OUT (NUL-terminated); its length or -1. */
static long
expand(const struct value *v, const char *local, const char *domain, char *out, size_t outlen)
{
	size_t o = 0;

	out[0] = '\0';
	for (size_t i = 0; i < v->n; i++) {
		const struct piece *p = &v->p[i];
		const char *l = local ? local : "", *d = domain ? domain : "";
		int r = 0;
		if (p->tok == 0)
			r = put(out, outlen, &o, p->text, p->len);
		if (p->tok == 'u' || p->tok == 's')
			r = put(out, outlen, &o, l, strlen(l));
		if (r == 0 && p->tok == 's')
			r = put(out, outlen, &o, "@", 1);
		if (r == 0 && (p->tok == 'd' || p->tok == 's'))
			r = put(out, outlen, &o, d, strlen(d));
		if (r < 0)
			return -1;
	}
	return (long)o;
}

int
rg_filter_key_value(const struct rg_filter *f, size_t i, const char *local,
    const char *domain, char *out, size_t outlen)
{
	if (i >= f->nkeys || outlen == 0 || expand(f->keys[i].v, local, domain, out, outlen) < 0)
		return -1;
	for (char *p = out; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	return 0;
}

/* Equal ignoring ASCII case, with lengths (a value may hold a NUL byte). */
static int
eq_len(const char *a, size_t alen, const char *b, size_t blen)
{
	return alen == blen && strncasecmp(a, b, alen) == 0 && memchr(b, '\0', blen) == NULL;
}

/* Does S hold the parts of a substring assertion (expanded in X)? */
static int
sub_match(const char *s, char **x, const long *xl, size_t nparts)
{
	size_t slen = strlen(s);
	size_t first = (size_t)xl[0], last = (size_t)xl[nparts - 1];

	if (first + last > slen || strncasecmp(s, x[0], first) != 0 ||
	    strncasecmp(s + slen - last, x[nparts - 1], last) != 0)
		return 0;
	const char *p = s + first, *end = s + slen - last;
	for (size_t i = 1; i + 1 < nparts; i++) {
		size_t n = (size_t)xl[i];
		const char *hit = NULL;
		for (const char *q = p; q + n <= end; q++) {
			if (strncasecmp(q, x[i], n) == 0) {
				hit = q;
				break;
			}
		}
		if (hit == NULL)
			return 0;
		p = hit + n;
	}
	return 1;
}

/* A decimal integer, all of S: 1 and *V, or 0. */
static int
integer(const char *s, long long *v)
{
	char *end;

	if (*s == '\0' || isspace((unsigned char)*s))
		return 0;
	errno = 0;
	*v = strtoll(s, &end, 10);
	return *end == '\0' && errno == 0;
}

/* Compare an entry's value S with the assertion value X for N's type. */
static int
value_match(const struct node *n, const char *s, const char *x, long xl)
{
	long long a, b;

	switch (n->t) {
	case N_EQ:
		return eq_len(s, strlen(s), x, (size_t)xl);
	case N_GE:
	case N_LE: {
		int c = integer(s, &a) && integer(x, &b) ? (a > b) - (a < b) : strcasecmp(s, x);
		return n->t == N_GE ? c >= 0 : c <= 0;
	}
	case N_EXT:
		if (!integer(s, &a) || !integer(x, &b))
			return 0;
		if (strcmp(n->rule, RULE_BIT_AND) == 0)
			return ((unsigned long long)a & (unsigned long long)b) == (unsigned long long)b;
		return ((unsigned long long)a & (unsigned long long)b) != 0;
	default:
		return 0;
	}
}

/* A substring assertion N: its parts expanded, then the entry's values. */
static int
eval_sub(const struct node *n, const char *local, const char *domain,
    rg_filter_values_fn values, const void *entry)
{
	char stack[4096], *buf = stack;
	size_t need = 0, nv = 0, off = 0;
	size_t ll = local ? strlen(local) : 0, dl = domain ? strlen(domain) : 0;
	int hit = 0;

	for (size_t i = 0; i < n->nparts; i++)
		for (size_t j = 0; j < n->parts[i].n; j++)
			need += n->parts[i].p[j].len + ll + dl + 2;
	need += n->nparts;
	char **x = calloc(n->nparts, sizeof(*x));
	long *xl = calloc(n->nparts, sizeof(*xl));
	if (need > sizeof(stack))
		buf = malloc(need);
	if (x == NULL || xl == NULL || buf == NULL)
		goto out;
	for (size_t i = 0; i < n->nparts; i++) {
		x[i] = buf + off;
		if ((xl[i] = expand(&n->parts[i], local, domain, x[i], need - off)) < 0 ||
		    memchr(x[i], '\0', (size_t)xl[i]) != NULL)
			goto out;
		off += (size_t)xl[i] + 1;
	}
	const char *const *v = values(entry, n->attr, &nv);
	for (size_t i = 0; v != NULL && i < nv && !hit; i++)
		hit = v[i] != NULL && sub_match(v[i], x, xl, n->nparts);
out:
	if (buf != stack)
		free(buf);
	free(x);
	free(xl);
	return hit;
}

static int
eval(const struct node *n, const char *local, const char *domain,
    rg_filter_values_fn values, const void *entry)
{
	size_t nv = 0;
	const char *const *v;

	switch (n->t) {
	case N_AND:
		for (size_t i = 0; i < n->nkids; i++)
			if (!eval(n->kids[i], local, domain, values, entry))
				return 0;
		return 1;
	case N_OR:
		for (size_t i = 0; i < n->nkids; i++)
			if (eval(n->kids[i], local, domain, values, entry))
				return 1;
		return 0;
	case N_NOT:
		return !eval(n->kids[0], local, domain, values, entry);
	case N_PRESENT:
		v = values(entry, n->attr, &nv);
		return v != NULL && nv > 0;
	case N_SUB:
		return eval_sub(n, local, domain, values, entry);
	case N_APPROX:
		return 0;
	default:
		break;
	}
	char x[VALUE_MAX];
	long xl = expand(&n->v, local, domain, x, sizeof(x));
	if (xl < 0 || !n->has_attr)
		return 0;
	v = values(entry, n->attr, &nv);
	for (size_t i = 0; v != NULL && i < nv; i++)
		if (v[i] != NULL && value_match(n, v[i], x, xl))
			return 1;
	return 0;
}

int
rg_filter_match(const struct rg_filter *f, const char *local, const char *domain,
    rg_filter_values_fn values, const void *entry)
{
	return eval(f->root, local, domain, values, entry);
}
