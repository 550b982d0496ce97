/* daemon.c - `statesnap serve`: libmicrohttpd setup, per-request state, body
 * limits, authentication, response rendering, logging and graceful shutdown. */
#include "serve.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>
#include <openssl/crypto.h>

#include "../db/catalog.h"
#include "../common/fsutil.h"
#include "../engine/store.h"
#include "alerts.h"
#include "auth.h"
#include "http.h"
#include "log.h"
#include "metrics.h"
#include "router.h"
#include "offsite.h"
#include "drill_schedule.h"
#include "schedule.h"

struct serve {
    struct config *cfg;
    struct route_env env;
    int dev_mode;                /* no tokens: everyone is admin, loopback only */
    atomic_long inflight;        /* requests begun and not yet completed */
    atomic_int stopping;
    size_t n_routes;
    size_t n_labels;                            /* distinct route templates */
    const char *route_labels[METRICS_ROUTES_MAX];
    size_t route_label[METRICS_ROUTES_MAX];     /* route index -> label index */
    char static_dir[PATH_MAX];
    unsigned port;               /* the port listened on */
    char bind_host[256];         /* listen's host, lower case, no brackets */
    int bind_wildcard;           /* 0.0.0.0 or :: */
    int tls;
};

/* *req_cls of a request refused from its request line: no state, no handler. */
static char uri_refused;

/* A read answer kept for reuse: the same route and arguments, the same
 * catalog version and the same second give the same bytes (ages and pin
 * expiry are whole seconds). Monitoring probes and dashboards ask for the
 * latest snapshot and the list far more often than the catalog changes. */
#define RESP_CACHE_SLOTS 8
#define RESP_CACHE_KEY_MAX 1024

struct resp_cache_slot {
    int route;                      /* -1 = empty */
    char key[RESP_CACHE_KEY_MAX];   /* path and query arguments, length-prefixed */
    struct catalog_version ver;
    int64_t second;
    char *body;
    size_t len;
};

/* One per worker thread: the store (with its catalog connection) and the
 * engine settings it reads, whose actor changes per request. */
struct worker {
    struct engine_config ecfg;
    char actor[160];
    struct store *store;
    struct resp_cache_slot cache[RESP_CACHE_SLOTS];
    unsigned cache_next;            /* round-robin victim */
};

static pthread_key_t worker_key;

static void worker_free(void *p)
{
    struct worker *w = p;

    if (w == NULL)
        return;
    for (size_t i = 0; i < RESP_CACHE_SLOTS; i++)
        free(w->cache[i].body);
    store_close(w->store);
    free(w);
}

/* This thread's worker, opened on first use. NULL with *e on failure. */
static struct worker *worker_get(const struct serve *sv, struct err *e)
{
    struct worker *w = pthread_getspecific(worker_key);

    if (w != NULL)
        return w;
    if ((w = calloc(1, sizeof(*w))) == NULL) {
        err_set(e, ERR_IO, "out of memory");
        return NULL;
    }
    w->ecfg = sv->cfg->engine;
    w->ecfg.actor = w->actor;
    for (size_t i = 0; i < RESP_CACHE_SLOTS; i++)
        w->cache[i].route = -1;
    if (store_open(&w->store, &w->ecfg, 0, e) != 0 || pthread_setspecific(worker_key, w) != 0) {
        if (e->code == ERR_NONE)
            err_set(e, ERR_IO, "cannot keep per-thread state");
        worker_free(w);
        return NULL;
    }
    return w;
}

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

/* Percent-decoding for the path and query, as libmicrohttpd's own, except
 * that %00 stays as it is: a NUL would cut "src%00../x" to "src" and send a
 * DELETE to the wrong snapshot. Left encoded, the '%' fails the name check. */
static size_t unescape_no_nul(void *cls, struct MHD_Connection *c, char *s)
{
    char *w = s;
    const char *r = s;

    (void)cls;
    (void)c;
    while (*r) {
        if (r[0] == '%' && isxdigit((unsigned char)r[1]) && isxdigit((unsigned char)r[2])) {
            int hi = isdigit((unsigned char)r[1]) ? r[1] - '0' : (tolower((unsigned char)r[1]) - 'a' + 10);
            int lo = isdigit((unsigned char)r[2]) ? r[2] - '0' : (tolower((unsigned char)r[2]) - 'a' + 10);
            int v = hi << 4 | lo;
            if (v != 0) {
                *w++ = (char)v;
                r += 3;
                continue;
            }
        }
        *w++ = *r++;
    }
    *w = '\0';
    return (size_t)(w - s);
}

static const char *lookup(struct MHD_Connection *c, enum MHD_ValueKind kind, const char *key)
{
    return MHD_lookup_connection_value(c, kind, key);
}

/* ---- the request head: framing, size, Host and Origin ---- */

/* What one pass over the header fields found. */
struct head_scan {
    size_t n, bytes;
    int n_host, n_length, n_te;
    int bad_name;                /* empty, or not an RFC 9110 token ("Host " included) */
};

static int token_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static enum MHD_Result scan_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                   const char *value)
{
    struct head_scan *hs = cls;
    const unsigned char *k = (const unsigned char *)(key ? key : "");

    (void)kind;
    hs->n++;
    hs->bytes += strlen((const char *)k) + (value ? strlen(value) : 0) + 4;
    if (*k == '\0')
        hs->bad_name = 1;
    for (; *k; k++)
        if (!token_char(*k))
            hs->bad_name = 1;
    if (key == NULL)
        return MHD_YES;
    if (strcasecmp(key, MHD_HTTP_HEADER_HOST) == 0)
        hs->n_host++;
    else if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0)
        hs->n_length++;
    else if (strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING) == 0)
        hs->n_te++;
    return MHD_YES;
}

/* "chunked", in any case, with optional spaces around it. */
static int te_is_chunked(const char *te)
{
    size_t n;

    while (*te == ' ' || *te == '\t')
        te++;
    if (strncasecmp(te, "chunked", 7) != 0)
        return 0;
    for (n = 7; te[n] == ' ' || te[n] == '\t'; n++)
        ;
    return te[n] == '\0';
}

_Static_assert(HTTP_HEADERS_MAX == 100 && HTTP_HEADER_BYTES_MAX == 16384,
               "head_check's 431 detail names these limits");

/* Check the head of a request as RFC 9112 asks: one Host on HTTP/1.1,
 * field names without whitespace, no Content-Length beside a
 * Transfer-Encoding, no transfer coding but chunked; and its size. Returns
 * 0, or the status to refuse with (400, 431) and the reason in why. */
static int head_check(struct MHD_Connection *conn, const char *version, const char **why)
{
    struct head_scan hs = { 0 };
    const char *te;

    MHD_get_connection_values(conn, MHD_HEADER_KIND, scan_header, &hs);
    *why = NULL;
    if (hs.n > HTTP_HEADERS_MAX || hs.bytes > HTTP_HEADER_BYTES_MAX) {
        *why = "the header fields are too large: at most 100 fields of 16 KiB in all";
        return 431;
    }
    if (hs.bad_name)
        *why = "a header field name is empty or holds whitespace or a delimiter";
    else if (hs.n_host > 1)
        *why = "more than one Host header";
    else if (hs.n_host == 0 && version != NULL && strcmp(version, MHD_HTTP_VERSION_1_0) != 0)
        *why = "an HTTP/1.1 request needs a Host header";
    else if (hs.n_length > 1)
        /* Two Content-Length headers are how request smuggling starts. */
        *why = "more than one Content-Length header";
    else if (hs.n_te > 1 || (hs.n_te == 1 && hs.n_length > 0))
        *why = "Transfer-Encoding and Content-Length together (or Transfer-Encoding twice)";
    else if (hs.n_te == 1 &&
             ((te = lookup(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING)) == NULL ||
              !te_is_chunked(te)))
        *why = "the only transfer coding accepted is chunked";
    return *why != NULL ? 400 : 0;
}

/* Split a Host value ("name", "name:port", "[v6]:port") into its host,
 * lower case and without brackets, and port (0 = none). Returns 0, or -1
 * when it is not that shape. */
static int parse_host(const char *v, char *host, size_t len, unsigned *port)
{
    const char *end, *p;
    size_t n;

    *port = 0;
    if (*v == '[') {
        if ((end = strchr(v, ']')) == NULL)
            return -1;
        v++;
        n = (size_t)(end - v);
        if (n == 0 || strspn(v, "0123456789abcdefABCDEF:.") < n)
            return -1;
        p = end + 1;
    } else {
        n = strspn(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.");
        if (n == 0)
            return -1;
        p = v + n;
    }
    if (n >= len)
        return -1;
    for (size_t i = 0; i < n; i++)
        host[i] = (char)tolower((unsigned char)v[i]);
    host[n] = '\0';
    if (*p == '\0')
        return 0;
    if (*p != ':' || p[1] == '\0' || strlen(p + 1) > 5 ||
        strspn(p + 1, "0123456789") != strlen(p + 1))
        return -1;
    *port = (unsigned)strtoul(p + 1, NULL, 10);
    return *port >= 1 && *port <= 65535 ? 0 : -1;
}

static int is_ip_literal(const char *h)
{
    unsigned char buf[sizeof(struct in6_addr)];

    return inet_pton(AF_INET, h, buf) == 1 || inet_pton(AF_INET6, h, buf) == 1;
}

/* May a request name this Host? Loopback names and the listen address on
 * our port (with a wildcard listen: any address literal, which DNS
 * rebinding cannot produce), and the configured allowed_hosts. Returns 1,
 * 0 for a foreign name, -1 for a malformed value. */
static int host_allowed(const struct serve *sv, const char *value)
{
    char h[256], eh[256];
    unsigned port, eport;

    if (parse_host(value, h, sizeof(h), &port) != 0)
        return -1;
    if ((port == 0 || port == sv->port) &&
        (auth_host_is_loopback(h) || (sv->bind_wildcard ? is_ip_literal(h)
                                                        : strcmp(h, sv->bind_host) == 0)))
        return 1;
    for (size_t i = 0; i < sv->cfg->n_allowed_hosts; i++)
        if (parse_host(sv->cfg->allowed_hosts[i], eh, sizeof(eh), &eport) == 0 &&
            strcmp(eh, h) == 0 && (eport == 0 || eport == port))
            return 1;
    return 0;
}

/* host[:port] of an origin or a Host value, lower case, without the
 * scheme's default port. Returns 0, or -1 when it does not fit. */
static int authority_norm(const char *a, unsigned default_port, char *out, size_t len)
{
    char suffix[8];
    size_t n = strlen(a), sl;

    if (n >= len)
        return -1;
    for (size_t i = 0; i <= n; i++)
        out[i] = (char)tolower((unsigned char)a[i]);
    sl = (size_t)snprintf(suffix, sizeof(suffix), ":%u", default_port);
    if (n > sl && strcmp(out + n - sl, suffix) == 0)
        out[n - sl] = '\0';
    return 0;
}

/* 1 when the browser says this request comes from another origin:
 * Sec-Fetch-Site other than same-origin/none, or an Origin that is not
 * this request's own scheme-less host[:port] ("null" included). Clients
 * that are not browsers send neither. Cannot fail. */
static int cross_origin(const struct serve *sv, struct MHD_Connection *conn)
{
    const char *site = lookup(conn, MHD_HEADER_KIND, "Sec-Fetch-Site");
    const char *origin = lookup(conn, MHD_HEADER_KIND, "Origin");
    const char *host = lookup(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST);
    char a[300], b[300];
    unsigned dport;

    if (site != NULL && strcasecmp(site, "same-origin") != 0 && strcasecmp(site, "none") != 0)
        return 1;
    if (origin == NULL)
        return 0;
    if (strncasecmp(origin, "http://", 7) == 0) {
        origin += 7;
        dport = 80;
    } else if (strncasecmp(origin, "https://", 8) == 0) {
        origin += 8;
        dport = 443;
    } else {
        return 1;
    }
    /* The scheme is not compared: behind a proxy that ends TLS the page is
     * https:// and this server plain http, on the same host and port. */
    return host == NULL || authority_norm(origin, dport, a, sizeof(a)) != 0 ||
           authority_norm(host, sv->tls ? 443 : 80, b, sizeof(b)) != 0 || strcmp(a, b) != 0;
}

static const char *req_query(const struct route_req *r, const char *key)
{
    return lookup(r->conn, MHD_GET_ARGUMENT_KIND, key);
}

static const char *req_header(const struct route_req *r, const char *key)
{
    return lookup(r->conn, MHD_HEADER_KIND, key);
}

/* "application/json" or "application/zip", ignoring parameters and case. */
static int media_type_is(const char *ct, const char *want)
{
    size_t n = strlen(want);

    if (ct == NULL)
        return 0;
    while (*ct == ' ')
        ct++;
    return strncasecmp(ct, want, n) == 0 && (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
}

/* ---- responses ---- */

/* Does this request still carry a body worth reading before an early
 * answer? Framing that is not trusted (rq->close) never is. */
static int body_to_drain(struct MHD_Connection *conn, const struct http_request *rq)
{
    const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                 MHD_HTTP_HEADER_CONTENT_LENGTH);
    const char *te = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                 MHD_HTTP_HEADER_TRANSFER_ENCODING);
    const char *ex = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_EXPECT);
    unsigned long long n;
    char *end;

    if (rq->close || (ex != NULL && strcasecmp(ex, "100-continue") == 0))
        return 0;
    if (te != NULL)
        return 1;       /* chunked: drained up to HTTP_DRAIN_MAX, then closed */
    if (cl == NULL)
        return 0;
    errno = 0;
    n = strtoull(cl, &end, 10);
    return errno == 0 && *end == '\0' && n > 0 && n <= HTTP_DRAIN_MAX;
}

static void queue(struct MHD_Connection *conn, const struct serve *sv, struct http_request *rq,
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
    if (atomic_load(&sv->stopping) || rq->close)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    /* Refused before its body was read: most clients (Python's http.client,
     * Node's fetch) write the whole body before they read, and a close now
     * hands them EPIPE instead of the problem document. So a body of a
     * bounded size, sent without Expect: 100-continue (curl's way to ask
     * first), is read and thrown away, and the answer goes after it. */
    if (!rq->responded && rq->at_head && body_to_drain(conn, rq)) {
        rq->deferred = resp;
        rq->deferred_status = (unsigned int)o->status;
        rq->responded = 1;
        rq->status = o->status;
        metrics_http_count(rq->route >= 0 ? sv->route_label[rq->route] : sv->n_labels,
                           rq->status);
        route_resp_clear(o);
        return;
    }
    if (MHD_queue_response(conn, (unsigned int)o->status, resp) == MHD_YES) {
        rq->responded = 1;
        rq->status = o->status;
        /* Counted now, not when the connection reports completion: a client
         * that reads /metrics right after its answer must see it counted. */
        metrics_http_count(rq->route >= 0 ? sv->route_label[rq->route] : sv->n_labels,
                           rq->status);
    }
    MHD_destroy_response(resp);
    route_resp_clear(o);
}

static void queue_problem(struct MHD_Connection *conn, const struct serve *sv,
                          struct http_request *rq, int status, const char *detail)
{
    struct route_resp o;

    route_resp_init(&o);
    route_problem(&o, status, "%s", detail);
    queue(conn, sv, rq, &o);
}

/* ---- the access handler ---- */

/* Checks that need only the headers: route, token, declared size and type.
 * Returns 0 to go on reading the body, or -1 once an error response is queued. */
static int admit(struct serve *sv, struct MHD_Connection *conn, struct http_request *rq,
                 const struct router_route *rt)
{
    const char *cl = lookup(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    const char *ct = lookup(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
    struct route_resp o;

    /* A page on another site may make the browser send a request here (a
     * form, sendBeacon, a no-cors fetch) but never reads the answer: nothing
     * that changes state runs for it, whatever the token or mode. */
    if (strcmp(rq->method, "GET") != 0 && strcmp(rq->method, "HEAD") != 0 &&
        cross_origin(sv, conn)) {
        queue_problem(conn, sv, rq, 403, "a request from another origin (Origin or "
                                         "Sec-Fetch-Site) may not change anything here");
        return -1;
    }
    if (rt->role != ROLE_NONE && !(rt->metrics_scrape && sv->cfg->metrics_public)) {
        enum token_role role = ROLE_NONE;
        enum auth_result ar = AUTH_OK;
        if (sv->dev_mode) {
            role = ROLE_ADMIN;
            rq->token_name = "dev";
        } else {
            ar = auth_check(sv->cfg, lookup(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION),
                            &role, &rq->token_name);
        }
        if (ar != AUTH_OK) {
            route_resp_init(&o);
            route_problem(&o, 401, ar == AUTH_MISSING
                                       ? "this endpoint needs an Authorization: Bearer token"
                                       : "the bearer token is not valid");
            (void)route_header_add(&o, "WWW-Authenticate",
                                   ar == AUTH_MISSING
                                       ? "Bearer realm=\"statesnap\""
                                       : "Bearer realm=\"statesnap\", error=\"invalid_token\"");
            queue(conn, sv, rq, &o);
            return -1;
        }
        rq->role = role;
        if (role < rt->role) {
            route_resp_init(&o);
            route_problem(&o, 403, "token \"%s\" has the %s role; this needs %s", rq->token_name,
                          auth_role_name(role), auth_role_name(rt->role));
            queue(conn, sv, rq, &o);
            return -1;
        }
    }
    rq->limit = rt->body == ROUTER_BODY_ZIP ? sv->cfg->max_upload_bytes : sv->cfg->max_body_bytes;
    if (cl != NULL) {
        char *end;
        unsigned long long n;
        errno = 0;
        n = strtoull(cl, &end, 10);
        if (errno == 0 && *end == '\0' && n > rq->limit) {
            char msg[128];
            (void)snprintf(msg, sizeof(msg), "the body is %llu bytes; the limit is %llu", n,
                           (unsigned long long)rq->limit);
            queue_problem(conn, sv, rq, 413, msg);
            return -1;
        }
    }
    /* Also without a body: a form, sendBeacon or a no-cors fetch from another
     * site can only send the CORS-safelisted types, so this alone keeps them
     * off every JSON route (prune with an empty body used to run). */
    if (rt->body == ROUTER_BODY_JSON && !media_type_is(ct, "application/json")) {
        queue_problem(conn, sv, rq, 415, "send Content-Type: application/json (also with an "
                                         "empty body)");
        return -1;
    }
    if (rt->body == ROUTER_BODY_ZIP && !media_type_is(ct, "application/zip")) {
        queue_problem(conn, sv, rq, 415, "upload the archive as application/zip");
        return -1;
    }
    if (rt->idempotent && lookup(conn, MHD_HEADER_KIND, "Idempotency-Key") != NULL) {
        if ((rq->digest = EVP_MD_CTX_new()) == NULL ||
            EVP_DigestInit_ex(rq->digest, EVP_sha256(), NULL) != 1) {
            queue_problem(conn, sv, rq, 500, "cannot hash the request");
            return -1;
        }
    }
    if (rt->body == ROUTER_BODY_ZIP) {
        /* Uploads go next to the archives so adopting one is a rename. */
        if (snprintf(rq->upload_path, sizeof(rq->upload_path), "%s/%s/%s" FS_TEMPLATE_TAIL ".zip",
                     sv->cfg->store, STORE_WORK_DIR, STORE_UPLOAD_PREFIX) >=
                (int)sizeof(rq->upload_path) ||
            (rq->upload_fd = mkostemps(rq->upload_path, 4, O_CLOEXEC)) < 0) {
            rq->upload_path[0] = '\0';
            queue_problem(conn, sv, rq, 500, "cannot create a temporary file for the upload");
            return -1;
        }
    }
    return 0;
}

static struct http_request *request_begin(struct serve *sv, struct MHD_Connection *conn,
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
    if ((status = head_check(conn, version, &why)) != 0) {
        rq->rejected = 1;
        rq->close = 1;
        queue_problem(conn, sv, rq, status, why);
        return rq;
    }
    /* DNS rebinding: a page whose own name now resolves here may read and
     * send anything it likes, but its Host header still says its name.
     * Probes (/healthz, /readyz) are asked by whatever name a checker has. */
    host = lookup(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST);
    probe = rq->route >= 0 && (router_routes(&n)[rq->route].handler == route_healthz ||
                               router_routes(&n)[rq->route].handler == route_readyz);
    if (host != NULL && !probe) {
        int ok = host_allowed(sv, host);
        if (ok <= 0) {
            rq->rejected = 1;
            rq->close = ok < 0;
            queue_problem(conn, sv, rq, ok < 0 ? 400 : 403,
                          ok < 0 ? "the Host header is not host[:port]"
                                 : "this server is not known by that Host name; add it to "
                                   "allowed_hosts in the config if it should be");
            return rq;
        }
    }
    if (rq->route == ROUTER_NOT_FOUND) {
        queue_problem(conn, sv, rq, 404, "no such resource");
    } else if (rq->route == ROUTER_BAD_METHOD) {
        struct route_resp o;
        route_resp_init(&o);
        route_problem(&o, 405, "%s is not allowed here; allowed: %s", rq->method, allow);
        (void)route_header_add(&o, "Allow", allow);
        queue(conn, sv, rq, &o);
    } else if (admit(sv, conn, rq, &router_routes(&n)[rq->route]) != 0) {
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

/* ---- reused read answers ---- */

struct key_buf {
    char *p;
    size_t len, cap;
    int overflow;
};

static void key_add(struct key_buf *k, const char *s)
{
    size_t n = s ? strlen(s) : 0;
    int w;

    if (k->overflow)
        return;
    /* Length-prefixed, so no byte inside a value can fake a boundary. */
    w = snprintf(k->p + k->len, k->cap - k->len, s ? "%zu:%s" : "-", n, s);
    if (w < 0 || (size_t)w >= k->cap - k->len)
        k->overflow = 1;
    else
        k->len += (size_t)w;
}

static enum MHD_Result key_arg(void *cls, enum MHD_ValueKind kind, const char *name,
                               const char *value)
{
    (void)kind;
    key_add(cls, name);
    key_add(cls, value);
    return MHD_YES;
}

/* The cache key of a GET: its path and every query argument in order.
 * Returns 0, or -1 when it does not fit (the answer is then not reused). */
static int cache_key(struct MHD_Connection *conn, const struct http_request *rq, char *out)
{
    struct key_buf k = { out, 0, RESP_CACHE_KEY_MAX, 0 };

    key_add(&k, rq->path);
    MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, key_arg, &k);
    return k.overflow ? -1 : 0;
}

static int cacheable(const struct http_request *rq, const struct router_route *rt)
{
    return (rt->handler == route_snapshots_latest || rt->handler == route_snapshots_list) &&
           (strcmp(rq->method, "GET") == 0 || strcmp(rq->method, "HEAD") == 0);
}

static struct resp_cache_slot *cache_find(struct worker *w, int route, const char *key,
                                          const struct catalog_version *ver, int64_t second)
{
    for (size_t i = 0; i < RESP_CACHE_SLOTS; i++) {
        struct resp_cache_slot *c = &w->cache[i];
        if (c->route == route && c->second == second && c->ver.others == ver->others &&
            c->ver.own == ver->own && strcmp(c->key, key) == 0)
            return c;
    }
    return NULL;
}

/* Keep o's 200 JSON answer, turning o into text so what is kept and what is
 * sent are the same bytes. Any failure just means no reuse. */
static void cache_put(struct worker *w, int route, const char *key,
                      const struct catalog_version *ver, int64_t second, struct route_resp *o)
{
    struct resp_cache_slot *c = NULL;
    char *text, *copy;
    size_t len;

    if (o->status != 200 || o->json == NULL || o->n_headers != 0 ||
        (o->content_type != NULL && strcmp(o->content_type, ROUTE_JSON) != 0))
        return;
    if ((text = json_dumps(o->json, JSON_COMPACT)) == NULL)
        return;
    len = strlen(text);
    json_decref(o->json);
    o->json = NULL;
    o->text = text;
    o->text_len = len;
    if ((copy = malloc(len + 1)) == NULL)
        return;
    memcpy(copy, text, len + 1);
    /* The same key (an older version or second) is replaced in place. */
    for (size_t i = 0; i < RESP_CACHE_SLOTS && c == NULL; i++)
        if (w->cache[i].route == route && strcmp(w->cache[i].key, key) == 0)
            c = &w->cache[i];
    if (c == NULL)
        c = &w->cache[w->cache_next++ % RESP_CACHE_SLOTS];
    free(c->body);
    c->route = route;
    snprintf(c->key, sizeof(c->key), "%s", key);
    c->ver = *ver;
    c->second = second;
    c->body = copy;
    c->len = len;
}

static void request_finish(struct serve *sv, struct MHD_Connection *conn, struct http_request *rq,
                           const struct router_route *rt)
{
    char key[RESP_CACHE_KEY_MAX];
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
    int storeless = rt->handler == route_healthz || rt->handler == route_static;
    if (!storeless && (w = worker_get(sv, &e)) == NULL) {
        route_problem(&o, 503, "the store cannot be opened: %s", e.msg);
        goto send;
    }
    if (w != NULL &&
        snprintf(w->actor, sizeof(w->actor), "%s%s", sv->dev_mode ? "" : "token:",
                 rq->token_name ? rq->token_name : "anonymous") >= (int)sizeof(w->actor))
        (void)snprintf(w->actor, sizeof(w->actor), "token:?");
    r.env = &sv->env;
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
    r.token_name = rq->token_name;
    r.role_name = auth_role_name(rq->role);
    if (w != NULL && cacheable(rq, rt) && cache_key(conn, rq, key) == 0 &&
        catalog_version(store_catalog(w->store), &ver, &e) == 0) {
        const struct resp_cache_slot *c;
        reuse = 1;
        second = engine_now();
        if ((c = cache_find(w, rq->route, key, &ver, second)) != NULL &&
            (o.text = malloc(c->len + 1)) != NULL) {
            memcpy(o.text, c->body, c->len + 1);
            o.text_len = c->len;
            o.status = 200;
            metrics_op_observe(rt->op, 1, elapsed_ms(&rq->start) / 1e3);
            goto send;
        }
    }
    err_clear(&e);
    router_run(rt, &r, rq->token_name ? rq->token_name : "anonymous", body_sha, &o);
    if (reuse)
        cache_put(w, rq->route, key, &ver, second, &o);
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
    queue(conn, sv, rq, &o);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **req_cls)
{
    struct serve *sv = cls;
    struct http_request *rq = *req_cls;
    const struct router_route *rt = NULL;
    size_t n;

    if (*req_cls == &uri_refused)
        return MHD_NO;     /* already answered from the request line */
    if (rq == NULL) {
        if ((rq = request_begin(sv, conn, url, method, version)) == NULL)
            return MHD_NO;
        rq->at_head = 0;
        *req_cls = rq;
        atomic_fetch_add(&sv->inflight, 1);
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
        request_finish(sv, conn, rq, rt);
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
    struct serve *sv = cls;
    const char *q = strchr(uri, '?');
    const union MHD_ConnectionInfo *ci;
    size_t len = strlen(uri), args = 0, plen;
    char id[LOG_REQUEST_ID_MAX + 1], head[512], date[40], *body = NULL, *path;
    struct route_resp o;
    struct tm tm;
    time_t now = time(NULL);
    int status = 0, n;

    if (len > HTTP_URI_MAX) {
        status = 414;
    } else if (q != NULL) {
        for (args = 1; (q = strchr(q + 1, '&')) != NULL; args++)
            ;
        if (args > HTTP_QUERY_ARGS_MAX)
            status = 400;
    }
    if (status == 0)
        return NULL;
    log_new_request_id(id, sizeof(id));
    route_resp_init(&o);
    if (status == 414)
        route_problem(&o, 414, "the request target is %zu bytes; the limit is %d", len,
                      HTTP_URI_MAX);
    else
        route_problem(&o, 400, "the query has %zu arguments; the limit is %d", args,
                      HTTP_QUERY_ARGS_MAX);
    ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (gmtime_r(&now, &tm) == NULL ||
        strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm) == 0)
        date[0] = '\0';
    if (ci != NULL && !sv->tls && o.json != NULL && date[0] != '\0' &&
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
    metrics_http_count(sv->n_labels, status);
    return &uri_refused;
}

/* libmicrohttpd's accept policy: no new connection once draining began
 * (it is closed at once; kept-alive ones finish what they started). */
static enum MHD_Result on_accept(void *cls, const struct sockaddr *addr, socklen_t addrlen)
{
    const struct serve *sv = cls;

    (void)addr;
    (void)addrlen;
    return atomic_load(&sv->stopping) ? MHD_NO : MHD_YES;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct serve *sv = cls;
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
    atomic_fetch_sub(&sv->inflight, 1);
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

/* ---- start-up ---- */

static int render_metrics(struct prom_text *f)
{
    int rc = metrics_render(f);

    if (schedule_render_metrics(f) != 0 || drill_schedule_render_metrics(f) != 0 ||
        alerts_render_metrics(f) != 0 ||
        offsite_render_metrics(f) != 0)
        rc = -1;
    return rc;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: statesnap serve [--listen ADDR:PORT] [--tls-cert FILE --tls-key FILE]\n"
               "                       [--port-file PATH] [--static-dir DIR]\n"
               "Serves the HTTP API (/api/v1), the dashboard (/), /healthz, /readyz and /metrics.\n"
               "ADDR:PORT defaults to the config's listen (127.0.0.1:8080); port 0 picks a free\n"
               "port, written to --port-file once listening. Stops on SIGTERM or SIGINT after\n"
               "finishing the requests in flight.\n");
}

/* Split "host:port" / "[v6]:port" into host and port. Returns 0 or -1. */
static int split_listen(const char *listen, char *host, size_t hlen, char *port, size_t plen)
{
    const char *colon;
    size_t n;

    if (listen[0] == '[') {
        const char *close_br = strchr(listen, ']');
        if (close_br == NULL || close_br[1] != ':')
            return -1;
        n = (size_t)(close_br - listen - 1);
        colon = close_br + 1;
        listen++;
    } else {
        if ((colon = strrchr(listen, ':')) == NULL)
            return -1;
        n = (size_t)(colon - listen);
    }
    if (n == 0 || n >= hlen || snprintf(port, plen, "%s", colon + 1) >= (int)plen)
        return -1;
    memcpy(host, listen, n);
    host[n] = '\0';
    if (port[0] == '\0' || strspn(port, "0123456789") != strlen(port) || strlen(port) > 5 ||
        strtol(port, NULL, 10) > 65535)
        return -1;
    return 0;
}

static int is_loopback_addr(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET)
        return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127;
    if (sa->sa_family == AF_INET6)
        return IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)sa)->sin6_addr);
    return 0;
}

/* Find the dashboard: --static-dir, else ./static, else next to the binary
 * (build/rel/statesnap -> ../../static). Leaves dir empty when none exists. */
static void find_static(char *dir, size_t len, const char *given)
{
    char exe[PATH_MAX], cand[PATH_MAX];
    struct stat st;
    ssize_t n;
    const char *ups[] = { "/../static", "/../../static" };
    size_t i;

    dir[0] = '\0';
    if (given != NULL) {
        (void)snprintf(dir, len, "%s", given);
        return;
    }
    if (stat("static", &st) == 0 && S_ISDIR(st.st_mode)) {
        (void)snprintf(dir, len, "static");
        return;
    }
    if ((n = readlink("/proc/self/exe", exe, sizeof(exe) - 1)) <= 0)
        return;
    exe[n] = '\0';
    if (strrchr(exe, '/') != NULL)
        *strrchr(exe, '/') = '\0';
    for (i = 0; i < sizeof(ups) / sizeof(ups[0]); i++) {
        if (snprintf(cand, sizeof(cand), "%s%s", exe, ups[i]) < (int)sizeof(cand) &&
            stat(cand, &st) == 0 && S_ISDIR(st.st_mode)) {
            (void)snprintf(dir, len, "%s", cand);
            return;
        }
    }
}

static int write_port_file(const char *path, unsigned port)
{
    char buf[16];
    struct err e = { 0 };
    int n = snprintf(buf, sizeof(buf), "%u\n", port);

    if (fs_write_atomic(path, buf, (size_t)n, 0644, &e) != 0) {
        fprintf(stderr, "statesnap: cannot write the port file: %s\n", e.msg);
        return -1;
    }
    return 0;
}

struct serve_args {
    const char *listen, *tls_cert, *tls_key, *port_file, *static_dir;
};

/* Parse serve's options. Returns 0, 1 for --help, or -1 (message printed). */
static int parse_args(int argc, char **argv, struct serve_args *a)
{
    static const struct {
        const char *flag;
        size_t off;
    } opts[] = {
        { "--listen", offsetof(struct serve_args, listen) },
        { "--tls-cert", offsetof(struct serve_args, tls_cert) },
        { "--tls-key", offsetof(struct serve_args, tls_key) },
        { "--port-file", offsetof(struct serve_args, port_file) },
        { "--static-dir", offsetof(struct serve_args, static_dir) },
    };
    int i;
    size_t k;

    for (i = 0; i < argc; i++) {
        const char *arg = argv[i], *val = NULL;
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0)
            return 1;
        for (k = 0; k < sizeof(opts) / sizeof(opts[0]); k++) {
            size_t fl = strlen(opts[k].flag);
            if (strncmp(arg, opts[k].flag, fl) != 0)
                continue;
            if (arg[fl] == '=')
                val = arg + fl + 1;
            else if (arg[fl] == '\0' && i + 1 < argc)
                val = argv[++i];
            else if (arg[fl] == '\0')
                val = "";
            else
                continue;
            break;
        }
        if (k == sizeof(opts) / sizeof(opts[0])) {
            fprintf(stderr, "statesnap serve: unknown option %s (see --help)\n", arg);
            return -1;
        }
        if (*val == '\0') {
            fprintf(stderr, "statesnap serve: %s needs a value\n", opts[k].flag);
            return -1;
        }
        *(const char **)((char *)a + opts[k].off) = val;
    }
    return 0;
}

/* glibc keeps a cache of freed chunks in every thread (tcache) that
 * malloc_trim cannot reach. With eight worker threads answering a mix of
 * requests, those caches fill bin by bin for many minutes, and the server's
 * RSS creeps up by megabytes that no one can use. Its tunables are read only
 * at startup, so `serve` starts itself once more with the cache off (the
 * arenas behind it stay; requests hardly allocate on the hot path). An
 * operator's own GLIBC_TUNABLES setting for it wins. */
void serve_tune_malloc(char **argv)
{
    static const char setting[] = "glibc.malloc.tcache_count=0";
    const char *cur = getenv("GLIBC_TUNABLES");
    char *saved = cur ? strdup(cur) : NULL, *want;

    if (cur != NULL && (saved == NULL || strstr(cur, "glibc.malloc.tcache_count") != NULL)) {
        free(saved);
        return;
    }
    if (asprintf(&want, "%s%s%s", cur ? cur : "", cur && *cur ? ":" : "", setting) < 0) {
        free(saved);
        return;
    }
    if (setenv("GLIBC_TUNABLES", want, 1) == 0) {
        execv("/proc/self/exe", argv);
        /* Could not run again: go on as we are, with the environment as it was. */
        if (saved != NULL)
            (void)setenv("GLIBC_TUNABLES", saved, 1);
        else
            (void)unsetenv("GLIBC_TUNABLES");
    }
    free(want);
    free(saved);
}

int serve_main(struct config *cfg, int argc, char **argv)
{
    static struct serve sv;
    struct serve_args a = { 0 };
    struct MHD_Daemon *d = NULL;
    const union MHD_DaemonInfo *info;
    struct addrinfo hints = { 0 }, *ai = NULL;
    struct err e = { 0 };
    struct store *boot = NULL;
    char host[256], port[8];
    char *tls_key = NULL, *tls_cert = NULL;
    size_t tls_key_len = 0, tls_cert_len = 0, i;
    const struct router_route *routes;
    unsigned int flags;
    unsigned int conn_limit = HTTP_CONNECTION_LIMIT;
    sigset_t sigs;
    int rc, sig, ret = 1, key_made = 0;
    long waited_ms = 0;

    if ((rc = parse_args(argc, argv, &a)) != 0) {
        usage(rc > 0 ? stdout : stderr);
        return rc > 0 ? 0 : 2;
    }
    if ((a.listen && config_set_string(&cfg->listen, a.listen, &e) != 0) ||
        (a.tls_cert && config_set_string(&cfg->tls_cert, a.tls_cert, &e) != 0) ||
        (a.tls_key && config_set_string(&cfg->tls_key, a.tls_key, &e) != 0)) {
        fprintf(stderr, "statesnap serve: %s\n", e.msg);
        return 2;
    }
    config_sync_engine(cfg);
    if ((cfg->tls_cert == NULL) != (cfg->tls_key == NULL)) {
        fprintf(stderr, "statesnap serve: TLS needs both tls_cert and tls_key\n");
        return 2;
    }
    if (cfg->listen == NULL ||
        split_listen(cfg->listen, host, sizeof(host), port, sizeof(port)) != 0) {
        fprintf(stderr, "statesnap serve: listen must be HOST:PORT or [IPv6]:PORT, got \"%s\"\n",
                cfg->listen ? cfg->listen : "");
        return 2;
    }
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    if ((rc = getaddrinfo(host, port, &hints, &ai)) != 0) {
        fprintf(stderr, "statesnap serve: cannot resolve %s: %s\n", host, gai_strerror(rc));
        return 2;
    }
    memset(&sv, 0, sizeof(sv));
    sv.cfg = cfg;
    sv.dev_mode = cfg->n_tokens == 0;
    for (i = 0; host[i] != '\0' && i < sizeof(sv.bind_host) - 1; i++)
        sv.bind_host[i] = (char)tolower((unsigned char)host[i]);
    sv.bind_wildcard = strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0;
    sv.tls = cfg->tls_cert != NULL;
    /* Known now unless the kernel picks it (port 0): then no client can
     * know it before the port file is written below. */
    sv.port = (unsigned)strtoul(port, NULL, 10);
    if (sv.dev_mode && !(auth_host_is_loopback(host) && is_loopback_addr(ai->ai_addr))) {
        fprintf(stderr, "statesnap serve: no tokens are configured, so the server only listens "
                        "on loopback (127.0.0.1, ::1, localhost); add tokens to listen on %s\n",
                host);
        freeaddrinfo(ai);
        return 2;
    }
    /* Open the store once up front: a crashed operation is finished now
     * rather than on some request, audit.jsonl catches up with the catalog,
     * and a bad store path fails the start instead of every request. A
     * missing store is made only when this server could create a snapshot
     * (its state root exists); else a typo would serve an empty store. */
    if (store_open(&boot, &cfg->engine, cfg->root != NULL && access(cfg->root, F_OK) == 0, &e) != 0) {
        fprintf(stderr, "statesnap serve: %s\n", e.msg);
        goto out;
    }
    store_close(boot);
    if (cfg->tls_cert != NULL &&
        (fs_read_file(cfg->tls_cert, HTTP_TLS_FILE_MAX, &tls_cert, &tls_cert_len, &e) != 0 ||
         fs_read_file(cfg->tls_key, HTTP_TLS_FILE_MAX, &tls_key, &tls_key_len, &e) != 0)) {
        fprintf(stderr, "statesnap serve: TLS: %s\n", e.msg);
        goto out;
    }
    /* One label per template: GET and POST /api/v1/snapshots share a series. */
    routes = router_routes(&sv.n_routes);
    for (i = 0; i < sv.n_routes && i < METRICS_ROUTES_MAX; i++) {
        size_t j;
        for (j = 0; j < sv.n_labels; j++)
            if (strcmp(sv.route_labels[j], routes[i].pattern) == 0)
                break;
        if (j == sv.n_labels)
            sv.route_labels[sv.n_labels++] = routes[i].pattern;
        sv.route_label[i] = j;
    }
    if (sv.n_routes > METRICS_ROUTES_MAX || metrics_init(sv.route_labels, sv.n_labels) != 0) {
        fprintf(stderr, "statesnap serve: too many routes for the metrics table\n");
        goto out;
    }
    find_static(sv.static_dir, sizeof(sv.static_dir), a.static_dir);
    sv.env.readyz_max_age = cfg->readyz_max_age;
    sv.env.static_dir = sv.static_dir[0] ? sv.static_dir : NULL;
    sv.env.render_metrics = render_metrics;
    sv.env.schedule_status = schedule_status;
    sv.env.drill_status = drill_schedule_status;
    sv.env.readyz_max_drill_age = cfg->readyz_max_drill_age;
    sv.env.offsite_status = offsite_thread_status;
    sv.env.offsite_sync_now = offsite_sync_now;
    sv.env.offsite_fetch_missing = offsite_fetch_missing;
    if (pthread_key_create(&worker_key, worker_free) != 0) {
        fprintf(stderr, "statesnap serve: cannot create thread state\n");
        goto out;
    }
    key_made = 1;

    /* Worker threads inherit this mask, so only the sigwait below sees the signals. */
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    /* Request lines gathered and written by their own thread (after the
     * mask, so SIGTERM still reaches sigwait below). */
    if (log_buffer_start() != 0)
        log_event("warn", "cannot start the log writer; request lines are written one by one",
                  NULL);
    signal(SIGPIPE, SIG_IGN);

    /* Both start threads, so after the mask; alerts first, because the
     * scheduler and every request worker copy cfg->engine with its hook. */
    if (alerts_start(cfg, ALERTS_LOG_SUCCESS, &e) != 0) {
        fprintf(stderr, "statesnap serve: %s\n", e.msg);
        ret = e.code == ERR_INVALID ? 2 : 1;
        goto out;
    }
    if (offsite_start(cfg, &e) != 0 || schedule_start(cfg, &e) != 0 ||
        drill_schedule_start(cfg, &e) != 0) {
        fprintf(stderr, "statesnap serve: %s\n", e.msg);
        goto out;
    }

    /* Each of the worker threads would get its own malloc arena, each
     * holding freed memory: two arenas keep the RSS flat under churn. */
    (void)mallopt(M_ARENA_MAX, 2);
    /* A fixed mmap threshold: glibc otherwise raises it after each large
     * free (zlib's deflate state, libzip buffers), and those buffers then
     * fragment the heap instead of going back to the kernel when freed. */
    (void)mallopt(M_MMAP_THRESHOLD, 128 * 1024);
    /* Idle clients must not crowd out a fresh one: allow many connections
     * (epoll makes an idle one cheap), within what the fd limit permits. */
    {
        struct rlimit rl;
        if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
            rl.rlim_cur = rl.rlim_max;
            (void)setrlimit(RLIMIT_NOFILE, &rl);
        }
        if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
            rl.rlim_cur < (rlim_t)HTTP_CONNECTION_LIMIT + HTTP_FD_RESERVE)
            conn_limit = rl.rlim_cur > 2 * HTTP_FD_RESERVE ? (unsigned)(rl.rlim_cur - HTTP_FD_RESERVE)
                                                           : (unsigned)(rl.rlim_cur / 2);
    }
    MHD_set_panic_func(on_mhd_panic, NULL);
    /* poll, not epoll: libmicrohttpd 0.9.75's epoll mode reads a connection
     * once per edge, so a client that sends half a request and closes in
     * the same breath stays in CLOSE_WAIT until its timeout; a burst of
     * those filled every connection slot. poll is level-triggered and
     * notices the close at once. */
    flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ITC | MHD_USE_ERROR_LOG;
    if (ai->ai_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    if (tls_cert != NULL)
        flags |= MHD_USE_TLS;
    {
        struct MHD_OptionItem opts[] = {
            /* The logger first, so no message goes to libmicrohttpd's own. */
            { MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)on_mhd_log, NULL },
            { MHD_OPTION_SOCK_ADDR, 0, ai->ai_addr },
            { MHD_OPTION_THREAD_POOL_SIZE, HTTP_THREADS, NULL },
            { MHD_OPTION_CONNECTION_LIMIT, (intptr_t)conn_limit, NULL },
            { MHD_OPTION_UNESCAPE_CALLBACK, (intptr_t)unescape_no_nul, NULL },
            { MHD_OPTION_CONNECTION_TIMEOUT, HTTP_IDLE_TIMEOUT, NULL },
            { MHD_OPTION_PER_IP_CONNECTION_LIMIT, (intptr_t)cfg->max_connections_per_ip, NULL },
            { MHD_OPTION_URI_LOG_CALLBACK, (intptr_t)on_uri, &sv },
            { MHD_OPTION_CONNECTION_MEMORY_LIMIT, (intptr_t)HTTP_CONNECTION_MEMORY, NULL },
            { MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed, &sv },
            { MHD_OPTION_LISTENING_ADDRESS_REUSE, 1, NULL },
            /* TLS options last: they are cut off when TLS is off. */
            { MHD_OPTION_HTTPS_MEM_CERT, 0, tls_cert },
            { MHD_OPTION_HTTPS_MEM_KEY, 0, tls_key },
            { MHD_OPTION_END, 0, NULL },
        };
        if (tls_cert == NULL)
            opts[sizeof(opts) / sizeof(opts[0]) - 3].option = MHD_OPTION_END;
        d = MHD_start_daemon(flags, 0, on_accept, &sv, on_request, &sv, MHD_OPTION_ARRAY, opts,
                             MHD_OPTION_END);
    }
    if (d == NULL) {
        fprintf(stderr, "statesnap serve: cannot listen on %s (in use, or no permission)\n",
                cfg->listen);
        goto out;
    }
    info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    if (info == NULL)
        goto out;
    sv.port = info->port;
    if (a.port_file && write_port_file(a.port_file, info->port) != 0)
        goto out;
    if (sv.dev_mode)
        log_event("warn", "no tokens configured: dev mode, every request is admin, loopback only",
                  NULL);
    log_event("info", "listening",
              json_pack("{s:s, s:i, s:b, s:s?, s:s}", "host", host, "port", (int)info->port, "tls",
                        tls_cert != NULL, "static_dir", sv.env.static_dir, "version",
                        STATESNAP_VERSION));

    for (;;) {
        if (sigwait(&sigs, &sig) == 0)
            break;
    }
    log_event("info", "shutting down: draining requests in flight",
              json_pack("{s:s, s:I}", "signal", sig == SIGTERM ? "SIGTERM" : "SIGINT", "in_flight",
                        (json_int_t)atomic_load(&sv.inflight)));
    /* From here on_accept turns new connections away. (Not
     * MHD_quiesce_daemon: in 0.9.75 it races the epoll worker threads, which
     * take the listening socket out of their epoll sets themselves when they
     * see the flag it sets, and it then panics when its own removal fails.) */
    atomic_store(&sv.stopping, 1);
    /* No new scheduled run from here; one in progress finishes (a create is
     * all-or-nothing either way, so waiting only avoids wasted work). */
    schedule_stop();
    drill_schedule_stop();
    /* A request may start on a kept-alive connection just after the count
     * read zero, so zero must hold for a little while before stopping. */
    for (int quiet = 0; quiet < 3 && waited_ms < HTTP_DRAIN_SECONDS * 1000L; waited_ms += 20) {
        struct timespec ts = { 0, 20 * 1000000L };
        quiet = atomic_load(&sv.inflight) == 0 ? quiet + 1 : 0;
        nanosleep(&ts, NULL);
    }
    ret = 0;
out:
    schedule_stop();
    drill_schedule_stop();
    offsite_stop();
    if (d != NULL)
        MHD_stop_daemon(d);
    prom_pool_drain();   /* every response is gone with the daemon */
    /* The last requests may have queued alerts (a restore just before SIGTERM). */
    if (alerts_drain(ALERTS_SHUTDOWN_DRAIN_MS) != 0)
        log_event("warn", "alerts still being sent at shutdown; giving up on them", NULL);
    alerts_stop();
    if (ret == 0)
        log_event("info", "stopped", NULL);
    log_buffer_stop();
    if (key_made)
        pthread_key_delete(worker_key);
    if (tls_key != NULL)
        OPENSSL_cleanse(tls_key, tls_key_len);
    free(tls_key);
    free(tls_cert);
    freeaddrinfo(ai);
    return ret;
}
