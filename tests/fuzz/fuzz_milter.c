/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * fuzz_milter.c - libFuzzer target for the milter protocol
 * (milter/protocol.c): what an MTA, or anything that reaches the milter
 * socket, can send.
 *
 * Input: a stream of packets as on the socket (4-byte length, command,
 * data), cut where the listener would cut it; a length beyond
 * MP_MAX_DATA + 1 or a short last packet ends the stream, as it ends the
 * connection.  The filter looks up macros at every step, and at RCPT sets a
 * reply made from the recipient (one or two lines, with bytes the reply may
 * not carry) and answers REJECT, TEMPFAIL or CONTINUE by its first byte.
 * Properties:
 *   - every packet written back is whole, one of c r t y O, and only O
 *     after an option negotiation;
 *   - a y reply is "NNN X.Y.Z text" lines joined by CR LF, NUL-terminated,
 *     with no other CR, LF or NUL, and its code class matches r or t;
 *   - nothing is written after MP_END or MP_ERROR, and close is called
 *     exactly once per connect.
 */
#include "fuzz.h"
#include "protocol.c"

static int opened;

static enum mp_status
f_connect(struct mp_session *s, const char *host, const struct sockaddr *sa)
{
	(void)host;
	(void)sa;
	(void)mp_symval(s, "v");
	(void)mp_symval(s, "{if_name}");
	opened++;
	return MP_CONTINUE;
}

static enum mp_status
f_mail(struct mp_session *s, char **argv)
{
	PROPERTY(argv[0] != NULL, "MAIL without an argument");
	(void)mp_symval(s, "{auth_authen}");
	return MP_CONTINUE;
}

static enum mp_status
f_rcpt(struct mp_session *s, char **argv)
{
	const char *a = argv[0];
	const char *i = mp_symval(s, "i");

	PROPERTY(a != NULL, "RCPT without an argument");
	if (i != NULL)
		(void)strlen(i);
	if (a[0] == '\0')
		return MP_CONTINUE;
	const char *lines[2] = { a, argv[1] != NULL ? argv[1] : "Did you mean?" };
	int reject = a[0] & 1;
	(void)mp_setreply(s, reject ? "550" : "451", reject ? "5.1.1" : "4.3.0",
	    (a[0] & 2) ? 2 : 1, lines);
	return (a[0] & 4) ? MP_CONTINUE : reject ? MP_REJECT : MP_TEMPFAIL;
}

static void
f_close(struct mp_session *s)
{
	(void)s;
	opened--;
}

static const struct mp_filter filter = {
	.steps_off = MP_STEPS_AFTER_RCPT,
	.no_reply = SMFIP_NR_CONN | SMFIP_NR_MAIL,
	.connect = f_connect,
	.mail = f_mail,
	.rcpt = f_rcpt,
	.close = f_close,
};

static void
check_out(const char *out, size_t len, int cmd)
{
	size_t pos = 0;

	while (pos < len) {
		PROPERTY(len - pos >= 5, "a packet cut short");
		uint32_t n = mp_get32(out + pos);
		PROPERTY(n >= 1 && pos + 4 + n <= len, "packet length %u", (unsigned)n);
		char c = out[pos + 4];
		const char *d = out + pos + 5;
		size_t dl = n - 1;
		PROPERTY(strchr("crtyO", c) != NULL && c != '\0', "reply command 0x%02x", c);
		PROPERTY(c != 'O' || cmd == SMFIC_OPTNEG, "O after command %c", cmd);
		if (c == 'O')
			PROPERTY(dl == 12, "negotiation reply of %zu bytes", dl);
		if (c == 'c' || c == 'r' || c == 't')
			PROPERTY(dl == 0, "%c with %zu bytes", c, dl);
		if (c == 'y') {
			PROPERTY(dl >= 6 && d[dl - 1] == '\0', "y not NUL-terminated");
			PROPERTY(memchr(d, '\0', dl) == d + dl - 1, "NUL inside a y reply");
			PROPERTY(d[0] == '4' || d[0] == '5', "y reply class %c", d[0]);
			for (size_t i = 0; i + 1 < dl; i++) {
				if (d[i] == '\r') {
					PROPERTY(d[i + 1] == '\n', "CR without LF");
					PROPERTY(strncmp(d + i + 2, d, 3) == 0, "lines with other codes");
					i++;
				} else {
					PROPERTY(d[i] != '\n', "LF without CR");
				}
			}
		}
		pos += 4 + n;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mp_session s;
	char out[MP_OUT_MAX], why[256];
	size_t pos = 0;
	enum mp_next next = MP_GO_ON;

	opened = 0;
	mp_session_init(&s, &filter);
	while (next == MP_GO_ON && size - pos >= 5) {
		uint32_t n = mp_get32((const char *)data + pos);
		if (n == 0 || n > MP_MAX_DATA + 1 || size - pos - 4 < n)
			break;
		size_t outlen = 0;
		why[0] = '\0';
		int cmd = data[pos + 4];
		next = mp_command(&s, cmd, (const char *)data + pos + 5, n - 1, out, &outlen, why,
		    sizeof(why));
		PROPERTY(next != MP_ERROR || outlen == 0, "%zu bytes out with an error", outlen);
		PROPERTY(next != MP_ERROR || why[0] != '\0', "an error without a reason");
		check_out(out, outlen, cmd);
		PROPERTY(opened == 0 || opened == 1, "%d connects open", opened);
		pos += 4 + n;
	}
	mp_session_end(&s);
	PROPERTY(opened == 0, "close not called (%d open)", opened);
	return 0;
}
