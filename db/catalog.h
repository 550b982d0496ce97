/* catalog.h - the SQLite catalog: an index of the archives in the store.
 * This module is the only place SQL lives. */
#ifndef STATESNAP_CATALOG_H
#define STATESNAP_CATALOG_H

#include <stddef.h>
#include <stdint.h>

#include "../common/err.h"

struct catalog;

struct catalog_file {
    char *path;
    int64_t size;
    char sha256[65];
    char group[16];
};

/* One snapshot row. Strings in fixed buffers are always NUL-terminated;
 * pointer members are owned by the struct (catalog_snapshot_clear frees). */
struct catalog_snapshot {
    int64_t id;
    char name[65];
    int64_t created_at;        /* unix seconds, server clock */
    int64_t size;              /* archive bytes */
    int64_t file_count;
    char version[129];
    char git_commit[65];       /* "" = not a repository */
    char host[256];
    char created_by[129];
    char archive_sha256[65];
    char *labels_json;         /* JSON object text, never NULL after a read */
    int pinned;
    int64_t pin_until;         /* 0 = pinned with no end */
    int64_t positions_count;   /* -1 = unknown */
    char offsite_state[16];    /* "", pending, synced, failed */
    char *consistency_json;    /* {state, attempts, window_ms, changed} text, or NULL (older) */
    char *chain_json;          /* the hash chain's tip {path, lines, ...} text, or NULL */
    int empty;                 /* 1: captured no file (the .env aside) */
    char signature[12];        /* signed, unsigned, untrusted ("" reads as unsigned) */
    char signer[65];           /* the trusted signer's key id when signed, else "" */
    struct catalog_file *files;
    size_t n_files;
};

struct catalog_filter {
    size_t limit;
    int64_t after_created_at;  /* cursor: rows strictly older than (created_at, id) */
    int64_t after_id;          /* 0 = from the newest */
    const char *prefix;
    const char *label_key;
    const char *label_value;
};

/* Open or create catalog.db at path: WAL, foreign keys, busy timeout, and
 * forward migrations to the current PRAGMA user_version. Returns 0 and *out
 * (free with catalog_close) or -1. */
int catalog_open(struct catalog **out, const char *path, struct err *e);

/* Close. Accepts NULL. */
void catalog_close(struct catalog *c);

/* Free what a catalog_snapshot owns and zero it. Accepts NULL. */
void catalog_snapshot_clear(struct catalog_snapshot *s);

/* Free s's files alone (the row stays; file_count keeps its count). Cannot fail. */
void catalog_snapshot_drop_files(struct catalog_snapshot *s);

/* Free an array of n rows from catalog_snapshot_list. Accepts NULL. */
void catalog_snapshots_free(struct catalog_snapshot *rows, size_t n);

/* Transactions: BEGIN IMMEDIATE / COMMIT / ROLLBACK. rollback cannot fail. */
int catalog_begin(struct catalog *c, struct err *e);
int catalog_commit(struct catalog *c, struct err *e);
void catalog_rollback(struct catalog *c);

/* 1 inside a transaction begun with catalog_begin, else 0. Cannot fail. */
int catalog_in_transaction(struct catalog *c);

/* Fold the WAL back into catalog.db and truncate it. Readers that never
 * pause (a busy API) would otherwise keep the WAL, and its shared-memory
 * index, growing. Best effort: a busy database just waits for next time. */
void catalog_checkpoint(struct catalog *c);

/* Insert a snapshot and its files. ERR_CONFLICT if the name exists. */
int catalog_snapshot_insert(struct catalog *c, const struct catalog_snapshot *s, struct err *e);

/* Read NAME (with files if with_files). ERR_NOT_FOUND if absent. */
int catalog_snapshot_get(struct catalog *c, const char *name, int with_files,
                         struct catalog_snapshot *out, struct err *e);

/* Receives one file of a snapshot (borrowed for the call); non-zero stops. */
typedef int (*catalog_file_fn)(void *ctx, const struct catalog_file *f);

/* Call each for every file of NAME, by path, without holding them: a
 * snapshot of 100,000 files is read one row at a time. 0, each's first
 * non-zero return, or -1 (ERR_NOT_FOUND if NAME is absent). */
int catalog_files_each(struct catalog *c, const char *name, catalog_file_fn each, void *ctx,
                       struct err *e);

/* 1 if NAME is catalogued, 0 if not, -1 on error. */
int catalog_snapshot_exists(struct catalog *c, const char *name, struct err *e);

/* The newest snapshot (no files). ERR_NOT_FOUND if the catalog is empty. */
int catalog_snapshot_latest(struct catalog *c, struct catalog_snapshot *out, struct err *e);

/* A page newest first. *rows is malloc'd (catalog_snapshots_free). *more is 1
 * when further rows follow the page. */
int catalog_snapshot_list(struct catalog *c, const struct catalog_filter *f,
                          struct catalog_snapshot **rows, size_t *n, int *more, struct err *e);

/* Every catalogued name, newest first; *names is malloc'd, each entry too. */
int catalog_snapshot_names(struct catalog *c, char ***names, size_t *n, struct err *e);

/* Count and total bytes of all snapshots (kept by triggers: O(1)). */
int catalog_totals(struct catalog *c, int64_t *count, int64_t *bytes, struct err *e);

/* Snapshots kept although their cut was not consistent (consistency.state
 * "changed"), through a partial index. */
int catalog_count_inconsistent(struct catalog *c, int64_t *n, struct err *e);

/* Snapshots whose archive is not signed by a trusted key: unsigned, and
 * untrusted (admitted with --allow-unsigned), through a partial index. */
int catalog_count_unsigned(struct catalog *c, int64_t *unsigned_n, int64_t *untrusted_n,
                           struct err *e);

/* Changes when anything in the catalog changed: a commit by another
 * connection (any process) moves `others`, one through c moves `own`.
 * Equal versions mean equal contents, so readers can reuse an answer. */
struct catalog_version {
    int64_t others;
    int64_t own;
};
int catalog_version(struct catalog *c, struct catalog_version *v, struct err *e);

/* Delete NAME and its files. ERR_NOT_FOUND if absent. */
int catalog_snapshot_delete(struct catalog *c, const char *name, struct err *e);

/* Set pin state / labels of NAME. ERR_NOT_FOUND if absent. */
int catalog_snapshot_set_pin(struct catalog *c, const char *name, int pinned, int64_t pin_until,
                             struct err *e);
int catalog_snapshot_set_labels(struct catalog *c, const char *name, const char *labels_json,
                                struct err *e);

/* What retention needs of every snapshot, newest first. */
struct catalog_brief {
    char name[65];
    int64_t created_at;
    int pinned;
    int64_t pin_until;
    int empty;                 /* captured no file */
};

/* All snapshots in brief; *rows malloc'd (free()). */
int catalog_snapshot_brief(struct catalog *c, struct catalog_brief **rows, size_t *n, struct err *e);

/* Remove every snapshot row (reindex starts from nothing). */
int catalog_snapshot_delete_all(struct catalog *c, struct err *e);

#endif
