/* drill.c - the catalog's restore drills: typed reads and writes. */
#include "drill.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog_internal.h"

#define DRILL_COLUMNS "id, snapshot, archive_sha256, at, result, files_checked, bytes, " \
                      "duration_ms, error"

static void text_col(sqlite3_stmt *st, int i, char *out, size_t len)
{
    const unsigned char *t = sqlite3_column_text(st, i);

    /* A longer error is cut: it is a human message. Names and hashes fit. */
    snprintf(out, len, "%s", t ? (const char *)t : "");
}

static void read_row(sqlite3_stmt *st, struct catalog_drill *d)
{
    memset(d, 0, sizeof(*d));
    d->id = sqlite3_column_int64(st, 0);
    text_col(st, 1, d->snapshot, sizeof(d->snapshot));
    text_col(st, 2, d->archive_sha256, sizeof(d->archive_sha256));
    d->at = sqlite3_column_int64(st, 3);
    text_col(st, 4, d->result, sizeof(d->result));
    d->files_checked = sqlite3_column_int64(st, 5);
    d->bytes = sqlite3_column_int64(st, 6);
    d->duration_ms = sqlite3_column_int64(st, 7);
    text_col(st, 8, d->error, sizeof(d->error));
}

int catalog_drill_insert(struct catalog *c, const struct catalog_drill *d, struct err *e)
{
    sqlite3_stmt *st = NULL;
    int rc;

    if (catalog_prepare(c, "INSERT INTO drills (snapshot, archive_sha256, at, result, "
                           "files_checked, bytes, duration_ms, error) "
                           "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)", &st) != SQLITE_OK)
        return catalog_fail(c, e, "drill insert");
    sqlite3_bind_text(st, 1, d->snapshot, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, d->archive_sha256, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, d->at);
    sqlite3_bind_text(st, 4, d->result, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, d->files_checked);
    sqlite3_bind_int64(st, 6, d->bytes);
    sqlite3_bind_int64(st, 7, d->duration_ms);
    if (d->error[0] != '\0')
        sqlite3_bind_text(st, 8, d->error, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, 8);
    rc = sqlite3_step(st);
    catalog_release(c, st);
    return rc == SQLITE_DONE ? 0 : catalog_fail(c, e, "drill insert");
}

int catalog_drill_last(struct catalog *c, const char *name, const char *sha256,
                       struct catalog_drill *out, struct err *e)
{
    sqlite3_stmt *st = NULL;
    int rc;

    if (catalog_prepare(c, "SELECT " DRILL_COLUMNS " FROM drills WHERE snapshot = ?1 "
                           "AND archive_sha256 = ?2 ORDER BY id DESC LIMIT 1", &st) != SQLITE_OK)
        return catalog_fail(c, e, "drill read");
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, sha256, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        read_row(st, out);
    catalog_release(c, st);
    if (rc == SQLITE_ROW)
        return 1;
    return rc == SQLITE_DONE ? 0 : catalog_fail(c, e, "drill read");
}

int catalog_drill_recent(struct catalog *c, size_t limit, struct catalog_drill **rows, size_t *n,
                         struct err *e)
{
    sqlite3_stmt *st = NULL;
    int rc;

    *rows = NULL;
    *n = 0;
    if (limit == 0 || limit > CATALOG_DRILL_RECENT_MAX)
        limit = CATALOG_DRILL_RECENT_MAX;
    if ((*rows = calloc(limit, sizeof(**rows))) == NULL)
        return err_set(e, ERR_IO, "out of memory");
    if (catalog_prepare(c, "SELECT " DRILL_COLUMNS " FROM drills ORDER BY id DESC LIMIT ?1",
                        &st) != SQLITE_OK) {
        free(*rows);
        *rows = NULL;
        return catalog_fail(c, e, "drill list");
    }
    sqlite3_bind_int64(st, 1, (sqlite3_int64)limit);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW && *n < limit)
        read_row(st, &(*rows)[(*n)++]);
    catalog_release(c, st);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
        free(*rows);
        *rows = NULL;
        *n = 0;
        return catalog_fail(c, e, "drill list");
    }
    return 0;
}

/* max(at) of one result through the (result, at) index; 0 when none. */
static int last_at(struct catalog *c, const char *result, int64_t *out, struct err *e)
{
    sqlite3_stmt *st = NULL;
    int rc;

    *out = 0;
    if (catalog_prepare(c, "SELECT max(at) FROM drills WHERE result = ?1", &st) != SQLITE_OK)
        return catalog_fail(c, e, "drill stats");
    sqlite3_bind_text(st, 1, result, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *out = sqlite3_column_int64(st, 0);
    catalog_release(c, st);
    return rc == SQLITE_ROW ? 0 : catalog_fail(c, e, "drill stats");
}

int catalog_drill_stats(struct catalog *c, struct catalog_drill_stats *out, struct err *e)
{
    sqlite3_stmt *st = NULL;
    int rc;

    memset(out, 0, sizeof(*out));
    if (catalog_prepare(c, "SELECT result, n FROM drill_totals", &st) != SQLITE_OK)
        return catalog_fail(c, e, "drill stats");
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *r = (const char *)sqlite3_column_text(st, 0);
        int64_t n = sqlite3_column_int64(st, 1);
        if (r != NULL && strcmp(r, "ok") == 0)
            out->ok = n;
        else if (r != NULL && strcmp(r, "failed") == 0)
            out->failed = n;
    }
    catalog_release(c, st);
    if (rc != SQLITE_DONE)
        return catalog_fail(c, e, "drill stats");
    if (last_at(c, "ok", &out->last_success, e) != 0 ||
        last_at(c, "failed", &out->last_failure, e) != 0)
        return -1;
    return 0;
}
