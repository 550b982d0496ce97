/* routes.h - the HTTP resources: each handler parses and validates one request,
 * calls engine/ and db/, and describes the response. No libmicrohttpd here:
 * server/ turns a struct route_resp into bytes on the wire. */
#ifndef STATESNAP_ROUTES_H
#define STATESNAP_ROUTES_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <jansson.h>

#include "../engine/engine.h"
#include "../engine/store.h"
#include "../common/err.h"
#include "prom.h"

#define ROUTE_MAX_HEADERS 8
#define ROUTE_HEADER_VALUE_MAX 320
#define ROUTE_LIST_LIMIT_MAX 1000
#define ROUTE_ONLY_MAX 1000            /* paths in a partial restore */
#define ROUTE_RETRY_AFTER_SECONDS 5    /* advised wait after 423 Locked */

#define ROUTE_JSON "application/json"
#define ROUTE_PROBLEM_JSON "application/problem+json"

/* Process-wide settings the handlers read; fixed once the server runs. */
struct route_env {
    long readyz_max_age;           /* seconds, 0 = no age check */
    const char *static_dir;        /* dashboard files, or NULL when there are none */
    /* Append the server's own metrics (HTTP counters, operation histograms)
     * in Prometheus text format. Returns 0, or -1 when out ran out of memory. */
    int (*render_metrics)(struct prom_text *out);
    /* The scheduler's status document (new reference), or NULL on OOM. */
    json_t *(*schedule_status)(void);
    /* The drill scheduler's status document (new reference), or NULL on OOM. */
    json_t *(*drill_status)(void);
    long readyz_max_drill_age;     /* seconds, 0 = /readyz does not look at drills */
    /* The offsite sync thread's status (new reference; NULL on OOM), and a
     * request for a round now (0, or -1 when offsite is not configured). */
    json_t *(*offsite_status)(void);
    int (*offsite_sync_now)(void);
    /* Fetch NAME's archive from the offsite store when it is missing locally
     * (verified before it is kept). 0 when it is local now or offsite is off. */
    int (*offsite_fetch_missing)(struct store *s, const char *name, struct err *e);
};

/* One request as a handler sees it. Everything is borrowed for the call. */
struct route_req {
    const struct route_env *env;
    const char *method;            /* HEAD arrives as GET; the server drops the body */
    const char *path;              /* decoded path, no query string */
    const char *name;              /* the {name} path segment, or NULL */
    const char *rest;              /* static files: the path below the prefix */
    /* Query argument / request header by name, or NULL. */
    const char *(*query)(const struct route_req *r, const char *key);
    const char *(*header)(const struct route_req *r, const char *key);
    void *conn;                    /* for the two lookups above */
    const char *body;              /* JSON body, NUL-terminated ("" when empty) */
    size_t body_len;
    const char *upload_path;       /* import: temp file holding the uploaded body */
    struct store *store;           /* this worker thread's store */
    int is_admin;                  /* the caller holds the admin role (dev mode: everyone) */
    const char *token_name;        /* the caller's token name ("dev" in dev mode), or NULL */
    const char *role_name;         /* "read", "write", "admin", or "none" without a token */
};

struct route_header {
    char name[40];
    char value[ROUTE_HEADER_VALUE_MAX];
};

/* What to send back. Exactly one body kind is used: json, text or fd. */
struct route_resp {
    int status;
    json_t *json;                  /* owned; rendered compact */
    char *text;                    /* owned raw body */
    size_t text_len;
    void (*text_free)(void *text); /* how text is given back; NULL = free() */
    int fd;                        /* owned file body, -1 = none */
    uint64_t fd_size;
    const char *content_type;      /* static string; NULL = ROUTE_JSON */
    struct route_header headers[ROUTE_MAX_HEADERS];
    size_t n_headers;
};

typedef void (*route_handler)(const struct route_req *r, struct route_resp *o);

/* ---- problem.c: responses and error mapping ---- */

/* Start an empty response (status 500, no body, fd -1). Cannot fail. */
void route_resp_init(struct route_resp *o);

/* Free what o owns and re-initialise it. Accepts NULL. */
void route_resp_clear(struct route_resp *o);

/* Give back o's text body (with o->text_free, or free()); o->text is NULL
 * after. Cannot fail. */
void route_text_free(struct route_resp *o);

/* The HTTP status for an error class; the one place this mapping lives. Cannot fail. */
int route_status_for(int code);

/* Short reason phrase for a status ("Not Found"). Cannot fail. */
const char *route_reason(int status);

/* Add a response header. Returns 0, or -1 when the table is full or the
 * value does not fit (the header is then left out). */
int route_header_add(struct route_resp *o, const char *name, const char *value);

/* Make o a JSON response with status; steals doc (NULL becomes a 500 problem). */
void route_json(struct route_resp *o, int status, json_t *doc);

/* Make o an application/problem+json response: {type, title, status, detail}.
 * Adds Retry-After to 423. Cannot fail (falls back to a bodiless status). */
void route_problem(struct route_resp *o, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* route_problem with the status chosen by route_status_for(e->code). */
void route_problem_err(struct route_resp *o, const struct err *e);

/* Parse r's JSON body as an object whose keys are all in allowed (NULL-
 * terminated). An empty body is {}. Returns 0 and *out (caller decrefs), or
 * -1 with o filled with a 400 problem. */
int route_body_object(const struct route_req *r, const char *const *allowed, json_t **out,
                      struct route_resp *o);

/* Check the {name} path segment against the snapshot name rules. Returns 0,
 * or -1 with a 400 problem in o. */
int route_check_name(const struct route_req *r, struct route_resp *o);

/* Check that v (may be NULL) is an object of string values within the
 * engine's label limits. Returns 0, or -1 with a 400 problem in o. */
int route_check_labels(const json_t *v, struct route_resp *o);

/* Parse a query argument as a decimal integer in [lo, hi], digits only (no
 * sign, no spaces, nothing after). Returns 0 or -1. */
int route_parse_int(const char *s, long long lo, long long hi, long long *out);

/* ---- snapshots.c ---- */
void route_snapshots_create(const struct route_req *r, struct route_resp *o);
void route_snapshots_list(const struct route_req *r, struct route_resp *o);
void route_snapshots_latest(const struct route_req *r, struct route_resp *o);
void route_snapshots_show(const struct route_req *r, struct route_resp *o);
void route_snapshots_archive(const struct route_req *r, struct route_resp *o);
void route_snapshots_import(const struct route_req *r, struct route_resp *o);
void route_snapshots_verify(const struct route_req *r, struct route_resp *o);
void route_snapshots_update(const struct route_req *r, struct route_resp *o);
void route_snapshots_delete(const struct route_req *r, struct route_resp *o);

/* ---- restore.c ---- */
void route_restore_preview(const struct route_req *r, struct route_resp *o);
void route_restore_apply(const struct route_req *r, struct route_resp *o);

/* ---- prune.c ---- */
void route_prune(const struct route_req *r, struct route_resp *o);

/* ---- audit.c ---- */
void route_audit_list(const struct route_req *r, struct route_resp *o);
void route_audit_verify(const struct route_req *r, struct route_resp *o);

/* ---- drill.c ---- */
void route_drill_run(const struct route_req *r, struct route_resp *o);
void route_drills(const struct route_req *r, struct route_resp *o);

/* ---- schedule.c ---- */
void route_schedule(const struct route_req *r, struct route_resp *o);

/* ---- whoami.c ---- */
/* GET /api/v1/whoami: {token, role} of the caller. Cannot fail (OOM is a 500). */
void route_whoami(const struct route_req *r, struct route_resp *o);

/* ---- offsite.c ---- */
void route_offsite_status(const struct route_req *r, struct route_resp *o);
void route_offsite_sync(const struct route_req *r, struct route_resp *o);

/* ---- diff.c ---- */
void route_diff(const struct route_req *r, struct route_resp *o);

/* ---- health.c ---- */
void route_healthz(const struct route_req *r, struct route_resp *o);
void route_readyz(const struct route_req *r, struct route_resp *o);
void route_metrics(const struct route_req *r, struct route_resp *o);

/* ---- static.c ---- */
void route_static(const struct route_req *r, struct route_resp *o);

#endif
