/* ops.c - list, show, verify, delete, update, import, reindex, and recovery helpers. */
#include "ops.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "archive.h"
#include "audit.h"
#include "capture.h"
#include "../common/failpoint.h"
#include "../common/fsutil.h"
#include "manifest.h"
#include "op.h"
#include "../db/drill.h"
#include "../db/offsite.h"

#define OPS_COPY_BUF (256u * 1024)
#define OPS_LIST_MAX 1000
#define OPS_LIST_DEFAULT 50

int ops_labels_check(const json_t *labels, struct err *e)
{
    const char *k;
    json_t *v;

    if (!json_is_object(labels))
        return err_set(e, ERR_INVALID, "labels must be an object of strings");
    if (json_object_size(labels) > ENGINE_LABELS_MAX)
        return err_set(e, ERR_INVALID, "at most %d labels", ENGINE_LABELS_MAX);
    json_object_foreach((json_t *)labels, k, v) {
        size_t n = strlen(k);
        if (n == 0 || n > ENGINE_LABEL_KEY_MAX)
            return err_set(e, ERR_INVALID, "label keys must be 1 to %d characters",
                           ENGINE_LABEL_KEY_MAX);
        for (size_t i = 0; i < n; i++) {
            unsigned char c = (unsigned char)k[i];
            if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_' || c == '.' || c == '-'))
                return err_set(e, ERR_INVALID,
                               "label key \"%.64s\": use letters, digits, '_', '.', '-'", k);
        }
        if (!json_is_string(v) || json_string_length(v) > ENGINE_LABEL_VALUE_MAX)
            return err_set(e, ERR_INVALID, "label \"%.64s\" must be a string of at most %d bytes",
                           k, ENGINE_LABEL_VALUE_MAX);
        const char *s = json_string_value(v);
        for (size_t i = 0, cl; s[i]; i += cl) {
            int32_t cp = engine_utf8_next(s + i, &cl);
            /* Shown raw in terminals and the dashboard: a C1 control (U+009B
             * is a CSI) or a bidi override would rewrite what an operator reads. */
            if (cp < 0 || engine_char_unsafe(cp))
                return err_set(e, ERR_INVALID, "label \"%.64s\" has a control, bidi or "
                               "invisible character (U+%04X)", k, cp < 0 ? 0xFFFD : (unsigned)cp);
        }
    }
    return 0;
}

static int row_pinned(const struct catalog_snapshot *r, int64_t now)
{
    return r->pinned && (r->pin_until == 0 || r->pin_until > now);
}

json_t *ops_snapshot_json(const struct store *s, const struct catalog_snapshot *row)
{
    char created[32], until[32], loc[ENGINE_NAME_MAX + 8];
    json_t *o, *labels, *files;
    int64_t now = engine_now();

    engine_time_format(row->created_at, created, sizeof(created));
    /* Relative to the store: where the store lives on the server is the
     * operator's business, not every reader's (a front that owns the
     * filesystem, the CLI, joins it with the store path itself). */
    if (snprintf(loc, sizeof(loc), "%s.zip", row->name) >= (int)sizeof(loc))
        loc[0] = '\0';
    labels = json_loads(row->labels_json ? row->labels_json : "{}", 0, NULL);
    if (!json_is_object(labels)) {
        json_decref(labels);
        labels = json_object();
    }
    o = json_pack("{s:s,s:s,s:I,s:I,s:s,s:o,s:s,s:s,s:s,s:o,s:b,s:o,s:o,s:o,s:s}",
                  "name", row->name, "created_at", created,
                  "size", (json_int_t)row->size, "file_count", (json_int_t)row->file_count,
                  "version", row->version,
                  "git_commit", row->git_commit[0] ? json_string(row->git_commit) : json_null(),
                  "host", row->host, "created_by", row->created_by,
                  "archive_sha256", row->archive_sha256, "labels", labels,
                  "pinned", row_pinned(row, now),
                  "pinned_until", row_pinned(row, now) && row->pin_until
                                      ? (engine_time_format(row->pin_until, until, sizeof(until)),
                                         json_string(until))
                                      : json_null(),
                  "positions_count", row->positions_count >= 0
                                         ? json_integer(row->positions_count) : json_null(),
                  "offsite_state", row->offsite_state[0] ? json_string(row->offsite_state)
                                                         : json_null(),
                  "location", loc);
    if (o != NULL) {
        /* Older snapshots (before consistent cuts) say nothing: null. */
        json_t *cons = row->consistency_json ? json_loads(row->consistency_json, 0, NULL) : NULL;
        json_t *chain = row->chain_json ? json_loads(row->chain_json, 0, NULL) : NULL;
        json_object_set_new(o, "consistency", cons ? cons : json_null());
        json_object_set_new(o, "chain", chain ? chain : json_null());
    }
    /* The last restore drill of this very archive: one indexed read. A
     * catalog that cannot say reads as no drill rather than no snapshot. */
    if (o != NULL) {
        struct catalog_drill dr;
        char at[32];
        if (catalog_drill_last(s->cat, row->name, row->archive_sha256, &dr, NULL) == 1) {
            engine_time_format(dr.at, at, sizeof(at));
            json_object_set_new(o, "last_drill", json_pack("{s:s, s:s}", "at", at, "result",
                                                           dr.result));
        } else {
            json_object_set_new(o, "last_drill", json_null());
        }
    }
    /* Offsite details only once a copy was tried: one indexed read per row. */
    if (o != NULL && row->offsite_state[0]) {
        struct catalog_offsite off;
        if (catalog_offsite_get(s->cat, row->name, &off, NULL) == 0) {
            json_object_set_new(o, "offsite_error", off.error[0] ? json_string(off.error)
                                                                 : json_null());
            json_object_set_new(o, "offsite_at", off.at > 0 ? (engine_time_format(off.at, until,
                                                                                  sizeof(until)),
                                                               json_string(until))
                                                            : json_null());
        }
    }
    if (o == NULL || row->files == NULL)
        return o;
    files = json_array();
    for (size_t i = 0; i < row->n_files; i++)
        json_array_append_new(files, json_pack("{s:s,s:I,s:s,s:s}", "path", row->files[i].path,
                                               "size", (json_int_t)row->files[i].size, "sha256",
                                               row->files[i].sha256, "group",
                                               row->files[i].group));
    json_object_set_new(o, "files", files);
    return o;
}

int ops_row_from_manifest(const json_t *m, int64_t size, const char *sha256,
                          struct catalog_snapshot *row, struct err *e)
{
    const json_t *files = json_object_get(m, "files"), *f, *pc;
    const char *gc;
    size_t i;

    memset(row, 0, sizeof(*row));
    snprintf(row->name, sizeof(row->name), "%s", json_string_value(json_object_get(m, "name")));
    if (manifest_parse_time(json_string_value(json_object_get(m, "created_at")),
                            &row->created_at) != 0)
        return err_set(e, ERR_VERIFY, "manifest has a bad created_at");
    row->size = size;
    row->file_count = (int64_t)json_array_size(files);
    snprintf(row->version, sizeof(row->version), "%s",
             json_string_value(json_object_get(m, "version")));
    gc = json_string_value(json_object_get(m, "git_commit"));
    snprintf(row->git_commit, sizeof(row->git_commit), "%s", gc ? gc : "");
    snprintf(row->host, sizeof(row->host), "%s", json_string_value(json_object_get(m, "host")));
    snprintf(row->created_by, sizeof(row->created_by), "%s",
             json_string_value(json_object_get(m, "created_by")));
    snprintf(row->archive_sha256, sizeof(row->archive_sha256), "%s", sha256);
    row->labels_json = json_dumps(json_object_get(m, "labels"), JSON_COMPACT | JSON_SORT_KEYS);
    row->pinned = json_is_true(json_object_get(m, "pinned"));
    pc = json_object_get(m, "positions_count");
    row->positions_count = json_is_integer(pc) ? json_integer_value(pc) : -1;
    if (json_is_object(json_object_get(m, "consistency")) &&
        (row->consistency_json = json_dumps(json_object_get(m, "consistency"),
                                            JSON_COMPACT | JSON_SORT_KEYS)) == NULL)
        return err_set(e, ERR_IO, "out of memory");
    if (json_is_object(json_object_get(m, "chain")) &&
        (row->chain_json = json_dumps(json_object_get(m, "chain"),
                                      JSON_COMPACT | JSON_SORT_KEYS)) == NULL)
        return err_set(e, ERR_IO, "out of memory");
    row->empty = 1;
    json_array_foreach(files, i, f)
        if (strcmp(json_string_value(json_object_get(f, "group")) ?: "", "secrets") != 0)
            row->empty = 0;
    if (row->labels_json == NULL)
        return err_set(e, ERR_IO, "out of memory");
    if ((row->files = calloc(json_array_size(files) + 1, sizeof(*row->files))) == NULL)
        return err_set(e, ERR_IO, "out of memory");
    json_array_foreach(files, i, f) {
        struct catalog_file *cf = &row->files[i];
        cf->path = strdup(json_string_value(json_object_get(f, "path")));
        cf->size = json_integer_value(json_object_get(f, "size"));
        snprintf(cf->sha256, sizeof(cf->sha256), "%s",
                 json_string_value(json_object_get(f, "sha256")));
        snprintf(cf->group, sizeof(cf->group), "%s",
                 json_string_value(json_object_get(f, "group")));
        row->n_files = i + 1;
        if (cf->path == NULL)
            return err_set(e, ERR_IO, "out of memory");
    }
    return 0;
}

int ops_archive_admissible(const struct engine_config *cfg, const json_t *m, struct err *e)
{
    const json_t *f;
    const char *created = json_string_value(json_object_get(m, "created_at"));
    struct err le = { 0 };
    int64_t t;
    size_t i;

    /* A time ahead of ours would become "latest" and keep /readyz green. */
    if (manifest_parse_time(created, &t) != 0)
        return err_set(e, ERR_VERIFY, "manifest.json: \"created_at\" is not RFC 3339 UTC");
    if (t > engine_now() + ENGINE_CLOCK_SKEW) {
        char now[32];
        engine_time_format(engine_now(), now, sizeof(now));
        return err_set(e, ERR_VERIFY, "manifest.json: created_at %.32s is in the future (this "
                       "host's clock says %s; at most %d s ahead is accepted)", created, now,
                       ENGINE_CLOCK_SKEW);
    }
    if (ops_labels_check(json_object_get(m, "labels"), &le) != 0)
        return err_set(e, ERR_VERIFY, "manifest.json: %s", le.msg);
    json_array_foreach(json_object_get(m, "files"), i, f) {
        const char *p = json_string_value(json_object_get(f, "path"));
        if (p == NULL || (strcmp(p, MANIFEST_ENV_ENTRY) != 0 && !capture_path_allowed(cfg, p)))
            return err_set(e, ERR_VERIFY, "archive holds %.200s, which this store's include set "
                           "does not allow", p ? p : "(no path)");
    }
    /* Our own creates list the expected files that were missing, whatever
     * the include set; restore deletes an absent file only inside it. */
    json_array_foreach(json_object_get(m, "absent"), i, f) {
        const char *p = json_string_value(f);
        if (p == NULL || !manifest_path_safe(p) ||
            (strcmp(p, ".env") != 0 && !capture_is_expected(p) && !capture_path_allowed(cfg, p)))
            return err_set(e, ERR_VERIFY, "archive lists %.200s as absent, which this store's "
                           "include set does not allow", p ? p : "(not a string)");
    }
    return 0;
}

/* Open an archive and check every byte. 0 when whole; -1 with e otherwise. */
static int archive_whole(const char *path, struct archive **out, struct err *e)
{
    struct archive *a = NULL;
    json_t *errors = json_array();
    int bad;

    *out = NULL;
    if (errors == NULL)
        return err_set(e, ERR_IO, "out of memory");
    if (archive_open(&a, path, e) != 0) {
        json_decref(errors);
        return -1;
    }
    bad = archive_check_all(a, errors, e);
    if (bad > 0) {
        json_t *first = json_array_get(errors, 0);
        err_set(e, ERR_VERIFY, "%s: %s", json_string_value(json_object_get(first, "path")),
                json_string_value(json_object_get(first, "problem")));
    }
    json_decref(errors);
    if (bad != 0) {
        archive_close(a);
        return -1;
    }
    *out = a;
    return 0;
}

static int insert_from_archive(struct store *s, const char *path, struct archive *a,
                               struct err *e)
{
    struct catalog_snapshot row;
    char sha[65];
    int64_t size;
    int rc = -1;

    memset(&row, 0, sizeof(row));
    if (archive_file_sha256(path, sha, &size, e) != 0 ||
        ops_row_from_manifest(archive_manifest(a), size, sha, &row, e) != 0)
        goto out;
    if (catalog_begin(s->cat, e) != 0)
        goto out;
    if (catalog_snapshot_insert(s->cat, &row, e) != 0 || catalog_commit(s->cat, e) != 0) {
        catalog_rollback(s->cat);
        goto out;
    }
    rc = 0;
out:
    catalog_snapshot_clear(&row);
    return rc;
}

int ops_adopt_or_remove(struct store *s, const char *name, struct err *e)
{
    char path[PATH_MAX];
    struct archive *a = NULL;
    struct err ae = { 0 };
    int r;

    if ((r = catalog_snapshot_exists(s->cat, name, e)) < 0)
        return -1;
    if (r == 1 || store_archive_path(s, name, path, sizeof(path), e) != 0)
        return r == 1 ? 0 : -1;
    if (fs_exists(path) != 1)
        return 0;
    if (archive_whole(path, &a, &ae) == 0 &&
        strcmp(json_string_value(json_object_get(archive_manifest(a), "name")), name) == 0) {
        r = insert_from_archive(s, path, a, e);
        archive_close(a);
        return r;
    }
    archive_close(a);
    if (unlink(path) != 0 && errno != ENOENT)
        return err_sys(e, errno, "remove partial %s", path);
    return fs_fsync_dir(s->dir, e);
}

int ops_finish_delete(struct store *s, const char *name, struct err *e)
{
    char path[PATH_MAX];
    struct err de = { 0 };

    if (catalog_snapshot_delete(s->cat, name, &de) != 0 && de.code != ERR_NOT_FOUND) {
        *e = de;
        return -1;
    }
    if (store_archive_path(s, name, path, sizeof(path), e) != 0)
        return -1;
    if (unlink(path) != 0 && errno != ENOENT)
        return err_sys(e, errno, "remove %s", path);
    return fs_fsync_dir(s->dir, e);
}

/* ---- list / show / latest ---- */

static int parse_cursor(const char *c, int64_t *created, int64_t *id)
{
    char *end;
    long long a, b;

    errno = 0;
    a = strtoll(c, &end, 10);
    if (end == c || *end != '-' || errno != 0 || a < 0)
        return -1;
    const char *p = end + 1;
    b = strtoll(p, &end, 10);
    if (end == p || *end != '\0' || errno != 0 || b <= 0)
        return -1;
    *created = a;
    *id = b;
    return 0;
}

int engine_list(struct store *s, const struct list_opts *o, json_t **page, struct err *e)
{
    struct catalog_filter f;
    struct catalog_snapshot *rows = NULL;
    size_t n = 0;
    int more = 0;
    int64_t count, bytes;
    json_t *arr;

    *page = NULL;
    memset(&f, 0, sizeof(f));
    f.limit = o->limit ? o->limit : OPS_LIST_DEFAULT;
    if (f.limit > OPS_LIST_MAX)
        return err_set(e, ERR_INVALID, "limit must be from 1 to %d", OPS_LIST_MAX);
    if (o->cursor != NULL && parse_cursor(o->cursor, &f.after_created_at, &f.after_id) != 0)
        return err_set(e, ERR_INVALID, "bad cursor");
    if (o->prefix != NULL && engine_name_prefix_check(o->prefix, e) != 0)
        return -1;
    if (o->label_key != NULL) {
        json_t *probe = json_pack("{s:s}", o->label_key, o->label_value ? o->label_value : "");
        int bad = probe == NULL || ops_labels_check(probe, e) != 0;
        json_decref(probe);
        if (bad)
            return err_set(e, ERR_INVALID, "bad label filter");
    }
    f.prefix = o->prefix;
    f.label_key = o->label_key;
    f.label_value = o->label_value;
    if (catalog_snapshot_list(s->cat, &f, &rows, &n, &more, e) != 0 ||
        catalog_totals(s->cat, &count, &bytes, e) != 0) {
        catalog_snapshots_free(rows, n);
        return -1;
    }
    arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, ops_snapshot_json(s, &rows[i]));
    json_t *cursor = json_null();
    if (more && n > 0) {
        char buf[64];
        snprintf(buf, sizeof(buf), "%lld-%lld", (long long)rows[n - 1].created_at,
                 (long long)rows[n - 1].id);
        cursor = json_string(buf);
    }
    *page = json_pack("{s:o,s:I,s:I,s:o}", "snapshots", arr, "total_count", (json_int_t)count,
                      "total_bytes", (json_int_t)bytes, "next_cursor", cursor);
    catalog_snapshots_free(rows, n);
    if (*page == NULL)
        return err_set(e, ERR_IO, "out of memory");
    return 0;
}

int engine_show(struct store *s, const char *name, json_t **snap, struct err *e)
{
    struct catalog_snapshot row;
    char path[PATH_MAX];
    struct archive *a = NULL;
    struct err ae = { 0 };

    *snap = NULL;
    if (engine_name_check(name, e) != 0)
        return -1;
    if (catalog_snapshot_get(s->cat, name, 1, &row, e) != 0)
        return -1;
    *snap = ops_snapshot_json(s, &row);
    catalog_snapshot_clear(&row);
    if (*snap == NULL)
        return err_set(e, ERR_IO, "out of memory");
    if (store_archive_path(s, name, path, sizeof(path), e) != 0)
        return -1;
    if (archive_open(&a, path, &ae) == 0) {
        json_object_set_new(*snap, "manifest", json_deep_copy(archive_manifest(a)));
        archive_close(a);
    } else {
        json_object_set_new(*snap, "manifest", json_null());
        json_object_set_new(*snap, "manifest_error", json_string(ae.msg));
    }
    return 0;
}

int engine_latest(struct store *s, json_t **snap, struct err *e)
{
    struct catalog_snapshot row;
    int64_t age;

    *snap = NULL;
    if (catalog_snapshot_latest(s->cat, &row, e) != 0)
        return -1;
    *snap = ops_snapshot_json(s, &row);
    age = engine_now() - row.created_at;
    catalog_snapshot_clear(&row);
    if (*snap == NULL)
        return err_set(e, ERR_IO, "out of memory");
    json_object_set_new(*snap, "age_seconds", json_integer(age < 0 ? 0 : age));
    return 0;
}

int engine_archive_path(struct store *s, const char *name, char **path, char sha256[65],
                        struct err *e)
{
    struct catalog_snapshot row;
    char buf[PATH_MAX];

    *path = NULL;
    if (engine_name_check(name, e) != 0 || catalog_snapshot_get(s->cat, name, 0, &row, e) != 0)
        return -1;
    snprintf(sha256, 65, "%s", row.archive_sha256);
    catalog_snapshot_clear(&row);
    if (store_archive_path(s, name, buf, sizeof(buf), e) != 0)
        return -1;
    if (fs_exists(buf) != 1)
        return err_set(e, ERR_NOT_FOUND, "the archive of \"%s\" is missing from the store", name);
    if ((*path = strdup(buf)) == NULL)
        return err_set(e, ERR_IO, "out of memory");
    return 0;
}

/* ---- verify ---- */

static int verify_one(struct store *s, const char *name, json_t **report, struct err *e)
{
    struct catalog_snapshot row;
    char path[PATH_MAX], sha[65];
    struct archive *a = NULL;
    json_t *errors = json_array();
    struct err ae = { 0 };
    int64_t size;
    int checked = 0, rc = -1;

    *report = NULL;
    if (catalog_snapshot_get(s->cat, name, 1, &row, e) != 0) {
        json_decref(errors);
        return -1;
    }
    if (store_archive_path(s, name, path, sizeof(path), e) != 0)
        goto out;
    if (archive_open(&a, path, &ae) != 0) {
        if (ae.code != ERR_VERIFY && ae.code != ERR_NOT_FOUND) {
            *e = ae;
            goto out;
        }
        json_array_append_new(errors, json_pack("{s:s,s:s}", "path", "(archive)", "problem", ae.msg));
    } else {
        int bad = archive_check_all(a, errors, e);
        if (bad < 0)
            goto out;
        checked = (int)json_array_size(json_object_get(archive_manifest(a), "files"));
        /* The catalog's file list must agree with the manifest's too. */
        for (size_t i = 0; i < row.n_files; i++) {
            const json_t *f = archive_file_entry(a, row.files[i].path);
            if (f == NULL || strcmp(json_string_value(json_object_get(f, "sha256")),
                                    row.files[i].sha256) != 0)
                json_array_append_new(errors, json_pack("{s:s,s:s}", "path", row.files[i].path,
                                                        "problem", "catalog and manifest disagree"));
        }
        if (row.n_files != (size_t)checked)
            json_array_append_new(errors, json_pack("{s:s,s:s}", "path", "(catalog)", "problem",
                                                    "catalog and manifest list different files"));
        if (archive_file_sha256(path, sha, &size, e) != 0)
            goto out;
        /* Only when no file explains it: a changed byte outside file data. */
        if (strcmp(sha, row.archive_sha256) != 0 && json_array_size(errors) == 0)
            json_array_append_new(errors, json_pack("{s:s,s:s}", "path", "(archive)", "problem",
                                                    "archive SHA-256 differs from the catalog"));
    }
    *report = json_pack("{s:s,s:b,s:i,s:O}", "name", name, "ok", json_array_size(errors) == 0,
                        "checked_files", checked, "errors", errors);
    if (*report == NULL) {
        err_set(e, ERR_IO, "out of memory");
        goto out;
    }
    if (json_array_size(errors) > 0) {
        json_t *first = json_array_get(errors, 0);
        engine_emit(s->cfg, "verify", "error", name, *report);
        err_set(e, ERR_VERIFY, "%s: %s: %s", name,
                json_string_value(json_object_get(first, "path")),
                json_string_value(json_object_get(first, "problem")));
        goto out;
    }
    rc = 0;
out:
    archive_close(a);
    catalog_snapshot_clear(&row);
    json_decref(errors);
    return rc;
}

int engine_verify(struct store *s, const char *name, json_t **report, struct err *e)
{
    if (engine_name_check(name, e) != 0)
        return -1;
    return verify_one(s, name, report, e);
}

int engine_verify_all(struct store *s, json_t **report, struct err *e)
{
    char **names = NULL;
    size_t n = 0;
    json_t *list = json_array();
    int bad = 0;

    *report = NULL;
    if (catalog_snapshot_names(s->cat, &names, &n, e) != 0) {
        json_decref(list);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *r = NULL;
        struct err ve = { 0 };
        if (verify_one(s, names[i], &r, &ve) != 0) {
            if (r == NULL) {
                /* Deleted while we walked the list: not a failure. */
                if (ve.code == ERR_NOT_FOUND)
                    continue;
                r = json_pack("{s:s,s:b,s:i,s:[{s:s,s:s}]}", "name", names[i], "ok", 0,
                              "checked_files", 0, "errors", "path", "(archive)", "problem", ve.msg);
            }
            bad++;
        }
        json_array_append_new(list, r);
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    *report = json_pack("{s:b,s:i,s:i,s:o}", "ok", bad == 0, "checked", (int)json_array_size(list),
                        "failed", bad, "snapshots", list);
    if (bad > 0)
        return err_set(e, ERR_VERIFY, "%d snapshot%s failed verification", bad, bad == 1 ? "" : "s");
    return 0;
}

/* ---- delete / update ---- */

int ops_delete_locked(struct store *s, const char *name, struct err *e)
{
    if (store_intent_write(s, name, "delete", e) != 0)
        return -1;
    if (catalog_begin(s->cat, e) != 0)
        return -1;
    if (catalog_snapshot_delete(s->cat, name, e) != 0 || catalog_commit(s->cat, e) != 0) {
        catalog_rollback(s->cat);
        return -1;
    }
    if (ops_finish_delete(s, name, e) != 0)
        return -1;
    return store_intent_clear(s, name, "delete", e);
}

int engine_delete(struct store *s, const char *name, int force, json_t **out, struct err *e)
{
    struct catalog_snapshot row;
    struct op op = { 0 };
    int rc = -1;

    *out = NULL;
    if (engine_name_check(name, e) != 0 || op_begin(s, OP_WRITE, &op, e) != 0)
        return -1;
    if (catalog_snapshot_get(s->cat, name, 0, &row, e) != 0)
        goto out;
    if (row_pinned(&row, engine_now()) && !force) {
        err_set(e, ERR_PINNED, "snapshot \"%s\" is pinned; unpin it or force the delete", name);
        goto out;
    }
    if (store_intent_write(s, name, "delete", e) != 0)
        goto out;
    FAILPOINT("delete.after_intent");
    if (catalog_begin(s->cat, e) != 0)
        goto out;
    json_t *ad = json_pack("{s:b}", "force", force);
    int bad = catalog_snapshot_delete(s->cat, name, e) != 0 ||
              audit_append(s, "delete", name, "ok", ad, e) != 0;
    if (bad || catalog_commit(s->cat, e) != 0) {
        json_decref(ad);
        catalog_rollback(s->cat);
        goto out;
    }
    engine_emit(s->cfg, "delete", "ok", name, ad);
    json_decref(ad);
    FAILPOINT("delete.after_catalog");
    if (ops_finish_delete(s, name, e) != 0)
        goto out;
    FAILPOINT("delete.after_unlink");
    if (store_intent_clear(s, name, "delete", e) != 0)
        goto out;
    *out = json_pack("{s:s,s:b}", "name", name, "deleted", 1);
    rc = 0;
out:
    catalog_snapshot_clear(&row);
    op_end(&op);
    return rc;
}

int engine_update(struct store *s, const char *name, int pin, const json_t *labels, json_t **snap,
                  struct err *e)
{
    struct catalog_snapshot row;
    char *text = NULL;
    struct op op = { 0 };
    int rc = -1;

    *snap = NULL;
    memset(&row, 0, sizeof(row));
    if (engine_name_check(name, e) != 0)
        return -1;
    if (labels != NULL && ops_labels_check(labels, e) != 0)
        return -1;
    if (op_begin(s, OP_WRITE, &op, e) != 0)
        return -1;
    if (catalog_begin(s->cat, e) != 0)
        goto out;
    if (pin >= 0 && catalog_snapshot_set_pin(s->cat, name, pin != 0, 0, e) != 0)
        goto rollback;
    if (labels != NULL) {
        if ((text = json_dumps(labels, JSON_COMPACT | JSON_SORT_KEYS)) == NULL) {
            err_set(e, ERR_IO, "out of memory");
            goto rollback;
        }
        if (catalog_snapshot_set_labels(s->cat, name, text, e) != 0)
            goto rollback;
    }
    if (pin < 0 && labels == NULL && catalog_snapshot_exists(s->cat, name, e) != 1) {
        if (e->code == ERR_NONE)
            err_set(e, ERR_NOT_FOUND, "no snapshot named \"%s\"", name);
        goto rollback;
    }
    json_t *ad = json_object();
    if (pin >= 0)
        json_object_set_new(ad, "pinned", json_boolean(pin));
    if (labels != NULL)
        json_object_set(ad, "labels", (json_t *)labels);
    const char *what = pin >= 0 ? (pin ? "pin" : "unpin") : "labels";
    if (audit_append(s, what, name, "ok", ad, e) != 0) {
        json_decref(ad);
        goto rollback;
    }
    if (catalog_commit(s->cat, e) != 0) {
        json_decref(ad);
        goto out;
    }
    engine_emit(s->cfg, what, "ok", name, ad);
    json_decref(ad);
    if (catalog_snapshot_get(s->cat, name, 0, &row, e) != 0)
        goto out;
    *snap = ops_snapshot_json(s, &row);
    rc = *snap ? 0 : err_set(e, ERR_IO, "out of memory");
    goto out;
rollback:
    catalog_rollback(s->cat);
out:
    free(text);
    catalog_snapshot_clear(&row);
    op_end(&op);
    return rc;
}

/* ---- import / reindex ---- */

static int copy_file(const char *from, const char *to, struct err *e)
{
    int in = -1, out = -1, rc = -1;
    char *buf = NULL;
    ssize_t r;

    if ((in = open(from, O_RDONLY | O_CLOEXEC)) < 0)
        return err_sys(e, errno, "open %s", from);
    if ((out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, STORE_FILE_MODE)) < 0 ||
        fchmod(out, STORE_FILE_MODE) != 0) {
        err_sys(e, errno, "create %s", to);
        goto out;
    }
    if ((buf = malloc(OPS_COPY_BUF)) == NULL) {
        err_set(e, ERR_IO, "out of memory");
        goto out;
    }
    while ((r = fs_read_some(in, buf, OPS_COPY_BUF)) > 0) {
        if (fs_write_all(out, buf, (size_t)r) != 0) {
            err_sys(e, errno, "write %s", to);
            goto out;
        }
    }
    if (r < 0 || fsync(out) != 0) {
        err_sys(e, errno, "copy to %s", to);
        goto out;
    }
    rc = 0;
out:
    if (in >= 0)
        close(in);
    if (out >= 0 && close(out) != 0 && rc == 0)
        rc = err_sys(e, errno, "close %s", to);
    free(buf);
    if (rc != 0)
        unlink(to);
    return rc;
}

static int import_locked(struct store *s, const char *path, json_t **snap, struct err *e);

int engine_import(struct store *s, const char *path, json_t **snap, struct err *e)
{
    int rc = import_locked(s, path, snap, e);

    if (rc != 0 && e->code != ERR_CONFLICT && e->code != ERR_INVALID) {
        json_t *fd = json_pack("{s:s}", "error", e->msg);
        engine_emit(s->cfg, "import", "error", NULL, fd);
        json_decref(fd);
    }
    return rc;
}

static int import_locked(struct store *s, const char *path, json_t **snap, struct err *e)
{
    struct archive *a = NULL;
    char name[ENGINE_NAME_MAX + 1], tmp[PATH_MAX], final[PATH_MAX], file[ENGINE_NAME_MAX + 16];
    struct catalog_snapshot row;
    int rc = -1, intent = 0, r;
    size_t wl = strlen(s->work);
    struct op op = { 0 };

    *snap = NULL;
    memset(&row, 0, sizeof(row));
    /* Every byte is checked before anything in the store changes. */
    if (archive_whole(path, &a, e) != 0) {
        if (e->code == ERR_NOT_FOUND)
            e->code = ERR_INVALID;
        return -1;
    }
    if (ops_archive_admissible(s->cfg, archive_manifest(a), e) != 0) {
        archive_close(a);
        return -1;
    }
    snprintf(name, sizeof(name), "%s", json_string_value(json_object_get(archive_manifest(a), "name")));
    archive_close(a);
    a = NULL;
    if (op_begin(s, OP_WRITE, &op, e) != 0)
        return -1;
    if (store_archive_path(s, name, final, sizeof(final), e) != 0)
        goto out;
    if ((r = catalog_snapshot_exists(s->cat, name, e)) < 0)
        goto out;
    if (r == 1 || fs_exists(final) == 1) {
        err_set(e, ERR_CONFLICT, "a snapshot named \"%s\" already exists", name);
        goto out;
    }
    snprintf(file, sizeof(file), "%s.zip.tmp", name);
    if (fs_join(tmp, sizeof(tmp), s->work, file, e) != 0)
        goto out;
    /* An upload already in .work is moved; anything else is copied, so the
     * caller's file stays theirs. */
    if (strncmp(path, s->work, wl) == 0 && path[wl] == '/') {
        if (rename(path, tmp) != 0) {
            err_sys(e, errno, "move upload");
            goto out;
        }
    } else if (copy_file(path, tmp, e) != 0) {
        goto out;
    }
    /* Re-check the copy we now own: the source could have changed meanwhile. */
    if (archive_whole(tmp, &a, e) != 0 ||
        ops_archive_admissible(s->cfg, archive_manifest(a), e) != 0 ||
        strcmp(json_string_value(json_object_get(archive_manifest(a), "name")), name) != 0) {
        if (e->code == ERR_NONE)
            err_set(e, ERR_VERIFY, "archive changed while importing");
        unlink(tmp);
        goto out;
    }
    if (store_intent_write(s, name, "create", e) != 0) {
        unlink(tmp);
        goto out;
    }
    intent = 1;
    FAILPOINT("import.after_intent");
    if (chmod(tmp, STORE_FILE_MODE) != 0 || rename(tmp, final) != 0) {
        err_sys(e, errno, "rename into %s", final);
        unlink(tmp);
        goto out;
    }
    FAILPOINT("import.after_rename");
    if (fs_fsync_dir(s->dir, e) != 0 || insert_from_archive(s, final, a, e) != 0) {
        unlink(final);
        goto out;
    }
    FAILPOINT("import.after_catalog");
    {
        json_t *ad = json_pack("{s:s}", "source", "import");
        audit_append(s, "import", name, "ok", ad, NULL);
        json_decref(ad);
    }
    if (catalog_snapshot_get(s->cat, name, 1, &row, e) != 0)
        goto out;
    *snap = ops_snapshot_json(s, &row);
    rc = *snap ? 0 : err_set(e, ERR_IO, "out of memory");
out:
    archive_close(a);
    catalog_snapshot_clear(&row);
    if (intent)
        store_intent_clear(s, name, "create", NULL);
    op_end(&op);
    return rc;
}

int engine_adopt_archive(struct store *s, const char *name, const char *path, struct err *e)
{
    struct catalog_snapshot row;
    struct archive *a = NULL;
    char final[PATH_MAX], sha[65];
    const char *mname;
    int64_t size;
    int rc = -1;
    size_t wl = strlen(s->work);
    struct op op = { 0 };

    memset(&row, 0, sizeof(row));
    if (strncmp(path, s->work, wl) != 0 || path[wl] != '/')
        return err_set(e, ERR_INVALID, "adopt: %s is not in the store's work directory", path);
    if (op_begin(s, OP_WRITE, &op, e) != 0)
        goto out;
    if (catalog_snapshot_get(s->cat, name, 0, &row, e) != 0 ||
        store_archive_path(s, name, final, sizeof(final), e) != 0)
        goto out;
    if (fs_exists(final) == 1) {
        err_set(e, ERR_CONFLICT, "the archive of \"%s\" is already in the store", name);
        goto out;
    }
    /* Every byte: the structure, each entry against the manifest, then the
     * whole file against the hash the catalog recorded at creation. */
    if (archive_whole(path, &a, e) != 0 || ops_archive_admissible(s->cfg, archive_manifest(a), e) != 0)
        goto out;
    mname = json_string_value(json_object_get(archive_manifest(a), "name"));
    if (mname == NULL || strcmp(mname, name) != 0) {
        err_set(e, ERR_VERIFY, "the archive's manifest names another snapshot");
        goto out;
    }
    if (archive_file_sha256(path, sha, &size, e) != 0)
        goto out;
    if (strcmp(sha, row.archive_sha256) != 0 || size != row.size) {
        err_set(e, ERR_VERIFY, "archive SHA-256 %.12s... does not match the catalog's %.12s...",
                sha, row.archive_sha256);
        goto out;
    }
    if (rename(path, final) != 0) {
        err_sys(e, errno, "rename into %s", final);
        goto out;
    }
    if (fs_fsync_dir(s->dir, e) != 0)
        goto out;
    rc = 0;
out:
    archive_close(a);
    catalog_snapshot_clear(&row);
    if (rc != 0)
        unlink(path);
    op_end(&op);
    return rc;
}

struct reindex_order {
    struct catalog_snapshot *row;
    int64_t us;
};

static int cmp_order(const void *x, const void *y)
{
    const struct reindex_order *a = x, *b = y;

    if (a->row->created_at != b->row->created_at)
        return a->row->created_at < b->row->created_at ? -1 : 1;
    if (a->us != b->us)
        return a->us < b->us ? -1 : 1;
    return strcmp(a->row->name, b->row->name);
}

int engine_reindex(struct store *s, json_t **report, struct err *e)
{
    struct reindex_order *order = NULL;
    int64_t *us = NULL;
    DIR *d = NULL;
    struct dirent *de;
    json_t *skipped = json_array();
    struct catalog_snapshot *rows = NULL;
    size_t n = 0, cap = 0;
    int rc = -1;
    struct op op = { 0 };

    *report = NULL;
    if (op_begin(s, OP_WRITE, &op, e) != 0) {
        json_decref(skipped);
        return -1;
    }
    if ((d = opendir(s->dir)) == NULL) {
        err_sys(e, errno, "open %s", s->dir);
        goto out;
    }
    while ((de = readdir(d)) != NULL) {
        char name[ENGINE_NAME_MAX + 1], path[PATH_MAX], sha[65];
        size_t len = strlen(de->d_name);
        struct archive *a = NULL;
        struct err ae = { 0 };
        int64_t size;

        if (len < 5 || strcmp(de->d_name + len - 4, ".zip") != 0 || len - 4 > ENGINE_NAME_MAX)
            continue;
        memcpy(name, de->d_name, len - 4);
        name[len - 4] = '\0';
        if (engine_name_check(name, &ae) != 0) {
            json_array_append_new(skipped, json_pack("{s:s,s:s}", "file", de->d_name, "problem",
                                                     ae.msg));
            continue;
        }
        if (fs_join(path, sizeof(path), s->dir, de->d_name, e))
            continue;
        if (archive_whole(path, &a, &ae) != 0 ||
            ops_archive_admissible(s->cfg, archive_manifest(a), &ae) != 0 ||
            archive_file_sha256(path, sha, &size, &ae) != 0 ||
            strcmp(json_string_value(json_object_get(archive_manifest(a), "name")), name) != 0) {
            if (ae.code == ERR_NONE)
                err_set(&ae, ERR_VERIFY, "manifest names another snapshot");
            json_array_append_new(skipped, json_pack("{s:s,s:s}", "file", de->d_name, "problem",
                                                     ae.msg));
            archive_close(a);
            continue;
        }
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 64;
            struct catalog_snapshot *nr = realloc(rows, ncap * sizeof(*nr));
            int64_t *nu = nr ? realloc(us, ncap * sizeof(*nu)) : NULL;
            if (nr != NULL)
                rows = nr;
            if (nu == NULL) {
                archive_close(a);
                err_set(e, ERR_IO, "out of memory");
                goto out;
            }
            us = nu;
            cap = ncap;
        }
        const json_t *cu = json_object_get(archive_manifest(a), "created_us");
        us[n] = json_is_integer(cu) ? json_integer_value(cu) : 0;
        int ok = ops_row_from_manifest(archive_manifest(a), size, sha, &rows[n], e);
        n++;
        archive_close(a);
        if (ok != 0)
            goto out;
        /* What the catalog knew beyond the archive (pin changes, labels
         * edited later) survives a reindex when the row is still there. */
        struct catalog_snapshot old;
        struct err ge = { 0 };
        if (catalog_snapshot_get(s->cat, name, 0, &old, &ge) == 0) {
            rows[n - 1].pinned = old.pinned;
            rows[n - 1].pin_until = old.pin_until;
            free(rows[n - 1].labels_json);
            rows[n - 1].labels_json = old.labels_json;
            old.labels_json = NULL;
            snprintf(rows[n - 1].offsite_state, sizeof(rows[n - 1].offsite_state), "%s",
                     old.offsite_state);
            catalog_snapshot_clear(&old);
        }
    }
    /* Insert oldest first so row ids follow creation order: the list's
     * tie-break within one second stays what it was before the reindex. */
    if ((order = calloc(n + 1, sizeof(*order))) == NULL) {
        err_set(e, ERR_IO, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        order[i].row = &rows[i];
        order[i].us = us[i];
    }
    qsort(order, n, sizeof(*order), cmp_order);
    if (catalog_begin(s->cat, e) != 0)
        goto out;
    if (catalog_snapshot_delete_all(s->cat, e) != 0)
        goto rollback;
    for (size_t i = 0; i < n; i++)
        if (catalog_snapshot_insert(s->cat, order[i].row, e) != 0)
            goto rollback;
    FAILPOINT("reindex.before_commit");
    if (catalog_commit(s->cat, e) != 0)
        goto out;
    FAILPOINT("reindex.after_commit");
    *report = json_pack("{s:I,s:O}", "indexed", (json_int_t)n, "skipped", skipped);
    rc = *report ? 0 : err_set(e, ERR_IO, "out of memory");
    goto out;
rollback:
    catalog_rollback(s->cat);
out:
    if (d != NULL)
        closedir(d);
    free(order);
    free(us);
    catalog_snapshots_free(rows, n);
    json_decref(skipped);
    op_end(&op);
    return rc;
}
