/* ops.h - helpers shared by the engine's operations. */
#ifndef STATESNAP_OPS_H
#define STATESNAP_OPS_H

#include <jansson.h>

#include "store.h"

/* The Snapshot document for a catalog row (with "files" when the row has
 * them). NULL on allocation failure. Caller decrefs. */
json_t *ops_snapshot_json(const struct store *s, const struct catalog_snapshot *row);

/* Fill a catalog row from a validated manifest and the archive's size and
 * hash. The row's labels/files are malloc'd (catalog_snapshot_clear). */
int ops_row_from_manifest(const json_t *m, int64_t size, const char *sha256,
                          struct catalog_snapshot *row, struct err *e);

/* Recovery of a create intent: adopt STORE/NAME.zip if it is whole and not
 * catalogued, remove it if it is not whole. The lock is held. */
int ops_adopt_or_remove(struct store *s, const char *name, struct err *e);

/* Recovery of a delete intent: make sure row and archive are both gone. */
int ops_finish_delete(struct store *s, const char *name, struct err *e);

/* Delete NAME's rows and archive crash-safely (intent first), without an
 * audit entry; the lock is held. ERR_NOT_FOUND if absent. */
int ops_delete_locked(struct store *s, const char *name, struct err *e);

/* Whether an archive from outside (import, an offsite copy, reindex) may
 * join the store: created_at at most ENGINE_CLOCK_SKEW seconds ahead of now,
 * labels that ops_labels_check accepts, every file it holds is one the current include set allows
 * (or the masked env entry), every absent entry is one a restore could
 * delete or one of the expected files. ERR_VERIFY naming the first path
 * that is not. Cannot fail otherwise. */
int ops_archive_admissible(const struct engine_config *cfg, const json_t *m, struct err *e);

/* Validate a labels object (string values, key and value limits). */
int ops_labels_check(const json_t *labels, struct err *e);

#endif
