/* snapshot.c - one snapshot in the store: its catalog row and document, the
 * checks an archive from outside must pass, and the crash-safe steps that
 * add or remove a row and its archive under the caller's lock. */
#include "snapshot.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "archive.h"
#include "capture.h"
#include "../common/fsutil.h"
#include "manifest.h"
#include "signing.h"
#include "../db/drill.h"
#include "../db/offsite.h"

int snapshot_labels_check(const json_t *labels, struct err *e)
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

int snapshot_pinned(const struct catalog_snapshot *r, int64_t now)
{
    return r->pinned && (r->pin_until == 0 || r->pin_until > now);
}

json_t *snapshot_json(const struct store *s, const struct catalog_snapshot *row)
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
                  "pinned", snapshot_pinned(row, now),
                  "pinned_until", snapshot_pinned(row, now) && row->pin_until
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
        json_object_set_new(o, "signature", signing_row_json(row));
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

int snapshot_row_add_file(struct catalog_snapshot *row, const char *path, int64_t size,
                          const char *sha256, const char *group, struct err *e)
{
    struct catalog_file *cf = &row->files[row->n_files];

    if ((cf->path = strdup(path)) == NULL)
        return err_set(e, ERR_IO, "out of memory");
    cf->size = size;
    snprintf(cf->sha256, sizeof(cf->sha256), "%s", sha256);
    snprintf(cf->group, sizeof(cf->group), "%s", group ? group : "");
    if (strcmp(group ? group : "", "secrets") != 0)
        row->empty = 0;
    row->n_files++;
    return 0;
}

int snapshot_row_from_manifest(const json_t *m, int64_t size, const char *sha256,
                               struct catalog_snapshot *row, struct err *e)
{
    const json_t *pc;
    const char *gc;

    memset(row, 0, sizeof(*row));
    snprintf(row->name, sizeof(row->name), "%s", json_string_value(json_object_get(m, "name")));
    if (manifest_parse_time(json_string_value(json_object_get(m, "created_at")),
                            &row->created_at) != 0)
        return err_set(e, ERR_VERIFY, "manifest has a bad created_at");
    row->size = size;
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
    if (row->labels_json == NULL)
        return err_set(e, ERR_IO, "out of memory");
    row->empty = 1;
    return 0;
}

int snapshot_row_from_archive(const struct archive *a, int64_t size, const char *sha256,
                              struct catalog_snapshot *row, struct err *e)
{
    size_t n = archive_n_files(a);

    if (snapshot_row_from_manifest(archive_head(a), size, sha256, row, e) != 0)
        return -1;
    if ((row->files = calloc(n + 1, sizeof(*row->files))) == NULL)
        return err_set(e, ERR_IO, "out of memory");
    for (size_t i = 0; i < n; i++) {
        const struct manifest_file *f = archive_file(a, i);
        if (snapshot_row_add_file(row, f->path, (int64_t)f->size, f->sha256, f->group, e) != 0)
            return -1;
    }
    row->file_count = (int64_t)row->n_files;
    return 0;
}

int snapshot_admissible(const struct engine_config *cfg, const struct archive *a, struct err *e)
{
    const json_t *m = archive_head(a), *f;
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
    if (snapshot_labels_check(json_object_get(m, "labels"), &le) != 0)
        return err_set(e, ERR_VERIFY, "manifest.json: %s", le.msg);
    for (i = 0; i < archive_n_files(a); i++) {
        const char *p = archive_file(a, i)->path;
        if (strcmp(p, MANIFEST_ENV_ENTRY) != 0 && !capture_path_allowed(cfg, p))
            return err_set(e, ERR_VERIFY, "archive holds %.200s, which this store's include set "
                           "does not allow", p);
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
int snapshot_archive_whole(const char *path, struct archive **out, struct err *e)
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

int snapshot_insert_from_archive(struct store *s, const char *path, struct archive *a,
                                 struct err *e)
{
    struct catalog_snapshot row;
    char sha[65];
    int64_t size;
    int rc = -1;

    memset(&row, 0, sizeof(row));
    if (archive_file_sha256(path, sha, &size, e) != 0 ||
        snapshot_row_from_archive(a, size, sha, &row, e) != 0 ||
        signing_fill_row(s, a, &row, e) != 0)
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

int snapshot_adopt_or_remove(struct store *s, const char *name, struct err *e)
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
    if (snapshot_archive_whole(path, &a, &ae) == 0 &&
        strcmp(json_string_value(json_object_get(archive_head(a), "name")), name) == 0) {
        r = snapshot_insert_from_archive(s, path, a, e);
        archive_close(a);
        return r;
    }
    archive_close(a);
    if (unlink(path) != 0 && errno != ENOENT)
        return err_sys(e, errno, "remove partial %s", path);
    return fs_fsync_dir(s->dir, e);
}

int snapshot_finish_delete(struct store *s, const char *name, struct err *e)
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

int snapshot_delete(struct store *s, const char *name, struct err *e)
{
    if (store_intent_write(s, name, "delete", e) != 0)
        return -1;
    if (catalog_begin(s->cat, e) != 0)
        return -1;
    if (catalog_snapshot_delete(s->cat, name, e) != 0 || catalog_commit(s->cat, e) != 0) {
        catalog_rollback(s->cat);
        return -1;
    }
    if (snapshot_finish_delete(s, name, e) != 0)
        return -1;
    return store_intent_clear(s, name, "delete", e);
}

json_t *snapshot_offsite_lock(struct store *s, const char *name)
{
    struct catalog_offsite_lock lk;
    char until[32];

    if (catalog_offsite_lock_get(s->cat, name, &lk, NULL) != 0 || lk.retain_until <= engine_now())
        return json_null();
    engine_time_format(lk.retain_until, until, sizeof(until));
    return json_pack("{s:s, s:s}", "mode", lk.mode, "retain_until", until);
}
