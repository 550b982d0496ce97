/* audit.c - GET /api/v1/audit (a page of the audit chain, oldest first) and
 * GET /api/v1/audit/verify (both chains recomputed and compared). */
#include "routes.h"

#include <errno.h>
#include <stdlib.h>

#include "../engine/audit.h"
#include "../engine/store.h"

#define AUDIT_PAGE_DEFAULT 100
#define AUDIT_PAGE_MAX 1000

void route_audit_list(const struct route_req *r, struct route_resp *o)
{
    struct err e = { 0 };
    json_t *page = NULL;
    long long after = 0, limit = AUDIT_PAGE_DEFAULT;
    const char *s;

    if ((s = r->query(r, "after")) != NULL && route_parse_int(s, 0, INT64_MAX, &after) != 0) {
        route_problem(o, 400, "after must be a sequence number (an integer >= 0)");
        return;
    }
    if ((s = r->query(r, "limit")) != NULL && route_parse_int(s, 1, AUDIT_PAGE_MAX, &limit) != 0) {
        route_problem(o, 400, "limit must be an integer from 1 to %d", AUDIT_PAGE_MAX);
        return;
    }
    if (engine_audit_list(r->store, (int64_t)after, (size_t)limit, &page, &e) != 0) {
        json_decref(page);
        route_problem_err(o, &e);
        return;
    }
    route_json(o, 200, page);
}

void route_audit_verify(const struct route_req *r, struct route_resp *o)
{
    struct err e = { 0 };
    json_t *report = NULL;
    int rc;

    /* The engine verifies under the store lock (a write in flight can't
     * read as entries missing); 423 when the lock stays busy. */
    rc = engine_audit_verify(r->store, &report, &e);
    if (rc == 0) {
        route_json(o, 200, report);
        return;
    }
    route_problem_err(o, &e);
    /* A broken chain still carries where it broke: the caller needs that. */
    if (e.code == ERR_VERIFY && report != NULL && o->json != NULL)
        json_object_set_new(o->json, "report", report);
    else
        json_decref(report);
}
