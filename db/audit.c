/* audit.c - the audit table: an append-only, hash-chained log of operations. */
#include "audit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog_internal.h"

int catalog_audit_insert(struct catalog *c, const struct catalog_audit *a, struct err *e)
{
    sqlite3_stmt *st = NULL;
    int rc;

    if (catalog_prepare(c, "INSERT INTO audit (seq, time, actor, op, snapshot, result, "
                               "details, prev_hash, hash) VALUES (?,?,?,?,?,?,?,?,?)", &st) != SQLITE_OK)
        return catalog_fail(c, e, "prepare audit insert");
    sqlite3_bind_int64(st, 1, a->seq);
    sqlite3_bind_text(st, 2, a->time, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, a->actor, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, a->op, -1, SQLITE_STATIC);
    if (a->snapshot)
        sqlite3_bind_text(st, 5, a->snapshot, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, 5);
    sqlite3_bind_text(st, 6, a->result, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 7, a->details, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 8, a->prev_hash, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 9, a->hash, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    catalog_release(c, st);
    if (rc == SQLITE_CONSTRAINT)
        return err_set(e, ERR_CONFLICT, "audit entry %lld exists", (long long)a->seq);
    if (rc != SQLITE_DONE)
        return catalog_fail(c, e, "insert audit entry");
    return 0;
}

int catalog_audit_last(struct catalog *c, int64_t *seq, char hash[65], struct err *e)
{
    sqlite3_stmt *st = NULL;
    int rc;

    *seq = 0;
    memset(hash, '0', 64);
    hash[64] = '\0';
    if (catalog_prepare(c, "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1", &st) != SQLITE_OK)
        return catalog_fail(c, e, "prepare audit last");
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *seq = sqlite3_column_int64(st, 0);
        snprintf(hash, 65, "%s", (const char *)sqlite3_column_text(st, 1));
    }
    catalog_release(c, st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return catalog_fail(c, e, "read audit head");
    return 0;
}

int catalog_audit_flushed(struct catalog *c, int64_t *seq, struct err *e)
{
    sqlite3_stmt *st = NULL;
    int rc;

    *seq = 0;
    if (catalog_prepare(c, "SELECT seq FROM audit_flushed WHERE id = 1", &st) != SQLITE_OK)
        return catalog_fail(c, e, "prepare audit flushed");
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *seq = sqlite3_column_int64(st, 0);
    catalog_release(c, st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return catalog_fail(c, e, "read audit flushed");
    return 0;
}

int catalog_audit_set_flushed(struct catalog *c, int64_t seq, struct err *e)
{
    sqlite3_stmt *st = NULL;
    int rc;

    if (catalog_prepare(c, "UPDATE audit_flushed SET seq = ? WHERE id = 1", &st) != SQLITE_OK)
        return catalog_fail(c, e, "prepare audit flushed update");
    sqlite3_bind_int64(st, 1, seq);
    rc = sqlite3_step(st);
    catalog_release(c, st);
    if (rc != SQLITE_DONE)
        return catalog_fail(c, e, "record audit flushed");
    return 0;
}

int catalog_audit_op_counts(struct catalog *c, const char *origin, struct catalog_audit_op *rows,
                            size_t max, size_t *n, struct err *e)
{
    sqlite3_stmt *st = NULL;
    int rc;

    *n = 0;
    if (catalog_prepare(c, "SELECT op, result, n FROM audit_ops WHERE origin = ?", &st) != SQLITE_OK)
        return catalog_fail(c, e, "prepare audit op counts");
    sqlite3_bind_text(st, 1, origin, -1, SQLITE_STATIC);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW && *n < max) {
        const unsigned char *op = sqlite3_column_text(st, 0), *res = sqlite3_column_text(st, 1);
        snprintf(rows[*n].op, sizeof(rows[*n].op), "%s", op ? (const char *)op : "");
        snprintf(rows[*n].result, sizeof(rows[*n].result), "%s", res ? (const char *)res : "");
        rows[*n].n = sqlite3_column_int64(st, 2);
        (*n)++;
    }
    catalog_release(c, st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return catalog_fail(c, e, "read audit op counts");
    return 0;
}

static char *dup_col(sqlite3_stmt *st, int col)
{
    const unsigned char *t = sqlite3_column_text(st, col);

    return t ? strdup((const char *)t) : NULL;
}

int catalog_audit_list(struct catalog *c, int64_t after, size_t limit, struct catalog_audit **rows,
                       size_t *n, struct err *e)
{
    sqlite3_stmt *st = NULL;
    struct catalog_audit *v = NULL;
    size_t cap = 0;
    int rc;

    *rows = NULL;
    *n = 0;
    if (catalog_prepare(c, "SELECT seq, time, actor, op, snapshot, result, details, "
                               "prev_hash, hash FROM audit WHERE seq > ? ORDER BY seq LIMIT ?", &st) != SQLITE_OK)
        return catalog_fail(c, e, "prepare audit list");
    sqlite3_bind_int64(st, 1, after);
    sqlite3_bind_int64(st, 2, (int64_t)limit);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (*n == cap) {
            size_t ncap = cap ? cap * 2 : 64;
            struct catalog_audit *nv = realloc(v, ncap * sizeof(*nv));
            if (nv == NULL) {
                catalog_release(c, st);
                catalog_audit_free(v, *n);
                *n = 0;
                return err_set(e, ERR_IO, "out of memory");
            }
            v = nv;
            cap = ncap;
        }
        struct catalog_audit *a = &v[(*n)++];
        memset(a, 0, sizeof(*a));
        a->seq = sqlite3_column_int64(st, 0);
        snprintf(a->time, sizeof(a->time), "%s", (const char *)sqlite3_column_text(st, 1));
        a->actor = dup_col(st, 2);
        a->op = dup_col(st, 3);
        a->snapshot = dup_col(st, 4);
        a->result = dup_col(st, 5);
        a->details = dup_col(st, 6);
        snprintf(a->prev_hash, sizeof(a->prev_hash), "%s", (const char *)sqlite3_column_text(st, 7));
        snprintf(a->hash, sizeof(a->hash), "%s", (const char *)sqlite3_column_text(st, 8));
    }
    catalog_release(c, st);
    if (rc != SQLITE_DONE) {
        catalog_audit_free(v, *n);
        *n = 0;
        return catalog_fail(c, e, "list audit");
    }
    *rows = v;
    return 0;
}

void catalog_audit_free(struct catalog_audit *rows, size_t n)
{
    if (rows == NULL)
        return;
    for (size_t i = 0; i < n; i++) {
        free(rows[i].actor);
        free(rows[i].op);
        free(rows[i].snapshot);
        free(rows[i].result);
        free(rows[i].details);
    }
    free(rows);
}
