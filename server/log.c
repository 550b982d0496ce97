/* log.c - JSON log lines on stderr, written with one write(2) each so lines
 * from different threads never interleave. */
#include "log.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "../common/fsutil.h"
#include "../common/clock.h"

static _Atomic uint64_t request_seq;
static _Atomic uint32_t boot_tag;   /* random per process, 0 until first use */

#define LINE_MAX_BYTES 8192

/* ---- gathered request lines (log_buffer_start) ---- */

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t thread;
    int on, stop;
    char buf[LOG_BUFFER_BYTES];
    size_t len;
} lb = { .mu = PTHREAD_MUTEX_INITIALIZER };

/* Write out the gathered lines. Called with lb.mu held, so lines leave in
 * the order they came. */
static void drain_locked(void)
{
    if (lb.len > 0)
        (void)fs_write_all(STDERR_FILENO, lb.buf, lb.len);
    lb.len = 0;
}

static void *flusher(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&lb.mu);
    while (!lb.stop) {
        struct timespec until;
        clock_deadline_ms(&until, LOG_FLUSH_MS);
        int rc = pthread_cond_timedwait(&lb.cv, &lb.mu, &until);
        if (rc == ETIMEDOUT || lb.len > 0)
            drain_locked();
    }
    drain_locked();
    pthread_mutex_unlock(&lb.mu);
    return NULL;
}

int log_buffer_start(void)
{
    pthread_mutex_lock(&lb.mu);
    if (lb.on) {
        pthread_mutex_unlock(&lb.mu);
        return 0;
    }
    lb.stop = 0;
    lb.len = 0;
    if (clock_cond_init(&lb.cv) != 0) {
        pthread_mutex_unlock(&lb.mu);
        return -1;
    }
    if (pthread_create(&lb.thread, NULL, flusher, NULL) != 0) {
        pthread_cond_destroy(&lb.cv);
        pthread_mutex_unlock(&lb.mu);
        return -1;
    }
    lb.on = 1;
    pthread_mutex_unlock(&lb.mu);
    return 0;
}

void log_buffer_stop(void)
{
    pthread_mutex_lock(&lb.mu);
    if (!lb.on) {
        pthread_mutex_unlock(&lb.mu);
        return;
    }
    lb.stop = 1;
    lb.on = 0;
    pthread_cond_signal(&lb.cv);
    pthread_mutex_unlock(&lb.mu);
    pthread_join(lb.thread, NULL);
    pthread_cond_destroy(&lb.cv);
}

/* One finished line (ending in a newline) of a request: gathered when the
 * buffer is on, else written at once. */
static void put_request_line(const char *line, size_t n)
{
    pthread_mutex_lock(&lb.mu);
    if (!lb.on) {
        pthread_mutex_unlock(&lb.mu);
        (void)fs_write_all(STDERR_FILENO, line, n);
        return;
    }
    if (n > sizeof(lb.buf) - lb.len)
        drain_locked();     /* full: this one writer pays, in order */
    memcpy(lb.buf + lb.len, line, n);
    lb.len += n;
    pthread_mutex_unlock(&lb.mu);
}

/* An event line: written now, after the request lines gathered before it. */
static void put_event_line(const char *line, size_t n)
{
    pthread_mutex_lock(&lb.mu);
    drain_locked();
    (void)fs_write_all(STDERR_FILENO, line, n);
    pthread_mutex_unlock(&lb.mu);
}

static void emit_line(const char *line, size_t n, int request)
{
    if (request)
        put_request_line(line, n);
    else
        put_event_line(line, n);
}

static void emit(json_t *doc, int request)
{
    char buf[LINE_MAX_BYTES];
    size_t n;

    if (doc == NULL)
        return;
    n = json_dumpb(doc, buf, sizeof(buf) - 1, JSON_COMPACT | JSON_ENSURE_ASCII | JSON_REAL_PRECISION(10));
    json_decref(doc);
    /* A line that does not fit is dropped rather than cut into invalid JSON. */
    if (n == 0 || n > sizeof(buf) - 1)
        return;
    buf[n] = '\n';
    emit_line(buf, n + 1, request);
}

/* A JSON string, or null when s is NULL or not UTF-8. */
static json_t *str_or_null(const char *s)
{
    json_t *v = s ? json_string(s) : NULL;

    return v ? v : json_null();
}

/* "2026-11-28T20:38:59.123Z" into when (at least 32 bytes). The date part
 * is kept per thread for the second it belongs to. */
static void now_text(char *when, size_t len)
{
    static _Thread_local time_t cached_sec = -1;
    static _Thread_local char cached[64];
    struct timespec ts;
    struct tm tm;

    clock_gettime(CLOCK_REALTIME, &ts);
    if (ts.tv_sec != cached_sec) {
        gmtime_r(&ts.tv_sec, &tm);
        snprintf(cached, sizeof(cached), "%04d-%02d-%02dT%02d:%02d:%02d", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
        cached_sec = ts.tv_sec;
    }
    size_t n = strlen(cached);
    long ms = ts.tv_nsec / 1000000;
    if (n + 6 > len) {
        when[0] = '\0';
        return;
    }
    memcpy(when, cached, n);
    when[n] = '.';
    when[n + 1] = (char)('0' + ms / 100);
    when[n + 2] = (char)('0' + ms / 10 % 10);
    when[n + 3] = (char)('0' + ms % 10);
    when[n + 4] = 'Z';
    when[n + 5] = '\0';
}

static json_t *line_new(const char *level, const char *msg)
{
    char when[40];

    now_text(when, sizeof(when));
    return json_pack("{s:s, s:s, s:s}", "time", when, "level", level, "msg", msg);
}

/* 1 when s can go into a JSON string as it is: printable ASCII, no quote or
 * backslash. Anything else takes the general path. */
static int plain(const char *s)
{
    if (s == NULL)
        return 0;
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e || *s == '"' || *s == '\\')
            return 0;
    return 1;
}

/* A line being put together in a fixed buffer; overflow is sticky. */
struct line {
    char *p;
    size_t len, cap;
    int over;
};

static void add(struct line *l, const char *s, size_t n)
{
    if (l->over || n > l->cap - l->len) {
        l->over = 1;
        return;
    }
    memcpy(l->p + l->len, s, n);
    l->len += n;
}

#define ADD_LIT(l, lit) add((l), (lit), sizeof(lit) - 1)

static void add_str(struct line *l, const char *s)
{
    add(l, s, strlen(s));
}

static void add_uint(struct line *l, uint64_t v, int min_digits)
{
    char b[24], *e = b + sizeof(b), *p = e;

    do {
        *--p = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0 || e - p < min_digits);
    add(l, p, (size_t)(e - p));
}

void log_request(const char *request_id, const char *method, const char *path, int status,
                 double duration_ms, const char *token_name)
{
    json_t *doc;

    /* The common case (an API path, an id, a token name) is put together
     * here, the same line json_dumpb would make; one write(2) as always. */
    if (plain(request_id) && plain(method) && plain(path) && (token_name == NULL || plain(token_name))) {
        char buf[LINE_MAX_BYTES], when[40];
        struct line l = { buf, 0, sizeof(buf), 0 };
        int64_t us = (int64_t)(duration_ms * 1000);
        now_text(when, sizeof(when));
        if (us < 0)
            us = 0;
        ADD_LIT(&l, "{\"time\":\"");
        add_str(&l, when);
        ADD_LIT(&l, "\",\"level\":\"info\",\"msg\":\"request\",\"request_id\":\"");
        add_str(&l, request_id);
        ADD_LIT(&l, "\",\"method\":\"");
        add_str(&l, method);
        ADD_LIT(&l, "\",\"path\":\"");
        add_str(&l, path);
        ADD_LIT(&l, "\",\"status\":");
        add_uint(&l, status < 0 ? 0 : (uint64_t)status, 1);
        ADD_LIT(&l, ",\"duration_ms\":");
        add_uint(&l, (uint64_t)us / 1000, 1);
        ADD_LIT(&l, ".");
        add_uint(&l, (uint64_t)us % 1000, 3);
        if (token_name == NULL) {
            ADD_LIT(&l, ",\"token\":null}\n");
        } else {
            ADD_LIT(&l, ",\"token\":\"");
            add_str(&l, token_name);
            ADD_LIT(&l, "\"}\n");
        }
        if (!l.over) {
            emit_line(buf, l.len, 1);
            return;
        }
    }
    doc = line_new("info", "request");

    if (doc == NULL)
        return;
    json_object_set_new(doc, "request_id", str_or_null(request_id));
    /* Method and path come from the network: not UTF-8 is logged as null. */
    json_object_set_new(doc, "method", str_or_null(method));
    json_object_set_new(doc, "path", str_or_null(path));
    json_object_set_new(doc, "status", json_integer(status));
    json_object_set_new(doc, "duration_ms", json_real((double)(int64_t)(duration_ms * 1000) / 1000));
    json_object_set_new(doc, "token", str_or_null(token_name));
    emit(doc, 1);
}

void log_event(const char *level, const char *msg, json_t *fields)
{
    json_t *doc = line_new(level, msg);

    if (doc != NULL && fields != NULL)
        json_object_update(doc, fields);
    json_decref(fields);
    emit(doc, 0);
}

void log_new_request_id(char *out, size_t len)
{
    uint32_t tag = atomic_load(&boot_tag);
    uint64_t seq;

    if (tag == 0) {
        uint32_t fresh = 0;
        /* Without randomness ids are still unique within the process. */
        if (RAND_bytes((unsigned char *)&fresh, sizeof(fresh)) != 1 || fresh == 0)
            fresh = (uint32_t)getpid() | 1u;
        uint32_t expected = 0;
        atomic_compare_exchange_strong(&boot_tag, &expected, fresh);
        tag = atomic_load(&boot_tag);
    }
    seq = atomic_fetch_add(&request_seq, 1) + 1;
    /* TTTTTTTT-SSSSSSSSSSSS in lowercase hex, without printf (every request). */
    if (len < 22) {     /* callers pass LOG_REQUEST_ID_MAX + 1 */
        if (len > 0)
            out[0] = '\0';
        return;
    }
    for (int i = 7; i >= 0; i--, tag >>= 4)
        out[i] = "0123456789abcdef"[tag & 15];
    out[8] = '-';
    for (int i = 20; i >= 9; i--, seq >>= 4)
        out[i] = "0123456789abcdef"[seq & 15];
    out[21] = '\0';
}
