/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * milterload.c - load a milter over its own protocol, as an MTA would, and
 * report recipients per second and the RCPT latency.
 *
 * milterload -s SOCKET -k KNOWN [-a ALIASES] [-c SESSIONS] [-r RCPTS]
 *     [-t TXS] [-d SECONDS | -n COUNT] [-m MIX] [-W] [-l LOG] [-T TAG]
 *
 *	-s SOCKET   unix:/path, inet:PORT@HOST (as the milter's Socket key)
 *	-k KNOWN    existing addresses, one a line
 *	-a ALIASES  existing alias addresses, one a line (for the alias mix)
 *	-c N        concurrent sessions, one thread each (default 1)
 *	-r N        RCPTs a transaction (default 10)
 *	-t N        transactions a connection (default 10)
 *	-d SECONDS  timed run (default 10); -n COUNT: exactly COUNT RCPTs
 *	-m MIX      known=P,unknown=P,typo=P,alias=P in per cent (default
 *	            known=100); the categories are interleaved evenly, so with
 *	            -n a multiple of 100 the count of each is exact
 *	-W          first send every known address once (split over the
 *	            sessions), untimed: a warm cache
 *	-l LOG      one line a recipient: category, address, reply
 *	-T TAG      makes the generated unknown addresses of this run differ
 *	            from those of other runs (default: pid and time)
 *
 * Each session speaks the milter protocol as Postfix 3.7 does: option
 * negotiation (version 6, every action and protocol step offered), the
 * macros Postfix sends by default before CONNECT, MAIL and RCPT, CONNECT
 * (client 127.0.0.1), HELO, MAIL, RCPTs, ABORT after each transaction and
 * QUIT at the end of a connection; steps the milter negotiated away are not
 * sent, and no reply is awaited for steps it negotiated "no reply" for.
 *
 * Unknown addresses are never-seen: a known local part with "-TAG-SEQ"
 * appended.  Typos swap two adjacent letters of a known local part.
 *
 * Output (standard output), one "key=value" list a line:
 *	rcpts=N seconds=S rate=R p50_us=.. p99_us=.. p999_us=.. max_us=..
 *	CATEGORY=N continue=N reject550=N tempfail4xx=N other=N   (per category)
 *	connections=N errors=N protocol=0xP   (the steps the milter negotiated)
 * Exit status 0, or 1 when a session failed (connection refused or closed,
 * protocol error).
 */
#include <libmilter/mfdef.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

enum { C_KNOWN, C_UNKNOWN, C_TYPO, C_ALIAS, NCAT };
enum { R_CONTINUE, R_550, R_4XX, R_OTHER, NREPLY };
static const char *cat_name[NCAT] = { "known", "unknown", "typo", "alias" };

struct list {
	char **v;
	size_t n;
};

static struct {
	const char *sock;
	struct list known, alias;
	int sessions, rcpts, txs, warm;
	double seconds;
	long count;                     /* -n; 0: timed */
	int pct[NCAT];
	char cat_of[100];               /* category of sequence number % 100 */
	char tag[32];
	FILE *log;
} opt = { .sessions = 1, .rcpts = 10, .txs = 10, .seconds = 10 };

static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static atomic_long seq_next;            /* timed run: recipients handed out */
static atomic_long warm_next;           /* warm pass: next known address */
static atomic_int stop_now;
static double t_end;                    /* timed run: monotonic end */
static pthread_barrier_t start_line;

struct sess {
	int id, fd;
	long seq, seq_end;              /* -n: this session's share */
	unsigned long pflags;           /* what the milter negotiated */
	uint64_t rnd;
	uint32_t *lat;                  /* RCPT latencies, ns */
	size_t nlat, caplat;
	long counts[NCAT][NREPLY];
	long conns, errors;
	unsigned char in[8192];
	size_t inlen, inoff;
};

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static uint64_t
rnd_next(struct sess *s)
{
	/* xorshift64* */
	s->rnd ^= s->rnd >> 12;
	s->rnd ^= s->rnd << 25;
	s->rnd ^= s->rnd >> 27;
	return s->rnd * 2685821657736338717ULL;
}

/* Read FILE into L, one address a line; exits on failure. */
static void
list_read(const char *file, struct list *l)
{
	FILE *f = fopen(file, "r");
	char line[1024];
	size_t cap = 0;

	if (f == NULL) {
		perror(file);
		exit(2);
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		line[strcspn(line, "\r\n")] = '\0';
		if (line[0] == '\0')
			continue;
		if (l->n == cap) {
			cap = cap ? 2 * cap : 1024;
			l->v = realloc(l->v, cap * sizeof(*l->v));
		}
		if (l->v == NULL || (l->v[l->n++] = strdup(line)) == NULL) {
			fprintf(stderr, "milterload: out of memory\n");
			exit(2);
		}
	}
	fclose(f);
}

/* Connect to the milter socket; -1 on failure. */
static int
sock_connect(const char *spec)
{
	int fd = -1;

	if (strncmp(spec, "unix:", 5) == 0 || strncmp(spec, "local:", 6) == 0) {
		struct sockaddr_un su = { .sun_family = AF_UNIX };
		snprintf(su.sun_path, sizeof(su.sun_path), "%s", strchr(spec, ':') + 1);
		fd = socket(AF_UNIX, SOCK_STREAM, 0);
		if (fd >= 0 && connect(fd, (struct sockaddr *)&su, sizeof(su)) != 0) {
			close(fd);
			fd = -1;
		}
	} else if (strncmp(spec, "inet:", 5) == 0 && strchr(spec, '@') != NULL) {
		struct sockaddr_in si = { .sin_family = AF_INET };
		si.sin_port = htons((unsigned short)atoi(spec + 5));
		if (inet_pton(AF_INET, strchr(spec, '@') + 1, &si.sin_addr) != 1)
			return -1;
		fd = socket(AF_INET, SOCK_STREAM, 0);
		int one = 1;
		if (fd >= 0)
			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (fd >= 0 && connect(fd, (struct sockaddr *)&si, sizeof(si)) != 0) {
			close(fd);
			fd = -1;
		}
	}
	return fd;
}

/*
 * Append one packet (command CMD, LEN bytes of DATA) to the buffer B of
 * size CAP at *OFF; 0, or -1 when it does not fit.
 */
static int
pkt_add(char *b, size_t cap, size_t *off, char cmd, const void *data, size_t len)
{
	uint32_t n = htonl((uint32_t)len + 1);

	if (*off + 5 + len > cap)
		return -1;
	memcpy(b + *off, &n, 4);
	b[*off + 4] = cmd;
	if (len > 0)
		memcpy(b + *off + 5, data, len);
	*off += 5 + len;
	return 0;
}

/* A macro packet for command CMD from NULL-terminated name, value pairs. */
static int
macro_add(char *b, size_t cap, size_t *off, char cmd, const char *const *nv)
{
	char d[1024];
	size_t n = 0;

	d[n++] = cmd;
	for (int i = 0; nv[i] != NULL; i++) {
		size_t l = strlen(nv[i]) + 1;
		if (n + l > sizeof(d))
			return -1;
		memcpy(d + n, nv[i], l);
		n += l;
	}
	return pkt_add(b, cap, off, SMFIC_MACRO, d, n);
}

static int
write_all(int fd, const char *b, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, b, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		b += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Fill the read buffer so that it holds at least WANT bytes; -1 at EOF. */
static int
fill(struct sess *s, size_t want)
{
	if (s->inoff > 0) {
		memmove(s->in, s->in + s->inoff, s->inlen - s->inoff);
		s->inlen -= s->inoff;
		s->inoff = 0;
	}
	while (s->inlen < want) {
		ssize_t r = read(s->fd, s->in + s->inlen, sizeof(s->in) - s->inlen);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		s->inlen += (size_t)r;
	}
	return 0;
}

/*
 * Read one reply packet, skipping "progress" packets; its command in *CMD,
 * its data (NUL-terminated, truncated to TEXTLEN) in TEXT.  -1 on EOF or a
 * packet too large for the buffer.
 */
static int
reply_read(struct sess *s, char *cmd, char *text, size_t textlen)
{
	for (;;) {
		uint32_t n;
		if (s->inlen - s->inoff < 4 && fill(s, 4) != 0)
			return -1;
		memcpy(&n, s->in + s->inoff, 4);
		n = ntohl(n);
		if (n == 0 || n > sizeof(s->in) - 4)
			return -1;
		if (s->inlen - s->inoff < 4 + n && fill(s, 4 + n) != 0)
			return -1;
		const unsigned char *p = s->in + s->inoff + 4;
		s->inoff += 4 + n;
		*cmd = (char)p[0];
		size_t l = n - 1 < textlen - 1 ? n - 1 : textlen - 1;
		memcpy(text, p + 1, l);
		text[l] = '\0';
		if (*cmd != SMFIR_PROGRESS)
			return 0;
	}
}

/* Send B (N bytes); read a reply unless the step has NOREPLY set. */
static int
step(struct sess *s, const char *b, size_t n, unsigned long noreply, char *cmd, char *text,
    size_t textlen)
{
	if (write_all(s->fd, b, n) != 0)
		return -1;
	if (s->pflags & noreply) {
		*cmd = SMFIR_CONTINUE;
		return 0;
	}
	return reply_read(s, cmd, text, textlen);
}

/* Option negotiation, CONNECT and HELO on a new connection; 0 or -1. */
static int
sess_open(struct sess *s)
{
	char b[2048], cmd, t[512];
	size_t n = 0;
	uint32_t o[3] = { htonl(6), htonl(0x1ff), htonl(0x1fffff) };
	static const char *const cmac[] = { "j", "mx.bench.local", "{daemon_name}", "smtpd",
		"{daemon_addr}", "127.0.0.1", "v", "Postfix 3.7.11",
		"_", "client.bench.local [127.0.0.1]", NULL };

	if ((s->fd = sock_connect(opt.sock)) < 0)
		return -1;
	s->inlen = s->inoff = 0;
	s->conns++;
	pkt_add(b, sizeof(b), &n, SMFIC_OPTNEG, o, sizeof(o));
	if (write_all(s->fd, b, n) != 0 || reply_read(s, &cmd, t, sizeof(t)) != 0 ||
	    cmd != SMFIC_OPTNEG)
		return -1;
	memcpy(o, t, sizeof(o));
	s->pflags = ntohl(o[2]);
	if (!(s->pflags & SMFIP_NOCONNECT)) {
		/* host, family, port, address */
		static const char conn[] = "client.bench.local\0" "4\xc3\x50" "127.0.0.1";
		n = 0;
		macro_add(b, sizeof(b), &n, SMFIC_CONNECT, cmac);
		pkt_add(b, sizeof(b), &n, SMFIC_CONNECT, conn, sizeof(conn));
		if (step(s, b, n, SMFIP_NR_CONN, &cmd, t, sizeof(t)) != 0 || cmd != SMFIR_CONTINUE)
			return -1;
	}
	if (!(s->pflags & SMFIP_NOHELO)) {
		n = 0;
		pkt_add(b, sizeof(b), &n, SMFIC_HELO, "client.bench.local", 19);
		if (step(s, b, n, SMFIP_NR_HELO, &cmd, t, sizeof(t)) != 0 || cmd != SMFIR_CONTINUE)
			return -1;
	}
	return 0;
}

/* A never-seen address: a known local part, "-TAG-SEQ", the known domain. */
static void
make_unknown(struct sess *s, long seq, char *out, size_t outlen)
{
	const char *k = opt.known.v[rnd_next(s) % opt.known.n];
	const char *at = strchr(k, '@');
	int l = at ? (int)(at - k) : (int)strlen(k);

	snprintf(out, outlen, "%.*s-%s-%ld%s", l, k, opt.tag, seq, at ? at : "@example.com");
}

/* A typo of a known address: two adjacent different letters swapped. */
static void
make_typo(struct sess *s, char *out, size_t outlen)
{
	const char *k = opt.known.v[rnd_next(s) % opt.known.n];
	snprintf(out, outlen, "%s", k);
	size_t l = strcspn(out, "@");
	if (l < 2)
		return;
	for (int tries = 0; tries < 8; tries++) {
		size_t i = rnd_next(s) % (l - 1);
		if (out[i] != out[i + 1] && out[i] != '.' && out[i + 1] != '.') {
			char c = out[i];
			out[i] = out[i + 1];
			out[i + 1] = c;
			return;
		}
	}
	out[0] = out[0] == 'q' ? 'z' : 'q';
}

/*
 * The next recipient into OUT and its category; -1 when the run is over
 * (count reached or time up).  With WARM, the next address of the warm pass.
 */
static int
next_rcpt(struct sess *s, int warm, char *out, size_t outlen)
{
	if (warm) {
		long i = atomic_fetch_add(&warm_next, 1);
		if (i >= (long)opt.known.n)
			return -1;
		snprintf(out, outlen, "%s", opt.known.v[i]);
		return C_KNOWN;
	}
	if (atomic_load(&stop_now))
		return -1;
	long seq;
	if (opt.count > 0) {
		/* a fixed share for each session: the connections are exact too */
		if (s->seq >= s->seq_end)
			return -1;
		seq = s->seq++;
	} else
		seq = atomic_fetch_add(&seq_next, 1);
	int c = opt.cat_of[seq % 100];
	switch (c) {
	case C_KNOWN:
		snprintf(out, outlen, "%s", opt.known.v[rnd_next(s) % opt.known.n]);
		break;
	case C_UNKNOWN:
		make_unknown(s, seq, out, outlen);
		break;
	case C_TYPO:
		make_typo(s, out, outlen);
		break;
	default:
		snprintf(out, outlen, "%s", opt.alias.v[rnd_next(s) % opt.alias.n]);
		break;
	}
	return c;
}

static int
classify(char cmd, const char *text)
{
	if (cmd == SMFIR_CONTINUE)
		return R_CONTINUE;
	if (cmd == SMFIR_REPLYCODE && strncmp(text, "550 ", 4) == 0)
		return R_550;
	if (cmd == SMFIR_TEMPFAIL || (cmd == SMFIR_REPLYCODE && text[0] == '4'))
		return R_4XX;
	return R_OTHER;
}

static void
record(struct sess *s, int cat, const char *rcpt, char cmd, const char *text, double dt)
{
	if (s->nlat == s->caplat) {
		s->caplat = s->caplat ? 2 * s->caplat : 65536;
		s->lat = realloc(s->lat, s->caplat * sizeof(*s->lat));
		if (s->lat == NULL) {
			fprintf(stderr, "milterload: out of memory\n");
			exit(2);
		}
	}
	s->lat[s->nlat++] = dt * 1e9 > 4e9 ? 4000000000u : (uint32_t)(dt * 1e9);
	s->counts[cat][classify(cmd, text)]++;
	if (opt.log != NULL) {
		pthread_mutex_lock(&log_mu);
		if (cmd == SMFIR_REPLYCODE)
			fprintf(opt.log, "%s\t%s\t%s\n", cat_name[cat], rcpt, text);
		else
			fprintf(opt.log, "%s\t%s\t%s\n", cat_name[cat], rcpt,
			    cmd == SMFIR_CONTINUE ? "continue" : cmd == SMFIR_REJECT ? "reject" :
			    cmd == SMFIR_TEMPFAIL ? "tempfail" : "other");
		pthread_mutex_unlock(&log_mu);
	}
}

/*
 * One transaction: MAIL, up to opt.rcpts RCPTs, ABORT.  Returns 1 when the
 * run is over, 0 to go on, -1 on a protocol or connection error.
 */
static int
sess_tx(struct sess *s, int warm)
{
	char b[4096], cmd, t[1024], rcpt[512], arg[520];
	size_t n = 0;
	static const char *const mmac[] = { "{mail_addr}", "bench@example.net",
		"{mail_host}", "example.net", "{mail_mailer}", "smtp", NULL };

	if (!(s->pflags & SMFIP_NOMAIL)) {
		macro_add(b, sizeof(b), &n, SMFIC_MAIL, mmac);
		pkt_add(b, sizeof(b), &n, SMFIC_MAIL, "<bench@example.net>", 20);
		if (step(s, b, n, SMFIP_NR_MAIL, &cmd, t, sizeof(t)) != 0 || cmd != SMFIR_CONTINUE)
			return -1;
	}
	int over = 0;
	for (int i = 0; i < opt.rcpts; i++) {
		int cat = next_rcpt(s, warm, rcpt, sizeof(rcpt));
		if (cat < 0 || (!warm && opt.count == 0 && now() >= t_end)) {
			over = 1;
			if (cat >= 0)
				atomic_store(&stop_now, 1);
			break;
		}
		const char *at = strchr(rcpt, '@');
		const char *rmac[] = { "{rcpt_addr}", rcpt, "{rcpt_host}", at ? at + 1 : "",
			"{rcpt_mailer}", "smtp", NULL };
		int l = snprintf(arg, sizeof(arg), "<%s>", rcpt);
		n = 0;
		macro_add(b, sizeof(b), &n, SMFIC_RCPT, rmac);
		pkt_add(b, sizeof(b), &n, SMFIC_RCPT, arg, (size_t)l + 1);
		double t0 = now();
		if (step(s, b, n, SMFIP_NR_RCPT, &cmd, t, sizeof(t)) != 0)
			return -1;
		if (!warm)
			record(s, cat, rcpt, cmd, t, now() - t0);
	}
	n = 0;
	pkt_add(b, sizeof(b), &n, SMFIC_ABORT, NULL, 0);
	if (write_all(s->fd, b, n) != 0)
		return -1;
	return over;
}

/* One connection: open, opt.txs transactions, QUIT.  As sess_tx(). */
static int
sess_conn(struct sess *s, int warm)
{
	int r = 0;

	if (sess_open(s) != 0)
		r = -1;
	for (int i = 0; r == 0 && i < opt.txs; i++)
		r = sess_tx(s, warm);
	if (s->fd >= 0) {
		if (r >= 0) {
			char b[8];
			size_t n = 0;
			pkt_add(b, sizeof(b), &n, SMFIC_QUIT, NULL, 0);
			write_all(s->fd, b, n);
		}
		close(s->fd);
		s->fd = -1;
	}
	return r;
}

static void *
sess_main(void *arg)
{
	struct sess *s = arg;
	int r = 0;

	while (opt.warm && r != 1) {
		r = sess_conn(s, 1);
		if (r < 0) {
			s->errors++;
			break;
		}
	}
	pthread_barrier_wait(&start_line);     /* warm pass over */
	pthread_barrier_wait(&start_line);     /* t_end set */
	for (r = 0; r != 1;) {
		if (opt.count > 0 && s->seq >= s->seq_end)
			break;
		r = sess_conn(s, 0);
		if (r < 0) {
			s->errors++;
			atomic_store(&stop_now, 1);
			break;
		}
	}
	return NULL;
}

static int
cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

/* Parse "known=50,unknown=50" into opt.pct and opt.cat_of; -1 if bad. */
static int
mix_parse(const char *mix)
{
	char buf[256], *save = NULL;
	int total = 0;

	memset(opt.pct, 0, sizeof(opt.pct));
	snprintf(buf, sizeof(buf), "%s", mix);
	for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(tok, '=');
		int c;
		if (eq == NULL)
			return -1;
		*eq = '\0';
		for (c = 0; c < NCAT && strcmp(cat_name[c], tok) != 0; c++)
			;
		if (c == NCAT)
			return -1;
		opt.pct[c] = atoi(eq + 1);
		total += opt.pct[c];
	}
	if (total != 100)
		return -1;
	/* spread the categories evenly over 0..99: i*37 % 100 visits each once */
	int k = 0;
	for (int c = 0; c < NCAT; c++)
		for (int j = 0; j < opt.pct[c]; j++, k++)
			opt.cat_of[(k * 37) % 100] = (char)c;
	return 0;
}

static void
usage(void)
{
	fprintf(stderr, "usage: milterload -s SOCKET -k KNOWN [-a ALIASES] [-c SESSIONS] "
	    "[-r RCPTS] [-t TXS]\n    [-d SECONDS | -n COUNT] [-m known=P,unknown=P,typo=P,alias=P] "
	    "[-W] [-l LOG] [-T TAG]\n");
	exit(64);
}

static void
options(int argc, char **argv)
{
	const char *mix = "known=100";
	int ch;

	snprintf(opt.tag, sizeof(opt.tag), "%lx%lx", (long)getpid(), (long)time(NULL));
	while ((ch = getopt(argc, argv, "s:k:a:c:r:t:d:n:m:Wl:T:")) != -1) {
		switch (ch) {
		case 's': opt.sock = optarg; break;
		case 'k': list_read(optarg, &opt.known); break;
		case 'a': list_read(optarg, &opt.alias); break;
		case 'c': opt.sessions = atoi(optarg); break;
		case 'r': opt.rcpts = atoi(optarg); break;
		case 't': opt.txs = atoi(optarg); break;
		case 'd': opt.seconds = atof(optarg); break;
		case 'n': opt.count = atol(optarg); break;
		case 'm': mix = optarg; break;
		case 'W': opt.warm = 1; break;
		case 'l':
			if ((opt.log = fopen(optarg, "w")) == NULL) {
				perror(optarg);
				exit(2);
			}
			break;
		case 'T': snprintf(opt.tag, sizeof(opt.tag), "%s", optarg); break;
		default: usage();
		}
	}
	if (opt.sock == NULL || opt.known.n == 0 || opt.sessions < 1 || opt.rcpts < 1 ||
	    opt.txs < 1 || opt.seconds <= 0 || opt.count < 0 || mix_parse(mix) != 0)
		usage();
	if (opt.pct[C_ALIAS] > 0 && opt.alias.n == 0) {
		fprintf(stderr, "milterload: an alias mix needs -a ALIASES\n");
		exit(64);
	}
}

/* Merge the sessions' figures and print them. */
static void
report(struct sess *ss, double secs)
{
	size_t n = 0;
	long counts[NCAT][NREPLY] = { { 0 } }, conns = 0, errors = 0;
	unsigned long pflags = 0;

	for (int i = 0; i < opt.sessions; i++)
		n += ss[i].nlat;
	uint32_t *all = malloc((n ? n : 1) * sizeof(*all));
	if (all == NULL) {
		fprintf(stderr, "milterload: out of memory\n");
		exit(2);
	}
	n = 0;
	for (int i = 0; i < opt.sessions; i++) {
		if (ss[i].nlat > 0)
			memcpy(all + n, ss[i].lat, ss[i].nlat * sizeof(*all));
		n += ss[i].nlat;
		conns += ss[i].conns;
		errors += ss[i].errors;
		pflags |= ss[i].pflags;
		for (int c = 0; c < NCAT; c++)
			for (int r = 0; r < NREPLY; r++)
				counts[c][r] += ss[i].counts[c][r];
	}
	qsort(all, n, sizeof(*all), cmp_u32);
#define PCT(p) (n ? all[(size_t)((p) * (double)(n - 1))] / 1e3 : 0.0)
	printf("rcpts=%zu seconds=%.3f rate=%.0f p50_us=%.0f p99_us=%.0f p999_us=%.0f "
	    "max_us=%.0f\n", n, secs, secs > 0 ? n / secs : 0.0, PCT(0.50), PCT(0.99),
	    PCT(0.999), PCT(1.0));
#undef PCT
	for (int c = 0; c < NCAT; c++) {
		long t = 0;
		for (int r = 0; r < NREPLY; r++)
			t += counts[c][r];
		if (t > 0 || opt.pct[c] > 0)
			printf("%s=%ld continue=%ld reject550=%ld tempfail4xx=%ld other=%ld\n",
			    cat_name[c], t, counts[c][R_CONTINUE], counts[c][R_550],
			    counts[c][R_4XX], counts[c][R_OTHER]);
	}
	printf("connections=%ld errors=%ld protocol=0x%lx\n", conns, errors, pflags);
	free(all);
}

int
main(int argc, char **argv)
{
	options(argc, argv);
	struct sess *ss = calloc((size_t)opt.sessions, sizeof(*ss));
	pthread_t *th = calloc((size_t)opt.sessions, sizeof(*th));

	if (ss == NULL || th == NULL)
		return 2;
	pthread_barrier_init(&start_line, NULL, (unsigned)opt.sessions + 1);
	for (int i = 0; i < opt.sessions; i++) {
		ss[i].id = i;
		ss[i].fd = -1;
		ss[i].seq = opt.count * i / opt.sessions;
		ss[i].seq_end = opt.count * (i + 1) / opt.sessions;
		ss[i].rnd = 0x9e3779b97f4a7c15ULL * (uint64_t)(i + 1);
		if (pthread_create(&th[i], NULL, sess_main, &ss[i]) != 0) {
			fprintf(stderr, "milterload: cannot start session %d\n", i);
			return 2;
		}
	}
	pthread_barrier_wait(&start_line);
	double t0 = now();
	t_end = t0 + opt.seconds;
	pthread_barrier_wait(&start_line);
	for (int i = 0; i < opt.sessions; i++)
		pthread_join(th[i], NULL);
	report(ss, now() - t0);
	long errors = 0;
	for (int i = 0; i < opt.sessions; i++) {
		errors += ss[i].errors;
		free(ss[i].lat);
	}
	if (opt.log != NULL)
		fclose(opt.log);
	free(ss);
	free(th);
	return errors ? 1 : 0;
}
