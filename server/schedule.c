/* schedule.c - the server's periodic auto-snapshot: every schedule_interval a
 * job (job.c) creates a snapshot labelled reason=scheduled, then prunes once.
 * The runs keep their phase on the wall clock's grid, anchored to the newest
 * scheduled snapshot; the runner waits on monotonic deadlines. */
#include "schedule.h"

#include <stdint.h>
#include <string.h>
#include <time.h>

#include "../engine/engine.h"
#include "../engine/store.h"
#include "job.h"
#include "log.h"

struct sched {
    struct engine_config ecfg;    /* the server's, with the scheduler as actor */
    long interval;
    int if_changed;               /* schedule_if_changed */
    struct store *store;          /* the job thread's, opened on first use */
    /* the run in progress: the job thread's own */
    char snapshot[ENGINE_NAME_MAX + 1];
    int have_prune, skipped;
    long kept, removed;
    /* the last run's, under the job's lock (written by record) */
    char last_snapshot[ENGINE_NAME_MAX + 1];
    int last_have_prune, last_skipped;
    long last_kept, last_removed;
};

static struct sched sc;
static struct job sched_job = JOB_INITIALIZER;

/* "2024-12-25T14:30:00Z" -> Unix seconds. Returns 0 or -1. */
static int parse_time(const char *s, int64_t *out)
{
    struct tm tm;
    const char *end;

    memset(&tm, 0, sizeof(tm));
    if (s == NULL || (end = strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm)) == NULL || *end != '\0')
        return -1;
    *out = (int64_t)timegm(&tm);
    return 0;
}

/* When the newest scheduled snapshot was made (0 when there is none). */
static int64_t newest_scheduled(struct store *s)
{
    struct list_opts lo = { .limit = 1, .label_key = SCHEDULE_LABEL_KEY,
                            .label_value = SCHEDULE_LABEL_VALUE };
    struct err e = { 0 };
    json_t *page = NULL;
    int64_t t = 0;

    if (engine_list(s, &lo, &page, &e) == 0) {
        const json_t *first = json_array_get(json_object_get(page, "snapshots"), 0);
        if (first != NULL && parse_time(json_string_value(json_object_get(first, "created_at")),
                                        &t) != 0)
            t = 0;
    }
    json_decref(page);
    return t;
}

/* Tell alerts (and any other event sink) that a scheduled step failed:
 * nobody is watching a scheduled run, so this is the only way it is noticed. */
static void emit_failure(const char *op, const char *msg)
{
    json_t *d = json_pack("{s:s, s:b}", "error", msg, "scheduled", 1);

    engine_emit(&sc.ecfg, op, "error", NULL, d);
    json_decref(d);
}

/* The job's first run: the phase survives a restart, so it is one interval
 * after the newest scheduled snapshot, not one interval after the server
 * started (or at once when there is none or it is overdue). */
static int64_t first_run(void *ctx)
{
    struct err e = { 0 };
    int64_t last;

    (void)ctx;
    if (store_open(&sc.store, &sc.ecfg, 1, &e) == 0 && (last = newest_scheduled(sc.store)) > 0)
        return last + sc.interval;
    return 0;
}

/* One run: create (auto-named by the engine, which also picks a free name
 * when an API create took the same second), then prune once. */
static int run_once(void *ctx, char *error, size_t elen)
{
    struct create_opts co = { 0 };
    struct err e = { 0 };
    json_t *labels = json_pack("{s:s}", SCHEDULE_LABEL_KEY, SCHEDULE_LABEL_VALUE);
    json_t *snap = NULL, *report = NULL;
    int ok = 0;

    (void)ctx;
    sc.snapshot[0] = '\0';
    sc.have_prune = 0;
    sc.skipped = 0;
    sc.kept = sc.removed = 0;
    co.reason = "schedule";
    co.labels = labels;
    co.if_changed = sc.if_changed;
    if (labels == NULL) {
        snprintf(error, elen, "create: out of memory");
        goto out;
    }
    if (sc.store == NULL && store_open(&sc.store, &sc.ecfg, 1, &e) != 0) {
        snprintf(error, elen, "create: cannot open the store: %s", e.msg);
        emit_failure("create", error);
        goto out;
    }
    if (engine_create(sc.store, &co, &snap, &e) != 0) {
        snprintf(error, elen, "create: %s", e.msg);
        /* The engine alerts on failures itself, but not on what it counts
         * as the caller's mistake (a missing root, a taken name): for a
         * scheduled run nobody else will notice those. */
        if (e.code == ERR_INVALID || e.code == ERR_CONFLICT || e.code == ERR_NOT_FOUND)
            emit_failure("create", e.msg);
        goto out;
    }
    snprintf(sc.snapshot, sizeof(sc.snapshot), "%s",
             json_is_string(json_object_get(snap, "name"))
                 ? json_string_value(json_object_get(snap, "name")) : "");
    /* A skipped run still prunes: retention by age goes on with time. */
    sc.skipped = json_is_true(json_object_get(snap, "skipped"));
    err_clear(&e);
    if (engine_prune(sc.store, NULL, 0, &report, &e) != 0) {
        snprintf(error, elen, "prune: %s", e.msg);
        if (e.code == ERR_INVALID)
            emit_failure("prune", e.msg);
        goto out;
    }
    sc.have_prune = 1;
    sc.kept = (long)json_array_size(json_object_get(report, "kept"));
    sc.removed = (long)json_array_size(json_object_get(report, "removed"));
    ok = 1;
out:
    if (ok)
        log_event("info", sc.skipped ? "scheduled snapshot skipped: nothing changed"
                                     : "scheduled snapshot",
                  json_pack("{s:s, s:b, s:i, s:i}", "snapshot", sc.snapshot, "skipped",
                            sc.skipped, "kept", (int)sc.kept, "removed", (int)sc.removed));
    else
        log_event("error", "scheduled snapshot failed", json_pack("{s:s}", "error", error));
    json_decref(labels);
    json_decref(snap);
    json_decref(report);
    return ok;
}

/* Under the job's lock: the run's own outcome next to the common one. */
static void record(void *ctx, int ok)
{
    (void)ctx;
    (void)ok;
    if (sc.snapshot[0] != '\0')
        snprintf(sc.last_snapshot, sizeof(sc.last_snapshot), "%s", sc.snapshot);
    sc.last_have_prune = sc.have_prune;
    sc.last_skipped = sc.skipped;
    sc.last_kept = sc.kept;
    sc.last_removed = sc.removed;
}

static void finish(void *ctx)
{
    (void)ctx;
    store_close(sc.store);
    sc.store = NULL;
}

int schedule_start(const struct config *cfg, struct err *e)
{
    struct job_spec spec = { .name = "scheduler", .interval = cfg->schedule_interval,
                             .policy = JOB_KEEP_PHASE, .first_run = first_run,
                             .run = run_once, .record = record, .finish = finish };

    if (cfg->schedule_interval <= 0 || job_active(&sched_job))
        return 0;
    sc.interval = cfg->schedule_interval;
    sc.if_changed = cfg->schedule_if_changed;
    sc.ecfg = cfg->engine;
    sc.ecfg.actor = SCHEDULE_ACTOR;
    /* The run prunes once, itself, whatever prune_after_create says: its
     * status and metrics report that prune. */
    sc.ecfg.prune_after_create = 0;
    return job_start(&sched_job, &spec, e);
}

void schedule_stop(void)
{
    job_stop(&sched_job);
}

static void status_doc(void *arg, const struct job_status *st)
{
    json_t **doc = arg;

    *doc = json_pack("{s:b, s:I, s:b, s:b, s:o, s:o, s:o, s:o, s:o, s:b, s:o, s:o, s:{s:I, s:I}}",
                     "enabled", st->enabled, "interval_seconds", (json_int_t)st->interval,
                     "if_changed", sc.if_changed,
                     "running", st->running, "last_start", job_time_json(st->last_start),
                     "last_end", job_time_json(st->last_end), "last_result",
                     st->last_result < 0 ? json_null()
                                         : json_string(st->last_result ? "success" : "failure"),
                     "last_error",
                     st->last_result == 0 ? json_string(st->last_error) : json_null(),
                     "last_snapshot",
                     sc.last_snapshot[0] ? json_string(sc.last_snapshot) : json_null(),
                     "last_skipped", sc.last_skipped,
                     "last_prune",
                     sc.last_have_prune ? json_pack("{s:i, s:i}", "kept", (int)sc.last_kept,
                                                    "removed", (int)sc.last_removed)
                                        : json_null(),
                     "next_run", job_time_json(st->next_run), "runs", "success",
                     (json_int_t)st->runs[0], "failure", (json_int_t)st->runs[1]);
}

json_t *schedule_status(void)
{
    json_t *doc = NULL;

    job_read(&sched_job, status_doc, &doc);
    return doc;
}

static void status_copy(void *arg, const struct job_status *st)
{
    *(struct job_status *)arg = *st;
}

int schedule_render_metrics(struct prom_text *f)
{
    struct job_status st;

    job_read(&sched_job, status_copy, &st);
    prom_sample(f, "# HELP statesnap_schedule_enabled Whether scheduled snapshots are on (1) "
                   "or off (0).\n# TYPE statesnap_schedule_enabled gauge\n"
                   "statesnap_schedule_enabled ", (int64_t)st.enabled);
    prom_sample(f, "# HELP statesnap_schedule_interval_seconds Seconds between scheduled "
                   "snapshots (0 = off).\n# TYPE statesnap_schedule_interval_seconds gauge\n"
                   "statesnap_schedule_interval_seconds ", (int64_t)st.interval);
    prom_sample(f, "# HELP statesnap_schedule_runs_total Scheduled runs (create, then prune), "
                   "by result.\n# TYPE statesnap_schedule_runs_total counter\n"
                   "statesnap_schedule_runs_total{result=\"success\"} ", (int64_t)st.runs[0]);
    prom_sample(f, "statesnap_schedule_runs_total{result=\"failure\"} ", (int64_t)st.runs[1]);
    prom_sample(f, "# HELP statesnap_schedule_last_success_timestamp_seconds When the last "
                   "successful scheduled run ended (0 = never).\n"
                   "# TYPE statesnap_schedule_last_success_timestamp_seconds gauge\n"
                   "statesnap_schedule_last_success_timestamp_seconds ",
                st.last_success_end);
    prom_sample(f, "# HELP statesnap_schedule_next_run_timestamp_seconds When the next "
                   "scheduled run starts (0 = none planned).\n"
                   "# TYPE statesnap_schedule_next_run_timestamp_seconds gauge\n"
                   "statesnap_schedule_next_run_timestamp_seconds ", st.next_run);
    return f->failed ? -1 : 0;
}
