/* cli.c - the command-line front door: the command table, the global options
 * turned into help or version or a command, and the dispatch to that
 * command's file. */
#include "cli.h"

#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "format.h"

const struct cli_cmd cli_commands[] = {
    { "init", NULL, "make an empty store at --store (create, import and reindex make one too)", none_opts, cli_cmd_init, 0 },
    { "create", NULL, "capture the state root into a new snapshot", create_opts, cli_cmd_create, 0 },
    { "list", NULL, "list snapshots, newest first", list_opts, cli_cmd_list, 0 },
    { "show", "NAME", "a snapshot's details and manifest", name_opts, cli_cmd_show, 0 },
    { "verify", "NAME", "re-hash an archive (or --all) against its manifest", verify_opts, cli_cmd_verify, 0 },
    { "drill", "NAME", "rehearse a restore (or --latest) in a scratch directory, check it, record it", drill_opts_tbl, cli_cmd_drill, 0 },
    { "diff", NULL, "compare two snapshots, or one with live", diff_opts, cli_cmd_diff, 0 },
    { "restore", "NAME", "restore a snapshot into the state root", restore_opts_tbl, cli_cmd_restore, 0 },
    { "delete", "NAME", "delete a snapshot", delete_opts, cli_cmd_delete, 0 },
    { "pin", "NAME", "pin a snapshot", pin_opts, cli_cmd_pin, 0 },
    { "unpin", "NAME", "unpin a snapshot", pin_opts, cli_cmd_unpin, 0 },
    { "export", "NAME", "copy a snapshot's zip out of the store", export_opts, cli_cmd_export, 0 },
    { "import", "ZIP", "verify a zip and its signature and add it to the store", import_opts, cli_cmd_import, 0 },
    { "prune", NULL, "apply the retention policy (keeps at least the 5 newest)", prune_opts, cli_cmd_prune, 0 },
    { "audit", "[verify|repair]", "show the audit chain, verify it (reads only), or repair a file a crash left behind", audit_opts, cli_cmd_audit, 0 },
    { "reindex", NULL, "rebuild catalog.db from the archives", reindex_opts, cli_cmd_reindex, 0 },
    { "healthcheck", NULL, "probe a running server's /readyz (exit 0 when ready)", health_opts, cli_cmd_healthcheck, 0 },
    { "config", "check [FILE]", "validate a config file (unknown keys are errors)", config_opts, cli_cmd_config, 2 },
    { "offsite sync", NULL, "copy every snapshot not yet offsite to the S3 store", none_opts, cli_cmd_offsite_sync, 0 },
    { "offsite status", NULL, "offsite settings, counts per state, failures", none_opts, cli_cmd_offsite_status, 0 },
    { "offsite list", NULL, "the archives in the S3 store, with their SHA-256", none_opts, cli_cmd_offsite_list, 0 },
    { "offsite fetch", "NAME", "bring a snapshot's archive back from the S3 store", name_opts, cli_cmd_offsite_fetch, 0 },
    { "completion", "bash|zsh", "print the shell completion script (source it, or install it)", none_opts, cli_cmd_completion, 0 },
    { "help", "[COMMAND [SUB]]", "show the help of statesnap, a command or a command group", help_opts, cli_cmd_help, 2 },
    { "version", NULL, "print the version", none_opts, cli_cmd_version, 0 },
    { NULL, NULL, NULL, NULL, NULL, 0 },
};

int cli_cmd_version(struct cli_ctx *c)
{
    if (c->json) {
        json_t *doc = json_pack("{s:s}", "version", STATESNAP_VERSION);
        int rc = doc != NULL ? cli_print_json(c, doc) : 1;
        json_decref(doc);
        return rc;
    }
    printf("statesnap %s\n", STATESNAP_VERSION);
    return 0;
}

int cli_begin(struct cli_globals *g, int argc, char **argv)
{
    if (cli_globals_parse(g, argc, argv) != 0)
        return CLI_EXIT_USAGE;
    if (g->version) {
        printf("statesnap %s\n", STATESNAP_VERSION);
        return CLI_EXIT_OK;
    }
    if (g->n == 0) {
        if (g->help) {
            cli_help_usage(cli_commands, 1);
            return CLI_EXIT_OK;
        }
        struct cli_ctx c;
        memset(&c, 0, sizeof(c));
        c.json = g->json;
        return cli_usage_message(&c, "no command given (see statesnap --help)");
    }
    return -1;
}

int cli_startup_error(int json, const struct err *e)
{
    struct cli_ctx c;

    memset(&c, 0, sizeof(c));
    c.json = json;
    (void)cli_fail(&c, e);
    return CLI_EXIT_USAGE;
}

/* The command argv names: one word, or a group's two ("offsite sync").
 * Returns it with *used set to the words it took, or NULL with the reason
 * reported and *rc set (a group's --help prints the group's page, rc 0). */
static const struct cli_cmd *find_command(struct cli_ctx *c, int argc, char **argv, int *used,
                                          int *rc)
{
    char msg[512], names[128];

    *used = 1;
    for (const struct cli_cmd *k = cli_commands; k->name; k++)
        if (strcmp(k->name, argv[0]) == 0)
            return k;
    if (!cli_is_group(cli_commands, argv[0])) {
        (void)snprintf(msg, sizeof(msg), "unknown command \"%s\" (see statesnap --help)", argv[0]);
    } else if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        *rc = cli_help_group(cli_commands, argv[0]) == 0 ? CLI_EXIT_OK : CLI_EXIT_USAGE;
        return NULL;
    } else {
        size_t n0 = strlen(argv[0]);
        for (const struct cli_cmd *k = cli_commands; argc > 1 && k->name; k++)
            if (strncmp(k->name, argv[0], n0) == 0 && k->name[n0] == ' ' &&
                strcmp(k->name + n0 + 1, argv[1]) == 0) {
                *used = 2;
                return k;
            }
        cli_help_group_names(cli_commands, argv[0], names, sizeof(names));
        if (argc > 1)
            (void)snprintf(msg, sizeof(msg), "%s: unknown subcommand \"%s\" (%s; see statesnap %s "
                         "--help)", argv[0], argv[1], names, argv[0]);
        else
            (void)snprintf(msg, sizeof(msg), "%s: which subcommand? (%s; see statesnap %s --help)",
                         argv[0], names, argv[0]);
    }
    /* A word too long for the message is cut; the rest still says what is wrong. */
    *rc = cli_usage_message(c, msg);
    return NULL;
}

int cli_main(struct config *cfg, const struct cli_globals *g)
{
    const struct cli_cmd *cmd;
    struct cli_ctx c;
    int help = 0, rc = 0, used, argc = g->n;
    char **argv = g->rest, why[400];

    memset(&c, 0, sizeof(c));
    c.cfg = cfg;
    c.table = cli_commands;
    c.json = g->json;
    c.root_flag = g->root != NULL;
    c.store_flag = g->store != NULL;
    if ((cmd = find_command(&c, argc, argv, &used, &rc)) == NULL)
        return rc;
    c.cmd = cmd;
    argc -= used - 1;
    argv += used - 1;
    if (cli_args_parse(cmd->name, cmd->opts, cmd->max_pos ? (size_t)cmd->max_pos : 1, argc, argv,
                       &c.args, &help, why, sizeof(why)) != 0)
        return cli_usage_error(&c, "%s", why);
    if (help) {
        cli_help_command(cmd, 1);
        return 0;
    }
    rc = cmd->run(&c);
    if (fflush(stdout) != 0 && rc == 0)
        rc = 1;
    return rc;
}
