/* metrics.c - lock-free counters behind /metrics. Requests update atomics; a
 * scrape reads them without stopping anyone, so a scrape sees each counter
 * at some instant, not all at one instant (as Prometheus expects). */
#include "metrics.h"

#include "../engine/store.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    [METRICS_OP_DRILL] = "drill",
};

/* Upper bounds in seconds: a list takes milliseconds, a 1 GB create minutes.
 * Each with its label as written, so a scrape formats no floating point. */
static const struct {
    double le;
    const char *label;
} buckets[] = {
    { 0.005, "0.005" }, { 0.01, "0.01" }, { 0.025, "0.025" }, { 0.05, "0.05" }, { 0.1, "0.1" },
    { 0.25, "0.25" },   { 0.5, "0.5" },   { 1, "1" },         { 2.5, "2.5" },   { 5, "5" },
    { 10, "10" },       { 30, "30" },     { 60, "60" },       { 300, "300" },
};
#define N_BUCKETS (sizeof(buckets) / sizeof(buckets[0]))
#define METRICS_OPS_TEXT_BYTES (24u << 10)   /* the operations' text is ~20 KiB */

static size_t n_routes;   /* label index n_routes = "unmatched" */
static _Atomic uint64_t http_count[METRICS_ROUTES_MAX][CODE_MAX - CODE_MIN + 1];
#define CODE_WORDS ((CODE_MAX - CODE_MIN + 64) / 64)
static _Atomic uint64_t code_seen[CODE_WORDS];   /* bit per code answered by any route: a scrape skips the rest */
static _Atomic uint64_t op_count[METRICS_OP_COUNT][2];
static _Atomic uint64_t op_bucket[METRICS_OP_COUNT][N_BUCKETS + 1];  /* last = +Inf only */
static _Atomic uint64_t op_sum_us[METRICS_OP_COUNT];
static _Atomic uint64_t ops_gen;   /* operations ended: bumped after their counters */

/* Every per-operation line up to its value ("NAME{op=\"create\",le=\"0.5\"} "),
 * built once, so a scrape is one copy and one number per line. */
struct prefix {
    const char *p;
    size_t n;
};

static char prefix_arena[48 * 1024];
static struct prefix op_prefix[METRICS_OP_COUNT][2];                 /* success, failure */
static struct prefix bucket_prefix[METRICS_OP_COUNT][N_BUCKETS + 1]; /* last = +Inf */
static struct prefix sum_prefix[METRICS_OP_COUNT], count_prefix[METRICS_OP_COUNT];
static struct prefix route_prefix[METRICS_ROUTES_MAX];              /* up to the code's digits */

static int prefix_make(struct prefix *out, size_t *used, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int prefix_make(struct prefix *out, size_t *used, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(prefix_arena + *used, sizeof(prefix_arena) - *used, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(prefix_arena) - *used)
        return -1;
    out->p = prefix_arena + *used;
    out->n = (size_t)n;
    *used += (size_t)n + 1;
    return 0;
}

int metrics_init(const char *const *labels, size_t n)
{
    size_t used = 0, op, b;
    int rc = 0;

    if (n + 1 > METRICS_ROUTES_MAX)
        return -1;
    n_routes = n;
    for (size_t r = 0; r <= n; r++)
        rc |= prefix_make(&route_prefix[r], &used, "statesnap_http_requests_total{route=\"%s\",code=\"",
                          r < n ? labels[r] : "unmatched");
    for (op = METRICS_OP_NONE + 1; op < METRICS_OP_COUNT; op++) {
        const char *nm = op_names[op];
        rc |= prefix_make(&op_prefix[op][0], &used,
                          "statesnap_operations_total{op=\"%s\",result=\"success\"} ", nm);
        rc |= prefix_make(&op_prefix[op][1], &used,
                          "statesnap_operations_total{op=\"%s\",result=\"failure\"} ", nm);
        for (b = 0; b <= N_BUCKETS; b++)
            rc |= prefix_make(&bucket_prefix[op][b], &used,
                              "statesnap_operation_duration_seconds_bucket{op=\"%s\",le=\"%s\"} ",
                              nm, b < N_BUCKETS ? buckets[b].label : "+Inf");
        rc |= prefix_make(&sum_prefix[op], &used, "statesnap_operation_duration_seconds_sum{op=\"%s\"} ",
                          nm);
        rc |= prefix_make(&count_prefix[op], &used,
                          "statesnap_operation_duration_seconds_count{op=\"%s\"} ", nm);
    }
    return rc == 0 ? 0 : -1;
}

void metrics_http_count(size_t route, int status)
{
    if (route > n_routes || status < CODE_MIN || status > CODE_MAX)
        return;
    atomic_fetch_add_explicit(&http_count[route][status - CODE_MIN], 1, memory_order_relaxed);
    {
        unsigned i = (unsigned)(status - CODE_MIN);
        uint64_t bit = (uint64_t)1 << (i % 64);
        if (!(atomic_load_explicit(&code_seen[i / 64], memory_order_relaxed) & bit))
            atomic_fetch_or_explicit(&code_seen[i / 64], bit, memory_order_relaxed);
    }
}

void metrics_op_observe(enum metrics_op op, int ok, double seconds)
{
    size_t b;

    if (op <= METRICS_OP_NONE || op >= METRICS_OP_COUNT)
        return;
    if (seconds < 0)
        seconds = 0;
    for (b = 0; b < N_BUCKETS && seconds > buckets[b].le; b++)
        ;
    atomic_fetch_add_explicit(&op_count[op][ok ? 0 : 1], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&op_bucket[op][b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&op_sum_us[op], (uint64_t)(seconds * 1e6), memory_order_relaxed);
    atomic_fetch_add_explicit(&ops_gen, 1, memory_order_release);
}

static uint64_t load(_Atomic uint64_t *v)
{
    return atomic_load_explicit(v, memory_order_relaxed);
}

static void line(struct prom_text *t, const struct prefix *p, uint64_t value)
{
    prom_put(t, p->p, p->n);
    prom_u64(t, value);
    prom_put(t, "\n", 1);
}

static void render_histogram(struct prom_text *t, size_t op)
{
    uint64_t cum = 0, us = load(&op_sum_us[op]);
    char frac[8] = { '.' };
    size_t b, i;

    for (b = 0; b <= N_BUCKETS; b++) {
        cum += load(&op_bucket[op][b]);
        line(t, &bucket_prefix[op][b], cum);
    }
    /* The sum in seconds with six decimals, from whole microseconds. */
    prom_put(t, sum_prefix[op].p, sum_prefix[op].n);
    prom_u64(t, us / 1000000);
    for (i = 6, us %= 1000000; i > 0; i--, us /= 10)
        frac[i] = (char)('0' + us % 10);
    prom_put(t, frac, 7);
    prom_put(t, "\n", 1);
    line(t, &count_prefix[op], cum);
}

/* The audited operation the CLI's counts of op are kept under, or -1. */
static int store_op_of(size_t op)
{
    switch (op) {
    case METRICS_OP_CREATE: return STORE_OP_CREATE;
    case METRICS_OP_IMPORT: return STORE_OP_IMPORT;
    case METRICS_OP_RESTORE: return STORE_OP_RESTORE;
    case METRICS_OP_DELETE: return STORE_OP_DELETE;
    case METRICS_OP_UPDATE: return STORE_OP_UPDATE;
    case METRICS_OP_PRUNE: return STORE_OP_PRUNE;
    default: return -1;
    }
}

/* The operation counters and histograms: ~20 KiB that change only when an
 * operation ends, which is rare beside scrapes. */
static void render_ops(struct prom_text *t)
{
    size_t op;
    int64_t cli[STORE_OP_COUNT][2];

    store_cli_ops(cli);
    prom_puts(t, "# HELP statesnap_operations_total Snapshot operations by operation and result, "
                 "whichever process ran them: this server's API requests, plus the create, import, "
                 "restore, delete, update (pin/unpin) and prune operations the CLI or any other "
                 "process recorded in the store's audit chain (read from the catalog at scrape "
                 "time).\n# TYPE statesnap_operations_total counter\n");
    for (op = METRICS_OP_NONE + 1; op < METRICS_OP_COUNT; op++) {
        int k = store_op_of(op);
        line(t, &op_prefix[op][0], load(&op_count[op][0]) + (k >= 0 ? (uint64_t)cli[k][0] : 0));
        line(t, &op_prefix[op][1], load(&op_count[op][1]) + (k >= 0 ? (uint64_t)cli[k][1] : 0));
    }
    prom_puts(t, "# HELP statesnap_operation_duration_seconds Wall time of snapshot operations.\n"
                 "# TYPE statesnap_operation_duration_seconds histogram\n");
    for (op = METRICS_OP_NONE + 1; op < METRICS_OP_COUNT; op++)
        render_histogram(t, op);
}

/* Each worker thread keeps the operations' text with the generation it
 * shows; a scrape copies it while no operation has ended since. Freed when
 * the thread ends. */
struct ops_cache {
    struct prom_text text;
    uint64_t gen;
    int valid;
};

static pthread_key_t ops_key;
static pthread_once_t ops_once = PTHREAD_ONCE_INIT;
static int ops_key_ok;
static _Thread_local struct ops_cache *ops_mine;

static void ops_cache_free(void *p)
{
    struct ops_cache *c = p;

    prom_text_free(&c->text);
    free(c);
}

static void ops_key_make(void)
{
    ops_key_ok = pthread_key_create(&ops_key, ops_cache_free) == 0;
}

static struct ops_cache *ops_cache_get(void)
{
    struct ops_cache *c = ops_mine;

    if (c != NULL)
        return c;
    pthread_once(&ops_once, ops_key_make);
    if (!ops_key_ok || (c = calloc(1, sizeof(*c))) == NULL)
        return NULL;
    if (pthread_setspecific(ops_key, c) != 0) {
        free(c);
        return NULL;
    }
    return ops_mine = c;
}

int metrics_render(struct prom_text *t)
{
    struct ops_cache *c;
    size_t r, i, w, n_codes = 0;
    int codes[CODE_MAX - CODE_MIN + 1];
    uint64_t gen;

    prom_puts(t, "# HELP statesnap_http_requests_total HTTP requests served, by route template "
                 "and status code.\n# TYPE statesnap_http_requests_total counter\n");
    /* Only the status codes ever answered: a handful of the 500. */
    for (w = 0; w < CODE_WORDS; w++)
        for (uint64_t bits = atomic_load_explicit(&code_seen[w], memory_order_relaxed); bits != 0;
             bits &= bits - 1)
            codes[n_codes++] = CODE_MIN + (int)(w * 64) + __builtin_ctzll(bits);
    for (r = 0; r <= n_routes; r++) {
        for (i = 0; i < n_codes; i++) {
            uint64_t v = load(&http_count[r][codes[i] - CODE_MIN]);
            char c3[6] = { (char)('0' + codes[i] / 100), (char)('0' + codes[i] / 10 % 10),
                           (char)('0' + codes[i] % 10), '"', '}', ' ' };
            if (v == 0)
                continue;
            prom_put(t, route_prefix[r].p, route_prefix[r].n);
            prom_put(t, c3, sizeof(c3));
            prom_u64(t, v);
            prom_put(t, "\n", 1);
        }
    }
    /* The generation before the values: a text made from newer values
     * than its generation is only made again, never kept too long. */
    gen = atomic_load_explicit(&ops_gen, memory_order_acquire) + store_cli_ops_generation();
    if ((c = ops_cache_get()) == NULL) {
        render_ops(t);
        return t->failed ? -1 : 0;
    }
    if (!c->valid || c->gen != gen) {
        c->valid = 0;
        c->text.len = 0;
        if (c->text.buf == NULL)
            (void)prom_text_init(&c->text, METRICS_OPS_TEXT_BYTES);
        c->text.failed = c->text.buf == NULL;
        render_ops(&c->text);
        if (c->text.failed) {
            render_ops(t);
            return t->failed ? -1 : 0;
        }
        c->valid = 1;
        c->gen = gen;
    }
    prom_put(t, c->text.buf, c->text.len);
    return t->failed ? -1 : 0;
}
