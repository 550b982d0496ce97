/* args.h - the CLI's option tables and its one argument parser: every help
 * page, the shell completions and the man page are printed from these tables,
 * so what the parser accepts and what is documented cannot drift. */
#ifndef STATESNAP_CLI_ARGS_H
#define STATESNAP_CLI_ARGS_H

#include <stddef.h>

#define CLI_MAX_OPTS 16
#define CLI_MAX_REPEAT 64
#define CLI_MAX_POSITIONAL 4

struct cli_opt {
    const char *name;      /* long option without "--" */
    const char *arg;       /* argument placeholder, NULL for a flag */
    int repeat;            /* may be given more than once */
    const char *help;
};

/* Parsed arguments of one command. Values are borrowed from argv. */
struct cli_args {
    const char *val[CLI_MAX_OPTS];
    int set[CLI_MAX_OPTS];
    const char *multi[CLI_MAX_OPTS][CLI_MAX_REPEAT];
    size_t n_multi[CLI_MAX_OPTS];
    const char *positional;                  /* the first positional, or NULL */
    const char *pos[CLI_MAX_POSITIONAL];     /* every positional, pos[0] == positional */
    size_t n_pos;
};

/* The global options, before or after the command, as cli_globals_parse
 * found them. Strings are borrowed from argv. */
struct cli_globals {
    const char *config_path;
    const char *root;
    const char *store;
    int json;
    int help;              /* --help / -h before the command */
    int version;           /* --version / -V anywhere before "--" */
    char **rest;           /* the command and its own arguments (owned: cli_globals_free) */
    int n;
};

/* Option tables, one per command (their names are what cli_commands[] in
 * cli.c points at), and the global options. Each ends with a NULL name. */
extern const struct cli_opt cli_global_opts[];
extern const struct cli_opt cli_serve_opts[];    /* statesnap serve's, parsed in server/serve.c */
extern const struct cli_opt create_opts[];
extern const struct cli_opt list_opts[];
extern const struct cli_opt name_opts[];
extern const struct cli_opt verify_opts[];
extern const struct cli_opt drill_opts_tbl[];
extern const struct cli_opt diff_opts[];
extern const struct cli_opt restore_opts_tbl[];
extern const struct cli_opt delete_opts[];
extern const struct cli_opt pin_opts[];
extern const struct cli_opt export_opts[];
extern const struct cli_opt prune_opts[];
extern const struct cli_opt audit_opts[];
extern const struct cli_opt health_opts[];
extern const struct cli_opt config_opts[];
extern const struct cli_opt reindex_opts[];
extern const struct cli_opt help_opts[];
extern const struct cli_opt import_opts[];
extern const struct cli_opt none_opts[];

/* The one-letter spelling of a global option ('h' for help, 'V' for
 * version), or 0. Cannot fail. */
char cli_global_short(const char *name);

/* Index of option name in the NULL-terminated table opts, or -1. Cannot fail. */
int cli_opt_find(const struct cli_opt *opts, const char *name);

/* Parse argv[1..argc) against opts into a: "--name value", "--name=value",
 * flags, repeatable options, up to max_pos positionals, and "--" ending the
 * options (everything after it is positional). Sets *help on --help / -h and
 * stops there. cmd_name is used in messages. Returns 0, or -1 with the
 * reason worded into why (whylen bytes, cut short when long; the words typed
 * are not escaped: the caller reports it). */
int cli_args_parse(const char *cmd_name, const struct cli_opt *opts, size_t max_pos, int argc,
                   char **argv, struct cli_args *a, int *help, char *why, size_t whylen);

/* Take the global options out of argv wherever they are (before or after the
 * command, up to a "--"), leaving the command and its own arguments in
 * g->rest (with "--help" appended for "statesnap --help COMMAND"). Returns 0,
 * or -1 with the reason on stderr (a global option without its value, out of
 * memory). g->rest is owned by g either way: cli_globals_free. */
int cli_globals_parse(struct cli_globals *g, int argc, char **argv);

/* Free what cli_globals_parse allocated. Accepts a zeroed g. Cannot fail. */
void cli_globals_free(struct cli_globals *g);

#endif
