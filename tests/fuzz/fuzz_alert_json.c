/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * fuzz_alert_json.c - libFuzzer target for the JSON that rcptguard writes:
 * rg_escape_json() (directory/rg_log.c) and the AlertLog line of
 * rg_alert() (directory/rg_alert.c), written to a real file (a memfd,
 * opened by its /proc/self/fd path).
 *
 * Input: alias, problem, target, dn separated by NUL bytes (the problem is
 * one of the alias model's, picked by the field's first byte); the first
 * byte of the input also sizes the buffer handed to rg_escape_json().
 * Properties:
 *   - rg_escape_json() stays inside its buffer (an exact-size heap buffer),
 *     returns 0 whenever the escaped text plus 8 bytes fits, and then writes
 *     one strict JSON string that decodes to the input byte for byte; on -1
 *     the buffer holds "" (when it has room for at least 3 bytes);
 *   - every AlertLog line is exactly one line (one "\n", at the end), a
 *     strict JSON object of strings with the members time, alias, problem,
 *     [target,] dn, host, whose values decode to the alert's fields;
 *   - the line is written whenever the fields are of a size rcptguard can
 *     meet (alias and target up to 150 bytes, dn up to
 *     300, any bytes);
 *   - for fields that are valid UTF-8 the output is valid UTF-8 (RFC 8259
 *     JSON); other bytes >= 0x80 pass through unchanged (not checked).
 */
#include "fuzz.h"
#include "json.h"
#include "rg_alert.h"
#include "rg_config.h"
#include "rg_escape.h"
#include "rg_log.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static char alert_path[64];
static int alert_fd;
static struct rg_config *cf;
static struct rg_alerter *alerter;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char conf[64], err[RG_ERRLEN], text[256];
	int fd;

	(void)argc; (void)argv;
	/* memory files, reached by paths: nothing to clean up at exit */
	if ((alert_fd = memfd_create("alerts.json", 0)) < 0 ||
	    (fd = memfd_create("rcptguard.conf", 0)) < 0)
		abort();
	snprintf(alert_path, sizeof(alert_path), "/proc/self/fd/%d", alert_fd);
	snprintf(conf, sizeof(conf), "/proc/self/fd/%d", fd);
	int n = snprintf(text, sizeof(text), "Domains example.com\nLDAPURI ldap://127.0.0.1:1\n"
	    "LDAPBase dc=example,dc=com\nAlertLog %s\nAlertInterval 0\n", alert_path);
	if (write(fd, text, (size_t)n) != n)
		abort();
	if ((cf = rg_config_load(conf, err, sizeof(err))) == NULL) {
		fprintf(stderr, "%s\n", err);
		abort();
	}
	close(fd);
	rg_log_open("fuzz", 0, LOG_MAIL, 0);
	if ((alerter = rg_alert_new(cf, NULL)) == NULL)
		abort();
	return 0;
}

/* The length of S as rg_escape_json() escapes it, quotes included. */
static size_t
escaped_len(const char *s)
{
	size_t n = 2;

	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		n += *p == '"' || *p == '\\' ? 2 : *p < 0x20 || *p == 0x7f ? 6 : 1;
	return n;
}

static void
check_json_string(const char *s, size_t outlen)
{
	char *out = malloc(outlen), *dec = malloc(outlen + 1);
	size_t need = escaped_len(s);

	if (out == NULL || dec == NULL)
		abort();
	int rc = rg_escape_json(s, out, outlen);
	if (need + 8 <= outlen)
		PROPERTY(rc == 0, "rg_escape_json refused %zu bytes into %zu", need, outlen);
	if (rc == 0) {
		size_t n = strnlen(out, outlen);
		PROPERTY(n == need, "escaped length %zu, expected %zu", n, need);
		const char *p = out;
		long dl = json_string(&p, out + n, dec);
		PROPERTY(dl >= 0 && p == out + n, "not one JSON string: %s", out);
		PROPERTY((size_t)dl == strlen(s) && memcmp(dec, s, (size_t)dl) == 0,
		    "JSON string %s does not decode to the input", out);
		if (fuzz_utf8(s, strlen(s)))
			PROPERTY(fuzz_utf8(out, n), "UTF-8 input, non-UTF-8 output");
	} else if (outlen >= 3) {
		/* (below 3 bytes it returns -1 without touching OUT; no caller
		 * passes so small a buffer) */
		PROPERTY(out[0] == '\0', "refused, but the buffer is not \"\"");
	}
	free(out);
	free(dec);
}

struct expect {
	const char *f[4];       /* alias, problem, target, dn */
	int seen[6];
};

static void
member(void *arg, const char *key, const char *val, size_t vlen)
{
	static const char *const names[6] = { "alias", "problem", "target", "dn", "time", "host" };
	struct expect *e = arg;

	for (int i = 0; i < 6; i++) {
		if (strcmp(key, names[i]) != 0)
			continue;
		PROPERTY(!e->seen[i], "member %s twice", key);
		e->seen[i] = 1;
		if (i < 4)
			PROPERTY(vlen == strlen(e->f[i]) && memcmp(val, e->f[i], vlen) == 0,
			    "member %s does not decode to the field", key);
		return;
	}
	PROPERTY(0, "unexpected member %s", key);
}

static void
check_alert(char **f)
{
	/* the problem is one of the alias model's: chosen by the field's first byte */
	enum rg_alias_problem prob = (enum rg_alias_problem)((unsigned char)f[1][0] % RG_AP_COUNT);
	const char *pname = rg_alias_problem_name(prob);
	struct expect e = { { f[0], pname, f[2], f[3] }, { 0 } };
	static char buf[1 << 16], kbuf[1 << 16], vbuf[1 << 16];
	ssize_t n;

	if (ftruncate(alert_fd, 0) != 0)
		abort();
	PROPERTY(rg_alert(alerter, f[0], prob, f[2], f[3]) == 1, "alert suppressed");
	n = pread(alert_fd, buf, sizeof(buf), 0);
	if (n <= 0) {
		PROPERTY(strlen(f[0]) > 150 || strlen(f[2]) > 150 ||
		    strlen(f[3]) > 300, "no AlertLog line for fields that fit");
		return;
	}
	PROPERTY(buf[n - 1] == '\n' && memchr(buf, '\n', (size_t)n - 1) == NULL,
	    "AlertLog entry is not one line");
	long m = json_object(buf, (size_t)n - 1, member, &e, kbuf, vbuf);
	PROPERTY(m >= 0, "AlertLog line is not a JSON object: %.*s", (int)n, buf);
	PROPERTY(e.seen[0] && e.seen[1] && e.seen[3] && e.seen[4] && e.seen[5] &&
	    e.seen[2] == (f[2][0] != '\0'), "members missing from %.*s", (int)n, buf);
	int utf8 = 1;
	for (int i = 0; i < 4; i++)
		utf8 &= i == 1 || fuzz_utf8(f[i], strlen(f[i]));
	if (utf8)
		PROPERTY(fuzz_utf8(buf, (size_t)n), "UTF-8 fields, non-UTF-8 line");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *f[4], *buf;

	if (size < 1 || size > 8192)
		return 0;
	fuzz_split(data + 1, size - 1, f, 4, &buf);
	for (int i = 0; i < 4; i++)
		check_json_string(f[i], 1 + data[0] + (i == 3 ? 6 * strlen(f[i]) : 0));
	check_alert(f);
	free(buf);
	return 0;
}
