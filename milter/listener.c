/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * listener.c - the milter socket and the thread of each MTA connection
 * (see listener.h).
 */
#include "listener.h"
#include "rg_log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* One MTA connection, listed while its thread runs. */
struct mconn {
	int fd;
	const struct mp_filter *filter;
	struct mconn *prev, *next;
};

static pthread_mutex_t conns_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t conns_cv = PTHREAD_COND_INITIALIZER;
static struct mconn *conns;
static int nconns;
static int stopping;
/* Threads whose connection ended, waiting for the next one. */
static pthread_cond_t spare_cv = PTHREAD_COND_INITIALIZER;
static int nspare;
static struct mconn *handoff;           /* a connection for a spare thread */

static int listen_fd = -1;
static const struct mp_filter *listen_filter;
static pthread_t accept_thread;
static int accepting;

static void seterr(char *why, size_t whylen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
seterr(char *why, size_t whylen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, whylen, fmt, ap);
	va_end(ap);
}

const char *
ml_socket_path(const char *spec)
{
	if (strncmp(spec, "unix:", 5) == 0)
		return spec + 5;
	if (strncmp(spec, "local:", 6) == 0)
		return spec + 6;
	if (spec[0] == '/')
		return spec;
	return NULL;
}

static int
listen_unix(const char *spec, const char *path, char *why, size_t whylen)
{
	struct sockaddr_un sun;
	struct stat st;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (path[0] == '\0' || strlen(path) >= sizeof(sun.sun_path)) {
		seterr(why, whylen, "%s: the path must have 1 to %zu characters", spec,
		    sizeof(sun.sun_path) - 1);
		return -1;
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		seterr(why, whylen, "%s: socket: %s", spec, strerror(errno));
		return -1;
	}
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			seterr(why, whylen, "%s: the file exists and is not a socket", spec);
			close(fd);
			return -1;
		}
		/*
		 * A socket file: in use, or left behind by a process that is gone
		 * (connection refused).  Anything else, a full backlog (EAGAIN:
		 * the probe does not wait) or no permission, is not proof that
		 * nobody listens: refused, and the file left alone.
		 */
		int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		int rc = probe < 0 ? -1 : connect(probe, (struct sockaddr *)&sun, sizeof(sun));
		int e = errno;
		if (probe >= 0)
			close(probe);
		close(fd);
		if (rc == 0 || (probe >= 0 && (e == EAGAIN || e == EINPROGRESS))) {
			seterr(why, whylen, "%s: another process is listening on it", spec);
			return -1;
		}
		if (probe < 0 || e != ECONNREFUSED) {
			seterr(why, whylen, "%s: cannot tell whether a process listens on it: %s",
			    spec, strerror(e));
			return -1;
		}
		if (unlink(path) != 0 && errno != ENOENT) {
			seterr(why, whylen, "%s: cannot remove the old socket: %s", spec,
			    strerror(errno));
			return -1;
		}
		if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0) {
			seterr(why, whylen, "%s: socket: %s", spec, strerror(errno));
			return -1;
		}
	}
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0 || listen(fd, SOMAXCONN) != 0) {
		seterr(why, whylen, "%s: %s", spec, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

static int
listen_inet(const char *spec, int family, const char *rest, char *why, size_t whylen)
{
	char port[64], host[256] = "";
	const char *at = strchr(rest, '@');
	size_t plen = at ? (size_t)(at - rest) : strlen(rest);

	if (plen == 0 || plen >= sizeof(port) || (at && strlen(at + 1) >= sizeof(host))) {
		seterr(why, whylen, "%s: expected %s:PORT@HOST", spec,
		    family == AF_INET ? "inet" : "inet6");
		return -1;
	}
	memcpy(port, rest, plen);
	port[plen] = '\0';
	if (at != NULL) {
		const char *h = at + 1;
		size_t hl = strlen(h);
		if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') {
			h++;
			hl -= 2;
		}
		memcpy(host, h, hl);
		host[hl] = '\0';
	}
	struct addrinfo hints, *res = NULL;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = family;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE;
	int rc = getaddrinfo(host[0] ? host : NULL, port, &hints, &res);
	if (rc != 0) {
		seterr(why, whylen, "%s: %s", spec, gai_strerror(rc));
		return -1;
	}
	int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
	if (fd < 0) {
		seterr(why, whylen, "%s: socket: %s", spec, strerror(errno));
		freeaddrinfo(res);
		return -1;
	}
	/* (inet6 without a host takes IPv4 MTAs too, on a dual-stack host: the
	 * system's default, as with libmilter) */
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, res->ai_addr, res->ai_addrlen) != 0 || listen(fd, SOMAXCONN) != 0) {
		seterr(why, whylen, "%s: %s", spec, strerror(errno));
		close(fd);
		freeaddrinfo(res);
		return -1;
	}
	freeaddrinfo(res);
	return fd;
}

int
ml_listen(const char *spec, char *why, size_t whylen)
{
	const char *path = ml_socket_path(spec);

	if (path != NULL)
		return listen_unix(spec, path, why, whylen);
	if (strncmp(spec, "inet:", 5) == 0)
		return listen_inet(spec, AF_INET, spec + 5, why, whylen);
	if (strncmp(spec, "inet6:", 6) == 0)
		return listen_inet(spec, AF_INET6, spec + 6, why, whylen);
	seterr(why, whylen, "%s: neither unix:/path nor inet:PORT@HOST", spec);
	return -1;
}

/* Write all LEN bytes of BUF; -1 when the MTA is gone or does not read. */
static int
write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t w = send(fd, buf, len, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		buf += w;
		len -= (size_t)w;
	}
	return 0;
}

/*
 * Read commands and answer them until the MTA quits or goes.  The replies
 * to every command a read brought in go out in one write: the MTA sent
 * those commands without waiting for a reply.
 */
static void
serve(struct mconn *c)
{
	struct mp_session s;
	char small[16384], out[MP_OUT_MAX], why[256];
	char *buf = small;
	size_t cap = sizeof(small), have = 0;

	mp_session_init(&s, c->filter);
	for (;;) {
		ssize_t r = read(c->fd, buf + have, cap - have);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			rg_log(LOG_INFO, "MTA connection idle for %d s: closed", ML_IDLE_TIMEOUT);
			break;
		}
		if (r <= 0)
			break;
		have += (size_t)r;
		size_t pos = 0, outlen = 0;
		enum mp_next next = MP_GO_ON;
		while (next == MP_GO_ON && have - pos >= 4) {
			uint32_t n = mp_get32(buf + pos);
			if (n == 0 || n > MP_MAX_DATA + 1) {
				rg_log(LOG_WARNING, "MTA connection: a command of %lu bytes "
				    "(at most %d): closed", (unsigned long)n, MP_MAX_DATA + 1);
				next = MP_ERROR;
				break;
			}
			if (have - pos < 4 + (size_t)n) {
				if (4 + (size_t)n > cap) {
					/* a large command (a body chunk): room for it */
					char *nb = malloc(4 + (size_t)n);
					if (nb == NULL) {
						rg_log(LOG_ERR, "MTA connection: out of memory: closed");
						next = MP_ERROR;
						break;
					}
					memcpy(nb, buf + pos, have - pos);
					if (buf != small)
						free(buf);
					buf = nb;
					cap = 4 + (size_t)n;
					have -= pos;
					pos = 0;
				}
				break;
			}
			/* room for the longest reply before the next command */
			if (outlen + MP_REPLY_MAX + 64 > sizeof(out)) {
				if (write_all(c->fd, out, outlen) < 0) {
					next = MP_ERROR;
					break;
				}
				outlen = 0;
			}
			next = mp_command(&s, (unsigned char)buf[pos + 4], buf + pos + 5, n - 1, out,
			    &outlen, why, sizeof(why));
			pos += 4 + (size_t)n;
			if (next == MP_ERROR)
				rg_log(LOG_WARNING, "MTA connection: %s: closed", why);
		}
		if (next != MP_ERROR && outlen > 0 && write_all(c->fd, out, outlen) < 0)
			next = MP_ERROR;
		if (next != MP_GO_ON)
			break;
		memmove(buf, buf + pos, have - pos);
		have -= pos;
		/* back to the small buffer once no large command is half read */
		if (buf != small && (have < 4 || 4 + (size_t)mp_get32(buf) <= sizeof(small))) {
			memcpy(small, buf, have);
			free(buf);
			buf = small;
			cap = sizeof(small);
		}
	}
	mp_session_end(&s);
	if (buf != small)
		free(buf);
}

/* Take C off the list of connections (under conns_mu). */
static void
unlist(struct mconn *c)
{
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	nconns--;
	pthread_cond_broadcast(&conns_cv);
}

/*
 * Serve a connection, then wait up to ML_SPARE_LINGER seconds for the next
 * one (start_conn() hands it over), so that a new connection finds a thread
 * with its stack in place instead of making one.
 */
static void *
conn_thread(void *arg)
{
	struct mconn *c = arg;

	while (c != NULL) {
		serve(c);
		pthread_mutex_lock(&conns_mu);
		unlist(c);
		pthread_mutex_unlock(&conns_mu);
		close(c->fd);
		free(c);
		c = NULL;

		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += ML_SPARE_LINGER;
		pthread_mutex_lock(&conns_mu);
		if (!stopping && nspare < ML_SPARE_THREADS) {
			nspare++;
			while (handoff == NULL && !stopping &&
			    pthread_cond_timedwait(&spare_cv, &conns_mu, &until) != ETIMEDOUT)
				;
			nspare--;
			c = handoff;    /* taken even when the wait just ended */
			handoff = NULL;
		}
		pthread_mutex_unlock(&conns_mu);
	}
	return NULL;
}

static void
start_conn(int fd, const struct mp_filter *f)
{
	struct timeval idle = { ML_IDLE_TIMEOUT, 0 }, wr = { ML_WRITE_TIMEOUT, 0 };
	struct mconn *c = calloc(1, sizeof(*c));
	pthread_attr_t attr;
	pthread_t t;
	int one = 1;

	if (c == NULL) {
		rg_log(LOG_ERR, "MTA connection: out of memory: refused");
		close(fd);
		return;
	}
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &idle, sizeof(idle));
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &wr, sizeof(wr));
	/* these two fail on a unix socket: fine.  Keepalive: an MTA host that
	 * vanished does not hold a thread until the idle timeout */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	(void)setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
	c->fd = fd;
	c->filter = f;
	pthread_mutex_lock(&conns_mu);
	c->next = conns;
	if (conns != NULL)
		conns->prev = c;
	conns = c;
	nconns++;
	if (nspare > 0 && handoff == NULL) {
		handoff = c;
		pthread_cond_signal(&spare_cv);
		pthread_mutex_unlock(&conns_mu);
		return;
	}
	pthread_mutex_unlock(&conns_mu);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	int rc = pthread_create(&t, &attr, conn_thread, c);
	pthread_attr_destroy(&attr);
	if (rc != 0) {
		rg_log(LOG_ERR, "MTA connection: cannot start a thread: %s: refused", strerror(rc));
		/* undo as the thread would have, without serving */
		pthread_mutex_lock(&conns_mu);
		unlist(c);
		pthread_mutex_unlock(&conns_mu);
		close(fd);
		free(c);
	}
}

static void *
accept_loop(void *arg)
{
	time_t last_complaint = 0;

	(void)arg;
	for (;;) {
		int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
		pthread_mutex_lock(&conns_mu);
		int stop = stopping;
		pthread_mutex_unlock(&conns_mu);
		if (stop) {
			if (fd >= 0)
				close(fd);
			break;
		}
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO)
				continue;
			/* out of descriptors or memory: say so once a minute, and wait a
			 * little rather than spin */
			time_t now = time(NULL);
			if (now - last_complaint >= 60) {
				rg_log(LOG_ERR, "accept on the milter socket: %s", strerror(errno));
				last_complaint = now;
			}
			struct timespec pause = { 0, 100 * 1000 * 1000 };
			nanosleep(&pause, NULL);
			continue;
		}
		start_conn(fd, listen_filter);
	}
	return NULL;
}

int
ml_start(int fd, const struct mp_filter *f, char *why, size_t whylen)
{
	listen_fd = fd;
	listen_filter = f;
	int rc = pthread_create(&accept_thread, NULL, accept_loop, NULL);
	if (rc != 0) {
		seterr(why, whylen, "cannot start the thread that accepts connections: %s",
		    strerror(rc));
		return -1;
	}
	accepting = 1;
	return 0;
}

int
ml_stop(int wait)
{
	struct timespec until;

	pthread_mutex_lock(&conns_mu);
	stopping = 1;
	pthread_cond_broadcast(&spare_cv);
	pthread_mutex_unlock(&conns_mu);
	if (accepting) {
		/* wakes accept() (Linux: EINVAL) */
		shutdown(listen_fd, SHUT_RDWR);
		pthread_join(accept_thread, NULL);
		accepting = 0;
	}
	if (listen_fd >= 0) {
		close(listen_fd);
		listen_fd = -1;
	}
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += wait;
	pthread_mutex_lock(&conns_mu);
	/* each thread answers the command it is on, then reads the end */
	for (struct mconn *c = conns; c != NULL; c = c->next)
		shutdown(c->fd, SHUT_RD);
	while (nconns > 0) {
		if (pthread_cond_timedwait(&conns_cv, &conns_mu, &until) == ETIMEDOUT)
			break;
	}
	int left = nconns;
	pthread_mutex_unlock(&conns_mu);
	if (left > 0)
		rg_log(LOG_WARNING, "stopping with %d MTA connection%s still busy", left,
		    left == 1 ? "" : "s");
	return left > 0 ? -1 : 0;
}
