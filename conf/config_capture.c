/* config_capture.c - the sections of statesnap.json about the live bot: how
 * a create takes a consistent cut of its root ("capture"), the commands run
 * around a create or a restore and against a restore drill's scratch copy
 * ("hooks"), and how a restore tells the bot is running ("bot",
 * "restore_quiet_ms", "restore_engage_kill_switch", "restore_targets_dir"). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CONFIG_HOOK_ARGS_MAX 64
#define CONFIG_HOOK_TIMEOUT_MAX (3600L * 1000)

static const char *const capture_keys[] = {
    "append_only", "require", "max_attempts", "max_wait_ms", "on_inconsistent", "chain", NULL
};
static const char *const chain_keys[] = { "path", "seq_field", "hash_field", "prev_field", NULL };
static const char *const hooks_keys[] = { "pre_snapshot", "post_snapshot", "pre_restore",
                                           "post_restore", "drill_check", NULL };
static const char *const bot_keys[] = { "lock_file", "pid_file", NULL };
static const char *const hook_keys[] = { "argv", "timeout_ms", "optional", NULL };

static int only_keys(const json_t *obj, const char *const *list, const char *where,
                     struct err *e)
{
    const char *k;
    json_t *v;

    json_object_foreach((json_t *)obj, k, v) {
        int known = 0;
        for (const char *const *l = list; *l != NULL && !known; l++)
            known = strcmp(k, *l) == 0;
        if (!known)
            return err_set(e, ERR_INVALID, "config: unknown key \"%s.%.64s\"", where, k);
    }
    return 0;
}

static void free_strv(char **v)
{
    for (size_t i = 0; v != NULL && v[i] != NULL; i++)
        free(v[i]);
    free(v);
}

/* A NULL-ended copy of an array of strings (globs when glob != 0). */
static int strv(const json_t *arr, const char *where, int glob, size_t max, char ***out,
                size_t *n, struct err *e)
{
    size_t i;
    json_t *s;

    if (!json_is_array(arr) || json_array_size(arr) > max)
        return err_set(e, ERR_INVALID, "config: \"%s\" must be an array of at most %zu strings",
                       where, max);
    if ((*out = calloc(json_array_size(arr) + 1, sizeof(char *))) == NULL)
        return err_set(e, ERR_IO, "out of memory");
    *n = 0;
    json_array_foreach(arr, i, s) {
        const char *v = json_string_value(s);
        if (v == NULL || *v == '\0' || strlen(v) > 4096 ||
            (glob && (*v == '/' || strstr(v, "..") != NULL)))
            return err_set(e, ERR_INVALID, "config: \"%s\"[%zu] must be a non-empty %s", where, i,
                           glob ? "relative glob without \"..\"" : "string");
        if (((*out)[i] = strdup(v)) == NULL)
            return err_set(e, ERR_IO, "out of memory");
        *n = i + 1;
    }
    return 0;
}

static int field_name(const json_t *obj, const char *key, const char *where, char **slot,
                      struct err *e)
{
    const json_t *v = json_object_get(obj, key);

    if (v == NULL)
        return 0;
    if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > 128)
        return err_set(e, ERR_INVALID, "config: \"%s.%s\" must be a short non-empty string",
                       where, key);
    free(*slot);
    return (*slot = strdup(json_string_value(v))) ? 0 : err_set(e, ERR_IO, "out of memory");
}

/* An absolute path setting (the bot's lock and pid files). */
static int field_path(const json_t *obj, const char *key, const char *where, char **slot,
                      struct err *e)
{
    const json_t *v = json_object_get(obj, key);

    if (v == NULL)
        return 0;
    if (!json_is_string(v) || json_string_value(v)[0] != '/' || json_string_length(v) > 4096)
        return err_set(e, ERR_INVALID, "config: \"%s%s%s\" must be an absolute path", where,
                       *where ? "." : "", key);
    free(*slot);
    return (*slot = strdup(json_string_value(v))) ? 0 : err_set(e, ERR_IO, "out of memory");
}

int config_capture_apply(struct config *c, const json_t *root, struct err *e)
{
    const json_t *cap = json_object_get(root, "capture"), *v, *ch;
    struct capture_policy *p = &c->capture_policy;

    if (cap == NULL)
        return 0;
    if (!json_is_object(cap))
        return err_set(e, ERR_INVALID, "config: \"capture\" must be an object");
    if (only_keys(cap, capture_keys, "capture", e) != 0)
        return -1;
    if ((v = json_object_get(cap, "append_only")) != NULL) {
        free_strv(c->append_only);
        c->append_only = NULL;
        if (strv(v, "capture.append_only", 1, 256, &c->append_only, &p->n_append_only, e) != 0)
            return -1;
        p->append_only = (const char *const *)c->append_only;
    }
    if ((v = json_object_get(cap, "require")) != NULL) {
        free_strv(c->require);
        c->require = NULL;
        if (strv(v, "capture.require", 1, 256, &c->require, &p->n_require, e) != 0)
            return -1;
        p->require = (const char *const *)c->require;
    }
    if ((v = json_object_get(cap, "max_attempts")) != NULL) {
        if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 1000)
            return err_set(e, ERR_INVALID,
                           "config: \"capture.max_attempts\" must be an integer from 1 to 1000");
        p->max_attempts = (int)json_integer_value(v);
    }
    if ((v = json_object_get(cap, "max_wait_ms")) != NULL) {
        if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 600000)
            return err_set(e, ERR_INVALID,
                           "config: \"capture.max_wait_ms\" must be an integer from 1 to 600000");
        p->max_wait_ms = (long)json_integer_value(v);
    }
    if ((v = json_object_get(cap, "on_inconsistent")) != NULL) {
        const char *s = json_string_value(v);
        if (s == NULL || (strcmp(s, "fail") != 0 && strcmp(s, "keep") != 0))
            return err_set(e, ERR_INVALID,
                           "config: \"capture.on_inconsistent\" must be \"fail\" or \"keep\"");
        p->keep_inconsistent = strcmp(s, "keep") == 0;
    }
    if ((ch = json_object_get(cap, "chain")) != NULL) {
        if (!json_is_object(ch))
            return err_set(e, ERR_INVALID, "config: \"capture.chain\" must be an object");
        if (only_keys(ch, chain_keys, "capture.chain", e) != 0 ||
            field_name(ch, "path", "capture.chain", &c->chain_path, e) ||
            field_name(ch, "seq_field", "capture.chain", &c->chain_seq, e) ||
            field_name(ch, "hash_field", "capture.chain", &c->chain_hash, e) ||
            field_name(ch, "prev_field", "capture.chain", &c->chain_prev, e))
            return -1;
        p->chain_path = c->chain_path;
        p->chain_seq = c->chain_seq;
        p->chain_hash = c->chain_hash;
        p->chain_prev = c->chain_prev;
    }
    return 0;
}

static int one_hook(const json_t *obj, const char *name, struct config_hook *h, struct err *e)
{
    char where[64];
    const json_t *v;

    snprintf(where, sizeof(where), "hooks.%s", name);
    if (!json_is_object(obj))
        return err_set(e, ERR_INVALID, "config: \"%s\" must be an object with \"argv\"", where);
    if (only_keys(obj, hook_keys, where, e) != 0)
        return -1;
    free_strv(h->argv);
    h->argv = NULL;
    snprintf(where, sizeof(where), "hooks.%s.argv", name);
    if ((v = json_object_get(obj, "argv")) == NULL || json_array_size(v) == 0)
        return err_set(e, ERR_INVALID, "config: \"%s\" must list the command and its arguments",
                       where);
    if (strv(v, where, 0, CONFIG_HOOK_ARGS_MAX, &h->argv, &h->spec.argc, e) != 0)
        return -1;
    h->spec.argv = (const char *const *)h->argv;
    h->spec.timeout_ms = HOOK_DEFAULT_TIMEOUT_MS;
    if ((v = json_object_get(obj, "timeout_ms")) != NULL) {
        if (!json_is_integer(v) || json_integer_value(v) < 1 ||
            json_integer_value(v) > CONFIG_HOOK_TIMEOUT_MAX)
            return err_set(e, ERR_INVALID, "config: \"hooks.%s.timeout_ms\" must be an integer "
                           "from 1 to %ld", name, CONFIG_HOOK_TIMEOUT_MAX);
        h->spec.timeout_ms = (long)json_integer_value(v);
    }
    if ((v = json_object_get(obj, "optional")) != NULL) {
        if (!json_is_boolean(v))
            return err_set(e, ERR_INVALID, "config: \"hooks.%s.optional\" must be true or false",
                           name);
        h->spec.optional = json_is_true(v);
    }
    h->set = 1;
    return 0;
}

int config_hooks_apply(struct config *c, const json_t *root, struct err *e)
{
    const json_t *hooks = json_object_get(root, "hooks"), *v;

    if (hooks == NULL)
        return 0;
    if (!json_is_object(hooks))
        return err_set(e, ERR_INVALID, "config: \"hooks\" must be an object");
    if (only_keys(hooks, hooks_keys, "hooks", e) != 0)
        return -1;
    if ((v = json_object_get(hooks, "pre_snapshot")) != NULL &&
        one_hook(v, "pre_snapshot", &c->pre_snapshot, e) != 0)
        return -1;
    if ((v = json_object_get(hooks, "post_snapshot")) != NULL &&
        one_hook(v, "post_snapshot", &c->post_snapshot, e) != 0)
        return -1;
    if ((v = json_object_get(hooks, "pre_restore")) != NULL &&
        one_hook(v, "pre_restore", &c->pre_restore, e) != 0)
        return -1;
    if ((v = json_object_get(hooks, "post_restore")) != NULL &&
        one_hook(v, "post_restore", &c->post_restore, e) != 0)
        return -1;
    if ((v = json_object_get(hooks, "drill_check")) != NULL &&
        one_hook(v, "drill_check", &c->drill_check, e) != 0)
        return -1;
    return 0;
}

int config_restore_apply(struct config *c, const json_t *root, struct err *e)
{
    const json_t *bot = json_object_get(root, "bot"), *v;

    if (bot != NULL) {
        if (!json_is_object(bot))
            return err_set(e, ERR_INVALID, "config: \"bot\" must be an object");
        if (only_keys(bot, bot_keys, "bot", e) != 0 ||
            field_path(bot, "lock_file", "bot", &c->bot_lock_file, e) ||
            field_path(bot, "pid_file", "bot", &c->bot_pid_file, e))
            return -1;
    }
    if ((v = json_object_get(root, "restore_quiet_ms")) != NULL) {
        if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 600000)
            return err_set(e, ERR_INVALID,
                           "config: \"restore_quiet_ms\" must be an integer from 0 to 600000");
        c->restore_quiet_ms = (long)json_integer_value(v);
    }
    if (field_path(root, "restore_targets_dir", "", &c->restore_targets_dir, e) != 0)
        return -1;
    if ((v = json_object_get(root, "restore_engage_kill_switch")) != NULL) {
        if (!json_is_boolean(v))
            return err_set(e, ERR_INVALID,
                           "config: \"restore_engage_kill_switch\" must be true or false");
        c->restore_engage_kill_switch = json_is_true(v);
    }
    return 0;
}

void config_capture_free(struct config *c)
{
    free_strv(c->append_only);
    free_strv(c->require);
    free(c->chain_path);
    free(c->chain_seq);
    free(c->chain_hash);
    free(c->chain_prev);
    free_strv(c->pre_snapshot.argv);
    free_strv(c->post_snapshot.argv);
    free_strv(c->pre_restore.argv);
    free_strv(c->post_restore.argv);
    free(c->bot_lock_file);
    free(c->restore_targets_dir);
    free(c->bot_pid_file);
    free_strv(c->drill_check.argv);
}
