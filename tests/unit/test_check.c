/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * test_check.c - rg_check() against a directory of the test's own.
 *
 * The LDAP searches of rg_check.c are routed (ld --wrap) to a small fake
 * directory here, which can also be "down" (every search fails, as with
 * slapd stopped) or run out of memory half-way through copying a result,
 * as rg_ldap.c does.  Checked:
 *   - a result partly copied before a failure is freed (it leaked);
 *   - StaleTTL: an address found before the directory went away is found
 *     ("ok", source stale); one never seen, or last seen unknown, is
 *     "could not tell"; StaleTTL 0 turns it off; an alias found before
 *     counts as found; user+tag@ counts when user@ was found;
 *   - a reload (rg_directory_reopen) takes the in-process cache over when
 *     the answer settings are unchanged, and starts empty when not.
 * Redis is a fake here (rg_redis_new() is wrapped too, and returns a
 * handle on a key table of the test's, rg_redis_with()), shared by every
 * directory handle the test opens, as by MTAs sharing one Redis; it starts
 * "off" (no Redis, as RedisURI none).  With it on: an answer found by one
 * handle is a cache hit for another, fresh or, with the directory down,
 * stale; Redis down is a miss, and the directory answers.
 * tests/integration/85-stale.sh checks the same through Postfix and Redis.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "rg_check.h"
#include "rg_ldap.h"
#include "rg_redis.h"

/* ---- the fake directory ---- */

struct fake_entry {
	const char *mail;
	const char *target;     /* NULL: a mailbox; else an alias of this target */
};

static const struct fake_entry directory[] = {
	{ "john.doe@example.com", NULL },
	{ "bob@example.com", NULL },
	{ "team@example.com", "john.doe@example.com" },
	{ "leaver@example.com", NULL },
};

static int ldap_down;           /* every search fails */
static int ldap_oom;            /* a search fails after copying one entry */
static int leaver_gone;         /* leaver@ is no longer in the directory */
static void *partial;           /* the entries of the result cut short */
static int partial_freed;

static char *
xstrdup(const char *s)
{
	char *d = strdup(s);

	assert_non_null(d);
	return d;
}

static void
fill_entry(struct rg_ldap_entry *e, const struct fake_entry *f)
{
	e->dn = xstrdup("cn=x,dc=example,dc=com");
	e->vals = calloc(3, sizeof(*e->vals));
	assert_non_null(e->vals);
	e->vals[0].attr = xstrdup("objectClass");
	e->vals[0].value = xstrdup(f->target ? "nisMailAlias" : "inetOrgPerson");
	e->vals[1].attr = xstrdup("mail");
	e->vals[1].value = xstrdup(f->mail);
	e->nvals = 2;
	if (f->target != NULL) {
		e->vals[2].attr = xstrdup("rfc822MailMember");
		e->vals[2].value = xstrdup(f->target);
		e->nvals = 3;
	}
}

enum rg_found __wrap_rg_ldap_search(struct rg_ldap_pool *, const char *, char *const *, int,
    double, struct rg_ldap_result *, char *, size_t);
enum rg_found __wrap_rg_ldap_read_dn(struct rg_ldap_pool *, const char *, const char *,
    char *const *, double, struct rg_ldap_result *, char *, size_t);
void __wrap_rg_ldap_result_free(struct rg_ldap_result *);

/* Filters here are "(mail=ADDRESS)": LDAPFilter's default, no disabled filter. */
enum rg_found
__wrap_rg_ldap_search(struct rg_ldap_pool *p, const char *filter, char *const *attrs,
    int maxentries, double until, struct rg_ldap_result *res, char *err, size_t errlen)
{
	(void)p; (void)attrs; (void)maxentries; (void)until;
	if (res != NULL)
		memset(res, 0, sizeof(*res));
	if (ldap_down) {
		snprintf(err, errlen, "connect: Can't contact LDAP server");
		return RG_LOOKUP_FAIL;
	}
	const struct fake_entry *f = NULL;
	for (size_t i = 0; i < sizeof(directory) / sizeof(directory[0]); i++) {
		char want[300];
		snprintf(want, sizeof(want), "(mail=%s)", directory[i].mail);
		if (strcmp(filter, want) == 0)
			f = &directory[i];
	}
	if (f != NULL && leaver_gone && strcmp(f->mail, "leaver@example.com") == 0)
		f = NULL;
	if (f == NULL)
		return RG_NOTFOUND;
	if (res == NULL)
		return RG_FOUND;
	res->entries = calloc(2, sizeof(*res->entries));
	assert_non_null(res->entries);
	fill_entry(&res->entries[0], f);
	res->nentries = 1;
	if (ldap_oom) {
		/* as rg_ldap.c's collect(): the second entry could not be copied */
		partial = res->entries;
		snprintf(err, errlen, "out of memory");
		return RG_LOOKUP_FAIL;
	}
	return RG_FOUND;
}

enum rg_found
__wrap_rg_ldap_read_dn(struct rg_ldap_pool *p, const char *dn, const char *filter,
    char *const *attrs, double until, struct rg_ldap_result *res, char *err, size_t errlen)
{
	(void)p; (void)dn; (void)filter; (void)attrs; (void)until; (void)err; (void)errlen;
	if (res != NULL)
		memset(res, 0, sizeof(*res));
	return RG_NOTFOUND;
}

void
__wrap_rg_ldap_result_free(struct rg_ldap_result *r)
{
	if (r == NULL)
		return;
	if (r->entries != NULL && r->entries == partial)
		partial_freed = 1;
	for (size_t i = 0; i < r->nentries; i++) {
		struct rg_ldap_entry *e = &r->entries[i];
		free(e->dn);
		for (size_t j = 0; j < e->nvals; j++) {
			free(e->vals[j].attr);
			free(e->vals[j].value);
		}
		free(e->vals);
	}
	free(r->entries);
	r->entries = NULL;
	r->nentries = 0;
}

/* ---- the fake Redis ---- */

#define FAKE_KEYS 16

static struct {
	int on;                 /* rg_redis_new() gives the fake */
	int down;               /* every command fails */
	size_t n;
	char keys[FAKE_KEYS][400];
	char values[FAKE_KEYS][400];
	int ttl[FAKE_KEYS];
} fake;

static int
fake_find(const char *key)
{
	for (size_t i = 0; i < fake.n; i++)
		if (strcmp(fake.keys[i], key) == 0)
			return (int)i;
	return -1;
}

static enum rg_redis_status
fake_get(void *arg, const char *key, char *value, size_t vlen, double *ttl, char *why,
    size_t whylen)
{
	(void)arg;
	if (fake.down) {
		snprintf(why, whylen, "Connection refused");
		return RG_REDIS_FAILED;
	}
	int i = fake_find(key);
	if (i < 0)
		return RG_REDIS_MISS;
	snprintf(value, vlen, "%s", fake.values[i]);
	*ttl = fake.ttl[i];
	return RG_REDIS_OK;
}

static enum rg_redis_status
fake_set(void *arg, const char *key, const char *value, int seconds, int nx, char *why,
    size_t whylen)
{
	(void)arg;
	if (fake.down) {
		snprintf(why, whylen, "Connection refused");
		return RG_REDIS_FAILED;
	}
	int i = fake_find(key);
	if (i >= 0 && nx)
		return RG_REDIS_MISS;
	if (i < 0) {
		assert_true(fake.n < FAKE_KEYS);
		i = (int)fake.n++;
	}
	snprintf(fake.keys[i], sizeof(fake.keys[i]), "%s", key);
	snprintf(fake.values[i], sizeof(fake.values[i]), "%s", value);
	fake.ttl[i] = seconds;
	return RG_REDIS_OK;
}

static enum rg_redis_status
fake_del(void *arg, const char *key, char *why, size_t whylen)
{
	(void)arg;
	if (fake.down) {
		snprintf(why, whylen, "Connection refused");
		return RG_REDIS_FAILED;
	}
	int i = fake_find(key);
	if (i >= 0) {
		fake.n--;
		memcpy(fake.keys[i], fake.keys[fake.n], sizeof(fake.keys[i]));
		memcpy(fake.values[i], fake.values[fake.n], sizeof(fake.values[i]));
		fake.ttl[i] = fake.ttl[fake.n];
	}
	return RG_REDIS_OK;
}

static const struct rg_redis_backend fake_backend = {
	.get = fake_get,
	.set = fake_set,
	.del = fake_del,
};

struct rg_redis *__real_rg_redis_new(const struct rg_config *, int);
struct rg_redis *__wrap_rg_redis_new(const struct rg_config *, int);

struct rg_redis *
__wrap_rg_redis_new(const struct rg_config *cf, int background)
{
	if (!fake.on)
		return __real_rg_redis_new(cf, background);
	return rg_redis_with(&fake_backend, NULL);
}

/* ---- set-up ---- */

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
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* A directory handle for a configuration with EXTRA lines (aliases on),
 * taking over from PREV (or NULL) what a reload would; KEPT says what. */
static struct rg_directory *
reopen_with(struct rg_directory *prev, const char *extra, char *kept, size_t keptlen)
{
	char path[128], err[RG_ERRLEN];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/rcptguard.conf", dir);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fprintf(fp, "Domains example.com\nLDAPURI ldap://127.0.0.1:1\n"
	    "LDAPBase dc=example,dc=com\nRedisURI none\nSuggest off\nSyslog no\n"
	    "LDAPAliasAttributes rfc822MailMember\n%s\n", extra);
	fclose(fp);
	struct rg_config *cf = rg_config_load(path, err, sizeof(err));
	if (cf == NULL)
		fail_msg("%s", err);
	struct rg_directory *d = rg_directory_reopen(cf, 0, prev, kept, keptlen, err, sizeof(err));
	if (d == NULL)
		fail_msg("%s", err);
	return d;
}

/* A directory handle for a configuration with EXTRA lines, the fake
 * directory up. */
static struct rg_directory *
open_with(const char *extra)
{
	struct rg_directory *d = reopen_with(NULL, extra, NULL, 0);

	ldap_down = ldap_oom = leaver_gone = 0;
	return d;
}

/* "VERDICT SOURCE" of one check, as rcptguard-query shows it. */
static const char *
check(struct rg_directory *d, const char *rcpt)
{
	static char out[64];
	struct rg_asker who = { "127.0.0.1", 0, 0, 0 };
	struct rg_answer ans;

	rg_check(d, rcpt, &who, &ans);
	snprintf(out, sizeof(out), "%s %s", rg_verdict_name(ans.verdict),
	    rg_source_name(ans.source));
	rg_answer_free(&ans);
	return out;
}

/* ---- the tests ---- */

/* A result cut short by a failure (out of memory) is freed by rg_check. */
static void
test_partial_result_freed(void **state)
{
	(void)state;
	struct rg_directory *d = open_with("");

	ldap_oom = 1;
	partial = NULL;
	partial_freed = 0;
	assert_string_equal(check(d, "<john.doe@example.com>"), "tempfail ldap");
	assert_non_null(partial);
	assert_true(partial_freed);
	rg_directory_close(d);
}

/* CacheTTL 0, NegativeCacheTTL 0: nothing is fresh, every check asks the directory. */
static void
test_stale_found(void **state)
{
	(void)state;
	struct rg_directory *d = open_with("CacheTTL 0\nNegativeCacheTTL 0\nStaleTTL 60");
	struct rg_asker who = { "127.0.0.1", 0, 0, 0 };
	struct rg_answer ans;

	assert_string_equal(check(d, "<john.doe@example.com>"), "ok ldap");
	assert_string_equal(check(d, "<nobody@example.com>"), "unknown ldap");
	ldap_down = 1;
	rg_check(d, "<John.Doe@example.com>", &who, &ans);
	assert_int_equal(ans.verdict, RG_V_OK);
	assert_int_equal(ans.source, RG_SRC_STALE);
	assert_non_null(ans.why);
	assert_string_equal(ans.why, "connect: Can't contact LDAP server");
	rg_answer_free(&ans);
	/* never seen, last seen unknown: could not tell */
	assert_string_equal(check(d, "<jane@example.com>"), "tempfail ldap");
	assert_string_equal(check(d, "<nobody@example.com>"), "tempfail ldap");
	/* back: the directory answers again */
	ldap_down = 0;
	assert_string_equal(check(d, "<john.doe@example.com>"), "ok ldap");
	rg_directory_close(d);
}

/* While an answer is fresh the cache gives it, whether or not LDAP is up. */
static void
test_fresh_before_stale(void **state)
{
	(void)state;
	struct rg_directory *d = open_with("CacheTTL 60\nStaleTTL 600");

	assert_string_equal(check(d, "<john.doe@example.com>"), "ok ldap");
	ldap_down = 1;
	assert_string_equal(check(d, "<john.doe@example.com>"), "ok cache");
	rg_directory_close(d);
}

/* StaleTTL 0: off. */
static void
test_stale_off(void **state)
{
	(void)state;
	struct rg_directory *d = open_with("CacheTTL 0\nStaleTTL 0");

	assert_string_equal(check(d, "<john.doe@example.com>"), "ok ldap");
	ldap_down = 1;
	assert_string_equal(check(d, "<john.doe@example.com>"), "tempfail ldap");
	rg_directory_close(d);
}

/* Found, then unknown (not cached: NegativeCacheTTL 0): never served stale. */
static void
test_negative_replaces_positive(void **state)
{
	(void)state;
	struct rg_directory *d = open_with("CacheTTL 0\nNegativeCacheTTL 0\nStaleTTL 60");

	assert_string_equal(check(d, "<leaver@example.com>"), "ok ldap");
	leaver_gone = 1;
	assert_string_equal(check(d, "<leaver@example.com>"), "unknown ldap");
	ldap_down = 1;
	assert_string_equal(check(d, "<leaver@example.com>"), "tempfail ldap");
	rg_directory_close(d);
}

/* An alias last seen valid counts as valid; user+tag@ follows user@. */
static void
test_stale_alias_and_subaddress(void **state)
{
	(void)state;
	struct rg_directory *d = open_with("CacheTTL 0\nStaleTTL 60");

	assert_string_equal(check(d, "<team@example.com>"), "ok ldap");
	assert_string_equal(check(d, "<bob@example.com>"), "ok ldap");
	ldap_down = 1;
	assert_string_equal(check(d, "<team@example.com>"), "ok stale");
	assert_string_equal(check(d, "<bob+news@example.com>"), "ok stale");
	rg_directory_close(d);
}

/* A reload with the answer settings unchanged takes the cached answers
 * over (MaxUnknownRecipients does not count); one with a new CacheTTL, or
 * a new lookup setting, starts empty. */
static void
test_reload_keeps_cache(void **state)
{
	(void)state;
	char kept[RG_ERRLEN];
	struct rg_directory *a = open_with("CacheTTL 600");

	assert_string_equal(check(a, "<john.doe@example.com>"), "ok ldap");
	struct rg_directory *b = reopen_with(a, "CacheTTL 600\nMaxUnknownRecipients 3", kept,
	    sizeof(kept));
	assert_string_equal(kept, "cache kept");
	ldap_down = 1;
	assert_string_equal(check(b, "<john.doe@example.com>"), "ok cache");
	/* moved, not copied: the old directory still answers, without them */
	assert_string_equal(check(a, "<john.doe@example.com>"), "tempfail ldap");
	rg_directory_close(a);
	struct rg_directory *c = reopen_with(b, "CacheTTL 300", kept, sizeof(kept));
	assert_string_equal(kept, "cache emptied (CacheTTL changed)");
	assert_string_equal(check(c, "<john.doe@example.com>"), "tempfail ldap");
	rg_directory_close(b);
	ldap_down = 0;
	assert_string_equal(check(c, "<john.doe@example.com>"), "ok ldap");
	struct rg_directory *e = reopen_with(c, "CacheTTL 300\nLDAPAliasClasses nisMailAlias",
	    kept, sizeof(kept));
	assert_string_equal(kept, "cache emptied (lookup settings changed)");
	ldap_down = 1;
	assert_string_equal(check(e, "<john.doe@example.com>"), "tempfail ldap");
	rg_directory_close(c);
	rg_directory_close(e);
}

/* Two handles sharing one Redis: what one found, the other reads there. */
static void
test_redis_shared(void **state)
{
	(void)state;
	memset(&fake, 0, sizeof(fake));
	fake.on = 1;
	struct rg_directory *d1 = open_with("CacheTTL 60\nStaleTTL 600");
	struct rg_directory *d2 = open_with("CacheTTL 60\nStaleTTL 600");

	assert_string_equal(check(d1, "<john.doe@example.com>"), "ok ldap");
	assert_string_equal(check(d1, "<nobody@example.com>"), "unknown ldap");
	ldap_down = 1;
	assert_string_equal(check(d2, "<john.doe@example.com>"), "ok cache");
	assert_string_equal(check(d2, "<nobody@example.com>"), "unknown cache");
	/* Redis down: a miss, the directory (when up) answers */
	fake.down = 1;
	ldap_down = 0;
	assert_string_equal(check(d2, "<bob@example.com>"), "ok ldap");
	ldap_down = 1;
	assert_string_equal(check(d2, "<team@example.com>"), "tempfail ldap");
	rg_directory_close(d2);
	rg_directory_close(d1);
	memset(&fake, 0, sizeof(fake));
}

/* CacheTTL 0: the other handle finds the answer in Redis only as stale. */
static void
test_redis_stale(void **state)
{
	(void)state;
	memset(&fake, 0, sizeof(fake));
	fake.on = 1;
	struct rg_directory *d1 = open_with("CacheTTL 0\nNegativeCacheTTL 0\nStaleTTL 600");
	struct rg_directory *d2 = open_with("CacheTTL 0\nNegativeCacheTTL 0\nStaleTTL 600");

	assert_string_equal(check(d1, "<john.doe@example.com>"), "ok ldap");
	assert_string_equal(check(d1, "<leaver@example.com>"), "ok ldap");
	leaver_gone = 1;
	assert_string_equal(check(d1, "<leaver@example.com>"), "unknown ldap");
	ldap_down = 1;
	assert_string_equal(check(d2, "<john.doe@example.com>"), "ok stale");
	/* the negative answer deleted the positive one in Redis too */
	assert_string_equal(check(d2, "<leaver@example.com>"), "tempfail ldap");
	/* Redis down as well: nothing to go by */
	fake.down = 1;
	struct rg_directory *d3 = open_with("CacheTTL 0\nStaleTTL 600");
	ldap_down = 1;
	assert_string_equal(check(d3, "<john.doe@example.com>"), "tempfail ldap");
	rg_directory_close(d3);
	rg_directory_close(d2);
	rg_directory_close(d1);
	memset(&fake, 0, sizeof(fake));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_partial_result_freed),
		cmocka_unit_test(test_stale_found),
		cmocka_unit_test(test_fresh_before_stale),
		cmocka_unit_test(test_stale_off),
		cmocka_unit_test(test_negative_replaces_positive),
		cmocka_unit_test(test_stale_alias_and_subaddress),
		cmocka_unit_test(test_reload_keeps_cache),
		cmocka_unit_test(test_redis_shared),
		cmocka_unit_test(test_redis_stale),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
