/* drill.c - restore drills: POST /api/v1/snapshots/{name}/drill runs one
 * ({name} "latest" = the newest snapshot), GET /api/v1/drills shows the
 * recent ones, the totals and the server's drill schedule. */
#include "routes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../db/drill.h"
#include "../engine/store.h"

#define DRILLS_RECENT_DEFAULT 20
#define DRILL_FAILED_TYPE "urn:statesnap:problem:drill-failed"

void route_drill_run(const struct route_req *r, struct route_resp *o)
{
    static const char *const keys[] = { NULL };
    struct drill_opts d = { .reason = "api" };
    struct err e = { 0 };
    json_t *body = NULL, *report = NULL;

    if (strcmp(r->name, "latest") != 0) {
        if (route_check_name(r, o) != 0)
            return;
        d.name = r->name;
    }
    /* No options yet; an empty body or {} (unknown keys are refused, so a
     * later option is never silently ignored by an older server). */
    if (route_body_object(r, keys, &body, o) != 0)
        return;
    json_decref(body);
    if (engine_drill(r->store, &d, &report, &e) == 0) {
        route_json(o, 200, report);
        return;
    }
    if (report == NULL) {
        route_problem_err(o, &e);
        return;
    }
    /* The drill ran and failed (a bad archive, a failing check, no room to
     * extract): one status for all, the report says which. */
    route_problem(o, 422, "restore drill of \"%s\" failed: %s",
                  json_string_value(json_object_get(report, "snapshot")), e.msg);
    if (o->json != NULL) {
        json_object_set_new(o->json, "type", json_string(DRILL_FAILED_TYPE));
        json_object_set_new(o->json, "report", report);
    } else {
        json_decref(report);
    }
}

static json_t *ts_or_null(int64_t t)
{
    char buf[32];

    if (t <= 0)
        return json_null();
    engine_time_format(t, buf, sizeof(buf));
    return json_string(buf);
}

void route_drills(const struct route_req *r, struct route_resp *o)
{
    const char *q = r->query(r, "limit");
    struct catalog_drill *rows = NULL;
    struct catalog_drill_stats st;
    struct err e = { 0 };
    long long limit = DRILLS_RECENT_DEFAULT;
    json_t *recent, *doc;
    size_t n = 0;

    if (q != NULL && route_parse_int(q, 1, CATALOG_DRILL_RECENT_MAX, &limit) != 0) {
        route_problem(o, 400, "limit must be a number from 1 to %d", CATALOG_DRILL_RECENT_MAX);
        return;
    }
    if (catalog_drill_stats(store_catalog(r->store), &st, &e) != 0 ||
        catalog_drill_recent(store_catalog(r->store), (size_t)limit, &rows, &n, &e) != 0) {
        route_problem_err(o, &e);
        return;
    }
    recent = json_array();
    for (size_t i = 0; recent != NULL && i < n; i++) {
        char at[32];
        engine_time_format(rows[i].at, at, sizeof(at));
        json_array_append_new(recent, json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:s?}",
                                                "snapshot", rows[i].snapshot, "result",
                                                rows[i].result, "at", at, "files_checked",
                                                (json_int_t)rows[i].files_checked, "bytes",
                                                (json_int_t)rows[i].bytes, "duration_ms",
                                                (json_int_t)rows[i].duration_ms, "error",
                                                rows[i].error[0] ? rows[i].error : NULL));
    }
    free(rows);
    doc = json_pack("{s:o, s:o, s:{s:I, s:I}, s:o, s:o}", "last_success",
                    ts_or_null(st.last_success), "last_failure", ts_or_null(st.last_failure),
                    "counts", "ok", (json_int_t)st.ok, "failed", (json_int_t)st.failed,
                    "schedule", r->env->drill_status != NULL ? r->env->drill_status() : json_null(),
                    "recent", recent ? recent : json_array());
    route_json(o, 200, doc);
}
