/* op_delete.c - the delete operation: a snapshot's row and archive removed
 * crash-safely (the delete intent first), with its audit entry. */
#include "audit.h"
#include "../common/failpoint.h"
#include "op.h"
#include "snapshot.h"

int engine_delete(struct store *s, const char *name, int force, json_t **out, struct err *e)
{
    struct catalog_snapshot row;
    struct op op = { 0 };
    int rc = -1;

    *out = NULL;
    if (engine_name_check(name, e) != 0 || op_begin(s, OP_WRITE, &op, e) != 0)
        return -1;
    if (catalog_snapshot_get(s->cat, name, 0, &row, e) != 0)
        goto out;
    if (snapshot_pinned(&row, engine_now()) && !force) {
        err_set(e, ERR_PINNED, "snapshot \"%s\" is pinned; unpin it or force the delete", name);
        goto out;
    }
    if (store_intent_write(s, name, "delete", e) != 0)
        goto out;
    FAILPOINT("delete.after_intent");
    if (catalog_begin(s->cat, e) != 0)
        goto out;
    json_t *ad = json_pack("{s:b}", "force", force);
    int bad = catalog_snapshot_delete(s->cat, name, e) != 0 ||
              audit_append(s, "delete", name, "ok", ad, e) != 0;
    if (bad || catalog_commit(s->cat, e) != 0) {
        json_decref(ad);
        catalog_rollback(s->cat);
        goto out;
    }
    engine_emit(s->cfg, "delete", "ok", name, ad);
    json_decref(ad);
    FAILPOINT("delete.after_catalog");
    if (snapshot_finish_delete(s, name, e) != 0)
        goto out;
    FAILPOINT("delete.after_unlink");
    if (store_intent_clear(s, name, "delete", e) != 0)
        goto out;
    *out = json_pack("{s:s,s:b,s:o}", "name", name, "deleted", 1, "offsite_lock",
                     snapshot_offsite_lock(s, name));
    rc = 0;
out:
    catalog_snapshot_clear(&row);
    op_end(&op);
    return rc;
}
