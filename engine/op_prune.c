/* op_prune.c - the prune operation: the retention policy (given, or the
 * store's) applied, or only reported with dry_run. */
#include "op.h"
#include "prune.h"

int engine_prune(struct store *s, const struct retention_policy *p, int dry_run, json_t **report,
                 struct err *e)
{
    struct retention_policy def;
    struct op op = { 0 };
    int rc;

    *report = NULL;
    if (prune_policy(s, p, &def, &p, e) != 0)
        return -1;
    if (op_begin(s, OP_WRITE, &op, e) != 0) {
        if (e->code != ERR_INVALID)
            prune_emit_error(s, e);
        return -1;
    }
    rc = prune_apply(s, p, dry_run, report, e);
    op_end(&op);
    return rc;
}
