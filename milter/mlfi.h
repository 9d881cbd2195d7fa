/*
 * mlfi.h - the milter callbacks and the directory they ask.
 */
#ifndef MLFI_H
#define MLFI_H

#include <libmilter/mfapi.h>

#include "rg_check.h"

extern struct smfiDesc mlfi_desc;

/* Make D the directory every new RCPT asks; the one it replaces is closed
 * once the last RCPT using it is answered. */
void mlfi_set_directory(struct rg_directory *d);

/* Close the current directory (at exit). */
void mlfi_shutdown(void);

#endif
