/* audit.h - the audit table: an append-only, hash-chained log of operations. */
#ifndef STATESNAP_DB_AUDIT_H
#define STATESNAP_DB_AUDIT_H

#include <stddef.h>
#include <stdint.h>

#include "catalog.h"

struct catalog_audit {
    int64_t seq;
    char time[32];
    char *actor;
    char *op;
    char *snapshot;      /* NULL when the operation names none */
    char *result;
    char *details;       /* JSON object text */
    char prev_hash[65];
    char hash[65];
};

/* Insert one entry (the caller computed seq and hashes). ERR_CONFLICT if seq exists. */
int catalog_audit_insert(struct catalog *c, const struct catalog_audit *a, struct err *e);

/* The last entry's seq and hash; seq 0 and 64 zeros when empty. */
int catalog_audit_last(struct catalog *c, int64_t *seq, char hash[65], struct err *e);

/* The seq audit.jsonl was last fsynced up to (0 for none, or a catalog
 * migrated from schema 3 before its first flush). */
int catalog_audit_flushed(struct catalog *c, int64_t *seq, struct err *e);

/* Record that audit.jsonl is durably written up to seq. */
int catalog_audit_set_flushed(struct catalog *c, int64_t seq, struct err *e);

/* One row of the per-operation counts the audit table's trigger keeps. */
struct catalog_audit_op {
    char op[32];
    char result[16];
    int64_t n;
};

/* The counts of operations whose actor is origin ("cli" or "server"), at
 * most max rows (there are a handful). Returns 0 and *n, or -1. */
int catalog_audit_op_counts(struct catalog *c, const char *origin, struct catalog_audit_op *rows,
                            size_t max, size_t *n, struct err *e);

/* Up to limit entries with seq > after, oldest first. *rows malloc'd (catalog_audit_free). */
int catalog_audit_list(struct catalog *c, int64_t after, size_t limit, struct catalog_audit **rows,
                       size_t *n, struct err *e);

/* Free n rows. Accepts NULL. */
void catalog_audit_free(struct catalog_audit *rows, size_t n);

#endif
