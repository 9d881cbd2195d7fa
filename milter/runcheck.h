/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * runcheck.h - what the running daemon will need from the system, checked
 * before it needs it (rcptguard -n, and at start-up).
 */
#ifndef RUNCHECK_H
#define RUNCHECK_H

#include <stddef.h>

#include "rg_config.h"

/*
 * The line of FILE on which KEY (case-insensitive) is set, or 0 when the
 * file does not set it (the default applies).
 */
unsigned rc_key_line(const char *file, const char *key);

/*
 * Check, for the identity the daemon serves as (CF's UserID, or the caller
 * when there is none), that the user and group exist, that the folders of
 * PidFile, AlertLog and a unix Socket are writable, and that
 * LDAPBindPasswordFile is readable, each through every folder above it.
 * Each problem is handed to REPORT as "FILE:LINE: text" (LINE 0 when the key
 * is at its default).  Returns the number of problems.
 */
int rc_check(const struct rg_config *cf, void (*report)(const char *msg));

#endif
