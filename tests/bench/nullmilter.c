/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * nullmilter.c - a milter that answers CONTINUE to everything: the limit any
 * milter can reach through the same MTA on the same machine.
 *
 * nullmilter -p SOCKET
 *
 * It registers the same callbacks as rcptguard (connect, MAIL, RCPT, close)
 * and negotiates away the same protocol steps (milter/mlfi.c,
 * mlfi_negotiate()), so the MTA exchanges exactly the same packets with it;
 * only the work done at RCPT time differs.  Serves until SIGTERM or SIGINT.
 */
#include <libmilter/mfapi.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/*
 * Keep in step with mlfi_negotiate() in milter/mlfi.c: the same steps away,
 * and no reply to CONNECT and MAIL.  libmilter 8.14 and later always offers
 * SMFIP_NR_CONN and SMFIP_NR_MAIL (it answers for the MTA that cannot do
 * without); an older one is refused.
 */
static sfsistat
null_negotiate(SMFICTX *ctx, unsigned long f0, unsigned long f1, unsigned long f2,
    unsigned long f3, unsigned long *pf0, unsigned long *pf1, unsigned long *pf2,
    unsigned long *pf3)
{
	unsigned long want = SMFIP_NOHELO | SMFIP_NOHDRS | SMFIP_NOEOH | SMFIP_NOBODY |
	    SMFIP_NOUNKNOWN | SMFIP_NODATA;
	unsigned long nr = SMFIP_NR_CONN | SMFIP_NR_MAIL;

	(void)ctx; (void)f0; (void)f2; (void)f3;
	if ((f1 & nr) != nr)
		return SMFIS_REJECT;
	*pf0 = 0;
	*pf1 = (f1 & want) | nr;
	*pf2 = 0;
	*pf3 = 0;
	return SMFIS_CONTINUE;
}

/* Every stage rcptguard looks at: nothing to do, and no reply before RCPT. */
static sfsistat
null_connect(SMFICTX *ctx, char *host, _SOCK_ADDR *sa)
{
	(void)ctx; (void)host; (void)sa;
	return SMFIS_NOREPLY;
}

static sfsistat
null_envfrom(SMFICTX *ctx, char **argv)
{
	(void)ctx; (void)argv;
	return SMFIS_NOREPLY;
}

static sfsistat
null_envrcpt(SMFICTX *ctx, char **argv)
{
	(void)ctx; (void)argv;
	return SMFIS_CONTINUE;
}

static sfsistat
null_close(SMFICTX *ctx)
{
	(void)ctx;
	return SMFIS_CONTINUE;
}

static struct smfiDesc null_desc = {
	.xxfi_name = "nullmilter",
	.xxfi_version = SMFI_VERSION,
	.xxfi_connect = null_connect,
	.xxfi_envfrom = null_envfrom,
	.xxfi_envrcpt = null_envrcpt,
	.xxfi_close = null_close,
	.xxfi_negotiate = null_negotiate,
};

int
main(int argc, char **argv)
{
	const char *sock = NULL;
	int ch;

	while ((ch = getopt(argc, argv, "p:")) != -1) {
		if (ch != 'p') {
			fprintf(stderr, "usage: nullmilter -p SOCKET\n");
			return 64;
		}
		sock = optarg;
	}
	if (sock == NULL) {
		fprintf(stderr, "usage: nullmilter -p SOCKET\n");
		return 64;
	}
	if (strncmp(sock, "unix:", 5) == 0)
		unlink(sock + 5);
	if (smfi_setconn((char *)sock) != MI_SUCCESS || smfi_register(null_desc) != MI_SUCCESS ||
	    smfi_opensocket(1) != MI_SUCCESS) {
		fprintf(stderr, "nullmilter: cannot listen on %s\n", sock);
		return 1;
	}
	return smfi_main() == MI_SUCCESS ? 0 : 1;
}
