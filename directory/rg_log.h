/*
 * rg_log.h - log lines for the mail admin: syslog, standard error, or both.
 */
#ifndef RG_LOG_H
#define RG_LOG_H

#include <syslog.h>

/* Where lines go; callable again (e.g. after a reload).  Thread-safe to log. */
void rg_log_open(const char *ident, int use_syslog, int facility, int use_stderr);

void rg_log(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
