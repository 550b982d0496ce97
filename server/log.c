/* log.c - JSON log lines on stderr, written with one write(2) each so lines
 * from different threads never interleave. */
#include "log.h"

#include <inttypes.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "../engine/fsutil.h"

static _Atomic uint64_t request_seq;
static _Atomic uint32_t boot_tag;   /* random per process, 0 until first use */

#define LINE_MAX_BYTES 8192

static void emit(json_t *doc)
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
    (void)fs_write_all(STDERR_FILENO, buf, n + 1);
}

/* A JSON string, or null when s is NULL or not UTF-8. */
static json_t *str_or_null(const char *s)
{
    json_t *v = s ? json_string(s) : NULL;

    return v ? v : json_null();
}

static json_t *line_new(const char *level, const char *msg)
{
    struct timespec ts;
    struct tm tm;
    char when[40];

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    if (snprintf(when, sizeof(when), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                 ts.tv_nsec / 1000000) >= (int)sizeof(when))
        when[0] = '\0';
    return json_pack("{s:s, s:s, s:s}", "time", when, "level", level, "msg", msg);
}

void log_request(const char *request_id, const char *method, const char *path, int status,
                 double duration_ms, const char *token_name)
{
    json_t *doc = line_new("info", "request");

    if (doc == NULL)
        return;
    json_object_set_new(doc, "request_id", str_or_null(request_id));
    /* Method and path come from the network: not UTF-8 is logged as null. */
    json_object_set_new(doc, "method", str_or_null(method));
    json_object_set_new(doc, "path", str_or_null(path));
    json_object_set_new(doc, "status", json_integer(status));
    json_object_set_new(doc, "duration_ms", json_real((double)(int64_t)(duration_ms * 1000) / 1000));
    json_object_set_new(doc, "token", str_or_null(token_name));
    emit(doc);
}

void log_event(const char *level, const char *msg, json_t *fields)
{
    json_t *doc = line_new(level, msg);

    if (doc != NULL && fields != NULL)
        json_object_update(doc, fields);
    json_decref(fields);
    emit(doc);
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
    (void)snprintf(out, len, "%08" PRIx32 "-%012" PRIx64, tag, seq);
}
