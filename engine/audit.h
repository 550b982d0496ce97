/* audit.h - the audit chain: every mutating operation, hash-linked, in the
 * catalog and in STORE/audit.jsonl. A primitive: every function here runs
 * under the store lock its caller holds and never takes it (the operations
 * list, verify and repair are engine.h's, in op_audit.c). */
#ifndef STATESNAP_AUDIT_H
#define STATESNAP_AUDIT_H

#include <jansson.h>

#include "store.h"

#define AUDIT_FILE "audit.jsonl"

/* Append an entry {time, actor, op, snapshot, result, details} to the
 * catalog (inside the caller's transaction if one is open). The lock is
 * held; audit.jsonl catches up at the end of the operation (op_end). details may be
 * NULL. Outside a transaction the event hook hears of it at once; inside
 * one, the caller calls engine_emit after its commit (an alert must never
 * announce what a rollback undid). */
int audit_append(struct store *s, const char *op, const char *snapshot, const char *result,
                 const json_t *details, struct err *e);

/* Bring audit.jsonl up to the catalog: cut a torn last line, append the
 * entries it lacks, fsync. The lock is held. */
int audit_flush(struct store *s, struct err *e);

/* audit_flush that also writes a new audit.jsonl from the catalog when the
 * file is missing although it had entries (audit repair, after the old
 * file was moved aside). The lock is held. */
int audit_flush_rebuild(struct store *s, struct err *e);

/* Recompute both chains (catalog rows and audit.jsonl) and compare them,
 * writing nothing; the report and result of engine_audit_verify. The lock
 * is held, taken as is (no recovery first). */
int audit_check(struct store *s, json_t **report, struct err *e);

#endif
