/* offsite_job.c - the server's offsite sync thread: a round at start, then
 * every interval (sooner after a failure, backing off), woken by a create
 * when sync_after_create is set; and the server's fetch of an archive that
 * is only offsite before a restore. */
#include "offsite_job.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "../engine/store.h"
#include "../offsite/fetch.h"
#include "../offsite/sync.h"
#include "log.h"

static json_t *time_or_null(int64_t t)
{
    char buf[32];

    if (t <= 0)
        return json_null();
    engine_time_format(t, buf, sizeof(buf));
    return json_string(buf);
}

struct syncer {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t wake;
    int started, stopping, running, now_requested;
    atomic_int abort;
    struct engine_config ecfg;
    const struct config *cfg;
    long interval;
    int sync_after_create;
    char endpoint[300], bucket[64], prefix[OFFSITE_PREFIX_MAX + 2];
    void (*prev_hook)(void *ctx, const json_t *event);
    void *prev_ctx;
    int64_t last_start, last_end, next_run;
    int last_result;             /* -1 none, 0 failure, 1 success */
    char last_error[sizeof(((struct err *)0)->msg)];
};

static struct syncer sy = { .mu = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER,
                            .last_result = -1 };
static _Atomic uint64_t rounds[2];

static void on_event(void *ctx, const json_t *event)
{
    const char *op = json_string_value(json_object_get(event, "op"));
    const char *result = json_string_value(json_object_get(event, "result"));

    (void)ctx;
    if (sy.prev_hook != NULL)
        sy.prev_hook(sy.prev_ctx, event);
    if (op != NULL && result != NULL && strcmp(op, "create") == 0 && strcmp(result, "ok") == 0)
        (void)offsite_sync_now();
}

static void *syncer(void *arg)
{
    struct offsite *o = NULL;
    struct store *s = NULL;
    long retry = OFFSITE_RETRY_MIN_S;

    (void)arg;
    pthread_mutex_lock(&sy.mu);
    sy.next_run = (int64_t)time(NULL);
    while (!sy.stopping) {
        struct err e = { 0 };
        json_t *report = NULL;
        int64_t now = (int64_t)time(NULL);
        int ok;
        if (!sy.now_requested && now < sy.next_run) {
            struct timespec until = { .tv_sec = (time_t)sy.next_run, .tv_nsec = 0 };
            (void)pthread_cond_timedwait(&sy.wake, &sy.mu, &until);
            continue;
        }
        sy.now_requested = 0;
        sy.running = 1;
        sy.last_start = now;
        pthread_mutex_unlock(&sy.mu);

        ok = (o != NULL || offsite_open(&o, sy.cfg->offsite, &e) == 0) &&
             (s != NULL || store_open(&s, &sy.ecfg, 1, &e) == 0);
        if (ok) {
            offsite_set_abort(o, &sy.abort);
            ok = offsite_sync(o, s, &report, &e) == 0;
        }
        if (ok)
            log_event("info", "offsite sync",
                      json_pack("{s:i, s:i}", "uploaded",
                                (int)json_array_size(json_object_get(report, "uploaded")),
                                "already", (int)json_array_size(json_object_get(report, "already"))));
        else
            log_event("error", "offsite sync failed", json_pack("{s:s}", "error", e.msg));
        json_decref(report);

        pthread_mutex_lock(&sy.mu);
        sy.running = 0;
        sy.last_end = (int64_t)time(NULL);
        sy.last_result = ok;
        snprintf(sy.last_error, sizeof(sy.last_error), "%s", ok ? "" : e.msg);
        atomic_fetch_add(&rounds[ok ? 0 : 1], 1);
        /* A failed round comes back sooner, backing off, never later than the interval. */
        if (ok) {
            retry = OFFSITE_RETRY_MIN_S;
            sy.next_run = sy.last_end + sy.interval;
        } else {
            sy.next_run = sy.last_end + (retry < sy.interval ? retry : sy.interval);
            retry = retry * 2 > sy.interval ? sy.interval : retry * 2;
        }
    }
    sy.running = 0;
    pthread_mutex_unlock(&sy.mu);
    store_close(s);
    offsite_close(o);
    return NULL;
}

int offsite_start(struct config *cfg, struct err *e)
{
    struct offsite *o = NULL;
    int rc;

    if (cfg->offsite == NULL || sy.started)
        return 0;
    /* libcurl's global state is set up here, on the main thread, and held
     * until offsite_stop: the thread's own init/cleanup then only count. */
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return err_set(e, ERR_IO, "offsite: libcurl cannot start");
    /* Parse once now so a bad section fails the start, not the first round. */
    if (offsite_open(&o, cfg->offsite, e) != 0) {
        curl_global_cleanup();
        return -1;
    }
    sy.interval = offsite_interval(o);
    sy.sync_after_create = offsite_sync_after_create(o);
    offsite_describe(o, sy.endpoint, sizeof(sy.endpoint), sy.bucket, sizeof(sy.bucket), sy.prefix,
                     sizeof(sy.prefix));
    offsite_close(o);
    sy.cfg = cfg;
    sy.ecfg = cfg->engine;
    sy.ecfg.actor = OFFSITE_ACTOR;
    sy.stopping = 0;
    atomic_store(&sy.abort, 0);
    if ((rc = pthread_create(&sy.thread, NULL, syncer, NULL)) != 0) {
        curl_global_cleanup();
        return err_sys(e, rc, "cannot start the offsite sync thread");
    }
    pthread_mutex_lock(&sy.mu);
    sy.started = 1;
    pthread_mutex_unlock(&sy.mu);
    if (sy.sync_after_create) {
        sy.prev_hook = cfg->engine.on_event;
        sy.prev_ctx = cfg->engine.event_ctx;
        cfg->engine.on_event = on_event;
        cfg->engine.event_ctx = NULL;
    }
    return 0;
}

int offsite_sync_now(void)
{
    int rc = -1;

    pthread_mutex_lock(&sy.mu);
    if (sy.started && !sy.stopping) {
        sy.now_requested = 1;
        pthread_cond_broadcast(&sy.wake);
        rc = 0;
    }
    pthread_mutex_unlock(&sy.mu);
    return rc;
}

int offsite_fetch_missing(struct store *s, const char *name, struct err *e)
{
    int started, fetched = 0, rc;

    pthread_mutex_lock(&sy.mu);
    started = sy.started && !sy.stopping;
    pthread_mutex_unlock(&sy.mu);
    if (!started)
        return 0;
    rc = offsite_fetch_if_missing(sy.cfg->offsite, s, name, &fetched, e);
    if (rc == 0 && fetched)
        log_event("info", "offsite: archive fetched for a restore",
                  json_pack("{s:s}", "snapshot", name));
    return rc;
}

void offsite_stop(void)
{
    pthread_mutex_lock(&sy.mu);
    if (!sy.started) {
        pthread_mutex_unlock(&sy.mu);
        return;
    }
    sy.stopping = 1;
    atomic_store(&sy.abort, 1);
    pthread_cond_broadcast(&sy.wake);
    pthread_mutex_unlock(&sy.mu);
    pthread_join(sy.thread, NULL);
    pthread_mutex_lock(&sy.mu);
    sy.started = 0;
    pthread_mutex_unlock(&sy.mu);
    curl_global_cleanup();
}

json_t *offsite_thread_status(void)
{
    json_t *doc;

    pthread_mutex_lock(&sy.mu);
    if (!sy.started) {
        pthread_mutex_unlock(&sy.mu);
        return json_pack("{s:b}", "enabled", 0);
    }
    doc = json_pack("{s:b, s:b, s:I, s:b, s:s, s:s, s:s, s:o, s:o, s:o, s:o, s:o, "
                    "s:{s:I, s:I}}",
                    "enabled", 1, "running", sy.running, "interval_seconds",
                    (json_int_t)sy.interval, "sync_after_create", sy.sync_after_create,
                    "endpoint", sy.endpoint, "bucket", sy.bucket, "prefix", sy.prefix,
                    "last_start", time_or_null(sy.last_start), "last_end",
                    time_or_null(sy.last_end), "last_result",
                    sy.last_result < 0 ? json_null()
                                       : json_string(sy.last_result ? "success" : "failure"),
                    "last_error", sy.last_result == 0 ? json_string(sy.last_error) : json_null(),
                    "next_run", time_or_null(sy.stopping ? 0 : sy.next_run), "rounds",
                    "success", (json_int_t)atomic_load(&rounds[0]), "failure",
                    (json_int_t)atomic_load(&rounds[1]));
    pthread_mutex_unlock(&sy.mu);
    return doc;
}

int offsite_render_metrics(struct prom_text *f)
{
    int on;

    pthread_mutex_lock(&sy.mu);
    on = sy.started;
    pthread_mutex_unlock(&sy.mu);
    prom_sample(f, "# HELP statesnap_offsite_enabled Whether the server copies snapshots "
                   "offsite (1) or not (0).\n# TYPE statesnap_offsite_enabled gauge\n"
                   "statesnap_offsite_enabled ", (int64_t)on);
    prom_sample(f, "# HELP statesnap_offsite_rounds_total Offsite sync rounds run by the "
                   "server, by result.\n# TYPE statesnap_offsite_rounds_total counter\n"
                   "statesnap_offsite_rounds_total{result=\"success\"} ",
                (int64_t)atomic_load(&rounds[0]));
    prom_sample(f, "statesnap_offsite_rounds_total{result=\"failure\"} ",
                (int64_t)atomic_load(&rounds[1]));
    return f->failed ? -1 : 0;
}
