/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * protocol.h - the milter protocol, MTA side in, filter replies out: one
 * session per MTA connection, fed one command at a time.  No I/O here
 * (milter/listener.c reads and writes), so that the fuzzer can drive it.
 *
 * A command is a packet: a 4-byte length in network order (counting the
 * command byte), a command byte, and LENGTH - 1 bytes of data.  What the
 * session does with each:
 *
 *	O  option negotiation: protocol version (2 to 6), actions, steps.
 *	   The reply names the filter's steps: those it needs not see, and
 *	   "no reply" for CONNECT and MAIL when the MTA offers it.
 *	D  macros for a stage (C, H, M, R, T, E, N): kept until a command of
 *	   an earlier stage, and found with mp_symval() latest stage first.
 *	C  connect; M  MAIL FROM; R  RCPT TO: handed to the filter.
 *	H, T, L, N, B, E, U: answered "continue" (the steps the MTA could not
 *	   skip).
 *	A  abort: no reply.  K  quit, a new connection follows.  Q  quit.
 *
 * A malformed command ends the connection, as libmilter does: the MTA then
 * applies its default action for the filter (Postfix:
 * milter_default_action, Sendmail: the F= flags).
 */
#ifndef PROTOCOL_H
#define PROTOCOL_H

#include <libmilter/mfdef.h>  /* the protocol's constants only: SMFIC_*, SMFIP_* */
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* The largest command accepted (the MTA's largest body chunk is 1 MiB). */
#define MP_MAX_DATA (1024 * 1024)
/* Room for every reply of one command (the longest: two lines of text). */
#define MP_OUT_MAX 4096
/* The longest reply text a filter may set, all lines. */
#define MP_REPLY_MAX 2048

enum mp_status { MP_CONTINUE, MP_REJECT, MP_TEMPFAIL };

/* What mp_command() says about the session. */
enum mp_next { MP_GO_ON, MP_END, MP_ERROR };

struct mp_session;

struct mp_filter {
	/* SMFIP_NO* steps the filter does without (asked when offered) */
	unsigned long steps_off;
	/* SMFIP_NR_CONN, SMFIP_NR_MAIL: no reply wanted (asked when offered) */
	unsigned long no_reply;
	/* SA is NULL when the MTA does not know the client's address */
	enum mp_status (*connect)(struct mp_session *s, const char *host,
	    const struct sockaddr *sa);
	enum mp_status (*mail)(struct mp_session *s, char **argv);
	enum mp_status (*rcpt)(struct mp_session *s, char **argv);
	/* the connection ends (or a new one follows on the same socket) */
	void (*close)(struct mp_session *s);
};

/* The steps a filter that decides at RCPT does without. */
#define MP_STEPS_AFTER_RCPT (SMFIP_NOHELO | SMFIP_NOHDRS | SMFIP_NOEOH | SMFIP_NOBODY | \
	SMFIP_NOUNKNOWN | SMFIP_NODATA)

/* A 4-byte length or flag word of the protocol (network order) at P. */
uint32_t mp_get32(const char *p);

#define MP_STAGES 7

struct mp_session {
	const struct mp_filter *filter;
	void *priv;                     /* the filter's, per connection */
	unsigned long mta_steps;        /* the steps the MTA offered */
	unsigned long steps;            /* the steps agreed */
	int connected;                  /* connect seen, close not yet called */
	char *macros[MP_STAGES];        /* per stage: name\0value\0..., copied */
	size_t macro_len[MP_STAGES];
	char reply[MP_REPLY_MAX];       /* "550-5.1.1 text\r\n550 5.1.1 text" */
	size_t reply_len;               /* 0: none set for this command */
};

void mp_session_init(struct mp_session *s, const struct mp_filter *f);

/* The connection is gone: the filter's close, if due; the macros freed. */
void mp_session_end(struct mp_session *s);

/*
 * One command CMD with its LEN bytes of DATA.  Whatever is to be sent back
 * is appended to OUT (MP_OUT_MAX bytes of room at OUT + *OUTLEN), and
 * *OUTLEN grows by its length.  MP_END after a quit; MP_ERROR for a
 * malformed command, with WHY saying what was wrong.
 */
enum mp_next mp_command(struct mp_session *s, int cmd, const char *data, size_t len,
    char *out, size_t *outlen, char *why, size_t whylen);

/*
 * The value of macro NAME, or NULL: "i" and "{i}" are the same name, as in
 * libmilter's smfi_getsymval().
 */
const char *mp_symval(const struct mp_session *s, const char *name);

/*
 * The text of the reply to the current command, for a REJECT or TEMPFAIL
 * whose code class matches: CODE ("550"), XCODE ("5.1.1") and NLINES lines
 * of TEXT, each without CR or LF.  0, or -1 when it does not fit or is not
 * a valid reply (then the MTA's own text is used).
 */
int mp_setreply(struct mp_session *s, const char *code, const char *xcode, int nlines,
    const char *const *text);

#endif
