/* metrics.h - the server's in-memory counters: HTTP requests per route and
 * status, operation counts and durations. Lock-free (atomics); rendered in
 * Prometheus text format by /metrics. */
#ifndef STATESNAP_METRICS_H
#define STATESNAP_METRICS_H

#include <stddef.h>

#include "../routes/prom.h"

#define METRICS_ROUTES_MAX 40

enum metrics_op {
    METRICS_OP_NONE = 0,
    METRICS_OP_CREATE,
    METRICS_OP_LIST,
    METRICS_OP_SHOW,
    METRICS_OP_EXPORT,
    METRICS_OP_IMPORT,
    METRICS_OP_VERIFY,
    METRICS_OP_RESTORE_PREVIEW,
    METRICS_OP_RESTORE,
    METRICS_OP_UPDATE,
    METRICS_OP_DELETE,
    METRICS_OP_DIFF,
    METRICS_OP_PRUNE,
    METRICS_OP_AUDIT,
    METRICS_OP_AUDIT_VERIFY,
    METRICS_OP_DRILL,
    METRICS_OP_COUNT
};

/* Name the route labels: labels[i] for route index i (borrowed, must live as
 * long as the process). Requests matching no route use index n. Returns 0,
 * or -1 when n exceeds METRICS_ROUTES_MAX - 1. Call once before serving. */
int metrics_init(const char *const *labels, size_t n);

/* Count one finished HTTP request. Cannot fail; out-of-range input is dropped. */
void metrics_http_count(size_t route, int status);

/* Record one operation's outcome and wall time. Cannot fail. */
void metrics_op_observe(enum metrics_op op, int ok, double seconds);

/* Append every counter with # HELP and # TYPE lines. Returns 0, or -1 when
 * t ran out of memory. */
int metrics_render(struct prom_text *t);

#endif
