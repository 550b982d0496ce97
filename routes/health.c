/* health.c - the probes: /healthz (liveness), /readyz (a recent snapshot
 * exists) and /metrics (Prometheus text). Each is one indexed catalog read at
 * most, and none takes the store lock. */
#include "routes.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../db/catalog.h"
#include "../db/drill.h"
#include "../db/offsite.h"
#include "../engine/store.h"

#define READYZ_MAX_AGE_LIMIT (100L * 365 * 24 * 3600)
#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"
#define METRICS_HEADROOM_BYTES (4u << 10)  /* beyond the last scrape's size: a new status code or two */

void route_healthz(const struct route_req *r, struct route_resp *o)
{
    route_json(o, 200, json_pack("{s:s, s:s}", "status", "ok", "version", STATESNAP_VERSION));
}

/* readyz_max_drill_age: 503 when no restore drill succeeded within it.
 * Returns 0 when ready on that count (or not asked), -1 with o filled. */
static int drill_check(const struct route_req *r, struct route_resp *o, const char *latest,
                       int64_t age, long max_age)
{
    long max_drill = r->env->readyz_max_drill_age;
    struct catalog_drill_stats st;
    struct err e = { 0 };
    char reason[160];
    int64_t drill_age;

    if (max_drill <= 0)
        return 0;
    if (catalog_drill_stats(r->store->cat, &st, &e) != 0) {
        snprintf(reason, sizeof(reason), "catalog unreadable");
        drill_age = -1;
    } else if (st.last_success == 0) {
        snprintf(reason, sizeof(reason), "no restore drill has succeeded yet");
        drill_age = -1;
    } else {
        drill_age = engine_now() - st.last_success;
        if (drill_age < 0)
            drill_age = 0;
        if (drill_age <= max_drill)
            return 0;
        (void)snprintf(reason, sizeof(reason),
                       "last successful restore drill is %lld s old (readyz_max_drill_age %ld s)",
                       (long long)drill_age, max_drill);
    }
    route_json(o, 503, json_pack("{s:s, s:s, s:s, s:I, s:I, s:o, s:I}", "status", "unready",
                                 "reason", reason, "latest", latest, "age_seconds",
                                 (json_int_t)age, "max_age", (json_int_t)max_age,
                                 "drill_age_seconds",
                                 drill_age < 0 ? json_null() : json_integer(drill_age),
                                 "max_drill_age", (json_int_t)max_drill));
    return -1;
}

void route_readyz(const struct route_req *r, struct route_resp *o)
{
    struct catalog_snapshot latest = { 0 };
    struct err e = { 0 };
    const char *q = r->query(r, "max_age");
    long max_age = r->env->readyz_max_age;
    int64_t age;

    if (q != NULL) {
        char *end;
        long long v;
        errno = 0;
        v = strtoll(q, &end, 10);
        if (*q == '\0' || *q == '-' || *q == '+' || errno != 0 || *end != '\0' || v < 0 ||
            v > READYZ_MAX_AGE_LIMIT) {
            route_problem(o, 400, "max_age must be a number of seconds from 0 to %ld",
                          READYZ_MAX_AGE_LIMIT);
            return;
        }
        max_age = (long)v;
    }
    if (catalog_snapshot_latest(r->store->cat, &latest, &e) != 0) {
        if (e.code == ERR_NOT_FOUND)
            route_json(o, 503, json_pack("{s:s, s:s, s:n, s:n, s:I}", "status", "unready",
                                         "reason", "no snapshot exists yet", "latest",
                                         "age_seconds", "max_age", (json_int_t)max_age));
        else
            route_json(o, 503, json_pack("{s:s, s:s, s:n, s:n, s:I}", "status", "unready",
                                         "reason", "catalog unreadable", "latest",
                                         "age_seconds", "max_age", (json_int_t)max_age));
        return;
    }
    age = engine_now() - latest.created_at;
    if (age < 0)
        age = 0;
    if (drill_check(r, o, latest.name, age, max_age) != 0) {
        catalog_snapshot_clear(&latest);
        return;
    }
    if (max_age > 0 && age > max_age) {
        char reason[160];
        (void)snprintf(reason, sizeof(reason), "latest snapshot is %lld s old (max_age %ld s)",
                       (long long)age, max_age);
        route_json(o, 503, json_pack("{s:s, s:s, s:s, s:I, s:I}", "status", "unready", "reason",
                                     reason, "latest", latest.name, "age_seconds",
                                     (json_int_t)age, "max_age", (json_int_t)max_age));
    } else {
        route_json(o, 200, json_pack("{s:s, s:s, s:I, s:I}", "status", "ok", "latest",
                                     latest.name, "age_seconds", (json_int_t)age, "max_age",
                                     (json_int_t)max_age));
    }
    catalog_snapshot_clear(&latest);
}

/* The catalog-derived gauges. A catalog that cannot be read shows as
 * statesnap_catalog_up 0 rather than a failed scrape, so the alert can say why. */
static void render_catalog(struct prom_text *t, struct store *store)
{
    struct store_summary sm;
    struct err e = { 0 };
    int up;

    up = store_summary_recent(store, engine_now(), &sm, &e) == 0;
    if (!up)
        memset(&sm, 0, sizeof(sm));
    prom_sample(t, "# HELP statesnap_catalog_up Whether the catalog could be read (1) or not (0).\n"
                   "# TYPE statesnap_catalog_up gauge\nstatesnap_catalog_up ", up);
    if (up) {
        prom_sample(t, "# HELP statesnap_snapshots Number of catalogued snapshots.\n"
                       "# TYPE statesnap_snapshots gauge\nstatesnap_snapshots ", (int64_t)sm.count);
        prom_sample(t, "# HELP statesnap_snapshots_bytes Total size of all snapshot archives in bytes.\n"
                       "# TYPE statesnap_snapshots_bytes gauge\nstatesnap_snapshots_bytes ",
                    (int64_t)sm.bytes);
        prom_sample(t, "# HELP statesnap_latest_snapshot_timestamp_seconds Creation time of the "
                       "newest snapshot (0 when there is none).\n"
                       "# TYPE statesnap_latest_snapshot_timestamp_seconds gauge\n"
                       "statesnap_latest_snapshot_timestamp_seconds ",
                    (int64_t)(sm.have_latest ? sm.latest_created_at : 0));
        prom_sample(t, "# HELP statesnap_snapshots_inconsistent Snapshots kept although files "
                       "changed while they were captured (capture.on_inconsistent keep).\n"
                       "# TYPE statesnap_snapshots_inconsistent gauge\n"
                       "statesnap_snapshots_inconsistent ", (int64_t)sm.inconsistent);
        prom_sample(t, "# HELP statesnap_snapshots_not_signed Snapshots whose archive is not "
                       "signed by a trusted key: unsigned (made before signing, or imported with "
                       "--allow-unsigned) or untrusted (signed by a key not in trusted_keys).\n"
                       "# TYPE statesnap_snapshots_not_signed gauge\n"
                       "statesnap_snapshots_not_signed{signature=\"unsigned\"} ",
                    (int64_t)sm.unsigned_n);
        prom_sample(t, "statesnap_snapshots_not_signed{signature=\"untrusted\"} ",
                    (int64_t)sm.untrusted);
        if (sm.have_latest && sm.latest_consistent >= 0)
            prom_sample(t, "# HELP statesnap_latest_snapshot_consistent Whether the newest "
                           "snapshot is a consistent cut (1) or was flagged (0).\n"
                           "# TYPE statesnap_latest_snapshot_consistent gauge\n"
                           "statesnap_latest_snapshot_consistent ", (int64_t)sm.latest_consistent);
        prom_puts(t, "# HELP statesnap_latest_snapshot_age_seconds Seconds since the newest "
                     "snapshot was created (+Inf when there is none).\n"
                     "# TYPE statesnap_latest_snapshot_age_seconds gauge\n");
        if (sm.have_latest) {
            int64_t age = engine_now() - sm.latest_created_at;
            prom_sample(t, "statesnap_latest_snapshot_age_seconds ", age < 0 ? 0 : age);
        } else {
            prom_puts(t, "statesnap_latest_snapshot_age_seconds +Inf\n");
        }
    }
    /* From the catalog, so drills run by the CLI count too. */
    if (up) {
        prom_sample(t, "# HELP statesnap_last_drill_success_timestamp_seconds When the last "
                       "successful restore drill ended (0 = never).\n"
                       "# TYPE statesnap_last_drill_success_timestamp_seconds gauge\n"
                       "statesnap_last_drill_success_timestamp_seconds ",
                    (int64_t)sm.drills.last_success);
        prom_sample(t, "# HELP statesnap_last_drill_failure_timestamp_seconds When the last "
                       "failed restore drill ended (0 = never).\n"
                       "# TYPE statesnap_last_drill_failure_timestamp_seconds gauge\n"
                       "statesnap_last_drill_failure_timestamp_seconds ",
                    (int64_t)sm.drills.last_failure);
        prom_sample(t, "# HELP statesnap_drills_total Restore drills recorded in the catalog, by "
                       "result.\n# TYPE statesnap_drills_total counter\n"
                       "statesnap_drills_total{result=\"ok\"} ", (int64_t)sm.drills.ok);
        prom_sample(t, "statesnap_drills_total{result=\"failed\"} ", (int64_t)sm.drills.failed);
    }
    prom_sample(t, "# HELP statesnap_offsite_last_success_timestamp_seconds Time of the last "
                   "successful offsite copy (0 = never).\n"
                   "# TYPE statesnap_offsite_last_success_timestamp_seconds gauge\n"
                   "statesnap_offsite_last_success_timestamp_seconds ",
                (int64_t)sm.offsite.last_success);
    prom_sample(t, "# HELP statesnap_offsite_snapshots Snapshots by offsite state (none = never "
                   "tried).\n# TYPE statesnap_offsite_snapshots gauge\n"
                   "statesnap_offsite_snapshots{state=\"none\"} ", (int64_t)sm.offsite.none);
    prom_sample(t, "statesnap_offsite_snapshots{state=\"pending\"} ", (int64_t)sm.offsite.pending);
    prom_sample(t, "statesnap_offsite_snapshots{state=\"synced\"} ", (int64_t)sm.offsite.synced);
    prom_sample(t, "statesnap_offsite_snapshots{state=\"failed\"} ", (int64_t)sm.offsite.failed);
}

/* The size of this thread's last scrape: the next one starts with room for
 * it, so a scrape is one malloc and no realloc. */
static _Thread_local size_t last_scrape_bytes;

void route_metrics(const struct route_req *r, struct route_resp *o)
{
    struct prom_text t;
    int rc = 0;

    if (prom_text_init(&t, last_scrape_bytes + METRICS_HEADROOM_BYTES) != 0) {
        route_problem(o, 500, "cannot render the metrics: out of memory");
        return;
    }
    prom_puts(&t, "# HELP statesnap_build_info Version of the running statesnap.\n"
                  "# TYPE statesnap_build_info gauge\n"
                  "statesnap_build_info{version=\"" STATESNAP_VERSION "\"} 1\n");
    render_catalog(&t, r->store);
    if (r->env->render_metrics != NULL)
        rc = r->env->render_metrics(&t);
    if (rc != 0 || t.failed) {
        prom_text_free(&t);
        route_problem(o, 500, "cannot render the metrics: out of memory");
        return;
    }
    last_scrape_bytes = t.len;
    o->status = 200;
    o->content_type = METRICS_CONTENT_TYPE;
    o->text_len = t.len;
    o->text = prom_text_take(&t);
    o->text_free = prom_release;
}
