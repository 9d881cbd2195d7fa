/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * json.h - a small strict JSON reader for the fuzz targets: an object of
 * string members (all that rcptguard writes), strings per RFC 8259 with
 * their escapes decoded.  Raw bytes >= 0x80 are taken as they are; the
 * caller checks UTF-8 separately when the input was UTF-8.
 */
#ifndef RG_FUZZ_JSON_H
#define RG_FUZZ_JSON_H

#include <stddef.h>
#include <string.h>

static int
json_hex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Read the JSON string at *P (ending before END), decoding it into OUT
 * (at least END - *P bytes).  \u escapes above U+007F are refused: nothing
 * here writes them.  Returns the decoded length, or -1 when malformed;
 * *P is moved past the closing quote.
 */
static long
json_string(const char **p, const char *end, char *out)
{
	const char *s = *p;
	long o = 0;

	if (s >= end || *s != '"')
		return -1;
	for (s++; s < end; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"') {
			*p = s + 1;
			return o;
		}
		if (c < 0x20)
			return -1;
		if (c != '\\') {
			out[o++] = (char)c;
			continue;
		}
		if (++s >= end)
			return -1;
		switch (*s) {
		case '"': out[o++] = '"'; break;
		case '\\': out[o++] = '\\'; break;
		case '/': out[o++] = '/'; break;
		case 'b': out[o++] = '\b'; break;
		case 'f': out[o++] = '\f'; break;
		case 'n': out[o++] = '\n'; break;
		case 'r': out[o++] = '\r'; break;
		case 't': out[o++] = '\t'; break;
		case 'u': {
			int v = 0;
			if (end - s < 5)
				return -1;
			for (int i = 1; i <= 4; i++) {
				int h = json_hex(s[i]);
				if (h < 0)
					return -1;
				v = v * 16 + h;
			}
			if (v > 0x7f || v == 0)
				return -1;
			out[o++] = (char)v;
			s += 4;
			break;
		}
		default:
			return -1;
		}
	}
	return -1;
}

static void
json_ws(const char **p, const char *end)
{
	while (*p < end && (**p == ' ' || **p == '\t' || **p == '\n' || **p == '\r'))
		(*p)++;
}

/*
 * Parse TEXT (LEN bytes) as exactly one JSON object whose members are
 * strings, followed by nothing but white space.  For each member calls
 * FN(ARG, key, value, valuelen).  Returns the number of members, or -1.
 */
typedef void (*json_member_fn)(void *arg, const char *key, const char *val, size_t vlen);

static long
json_object(const char *text, size_t len, json_member_fn fn, void *arg, char *kbuf, char *vbuf)
{
	const char *p = text, *end = text + len;
	long n = 0;

	json_ws(&p, end);
	if (p >= end || *p++ != '{')
		return -1;
	json_ws(&p, end);
	if (p < end && *p == '}') {
		p++;
		goto tail;
	}
	for (;;) {
		long kl, vl;
		json_ws(&p, end);
		if ((kl = json_string(&p, end, kbuf)) < 0)
			return -1;
		kbuf[kl] = '\0';
		json_ws(&p, end);
		if (p >= end || *p++ != ':')
			return -1;
		json_ws(&p, end);
		if ((vl = json_string(&p, end, vbuf)) < 0)
			return -1;
		vbuf[vl] = '\0';
		if (fn != NULL)
			fn(arg, kbuf, vbuf, (size_t)vl);
		n++;
		json_ws(&p, end);
		if (p >= end)
			return -1;
		if (*p == ',') {
			p++;
			continue;
		}
		if (*p++ != '}')
			return -1;
		break;
	}
tail:
	json_ws(&p, end);
	return p == end ? n : -1;
}

#endif
