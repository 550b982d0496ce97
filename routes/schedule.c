/* schedule.c - GET /api/v1/schedule: the scheduled-snapshot status. */
#include "routes.h"

void route_schedule(const struct route_req *r, struct route_resp *o)
{
    json_t *doc = r->env->schedule_status != NULL ? r->env->schedule_status() : NULL;

    /* NULL becomes a 500 problem: the server always provides the status. */
    route_json(o, 200, doc);
}
