/* drill_schedule.c - the server's periodic restore drill: every
 * drill_interval a thread drills the newest snapshot. The pattern of
 * schedule.c: wall-clock deadlines, the phase kept across restarts (from the
 * newest drill in the catalog), status under one mutex. */
#include "drill_schedule.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../db/drill.h"
#include "../engine/engine.h"
#include "../engine/store.h"
#include "log.h"

struct drill_sched {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t wake;          /* stop */
    int started, stopping, running;
    long interval;
    struct engine_config ecfg;    /* the server's, with the drill scheduler as actor */
    int64_t last_start, last_end, next_run;   /* Unix seconds, 0 = never */
    int last_result;              /* -1 none yet, 0 failure, 1 success */
    char last_error[sizeof(((struct err *)0)->msg)];
    char last_snapshot[ENGINE_NAME_MAX + 1];
};

static struct drill_sched ds = { .mu = PTHREAD_MUTEX_INITIALIZER,
                                 .wake = PTHREAD_COND_INITIALIZER, .last_result = -1 };

static int64_t wall_now(void)
{
    return (int64_t)time(NULL);
}

/* When the newest recorded drill ended (0 when there is none). */
static int64_t newest_drill(struct store *s)
{
    struct catalog_drill *rows = NULL;
    struct err e = { 0 };
    size_t n = 0;
    int64_t t = 0;

    if (catalog_drill_recent(store_catalog(s), 1, &rows, &n, &e) == 0 && n == 1)
        t = rows[0].at;
    free(rows);
    return t;
}

/* One drill of the newest snapshot; ok, the snapshot and the error into the args. */
static void run_once(struct store **s, int *ok, char *snapshot, size_t slen, char *error,
                     size_t elen)
{
    struct drill_opts o = { .name = NULL, .reason = "schedule" };
    struct err e = { 0 };
    json_t *report = NULL;

    *ok = 0;
    snapshot[0] = error[0] = '\0';
    if (*s == NULL && store_open(s, &ds.ecfg, 1, &e) != 0) {
        snprintf(error, elen, "cannot open the store: %.200s", e.msg);
        return;
    }
    *ok = engine_drill(*s, &o, &report, &e) == 0;
    if (json_is_string(json_object_get(report, "snapshot")))
        snprintf(snapshot, slen, "%s", json_string_value(json_object_get(report, "snapshot")));
    if (!*ok)
        snprintf(error, elen, "%s", e.msg);
    json_decref(report);
}

static void *drill_thread(void *arg)
{
    struct store *s = NULL;
    struct err e = { 0 };
    char snapshot[ENGINE_NAME_MAX + 1], error[sizeof(ds.last_error)];
    int64_t last, first;
    int ok;

    (void)arg;
    if (store_open(&s, &ds.ecfg, 1, &e) == 0 && (last = newest_drill(s)) > 0 &&
        last + ds.interval > wall_now())
        first = last + ds.interval;
    else
        first = wall_now();
    pthread_mutex_lock(&ds.mu);
    ds.next_run = first;
    while (!ds.stopping) {
        int64_t now = wall_now();
        if (now < ds.next_run) {
            struct timespec until = { .tv_sec = (time_t)ds.next_run, .tv_nsec = 0 };
            (void)pthread_cond_timedwait(&ds.wake, &ds.mu, &until);
            continue;
        }
        ds.running = 1;
        ds.last_start = now;
        pthread_mutex_unlock(&ds.mu);

        run_once(&s, &ok, snapshot, sizeof(snapshot), error, sizeof(error));
        if (ok)
            log_event("info", "scheduled restore drill", json_pack("{s:s}", "snapshot", snapshot));
        else
            log_event("error", "scheduled restore drill failed",
                      json_pack("{s:s, s:s}", "snapshot", snapshot, "error", error));

        pthread_mutex_lock(&ds.mu);
        ds.running = 0;
        ds.last_end = wall_now();
        ds.last_result = ok;
        snprintf(ds.last_error, sizeof(ds.last_error), "%s", ok ? "" : error);
        if (snapshot[0] != '\0')
            snprintf(ds.last_snapshot, sizeof(ds.last_snapshot), "%s", snapshot);
        ds.next_run += ds.interval;
        while (ds.next_run <= ds.last_end)
            ds.next_run += ds.interval;
    }
    ds.running = 0;
    pthread_mutex_unlock(&ds.mu);
    store_close(s);
    return NULL;
}

int drill_schedule_start(const struct config *cfg, struct err *e)
{
    int rc;

    if (cfg->drill_interval <= 0 || ds.started)
        return 0;
    ds.interval = cfg->drill_interval;
    ds.ecfg = cfg->engine;
    ds.ecfg.actor = DRILL_SCHEDULE_ACTOR;
    ds.stopping = 0;
    if ((rc = pthread_create(&ds.thread, NULL, drill_thread, NULL)) != 0)
        return err_sys(e, rc, "cannot start the drill thread");
    pthread_mutex_lock(&ds.mu);
    ds.started = 1;
    pthread_mutex_unlock(&ds.mu);
    return 0;
}

void drill_schedule_stop(void)
{
    pthread_mutex_lock(&ds.mu);
    if (!ds.started) {
        pthread_mutex_unlock(&ds.mu);
        return;
    }
    ds.stopping = 1;
    pthread_cond_broadcast(&ds.wake);
    pthread_mutex_unlock(&ds.mu);
    pthread_join(ds.thread, NULL);
    pthread_mutex_lock(&ds.mu);
    ds.started = 0;
    ds.next_run = 0;
    pthread_mutex_unlock(&ds.mu);
}

static json_t *ts_or_null(int64_t t)
{
    char buf[32];

    if (t <= 0)
        return json_null();
    engine_time_format(t, buf, sizeof(buf));
    return json_string(buf);
}

json_t *drill_schedule_status(void)
{
    json_t *doc;

    pthread_mutex_lock(&ds.mu);
    doc = json_pack("{s:b, s:I, s:b, s:o, s:o, s:o, s:o, s:o, s:o}", "enabled", ds.started,
                    "interval_seconds", (json_int_t)(ds.started ? ds.interval : 0), "running",
                    ds.running, "last_start", ts_or_null(ds.last_start), "last_end",
                    ts_or_null(ds.last_end), "last_result",
                    ds.last_result < 0 ? json_null()
                                       : json_string(ds.last_result ? "success" : "failure"),
                    "last_error", ds.last_result == 0 ? json_string(ds.last_error) : json_null(),
                    "last_snapshot",
                    ds.last_snapshot[0] ? json_string(ds.last_snapshot) : json_null(),
                    "next_run", ts_or_null(ds.started && !ds.stopping ? ds.next_run : 0));
    pthread_mutex_unlock(&ds.mu);
    return doc;
}

int drill_schedule_render_metrics(struct prom_text *f)
{
    long interval;

    pthread_mutex_lock(&ds.mu);
    interval = ds.started ? ds.interval : 0;
    pthread_mutex_unlock(&ds.mu);
    prom_sample(f, "# HELP statesnap_drill_interval_seconds Seconds between the server's "
                   "restore drills (0 = off).\n# TYPE statesnap_drill_interval_seconds gauge\n"
                   "statesnap_drill_interval_seconds ", (int64_t)interval);
    return f->failed ? -1 : 0;
}
