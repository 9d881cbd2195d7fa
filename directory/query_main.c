/*
 * rcptguard-query - ask rcptguard about addresses without sending mail.
 *
 * rcptguard-query [-c FILE] [--json] [ADDRESS...]
 *
 * Runs the daemon's own check (rg_check) for each ADDRESS, or for each line
 * of standard input when none is given, and prints "ADDRESS VERDICT SOURCE"
 * per address (or one JSON object per line with --json).  Why a lookup
 * failed goes to standard error.  Exit status: 0 when every address is ok or
 * not ours, 1 when any is unknown, 75 when any lookup failed, 64 on a usage
 * error, 78 on a bad configuration.
 */
#include "config.h"
#include "rg_check.h"
#include "rg_ldap.h"
#include "rg_log.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

static int json;
static int worst;               /* 0, 1 or EX_TEMPFAIL */

/* Print S so that one address stays on one line: \xNN for what is not printable. */
static void
print_plain(const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p <= 0x20 || *p == 0x7f || *p == '\\')
			printf("\\x%02x", *p);
		else
			putchar(*p);
	}
}

static void
print_json_string(const char *s)
{
	putchar('"');
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			printf("\\%c", *p);
		else if (*p < 0x20 || *p == 0x7f)
			printf("\\u%04x", *p);
		else
			putchar(*p);
	}
	putchar('"');
}

static void
query_one(struct rg_directory *d, const char *addr)
{
	static const struct rg_asker admin = { NULL, 0, 1 };
	struct rg_answer ans;
	const char *verdict;

	rg_check(d, addr, &admin, &ans);
	/* a malformed address is one that cannot receive mail */
	verdict = ans.verdict == RG_V_BAD_ADDRESS ? "unknown" : rg_verdict_name(ans.verdict);
	switch (ans.verdict) {
	case RG_V_OK:
	case RG_V_NOT_OURS:
		break;
	case RG_V_UNKNOWN:
	case RG_V_BAD_ADDRESS:
	case RG_V_ALIAS_BROKEN:
		if (worst == 0)
			worst = 1;
		break;
	case RG_V_TEMPFAIL:
		worst = EX_TEMPFAIL;
		break;
	}
	if (ans.why != NULL)
		fprintf(stderr, "rcptguard-query: %s: %s\n", addr, ans.why);
	if (json) {
		printf("{\"address\":");
		print_json_string(addr);
		printf(",\"verdict\":\"%s\",\"source\":\"%s\"", verdict, rg_source_name(ans.source));
		if (ans.suggestion[0] != '\0') {
			printf(",\"suggestion\":");
			print_json_string(ans.suggestion);
		}
		if (ans.why != NULL) {
			printf(",\"reason\":");
			print_json_string(ans.why);
		}
		if (ans.expansion != NULL && ans.expansion->n > 0) {
			printf(",\"targets\":[");
			for (size_t k = 0; k < ans.expansion->n; k++) {
				const struct rg_expansion_item *it = &ans.expansion->items[k];
				printf("%s{\"target\":", k ? "," : "");
				print_json_string(it->target);
				printf(",\"depth\":%d,\"verdict\":\"%s\"", it->depth, it->verdict);
				if (it->problem[0] != '\0')
					printf(",\"problem\":\"%s\"", it->problem);
				putchar('}');
			}
			putchar(']');
		}
		printf("}\n");
	} else {
		print_plain(addr);
		printf(" %s %s", verdict, rg_source_name(ans.source));
		if (ans.suggestion[0] != '\0')
			printf(" did-you-mean=<%s>", ans.suggestion);
		putchar('\n');
		/* the expansion of an alias, one target a line, indented by depth */
		for (size_t k = 0; ans.expansion != NULL && k < ans.expansion->n; k++) {
			const struct rg_expansion_item *it = &ans.expansion->items[k];
			printf("%*s-> ", 2 * it->depth, "");
			print_plain(it->target);
			printf(" %s%s%s\n", it->verdict, it->problem[0] ? " " : "", it->problem);
		}
	}
	fflush(stdout);
	rg_answer_free(&ans);
}

static void
usage(void)
{
	fprintf(stderr, "usage: rcptguard-query [-c FILE] [--json] [ADDRESS...]\n"
	    "       (addresses one a line on standard input when none are given)\n");
	exit(EX_USAGE);
}

int
main(int argc, char **argv)
{
	const char *file = SYSCONFDIR "/rcptguard.conf";
	char err[RG_ERRLEN];
	int i;

	signal(SIGPIPE, SIG_IGN);
	rg_log_open("rcptguard-query", 0, 0, 1);
	rg_log_quiet();
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-c") == 0 && i + 1 < argc)
			file = argv[++i];
		else if (strcmp(argv[i], "--json") == 0)
			json = 1;
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
	struct rg_directory *d = rg_directory_open(cf, RG_DIR_SUGGEST_SYNC, err, sizeof(err));
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
