/* prune.c - POST /api/v1/prune: apply the retention policy (the config's,
 * with per-request overrides checked by the same rules as the config), or
 * with dry_run say what it would remove and why each other snapshot stays. */
#include "routes.h"

#include <string.h>

/* A policy as the config's "retention" object, so overrides can be merged
 * into it and the result checked by retention_from_json. NULL on OOM. */
static json_t *policy_json(const struct retention_policy *p)
{
    return json_pack("{s:i, s:i, s:i, s:i, s:I, s:i}", "keep_last", p->keep_last, "keep_daily",
                     p->keep_daily, "keep_weekly", p->keep_weekly, "keep_monthly",
                     p->keep_monthly, "expire_after", (json_int_t)p->expire_after, "max_count",
                     p->max_count);
}

void route_prune(const struct route_req *r, struct route_resp *o)
{
    static const char *const keys[] = { "dry_run", "keep_last", "keep_daily", "keep_weekly",
                                        "keep_monthly", "expire_after", "max_count", NULL };
    const struct retention_policy *conf = store_config(r->store)->retention;
    struct retention_policy def, pol;
    struct err e = { 0 };
    json_t *body = NULL, *merged = NULL, *report = NULL, *v;
    const char *k;
    int dry_run = 0;

    if (route_body_object(r, keys, &body, o) != 0)
        return;
    if ((v = json_object_get(body, "dry_run")) != NULL) {
        if (!json_is_boolean(v)) {
            route_problem(o, 400, "\"dry_run\" must be true or false");
            goto out;
        }
        dry_run = json_is_true(v);
    }
    if (conf == NULL) {
        retention_default(&def);
        conf = &def;
    }
    if ((merged = policy_json(conf)) == NULL) {
        route_problem(o, 500, "out of memory");
        goto out;
    }
    json_object_foreach(body, k, v) {
        if (strcmp(k, "dry_run") != 0 && json_object_set(merged, k, v) != 0) {
            route_problem(o, 500, "out of memory");
            goto out;
        }
    }
    /* keep_last below 5, a max_count below keep_last, a bad duration: 400. */
    if (retention_from_json(merged, &pol, &e) != 0) {
        route_problem_err(o, &e);
        goto out;
    }
    if (engine_prune(r->store, &pol, dry_run, &report, &e) != 0) {
        json_decref(report);
        route_problem_err(o, &e);
        goto out;
    }
    /* Say which policy ran: the config's and the overrides together. */
    json_object_set_new(report, "policy", policy_json(&pol));
    route_json(o, 200, report);
out:
    json_decref(merged);
    json_decref(body);
}
