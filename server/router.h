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

struct router_route {
    const char *method;
    const char *pattern;        /* "{name}" = one path segment, trailing "*" = any rest */
    enum token_role role;       /* ROLE_NONE = no token needed */
    enum router_body body;
    int idempotent;             /* honours Idempotency-Key */
    int metrics_scrape;         /* no token needed when metrics_public */
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
