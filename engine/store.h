/* store.h - the store handle: directory layout, the lock, the per-store secret,
 * intents, and the figures /metrics reads. Primitives: nothing here recovers or
 * flushes (that is the operation bracket, op.h); the files and the crash
 * protocol they keep are docs/DESIGN.md, "The crash protocol". */
#ifndef STATESNAP_STORE_H
#define STATESNAP_STORE_H

#include <limits.h>
#include <stdint.h>
#include <sys/stat.h>

#include "engine.h"
#include "sign.h"
#include "../db/catalog.h"
#include "../db/drill.h"
#include "../db/offsite.h"

#define STORE_MEMO_MAX 1024   /* files whose hashes store_file_sha remembers */

/* The audited operations /metrics counts from the catalog, whichever
 * process ran them (pin and unpin are "update", as in the API's op label). */
enum store_op { STORE_OP_CREATE, STORE_OP_IMPORT, STORE_OP_RESTORE, STORE_OP_DELETE,
                STORE_OP_UPDATE, STORE_OP_PRUNE, STORE_OP_COUNT };

/* The op label ("create", ...) of o. Cannot fail. */
const char *store_op_name(enum store_op o);

/* The catalog's headline figures (what /metrics shows). */
struct store_summary {
    int64_t cli_ops[STORE_OP_COUNT][2];   /* run by the CLI (another process): ok, not ok */
    int64_t count, bytes;
    int have_latest;
    int64_t latest_created_at;
    int latest_consistent;      /* 1 consistent cut, 0 flagged, -1 not recorded */
    int64_t inconsistent;       /* snapshots flagged as not a consistent cut */
    int64_t unsigned_n;         /* snapshots whose archive carries no signature */
    int64_t untrusted;          /* signed by no trusted key (admitted with --allow-unsigned) */
    struct catalog_offsite_stats offsite;
    struct catalog_drill_stats drills;
};

#define STORE_DIR_MODE 0700    /* the store and .work: the owner's alone, whatever the umask */
#define STORE_FILE_MODE 0600   /* archives, catalog, audit.jsonl, lock, secret */

/* store_open's refusal of a path that holds no catalog (printf format, one %s). */
#define STORE_NOT_A_STORE "no statesnap store at %s: is there a store at this location? " \
    "(check --store / STATESNAP_STORE; `statesnap create` or `import` makes a new one)"

#define STORE_WORK_DIR ".work"
#define STORE_LOCK_FILE ".lock"
#define STORE_SECRET_FILE ".secret"
#define STORE_CATALOG_FILE "catalog.db"
#define STORE_JOURNAL_FILE "restore.journal"
#define STORE_UPLOAD_PREFIX "upload-"   /* in-flight uploads: recovery leaves young ones alone */
#define STORE_DRILL_PREFIX "drill-"     /* restore drills' scratch directories (engine/op_drill.c) */

/* The handle every operation takes: one per thread. */
struct store {
    const struct engine_config *cfg;
    char dir[PATH_MAX];
    char work[PATH_MAX];
    struct catalog *cat;
    int lock_fd;         /* -1 when the lock is not held */
    int lock_depth;      /* store_lock calls not yet undone (nested calls only count) */
    unsigned char secret[32];
    int have_secret;
    int summary_ok;                  /* summary below is valid for summary_ver */
    int64_t summary_second;          /* store_summary_recent: checked in this second, */
    uint64_t summary_gen;            /* ... and at this write generation */
    struct catalog_version summary_ver;
    struct store_summary summary;
    struct sign_key *sign_key;       /* engine/signing.c: loaded on first use */
    struct sign_trust trust;
    int trust_ready;
};

/* Open the store named in cfg. With create != 0 (a command that may add a
 * snapshot: create, import, reindex, serve) the directory (0700), .work/
 * and catalog.db (0600) are made if missing, whatever the umask, and
 * audit.jsonl is caught up with the catalog; with create == 0 a path that
 * holds no catalog.db is ERR_NOT_FOUND ("no statesnap store at ...") and
 * nothing is made. If leftovers of a crashed operation are found and the
 * lock is free, they are cleaned or rolled forward first. Returns 0 and
 * *out (free with store_close) or -1. cfg must outlive the store.
 * (store_open.c: opening runs recover_all, which needs this handle.) */
int store_open(struct store **out, const struct engine_config *cfg, int create, struct err *e);

/* The store's catalog connection (borrowed; for db/ queries by the fronts). */
struct catalog *store_catalog(struct store *s);

/* Close a store. Accepts NULL. */
void store_close(struct store *s);

/* The configuration the store was opened with. Cannot fail. */
const struct engine_config *store_config(const struct store *s);

/* Take the exclusive store lock (flock on STORE/.lock), waiting up to
 * cfg->lock_timeout_ms. Only the lock: recovery and the audit flush are
 * the operation bracket's (op.h). Nested calls only count. ERR_LOCKED on
 * timeout. */
int store_lock(struct store *s, struct err *e);

/* The summary, read again only when the catalog's version has moved (a
 * scrape every second then costs one cheap query). Returns 0 or -1. */
int store_summary(struct store *s, struct store_summary *out, struct err *e);

/* SHA-256 (hex) of the regular file at path, whose lstat is *st. A hash
 * this process computed before (through any handle, on any thread: the API
 * previews a restore on one worker and may apply it on another) is reused
 * when the file still has the same device, inode, size, mtime and ctime (a
 * write changes ctime, and rename changes the inode); a file changed within
 * the last STORE_MEMO_SETTLE_NS of being hashed is not remembered, as a
 * later write in the same timestamp tick could leave its times as they
 * were. Thread-safe. */
int store_file_sha(const char *path, const struct stat *st, char out[65], struct err *e);

/* How many files store_file_sha has read in this process; the others came
 * from what it remembered. For tests and diagnostics. Cannot fail. */
uint64_t store_files_hashed(void);

/* store_summary for a frequent poller (/metrics): at most one catalog
 * check per second per handle, and at once after any write made through
 * the engine in this process. A change by another process (the CLI) shows
 * within a second. */
int store_summary_recent(struct store *s, int64_t now, struct store_summary *out, struct err *e);

/* The CLI's operation counts as the last store_summary in this process read
 * them (process-wide, so /metrics can add them to the server's own), and a
 * generation that moves whenever they change. Cannot fail. */
void store_cli_ops(int64_t out[STORE_OP_COUNT][2]);
uint64_t store_cli_ops_generation(void);

/* Release one level of the lock (checkpointing the catalog's WAL when the
 * last level goes); writes nothing else. Cannot fail. */
void store_unlock(struct store *s);

/* The per-store HMAC key (32 bytes, STORE/.secret, mode 0600), created on
 * first use. Returns 0 and fills s->secret, or -1. */
int store_secret(struct store *s, struct err *e);

/* STORE/NAME.zip into out. ERR_INVALID if it does not fit. */
int store_archive_path(const struct store *s, const char *name, char *out, size_t len,
                       struct err *e);

/* Write a small intent file .work/NAME.KIND (durably). */
int store_intent_write(struct store *s, const char *name, const char *kind, struct err *e);

/* Remove the intent file .work/NAME.KIND (durably). */
int store_intent_clear(struct store *s, const char *name, const char *kind, struct err *e);

/* Fill a random hex suffix of n bytes (2n chars + NUL). */
int store_random_hex(char *out, size_t n, struct err *e);

#endif
