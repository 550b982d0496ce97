/* config.h - statesnap.json: load, validate (unknown keys are errors), defaults;
 * the one struct every front reads its settings from. */
#ifndef STATESNAP_CONFIG_H
#define STATESNAP_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "../engine/engine.h"
#include "../common/err.h"
#include "tokens.h"

#define CONFIG_PER_IP_DEFAULT 1024  /* a quarter of the server's connection limit */
#define CONFIG_ALLOWED_HOSTS_MAX 64

/* One hook of the "hooks" section. */
struct config_hook {
    char **argv;                /* NULL-ended; owned */
    struct hook_spec spec;      /* points into argv */
    int set;
};

struct config {
    char *path;                 /* file it came from, or NULL */
    char *root;
    char *store;                /* default "./snapshots" */
    char *dotenv;
    char **include;
    size_t n_include;
    char **exclude;
    size_t n_exclude;
    char *listen;               /* default "127.0.0.1:8080" */
    struct config_token *tokens;
    size_t n_tokens;
    char *tls_cert;
    char *tls_key;
    uint64_t max_body_bytes;    /* JSON request bodies, default 1 MiB */
    uint64_t max_upload_bytes;  /* imported archives, default 4 GiB */
    uint64_t max_unpacked_bytes;    /* an archive's uncompressed total, default 16 GiB */
    unsigned max_compression_ratio; /* per entry of 1 MiB or more, default 1000 */
    unsigned max_files;             /* files one create captures, default 200000 */
    int compression_level;      /* default 6 */
    int compress_threads;       /* 0 = one per online CPU (default), 1..8 = at most this many */
    long safety_pin_seconds;    /* default 7 days */
    int safety_compression_level;   /* 0 = stored (default) */
    long lock_timeout_ms;       /* default 30000 */
    long readyz_max_age;        /* seconds, default 0 = no age check */
    long schedule_interval;     /* seconds, 0 = off */
    int schedule_if_changed;    /* a scheduled run writes nothing when nothing changed */
    long drill_interval;        /* seconds between the server's restore drills, 0 = off */
    long readyz_max_drill_age;  /* seconds, 0 = /readyz does not look at drills */
    int prune_after_create;
    int metrics_public;         /* default 1: /metrics needs no token */
    char **allowed_hosts;       /* extra Host names ("NAME" or "NAME:PORT"), lower case */
    size_t n_allowed_hosts;
    long max_connections_per_ip;    /* default CONFIG_PER_IP_DEFAULT, 0 = no limit */
    struct retention_policy retention_policy;  /* parsed "retention" */
    json_t *retention;          /* validated objects kept for their modules */
    json_t *alerts;
    json_t *offsite;
    struct capture_policy capture_policy;  /* "capture" (config_capture.c) */
    char **append_only, **require;         /* owned storage behind capture_policy */
    char *chain_path, *chain_seq, *chain_hash, *chain_prev;
    struct config_hook pre_snapshot;       /* "hooks" */
    struct config_hook post_snapshot;
    struct config_hook pre_restore;
    struct config_hook post_restore;
    char *bot_lock_file, *bot_pid_file;    /* "bot" */
    long restore_quiet_ms;                 /* -1 = default */
    int restore_engage_kill_switch;
    char *restore_targets_dir;
    char *signing_key;               /* the store's Ed25519 key (PEM); NULL = STORE/signing_key.pem */
    char **trusted_keys;             /* other signers' public keys: PEM files or PEM text */
    size_t n_trusted_keys;
    struct config_hook drill_check;        /* run against a restore drill's scratch copy */
    struct engine_config engine;/* view for engine calls; points into this struct */
};

/* Fill c with defaults, then the JSON file at path if path is not NULL
 * (when path is NULL, ./statesnap.json is read if it exists), then the
 * STATESNAP_* environment variables. Unknown keys, wrong types and values
 * out of range are ERR_INVALID naming the key. Returns 0 or -1; call
 * config_free either way. */
int config_load(struct config *c, const char *path, struct err *e);

/* Defaults, then the JSON document text (for tests and fuzzing: no file,
 * no environment). Returns 0 or -1; call config_free either way. */
int config_parse_text(struct config *c, const char *text, size_t len, struct err *e);

/* Replace a string setting (used for CLI overrides). Returns 0 or -1. */
int config_set_string(char **slot, const char *value, struct err *e);

/* Refresh c->engine from the other fields; call after overrides. Cannot fail. */
void config_sync_engine(struct config *c);

/* The "capture" and "hooks" sections of a parsed config document (unknown
 * keys and bad values are ERR_INVALID naming the key). 0 or -1. */
int config_capture_apply(struct config *c, const json_t *root, struct err *e);
int config_hooks_apply(struct config *c, const json_t *root, struct err *e);
int config_restore_apply(struct config *c, const json_t *root, struct err *e);

/* Free what those sections own. Cannot fail. */
void config_capture_free(struct config *c);

/* Free everything c owns. Accepts NULL. */
void config_free(struct config *c);

#endif
