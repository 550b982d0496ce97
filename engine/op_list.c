/* op_list.c - the list operation: a page of snapshots, newest first. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "op.h"
#include "snapshot.h"

#define LIST_MAX 1000
#define LIST_DEFAULT 50

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

static int list_page(struct store *s, const struct list_opts *o, json_t **page, struct err *e)
{
    struct catalog_filter f;
    struct catalog_snapshot *rows = NULL;
    size_t n = 0;
    int more = 0;
    int64_t count, bytes;
    json_t *arr;

    *page = NULL;
    memset(&f, 0, sizeof(f));
    f.limit = o->limit ? o->limit : LIST_DEFAULT;
    if (f.limit > LIST_MAX)
        return err_set(e, ERR_INVALID, "limit must be from 1 to %d", LIST_MAX);
    if (o->cursor != NULL && parse_cursor(o->cursor, &f.after_created_at, &f.after_id) != 0)
        return err_set(e, ERR_INVALID, "bad cursor");
    if (o->prefix != NULL && engine_name_prefix_check(o->prefix, e) != 0)
        return -1;
    if (o->label_key != NULL) {
        json_t *probe = json_pack("{s:s}", o->label_key, o->label_value ? o->label_value : "");
        int bad = probe == NULL || snapshot_labels_check(probe, e) != 0;
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
        json_array_append_new(arr, snapshot_json(s, &rows[i]));
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

int engine_list(struct store *s, const struct list_opts *o, json_t **page, struct err *e)
{
    struct op op;
    int rc;

    (void)op_begin(s, OP_READ, &op, e);   /* a query: no lock, as ever */
    rc = list_page(s, o, page, e);
    op_end(&op);
    return rc;
}
