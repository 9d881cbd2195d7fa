/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * rg_reply.c - the SMTP reply for one recipient, built in one place.
 *
 *	ok, not ours            continue
 *	unknown                 550 5.1.1 <ADDR>: Recipient address rejected: User unknown
 *	                        [550 5.1.1 Did you mean <SUGGESTION>?]
 *	bad address syntax      550 5.1.3 Recipient address rejected: Bad address syntax
 *	alias, no live target   as unknown (BrokenAliasAction reject), 451 4.3.0
 *	                        (tempfail) or continue (accept)
 *	could not tell          451 4.3.0 <ADDR>: Temporary lookup failure, or
 *	                        continue with OnLookupFailure accept
 *	one unknown too many    421 4.7.0 Error: too many unknown recipients
 *	client over HarvestLimit 421 4.7.0 Too many unknown recipients from IP
 *	                        (every recipient, known or not)
 *
 * Through Sendmail the 550 text leaves the address out: Sendmail puts
 * "<ADDR>... " in front of the first line of a 550 itself, but not of a 451.
 * Parameters read: BrokenAliasAction, OnLookupFailure, MaxUnknownRecipients.
 */
#include "rg_reply.h"

#include <stdio.h>
#include <string.h>

/* Room for the address in a text line, beside the longest fixed wording. */
#define SHOWN_MAX (RG_REPLY_TEXT_MAX - 60)

/*
 * The address as the client wrote it, without angle brackets, made safe
 * for a reply line: printable ASCII only ("?" for anything else), cut with
 * "..." when longer than SHOWN_MAX.
 */
static void
shown_address(const char *rcpt, char *out, size_t outlen)
{
	size_t n = strlen(rcpt), o = 0;

	if (n >= 2 && rcpt[0] == '<' && rcpt[n - 1] == '>') {
		rcpt++;
		n -= 2;
	}
	size_t max = outlen - 1 < SHOWN_MAX ? outlen - 1 : SHOWN_MAX;
	int cut = n > max;
	if (cut)
		n = max - 3;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)rcpt[i];
		out[o++] = ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
	}
	if (cut)
		for (int k = 0; k < 3; k++)
			out[o++] = '.';
	out[o] = '\0';
}

static void
set(struct rg_reply *r, enum rg_action action, const char *code, const char *xcode)
{
	r->action = action;
	r->code = code;
	r->xcode = xcode;
}

static void
tempfail(struct rg_reply *r, const char *shown)
{
	set(r, RG_ACT_TEMPFAIL, "451", "4.3.0");
	snprintf(r->text[0], sizeof(r->text[0]), "<%s>: Temporary lookup failure", shown);
	r->nlines = 1;
}

/* The 550 for an address that cannot receive mail, with "Did you mean". */
static void
unknown(struct rg_reply *r, const struct rg_answer *ans, const char *shown,
    const struct rg_reply_facts *facts)
{
	set(r, RG_ACT_REJECT, "550", "5.1.1");
	if (facts->mta == RG_MTA_SENDMAIL)
		snprintf(r->text[0], sizeof(r->text[0]),
		    "Recipient address rejected: User unknown");
	else
		snprintf(r->text[0], sizeof(r->text[0]),
		    "<%s>: Recipient address rejected: User unknown", shown);
	r->nlines = 1;
	if (ans->suggestion[0] != '\0' && facts->may_suggest) {
		char sug[SHOWN_MAX + 1];
		shown_address(ans->suggestion, sug, sizeof(sug));
		snprintf(r->text[1], sizeof(r->text[1]), "Did you mean <%s>?", sug);
		r->nlines = 2;
	}
}

void
rg_reply_build(const struct rg_config *cf, const struct rg_answer *ans,
    const char *rcpt, const struct rg_reply_facts *facts, struct rg_reply *r)
{
	char shown[SHOWN_MAX + 1];

	memset(r, 0, sizeof(*r));
	set(r, RG_ACT_CONTINUE, NULL, NULL);
	shown_address(rcpt, shown, sizeof(shown));
	if (facts->harvest_over != NULL) {
		char ip[SHOWN_MAX + 1];
		shown_address(facts->harvest_over, ip, sizeof(ip));
		set(r, RG_ACT_TEMPFAIL, "421", "4.7.0");
		snprintf(r->text[0], sizeof(r->text[0]), "Too many unknown recipients from %s", ip);
		r->nlines = 1;
		return;
	}
	switch (ans->verdict) {
	case RG_V_OK:
	case RG_V_NOT_OURS:
		return;
	case RG_V_TEMPFAIL:
		if (cf->on_lookup_failure != RG_FAIL_ACCEPT)
			tempfail(r, shown);
		return;
	case RG_V_ALIAS_BROKEN:
		if (cf->broken_alias_action == RG_BROKEN_ACCEPT)
			return;
		if (cf->broken_alias_action == RG_BROKEN_TEMPFAIL) {
			tempfail(r, shown);
			return;
		}
		break;
	case RG_V_UNKNOWN:
	case RG_V_BAD_ADDRESS:
		break;
	}
	r->counts_unknown = 1;
	if (cf->max_unknown > 0 && facts->unknown_before + 1 > cf->max_unknown) {
		set(r, RG_ACT_TEMPFAIL, "421", "4.7.0");
		snprintf(r->text[0], sizeof(r->text[0]), "Error: too many unknown recipients");
		r->nlines = 1;
	} else if (ans->verdict == RG_V_BAD_ADDRESS) {
		set(r, RG_ACT_REJECT, "550", "5.1.3");
		snprintf(r->text[0], sizeof(r->text[0]),
		    "Recipient address rejected: Bad address syntax");
		r->nlines = 1;
	} else {
		unknown(r, ans, shown, facts);
	}
}

const char *
rg_reply_summary(const struct rg_reply *r, char *buf, size_t buflen)
{
	if (r->action == RG_ACT_CONTINUE)
		return "continue";
	snprintf(buf, buflen, "%s %s", r->code, r->xcode);
	return buf;
}

int
rg_reply_percent(const char *text, char *out, size_t outlen)
{
	size_t o = 0;

	for (; *text; text++) {
		if (o + (*text == '%' ? 2 : 1) >= outlen) {
			if (outlen > 0)
				out[0] = '\0';
			return -1;
		}
		if (*text == '%')
			out[o++] = '%';
		out[o++] = *text;
	}
	if (outlen == 0)
		return -1;
	out[o] = '\0';
	return 0;
}

/* Append to OUT what snprintf makes of FMT; -1 when it does not fit. */
static int
append(char *out, size_t outlen, size_t *o, const char *fmt, const char *a,
    const char *b, const char *c)
{
	int n = snprintf(out + *o, outlen - *o, fmt, a, b, c);

	if (n < 0 || (size_t)n >= outlen - *o)
		return -1;
	*o += (size_t)n;
	return 0;
}

int
rg_reply_format(const struct rg_reply *r, enum rg_mta mta, const char *rcpt,
    char *out, size_t outlen)
{
	char shown[SHOWN_MAX + 1], prefix[SHOWN_MAX + 8] = "";
	size_t o = 0;

	if (outlen == 0)
		return -1;
	out[0] = '\0';
	shown_address(rcpt, shown, sizeof(shown));
	if (mta == RG_MTA_SENDMAIL)
		snprintf(prefix, sizeof(prefix), "<%s>... ", shown);
	if (r->action == RG_ACT_CONTINUE)
		return append(out, outlen, &o, "250 2.1.5 %s%s%s\n", prefix,
		    mta == RG_MTA_SENDMAIL ? "Recipient ok" : "Ok", "");
	if (strcmp(r->code, "550") != 0)
		prefix[0] = '\0';
	for (int i = 0; i < r->nlines; i++) {
		char head[16];
		snprintf(head, sizeof(head), "%s%c%s ", r->code,
		    i + 1 < r->nlines ? '-' : ' ', r->xcode);
		if (append(out, outlen, &o, "%s%s%s\n", head, i == 0 ? prefix : "",
		    r->text[i]) < 0) {
			out[0] = '\0';
			return -1;
		}
	}
	return 0;
}
