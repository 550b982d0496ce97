/* schedule.c - the server's periodic auto-snapshot: every schedule_interval a
 * thread creates a snapshot labelled reason=scheduled, then prunes. Times are
 * the wall clock (the status shows them as timestamps); waits are absolute
 * deadlines on it, so a clock step moves the next run with the clock. */
#include "schedule.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../engine/engine.h"
#include "../engine/store.h"
#include "log.h"
#include "metrics.h"

/* "prune: " or "create: cannot open the store: " and an err message. */
#define SCHEDULE_ERROR_MAX (sizeof(((struct err *)0)->msg) + 64)

struct sched {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t wake;          /* stop */
    int started, stopping, running;
    long interval;
    struct engine_config ecfg;    /* the server's, with the scheduler as actor */
    /* status, under mu; times are Unix seconds, 0 = never */
    int64_t last_start, last_end, next_run;
    int last_result;              /* -1 none yet, 0 failure, 1 success */
    char last_error[SCHEDULE_ERROR_MAX];
    char last_snapshot[ENGINE_NAME_MAX + 1];
    int have_prune;
    long last_kept, last_removed;
};

static struct sched sc = { .mu = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER,
                           .last_result = -1 };

static _Atomic uint64_t runs[2];              /* [0 success, 1 failure] */
static _Atomic int64_t last_success_end;

static int64_t wall_now(void)
{
    return (int64_t)time(NULL);
}

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

/* Tell alerts (and anyone hooked on events) that a scheduled step failed:
 * nobody is watching a scheduled run, so this is the only way it is noticed. */
static void emit_failure(const char *op, const char *msg)
{
    json_t *d = json_pack("{s:s, s:b}", "error", msg, "scheduled", 1);

    engine_emit(&sc.ecfg, op, "error", NULL, d);
    json_decref(d);
}

/* One run: create, then prune. Fills the outcome fields of *r. */
struct outcome {
    int ok;
    char error[sizeof(sc.last_error)];
    char snapshot[ENGINE_NAME_MAX + 1];
    int have_prune;
    long kept, removed;
};

static void run_once(struct store **s, struct outcome *r)
{
    struct create_opts co = { 0 };
    struct err e = { 0 };
    json_t *labels = json_pack("{s:s}", SCHEDULE_LABEL_KEY, SCHEDULE_LABEL_VALUE);
    json_t *snap = NULL, *report = NULL;
    char base[32], name[ENGINE_NAME_MAX + 1], when[24];
    time_t now = (time_t)engine_now();
    struct tm tm;
    int rc = -1;

    co.reason = "schedule";

    memset(r, 0, sizeof(*r));
    if (labels == NULL) {
        snprintf(r->error, sizeof(r->error), "create: out of memory");
        goto out;
    }
    if (*s == NULL && store_open(s, &sc.ecfg, 1, &e) != 0) {
        snprintf(r->error, sizeof(r->error), "create: cannot open the store: %s", e.msg);
        emit_failure("create", r->error);
        goto out;
    }
    /* The engine's own auto-name format, with a suffix when an API create
     * took the same second. */
    if (gmtime_r(&now, &tm) == NULL || strftime(when, sizeof(when), "%Y%m%dT%H%M%SZ", &tm) == 0)
        snprintf(when, sizeof(when), "%lld", (long long)now);
    snprintf(base, sizeof(base), "snap_%s", when);
    co.labels = labels;
    for (int k = 1; k <= SCHEDULE_NAME_TRIES; k++) {
        if (k == 1)
            snprintf(name, sizeof(name), "%s", base);
        else
            snprintf(name, sizeof(name), "%s-%d", base, k);
        co.name = name;
        err_clear(&e);
        if ((rc = engine_create(*s, &co, &snap, &e)) == 0 || e.code != ERR_CONFLICT)
            break;
    }
    if (rc != 0) {
        snprintf(r->error, sizeof(r->error), "create: %s", e.msg);
        /* The engine alerts on failures itself, but not on what it counts
         * as the caller's mistake (a missing root, a taken name): for a
         * scheduled run nobody else will notice those. */
        if (e.code == ERR_INVALID || e.code == ERR_CONFLICT || e.code == ERR_NOT_FOUND)
            emit_failure("create", e.msg);
        goto out;
    }
    snprintf(r->snapshot, sizeof(r->snapshot), "%s",
             json_is_string(json_object_get(snap, "name"))
                 ? json_string_value(json_object_get(snap, "name")) : name);
    err_clear(&e);
    if (engine_prune(*s, NULL, 0, &report, &e) != 0) {
        snprintf(r->error, sizeof(r->error), "prune: %s", e.msg);
        if (e.code == ERR_INVALID)
            emit_failure("prune", e.msg);
        goto out;
    }
    r->have_prune = 1;
    r->kept = (long)json_array_size(json_object_get(report, "kept"));
    r->removed = (long)json_array_size(json_object_get(report, "removed"));
    r->ok = 1;
out:
    json_decref(labels);
    json_decref(snap);
    json_decref(report);
}

static void *scheduler(void *arg)
{
    struct store *s = NULL;
    struct err e = { 0 };
    struct outcome r;
    int64_t last, first;

    (void)arg;
    /* The phase survives a restart: the next run is one interval after the
     * newest scheduled snapshot, not one interval after the server started. */
    if (store_open(&s, &sc.ecfg, 1, &e) == 0 && (last = newest_scheduled(s)) > 0 &&
        last + sc.interval > wall_now())
        first = last + sc.interval;
    else
        first = wall_now();
    pthread_mutex_lock(&sc.mu);
    sc.next_run = first;
    while (!sc.stopping) {
        int64_t now = wall_now();
        if (now < sc.next_run) {
            struct timespec until = { .tv_sec = (time_t)sc.next_run, .tv_nsec = 0 };
            (void)pthread_cond_timedwait(&sc.wake, &sc.mu, &until);
            continue;
        }
        sc.running = 1;
        sc.last_start = now;
        pthread_mutex_unlock(&sc.mu);

        run_once(&s, &r);
        if (r.ok)
            log_event("info", "scheduled snapshot",
                      json_pack("{s:s, s:i, s:i}", "snapshot", r.snapshot, "kept", (int)r.kept,
                                "removed", (int)r.removed));
        else
            log_event("error", "scheduled snapshot failed", json_pack("{s:s}", "error", r.error));

        pthread_mutex_lock(&sc.mu);
        sc.running = 0;
        sc.last_end = wall_now();
        sc.last_result = r.ok;
        snprintf(sc.last_error, sizeof(sc.last_error), "%s", r.ok ? "" : r.error);
        if (r.snapshot[0] != '\0')
            snprintf(sc.last_snapshot, sizeof(sc.last_snapshot), "%s", r.snapshot);
        sc.have_prune = r.have_prune;
        sc.last_kept = r.kept;
        sc.last_removed = r.removed;
        atomic_fetch_add(&runs[r.ok ? 0 : 1], 1);
        if (r.ok)
            atomic_store(&last_success_end, sc.last_end);
        /* Keep the phase; a run longer than the interval skips the slots it overlapped. */
        sc.next_run += sc.interval;
        while (sc.next_run <= sc.last_end)
            sc.next_run += sc.interval;
    }
    sc.running = 0;
    pthread_mutex_unlock(&sc.mu);
    store_close(s);
    return NULL;
}

int schedule_start(const struct config *cfg, struct err *e)
{
    int rc;

    if (cfg->schedule_interval <= 0 || sc.started)
        return 0;
    sc.interval = cfg->schedule_interval;
    sc.ecfg = cfg->engine;
    sc.ecfg.actor = SCHEDULE_ACTOR;
    sc.stopping = 0;
    if ((rc = pthread_create(&sc.thread, NULL, scheduler, NULL)) != 0)
        return err_sys(e, rc, "cannot start the scheduler thread");
    pthread_mutex_lock(&sc.mu);
    sc.started = 1;
    pthread_mutex_unlock(&sc.mu);
    return 0;
}

void schedule_stop(void)
{
    pthread_mutex_lock(&sc.mu);
    if (!sc.started) {
        pthread_mutex_unlock(&sc.mu);
        return;
    }
    sc.stopping = 1;
    pthread_cond_broadcast(&sc.wake);
    pthread_mutex_unlock(&sc.mu);
    pthread_join(sc.thread, NULL);
    pthread_mutex_lock(&sc.mu);
    sc.started = 0;
    sc.next_run = 0;
    pthread_mutex_unlock(&sc.mu);
}

/* A timestamp, or null for 0 (never). */
static json_t *ts_or_null(int64_t t)
{
    char buf[32];

    if (t <= 0)
        return json_null();
    engine_time_format(t, buf, sizeof(buf));
    return json_string(buf);
}

json_t *schedule_status(void)
{
    json_t *doc;

    pthread_mutex_lock(&sc.mu);
    doc = json_pack("{s:b, s:I, s:b, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:{s:I, s:I}}",
                    "enabled", sc.started, "interval_seconds",
                    (json_int_t)(sc.started ? sc.interval : 0), "running", sc.running,
                    "last_start", ts_or_null(sc.last_start), "last_end", ts_or_null(sc.last_end),
                    "last_result",
                    sc.last_result < 0 ? json_null()
                                       : json_string(sc.last_result ? "success" : "failure"),
                    "last_error",
                    sc.last_result == 0 ? json_string(sc.last_error) : json_null(),
                    "last_snapshot",
                    sc.last_snapshot[0] ? json_string(sc.last_snapshot) : json_null(),
                    "last_prune",
                    sc.have_prune ? json_pack("{s:i, s:i}", "kept", (int)sc.last_kept, "removed",
                                              (int)sc.last_removed)
                                  : json_null(),
                    "next_run", ts_or_null(sc.started && !sc.stopping ? sc.next_run : 0),
                    "runs", "success", (json_int_t)atomic_load(&runs[0]), "failure",
                    (json_int_t)atomic_load(&runs[1]));
    pthread_mutex_unlock(&sc.mu);
    return doc;
}

int schedule_render_metrics(struct prom_text *f)
{
    int64_t next;
    long interval;
    int on;

    pthread_mutex_lock(&sc.mu);
    on = sc.started;
    interval = sc.started ? sc.interval : 0;
    next = sc.started && !sc.stopping ? sc.next_run : 0;
    pthread_mutex_unlock(&sc.mu);
    prom_sample(f, "# HELP statesnap_schedule_enabled Whether scheduled snapshots are on (1) "
                   "or off (0).\n# TYPE statesnap_schedule_enabled gauge\n"
                   "statesnap_schedule_enabled ", (int64_t)on);
    prom_sample(f, "# HELP statesnap_schedule_interval_seconds Seconds between scheduled "
                   "snapshots (0 = off).\n# TYPE statesnap_schedule_interval_seconds gauge\n"
                   "statesnap_schedule_interval_seconds ", (int64_t)interval);
    prom_sample(f, "# HELP statesnap_schedule_runs_total Scheduled runs (create, then prune), "
                   "by result.\n# TYPE statesnap_schedule_runs_total counter\n"
                   "statesnap_schedule_runs_total{result=\"success\"} ",
                (int64_t)atomic_load(&runs[0]));
    prom_sample(f, "statesnap_schedule_runs_total{result=\"failure\"} ",
                (int64_t)atomic_load(&runs[1]));
    prom_sample(f, "# HELP statesnap_schedule_last_success_timestamp_seconds When the last "
                   "successful scheduled run ended (0 = never).\n"
                   "# TYPE statesnap_schedule_last_success_timestamp_seconds gauge\n"
                   "statesnap_schedule_last_success_timestamp_seconds ",
                (int64_t)atomic_load(&last_success_end));
    prom_sample(f, "# HELP statesnap_schedule_next_run_timestamp_seconds When the next "
                   "scheduled run starts (0 = none planned).\n"
                   "# TYPE statesnap_schedule_next_run_timestamp_seconds gauge\n"
                   "statesnap_schedule_next_run_timestamp_seconds ", (int64_t)next);
    return f->failed ? -1 : 0;
}
