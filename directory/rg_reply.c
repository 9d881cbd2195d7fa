/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * rg_reply.c - the SMTP reply for one recipient, built in one place.
 *
 *	ok, not ours            continue
 *	unknown                 550 5.1.1 <ADDR>: Recipient address rejected: User unknown
 *	                        [550 5.1.1 Did you mean <SUGGESTION>?]
 *	bad address syntax      550 5.1.3 Recipient address rejected: Bad address syntax
 *	moved (LDAPMovedToAttribute)
 *	                        550 5.1.6 <ADDR>: Recipient address rejected: User has
 *	                        moved to <NEW>  (as Postfix's relocated(5) table)
 *	disabled, with DisabledReply disabled
 *	                        550 5.2.1 <ADDR>: Recipient address rejected: Mailbox disabled
 *	alias, no live target   as unknown (BrokenAliasAction reject), 451 4.3.0
 *	                        (tempfail) or continue (accept)
 *	alias loop              451 4.4.6 <ADDR>: Alias loop (whatever else lives)
 *	could not tell          451 4.3.0 <ADDR>: Temporary lookup failure, or
 *	                        continue with OnLookupFailure accept
 *	one unknown too many    421 4.7.0 Error: too many unknown recipients
 *	client over HarvestLimit 421 4.7.0 Too many unknown recipients from IP
 *	                        (every recipient, known or not)
 *
 * The texts of the 550 5.1.1, of the "Did you mean" line and of the 451
 * 4.3.0 come from RejectText, SuggestText and TempfailText ("%a" the
 * recipient, "%s" the suggestion, "%%" a percent sign); the codes and the
 * enhanced codes stay as they are.  Each address a template shows gets what
 * the line leaves it, at most SHOWN_MAX characters.
 *
 * Through Sendmail the 550 text leaves the address out: Sendmail puts
 * "<ADDR>... " in front of the first line of a 550 itself, but not of a 451;
 * so a RejectText that begins with "<%a>: " loses that beginning there.
 * The 5.1.6 and 5.2.1 texts are fixed (the first as Postfix words it), lose
 * "<ADDR>: " through Sendmail the same way, and count as unknown
 * recipients; the new address is shown whole, the recipient gets what the
 * line leaves.
 * Parameters read: BrokenAliasAction, OnLookupFailure, MaxUnknownRecipients,
 * RejectText, TempfailText, SuggestText.
 */
#include "rg_reply.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Room for the address in a text line, beside the longest fixed wording. */
#define SHOWN_MAX (RG_REPLY_TEXT_MAX - 60)
/* Room a template leaves each address it shows, at least. */
#define TEMPLATE_ROOM 40
/* What Sendmail writes itself in front of a 550 (see above). */
#define SENDMAIL_LEAD "<%a>: "

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
seterr(char *why, size_t whylen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, whylen, fmt, ap);
	va_end(ap);
}

/*
 * The fixed characters of template T and the number of addresses in it,
 * into *FIXED and *SLOTS.  Returns 0, or -1 at the first "%" sequence that
 * is not "%a", "%%" or (with SUGGESTION) "%s", with why saying so.
 */
static int
template_measure(const char *t, int suggestion, size_t *fixed, size_t *slots, char *why,
    size_t whylen)
{
	*fixed = *slots = 0;
	for (const char *p = t; *p; p++) {
		unsigned char ch = (unsigned char)*p;
		if (ch < 0x20 || ch >= 0x7f) {
			seterr(why, whylen, "holds a %s (byte 0x%02x): reply texts are printable ASCII",
			    ch < 0x20 || ch == 0x7f ? "control character" : "non-ASCII byte", ch);
			return -1;
		}
		if (ch != '%') {
			(*fixed)++;
			continue;
		}
		if (p[1] == '%') {
			(*fixed)++;
		} else if (p[1] == 'a' || (p[1] == 's' && suggestion)) {
			(*slots)++;
		} else {
			seterr(why, whylen, "\"%%%c\" is not one of %s%%%%", p[1] ? p[1] : ' ',
			    suggestion ? "%a %s " : "%a ");
			return -1;
		}
		p++;
	}
	return 0;
}

int
rg_reply_template_check(const char *text, int suggestion, char *why, size_t whylen)
{
	size_t fixed, slots;

	if (template_measure(text, suggestion, &fixed, &slots, why, whylen) < 0)
		return -1;
	if (fixed + slots * TEMPLATE_ROOM > RG_REPLY_TEXT_MAX) {
		seterr(why, whylen, "is too long: its text and %d characters for each address in "
		    "it must fit in %d", TEMPLATE_ROOM, RG_REPLY_TEXT_MAX);
		return -1;
	}
	return 0;
}

/*
 * Expand template T (checked by rg_reply_template_check()) into OUT (one
 * text line): "%a" is RCPT, "%s" SUGGESTION, each made safe by
 * shown_address() and cut to its share of the line.
 */
static void
expand(const char *t, const char *rcpt, const char *suggestion, char *out)
{
	size_t fixed = 0, slots = 0, o = 0;
	char why[8];

	if (template_measure(t, 1, &fixed, &slots, why, sizeof(why)) < 0 ||
	    fixed + slots * TEMPLATE_ROOM > RG_REPLY_TEXT_MAX) {
		out[0] = '\0';          /* not checked: never from a loaded configuration */
		return;
	}
	size_t room = slots ? (RG_REPLY_TEXT_MAX - fixed) / slots : 0;
	if (room > SHOWN_MAX)
		room = SHOWN_MAX;
	for (const char *p = t; *p; p++) {
		if (*p != '%') {
			out[o++] = *p;
			continue;
		}
		p++;
		if (*p == '%') {
			out[o++] = '%';
			continue;
		}
		char shown[SHOWN_MAX + 1];
		shown_address(*p == 'a' ? rcpt : suggestion, shown, room + 1);
		memcpy(out + o, shown, strlen(shown));
		o += strlen(shown);
	}
	out[o] = '\0';
}

/* TEXT, or DEF when the configuration has none (a configuration made by hand). */
static const char *
text_or(const char *text, const char *def)
{
	return text != NULL ? text : def;
}

static void
tempfail(struct rg_reply *r, const struct rg_config *cf, const char *rcpt)
{
	set(r, RG_ACT_TEMPFAIL, "451", "4.3.0");
	expand(text_or(cf->tempfail_text, RG_REPLY_TEMPFAIL_TEXT), rcpt, "", r->text[0]);
	r->nlines = 1;
}

/* TEXT, without the "<ADDR>: " Sendmail writes itself when it goes there. */
static const char *
for_mta(const char *t, const struct rg_reply_facts *facts)
{
	if (facts->mta == RG_MTA_SENDMAIL && strncmp(t, SENDMAIL_LEAD, strlen(SENDMAIL_LEAD)) == 0)
		t += strlen(SENDMAIL_LEAD);
	return t;
}

/* The 550 5.1.6 for a person who left, naming the new address (checked by
 * rg_check: a plain address of at most RG_MOVED_MAX characters). */
static void
moved(struct rg_reply *r, const struct rg_answer *ans, const char *rcpt,
    const struct rg_reply_facts *facts)
{
	const char *tail = "Recipient address rejected: User has moved to ";
	char shown[SHOWN_MAX + 1];
	size_t fixed = strlen(tail) + strlen(ans->moved_to) + 2 + 4;

	set(r, RG_ACT_REJECT, "550", "5.1.6");
	r->nlines = 1;
	if (facts->mta == RG_MTA_SENDMAIL) {
		snprintf(r->text[0], sizeof(r->text[0]), "%s<%s>", tail, ans->moved_to);
		return;
	}
	size_t room = fixed < RG_REPLY_TEXT_MAX ? RG_REPLY_TEXT_MAX - fixed : 4;
	shown_address(rcpt, shown, (room < SHOWN_MAX ? room : SHOWN_MAX) + 1);
	snprintf(r->text[0], sizeof(r->text[0]), "<%s>: %s<%s>", shown, tail, ans->moved_to);
}

/* The 550 for an address that cannot receive mail, with "Did you mean". */
static void
unknown(struct rg_reply *r, const struct rg_config *cf, const struct rg_answer *ans,
    const char *rcpt, const struct rg_reply_facts *facts)
{
	const char *t = for_mta(text_or(cf->reject_text, RG_REPLY_REJECT_TEXT), facts);

	set(r, RG_ACT_REJECT, "550", "5.1.1");
	expand(t, rcpt, "", r->text[0]);
	r->nlines = 1;
	if (ans->suggestion[0] != '\0' && facts->may_suggest) {
		expand(text_or(cf->suggest_text, RG_REPLY_SUGGEST_TEXT), rcpt, ans->suggestion,
		    r->text[1]);
		r->nlines = 2;
	}
}

void
rg_reply_build(const struct rg_config *cf, const struct rg_answer *ans,
    const char *rcpt, const struct rg_reply_facts *facts, struct rg_reply *r)
{
	memset(r, 0, sizeof(*r));
	set(r, RG_ACT_CONTINUE, NULL, NULL);
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
			tempfail(r, cf, rcpt);
		return;
	case RG_V_ALIAS_LOOP:
		/* deferred, as the MTA's own alias expansion will end */
		set(r, RG_ACT_TEMPFAIL, "451", "4.4.6");
		expand(for_mta(RG_REPLY_LOOP_TEXT, facts), rcpt, "", r->text[0]);
		r->nlines = 1;
		return;
	case RG_V_ALIAS_BROKEN:
		if (cf->broken_alias_action == RG_BROKEN_ACCEPT)
			return;
		if (cf->broken_alias_action == RG_BROKEN_TEMPFAIL) {
			tempfail(r, cf, rcpt);
			return;
		}
		break;
	case RG_V_UNKNOWN:
	case RG_V_BAD_ADDRESS:
	case RG_V_MOVED:
	case RG_V_DISABLED:
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
	} else if (ans->verdict == RG_V_MOVED) {
		moved(r, ans, rcpt, facts);
	} else if (ans->verdict == RG_V_DISABLED) {
		set(r, RG_ACT_REJECT, "550", "5.2.1");
		expand(for_mta(RG_REPLY_DISABLED_TEXT, facts), rcpt, "", r->text[0]);
		r->nlines = 1;
	} else {
		unknown(r, cf, ans, rcpt, facts);
	}
}

const char *
rg_reply_summary(const struct rg_reply *r, char *buf, size_t buflen)
{
	const char *part[3] = { r->code ? r->code : "", " ", r->xcode ? r->xcode : "" };
	size_t o = 0;

	if (r->action == RG_ACT_CONTINUE)
		return "continue";
	if (buflen == 0)
		return "";
	/* by hand, not with snprintf(): this is on every rejection's log line */
	for (int i = 0; i < 3; i++)
		for (const char *p = part[i]; *p && o + 1 < buflen; p++)
			buf[o++] = *p;
	buf[o] = '\0';
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
