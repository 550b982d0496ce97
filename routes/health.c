/* health.c - the probes: /healthz (liveness), /readyz (a recent snapshot
 * exists) and /metrics (Prometheus text). Each is one indexed catalog read at
 * most, and none takes the store lock. */
#include "routes.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../db/catalog.h"
#include "../db/offsite.h"
#include "../engine/store.h"

#define READYZ_MAX_AGE_LIMIT (100L * 365 * 24 * 3600)
#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"
#define METRICS_RENDER_BYTES (64u << 10)   /* first buffer for a scrape; doubled if it does not fit */

void route_healthz(const struct route_req *r, struct route_resp *o)
{
    route_json(o, 200, json_pack("{s:s, s:s}", "status", "ok", "version", STATESNAP_VERSION));
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
/* NAME VALUE lines after their HELP/TYPE text: literal text with fputs and
 * the number alone, as a scrape is frequent and printf would scan the help
 * text for conversions. */
static void gauge(FILE *f, const char *text, long long v)
{
    fputs(text, f);
    fprintf(f, "%lld\n", v);
}

static void render_catalog(FILE *f, struct store *store)
{
    struct store_summary sm;
    struct err e = { 0 };
    int up;

    up = store_summary_recent(store, engine_now(), &sm, &e) == 0;
    if (!up)
        memset(&sm, 0, sizeof(sm));
    gauge(f, "# HELP statesnap_catalog_up Whether the catalog could be read (1) or not (0).\n"
             "# TYPE statesnap_catalog_up gauge\nstatesnap_catalog_up ", up);
    if (up) {
        gauge(f, "# HELP statesnap_snapshots Number of catalogued snapshots.\n"
                 "# TYPE statesnap_snapshots gauge\nstatesnap_snapshots ", (long long)sm.count);
        gauge(f, "# HELP statesnap_snapshots_bytes Total size of all snapshot archives in bytes.\n"
                 "# TYPE statesnap_snapshots_bytes gauge\nstatesnap_snapshots_bytes ",
              (long long)sm.bytes);
        gauge(f, "# HELP statesnap_latest_snapshot_timestamp_seconds Creation time of the "
                 "newest snapshot (0 when there is none).\n"
                 "# TYPE statesnap_latest_snapshot_timestamp_seconds gauge\n"
                 "statesnap_latest_snapshot_timestamp_seconds ",
              (long long)(sm.have_latest ? sm.latest_created_at : 0));
        fputs("# HELP statesnap_latest_snapshot_age_seconds Seconds since the newest "
              "snapshot was created (+Inf when there is none).\n"
              "# TYPE statesnap_latest_snapshot_age_seconds gauge\n", f);
        if (sm.have_latest) {
            int64_t age = engine_now() - sm.latest_created_at;
            gauge(f, "statesnap_latest_snapshot_age_seconds ", (long long)(age < 0 ? 0 : age));
        } else {
            fputs("statesnap_latest_snapshot_age_seconds +Inf\n", f);
        }
    }
    gauge(f, "# HELP statesnap_offsite_last_success_timestamp_seconds Time of the last "
             "successful offsite copy (0 = never).\n"
             "# TYPE statesnap_offsite_last_success_timestamp_seconds gauge\n"
             "statesnap_offsite_last_success_timestamp_seconds ",
          (long long)sm.offsite.last_success);
    gauge(f, "# HELP statesnap_offsite_snapshots Snapshots by offsite state (none = never "
             "tried).\n# TYPE statesnap_offsite_snapshots gauge\n"
             "statesnap_offsite_snapshots{state=\"none\"} ", (long long)sm.offsite.none);
    gauge(f, "statesnap_offsite_snapshots{state=\"pending\"} ", (long long)sm.offsite.pending);
    gauge(f, "statesnap_offsite_snapshots{state=\"synced\"} ", (long long)sm.offsite.synced);
    gauge(f, "statesnap_offsite_snapshots{state=\"failed\"} ", (long long)sm.offsite.failed);
}

/* One rendering into buf (cap bytes). Returns the length, or 0 when it did
 * not fit or failed (*failed set for a failure that a bigger buffer would
 * not fix). */
static size_t render_into(const struct route_req *r, char *buf, size_t cap, int *failed)
{
    FILE *f = fmemopen(buf, cap, "w");
    long len;
    int rc = 0;

    *failed = 0;
    if (f == NULL) {
        *failed = 1;
        return 0;
    }
    fputs("# HELP statesnap_build_info Version of the running statesnap.\n"
          "# TYPE statesnap_build_info gauge\n"
          "statesnap_build_info{version=\"" STATESNAP_VERSION "\"} 1\n", f);
    render_catalog(f, r->store);
    if (r->env->render_metrics != NULL)
        rc = r->env->render_metrics(f);
    len = ftell(f);
    if (fclose(f) != 0 || len < 0)
        rc = -1;
    /* A full buffer shows as an error or as a length at the very end. */
    if (rc != 0 || len < 0 || (size_t)len >= cap - 1)
        return 0;
    return (size_t)len;
}

void route_metrics(const struct route_req *r, struct route_resp *o)
{
    size_t cap = METRICS_RENDER_BYTES, len = 0;
    char *buf = NULL;
    int failed = 0;

    /* The scrape is ~20 KiB: rendered straight into one buffer, which
     * becomes the response, instead of a stream that grows and copies. */
    for (int tries = 0; tries < 6 && len == 0 && !failed; tries++, cap *= 2) {
        free(buf);
        if ((buf = malloc(cap)) == NULL)
            break;
        len = render_into(r, buf, cap, &failed);
    }
    if (len == 0) {
        free(buf);
        route_problem(o, 500, "cannot render the metrics");
        return;
    }
    o->status = 200;
    o->content_type = METRICS_CONTENT_TYPE;
    o->text = buf;
    o->text_len = len;
}
