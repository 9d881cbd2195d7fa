/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * fuzz.h - what the libFuzzer targets of tests/fuzz/ share: stating a
 * property (a violated one aborts, which libFuzzer reports as a crash and
 * keeps the input), a NUL-terminated copy of the input, a UTF-8 check.
 */
#ifndef RG_FUZZ_H
#define RG_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Abort with the property that does not hold. */
#define PROPERTY(cond, ...) do {                                        \
	if (!(cond)) {                                                  \
		fprintf(stderr, "PROPERTY VIOLATED %s:%d: %s: ",        \
		    __FILE__, __LINE__, #cond);                         \
		fprintf(stderr, __VA_ARGS__);                           \
		fputc('\n', stderr);                                    \
		abort();                                                \
	}                                                               \
} while (0)

/* A NUL-terminated copy of DATA (cut at its first NUL byte); free() it. */
static inline char *
fuzz_str(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	if (s == NULL)
		abort();
	memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

/*
 * Split DATA at NUL bytes into at most N strings (copies in one buffer
 * *BUF, to be freed); the missing ones are "".  Returns how many were there.
 */
static inline size_t
fuzz_split(const uint8_t *data, size_t size, char **out, size_t n, char **buf)
{
	size_t k = 0, start = 0;

	*buf = fuzz_str(data, size);
	for (size_t i = 0; i < n; i++)
		out[i] = *buf + size;   /* "" */
	for (size_t i = 0; i <= size && k < n; i++) {
		if (i == size || (*buf)[i] == '\0') {
			out[k++] = *buf + start;
			start = i + 1;
		}
	}
	return k;
}

/* Is S (N bytes) valid UTF-8 (no overlongs, no surrogates, <= U+10FFFF)? */
static inline int
fuzz_utf8(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;

	while (i < n) {
		unsigned c = p[i], len, cp, min;
		if (c < 0x80) {
			i++;
			continue;
		}
		if ((c & 0xe0) == 0xc0) {
			len = 2; cp = c & 0x1f; min = 0x80;
		} else if ((c & 0xf0) == 0xe0) {
			len = 3; cp = c & 0x0f; min = 0x800;
		} else if ((c & 0xf8) == 0xf0) {
			len = 4; cp = c & 0x07; min = 0x10000;
		} else {
			return 0;
		}
		if (i + len > n)
			return 0;
		for (unsigned j = 1; j < len; j++) {
			if ((p[i + j] & 0xc0) != 0x80)
				return 0;
			cp = cp << 6 | (p[i + j] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		i += len;
	}
	return 1;
}

#endif
