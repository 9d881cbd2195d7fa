/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * rg_escape.c - JSON strings and \xNN text, written one way for the whole
 * program: the log's fields, the alerts' JSON, the tools' output.
 */
#include "rg_escape.h"

#include <string.h>

int
rg_escape_json(const char *s, char *out, size_t outlen)
{
	size_t o = 0;

	if (outlen < 3) {
		if (outlen > 0)
			out[0] = '\0';
		return -1;
	}
	out[o++] = '"';
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (o + 8 >= outlen) {
			out[0] = '\0';
			return -1;
		}
		if (*p == '"' || *p == '\\') {
			out[o++] = '\\';
			out[o++] = (char)*p;
		} else if (*p < 0x20 || *p == 0x7f) {
			o += (size_t)snprintf(out + o, outlen - o, "\\u%04x", *p);
		} else {
			out[o++] = (char)*p;
		}
	}
	out[o++] = '"';
	out[o] = '\0';
	return 0;
}

void
rg_escape_json_print(FILE *f, const char *s)
{
	fputc('"', f);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(f, "\\%c", *p);
		else if (*p < 0x20 || *p == 0x7f)
			fprintf(f, "\\u%04x", *p);
		else
			fputc(*p, f);
	}
	fputc('"', f);
}

/* Is CH written as \xNN under FLAGS? */
static int
escaped(unsigned char ch, unsigned flags)
{
	if (ch < 0x20 || ch == 0x7f)
		return 1;
	if (ch == ' ')
		return (flags & RG_ESC_SPACE) != 0;
	if (ch == '\\')
		return (flags & (RG_ESC_BACKSLASH | RG_ESC_FIELD)) != 0;
	if (ch == '"')
		return (flags & (RG_ESC_QUOTE | RG_ESC_FIELD)) != 0;
	if (ch == '<' || ch == '>')
		return (flags & (RG_ESC_ANGLE | RG_ESC_FIELD)) != 0;
	if (ch == '=')
		return (flags & RG_ESC_FIELD) != 0;
	if (ch >= 0x80)
		return (flags & RG_ESC_8BIT) != 0;
	return 0;
}

size_t
rg_escape_text(const char *s, size_t len, unsigned flags, char *out, size_t outlen)
{
	size_t o = 0;

	if (outlen == 0)
		return 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];
		int esc = escaped(ch, flags);
		if (o + (esc ? 4 : 1) >= outlen)
			break;
		if (esc)
			o += (size_t)snprintf(out + o, outlen - o, "\\x%02x", ch);
		else
			out[o++] = (char)ch;
	}
	out[o] = '\0';
	return o;
}

size_t
rg_escape_text_width(const char *s, unsigned flags)
{
	size_t n = 0;

	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		n += escaped(*p, flags) ? 4 : 1;
	return n;
}

size_t
rg_escape_text_print(FILE *f, const char *s, unsigned flags)
{
	size_t n = 0;

	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (escaped(*p, flags)) {
			fprintf(f, "\\x%02x", *p);
			n += 4;
		} else {
			fputc(*p, f);
			n++;
		}
	}
	return n;
}
