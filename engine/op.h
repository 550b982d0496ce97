/* op.h - the bracket every public operation runs in: take the store lock,
 * finish what a killed process left (recover_all), and on the way out catch
 * audit.jsonl up and let the lock go. The crash protocol it keeps is
 * docs/DESIGN.md, "The crash protocol". */
#ifndef STATESNAP_OP_H
#define STATESNAP_OP_H

#include "store.h"

/* What an operation needs of the store while it runs. */
enum op_kind {
    OP_READ,    /* no lock: a query of the catalog or an archive as they are now */
    OP_WRITE,   /* the lock; recover_all first; audit.jsonl flushed before it is let go */
    OP_AS_IS,   /* the lock, no recovery, no flush: audit verify and repair, which must
                 * see audit.jsonl exactly as it is (a catch-up would hide a deleted line) */
};

/* One operation's bracket. Filled by op_begin; op_end undoes it. */
struct op {
    struct store *s;
    enum op_kind kind;
    int locked;          /* op_begin took the lock (op_end lets it go) */
};

/* Begin an operation of this kind on s: for OP_WRITE take the lock
 * (waiting up to cfg->lock_timeout_ms) and run recover_all; for OP_AS_IS
 * take the lock only; for OP_READ nothing. Returns 0 and fills *op, or -1
 * (ERR_LOCKED when the lock stays busy, or recovery's error; the lock is
 * not held then). op_end may be called either way. */
int op_begin(struct store *s, enum op_kind kind, struct op *op, struct err *e);

/* End the operation op_begin began: for OP_WRITE catch audit.jsonl up with
 * the catalog (a failure is left for the next lock holder), then let the
 * lock go. A no-op when op_begin failed or after an earlier op_end. Cannot
 * fail. */
void op_end(struct op *op);

#endif
