/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * rg_ldap.c - talk to the directory.
 *
 * A pool of LDAPPoolSize bound handles is shared by all threads; a thread
 * takes a handle, uses it without holding any lock, and gives it back.  A
 * handle that failed is dropped and re-opened by the next user.  The
 * process keeps the health of each LDAPURI server for every pool (the old
 * and the new configuration at a reload) and for rg_ldap_connect() (the
 * suggestion index): a server that failed to connect or bind is skipped for
 * a back-off, and a server not known to answer is tried by one connection
 * at a time.  The back-off follows what the failure cost.  One that cost
 * nothing (refused, unreachable: an answer before the deadline, within
 * 0.1 s) is retried after 0.25 s, so a server that comes back is used again
 * within a second.  One that cost a timeout (accepted and silent, a TLS
 * handshake or bind that never ended) waits 0.5 s doubling to 5 s, so a
 * hung server costs one timeout per back-off, not one per lookup or per
 * slot.  LDAPURI order is preference: a handle on a later server goes back
 * to an earlier one a few seconds after that one is out of its back-off.
 * A server that binds but lets a search time out (its database
 * stuck) is put in the same timeout back-off, which only an answered
 * search, not a bind, brings back to its start.  When every server is in
 * its back-off, lookups fail at once instead of each waiting.
 *
 * Name resolution (on a thread of its own, waited for until the deadline),
 * TCP connect, TLS handshake, bind and search of one lookup share one
 * deadline, LDAPTimeout from its start; a timeout or any error is "could not
 * tell" (RG_LOOKUP_FAIL), never "not found".  The TCP connection is made
 * here and handed to libldap (ldap_init_fd), and a Sockbuf layer bounds the
 * TLS handshake, which libldap's network timeout does not cover.
 *
 * Every value put into a filter is escaped per RFC 4515, so "*", "(", ")",
 * "\" and NUL in an address are data, never filter syntax.
 *
 * rg_ldap_walk() reads a whole subtree with the paged-results control
 * (RFC 2696) on a handle of its own; a walk that is cut short (size limit,
 * time limit, lost connection) or that meets a search reference (part of the
 * tree on another server) is an error, never a silently short list.
 */
#include "config.h"
#include "rg_ldap.h"
#include "rg_log.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifdef HAVE_GNUTLS
#include <gnutls/gnutls.h>
#endif

/* ldap_init_fd(3) is documented, but libldap 2.5 declares it only in a
 * private header. */
#ifndef LDAP_PROTO_TCP
#define LDAP_PROTO_TCP 1
#endif
int ldap_init_fd(ber_socket_t fd, int proto, const char *url, LDAP **ldp);

#define BACKOFF_MIN 0.5         /* after a failure that cost a timeout, doubling */
#define BACKOFF_MAX 5.0
#define BACKOFF_CHEAP 0.25      /* after a failure that cost nothing */
#define CHEAP_COST 0.1          /* seconds: what "cost nothing" means */
#define PREFER_AFTER 5.0        /* seconds on a later LDAPURI before an earlier one is tried again */
#define PREFER_AFTER_SLOW 60.0  /* the same when the earlier one's last failure cost a timeout */

struct server;

struct slot {
	LDAP *ld;
	struct server *sv;      /* the server LD is connected to */
	double since;           /* when it connected (rg_now) */
	int busy;
};

struct rg_ldap_pool {
	const struct rg_config *cf;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct slot *slots;
	int nslots;
	struct server **servers; /* LDAPURI in order */
	int nservers;
};

static void
seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

int
rg_ldap_global_init(void)
{
	int v3 = LDAP_VERSION3;

	/* any call with a NULL handle runs ldap_int_initialize() */
	return ldap_set_option(NULL, LDAP_OPT_PROTOCOL_VERSION, &v3) == LDAP_OPT_SUCCESS ? 0 : -1;
}

static struct timeval
tv_of(double seconds)
{
	struct timeval tv;

	if (seconds < 0.001)
		seconds = 0.001;
	tv.tv_sec = (time_t)seconds;
	tv.tv_usec = (suseconds_t)((seconds - (double)tv.tv_sec) * 1e6);
	return tv;
}

int
rg_ldap_escape_filter(const char *value, size_t len, char *out, size_t outlen)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)value[i];
		if (c == '*' || c == '(' || c == ')' || c == '\\' || c < 0x20 || c == 0x7f) {
			if (o + 3 >= outlen)
				return -1;
			out[o++] = '\\';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		} else {
			if (o + 1 >= outlen)
				return -1;
			out[o++] = (char)c;
		}
	}
	if (o >= outlen)
		return -1;
	out[o] = '\0';
	return 0;
}

int
rg_ldap_expand_filter(const char *tmpl, const char *local, const char *domain,
    char *out, size_t outlen)
{
	size_t o = 0;

	for (const char *p = tmpl; *p; p++) {
		if (*p != '%') {
			if (o + 1 >= outlen)
				return -1;
			out[o++] = *p;
			continue;
		}
		p++;
		if (*p == '%') {
			if (o + 1 >= outlen)
				return -1;
			out[o++] = '%';
			continue;
		}
		if (*p == 's' || *p == 'u') {
			if (rg_ldap_escape_filter(local, strlen(local), out + o, outlen - o) < 0)
				return -1;
			o += strlen(out + o);
		}
		if (*p == 's') {
			if (o + 1 >= outlen)
				return -1;
			out[o++] = '@';
		}
		if (*p == 's' || *p == 'd') {
			if (rg_ldap_escape_filter(domain, strlen(domain), out + o, outlen - o) < 0)
				return -1;
			o += strlen(out + o);
		} else if (*p != 'u') {
			return -1;      /* the configuration check makes this unreachable */
		}
	}
	if (o >= outlen)
		return -1;
	out[o] = '\0';
	return 0;
}

/*
 * Wait for the answer to MSGID until DEADLINE.  Returns the message type,
 * 0 on timeout, -1 on error.
 */
static int
wait_result(LDAP *ld, int msgid, int all, double deadline, LDAPMessage **res)
{
	struct timeval tv = tv_of(deadline - rg_now());

	*res = NULL;
	if (deadline - rg_now() <= 0)
		return 0;
	return ldap_result(ld, msgid, all, &tv, res);
}

static const char *
ld_error(LDAP *ld, int rc)
{
	int err = rc;

	if (ld != NULL && rc == -1)
		ldap_get_option(ld, LDAP_OPT_RESULT_CODE, &err);
	return ldap_err2string(err);
}

/* --- a deadline under TLS -------------------------------------------------- */

/*
 * libldap bounds the TCP connect but not the TLS handshake after it: with
 * libldap 2.5 and GnuTLS a peer that never answers the handshake (ldaps://,
 * or after a successful StartTLS) keeps the caller for good, spinning on a
 * non-blocking socket.  While a handle is being opened, a Sockbuf layer of
 * ours sits right under TLS: every read and write first waits for the socket
 * until the deadline of the connect, and past it fails with ETIMEDOUT, which
 * ends the handshake (or the bind) with an error.  It is removed once the
 * handle is bound, so that later reads are libldap's own again.
 */
struct deadline_io {
	double deadline;
};

static int
dl_setup(Sockbuf_IO_Desc *sbiod, void *arg)
{
	struct deadline_io *d = malloc(sizeof(*d));

	if (d == NULL)
		return -1;
	d->deadline = *(const double *)arg;
	sbiod->sbiod_pvt = d;
	return 0;
}

static int
dl_remove(Sockbuf_IO_Desc *sbiod)
{
	free(sbiod->sbiod_pvt);
	sbiod->sbiod_pvt = NULL;
	return 0;
}

static int
dl_ctrl(Sockbuf_IO_Desc *sbiod, int opt, void *arg)
{
	return LBER_SBIOD_CTRL_NEXT(sbiod, opt, arg);
}

/* Wait until the socket is ready for EVENTS: 0, or -1 (ETIMEDOUT past the deadline). */
static int
dl_wait(Sockbuf_IO_Desc *sbiod, short events)
{
	const struct deadline_io *d = sbiod->sbiod_pvt;
	ber_socket_t fd = -1;

	ber_sockbuf_ctrl(sbiod->sbiod_sb, LBER_SB_OPT_GET_FD, &fd);
	for (;;) {
		double left = d->deadline - rg_now();
		if (left <= 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		struct pollfd pfd = { .fd = fd, .events = events };
		int n = poll(&pfd, 1, (int)(left * 1000) + 1);
		if (n > 0)
			return 0;
		if (n < 0 && errno != EINTR)
			return -1;
	}
}

static ber_slen_t
dl_read(Sockbuf_IO_Desc *sbiod, void *buf, ber_len_t len)
{
	if (dl_wait(sbiod, POLLIN) < 0)
		return -1;
	return LBER_SBIOD_READ_NEXT(sbiod, buf, len);
}

static ber_slen_t
dl_write(Sockbuf_IO_Desc *sbiod, void *buf, ber_len_t len)
{
	if (dl_wait(sbiod, POLLOUT) < 0)
		return -1;
	return LBER_SBIOD_WRITE_NEXT(sbiod, buf, len);
}

static Sockbuf_IO deadline_io = {
	.sbi_setup = dl_setup,
	.sbi_remove = dl_remove,
	.sbi_ctrl = dl_ctrl,
	.sbi_read = dl_read,
	.sbi_write = dl_write,
};

/* Put the layer on LD's socket (TLS, added later, goes above it); 0 or -1. */
static int
deadline_arm(LDAP *ld, double deadline)
{
	Sockbuf *sb = NULL;

	if (ldap_get_option(ld, LDAP_OPT_SOCKBUF, &sb) != LDAP_OPT_SUCCESS || sb == NULL)
		return -1;
	return ber_sockbuf_add_io(sb, &deadline_io, LBER_SBIOD_LEVEL_TRANSPORT, &deadline);
}

static void
deadline_disarm(LDAP *ld)
{
	Sockbuf *sb = NULL;

	if (ldap_get_option(ld, LDAP_OPT_SOCKBUF, &sb) == LDAP_OPT_SUCCESS && sb != NULL)
		ber_sockbuf_remove_io(sb, &deadline_io, LBER_SBIOD_LEVEL_TRANSPORT);
}

/* --- name resolution and TCP connect within the deadline ----------------- */

/*
 * getaddrinfo() has no timeout (the resolver may wait 5 s per server and
 * try), so a host name is resolved on a thread of its own while the caller
 * waits at most until its deadline.  The caller and that thread share the
 * request; the last one to let go frees it.
 */
struct lookup {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int refs, done, rc;
	struct addrinfo *res;
	char host[256], port[16];
};

static void
lookup_unref(struct lookup *l)
{
	pthread_mutex_lock(&l->mu);
	int last = --l->refs == 0;
	pthread_mutex_unlock(&l->mu);
	if (!last)
		return;
	if (l->res != NULL)
		freeaddrinfo(l->res);
	pthread_mutex_destroy(&l->mu);
	pthread_cond_destroy(&l->cv);
	free(l);
}

static void *
lookup_run(void *arg)
{
	struct lookup *l = arg;
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
	struct addrinfo *res = NULL;
	int rc = getaddrinfo(l->host, l->port, &hints, &res);

	pthread_mutex_lock(&l->mu);
	l->rc = rc;
	l->res = rc == 0 ? res : NULL;
	l->done = 1;
	pthread_cond_signal(&l->cv);
	pthread_mutex_unlock(&l->mu);
	lookup_unref(l);
	return NULL;
}

/* Start resolving HOST:PORT on a thread; NULL when that cannot be done. */
static struct lookup *
lookup_start(const char *host, int port)
{
	struct lookup *l = calloc(1, sizeof(*l));
	pthread_attr_t attr;
	pthread_t t;

	if (l == NULL || strlen(host) >= sizeof(l->host)) {
		free(l);
		return NULL;
	}
	snprintf(l->host, sizeof(l->host), "%s", host);
	snprintf(l->port, sizeof(l->port), "%d", port);
	pthread_mutex_init(&l->mu, NULL);
	rg_cond_init(&l->cv);
	l->refs = 2;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	int rc = pthread_create(&t, &attr, lookup_run, l);
	pthread_attr_destroy(&attr);
	if (rc != 0) {
		l->refs = 1;
		lookup_unref(l);
		return NULL;
	}
	return l;
}

/* The addresses of HOST:PORT, resolved before DEADLINE; NULL with err. */
static struct addrinfo *
resolve(const char *host, int port, double deadline, char *err, size_t errlen)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
	    .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV };
	struct addrinfo *res = NULL;
	char ports[16];

	snprintf(ports, sizeof(ports), "%d", port);
	if (getaddrinfo(host, ports, &hints, &res) == 0)
		return res;     /* an address already: nothing to ask */
	struct lookup *l = lookup_start(host, port);
	if (l == NULL) {
		seterr(err, errlen, "cannot resolve %s: out of resources", host);
		return NULL;
	}
	pthread_mutex_lock(&l->mu);
	for (double left; !l->done && (left = deadline - rg_now()) > 0;) {
		struct timespec ts = rg_timespec_in(left);
		pthread_cond_timedwait(&l->cv, &l->mu, &ts);
	}
	int done = l->done, rc = l->rc;
	res = l->res;
	l->res = NULL;
	pthread_mutex_unlock(&l->mu);
	lookup_unref(l);
	if (!done)
		seterr(err, errlen, "resolving %s timed out", host);
	else if (rc != 0)
		seterr(err, errlen, "cannot resolve %s: %s", host, gai_strerror(rc));
	return res;
}

/* A blocking TCP socket connected to AI before DEADLINE, or -1 with err. */
static int
tcp_connect(const struct addrinfo *ai, double deadline, char *err, size_t errlen)
{
	char ebuf[128];
	int fd, e = 0, one = 1;
	socklen_t elen = sizeof(e);

	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
	if (fd < 0) {
		seterr(err, errlen, "socket: %s", strerror_r(errno, ebuf, sizeof(ebuf)));
		return -1;
	}
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
		if (errno != EINPROGRESS) {
			e = errno;
		} else {
			struct pollfd pfd = { .fd = fd, .events = POLLOUT };
			double left;
			int n = 0;
			while ((left = deadline - rg_now()) > 0 &&
			    (n = poll(&pfd, 1, (int)(left * 1000) + 1)) < 0 && errno == EINTR)
				;
			if (n <= 0)
				e = n == 0 || left <= 0 ? ETIMEDOUT : errno;
			else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &elen) != 0)
				e = errno;
		}
	}
	if (e == 0 && fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) != 0)
		e = errno;
	if (e != 0) {
		seterr(err, errlen, "%s", e == ETIMEDOUT ? "connect timed out" :
		    strerror_r(e, ebuf, sizeof(ebuf)));
		close(fd);
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
	if (ai->ai_family == AF_INET || ai->ai_family == AF_INET6)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

/* A socket connected to the host and port of LUD before DEADLINE, or -1. */
static int
tcp_open(const LDAPURLDesc *lud, const char *uri, double deadline, char *err, size_t errlen)
{
	int ldaps = strcasecmp(lud->lud_scheme, "ldaps") == 0;
	int port = lud->lud_port > 0 ? lud->lud_port : ldaps ? LDAPS_PORT : LDAP_PORT;
	const char *host = lud->lud_host != NULL && lud->lud_host[0] != '\0' ? lud->lud_host :
	    "localhost";
	char why[RG_ERRLEN] = "no address";
	int fd = -1;

	struct addrinfo *res = resolve(host, port, deadline, why, sizeof(why));
	for (struct addrinfo *ai = res; ai != NULL && fd < 0; ai = ai->ai_next)
		fd = tcp_connect(ai, deadline, why, sizeof(why));
	if (res != NULL)
		freeaddrinfo(res);
	if (fd < 0)
		seterr(err, errlen, "cannot reach %s: %s", uri, why);
	return fd;
}

/* --- opening one handle ---------------------------------------------------- */

/*
 * A handle on URI with its connection open (TCP: resolved and connected
 * here, within DEADLINE; ldapi: by libldap at the first operation, bounded
 * by LDAP_OPT_NETWORK_TIMEOUT) and the deadline layer armed.
 */
static LDAP *
open_handle(const char *uri, double deadline, char *err, size_t errlen)
{
	LDAPURLDesc *lud = NULL;
	LDAP *ld = NULL;
	int rc;

	if (ldap_url_parse(uri, &lud) != LDAP_URL_SUCCESS) {
		seterr(err, errlen, "LDAPURI %s: not an LDAP URI", uri);
		return NULL;
	}
	if (strcasecmp(lud->lud_scheme, "ldapi") == 0) {
		rc = ldap_initialize(&ld, uri);
		if (rc != LDAP_SUCCESS)
			seterr(err, errlen, "LDAPURI %s: %s", uri, ldap_err2string(rc));
	} else {
		int fd = tcp_open(lud, uri, deadline, err, errlen);
		if (fd >= 0 && (rc = ldap_init_fd(fd, LDAP_PROTO_TCP, uri, &ld)) != LDAP_SUCCESS) {
			seterr(err, errlen, "LDAPURI %s: %s", uri, ldap_err2string(rc));
			close(fd);
			ld = NULL;
		}
	}
	ldap_free_urldesc(lud);
	if (ld != NULL && deadline_arm(ld, deadline) != 0) {
		seterr(err, errlen, "LDAPURI %s: cannot set up the connection", uri);
		ldap_unbind_ext(ld, NULL, NULL);
		ld = NULL;
	}
	return ld;
}

/*
 * The first of LDAPTLSCACertFile, LDAPTLSCertFile, LDAPTLSKeyFile that this
 * process cannot read (after the drop to UserID), with the reason in err;
 * 0 when all can be read.
 */
static int
tls_files_unreadable(const struct rg_config *cf, char *err, size_t errlen)
{
	const char *names[] = { "LDAPTLSCACertFile", "LDAPTLSCertFile", "LDAPTLSKeyFile" };
	const char *files[] = { cf->ldap_tls_cacert_file, cf->ldap_tls_cert_file,
	    cf->ldap_tls_key_file };
	char ebuf[128];

	for (int i = 0; i < 3; i++) {
		if (files[i][0] == '\0' || access(files[i], R_OK) == 0)
			continue;
		seterr(err, errlen, "%s %s: %s", names[i], files[i],
		    strerror_r(errno, ebuf, sizeof(ebuf)));
		return -1;
	}
	return 0;
}

/* ldap_pvt.h: libldap 2.5 exports it without a public declaration. */
void ldap_pvt_tls_ctx_free(void *ctx);

/*
 * The TLS context of the configuration in use, shared by its connections.
 * libldap reads the files at every LDAP_OPT_X_TLS_NEWCTX, and with a client
 * certificate it never frees the key and certificates it read (libldap 2.5,
 * tls_g.c), so a context per connection would lose memory at every
 * reconnect.  One slot: a reload (a new configuration) builds a new
 * context, which also picks up files replaced in the meantime.
 */
static pthread_mutex_t tls_ctx_mu = PTHREAD_MUTEX_INITIALIZER;
static const struct rg_config *tls_ctx_cf;     /* the configuration it was made for */
static char tls_ctx_files[3 * 4096 + 4];        /* and its files, in case CF's address is reused */
static void *tls_ctx;

/*
 * A new context on LD from LDAPTLSCACertFile, LDAPTLSCertFile and
 * LDAPTLSKeyFile only; in *CTX a reference to it.  0, or -1.
 */
static int
tls_newctx(const struct rg_config *cf, LDAP *ld, void **ctx)
{
	int is_server = 0;

	/* an empty string clears a value: nothing is inherited */
	if (ldap_set_option(ld, LDAP_OPT_X_TLS_CACERTFILE, cf->ldap_tls_cacert_file) !=
	    LDAP_OPT_SUCCESS ||
	    ldap_set_option(ld, LDAP_OPT_X_TLS_CACERTDIR, "") != LDAP_OPT_SUCCESS ||
	    ldap_set_option(ld, LDAP_OPT_X_TLS_CERTFILE, cf->ldap_tls_cert_file) !=
	    LDAP_OPT_SUCCESS ||
	    ldap_set_option(ld, LDAP_OPT_X_TLS_KEYFILE, cf->ldap_tls_key_file) != LDAP_OPT_SUCCESS ||
	    ldap_set_option(ld, LDAP_OPT_X_TLS_NEWCTX, &is_server) != LDAP_OPT_SUCCESS)
		return -1;
	*ctx = NULL;
	return ldap_get_option(ld, LDAP_OPT_X_TLS_CTX, ctx) == LDAP_OPT_SUCCESS &&
	    *ctx != NULL ? 0 : -1;
}

/*
 * Give LD the TLS context of CF (made on the first connection of CF with
 * LDAP_OPT_X_TLS_NEWCTX) and LDAPTLSVerify: built from the keys of CF
 * only, never from libldap's process-wide defaults, so neither
 * /etc/ldap/ldap.conf nor LDAPTLS_* variables change what is trusted.
 * 0, or -1 with the reason in err.
 */
static int
tls_setup(const struct rg_config *cf, LDAP *ld, const char *uri, char *err, size_t errlen)
{
	static const int verify[] = { [RG_TLS_DEMAND] = LDAP_OPT_X_TLS_DEMAND,
	    [RG_TLS_ALLOW] = LDAP_OPT_X_TLS_ALLOW, [RG_TLS_NEVER] = LDAP_OPT_X_TLS_NEVER };
	int req = verify[cf->ldap_tls_verify], rc = 0;
	char files[sizeof(tls_ctx_files)];
	void *ctx = NULL;

	if (tls_files_unreadable(cf, err, errlen) < 0)
		return -1;
	snprintf(files, sizeof(files), "%s\n%s\n%s\n%d", cf->ldap_tls_cacert_file,
	    cf->ldap_tls_cert_file, cf->ldap_tls_key_file, req);
	if (ldap_set_option(ld, LDAP_OPT_X_TLS_REQUIRE_CERT, &req) != LDAP_OPT_SUCCESS)
		rc = -1;
	pthread_mutex_lock(&tls_ctx_mu);
	if (rc == 0 && tls_ctx != NULL && tls_ctx_cf == cf && strcmp(tls_ctx_files, files) == 0) {
		rc = ldap_set_option(ld, LDAP_OPT_X_TLS_CTX, tls_ctx) == LDAP_OPT_SUCCESS ? 0 : -1;
	} else if (rc == 0 && (rc = tls_newctx(cf, ld, &ctx)) == 0) {
		if (tls_ctx != NULL)
			ldap_pvt_tls_ctx_free(tls_ctx);
		tls_ctx = ctx;
		tls_ctx_cf = cf;
		memcpy(tls_ctx_files, files, sizeof(files));
	}
	pthread_mutex_unlock(&tls_ctx_mu);
	if (rc < 0)
		seterr(err, errlen, "TLS set-up for %s failed: LDAPTLSCACertFile \"%s\", "
		    "LDAPTLSCertFile \"%s\" and LDAPTLSKeyFile \"%s\" must be PEM files, the "
		    "key matching the certificate", uri, cf->ldap_tls_cacert_file,
		    cf->ldap_tls_cert_file, cf->ldap_tls_key_file);
	return rc;
}

/* --- why a certificate was refused -------------------------------------------- */

/*
 * libldap refuses a server certificate without saying why (with GnuTLS its
 * message is "(unknown error code)").  When libldap runs on GnuTLS, a verify
 * function of ours is put on the session of the handshake: it asks GnuTLS
 * what is wrong with the certificate (issuer unknown, expired, another
 * name) and keeps the words for the log.  It decides nothing: libldap still
 * accepts or refuses by LDAPTLSVerify.
 */
struct tls_diag {
	const char *host;       /* the name the certificate must carry */
	char why[256];          /* "" while nothing is wrong */
};

#ifdef HAVE_GNUTLS
/* libldap's GnuTLS session object (tls_g.c) begins with the GnuTLS session. */
static gnutls_session_t
gnutls_of(void *ssl)
{
	return ssl != NULL ? *(gnutls_session_t *)ssl : NULL;
}

static int
diag_verify(gnutls_session_t s)
{
	struct tls_diag *d = gnutls_session_get_ptr(s);
	unsigned status = 0;
	gnutls_datum_t out = { NULL, 0 };

	if (d == NULL || gnutls_certificate_verify_peers3(s, d->host, &status) < 0 ||
	    status == 0)
		return 0;
	if (gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509, &out, 0) == 0) {
		snprintf(d->why, sizeof(d->why), "%s", (const char *)out.data);
		gnutls_free(out.data);
		for (size_t n = strlen(d->why); n > 0 && d->why[n - 1] == ' '; n--)
			d->why[n - 1] = '\0';
	}
	return 0;
}

static int
diag_connect_cb(LDAP *ld, void *ssl, void *ctx, void *arg)
{
	gnutls_session_t s = gnutls_of(ssl);

	(void)ld;
	(void)ctx;
	if (s != NULL) {
		gnutls_session_set_ptr(s, arg);
		gnutls_session_set_verify_function(s, diag_verify);
	}
	return 0;
}
#endif

/* Watch the coming handshake of LD into D, when libldap runs on GnuTLS. */
static void
diag_arm(LDAP *ld, struct tls_diag *d)
{
#ifdef HAVE_GNUTLS
	char *pkg = NULL;

	if (ldap_get_option(ld, LDAP_OPT_X_TLS_PACKAGE, &pkg) == LDAP_OPT_SUCCESS &&
	    pkg != NULL && strcmp(pkg, "GnuTLS") == 0) {
		ldap_set_option(ld, LDAP_OPT_X_TLS_CONNECT_ARG, d);
		ldap_set_option(ld, LDAP_OPT_X_TLS_CONNECT_CB, (void *)diag_connect_cb);
	}
	ldap_memfree(pkg);
#else
	(void)ld;
	(void)d;
#endif
}

/* After the handshake: D, on the caller's stack, is no longer to be written. */
static void
diag_disarm(LDAP *ld)
{
#ifdef HAVE_GNUTLS
	void *ssl = NULL;

	ldap_set_option(ld, LDAP_OPT_X_TLS_CONNECT_CB, NULL);
	ldap_set_option(ld, LDAP_OPT_X_TLS_CONNECT_ARG, NULL);
	if (ldap_get_option(ld, LDAP_OPT_X_TLS_SSL_CTX, &ssl) == LDAP_OPT_SUCCESS &&
	    gnutls_of(ssl) != NULL)
		gnutls_session_set_ptr(gnutls_of(ssl), NULL);
#else
	(void)ld;
#endif
}

/*
 * Why the TLS step on LD failed with RC: what was wrong with the
 * certificate (DIAG), or libldap's words, or a timeout.
 */
static void
tls_error(LDAP *ld, int rc, const char *uri, double deadline, const struct tls_diag *diag,
    char *err, size_t errlen)
{
	char *msg = NULL;

	if (rg_now() >= deadline) {
		seterr(err, errlen, "TLS handshake with %s timed out", uri);
		return;
	}
	if (diag->why[0] != '\0') {
		seterr(err, errlen, "TLS handshake with %s: certificate verify failed: %s", uri,
		    diag->why);
		return;
	}
	ldap_get_option(ld, LDAP_OPT_DIAGNOSTIC_MESSAGE, &msg);
	seterr(err, errlen, "TLS handshake with %s: %s%s%s", uri, ld_error(ld, rc),
	    msg && *msg ? ": " : "", msg ? msg : "");
	ldap_memfree(msg);
}

/* StartTLS (LDAPStartTLS on ldap://) or the handshake of ldaps://, before DEADLINE. */
static int
start_tls(const struct rg_config *cf, LDAP *ld, const char *uri, double deadline,
    char *err, size_t errlen)
{
	int ldaps = strncasecmp(uri, "ldaps://", 8) == 0, msgid, rc, code = LDAP_OTHER;
	LDAPMessage *res = NULL;

	if (!ldaps && !cf->ldap_starttls)
		return 0;
	if (tls_setup(cf, ld, uri, err, errlen) < 0)
		return -1;
	if (!ldaps) {
		rc = ldap_start_tls(ld, NULL, NULL, &msgid);
		if (rc != LDAP_SUCCESS) {
			seterr(err, errlen, "StartTLS with %s: %s", uri, ld_error(ld, rc));
			return -1;
		}
		rc = wait_result(ld, msgid, LDAP_MSG_ALL, deadline, &res);
		if (rc <= 0) {
			seterr(err, errlen, "StartTLS with %s: %s", uri,
			    rc == 0 ? "timed out" : ld_error(ld, rc));
			return -1;
		}
		ldap_parse_result(ld, res, &code, NULL, NULL, NULL, NULL, 1);
		if (code != LDAP_SUCCESS) {
			seterr(err, errlen, "StartTLS with %s: %s", uri, ldap_err2string(code));
			return -1;
		}
	}
	struct tls_diag diag = { .host = NULL, .why = "" };
	LDAPURLDesc *lud = NULL;
	if (ldap_url_parse(uri, &lud) == LDAP_URL_SUCCESS)
		diag.host = lud->lud_host;
	diag_arm(ld, &diag);
	rc = ldap_install_tls(ld);
	diag_disarm(ld);
	if (rc != LDAP_SUCCESS)
		tls_error(ld, rc, uri, deadline, &diag, err, errlen);
	ldap_free_urldesc(lud);
	return rc == LDAP_SUCCESS ? 0 : -1;
}

/*
 * Bind LD before DEADLINE: a simple bind as LDAPBindDN (anonymous when it
 * is empty), or with LDAPSASLMech EXTERNAL a SASL bind whose identity is
 * the connection's own (the peer credentials of ldapi://, the client
 * certificate of TLS), asking for LDAPSASLAuthzID when set.  EXTERNAL needs
 * one round trip and no SASL library.  Errors name the identity, never the
 * password.
 */
static int
bind_handle(const struct rg_config *cf, LDAP *ld, const char *uri, double deadline,
    char *err, size_t errlen)
{
	int sasl = cf->ldap_sasl_mech[0] != '\0';
	/* the credentials: the password of a simple bind, the authzid of EXTERNAL */
	const char *text = sasl ? cf->ldap_sasl_authzid : cf->ldap_bind_password;
	struct berval cred = { 0, (char *)"" };
	LDAPMessage *res = NULL;
	int rc, msgid, code = LDAP_OTHER;

	if (text != NULL) {
		cred.bv_val = (char *)text;
		cred.bv_len = strlen(text);
	}
	rc = ldap_sasl_bind(ld, sasl ? NULL : cf->ldap_bind_dn,
	    sasl ? cf->ldap_sasl_mech : LDAP_SASL_SIMPLE, &cred, NULL, NULL, &msgid);
	if (rc != LDAP_SUCCESS) {
		seterr(err, errlen, "cannot reach %s: %s", uri, ld_error(ld, rc));
		return -1;
	}
	rc = wait_result(ld, msgid, LDAP_MSG_ALL, deadline, &res);
	if (rc <= 0) {
		seterr(err, errlen, rc == 0 ? "bind to %s timed out" : "bind to %s: %s", uri,
		    ld_error(ld, rc));
		return -1;
	}
	char *diag = NULL;
	ldap_parse_result(ld, res, &code, NULL, &diag, NULL, NULL, 1);
	if (code != LDAP_SUCCESS && sasl)
		seterr(err, errlen, "SASL %s bind%s%s to %s: %s%s%s", cf->ldap_sasl_mech,
		    cf->ldap_sasl_authzid[0] ? " as authzid " : "", cf->ldap_sasl_authzid, uri,
		    ldap_err2string(code), diag && *diag ? ": " : "", diag ? diag : "");
	else if (code != LDAP_SUCCESS)
		seterr(err, errlen, "bind as \"%s\" to %s: %s", cf->ldap_bind_dn, uri,
		    ldap_err2string(code));
	ldap_memfree(diag);
	return code == LDAP_SUCCESS ? 0 : -1;
}

/* Open, configure, StartTLS or TLS, and bind one URI before DEADLINE. */
static LDAP *
connect_one(const struct rg_config *cf, const char *uri, double deadline, char *err,
    size_t errlen)
{
	int v3 = LDAP_VERSION3;
	struct timeval tv = tv_of(deadline - rg_now());
	LDAP *ld = open_handle(uri, deadline, err, errlen);

	if (ld == NULL)
		return NULL;
	ldap_set_option(ld, LDAP_OPT_PROTOCOL_VERSION, &v3);
	ldap_set_option(ld, LDAP_OPT_REFERRALS, LDAP_OPT_OFF);
	/* an ldapi:// connect, and libldap's own waits, within what is left */
	ldap_set_option(ld, LDAP_OPT_NETWORK_TIMEOUT, &tv);
	ldap_set_option(ld, LDAP_OPT_TIMEOUT, &tv);
	if (start_tls(cf, ld, uri, deadline, err, errlen) < 0 ||
	    bind_handle(cf, ld, uri, deadline, err, errlen) < 0) {
		ldap_unbind_ext(ld, NULL, NULL);
		return NULL;
	}
	deadline_disarm(ld);
	return ld;
}

/*
 * The deadline of an attempt on one URI: at most LDAPTimeout (a walk may
 * have more time, but a connect and bind that take longer are a dead
 * server); while a later server may be tried, half of what is left, so that
 * a server that accepts and then says nothing leaves time for the next one.
 */
static double
attempt_deadline(const struct rg_config *cf, double deadline, int others)
{
	double now = rg_now(), until = others ? now + (deadline - now) / 2 : deadline;

	return until - now > cf->ldap_timeout ? now + cf->ldap_timeout : until;
}

/* --- what the process knows of each server ---------------------------------- */

/*
 * The health of the LDAP servers is the process's, not a pool's: the pools
 * of the configuration in use and of one being replaced at a reload, and
 * the suggestion index's loader and watcher (rg_ldap_connect), all share
 * one entry per URI, so that a dead server is tried by one connection at a
 * time whoever asks.  An entry lives while someone holds it (refs).
 */
struct server {
	struct server *next;
	int refs;
	char *uri;
	double retry_at;        /* after a failure: no connect before this time */
	double backoff;         /* the wait after its next failure that cost a timeout */
	int up;                 /* its last connect succeeded */
	int known;              /* a connect to it has ended, well or not */
	int trying;             /* connects to it under way */
	int down_logged;        /* "LDAP unreachable" said once per outage */
	int slow_fail;          /* its last failure cost a timeout */
	atomic_int stuck;       /* a search on it timed out: only an answered
	                         * search, not a bind, ends its back-off doubling */
	pthread_cond_t done;    /* signalled when a connect to it ends */
};

static pthread_mutex_t health_mu = PTHREAD_MUTEX_INITIALIZER;
static struct server *health;   /* every server someone holds */

/* The entry of URI (LEN bytes), made when new, with one more ref; NULL when out of memory. */
static struct server *
server_hold(const char *uri, size_t len)
{
	struct server *sv;

	pthread_mutex_lock(&health_mu);
	for (sv = health; sv != NULL; sv = sv->next)
		if (strlen(sv->uri) == len && memcmp(sv->uri, uri, len) == 0)
			break;
	if (sv == NULL && (sv = calloc(1, sizeof(*sv))) != NULL) {
		if ((sv->uri = strndup(uri, len)) == NULL) {
			free(sv);
			sv = NULL;
		} else {
			sv->backoff = BACKOFF_MIN;
			rg_cond_init(&sv->done);
			sv->next = health;
			health = sv;
		}
	}
	if (sv != NULL)
		sv->refs++;
	pthread_mutex_unlock(&health_mu);
	return sv;
}

/* Let go of the N servers of SV (and of SV itself). */
static void
servers_put(struct server **sv, int n)
{
	pthread_mutex_lock(&health_mu);
	for (int i = 0; i < n; i++) {
		if (--sv[i]->refs > 0)
			continue;
		for (struct server **pp = &health; *pp != NULL; pp = &(*pp)->next)
			if (*pp == sv[i]) {
				*pp = sv[i]->next;
				break;
			}
		pthread_cond_destroy(&sv[i]->done);
		free(sv[i]->uri);
		free(sv[i]);
	}
	pthread_mutex_unlock(&health_mu);
	free(sv);
}

/* The servers of LDAPURI in order, held, in *OUT; their number, or -1 when out of memory. */
static int
servers_get(const char *uris, struct server ***out)
{
	int n = 0, max = 0;

	for (const char *q = uris; *q != '\0'; q += strspn(q, " ")) {
		size_t len = strcspn(q, " ");
		max += len > 0;
		q += len;
	}
	*out = calloc((size_t)max + 1, sizeof(**out));
	if (*out == NULL)
		return -1;
	for (const char *q = uris; *q != '\0'; q += strspn(q, " ")) {
		size_t len = strcspn(q, " ");
		if (len > 0 && ((*out)[n] = server_hold(q, len)) == NULL) {
			servers_put(*out, n);
			*out = NULL;
			return -1;
		}
		n += len > 0;
		q += len;
	}
	return n;
}

/* Is a later server than I out of its back-off at NOW?  (health_mu held) */
static int
later_open(struct server **sv, int n, int i, double now)
{
	for (int j = i + 1; j < n; j++)
		if (now >= sv[j]->retry_at)
			return 1;
	return 0;
}

/*
 * The first server from index FROM that a new connection should try, or -1;
 * it is marked as being tried.  A server in its back-off is skipped; a
 * server not known to answer is tried by one connection at a time: while
 * another connection tries it, a later server is taken instead.  When there
 * is none, the caller waits (until DEADLINE at most) for the outcome of a
 * first attempt on a server never tried before (at start-up), and gives up
 * at once on a server that failed before (*BUSY set).  *OTHERS says whether
 * a later server may be tried after this one.
 */
static int
server_pick(struct server **sv, int n, int from, double deadline, int *others, int *busy)
{
	int pick = -1;

	pthread_mutex_lock(&health_mu);
	for (;;) {
		double now = rg_now();
		int first = -1;
		for (int i = from; i < n && pick < 0; i++) {
			if (now < sv[i]->retry_at)
				continue;
			if (sv[i]->trying == 0 || sv[i]->up)
				pick = i;
			else if (!sv[i]->known && first < 0)
				first = i;
			else
				*busy = 1;
		}
		if (pick >= 0) {
			sv[pick]->trying++;
			*others = later_open(sv, n, pick, now);
			break;
		}
		if (first < 0 || now >= deadline)
			break;
		struct timespec ts = rg_timespec_in(deadline - now);
		pthread_cond_timedwait(&sv[first]->done, &health_mu, &ts);
	}
	pthread_mutex_unlock(&health_mu);
	return pick;
}

/*
 * Record how a connect to SV went (OK, or WHY it failed), and say so once.
 * A failure that cost nothing (refused, unreachable: an answer before the
 * attempt's deadline, within CHEAP_COST) is retried after BACKOFF_CHEAP, so
 * that a server that comes back is used again at once; one that cost a
 * timeout (accepted and silent, a handshake or bind that never ended) backs
 * off from BACKOFF_MIN doubling to BACKOFF_MAX.
 */
static void
server_done(struct server *sv, int ok, int cheap, const char *why)
{
	int say;

	pthread_mutex_lock(&health_mu);
	sv->trying--;
	sv->known = 1;
	if (ok && atomic_load(&sv->stuck)) {
		/* it binds, but whether it answers searches is still to be seen */
		say = 0;
		sv->up = 1;
		sv->retry_at = 0;
	} else if (ok) {
		say = sv->down_logged;
		sv->up = 1;
		sv->slow_fail = 0;
		sv->backoff = BACKOFF_MIN;
		sv->retry_at = 0;
		sv->down_logged = 0;
	} else {
		say = !sv->down_logged;
		sv->up = 0;
		sv->slow_fail = !cheap;
		if (cheap) {
			sv->retry_at = rg_now() + BACKOFF_CHEAP;
		} else {
			sv->retry_at = rg_now() + sv->backoff;
			sv->backoff = sv->backoff * 2 > BACKOFF_MAX ? BACKOFF_MAX : sv->backoff * 2;
		}
		sv->down_logged = 1;
	}
	pthread_cond_broadcast(&sv->done);
	pthread_mutex_unlock(&health_mu);
	if (say && ok)
		rg_log(LOG_INFO, "LDAP reachable again: %s", sv->uri);
	else if (say)
		rg_log(LOG_ERR, "LDAP unreachable: %s", why);
}

/*
 * A search on SV timed out although it had most of LDAPTimeout: a server
 * that takes connections and binds but does not answer (its database
 * stuck, say).  New connections skip it for its back-off, which doubles
 * with each such timeout until a search on it is answered.
 */
static void
server_search_timeout(struct server *sv, const char *why)
{
	double wait;
	int say;

	pthread_mutex_lock(&health_mu);
	atomic_store(&sv->stuck, 1);
	sv->up = 0;
	sv->slow_fail = 1;
	wait = sv->backoff;
	sv->retry_at = rg_now() + wait;
	sv->backoff = sv->backoff * 2 > BACKOFF_MAX ? BACKOFF_MAX : sv->backoff * 2;
	say = !sv->down_logged;
	sv->down_logged = 1;
	pthread_mutex_unlock(&health_mu);
	if (say)
		rg_log(LOG_ERR, "LDAP server %s does not answer searches (%s): "
		    "new connections go elsewhere for %.1f s, then try it again",
		    sv->uri, why, wait);
}

/* A search on SV was answered: a server that was stuck is well again. */
static void
server_search_ok(struct server *sv)
{
	if (!atomic_load(&sv->stuck))
		return;
	pthread_mutex_lock(&health_mu);
	int was = atomic_exchange(&sv->stuck, 0);
	if (was) {
		sv->backoff = BACKOFF_MIN;
		sv->down_logged = 0;
	}
	pthread_mutex_unlock(&health_mu);
	if (was)
		rg_log(LOG_INFO, "LDAP server %s answers searches again", sv->uri);
}

/* Seconds until the first of the N servers of SV ends its back-off. */
static double
servers_wait(struct server **sv, int n)
{
	double now = rg_now(), wait = BACKOFF_MAX;

	pthread_mutex_lock(&health_mu);
	for (int i = 0; i < n; i++)
		if (sv[i]->retry_at - now < wait)
			wait = sv[i]->retry_at - now;
	pthread_mutex_unlock(&health_mu);
	return wait > 0 ? wait : 0;
}

/*
 * A bound handle from the first of the N servers of SV that answers before
 * DEADLINE; *WHICH (when not NULL) gets that server.
 */
static LDAP *
servers_connect(const struct rg_config *cf, struct server **sv, int n, double deadline,
    struct server **which, char *err, size_t errlen)
{
	int tried = 0, others = 0, busy = 0;

	for (int i = 0; rg_now() < deadline &&
	    (i = server_pick(sv, n, i, deadline, &others, &busy)) >= 0; i++) {
		char why[RG_ERRLEN];
		double t0 = rg_now(), until = attempt_deadline(cf, deadline, others);
		LDAP *ld = connect_one(cf, sv[i]->uri, until, why, sizeof(why));
		double t1 = rg_now();
		server_done(sv[i], ld != NULL, t1 < until && t1 - t0 < CHEAP_COST, why);
		if (ld != NULL && which != NULL)
			*which = sv[i];
		if (ld != NULL)
			return ld;
		seterr(err, errlen, "%s", why);
		tried = 1;
	}
	if (!tried && busy)
		seterr(err, errlen, "LDAP server unreachable, another connection is trying it");
	else if (!tried && rg_now() < deadline)
		seterr(err, errlen, "LDAP server unreachable, next attempt in %.1f s",
		    servers_wait(sv, n));
	else if (!tried)
		seterr(err, errlen, "no LDAP server answered within LDAPTimeout");
	return NULL;
}

LDAP *
rg_ldap_connect_at(const struct rg_config *cf, double deadline, int *which, char *err,
    size_t errlen)
{
	/* the URIs in order, all within the one deadline (libldap's own list
	 * would give each address of each URI a full network timeout), with
	 * what the pools know of each */
	struct server **sv = NULL, *got = NULL;
	int n = servers_get(cf->ldap_uri, &sv);
	LDAP *ld = NULL;

	if (n < 0)
		seterr(err, errlen, "out of memory");
	else if (n == 0)
		seterr(err, errlen, "LDAPURI is empty");
	else
		ld = servers_connect(cf, sv, n, deadline, &got, err, errlen);
	for (int i = 0; ld != NULL && which != NULL && i < n; i++)
		if (sv[i] == got)
			*which = i;
	if (n >= 0)
		servers_put(sv, n);
	return ld;
}

LDAP *
rg_ldap_connect(const struct rg_config *cf, double deadline, char *err, size_t errlen)
{
	return rg_ldap_connect_at(cf, deadline, NULL, err, errlen);
}

int
rg_ldap_earlier_up(const struct rg_config *cf, int which, double deadline)
{
	struct server **sv = NULL;
	int n = servers_get(cf->ldap_uri, &sv), up = 0;
	char err[RG_ERRLEN];

	if (n < 0)
		return 0;
	if (which > 0 && which <= n) {
		/* only the earlier ones, each as its back-off allows */
		LDAP *ld = servers_connect(cf, sv, which, deadline, NULL, err, sizeof(err));
		if (ld != NULL) {
			ldap_unbind_ext(ld, NULL, NULL);
			up = 1;
		}
	}
	servers_put(sv, n);
	return up;
}

/* --- the pool ------------------------------------------------------------------ */

/* A bound handle from the first server that answers before DEADLINE; *WHICH that server. */
static LDAP *
pool_connect(struct rg_ldap_pool *p, double deadline, struct server **which, char *err,
    size_t errlen)
{
	return servers_connect(p->cf, p->servers, p->nservers, deadline, which, err, errlen);
}

struct rg_ldap_pool *
rg_ldap_pool_new(const struct rg_config *cf)
{
	struct rg_ldap_pool *p = calloc(1, sizeof(*p));

	if (p == NULL)
		return NULL;
	p->cf = cf;
	p->nslots = cf->ldap_pool_size;
	p->slots = calloc((size_t)p->nslots, sizeof(*p->slots));
	pthread_mutex_init(&p->mu, NULL);
	rg_cond_init(&p->cv);
	if (p->slots == NULL || (p->nservers = servers_get(cf->ldap_uri, &p->servers)) < 0) {
		rg_ldap_pool_free(p);
		return NULL;
	}
	return p;
}

void
rg_ldap_pool_free(struct rg_ldap_pool *p)
{
	if (p == NULL)
		return;
	for (int i = 0; p->slots != NULL && i < p->nslots; i++)
		if (p->slots[i].ld != NULL)
			ldap_unbind_ext(p->slots[i].ld, NULL, NULL);
	if (p->servers != NULL)
		servers_put(p->servers, p->nservers);
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->cv);
	free(p->slots);
	free(p);
}

/* Take a free slot, waiting for one until DEADLINE; NULL on timeout. */
static struct slot *
slot_take(struct rg_ldap_pool *p, double deadline)
{
	struct slot *s = NULL;

	pthread_mutex_lock(&p->mu);
	for (;;) {
		for (int i = 0; i < p->nslots; i++) {
			/* prefer a slot with an open handle */
			if (!p->slots[i].busy && (s == NULL || (s->ld == NULL && p->slots[i].ld != NULL)))
				s = &p->slots[i];
		}
		if (s != NULL)
			break;
		double left = deadline - rg_now();
		if (left <= 0)
			break;
		struct timespec ts = rg_timespec_in(left);
		pthread_cond_timedwait(&p->cv, &p->mu, &ts);
	}
	if (s != NULL)
		s->busy = 1;
	pthread_mutex_unlock(&p->mu);
	return s;
}

static void
slot_give(struct rg_ldap_pool *p, struct slot *s)
{
	pthread_mutex_lock(&p->mu);
	s->busy = 0;
	pthread_cond_signal(&p->cv);
	pthread_mutex_unlock(&p->mu);
}

static void
slot_drop(struct slot *s)
{
	if (s->ld != NULL)
		ldap_unbind_ext(s->ld, NULL, NULL);
	s->ld = NULL;
	s->sv = NULL;
}

/* Open the slot's handle on the first server that answers. */
static int
slot_open(struct rg_ldap_pool *p, struct slot *s, double deadline, char *err, size_t errlen)
{
	s->ld = pool_connect(p, deadline, &s->sv, err, errlen);
	s->since = rg_now();
	return s->ld != NULL ? 0 : -1;
}

/*
 * LDAPURI order is preference: a handle on a later server is given up,
 * PREFER_AFTER seconds after it connected, once an earlier server is out of
 * its back-off and nobody is trying it, so that the next connect tries the
 * earlier ones first (a replica on the mail host itself, back after a
 * restart).  When that server's last failure cost a timeout (it hung),
 * trying it again costs one lookup that much, so it waits PREFER_AFTER_SLOW.
 * Is that so for S at NOW?
 */
static int
slot_prefers_earlier(const struct rg_ldap_pool *p, const struct slot *s, double now)
{
	int earlier = 0;

	if (s->ld == NULL || s->sv == NULL || s->sv == p->servers[0] ||
	    now - s->since < PREFER_AFTER)
		return 0;
	pthread_mutex_lock(&health_mu);
	for (int i = 0; i < p->nservers && p->servers[i] != s->sv; i++) {
		const struct server *e = p->servers[i];
		if (now >= e->retry_at && e->trying == 0 &&
		    (!e->slow_fail || now - s->since >= PREFER_AFTER_SLOW))
			earlier = 1;
	}
	pthread_mutex_unlock(&health_mu);
	return earlier;
}

static void
entry_free(struct rg_ldap_entry *e)
{
	ldap_memfree(e->dn);
	for (size_t j = 0; j < e->nvals; j++) {
		free(e->vals[j].attr);
		free(e->vals[j].value);
	}
	free(e->vals);
	memset(e, 0, sizeof(*e));
}

void
rg_ldap_result_free(struct rg_ldap_result *r)
{
	if (r == NULL)
		return;
	for (size_t i = 0; i < r->nentries; i++)
		entry_free(&r->entries[i]);
	free(r->entries);
	r->entries = NULL;
	r->nentries = 0;
}

/* Copy one LDAP entry's DN and values into E. */
static int
entry_copy(LDAP *ld, LDAPMessage *m, struct rg_ldap_entry *e)
{
	BerElement *ber = NULL;

	memset(e, 0, sizeof(*e));
	e->dn = ldap_get_dn(ld, m);
	if (e->dn == NULL)
		return -1;
	for (char *a = ldap_first_attribute(ld, m, &ber); a != NULL;
	    a = ldap_next_attribute(ld, m, ber)) {
		struct berval **vals = ldap_get_values_len(ld, m, a);
		size_t nv = vals ? (size_t)ldap_count_values_len(vals) : 0;
		struct rg_ldap_value *nvv = realloc(e->vals, (e->nvals + nv + 1) * sizeof(*nvv));
		if (nvv == NULL) {
			ldap_value_free_len(vals);
			ldap_memfree(a);
			if (ber != NULL)
				ber_free(ber, 0);
			return -1;
		}
		e->vals = nvv;
		for (size_t i = 0; i < nv; i++) {
			struct rg_ldap_value *v = &e->vals[e->nvals++];
			v->attr = strdup(a);
			v->value = strndup(vals[i]->bv_val, vals[i]->bv_len);
			if (v->attr == NULL || v->value == NULL) {
				ldap_value_free_len(vals);
				ldap_memfree(a);
				if (ber != NULL)
					ber_free(ber, 0);
				return -1;
			}
		}
		ldap_value_free_len(vals);
		ldap_memfree(a);
	}
	if (ber != NULL)
		ber_free(ber, 0);
	return 0;
}

static int
collect(LDAP *ld, LDAPMessage *all, struct rg_ldap_result *res)
{
	int n = ldap_count_entries(ld, all);

	if (res == NULL || n <= 0)
		return 0;
	res->entries = calloc((size_t)n, sizeof(*res->entries));
	if (res->entries == NULL)
		return -1;
	for (LDAPMessage *m = ldap_first_entry(ld, all); m != NULL; m = ldap_next_entry(ld, m)) {
		if (entry_copy(ld, m, &res->entries[res->nentries]) < 0) {
			res->nentries++;
			return -1;
		}
		res->nentries++;
	}
	return 0;
}

/* MAXENTRIES of an existence search: size limit 1, and more is found too. */
#define EXISTS_ONLY (-1)

/*
 * One search on one open handle.  *dead is set when the handle must not be
 * used again: 2 when the search timed out, 1 for any other reason.
 * MAXENTRIES EXISTS_ONLY: is there any entry (size limit 1, no attributes)?
 */
static enum rg_found
search_once(LDAP *ld, const char *base, int scope, const char *filter, char *const *attrs,
    int maxentries, double deadline, struct rg_ldap_result *res, int *dead,
    char *err, size_t errlen)
{
	static char *no_attrs[] = { LDAP_NO_ATTRS, NULL };
	struct timeval tv = tv_of(deadline - rg_now());
	LDAPMessage *all = NULL;
	int msgid, rc;

	*dead = 0;
	int exists = maxentries == EXISTS_ONLY;
	rc = ldap_search_ext(ld, base, scope, filter, attrs ? (char **)attrs : no_attrs, 0,
	    NULL, NULL, &tv, exists ? 1 : maxentries, &msgid);
	if (rc != LDAP_SUCCESS) {
		*dead = 1;
		seterr(err, errlen, "search: %s", ld_error(ld, rc));
		return RG_LOOKUP_FAIL;
	}
	rc = wait_result(ld, msgid, LDAP_MSG_ALL, deadline, &all);
	if (rc == 0) {
		ldap_abandon_ext(ld, msgid, NULL, NULL);
		*dead = 2;
		seterr(err, errlen, "search timed out");
		return RG_LOOKUP_FAIL;
	}
	if (rc < 0) {
		*dead = 1;
		seterr(err, errlen, "search: %s", ld_error(ld, rc));
		return RG_LOOKUP_FAIL;
	}
	int code = LDAP_OTHER;
	rc = ldap_parse_result(ld, all, &code, NULL, NULL, NULL, NULL, 0);
	if (rc != LDAP_SUCCESS) {
		ldap_msgfree(all);
		*dead = 1;
		seterr(err, errlen, "bad reply: %s", ldap_err2string(rc));
		return RG_LOOKUP_FAIL;
	}
	enum rg_found found;
	if (code == LDAP_NO_SUCH_OBJECT && scope == LDAP_SCOPE_BASE) {
		found = RG_NOTFOUND;
	} else if (code == LDAP_SIZELIMIT_EXCEEDED && exists) {
		found = RG_FOUND;       /* more than one: there is one */
	} else if (code == LDAP_SIZELIMIT_EXCEEDED) {
		seterr(err, errlen, "more than %d entries match %s", maxentries, filter);
		found = RG_LOOKUP_FAIL;
	} else if (code != LDAP_SUCCESS) {
		seterr(err, errlen, "search %s: %s", filter, ldap_err2string(code));
		if (code == LDAP_UNAVAILABLE || code == LDAP_BUSY || code == LDAP_UNWILLING_TO_PERFORM)
			*dead = 1;
		found = RG_LOOKUP_FAIL;
	} else if (ldap_count_entries(ld, all) == 0 && ldap_count_references(ld, all) > 0) {
		/* the answer is elsewhere (referrals are not chased): could not tell */
		seterr(err, errlen, "search %s: the server answered with a referral", filter);
		found = RG_LOOKUP_FAIL;
	} else if (ldap_count_entries(ld, all) > 0) {
		found = RG_FOUND;
		if (collect(ld, all, res) < 0) {
			seterr(err, errlen, "out of memory");
			found = RG_LOOKUP_FAIL;
		}
	} else {
		found = RG_NOTFOUND;
	}
	ldap_msgfree(all);
	return found;
}

static enum rg_found
pool_search(struct rg_ldap_pool *p, const char *base, int scope, const char *filter,
    char *const *attrs, int maxentries, double until, struct rg_ldap_result *res,
    char *err, size_t errlen)
{
	double deadline = rg_now() + p->cf->ldap_timeout;

	if (until > 0 && until < deadline)
		deadline = until;
	if (deadline <= rg_now()) {
		seterr(err, errlen, "no time left for this recipient");
		if (res != NULL)
			memset(res, 0, sizeof(*res));
		return RG_LOOKUP_FAIL;
	}
	struct slot *s = slot_take(p, deadline);
	enum rg_found found = RG_LOOKUP_FAIL;

	if (res != NULL)
		memset(res, 0, sizeof(*res));
	if (s == NULL) {
		seterr(err, errlen, "all %d LDAP connections busy", p->nslots);
		return RG_LOOKUP_FAIL;
	}
	if (slot_prefers_earlier(p, s, rg_now()))
		slot_drop(s);
	/* A handle that sat in the pool may have been closed by the server
	 * meanwhile: such a failure earns one retry on a fresh handle. */
	for (int attempt = 0; attempt < 2; attempt++) {
		int reused = s->ld != NULL;
		if (!reused && slot_open(p, s, deadline, err, errlen) < 0)
			break;
		int dead = 0;
		double t0 = rg_now();
		found = search_once(s->ld, base, scope, filter, attrs, maxentries, deadline, res,
		    &dead, err, errlen);
		/* a timeout counts against the server when it had most of LDAPTimeout */
		if (dead == 2 && s->sv != NULL && deadline - t0 >= 0.5 * p->cf->ldap_timeout)
			server_search_timeout(s->sv, err);
		else if (!dead && s->sv != NULL)
			server_search_ok(s->sv);
		if (dead)
			slot_drop(s);
		/* a retry needs time to be fair to a healthy server */
		if (!(dead && reused && found == RG_LOOKUP_FAIL &&
		    deadline - rg_now() > 0.2 * p->cf->ldap_timeout))
			break;
		rg_ldap_result_free(res);
	}
	slot_give(p, s);
	return found;
}

enum rg_found
rg_ldap_search(struct rg_ldap_pool *p, const char *filter, char *const *attrs,
    int maxentries, double until, struct rg_ldap_result *res, char *err, size_t errlen)
{
	return pool_search(p, p->cf->ldap_base, LDAP_SCOPE_SUBTREE, filter, attrs, maxentries,
	    until, res, err, errlen);
}

enum rg_found
rg_ldap_exists(struct rg_ldap_pool *p, const char *filter, double until, char *err,
    size_t errlen)
{
	return pool_search(p, p->cf->ldap_base, LDAP_SCOPE_SUBTREE, filter, NULL, EXISTS_ONLY,
	    until, NULL, err, errlen);
}

enum rg_found
rg_ldap_read_dn(struct rg_ldap_pool *p, const char *dn, const char *filter,
    char *const *attrs, double until, struct rg_ldap_result *res, char *err, size_t errlen)
{
	return pool_search(p, dn, LDAP_SCOPE_BASE, filter ? filter : "(objectClass=*)", attrs,
	    1, until, res, err, errlen);
}

/*
 * A search reference in ALL (RFC 4511 4.5.3: part of the tree lives on
 * another server, and rcptguard follows no referrals): 1 with its first
 * URL in err, else 0.
 */
static int
walk_referral(LDAP *ld, LDAPMessage *all, char *err, size_t errlen)
{
	LDAPMessage *m = ldap_first_reference(ld, all);
	char **refs = NULL;

	if (m == NULL)
		return 0;
	ldap_parse_reference(ld, m, &refs, NULL, 0);
	seterr(err, errlen, "the directory refers part of the tree to %s "
	    "(a referral; rcptguard follows none, so the walk would be incomplete)",
	    refs != NULL && refs[0] != NULL ? refs[0] : "another server");
	ldap_memvfree((void **)refs);
	return 1;
}

/*
 * Ask for the page after COOKIE and wait for all of it, TIMEOUT at most.
 * Returns 0 with the page in *ALL and its controls in *RCTRLS (both for the
 * caller to free), or -1 with err.
 */
static int
walk_page(LDAP *ld, const struct rg_config *cf, const char *filter, char *const *attrs,
    int pagesize, double timeout, const struct berval *cookie, size_t total,
    LDAPMessage **all, LDAPControl ***rctrls, char *err, size_t errlen)
{
	LDAPControl *page = NULL, *ctrls[2] = { NULL, NULL };
	struct timeval tv = tv_of(timeout);
	int msgid, rc, code = LDAP_OTHER;

	rc = ldap_create_page_control(ld, (ber_int_t)pagesize,
	    cookie->bv_val ? (struct berval *)cookie : NULL, 1, &page);
	if (rc != LDAP_SUCCESS) {
		seterr(err, errlen, "paged search: %s", ldap_err2string(rc));
		return -1;
	}
	ctrls[0] = page;
	rc = ldap_search_ext(ld, cf->ldap_base, LDAP_SCOPE_SUBTREE, filter, (char **)attrs, 0,
	    ctrls, NULL, &tv, 0, &msgid);
	ldap_control_free(page);
	if (rc != LDAP_SUCCESS) {
		seterr(err, errlen, "paged search: %s", ld_error(ld, rc));
		return -1;
	}
	rc = wait_result(ld, msgid, LDAP_MSG_ALL, rg_now() + timeout, all);
	if (rc <= 0) {
		seterr(err, errlen, "paged search after %zu entries: %s", total,
		    rc == 0 ? "timed out" : ld_error(ld, rc));
		return -1;
	}
	rc = ldap_parse_result(ld, *all, &code, NULL, NULL, NULL, rctrls, 0);
	if (rc == LDAP_SUCCESS && code == LDAP_SUCCESS)
		return 0;
	if (code == LDAP_SIZELIMIT_EXCEEDED || code == LDAP_ADMINLIMIT_EXCEEDED)
		seterr(err, errlen, "the directory stopped the walk after %zu entries "
		    "(size limit); grant the bind DN size.prtotal=unlimited", total +
		    (size_t)ldap_count_entries(ld, *all));
	else
		seterr(err, errlen, "paged search after %zu entries: %s", total,
		    ldap_err2string(rc != LDAP_SUCCESS ? rc : code));
	return -1;
}

/* Hand each entry of ALL to FN, counting them in *TOTAL; 0, or -1 with err. */
static int
walk_entries(LDAP *ld, LDAPMessage *all, rg_ldap_walk_fn fn, void *arg, size_t *total,
    char *err, size_t errlen)
{
	for (LDAPMessage *m = ldap_first_entry(ld, all); m != NULL; m = ldap_next_entry(ld, m)) {
		struct rg_ldap_entry e;
		int stop = 0;
		if (entry_copy(ld, m, &e) < 0) {
			seterr(err, errlen, "out of memory");
			stop = 1;
		} else if (fn(arg, &e) != 0) {
			seterr(err, errlen, "walk stopped after %zu entries", *total);
			stop = 1;
		}
		entry_free(&e);
		(*total)++;
		if (stop)
			return -1;
	}
	return 0;
}

/* The cookie for the next page, from the controls of this one; 0 or -1 with err. */
static int
walk_cookie(LDAP *ld, LDAPControl **rctrls, struct berval *cookie, char *err, size_t errlen)
{
	LDAPControl *pr = rctrls ? ldap_control_find(LDAP_CONTROL_PAGEDRESULTS, rctrls, NULL) : NULL;
	ber_int_t estimate;
	int rc;

	if (pr == NULL) {
		seterr(err, errlen, "the server ignored the paged-results control");
		return -1;
	}
	rc = ldap_parse_pageresponse_control(ld, pr, &estimate, cookie);
	if (rc != LDAP_SUCCESS) {
		seterr(err, errlen, "paged results: %s", ldap_err2string(rc));
		return -1;
	}
	return 0;
}

int
rg_ldap_walk(const struct rg_config *cf, const char *filter, char *const *attrs,
    int pagesize, double timeout, rg_ldap_walk_fn fn, void *arg, char *err, size_t errlen)
{
	LDAP *ld = rg_ldap_connect(cf, rg_now() + timeout, err, errlen);
	struct berval cookie = { 0, NULL };
	int ret = -1;
	size_t total = 0;

	if (ld == NULL)
		return -1;
	for (;;) {
		LDAPControl **rctrls = NULL;
		LDAPMessage *all = NULL;
		int stop = walk_page(ld, cf, filter, attrs, pagesize, timeout, &cookie, total, &all,
		    &rctrls, err, errlen) < 0 ||
		    walk_referral(ld, all, err, errlen) ||
		    walk_entries(ld, all, fn, arg, &total, err, errlen) < 0;
		ber_memfree(cookie.bv_val);
		cookie.bv_val = NULL;
		cookie.bv_len = 0;
		if (!stop)
			stop = walk_cookie(ld, rctrls, &cookie, err, errlen) < 0;
		ldap_controls_free(rctrls);
		ldap_msgfree(all);
		if (stop)
			break;
		if (cookie.bv_val == NULL || cookie.bv_len == 0) {
			ret = 0;
			break;
		}
	}
	ber_memfree(cookie.bv_val);
	ldap_unbind_ext(ld, NULL, NULL);
	return ret;
}
