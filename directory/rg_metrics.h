/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * rg_metrics.h - counters of what rcptguard did, for Prometheus.
 *
 * Every counter is a process-wide atomic: the hooks below cost one atomic
 * add and never block, so they may be called from any thread, on any
 * path, and survive a reload.  The daemon exposes them in Prometheus's
 * text format on MetricsListen (an HTTP server of libmicrohttpd) and/or
 * writes them every MetricsInterval seconds into MetricsFile (a temporary
 * file renamed over it, for node_exporter's textfile collector).
 *
 * Adding a metric without labels (a counter or a gauge): a new RG_M_*
 * value before RG_M_COUNT, a row in the table of rg_metrics.c (name, help,
 * type), and one hook line where it happens: rg_metrics_inc(RG_M_X) or
 * rg_metrics_add(RG_M_X, n) for a counter, rg_metrics_set(RG_M_X, v) for a
 * gauge.  The rows reserved below for the directory mirror are such
 * metrics; they are not shown until a hook sets them.
 */
#ifndef RG_METRICS_H
#define RG_METRICS_H

#include <stddef.h>

#include "rg_config.h"

/* Metrics without labels. */
enum rg_metric {
	RG_M_LDAP_ERRORS,               /* LDAP searches that could not tell */
	RG_M_REDIS_ERRORS,              /* Redis commands that failed */
	RG_M_SUGGESTIONS,               /* "Did you mean" suggestions found */
	RG_M_HARVEST_THROTTLES,         /* recipients refused for HarvestLimit */
	RG_M_MIRROR_ENTRIES,            /* reserved: gauge, entries in the mirror */
	RG_M_MIRROR_LAG,                /* reserved: gauge, seconds the mirror is behind */
	RG_M_COUNT
};

/* Cache layers, in the order they are asked. */
enum rg_metric_layer { RG_ML_PROCESS, RG_ML_REDIS, RG_ML_COUNT };

void rg_metrics_inc(enum rg_metric);
void rg_metrics_add(enum rg_metric, unsigned long n);
void rg_metrics_set(enum rg_metric, double value);

/* One decision (enum rg_verdict, enum rg_source of rg_check.h), and its
 * lookup time in milliseconds for the histogram (not for addresses that
 * needed no lookup: not ours, bad syntax). */
void rg_metrics_decision(int verdict, int source, double ms);

/* A cache lookup in LAYER: HIT is 1 or 0.  Returns HIT, so that it can
 * wrap the condition that tests it. */
int rg_metrics_cache(enum rg_metric_layer, int hit);

/* An alert raised (enum rg_alias_problem). */
void rg_metrics_alert(int problem);

/*
 * The whole exposition, in Prometheus text format 0.0.4, into BUF.  Returns
 * its length, or the length it would need (>= LEN: BUF was too small).
 */
size_t rg_metrics_format(char *buf, size_t len);

/*
 * Check a MetricsListen value: "inet:PORT@ADDR" or "inet6:PORT@ADDR", with
 * an IP address; and that this build has libmicrohttpd.  0, or -1 with the
 * problem in WHY.
 */
int rg_metrics_listen_check(const char *value, char *why, size_t whylen);

/*
 * Start what CF asks for: the HTTP listener on MetricsListen, the thread
 * that writes MetricsFile.  0 (also when neither is set), or -1 with the
 * reason in ERR.  rg_metrics_stop() ends both; both are for the daemon's
 * main thread.
 */
int rg_metrics_start(const struct rg_config *cf, char *err, size_t errlen);
void rg_metrics_stop(void);

#endif
