/* engine.h - the snapshot operations shared by the CLI and the HTTP API.
 *
 * Every operation takes a struct store (one per thread), fills a struct err
 * on failure and returns 0 or -1. Results are jansson documents whose shape
 * is the API's JSON schema (openapi.yaml); the CLI renders its text blocks
 * from the same documents, so both fronts say the same thing.
 *
 * Each operation is one file, engine/op_NAME.c, and runs inside the one
 * bracket of engine/op.h (lock, recover, flush the audit, unlock); every
 * other file of engine/ is a primitive those files share. Opening and
 * closing a store is store.h. */
#ifndef STATESNAP_ENGINE_H
#define STATESNAP_ENGINE_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "../common/err.h"
#include "retention.h"

#define STATESNAP_VERSION "0.1.0"

#define ENGINE_NAME_MAX 64                     /* snapshot name length */
#define ENGINE_LABELS_MAX 32                   /* labels per snapshot */
#define ENGINE_LABEL_KEY_MAX 64
#define ENGINE_LABEL_VALUE_MAX 256
/* Files in one snapshot: the config's max_files (default below) caps what a
 * create captures; reading an archive accepts up to the hard ceiling
 * whatever the config says, so a store whose cap was raised (or lowered
 * later) still reads every archive it wrote, and a hostile archive still
 * meets a fixed entry-count bound. */
#define ENGINE_DEFAULT_MAX_FILES 200000   /* a 100,000-file root plus its state files fits */
#define ENGINE_MAX_FILES_HARD 250000           /* max_files can be at most this */
#define ENGINE_RESERVED_ENTRIES 8              /* .env, manifest.json, SHA256SUMS, signature, ... */
#define ENGINE_MAX_ENTRY_BYTES (64ULL << 30)   /* one archive entry, uncompressed: hard cap */
#define ENGINE_MAX_TOTAL_BYTES (1ULL << 40)    /* max_unpacked_bytes can be at most this */
/* Defaults of the zip-bomb limits (config max_unpacked_bytes, max_compression_ratio):
 * a bot's state root is megabytes to a few GB (the 1 GB hash chain of the spec). */
#define ENGINE_DEFAULT_MAX_UNPACKED (16ULL << 30)
#define ENGINE_DEFAULT_MAX_RATIO 1000u
#define ENGINE_RATIO_MIN_BYTES (1u << 20)      /* the ratio is checked for entries this big */
#define ENGINE_MAX_MANIFEST_BYTES (64u << 20)  /* manifest.json */
#define ENGINE_MAX_ENV_BYTES (1u << 20)        /* the .env file */
#define ENGINE_SAFETY_PIN_SECONDS (7L * 24 * 3600)
#define ENGINE_CONFIRM_TOKEN_TTL 900           /* seconds a restore preview is good for */
#define ENGINE_CLOCK_SKEW 300                  /* an imported created_at may be this far ahead */

/* A command run around an operation (engine/hooks.h). */
#define HOOK_DEFAULT_TIMEOUT_MS 30000
struct hook_spec {
    const char *const *argv;          /* argv[0] is looked up in PATH; NULL-ended */
    size_t argc;
    long timeout_ms;                  /* 0 = HOOK_DEFAULT_TIMEOUT_MS */
    int optional;                     /* a failing pre hook only warns */
};

/* How create takes a consistent cut of a live root (engine/cut.h). */
#define CAPTURE_DEFAULT_ATTEMPTS 8
#define CAPTURE_DEFAULT_WAIT_MS 3000
struct capture_policy {
    const char *const *append_only;   /* globs of append-only files; NULL = state/NAME.jsonl */
    size_t n_append_only;
    const char *const *require;       /* each must match a captured file; NULL = one of the
                                       * expected state files must be there */
    size_t n_require;
    int max_attempts;                 /* cuts tried before giving up; 0 = default */
    long max_wait_ms;                 /* total time for those tries; 0 = default */
    int keep_inconsistent;            /* 1 = keep a cut that changed, flagged; 0 = fail */
    const char *chain_path;           /* the hash chain; NULL = "state/hash_chain.jsonl" */
    const char *chain_seq;            /* its field names; NULL = seq, hash, prev */
    const char *chain_hash;
    const char *chain_prev;
};

/* Settings an operation needs; filled by the front from config + flags.
 * Strings are borrowed for the life of the store. */
struct engine_config {
    const char *root;                 /* state root (required by create/restore/diff live) */
    const char *store;                /* store directory */
    const char *dotenv;               /* .env to capture; NULL = ROOT/.env if present */
    const char *const *include;       /* globs relative to root; NULL = defaults */
    size_t n_include;
    const char *const *exclude;
    size_t n_exclude;
    int compression_level;            /* 0..9, default 6 */
    int compress_threads;             /* deflate threads for a large file: 0 = one per online
                                       * CPU (at most 8), 1 = one zlib stream, on one thread */
    long safety_pin_seconds;          /* how long pre_restore_* stays pinned */
    int safety_compression_level;     /* 0 = stored (default), 1..9 = deflate level */
    long lock_timeout_ms;             /* wait for the store lock this long */
    const char *actor;                /* who is acting: "cli:<user>" or "token:<name>" */
    const struct retention_policy *retention; /* NULL = keep_last 5 */
    int prune_after_create;           /* prune with retention after every create */
    const struct capture_policy *capture;  /* NULL = defaults */
    const struct hook_spec *pre_snapshot;  /* NULL = none */
    const struct hook_spec *post_snapshot;
    const struct hook_spec *pre_restore;   /* e.g. stop the bot; failing aborts the restore */
    const struct hook_spec *post_restore;  /* e.g. its preflight, then start it */
    const char *bot_lock_file;        /* held by a running bot (flock or fcntl); NULL = unknown */
    const char *bot_pid_file;         /* the running bot's pid; NULL = unknown */
    long restore_quiet_ms;            /* targets unchanged this long before a swap; < 0 = 2000 */
    int restore_engage_kill_switch;   /* leave state/KILL_SWITCH engaged after every restore */
    const char *restore_targets_dir;  /* where an API restore elsewhere writes (by name) */
    const struct hook_spec *drill_check;   /* run against a drill's scratch copy; NULL = none */
    uint64_t max_unpacked_bytes;      /* an archive's total uncompressed size; 0 = default */
    unsigned max_compression_ratio;   /* per entry of ENGINE_RATIO_MIN_BYTES or more; 0 = default */
    const char *signing_key;          /* the store's Ed25519 key (PEM); NULL = STORE/signing_key.pem */
    const char *const *trusted_keys;  /* other signers' public keys: PEM files, or PEM text */
    size_t n_trusted_keys;
    unsigned max_files;               /* files one create captures (config max_files); 0 = default */
    /* Who hears of every audited operation and failed verification (NULL =
     * nobody). Built by the front before any thread starts, then only read. */
    const struct engine_sinks *sinks;
};

/* An event sink: called with {op, result, snapshot, actor, host, time,
 * details} on the thread that ran the operation. Must not block; the event
 * is borrowed. */
typedef void (*engine_sink_fn)(void *ctx, const json_t *event);

#define ENGINE_SINKS_MAX 4

/* The fixed table of sinks an engine_config points to; zero-initialise it. */
struct engine_sinks {
    struct {
        engine_sink_fn fn;
        void *ctx;
    } at[ENGINE_SINKS_MAX];
    size_t n;
};

/* Add fn(ctx) to t, after those already there (events reach them in that
 * order). Call before any thread that emits events starts. Returns 0, or -1
 * with ERR_INVALID when the table is full. */
int engine_sinks_add(struct engine_sinks *t, engine_sink_fn fn, void *ctx, struct err *e);

struct store;      /* an open store: store.h (store_open, store_close) */
struct catalog;

/* ---- helpers of both fronts and the engine (engine.c): events, sinks,
 * names, text, time, actor ---- */

/* Tell every sink in cfg->sinks about an operation (nothing is built when
 * there are none). Cannot fail. */
void engine_emit(const struct engine_config *cfg, const char *op, const char *result,
                 const char *snapshot, const json_t *details);

/* Check a snapshot name against [A-Za-z0-9][A-Za-z0-9._-]{0,63}.
 * Returns 0 or -1 with ERR_INVALID and a message naming the problem. */
int engine_name_check(const char *name, struct err *e);

/* Check a list filter's name prefix: at most ENGINE_NAME_MAX characters that
 * could begin a name. Returns 0, or -1 with ERR_INVALID saying why. */
int engine_name_prefix_check(const char *prefix, struct err *e);

/* Decode the UTF-8 sequence at s (which is NUL-terminated): the code point,
 * with its length in *n; -1 (and *n = 1) for a byte that does not start a
 * valid sequence. Cannot fail otherwise. */
int32_t engine_utf8_next(const char *s, size_t *n);

/* 1 if code point cp must not reach a terminal raw or stand in a label: C0
 * and C1 controls, DEL, bidi embeddings, overrides, isolates and marks,
 * zero-width and line/paragraph separators. Cannot fail. */
int engine_char_unsafe(int32_t cp);

/* Current time in seconds; tests may pin it with STATESNAP_TEST_NOW in test builds. */
int64_t engine_now(void);

/* Who is acting: cfg->actor, else "cli:$USER". Cannot fail. */
void engine_actor(const struct engine_config *cfg, char *out, size_t len);

/* Format t (UTC) as RFC 3339 "YYYY-MM-DDTHH:MM:SSZ" into buf (>= 21 bytes). */
void engine_time_format(int64_t t, char *buf, size_t len);

/* ---- create ---- */
#define CREATE_LEVEL_STORED (-1)   /* create_opts.compression_level: no compression */

struct create_opts {
    const char *name;        /* NULL = PREFIX_YYYYMMDDTHHMMSSZ (then _2, _3, ...) */
    const char *name_prefix; /* that PREFIX; NULL = "snap" */
    const json_t *labels;    /* object of string values, or NULL */
    int pin;
    const char *version_tag; /* overrides VERSION detection, or NULL */
    long pin_seconds;        /* >0: pinned only for this long (safety snapshots) */
    int compression_level;   /* 0 = the store's level; 1-9 = this level; or CREATE_LEVEL_STORED */
    /* Called once the archive is written and synced, before anything in
     * the store changes; a failure there abandons the create (its error is
     * returned, nothing is left, no alert). Restore waits here for its own
     * checks, which run while the safety snapshot is written. */
    int (*gate)(void *ctx, struct err *e);
    void *gate_ctx;
    const char *reason;      /* for hooks: "manual", "api", "schedule", "pre-restore"; NULL = manual */
    int if_changed;          /* return the newest snapshot ("skipped": true) when no captured
                              * file differs from it (engine/unchanged.h) */
    int files_apart;         /* 1: *snap leaves "files" out (a tree of every file: ~670 B
                              * each); the caller reads them with engine_snapshot_files */
};

/* Capture the state root into NAME.zip and catalog it. Takes the store lock.
 * Returns 0 and *snap (the Snapshot document with its files; caller decrefs)
 * or -1 (ERR_INVALID, ERR_CONFLICT, ERR_IO, ERR_NO_SPACE, ERR_LOCKED). Nothing
 * is left behind on failure. With o->if_changed and nothing changed since
 * the newest snapshot, *snap is that snapshot with "skipped": true: no
 * archive, row, audit entry, hook or prune; the event is result "skipped". */
int engine_create(struct store *s, const struct create_opts *o, json_t **snap, struct err *e);

/* ---- read ---- */
struct list_opts {
    size_t limit;            /* 1..1000, 0 = 50 */
    const char *cursor;      /* from a previous page's next_cursor, or NULL */
    const char *prefix;      /* name prefix filter, or NULL */
    const char *label_key;   /* label filter key=value, or NULL */
    const char *label_value;
};

/* One file of a snapshot, borrowed for the call. */
struct engine_file {
    const char *path;
    int64_t size;
    const char *sha256;
    const char *group;
};

/* Call each for every file of NAME by path, one catalog row at a time
 * (nothing is held: a front prints a snapshot of 100,000 files without a
 * tree of them). 0, each's first non-zero return, or -1 (ERR_NOT_FOUND). */
int engine_snapshot_files(struct store *s, const char *name,
                          int (*each)(void *ctx, const struct engine_file *f), void *ctx,
                          struct err *e);

/* A page of snapshots, newest first: {snapshots:[...], total_count,
 * total_bytes, next_cursor}. Caller decrefs *page. */
int engine_list(struct store *s, const struct list_opts *o, json_t **page, struct err *e);

/* The Snapshot document of NAME with "files" and "manifest". ERR_NOT_FOUND. */
int engine_show(struct store *s, const char *name, json_t **snap, struct err *e);

/* The newest snapshot with "age_seconds". ERR_NOT_FOUND when there is none. */
int engine_latest(struct store *s, json_t **snap, struct err *e);

/* Path of NAME's archive and its sha256 (for downloads). *path is malloc'd. */
int engine_archive_path(struct store *s, const char *name, char **path, char sha256[65],
                        struct err *e);

/* ---- verify ---- */
/* Re-read NAME's archive, recompute every hash and compare with the manifest
 * and the catalog. *report = {name, ok, checked_files, errors:[{path, problem}]}
 * is set whether or not the archive is good. Returns 0 when good, -1 with
 * ERR_VERIFY when not (or another code when it could not check at all). */
int engine_verify(struct store *s, const char *name, json_t **report, struct err *e);

/* verify every catalogued snapshot: {ok, snapshots:[report...]}. -1/ERR_VERIFY if any bad. */
int engine_verify_all(struct store *s, json_t **report, struct err *e);

/* ---- diff ---- */
/* Compare snapshot FROM with snapshot TO, or with the live state root when
 * TO is "live". *diff is the Diff document (see openapi.yaml). */
int engine_diff(struct store *s, const char *from, const char *to, json_t **diff, struct err *e);

/* ---- restore ---- */
struct restore_opts {
    const char *name;
    const char *const *only;   /* subset of archive paths, or NULL for all */
    size_t n_only;
    int clear_kill_switch;
    int skip_verify;           /* preview only: plan without reading the whole archive
                                * (apply verifies every byte before it swaps anything) */
    int while_running;         /* go ahead although the bot runs (lock/pid file, quiet period) */
    int replace_special;       /* replace a symlink, FIFO, socket or empty directory at a target */
    int engage_kill_switch;    /* leave state/KILL_SWITCH engaged (or the config's default) */
    const char *target;        /* restore elsewhere: a new or empty directory, no safety
                                * snapshot, the live root untouched; NULL = the state root */
};

/* Verify NAME's archive and describe what a restore would do:
 * {snapshot, created_at, current_positions, snapshot_positions, files:[{path,
 * action}], kill_switch, confirm_token, expires_at, warnings}. Writes nothing. */
int engine_restore_preview(struct store *s, const struct restore_opts *o, json_t **preview,
                           struct err *e);

/* Restore NAME. token must be the confirm_token of a preview with the same
 * options and an unchanged state root (else ERR_CONFLICT, nothing written).
 * Takes the safety snapshot, then swaps files in under a journal.
 * *report = {snapshot, safety_snapshot, files:[{path, action, result}],
 * kill_switch, next_step}. */
int engine_restore_apply(struct store *s, const struct restore_opts *o, const char *token,
                         json_t **report, struct err *e);

/* ---- restore drill ---- */
struct drill_opts {
    const char *name;          /* the snapshot; NULL = the newest */
    const char *reason;        /* for the hook: "manual", "api", "schedule"; NULL = manual */
};

/* Rehearse a restore of NAME (or the newest snapshot) without touching the
 * state root: extract every file but the masked .env into a scratch
 * directory STORE/.work/drill-NAME-RANDOM/ (each entry checked for size and
 * SHA-256 as it streams, then the rest of the archive and its whole SHA-256
 * against the catalog), run cfg->drill_check against it, remove the scratch,
 * and record the result in the catalog and the audit chain (op "drill") and
 * emit it as an event. The store lock is held only to set up and to record,
 * so creates are not held up while the check runs.
 * *report = {snapshot, result: ok|failed, files_checked, bytes, duration_ms,
 * check, error, drilled_at} (caller decrefs) is set whenever the drill ran.
 * Returns 0 when it passed; -1 with ERR_VERIFY (the archive is bad), ERR_HOOK
 * (the check failed), ERR_IO/ERR_NO_SPACE (extraction failed) and *report
 * set, or -1 without a report when no drill ran or its result could not be
 * recorded (ERR_INVALID, ERR_NOT_FOUND, ERR_LOCKED, ERR_NO_SPACE, ERR_IO). */
int engine_drill(struct store *s, const struct drill_opts *o, json_t **report, struct err *e);

/* ---- delete, pin, labels ---- */
/* Remove NAME's archive and rows. Pinned needs force (else ERR_PINNED).
 * *out = {name, deleted: true}. */
int engine_delete(struct store *s, const char *name, int force, json_t **out, struct err *e);

/* Change pin (-1 = leave) and/or replace labels (NULL = leave). *snap = updated Snapshot. */
int engine_update(struct store *s, const char *name, int pin, const json_t *labels, json_t **snap,
                  struct err *e);

/* ---- prune ---- */
/* Apply the retention policy (NULL = the store's configured one). With
 * dry_run nothing is deleted. *report = {dry_run, kept:[{name, created_at,
 * reasons}], removed:[{name, created_at}]}. Pinned snapshots are never removed. */
int engine_prune(struct store *s, const struct retention_policy *p, int dry_run, json_t **report,
                 struct err *e);

/* ---- audit ---- */
/* A page of entries oldest first after seq `after`: {entries:[...], next_after}. */
int engine_audit_list(struct store *s, int64_t after, size_t limit, json_t **page, struct err *e);

/* Recompute both chains (catalog rows and audit.jsonl) and compare them,
 * writing nothing (not even the catch-up a write would do).
 * *report = {ok, entries, catalog:{ok, first_bad},
 *            file:{ok, first_bad, entries, behind[, note]}};
 * a file that is a clean prefix of the catalog and no shorter than it was
 * last durably written is ok with behind = N (a crash before its flush);
 * shorter than that is a deleted tail. -1 with ERR_VERIFY naming the first
 * bad entry when not ok; *report is set then too. */
int engine_audit_verify(struct store *s, json_t **report, struct err *e);

/* Catch audit.jsonl up with the catalog when verify finds it only behind,
 * or write it anew from the catalog when it is missing (moved aside).
 * Anything else (edited, dropped, reordered, cut) is refused with
 * ERR_VERIFY: that file is evidence. *report = {ok, entries, appended,
 * rewritten}; caller frees. */
int engine_audit_repair(struct store *s, json_t **report, struct err *e);

/* ---- import / reindex ---- */
/* Admit archives that are not signed by a trusted key (unsigned, or signed
 * by a key not in trusted_keys), recorded as such: --allow-unsigned. */
#define ENGINE_ALLOW_UNSIGNED 1u

/* Validate the zip at path completely (names, sizes, manifest, every hash,
 * the signature against the trust list) and adopt it as a snapshot named by
 * its manifest. Without ENGINE_ALLOW_UNSIGNED in flags an archive not signed
 * by a trusted key is refused (ERR_VERIFY). The file at path is consumed
 * (moved or removed) only on success. */
int engine_import(struct store *s, const char *path, unsigned flags, json_t **snap, struct err *e);

/* Put back the archive of catalogued snapshot NAME from path, a file in the
 * store's .work (a download). Under the store lock it checks every byte:
 * the zip's structure and manifest, every entry's SHA-256, that the manifest
 * names NAME, and that the whole file's SHA-256 and size equal the catalog's;
 * then renames it to STORE/NAME.zip. ERR_NOT_FOUND when NAME is not
 * catalogued, ERR_CONFLICT when its archive is already there, ERR_VERIFY on
 * any mismatch. The file at path is consumed either way. */
int engine_adopt_archive(struct store *s, const char *name, const char *path, struct err *e);

/* Rebuild the catalog from the archives in the store alone. An archive not
 * signed by a trusted key is indexed when the catalog already held it (the
 * same archive SHA-256: it was admitted before) or with
 * ENGINE_ALLOW_UNSIGNED in flags; otherwise it is skipped, saying why.
 * *report = {indexed, skipped:[{file, problem}]}. */
int engine_reindex(struct store *s, unsigned flags, json_t **report, struct err *e);

#endif
