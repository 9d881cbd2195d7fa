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

/*
 * The text of the error number ERR, in BUF (LEN bytes) or a static string:
 * strerror() for threads.  Returns the text.
 */
#include <stddef.h>
const char *rg_strerror(int err, char *buf, size_t len);

/*
 * Write S as a JSON string (with the quotes) into OUT; control bytes as
 * \u00XX.  Returns 0, or -1 when OUTLEN is too small (OUT is then "").
 */
#include <stddef.h>
int rg_json_string(const char *s, char *out, size_t outlen);

/*
 * Copy the LEN bytes of S, which a client may have chosen, into OUT for a
 * log line: a byte outside printable ASCII, "\\", a quote, "<", ">" or "="
 * (and a space, unless SPACES is set: the field is then between quotes)
 * becomes \xNN, so the field can never look like another field or line.
 * A NUL in S is escaped too.  Cut short (never mid-escape) when OUTLEN is too
 * small.
 */
void rg_log_field(const char *s, size_t len, int spaces, char *out, size_t outlen);

#endif
