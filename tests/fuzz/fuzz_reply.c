/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * fuzz_reply.c - libFuzzer target for the SMTP reply (rg_reply_build(),
 * rg_reply_percent(), rg_reply_format() in directory/rg_reply.c) and for the
 * log field of the recipient (rg_escape_text() with the milter's flags).
 *
 * Input: one byte of settings (answer, BrokenAliasAction, OnLookupFailure,
 * Postfix or Sendmail, MaxUnknownRecipients 1 or none, unknown recipients
 * already in the session), then the RCPT argument, a NUL byte, and the
 * suggestion.
 * Properties:
 *   - code and enhanced code are one of 550 5.1.1, 550 5.1.3, 451 4.3.0,
 *     421 4.7.0, and the one the answer and settings call for; a continue
 *     has no text, anything else has one or two lines;
 *   - no CR, LF, NUL, other control byte or 8-bit byte in a text;
 *   - after rg_reply_percent() every "%" is doubled, and undoing that gives
 *     the text back;
 *   - each line an SMTP client sees is at most 512 octets with its CR LF;
 *   - the log field of the recipient holds no space, "<", ">", "=", quote,
 *     control or 8-bit byte, and decodes back to the recipient (or a prefix
 *     of it, when cut).
 */
#include "fuzz.h"
#include "rg_address.h"
#include "rg_escape.h"
#include "rg_reply.h"

static void
check_texts(const struct rg_reply *r)
{
	for (int i = 0; i < r->nlines; i++) {
		char doubled[2 * RG_REPLY_TEXT_MAX + 1], undone[RG_REPLY_TEXT_MAX + 1];
		size_t u = 0;
		for (const unsigned char *p = (const unsigned char *)r->text[i]; *p; p++)
			PROPERTY(*p >= 0x20 && *p < 0x7f, "byte 0x%02x in a reply text", *p);
		PROPERTY(rg_reply_percent(r->text[i], doubled, sizeof(doubled)) == 0,
		    "no room to double %% in %s", r->text[i]);
		for (const char *p = doubled; *p; p++) {
			if (*p == '%') {
				PROPERTY(p[1] == '%', "a lone %% in %s", doubled);
				p++;
			}
			undone[u++] = *p;
		}
		undone[u] = '\0';
		PROPERTY(strcmp(undone, r->text[i]) == 0, "%%%% undone differs");
	}
}

static void
check_codes(const struct rg_reply *r, const struct rg_answer *ans, const struct rg_config *cf,
    const struct rg_reply_facts *f)
{
	if (r->action == RG_ACT_CONTINUE) {
		PROPERTY(r->nlines == 0 && r->code == NULL, "a continue with a text");
		return;
	}
	PROPERTY(r->nlines >= 1 && r->nlines <= 2, "%d lines", r->nlines);
	char both[16];
	snprintf(both, sizeof(both), "%s %s", r->code, r->xcode);
	PROPERTY(!strcmp(both, "550 5.1.1") || !strcmp(both, "550 5.1.3") ||
	    !strcmp(both, "550 5.1.6") || !strcmp(both, "550 5.2.1") ||
	    !strcmp(both, "451 4.3.0") || !strcmp(both, "451 4.4.6") ||
	    !strcmp(both, "421 4.7.0"), "code %s", both);
	if (ans->verdict == RG_V_TEMPFAIL)
		PROPERTY(!strcmp(both, "451 4.3.0"), "tempfail answered %s", both);
	if (ans->verdict == RG_V_OK || ans->verdict == RG_V_NOT_OURS)
		PROPERTY(0, "%s for a valid recipient", both);
	if (!strcmp(both, "421 4.7.0"))
		PROPERTY(cf->max_unknown > 0 && f->unknown_before + 1 > cf->max_unknown,
		    "421 under the limit");
}

static void
check_client_lines(const struct rg_reply *r, enum rg_mta mta, const char *rcpt)
{
	char out[4096];

	PROPERTY(rg_reply_format(r, mta, rcpt, out, sizeof(out)) == 0, "format failed");
	for (const char *p = out; *p;) {
		size_t n = strcspn(p, "\n");
		PROPERTY(n + 2 <= 512, "a line of %zu octets", n + 2);
		p += n + (p[n] == '\n');
	}
}

static void
check_log_field(const char *rcpt)
{
	char out[4 * 1024 + 1];
	size_t len = strlen(rcpt), n;

	n = rg_escape_text(rcpt, len, RG_ESC_FIELD | RG_ESC_SPACE | RG_ESC_8BIT, out, sizeof(out));
	PROPERTY(n == strlen(out), "length %zu, string %zu", n, strlen(out));
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)out[i];
		PROPERTY(ch > 0x20 && ch < 0x7f && ch != '<' && ch != '>' && ch != '=' &&
		    ch != '"', "byte 0x%02x in a log field", ch);
		if (ch == '\\') {
			PROPERTY(i + 3 < n + 1 && out[i + 1] == 'x', "a lone backslash");
			char hex[3] = { out[i + 2], out[i + 3], 0 };
			PROPERTY((char)strtol(hex, NULL, 16) == rcpt[k], "\\x%s is not the byte", hex);
			i += 3;
		} else {
			PROPERTY(ch == (unsigned char)rcpt[k], "a byte changed");
		}
		k++;
	}
	PROPERTY(k <= len, "more decoded than given");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	unsigned set = data[0];
	char *parts[2], *buf;
	fuzz_split(data + 1, size - 1, parts, 2, &buf);

	struct rg_config cf;
	struct rg_answer ans;
	struct rg_reply_facts f = { 0 };
	struct rg_reply r;
	memset(&cf, 0, sizeof(cf));
	memset(&ans, 0, sizeof(ans));
	/* every verdict; a moved one carries a plain address, as rg_check gives it */
	ans.verdict = (enum rg_verdict)(set % (RG_V_ALIAS_LOOP + 1));
	cf.broken_alias_action = (enum rg_broken_action)((set / (RG_V_ALIAS_LOOP + 1)) % 3);
	if (ans.verdict == RG_V_MOVED &&
	    rg_address_plain(parts[1], ans.moved_to, sizeof(ans.moved_to)) < 0)
		ans.verdict = RG_V_UNKNOWN;
	cf.on_lookup_failure = (set & 0x20) ? RG_FAIL_ACCEPT : RG_FAIL_TEMPFAIL;
	f.mta = (set & 0x40) ? RG_MTA_SENDMAIL : RG_MTA_POSTFIX;
	cf.max_unknown = (set & 0x80) ? 1 : 0;
	f.unknown_before = (set & 0x10) ? 1 : 0;
	f.may_suggest = 1;
	snprintf(ans.suggestion, sizeof(ans.suggestion), "%s", parts[1]);

	rg_reply_build(&cf, &ans, parts[0], &f, &r);
	check_codes(&r, &ans, &cf, &f);
	check_texts(&r);
	check_client_lines(&r, f.mta, parts[0]);
	check_log_field(parts[0]);
	free(buf);
	return 0;
}
