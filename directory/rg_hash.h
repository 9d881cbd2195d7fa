/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * rg_hash.h - one string hash for the cache's table, the configuration's
 * fingerprint and the alerts' de-duplication keys.
 */
#ifndef RG_HASH_H
#define RG_HASH_H

#include <stdint.h>

/* FNV-1a, 64 bits: H (start with RG_FNV_START) updated with S. */
#define RG_FNV_START 0xcbf29ce484222325ULL
uint64_t rg_fnv1a(uint64_t h, const char *s);

#endif
