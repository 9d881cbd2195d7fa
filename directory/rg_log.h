/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * rg_log.h - log lines for the mail admin: syslog, standard error, or both.
 */
#ifndef RG_LOG_H
#define RG_LOG_H

#include <syslog.h>

/* Where lines go; callable again (e.g. after a reload).  Thread-safe to log. */
void rg_log_open(const char *ident, int use_syslog, int facility, int use_stderr);

/* Standard error gets only warnings and errors (the command-line tools). */
void rg_log_quiet(void);

void rg_log(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The longest line rg_log() writes; a longer one is cut. */
#define RG_LOG_LINE_MAX 2048

/* LINE as it is, already put together: no format to read, for the line
 * logged at every recipient. */
void rg_log_text(int prio, const char *line);

/*
 * The text of the error number ERR, in BUF (LEN bytes) or a static string:
 * strerror() for threads.  Returns the text.
 */
#include <stddef.h>
const char *rg_strerror(int err, char *buf, size_t len);



#endif
