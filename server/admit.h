/* admit.h - admission: the checks a request passes before any handler runs
 * (target size, framing, Host, origin, token and role, body size and type).
 * Each returns a decision (and fills a problem response); daemon.c sends it. */
#ifndef STATESNAP_ADMIT_H
#define STATESNAP_ADMIT_H

#include <stddef.h>

#include <microhttpd.h>

#include "../routes/routes.h"
#include "../conf/config.h"
#include "http.h"
#include "router.h"

/* What admission knows of the server. */
struct admit_policy {
    const struct config *cfg;    /* tokens, allowed_hosts, limits, metrics_public */
    int dev_mode;                /* no tokens: everyone is admin, loopback only */
    unsigned port;               /* the port listened on */
    char bind_host[256];         /* listen's host, lower case, no brackets */
    int bind_wildcard;           /* 0.0.0.0 or :: */
    int tls;
};

/* libmicrohttpd's unescape callback: percent-decoding for the path and
 * query as libmicrohttpd's own, except that %00 stays as it is (a NUL would
 * cut "src%00../x" to "src" and send a DELETE to the wrong snapshot; left
 * encoded, the '%' fails the name check). Decodes s in place and returns
 * its new length. Cannot fail. */
size_t admit_unescape(void *cls, struct MHD_Connection *c, char *s);

/* The raw request target, before libmicrohttpd parses it: over HTTP_URI_MAX
 * bytes is 414, over HTTP_QUERY_ARGS_MAX query arguments 400 (o filled with
 * the problem). Returns 0 when it may go on, else that status. */
int admit_target(const char *uri, struct route_resp *o);

/* Check the head of a request as RFC 9112 asks: one Host on HTTP/1.1,
 * field names without whitespace, no Content-Length beside a
 * Transfer-Encoding, no transfer coding but chunked; and its size
 * (HTTP_HEADERS_MAX fields, HTTP_HEADER_BYTES_MAX bytes). Returns 0, or the
 * status to refuse with (400, 431) and the reason in *why; the connection
 * must then be closed. */
int admit_framing(struct MHD_Connection *conn, const char *version, const char **why);

/* May a request name this Host? Loopback names and the listen address on
 * our port (with a wildcard listen: any address literal, which DNS
 * rebinding cannot produce), and the configured allowed_hosts. Returns 1,
 * 0 for a foreign name, -1 for a malformed value. */
int admit_host(const struct admit_policy *p, const char *value);

/* The checks that need the route and the headers: a state-changing request
 * from another origin (403), the bearer token (401) and its role (403),
 * the declared Content-Length against the route's limit (413, which sets
 * rq->limit), the Content-Type of a JSON or zip route (415). Sets
 * rq->token_name and rq->role. Returns 0 to go on, or -1 with the problem
 * in o. */
int admit_route(const struct admit_policy *p, struct MHD_Connection *conn,
                struct http_request *rq, const struct router_route *rt, struct route_resp *o);

/* Does this request still carry a body worth reading before an early
 * answer? A bounded Content-Length (HTTP_DRAIN_MAX) or chunked, not with
 * Expect: 100-continue, and never when the framing is not trusted
 * (rq->close). Cannot fail. */
int admit_body_to_drain(struct MHD_Connection *conn, const struct http_request *rq);

#endif
