/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * rcptguard-query - ask rcptguard about addresses without sending mail.
 *
 * rcptguard-query [-c FILE] [--json] [--reply] [--mta postfix|sendmail]
 *                 [--client IP] [--auth] [ADDRESS...]
 *
 * Runs the daemon's own check (rg_check) for each ADDRESS, or for each line
 * of standard input when none is given, and prints "ADDRESS VERDICT SOURCE"
 * per address (or one JSON object per line with --json).  With --reply it
 * also prints the reply lines an SMTP client gets through the MTA, built by
 * the daemon's own rg_reply_build(), for a client at IP (default: one that
 * is not trusted) that did or did not authenticate; --json always has them.
 * Why a lookup failed goes to standard error, also when the answer is
 * "ok stale" (the directory could not answer; the address was found less
 * than StaleTTL ago).  Exit status follows the
 * reply: 0 when every recipient would be let through, 1 when any would get
 * a 5xx, 75 when any would get a 4xx; 64 on a usage error, 78 on a bad
 * configuration.  --no-cache asks the directory for every address (Redis is
 * neither read nor written), so that an alias always shows its expansion.
 *
 * With "Mirror yes" the directory is first loaded into memory and followed
 * (rg_mirror) while the tool runs, and the answers come from it (source
 * "mirror") as far as the daemon's would: the way to ask many addresses at
 * once, one a line on standard input.
 */
#include "config.h"
#include "rg_check.h"
#include "rg_ldap.h"
#include "rg_escape.h"
#include "rg_log.h"
#include "rg_reply.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

static int json;
static int show_reply;
static enum rg_mta mta = RG_MTA_POSTFIX;
static struct rg_asker client;  /* whose reply --reply shows */
static int worst;               /* 0, 1 or EX_TEMPFAIL */

/* Print S so that one address stays on one line: \xNN for what is not printable. */
static void
print_plain(const char *s)
{
	rg_escape_text_print(stdout, s, RG_ESC_SPACE | RG_ESC_BACKSLASH);
}

static void
print_json_string(const char *s)
{
	rg_escape_json_print(stdout, s);
}

/* The reply lines, as "LINE\nLINE\n"; the exit status follows them. */
static void
reply_of(const struct rg_directory *d, const char *addr, const struct rg_answer *ans,
    char *out, size_t outlen)
{
	const struct rg_config *cf = rg_directory_config(d);
	struct rg_reply_facts facts = { mta, 0, rg_check_may_suggest(cf, &client), NULL };
	struct rg_reply r;

	rg_reply_build(cf, ans, addr, &facts, &r);
	if (rg_reply_format(&r, mta, addr, out, outlen) < 0)
		snprintf(out, outlen, "%s\n", r.code ? r.code : "250");
	if (r.action == RG_ACT_TEMPFAIL)
		worst = EX_TEMPFAIL;
	else if (r.action == RG_ACT_REJECT && worst == 0)
		worst = 1;
}

static void
print_json(const char *addr, const char *verdict, const struct rg_answer *ans,
    const char *reply)
{
	printf("{\"address\":");
	print_json_string(addr);
	printf(",\"verdict\":\"%s\",\"source\":\"%s\"", verdict, rg_source_name(ans->source));
	if (ans->suggestion[0] != '\0') {
		printf(",\"suggestion\":");
		print_json_string(ans->suggestion);
	}
	if (ans->moved_to[0] != '\0') {
		printf(",\"moved_to\":");
		print_json_string(ans->moved_to);
	}
	if (ans->why != NULL) {
		printf(",\"reason\":");
		print_json_string(ans->why);
	}
	if (ans->expansion != NULL && ans->expansion->n > 0) {
		printf(",\"targets\":[");
		for (size_t k = 0; k < ans->expansion->n; k++) {
			const struct rg_expansion_item *it = &ans->expansion->items[k];
			printf("%s{\"target\":", k ? "," : "");
			print_json_string(it->target);
			printf(",\"depth\":%d,\"verdict\":\"%s\"", it->depth, it->verdict);
			if (it->problem[0] != '\0')
				printf(",\"problem\":\"%s\"", it->problem);
			putchar('}');
		}
		putchar(']');
	}
	printf(",\"reply\":[");
	for (const char *p = reply; *p != '\0';) {
		size_t n = strcspn(p, "\n");
		char line[2 * RG_REPLY_TEXT_MAX];
		snprintf(line, sizeof(line), "%.*s", (int)n, p);
		if (p != reply)
			putchar(',');
		print_json_string(line);
		p += n + (p[n] == '\n');
	}
	printf("]}\n");
}

static void
print_plain_answer(const char *addr, const char *verdict, const struct rg_answer *ans,
    const char *reply)
{
	print_plain(addr);
	printf(" %s %s", verdict, rg_source_name(ans->source));
	if (ans->suggestion[0] != '\0')
		printf(" did-you-mean=<%s>", ans->suggestion);
	if (ans->moved_to[0] != '\0')
		printf(" moved-to=<%s>", ans->moved_to);
	putchar('\n');
	/* the expansion of an alias, one target a line, indented by depth */
	for (size_t k = 0; ans->expansion != NULL && k < ans->expansion->n; k++) {
		const struct rg_expansion_item *it = &ans->expansion->items[k];
		printf("%*s-> ", 2 * it->depth, "");
		print_plain(it->target);
		printf(" %s%s%s\n", it->verdict, it->problem[0] ? " " : "", it->problem);
	}
	if (show_reply)
		fputs(reply, stdout);
}

static void
query_one(struct rg_directory *d, const char *addr)
{
	static const struct rg_asker admin = { NULL, 0, 1, 0 };
	struct rg_answer ans;
	char reply[4 * RG_REPLY_TEXT_MAX];

	rg_check(d, addr, &admin, &ans);
	/* a malformed address is one that cannot receive mail */
	const char *verdict = ans.verdict == RG_V_BAD_ADDRESS ? "unknown" :
	    rg_verdict_name(ans.verdict);
	reply_of(d, addr, &ans, reply, sizeof(reply));
	if (ans.why != NULL)
		fprintf(stderr, "rcptguard-query: %s: %s\n", addr, ans.why);
	if (json)
		print_json(addr, verdict, &ans, reply);
	else
		print_plain_answer(addr, verdict, &ans, reply);
	fflush(stdout);
	rg_answer_free(&ans);
}

static void
usage(void)
{
	fprintf(stderr, "usage: rcptguard-query [-c FILE] [--json] [--reply] "
	    "[--mta postfix|sendmail] [--client IP] [--auth] [--no-cache] [-v] [ADDRESS...]\n"
	    "       (addresses one a line on standard input when none are given)\n");
	exit(EX_USAGE);
}

int
main(int argc, char **argv)
{
	const char *file = SYSCONFDIR "/rcptguard.conf";
	char err[RG_ERRLEN];
	int i, no_cache = 0, verbose = 0;

	signal(SIGPIPE, SIG_IGN);
	rg_log_open("rcptguard-query", 0, 0, 1);
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-c") == 0 && i + 1 < argc)
			file = argv[++i];
		else if (strcmp(argv[i], "--json") == 0)
			json = 1;
		else if (strcmp(argv[i], "--reply") == 0)
			show_reply = 1;
		else if (strcmp(argv[i], "--auth") == 0)
			client.authenticated = 1;
		else if (strcmp(argv[i], "--no-cache") == 0)
			no_cache = 1;
		else if (strcmp(argv[i], "-v") == 0 || strcmp(argv[i], "--verbose") == 0)
			verbose = 1;
		else if (strcmp(argv[i], "--client") == 0 && i + 1 < argc)
			client.client_ip = argv[++i];
		else if (strcmp(argv[i], "--mta") == 0 && i + 1 < argc) {
			i++;
			if (strcmp(argv[i], "postfix") == 0)
				mta = RG_MTA_POSTFIX;
			else if (strcmp(argv[i], "sendmail") == 0)
				mta = RG_MTA_SENDMAIL;
			else
				usage();
		}
		else if (strcmp(argv[i], "-V") == 0 || strcmp(argv[i], "--version") == 0) {
			printf("rcptguard-query %s\n", PACKAGE_VERSION);
			return 0;
		} else if (strcmp(argv[i], "--") == 0) {
			i++;
			break;
		} else if (argv[i][0] == '-' && argv[i][1] != '\0')
			usage();
		else
			break;
	}
	if (!verbose)
		rg_log_quiet();
	/* libldap's global state, once, before the index threads start */
	if (rg_ldap_global_init() < 0) {
		fprintf(stderr, "rcptguard-query: cannot initialise libldap\n");
		return EX_SOFTWARE;
	}
	struct rg_config *cf = rg_config_load(file, err, sizeof(err));
	if (cf == NULL) {
		fprintf(stderr, "rcptguard-query: %s\n", err);
		return EX_CONFIG;
	}
	if (no_cache) {
		char *none = strdup("none");
		if (none == NULL)
			return EX_OSERR;
		free(cf->redis_uri);
		cf->redis_uri = none;
		cf->nredis_sentinels = 0;
		cf->local_cache_size = 0;
	}
	/* Mirror yes: load the directory once, then answer every address from it */
	int flags = RG_DIR_SUGGEST_SYNC | (cf->mirror == RG_MIRROR_YES ? RG_DIR_MIRROR_WAIT : 0);
	struct rg_directory *d = rg_directory_open(cf, flags, err, sizeof(err));
	if (d == NULL) {
		fprintf(stderr, "rcptguard-query: %s\n", err);
		return EX_CONFIG;
	}
	if (i < argc) {
		for (; i < argc; i++)
			query_one(d, argv[i]);
	} else {
		char *line = NULL;
		size_t cap = 0;
		ssize_t n;
		while ((n = getline(&line, &cap, stdin)) >= 0) {
			while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
				line[--n] = '\0';
			if (n == 0)
				continue;
			query_one(d, line);
		}
		free(line);
	}
	rg_directory_close(d);
	return worst;
}
