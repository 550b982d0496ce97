/* offsite_job.c - the server's offsite sync, a background job (job.c): a
 * round at start, then one interval after each (sooner after a failure,
 * backing off from OFFSITE_RETRY_MIN_S), and one more right after a
 * successful create when sync_after_create is set (offsite_job_event_sink);
 * and the server's fetch of an archive that is only offsite before a
 * restore. The rounds themselves are offsite/sync.c's. */
#include "offsite_job.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <curl/curl.h>

#include "../engine/store.h"
#include "../offsite/fetch.h"
#include "../offsite/sync.h"
#include "job.h"
#include "log.h"

struct syncer {
    const struct config *cfg;    /* the server's (its "offsite" section) */
    struct engine_config ecfg;   /* the server's, with the offsite actor */
    long interval;
    atomic_int sync_after_create;
    atomic_int abort;            /* set by job_stop: cut a transfer short */
    int curl_held;               /* curl_global_init done by offsite_job_start */
    char endpoint[300], bucket[64], prefix[OFFSITE_PREFIX_MAX + 2];
    char lock_mode[16];          /* offsite.object_lock.mode, or "" */
    long lock_days;
    struct offsite *o;           /* the job thread's, opened on first use */
    struct store *s;
};

static struct syncer sy;
static struct job sync_job = JOB_INITIALIZER;

/* One round. */
static int run_round(void *ctx, char *error, size_t elen)
{
    struct err e = { 0 };
    json_t *report = NULL;
    int ok;

    (void)ctx;
    ok = (sy.o != NULL || offsite_open(&sy.o, sy.cfg->offsite, &e) == 0) &&
         (sy.s != NULL || store_open(&sy.s, &sy.ecfg, 1, &e) == 0);
    if (ok) {
        offsite_set_abort(sy.o, &sy.abort);
        ok = offsite_sync(sy.o, sy.s, &report, &e) == 0;
    }
    if (ok)
        log_event("info", "offsite sync",
                  json_pack("{s:i, s:i}", "uploaded",
                            (int)json_array_size(json_object_get(report, "uploaded")),
                            "already", (int)json_array_size(json_object_get(report, "already"))));
    else
        log_event("error", "offsite sync failed", json_pack("{s:s}", "error", e.msg));
    json_decref(report);
    if (!ok)
        snprintf(error, elen, "%s", e.msg);
    return ok;
}

static void interrupt(void *ctx)
{
    (void)ctx;
    atomic_store(&sy.abort, 1);
}

static void finish(void *ctx)
{
    (void)ctx;
    store_close(sy.s);
    sy.s = NULL;
    offsite_close(sy.o);
    sy.o = NULL;
}

int offsite_job_start(struct config *cfg, struct err *e)
{
    struct job_spec spec = { .name = "offsite sync", .policy = JOB_AFTER_END,
                             .retry_min = OFFSITE_RETRY_MIN_S, .run = run_round,
                             .interrupt = interrupt, .finish = finish };
    struct offsite *o = NULL;

    if (cfg->offsite == NULL || job_active(&sync_job))
        return 0;
    /* libcurl's global state is set up here, on the main thread, and held
     * until offsite_job_stop: the thread's own init/cleanup then only count. */
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return err_set(e, ERR_IO, "offsite: libcurl cannot start");
    /* Parse once now so a bad section fails the start, not the first round. */
    if (offsite_open(&o, cfg->offsite, e) != 0) {
        curl_global_cleanup();
        return -1;
    }
    sy.interval = offsite_interval(o);
    atomic_store(&sy.sync_after_create, offsite_sync_after_create(o));
    offsite_describe(o, sy.endpoint, sizeof(sy.endpoint), sy.bucket, sizeof(sy.bucket), sy.prefix,
                     sizeof(sy.prefix));
    snprintf(sy.lock_mode, sizeof(sy.lock_mode), "%s", o->set.lock_mode);
    sy.lock_days = o->set.lock_days;
    offsite_close(o);
    sy.cfg = cfg;
    sy.ecfg = cfg->engine;
    sy.ecfg.actor = OFFSITE_ACTOR;
    atomic_store(&sy.abort, 0);
    spec.interval = sy.interval;
    if (job_start(&sync_job, &spec, e) != 0) {
        curl_global_cleanup();
        return -1;
    }
    sy.curl_held = 1;
    return 0;
}

void offsite_job_event_sink(void *ctx, const json_t *event)
{
    const char *op = json_string_value(json_object_get(event, "op"));
    const char *result = json_string_value(json_object_get(event, "result"));

    (void)ctx;
    if (atomic_load(&sy.sync_after_create) && op != NULL && result != NULL &&
        strcmp(op, "create") == 0 && strcmp(result, "ok") == 0)
        (void)offsite_job_sync_now();
}

int offsite_job_sync_now(void)
{
    return job_wake(&sync_job);
}

int offsite_job_fetch_missing(struct store *s, const char *name, struct err *e)
{
    int fetched = 0, rc;

    if (!job_active(&sync_job))
        return 0;
    rc = offsite_fetch_if_missing(sy.cfg->offsite, s, name, &fetched, e);
    if (rc == 0 && fetched)
        log_event("info", "offsite: archive fetched for a restore",
                  json_pack("{s:s}", "snapshot", name));
    return rc;
}

void offsite_job_stop(void)
{
    if (!sy.curl_held)
        return;
    job_stop(&sync_job);
    curl_global_cleanup();
    sy.curl_held = 0;
}

static void status_doc(void *arg, const struct job_status *st)
{
    json_t **doc = arg;

    if (!st->enabled) {
        *doc = json_pack("{s:b}", "enabled", 0);
        return;
    }
    *doc = json_pack("{s:b, s:b, s:I, s:b, s:s, s:s, s:s, s:o, s:o, s:o, s:o, s:o, "
                     "s:{s:I, s:I}}",
                     "enabled", 1, "running", st->running, "interval_seconds",
                     (json_int_t)st->interval, "sync_after_create",
                     atomic_load(&sy.sync_after_create), "endpoint", sy.endpoint, "bucket",
                     sy.bucket, "prefix", sy.prefix, "last_start", job_time_json(st->last_start),
                     "last_end", job_time_json(st->last_end), "last_result",
                     st->last_result < 0 ? json_null()
                                         : json_string(st->last_result ? "success" : "failure"),
                     "last_error",
                     st->last_result == 0 ? json_string(st->last_error) : json_null(),
                     "next_run", job_time_json(st->next_run), "rounds", "success",
                     (json_int_t)st->runs[0], "failure", (json_int_t)st->runs[1]);
    if (*doc != NULL)
        json_object_set_new(*doc, "object_lock", sy.lock_mode[0]
                            ? json_pack("{s:s, s:I}", "mode", sy.lock_mode, "days",
                                        (json_int_t)sy.lock_days)
                            : json_null());
}

json_t *offsite_job_status(void)
{
    json_t *doc = NULL;

    job_read(&sync_job, status_doc, &doc);
    return doc;
}

static void status_copy(void *arg, const struct job_status *st)
{
    *(struct job_status *)arg = *st;
}

int offsite_job_render_metrics(struct prom_text *f)
{
    struct job_status st;

    job_read(&sync_job, status_copy, &st);
    prom_sample(f, "# HELP statesnap_offsite_enabled Whether the server copies snapshots "
                   "offsite (1) or not (0).\n# TYPE statesnap_offsite_enabled gauge\n"
                   "statesnap_offsite_enabled ", (int64_t)st.enabled);
    prom_sample(f, "# HELP statesnap_offsite_rounds_total Offsite sync rounds run by the "
                   "server, by result.\n# TYPE statesnap_offsite_rounds_total counter\n"
                   "statesnap_offsite_rounds_total{result=\"success\"} ", (int64_t)st.runs[0]);
    prom_sample(f, "statesnap_offsite_rounds_total{result=\"failure\"} ", (int64_t)st.runs[1]);
    return f->failed ? -1 : 0;
}
