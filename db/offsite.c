/* offsite.c - the catalog's offsite columns: typed reads and writes. */
#include "offsite.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog_internal.h"

/* Run the bound UPDATE st of snapshot NAME's row and release it: 0, or -1
 * with ERR_NOT_FOUND when no row is NAME's (what = the failure's name). */
static int step_update(struct catalog *c, sqlite3_stmt *st, const char *name, const char *what,
                       struct err *e)
{
    int rc = sqlite3_step(st);

    catalog_release(c, st);
    if (rc != SQLITE_DONE)
        return catalog_fail(c, e, what);
    if (sqlite3_changes(catalog_handle(c)) == 0)
        return err_set(e, ERR_NOT_FOUND, "no snapshot named \"%s\"", name);
    return 0;
}

int catalog_offsite_set(struct catalog *c, const char *name, const char *state, const char *error,
                        int64_t at, struct err *e)
{
    sqlite3_stmt *st = NULL;

    if (catalog_prepare(c, "UPDATE snapshots SET offsite_state = ?1, offsite_error = ?2, "
                               "offsite_at = ?3 WHERE name = ?4", &st) != SQLITE_OK)
        return catalog_fail(c, e, "offsite update");
    sqlite3_bind_text(st, 1, state, -1, SQLITE_STATIC);
    if (error != NULL)
        sqlite3_bind_text(st, 2, error, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, 2);
    if (at > 0)
        sqlite3_bind_int64(st, 3, at);
    else
        sqlite3_bind_null(st, 3);
    sqlite3_bind_text(st, 4, name, -1, SQLITE_STATIC);
    return step_update(c, st, name, "offsite update", e);
}

int catalog_offsite_set_copy(struct catalog *c, const char *name, const char *copy_sha256,
                             int64_t copy_size, struct err *e)
{
    sqlite3_stmt *st = NULL;

    if (catalog_prepare(c, "UPDATE snapshots SET offsite_copy_sha256 = ?1, offsite_copy_size = ?2 "
                               "WHERE name = ?3", &st) != SQLITE_OK)
        return catalog_fail(c, e, "offsite copy update");
    if (copy_sha256 != NULL) {
        sqlite3_bind_text(st, 1, copy_sha256, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, copy_size);
    } else {
        sqlite3_bind_null(st, 1);
        sqlite3_bind_null(st, 2);
    }
    sqlite3_bind_text(st, 3, name, -1, SQLITE_STATIC);
    return step_update(c, st, name, "offsite copy update", e);
}

int catalog_offsite_get(struct catalog *c, const char *name, struct catalog_offsite *out,
                        struct err *e)
{
    sqlite3_stmt *st = NULL;
    const unsigned char *t;
    int rc;

    memset(out, 0, sizeof(*out));
    if (catalog_prepare(c, "SELECT offsite_state, offsite_error, offsite_at, offsite_copy_sha256, "
                               "offsite_copy_size FROM snapshots "
                               "WHERE name = ?1", &st) != SQLITE_OK)
        return catalog_fail(c, e, "offsite read");
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        t = sqlite3_column_text(st, 0);
        snprintf(out->state, sizeof(out->state), "%s", t ? (const char *)t : "");
        t = sqlite3_column_text(st, 1);
        /* An error longer than the buffer is cut: it is a human message. */
        snprintf(out->error, sizeof(out->error), "%s", t ? (const char *)t : "");
        out->at = sqlite3_column_int64(st, 2);
        t = sqlite3_column_text(st, 3);
        snprintf(out->copy_sha256, sizeof(out->copy_sha256), "%s", t ? (const char *)t : "");
        out->copy_size = sqlite3_column_int64(st, 4);
    }
    catalog_release(c, st);
    if (rc == SQLITE_DONE)
        return err_set(e, ERR_NOT_FOUND, "no snapshot named \"%s\"", name);
    if (rc != SQLITE_ROW)
        return catalog_fail(c, e, "offsite read");
    return 0;
}

int catalog_offsite_rows(struct catalog *c, struct catalog_offsite_row **rows, size_t *n,
                         struct err *e)
{
    sqlite3_stmt *st = NULL;
    struct catalog_offsite_row *v = NULL;
    size_t cap = 0, len = 0;
    int rc;

    *rows = NULL;
    *n = 0;
    if (catalog_prepare(c, "SELECT name, offsite_state, size, archive_sha256, offsite_copy_sha256, "
                               "offsite_copy_size FROM snapshots "
                               "ORDER BY created_at, id", &st) != SQLITE_OK)
        return catalog_fail(c, e, "offsite rows");
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const unsigned char *t = sqlite3_column_text(st, 0);
        if (len == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            struct catalog_offsite_row *nv = realloc(v, ncap * sizeof(*nv));
            if (nv == NULL)
                goto oom;
            v = nv;
            cap = ncap;
        }
        memset(&v[len], 0, sizeof(v[len]));
        if ((v[len].name = strdup(t ? (const char *)t : "")) == NULL)
            goto oom;
        t = sqlite3_column_text(st, 1);
        snprintf(v[len].state, sizeof(v[len].state), "%s", t ? (const char *)t : "");
        v[len].size = sqlite3_column_int64(st, 2);
        t = sqlite3_column_text(st, 3);
        snprintf(v[len].sha256, sizeof(v[len].sha256), "%s", t ? (const char *)t : "");
        t = sqlite3_column_text(st, 4);
        snprintf(v[len].copy_sha256, sizeof(v[len].copy_sha256), "%s", t ? (const char *)t : "");
        v[len].copy_size = sqlite3_column_int64(st, 5);
        len++;
    }
    catalog_release(c, st);
    if (rc != SQLITE_DONE) {
        catalog_offsite_rows_free(v, len);
        return catalog_fail(c, e, "offsite rows");
    }
    *rows = v;
    *n = len;
    return 0;
oom:
    catalog_release(c, st);
    catalog_offsite_rows_free(v, len);
    return err_set(e, ERR_IO, "out of memory");
}

void catalog_offsite_rows_free(struct catalog_offsite_row *rows, size_t n)
{
    if (rows == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        free(rows[i].name);
    free(rows);
}

int catalog_offsite_mark_new(struct catalog *c, struct err *e)
{
    sqlite3 *db = catalog_handle(c);

    if (sqlite3_exec(db, "UPDATE snapshots SET offsite_state = 'pending' "
                         "WHERE offsite_state = ''", NULL, NULL, NULL) != SQLITE_OK)
        return catalog_fail(c, e, "offsite mark pending");
    return 0;
}

int catalog_offsite_todo(struct catalog *c, char ***names, size_t *n, struct err *e)
{
    sqlite3_stmt *st = NULL;
    char **v = NULL;
    size_t cap = 0, len = 0;
    int rc;

    *names = NULL;
    *n = 0;
    if (catalog_prepare(c, "SELECT name FROM snapshots WHERE offsite_state <> 'synced' "
                               "ORDER BY created_at, id", &st) != SQLITE_OK)
        return catalog_fail(c, e, "offsite list");
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const unsigned char *t = sqlite3_column_text(st, 0);
        if (len == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            char **nv = realloc(v, ncap * sizeof(*nv));
            if (nv == NULL)
                goto oom;
            v = nv;
            cap = ncap;
        }
        if ((v[len] = strdup(t ? (const char *)t : "")) == NULL)
            goto oom;
        len++;
    }
    catalog_release(c, st);
    if (rc != SQLITE_DONE) {
        for (size_t i = 0; i < len; i++)
            free(v[i]);
        free(v);
        return catalog_fail(c, e, "offsite list");
    }
    *names = v;
    *n = len;
    return 0;
oom:
    catalog_release(c, st);
    for (size_t i = 0; i < len; i++)
        free(v[i]);
    free(v);
    return err_set(e, ERR_IO, "out of memory");
}

int catalog_offsite_stats(struct catalog *c, struct catalog_offsite_stats *out, struct err *e)
{
    sqlite3_stmt *st = NULL;
    int rc;

    memset(out, 0, sizeof(out[0]));
    /* Counts from the trigger-kept table, the newest sync from the index. */
    if (catalog_prepare(c, "SELECT state, n FROM offsite_totals", &st) != SQLITE_OK)
        return catalog_fail(c, e, "offsite stats");
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *s = (const char *)sqlite3_column_text(st, 0);
        int64_t k = sqlite3_column_int64(st, 1);
        if (s == NULL || *s == '\0')
            out->none += k;
        else if (strcmp(s, "pending") == 0)
            out->pending += k;
        else if (strcmp(s, "synced") == 0)
            out->synced += k;
        else if (strcmp(s, "failed") == 0)
            out->failed += k;
    }
    catalog_release(c, st);
    if (rc != SQLITE_DONE)
        return catalog_fail(c, e, "offsite stats");
    if (catalog_prepare(c, "SELECT max(offsite_at) FROM snapshots WHERE offsite_state = 'synced'",
                        &st) != SQLITE_OK)
        return catalog_fail(c, e, "offsite stats");
    if ((rc = sqlite3_step(st)) == SQLITE_ROW)
        out->last_success = sqlite3_column_int64(st, 0);
    catalog_release(c, st);
    if (rc != SQLITE_ROW)
        return catalog_fail(c, e, "offsite stats");
    return 0;
}

int catalog_offsite_lock_set(struct catalog *c, const char *name, const char *mode,
                             int64_t retain_until, const char *archive_sha256, int64_t at,
                             struct err *e)
{
    sqlite3_stmt *st = NULL;
    int rc;

    if (strcmp(mode, "GOVERNANCE") != 0 && strcmp(mode, "COMPLIANCE") != 0)
        return err_set(e, ERR_INVALID, "object lock mode must be GOVERNANCE or COMPLIANCE");
    if (catalog_prepare(c, "INSERT INTO offsite_locks (name, mode, retain_until, archive_sha256, at) "
                           "VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT(name) DO UPDATE SET "
                           "mode = CASE WHEN excluded.retain_until >= retain_until "
                           "THEN excluded.mode ELSE mode END, "
                           "archive_sha256 = excluded.archive_sha256, at = excluded.at, "
                           "retain_until = max(retain_until, excluded.retain_until)",
                        &st) != SQLITE_OK)
        return catalog_fail(c, e, "offsite lock record");
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, mode, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, retain_until);
    sqlite3_bind_text(st, 4, archive_sha256, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, at);
    rc = sqlite3_step(st);
    catalog_release(c, st);
    if (rc != SQLITE_DONE)
        return catalog_fail(c, e, "offsite lock record");
    return 0;
}

static void lock_row(sqlite3_stmt *st, struct catalog_offsite_lock *out)
{
    const unsigned char *t;

    memset(out, 0, sizeof(*out));
    t = sqlite3_column_text(st, 0);
    snprintf(out->name, sizeof(out->name), "%s", t ? (const char *)t : "");
    t = sqlite3_column_text(st, 1);
    snprintf(out->mode, sizeof(out->mode), "%s", t ? (const char *)t : "");
    out->retain_until = sqlite3_column_int64(st, 2);
    t = sqlite3_column_text(st, 3);
    snprintf(out->archive_sha256, sizeof(out->archive_sha256), "%s", t ? (const char *)t : "");
    out->at = sqlite3_column_int64(st, 4);
    out->local = sqlite3_column_int(st, 5) != 0;
}

#define LOCK_COLUMNS "l.name, l.mode, l.retain_until, l.archive_sha256, l.at, " \
                     "EXISTS (SELECT 1 FROM snapshots s WHERE s.name = l.name)"

int catalog_offsite_lock_get(struct catalog *c, const char *name, struct catalog_offsite_lock *out,
                             struct err *e)
{
    sqlite3_stmt *st = NULL;
    int rc;

    memset(out, 0, sizeof(*out));
    if (catalog_prepare(c, "SELECT " LOCK_COLUMNS " FROM offsite_locks l WHERE l.name = ?1",
                        &st) != SQLITE_OK)
        return catalog_fail(c, e, "offsite lock read");
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    if ((rc = sqlite3_step(st)) == SQLITE_ROW)
        lock_row(st, out);
    catalog_release(c, st);
    if (rc == SQLITE_DONE)
        return err_set(e, ERR_NOT_FOUND, "no offsite lock recorded for \"%s\"", name);
    if (rc != SQLITE_ROW)
        return catalog_fail(c, e, "offsite lock read");
    return 0;
}

int catalog_offsite_locks(struct catalog *c, int64_t now, struct catalog_offsite_lock **rows,
                          size_t *n, struct err *e)
{
    sqlite3_stmt *st = NULL;
    struct catalog_offsite_lock *v = NULL;
    size_t cap = 0, len = 0;
    int rc;

    *rows = NULL;
    *n = 0;
    if (catalog_prepare(c, "SELECT " LOCK_COLUMNS " FROM offsite_locks l WHERE l.retain_until > ?1 "
                           "ORDER BY l.retain_until, l.name", &st) != SQLITE_OK)
        return catalog_fail(c, e, "offsite locks");
    sqlite3_bind_int64(st, 1, now);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (len == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            struct catalog_offsite_lock *nv = realloc(v, ncap * sizeof(*nv));
            if (nv == NULL) {
                catalog_release(c, st);
                free(v);
                return err_set(e, ERR_IO, "out of memory");
            }
            v = nv;
            cap = ncap;
        }
        lock_row(st, &v[len++]);
    }
    catalog_release(c, st);
    if (rc != SQLITE_DONE) {
        free(v);
        return catalog_fail(c, e, "offsite locks");
    }
    *rows = v;
    *n = len;
    return 0;
}
