/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * mlfi.h - the milter callbacks and the directory they ask.
 */
#ifndef MLFI_H
#define MLFI_H

#include "protocol.h"
#include "rg_check.h"

extern const struct mp_filter mlfi_filter;

/* Make D the directory every new RCPT asks; the one it replaces is closed
 * once the last RCPT using it is answered. */
void mlfi_set_directory(struct rg_directory *d);

/*
 * Reload: build the directory for CF (rg_directory_reopen(), FLAGS as for
 * rg_directory_open()), taking over the running one's state where the
 * settings allow, and make it the current one.  KEPT says what was kept.
 * 0, or -1 with err (the running directory stays).
 */
int mlfi_reload(struct rg_config *cf, int flags, char *kept, size_t keptlen, char *err,
    size_t errlen);

/* Close the current directory (at exit). */
void mlfi_shutdown(void);

#endif
