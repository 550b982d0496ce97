/* snapshot.h - one snapshot in the store: its catalog row and document, the
 * checks an archive from outside must pass, and the crash-safe steps that
 * add or remove a row and its archive. Primitives: the ones that write run
 * under the store lock their caller holds. */
#ifndef STATESNAP_SNAPSHOT_H
#define STATESNAP_SNAPSHOT_H

#include <jansson.h>

#include "archive.h"
#include "store.h"

/* Whether row is pinned at time now (a pin with an end is over after it). */
int snapshot_pinned(const struct catalog_snapshot *row, int64_t now);

/* The Snapshot document for a catalog row (with "files" when the row has
 * them). NULL on allocation failure. Caller decrefs. */
json_t *snapshot_json(const struct store *s, const struct catalog_snapshot *row);

/* Append one file to row->files (allocated for it by the caller), clearing
 * row->empty unless it is the masked .env. 0 or -1 (ERR_IO). */
int snapshot_row_add_file(struct catalog_snapshot *row, const char *path, int64_t size,
                          const char *sha256, const char *group, struct err *e);

/* Fill a catalog row from a validated manifest's head (no files:
 * row->empty set, the caller adds them), or from an archive, files and
 * all, with the archive's size and hash. The row's labels/files are
 * malloc'd (catalog_snapshot_clear). */
int snapshot_row_from_manifest(const json_t *m, int64_t size, const char *sha256,
                               struct catalog_snapshot *row, struct err *e);
int snapshot_row_from_archive(const struct archive *a, int64_t size, const char *sha256,
                              struct catalog_snapshot *row, struct err *e);

/* Whether an archive from outside (import, an offsite copy, reindex) may
 * join the store: created_at at most ENGINE_CLOCK_SKEW seconds ahead of now,
 * labels that snapshot_labels_check accepts, every file it holds is one the
 * current include set allows (or the masked env entry), every absent entry
 * is one a restore could delete or one of the expected files. ERR_VERIFY
 * naming the first path that is not. Cannot fail otherwise. */
int snapshot_admissible(const struct engine_config *cfg, const struct archive *a, struct err *e);

/* Validate a labels object (string values, key and value limits). */
int snapshot_labels_check(const json_t *labels, struct err *e);

/* Open the archive at path and check every byte. 0 and *out (caller
 * closes) when whole; -1 with e (ERR_VERIFY naming the first bad entry, or
 * archive_open's error) otherwise. */
int snapshot_archive_whole(const char *path, struct archive **out, struct err *e);

/* Insert the catalog row of the whole archive a (opened from path) in one
 * transaction, without an audit entry. The lock is held. */
int snapshot_insert_from_archive(struct store *s, const char *path, struct archive *a,
                                 struct err *e);

/* Recovery of a create intent: adopt STORE/NAME.zip if it is whole and not
 * catalogued, remove it if it is not whole. The lock is held. */
int snapshot_adopt_or_remove(struct store *s, const char *name, struct err *e);

/* Recovery of a delete intent, and the last step of a delete: make sure
 * row and archive are both gone. The lock is held. */
int snapshot_finish_delete(struct store *s, const char *name, struct err *e);

/* Delete NAME's rows and archive crash-safely (intent first), without an
 * audit entry; the lock is held. ERR_NOT_FOUND if absent. */
int snapshot_delete(struct store *s, const char *name, struct err *e);

/* The S3 Object Lock the catalog recorded for NAME's offsite copy while it
 * is still in force: {mode, retain_until}, else JSON null (also when it
 * cannot be read: the answer is informational). A local delete or prune
 * never touches the bucket; this says what stays there. Never NULL. */
json_t *snapshot_offsite_lock(struct store *s, const char *name);

#endif
