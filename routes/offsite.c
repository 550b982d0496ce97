/* offsite.c - GET /api/v1/offsite (status) and POST /api/v1/offsite/sync. */
#include "routes.h"

#include "../db/offsite.h"
#include "../offsite/sync.h"

/* The sync thread's status plus what the catalog says per snapshot. */
void route_offsite_status(const struct route_req *r, struct route_resp *o)
{
    struct catalog_offsite_stats st;
    struct err e = { 0 };
    char when[32];
    json_t *doc = r->env->offsite_status != NULL ? r->env->offsite_status() : NULL;

    if (doc == NULL) {
        route_problem(o, 500, "out of memory");
        return;
    }
    if (catalog_offsite_stats(store_catalog(r->store), &st, &e) != 0) {
        json_decref(doc);
        route_problem_err(o, &e);
        return;
    }
    if (st.last_success > 0)
        engine_time_format(st.last_success, when, sizeof(when));
    json_object_set_new(doc, "counts", json_pack("{s:I, s:I, s:I, s:I}", "none",
                                                 (json_int_t)st.none, "pending",
                                                 (json_int_t)st.pending, "synced",
                                                 (json_int_t)st.synced, "failed",
                                                 (json_int_t)st.failed));
    json_object_set_new(doc, "last_success", st.last_success > 0 ? json_string(when)
                                                                 : json_null());
    if (json_is_true(json_object_get(doc, "enabled"))) {
        json_t *locked = offsite_locked_copies(store_catalog(r->store), &e);
        if (locked == NULL) {
            json_decref(doc);
            route_problem_err(o, &e);
            return;
        }
        json_object_set_new(doc, "locked_copies", locked);
    }
    route_json(o, 200, doc);
}

/* Wake the sync thread; the round runs in the background (202). */
void route_offsite_sync(const struct route_req *r, struct route_resp *o)
{
    if (r->env->offsite_sync_now == NULL || r->env->offsite_sync_now() != 0) {
        route_problem(o, 409, "offsite copy is not configured (no \"offsite\" section in the "
                              "server's config)");
        return;
    }
    route_offsite_status(r, o);
    if (o->status == 200)
        o->status = 202;
}
