/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * protocol.c - the milter protocol of one MTA connection (see protocol.h).
 *
 * Every length is checked against the data it describes before anything
 * is read from it; strings are taken only when their NUL lies inside the
 * command.  Nothing here blocks or allocates more than one copy of a
 * macro command.
 */
#include "protocol.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/un.h>

/* The protocol version rcptguard speaks (that of libmilter 8.14 and later). */
#define MP_VERSION 6
#define MP_VERSION_MIN 2

/* Macro stages, in protocol order. */
enum { ST_CONN, ST_HELO, ST_MAIL, ST_RCPT, ST_DATA, ST_EOM, ST_EOH };

static int
stage_of(int cmd)
{
	switch (cmd) {
	case SMFIC_CONNECT: return ST_CONN;
	case SMFIC_HELO: return ST_HELO;
	case SMFIC_MAIL: return ST_MAIL;
	case SMFIC_RCPT: return ST_RCPT;
	case SMFIC_DATA: return ST_DATA;
	case SMFIC_BODYEOB: return ST_EOM;
	case SMFIC_EOH: return ST_EOH;
	default: return -1;
	}
}

static void
seterr(char *why, size_t whylen, const char *fmt, ...)
{
	va_list ap;

	if (why == NULL || whylen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(why, whylen, fmt, ap);
	va_end(ap);
}

static void
clear_macros(struct mp_session *s, int from)
{
	for (int i = from; i < MP_STAGES; i++) {
		free(s->macros[i]);
		s->macros[i] = NULL;
		s->macro_len[i] = 0;
	}
}

void
mp_session_init(struct mp_session *s, const struct mp_filter *f)
{
	memset(s, 0, sizeof(*s));
	s->filter = f;
}

static void
close_filter(struct mp_session *s)
{
	if (s->connected && s->filter->close != NULL)
		s->filter->close(s);
	s->connected = 0;
}

void
mp_session_end(struct mp_session *s)
{
	close_filter(s);
	clear_macros(s, 0);
}

/* Append a packet CMD with LEN bytes of DATA to OUT. */
static void
put_packet(char *out, size_t *outlen, int cmd, const void *data, size_t len)
{
	uint32_t n = htonl((uint32_t)(len + 1));

	if (*outlen + 5 + len > MP_OUT_MAX)
		return;                 /* cannot happen: replies are bounded */
	memcpy(out + *outlen, &n, 4);
	out[*outlen + 4] = (char)cmd;
	if (len > 0)
		memcpy(out + *outlen + 5, data, len);
	*outlen += 5 + len;
}

uint32_t
mp_get32(const char *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return ntohl(v);
}

/*
 * Split DATA (LEN bytes, NUL-terminated strings) into ARGV, at most MAX - 1
 * of them and a NULL.  The strings point into COPY, which must hold LEN
 * bytes.  -1 when the last string has no NUL.
 */
static int
split_args(const char *data, size_t len, char *copy, char **argv, int max)
{
	int n = 0;

	if (len == 0 || data[len - 1] != '\0')
		return -1;
	memcpy(copy, data, len);
	for (size_t i = 0; i < len && n < max - 1; i += strlen(copy + i) + 1)
		argv[n++] = copy + i;
	argv[n] = NULL;
	return 0;
}

static enum mp_next
negotiate(struct mp_session *s, const char *data, size_t len, char *out, size_t *outlen,
    char *why, size_t whylen)
{
	if (len < 12) {
		seterr(why, whylen, "option negotiation of %zu bytes, fewer than 12", len);
		return MP_ERROR;
	}
	uint32_t version = mp_get32(data), steps = mp_get32(data + 8);
	if (version < MP_VERSION_MIN) {
		seterr(why, whylen, "the MTA speaks milter protocol version %u, older than %d",
		    (unsigned)version, MP_VERSION_MIN);
		return MP_ERROR;
	}
	if (steps == 0)                 /* version 1 MTAs: these steps may be skipped */
		steps = SMFIP_NOCONNECT | SMFIP_NOHELO | SMFIP_NOMAIL | SMFIP_NORCPT |
		    SMFIP_NOBODY | SMFIP_NOHDRS;
	clear_macros(s, 0);
	s->mta_steps = steps;
	s->steps = steps & (s->filter->steps_off | s->filter->no_reply) &
	    (unsigned long)~(SMFIP_NOCONNECT | SMFIP_NOMAIL | SMFIP_NORCPT);
	char reply[12];
	uint32_t v = htonl(version < MP_VERSION ? version : MP_VERSION), acts = htonl(0),
	    st = htonl((uint32_t)s->steps);
	memcpy(reply, &v, 4);
	memcpy(reply + 4, &acts, 4);
	memcpy(reply + 8, &st, 4);
	put_packet(out, outlen, SMFIC_OPTNEG, reply, sizeof(reply));
	return MP_GO_ON;
}

/* CONNECT: host NUL, family, and unless unknown: port (2 bytes), address NUL. */
static enum mp_next
connect_info(struct mp_session *s, const char *data, size_t len, enum mp_status *st,
    char *why, size_t whylen)
{
	const char *nul = memchr(data, '\0', len);
	union {
		struct sockaddr sa;
		struct sockaddr_in in;
		struct sockaddr_in6 in6;
		struct sockaddr_un un;
	} addr;

	if (nul == NULL || (size_t)(nul - data) + 2 > len) {
		seterr(why, whylen, "connect without host name and family");
		return MP_ERROR;
	}
	size_t i = (size_t)(nul - data) + 1;
	char family = data[i++];
	memset(&addr, 0, sizeof(addr));
	if (family != SMFIA_UNKNOWN) {
		if (i + 2 >= len || data[len - 1] != '\0') {
			seterr(why, whylen, "connect with family '%c' but no address",
			    family >= 0x20 && family < 0x7f ? family : '?');
			return MP_ERROR;
		}
		uint16_t port;
		memcpy(&port, data + i, 2);
		const char *a = data + i + 2;
		if (family == SMFIA_INET && inet_pton(AF_INET, a, &addr.in.sin_addr) == 1) {
			addr.in.sin_family = AF_INET;
			addr.in.sin_port = port;
		} else if (family == SMFIA_INET6 &&
		    inet_pton(AF_INET6, strncasecmp(a, "IPv6:", 5) == 0 ? a + 5 : a,
		    &addr.in6.sin6_addr) == 1) {
			addr.in6.sin6_family = AF_INET6;
			addr.in6.sin6_port = port;
		} else if (family == SMFIA_UNIX && strlen(a) < sizeof(addr.un.sun_path)) {
			addr.un.sun_family = AF_UNIX;
			memcpy(addr.un.sun_path, a, strlen(a) + 1);
		} else {
			seterr(why, whylen, "connect with family '%c' and a bad address",
			    family >= 0x20 && family < 0x7f ? family : '?');
			return MP_ERROR;
		}
	}
	close_filter(s);                /* a second connect on one session */
	s->connected = 1;
	*st = s->filter->connect != NULL ?
	    s->filter->connect(s, data, family != SMFIA_UNKNOWN ? &addr.sa : NULL) : MP_CONTINUE;
	return MP_GO_ON;
}

/* MAIL or RCPT: the filter's callback with the arguments. */
static enum mp_next
envelope(struct mp_session *s, int cmd, const char *data, size_t len, enum mp_status *st,
    char *why, size_t whylen)
{
	enum mp_status (*fn)(struct mp_session *, char **) =
	    cmd == SMFIC_MAIL ? s->filter->mail : s->filter->rcpt;
	char *argv[64];
	char *copy = malloc(len + 1);

	if (copy == NULL) {
		seterr(why, whylen, "out of memory");
		return MP_ERROR;
	}
	if (split_args(data, len, copy, argv, 64) < 0) {
		free(copy);
		seterr(why, whylen, "%s without a terminated address",
		    cmd == SMFIC_MAIL ? "MAIL" : "RCPT");
		return MP_ERROR;
	}
	*st = fn != NULL ? fn(s, argv) : MP_CONTINUE;
	free(copy);
	return MP_GO_ON;
}

/* D: the stage's command, then name NUL value NUL pairs. */
static void
macros(struct mp_session *s, const char *data, size_t len)
{
	int stage = len > 0 ? stage_of((unsigned char)data[0]) : -1;

	/* a stage that has none, or no terminated string: ignored, as libmilter does */
	if (stage < 0 || len < 2 || data[len - 1] != '\0')
		return;
	char *copy = malloc(len - 1);
	if (copy == NULL)
		return;
	memcpy(copy, data + 1, len - 1);
	free(s->macros[stage]);
	s->macros[stage] = copy;
	s->macro_len[stage] = len - 1;
}

const char *
mp_symval(const struct mp_session *s, const char *name)
{
	size_t n = strlen(name);
	char alt[4] = "";

	if (n == 1) {
		alt[0] = '{';
		alt[1] = name[0];
		alt[2] = '}';
		alt[3] = '\0';
	} else if (n == 3 && name[0] == '{' && name[2] == '}') {
		alt[0] = name[1];
		alt[1] = '\0';
	}
	for (int st = MP_STAGES - 1; st >= 0; st--) {
		const char *p = s->macros[st];
		if (p == NULL)
			continue;
		const char *end = p + s->macro_len[st];
		while (p < end) {
			const char *value = p + strlen(p) + 1;
			if (value >= end)
				break;          /* a name without a value */
			if (strcmp(p, name) == 0 || (alt[0] != '\0' && strcmp(p, alt) == 0))
				return value;
			p = value + strlen(value) + 1;
		}
	}
	return NULL;
}

static int
valid_code(const char *code, const char *xcode)
{
	if (strlen(code) != 3 || (code[0] != '4' && code[0] != '5') ||
	    code[1] < '0' || code[1] > '9' || code[2] < '0' || code[2] > '9')
		return 0;
	/* class.subject.detail, class matching the code, 1 to 3 digits each */
	const char *p = xcode;
	if (p[0] != code[0] || p[1] != '.')
		return 0;
	p += 2;
	for (int part = 0; part < 2; part++) {
		size_t d = strspn(p, "0123456789");
		if (d == 0 || d > 3 || p[d] != (part == 0 ? '.' : '\0'))
			return 0;
		p += d + 1;
	}
	return 1;
}

int
mp_setreply(struct mp_session *s, const char *code, const char *xcode, int nlines,
    const char *const *text)
{
	size_t n = 0;

	s->reply_len = 0;
	if (nlines < 1 || !valid_code(code, xcode))
		return -1;
	for (int i = 0; i < nlines; i++) {
		if (strpbrk(text[i], "\r\n") != NULL)
			return -1;
		int w = snprintf(s->reply + n, sizeof(s->reply) - n, "%s%s%c%s %s", i ? "\r\n" : "",
		    code, i + 1 < nlines ? '-' : ' ', xcode, text[i]);
		if (w < 0 || (size_t)w >= sizeof(s->reply) - n)
			return -1;
		n += (size_t)w;
	}
	s->reply_len = n;
	return 0;
}

/* The reply to a step whose "no reply" flag is NR (0: always one). */
static void
reply(struct mp_session *s, enum mp_status st, unsigned long nr, char *out, size_t *outlen)
{
	if (nr != 0 && (s->steps & nr)) {
		s->reply_len = 0;
		return;
	}
	if (st != MP_CONTINUE && s->reply_len > 0 &&
	    s->reply[0] == (st == MP_REJECT ? '5' : '4'))
		put_packet(out, outlen, SMFIR_REPLYCODE, s->reply, s->reply_len + 1);
	else
		put_packet(out, outlen, st == MP_REJECT ? SMFIR_REJECT :
		    st == MP_TEMPFAIL ? SMFIR_TEMPFAIL : SMFIR_CONTINUE, NULL, 0);
	s->reply_len = 0;
}

enum mp_next
mp_command(struct mp_session *s, int cmd, const char *data, size_t len, char *out,
    size_t *outlen, char *why, size_t whylen)
{
	enum mp_status st = MP_CONTINUE;
	enum mp_next next;

	s->reply_len = 0;
	switch (cmd) {
	case SMFIC_OPTNEG:
		return negotiate(s, data, len, out, outlen, why, whylen);
	case SMFIC_MACRO:
		macros(s, data, len);
		return MP_GO_ON;
	case SMFIC_CONNECT:
		clear_macros(s, ST_CONN + 1);
		if ((next = connect_info(s, data, len, &st, why, whylen)) != MP_GO_ON)
			return next;
		reply(s, st, SMFIP_NR_CONN, out, outlen);
		return MP_GO_ON;
	case SMFIC_HELO:
		clear_macros(s, ST_HELO + 1);
		reply(s, MP_CONTINUE, SMFIP_NR_HELO, out, outlen);
		return MP_GO_ON;
	case SMFIC_MAIL:
	case SMFIC_RCPT:
		clear_macros(s, stage_of(cmd) + 1);
		if ((next = envelope(s, cmd, data, len, &st, why, whylen)) != MP_GO_ON)
			return next;
		reply(s, st, cmd == SMFIC_MAIL ? SMFIP_NR_MAIL : SMFIP_NR_RCPT, out, outlen);
		return MP_GO_ON;
	case SMFIC_DATA:
		reply(s, MP_CONTINUE, SMFIP_NR_DATA, out, outlen);
		return MP_GO_ON;
	case SMFIC_HEADER:
		reply(s, MP_CONTINUE, SMFIP_NR_HDR, out, outlen);
		return MP_GO_ON;
	case SMFIC_EOH:
		reply(s, MP_CONTINUE, SMFIP_NR_EOH, out, outlen);
		return MP_GO_ON;
	case SMFIC_BODY:
		reply(s, MP_CONTINUE, SMFIP_NR_BODY, out, outlen);
		return MP_GO_ON;
	case SMFIC_UNKNOWN:
		reply(s, MP_CONTINUE, SMFIP_NR_UNKN, out, outlen);
		return MP_GO_ON;
	case SMFIC_BODYEOB:
		reply(s, MP_CONTINUE, 0, out, outlen);
		return MP_GO_ON;
	case SMFIC_ABORT:
		/* the next MAIL sends its own macros and clears the later ones */
		return MP_GO_ON;
	case SMFIC_QUIT_NC:
		mp_session_end(s);
		return MP_GO_ON;
	case SMFIC_QUIT:
		mp_session_end(s);
		return MP_END;
	default:
		seterr(why, whylen, "unknown command 0x%02x", (unsigned)(unsigned char)cmd);
		return MP_ERROR;
	}
}
