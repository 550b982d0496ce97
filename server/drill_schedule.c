/* drill_schedule.c - the server's periodic restore drill: every
 * drill_interval a background job (job.c) drills the newest snapshot. Like
 * schedule.c, the runs keep their phase on the wall clock's grid, anchored
 * across restarts to the newest drill in the catalog. */
#include "drill_schedule.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../db/drill.h"
#include "../engine/engine.h"
#include "../engine/store.h"
#include "job.h"
#include "log.h"

struct drill_sched {
    struct engine_config ecfg;    /* the server's, with the drill scheduler as actor */
    long interval;
    struct store *store;          /* the job thread's, opened on first use */
    char snapshot[ENGINE_NAME_MAX + 1];       /* the run in progress (job thread) */
    char last_snapshot[ENGINE_NAME_MAX + 1];  /* under the job's lock */
};

static struct drill_sched ds;
static struct job drill_job = JOB_INITIALIZER;

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

/* The first drill: one interval after the newest recorded one. */
static int64_t first_run(void *ctx)
{
    struct err e = { 0 };
    int64_t last;

    (void)ctx;
    if (store_open(&ds.store, &ds.ecfg, 1, &e) == 0 && (last = newest_drill(ds.store)) > 0)
        return last + ds.interval;
    return 0;
}

/* One drill of the newest snapshot. */
static int run_once(void *ctx, char *error, size_t elen)
{
    struct drill_opts o = { .name = NULL, .reason = "schedule" };
    struct err e = { 0 };
    json_t *report = NULL;
    int ok = 0;

    (void)ctx;
    ds.snapshot[0] = '\0';
    if (ds.store == NULL && store_open(&ds.store, &ds.ecfg, 1, &e) != 0) {
        snprintf(error, elen, "cannot open the store: %.200s", e.msg);
    } else {
        ok = engine_drill(ds.store, &o, &report, &e) == 0;
        if (json_is_string(json_object_get(report, "snapshot")))
            snprintf(ds.snapshot, sizeof(ds.snapshot), "%s",
                     json_string_value(json_object_get(report, "snapshot")));
        if (!ok)
            snprintf(error, elen, "%s", e.msg);
        json_decref(report);
    }
    if (ok)
        log_event("info", "scheduled restore drill", json_pack("{s:s}", "snapshot", ds.snapshot));
    else
        log_event("error", "scheduled restore drill failed",
                  json_pack("{s:s, s:s}", "snapshot", ds.snapshot, "error", error));
    return ok;
}

/* Under the job's lock. */
static void record(void *ctx, int ok)
{
    (void)ctx;
    (void)ok;
    if (ds.snapshot[0] != '\0')
        snprintf(ds.last_snapshot, sizeof(ds.last_snapshot), "%s", ds.snapshot);
}

static void finish(void *ctx)
{
    (void)ctx;
    store_close(ds.store);
    ds.store = NULL;
}

int drill_schedule_start(const struct config *cfg, struct err *e)
{
    struct job_spec spec = { .name = "drill", .interval = cfg->drill_interval,
                             .policy = JOB_KEEP_PHASE, .first_run = first_run,
                             .run = run_once, .record = record, .finish = finish };

    if (cfg->drill_interval <= 0 || job_active(&drill_job))
        return 0;
    ds.interval = cfg->drill_interval;
    ds.ecfg = cfg->engine;
    ds.ecfg.actor = DRILL_SCHEDULE_ACTOR;
    return job_start(&drill_job, &spec, e);
}

void drill_schedule_stop(void)
{
    job_stop(&drill_job);
}

static void status_doc(void *arg, const struct job_status *st)
{
    json_t **doc = arg;

    *doc = json_pack("{s:b, s:I, s:b, s:o, s:o, s:o, s:o, s:o, s:o}", "enabled", st->enabled,
                     "interval_seconds", (json_int_t)st->interval, "running", st->running,
                     "last_start", job_time_json(st->last_start), "last_end",
                     job_time_json(st->last_end), "last_result",
                     st->last_result < 0 ? json_null()
                                         : json_string(st->last_result ? "success" : "failure"),
                     "last_error",
                     st->last_result == 0 ? json_string(st->last_error) : json_null(),
                     "last_snapshot",
                     ds.last_snapshot[0] ? json_string(ds.last_snapshot) : json_null(),
                     "next_run", job_time_json(st->next_run));
}

json_t *drill_schedule_status(void)
{
    json_t *doc = NULL;

    job_read(&drill_job, status_doc, &doc);
    return doc;
}

static void interval_of(void *arg, const struct job_status *st)
{
    *(long *)arg = st->interval;
}

int drill_schedule_render_metrics(struct prom_text *f)
{
    long interval = 0;

    job_read(&drill_job, interval_of, &interval);
    prom_sample(f, "# HELP statesnap_drill_interval_seconds Seconds between the server's "
                   "restore drills (0 = off).\n# TYPE statesnap_drill_interval_seconds gauge\n"
                   "statesnap_drill_interval_seconds ", (int64_t)interval);
    return f->failed ? -1 : 0;
}
