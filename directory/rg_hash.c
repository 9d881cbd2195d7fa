/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * rg_hash.c - FNV-1a, the one string hash.
 */
#include "rg_hash.h"

uint64_t
rg_fnv1a(uint64_t h, const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		h ^= *p;
		h *= 0x100000001b3ULL;
	}
	return h;
}
