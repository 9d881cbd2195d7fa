/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * rg_escape.h - every way rcptguard writes a string it did not choose: as a
 * JSON string, and as text where a byte of a chosen class shows as \xNN
 * (log fields, the tools' one-line output).  Reply texts have their own
 * rule, in rg_reply.
 */
#ifndef RG_ESCAPE_H
#define RG_ESCAPE_H

#include <stddef.h>
#include <stdio.h>

/*
 * Write S as a JSON string (with the quotes) into OUT: '"' and '\' behind a
 * backslash, control bytes and DEL as \u00XX, other bytes as they are.
 * Returns 0, or -1 when OUTLEN is too small (OUT is then "").
 */
int rg_escape_json(const char *s, char *out, size_t outlen);

/* The same, written to F. */
void rg_escape_json_print(FILE *f, const char *s);

/* Which bytes rg_escape_text() writes as \xNN; control bytes and DEL always. */
#define RG_ESC_SPACE     0x01   /* the space */
#define RG_ESC_BACKSLASH 0x02   /* "\" */
#define RG_ESC_FIELD     0x04   /* '"' '<' '>' '=' '\': a field of a key=value line */
#define RG_ESC_8BIT      0x08   /* bytes 0x80 to 0xff */
#define RG_ESC_QUOTE     0x10   /* '"': a quoted field of a key=value line */
#define RG_ESC_ANGLE     0x20   /* "<" ">": a field of a key=<value> line */

/*
 * Copy the LEN bytes of S into OUT, the bytes FLAGS name (and control bytes,
 * DEL and NUL) as \xNN.  Cut short, never inside an escape, when OUTLEN is
 * too small.  Returns the length written.
 */
size_t rg_escape_text(const char *s, size_t len, unsigned flags, char *out, size_t outlen);

/* The width rg_escape_text() gives the string S, never cut. */
size_t rg_escape_text_width(const char *s, unsigned flags);

/* The same for the string S, written to F; returns the width written. */
size_t rg_escape_text_print(FILE *f, const char *s, unsigned flags);

#endif
