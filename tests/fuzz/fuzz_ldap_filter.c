/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * fuzz_ldap_filter.c - libFuzzer target for RFC 4515 escaping and LDAPFilter
 * expansion (rg_ldap_escape_filter, rg_ldap_expand_filter in
 * directory/rg_ldap.c), checked against libldap's own filter parser.
 *
 * Input: one byte sizing the output buffer (0: RG_FILTER_MAX, else 8 times
 * it), then template, local part and domain separated by NUL bytes.  The
 * local part and domain are any bytes (but NUL): the parser in front keeps
 * control bytes out, this does not count on it.
 * Properties:
 *   - escaping a value (any bytes, NUL included) stays inside the buffer
 *     (exact-size heap buffers throughout), succeeds exactly when the
 *     escaped text and its NUL fit, and gives a text without "(", ")", "*",
 *     NUL or control bytes in which every "\" starts a two-hex-digit escape;
 *     libldap's unescape (ldap_pvt_filter_value_unescape) gives the value
 *     back, and "(mail=ESCAPED)" parses (ldap_pvt_put_filter);
 *   - expansion gives exactly the template with %% made "%" and %s, %u, %d
 *     replaced by the escaped address, local part, domain; it fails exactly
 *     when that does not fit;
 *   - for a valid template -- one that LDAPFilter accepts today (starts with
 *     "(", balanced, only %s %u %d %%), whose expansion for a sample address
 *     parses with libldap, and whose placeholders all sit in assertion
 *     values (after the "=" of their assertion) -- the expansion for any
 *     address parses with libldap, and has as many "(" and unescaped "*"
 *     as the sample's: a value never adds an assertion or a wildcard.
 */
#include "fuzz.h"
#include "rg_ldap.h"

#include "ldapparse.h"

/* libldap exports these without declaring them in a public header */
ber_slen_t ldap_pvt_filter_value_unescape(char *filter);

#define SAMPLE_LOCAL "x"
#define SAMPLE_DOMAIN "x.example.org"   /* no hex digit at either end */

static int
needs_escape(unsigned char c)
{
	return c == '*' || c == '(' || c == ')' || c == '\\' || c < 0x20 || c == 0x7f;
}

static size_t
escaped_len(const char *v, size_t n)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++)
		o += needs_escape((unsigned char)v[i]) ? 3 : 1;
	return o;
}


static int
ishex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

static void
check_escape(const char *v, size_t n, size_t outlen)
{
	char *out = malloc(outlen);
	size_t want = escaped_len(v, n);

	if (out == NULL)
		abort();
	int rc = rg_ldap_escape_filter(v, n, out, outlen);
	PROPERTY((rc == 0) == (want + 1 <= outlen), "escape of %zu bytes into %zu: %d", n,
	    outlen, rc);
	if (rc == 0) {
		size_t on = strnlen(out, outlen);
		PROPERTY(on == want, "escaped length %zu, expected %zu", on, want);
		for (size_t i = 0; i < on; i++) {
			unsigned char c = (unsigned char)out[i];
			PROPERTY(c != '(' && c != ')' && c != '*' && c >= 0x20 && c != 0x7f,
			    "raw 0x%02x in escaped value %s", c, out);
			if (c == '\\') {
				PROPERTY(i + 2 < on + 1 && ishex(out[i + 1]) && ishex(out[i + 2]),
				    "bad escape in %s", out);
				i += 2;
			}
		}
		char *f = malloc(on + 8);
		snprintf(f, on + 8, "(mail=%s)", out);
		PROPERTY(fuzz_libldap_parses(f), "libldap refuses %s", f);
		free(f);
		ber_slen_t un = ldap_pvt_filter_value_unescape(out);
		PROPERTY(un >= 0 && (size_t)un == n && memcmp(out, v, n) == 0,
		    "libldap unescapes to something else (%ld bytes of %zu)", (long)un, n);
	}
	free(out);
}

/* The expansion as the contract says it, or NULL when a "%" is bad. */
static char *
model_expand(const char *t, const char *local, const char *domain)
{
	size_t cap = strlen(t) * (3 * (strlen(local) + strlen(domain)) + 2) + 16, o = 0;
	char *out = malloc(cap);

	if (out == NULL)
		abort();
	for (const char *p = t; *p; p++) {
		if (*p != '%') {
			out[o++] = *p;
			continue;
		}
		const char *parts[2] = { NULL, NULL };
		switch (*++p) {
		case '%': out[o++] = '%'; continue;
		case 's': parts[0] = local; parts[1] = domain; break;
		case 'u': parts[0] = local; break;
		case 'd': parts[1] = domain; break;
		default: free(out); return NULL;
		}
		for (int k = 0; k < 2; k++) {
			if (parts[k] == NULL)
				continue;
			if (k == 1 && parts[0] != NULL)
				out[o++] = '@';
			if (rg_ldap_escape_filter(parts[k], strlen(parts[k]), out + o, cap - o) != 0)
				abort();
			o += strlen(out + o);
		}
	}
	out[o] = '\0';
	return out;
}

/* What LDAPFilter accepts today, and placeholders only in values. */
static int
valid_template(const char *t)
{
	int depth = 0, in_value = 0;

	if (*t != '(')
		return 0;
	for (const char *p = t; *p; p++) {
		if (*p == '%') {
			if (p[1] != 's' && p[1] != 'u' && p[1] != 'd' && p[1] != '%')
				return 0;
			if (p[1] != '%' && !in_value)
				return 0;
			p++;
		} else if (*p == '(') {
			depth++;
			in_value = 0;
		} else if (*p == ')') {
			if (--depth < 0)
				return 0;
			in_value = 0;
		} else if (*p == '=') {
			in_value = 1;
		}
	}
	return depth == 0;
}

static void
count(const char *f, size_t *paren, size_t *star)
{
	*paren = *star = 0;
	for (; *f; f++) {
		*paren += *f == '(';
		*star += *f == '*';
	}
}

static void
check_expand(const char *t, const char *local, const char *domain, size_t outlen)
{
	char *out = malloc(outlen);
	char *want = model_expand(t, local, domain);

	if (out == NULL)
		abort();
	int rc = rg_ldap_expand_filter(t, local, domain, out, outlen);
	if (want == NULL) {
		PROPERTY(rc == -1, "template with a bad %% expanded");
		free(out);
		return;
	}
	PROPERTY((rc == 0) == (strlen(want) + 1 <= outlen), "expansion to %zu bytes into %zu: %d",
	    strlen(want), outlen, rc);
	if (rc == 0)
		PROPERTY(strcmp(out, want) == 0, "expansion \"%s\", expected \"%s\"", out, want);
	if (valid_template(t)) {
		char *sample = model_expand(t, SAMPLE_LOCAL, SAMPLE_DOMAIN);
		if (fuzz_libldap_parses(sample)) {
			size_t p1, s1, p2, s2;
			PROPERTY(fuzz_libldap_parses(want), "template %s: expansion %s does not parse", t, want);
			count(sample, &p1, &s1);
			count(want, &p2, &s2);
			PROPERTY(p1 == p2 && s1 == s2, "template %s: %s has %zu ( and %zu *, "
			    "the sample %zu and %zu", t, want, p2, s2, p1, s1);
		}
		free(sample);
	}
	free(want);
	free(out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *f[3], *buf;

	if (size < 1 || size > 4096)
		return 0;
	size_t outlen = data[0] == 0 ? RG_FILTER_MAX : (size_t)data[0] * 8;
	fuzz_split(data + 1, size - 1, f, 3, &buf);
	/* the value with its NUL bytes: the whole input after the first byte */
	check_escape((const char *)data + 1, size - 1, 1 + data[0]);
	check_escape(f[1], strlen(f[1]), 4 * strlen(f[1]) + 1);
	check_expand(f[0], f[1], f[2], outlen);
	free(buf);
	return 0;
}
