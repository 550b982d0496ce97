/* cli.c - the command-line front: parse a command's options, call the engine, print. */
#include "cli.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <curl/curl.h>
#include <openssl/crypto.h>

#include "../common/fsutil.h"
#include "format.h"
#include "render_diff.h"
#include "../engine/audit.h"
#include "../engine/engine.h"
#include "../offsite/bucket.h"
#include "../offsite/fetch.h"
#include "../offsite/sync.h"

#define CLI_LINE_MAX 256

const struct cli_opt cli_global_opts[] = {
    { "config", "FILE", 0, "config file (default ./statesnap.json if present)" },
    { "root", "DIR", 0, "the trading bot's state root" },
    { "store", "DIR", 0, "where snapshots are kept (default ./snapshots)" },
    { "json", NULL, 0, "print the result as JSON (the API's document)" },
    { "help", NULL, 0, "show help" },
    { NULL, NULL, 0, NULL },
};

static const struct cli_opt create_opts[] = {
    { "name", "NAME", 0, "snapshot name (default snap_YYYYMMDDTHHMMSSZ)" },
    { "dotenv", "PATH", 0, ".env to capture masked (default ROOT/.env)" },
    { "label", "K=V", 1, "attach a label (repeatable)" },
    { "pin", NULL, 0, "pin the snapshot (never pruned, delete needs --force)" },
    { "version-tag", "V", 0, "record this version instead of detecting it" },
    { NULL, NULL, 0, NULL },
};
static const struct cli_opt list_opts[] = {
    { "prefix", "P", 0, "only names starting with P" },
    { "label", "K=V", 0, "only snapshots with this label" },
    { "limit", "N", 0, "page size, 1-1000 (default 50)" },
    { "cursor", "C", 0, "continue after a previous page" },
    { NULL, NULL, 0, NULL },
};
static const struct cli_opt name_opts[] = {
    { "name", "NAME", 0, "the snapshot" },
    { NULL, NULL, 0, NULL },
};
static const struct cli_opt verify_opts[] = {
    { "name", "NAME", 0, "the snapshot" },
    { "all", NULL, 0, "verify every snapshot" },
    { NULL, NULL, 0, NULL },
};
static const struct cli_opt drill_opts_tbl[] = {
    { "name", "NAME", 0, "the snapshot to drill" },
    { "latest", NULL, 0, "drill the newest snapshot" },
    { NULL, NULL, 0, NULL },
};
static const struct cli_opt diff_opts[] = {
    { "from", "A", 0, "older snapshot (or live)" },
    { "to", "B", 0, "newer snapshot, or live for the current state root" },
    { NULL, NULL, 0, NULL },
};
static const struct cli_opt restore_opts_tbl[] = {
    { "name", "NAME", 0, "the snapshot to restore" },
    { "yes", NULL, 0, "do not ask for confirmation" },
    { "dry-run", NULL, 0, "show what would happen and stop" },
    { "only", "P1,P2", 0, "restore only these archive paths" },
    { "clear-kill-switch", NULL, 0, "remove a KILL_SWITCH the snapshot does not have" },
    { "engage-kill-switch", NULL, 0, "leave state/KILL_SWITCH engaged after the restore" },
    { "while-running", NULL, 0, "go ahead although the bot runs (lock/pid file, quiet period)" },
    { "replace-special", NULL, 0, "replace a symlink, FIFO or empty directory at a target" },
    { "target", "DIR", 0, "restore into a new or empty DIR instead (live root untouched)" },
    { NULL, NULL, 0, NULL },
};
static const struct cli_opt delete_opts[] = {
    { "name", "NAME", 0, "the snapshot" },
    { "force", NULL, 0, "delete even when pinned" },
    { NULL, NULL, 0, NULL },
};
static const struct cli_opt pin_opts[] = {
    { "name", "NAME", 0, "the snapshot" },
    { NULL, NULL, 0, NULL },
};
static const struct cli_opt export_opts[] = {
    { "name", "NAME", 0, "the snapshot" },
    { "out", "FILE", 0, "where to write the zip (default ./NAME.zip)" },
    { NULL, NULL, 0, NULL },
};
static const struct cli_opt prune_opts[] = {
    { "dry-run", NULL, 0, "list what would be removed and why the rest is kept; delete nothing" },
    { "keep-last", "N", 0, "keep the N newest (at least 5)" },
    { "keep-daily", "N", 0, "keep the newest of each of the last N days" },
    { "keep-weekly", "N", 0, "keep the newest of each of the last N ISO weeks" },
    { "keep-monthly", "N", 0, "keep the newest of each of the last N months" },
    { "expire-after", "DURATION", 0, "drop day/week/month keeps older than this (e.g. 90d)" },
    { "max-count", "N", 0, "never keep more than N (pinned and keep-last excepted)" },
    { NULL, NULL, 0, NULL },
};
static const struct cli_opt audit_opts[] = {
    { "after", "SEQ", 0, "entries after this sequence number" },
    { "limit", "N", 0, "at most N entries, 1-1000 (default 100)" },
    { NULL, NULL, 0, NULL },
};
static const struct cli_opt health_opts[] = {
    { "url", "URL", 0, "what to probe (default http://LISTEN/readyz from the config)" },
    { "max-age", "SECONDS", 0, "also fail when the latest snapshot is older than this" },
    { "timeout", "SECONDS", 0, "give up after this long (default 5)" },
    { NULL, NULL, 0, NULL },
};
static const struct cli_opt config_opts[] = {
    { "file", "FILE", 0, "the config file to check (default: --config)" },
    { NULL, NULL, 0, NULL },
};
static const struct cli_opt reindex_opts[] = {
    { "from-offsite", NULL, 0, "first download every archive the offsite store has and this store lacks" },
    { NULL, NULL, 0, NULL },
};
static const struct cli_opt none_opts[] = {
    { NULL, NULL, 0, NULL },
};

int cli_exit_code(int code)
{
    return code == ERR_INVALID || code == ERR_TOO_LARGE ? 2 : 1;
}

static int fail(const struct err *e)
{
    fprintf(stderr, "statesnap: ");
    format_safe(stderr, e->msg[0] ? e->msg : "failed");
    fputc('\n', stderr);
    return cli_exit_code(e->code);
}

static int usage_error(const char *fmt, const char *arg)
{
    fprintf(stderr, "statesnap: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, " (see statesnap --help)\n");
    return 2;
}

static int print_json(const json_t *doc)
{
    /* 15 significant digits: 572.46 prints as 572.46, not 572.46000000000004. */
    char *s = json_dumps(doc, JSON_INDENT(2) | JSON_SORT_KEYS | JSON_REAL_PRECISION(15));

    if (s == NULL)
        return 1;
    puts(s);
    free(s);
    return 0;
}

int cli_opt_index(const struct cli_cmd *cmd, const char *name)
{
    for (int i = 0; cmd->opts[i].name; i++)
        if (strcmp(cmd->opts[i].name, name) == 0)
            return i;
    return -1;
}

static const char *opt(struct cli_ctx *c, const char *name)
{
    int i = cli_opt_index(c->cmd, name);

    return i >= 0 && c->args.set[i] ? c->args.val[i] : NULL;
}

static int flag(struct cli_ctx *c, const char *name)
{
    int i = cli_opt_index(c->cmd, name);

    return i >= 0 && c->args.set[i];
}

/* NAME from --name or the positional argument; both is an error. */
static const char *target_name(struct cli_ctx *c, int required, int *bad)
{
    const char *byopt = opt(c, "name"), *pos = c->args.positional;

    *bad = 0;
    if (byopt && pos && strcmp(byopt, pos) != 0) {
        *bad = usage_error("%s: give the name once (NAME or --name NAME)", c->cmd->name);
        return NULL;
    }
    if (byopt == NULL && pos == NULL && required) {
        *bad = usage_error("%s: which snapshot? (NAME or --name NAME)", c->cmd->name);
        return NULL;
    }
    return byopt ? byopt : pos;
}

static int open_store(struct cli_ctx *c, int create, struct store **s)
{
    struct err e = { 0 };

    if (store_open(s, &c->cfg->engine, create, &e) != 0)
        return fail(&e);
    return 0;
}

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

/* ---- commands ---- */

/* The engine names an archive relative to the store; the CLI runs beside
 * the store, so its own output shows where the file is. Leaves snap as it
 * is when the path does not fit. Cannot fail. */
static void locate_archive(const struct cli_ctx *c, json_t *snap)
{
    const char *loc = json_string_value(json_object_get(snap, "location"));
    char path[PATH_MAX];

    if (loc == NULL || *loc == '\0' || *loc == '/' ||
        fs_join(path, sizeof(path), c->cfg->store, loc, NULL) != 0)
        return;
    json_object_set_new(snap, "location", json_string(path));
}

static int cmd_create(struct cli_ctx *c)
{
    struct create_opts o;
    struct store *s = NULL;
    struct err e = { 0 };
    json_t *labels = json_object(), *snap = NULL;
    int li = cli_opt_index(c->cmd, "label"), rc;
    char cmdline[1024];

    if (c->args.positional != NULL) {
        json_decref(labels);
        return usage_error("create: unexpected argument \"%s\" (use --name NAME)",
                           c->args.positional);
    }
    memset(&o, 0, sizeof(o));
    o.reason = "manual";
    for (size_t i = 0; i < c->args.n_multi[li]; i++) {
        if (parse_label(c->args.multi[li][i], labels) != 0) {
            json_decref(labels);
            return usage_error("create: --label wants KEY=VALUE, got \"%s\"", c->args.multi[li][i]);
        }
    }
    o.name = opt(c, "name");
    o.labels = labels;
    o.pin = flag(c, "pin");
    o.version_tag = opt(c, "version-tag");
    if (opt(c, "dotenv") != NULL && config_set_string(&c->cfg->dotenv, opt(c, "dotenv"), &e) != 0) {
        json_decref(labels);
        return fail(&e);
    }
    config_sync_engine(c->cfg);
    /* Reject what can be rejected before the store is created or touched. */
    if ((o.name != NULL && engine_name_check(o.name, &e) != 0)) {
        json_decref(labels);
        return fail(&e);
    }
    if (c->cfg->root == NULL || access(c->cfg->root, F_OK) != 0) {
        err_set(&e, ERR_INVALID, c->cfg->root ? "state root %s: no such directory"
                                              : "no state root configured (use --root DIR)%s",
                c->cfg->root ? c->cfg->root : "");
        json_decref(labels);
        return fail(&e);
    }
    if ((rc = open_store(c, 1, &s)) != 0) {
        json_decref(labels);
        return rc;
    }
    if (engine_create(s, &o, &snap, &e) != 0) {
        rc = fail(&e);
        goto out;
    }
    locate_archive(c, snap);
    if (c->json) {
        print_json(snap);
    } else {
        int n = snprintf(cmdline, sizeof(cmdline), "statesnap%s%s%s%s restore --name %s",
                         c->root_flag ? " --root " : "", c->root_flag ? c->cfg->root : "",
                         c->store_flag ? " --store " : "", c->store_flag ? c->cfg->store : "",
                         json_string_value(json_object_get(snap, "name")));
        if (n < 0 || (size_t)n >= sizeof(cmdline))
            snprintf(cmdline, sizeof(cmdline), "statesnap restore --name %s",
                     json_string_value(json_object_get(snap, "name")));
        format_created(stdout, snap, cmdline);
    }
    rc = 0;
out:
    json_decref(snap);
    json_decref(labels);
    store_close(s);
    return rc;
}

static int parse_size(const char *s, size_t *out)
{
    char *end;
    long long v;

    errno = 0;
    v = strtoll(s, &end, 10);
    if (end == s || *end != '\0' || errno != 0 || v < 1 || v > 1000)
        return -1;
    *out = (size_t)v;
    return 0;
}

static int cmd_list(struct cli_ctx *c)
{
    struct list_opts o;
    struct store *s = NULL;
    struct err e = { 0 };
    json_t *page = NULL;
    char key[ENGINE_LABEL_KEY_MAX + 2];
    int rc;

    memset(&o, 0, sizeof(o));
    if (c->args.positional != NULL)
        return usage_error("list: unexpected argument \"%s\"", c->args.positional);
    if (opt(c, "limit") && parse_size(opt(c, "limit"), &o.limit) != 0)
        return usage_error("list: --limit must be from 1 to 1000, got \"%s\"", opt(c, "limit"));
    o.cursor = opt(c, "cursor");
    o.prefix = opt(c, "prefix");
    if (opt(c, "label")) {
        const char *kv = opt(c, "label"), *eq = strchr(kv, '=');
        if (eq == NULL || eq == kv || (size_t)(eq - kv) > ENGINE_LABEL_KEY_MAX)
            return usage_error("list: --label wants KEY=VALUE, got \"%s\"", kv);
        memcpy(key, kv, (size_t)(eq - kv));
        key[eq - kv] = '\0';
        o.label_key = key;
        o.label_value = eq + 1;
    }
    if ((rc = open_store(c, 0, &s)) != 0)
        return rc;
    if (engine_list(s, &o, &page, &e) != 0) {
        rc = fail(&e);
    } else {
        if (c->json)
            print_json(page);
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
    const char *name = target_name(c, 1, &bad);

    if (name == NULL)
        return bad;
    if (engine_name_check(name, &e) != 0)
        return fail(&e);
    if ((rc = open_store(c, 0, &s)) != 0)
        return rc;
    if (op(c, s, name, &doc, &e) != 0) {
        rc = fail(&e);
    } else {
        if (c->json)
            print_json(doc);
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
    locate_archive(c, *out);
    return 0;
}

static void render_show(const json_t *doc, const char *name)
{
    (void)name;
    format_show(stdout, doc);
}

static int cmd_show(struct cli_ctx *c)
{
    return run_named(c, op_show, render_show);
}

static int cmd_verify(struct cli_ctx *c)
{
    struct store *s = NULL;
    struct err e = { 0 };
    json_t *r = NULL, *one;
    int bad, rc, all = flag(c, "all");
    const char *name = target_name(c, !all, &bad);
    size_t i;

    if (name == NULL && !all)
        return bad;
    if (name != NULL && all)
        return usage_error("verify: give NAME or --all%s", "");
    if (name != NULL && engine_name_check(name, &e) != 0)
        return fail(&e);
    if ((rc = open_store(c, 0, &s)) != 0)
        return rc;
    rc = all ? engine_verify_all(s, &r, &e) : engine_verify(s, name, &r, &e);
    if (r != NULL) {
        if (c->json) {
            print_json(r);
        } else if (all) {
            json_array_foreach(json_object_get(r, "snapshots"), i, one)
                format_verify(stdout, one);
            printf("%lld verified, %lld failed\n",
                   (long long)json_integer_value(json_object_get(r, "checked")),
                   (long long)json_integer_value(json_object_get(r, "failed")));
        } else {
            format_verify(stdout, r);
        }
    }
    if (rc != 0)
        rc = r != NULL && e.code == ERR_VERIFY ? 1 : fail(&e);
    if (rc != 0 && r != NULL && e.code == ERR_VERIFY) {
        fprintf(stderr, "statesnap: ");
        format_safe(stderr, e.msg);
        fputc('\n', stderr);
    }
    json_decref(r);
    store_close(s);
    return rc;
}

static int cmd_drill(struct cli_ctx *c)
{
    struct drill_opts o = { 0 };
    struct store *s = NULL;
    struct err e = { 0 };
    json_t *r = NULL;
    int bad, rc, latest = flag(c, "latest");
    const char *name = target_name(c, !latest, &bad);

    if (name == NULL && !latest)
        return bad;
    if (name != NULL && latest)
        return usage_error("drill: give NAME or --latest%s", "");
    if (name != NULL && engine_name_check(name, &e) != 0)
        return fail(&e);
    if ((rc = open_store(c, 1, &s)) != 0)
        return rc;
    o.name = name;
    o.reason = "manual";
    rc = engine_drill(s, &o, &r, &e);
    if (r != NULL) {
        if (c->json)
            print_json(r);
        else
            format_drill(stdout, r);
    }
    /* A drill that ran and failed is exit 1 with its report on stdout and
     * the reason on stderr; one that could not run is the usual error. */
    if (rc != 0)
        rc = fail(&e);
    json_decref(r);
    store_close(s);
    return rc;
}

static int cmd_diff(struct cli_ctx *c)
{
    struct store *s = NULL;
    struct err e = { 0 };
    json_t *d = NULL;
    const char *from = opt(c, "from"), *to = opt(c, "to");
    int rc;

    if (c->args.positional != NULL)
        return usage_error("diff: unexpected argument \"%s\" (use --from A --to B)",
                           c->args.positional);
    if (from == NULL || to == NULL)
        return usage_error("diff: needs --from A and --to B (B may be live)%s", "");
    if ((strcmp(from, "live") != 0 && engine_name_check(from, &e) != 0) ||
        (strcmp(to, "live") != 0 && engine_name_check(to, &e) != 0))
        return fail(&e);
    if ((rc = open_store(c, 0, &s)) != 0)
        return rc;
    if (engine_diff(s, from, to, &d, &e) != 0) {
        rc = fail(&e);
    } else {
        if (c->json)
            print_json(d);
        else
            cli_render_diff(stdout, d);
        rc = 0;
    }
    json_decref(d);
    store_close(s);
    return rc;
}

/* Split "a,b,c" into the only list (pointers into buf). */
static size_t split_only(char *buf, const char **out, size_t max)
{
    size_t n = 0;
    char *save = NULL;

    for (char *t = strtok_r(buf, ",", &save); t && n < max; t = strtok_r(NULL, ",", &save))
        if (*t)
            out[n++] = t;
    return n;
}

static int confirm(void)
{
    char line[CLI_LINE_MAX];

    printf("Proceed? [y/N]: ");
    fflush(stdout);
    if (fgets(line, sizeof(line), stdin) == NULL) {
        putchar('\n');
        return 0;
    }
    line[strcspn(line, "\r\n")] = '\0';
    return strcmp(line, "y") == 0 || strcmp(line, "Y") == 0 || strcmp(line, "yes") == 0 ||
           strcmp(line, "YES") == 0 || strcmp(line, "Yes") == 0;
}

/* restore of a snapshot whose archive is only offsite: fetch and verify it first. */
static int fetch_if_only_offsite(struct cli_ctx *c, struct store *s, const char *name)
{
    struct err e = { 0 };
    int fetched = 0;

    if (offsite_fetch_if_missing(c->cfg->offsite, s, name, &fetched, &e) != 0)
        return fail(&e);
    if (fetched && !c->json)
        printf("Fetched %s from the offsite store (every hash verified)\n\n", name);
    return 0;
}

static int cmd_restore(struct cli_ctx *c)
{
    struct restore_opts o;
    struct store *s = NULL;
    struct err e = { 0 };
    json_t *preview = NULL, *report = NULL;
    const char *only[CLI_MAX_REPEAT];
    char onlybuf[4096], targetbuf[4096];
    int bad, rc;
    const char *name = target_name(c, 1, &bad);

    if (name == NULL)
        return bad;
    memset(&o, 0, sizeof(o));
    o.name = name;
    o.clear_kill_switch = flag(c, "clear-kill-switch");
    o.engage_kill_switch = flag(c, "engage-kill-switch");
    o.while_running = flag(c, "while-running");
    o.replace_special = flag(c, "replace-special");
    if (opt(c, "target") != NULL) {
        /* A path, always: "forensics" means ./forensics, not a configured name. */
        if (strchr(opt(c, "target"), '/') == NULL) {
            if (snprintf(targetbuf, sizeof(targetbuf), "./%s", opt(c, "target")) >=
                (int)sizeof(targetbuf))
                return usage_error("restore: --target path is too long%s", "");
            o.target = targetbuf;
        } else {
            o.target = opt(c, "target");
        }
    }
    if (opt(c, "only") != NULL) {
        if (snprintf(onlybuf, sizeof(onlybuf), "%s", opt(c, "only")) >= (int)sizeof(onlybuf))
            return usage_error("restore: --only list is too long%s", "");
        o.n_only = split_only(onlybuf, only, CLI_MAX_REPEAT);
        if (o.n_only == 0)
            return usage_error("restore: --only wants paths like state/positions.json%s", "");
        o.only = only;
    }
    if (c->json && !flag(c, "yes") && !flag(c, "dry-run"))
        return usage_error("restore: with --json, give --yes or --dry-run%s", "");
    if (engine_name_check(name, &e) != 0)
        return fail(&e);
    if ((rc = open_store(c, 0, &s)) != 0)
        return rc;
    if ((rc = fetch_if_only_offsite(c, s, name)) != 0)
        goto out;
    /* The dry run is the preview and checks every byte; a real restore
     * checks them while extracting, before anything is swapped in. */
    o.skip_verify = !flag(c, "dry-run");
    if (engine_restore_preview(s, &o, &preview, &e) != 0) {
        rc = fail(&e);
        goto out;
    }
    if (flag(c, "dry-run")) {
        if (c->json)
            print_json(preview);
        else {
            format_restore_preview(stdout, preview);
            printf("DRY RUN: nothing was changed.\n");
        }
        rc = 0;
        goto out;
    }
    if (!c->json)
        format_restore_preview(stdout, preview);
    if (!flag(c, "yes") && !confirm()) {
        printf("Aborted: nothing was changed.\n");
        err_set(&e, ERR_ABORTED, "restore aborted by the operator");
        rc = fail(&e);
        goto out;
    }
    if (!c->json && flag(c, "yes"))
        printf("Proceed? [y/N]: y (--yes)\n");
    if (!c->json)
        putchar('\n');
    if (engine_restore_apply(s, &o, json_string_value(json_object_get(preview, "confirm_token")),
                             &report, &e) != 0) {
        rc = fail(&e);
        goto out;
    }
    if (c->json)
        print_json(report);
    else
        format_restore_report(stdout, report);
    rc = 0;
    /* Applied, but something rewrote the root right after: not a silent OK. */
    if (json_array_size(json_object_get(report, "changed_during_restore")) > 0) {
        fprintf(stderr, "statesnap: the restore was applied, but the state root changed right "
                "after it (something still writes it): it is not the snapshot now\n");
        rc = 1;
    }
out:
    json_decref(preview);
    json_decref(report);
    store_close(s);
    return rc;
}

static int op_delete(struct cli_ctx *c, struct store *s, const char *name, json_t **out,
                     struct err *e)
{
    return engine_delete(s, name, flag(c, "force"), out, e);
}

static void render_delete(const json_t *doc, const char *name)
{
    (void)doc;
    printf("Deleted %s\n", name);
}

static int cmd_delete(struct cli_ctx *c)
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
    printf("%s %s\n", json_is_true(json_object_get(doc, "pinned")) ? "Pinned" : "Unpinned", name);
}

static int cmd_pin(struct cli_ctx *c)
{
    return run_named(c, op_pin, render_pin);
}

static int cmd_unpin(struct cli_ctx *c)
{
    return run_named(c, op_unpin, render_pin);
}

static int cmd_reindex_offsite(struct cli_ctx *c);

static int cmd_reindex(struct cli_ctx *c)
{
    struct store *s = NULL;
    struct err e = { 0 };
    json_t *r = NULL, *sk;
    size_t i;
    int rc;

    if (c->args.positional != NULL)
        return usage_error("reindex: unexpected argument \"%s\"", c->args.positional);
    if (flag(c, "from-offsite"))
        return cmd_reindex_offsite(c);
    if ((rc = open_store(c, 1, &s)) != 0)
        return rc;
    if (engine_reindex(s, &r, &e) != 0) {
        rc = fail(&e);
    } else {
        if (c->json) {
            print_json(r);
        } else {
            printf("Reindexed %lld snapshots\n",
                   (long long)json_integer_value(json_object_get(r, "indexed")));
            json_array_foreach(json_object_get(r, "skipped"), i, sk) {
                printf("  [skipped] ");
                format_safe(stdout, json_string_value(json_object_get(sk, "file")));
                printf(": ");
                format_safe(stdout, json_string_value(json_object_get(sk, "problem")));
                putchar('\n');
            }
        }
        rc = 0;
    }
    json_decref(r);
    store_close(s);
    return rc;
}

static int cmd_import(struct cli_ctx *c)
{
    struct store *s = NULL;
    struct err e = { 0 };
    json_t *snap = NULL;
    int rc;

    if (c->args.positional == NULL)
        return usage_error("import: which zip file?%s", "");
    if (access(c->args.positional, R_OK) != 0)
        return usage_error("import: cannot read \"%s\"", c->args.positional);
    if ((rc = open_store(c, 1, &s)) != 0)
        return rc;
    if (engine_import(s, c->args.positional, &snap, &e) != 0) {
        rc = fail(&e);
    } else {
        if (c->json)
            print_json(snap);
        else
            printf("Imported %s (%lld files, verified)\n",
                   json_string_value(json_object_get(snap, "name")),
                   (long long)json_integer_value(json_object_get(snap, "file_count")));
        rc = 0;
    }
    json_decref(snap);
    store_close(s);
    return rc;
}

static int cmd_export(struct cli_ctx *c)
{
    struct store *s = NULL;
    struct err e = { 0 };
    char *path = NULL, sha[65], out[1024];
    int bad, rc;
    const char *name = target_name(c, 1, &bad);

    if (name == NULL)
        return bad;
    if (engine_name_check(name, &e) != 0)
        return fail(&e);
    if (snprintf(out, sizeof(out), "%s", opt(c, "out") ? opt(c, "out") : name) >= (int)sizeof(out))
        return usage_error("export: --out path too long%s", "");
    if (opt(c, "out") == NULL)
        strncat(out, ".zip", sizeof(out) - strlen(out) - 1);
    if ((rc = open_store(c, 0, &s)) != 0)
        return rc;
    if (engine_archive_path(s, name, &path, sha, &e) != 0) {
        rc = fail(&e);
        goto out;
    }
    FILE *in = fopen(path, "rb"), *o = in ? fopen(out, "wbx") : NULL;
    if (in == NULL || o == NULL) {
        err_sys(&e, errno, "export to %s", out);
        if (in)
            fclose(in);
        rc = fail(&e);
        goto out;
    }
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
        if (fwrite(buf, 1, n, o) != n)
            break;
    int werr = ferror(in) || ferror(o);
    fclose(in);
    if (fclose(o) != 0 || werr) {
        unlink(out);
        err_set(&e, ERR_IO, "export to %s failed", out);
        rc = fail(&e);
        goto out;
    }
    if (c->json) {
        json_t *r = json_pack("{s:s,s:s,s:s}", "name", name, "path", out, "archive_sha256", sha);
        print_json(r);
        json_decref(r);
    } else {
        printf("Exported %s to %s (SHA256: %s)\n", name, out, sha);
    }
    rc = 0;
out:
    free(path);
    store_close(s);
    return rc;
}

static int cmd_prune(struct cli_ctx *c)
{
    struct retention_policy p = *c->cfg->engine.retention;
    struct store *s = NULL;
    struct err e = { 0 };
    json_t *r = NULL, *k, *v;
    static const char *const counts[] = { "keep-last", "keep-daily", "keep-weekly",
                                          "keep-monthly", "max-count" };
    int *slots[] = { &p.keep_last, &p.keep_daily, &p.keep_weekly, &p.keep_monthly, &p.max_count };
    size_t i;
    int rc;

    if (c->args.positional != NULL)
        return usage_error("prune: unexpected argument \"%s\"", c->args.positional);
    for (i = 0; i < 5; i++) {
        const char *val = opt(c, counts[i]);
        char *end;
        long n;
        if (val == NULL)
            continue;
        errno = 0;
        n = strtol(val, &end, 10);
        if (end == val || *end != '\0' || errno != 0 || n < 0 || n > 100000)
            return usage_error("prune: bad count \"%s\"", val);
        *slots[i] = (int)n;
    }
    if (opt(c, "expire-after")) {
        long secs;
        if (config_parse_duration(opt(c, "expire-after"), &secs, &e) != 0)
            return fail(&e);
        p.expire_after = secs;
    }
    if (p.keep_last < RETENTION_MIN_KEEP_LAST) {
        err_set(&e, ERR_INVALID, "--keep-last %d refused: statesnap always keeps at least the %d most "
                "recent snapshots", p.keep_last, RETENTION_MIN_KEEP_LAST);
        return fail(&e);
    }
    if ((rc = open_store(c, 0, &s)) != 0)
        return rc;
    if (engine_prune(s, &p, flag(c, "dry-run"), &r, &e) != 0) {
        rc = fail(&e);
    } else if (c->json) {
        print_json(r);
        rc = 0;
    } else {
        printf("PRUNE%s\n=====%s\n", flag(c, "dry-run") ? " (dry run)" : "",
               flag(c, "dry-run") ? "==========" : "");
        json_array_foreach(json_object_get(r, "kept"), i, k) {
            size_t j;
            printf("  keep    %-40s ", json_string_value(json_object_get(k, "name")));
            json_array_foreach(json_object_get(k, "reasons"), j, v)
                printf("%s%s", j ? "," : "", json_string_value(v));
            putchar('\n');
        }
        json_array_foreach(json_object_get(r, "removed"), i, k)
            printf("  %-7s %s\n", flag(c, "dry-run") ? "remove" : "removed",
                   json_string_value(json_object_get(k, "name")));
        printf("\n%zu kept, %zu %s\n", json_array_size(json_object_get(r, "kept")),
               json_array_size(json_object_get(r, "removed")),
               flag(c, "dry-run") ? "would be removed" : "removed");
        rc = 0;
    }
    json_decref(r);
    store_close(s);
    return rc;
}

static int cmd_audit(struct cli_ctx *c)
{
    struct store *s = NULL;
    struct err e = { 0 };
    json_t *r = NULL, *en;
    const char *pos = c->args.positional;
    long long after = 0;
    size_t limit = 0, i;
    int rc;

    if (pos != NULL && strcmp(pos, "verify") != 0 && strcmp(pos, "repair") != 0)
        return usage_error("audit: unknown subcommand \"%s\" (audit, audit verify or audit repair)", pos);
    if (opt(c, "after")) {
        char *end;
        errno = 0;
        after = strtoll(opt(c, "after"), &end, 10);
        if (end == opt(c, "after") || *end != '\0' || errno != 0 || after < 0)
            return usage_error("audit: bad --after \"%s\"", opt(c, "after"));
    }
    if (opt(c, "limit") && parse_size(opt(c, "limit"), &limit) != 0)
        return usage_error("audit: --limit must be from 1 to 1000, got \"%s\"", opt(c, "limit"));
    if ((rc = open_store(c, 0, &s)) != 0)
        return rc;
    if (pos != NULL && strcmp(pos, "repair") == 0) {
        if ((rc = engine_audit_repair(s, &r, &e)) != 0)
            rc = fail(&e);
        else if (c->json)
            print_json(r);
        else
            printf("OK audit.jsonl %s (%lld entries, %lld written)\n",
                   json_is_true(json_object_get(r, "rewritten")) ? "written anew from the catalog"
                                                                 : "caught up with the catalog",
                   (long long)json_integer_value(json_object_get(r, "entries")),
                   (long long)json_integer_value(json_object_get(r, "appended")));
    } else if (pos != NULL) {
        rc = engine_audit_verify(s, &r, &e);
        json_t *file = json_object_get(r, "file");
        if (r != NULL && c->json)
            print_json(r);
        else if (rc == 0)
            printf("OK audit chain (%lld entries)\n",
                   (long long)json_integer_value(json_object_get(r, "entries")));
        if (rc == 0 && !c->json && json_integer_value(json_object_get(file, "behind")) > 0)
            printf("WARNING audit.jsonl is %lld entries behind the catalog: %s\n",
                   (long long)json_integer_value(json_object_get(file, "behind")),
                   json_string_value(json_object_get(file, "note")));
        if (rc != 0) {
            if (!c->json && r != NULL)
                printf("FAILED audit chain\n");
            rc = fail(&e);
        }
    } else if (engine_audit_list(s, after, limit, &r, &e) != 0) {
        rc = fail(&e);
    } else if (c->json) {
        print_json(r);
    } else {
        printf("AUDIT\n=====\n");
        json_array_foreach(json_object_get(r, "entries"), i, en) {
            printf("%5lld %s %-8s %-6s %-16s ", (long long)json_integer_value(json_object_get(en, "seq")),
                   json_string_value(json_object_get(en, "time")),
                   json_string_value(json_object_get(en, "op")),
                   json_string_value(json_object_get(en, "result")),
                   json_string_value(json_object_get(en, "actor")));
            format_safe(stdout, json_is_string(json_object_get(en, "snapshot"))
                                    ? json_string_value(json_object_get(en, "snapshot")) : "-");
            putchar('\n');
        }
    }
    json_decref(r);
    store_close(s);
    return rc;
}

static size_t discard(void *p, size_t size, size_t n, void *ud)
{
    (void)p;
    (void)ud;
    return size * n;
}

static int cmd_healthcheck(struct cli_ctx *c)
{
    char url[512];
    const char *max_age = opt(c, "max-age"), *timeout = opt(c, "timeout");
    long status = 0, secs = 5;
    CURL *h;
    CURLcode cr;
    char *end;

    if (c->args.positional != NULL)
        return usage_error("healthcheck: unexpected argument \"%s\"", c->args.positional);
    if (timeout != NULL) {
        errno = 0;
        secs = strtol(timeout, &end, 10);
        if (end == timeout || *end != '\0' || errno != 0 || secs < 1 || secs > 300)
            return usage_error("healthcheck: --timeout must be 1-300 seconds, got \"%s\"", timeout);
    }
    if (max_age != NULL) {
        errno = 0;
        long v = strtol(max_age, &end, 10);
        if (end == max_age || *end != '\0' || errno != 0 || v < 0)
            return usage_error("healthcheck: bad --max-age \"%s\"", max_age);
    }
    if (opt(c, "url") != NULL) {
        if (snprintf(url, sizeof(url), "%s", opt(c, "url")) >= (int)sizeof(url))
            return usage_error("healthcheck: --url too long%s", "");
    } else {
        const char *listen = c->cfg->listen ? c->cfg->listen : "127.0.0.1:8080";
        /* A wildcard listen address is probed on loopback. */
        if (strncmp(listen, "0.0.0.0:", 8) == 0)
            listen += 7;
        int n = snprintf(url, sizeof(url), "%s://%s%s/readyz%s%s",
                         c->cfg->tls_cert ? "https" : "http", listen[0] == ':' ? "127.0.0.1" : "",
                         listen, max_age ? "?max_age=" : "", max_age ? max_age : "");
        if (n < 0 || (size_t)n >= sizeof(url))
            return usage_error("healthcheck: listen address too long%s", "");
    }
    if ((h = curl_easy_init()) == NULL)
        return 1;
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, secs);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    cr = curl_easy_perform(h);
    if (cr == CURLE_OK)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(h);
    if (cr != CURLE_OK) {
        fprintf(stderr, "statesnap: healthcheck %s: %s\n", url, curl_easy_strerror(cr));
        return 1;
    }
    if (status != 200) {
        fprintf(stderr, "statesnap: healthcheck %s: HTTP %ld\n", url, status);
        return 1;
    }
    if (!c->json)
        printf("OK %s\n", url);
    return 0;
}

static int cmd_config(struct cli_ctx *c)
{
    struct config other;
    struct err e = { 0 };
    const char *file = NULL;

    /* "config check [FILE]": FILE, else the --config already loaded. */
    if (c->args.positional == NULL || strcmp(c->args.positional, "check") != 0)
        return usage_error("config: the subcommand is \"check\" (statesnap config check [FILE])%s", "");
    file = opt(c, "file") ? opt(c, "file") : c->cfg->path;
    if (file == NULL)
        return usage_error("config check: which file? (config check --file FILE or --config FILE)%s", "");
    if (config_load(&other, file, &e) != 0) {
        config_free(&other);
        return fail(&e);
    }
    config_free(&other);
    if (c->json)
        printf("{\"ok\": true}\n");
    else
        printf("OK %s\n", file);
    return 0;
}

/* ---- offsite: thin fronts on offsite/ ---- */

/* Open the offsite client and the store, or print why not. */
static int offsite_begin(struct cli_ctx *c, int create, struct offsite **o, struct store **s)
{
    struct err e = { 0 };

    *o = NULL;
    *s = NULL;
    if (offsite_open(o, c->cfg->offsite, &e) != 0)
        return fail(&e);
    if (store_open(s, &c->cfg->engine, create, &e) != 0) {
        offsite_close(*o);
        *o = NULL;
        return fail(&e);
    }
    return 0;
}

static int cmd_offsite_sync(struct cli_ctx *c)
{
    struct offsite *o;
    struct store *s;
    struct err e = { 0 };
    json_t *r = NULL, *v;
    size_t i;
    int rc;

    if (c->args.positional != NULL)
        return usage_error("offsite sync: unexpected argument \"%s\"", c->args.positional);
    if ((rc = offsite_begin(c, 0, &o, &s)) != 0)
        return rc;
    rc = offsite_sync(o, s, &r, &e);
    if (r != NULL && c->json) {
        print_json(r);
    } else if (r != NULL) {
        printf("OFFSITE SYNC\n============\n");
        json_array_foreach(json_object_get(r, "lost"), i, v) {
            printf("  [LOST] %s: ", json_string_value(json_object_get(v, "name")));
            format_safe(stdout, json_string_value(json_object_get(v, "problem")));
            printf(" (back to pending)\n");
        }
        json_array_foreach(json_object_get(r, "uploaded"), i, v)
            printf("  [OK] %s uploaded\n", json_string_value(v));
        json_array_foreach(json_object_get(r, "already"), i, v)
            printf("  [OK] %s already offsite\n", json_string_value(v));
        json_array_foreach(json_object_get(r, "failed"), i, v) {
            printf("  [FAILED] %s: ", json_string_value(json_object_get(v, "name")));
            format_safe(stdout, json_string_value(json_object_get(v, "error")));
            putchar('\n');
        }
        printf("\n%zu uploaded, %zu already offsite, %zu failed\n",
               json_array_size(json_object_get(r, "uploaded")),
               json_array_size(json_object_get(r, "already")),
               json_array_size(json_object_get(r, "failed")));
        printf("%lld synced copies checked in the bucket, %zu found gone or replaced\n",
               (long long)json_integer_value(json_object_get(r, "checked")),
               json_array_size(json_object_get(r, "lost")));
    }
    rc = rc != 0 ? fail(&e) : 0;
    json_decref(r);
    store_close(s);
    offsite_close(o);
    return rc;
}

static int cmd_offsite_status(struct cli_ctx *c)
{
    struct offsite *o;
    struct store *s;
    struct err e = { 0 };
    json_t *r = NULL, *cnt, *v;
    size_t i;
    int rc;

    if (c->args.positional != NULL)
        return usage_error("offsite status: unexpected argument \"%s\"", c->args.positional);
    if ((rc = offsite_begin(c, 0, &o, &s)) != 0)
        return rc;
    if (offsite_status(o, s, &r, &e) != 0) {
        rc = fail(&e);
    } else if (c->json) {
        print_json(r);
    } else {
        cnt = json_object_get(r, "counts");
        printf("OFFSITE\n=======\nTarget:       %s/%s/%s\nInterval:     %llds\n"
               "Synced:       %lld\nPending:      %lld\nFailed:       %lld\n"
               "Last success: %s\n",
               json_string_value(json_object_get(r, "endpoint")),
               json_string_value(json_object_get(r, "bucket")),
               json_string_value(json_object_get(r, "prefix")),
               (long long)json_integer_value(json_object_get(r, "interval_seconds")),
               (long long)json_integer_value(json_object_get(cnt, "synced")),
               (long long)(json_integer_value(json_object_get(cnt, "pending")) +
                           json_integer_value(json_object_get(cnt, "none"))),
               (long long)json_integer_value(json_object_get(cnt, "failed")),
               json_is_string(json_object_get(r, "last_success"))
                   ? json_string_value(json_object_get(r, "last_success")) : "never");
        json_array_foreach(json_object_get(r, "failed_snapshots"), i, v) {
            printf("  [FAILED] %s: ", json_string_value(json_object_get(v, "name")));
            format_safe(stdout, json_string_value(json_object_get(v, "error")));
            putchar('\n');
        }
    }
    json_decref(r);
    store_close(s);
    offsite_close(o);
    return rc;
}

static int cmd_offsite_list(struct cli_ctx *c)
{
    struct offsite *o;
    struct store *s;
    struct err e = { 0 };
    json_t *r = NULL, *v;
    size_t i;
    int rc;

    if (c->args.positional != NULL)
        return usage_error("offsite list: unexpected argument \"%s\"", c->args.positional);
    if ((rc = offsite_begin(c, 0, &o, &s)) != 0)
        return rc;
    if (offsite_list(o, s, &r, &e) != 0) {
        rc = fail(&e);
    } else if (c->json) {
        print_json(r);
    } else {
        printf("OFFSITE ARCHIVES (%s)\n", json_string_value(json_object_get(r, "prefix")));
        json_array_foreach(json_object_get(r, "objects"), i, v)
            printf("  %-40s %12lld  %s  %s\n", json_string_value(json_object_get(v, "name")),
                   (long long)json_integer_value(json_object_get(v, "size")),
                   json_is_string(json_object_get(v, "sha256"))
                       ? json_string_value(json_object_get(v, "sha256")) : "(no sha256)",
                   json_is_string(json_object_get(v, "catalog_state"))
                       ? json_string_value(json_object_get(v, "catalog_state")) : "not catalogued");
        printf("\nTotal: %zu archives\n", json_array_size(json_object_get(r, "objects")));
        if (json_array_size(json_object_get(r, "missing")) > 0) {
            printf("\nMISSING FROM THE BUCKET (catalogued here)\n");
            json_array_foreach(json_object_get(r, "missing"), i, v)
                printf("  %-40s catalog says %s\n", json_string_value(json_object_get(v, "name")),
                       json_string_value(json_object_get(v, "catalog_state")));
        }
        if (json_array_size(json_object_get(r, "foreign")) > 0) {
            printf("\nOTHER OBJECTS UNDER THE PREFIX (skipped)\n");
            json_array_foreach(json_object_get(r, "foreign"), i, v) {
                printf("  ");
                format_safe(stdout, json_string_value(json_object_get(v, "key")));
                printf("  %lld bytes: %s\n", (long long)json_integer_value(json_object_get(v, "size")),
                       json_string_value(json_object_get(v, "reason")));
            }
        }
    }
    json_decref(r);
    store_close(s);
    offsite_close(o);
    return rc;
}

static int cmd_offsite_fetch(struct cli_ctx *c)
{
    struct offsite *o;
    struct store *s;
    struct err e = { 0 };
    int bad, rc, fetched = 0;
    const char *name = target_name(c, 1, &bad);

    if (name == NULL)
        return bad;
    if (engine_name_check(name, &e) != 0)
        return fail(&e);
    if ((rc = offsite_begin(c, 1, &o, &s)) != 0)
        return rc;
    if (offsite_fetch(o, s, name, &fetched, &e) != 0)
        rc = fail(&e);
    else if (c->json)
        printf("{\"name\": \"%s\", \"fetched\": %s}\n", name, fetched ? "true" : "false");
    else
        printf(fetched ? "Fetched %s from the offsite store (every hash verified)\n"
                       : "%s: the archive is already in the store\n", name);
    store_close(s);
    offsite_close(o);
    return rc;
}

static int cmd_reindex_offsite(struct cli_ctx *c)
{
    struct offsite *o;
    struct store *s;
    struct err e = { 0 };
    json_t *r = NULL, *v;
    size_t i;
    int rc;

    if ((rc = offsite_begin(c, 1, &o, &s)) != 0)
        return rc;
    if (offsite_reindex(o, s, &r, &e) != 0) {
        rc = fail(&e);
    } else if (c->json) {
        print_json(r);
    } else {
        json_array_foreach(json_object_get(r, "downloaded"), i, v)
            printf("  [OK] %s downloaded and verified\n", json_string_value(v));
        json_array_foreach(json_object_get(r, "skipped"), i, v) {
            printf("  [skipped] ");
            format_safe(stdout, json_string_value(json_object_get(v, "key")));
            printf(": ");
            format_safe(stdout, json_string_value(json_object_get(v, "problem")));
            putchar('\n');
        }
        printf("Reindexed %lld snapshots (%zu downloaded from the offsite store)\n",
               (long long)json_integer_value(json_object_get(r, "indexed")),
               json_array_size(json_object_get(r, "downloaded")));
    }
    json_decref(r);
    store_close(s);
    offsite_close(o);
    return rc;
}

static int cmd_init(struct cli_ctx *c)
{
    struct store *s = NULL;
    struct stat st;
    char cat[PATH_MAX];
    int rc, existed;

    if (c->args.positional != NULL)
        return usage_error("init: unexpected argument \"%s\" (use --store DIR)", c->args.positional);
    if (snprintf(cat, sizeof(cat), "%s/%s", c->cfg->engine.store ? c->cfg->engine.store : "",
                 STORE_CATALOG_FILE) >= (int)sizeof(cat))
        return usage_error("init: store path too long%s", "");
    existed = stat(cat, &st) == 0;
    if ((rc = open_store(c, 1, &s)) != 0)
        return rc;
    if (c->json) {
        json_t *doc = json_pack("{s:s,s:b}", "store", c->cfg->engine.store, "created", !existed);
        print_json(doc);
        json_decref(doc);
    } else {
        printf("%s store ", existed ? "Existing" : "Initialized");
        format_safe(stdout, c->cfg->engine.store);
        putchar('\n');
    }
    store_close(s);
    return 0;
}

static int cmd_version(struct cli_ctx *c)
{
    if (c->json)
        printf("{\"version\": \"%s\"}\n", STATESNAP_VERSION);
    else
        printf("statesnap %s\n", STATESNAP_VERSION);
    return 0;
}

const struct cli_cmd cli_commands[] = {
    { "init", NULL, "make an empty store at --store (create, import and reindex make one too)", none_opts, cmd_init },
    { "create", NULL, "capture the state root into a new snapshot", create_opts, cmd_create },
    { "list", NULL, "list snapshots, newest first", list_opts, cmd_list },
    { "show", "NAME", "a snapshot's details and manifest", name_opts, cmd_show },
    { "verify", "NAME", "re-hash an archive (or --all) against its manifest", verify_opts, cmd_verify },
    { "drill", "NAME", "rehearse a restore (or --latest) in a scratch directory, check it, record it", drill_opts_tbl, cmd_drill },
    { "diff", NULL, "compare two snapshots, or one with live", diff_opts, cmd_diff },
    { "restore", "NAME", "restore a snapshot into the state root", restore_opts_tbl, cmd_restore },
    { "delete", "NAME", "delete a snapshot", delete_opts, cmd_delete },
    { "pin", "NAME", "pin a snapshot", pin_opts, cmd_pin },
    { "unpin", "NAME", "unpin a snapshot", pin_opts, cmd_unpin },
    { "export", "NAME", "copy a snapshot's zip out of the store", export_opts, cmd_export },
    { "import", "ZIP", "verify a zip and add it to the store", none_opts, cmd_import },
    { "prune", NULL, "apply the retention policy (keeps at least the 5 newest)", prune_opts, cmd_prune },
    { "audit", "[verify|repair]", "show the audit chain, verify it (reads only), or repair a file a crash left behind", audit_opts, cmd_audit },
    { "reindex", NULL, "rebuild catalog.db from the archives", reindex_opts, cmd_reindex },
    { "healthcheck", NULL, "probe a running server's /readyz (exit 0 when ready)", health_opts, cmd_healthcheck },
    { "config", "check", "validate a config file (unknown keys are errors)", config_opts, cmd_config },
    { "offsite sync", NULL, "copy every snapshot not yet offsite to the S3 store", none_opts, cmd_offsite_sync },
    { "offsite status", NULL, "offsite settings, counts per state, failures", none_opts, cmd_offsite_status },
    { "offsite list", NULL, "the archives in the S3 store, with their SHA-256", none_opts, cmd_offsite_list },
    { "offsite fetch", "NAME", "bring a snapshot's archive back from the S3 store", name_opts, cmd_offsite_fetch },
    { "version", NULL, "print the version", none_opts, cmd_version },
    { NULL, NULL, NULL, NULL, NULL },
};

static void print_opts(FILE *f, const struct cli_opt *o)
{
    for (; o->name; o++) {
        char left[64];
        snprintf(left, sizeof(left), "--%s%s%s", o->name, o->arg ? " " : "", o->arg ? o->arg : "");
        fprintf(f, "  %-24s %s%s\n", left, o->help, o->repeat ? " (repeatable)" : "");
    }
}

void cli_usage(int ok)
{
    FILE *f = ok ? stdout : stderr;

    fprintf(f, "usage: statesnap [--config FILE] [--root DIR] [--store DIR] [--json] COMMAND [options]\n\n"
               "Commands:\n");
    for (const struct cli_cmd *c = cli_commands; c->name; c++)
        fprintf(f, "  %-10s %s\n", c->name, c->summary);
    fprintf(f, "  %-10s %s\n", "serve", "run the HTTP API and dashboard");
    fprintf(f, "\nGlobal options:\n");
    print_opts(f, cli_global_opts);
    fprintf(f, "\nExit codes: 0 ok, 1 operation failed / conflict / verification failed, "
               "2 usage or bad input.\nstatesnap COMMAND --help shows a command's options.\n");
}

static void cmd_help(const struct cli_cmd *cmd)
{
    printf("usage: statesnap %s%s%s [options]\n\n%s\n\nOptions:\n", cmd->name,
           cmd->positional ? " " : "", cmd->positional ? cmd->positional : "", cmd->summary);
    if (cmd->opts[0].name == NULL)
        printf("  (none)\n");
    print_opts(stdout, cmd->opts);
    printf("\nGlobal options:\n");
    print_opts(stdout, cli_global_opts);
}

static int parse_args(const struct cli_cmd *cmd, int argc, char **argv, struct cli_args *a,
                      int *help)
{
    memset(a, 0, sizeof(*a));
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            *help = 1;
            return 0;
        }
        if (strncmp(arg, "--", 2) != 0 || arg[2] == '\0') {
            if (a->positional != NULL)
                return usage_error("unexpected argument \"%s\"", arg);
            a->positional = arg;
            continue;
        }
        char name[64];
        const char *eq = strchr(arg + 2, '='), *val = NULL;
        size_t nl = eq ? (size_t)(eq - arg - 2) : strlen(arg + 2);
        if (nl >= sizeof(name))
            return usage_error("unknown option \"%.64s\"", arg);
        memcpy(name, arg + 2, nl);
        name[nl] = '\0';
        int k = cli_opt_index(cmd, name);
        if (k < 0) {
            fprintf(stderr, "statesnap: %s: unknown option \"--", cmd->name);
            format_safe(stderr, name);
            fprintf(stderr, "\" (see statesnap %s --help)\n", cmd->name);
            return 2;
        }
        const struct cli_opt *o = &cmd->opts[k];
        if (o->arg != NULL) {
            if (eq)
                val = eq + 1;
            else if (i + 1 < argc)
                val = argv[++i];
            else
                return usage_error("option --%s needs a value", name);
        } else if (eq) {
            return usage_error("option --%s takes no value", name);
        }
        if (o->repeat) {
            if (a->n_multi[k] >= CLI_MAX_REPEAT)
                return usage_error("option --%s given too many times", name);
            a->multi[k][a->n_multi[k]++] = val;
        } else if (a->set[k]) {
            return usage_error("option --%s given twice", name);
        }
        a->set[k] = 1;
        a->val[k] = val;
    }
    return 0;
}

int cli_main(struct config *cfg, int json, int root_flag, int store_flag, int argc, char **argv)
{
    const struct cli_cmd *cmd = NULL;
    struct cli_ctx c;
    int help = 0, rc;

    for (const struct cli_cmd *k = cli_commands; k->name; k++)
        if (strcmp(k->name, argv[0]) == 0)
            cmd = k;
    /* Two-word commands ("offsite sync"): the second word is part of the name. */
    if (cmd == NULL && argc > 1) {
        size_t n0 = strlen(argv[0]);
        for (const struct cli_cmd *k = cli_commands; k->name; k++)
            if (strncmp(k->name, argv[0], n0) == 0 && k->name[n0] == ' ' &&
                strcmp(k->name + n0 + 1, argv[1]) == 0)
                cmd = k;
        if (cmd != NULL) {
            argc--;
            argv++;
        }
    }
    if (cmd == NULL && argv[0][0] != '\0') {
        size_t n0 = strlen(argv[0]);
        for (const struct cli_cmd *k = cli_commands; k->name; k++)
            if (strncmp(k->name, argv[0], n0) == 0 && k->name[n0] == ' ') {
                fprintf(stderr, "statesnap: %s: which subcommand? (see statesnap --help)\n",
                        argv[0]);
                return 2;
            }
    }
    if (cmd == NULL) {
        fprintf(stderr, "statesnap: unknown command \"");
        format_safe(stderr, argv[0]);
        fprintf(stderr, "\" (see statesnap --help)\n");
        return 2;
    }
    memset(&c, 0, sizeof(c));
    c.cfg = cfg;
    c.cmd = cmd;
    c.json = json;
    c.root_flag = root_flag;
    c.store_flag = store_flag;
    if ((rc = parse_args(cmd, argc, argv, &c.args, &help)) != 0)
        return rc;
    if (help) {
        cmd_help(cmd);
        return 0;
    }
    rc = cmd->run(&c);
    if (fflush(stdout) != 0 && rc == 0)
        rc = 1;
    return rc;
}
