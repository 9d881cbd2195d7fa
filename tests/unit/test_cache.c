/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * test_cache.c - the answer cache (rg_cache) over a fake Redis.
 *
 * The fake is a small key table behind the rg_redis backend functions
 * (rg_redis_with()); it can be "down" (every command fails, as with
 * redis-server stopped) and counts the GETs that reach it.  Checked:
 *   - a hit in Redis fills the in-process cache: asked again, Redis is not;
 *   - a failing Redis is a miss, and a write to it is not an error;
 *   - stale values: an entry past its freshness is no hit, but is an answer
 *     for an outage while younger than StaleTTL, and not with StaleTTL 0;
 *   - negative values: stored with their own TTL, read by another MTA, and
 *     forgotten (DEL) when an answer must not be remembered;
 *   - an answer fresh for 0 seconds is never fresh when read back, however
 *     soon (the times are written to the millisecond);
 *   - the key and value format, "rcptguard:v1:FINGERPRINT:ADDRESS" and
 *     "VALUE;seen=EPOCH;fresh=EPOCH"; a key that never expires is a miss.
 * tests/integration/86-redis-outage.sh and 85-stale.sh check the same
 * against a real redis-server.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "rg_cache.h"
#include "rg_redis.h"

/* ---- the fake Redis ---- */

#define FAKE_KEYS 16

struct fake_key {
	char key[512];
	char value[512];
	double ttl;             /* seconds; -1: never expires */
};

static struct fake {
	int down;
	int gets, sets, dels;
	int last_seconds;       /* EX of the last SET */
	struct fake_key keys[FAKE_KEYS];
	size_t nkeys;
} fake;

static struct fake_key *
fake_find(const char *key)
{
	for (size_t i = 0; i < fake.nkeys; i++)
		if (strcmp(fake.keys[i].key, key) == 0)
			return &fake.keys[i];
	return NULL;
}

static void
fake_store(const char *key, const char *value, double ttl)
{
	struct fake_key *k = fake_find(key);

	if (k == NULL) {
		assert_true(fake.nkeys < FAKE_KEYS);
		k = &fake.keys[fake.nkeys++];
	}
	snprintf(k->key, sizeof(k->key), "%s", key);
	snprintf(k->value, sizeof(k->value), "%s", value);
	k->ttl = ttl;
}

static enum rg_redis_status
fake_get(void *arg, const char *key, char *value, size_t vlen, double *ttl, char *why,
    size_t whylen)
{
	(void)arg;
	fake.gets++;
	if (fake.down) {
		snprintf(why, whylen, "Connection refused");
		return RG_REDIS_FAILED;
	}
	struct fake_key *k = fake_find(key);
	if (k == NULL)
		return RG_REDIS_MISS;
	if (strlen(k->value) >= vlen) {
		snprintf(why, whylen, "too long");
		return RG_REDIS_FAILED;
	}
	snprintf(value, vlen, "%s", k->value);
	*ttl = k->ttl;
	return RG_REDIS_OK;
}

static enum rg_redis_status
fake_set(void *arg, const char *key, const char *value, int seconds, int nx, char *why,
    size_t whylen)
{
	(void)arg;
	fake.sets++;
	if (fake.down) {
		snprintf(why, whylen, "Connection refused");
		return RG_REDIS_FAILED;
	}
	if (nx && fake_find(key) != NULL)
		return RG_REDIS_MISS;
	fake.last_seconds = seconds;
	fake_store(key, value, seconds);
	return RG_REDIS_OK;
}

static enum rg_redis_status
fake_del(void *arg, const char *key, char *why, size_t whylen)
{
	(void)arg;
	fake.dels++;
	if (fake.down) {
		snprintf(why, whylen, "Connection refused");
		return RG_REDIS_FAILED;
	}
	struct fake_key *k = fake_find(key);
	if (k != NULL)
		*k = fake.keys[--fake.nkeys];
	return RG_REDIS_OK;
}

static const struct rg_redis_backend fake_backend = {
	.get = fake_get,
	.set = fake_set,
	.del = fake_del,
};

/* ---- fixtures ---- */

static char dir[64];

static int
setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/rgunit.XXXXXX");
	return mkdtemp(dir) == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
	char path[128];

	(void)state;
	snprintf(path, sizeof(path), "%s/rcptguard.conf", dir);
	unlink(path);
	return rmdir(dir);
}

static int
reset(void **state)
{
	(void)state;
	memset(&fake, 0, sizeof(fake));
	return 0;
}

/* A configuration with EXTRA lines. */
static struct rg_config *
config(const char *extra)
{
	char path[128], err[RG_ERRLEN];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/rcptguard.conf", dir);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fprintf(fp, "Domains example.com\nLDAPURI ldap://127.0.0.1:1\n"
	    "LDAPBase dc=example,dc=com\n%s", extra);
	fclose(fp);
	struct rg_config *cf = rg_config_load(path, err, sizeof(err));
	if (cf == NULL)
		fail_msg("%s", err);
	return cf;
}

static struct rg_cache *
cache_over_fake(const struct rg_config *cf)
{
	struct rg_redis *r = rg_redis_with(&fake_backend, NULL);

	assert_non_null(r);
	struct rg_cache *c = rg_cache_new_with(cf, r);
	assert_non_null(c);
	return c;
}

/* The Redis key of ADDRESS under CF. */
static void
rkey(const struct rg_config *cf, const char *address, char *out, size_t outlen)
{
	snprintf(out, outlen, "rcptguard:v1:%s:%s", cf->fingerprint, address);
}

static double
wall_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Store VALUE for ADDRESS as another MTA would: given AGE seconds ago,
 * fresh until FRESH seconds from now, the key living TTL more seconds. */
static void
redis_holds(const struct rg_config *cf, const char *address, const char *value, double age,
    double fresh, double ttl)
{
	char k[512], v[512];
	double now = wall_now();

	rkey(cf, address, k, sizeof(k));
	snprintf(v, sizeof(v), "%s;seen=%.3f;fresh=%.3f", value, now - age, now + fresh);
	fake_store(k, v, ttl);
}

/* ---- tests ---- */

static void
redis_hit_fills_local(void **state)
{
	struct rg_config *cf = config("");
	struct rg_cache *c = cache_over_fake(cf);
	char v[RG_CACHE_VALUE_MAX];

	(void)state;
	redis_holds(cf, "john@example.com", "ok", 10, 290, 3590);
	assert_int_equal(rg_cache_get(c, "john@example.com", v, sizeof(v)), 1);
	assert_string_equal(v, "ok");
	assert_int_equal(fake.gets, 1);
	/* asked again: from process, Redis is not asked, even when it is down */
	fake.down = 1;
	strcpy(v, "");
	assert_int_equal(rg_cache_get(c, "john@example.com", v, sizeof(v)), 1);
	assert_string_equal(v, "ok");
	assert_int_equal(fake.gets, 1);
	/* and a key it does not hold is a miss */
	fake.down = 0;
	assert_int_equal(rg_cache_get(c, "bob@example.com", v, sizeof(v)), 0);
	assert_int_equal(fake.gets, 2);
	rg_cache_free(c);
	rg_config_free(cf);
}

static void
redis_failing_is_miss(void **state)
{
	struct rg_config *cf = config("");
	struct rg_cache *c = cache_over_fake(cf);
	char v[RG_CACHE_VALUE_MAX];

	(void)state;
	redis_holds(cf, "john@example.com", "ok", 10, 290, 3590);
	fake.down = 1;
	assert_int_equal(rg_cache_get(c, "john@example.com", v, sizeof(v)), 0);
	assert_int_equal(rg_cache_get_stale(c, "john@example.com", v, sizeof(v)), 0);
	assert_int_equal(fake.gets, 2);
	/* a write while it is down still fills the process's cache */
	rg_cache_put(c, "bob@example.com", "ok", 3600, 86400);
	assert_int_equal(fake.sets, 1);
	assert_int_equal(rg_cache_get(c, "bob@example.com", v, sizeof(v)), 1);
	assert_string_equal(v, "ok");
	/* back: the entry it holds is read again */
	fake.down = 0;
	assert_int_equal(rg_cache_get(c, "john@example.com", v, sizeof(v)), 1);
	assert_string_equal(v, "ok");
	rg_cache_free(c);
	rg_config_free(cf);
}

static void
stale_values(void **state)
{
	struct rg_config *cf = config("StaleTTL 3600\n");
	struct rg_cache *c = cache_over_fake(cf);
	char v[RG_CACHE_VALUE_MAX];

	(void)state;
	/* found 100 s ago, fresh until 40 s ago, kept 500 s more */
	redis_holds(cf, "john@example.com", "ok", 100, -40, 500);
	assert_int_equal(rg_cache_get(c, "john@example.com", v, sizeof(v)), 0);
	assert_int_equal(rg_cache_get_stale(c, "john@example.com", v, sizeof(v)), 1);
	assert_string_equal(v, "ok");
	/* the first GET kept it in process: Redis down, still an answer */
	fake.down = 1;
	int gets = fake.gets;
	assert_int_equal(rg_cache_get_stale(c, "john@example.com", v, sizeof(v)), 1);
	assert_int_equal(rg_cache_get(c, "john@example.com", v, sizeof(v)), 0);
	assert_int_equal(fake.gets, gets + 1);          /* the fresh GET asked, and failed */
	fake.down = 0;
	/* older than StaleTTL: no answer */
	redis_holds(cf, "old@example.com", "ok", 4000, -3000, 500);
	assert_int_equal(rg_cache_get_stale(c, "old@example.com", v, sizeof(v)), 0);
	rg_cache_free(c);
	rg_config_free(cf);

	/* StaleTTL 0: never */
	cf = config("StaleTTL 0\n");
	c = cache_over_fake(cf);
	redis_holds(cf, "john@example.com", "ok", 100, -40, 500);
	assert_int_equal(rg_cache_get_stale(c, "john@example.com", v, sizeof(v)), 0);
	assert_int_equal(rg_cache_get(c, "john@example.com", v, sizeof(v)), 0);
	rg_cache_free(c);
	rg_config_free(cf);
}

static void
negative_values(void **state)
{
	struct rg_config *cf = config("StaleTTL 3600\nNegativeCacheTTL 60\n");
	struct rg_cache *c = cache_over_fake(cf), *other = cache_over_fake(cf);
	char v[RG_CACHE_VALUE_MAX], k[512];

	(void)state;
	rg_cache_put(c, "nobody@example.com", "unknown", cf->negative_cache_ttl, 0);
	assert_int_equal(fake.sets, 1);
	assert_int_equal(fake.last_seconds, 60);
	rkey(cf, "nobody@example.com", k, sizeof(k));
	assert_non_null(fake_find(k));
	assert_true(strncmp(fake_find(k)->value, "unknown;seen=", 13) == 0);
	/* another MTA sharing the Redis reads it */
	assert_int_equal(rg_cache_get(other, "nobody@example.com", v, sizeof(v)), 1);
	assert_string_equal(v, "unknown");
	/* kept as long as it is fresh; rg_check takes only "ok" for an outage */
	assert_int_equal(rg_cache_get_stale(other, "nobody@example.com", v, sizeof(v)), 1);
	assert_string_equal(v, "unknown");
	/* an answer not to be remembered forgets the older one, here and in Redis */
	rg_cache_put(c, "nobody@example.com", "ok", 0, 0);
	assert_int_equal(fake.dels, 1);
	assert_null(fake_find(k));
	assert_int_equal(rg_cache_get(c, "nobody@example.com", v, sizeof(v)), 0);
	rg_cache_free(other);
	rg_cache_free(c);
	rg_config_free(cf);
}

static void
formats(void **state)
{
	struct rg_config *cf = config("");
	struct rg_cache *c = cache_over_fake(cf);
	char v[RG_CACHE_VALUE_MAX], k[512];

	(void)state;
	/* a bare value (no times) is fresh while the key lives */
	rkey(cf, "bare@example.com", k, sizeof(k));
	fake_store(k, "ok", 100);
	assert_int_equal(rg_cache_get(c, "bare@example.com", v, sizeof(v)), 1);
	assert_string_equal(v, "ok");
	/* a key that never expires is not one of ours: a miss */
	rkey(cf, "forever@example.com", k, sizeof(k));
	fake_store(k, "ok", -1);
	assert_int_equal(rg_cache_get(c, "forever@example.com", v, sizeof(v)), 0);
	/* another fingerprint's key is never read */
	fake_store("rcptguard:v1:0000000000000000:other@example.com", "ok", 100);
	assert_int_equal(rg_cache_get(c, "other@example.com", v, sizeof(v)), 0);
	rg_cache_free(c);
	rg_config_free(cf);
}

/* An answer stored fresh for 0 seconds (CacheTTL 0) is never fresh for
 * another MTA, even read in the same millisecond: only kept, for StaleTTL. */
static void
never_fresh(void **state)
{
	struct rg_config *cf = config("StaleTTL 600\nCacheTTL 0\n");
	struct rg_cache *c = cache_over_fake(cf);
	char v[RG_CACHE_VALUE_MAX];

	(void)state;
	for (int i = 0; i < 200; i++) {
		struct rg_cache *other = cache_over_fake(cf);
		rg_cache_put(c, "john@example.com", "ok", 0, cf->stale_ttl);
		assert_int_equal(rg_cache_get(other, "john@example.com", v, sizeof(v)), 0);
		assert_int_equal(rg_cache_get_stale(other, "john@example.com", v, sizeof(v)), 1);
		rg_cache_free(other);
	}
	rg_cache_free(c);
	rg_config_free(cf);
}

static void
without_redis(void **state)
{
	struct rg_config *cf = config("");
	struct rg_cache *c = rg_cache_new_with(cf, NULL);
	char v[RG_CACHE_VALUE_MAX];

	(void)state;
	assert_non_null(c);
	assert_null(rg_cache_redis(c));
	assert_int_equal(rg_cache_get(c, "john@example.com", v, sizeof(v)), 0);
	rg_cache_put(c, "john@example.com", "ok", 3600, 0);
	assert_int_equal(rg_cache_get(c, "john@example.com", v, sizeof(v)), 1);
	assert_string_equal(v, "ok");
	assert_int_equal(rg_redis_get(NULL, "k", v, sizeof(v), NULL, v, sizeof(v)),
	    RG_REDIS_FAILED);
	assert_string_equal(v, "Redis is not configured");
	rg_cache_free(c);
	rg_config_free(cf);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(redis_hit_fills_local, reset),
		cmocka_unit_test_setup(redis_failing_is_miss, reset),
		cmocka_unit_test_setup(stale_values, reset),
		cmocka_unit_test_setup(negative_values, reset),
		cmocka_unit_test_setup(formats, reset),
		cmocka_unit_test_setup(never_fresh, reset),
		cmocka_unit_test_setup(without_redis, reset),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
