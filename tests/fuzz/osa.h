/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * osa.h - the optimal string alignment distance the textbook way, the whole
 * matrix, to check rg_suggest_distance() against (fuzz_suggest and
 * test_suggest).  Strings of at most OSA_MAX bytes.
 */
#ifndef RG_TEST_OSA_H
#define RG_TEST_OSA_H

#include <stddef.h>

#define OSA_MAX 299

static int
osa(const char *a, size_t n, const char *b, size_t m)
{
	static int d[OSA_MAX + 1][OSA_MAX + 1];

	for (size_t i = 0; i <= n; i++)
		d[i][0] = (int)i;
	for (size_t j = 0; j <= m; j++)
		d[0][j] = (int)j;
	for (size_t i = 1; i <= n; i++)
		for (size_t j = 1; j <= m; j++) {
			int cost = a[i - 1] != b[j - 1];
			int v = d[i - 1][j] + 1;
			if (d[i][j - 1] + 1 < v)
				v = d[i][j - 1] + 1;
			if (d[i - 1][j - 1] + cost < v)
				v = d[i - 1][j - 1] + cost;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
			    d[i - 2][j - 2] + 1 < v)
				v = d[i - 2][j - 2] + 1;
			d[i][j] = v;
		}
	return d[n][m];
}

#endif
