/* op.c - the bracket every public operation runs in (op.h). */
#include "op.h"

#include <string.h>

#include "audit.h"
#include "../common/failpoint.h"
#include "recover.h"

int op_begin(struct store *s, enum op_kind kind, struct op *op, struct err *e)
{
    memset(op, 0, sizeof(*op));
    op->s = s;
    op->kind = kind;
    if (kind == OP_READ)
        return 0;
    if (store_lock(s, e) != 0)
        return -1;
    op->locked = 1;
    if (kind == OP_WRITE && recover_all(s, e) != 0) {
        op_end(op);
        return -1;
    }
    return 0;
}

void op_end(struct op *op)
{
    if (!op->locked)
        return;
    op->locked = 0;
    /* audit.jsonl follows the catalog before anyone else can write; if this
     * fails the next lock holder catches it up. An OP_AS_IS reader (audit
     * verify) writes nothing: it must not heal the evidence it looked at. */
    if (op->kind == OP_WRITE) {
        FAILPOINT("store.before_audit_flush");
        audit_flush(op->s, NULL);
    }
    store_unlock(op->s);
}
