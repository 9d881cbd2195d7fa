/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * listener.h - the milter socket: accept MTA connections and serve each on
 * a thread of its own with milter/protocol.c.
 *
 * One thread per MTA connection, for the connection's whole life: it reads
 * a command, answers it and reads the next, with no hand-over between
 * threads.  An MTA keeps one milter connection per SMTP session, so
 * threads are made per session, not per command; and a thread whose
 * connection ended waits ML_SPARE_LINGER seconds for the next one (up to
 * ML_SPARE_THREADS such threads), so that under load a new connection
 * seldom needs a new thread, while at rest the thread count goes back
 * down at once (tests/faults/matrix.sh checks it, 2 s after the load).  A connection idle for
 * ML_IDLE_TIMEOUT seconds is closed (libmilter's default, 7210 s); a reply
 * the MTA does not take within ML_WRITE_TIMEOUT seconds ends it.
 */
#ifndef LISTENER_H
#define LISTENER_H

#include <stddef.h>

#include "protocol.h"

#define ML_IDLE_TIMEOUT 7210
#define ML_WRITE_TIMEOUT 30
#define ML_SPARE_THREADS 32
#define ML_SPARE_LINGER 1

/*
 * Open the socket SPEC and listen on it:
 *	unix:/path, local:/path, /path   a unix socket; a file left there by a
 *	                                 process that is gone is removed first
 *	inet:PORT@HOST, inet:PORT        IPv4 (without HOST: every address)
 *	inet6:PORT@HOST, inet6:PORT      IPv6
 * HOST is an address or a name.  The file of a unix socket is made with the
 * caller's umask.  The descriptor, or -1 with WHY naming the problem.
 */
int ml_listen(const char *spec, char *why, size_t whylen);

/* The path of a unix socket SPEC, or NULL for inet and inet6. */
const char *ml_socket_path(const char *spec);

/*
 * Serve F on the listening descriptor FD, from threads of its own; the
 * caller's signal mask is theirs.  0, or -1 with WHY.
 */
int ml_start(int fd, const struct mp_filter *f, char *why, size_t whylen);

/*
 * Stop: accept no more, close the listening socket, and end every
 * connection once its current command is answered; wait for them up to
 * WAIT seconds.  0 when every connection has ended (the filter's close
 * has run for each), -1 when some still run.
 */
int ml_stop(int wait);

#endif
