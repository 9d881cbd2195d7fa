/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * test_protocol.c - the milter protocol (milter/protocol.c), byte for byte:
 * what goes back to the MTA for each command, the macros, the reply texts,
 * and the commands that end a connection.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <cmocka.h>

#include "protocol.h"

/* What the test filter saw. */
static int opened, closed;
static char last_client[64], last_rcpt[256], last_i[64], last_v[64], last_auth[64];
static enum mp_status rcpt_status;
static const char *rcpt_lines[2];
static int rcpt_nlines;

static enum mp_status
t_connect(struct mp_session *s, const char *host, const struct sockaddr *sa)
{
	const char *v = mp_symval(s, "v");

	(void)host;
	opened++;
	last_client[0] = '\0';
	if (sa != NULL && sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, last_client,
		    sizeof(last_client));
	else if (sa != NULL && sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, last_client,
		    sizeof(last_client));
	snprintf(last_v, sizeof(last_v), "%s", v ? v : "(none)");
	return MP_CONTINUE;
}

static enum mp_status
t_mail(struct mp_session *s, char **argv)
{
	const char *a = mp_symval(s, "{auth_authen}");

	(void)argv;
	snprintf(last_auth, sizeof(last_auth), "%s", a ? a : "(none)");
	return MP_CONTINUE;
}

static enum mp_status
t_rcpt(struct mp_session *s, char **argv)
{
	const char *i = mp_symval(s, "i");

	snprintf(last_rcpt, sizeof(last_rcpt), "%s", argv[0]);
	snprintf(last_i, sizeof(last_i), "%s", i ? i : "(none)");
	if (rcpt_nlines > 0)
		assert_int_equal(mp_setreply(s, rcpt_status == MP_REJECT ? "550" : "451",
		    rcpt_status == MP_REJECT ? "5.1.1" : "4.3.0", rcpt_nlines, rcpt_lines), 0);
	return rcpt_status;
}

static void
t_close(struct mp_session *s)
{
	(void)s;
	closed++;
}

static const struct mp_filter filter = {
	.steps_off = MP_STEPS_AFTER_RCPT,
	.no_reply = SMFIP_NR_CONN | SMFIP_NR_MAIL,
	.connect = t_connect,
	.mail = t_mail,
	.rcpt = t_rcpt,
	.close = t_close,
};

static struct mp_session sess;
static char out[MP_OUT_MAX], why[256];
static size_t outlen;

static int
setup(void **state)
{
	(void)state;
	opened = closed = 0;
	rcpt_status = MP_CONTINUE;
	rcpt_nlines = 0;
	mp_session_init(&sess, &filter);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	mp_session_end(&sess);
	return 0;
}

/* Feed one command; data given with its length (it may hold NULs). */
static enum mp_next
feed(int cmd, const char *data, size_t len)
{
	outlen = 0;
	why[0] = '\0';
	return mp_command(&sess, cmd, data, len, out, &outlen, why, sizeof(why));
}

static void
negotiate(uint32_t version, uint32_t actions, uint32_t steps)
{
	char d[12];
	uint32_t v[3] = { htonl(version), htonl(actions), htonl(steps) };

	memcpy(d, v, 12);
	assert_int_equal(feed(SMFIC_OPTNEG, d, 12), MP_GO_ON);
}

static uint32_t
out32(size_t at)
{
	uint32_t v;

	memcpy(&v, out + at, 4);
	return ntohl(v);
}

/* The output is exactly one packet CMD with LEN bytes of data DATA. */
static void
expect_packet(int cmd, const char *data, size_t len)
{
	assert_int_equal(outlen, 5 + len);
	assert_int_equal(out32(0), len + 1);
	assert_int_equal(out[4], cmd);
	if (len > 0)
		assert_memory_equal(out + 5, data, len);
}

#define FEED(cmd, lit) feed((cmd), (lit), sizeof(lit) - 1)

static void
postfix_offer_gets_steps_off_and_no_reply(void **state)
{
	(void)state;
	negotiate(6, 0x1ff, 0x1fffff);
	assert_int_equal(outlen, 17);
	assert_int_equal(out[4], 'O');
	assert_int_equal(out32(5), 6);
	assert_int_equal(out32(9), 0);
	assert_int_equal(out32(13), SMFIP_NOHELO | SMFIP_NOHDRS | SMFIP_NOEOH | SMFIP_NOBODY |
	    SMFIP_NOUNKNOWN | SMFIP_NODATA | SMFIP_NR_CONN | SMFIP_NR_MAIL);
}

static void
postfix_session(void **state)
{
	(void)state;
	negotiate(6, 0x1ff, 0x1fffff);
	assert_int_equal(FEED(SMFIC_MACRO, "Cj\0mx.example.com\0v\0Postfix 3.7.11\0"), MP_GO_ON);
	assert_int_equal(outlen, 0);
	assert_int_equal(FEED(SMFIC_CONNECT, "client.example.net\0" "4\0\031" "192.0.2.7\0"),
	    MP_GO_ON);
	assert_int_equal(outlen, 0);            /* no reply: SMFIP_NR_CONN */
	assert_int_equal(opened, 1);
	assert_string_equal(last_client, "192.0.2.7");
	assert_string_equal(last_v, "Postfix 3.7.11");
	assert_int_equal(FEED(SMFIC_MACRO, "M{auth_authen}\0alice\0"), MP_GO_ON);
	assert_int_equal(FEED(SMFIC_MAIL, "<a@example.net>\0SIZE=10\0"), MP_GO_ON);
	assert_int_equal(outlen, 0);            /* no reply: SMFIP_NR_MAIL */
	assert_string_equal(last_auth, "alice");
	assert_int_equal(FEED(SMFIC_MACRO, "Ri\0" "4XyZ1\0"), MP_GO_ON);
	assert_int_equal(FEED(SMFIC_RCPT, "<john@example.com>\0"), MP_GO_ON);
	expect_packet('c', NULL, 0);
	assert_string_equal(last_rcpt, "<john@example.com>");
	assert_string_equal(last_i, "4XyZ1");
	assert_string_equal(mp_symval(&sess, "{i}"), "4XyZ1");
	assert_string_equal(mp_symval(&sess, "{j}"), "mx.example.com");
	assert_null(mp_symval(&sess, "{rcpt_addr}"));

	/* two lines, as Postfix shows them */
	rcpt_status = MP_REJECT;
	rcpt_lines[0] = "<nobody@example.com>: Recipient address rejected: User unknown";
	rcpt_lines[1] = "Did you mean <john@example.com>?";
	rcpt_nlines = 2;
	assert_int_equal(FEED(SMFIC_RCPT, "<nobody@example.com>\0"), MP_GO_ON);
	static const char two[] = "550-5.1.1 <nobody@example.com>: Recipient address rejected: "
	    "User unknown\r\n550 5.1.1 Did you mean <john@example.com>?";
	expect_packet('y', two, sizeof(two));   /* with its NUL */

	rcpt_status = MP_TEMPFAIL;
	rcpt_lines[0] = "<x@example.com>: directory unavailable";
	rcpt_nlines = 1;
	assert_int_equal(FEED(SMFIC_RCPT, "<x@example.com>\0"), MP_GO_ON);
	static const char one[] = "451 4.3.0 <x@example.com>: directory unavailable";
	expect_packet('y', one, sizeof(one));

	/* a reply whose class does not match the answer is not sent */
	rcpt_status = MP_TEMPFAIL;
	rcpt_nlines = 0;
	assert_int_equal(FEED(SMFIC_RCPT, "<y@example.com>\0"), MP_GO_ON);
	expect_packet('t', NULL, 0);
	rcpt_status = MP_REJECT;
	assert_int_equal(FEED(SMFIC_RCPT, "<y@example.com>\0"), MP_GO_ON);
	expect_packet('r', NULL, 0);

	/* abort, a new MAIL: the RCPT macros of the last message are gone */
	assert_int_equal(FEED(SMFIC_ABORT, ""), MP_GO_ON);
	assert_int_equal(outlen, 0);
	assert_int_equal(FEED(SMFIC_MAIL, "<b@example.net>\0"), MP_GO_ON);
	assert_null(mp_symval(&sess, "i"));
	assert_string_equal(mp_symval(&sess, "v"), "Postfix 3.7.11");

	/* quit, a new connection on the same socket */
	assert_int_equal(FEED(SMFIC_QUIT_NC, ""), MP_GO_ON);
	assert_int_equal(closed, 1);
	assert_null(mp_symval(&sess, "v"));
	assert_int_equal(FEED(SMFIC_CONNECT, "h\0" "6\0\031" "2001:db8::1\0"), MP_GO_ON);
	assert_string_equal(last_client, "2001:db8::1");
	assert_int_equal(FEED(SMFIC_QUIT, ""), MP_END);
	assert_int_equal(outlen, 0);
	assert_int_equal(closed, 2);
}

static void
old_mta_gets_replies_it_waits_for(void **state)
{
	(void)state;
	negotiate(2, 0, 0);                     /* version 2, no flags: version 1 steps */
	assert_int_equal(out32(5), 2);
	assert_int_equal(out32(13), SMFIP_NOHELO | SMFIP_NOHDRS | SMFIP_NOBODY);
	assert_int_equal(FEED(SMFIC_CONNECT, "h\0U"), MP_GO_ON);
	expect_packet('c', NULL, 0);
	assert_string_equal(last_client, "");
	assert_int_equal(FEED(SMFIC_HELO, "client\0"), MP_GO_ON);
	expect_packet('c', NULL, 0);
	assert_int_equal(FEED(SMFIC_MAIL, "<>\0"), MP_GO_ON);
	expect_packet('c', NULL, 0);
	assert_int_equal(FEED(SMFIC_DATA, ""), MP_GO_ON);
	expect_packet('c', NULL, 0);
	assert_int_equal(FEED(SMFIC_HEADER, "Subject\0hi\0"), MP_GO_ON);
	expect_packet('c', NULL, 0);
	assert_int_equal(FEED(SMFIC_BODYEOB, ""), MP_GO_ON);
	expect_packet('c', NULL, 0);
}

static void
malformed_commands_end_the_connection(void **state)
{
	(void)state;
	assert_int_equal(FEED(SMFIC_OPTNEG, "\0\0\0\6"), MP_ERROR);
	assert_string_equal(why, "option negotiation of 4 bytes, fewer than 12");
	char d[12];
	uint32_t v[3] = { htonl(1), htonl(0), htonl(0) };
	memcpy(d, v, 12);
	assert_int_equal(feed(SMFIC_OPTNEG, d, 12), MP_ERROR);
	assert_string_equal(why, "the MTA speaks milter protocol version 1, older than 2");
	assert_int_equal(FEED(SMFIC_CONNECT, "host-without-family"), MP_ERROR);
	assert_string_equal(why, "connect without host name and family");
	assert_int_equal(FEED(SMFIC_CONNECT, "h\0" "4\0\031" "not-an-address\0"), MP_ERROR);
	assert_string_equal(why, "connect with family '4' and a bad address");
	assert_int_equal(FEED(SMFIC_CONNECT, "h\0" "4\0\031"), MP_ERROR);
	assert_int_equal(opened, 0);
	assert_int_equal(FEED(SMFIC_RCPT, "<no-nul@example.com>"), MP_ERROR);
	assert_string_equal(why, "RCPT without a terminated address");
	assert_int_equal(FEED(SMFIC_MAIL, ""), MP_ERROR);
	assert_int_equal(FEED('Z', "x"), MP_ERROR);
	assert_string_equal(why, "unknown command 0x5a");
	assert_int_equal(outlen, 0);
	/* a macro command for no stage, or unterminated: ignored */
	assert_int_equal(FEED(SMFIC_MACRO, "Qa\0b\0"), MP_GO_ON);
	assert_int_equal(FEED(SMFIC_MACRO, "Ca\0b"), MP_GO_ON);
	assert_null(mp_symval(&sess, "a"));
}

static void
setreply_refuses_what_an_smtp_reply_cannot_carry(void **state)
{
	const char *ok[] = { "fine" }, *cr[] = { "bad\r\ninjected" };

	(void)state;
	assert_int_equal(mp_setreply(&sess, "550", "5.1.1", 1, ok), 0);
	assert_int_equal(mp_setreply(&sess, "250", "2.0.0", 1, ok), -1);
	assert_int_equal(mp_setreply(&sess, "550", "4.1.1", 1, ok), -1);
	assert_int_equal(mp_setreply(&sess, "550", "5.1", 1, ok), -1);
	assert_int_equal(mp_setreply(&sess, "55", "5.1.1", 1, ok), -1);
	assert_int_equal(mp_setreply(&sess, "550", "5.1.1", 1, cr), -1);
	assert_int_equal(mp_setreply(&sess, "550", "5.1.1", 0, ok), -1);
	char longline[MP_REPLY_MAX];
	memset(longline, 'a', sizeof(longline) - 1);
	longline[sizeof(longline) - 1] = '\0';
	const char *lng[] = { longline };
	assert_int_equal(mp_setreply(&sess, "550", "5.1.1", 1, lng), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(postfix_offer_gets_steps_off_and_no_reply, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(postfix_session, setup, teardown),
		cmocka_unit_test_setup_teardown(old_mta_gets_replies_it_waits_for, setup, teardown),
		cmocka_unit_test_setup_teardown(malformed_commands_end_the_connection, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(setreply_refuses_what_an_smtp_reply_cannot_carry,
		    setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
