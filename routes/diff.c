/* diff.c - GET /api/v1/diff?from=A&to=B: structural comparison of two snapshots,
 * or of a snapshot and the live state root (to=live). */
#include "routes.h"

#include <string.h>

void route_diff(const struct route_req *r, struct route_resp *o)
{
    struct err e = { 0 };
    const char *from = r->query(r, "from"), *to = r->query(r, "to");
    json_t *diff = NULL;

    if (from == NULL || *from == '\0' || to == NULL || *to == '\0') {
        route_problem(o, 400, "both from and to are required (to may be \"live\")");
        return;
    }
    if (engine_name_check(from, &e) != 0 ||
        (strcmp(to, "live") != 0 && engine_name_check(to, &e) != 0)) {
        route_problem_err(o, &e);
        return;
    }
    if (engine_diff(r->store, from, to, &diff, &e) != 0) {
        json_decref(diff);
        route_problem_err(o, &e);
        return;
    }
    route_json(o, 200, diff);
}
