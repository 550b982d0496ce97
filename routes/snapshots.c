/* snapshots.c - /api/v1/snapshots: create, list, latest, show, archive download,
 * import, verify, pin/labels and delete. */
#include "routes.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Parse a boolean query argument: true/false/1/0. Absent = dflt. Returns 0 or -1. */
static int parse_bool(const char *s, int dflt, int *out)
{
    if (s == NULL) {
        *out = dflt;
        return 0;
    }
    if (strcmp(s, "true") == 0 || strcmp(s, "1") == 0)
        *out = 1;
    else if (strcmp(s, "false") == 0 || strcmp(s, "0") == 0)
        *out = 0;
    else
        return -1;
    return 0;
}

/* Send doc with status on success, else the problem for e. Steals doc. */
static void finish(struct route_resp *o, int rc, int status, json_t *doc, const struct err *e)
{
    if (rc == 0) {
        route_json(o, status, doc);
        return;
    }
    json_decref(doc);
    route_problem_err(o, e);
}

void route_snapshots_create(const struct route_req *r, struct route_resp *o)
{
    static const char *const keys[] = { "name", "labels", "pin", "version_tag", "if_changed",
                                        NULL };
    struct create_opts co = { 0 };
    struct err e = { 0 };
    json_t *body = NULL, *v, *snap = NULL;
    int rc;

    if (route_body_object(r, keys, &body, o) != 0)
        return;
    co.reason = "api";
    if ((v = json_object_get(body, "name")) != NULL && !json_is_null(v)) {
        if (!json_is_string(v)) {
            route_problem(o, 400, "\"name\" must be a string");
            goto out;
        }
        co.name = json_string_value(v);
        if (engine_name_check(co.name, &e) != 0) {
            route_problem_err(o, &e);
            goto out;
        }
    }
    v = json_object_get(body, "labels");
    if (route_check_labels(v, o) != 0)
        goto out;
    co.labels = v;
    if ((v = json_object_get(body, "pin")) != NULL) {
        if (!json_is_boolean(v)) {
            route_problem(o, 400, "\"pin\" must be true or false");
            goto out;
        }
        co.pin = json_is_true(v);
    }
    if ((v = json_object_get(body, "version_tag")) != NULL) {
        if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > 128) {
            route_problem(o, 400, "\"version_tag\" must be a string of 1..128 bytes");
            goto out;
        }
        co.version_tag = json_string_value(v);
    }
    if ((v = json_object_get(body, "if_changed")) != NULL) {
        if (!json_is_boolean(v)) {
            route_problem(o, 400, "\"if_changed\" must be true or false");
            goto out;
        }
        co.if_changed = json_is_true(v);
    }
    rc = engine_create(r->store, &co, &snap, &e);
    /* Nothing written: 200 with the newest snapshot, not 201 Created. */
    finish(o, rc, rc == 0 && json_is_true(json_object_get(snap, "skipped")) ? 200 : 201, snap, &e);
out:
    json_decref(body);
}

void route_snapshots_list(const struct route_req *r, struct route_resp *o)
{
    struct list_opts lo = { 0 };
    struct err e = { 0 };
    const char *s;
    char key[ENGINE_LABEL_KEY_MAX + 1];
    json_t *page = NULL;
    long long limit;
    int rc;

    if ((s = r->query(r, "limit")) != NULL) {
        if (route_parse_int(s, 1, ROUTE_LIST_LIMIT_MAX, &limit) != 0) {
            route_problem(o, 400, "limit must be an integer from 1 to %d", ROUTE_LIST_LIMIT_MAX);
            return;
        }
        lo.limit = (size_t)limit;
    }
    if ((s = r->query(r, "cursor")) != NULL && *s != '\0')
        lo.cursor = s;
    if ((s = r->query(r, "prefix")) != NULL && *s != '\0')
        lo.prefix = s;      /* checked by engine_list */
    if ((s = r->query(r, "label")) != NULL) {
        const char *eq = strchr(s, '=');
        size_t klen = eq ? (size_t)(eq - s) : 0;
        if (eq == NULL || klen == 0 || klen > ENGINE_LABEL_KEY_MAX ||
            strlen(eq + 1) > ENGINE_LABEL_VALUE_MAX) {
            route_problem(o, 400, "label must be KEY=VALUE");
            return;
        }
        memcpy(key, s, klen);
        key[klen] = '\0';
        lo.label_key = key;
        lo.label_value = eq + 1;
    }
    rc = engine_list(r->store, &lo, &page, &e);
    finish(o, rc, 200, page, &e);
}

void route_snapshots_latest(const struct route_req *r, struct route_resp *o)
{
    struct err e = { 0 };
    json_t *snap = NULL;
    int rc;

    rc = engine_latest(r->store, &snap, &e);
    finish(o, rc, 200, snap, &e);
}

void route_snapshots_show(const struct route_req *r, struct route_resp *o)
{
    struct err e = { 0 };
    json_t *snap = NULL;
    int rc;

    if (route_check_name(r, o) != 0)
        return;
    rc = engine_show(r->store, r->name, &snap, &e);
    finish(o, rc, 200, snap, &e);
}

void route_snapshots_archive(const struct route_req *r, struct route_resp *o)
{
    struct err e = { 0 };
    char *path = NULL, sha[65], etag[70], disp[ENGINE_NAME_MAX + 64];
    const char *inm;
    struct stat st;
    int fd = -1;

    if (route_check_name(r, o) != 0)
        return;
    if (engine_archive_path(r->store, r->name, &path, sha, &e) != 0) {
        route_problem_err(o, &e);
        goto out;
    }
    /* Names and hashes are short and plain, so these always fit. */
    (void)snprintf(etag, sizeof(etag), "\"%s\"", sha);
    (void)snprintf(disp, sizeof(disp), "attachment; filename=\"%s.zip\"", r->name);
    inm = r->header(r, "If-None-Match");
    if (inm != NULL && (strcmp(inm, etag) == 0 || strcmp(inm, "*") == 0)) {
        o->status = 304;
        o->content_type = NULL;
        (void)route_header_add(o, "ETag", etag);
        (void)route_header_add(o, "Cache-Control", "no-cache");
        goto out;
    }
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 || fstat(fd, &st) != 0) {
        /* Deleted between the catalog lookup and the open: same as never there. */
        if (errno == ENOENT)
            route_problem(o, 404, "snapshot %s has no archive", r->name);
        else
            route_problem(o, 500, "cannot open the archive of %s", r->name);
        goto out;
    }
    o->status = 200;
    o->content_type = "application/zip";
    o->fd = fd;
    o->fd_size = (uint64_t)st.st_size;
    fd = -1;
    (void)route_header_add(o, "ETag", etag);
    (void)route_header_add(o, "Content-Disposition", disp);
    (void)route_header_add(o, "Cache-Control", "no-cache");
out:
    if (fd >= 0)
        close(fd);
    free(path);
}

/* The upload's temporary path means nothing to the client (and says where
 * the store lives): an error names it for what it is. */
static void name_upload(struct err *e, const char *upload_path)
{
    char *at = strstr(e->msg, upload_path);
    char buf[sizeof(e->msg)];

    if (at == NULL || *upload_path == '\0')
        return;
    snprintf(buf, sizeof(buf), "%.*sthe uploaded archive%s", (int)(at - e->msg), e->msg,
             at + strlen(upload_path));
    memcpy(e->msg, buf, sizeof(buf));
}

void route_snapshots_import(const struct route_req *r, struct route_resp *o)
{
    struct err e = { 0 };
    json_t *snap = NULL;
    int rc, allow;

    if (parse_bool(r->query(r, "allow_unsigned"), 0, &allow) != 0) {
        route_problem(o, 400, "allow_unsigned must be true or false");
        return;
    }
    if (r->upload_path == NULL) {
        route_problem(o, 400, "no archive was uploaded");
        return;
    }
    rc = engine_import(r->store, r->upload_path, allow ? ENGINE_ALLOW_UNSIGNED : 0, &snap, &e);
    if (rc != 0)
        name_upload(&e, r->upload_path);
    finish(o, rc, 201, snap, &e);
}

void route_snapshots_verify(const struct route_req *r, struct route_resp *o)
{
    struct err e = { 0 };
    json_t *report = NULL;
    int rc;

    if (route_check_name(r, o) != 0)
        return;
    rc = engine_verify(r->store, r->name, &report, &e);
    if (rc == 0) {
        route_json(o, 200, report);
        return;
    }
    route_problem_err(o, &e);
    /* A failed check still carries the per-file findings: the caller needs them. */
    if (e.code == ERR_VERIFY && report != NULL && o->json != NULL)
        json_object_set_new(o->json, "report", report);
    else
        json_decref(report);
}

void route_snapshots_update(const struct route_req *r, struct route_resp *o)
{
    static const char *const keys[] = { "pin", "labels", NULL };
    struct err e = { 0 };
    json_t *body = NULL, *v, *labels, *snap = NULL;
    int pin = -1, rc;

    if (route_check_name(r, o) != 0)
        return;
    if (route_body_object(r, keys, &body, o) != 0)
        return;
    if ((v = json_object_get(body, "pin")) != NULL) {
        if (!json_is_boolean(v)) {
            route_problem(o, 400, "\"pin\" must be true or false");
            goto out;
        }
        pin = json_is_true(v);
    }
    /* A write token (CI) may pin, but taking a pin away is what lets the
     * next prune delete the snapshot, and deleting is admin: so is unpinning.
     * Refused before anything changes, labels included. */
    if (pin == 0 && !r->is_admin) {
        route_problem(o, 403, "unpinning a snapshot needs the admin role");
        goto out;
    }
    labels = json_object_get(body, "labels");
    if (route_check_labels(labels, o) != 0)
        goto out;
    if (pin < 0 && labels == NULL) {
        route_problem(o, 400, "nothing to change: give \"pin\" and/or \"labels\"");
        goto out;
    }
    rc = engine_update(r->store, r->name, pin, labels, &snap, &e);
    finish(o, rc, 200, snap, &e);
out:
    json_decref(body);
}

void route_snapshots_delete(const struct route_req *r, struct route_resp *o)
{
    struct err e = { 0 };
    json_t *out = NULL;
    int force, rc;

    if (route_check_name(r, o) != 0)
        return;
    if (parse_bool(r->query(r, "force"), 0, &force) != 0) {
        route_problem(o, 400, "force must be true or false");
        return;
    }
    rc = engine_delete(r->store, r->name, force, &out, &e);
    finish(o, rc, 200, out, &e);
}
