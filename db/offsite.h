/* offsite.h - the catalog's offsite columns: per-snapshot copy state, last
 * error and time, and the totals /metrics shows. */
#ifndef STATESNAP_DB_OFFSITE_H
#define STATESNAP_DB_OFFSITE_H

#include <stddef.h>
#include <stdint.h>

#include "catalog.h"

#define CATALOG_OFFSITE_ERROR_MAX 512

/* Offsite state of one snapshot. state is "", "pending", "synced" or "failed". */
struct catalog_offsite {
    char state[16];
    char error[CATALOG_OFFSITE_ERROR_MAX];   /* "" when there is none */
    int64_t at;                              /* last attempt or success, 0 = never */
    char copy_sha256[65];                    /* an encrypted copy's SHA-256, "" = plain */
    int64_t copy_size;                       /* its size (0 when plain) */
};

/* Snapshots per offsite state, and the newest successful copy. */
struct catalog_offsite_stats {
    int64_t none, pending, synced, failed;
    int64_t last_success;                    /* max offsite_at of synced rows, 0 = none */
};

/* Set NAME's offsite state, error (NULL = none) and time. ERR_NOT_FOUND if
 * NAME is not catalogued. */
int catalog_offsite_set(struct catalog *c, const char *name, const char *state, const char *error,
                        int64_t at, struct err *e);

/* Record what NAME's offsite copy is: an encrypted object with its SHA-256
 * and size, or (copy_sha256 NULL) a plain copy of the archive. ERR_NOT_FOUND
 * if NAME is not catalogued. */
int catalog_offsite_set_copy(struct catalog *c, const char *name, const char *copy_sha256,
                             int64_t copy_size, struct err *e);

/* Read NAME's offsite columns into *out. ERR_NOT_FOUND if absent. */
int catalog_offsite_get(struct catalog *c, const char *name, struct catalog_offsite *out,
                        struct err *e);

/* Mark every snapshot with no offsite state yet as "pending". Returns 0 or -1. */
int catalog_offsite_mark_new(struct catalog *c, struct err *e);

/* Names of snapshots that are not "synced", oldest first. *names and each
 * entry are malloc'd (free each, then the array). */
int catalog_offsite_todo(struct catalog *c, char ***names, size_t *n, struct err *e);

/* One snapshot as the offsite re-check sees it. */
struct catalog_offsite_row {
    char *name;
    char state[16];
    int64_t size;
    char sha256[65];
    char copy_sha256[65];        /* as in struct catalog_offsite */
    int64_t copy_size;
};

/* Every catalogued snapshot (name, offsite state, size, archive SHA-256),
 * oldest first. *rows malloc'd: free with catalog_offsite_rows_free. */
int catalog_offsite_rows(struct catalog *c, struct catalog_offsite_row **rows, size_t *n,
                         struct err *e);

/* Free n rows. Accepts NULL. */
void catalog_offsite_rows_free(struct catalog_offsite_row *rows, size_t n);

/* The S3 Object Lock retention an offsite copy was uploaded with. The
 * record outlives the snapshot's row: a locked copy stays in the bucket
 * after a local prune or delete. */
struct catalog_offsite_lock {
    char name[65];                           /* as catalog_snapshot.name */
    char mode[16];                           /* "GOVERNANCE" or "COMPLIANCE" */
    int64_t retain_until;                    /* seconds since the epoch */
    char archive_sha256[65];                 /* the copy that is locked */
    int64_t at;                              /* when it was uploaded */
    int local;                               /* 1 while the snapshot is still catalogued */
};

/* Record that NAME's copy (archive_sha256) was uploaded at `at` locked in
 * mode until retain_until. An earlier record of the name keeps the later of
 * the two dates (the older object version stays locked until its own).
 * Returns 0 or -1 with ERR_INVALID for another mode. */
int catalog_offsite_lock_set(struct catalog *c, const char *name, const char *mode,
                             int64_t retain_until, const char *archive_sha256, int64_t at,
                             struct err *e);

/* NAME's lock record into *out. ERR_NOT_FOUND when it has none. */
int catalog_offsite_lock_get(struct catalog *c, const char *name, struct catalog_offsite_lock *out,
                             struct err *e);

/* Every lock record still in force at now (retain_until > now), soonest
 * expiry first, each with local set. *rows malloc'd (free it); n = 0 and
 * *rows = NULL when there are none. Returns 0 or -1. */
int catalog_offsite_locks(struct catalog *c, int64_t now, struct catalog_offsite_lock **rows,
                          size_t *n, struct err *e);

/* Counts per state and the last success. Returns 0 or -1. */
int catalog_offsite_stats(struct catalog *c, struct catalog_offsite_stats *out, struct err *e);

#endif
