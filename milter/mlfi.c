/*
 * mlfi.c - the milter callbacks: one verdict per RCPT TO, and its reply.
 *
 * Each SMTP connection gets a context of its own behind smfi_setpriv():
 * client address, whether it authenticated, how many unknown recipients it
 * tried, and a connection id for the log.  Nothing about a connection lives
 * in a global or a thread-local, since libmilter may serve several
 * connections on one thread.
 *
 * Replies (Postfix passes the text through unchanged; Sendmail puts
 * "<addr>... " in front of the first line of a 550, so there the address is
 * left out of a 550's text):
 *	unknown    550 5.1.1 <ADDR>: Recipient address rejected: User unknown
 *	           [550 5.1.1 Did you mean <SUGGESTION>?]
 *	tempfail   451 4.3.0 <ADDR>: Temporary lookup failure
 *	syntax     550 5.1.3 Recipient address rejected: Bad address syntax
 *	too many   421 4.7.0 Error: too many unknown recipients
 *
 * Every decision is logged on one line:
 *	conn=ID client=IP rcpt=<ADDR> verdict=V source=S ms=N [reply="..."]
 * (source=stale: the directory could not answer and the address was found
 * less than StaleTTL ago; the line, a warning, says why in reason="...")
 */
#include "config.h"
#include "mlfi.h"
#include "rg_log.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* The current directory, swapped whole on reload, counted while in use. */
struct dirref {
	struct rg_directory *dir;
	int refs;
};

static pthread_mutex_t dir_mu = PTHREAD_MUTEX_INITIALIZER;
static struct dirref *dir_current;
static atomic_uint_fast32_t conn_counter;

struct conn {
	char id[16];
	char client[INET6_ADDRSTRLEN];  /* "" when not an IP client */
	int authenticated;
	int unknown;                    /* unknown recipients so far */
	int sendmail;                   /* reply text without the address */
};

static void *
dir_close_thread(void *arg)
{
	struct dirref *r = arg;

	rg_directory_close(r->dir);
	free(r);
	return NULL;
}

static struct dirref *
dir_take(void)
{
	pthread_mutex_lock(&dir_mu);
	struct dirref *r = dir_current;
	if (r != NULL)
		r->refs++;
	pthread_mutex_unlock(&dir_mu);
	return r;
}

static void
dir_give(struct dirref *r)
{
	int last;

	pthread_mutex_lock(&dir_mu);
	last = --r->refs == 0;
	pthread_mutex_unlock(&dir_mu);
	if (last) {
		/* closing joins background threads (an index load may be running):
		 * not on an RCPT thread */
		pthread_t t;
		if (pthread_create(&t, NULL, dir_close_thread, r) == 0)
			pthread_detach(t);
		else
			dir_close_thread(r);
	}
}

void
mlfi_set_directory(struct rg_directory *d)
{
	struct dirref *r = calloc(1, sizeof(*r)), *old;

	if (r == NULL) {
		rg_log(LOG_ERR, "out of memory; keeping the old configuration");
		rg_directory_close(d);
		return;
	}
	r->dir = d;
	r->refs = 1;                    /* the reference "current" holds */
	pthread_mutex_lock(&dir_mu);
	old = dir_current;
	dir_current = r;
	pthread_mutex_unlock(&dir_mu);
	if (old != NULL)
		dir_give(old);
}

void
mlfi_shutdown(void)
{
	pthread_mutex_lock(&dir_mu);
	struct dirref *old = dir_current;
	dir_current = NULL;
	int last = old != NULL && --old->refs == 0;
	pthread_mutex_unlock(&dir_mu);
	if (last)
		dir_close_thread(old);
}

/* Copy S into OUT with "%" doubled, as smfi_setreply() wants. */
static void
escape_percent(const char *s, char *out, size_t outlen)
{
	size_t o = 0;

	for (; *s && o + 2 < outlen; s++) {
		if (*s == '%')
			out[o++] = '%';
		out[o++] = *s;
	}
	out[o] = '\0';
}

/* The address as the client wrote it, without the angle brackets. */
static void
bare_address(const char *rcpt, char *out, size_t outlen)
{
	size_t n = strlen(rcpt);

	if (n >= 2 && rcpt[0] == '<' && rcpt[n - 1] == '>') {
		rcpt++;
		n -= 2;
	}
	if (n >= outlen)
		n = outlen - 1;
	memcpy(out, rcpt, n);
	out[n] = '\0';
}

/* For the log: one line whatever the input holds. */
static void
log_safe(const char *s, char *out, size_t outlen)
{
	size_t o = 0;

	for (const unsigned char *p = (const unsigned char *)s; *p && o + 5 < outlen; p++) {
		if (*p < 0x20 || *p == 0x7f || *p == '"' || *p == '\\')
			o += (size_t)snprintf(out + o, outlen - o, "\\x%02x", *p);
		else
			out[o++] = (char)*p;
	}
	out[o] = '\0';
}

/*
 * 451 4.3.0 <ADDR>: Temporary lookup failure.  The address stays in the text
 * for Sendmail too: it puts "<addr>... " only in front of 250, 450, 550
 * and 553 replies (and a few others), not of 451.
 */
static void
tempfail(SMFICTX *ctx, const char *esc)
{
	char line[2 * RG_ADDR_MAX + 200];

	snprintf(line, sizeof(line), "<%s>: Temporary lookup failure", esc);
	smfi_setreply(ctx, "451", "4.3.0", line);
}

static sfsistat
mlfi_negotiate(SMFICTX *ctx, unsigned long f0, unsigned long f1, unsigned long f2,
    unsigned long f3, unsigned long *pf0, unsigned long *pf1, unsigned long *pf2,
    unsigned long *pf3)
{
	(void)ctx; (void)f0; (void)f2; (void)f3;
	/* no modifications; skip every stage after RCPT the MTA lets us skip */
	unsigned long want = SMFIP_NOHELO | SMFIP_NOHDRS | SMFIP_NOEOH | SMFIP_NOBODY |
	    SMFIP_NOUNKNOWN | SMFIP_NODATA;
	*pf0 = 0;
	*pf1 = f1 & want;
	*pf2 = 0;
	*pf3 = 0;
	return SMFIS_CONTINUE;
}

static sfsistat
mlfi_connect(SMFICTX *ctx, char *hostname, _SOCK_ADDR *sa)
{
	struct conn *c = calloc(1, sizeof(*c));

	(void)hostname;
	if (c == NULL)
		return SMFIS_TEMPFAIL;
	snprintf(c->id, sizeof(c->id), "%08X",
	    (unsigned)(atomic_fetch_add(&conn_counter, 1) + 1));
	if (sa != NULL && sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((struct sockaddr_in *)sa)->sin_addr, c->client,
		    sizeof(c->client));
	else if (sa != NULL && sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)sa)->sin6_addr, c->client,
		    sizeof(c->client));
	/* Postfix says "v" = "Postfix x.y"; Sendmail sends {if_name} and no "v" */
	const char *v = smfi_getsymval(ctx, "v");
	if (v != NULL)
		c->sendmail = strncmp(v, "Postfix", 7) != 0 && v[0] >= '0' && v[0] <= '9';
	else
		c->sendmail = smfi_getsymval(ctx, "{if_name}") != NULL ||
		    smfi_getsymval(ctx, "{if_addr}") != NULL;
	if (smfi_setpriv(ctx, c) != MI_SUCCESS) {
		free(c);
		return SMFIS_TEMPFAIL;
	}
	return SMFIS_CONTINUE;
}

static sfsistat
mlfi_envfrom(SMFICTX *ctx, char **argv)
{
	struct conn *c = smfi_getpriv(ctx);
	const char *auth = smfi_getsymval(ctx, "{auth_authen}");

	(void)argv;
	if (c != NULL)
		c->authenticated = auth != NULL && *auth != '\0';
	return SMFIS_CONTINUE;
}

static sfsistat
mlfi_envrcpt(SMFICTX *ctx, char **argv)
{
	struct conn *c = smfi_getpriv(ctx);
	struct rg_answer ans;
	char shown[RG_ADDR_MAX + 64], esc[2 * sizeof(shown)], logaddr[4 * sizeof(shown)];
	char line1[sizeof(esc) + 64], line2[2 * RG_ADDR_MAX + 64];
	const char *rcpt = argv != NULL && argv[0] != NULL ? argv[0] : "";
	sfsistat ret = SMFIS_CONTINUE;
	const char *reply = NULL;

	if (c == NULL)
		return SMFIS_TEMPFAIL;
	struct dirref *r = dir_take();
	if (r == NULL)
		return SMFIS_TEMPFAIL;
	const struct rg_config *cf = rg_directory_config(r->dir);
	struct rg_asker who = { c->client[0] ? c->client : NULL, c->authenticated, 0 };
	rg_check(r->dir, rcpt, &who, &ans);

	bare_address(rcpt, shown, sizeof(shown));
	escape_percent(shown, esc, sizeof(esc));
	switch (ans.verdict) {
	case RG_V_OK:
	case RG_V_NOT_OURS:
		break;
	case RG_V_ALIAS_BROKEN:
		if (cf->broken_alias_action == RG_BROKEN_ACCEPT)
			break;
		if (cf->broken_alias_action == RG_BROKEN_TEMPFAIL) {
			tempfail(ctx, esc);
			reply = "451 4.3.0";
			ret = SMFIS_TEMPFAIL;
			break;
		}
		/* FALLTHROUGH */
	case RG_V_UNKNOWN:
	case RG_V_BAD_ADDRESS:
		c->unknown++;
		if (cf->max_unknown > 0 && c->unknown > cf->max_unknown) {
			smfi_setreply(ctx, "421", "4.7.0", "Error: too many unknown recipients");
			reply = "421 4.7.0";
			ret = SMFIS_TEMPFAIL;
			break;
		}
		if (ans.verdict == RG_V_BAD_ADDRESS) {
			smfi_setreply(ctx, "550", "5.1.3",
			    "Recipient address rejected: Bad address syntax");
			reply = "550 5.1.3";
			ret = SMFIS_REJECT;
			break;
		}
		snprintf(line1, sizeof(line1), "%s%s%sRecipient address rejected: User unknown",
		    c->sendmail ? "" : "<", c->sendmail ? "" : esc, c->sendmail ? "" : ">: ");
		if (ans.suggestion[0] != '\0') {
			char sug[2 * RG_ADDR_MAX + 2];
			escape_percent(ans.suggestion, sug, sizeof(sug));
			snprintf(line2, sizeof(line2), "Did you mean <%s>?", sug);
			smfi_setmlreply(ctx, "550", "5.1.1", line1, line2, NULL);
		} else {
			smfi_setreply(ctx, "550", "5.1.1", line1);
		}
		reply = "550 5.1.1";
		ret = SMFIS_REJECT;
		break;
	case RG_V_TEMPFAIL:
		if (cf->on_lookup_failure == RG_FAIL_ACCEPT)
			break;
		tempfail(ctx, esc);
		reply = "451 4.3.0";
		ret = SMFIS_TEMPFAIL;
		break;
	}

	const char *qid = smfi_getsymval(ctx, "i");
	log_safe(shown, logaddr, sizeof(logaddr));
	char extra[RG_ERRLEN + 64] = "";
	if (ans.suggestion[0] != '\0')
		snprintf(extra, sizeof(extra), " suggestion=<%s>", ans.suggestion);
	else if (ans.why != NULL) {
		char w[RG_ERRLEN];
		log_safe(ans.why, w, sizeof(w));
		snprintf(extra, sizeof(extra), " reason=\"%s\"", w);
	}
	/* a stale answer means the directory is away: worth a warning too */
	rg_log(ans.verdict == RG_V_TEMPFAIL || ans.source == RG_SRC_STALE ? LOG_WARNING : LOG_INFO,
	    "conn=%s%s%s client=%s rcpt=<%s> verdict=%s source=%s ms=%.0f%s%s%s%s",
	    c->id, qid ? " queue=" : "", qid ? qid : "", c->client[0] ? c->client : "unknown",
	    logaddr, rg_verdict_name(ans.verdict), rg_source_name(ans.source), ans.ms,
	    reply ? " reply=\"" : " reply=continue", reply ? reply : "", reply ? "\"" : "", extra);
	rg_answer_free(&ans);
	dir_give(r);
	return ret;
}

static sfsistat
mlfi_close(SMFICTX *ctx)
{
	struct conn *c = smfi_getpriv(ctx);

	if (c != NULL) {
		smfi_setpriv(ctx, NULL);
		free(c);
	}
	return SMFIS_CONTINUE;
}

struct smfiDesc mlfi_desc = {
	.xxfi_name = "rcptguard",
	.xxfi_version = SMFI_VERSION,
	.xxfi_flags = 0,
	.xxfi_connect = mlfi_connect,
	.xxfi_envfrom = mlfi_envfrom,
	.xxfi_envrcpt = mlfi_envrcpt,
	.xxfi_close = mlfi_close,
	.xxfi_negotiate = mlfi_negotiate,
};
