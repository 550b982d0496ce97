/* idempotency.c - the idempotency table: lookup and save of replayable responses. */
#include "idempotency.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog_internal.h"

int idempotency_lookup(struct catalog *c, const char *key, int64_t now,
                       struct idempotency_record *out, struct err *e)
{
    sqlite3 *db = catalog_handle(c);
    sqlite3_stmt *st = NULL;
    const unsigned char *hash, *body;
    int rc, found = -1;

    memset(out, 0, sizeof(*out));
    if (catalog_prepare(c,
                           "SELECT request_hash, status, body FROM idempotency"
                           " WHERE key = ?1 AND created_at > ?2", &st) != SQLITE_OK) {
        err_set(e, ERR_IO, "idempotency lookup: %s", sqlite3_errmsg(db));
        goto out;
    }
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, now - IDEMPOTENCY_TTL_SECONDS);
    rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) {
        found = 0;
        goto out;
    }
    if (rc != SQLITE_ROW) {
        err_set(e, ERR_IO, "idempotency lookup: %s", sqlite3_errmsg(db));
        goto out;
    }
    hash = sqlite3_column_text(st, 0);
    body = sqlite3_column_text(st, 2);
    if (hash == NULL || body == NULL ||
        snprintf(out->request_hash, sizeof(out->request_hash), "%s", (const char *)hash) >=
            (int)sizeof(out->request_hash) ||
        (out->body = strdup((const char *)body)) == NULL) {
        err_set(e, ERR_IO, "idempotency lookup: unreadable record");
        idempotency_record_clear(out);
        goto out;
    }
    out->status = sqlite3_column_int(st, 1);
    found = 1;
out:
    catalog_release(c, st);
    return found;
}

int idempotency_save(struct catalog *c, const char *key, const char *request_hash, int status,
                     const char *body, int64_t now, struct err *e)
{
    sqlite3 *db = catalog_handle(c);
    sqlite3_stmt *st = NULL;
    int ret = -1;

    /* The purge rides along with the insert: the table stays small without a
     * separate sweeper, and both happen in one implicit transaction each. */
    if (catalog_prepare(c, "DELETE FROM idempotency WHERE created_at <= ?1", &st) != SQLITE_OK)
        goto fail;
    sqlite3_bind_int64(st, 1, now - IDEMPOTENCY_TTL_SECONDS);
    if (sqlite3_step(st) != SQLITE_DONE)
        goto fail;
    catalog_release(c, st);
    st = NULL;
    if (catalog_prepare(c,
                           "INSERT OR REPLACE INTO idempotency(key, request_hash, status, body,"
                           " created_at) VALUES (?1, ?2, ?3, ?4, ?5)", &st) != SQLITE_OK)
        goto fail;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, request_hash, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 3, status);
    sqlite3_bind_text(st, 4, body, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, now);
    if (sqlite3_step(st) != SQLITE_DONE)
        goto fail;
    ret = 0;
    goto out;
fail:
    err_set(e, ERR_IO, "idempotency save: %s", sqlite3_errmsg(db));
out:
    catalog_release(c, st);
    return ret;
}

void idempotency_record_clear(struct idempotency_record *r)
{
    if (r == NULL)
        return;
    free(r->body);
    memset(r, 0, sizeof(*r));
}
