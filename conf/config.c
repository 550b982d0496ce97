/* config.c - statesnap.json: load it, check the top level (unknown keys,
 * types, ranges), fill in defaults and the environment, and hand each
 * section to the module that owns its keys: "tokens" to tokens.c,
 * "capture", "hooks", "bot" and the restore_* keys to config_capture.c,
 * "retention" to engine/retention.c, "alerts" to alerts/settings.c and
 * "offsite" to offsite/settings.c. */
#include "config.h"
#include "../engine/sign.h"
#include "tokens.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../alerts/settings.h"
#include "../common/duration.h"
#include "../engine/pdeflate.h"
#include "../offsite/settings.h"

#define CONFIG_MAX_BYTES (1u << 20)
#define CONFIG_MAX_GLOBS 256

static const char *const top_keys[] = {
    "root", "store", "dotenv", "include", "exclude", "listen", "tokens", "tls_cert", "tls_key",
    "max_body_bytes", "max_upload_bytes", "compression_level", "retention", "schedule_interval",
    "schedule_if_changed",
    "prune_after_create", "alerts", "offsite", "readyz_max_age", "metrics_public",
    "safety_pin_days", "safety_compression_level", "lock_timeout_ms", "compress_threads",
    "capture", "hooks", "max_unpacked_bytes", "max_compression_ratio", "max_files", "allowed_hosts",
    "max_connections_per_ip", "bot", "restore_quiet_ms", "restore_engage_kill_switch",
    "restore_targets_dir", "drill_interval", "readyz_max_drill_age", "signing_key",
    "trusted_keys", NULL
};
static const char *const retention_keys[] = {
    "keep_last", "keep_daily", "keep_weekly", "keep_monthly", "expire_after", "max_count", NULL
};

static int key_known(const char *k, const char *const *list)
{
    for (; *list != NULL; list++)
        if (strcmp(k, *list) == 0)
            return 1;
    return 0;
}

static int check_keys(json_t *obj, const char *const *list, const char *where, struct err *e)
{
    const char *k;
    json_t *v;

    json_object_foreach(obj, k, v) {
        if (!key_known(k, list))
            return err_set(e, ERR_INVALID, "config: unknown key \"%s%s%.64s\"", where,
                           *where ? "." : "", k);
    }
    return 0;
}

int config_set_string(char **slot, const char *value, struct err *e)
{
    char *copy = NULL;

    if (value != NULL && (copy = strdup(value)) == NULL)
        return err_set(e, ERR_IO, "out of memory");
    free(*slot);
    *slot = copy;
    return 0;
}

static int get_string(json_t *root, const char *key, char **slot, struct err *e)
{
    json_t *v = json_object_get(root, key);

    if (v == NULL)
        return 0;
    if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > 4096)
        return err_set(e, ERR_INVALID, "config: \"%s\" must be a non-empty string", key);
    return config_set_string(slot, json_string_value(v), e);
}

static int get_int(json_t *root, const char *key, long long lo, long long hi, long long *out,
                   struct err *e)
{
    json_t *v = json_object_get(root, key);

    if (v == NULL)
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
        return err_set(e, ERR_INVALID, "config: \"%s\" must be an integer from %lld to %lld", key,
                       lo, hi);
    *out = json_integer_value(v);
    return 1;
}

static int get_bool(json_t *root, const char *key, int *out, struct err *e)
{
    json_t *v = json_object_get(root, key);

    if (v == NULL)
        return 0;
    if (!json_is_boolean(v))
        return err_set(e, ERR_INVALID, "config: \"%s\" must be true or false", key);
    *out = json_is_true(v);
    return 0;
}

static int get_globs(json_t *root, const char *key, char ***out, size_t *n, struct err *e)
{
    json_t *v = json_object_get(root, key), *g;
    size_t i;

    if (v == NULL)
        return 0;
    if (!json_is_array(v) || json_array_size(v) > CONFIG_MAX_GLOBS)
        return err_set(e, ERR_INVALID, "config: \"%s\" must be an array of at most %d globs", key,
                       CONFIG_MAX_GLOBS);
    *out = calloc(json_array_size(v) + 1, sizeof(char *));
    if (*out == NULL)
        return err_set(e, ERR_IO, "out of memory");
    json_array_foreach(v, i, g) {
        const char *s = json_string_value(g);
        if (s == NULL || *s == '\0' || *s == '/' || strstr(s, "..") != NULL || strlen(s) > 512)
            return err_set(e, ERR_INVALID,
                           "config: \"%s\"[%zu] must be a relative glob without \"..\"", key, i);
        if (((*out)[i] = strdup(s)) == NULL)
            return err_set(e, ERR_IO, "out of memory");
        *n = i + 1;
    }
    return 0;
}

/* trusted_keys: other signers' Ed25519 public keys, each a PEM file's path or
 * the PEM text itself (engine/signing.c tells them apart). */
static int get_trusted_keys(json_t *root, struct config *c, struct err *e)
{
    json_t *v = json_object_get(root, "trusted_keys"), *k;
    size_t i;

    if (v == NULL)
        return 0;
    if (!json_is_array(v) || json_array_size(v) > SIGN_MAX_TRUSTED - 1)
        return err_set(e, ERR_INVALID, "config: \"trusted_keys\" must be an array of at most %d "
                       "public keys (PEM files or PEM text)", SIGN_MAX_TRUSTED - 1);
    if ((c->trusted_keys = calloc(json_array_size(v) + 1, sizeof(char *))) == NULL)
        return err_set(e, ERR_IO, "out of memory");
    json_array_foreach(v, i, k) {
        const char *t = json_string_value(k);
        if (t == NULL || *t == '\0' || strlen(t) > 4096)
            return err_set(e, ERR_INVALID, "config: \"trusted_keys\"[%zu] must be a path or PEM text",
                           i);
        if ((c->trusted_keys[i] = strdup(t)) == NULL)
            return err_set(e, ERR_IO, "out of memory");
        c->n_trusted_keys = i + 1;
    }
    return 0;
}

static int get_duration(json_t *root, const char *key, long *out, struct err *e)
{
    json_t *v = json_object_get(root, key);

    if (v == NULL)
        return 0;
    if (json_is_integer(v) && json_integer_value(v) >= 0 && json_integer_value(v) <= 315360000) {
        *out = (long)json_integer_value(v);
        return 0;
    }
    if (!json_is_string(v))
        return err_set(e, ERR_INVALID, "config: \"%s\" must be seconds or a duration string", key);
    if (duration_parse(json_string_value(v), out, e) != 0) {
        e->code = ERR_NONE;
        return err_set(e, ERR_INVALID, "config: \"%s\": bad duration \"%.32s\"", key,
                       json_string_value(v));
    }
    return 0;
}

/* "name", "name:port", "[v6]" or "[v6]:port": what a Host header may say.
 * Returns 1 when s has that shape (names: letters, digits, '-', '.'). */
static int host_entry_ok(const char *s)
{
    const char *p = s, *end;
    size_t n;

    if (*p == '[') {
        if ((end = strchr(p, ']')) == NULL || end == p + 1)
            return 0;
        for (p++; p < end; p++)
            if (!(isxdigit((unsigned char)*p) || *p == ':' || *p == '.'))
                return 0;
        p = end + 1;
    } else {
        n = strspn(p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.");
        if (n == 0 || n > 253)
            return 0;
        p += n;
    }
    if (*p == '\0')
        return 1;
    if (*p != ':' || p[1] == '\0' || strlen(p + 1) > 5 ||
        strspn(p + 1, "0123456789") != strlen(p + 1))
        return 0;
    n = (size_t)strtoul(p + 1, NULL, 10);
    return n >= 1 && n <= 65535;
}

/* allowed_hosts: ["statesnap.internal", "bot-1.example:8443"], kept lower case. */
static int get_allowed_hosts(struct config *c, json_t *root, struct err *e)
{
    json_t *v = json_object_get(root, "allowed_hosts"), *h;
    size_t i;

    if (v == NULL)
        return 0;
    if (!json_is_array(v) || json_array_size(v) > CONFIG_ALLOWED_HOSTS_MAX)
        return err_set(e, ERR_INVALID, "config: \"allowed_hosts\" must be an array of at most %d "
                       "host names", CONFIG_ALLOWED_HOSTS_MAX);
    if ((c->allowed_hosts = calloc(json_array_size(v) + 1, sizeof(char *))) == NULL)
        return err_set(e, ERR_IO, "out of memory");
    json_array_foreach(v, i, h) {
        const char *s = json_string_value(h);
        if (s == NULL || !host_entry_ok(s))
            return err_set(e, ERR_INVALID, "config: allowed_hosts[%zu] must be a host name or "
                           "address, optionally with :PORT (as a Host header says it)", i);
        if ((c->allowed_hosts[i] = strdup(s)) == NULL)
            return err_set(e, ERR_IO, "out of memory");
        for (char *p = c->allowed_hosts[i]; *p; p++)
            *p = (char)tolower((unsigned char)*p);
        c->n_allowed_hosts = i + 1;
    }
    return 0;
}

/* A section kept whole for its module: an object, whose keys keys (when
 * not NULL) lists; the module's own parser checks the rest. */
static int validate_section(json_t *root, const char *key, const char *const *keys,
                            json_t **slot, struct err *e)
{
    json_t *v = json_object_get(root, key);

    if (v == NULL)
        return 0;
    if (!json_is_object(v))
        return err_set(e, ERR_INVALID, "config: \"%s\" must be an object", key);
    if (keys != NULL && check_keys(v, keys, key, e) != 0)
        return -1;
    *slot = json_incref(v);
    return 0;
}

/* The "alerts" section parses completely (what alerts_start will do). NULL is fine. */
static int check_alerts(const json_t *section, struct err *e)
{
    struct alerts_settings set;
    int rc;

    if (section == NULL)
        return 0;
    rc = alerts_settings_parse(section, &set, e);
    alerts_settings_clear(&set);
    return rc;
}

/* The "offsite" section parses completely (what offsite_open will do),
 * its keys possibly from the environment. NULL (no section) is fine. */
static int check_offsite(const json_t *section, struct err *e)
{
    struct offsite_settings set;
    int rc;

    if (section == NULL)
        return 0;
    rc = offsite_settings_parse(section, &set, e);
    offsite_settings_clear(&set);
    return rc;
}

static int apply_root(struct config *c, json_t *root, const char *path, struct err *e);
static int config_defaults(struct config *c, struct err *e);

static int load_file(struct config *c, const char *path, struct err *e)
{
    json_error_t je;
    json_t *root;

    root = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    if (root == NULL) {
        if (access(path, R_OK) != 0) {
            err_sys(e, errno, "config %s", path);
            e->code = ERR_INVALID;
            return -1;
        }
        return err_set(e, ERR_INVALID, "config %s: line %d: %s", path, je.line, je.text);
    }
    return apply_root(c, root, path, e);
}

int config_parse_text(struct config *c, const char *text, size_t len, struct err *e)
{
    json_error_t je;
    json_t *root;

    if (config_defaults(c, e) != 0)
        return -1;
    root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (root == NULL)
        return err_set(e, ERR_INVALID, "config: line %d: %s", je.line, je.text);
    if (apply_root(c, root, "(text)", e) != 0)
        return -1;
    config_sync_engine(c);
    return 0;
}

/* Apply a parsed config document; takes ownership of root. */
static int apply_root(struct config *c, json_t *root, const char *path, struct err *e)
{
    long long n;
    int rc = -1;

    if (!json_is_object(root)) {
        err_set(e, ERR_INVALID, "config %s: must be a JSON object", path);
        goto out;
    }
    if (check_keys(root, top_keys, "", e) != 0)
        goto out;
    if (get_string(root, "root", &c->root, e) || get_string(root, "store", &c->store, e) ||
        get_string(root, "dotenv", &c->dotenv, e) || get_string(root, "listen", &c->listen, e) ||
        get_string(root, "tls_cert", &c->tls_cert, e) || get_string(root, "tls_key", &c->tls_key, e) ||
        get_string(root, "signing_key", &c->signing_key, e) || get_trusted_keys(root, c, e))
        goto out;
    if (get_globs(root, "include", &c->include, &c->n_include, e) ||
        get_globs(root, "exclude", &c->exclude, &c->n_exclude, e))
        goto out;
    if (tokens_parse(json_object_get(root, "tokens"), &c->tokens, &c->n_tokens, e) != 0 ||
        get_allowed_hosts(c, root, e) != 0)
        goto out;
    n = c->max_connections_per_ip;
    if (get_int(root, "max_connections_per_ip", 0, 65535, &n, e) < 0)
        goto out;
    c->max_connections_per_ip = (long)n;
    if ((n = 0, get_int(root, "max_body_bytes", 1024, 1LL << 30, &n, e)) < 0)
        goto out;
    if (n)
        c->max_body_bytes = (uint64_t)n;
    if ((n = 0, get_int(root, "max_upload_bytes", 1024, 1LL << 40, &n, e)) < 0)
        goto out;
    if (n)
        c->max_upload_bytes = (uint64_t)n;
    if ((n = 0, get_int(root, "max_unpacked_bytes", 1024, (long long)ENGINE_MAX_TOTAL_BYTES, &n,
                        e)) < 0)
        goto out;
    if (n)
        c->max_unpacked_bytes = (uint64_t)n;
    if ((n = 0, get_int(root, "max_compression_ratio", 2, 1000000, &n, e)) < 0)
        goto out;
    if (n)
        c->max_compression_ratio = (unsigned)n;
    n = c->max_files;
    if (get_int(root, "max_files", 1, ENGINE_MAX_FILES_HARD, &n, e) < 0)
        goto out;
    c->max_files = (unsigned)n;
    n = c->compression_level;
    if (get_int(root, "compression_level", 0, 9, &n, e) < 0)
        goto out;
    c->compression_level = (int)n;
    n = c->compress_threads;
    if (get_int(root, "compress_threads", 0, PDEFLATE_THREADS_MAX, &n, e) < 0)
        goto out;
    c->compress_threads = (int)n;
    n = 0;
    if (get_int(root, "safety_pin_days", 0, 3650, &n, e) < 0)
        goto out;
    if (json_object_get(root, "safety_pin_days") != NULL)
        c->safety_pin_seconds = (long)n * 86400;
    n = c->safety_compression_level;
    if (get_int(root, "safety_compression_level", 0, 9, &n, e) < 0)
        goto out;
    c->safety_compression_level = (int)n;
    n = c->lock_timeout_ms;
    if (get_int(root, "lock_timeout_ms", 0, 3600000, &n, e) < 0)
        goto out;
    c->lock_timeout_ms = (long)n;
    if (get_duration(root, "readyz_max_age", &c->readyz_max_age, e) ||
        get_duration(root, "schedule_interval", &c->schedule_interval, e) ||
        get_duration(root, "drill_interval", &c->drill_interval, e) ||
        get_duration(root, "readyz_max_drill_age", &c->readyz_max_drill_age, e))
        goto out;
    if (get_bool(root, "prune_after_create", &c->prune_after_create, e) ||
        get_bool(root, "schedule_if_changed", &c->schedule_if_changed, e) ||
        get_bool(root, "metrics_public", &c->metrics_public, e))
        goto out;
    /* Each section is handed to the module that owns its keys. */
    if (validate_section(root, "retention", retention_keys, &c->retention, e) ||
        retention_from_json(c->retention, &c->retention_policy, e) ||
        validate_section(root, "alerts", NULL, &c->alerts, e) ||
        check_alerts(c->alerts, e) ||
        validate_section(root, "offsite", NULL, &c->offsite, e) ||
        check_offsite(c->offsite, e) ||
        config_capture_apply(c, root, e) || config_hooks_apply(c, root, e) ||
        config_restore_apply(c, root, e))
        goto out;
    rc = 0;
out:
    json_decref(root);
    return rc;
}

static int config_defaults(struct config *c, struct err *e)
{
    memset(c, 0, sizeof(*c));
    c->compression_level = 6;
    c->max_body_bytes = 1u << 20;
    c->max_upload_bytes = 4ULL << 30;
    c->restore_quiet_ms = -1;
    c->max_unpacked_bytes = ENGINE_DEFAULT_MAX_UNPACKED;
    c->max_compression_ratio = ENGINE_DEFAULT_MAX_RATIO;
    c->max_files = ENGINE_DEFAULT_MAX_FILES;
    c->safety_pin_seconds = ENGINE_SAFETY_PIN_SECONDS;
    c->lock_timeout_ms = 30000;
    c->metrics_public = 1;
    c->max_connections_per_ip = CONFIG_PER_IP_DEFAULT;
    retention_default(&c->retention_policy);
    if (config_set_string(&c->store, "./snapshots", e) ||
        config_set_string(&c->listen, "127.0.0.1:8080", e))
        return -1;
    config_sync_engine(c);
    return 0;
}

int config_load(struct config *c, const char *path, struct err *e)
{
    const char *env;

    if (config_defaults(c, e) != 0)
        return -1;
    if (path == NULL && access("statesnap.json", F_OK) == 0)
        path = "statesnap.json";
    if (path != NULL) {
        if (config_set_string(&c->path, path, e) || load_file(c, path, e))
            return -1;
    }
    if ((env = getenv("STATESNAP_ROOT")) != NULL && *env && config_set_string(&c->root, env, e))
        return -1;
    if ((env = getenv("STATESNAP_STORE")) != NULL && *env && config_set_string(&c->store, env, e))
        return -1;
    if (tokens_from_env(&c->tokens, &c->n_tokens, e) != 0)
        return -1;
    config_sync_engine(c);
    return 0;
}

void config_sync_engine(struct config *c)
{
    struct engine_config *ec = &c->engine;

    ec->root = c->root;
    ec->store = c->store;
    ec->dotenv = c->dotenv;
    ec->include = (const char *const *)c->include;
    ec->n_include = c->n_include;
    ec->exclude = (const char *const *)c->exclude;
    ec->n_exclude = c->n_exclude;
    ec->compression_level = c->compression_level;
    ec->compress_threads = c->compress_threads;
    ec->safety_pin_seconds = c->safety_pin_seconds;
    ec->safety_compression_level = c->safety_compression_level;
    ec->lock_timeout_ms = c->lock_timeout_ms;
    ec->retention = &c->retention_policy;
    ec->prune_after_create = c->prune_after_create;
    ec->capture = &c->capture_policy;
    ec->pre_snapshot = c->pre_snapshot.set ? &c->pre_snapshot.spec : NULL;
    ec->post_snapshot = c->post_snapshot.set ? &c->post_snapshot.spec : NULL;
    ec->pre_restore = c->pre_restore.set ? &c->pre_restore.spec : NULL;
    ec->post_restore = c->post_restore.set ? &c->post_restore.spec : NULL;
    ec->bot_lock_file = c->bot_lock_file;
    ec->bot_pid_file = c->bot_pid_file;
    ec->restore_quiet_ms = c->restore_quiet_ms;
    ec->restore_engage_kill_switch = c->restore_engage_kill_switch;
    ec->restore_targets_dir = c->restore_targets_dir;
    ec->signing_key = c->signing_key;
    ec->trusted_keys = (const char *const *)c->trusted_keys;
    ec->n_trusted_keys = c->n_trusted_keys;
    ec->drill_check = c->drill_check.set ? &c->drill_check.spec : NULL;
    ec->max_unpacked_bytes = c->max_unpacked_bytes;
    ec->max_compression_ratio = c->max_compression_ratio;
    ec->max_files = c->max_files;
}

static void free_strv(char **v, size_t n)
{
    if (v == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

void config_free(struct config *c)
{
    if (c == NULL)
        return;
    free(c->path);
    free(c->root);
    free(c->store);
    free(c->dotenv);
    free_strv(c->include, c->n_include);
    free_strv(c->exclude, c->n_exclude);
    free_strv(c->allowed_hosts, c->n_allowed_hosts);
    free(c->listen);
    tokens_free(c->tokens, c->n_tokens);
    free(c->tls_cert);
    free(c->tls_key);
    free(c->signing_key);
    free_strv(c->trusted_keys, c->n_trusted_keys);
    json_decref(c->retention);
    json_decref(c->alerts);
    json_decref(c->offsite);
    config_capture_free(c);
    memset(c, 0, sizeof(*c));
}
