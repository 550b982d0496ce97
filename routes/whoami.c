/* whoami.c - GET /api/v1/whoami: the caller's token name and role, so a front
 * (the dashboard) shows only what that role may do. The server still checks
 * every request; this only tells. */
#include "routes.h"

void route_whoami(const struct route_req *r, struct route_resp *o)
{
    json_t *doc = json_pack("{s:s, s:s}", "token", r->token_name != NULL ? r->token_name : "anonymous",
                            "role", r->role_name != NULL ? r->role_name : "none");

    /* NULL (out of memory) becomes a 500 problem. */
    route_json(o, 200, doc);
}
