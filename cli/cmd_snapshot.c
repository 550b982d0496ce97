/* cmd_snapshot.c - the commands on one snapshot or the list of them: create,
 * list, show, delete, pin, unpin. */
#include "cmd.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "format.h"

static int parse_label(const char *kv, json_t *labels)
{
    const char *eq = strchr(kv, '=');
    char key[ENGINE_LABEL_KEY_MAX + 2];

    if (eq == NULL || eq == kv || (size_t)(eq - kv) > ENGINE_LABEL_KEY_MAX)
        return -1;
    memcpy(key, kv, (size_t)(eq - kv));
    key[eq - kv] = '\0';
    return json_object_set_new(labels, key, json_string(eq + 1));
}

/* The files of a create's Snapshot document come from the catalog one row
 * at a time (create_opts.files_apart): a root of 100,000 files prints
 * without a tree of them. The JSON is what json_dumps would print of the
 * whole document: the rest of it is dumped around a marker where "files"
 * goes, and each file is dumped alone at the array's indentation. */
#define FILES_MARK "\001statesnap-files\001"
#define FILES_MARK_DUMPED "\"\\u0001statesnap-files\\u0001\""

struct files_out {
    size_t n;
};

static int print_file_line(void *ctx, const struct engine_file *f)
{
    (void)ctx;
    format_created_file(stdout, f->path, f->sha256);
    return 0;
}

static int print_file_json(void *ctx, const struct engine_file *f)
{
    struct files_out *fo = ctx;
    json_t *o = json_pack("{s:s,s:I,s:s,s:s}", "path", f->path, "size", (json_int_t)f->size,
                          "sha256", f->sha256, "group", f->group);
    char *s = o != NULL ? json_dumps(o, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL;

    json_decref(o);
    if (s == NULL)
        return -1;
    fputs(fo->n++ ? ",\n    " : "\n    ", stdout);
    for (const char *p = s; *p; p++) {
        fputc(*p, stdout);
        if (*p == '\n')
            fputs("    ", stdout);
    }
    free(s);
    return 0;
}

static int print_created_json(struct cli_ctx *c, struct store *s, json_t *snap, struct err *e)
{
    struct files_out fo = { 0 };
    char *text, *mark;
    int rc;

    if (json_object_get(snap, "files") != NULL)
        return cli_print_json(c, snap) == 0 ? 0 : err_set(e, ERR_IO, "out of memory");
    json_object_set_new(snap, "files", json_string(FILES_MARK));
    text = json_dumps(snap, JSON_INDENT(2) | JSON_SORT_KEYS | JSON_REAL_PRECISION(15));
    json_object_del(snap, "files");
    if (text == NULL || (mark = strstr(text, FILES_MARK_DUMPED)) == NULL) {
        free(text);
        return err_set(e, ERR_IO, "out of memory");
    }
    fwrite(text, 1, (size_t)(mark - text), stdout);
    fputc('[', stdout);
    c->printed = 1;
    rc = engine_snapshot_files(s, json_string_value(json_object_get(snap, "name")),
                               print_file_json, &fo, e);
    fputs(fo.n > 0 ? "\n  ]" : "]", stdout);
    puts(mark + strlen(FILES_MARK_DUMPED));
    free(text);
    /* print_file_json's own failure (out of memory) set nothing in e. */
    if (rc != 0 && e->code == ERR_NONE)
        return err_set(e, ERR_IO, "out of memory");
    return rc;
}

int cli_cmd_create(struct cli_ctx *c)
{
    struct create_opts o;
    struct store *s = NULL;
    struct err e = { 0 };
    json_t *labels = json_object(), *snap = NULL;
    int li = cli_opt_find(c->cmd->opts, "label"), rc;
    char cmdline[1024];

    if (c->args.positional != NULL) {
        json_decref(labels);
        return cli_usage_error(c, "create: unexpected argument \"%s\" (use --name NAME)",
                               c->args.positional);
    }
    memset(&o, 0, sizeof(o));
    o.reason = "manual";
    for (size_t i = 0; i < c->args.n_multi[li]; i++) {
        if (parse_label(c->args.multi[li][i], labels) != 0) {
            json_decref(labels);
            return cli_usage_error(c, "create: --label wants KEY=VALUE, got \"%s\"", c->args.multi[li][i]);
        }
    }
    o.name = cli_opt(c, "name");
    o.labels = labels;
    o.pin = cli_flag(c, "pin");
    o.version_tag = cli_opt(c, "version-tag");
    o.if_changed = cli_flag(c, "if-changed");
    o.files_apart = 1;
    if (cli_opt(c, "dotenv") != NULL && config_set_string(&c->cfg->dotenv, cli_opt(c, "dotenv"), &e) != 0) {
        json_decref(labels);
        return cli_fail(c, &e);
    }
    config_sync_engine(c->cfg);
    /* Reject what can be rejected before the store is created or touched. */
    if ((o.name != NULL && engine_name_check(o.name, &e) != 0)) {
        json_decref(labels);
        return cli_fail(c, &e);
    }
    if (c->cfg->root == NULL || access(c->cfg->root, F_OK) != 0) {
        err_set(&e, ERR_INVALID, c->cfg->root ? "state root %s: no such directory"
                                              : "no state root configured (use --root DIR)%s",
                c->cfg->root ? c->cfg->root : "");
        json_decref(labels);
        return cli_fail(c, &e);
    }
    if ((rc = cli_open_store(c, 1, &s)) != 0) {
        json_decref(labels);
        return rc;
    }
    if (engine_create(s, &o, &snap, &e) != 0) {
        rc = cli_fail(c, &e);
        goto out;
    }
    cli_locate_archive(c, snap);
    if (c->json) {
        if (print_created_json(c, s, snap, &e) != 0) {
            rc = cli_fail(c, &e);
            goto out;
        }
    } else if (json_is_true(json_object_get(snap, "skipped"))) {
        format_skipped(stdout, snap);
    } else {
        int n = snprintf(cmdline, sizeof(cmdline), "statesnap%s%s%s%s restore --name %s",
                         c->root_flag ? " --root " : "", c->root_flag ? c->cfg->root : "",
                         c->store_flag ? " --store " : "", c->store_flag ? c->cfg->store : "",
                         json_string_value(json_object_get(snap, "name")));
        if (n < 0 || (size_t)n >= sizeof(cmdline))
            snprintf(cmdline, sizeof(cmdline), "statesnap restore --name %s",
                     json_string_value(json_object_get(snap, "name")));
        format_created_head(stdout, snap);
        if (json_object_get(snap, "files") != NULL) {
            const json_t *f;
            size_t i;
            json_array_foreach(json_object_get(snap, "files"), i, f)
                format_created_file(stdout, json_string_value(json_object_get(f, "path")),
                                    json_string_value(json_object_get(f, "sha256")));
        } else if (engine_snapshot_files(s, json_string_value(json_object_get(snap, "name")),
                                         print_file_line, NULL, &e) != 0) {
            rc = cli_fail(c, &e);
            goto out;
        }
        format_created_tail(stdout, snap, cmdline);
    }
    rc = 0;
out:
    json_decref(snap);
    json_decref(labels);
    store_close(s);
    return rc;
}

int cli_cmd_list(struct cli_ctx *c)
{
    struct list_opts o;
    struct store *s = NULL;
    struct err e = { 0 };
    json_t *page = NULL;
    char key[ENGINE_LABEL_KEY_MAX + 2];
    int rc;

    memset(&o, 0, sizeof(o));
    if (c->args.positional != NULL)
        return cli_usage_error(c, "list: unexpected argument \"%s\"", c->args.positional);
    if (cli_opt(c, "limit") && cli_parse_size(cli_opt(c, "limit"), &o.limit) != 0)
        return cli_usage_error(c, "list: --limit must be from 1 to 1000, got \"%s\"", cli_opt(c, "limit"));
    o.cursor = cli_opt(c, "cursor");
    o.prefix = cli_opt(c, "prefix");
    if (cli_opt(c, "label")) {
        const char *kv = cli_opt(c, "label"), *eq = strchr(kv, '=');
        if (eq == NULL || eq == kv || (size_t)(eq - kv) > ENGINE_LABEL_KEY_MAX)
            return cli_usage_error(c, "list: --label wants KEY=VALUE, got \"%s\"", kv);
        memcpy(key, kv, (size_t)(eq - kv));
        key[eq - kv] = '\0';
        o.label_key = key;
        o.label_value = eq + 1;
    }
    if ((rc = cli_open_store(c, 0, &s)) != 0)
        return rc;
    if (engine_list(s, &o, &page, &e) != 0) {
        rc = cli_fail(c, &e);
    } else {
        if (c->json)
            cli_print_json(c, page);
        else
            format_list(stdout, page);
        rc = 0;
    }
    json_decref(page);
    store_close(s);
    return rc;
}

/* The shape several commands share: a NAME, the store, one engine call,
 * then the JSON document or a text rendering of it. */
typedef int (*named_op)(struct cli_ctx *c, struct store *s, const char *name, json_t **out,
                        struct err *e);
typedef void (*named_render)(const json_t *doc, const char *name);

static int run_named(struct cli_ctx *c, named_op op, named_render render)
{
    struct store *s = NULL;
    struct err e = { 0 };
    json_t *doc = NULL;
    int bad, rc;
    const char *name = cli_target_name(c, 1, &bad);

    if (name == NULL)
        return bad;
    if (engine_name_check(name, &e) != 0)
        return cli_fail(c, &e);
    if ((rc = cli_open_store(c, 0, &s)) != 0)
        return rc;
    if (op(c, s, name, &doc, &e) != 0) {
        rc = cli_fail(c, &e);
    } else {
        if (c->json)
            cli_print_json(c, doc);
        else
            render(doc, name);
        rc = 0;
    }
    json_decref(doc);
    store_close(s);
    return rc;
}

static int op_show(struct cli_ctx *c, struct store *s, const char *name, json_t **out,
                   struct err *e)
{
    if (engine_show(s, name, out, e) != 0)
        return -1;
    cli_locate_archive(c, *out);
    return 0;
}

static void render_show(const json_t *doc, const char *name)
{
    (void)name;
    format_show(stdout, doc);
}

int cli_cmd_show(struct cli_ctx *c)
{
    return run_named(c, op_show, render_show);
}

static int op_delete(struct cli_ctx *c, struct store *s, const char *name, json_t **out,
                     struct err *e)
{
    return engine_delete(s, name, cli_flag(c, "force"), out, e);
}

static void render_delete(const json_t *doc, const char *name)
{
    const json_t *lock = json_object_get(doc, "offsite_lock");

    printf("Deleted %s\n", FORMAT_SAFE(name));
    if (json_is_object(lock))
        printf("kept offsite: locked until %s (%s); the bucket's copy is not deleted\n",
               FORMAT_SAFE(json_string_value(json_object_get(lock, "retain_until"))),
               FORMAT_SAFE(json_string_value(json_object_get(lock, "mode"))));
}

int cli_cmd_delete(struct cli_ctx *c)
{
    return run_named(c, op_delete, render_delete);
}

static int op_pin(struct cli_ctx *c, struct store *s, const char *name, json_t **out,
                  struct err *e)
{
    (void)c;
    return engine_update(s, name, 1, NULL, out, e);
}

static int op_unpin(struct cli_ctx *c, struct store *s, const char *name, json_t **out,
                    struct err *e)
{
    (void)c;
    return engine_update(s, name, 0, NULL, out, e);
}

static void render_pin(const json_t *doc, const char *name)
{
    printf("%s %s\n", json_is_true(json_object_get(doc, "pinned")) ? "Pinned" : "Unpinned", FORMAT_SAFE(name));
}

int cli_cmd_pin(struct cli_ctx *c)
{
    return run_named(c, op_pin, render_pin);
}

int cli_cmd_unpin(struct cli_ctx *c)
{
    return run_named(c, op_unpin, render_pin);
}

