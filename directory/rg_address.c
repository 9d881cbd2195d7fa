/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * rg_address.c - parse and normalise an envelope recipient.
 *
 * Accepts what an MTA hands a milter at RCPT time: "<user@domain>", the
 * same without brackets, a source route "<@a,@b:user@domain>", a quoted
 * local part "\"john doe\"@domain".  The result is lower case (ASCII only;
 * bytes >= 0x80 must be valid UTF-8 and are left alone), the trailing dot of
 * the domain dropped, the quotes and backslash escapes of a quoted local part
 * removed.  Parts longer than RFC 5321 allows are refused, never truncated;
 * control bytes and malformed UTF-8 are refused.  Printable characters that
 * mean something to LDAP ("*", "(", ")", "\\") are kept: escaping them is the
 * LDAP module's job, and such an address is then simply unknown.
 */
#include "rg_address.h"

#include <ctype.h>
#include <stddef.h>
#include <string.h>
#include <strings.h>

#define RG_INPUT_MAX 1024

static int
is_ctl(unsigned char c)
{
	return c < 0x20 || c == 0x7f;
}

/* Length of the valid UTF-8 sequence at P (of at most N bytes), or 0. */
static size_t
utf8_len(const unsigned char *p, size_t n)
{
	size_t len;
	unsigned min;
	unsigned cp;

	if (p[0] < 0x80)
		return 1;
	if ((p[0] & 0xe0) == 0xc0) {
		len = 2; cp = p[0] & 0x1f; min = 0x80;
	} else if ((p[0] & 0xf0) == 0xe0) {
		len = 3; cp = p[0] & 0x0f; min = 0x800;
	} else if ((p[0] & 0xf8) == 0xf0) {
		len = 4; cp = p[0] & 0x07; min = 0x10000;
	} else {
		return 0;
	}
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

static int
valid_utf8(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;

	while (i < n) {
		size_t l = utf8_len(p + i, n - i);
		if (l == 0)
			return 0;
		i += l;
	}
	return 1;
}

static void
lower_ascii(char *s)
{
	for (; *s; s++)
		if (*s >= 'A' && *s <= 'Z')
			*s = (char)(*s - 'A' + 'a');
}

#define BAD(msg) do { if (why) *why = (msg); return RG_ADDR_BAD; } while (0)

enum rg_addr_status
rg_address_parse(const char *rcpt, const char *delims, struct rg_address *out,
    const char **why)
{
	size_t n;
	const char *p, *end;
	unsigned char high = 0;         /* any byte >= 0x80 in the input */

	/* every part empty until set (not the whole of OUT: a kilobyte a recipient) */
	out->local[0] = out->domain[0] = out->full[0] = '\0';
	out->base[0] = out->base_local[0] = '\0';
	if (why)
		*why = NULL;
	if (rcpt == NULL)
		BAD("no address");
	n = strlen(rcpt);
	if (n > RG_INPUT_MAX)
		BAD("address too long");
	for (size_t i = 0; i < n; i++) {
		if (is_ctl((unsigned char)rcpt[i]))
			BAD("control character in address");
		high |= (unsigned char)rcpt[i];
	}
	high &= 0x80;
	p = rcpt;
	end = rcpt + n;
	while (p < end && *p == ' ')
		p++;
	while (end > p && end[-1] == ' ')
		end--;
	if (p < end && *p == '<') {
		if (end[-1] != '>' || end - p < 2)
			BAD("unbalanced angle brackets");
		p++;
		end--;
	} else if (p < end && end[-1] == '>') {
		BAD("unbalanced angle brackets");
	}
	if (p == end)
		return RG_ADDR_NULL;

	/* source route: @a,@b:user@domain -- the route is ignored (RFC 5321 C) */
	if (*p == '@') {
		const char *colon = memchr(p, ':', (size_t)(end - p));
		if (colon == NULL)
			BAD("source route without colon");
		for (const char *q = p; q < colon; q++)
			if (*q == '"' || *q == '<' || *q == '>' || *q == ' ')
				BAD("malformed source route");
		p = colon + 1;
		if (p == end)
			BAD("nothing after source route");
	}

	/* local part */
	size_t ll = 0;
	if (*p == '"') {
		p++;
		for (;;) {
			if (p == end)
				BAD("unterminated quoted local part");
			if (*p == '"')
				break;
			if (*p == '\\') {
				p++;
				if (p == end)
					BAD("backslash at end of quoted local part");
			}
			if (ll >= RG_LOCAL_MAX)
				BAD("local part longer than 64 octets");
			out->local[ll++] = *p++;
		}
		p++;                    /* the closing quote */
		if (p < end && *p != '@')
			BAD("text after quoted local part");
	} else {
		while (p < end && *p != '@') {
			unsigned char c = (unsigned char)*p;
			if (c == ' ' || c == '"' || c == '<' || c == '>' || c == ',' ||
			    c == ';' || c == '[' || c == ']' || c == ':')
				BAD("character not allowed in unquoted local part");
			if (ll >= RG_LOCAL_MAX)
				BAD("local part longer than 64 octets");
			out->local[ll++] = *p++;
		}
		/* "..", a leading or trailing dot: not RFC 5321, but in use (some mobile
		 * carriers hand them out) and harmless to look up */
	}
	out->local[ll] = '\0';
	if (ll == 0)
		BAD("empty local part");
	if (high && !valid_utf8(out->local, ll))
		BAD("local part is not valid UTF-8");
	lower_ascii(out->local);

	if (p == end)
		return RG_ADDR_NODOMAIN;
	p++;                            /* '@' */
	size_t dl = (size_t)(end - p);
	if (dl > 0 && p[dl - 1] == '.')
		dl--;                   /* example.com. is example.com */
	if (dl == 0)
		BAD("empty domain");
	if (dl > RG_DOMAIN_MAX)
		BAD("domain longer than 255 octets");
	memcpy(out->domain, p, dl);
	out->domain[dl] = '\0';
	if (out->domain[0] == '[') {
		if (out->domain[dl - 1] != ']' || strchr(out->domain + 1, '[') != NULL)
			BAD("malformed address literal");
	} else {
		int empty_label = out->domain[0] == '.' || out->domain[dl - 1] == '.';
		for (size_t i = 0; i < dl; i++) {
			unsigned char c = (unsigned char)out->domain[i];
			if (!(c >= 0x80 || c == '-' || c == '.' || (c >= '0' && c <= '9') ||
			    ((c | 0x20) >= 'a' && (c | 0x20) <= 'z')))
				BAD("character not allowed in domain");
			if (c == '.' && i > 0 && out->domain[i - 1] == '.')
				empty_label = 1;
		}
		if (empty_label)
			BAD("empty label in domain");
	}
	if (high && !valid_utf8(out->domain, dl))
		BAD("domain is not valid UTF-8");
	lower_ascii(out->domain);
	memcpy(out->full, out->local, ll);
	out->full[ll] = '@';
	memcpy(out->full + ll + 1, out->domain, dl + 1);

	/* subaddress: user+tag@domain also answers as user@domain */
	if (delims != NULL && *delims != '\0') {
		size_t cut = strcspn(out->local, delims);
		if (cut > 0 && cut < ll) {
			memcpy(out->base_local, out->local, cut);
			out->base_local[cut] = '\0';
			memcpy(out->base, out->local, cut);
			out->base[cut] = '@';
			memcpy(out->base + cut + 1, out->domain, dl + 1);
		}
	}
	return RG_ADDR_OK;
}

int
rg_address_domain(const char *rcpt, char *out, size_t outlen)
{
	const char *at = rcpt != NULL ? strrchr(rcpt, '@') : NULL;
	size_t n;

	if (at == NULL || outlen == 0)
		return -1;
	at++;
	n = strlen(at);
	while (n > 0 && (at[n - 1] == '>' || at[n - 1] == ' '))
		n--;
	if (n > 0 && at[n - 1] == '.')
		n--;
	if (n == 0 || n >= outlen)
		return -1;
	for (size_t i = 0; i < n; i++) {
		char c = at[i];
		out[i] = (char)(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
	}
	out[n] = '\0';
	return 0;
}

int
rg_address_plain(const char *v, char *out, size_t outlen)
{
	static const char atext[] = "!#$%&'*+-/=?^_`{|}~";
	const char *at = strrchr(v, '@');
	size_t n = strlen(v);
	struct rg_address a;

	if (at == NULL || at == v || at[1] == '\0' || n >= outlen ||
	    rg_address_parse(v, "", &a, NULL) != RG_ADDR_OK)
		return -1;
	for (const char *p = v; p < at; p++)
		if (!isalnum((unsigned char)*p) && strchr(atext, *p) == NULL &&
		    (*p != '.' || p == v || p[1] == '.' || p + 1 == at))
			return -1;
	for (const char *p = at + 1; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '-' && (*p != '.' || p == at + 1 ||
		    p[1] == '.' || p[1] == '\0'))
			return -1;
	for (size_t i = 0; i < n; i++)
		out[i] = v + i > at ? (char)tolower((unsigned char)v[i]) : v[i];
	out[n] = '\0';
	return 0;
}

const char *
rg_address_value(const char *v)
{
	size_t n = 0;

	while (isalnum((unsigned char)v[n]) || v[n] == '-')
		n++;
	if (n == 0 || v[n] != ':')
		return v;
	return n == 4 && strncasecmp(v, "smtp", 4) == 0 ? v + 5 : NULL;
}
