/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * test_alert.c - what rg_alert() says when AlertLog cannot be written.
 *
 * A short write (the file size limit met half-way through a line) sets no
 * errno: the message must say "short write", not the text of whatever errno
 * held before.  A failed open names the system's reason.  The messages go to
 * standard error (rg_log), which the test reads back through a pipe.
 *
 * An alert whose fields are long (a DN of 3,000 bytes, an alias of 1,000
 * bytes of control characters, each six bytes once escaped) still gets its
 * one line, whole.
 *
 * Over a fake Redis (rg_redis_with()) shared by two alerters, as by two
 * MTAs: the first raises an alert, with one stream entry carrying its
 * fields; the second does not repeat it (SET NX found the key); with Redis
 * down, an alert is still raised.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>
#include <cmocka.h>

#include "rg_alert.h"
#include "rg_log.h"
#include "rg_redis.h"

static char dir[64];

static int
setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/rgunit.XXXXXX");
	if (mkdtemp(dir) == NULL)
		return -1;
	rg_log_open("test_alert", 0, 0, 1);
	signal(SIGXFSZ, SIG_IGN);
	return 0;
}

static int
teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static struct rg_config *
config_with_alert_log(const char *alert_log)
{
	char path[128], err[RG_ERRLEN];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/rcptguard.conf", dir);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fprintf(fp, "Domains example.com\nLDAPURI ldap://127.0.0.1:1\n"
	    "LDAPBase dc=example,dc=com\nAlertInterval 0\nAlertLog %s\n", alert_log);
	fclose(fp);
	struct rg_config *cf = rg_config_load(path, err, sizeof(err));
	if (cf == NULL)
		fail_msg("%s", err);
	return cf;
}

/* Raise one alert with ERRNO_BEFORE in errno; what went to stderr, in OUT. */
static void
alert_and_capture(struct rg_alerter *a, int errno_before, char *out, size_t outlen)
{
	int p[2], saved = dup(2);

	assert_int_equal(pipe(p), 0);
	fflush(stderr);
	dup2(p[1], 2);
	close(p[1]);
	errno = errno_before;
	rg_alert(a, "team@example.com", RG_AP_DANGLING, "gone@example.com",
	    "cn=team,dc=example,dc=com");
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	ssize_t n = read(p[0], out, outlen - 1);
	out[n > 0 ? n : 0] = '\0';
	close(p[0]);
}

static void
test_short_write(void **state)
{
	(void)state;
	char path[128], out[4096], want[256];
	struct rlimit old, lim;

	snprintf(path, sizeof(path), "%s/alerts.log", dir);
	struct rg_config *cf = config_with_alert_log(path);
	struct rg_alerter *a = rg_alert_new(cf, NULL);
	assert_non_null(a);
	/* 1000 bytes there already, a limit of 1024: 24 bytes of the line fit */
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	char fill[1000];
	memset(fill, 'x', sizeof(fill));
	assert_int_equal(write(fd, fill, sizeof(fill)), (ssize_t)sizeof(fill));
	close(fd);
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = old;
	lim.rlim_cur = 1024;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	alert_and_capture(a, EACCES, out, sizeof(out));
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	snprintf(want, sizeof(want), "AlertLog %s: short write (24 of ", path);
	if (strstr(out, want) == NULL)
		fail_msg("expected \"%s\" in: %s", want, out);
	assert_null(strstr(out, strerror(EACCES)));
	rg_alert_free(a);
	rg_config_free(cf);
}

static void
test_long_fields(void **state)
{
	(void)state;
	char path[128], dn[3001], alias[1001 + 16];
	static char line[64 * 1024];

	snprintf(path, sizeof(path), "%s/long.log", dir);
	struct rg_config *cf = config_with_alert_log(path);
	struct rg_alerter *a = rg_alert_new(cf, NULL);
	assert_non_null(a);
	memset(dn, 'd', sizeof(dn) - 1);
	memcpy(dn, "cn=", 3);
	dn[sizeof(dn) - 1] = '\0';
	memset(alias, '\001', 1000);
	strcpy(alias + 1000, "@example.com");
	assert_int_equal(rg_alert(a, alias, RG_AP_DANGLING, "gone@example.com", dn), 1);
	FILE *fp = fopen(path, "r");
	assert_non_null(fp);
	size_t n = fread(line, 1, sizeof(line) - 1, fp);
	fclose(fp);
	line[n] = '\0';
	/* one line, ending in a newline, holding the whole DN and every escape */
	assert_true(n > 9000);
	assert_int_equal(line[n - 1], '\n');
	assert_ptr_equal(strchr(line, '\n'), line + n - 1);
	assert_non_null(strstr(line, dn));
	assert_non_null(strstr(line, "\\u0001\\u0001"));
	assert_non_null(strstr(line, "\"problem\":\"dangling-target\""));
	rg_alert_free(a);
	rg_config_free(cf);
}

static void
test_open_fails(void **state)
{
	(void)state;
	char path[128], out[4096], want[256];

	snprintf(path, sizeof(path), "%s/no/such/folder/alerts.log", dir);
	struct rg_config *cf = config_with_alert_log(path);
	struct rg_alerter *a = rg_alert_new(cf, NULL);
	assert_non_null(a);
	alert_and_capture(a, 0, out, sizeof(out));
	snprintf(want, sizeof(want), "AlertLog %s: No such file or directory", path);
	if (strstr(out, want) == NULL)
		fail_msg("expected \"%s\" in: %s", want, out);
	rg_alert_free(a);
	rg_config_free(cf);
}

/* ---- a fake Redis: the keys set with NX, the last stream entry ---- */

static struct {
	int down;
	char nx_keys[8][128];
	size_t nkeys;
	int seconds;            /* EX of the last SET NX */
	int xadds;
	char entry[1024];       /* the last entry's fields, "k=v k=v" */
} fake;

static enum rg_redis_status
fake_set(void *arg, const char *key, const char *value, int seconds, int nx, char *why,
    size_t whylen)
{
	(void)arg; (void)value;
	assert_true(nx);
	if (fake.down) {
		snprintf(why, whylen, "Connection refused");
		return RG_REDIS_FAILED;
	}
	for (size_t i = 0; i < fake.nkeys; i++)
		if (strcmp(fake.nx_keys[i], key) == 0)
			return RG_REDIS_MISS;
	assert_true(fake.nkeys < 8);
	snprintf(fake.nx_keys[fake.nkeys++], sizeof(fake.nx_keys[0]), "%s", key);
	fake.seconds = seconds;
	return RG_REDIS_OK;
}

static enum rg_redis_status
fake_xadd(void *arg, const char *stream, int maxlen, const char *const *fields,
    size_t nfields, char *why, size_t whylen)
{
	(void)arg;
	if (fake.down) {
		snprintf(why, whylen, "Connection refused");
		return RG_REDIS_FAILED;
	}
	assert_string_equal(stream, RG_ALERT_STREAM);
	assert_int_equal(maxlen, RG_ALERT_STREAM_MAX);
	fake.xadds++;
	fake.entry[0] = '\0';
	for (size_t i = 0; i + 1 < nfields; i += 2) {
		size_t len = strlen(fake.entry);
		snprintf(fake.entry + len, sizeof(fake.entry) - len, "%s%s=%s", len ? " " : "",
		    fields[i], fields[i + 1]);
	}
	return RG_REDIS_OK;
}

static const struct rg_redis_backend fake_backend = {
	.set = fake_set,
	.xadd = fake_xadd,
};

static void
test_shared_through_redis(void **state)
{
	(void)state;
	char path[128], err[RG_ERRLEN], host[256] = "", want[1024];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/interval.conf", dir);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fprintf(fp, "Domains example.com\nLDAPURI ldap://127.0.0.1:1\n"
	    "LDAPBase dc=example,dc=com\nAlertInterval 600\n");
	fclose(fp);
	struct rg_config *cf = rg_config_load(path, err, sizeof(err));
	if (cf == NULL)
		fail_msg("%s", err);
	struct rg_cache *c1 = rg_cache_new_with(cf, rg_redis_with(&fake_backend, NULL));
	struct rg_cache *c2 = rg_cache_new_with(cf, rg_redis_with(&fake_backend, NULL));
	assert_non_null(c1);
	assert_non_null(c2);
	struct rg_alerter *a1 = rg_alert_new(cf, c1), *a2 = rg_alert_new(cf, c2);
	assert_non_null(a1);
	assert_non_null(a2);
	memset(&fake, 0, sizeof(fake));

	assert_int_equal(rg_alert(a1, "team@example.com", RG_AP_DANGLING, "gone@example.com",
	    "cn=team,dc=example,dc=com"), 1);
	assert_int_equal(fake.nkeys, 1);
	assert_int_equal(fake.seconds, 600);
	assert_true(strncmp(fake.nx_keys[0], "rcptguard:alert:", 16) == 0);
	assert_int_equal(fake.xadds, 1);
	gethostname(host, sizeof(host) - 1);
	snprintf(want, sizeof(want), " alias=team@example.com problem=%s target=gone@example.com "
	    "dn=cn=team,dc=example,dc=com host=%s", rg_alias_problem_name(RG_AP_DANGLING), host);
	if (strncmp(fake.entry, "time=", 5) != 0 || strstr(fake.entry, want) == NULL)
		fail_msg("stream entry: %s", fake.entry);
	/* the other MTA: seen already */
	assert_int_equal(rg_alert(a2, "team@example.com", RG_AP_DANGLING, "gone@example.com",
	    "cn=team,dc=example,dc=com"), 0);
	assert_int_equal(fake.xadds, 1);
	/* Redis down: raised all the same */
	fake.down = 1;
	assert_int_equal(rg_alert(a2, "devs@example.com", RG_AP_DANGLING, "gone@example.com",
	    "cn=devs,dc=example,dc=com"), 1);
	rg_alert_free(a2);
	rg_alert_free(a1);
	rg_cache_free(c2);
	rg_cache_free(c1);
	rg_config_free(cf);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_short_write),
		cmocka_unit_test(test_open_fails),
		cmocka_unit_test(test_long_fields),
		cmocka_unit_test(test_shared_through_redis),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
