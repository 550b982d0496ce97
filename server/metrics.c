/* metrics.c - lock-free counters behind /metrics. Requests update atomics; a
 * scrape reads them without stopping anyone, so a scrape sees each counter
 * at some instant, not all at one instant (as Prometheus expects). */
#include "metrics.h"

#include <stdatomic.h>
#include <stdint.h>

#define CODE_MIN 100
#define CODE_MAX 599

static const char *const op_names[METRICS_OP_COUNT] = {
    [METRICS_OP_NONE] = "none",
    [METRICS_OP_CREATE] = "create",
    [METRICS_OP_LIST] = "list",
    [METRICS_OP_SHOW] = "show",
    [METRICS_OP_EXPORT] = "export",
    [METRICS_OP_IMPORT] = "import",
    [METRICS_OP_VERIFY] = "verify",
    [METRICS_OP_RESTORE_PREVIEW] = "restore_preview",
    [METRICS_OP_RESTORE] = "restore",
    [METRICS_OP_UPDATE] = "update",
    [METRICS_OP_DELETE] = "delete",
    [METRICS_OP_DIFF] = "diff",
    [METRICS_OP_PRUNE] = "prune",
    [METRICS_OP_AUDIT] = "audit",
    [METRICS_OP_AUDIT_VERIFY] = "audit_verify",
};

/* Upper bounds in seconds: a list takes milliseconds, a 1 GB create minutes. */
static const double buckets[] = { 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
                                  60, 300 };
#define N_BUCKETS (sizeof(buckets) / sizeof(buckets[0]))

static const char *const *route_labels;
static size_t n_routes;   /* label index n_routes = "unmatched" */
static _Atomic uint64_t http_count[METRICS_ROUTES_MAX][CODE_MAX - CODE_MIN + 1];
static _Atomic uint64_t op_count[METRICS_OP_COUNT][2];
static _Atomic uint64_t op_bucket[METRICS_OP_COUNT][N_BUCKETS + 1];  /* last = +Inf only */
static _Atomic uint64_t op_sum_us[METRICS_OP_COUNT];

int metrics_init(const char *const *labels, size_t n)
{
    if (n + 1 > METRICS_ROUTES_MAX)
        return -1;
    route_labels = labels;
    n_routes = n;
    return 0;
}

void metrics_http_count(size_t route, int status)
{
    if (route > n_routes || status < CODE_MIN || status > CODE_MAX)
        return;
    atomic_fetch_add_explicit(&http_count[route][status - CODE_MIN], 1, memory_order_relaxed);
}

void metrics_op_observe(enum metrics_op op, int ok, double seconds)
{
    size_t b;

    if (op <= METRICS_OP_NONE || op >= METRICS_OP_COUNT)
        return;
    if (seconds < 0)
        seconds = 0;
    for (b = 0; b < N_BUCKETS && seconds > buckets[b]; b++)
        ;
    atomic_fetch_add_explicit(&op_count[op][ok ? 0 : 1], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&op_bucket[op][b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&op_sum_us[op], (uint64_t)(seconds * 1e6), memory_order_relaxed);
}

static uint64_t load(_Atomic uint64_t *v)
{
    return atomic_load_explicit(v, memory_order_relaxed);
}

int metrics_render(FILE *f)
{
    size_t r, op, b;
    int code;

    fprintf(f, "# HELP statesnap_http_requests_total HTTP requests served, by route template "
               "and status code.\n# TYPE statesnap_http_requests_total counter\n");
    for (r = 0; r <= n_routes; r++) {
        for (code = CODE_MIN; code <= CODE_MAX; code++) {
            uint64_t v = load(&http_count[r][code - CODE_MIN]);
            if (v == 0)
                continue;
            fprintf(f, "statesnap_http_requests_total{route=\"%s\",code=\"%d\"} %llu\n",
                    r < n_routes ? route_labels[r] : "unmatched", code, (unsigned long long)v);
        }
    }
    fprintf(f, "# HELP statesnap_operations_total Snapshot operations run through the API, by "
               "operation and result.\n# TYPE statesnap_operations_total counter\n");
    for (op = METRICS_OP_NONE + 1; op < METRICS_OP_COUNT; op++)
        fprintf(f,
                "statesnap_operations_total{op=\"%s\",result=\"success\"} %llu\n"
                "statesnap_operations_total{op=\"%s\",result=\"failure\"} %llu\n",
                op_names[op], (unsigned long long)load(&op_count[op][0]), op_names[op],
                (unsigned long long)load(&op_count[op][1]));
    fprintf(f, "# HELP statesnap_operation_duration_seconds Wall time of snapshot operations.\n"
               "# TYPE statesnap_operation_duration_seconds histogram\n");
    for (op = METRICS_OP_NONE + 1; op < METRICS_OP_COUNT; op++) {
        uint64_t cum = 0;
        for (b = 0; b < N_BUCKETS; b++) {
            cum += load(&op_bucket[op][b]);
            fprintf(f, "statesnap_operation_duration_seconds_bucket{op=\"%s\",le=\"%g\"} %llu\n",
                    op_names[op], buckets[b], (unsigned long long)cum);
        }
        cum += load(&op_bucket[op][N_BUCKETS]);
        fprintf(f,
                "statesnap_operation_duration_seconds_bucket{op=\"%s\",le=\"+Inf\"} %llu\n"
                "statesnap_operation_duration_seconds_sum{op=\"%s\"} %.6f\n"
                "statesnap_operation_duration_seconds_count{op=\"%s\"} %llu\n",
                op_names[op], (unsigned long long)cum, op_names[op],
                (double)load(&op_sum_us[op]) / 1e6, op_names[op], (unsigned long long)cum);
    }
    return ferror(f) ? -1 : 0;
}
