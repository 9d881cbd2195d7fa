/*
 * rg_clock.h - time and small helpers every module uses: the monotonic
 * clock, condition variables that wait on it, and one string hash.
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

/* FNV-1a, 64 bits: H (start with RG_FNV_START) updated with S. */
#define RG_FNV_START 0xcbf29ce484222325ULL
uint64_t rg_fnv1a(uint64_t h, const char *s);

#endif
