/* cmd.h - what every command file of the CLI shares: the command table's
 * shape, the context a command runs with, the helpers for options, errors,
 * exit codes and output, and each command's entry point. */
#ifndef STATESNAP_CLI_CMD_H
#define STATESNAP_CLI_CMD_H

#include <jansson.h>

#include "args.h"
#include "../common/err.h"
#include "../engine/engine.h"
#include "../engine/store.h"
#include "../conf/config.h"

/* Exit codes (README "Exit codes", the --help footer). cli_exit_code() is
 * the one place an error class becomes one of them. */
#define CLI_EXIT_OK 0
#define CLI_EXIT_FAILED 1  /* the operation failed or was refused on its merits */
#define CLI_EXIT_USAGE 2   /* the command line (or the config it names) is wrong */
#define CLI_EXIT_RETRY 11  /* busy or transient: the same command may succeed later */

struct cli_ctx {
    struct config *cfg;
    const struct cli_cmd *table;  /* every command (help and completion print it) */
    const struct cli_cmd *cmd;
    struct cli_args args;
    int json;              /* --json given */
    int root_flag;         /* --root / --store came from the command line */
    int store_flag;
    int printed;           /* a JSON document is already on stdout */
};

struct cli_cmd {
    const char *name;
    const char *positional;   /* placeholder for a positional argument, or NULL */
    const char *summary;
    const struct cli_opt *opts;
    int (*run)(struct cli_ctx *c);
    int max_pos;              /* positionals it takes (0: one when positional is set) */
};

/* The command table (NULL-terminated by name), in cli.c. */
extern const struct cli_cmd cli_commands[];

/* ---- ctx.c: options, errors, output ---- */

/* The exit code for an error class: CLI_EXIT_USAGE for bad input
 * (ERR_INVALID), CLI_EXIT_RETRY for what problem_retryable() calls
 * transient, CLI_EXIT_FAILED for everything else. Cannot fail. */
int cli_exit_code(int err_code);

/* Report e: "statesnap: MSG" on stderr and, with --json and no document
 * printed yet, the API's problem document for it on stdout. Returns
 * cli_exit_code(e->code). */
int cli_fail(struct cli_ctx *c, const struct err *e);

/* A usage error: fmt (one %s, given arg) on stderr with a pointer to --help,
 * and with --json the 400 problem document on stdout. c may be NULL (no
 * JSON). Returns CLI_EXIT_USAGE. */
int cli_usage_error(struct cli_ctx *c, const char *fmt, const char *arg);

/* A usage error already worded: "statesnap: MSG" (escaped) on stderr and,
 * with --json, the 400 problem document on stdout. c may be NULL.
 * Returns CLI_EXIT_USAGE. */
int cli_usage_message(struct cli_ctx *c, const char *msg);

/* Print doc as indented JSON on stdout and note that it was printed.
 * Returns 0, or 1 when out of memory. */
int cli_print_json(struct cli_ctx *c, const json_t *doc);

/* The value of option name, NULL when not given (or a flag). Cannot fail. */
const char *cli_opt(const struct cli_ctx *c, const char *name);

/* 1 when option name was given. Cannot fail. */
int cli_flag(const struct cli_ctx *c, const char *name);

/* NAME from --name or the positional argument; both is an error, neither
 * is one when required. Returns the name (borrowed), or NULL with *bad set
 * to the exit code (0 when no name was given and none is required). */
const char *cli_target_name(struct cli_ctx *c, int required, int *bad);

/* Open the configured store (create it when create). Returns 0, or the
 * exit code with the reason reported. The caller closes *s. */
int cli_open_store(struct cli_ctx *c, int create, struct store **s);

/* Rewrite snap's store-relative "location" to a path from the working
 * directory; leaves it when it does not fit. Cannot fail. */
void cli_locate_archive(const struct cli_ctx *c, json_t *snap);

/* Parse a page size 1..1000 into *out. Returns 0, or -1 when s is not one. */
int cli_parse_size(const char *s, size_t *out);

/* ---- the commands: each returns the process's exit code ---- */
int cli_cmd_init(struct cli_ctx *c);        /* cmd_store.c */
int cli_cmd_export(struct cli_ctx *c);
int cli_cmd_import(struct cli_ctx *c);
int cli_cmd_reindex(struct cli_ctx *c);
int cli_cmd_create(struct cli_ctx *c);      /* cmd_snapshot.c */
int cli_cmd_list(struct cli_ctx *c);
int cli_cmd_show(struct cli_ctx *c);
int cli_cmd_delete(struct cli_ctx *c);
int cli_cmd_pin(struct cli_ctx *c);
int cli_cmd_unpin(struct cli_ctx *c);
int cli_cmd_verify(struct cli_ctx *c);      /* cmd_verify.c */
int cli_cmd_drill(struct cli_ctx *c);
int cli_cmd_diff(struct cli_ctx *c);        /* cmd_diff.c */
int cli_cmd_restore(struct cli_ctx *c);     /* cmd_restore.c */
int cli_cmd_prune(struct cli_ctx *c);       /* cmd_audit.c */
int cli_cmd_audit(struct cli_ctx *c);
int cli_cmd_healthcheck(struct cli_ctx *c); /* healthcheck.c */
int cli_cmd_config(struct cli_ctx *c);      /* cmd_config.c */
int cli_cmd_offsite_sync(struct cli_ctx *c);   /* cmd_offsite.c */
int cli_cmd_offsite_status(struct cli_ctx *c);
int cli_cmd_offsite_list(struct cli_ctx *c);
int cli_cmd_offsite_fetch(struct cli_ctx *c);
int cli_cmd_reindex_offsite(struct cli_ctx *c);
int cli_cmd_completion(struct cli_ctx *c);  /* completion.c */
int cli_cmd_help(struct cli_ctx *c);        /* help.c */
int cli_cmd_version(struct cli_ctx *c);

/* Restore of a snapshot whose archive is only offsite: fetch and verify it
 * first (cmd_offsite.c). Returns 0 (also when no offsite store is
 * configured), or the exit code with the reason reported. */
int cli_offsite_fetch_missing(struct cli_ctx *c, struct store *s, const char *name);

/* ---- help.c: help pages from the tables ---- */

/* The overall usage page of table (to stdout when ok, stderr otherwise).
 * Cannot fail. */
void cli_help_usage(const struct cli_cmd *table, int ok);

/* cmd's page on stdout, with the global options when globals. Cannot fail. */
void cli_help_command(const struct cli_cmd *cmd, int globals);

/* The page of a group of two-word commands ("offsite") on stdout.
 * Returns 0, or -1 when group names none. */
int cli_help_group(const struct cli_cmd *table, const char *group);

/* The subcommands of group as "sync, status, list, fetch" into buf (len
 * bytes, always terminated, cut short when it does not fit). Cannot fail. */
void cli_help_group_names(const struct cli_cmd *table, const char *group, char *buf, size_t len);

/* 1 when word is the first word of two-word commands in table ("offsite"),
 * else 0. Cannot fail. */
int cli_is_group(const struct cli_cmd *table, const char *word);

#endif
