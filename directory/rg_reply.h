/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * rg_reply.h - what the MTA answers for one recipient: the milter's action,
 * the SMTP reply code, the enhanced status code and the text lines.
 *
 * One function builds it from the answer of rg_check(), the configuration
 * and what is known of the connection.  The milter hands the result to
 * libmilter; rcptguard-query prints it, so what an admin sees with the tool
 * is what an SMTP client sees through Postfix or Sendmail.
 */
#ifndef RG_REPLY_H
#define RG_REPLY_H

#include <stddef.h>

#include "rg_check.h"
#include "rg_config.h"

enum rg_action {
	RG_ACT_CONTINUE,                /* the MTA goes on (and usually says 250) */
	RG_ACT_REJECT,                  /* 5xx */
	RG_ACT_TEMPFAIL,                /* 4xx */
};

/* How the MTA writes a milter's reply (see rg_reply_format()). */
enum rg_mta { RG_MTA_POSTFIX, RG_MTA_SENDMAIL };

/* What is known of the SMTP session the recipient comes in. */
struct rg_reply_facts {
	enum rg_mta mta;
	int unknown_before;             /* unknown recipients already in this session */
	int may_suggest;                /* this client may see a suggestion */
	const char *harvest_over;       /* the client's address when it is over
					 * HarvestLimit (rg_harvest), else NULL */
};

#define RG_REPLY_LINES 2
/*
 * The text of one line, at most.  With "550-5.1.1 " in front and CR LF
 * behind, a line stays within RFC 5321's 512 octets even when every "%" in
 * it is doubled for libmilter (2 * 240 + 10 + 2 = 492).
 */
#define RG_REPLY_TEXT_MAX 240

struct rg_reply {
	enum rg_action action;
	const char *code;               /* "550", "451", "421"; NULL for continue */
	const char *xcode;              /* "5.1.1" ...; NULL for continue */
	char text[RG_REPLY_LINES][RG_REPLY_TEXT_MAX + 1];
	int nlines;                     /* 0 for continue */
	int counts_unknown;             /* counts toward MaxUnknownRecipients */
};

/*
 * The default texts of RejectText, TempfailText and SuggestText: "%a" is the
 * recipient, "%s" the suggestion (SuggestText only), "%%" a percent sign.
 */
#define RG_REPLY_REJECT_TEXT "<%a>: Recipient address rejected: User unknown"
#define RG_REPLY_TEMPFAIL_TEXT "<%a>: Temporary lookup failure"
#define RG_REPLY_SUGGEST_TEXT "Did you mean <%s>?"
/* The fixed text of the 550 5.2.1 for a disabled entry (DisabledReply disabled). */
#define RG_REPLY_DISABLED_TEXT "<%a>: Recipient address rejected: Mailbox disabled"
/* The text of the 451 4.4.6 for an alias loop (fixed). */
#define RG_REPLY_LOOP_TEXT "<%a>: Alias loop"

/*
 * Can TEXT be a reply template?  Printable ASCII only, "%" only in "%a",
 * "%%" and, with SUGGESTION, "%s"; short enough that each address it shows
 * keeps 40 characters within a line.  0, or -1 with the problem in why.
 */
int rg_reply_template_check(const char *text, int suggestion, char *why, size_t whylen);

/*
 * Build the reply for ANS, the answer for RCPT (the recipient as the MTA
 * gave it), under CF and FACTS, with the texts of RejectText, TempfailText and
 * SuggestText (the defaults above when CF leaves them NULL).  The texts are
 * printable ASCII: a byte of the
 * address that is not (CR, LF, NUL, 8-bit) shows as "?", and a long address
 * is cut with "...".  "%" is left single: see rg_reply_percent().
 */
void rg_reply_build(const struct rg_config *cf, const struct rg_answer *ans,
    const char *rcpt, const struct rg_reply_facts *facts, struct rg_reply *out);

/* "550 5.1.1", "451 4.3.0" ..., or "continue": for the decision line. */
const char *rg_reply_summary(const struct rg_reply *, char *buf, size_t buflen);

/*
 * Copy TEXT into OUT with every "%" doubled, as smfi_setreply() wants.
 * Returns 0, or -1 when OUTLEN is too small (OUT is then "").
 */
int rg_reply_percent(const char *text, char *out, size_t outlen);

/*
 * The reply lines an SMTP client sees through MTA, each ending in "\n":
 * "550-5.1.1 ...\n550 5.1.1 ...\n".  Sendmail puts "<RCPT>... " in front of
 * the first line of a 250 or 550 reply; a continue is shown as the MTA's own
 * "250 2.1.5" reply.  Returns 0, or -1 when OUTLEN is too small.
 */
int rg_reply_format(const struct rg_reply *, enum rg_mta mta, const char *rcpt,
    char *out, size_t outlen);

#endif
