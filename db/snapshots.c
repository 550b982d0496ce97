/* snapshots.c - the catalog's snapshot rows (snapshots, snapshot_files,
 * totals): insert, read, list, pin, label, delete. SQL only; the caller
 * decides what a row means. */
#include "catalog_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void catalog_snapshot_clear(struct catalog_snapshot *s)
{
    if (s == NULL)
        return;
    free(s->labels_json);
    free(s->consistency_json);
    free(s->chain_json);
    catalog_snapshot_drop_files(s);
    memset(s, 0, sizeof(*s));
}

void catalog_snapshot_drop_files(struct catalog_snapshot *s)
{
    for (size_t i = 0; i < s->n_files; i++)
        free(s->files[i].path);
    free(s->files);
    s->files = NULL;
    s->n_files = 0;
}

void catalog_snapshots_free(struct catalog_snapshot *rows, size_t n)
{
    if (rows == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        catalog_snapshot_clear(&rows[i]);
    free(rows);
}

static void copy_text(char *dst, size_t len, sqlite3_stmt *st, int col)
{
    const unsigned char *t = sqlite3_column_text(st, col);

    snprintf(dst, len, "%s", t ? (const char *)t : "");
}

#define SNAP_COLS "id, name, created_at, size, file_count, version, git_commit, host, " \
                  "created_by, archive_sha256, labels, pinned, pin_until, positions_count, " \
                  "offsite_state, consistency, chain, empty, signature, signer"

static int row_read(sqlite3_stmt *st, struct catalog_snapshot *s, struct err *e)
{
    const unsigned char *labels;

    memset(s, 0, sizeof(*s));
    s->id = sqlite3_column_int64(st, 0);
    copy_text(s->name, sizeof(s->name), st, 1);
    s->created_at = sqlite3_column_int64(st, 2);
    s->size = sqlite3_column_int64(st, 3);
    s->file_count = sqlite3_column_int64(st, 4);
    copy_text(s->version, sizeof(s->version), st, 5);
    copy_text(s->git_commit, sizeof(s->git_commit), st, 6);
    copy_text(s->host, sizeof(s->host), st, 7);
    copy_text(s->created_by, sizeof(s->created_by), st, 8);
    copy_text(s->archive_sha256, sizeof(s->archive_sha256), st, 9);
    labels = sqlite3_column_text(st, 10);
    s->labels_json = strdup(labels ? (const char *)labels : "{}");
    s->pinned = sqlite3_column_int(st, 11);
    s->pin_until = sqlite3_column_int64(st, 12);
    s->positions_count = sqlite3_column_int64(st, 13);
    copy_text(s->offsite_state, sizeof(s->offsite_state), st, 14);
    labels = sqlite3_column_text(st, 15);
    s->consistency_json = labels && *labels ? strdup((const char *)labels) : NULL;
    labels = sqlite3_column_text(st, 16);
    s->chain_json = labels && *labels ? strdup((const char *)labels) : NULL;
    s->empty = sqlite3_column_int(st, 17);
    copy_text(s->signature, sizeof(s->signature), st, 18);
    copy_text(s->signer, sizeof(s->signer), st, 19);
    if (s->labels_json == NULL)
        return err_set(e, ERR_IO, "out of memory");
    return 0;
}

int catalog_snapshot_insert(struct catalog *c, const struct catalog_snapshot *s, struct err *e)
{
    sqlite3_stmt *st = NULL;
    int rc;
    int64_t id;

    if (catalog_stmt(c, "INSERT INTO snapshots (name, created_at, size, file_count, version, "
                   "git_commit, host, created_by, archive_sha256, labels, pinned, pin_until, "
                   "positions_count, offsite_state, consistency, chain, empty, signature, signer) "
                   "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                &st, e) != 0)
        return -1;
    sqlite3_bind_text(st, 1, s->name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, s->created_at);
    sqlite3_bind_int64(st, 3, s->size);
    sqlite3_bind_int64(st, 4, s->file_count);
    sqlite3_bind_text(st, 5, s->version, -1, SQLITE_STATIC);
    if (s->git_commit[0])
        sqlite3_bind_text(st, 6, s->git_commit, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, 6);
    sqlite3_bind_text(st, 7, s->host, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 8, s->created_by, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 9, s->archive_sha256, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 10, s->labels_json ? s->labels_json : "{}", -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 11, s->pinned);
    sqlite3_bind_int64(st, 12, s->pin_until);
    sqlite3_bind_int64(st, 13, s->positions_count);
    sqlite3_bind_text(st, 14, s->offsite_state, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 15, s->consistency_json ? s->consistency_json : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 16, s->chain_json ? s->chain_json : "", -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 17, s->empty);
    sqlite3_bind_text(st, 18, s->signature[0] ? s->signature : "unsigned", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 19, s->signer, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    catalog_release(c, st);
    if (rc == SQLITE_CONSTRAINT)
        return err_set(e, ERR_CONFLICT, "a snapshot named \"%s\" already exists", s->name);
    if (rc != SQLITE_DONE)
        return catalog_fail(c, e, "insert snapshot");
    id = sqlite3_last_insert_rowid(catalog_handle(c));
    if (catalog_stmt(c, "INSERT INTO snapshot_files (snapshot_id, path, size, sha256, grp) "
                   "VALUES (?,?,?,?,?)", &st, e) != 0)
        return -1;
    for (size_t i = 0; i < s->n_files; i++) {
        const struct catalog_file *f = &s->files[i];
        sqlite3_reset(st);
        sqlite3_bind_int64(st, 1, id);
        sqlite3_bind_text(st, 2, f->path, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, f->size);
        sqlite3_bind_text(st, 4, f->sha256, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 5, f->group, -1, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_DONE) {
            catalog_release(c, st);
            return catalog_fail(c, e, "insert snapshot file");
        }
    }
    catalog_release(c, st);
    return 0;
}

/* Call each for every file of snapshot id, by path, with the row borrowed
 * for the call. Stops at each's first non-zero, which is returned. */
static int files_each_id(struct catalog *c, int64_t id, catalog_file_fn each, void *ctx,
                         struct err *e)
{
    sqlite3_stmt *st = NULL;
    struct catalog_file f;
    int rc, r = 0;

    if (catalog_stmt(c, "SELECT path, size, sha256, grp FROM snapshot_files WHERE snapshot_id = ? "
                   "ORDER BY path", &st, e) != 0)
        return -1;
    sqlite3_bind_int64(st, 1, id);
    while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        memset(&f, 0, sizeof(f));
        f.path = (char *)sqlite3_column_text(st, 0);
        if (f.path == NULL) {
            catalog_release(c, st);
            return err_set(e, ERR_IO, "out of memory");
        }
        f.size = sqlite3_column_int64(st, 1);
        copy_text(f.sha256, sizeof(f.sha256), st, 2);
        copy_text(f.group, sizeof(f.group), st, 3);
        r = each(ctx, &f);
    }
    catalog_release(c, st);
    if (r != 0)
        return r;
    if (rc != SQLITE_DONE)
        return catalog_fail(c, e, "read snapshot files");
    return 0;
}

struct files_into {
    struct catalog_snapshot *s;
    size_t cap;
};

static int file_into(void *ctx, const struct catalog_file *f)
{
    struct files_into *fi = ctx;
    struct catalog_snapshot *s = fi->s;

    if (s->n_files == fi->cap) {
        size_t ncap = fi->cap ? fi->cap * 2 : 16;
        struct catalog_file *nf = realloc(s->files, ncap * sizeof(*nf));
        if (nf == NULL)
            return -1;
        s->files = nf;
        fi->cap = ncap;
    }
    s->files[s->n_files] = *f;
    if ((s->files[s->n_files].path = strdup(f->path)) == NULL)
        return -1;
    s->n_files++;
    return 0;
}

static int read_files(struct catalog *c, struct catalog_snapshot *s, struct err *e)
{
    struct files_into fi = { s, 0 };
    int r = files_each_id(c, s->id, file_into, &fi, e);

    if (r > 0 || (r < 0 && e->code == ERR_NONE))
        return err_set(e, ERR_IO, "out of memory");
    return r;
}

int catalog_files_each(struct catalog *c, const char *name, catalog_file_fn each, void *ctx,
                       struct err *e)
{
    sqlite3_stmt *st = NULL;
    int64_t id;
    int rc;

    if (catalog_stmt(c, "SELECT id FROM snapshots WHERE name = ?", &st, e) != 0)
        return -1;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    id = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    catalog_release(c, st);
    if (rc == SQLITE_DONE)
        return err_set(e, ERR_NOT_FOUND, "no snapshot named \"%s\"", name);
    if (rc != SQLITE_ROW)
        return catalog_fail(c, e, "look up snapshot");
    return files_each_id(c, id, each, ctx, e);
}

int catalog_snapshot_get(struct catalog *c, const char *name, int with_files,
                         struct catalog_snapshot *out, struct err *e)
{
    sqlite3_stmt *st = NULL;
    int rc;

    memset(out, 0, sizeof(*out));
    if (catalog_stmt(c, "SELECT " SNAP_COLS " FROM snapshots WHERE name = ?", &st, e) != 0)
        return -1;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) {
        catalog_release(c, st);
        return err_set(e, ERR_NOT_FOUND, "no snapshot named \"%s\"", name);
    }
    if (rc != SQLITE_ROW) {
        catalog_release(c, st);
        return catalog_fail(c, e, "read snapshot");
    }
    rc = row_read(st, out, e);
    catalog_release(c, st);
    if (rc != 0 || (with_files && read_files(c, out, e) != 0)) {
        catalog_snapshot_clear(out);
        return -1;
    }
    return 0;
}

int catalog_snapshot_exists(struct catalog *c, const char *name, struct err *e)
{
    sqlite3_stmt *st = NULL;
    int rc;

    if (catalog_stmt(c, "SELECT 1 FROM snapshots WHERE name = ?", &st, e) != 0)
        return -1;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    catalog_release(c, st);
    if (rc == SQLITE_ROW)
        return 1;
    if (rc == SQLITE_DONE)
        return 0;
    return catalog_fail(c, e, "look up snapshot");
}

int catalog_snapshot_latest(struct catalog *c, struct catalog_snapshot *out, struct err *e)
{
    sqlite3_stmt *st = NULL;
    int rc;

    memset(out, 0, sizeof(*out));
    if (catalog_stmt(c, "SELECT " SNAP_COLS " FROM snapshots ORDER BY created_at DESC, id DESC "
                   "LIMIT 1", &st, e) != 0)
        return -1;
    rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) {
        catalog_release(c, st);
        return err_set(e, ERR_NOT_FOUND, "there are no snapshots yet");
    }
    if (rc != SQLITE_ROW) {
        catalog_release(c, st);
        return catalog_fail(c, e, "read latest snapshot");
    }
    rc = row_read(st, out, e);
    catalog_release(c, st);
    if (rc != 0)
        catalog_snapshot_clear(out);
    return rc;
}

int catalog_snapshot_list(struct catalog *c, const struct catalog_filter *f,
                          struct catalog_snapshot **rows, size_t *n, int *more, struct err *e)
{
    sqlite3_stmt *st = NULL;
    char sql[512];
    int rc, idx = 1;
    size_t limit = f->limit ? f->limit : 50;
    struct catalog_snapshot *v;

    *rows = NULL;
    *n = 0;
    *more = 0;
    rc = snprintf(sql, sizeof(sql),
                  "SELECT " SNAP_COLS " FROM snapshots WHERE 1=1%s%s%s "
                  "ORDER BY created_at DESC, id DESC LIMIT ?",
                  f->after_id ? " AND (created_at < ? OR (created_at = ? AND id < ?))" : "",
                  f->prefix ? " AND substr(name, 1, length(?)) = ?" : "",
                  f->label_key ? " AND json_extract(labels, ?) = ?" : "");
    if (rc < 0 || (size_t)rc >= sizeof(sql))
        return err_set(e, ERR_IO, "list query too long");
    if (catalog_stmt(c, sql, &st, e) != 0)
        return -1;
    if (f->after_id) {
        sqlite3_bind_int64(st, idx++, f->after_created_at);
        sqlite3_bind_int64(st, idx++, f->after_created_at);
        sqlite3_bind_int64(st, idx++, f->after_id);
    }
    if (f->prefix) {
        sqlite3_bind_text(st, idx++, f->prefix, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, idx++, f->prefix, -1, SQLITE_STATIC);
    }
    char path[160];
    if (f->label_key) {
        /* json_extract path: $."key" with the key quoted so dots are literal. */
        if (strchr(f->label_key, '"') != NULL ||
            snprintf(path, sizeof(path), "$.\"%s\"", f->label_key) >= (int)sizeof(path)) {
            catalog_release(c, st);
            return err_set(e, ERR_INVALID, "bad label key");
        }
        sqlite3_bind_text(st, idx++, path, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, idx++, f->label_value ? f->label_value : "", -1, SQLITE_STATIC);
    }
    sqlite3_bind_int64(st, idx, (int64_t)limit + 1);
    if ((v = calloc(limit + 1, sizeof(*v))) == NULL) {
        catalog_release(c, st);
        return err_set(e, ERR_IO, "out of memory");
    }
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (*n == limit) {
            *more = 1;
            break;
        }
        if (row_read(st, &v[*n], e) != 0) {
            (*n)++;
            goto fail;
        }
        (*n)++;
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        catalog_fail(c, e, "list snapshots");
        goto fail;
    }
    catalog_release(c, st);
    *rows = v;
    return 0;
fail:
    catalog_release(c, st);
    catalog_snapshots_free(v, *n);
    *n = 0;
    return -1;
}

int catalog_snapshot_names(struct catalog *c, char ***names, size_t *n, struct err *e)
{
    sqlite3_stmt *st = NULL;
    size_t cap = 0;
    char **v = NULL;
    int rc;

    *names = NULL;
    *n = 0;
    if (catalog_stmt(c, "SELECT name FROM snapshots ORDER BY created_at DESC, id DESC", &st, e) != 0)
        return -1;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (*n == cap) {
            size_t ncap = cap ? cap * 2 : 64;
            char **nv = realloc(v, ncap * sizeof(*nv));
            if (nv == NULL)
                goto oom;
            v = nv;
            cap = ncap;
        }
        if ((v[*n] = strdup((const char *)sqlite3_column_text(st, 0))) == NULL)
            goto oom;
        (*n)++;
    }
    catalog_release(c, st);
    if (rc != SQLITE_DONE) {
        for (size_t i = 0; i < *n; i++)
            free(v[i]);
        free(v);
        *n = 0;
        return catalog_fail(c, e, "list names");
    }
    *names = v;
    return 0;
oom:
    catalog_release(c, st);
    for (size_t i = 0; i < *n; i++)
        free(v[i]);
    free(v);
    *n = 0;
    return err_set(e, ERR_IO, "out of memory");
}

int catalog_totals(struct catalog *c, int64_t *count, int64_t *bytes, struct err *e)
{
    sqlite3_stmt *st = NULL;

    if (catalog_stmt(c, "SELECT count, bytes FROM totals WHERE id = 1", &st, e) != 0)
        return -1;
    if (sqlite3_step(st) != SQLITE_ROW) {
        catalog_release(c, st);
        return catalog_fail(c, e, "read totals");
    }
    *count = sqlite3_column_int64(st, 0);
    *bytes = sqlite3_column_int64(st, 1);
    catalog_release(c, st);
    return 0;
}

int catalog_count_inconsistent(struct catalog *c, int64_t *n, struct err *e)
{
    sqlite3_stmt *st = NULL;

    if (catalog_stmt(c, "SELECT count(*) FROM snapshots INDEXED BY snapshots_changed "
                   "WHERE consistency LIKE '%\"state\":\"changed\"%'", &st, e) != 0)
        return -1;
    if (sqlite3_step(st) != SQLITE_ROW) {
        catalog_release(c, st);
        return catalog_fail(c, e, "count flagged snapshots");
    }
    *n = sqlite3_column_int64(st, 0);
    catalog_release(c, st);
    return 0;
}

int catalog_count_unsigned(struct catalog *c, int64_t *unsigned_n, int64_t *untrusted_n,
                           struct err *e)
{
    sqlite3_stmt *st = NULL;
    int rc;

    *unsigned_n = *untrusted_n = 0;
    if (catalog_stmt(c, "SELECT signature, count(*) FROM snapshots INDEXED BY snapshots_not_signed "
                   "WHERE signature <> 'signed' GROUP BY signature", &st, e) != 0)
        return -1;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const unsigned char *t = sqlite3_column_text(st, 0);
        int64_t n = sqlite3_column_int64(st, 1);
        if (t != NULL && strcmp((const char *)t, "untrusted") == 0)
            *untrusted_n += n;
        else
            *unsigned_n += n;
    }
    catalog_release(c, st);
    return rc == SQLITE_DONE ? 0 : catalog_fail(c, e, "count unsigned snapshots");
}

static int exec_named(struct catalog *c, const char *sql, const char *name, struct err *e)
{
    sqlite3_stmt *st = NULL;
    int rc;

    if (catalog_stmt(c, sql, &st, e) != 0)
        return -1;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    catalog_release(c, st);
    if (rc != SQLITE_DONE)
        return catalog_fail(c, e, "update snapshot");
    if (sqlite3_changes(catalog_handle(c)) == 0)
        return err_set(e, ERR_NOT_FOUND, "no snapshot named \"%s\"", name);
    return 0;
}

int catalog_snapshot_delete(struct catalog *c, const char *name, struct err *e)
{
    return exec_named(c, "DELETE FROM snapshots WHERE name = ?", name, e);
}

int catalog_snapshot_set_pin(struct catalog *c, const char *name, int pinned, int64_t pin_until,
                             struct err *e)
{
    sqlite3_stmt *st = NULL;
    int rc;

    if (catalog_stmt(c, "UPDATE snapshots SET pinned = ?, pin_until = ? WHERE name = ?", &st, e) != 0)
        return -1;
    sqlite3_bind_int(st, 1, pinned);
    sqlite3_bind_int64(st, 2, pinned ? pin_until : 0);
    sqlite3_bind_text(st, 3, name, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    catalog_release(c, st);
    if (rc != SQLITE_DONE)
        return catalog_fail(c, e, "set pin");
    if (sqlite3_changes(catalog_handle(c)) == 0)
        return err_set(e, ERR_NOT_FOUND, "no snapshot named \"%s\"", name);
    return 0;
}

int catalog_snapshot_set_labels(struct catalog *c, const char *name, const char *labels_json,
                                struct err *e)
{
    sqlite3_stmt *st = NULL;
    int rc;

    if (catalog_stmt(c, "UPDATE snapshots SET labels = ? WHERE name = ?", &st, e) != 0)
        return -1;
    sqlite3_bind_text(st, 1, labels_json, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    catalog_release(c, st);
    if (rc != SQLITE_DONE)
        return catalog_fail(c, e, "set labels");
    if (sqlite3_changes(catalog_handle(c)) == 0)
        return err_set(e, ERR_NOT_FOUND, "no snapshot named \"%s\"", name);
    return 0;
}

int catalog_snapshot_delete_all(struct catalog *c, struct err *e)
{
    return catalog_exec(c, "DELETE FROM snapshots", e);
}

int catalog_snapshot_brief(struct catalog *c, struct catalog_brief **rows, size_t *n,
                           struct err *e)
{
    sqlite3_stmt *st = NULL;
    struct catalog_brief *v = NULL;
    size_t cap = 0;
    int rc;

    *rows = NULL;
    *n = 0;
    if (catalog_stmt(c, "SELECT name, created_at, pinned, pin_until, empty FROM snapshots "
                   "ORDER BY created_at DESC, id DESC", &st, e) != 0)
        return -1;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (*n == cap) {
            size_t ncap = cap ? cap * 2 : 64;
            struct catalog_brief *nv = realloc(v, ncap * sizeof(*nv));
            if (nv == NULL) {
                catalog_release(c, st);
                free(v);
                *n = 0;
                return err_set(e, ERR_IO, "out of memory");
            }
            v = nv;
            cap = ncap;
        }
        struct catalog_brief *b = &v[(*n)++];
        copy_text(b->name, sizeof(b->name), st, 0);
        b->created_at = sqlite3_column_int64(st, 1);
        b->pinned = sqlite3_column_int(st, 2);
        b->pin_until = sqlite3_column_int64(st, 3);
        b->empty = sqlite3_column_int(st, 4);
    }
    catalog_release(c, st);
    if (rc != SQLITE_DONE) {
        free(v);
        *n = 0;
        return catalog_fail(c, e, "list snapshots");
    }
    *rows = v;
    return 0;
}
