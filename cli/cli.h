/* cli.h - the command-line front: one table of commands and their options. */
#ifndef STATESNAP_CLI_H
#define STATESNAP_CLI_H

#include <stddef.h>

#include "../conf/config.h"

#define CLI_MAX_OPTS 16
#define CLI_MAX_REPEAT 64

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
    const char *positional;
};

struct cli_ctx {
    struct config *cfg;
    const struct cli_cmd *cmd;
    struct cli_args args;
    int json;              /* --json given */
    int root_flag;         /* --root / --store came from the command line */
    int store_flag;
};

struct cli_cmd {
    const char *name;
    const char *positional;   /* placeholder for a positional argument, or NULL */
    const char *summary;
    const struct cli_opt *opts;
    int (*run)(struct cli_ctx *c);
};

/* The command table (NULL-terminated by name). */
extern const struct cli_cmd cli_commands[];

/* Global options every command takes (documented once). */
extern const struct cli_opt cli_global_opts[];

/* Run a command: argv[0] is the command name. Returns the exit code. */
int cli_main(struct config *cfg, int json, int root_flag, int store_flag, int argc, char **argv);

/* Print the overall usage (to stdout when ok, stderr otherwise). */
void cli_usage(int ok);

/* Exit code for an error class: 2 for bad input, 1 otherwise. Cannot fail. */
int cli_exit_code(int err_code);

/* Index of option name in cmd's table, or -1. */
int cli_opt_index(const struct cli_cmd *cmd, const char *name);

#endif
