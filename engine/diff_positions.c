/* diff_positions.c - the positions block of a diff: which positions opened,
 * closed or changed between two state/positions.json documents. */
#include "diff_positions.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define POSITIONS_PATH "state/positions.json"

/* ---------------------------------------------------------------- positions */

struct pos {
    char *key;                 /* "AAPL", or "AAPL#2" for a second AAPL entry; owned */
    const json_t *entry;       /* borrowed from the parsed document */
};

struct pos_list {
    struct pos *v;
    size_t n;
};

static int cmp_pos(const void *x, const void *y)
{
    return strcmp(((const struct pos *)x)->key, ((const struct pos *)y)->key);
}

static void pos_list_free(struct pos_list *pl)
{
    for (size_t i = 0; i < pl->n; i++)
        free(pl->v[i].key);
    free(pl->v);
    pl->v = NULL;
    pl->n = 0;
}

/* Append a position under a unique key: the first "AAPL" stays "AAPL", the
 * second becomes "AAPL#2". -1 on allocation failure. */
static int pos_add(struct pos_list *pl, json_t *seen, const char *sym, const json_t *entry)
{
    json_t *cnt = json_object_get(seen, sym);
    json_int_t k = cnt ? json_integer_value(cnt) + 1 : 1;
    size_t len = strlen(sym) + 32;
    char *key;
    int n;

    if (json_object_set_new(seen, sym, json_integer(k)) != 0)
        return -1;
    key = malloc(len);
    if (key == NULL)
        return -1;
    if (k == 1)
        n = snprintf(key, len, "%s", sym);
    else
        n = snprintf(key, len, "%s#%" JSON_INTEGER_FORMAT, sym, k);
    if (n < 0 || (size_t)n >= len) {
        free(key);
        return -1;
    }
    pl->v[pl->n].key = key;
    pl->v[pl->n++].entry = entry;
    return 0;
}

/* The positions in doc (wrapper object, bare array or symbol map), sorted by key.
 * Returns 0, 1 when doc is no positions document, -1 with *e on failure. */
static int positions_of(const json_t *doc, struct pos_list *pl, struct err *e)
{
    const json_t *src = doc;
    json_t *seen = NULL;
    size_t cnt;
    int rc = -1;

    pl->v = NULL;
    pl->n = 0;
    if (json_is_object(doc)) {
        json_t *inner = json_object_get(doc, "positions");

        if (json_is_array(inner) || json_is_object(inner))
            src = inner;
    }
    if (!json_is_array(src) && !json_is_object(src))
        return 1;
    cnt = json_is_array(src) ? json_array_size(src) : json_object_size(src);
    if (cnt == 0)
        return 0;
    seen = json_object();
    pl->v = calloc(cnt, sizeof(*pl->v));
    if (seen == NULL || pl->v == NULL) {
        err_set(e, ERR_IO, "diff: out of memory");
        goto out;
    }
    if (json_is_array(src)) {
        size_t i;
        json_t *el;

        json_array_foreach((json_t *)src, i, el) {
            const char *sym = json_string_value(json_object_get(el, "symbol"));
            char unnamed[32];

            if (sym == NULL || *sym == '\0') {
                /* Still counted: an entry without a symbol is something the
                 * operator should see, named by its place in the array. */
                int n = snprintf(unnamed, sizeof(unnamed), "[%zu]", i);

                if (n < 0 || (size_t)n >= sizeof(unnamed)) {
                    err_set(e, ERR_INVALID, "diff: position index too large");
                    goto out;
                }
                sym = unnamed;
            }
            if (pos_add(pl, seen, sym, el) != 0) {
                err_set(e, ERR_IO, "diff: out of memory");
                goto out;
            }
        }
    } else {
        const char *key;
        json_t *val;

        json_object_foreach((json_t *)src, key, val) {
            if (pos_add(pl, seen, key, val) != 0) {
                err_set(e, ERR_IO, "diff: out of memory");
                goto out;
            }
        }
    }
    qsort(pl->v, pl->n, sizeof(*pl->v), cmp_pos);
    rc = 0;
out:
    json_decref(seen);
    if (rc != 0)
        pos_list_free(pl);
    return rc;
}

static json_t *field_copy(const json_t *entry, const char *name)
{
    json_t *v = json_object_get(entry, name);

    return v ? json_deep_copy(v) : json_null();
}

/* {side, qty, avg_price} of one position, with symbol when sym != NULL. */
static json_t *pos_fields(const char *sym, const json_t *entry)
{
    json_t *o = json_object();

    if (o == NULL)
        return NULL;
    if ((sym && json_object_set_new(o, "symbol", json_string(sym)) != 0) ||
        json_object_set_new(o, "side", field_copy(entry, "side")) != 0 ||
        json_object_set_new(o, "qty", field_copy(entry, "qty")) != 0 ||
        json_object_set_new(o, "avg_price", field_copy(entry, "avg_price")) != 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* 100 and 100.0 are the same quantity; json_equal would say otherwise. */
static int same_value(const json_t *x, const json_t *y)
{
    if (x == NULL || y == NULL)
        return x == y;
    if (json_is_number(x) && json_is_number(y))
        return json_number_value(x) == json_number_value(y);
    return json_equal((json_t *)x, (json_t *)y);
}

static int pos_same(const json_t *a, const json_t *b)
{
    static const char *const fields[] = {"qty", "side", "avg_price"};

    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
        if (!same_value(json_object_get(a, fields[i]), json_object_get(b, fields[i])))
            return 0;
    return 1;
}

static int append_new(json_t *arr, json_t *v)
{
    return v == NULL ? -1 : json_array_append_new(arr, v);
}

/* Build the positions block from the two parsed documents (either may be NULL
 * when the file is absent on that side). why_a/why_b name a load failure. */
json_t *diff_positions_block(const json_t *da, const char *why_a, const json_t *db,
                             const char *why_b, struct err *e)
{
    struct pos_list pa = {0}, pb = {0};
    json_t *blk = json_object(), *opened = json_array(), *closed = json_array(),
           *changed = json_array();
    const char *why = why_a ? why_a : why_b;
    size_t i = 0, j = 0;
    int ra = 0, rb = 0;

    if (blk == NULL || opened == NULL || closed == NULL || changed == NULL)
        goto oom;
    if (why == NULL && da) {
        ra = positions_of(da, &pa, e);
        if (ra < 0)
            goto fail;
        if (ra == 1)
            why = "old " POSITIONS_PATH " is not a positions document";
    }
    if (why == NULL && db) {
        rb = positions_of(db, &pb, e);
        if (rb < 0)
            goto fail;
        if (rb == 1)
            why = "new " POSITIONS_PATH " is not a positions document";
    }
    if (why) {
        /* Comparing against an unreadable side would report every position as
         * opened or closed; say what went wrong instead. */
        if (json_object_set_new(blk, "old_count", json_null()) != 0 ||
            json_object_set_new(blk, "new_count", json_null()) != 0 ||
            json_object_set_new(blk, "error", json_string(why)) != 0)
            goto oom;
    } else {
        if (json_object_set_new(blk, "old_count", json_integer((json_int_t)pa.n)) != 0 ||
            json_object_set_new(blk, "new_count", json_integer((json_int_t)pb.n)) != 0)
            goto oom;
        while (i < pa.n || j < pb.n) {
            int c = i >= pa.n ? 1 : j >= pb.n ? -1 : strcmp(pa.v[i].key, pb.v[j].key);

            if (c < 0) {
                if (append_new(closed, pos_fields(pa.v[i].key, pa.v[i].entry)) != 0)
                    goto oom;
                i++;
            } else if (c > 0) {
                if (append_new(opened, pos_fields(pb.v[j].key, pb.v[j].entry)) != 0)
                    goto oom;
                j++;
            } else {
                if (!pos_same(pa.v[i].entry, pb.v[j].entry)) {
                    json_t *row = json_object();

                    if (append_new(changed, row) != 0 ||
                        json_object_set_new(row, "symbol", json_string(pa.v[i].key)) != 0 ||
                        json_object_set_new(row, "old", pos_fields(NULL, pa.v[i].entry)) != 0 ||
                        json_object_set_new(row, "new", pos_fields(NULL, pb.v[j].entry)) != 0)
                        goto oom;
                }
                i++;
                j++;
            }
        }
    }
    if (json_object_set_new(blk, "opened", opened) != 0) {
        opened = NULL;
        goto oom;
    }
    opened = NULL;
    if (json_object_set_new(blk, "closed", closed) != 0) {
        closed = NULL;
        goto oom;
    }
    closed = NULL;
    if (json_object_set_new(blk, "changed", changed) != 0) {
        changed = NULL;
        goto oom;
    }
    pos_list_free(&pa);
    pos_list_free(&pb);
    return blk;
oom:
    err_set(e, ERR_IO, "diff: out of memory");
fail:
    pos_list_free(&pa);
    pos_list_free(&pb);
    json_decref(blk);
    json_decref(opened);
    json_decref(closed);
    json_decref(changed);
    return NULL;
}
