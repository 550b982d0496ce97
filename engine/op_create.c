/* op_create.c - the create operation: a snapshot of the state root, then
 * (prune_after_create) the retention policy. */
#include "create.h"
#include "op.h"
#include "prune.h"
#include "unchanged.h"

int engine_create(struct store *s, const struct create_opts *o, json_t **snap, struct err *e)
{
    struct op op = { 0 };
    int rc;

    *snap = NULL;
    if (create_check(s, o, e) != 0)
        return -1;
    if (op_begin(s, OP_WRITE, &op, e) != 0) {
        /* A busy store is an alert (nothing was snapshotted); bad input is not. */
        if (e->code != ERR_INVALID && e->code != ERR_CONFLICT && e->code != ERR_NOT_FOUND) {
            json_t *fd = json_pack("{s:s}", "error", e->msg);
            engine_emit(s->cfg, "create", "error", NULL, fd);
            json_decref(fd);
        }
        return -1;
    }
    /* --if-changed: the comparison takes its cut under the same lock as
     * the create it may spare, so no create slips in between. */
    if (o->if_changed && (rc = unchanged_check(s, snap, e)) != 0) {
        if (rc == 1) {
            engine_emit(s->cfg, "create", "skipped",
                        json_string_value(json_object_get(*snap, "name")), NULL);
            rc = 0;
        }
        op_end(&op);
        return rc;
    }
    rc = create_write(s, o, snap, e);
    if (rc == 0 && s->cfg->prune_after_create)
        prune_after_create(s, *snap);
    op_end(&op);
    return rc;
}
