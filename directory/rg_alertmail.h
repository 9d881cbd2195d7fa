/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * rg_alertmail.h - alias problems by mail: a digest for AlertMailTo.
 *
 * Once per AlertInterval the daemon gathers the alerts raised since (with
 * Redis: the stream rcptguard:alerts, so every MTA's alerts; without: this
 * process's own), keeps those never mailed before, and sends them in one
 * plain-text message through the local MTA (SendmailPath -t -oi).  With
 * Redis, a lock key (SET NX EX AlertInterval) lets one MTA of several send
 * the digest of a round, and the keys of mailed alerts are shared too.
 */
#ifndef RG_ALERTMAIL_H
#define RG_ALERTMAIL_H

#include <stddef.h>

#include "rg_config.h"

/*
 * When CF sets AlertMailTo (else do nothing), read a copy of CF, from FILE
 * (its absolute path: a daemon has left its folder), for the digest thread,
 * and start it; its settings hold until the next start.  0, or -1 with the
 * reason in ERR.
 */
int rg_alertmail_start(const struct rg_config *cf, const char *file, char *err,
    size_t errlen);

/* Stop the thread (a digest being sent is finished first). */
void rg_alertmail_stop(void);

/* An alert was raised here (rg_alert()): remembered for the next digest
 * when no Redis stream carries it.  Cheap, never blocks for long. */
void rg_alertmail_note(const char *alias, const char *problem, const char *target,
    const char *dn);

#endif
