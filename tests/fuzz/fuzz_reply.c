/*
 * fuzz_reply.c - libFuzzer target for the SMTP replies of the milter
 * (mlfi_envrcpt in milter/mlfi.c, with its static escaping helpers).
 *
 * mlfi.c is compiled into this file as it is; libmilter's smfi_* calls and
 * the directory's rg_check() are small stand-ins here.  The stand-in
 * rg_check() decides as the real one does whatever it can decide without a
 * directory: the real rg_address_parse() picks "bad address" and "not
 * ours"; for a parsed address the fuzzer picks the directory's answer
 * (found, unknown, could not tell, broken alias) and the suggestion, which
 * is taken only if the index would hold it (one "@", no blank or control
 * byte, parts of 1..64 and 1..255 bytes).
 *
 * Input: one byte of settings (answer, BrokenAliasAction, OnLookupFailure,
 * Postfix or Sendmail, MaxUnknownRecipients 1 or none), then the RCPT
 * argument, a NUL byte, and the suggestion.  Each input is one connection
 * with two RCPTs of that address.
 * Properties of every reply the milter sets (smfi_setreply, smfi_setmlreply):
 *   - code and enhanced code are one of 550 5.1.1, 550 5.1.3, 451 4.3.0,
 *     421 4.7.0, and the one the answer calls for;
 *   - no CR, LF, NUL or other control byte in the text;
 *   - every "%" doubled (the MTA reads the text as a format);
 *   - what libmilter takes: a text of at most 980 bytes, at most 32 lines;
 *   - each line on the wire ("550 5.1.1 " + text with "%%" as "%" + CRLF)
 *     at most 512 octets (RFC 5321 4.5.3.1.5);
 *   - a reject or tempfail always comes with its reply text, a continue
 *     with none.
 */
#include "fuzz.h"
#include "rg_log.h"

#include "../../milter/mlfi.c"

struct smfi_str {
	void *priv;
	const char *v;                  /* the "v" macro */
	int replies;                    /* replies set during one RCPT */
	char code[8];
};

static struct rg_config cf;
static int want_verdict;
static const char *want_suggestion;

static int
index_would_hold(const char *s)
{
	const char *at = strchr(s, '@');
	size_t n = strlen(s);

	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] <= ' ' || s[i] == 0x7f)
			return 0;
	return at != NULL && strchr(at + 1, '@') == NULL && at > s && at - s <= 64 &&
	    n - (size_t)(at - s) - 1 >= 1 && n - (size_t)(at - s) - 1 <= 255 && n <= RG_ADDR_MAX;
}

void
rg_check(struct rg_directory *d, const char *rcpt, const struct rg_asker *who,
    struct rg_answer *ans)
{
	struct rg_address a;

	(void)d; (void)who;
	memset(ans, 0, sizeof(*ans));
	switch (rg_address_parse(rcpt, "+", &a, &ans->why)) {
	case RG_ADDR_OK:
		break;
	case RG_ADDR_NODOMAIN:
		ans->verdict = RG_V_NOT_OURS;
		return;
	case RG_ADDR_NULL:
		ans->why = "null recipient <>";
		/* FALLTHROUGH */
	case RG_ADDR_BAD:
		ans->verdict = RG_V_BAD_ADDRESS;
		return;
	}
	snprintf(ans->address, sizeof(ans->address), "%s", a.full);
	ans->verdict = (enum rg_verdict)want_verdict;
	if (ans->verdict == RG_V_TEMPFAIL)
		ans->why = "LDAP: Can't contact LDAP server";
	if (ans->verdict == RG_V_UNKNOWN && index_would_hold(want_suggestion))
		snprintf(ans->suggestion, sizeof(ans->suggestion), "%s", want_suggestion);
}

void rg_answer_free(struct rg_answer *ans) { (void)ans; }
const struct rg_config *rg_directory_config(const struct rg_directory *d) { (void)d; return &cf; }
void rg_directory_close(struct rg_directory *d) { (void)d; }
const char *rg_verdict_name(enum rg_verdict v) { (void)v; return "v"; }
const char *rg_source_name(enum rg_source s) { (void)s; return "s"; }

char *
smfi_getsymval(SMFICTX *ctx, char *name)
{
	return strcmp(name, "v") == 0 ? (char *)ctx->v : NULL;
}

int smfi_setpriv(SMFICTX *ctx, void *p) { ctx->priv = p; return MI_SUCCESS; }
void *smfi_getpriv(SMFICTX *ctx) { return ctx->priv; }

/* One line of reply text, as libmilter and the wire see it. */
static void
check_line(const char *rcode, const char *xcode, const char *text)
{
	size_t wire = strlen(rcode) + 1 + strlen(xcode) + 1 + 2;

	PROPERTY(strlen(text) <= 980, "reply text of %zu bytes (libmilter: 980)", strlen(text));
	for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
		PROPERTY(*p >= 0x20 && *p != 0x7f, "control byte 0x%02x in reply \"%s\"", *p, text);
		if (*p == '%') {
			PROPERTY(p[1] == '%', "lone %% in reply \"%s\"", text);
			p++;
		}
		wire++;
	}
	PROPERTY(wire <= 512, "reply line of %zu octets: %s %s %s", wire, rcode, xcode, text);
}

static void
check_code(SMFICTX *ctx, const char *rcode, const char *xcode)
{
	static const char *const ok[] = { "550 5.1.1", "550 5.1.3", "451 4.3.0", "421 4.7.0" };
	char both[32];
	size_t i;

	snprintf(both, sizeof(both), "%s %s", rcode, xcode ? xcode : "");
	for (i = 0; i < 4; i++)
		if (strcmp(both, ok[i]) == 0)
			break;
	PROPERTY(i < 4, "reply code %s", both);
	ctx->replies++;
	snprintf(ctx->code, sizeof(ctx->code), "%s", rcode);
}

int
smfi_setreply(SMFICTX *ctx, char *rcode, char *xcode, char *message)
{
	check_code(ctx, rcode, xcode);
	check_line(rcode, xcode, message);
	return MI_SUCCESS;
}

int
smfi_setmlreply(SMFICTX *ctx, const char *rcode, const char *xcode, ...)
{
	va_list ap;
	const char *line;
	int n = 0;

	check_code(ctx, rcode, xcode);
	va_start(ap, xcode);
	while ((line = va_arg(ap, const char *)) != NULL) {
		check_line(rcode, xcode, line);
		n++;
	}
	va_end(ap);
	PROPERTY(n >= 1 && n <= 32, "%d reply lines", n);
	return MI_SUCCESS;
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc; (void)argv;
	rg_log_open("fuzz", 0, LOG_MAIL, 0);
	mlfi_set_directory((struct rg_directory *)&cf);
	return 0;
}

/* The reply the answer calls for: "" for continue. */
static const char *
expected(int verdict, int nth)
{
	if (verdict == RG_V_OK || verdict == RG_V_NOT_OURS)
		return "";
	if (verdict == RG_V_TEMPFAIL)
		return cf.on_lookup_failure == RG_FAIL_ACCEPT ? "" : "451";
	if (verdict == RG_V_ALIAS_BROKEN && cf.broken_alias_action != RG_BROKEN_REJECT)
		return cf.broken_alias_action == RG_BROKEN_ACCEPT ? "" : "451";
	if (cf.max_unknown > 0 && nth > cf.max_unknown)
		return "421";
	return "550";
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const int verdicts[4] = { RG_V_OK, RG_V_UNKNOWN, RG_V_TEMPFAIL, RG_V_ALIAS_BROKEN };
	struct smfi_str ctx;
	struct sockaddr_in sin;
	char *f[2], *buf;

	if (size < 1 || size > 4096)
		return 0;
	uint8_t s = data[0];
	want_verdict = verdicts[s & 3];
	cf.broken_alias_action = (enum rg_broken_action)((s >> 2 & 3) % 3);
	cf.on_lookup_failure = s & 0x10 ? RG_FAIL_ACCEPT : RG_FAIL_TEMPFAIL;
	cf.max_unknown = s & 0x40 ? 1 : 0;
	fuzz_split(data + 1, size - 1, f, 2, &buf);
	want_suggestion = f[1];

	memset(&ctx, 0, sizeof(ctx));
	ctx.v = s & 0x20 ? "8.17.1" : "Postfix 3.7.11";
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(0xc0000201);
	if (mlfi_connect(&ctx, "client.example", (struct sockaddr *)&sin) != SMFIS_CONTINUE)
		abort();
	char *argv[2] = { f[0], NULL };
	int unknown = 0;
	for (int nth = 1; nth <= 2; nth++) {
		struct rg_answer ans;
		struct rg_asker who = { NULL, 0, 0 };
		rg_check(NULL, f[0], &who, &ans);
		int bad = ans.verdict == RG_V_BAD_ADDRESS || ans.verdict == RG_V_UNKNOWN ||
		    (ans.verdict == RG_V_ALIAS_BROKEN && cf.broken_alias_action == RG_BROKEN_REJECT);
		unknown += bad;
		const char *want = expected(ans.verdict == RG_V_BAD_ADDRESS ? RG_V_UNKNOWN :
		    (int)ans.verdict, unknown);
		ctx.replies = 0;
		ctx.code[0] = '\0';
		sfsistat r = mlfi_envrcpt(&ctx, argv);
		PROPERTY(strcmp(ctx.code, want) == 0, "reply %s, expected %s", ctx.code, want);
		PROPERTY(ctx.replies == (want[0] != '\0'), "%d replies set", ctx.replies);
		PROPERTY((r == SMFIS_CONTINUE) == (want[0] == '\0'), "action %d with reply %s",
		    (int)r, ctx.code);
	}
	mlfi_close(&ctx);
	free(buf);
	return 0;
}
