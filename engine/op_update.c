/* op_update.c - the update operation: pin, unpin, or replace the labels of a
 * snapshot, with its audit entry. */
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "op.h"
#include "snapshot.h"

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
    if (labels != NULL && snapshot_labels_check(labels, e) != 0)
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
    *snap = snapshot_json(s, &row);
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
