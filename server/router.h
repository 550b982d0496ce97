/* router.h - the const route table, path matching, and the wrapper every
 * handler runs in (Idempotency-Key replay, operation metrics). */
#ifndef STATESNAP_ROUTER_H
#define STATESNAP_ROUTER_H

#include <stddef.h>

#include "../routes/routes.h"
#include "../conf/config.h"
#include "metrics.h"

#define ROUTER_NOT_FOUND (-1)
#define ROUTER_BAD_METHOD (-2)
#define ROUTER_ALLOW_MAX 64

enum router_body {
    ROUTER_BODY_NONE = 0,   /* a body is read (within max_body_bytes) and ignored */
    ROUTER_BODY_JSON,       /* Content-Type: application/json even when empty, within max_body_bytes */
    ROUTER_BODY_ZIP         /* application/zip, streamed to a temp file, max_upload_bytes */
};

/* What a route is, beyond its method, path and role (a route's flags column). */
#define ROUTER_IDEMPOTENT 0x01      /* honours Idempotency-Key */
#define ROUTER_METRICS_SCRAPE 0x02  /* no token needed when metrics_public */
#define ROUTER_CACHEABLE 0x04       /* a GET whose 200 answer depends only on the path, the
                                     * query, the catalog version and the second: the
                                     * response cache may reuse it (cache.c) */
#define ROUTER_PROBE 0x08           /* a health probe: asked by whatever Host name a checker
                                     * has, so the Host check does not apply */
#define ROUTER_STORELESS 0x10       /* answers without the store (liveness, the dashboard's
                                     * files), so a store that cannot open does not fail it */

struct router_route {
    const char *method;
    const char *pattern;        /* "{name}" = one path segment, trailing "*" = any rest */
    enum token_role role;       /* ROLE_NONE = no token needed */
    enum router_body body;
    unsigned flags;             /* ROUTER_IDEMPOTENT | ROUTER_CACHEABLE | ... */
    enum metrics_op op;
    route_handler handler;
};

/* The table and its size. Cannot fail. */
const struct router_route *router_routes(size_t *n);

/* Match method (HEAD counts as GET) and path. Returns the route index, or
 * ROUTER_NOT_FOUND, or ROUTER_BAD_METHOD with the allowed methods in allow
 * ("GET, HEAD, PATCH"). name receives the {name} segment ("" when longer
 * than name_len - 1, which no valid name is); *rest points into path after a
 * trailing "*" (else NULL). */
int router_match(const char *method, const char *path, char *name, size_t name_len,
                 const char **rest, char *allow, size_t allow_len);

/* Run rt's handler for rq into o. For idempotent routes carrying an
 * Idempotency-Key: replays a stored response (adding Idempotent-Replayed),
 * answers 422 for the same key with another request, 409 while the first
 * request with that key is still running, and stores definite outcomes.
 * principal scopes keys per token; body_sha256 is the hex digest of the body.
 * Cannot fail: every failure becomes a problem response in o. */
void router_run(const struct router_route *rt, const struct route_req *rq, const char *principal,
                const char *body_sha256, struct route_resp *o);

#endif
