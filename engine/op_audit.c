/* op_audit.c - the audit operations: list a page of the chain, verify both
 * chains, repair what a crash left behind. */
#include <stdio.h>
#include <string.h>

#include "audit.h"
#include "../db/audit.h"
#include "op.h"

int engine_audit_repair(struct store *s, json_t **report, struct err *e)
{
    int64_t behind = 0, last, appended = 0;
    char lasthash[65];
    json_t *v = NULL;
    struct err ve = { 0 };
    int rc, missing = 0;
    struct op op = { 0 };

    *report = NULL;
    if (op_begin(s, OP_AS_IS, &op, e) != 0)
        return -1;
    /* Verify first: repair writes only what a crash left out, or a new file
     * where the old one was moved aside. */
    rc = audit_check(s, &v, &ve);
    if (v != NULL) {
        json_t *f = json_object_get(v, "file");
        behind = json_integer_value(json_object_get(f, "behind"));
        missing = json_is_true(json_object_get(json_object_get(f, "first_bad"), "file_missing"));
    }
    json_decref(v);
    if (rc != 0 && !missing) {
        *e = ve;
        if (e->code == ERR_VERIFY) {
            size_t l = strlen(e->msg);
            snprintf(e->msg + l, sizeof(e->msg) - l, "%s",
                     "; not a crash: keep audit.jsonl as evidence, move it aside and run "
                     "audit repair again to write a new one from the catalog");
        }
        op_end(&op);
        return -1;
    }
    rc = catalog_audit_last(s->cat, &last, lasthash, e);
    if (rc == 0)
        rc = audit_flush_rebuild(s, e);
    op_end(&op);
    if (rc != 0)
        return -1;
    appended = missing ? last : behind;
    *report = json_pack("{s:b,s:I,s:I,s:b}", "ok", 1, "entries", (json_int_t)last, "appended",
                        (json_int_t)appended, "rewritten", missing);
    return *report ? 0 : err_set(e, ERR_IO, "out of memory");
}

static json_t *entry_json(const struct catalog_audit *a)
{
    json_t *details = json_loads(a->details ? a->details : "{}", 0, NULL);

    return json_pack("{s:I,s:s,s:s,s:s,s:o,s:s,s:o,s:s,s:s}", "seq", (json_int_t)a->seq,
                     "time", a->time, "actor", a->actor ? a->actor : "", "op", a->op ? a->op : "",
                     "snapshot", a->snapshot ? json_string(a->snapshot) : json_null(),
                     "result", a->result ? a->result : "",
                     "details", details ? details : json_object(),
                     "prev_hash", a->prev_hash, "hash", a->hash);
}

static int audit_page(struct store *s, int64_t after, size_t limit, json_t **page, struct err *e)
{
    struct catalog_audit *rows = NULL;
    size_t n = 0;
    json_t *arr;

    *page = NULL;
    if (limit == 0)
        limit = 100;
    if (limit > 1000 || after < 0)
        return err_set(e, ERR_INVALID, "limit must be 1-1000 and after >= 0");
    int64_t last;
    char lasthash[65];
    if (catalog_audit_last(s->cat, &last, lasthash, e) != 0 ||
        catalog_audit_list(s->cat, after, limit, &rows, &n, e) != 0)
        return -1;
    arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, entry_json(&rows[i]));
    /* A full page is the last one when it ends at the newest entry. */
    *page = json_pack("{s:o,s:o,s:I}", "entries", arr,
                      "next_after", n == limit && rows[n - 1].seq < last ? json_integer(rows[n - 1].seq)
                                                                          : json_null(),
                      "last_seq", (json_int_t)last);
    catalog_audit_free(rows, n);
    return *page ? 0 : err_set(e, ERR_IO, "out of memory");
}

int engine_audit_verify(struct store *s, json_t **report, struct err *e)
{
    struct op op = { 0 };
    int rc;

    /* Under the lock no writer is in flight (each flushes audit.jsonl before
     * it lets go), so a missing entry is real. No recovery first: catching
     * the file up from the catalog would hide a deleted last line. */
    *report = NULL;
    if (op_begin(s, OP_AS_IS, &op, e) != 0)
        return -1;
    rc = audit_check(s, report, e);
    op_end(&op);
    return rc;
}

int engine_audit_list(struct store *s, int64_t after, size_t limit, json_t **page, struct err *e)
{
    struct op op;
    int rc;

    (void)op_begin(s, OP_READ, &op, e);   /* a query: no lock, as ever */
    rc = audit_page(s, after, limit, page, e);
    op_end(&op);
    return rc;
}
