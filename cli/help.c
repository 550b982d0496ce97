/* help.c - the CLI's help pages (statesnap --help, COMMAND --help, a group's
 * page, help --all), printed from the command and option tables. */
#include "cmd.h"
#include "cli.h"

#include <stdio.h>
#include <string.h>

#define HELP_OPT_COL 24

/* One row of the exit-code table (README "Exit codes"). */
static const struct {
    int code;
    const char *meaning;
} exit_rows[] = {
    { CLI_EXIT_OK, "ok" },
    { CLI_EXIT_FAILED, "failed, or refused on its merits (verify failed, not found, a limit)" },
    { CLI_EXIT_USAGE, "usage: a wrong command, option, snapshot name or config value" },
    { CLI_EXIT_RETRY, "retry later: store busy, state kept changing, state root not there yet" },
};

static size_t opt_width(const struct cli_opt *o)
{
    size_t w = 2 + strlen(o->name) + (o->arg ? 1 + strlen(o->arg) : 0);

    return w;
}

static size_t opts_col(const struct cli_opt *a, const struct cli_opt *b)
{
    size_t col = HELP_OPT_COL;

    for (const struct cli_opt *o = a; o && o->name; o++)
        if (opt_width(o) + 5 > col)
            col = opt_width(o) + 5;
    for (const struct cli_opt *o = b; o && o->name; o++)
        if (opt_width(o) + 5 > col)
            col = opt_width(o) + 5;
    return col;
}

static void print_opts(FILE *f, const struct cli_opt *o, size_t col, int globals)
{
    for (; o->name; o++) {
        char left[96];
        char sh = globals ? cli_global_short(o->name) : 0;
        if (sh)
            snprintf(left, sizeof(left), "--%s, -%c", o->name, sh);
        else
            snprintf(left, sizeof(left), "--%s%s%s", o->name, o->arg ? " " : "",
                     o->arg ? o->arg : "");
        fprintf(f, "  %-*s %s%s\n", (int)col, left, o->help, o->repeat ? " (repeatable)" : "");
    }
}

static size_t command_col(const struct cli_cmd *table)
{
    size_t col = strlen("serve");

    for (const struct cli_cmd *c = table; c->name; c++)
        if (strlen(c->name) > col)
            col = strlen(c->name);
    return col + 2;
}

void cli_help_usage(const struct cli_cmd *table, int ok)
{
    FILE *f = ok ? stdout : stderr;
    int col = (int)command_col(table);

    fprintf(f, "usage: statesnap [--config FILE] [--root DIR] [--store DIR] [--json] COMMAND "
               "[options]\n\nCommands:\n");
    for (const struct cli_cmd *c = table; c->name; c++)
        fprintf(f, "  %-*s %s\n", col, c->name, c->summary);
    fprintf(f, "  %-*s %s\n", col, "serve", "run the HTTP API and dashboard");
    fprintf(f, "\nGlobal options:\n");
    print_opts(f, cli_global_opts, opts_col(cli_global_opts, NULL), 1);
    fprintf(f, "\nExit codes:\n");
    for (size_t i = 0; i < sizeof(exit_rows) / sizeof(exit_rows[0]); i++)
        fprintf(f, "  %-4d %s\n", exit_rows[i].code, exit_rows[i].meaning);
    fprintf(f, "\nstatesnap help COMMAND (or statesnap COMMAND --help) shows a command's options.\n");
}

void cli_help_command(const struct cli_cmd *cmd, int globals)
{
    size_t col = opts_col(cmd->opts, cli_global_opts);

    printf("usage: statesnap %s%s%s [options]\n\n%s\n\nOptions:\n", cmd->name,
           cmd->positional ? " " : "", cmd->positional ? cmd->positional : "", cmd->summary);
    if (cmd->opts[0].name == NULL)
        printf("  (none)\n");
    print_opts(stdout, cmd->opts, col, 0);
    if (globals) {
        printf("\nGlobal options:\n");
        print_opts(stdout, cli_global_opts, col, 1);
    }
}

void cli_help_serve(FILE *f)
{
    fprintf(f, "usage: statesnap serve [options]\n\n"
               "Serves the HTTP API (/api/v1), the dashboard (/), /healthz, /readyz and /metrics.\n"
               "Stops on SIGTERM or SIGINT after finishing the requests in flight.\n\nOptions:\n");
    print_opts(f, cli_serve_opts, opts_col(cli_serve_opts, cli_global_opts), 0);
    fprintf(f, "\nGlobal options:\n");
    print_opts(f, cli_global_opts, opts_col(cli_serve_opts, cli_global_opts), 1);
}

/* The subcommand word of a two-word command in group, or NULL. */
static const char *sub_of(const struct cli_cmd *c, const char *group)
{
    size_t n = strlen(group);

    return strncmp(c->name, group, n) == 0 && c->name[n] == ' ' ? c->name + n + 1 : NULL;
}

int cli_is_group(const struct cli_cmd *table, const char *word)
{
    for (const struct cli_cmd *c = table; c->name; c++)
        if (sub_of(c, word) != NULL)
            return 1;
    return 0;
}

void cli_help_group_names(const struct cli_cmd *table, const char *group, char *buf, size_t len)
{
    size_t used = 0;

    if (len == 0)
        return;
    buf[0] = '\0';
    for (const struct cli_cmd *c = table; c->name; c++) {
        const char *sub = sub_of(c, group);
        int n;
        if (sub == NULL)
            continue;
        n = snprintf(buf + used, len - used, "%s%s", used ? ", " : "", sub);
        if (n < 0 || (size_t)n >= len - used)
            return;
        used += (size_t)n;
    }
}

int cli_help_group(const struct cli_cmd *table, const char *group)
{
    size_t col = 0;
    char left[64];

    if (!cli_is_group(table, group))
        return -1;
    for (const struct cli_cmd *c = table; c->name; c++)
        if (sub_of(c, group) != NULL) {
            size_t w = strlen(sub_of(c, group)) + (c->positional ? 1 + strlen(c->positional) : 0);
            col = w > col ? w : col;
        }
    printf("usage: statesnap %s SUBCOMMAND [options]\n\nSubcommands:\n", group);
    for (const struct cli_cmd *c = table; c->name; c++) {
        const char *sub = sub_of(c, group);
        if (sub == NULL)
            continue;
        snprintf(left, sizeof(left), "%s%s%s", sub, c->positional ? " " : "",
                 c->positional ? c->positional : "");
        printf("  %-*s %s\n", (int)col + 2, left, c->summary);
    }
    printf("\nstatesnap %s SUBCOMMAND --help shows a subcommand's options.\n\nGlobal options:\n",
           group);
    print_opts(stdout, cli_global_opts, opts_col(cli_global_opts, NULL), 1);
    return 0;
}

/* help [COMMAND [SUB]] and help --all. */
int cli_cmd_help(struct cli_ctx *c)
{
    const struct cli_args *a = &c->args;
    char name[128];

    if (cli_flag(c, "all")) {
        if (a->n_pos > 0)
            return cli_usage_error(c, "help: give COMMAND or --all%s", "");
        for (const struct cli_cmd *k = c->table; k->name; k++) {
            printf("%s", k == c->table ? "" : "\n");
            cli_help_command(k, 0);
        }
        printf("\n");
        cli_help_serve(stdout);
        return 0;
    }
    if (a->n_pos == 0) {
        cli_help_usage(c->table, 1);
        return 0;
    }
    if (snprintf(name, sizeof(name), "%s%s%s", a->pos[0], a->n_pos > 1 ? " " : "",
                 a->n_pos > 1 ? a->pos[1] : "") >= (int)sizeof(name))
        return cli_usage_error(c, "help: no command \"%.64s\"", a->pos[0]);
    if (strcmp(name, "serve") == 0) {
        cli_help_serve(stdout);
        return 0;
    }
    for (const struct cli_cmd *k = c->table; k->name; k++)
        if (strcmp(k->name, name) == 0) {
            cli_help_command(k, 1);
            return 0;
        }
    if (a->n_pos == 1 && cli_help_group(c->table, name) == 0)
        return 0;
    return cli_usage_error(c, "help: no command \"%s\"", name);
}
