/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * test_reply.c - rg_reply_build() against a golden table.
 *
 * tests/unit/reply.in lists cases, one a line: the verdict of the answer,
 * the MTA, the settings that matter, the unknown recipients already in the
 * session, the suggestion, and the recipient as the MTA gave it.  For each
 * case the program writes what rcptguard answers (the milter action, the
 * texts handed to libmilter with "%" doubled, and the lines an SMTP client
 * sees) and the whole is compared with tests/unit/reply.ref, as Postfix
 * compares its drivers' output with .ref files.  `test_reply --print` writes
 * the output instead, to review a change and update the .ref file.
 *
 * Every text is also checked for what must never reach an SMTP client: a
 * byte outside printable ASCII, a single "%" in a libmilter text, a line
 * over 512 octets.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "rg_reply.h"

#ifndef TOP_SRCDIR
#define TOP_SRCDIR "."
#endif

/* Undo the \r \n \s \\ \xNN escapes of the .in file's recipient field. */
static void
unescape(const char *in, char *out, size_t outlen)
{
	size_t o = 0;

	while (*in && o + 1 < outlen) {
		if (in[0] == '\\' && in[1] == 'x' && in[2] && in[3]) {
			char hex[3] = { in[2], in[3], 0 };
			out[o++] = (char)strtol(hex, NULL, 16);
			in += 4;
		} else if (in[0] == '\\' && in[1]) {
			out[o++] = in[1] == 'r' ? '\r' : in[1] == 'n' ? '\n' :
			    in[1] == 's' ? ' ' : in[1];
			in += 2;
		} else {
			out[o++] = *in++;
		}
	}
	out[o] = '\0';
}

static enum rg_verdict
verdict_of(const char *s)
{
	static const char *const names[] = { "ok", "unknown", "tempfail", "not-ours",
	    "bad-address", "alias-broken", "moved", "disabled" };
	for (int i = 0; i < 8; i++)
		if (strcmp(s, names[i]) == 0)
			return (enum rg_verdict)i;
	fail_msg("unknown verdict %s", s);
	return RG_V_OK;
}

/*
 * The template after NAME= in the settings S (up to the next ",", with the
 * escapes of unescape()) into BUF; NULL when S has none.
 */
static char *
template_of(const char *s, const char *name, char *buf, size_t buflen)
{
	char key[32], raw[512];
	const char *p;

	snprintf(key, sizeof(key), "%s=", name);
	if ((p = strstr(s, key)) == NULL)
		return NULL;
	p += strlen(key);
	snprintf(raw, sizeof(raw), "%.*s", (int)strcspn(p, ","), p);
	unescape(raw, buf, buflen);
	return buf;
}

/* "broken=accept,fail=accept,max=3,nosuggest,reject=T,tempfail=T,suggest=T"
 * into CF and FACTS. */
static void
settings(const char *s, struct rg_config *cf, struct rg_reply_facts *facts)
{
	static char rt[512], tt[512], st[512];

	cf->reject_text = template_of(s, "reject", rt, sizeof(rt));
	cf->tempfail_text = template_of(s, "tempfail", tt, sizeof(tt));
	cf->suggest_text = template_of(s, "suggest", st, sizeof(st));
	cf->broken_alias_action = RG_BROKEN_REJECT;
	cf->on_lookup_failure = RG_FAIL_TEMPFAIL;
	cf->max_unknown = 20;
	facts->may_suggest = 1;
	if (strstr(s, "broken=accept"))
		cf->broken_alias_action = RG_BROKEN_ACCEPT;
	if (strstr(s, "broken=tempfail"))
		cf->broken_alias_action = RG_BROKEN_TEMPFAIL;
	if (strstr(s, "fail=accept"))
		cf->on_lookup_failure = RG_FAIL_ACCEPT;
	const char *m = strstr(s, "max=");
	if (m != NULL)
		cf->max_unknown = atoi(m + 4);
	if (strstr(s, "nosuggest"))
		facts->may_suggest = 0;
}

/* What must hold for every text, whatever the case. */
static void
check_safe(const struct rg_reply *r, const char *client)
{
	for (int i = 0; i < r->nlines; i++) {
		char doubled[2 * RG_REPLY_TEXT_MAX + 1];
		for (const unsigned char *p = (const unsigned char *)r->text[i]; *p; p++)
			assert_true(*p >= 0x20 && *p < 0x7f);
		assert_int_equal(rg_reply_percent(r->text[i], doubled, sizeof(doubled)), 0);
		for (const char *p = doubled; *p; p++)
			if (*p == '%')
				assert_int_equal(*++p, '%');
	}
	for (const char *p = client; *p;) {
		size_t n = strcspn(p, "\n");
		assert_true(n + 2 <= 512);
		p += n + 1;
	}
}

/* Run one case of the .in file, appending what it gives to OUT. */
static void
run_case(const char *line, FILE *out)
{
	char v[32], mta[16], set[512], sug[512], rcpt_in[2048], rcpt[2048];
	int before;

	if (sscanf(line, "%31s %15s %511s %d %511s %2047s", v, mta, set, &before, sug,
	    rcpt_in) != 6)
		fail_msg("bad case line: %s", line);
	struct rg_config cf;
	struct rg_reply_facts facts = { 0 };
	struct rg_answer ans;
	struct rg_reply r;
	memset(&cf, 0, sizeof(cf));
	memset(&ans, 0, sizeof(ans));
	settings(set, &cf, &facts);
	facts.mta = strcmp(mta, "sendmail") == 0 ? RG_MTA_SENDMAIL : RG_MTA_POSTFIX;
	facts.unknown_before = before;
	ans.verdict = verdict_of(v);
	/* for a moved recipient the column holds the new address */
	if (strcmp(sug, "-") != 0 && ans.verdict == RG_V_MOVED)
		unescape(sug, ans.moved_to, sizeof(ans.moved_to));
	else if (strcmp(sug, "-") != 0)
		unescape(sug, ans.suggestion, sizeof(ans.suggestion));
	unescape(rcpt_in, rcpt, sizeof(rcpt));
	rg_reply_build(&cf, &ans, rcpt, &facts, &r);

	char client[2048], sum[16];
	assert_int_equal(rg_reply_format(&r, facts.mta, rcpt, client, sizeof(client)), 0);
	check_safe(&r, client);
	fprintf(out, "%s", line);
	fprintf(out, "  action: %s%s\n", rg_reply_summary(&r, sum, sizeof(sum)),
	    r.counts_unknown ? " (counts as unknown)" : "");
	for (int i = 0; i < r.nlines; i++) {
		char doubled[2 * RG_REPLY_TEXT_MAX + 1];
		rg_reply_percent(r.text[i], doubled, sizeof(doubled));
		fprintf(out, "  milter: %s\n", doubled);
	}
	for (const char *p = client; *p;) {
		size_t n = strcspn(p, "\n");
		fprintf(out, "  client: %.*s\n", (int)n, p);
		p += n + (p[n] == '\n');
	}
}

/* The output for every case of the .in file, in a buffer the caller frees. */
static char *
run_all(void)
{
	FILE *in = fopen(TOP_SRCDIR "/tests/unit/reply.in", "r");
	char *buf = NULL, *line = NULL;
	size_t blen = 0, cap = 0;
	FILE *out = open_memstream(&buf, &blen);

	assert_non_null(in);
	assert_non_null(out);
	while (getline(&line, &cap, in) >= 0) {
		if (line[0] == '#' || line[0] == '\n')
			continue;
		run_case(line, out);
	}
	free(line);
	fclose(in);
	fclose(out);
	return buf;
}

static char *
read_file(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = NULL;
	size_t len = 0;

	if (f == NULL)
		return NULL;
	FILE *out = open_memstream(&buf, &len);
	int ch;
	while ((ch = getc(f)) != EOF)
		putc(ch, out);
	fclose(f);
	fclose(out);
	return buf;
}

static void
test_golden_table(void **state)
{
	(void)state;
	char *got = run_all();
	char *want = read_file(TOP_SRCDIR "/tests/unit/reply.ref");

	assert_non_null(want);
	if (strcmp(got, want) != 0) {
		/* show the first line that differs */
		size_t i = 0, start = 0;
		while (got[i] && got[i] == want[i]) {
			if (got[i] == '\n')
				start = i + 1;
			i++;
		}
		fail_msg("reply.ref differs at:\n  want: %.*s\n  got:  %.*s",
		    (int)strcspn(want + start, "\n"), want + start,
		    (int)strcspn(got + start, "\n"), got + start);
	}
	free(got);
	free(want);
}

static void
test_percent_bounds(void **state)
{
	char out[5];

	(void)state;
	assert_int_equal(rg_reply_percent("a%b", out, sizeof(out)), 0);
	assert_string_equal(out, "a%%b");
	assert_int_equal(rg_reply_percent("a%%", out, sizeof(out)), -1);
	assert_string_equal(out, "");
}

/* What a reply template may hold, and what it may not. */
static void
test_template_check(void **state)
{
	char why[RG_ERRLEN], long_text[300];

	(void)state;
	assert_int_equal(rg_reply_template_check(RG_REPLY_REJECT_TEXT, 0, why, sizeof(why)), 0);
	assert_int_equal(rg_reply_template_check(RG_REPLY_TEMPFAIL_TEXT, 0, why, sizeof(why)), 0);
	assert_int_equal(rg_reply_template_check(RG_REPLY_SUGGEST_TEXT, 1, why, sizeof(why)), 0);
	assert_int_equal(rg_reply_template_check("100%% sure: <%a> <%a>", 0, why,
	    sizeof(why)), 0);
	assert_int_equal(rg_reply_template_check("no address at all", 0, why, sizeof(why)), 0);
	static const struct {
		const char *text;
		int suggestion;
		const char *word;
	} bad[] = {
		{ "<%a>: unknown, ask %u", 0, "\"%u\"" },
		{ "<%a>: did you mean %s", 0, "\"%s\"" },
		{ "50%", 0, "\"% \"" },
		{ "%A", 1, "\"%A\"" },
		{ "tab\there", 0, "control character" },
		{ "line\r\n550 5.0.0 injected", 0, "control character" },
		{ "del\x7f", 0, "control character" },
		{ "j\xc3\xb6rg", 0, "non-ASCII" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why[0] = '\0';
		if (rg_reply_template_check(bad[i].text, bad[i].suggestion, why, sizeof(why)) == 0)
			fail_msg("accepted \"%s\"", bad[i].text);
		if (strstr(why, bad[i].word) == NULL)
			fail_msg("\"%s\": message \"%s\" does not mention %s", bad[i].text, why,
			    bad[i].word);
	}
	/* each address keeps 40 characters of the 240 of a line */
	memset(long_text, 'x', sizeof(long_text));
	snprintf(long_text + 200, sizeof(long_text) - 200, "%%a");
	assert_int_equal(rg_reply_template_check(long_text, 0, why, sizeof(why)), 0);
	long_text[200] = 'x';
	snprintf(long_text + 201, sizeof(long_text) - 201, "%%a");
	assert_int_equal(rg_reply_template_check(long_text, 0, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "too long"));
}

int
main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "--print") == 0) {
		char *got = run_all();
		fputs(got, stdout);
		free(got);
		return 0;
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_golden_table),
		cmocka_unit_test(test_percent_bounds),
		cmocka_unit_test(test_template_check),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
