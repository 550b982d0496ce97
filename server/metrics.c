/* metrics.c - lock-free counters behind /metrics. Requests update atomics; a
 * scrape reads them without stopping anyone, so a scrape sees each counter
 * at some instant, not all at one instant (as Prometheus expects). */
#include "metrics.h"

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
#define METRICS_TEXT_BUF (32u << 10)

static const char *const *route_labels;
static size_t n_routes;   /* label index n_routes = "unmatched" */
static _Atomic uint64_t http_count[METRICS_ROUTES_MAX][CODE_MAX - CODE_MIN + 1];
static _Atomic unsigned char code_seen[CODE_MAX - CODE_MIN + 1];   /* by any route: a scrape skips the rest */
static _Atomic uint64_t op_count[METRICS_OP_COUNT][2];
static _Atomic uint64_t op_bucket[METRICS_OP_COUNT][N_BUCKETS + 1];  /* last = +Inf only */
static _Atomic uint64_t op_sum_us[METRICS_OP_COUNT];

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
    route_labels = labels;
    n_routes = n;
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
    if (!atomic_load_explicit(&code_seen[status - CODE_MIN], memory_order_relaxed))
        atomic_store_explicit(&code_seen[status - CODE_MIN], 1, memory_order_relaxed);
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
}

static uint64_t load(_Atomic uint64_t *v)
{
    return atomic_load_explicit(v, memory_order_relaxed);
}

/* The scrape is a few hundred lines, rendered on every probe: plain string
 * and integer appends to a buffer written out once, no printf. */
struct text {
    char *buf;
    size_t cap, len;
    FILE *out;      /* where a full buffer goes; NULL = a bounded buffer */
    int overflow;   /* a bounded buffer ran out of room */
};

static void flush(struct text *f)
{
    if (f->len > 0 && f->out != NULL)
        (void)fwrite_unlocked(f->buf, 1, f->len, f->out);
    f->len = 0;
}

static void put_n(struct text *f, const char *s, size_t n)
{
    if (n > f->cap - f->len) {
        if (f->out == NULL) {
            f->overflow = 1;
            return;
        }
        flush(f);
        if (n > f->cap) {
            (void)fwrite_unlocked(s, 1, n, f->out);
            return;
        }
    }
    memcpy(f->buf + f->len, s, n);
    f->len += n;
}

static void put(struct text *f, const char *s)
{
    put_n(f, s, strlen(s));
}

static void put_u64(struct text *f, uint64_t v)
{
    char b[24], *p = b + sizeof(b);

    do
        *--p = (char)('0' + v % 10);
    while ((v /= 10) != 0);
    put_n(f, p, (size_t)(b + sizeof(b) - p));
}

static void line(struct text *f, const struct prefix *p, uint64_t value)
{
    put_n(f, p->p, p->n);
    put_u64(f, value);
    put_n(f, "\n", 1);
}

/* NAME{K1="V1",K2="V2"} VALUE\n; k2 NULL for one label. */
static void sample(struct text *f, const char *name, const char *k1, const char *v1, const char *k2,
                   const char *v2, uint64_t value)
{
    put(f, name);
    put(f, "{");
    put(f, k1);
    put(f, "=\"");
    put(f, v1);
    if (k2 != NULL) {
        put(f, "\",");
        put(f, k2);
        put(f, "=\"");
        put(f, v2);
    }
    put(f, "\"} ");
    put_u64(f, value);
    put(f, "\n");
}

/* One operation's histogram lines, kept per thread with the values they
 * show: most operations are idle between scrapes, and copying their text
 * beats formatting it again. */
struct op_text {
    int valid;
    uint64_t vals[N_BUCKETS + 2];   /* the buckets, then the sum in microseconds */
    size_t len;
    char text[2048];
};

static _Thread_local struct op_text op_cache[METRICS_OP_COUNT];

static void render_histogram(struct text *f, size_t op, const uint64_t *vals)
{
    uint64_t cum = 0, us = vals[N_BUCKETS + 1];
    char frac[8] = { '.' };
    size_t b, i;

    for (b = 0; b <= N_BUCKETS; b++) {
        cum += vals[b];
        line(f, &bucket_prefix[op][b], cum);
    }
    /* The sum in seconds with six decimals, from whole microseconds. */
    put_n(f, sum_prefix[op].p, sum_prefix[op].n);
    put_u64(f, us / 1000000);
    for (i = 6, us %= 1000000; i > 0; i--, us /= 10)
        frac[i] = (char)('0' + us % 10);
    put_n(f, frac, 7);
    put_n(f, "\n", 1);
    line(f, &count_prefix[op], cum);
}

void metrics_sample(FILE *f, const char *text, unsigned long long v)
{
    fputs(text, f);
    fprintf(f, "%llu\n", v);
}

int metrics_render(FILE *out)
{
    struct text *f = malloc(sizeof(*f) + METRICS_TEXT_BUF);
    size_t r, op, b, i, n_codes = 0;
    int code, codes[CODE_MAX - CODE_MIN + 1];

    if (f == NULL)
        return -1;
    f->buf = (char *)(f + 1);
    f->cap = METRICS_TEXT_BUF;
    f->len = 0;
    f->out = out;
    f->overflow = 0;
    put(f, "# HELP statesnap_http_requests_total HTTP requests served, by route template "
           "and status code.\n# TYPE statesnap_http_requests_total counter\n");
    /* Only the status codes ever answered: a handful of the 500. */
    for (code = CODE_MIN; code <= CODE_MAX; code++)
        if (atomic_load_explicit(&code_seen[code - CODE_MIN], memory_order_relaxed))
            codes[n_codes++] = code;
    for (r = 0; r <= n_routes; r++) {
        for (i = 0; i < n_codes; i++) {
            uint64_t v = load(&http_count[r][codes[i] - CODE_MIN]);
            char c[4] = { (char)('0' + codes[i] / 100), (char)('0' + codes[i] / 10 % 10),
                          (char)('0' + codes[i] % 10), '\0' };
            if (v == 0)
                continue;
            sample(f, "statesnap_http_requests_total", "route",
                   r < n_routes ? route_labels[r] : "unmatched", "code", c, v);
        }
    }
    put(f, "# HELP statesnap_operations_total Snapshot operations run through the API, by "
           "operation and result.\n# TYPE statesnap_operations_total counter\n");
    for (op = METRICS_OP_NONE + 1; op < METRICS_OP_COUNT; op++) {
        line(f, &op_prefix[op][0], load(&op_count[op][0]));
        line(f, &op_prefix[op][1], load(&op_count[op][1]));
    }
    put(f, "# HELP statesnap_operation_duration_seconds Wall time of snapshot operations.\n"
           "# TYPE statesnap_operation_duration_seconds histogram\n");
    for (op = METRICS_OP_NONE + 1; op < METRICS_OP_COUNT; op++) {
        struct op_text *c = &op_cache[op];
        uint64_t vals[N_BUCKETS + 2];
        for (b = 0; b <= N_BUCKETS; b++)
            vals[b] = load(&op_bucket[op][b]);
        vals[N_BUCKETS + 1] = load(&op_sum_us[op]);
        if (!c->valid || memcmp(c->vals, vals, sizeof(vals)) != 0) {
            struct text t = { c->text, sizeof(c->text), 0, NULL, 0 };
            render_histogram(&t, op, vals);
            c->valid = !t.overflow;
            c->len = t.len;
            memcpy(c->vals, vals, sizeof(vals));
            if (!c->valid) {
                render_histogram(f, op, vals);
                continue;
            }
        }
        put_n(f, c->text, c->len);
    }
    flush(f);
    free(f);
    return ferror(out) ? -1 : 0;
}
