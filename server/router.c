/* router.c - the route table, matching, and the idempotency/metrics wrapper. */
#include "router.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#include "../db/idempotency.h"
#include "../common/fsutil.h"
#include "../engine/store.h"
#include "log.h"

/* Literal paths come before {name} patterns so /snapshots/latest and
 * /snapshots/import win over a snapshot of that name. */
static const struct router_route routes[] = {
    /* method, pattern, role, body, flags,
     *     operation metric, handler */
    { "GET", "/healthz", ROLE_NONE, ROUTER_BODY_NONE, ROUTER_PROBE | ROUTER_STORELESS,
      METRICS_OP_NONE, route_healthz },
    { "GET", "/readyz", ROLE_NONE, ROUTER_BODY_NONE, ROUTER_PROBE,
      METRICS_OP_NONE, route_readyz },
    { "GET", "/metrics", ROLE_READ, ROUTER_BODY_NONE, ROUTER_METRICS_SCRAPE,
      METRICS_OP_NONE, route_metrics },
    { "GET", "/", ROLE_NONE, ROUTER_BODY_NONE, ROUTER_STORELESS,
      METRICS_OP_NONE, route_static },
    { "GET", "/static/*", ROLE_NONE, ROUTER_BODY_NONE, ROUTER_STORELESS,
      METRICS_OP_NONE, route_static },
    { "POST", "/api/v1/snapshots", ROLE_WRITE, ROUTER_BODY_JSON, ROUTER_IDEMPOTENT,
      METRICS_OP_CREATE, route_snapshots_create },
    { "GET", "/api/v1/snapshots", ROLE_READ, ROUTER_BODY_NONE, ROUTER_CACHEABLE,
      METRICS_OP_LIST, route_snapshots_list },
    { "GET", "/api/v1/snapshots/latest", ROLE_READ, ROUTER_BODY_NONE, ROUTER_CACHEABLE,
      METRICS_OP_NONE, route_snapshots_latest },
    { "POST", "/api/v1/snapshots/import", ROLE_ADMIN, ROUTER_BODY_ZIP, ROUTER_IDEMPOTENT,
      METRICS_OP_IMPORT, route_snapshots_import },
    { "GET", "/api/v1/snapshots/{name}", ROLE_READ, ROUTER_BODY_NONE, 0,
      METRICS_OP_SHOW, route_snapshots_show },
    { "PATCH", "/api/v1/snapshots/{name}", ROLE_WRITE, ROUTER_BODY_JSON, 0,
      METRICS_OP_UPDATE, route_snapshots_update },
    { "DELETE", "/api/v1/snapshots/{name}", ROLE_ADMIN, ROUTER_BODY_NONE, 0,
      METRICS_OP_DELETE, route_snapshots_delete },
    { "GET", "/api/v1/snapshots/{name}/archive", ROLE_READ, ROUTER_BODY_NONE, 0,
      METRICS_OP_EXPORT, route_snapshots_archive },
    { "POST", "/api/v1/snapshots/{name}/verify", ROLE_READ, ROUTER_BODY_JSON, 0,
      METRICS_OP_VERIFY, route_snapshots_verify },
    { "POST", "/api/v1/snapshots/{name}/drill", ROLE_WRITE, ROUTER_BODY_JSON, 0,
      METRICS_OP_DRILL, route_drill_run },
    { "POST", "/api/v1/snapshots/{name}/restore/preview", ROLE_ADMIN, ROUTER_BODY_JSON, 0,
      METRICS_OP_RESTORE_PREVIEW, route_restore_preview },
    { "POST", "/api/v1/snapshots/{name}/restore", ROLE_ADMIN, ROUTER_BODY_JSON, ROUTER_IDEMPOTENT,
      METRICS_OP_RESTORE, route_restore_apply },
    { "GET", "/api/v1/diff", ROLE_READ, ROUTER_BODY_NONE, 0,
      METRICS_OP_DIFF, route_diff },
    { "POST", "/api/v1/prune", ROLE_ADMIN, ROUTER_BODY_JSON, 0,
      METRICS_OP_PRUNE, route_prune },
    { "GET", "/api/v1/audit", ROLE_READ, ROUTER_BODY_NONE, 0,
      METRICS_OP_AUDIT, route_audit_list },
    { "GET", "/api/v1/audit/verify", ROLE_READ, ROUTER_BODY_NONE, 0,
      METRICS_OP_AUDIT_VERIFY, route_audit_verify },
    { "GET", "/api/v1/drills", ROLE_READ, ROUTER_BODY_NONE, 0,
      METRICS_OP_NONE, route_drills },
    { "GET", "/api/v1/schedule", ROLE_READ, ROUTER_BODY_NONE, 0,
      METRICS_OP_NONE, route_schedule },
    { "GET", "/api/v1/offsite", ROLE_READ, ROUTER_BODY_NONE, 0,
      METRICS_OP_NONE, route_offsite_status },
    { "POST", "/api/v1/offsite/sync", ROLE_ADMIN, ROUTER_BODY_JSON, 0,
      METRICS_OP_NONE, route_offsite_sync },
};

#define N_ROUTES (sizeof(routes) / sizeof(routes[0]))

const struct router_route *router_routes(size_t *n)
{
    *n = N_ROUTES;
    return routes;
}

/* Match path against pattern. Returns 1 and fills name/rest, or 0. */
static int pattern_match(const char *pat, const char *path, char *name, size_t name_len,
                         const char **rest)
{
    while (*pat != '\0') {
        if (strncmp(pat, "{name}", 6) == 0) {
            size_t n = strcspn(path, "/");
            if (n == 0)
                return 0;
            if (n < name_len) {
                memcpy(name, path, n);
                name[n] = '\0';
            } else {
                name[0] = '\0';
            }
            path += n;
            pat += 6;
            continue;
        }
        if (pat[0] == '*' && pat[1] == '\0') {
            *rest = path;
            return 1;
        }
        if (*pat != *path)
            return 0;
        pat++;
        path++;
    }
    return *path == '\0';
}

static int allow_add(char *allow, size_t len, const char *method)
{
    size_t used = strlen(allow);

    if (strstr(allow, method) != NULL)
        return 0;
    if (snprintf(allow + used, len - used, "%s%s", used ? ", " : "", method) >=
        (int)(len - used))
        return -1;
    return 0;
}

int router_match(const char *method, const char *path, char *name, size_t name_len,
                 const char **rest, char *allow, size_t allow_len)
{
    const char *m = strcmp(method, "HEAD") == 0 ? "GET" : method;
    int seen = 0;
    size_t i;

    allow[0] = '\0';
    for (i = 0; i < N_ROUTES; i++) {
        const char *r = NULL;
        if (!pattern_match(routes[i].pattern, path, name, name_len, &r))
            continue;
        if (strcmp(routes[i].method, m) == 0) {
            *rest = r;
            return (int)i;
        }
        seen = 1;
        (void)allow_add(allow, allow_len, routes[i].method);
        if (strcmp(routes[i].method, "GET") == 0)
            (void)allow_add(allow, allow_len, "HEAD");
    }
    return seen ? ROUTER_BAD_METHOD : ROUTER_NOT_FOUND;
}

/* ---- Idempotency-Key ---- */

/* Keys whose first request is still running, so a concurrent retry cannot
 * run the operation a second time. A short list: one entry per in-flight
 * keyed POST. */
struct inflight {
    struct inflight *next;
    char key[];
};

static pthread_mutex_t inflight_mu = PTHREAD_MUTEX_INITIALIZER;
static struct inflight *inflight_head;

/* Claim key. Returns 1 when claimed, 0 when another request holds it, -1 on OOM. */
static int inflight_claim(const char *key)
{
    struct inflight *it;
    int ret = 1;

    pthread_mutex_lock(&inflight_mu);
    for (it = inflight_head; it != NULL; it = it->next)
        if (strcmp(it->key, key) == 0)
            break;
    if (it != NULL) {
        ret = 0;
    } else if ((it = malloc(sizeof(*it) + strlen(key) + 1)) == NULL) {
        ret = -1;
    } else {
        strcpy(it->key, key);
        it->next = inflight_head;
        inflight_head = it;
    }
    pthread_mutex_unlock(&inflight_mu);
    return ret;
}

static void inflight_release(const char *key)
{
    struct inflight **pp, *it;

    pthread_mutex_lock(&inflight_mu);
    for (pp = &inflight_head; (it = *pp) != NULL; pp = &it->next) {
        if (strcmp(it->key, key) == 0) {
            *pp = it->next;
            free(it);
            break;
        }
    }
    pthread_mutex_unlock(&inflight_mu);
}

static int key_ok(const char *k)
{
    size_t n = strlen(k), i;

    if (n == 0 || n > IDEMPOTENCY_KEY_MAX)
        return 0;
    for (i = 0; i < n; i++)
        if ((unsigned char)k[i] < 0x21 || (unsigned char)k[i] > 0x7e)
            return 0;
    return 1;
}

/* Outcomes worth replaying: the operation ran and its answer will not change
 * by retrying. Validation failures (400, 413, 415) never ran it; 423 and 5xx
 * are transient, so a retry must run it again. */
static int storable(int status)
{
    return (status >= 200 && status < 300) || status == 404 || status == 409 || status == 422;
}

/* hex SHA-256 of "METHOD\nPATH\nBODYSHA" into out[65]. */
static int request_hash(const struct route_req *rq, const char *body_sha256, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok;

    ok = ctx != NULL && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
         EVP_DigestUpdate(ctx, rq->method, strlen(rq->method)) == 1 &&
         EVP_DigestUpdate(ctx, "\n", 1) == 1 &&
         EVP_DigestUpdate(ctx, rq->path, strlen(rq->path)) == 1 &&
         EVP_DigestUpdate(ctx, "\n", 1) == 1 &&
         EVP_DigestUpdate(ctx, body_sha256, strlen(body_sha256)) == 1 &&
         EVP_DigestFinal_ex(ctx, md, &mdlen) == 1 && mdlen == 32;
    EVP_MD_CTX_free(ctx);
    if (!ok)
        return -1;
    fs_hex(md, 32, out);
    return 0;
}

static double now_seconds(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void run_handler(const struct router_route *rt, const struct route_req *rq,
                        struct route_resp *o)
{
    double t0 = now_seconds();

    rt->handler(rq, o);
    metrics_op_observe(rt->op, o->status < 400, now_seconds() - t0);
}

/* Turn o's JSON body into text, so what is stored and what is sent are the
 * same bytes. Returns 0 or -1. */
static int freeze_body(struct route_resp *o)
{
    char *text;

    if (o->json == NULL)
        return -1;
    if ((text = json_dumps(o->json, JSON_COMPACT)) == NULL)
        return -1;
    json_decref(o->json);
    o->json = NULL;
    o->text = text;
    o->text_len = strlen(text);
    return 0;
}

void router_run(const struct router_route *rt, const struct route_req *rq, const char *principal,
                const char *body_sha256, struct route_resp *o)
{
    struct idempotency_record rec = { 0 };
    struct err e = { 0 };
    const char *key = (rt->flags & ROUTER_IDEMPOTENT) ? rq->header(rq, "Idempotency-Key") : NULL;
    char scoped[IDEMPOTENCY_KEY_MAX + 200], hash[65];
    int found, claimed;

    if (key == NULL) {
        run_handler(rt, rq, o);
        return;
    }
    if (!key_ok(key)) {
        route_problem(o, 400, "Idempotency-Key must be 1..%d visible ASCII characters",
                      IDEMPOTENCY_KEY_MAX);
        return;
    }
    /* Keys are per token, so two clients cannot collide or read each other's answers. */
    if (snprintf(scoped, sizeof(scoped), "%s:%s", principal, key) >= (int)sizeof(scoped) ||
        request_hash(rq, body_sha256, hash) != 0) {
        route_problem(o, 500, "cannot hash the request");
        return;
    }
    if ((claimed = inflight_claim(scoped)) <= 0) {
        if (claimed == 0)
            route_problem(o, 409, "a request with this Idempotency-Key is still running; retry "
                                  "when it has finished");
        else
            route_problem(o, 500, "out of memory");
        return;
    }
    found = idempotency_lookup(rq->store->cat, scoped, engine_now(), &rec, &e);
    if (found < 0) {
        route_problem_err(o, &e);
        goto out;
    }
    if (found) {
        if (strcmp(rec.request_hash, hash) != 0) {
            route_problem(o, 422, "this Idempotency-Key was already used with a different "
                                  "request; use a new key for a new request");
            goto out;
        }
        o->status = rec.status;
        o->content_type = rec.status >= 400 ? ROUTE_PROBLEM_JSON : ROUTE_JSON;
        o->text = rec.body;
        o->text_len = strlen(rec.body);
        rec.body = NULL;
        (void)route_header_add(o, "Idempotent-Replayed", "true");
        goto out;
    }
    run_handler(rt, rq, o);
    if (storable(o->status) && freeze_body(o) == 0 &&
        idempotency_save(rq->store->cat, scoped, hash, o->status, o->text, engine_now(), &e) != 0)
        /* The operation itself is done; losing its replay record only means
         * a retry runs it again, so log it and answer normally. */
        log_event("error", "idempotency record not saved",
                  json_pack("{s:s, s:s}", "path", rq->path, "error", e.msg));
out:
    idempotency_record_clear(&rec);
    inflight_release(scoped);
}
