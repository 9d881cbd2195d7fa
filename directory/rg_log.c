/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * rg_log.c - one function to log a line to syslog and, when asked (the
 * daemon's -f, the command-line tools), to standard error as well.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE                     /* strerror_r() returning the text */
#endif
#include "rg_log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int log_syslog;
static int log_stderr = 1;
static const char *log_ident = "rcptguard";
static int log_stderr_max = LOG_DEBUG;

void
rg_log_quiet(void)
{
	log_stderr_max = LOG_WARNING;
}

void
rg_log_open(const char *ident, int use_syslog, int facility, int use_stderr)
{
	log_ident = ident;
	log_stderr = use_stderr;
	if (use_syslog && !log_syslog)
		openlog(ident, LOG_PID | LOG_NDELAY, facility);
	else if (!use_syslog && log_syslog)
		closelog();
	log_syslog = use_syslog;
}

/*
 * "IDENT: [LEVEL: ]LINE" and a newline on standard error, in one write(2),
 * so that lines of different threads do not mix.  Put together by hand: a
 * decision is logged for every recipient, and fprintf() on the unbuffered
 * stderr formats the line a second time under the stream's lock.  A line
 * too long for the buffer is cut; a failed write is not retried.
 */
static void
stderr_line(int prio, const char *line)
{
	const char *lvl = prio <= LOG_ERR ? "error: " : prio == LOG_WARNING ? "warning: " : "";
	char out[2304];
	size_t n = 0;
	const char *part[3] = { log_ident, lvl, line };

	for (int i = 0; i < 3; i++) {
		size_t l = strlen(part[i]), room = n + 3 < sizeof(out) ? sizeof(out) - 3 - n : 0;
		if (l > room)
			l = room;
		memcpy(out + n, part[i], l);
		n += l;
		if (i == 0) {
			memcpy(out + n, ": ", 2);
			n += 2;
		}
	}
	out[n++] = '\n';
	ssize_t w = write(STDERR_FILENO, out, n);
	(void)w;
}

void
rg_log_text(int prio, const char *line)
{
	if (log_syslog)
		syslog(prio, "%s", line);
	if (log_stderr && prio <= log_stderr_max)
		stderr_line(prio, line);
}

void
rg_log(int prio, const char *fmt, ...)
{
	va_list ap;
	char line[RG_LOG_LINE_MAX];

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	rg_log_text(prio, line);
}

const char *
rg_strerror(int err, char *buf, size_t len)
{
	/* the GNU strerror_r: returns BUF or a static string, never fails */
	return strerror_r(err, buf, len);
}
