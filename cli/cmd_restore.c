/* cmd_restore.c - restore: preview, confirmation, apply, report. */
#include "cmd.h"

#include <stdio.h>
#include <string.h>

#include "format.h"

#define CLI_LINE_MAX 256

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
int cli_cmd_restore(struct cli_ctx *c)
{
    struct restore_opts o;
    struct store *s = NULL;
    struct err e = { 0 };
    json_t *preview = NULL, *report = NULL;
    const char *only[CLI_MAX_REPEAT];
    char onlybuf[4096], targetbuf[4096];
    int bad, rc;
    const char *name = cli_target_name(c, 1, &bad);

    if (name == NULL)
        return bad;
    memset(&o, 0, sizeof(o));
    o.name = name;
    o.clear_kill_switch = cli_flag(c, "clear-kill-switch");
    o.engage_kill_switch = cli_flag(c, "engage-kill-switch");
    o.while_running = cli_flag(c, "while-running");
    o.replace_special = cli_flag(c, "replace-special");
    if (cli_opt(c, "target") != NULL) {
        /* A path, always: "forensics" means ./forensics, not a configured name. */
        if (strchr(cli_opt(c, "target"), '/') == NULL) {
            if (snprintf(targetbuf, sizeof(targetbuf), "./%s", cli_opt(c, "target")) >=
                (int)sizeof(targetbuf))
                return cli_usage_error(c, "restore: --target path is too long%s", "");
            o.target = targetbuf;
        } else {
            o.target = cli_opt(c, "target");
        }
    }
    if (cli_opt(c, "only") != NULL) {
        if (snprintf(onlybuf, sizeof(onlybuf), "%s", cli_opt(c, "only")) >= (int)sizeof(onlybuf))
            return cli_usage_error(c, "restore: --only list is too long%s", "");
        o.n_only = split_only(onlybuf, only, CLI_MAX_REPEAT);
        if (o.n_only == 0)
            return cli_usage_error(c, "restore: --only wants paths like state/positions.json%s", "");
        o.only = only;
    }
    if (c->json && !cli_flag(c, "yes") && !cli_flag(c, "dry-run"))
        return cli_usage_error(c, "restore: with --json, give --yes or --dry-run%s", "");
    if (engine_name_check(name, &e) != 0)
        return cli_fail(c, &e);
    if ((rc = cli_open_store(c, 0, &s)) != 0)
        return rc;
    if ((rc = cli_offsite_fetch_missing(c, s, name)) != 0)
        goto out;
    /* The dry run is the preview and checks every byte; a real restore
     * checks them while extracting, before anything is swapped in. */
    o.skip_verify = !cli_flag(c, "dry-run");
    if (engine_restore_preview(s, &o, &preview, &e) != 0) {
        rc = cli_fail(c, &e);
        goto out;
    }
    if (cli_flag(c, "dry-run")) {
        if (c->json)
            cli_print_json(c, preview);
        else {
            format_restore_preview(stdout, preview);
            printf("DRY RUN: nothing was changed.\n");
        }
        rc = 0;
        goto out;
    }
    if (!c->json)
        format_restore_preview(stdout, preview);
    if (!cli_flag(c, "yes") && !confirm()) {
        printf("Aborted: nothing was changed.\n");
        err_set(&e, ERR_ABORTED, "restore aborted by the operator");
        rc = cli_fail(c, &e);
        goto out;
    }
    if (!c->json && cli_flag(c, "yes"))
        printf("Proceed? [y/N]: y (--yes)\n");
    if (!c->json)
        putchar('\n');
    if (engine_restore_apply(s, &o, json_string_value(json_object_get(preview, "confirm_token")),
                             &report, &e) != 0) {
        rc = cli_fail(c, &e);
        goto out;
    }
    if (c->json)
        cli_print_json(c, report);
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

