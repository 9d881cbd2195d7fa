/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * nullown.c - the null milter on rcptguard's own milter protocol engine
 * (milter/protocol.c, milter/listener.c): CONTINUE to everything, the same
 * steps negotiated away and the same "no reply" to CONNECT and MAIL as
 * rcptguard.  Next to tests/bench/nullmilter (the same on libmilter) it
 * shows what the engine itself costs, apart from the checks.
 *
 * nullown -p SOCKET        serves until SIGTERM or SIGINT
 */
#include "listener.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static enum mp_status
null_rcpt(struct mp_session *s, char **argv)
{
	(void)s; (void)argv;
	return MP_CONTINUE;
}

static const struct mp_filter null_filter = {
	.steps_off = MP_STEPS_AFTER_RCPT,
	.no_reply = SMFIP_NR_CONN | SMFIP_NR_MAIL,
	.rcpt = null_rcpt,
};

int
main(int argc, char **argv)
{
	const char *sock = NULL;
	char why[512];
	sigset_t stops;
	int ch, sig;

	while ((ch = getopt(argc, argv, "p:")) != -1) {
		if (ch != 'p')
			break;
		sock = optarg;
	}
	if (sock == NULL || optind != argc) {
		fprintf(stderr, "usage: nullown -p SOCKET\n");
		return 64;
	}
	sigemptyset(&stops);
	sigaddset(&stops, SIGTERM);
	sigaddset(&stops, SIGINT);
	pthread_sigmask(SIG_BLOCK, &stops, NULL);
	int fd = ml_listen(sock, why, sizeof(why));
	if (fd < 0 || ml_start(fd, &null_filter, why, sizeof(why)) < 0) {
		fprintf(stderr, "nullown: cannot listen on %s\n", why);
		return 1;
	}
	while (sigwait(&stops, &sig) != 0)
		;
	ml_stop(5);
	return 0;
}
