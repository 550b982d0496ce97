/* admit.c - admission: what a request must be before any handler runs.
 * The request target's size, the head's framing (RFC 9112: one Host, no
 * smuggling-prone Content-Length/Transfer-Encoding mixes), the Host name
 * (DNS rebinding), the origin of a state-changing request, the bearer token
 * and its role, the declared body size and the Content-Type; and whether an
 * early refusal should read the body away first. Each check decides; the
 * daemon (daemon.c) sends the answer. */
#include "admit.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth.h"

/* Percent-decoding for the path and query, as libmicrohttpd's own, except
 * that %00 stays as it is: a NUL would cut "src%00../x" to "src" and send a
 * DELETE to the wrong snapshot. Left encoded, the '%' fails the name check. */
size_t admit_unescape(void *cls, struct MHD_Connection *c, char *s)
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

int admit_target(const char *uri, struct route_resp *o)
{
    const char *q = strchr(uri, '?');
    size_t len = strlen(uri), args = 0;

    if (len > HTTP_URI_MAX) {
        route_problem(o, 414, "the request target is %zu bytes; the limit is %d", len,
                      HTTP_URI_MAX);
        return 414;
    }
    if (q != NULL) {
        for (args = 1; (q = strchr(q + 1, '&')) != NULL; args++)
            ;
        if (args > HTTP_QUERY_ARGS_MAX) {
            route_problem(o, 400, "the query has %zu arguments; the limit is %d", args,
                          HTTP_QUERY_ARGS_MAX);
            return 400;
        }
    }
    return 0;
}


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
               "admit_framing's 431 detail names these limits");

/* Check the head of a request as RFC 9112 asks: one Host on HTTP/1.1,
 * field names without whitespace, no Content-Length beside a
 * Transfer-Encoding, no transfer coding but chunked; and its size. Returns
 * 0, or the status to refuse with (400, 431) and the reason in why. */
int admit_framing(struct MHD_Connection *conn, const char *version, const char **why)
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
int admit_host(const struct admit_policy *p, const char *value)
{
    char h[256], eh[256];
    unsigned port, eport;

    if (parse_host(value, h, sizeof(h), &port) != 0)
        return -1;
    if ((port == 0 || port == p->port) &&
        (auth_host_is_loopback(h) || (p->bind_wildcard ? is_ip_literal(h)
                                                        : strcmp(h, p->bind_host) == 0)))
        return 1;
    for (size_t i = 0; i < p->cfg->n_allowed_hosts; i++)
        if (parse_host(p->cfg->allowed_hosts[i], eh, sizeof(eh), &eport) == 0 &&
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
static int cross_origin(const struct admit_policy *p, struct MHD_Connection *conn)
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
           authority_norm(host, p->tls ? 443 : 80, b, sizeof(b)) != 0 || strcmp(a, b) != 0;
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

/* Does this request still carry a body worth reading before an early
 * answer? Framing that is not trusted (rq->close) never is. */
int admit_body_to_drain(struct MHD_Connection *conn, const struct http_request *rq)
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

int admit_route(const struct admit_policy *p, struct MHD_Connection *conn,
                struct http_request *rq, const struct router_route *rt, struct route_resp *o)
{
    const char *cl = lookup(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    const char *ct = lookup(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);

    /* A page on another site may make the browser send a request here (a
     * form, sendBeacon, a no-cors fetch) but never reads the answer: nothing
     * that changes state runs for it, whatever the token or mode. */
    if (strcmp(rq->method, "GET") != 0 && strcmp(rq->method, "HEAD") != 0 &&
        cross_origin(p, conn)) {
        route_problem(o, 403, "%s", "a request from another origin (Origin or "
                                    "Sec-Fetch-Site) may not change anything here");
        return -1;
    }
    if (rt->role != ROLE_NONE &&
        !((rt->flags & ROUTER_METRICS_SCRAPE) && p->cfg->metrics_public)) {
        enum token_role role = ROLE_NONE;
        enum auth_result ar = AUTH_OK;
        if (p->dev_mode) {
            role = ROLE_ADMIN;
            rq->token_name = "dev";
        } else {
            ar = auth_check(p->cfg, lookup(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION),
                            &role, &rq->token_name);
        }
        if (ar != AUTH_OK) {
            route_problem(o, 401, ar == AUTH_MISSING
                                      ? "this endpoint needs an Authorization: Bearer token"
                                      : "the bearer token is not valid");
            (void)route_header_add(o, "WWW-Authenticate",
                                   ar == AUTH_MISSING
                                       ? "Bearer realm=\"statesnap\""
                                       : "Bearer realm=\"statesnap\", error=\"invalid_token\"");
            return -1;
        }
        rq->role = role;
        if (role < rt->role) {
            route_problem(o, 403, "token \"%s\" has the %s role; this needs %s", rq->token_name,
                          auth_role_name(role), auth_role_name(rt->role));
            return -1;
        }
    }
    rq->limit = rt->body == ROUTER_BODY_ZIP ? p->cfg->max_upload_bytes : p->cfg->max_body_bytes;
    if (cl != NULL) {
        char *end;
        unsigned long long n;
        errno = 0;
        n = strtoull(cl, &end, 10);
        if (errno == 0 && *end == '\0' && n > rq->limit) {
            route_problem(o, 413, "the body is %llu bytes; the limit is %llu", n,
                          (unsigned long long)rq->limit);
            return -1;
        }
    }
    /* Also without a body: a form, sendBeacon or a no-cors fetch from another
     * site can only send the CORS-safelisted types, so this alone keeps them
     * off every JSON route (prune with an empty body used to run). */
    if (rt->body == ROUTER_BODY_JSON && !media_type_is(ct, "application/json")) {
        route_problem(o, 415, "%s", "send Content-Type: application/json (also with an "
                                    "empty body)");
        return -1;
    }
    if (rt->body == ROUTER_BODY_ZIP && !media_type_is(ct, "application/zip")) {
        route_problem(o, 415, "%s", "upload the archive as application/zip");
        return -1;
    }
    return 0;
}
