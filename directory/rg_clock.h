/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * rg_clock.h - time for every module: the monotonic clock, and condition
 * variables that wait on it.
 */
#ifndef RG_CLOCK_H
#define RG_CLOCK_H

#include <pthread.h>
#include <stdint.h>
#include <time.h>

/* Seconds since an arbitrary start, from the monotonic clock. */
double rg_now(void);

/* A condition variable whose timed waits use the monotonic clock. */
void rg_cond_init(pthread_cond_t *);

/* The monotonic time SECONDS from now, for pthread_cond_timedwait(). */
struct timespec rg_timespec_in(double seconds);

#endif
