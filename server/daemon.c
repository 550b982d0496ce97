/* daemon.c - the HTTP daemon: libmicrohttpd's setup and callbacks, the
 * per-request state between its access-handler calls, dispatch to the
 * route's handler (through the response cache), the answer's common
 * headers, early refusals, and the in-flight count a graceful stop waits
 * on. What a request must be is admission's (admit.c); per-thread state is
 * worker.c's; what a route is, the router's table. */
#include "daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "../common/fsutil.h"
#include "../db/catalog.h"
#include "../engine/store.h"
#include "admit.h"
#include "cache.h"
#include "http.h"
#include "log.h"
#include "metrics.h"
#include "router.h"
#include "worker.h"

struct daemon {
    struct config *cfg;
    struct route_env env;
    struct admit_policy admit;
    struct MHD_Daemon *mhd;
    atomic_long inflight;        /* requests begun and not yet completed */
    atomic_int stopping;
    size_t n_routes;
    size_t n_labels;                            /* distinct route templates */
    const char *route_labels[METRICS_ROUTES_MAX];
    size_t route_label[METRICS_ROUTES_MAX];     /* route index -> label index */
};

/* One daemon per process: libmicrohttpd's callbacks get a pointer to it. */
static struct daemon dv_state;

/* *req_cls of a request refused from its request line: no state, no handler. */
static char uri_refused;

/* ---- request state ---- */

static double elapsed_ms(const struct timespec *t0)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - t0->tv_sec) * 1e3 + (double)(t.tv_nsec - t0->tv_nsec) / 1e6;
}

static int request_id_ok(const char *s)
{
    size_t n = strlen(s), i;

    if (n == 0 || n > LOG_REQUEST_ID_MAX)
        return 0;
    for (i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.'))
            return 0;
    }
    return 1;
}

static void request_free(struct http_request *rq)
{
    if (rq == NULL)
        return;
    if (rq->upload_fd >= 0)
        close(rq->upload_fd);
    if (rq->upload_path[0] != '\0')
        (void)unlink(rq->upload_path);
    EVP_MD_CTX_free(rq->digest);
    if (rq->deferred != NULL)
        MHD_destroy_response(rq->deferred);
    free(rq->body);
    free(rq->path);
    free(rq);
}

static const char *lookup(struct MHD_Connection *c, enum MHD_ValueKind kind, const char *key)
{
    return MHD_lookup_connection_value(c, kind, key);
}

static const char *req_query(const struct route_req *r, const char *key)
{
    return lookup(r->conn, MHD_GET_ARGUMENT_KIND, key);
}

static const char *req_header(const struct route_req *r, const char *key)
{
    return lookup(r->conn, MHD_HEADER_KIND, key);
}

/* ---- responses ---- */
static void queue(struct MHD_Connection *conn, const struct daemon *dv, struct http_request *rq,
                  struct route_resp *o)
{
    struct MHD_Response *resp = NULL;
    char *dump;
    size_t i;
    int have_cache = 0;

    if (o->fd >= 0) {
        resp = MHD_create_response_from_fd64(o->fd_size, o->fd);
        if (resp != NULL)
            o->fd = -1;     /* libmicrohttpd closes it */
    } else if (o->text != NULL) {
        resp = MHD_create_response_from_buffer_with_free_callback(o->text_len, o->text,
                                                                  o->text_free ? o->text_free : free);
        if (resp != NULL) {
            o->text = NULL;
            o->text_free = NULL;
        }
    } else if (o->json != NULL && (dump = json_dumps(o->json, JSON_COMPACT)) != NULL) {
        resp = MHD_create_response_from_buffer_with_free_callback(strlen(dump), dump, free);
        if (resp == NULL)
            free(dump);
    } else {
        resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
        if (o->json != NULL)
            o->status = 500;    /* the body could not be rendered */
    }
    if (resp == NULL) {
        route_resp_clear(o);
        return;
    }
    if (o->status != 304 && o->status != 204)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                                o->content_type ? o->content_type : ROUTE_JSON);
    MHD_add_response_header(resp, "X-Request-Id", rq->id);
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    for (i = 0; i < o->n_headers; i++) {
        MHD_add_response_header(resp, o->headers[i].name, o->headers[i].value);
        if (strcasecmp(o->headers[i].name, "Cache-Control") == 0)
            have_cache = 1;
    }
    if (!have_cache)
        MHD_add_response_header(resp, "Cache-Control", "no-store");
    /* While draining, do not invite the client to send another request here. */
    if (atomic_load(&dv->stopping) || rq->close)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    /* Refused before its body was read: most clients (Python's http.client,
     * Node's fetch) write the whole body before they read, and a close now
     * hands them EPIPE instead of the problem document. So a body of a
     * bounded size, sent without Expect: 100-continue (curl's way to ask
     * first), is read and thrown away, and the answer goes after it. */
    if (!rq->responded && rq->at_head && admit_body_to_drain(conn, rq)) {
        rq->deferred = resp;
        rq->deferred_status = (unsigned int)o->status;
        rq->responded = 1;
        rq->status = o->status;
        metrics_http_count(rq->route >= 0 ? dv->route_label[rq->route] : dv->n_labels,
                           rq->status);
        route_resp_clear(o);
        return;
    }
    if (MHD_queue_response(conn, (unsigned int)o->status, resp) == MHD_YES) {
        rq->responded = 1;
        rq->status = o->status;
        /* Counted now, not when the connection reports completion: a client
         * that reads /metrics right after its answer must see it counted. */
        metrics_http_count(rq->route >= 0 ? dv->route_label[rq->route] : dv->n_labels,
                           rq->status);
    }
    MHD_destroy_response(resp);
    route_resp_clear(o);
}

static void queue_problem(struct MHD_Connection *conn, const struct daemon *dv,
                          struct http_request *rq, int status, const char *detail)
{
    struct route_resp o;

    route_resp_init(&o);
    route_problem(&o, status, "%s", detail);
    queue(conn, dv, rq, &o);
}

/* ---- the access handler ---- */

/* The route's checks (admit.c), then what reading its body needs: a digest
 * for an Idempotency-Key, a temporary file for an upload. Returns 0 to go
 * on reading the body, or -1 once an error response is queued. */
static int request_admit(struct daemon *dv, struct MHD_Connection *conn, struct http_request *rq,
                         const struct router_route *rt)
{
    struct route_resp o;

    route_resp_init(&o);
    if (admit_route(&dv->admit, conn, rq, rt, &o) != 0) {
        queue(conn, dv, rq, &o);
        return -1;
    }
    route_resp_clear(&o);
    if ((rt->flags & ROUTER_IDEMPOTENT) &&
        lookup(conn, MHD_HEADER_KIND, "Idempotency-Key") != NULL) {
        if ((rq->digest = EVP_MD_CTX_new()) == NULL ||
            EVP_DigestInit_ex(rq->digest, EVP_sha256(), NULL) != 1) {
            queue_problem(conn, dv, rq, 500, "cannot hash the request");
            return -1;
        }
    }
    if (rt->body == ROUTER_BODY_ZIP) {
        /* Uploads go next to the archives so adopting one is a rename. */
        if (snprintf(rq->upload_path, sizeof(rq->upload_path), "%s/%s/%s" FS_TEMPLATE_TAIL ".zip",
                     dv->cfg->store, STORE_WORK_DIR, STORE_UPLOAD_PREFIX) >=
                (int)sizeof(rq->upload_path) ||
            (rq->upload_fd = mkostemps(rq->upload_path, 4, O_CLOEXEC)) < 0) {
            rq->upload_path[0] = '\0';
            queue_problem(conn, dv, rq, 500, "cannot create a temporary file for the upload");
            return -1;
        }
    }
    return 0;
}

static struct http_request *request_begin(struct daemon *dv, struct MHD_Connection *conn,
                                          const char *url, const char *method,
                                          const char *version)
{
    struct http_request *rq = calloc(1, sizeof(*rq));
    const char *given, *why, *host;
    char allow[ROUTER_ALLOW_MAX];
    size_t plen, n;
    int status, probe;

    if (rq == NULL)
        return NULL;
    rq->upload_fd = -1;
    rq->route = -1;
    rq->at_head = 1;
    clock_gettime(CLOCK_MONOTONIC, &rq->start);
    given = lookup(conn, MHD_HEADER_KIND, "X-Request-Id");
    if (given != NULL && request_id_ok(given))
        (void)snprintf(rq->id, sizeof(rq->id), "%s", given);
    else
        log_new_request_id(rq->id, sizeof(rq->id));
    (void)snprintf(rq->method, sizeof(rq->method), "%s", method);
    plen = strnlen(url, HTTP_PATH_MAX);
    if ((rq->path = strndup(url, plen)) == NULL) {
        free(rq);
        return NULL;
    }
    rq->route = router_match(method, url, rq->name, sizeof(rq->name), &rq->rest, allow,
                             sizeof(allow));
    if (rq->route < 0)
        rq->rejected = 1;
    /* Keep the static-file rest pointing into our own copy of the path. */
    if (rq->rest != NULL)
        rq->rest = (size_t)(rq->rest - url) <= plen ? rq->path + (rq->rest - url) : NULL;
    /* Broken framing leaves the connection's next bytes meaningless (or
     * another request smuggled in them): answer and close. */
    if ((status = admit_framing(conn, version, &why)) != 0) {
        rq->rejected = 1;
        rq->close = 1;
        queue_problem(conn, dv, rq, status, why);
        return rq;
    }
    /* DNS rebinding: a page whose own name now resolves here may read and
     * send anything it likes, but its Host header still says its name.
     * Probes (/healthz, /readyz) are asked by whatever name a checker has. */
    host = lookup(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST);
    probe = rq->route >= 0 && (router_routes(&n)[rq->route].flags & ROUTER_PROBE) != 0;
    if (host != NULL && !probe) {
        int ok = admit_host(&dv->admit, host);
        if (ok <= 0) {
            rq->rejected = 1;
            rq->close = ok < 0;
            queue_problem(conn, dv, rq, ok < 0 ? 400 : 403,
                          ok < 0 ? "the Host header is not host[:port]"
                                 : "this server is not known by that Host name; add it to "
                                   "allowed_hosts in the config if it should be");
            return rq;
        }
    }
    if (rq->route == ROUTER_NOT_FOUND) {
        queue_problem(conn, dv, rq, 404, "no such resource");
    } else if (rq->route == ROUTER_BAD_METHOD) {
        struct route_resp o;
        route_resp_init(&o);
        route_problem(&o, 405, "%s is not allowed here; allowed: %s", rq->method, allow);
        (void)route_header_add(&o, "Allow", allow);
        queue(conn, dv, rq, &o);
    } else if (request_admit(dv, conn, rq, &router_routes(&n)[rq->route]) != 0) {
        rq->rejected = 1;
    }
    /* Past its head, a request may take a while to send its body or read
     * the answer: the short idle timeout is for clients that send nothing. */
    if (!rq->rejected)
        (void)MHD_set_connection_option(conn, MHD_CONNECTION_OPTION_TIMEOUT,
                                        (unsigned int)HTTP_CONNECTION_TIMEOUT);
    return rq;
}

/* Take one piece of the body. Returns 0, or -1 to drop the connection. */
static int request_body(struct http_request *rq, const struct router_route *rt,
                        const char *data, size_t size)
{
    rq->received += size;
    if (rq->responded || rq->too_large) {
        /* Read and drop what the client insists on sending, up to a point. */
        return rq->received > rq->limit + HTTP_DISCARD_MAX ? -1 : 0;
    }
    if (rq->received > rq->limit) {
        rq->too_large = 1;
        free(rq->body);
        rq->body = NULL;
        rq->body_len = rq->body_cap = 0;
        return 0;
    }
    if (rq->digest != NULL && EVP_DigestUpdate(rq->digest, data, size) != 1)
        return -1;
    if (rt->body == ROUTER_BODY_ZIP)
        return fs_write_all(rq->upload_fd, data, size);
    if (rq->body_len + size + 1 > rq->body_cap) {
        size_t cap = rq->body_cap ? rq->body_cap : 4096;
        char *nb;
        while (cap < rq->body_len + size + 1)
            cap *= 2;
        if ((nb = realloc(rq->body, cap)) == NULL)
            return -1;
        rq->body = nb;
        rq->body_cap = cap;
    }
    memcpy(rq->body + rq->body_len, data, size);
    rq->body_len += size;
    rq->body[rq->body_len] = '\0';
    return 0;
}

static void request_finish(struct daemon *dv, struct MHD_Connection *conn, struct http_request *rq,
                           const struct router_route *rt)
{
    char key[CACHE_KEY_MAX];
    struct catalog_version ver;
    int64_t second = 0;
    int reuse = 0;
    struct route_req r = { 0 };
    struct route_resp o;
    struct err e = { 0 };
    struct worker *w = NULL;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    char body_sha[65] = "";

    route_resp_init(&o);
    if (rq->too_large) {
        route_problem(&o, 413, "the body exceeds the limit of %llu bytes",
                      (unsigned long long)rq->limit);
        goto send;
    }
    if (rt->body == ROUTER_BODY_ZIP) {
        /* The engine adopts this file as an archive: it must be on disk first. */
        if (fsync(rq->upload_fd) != 0 || close(rq->upload_fd) != 0) {
            rq->upload_fd = -1;
            route_problem(&o, 507, "cannot store the upload");
            goto send;
        }
        rq->upload_fd = -1;
    }
    if (rq->digest != NULL) {
        if (EVP_DigestFinal_ex(rq->digest, md, &mdlen) != 1 || mdlen != 32) {
            route_problem(&o, 500, "cannot hash the request");
            goto send;
        }
        fs_hex(md, 32, body_sha);
    }
    /* Liveness and the dashboard's files must answer even when the store
     * can't be opened: that is what /healthz is for. */
    if (!(rt->flags & ROUTER_STORELESS) && (w = worker_get(&e)) == NULL) {
        route_problem(&o, 503, "the store cannot be opened: %s", e.msg);
        goto send;
    }
    if (w != NULL &&
        snprintf(w->actor, sizeof(w->actor), "%s%s", dv->admit.dev_mode ? "" : "token:",
                 rq->token_name ? rq->token_name : "anonymous") >= (int)sizeof(w->actor))
        (void)snprintf(w->actor, sizeof(w->actor), "token:?");
    r.env = &dv->env;
    r.method = strcmp(rq->method, "HEAD") == 0 ? "GET" : rq->method;
    r.path = rq->path;
    r.name = strstr(rt->pattern, "{name}") ? rq->name : NULL;
    r.rest = rq->rest;
    r.query = req_query;
    r.header = req_header;
    r.conn = conn;
    r.body = rq->body ? rq->body : "";
    r.body_len = rq->body_len;
    r.upload_path = rt->body == ROUTER_BODY_ZIP ? rq->upload_path : NULL;
    r.store = w != NULL ? w->store : NULL;
    r.is_admin = rq->role == ROLE_ADMIN;
    if (w != NULL && cache_wanted(rt, rq->method) && cache_key(conn, rq->path, key) == 0 &&
        catalog_version(store_catalog(w->store), &ver, &e) == 0) {
        reuse = 1;
        second = engine_now();
        if (cache_get(&w->cache, rq->route, key, &ver, second, &o)) {
            metrics_op_observe(rt->op, 1, elapsed_ms(&rq->start) / 1e3);
            goto send;
        }
    }
    err_clear(&e);
    router_run(rt, &r, rq->token_name ? rq->token_name : "anonymous", body_sha, &o);
    if (reuse)
        cache_put(&w->cache, rq->route, key, &ver, second, &o);
send:
    /* The engine moved an adopted upload away; anything left goes now, before
     * the client hears back, so no one sees a stale temp file in the store. */
    if (rq->upload_path[0] != '\0') {
        if (rq->upload_fd >= 0)
            close(rq->upload_fd);
        rq->upload_fd = -1;
        (void)unlink(rq->upload_path);
        rq->upload_path[0] = '\0';
    }
    queue(conn, dv, rq, &o);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **req_cls)
{
    struct daemon *dv = cls;
    struct http_request *rq = *req_cls;
    const struct router_route *rt = NULL;
    size_t n;

    if (*req_cls == &uri_refused)
        return MHD_NO;     /* already answered from the request line */
    if (rq == NULL) {
        if ((rq = request_begin(dv, conn, url, method, version)) == NULL)
            return MHD_NO;
        rq->at_head = 0;
        *req_cls = rq;
        atomic_fetch_add(&dv->inflight, 1);
        /* A refusal whose response could not even be queued ends the connection. */
        return rq->rejected && !rq->responded ? MHD_NO : MHD_YES;
    }
    if (rq->rejected && !rq->responded)
        return MHD_NO;
    if (rq->deferred != NULL) {
        /* An early refusal: read the body away, then answer. */
        if (*upload_data_size > 0) {
            rq->drained += *upload_data_size;
            *upload_data_size = 0;
            return rq->drained <= HTTP_DRAIN_MAX ? MHD_YES : MHD_NO;
        }
        enum MHD_Result r = MHD_queue_response(conn, rq->deferred_status, rq->deferred);
        MHD_destroy_response(rq->deferred);
        rq->deferred = NULL;
        return r;
    }
    if (rq->route >= 0)
        rt = &router_routes(&n)[rq->route];
    if (*upload_data_size > 0) {
        size_t size = *upload_data_size;
        *upload_data_size = 0;
        if (rt == NULL)
            return MHD_YES;
        return request_body(rq, rt, upload_data, size) == 0 ? MHD_YES : MHD_NO;
    }
    if (!rq->responded && rt != NULL)
        request_finish(dv, conn, rq, rt);
    /* Not queued means the response could not even be built: hang up. */
    return rq->responded ? MHD_YES : MHD_NO;
}

/* libmicrohttpd's URI hook: the raw request target, before libmicrohttpd
 * parses its query. In 0.9.75 that parse takes pool memory per argument;
 * when the pool runs out it neither answers nor closes (the connection
 * hangs until its timeout), and a target too long for the pool gets an HTML
 * 414. So a target over HTTP_URI_MAX bytes or HTTP_QUERY_ARGS_MAX arguments
 * is answered here, a problem document written straight to the socket (not
 * under TLS: plain bytes there would break the stream, so that client only
 * sees the close), and the connection ends: the write side is shut so
 * nothing libmicrohttpd says after it reaches the client, its timeout drops
 * to a second, and *req_cls becomes uri_refused so no handler runs. NULL
 * (a normal request) otherwise. */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
    struct daemon *dv = cls;
    const union MHD_ConnectionInfo *ci;
    size_t plen;
    char id[LOG_REQUEST_ID_MAX + 1], head[512], date[40], *body = NULL, *path;
    struct route_resp o;
    struct tm tm;
    time_t now = time(NULL);
    int status, n;

    route_resp_init(&o);
    if ((status = admit_target(uri, &o)) == 0)
        return NULL;
    log_new_request_id(id, sizeof(id));
    ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (gmtime_r(&now, &tm) == NULL ||
        strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm) == 0)
        date[0] = '\0';
    if (ci != NULL && !dv->admit.tls && o.json != NULL && date[0] != '\0' &&
        (body = json_dumps(o.json, JSON_COMPACT)) != NULL &&
        (n = snprintf(head, sizeof(head),
                      "HTTP/1.1 %d %s\r\nDate: %s\r\nContent-Type: " ROUTE_PROBLEM_JSON "\r\n"
                      "Content-Length: %zu\r\nConnection: close\r\nX-Request-Id: %s\r\n"
                      "X-Content-Type-Options: nosniff\r\nCache-Control: no-store\r\n\r\n",
                      status, route_reason(status), date, strlen(body), id)) > 0 &&
        (size_t)n < sizeof(head)) {
        /* A fresh socket's send buffer takes these few hundred bytes at once. */
        (void)send(ci->connect_fd, head, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
        (void)send(ci->connect_fd, body, strlen(body), MSG_NOSIGNAL | MSG_DONTWAIT);
    }
    if (ci != NULL)
        (void)shutdown(ci->connect_fd, SHUT_WR);
    (void)MHD_set_connection_option(conn, MHD_CONNECTION_OPTION_TIMEOUT, 1u);
    plen = strcspn(uri, "?");
    if ((path = strndup(uri, plen < HTTP_PATH_MAX ? plen : HTTP_PATH_MAX)) != NULL)
        log_request(id, "-", path, status, 0.0, NULL);
    free(path);
    free(body);
    route_resp_clear(&o);
    metrics_http_count(dv->n_labels, status);
    return &uri_refused;
}

/* libmicrohttpd's accept policy: no new connection once draining began
 * (it is closed at once; kept-alive ones finish what they started). */
static enum MHD_Result on_accept(void *cls, const struct sockaddr *addr, socklen_t addrlen)
{
    const struct daemon *dv = cls;

    (void)addr;
    (void)addrlen;
    return atomic_load(&dv->stopping) ? MHD_NO : MHD_YES;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct daemon *dv = cls;
    struct http_request *rq = *req_cls;

    if (rq == NULL || *req_cls == &uri_refused) {
        *req_cls = NULL;
        return;
    }
    *req_cls = NULL;
    /* Back to the short timeout until the next request's head is in. Only
     * after a normal completion: the connection is then live and in
     * libmicrohttpd's timeout lists; on any other end it is being closed
     * (and possibly already out of them), so it is left alone. */
    if (toe == MHD_REQUEST_TERMINATED_COMPLETED_OK)
        (void)MHD_set_connection_option(conn, MHD_CONNECTION_OPTION_TIMEOUT,
                                        (unsigned int)HTTP_IDLE_TIMEOUT);
    log_request(rq->id, rq->method, rq->path, rq->status, elapsed_ms(&rq->start), rq->token_name);
    /* A write (create, restore, import) churns through large buffers; hand
     * what it freed back to the kernel so a long-running server's RSS
     * follows its real use. Reads are left alone: they are the hot path. */
    int write = strcmp(rq->method, "GET") != 0 && strcmp(rq->method, "HEAD") != 0;
    request_free(rq);
    atomic_fetch_sub(&dv->inflight, 1);
    if (write)
        (void)malloc_trim(0);
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    char buf[512];
    size_t n;

    (void)vsnprintf(buf, sizeof(buf), fmt, ap);
    n = strlen(buf);
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        buf[--n] = '\0';
    log_event("warn", "libmicrohttpd", json_pack("{s:s}", "detail", buf));
}

static void on_mhd_panic(void *cls, const char *file, unsigned int line, const char *reason)
{
    log_event("fatal", "libmicrohttpd panic",
              json_pack("{s:s, s:i, s:s}", "file", file ? file : "?", "line", (int)line, "reason",
                        reason ? reason : "?"));
    abort();
}


/* ---- start and stop ---- */

/* One metrics label per template: GET and POST /api/v1/snapshots share a
 * series. Returns 0 or -1 when the table outgrows the metrics'. */
static int route_labels(struct daemon *dv)
{
    const struct router_route *routes = router_routes(&dv->n_routes);

    for (size_t i = 0; i < dv->n_routes && i < METRICS_ROUTES_MAX; i++) {
        size_t j;
        for (j = 0; j < dv->n_labels; j++)
            if (strcmp(dv->route_labels[j], routes[i].pattern) == 0)
                break;
        if (j == dv->n_labels)
            dv->route_labels[dv->n_labels++] = routes[i].pattern;
        dv->route_label[i] = j;
    }
    if (dv->n_routes > METRICS_ROUTES_MAX || metrics_init(dv->route_labels, dv->n_labels) != 0)
        return -1;
    return 0;
}

/* Idle clients must not crowd out a fresh one: allow many connections
 * (poll makes an idle one cheap), within what the fd limit permits. */
static unsigned connection_limit(void)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
        rl.rlim_cur < (rlim_t)HTTP_CONNECTION_LIMIT + HTTP_FD_RESERVE)
        return rl.rlim_cur > 2 * HTTP_FD_RESERVE ? (unsigned)(rl.rlim_cur - HTTP_FD_RESERVE)
                                                 : (unsigned)(rl.rlim_cur / 2);
    return HTTP_CONNECTION_LIMIT;
}

int daemon_start(const struct daemon_settings *s, struct err *e)
{
    struct daemon *dv = &dv_state;
    const union MHD_DaemonInfo *info;
    unsigned int flags;

    memset(dv, 0, sizeof(*dv));
    dv->cfg = s->cfg;
    dv->env = *s->env;
    dv->admit = *s->admit;
    if (route_labels(dv) != 0)
        return err_set(e, ERR_IO, "too many routes for the metrics table");
    if (worker_init(&s->cfg->engine, e) != 0)
        return -1;
    MHD_set_panic_func(on_mhd_panic, NULL);
    /* poll, not epoll: libmicrohttpd 0.9.75's epoll mode reads a connection
     * once per edge, so a client that sends half a request and closes in
     * the same breath stays in CLOSE_WAIT until its timeout; a burst of
     * those filled every connection slot. poll is level-triggered and
     * notices the close at once. */
    flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ITC | MHD_USE_ERROR_LOG;
    if (s->addr->sa_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    if (s->tls_cert != NULL)
        flags |= MHD_USE_TLS;
    {
        struct MHD_OptionItem opts[] = {
            /* The logger first, so no message goes to libmicrohttpd's own. */
            { MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)on_mhd_log, NULL },
            { MHD_OPTION_SOCK_ADDR, 0, (void *)s->addr },
            { MHD_OPTION_THREAD_POOL_SIZE, HTTP_THREADS, NULL },
            { MHD_OPTION_CONNECTION_LIMIT, (intptr_t)connection_limit(), NULL },
            { MHD_OPTION_UNESCAPE_CALLBACK, (intptr_t)admit_unescape, NULL },
            { MHD_OPTION_CONNECTION_TIMEOUT, HTTP_IDLE_TIMEOUT, NULL },
            { MHD_OPTION_PER_IP_CONNECTION_LIMIT, (intptr_t)s->cfg->max_connections_per_ip, NULL },
            { MHD_OPTION_URI_LOG_CALLBACK, (intptr_t)on_uri, dv },
            { MHD_OPTION_CONNECTION_MEMORY_LIMIT, (intptr_t)HTTP_CONNECTION_MEMORY, NULL },
            { MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed, dv },
            { MHD_OPTION_LISTENING_ADDRESS_REUSE, 1, NULL },
            /* TLS options last: they are cut off when TLS is off. */
            { MHD_OPTION_HTTPS_MEM_CERT, 0, (void *)s->tls_cert },
            { MHD_OPTION_HTTPS_MEM_KEY, 0, (void *)s->tls_key },
            { MHD_OPTION_END, 0, NULL },
        };
        if (s->tls_cert == NULL)
            opts[sizeof(opts) / sizeof(opts[0]) - 3].option = MHD_OPTION_END;
        dv->mhd = MHD_start_daemon(flags, 0, on_accept, dv, on_request, dv, MHD_OPTION_ARRAY,
                                   opts, MHD_OPTION_END);
    }
    if (dv->mhd == NULL)
        return err_set(e, ERR_IO, "cannot listen on %s (in use, or no permission)",
                       s->cfg->listen);
    if ((info = MHD_get_daemon_info(dv->mhd, MHD_DAEMON_INFO_BIND_PORT)) == NULL)
        return err_set(e, ERR_IO, "cannot tell which port libmicrohttpd listens on");
    /* Known now even when the kernel picked it (port 0). */
    dv->admit.port = info->port;
    return 0;
}

unsigned daemon_port(void)
{
    return dv_state.admit.port;
}

long daemon_in_flight(void)
{
    return atomic_load(&dv_state.inflight);
}

void daemon_refuse_new(void)
{
    atomic_store(&dv_state.stopping, 1);
}

void daemon_drain(long max_ms)
{
    long waited_ms = 0;

    /* A request may start on a kept-alive connection just after the count
     * read zero, so zero must hold for a little while before stopping. */
    for (int quiet = 0; quiet < 3 && waited_ms < max_ms; waited_ms += 20) {
        struct timespec ts = { 0, 20 * 1000000L };
        quiet = atomic_load(&dv_state.inflight) == 0 ? quiet + 1 : 0;
        nanosleep(&ts, NULL);
    }
}

void daemon_stop(void)
{
    if (dv_state.mhd != NULL)
        MHD_stop_daemon(dv_state.mhd);
    dv_state.mhd = NULL;
    worker_fini();
}
