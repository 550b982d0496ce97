/* ctx.c - what every CLI command reports through: the one mapping from error
 * classes to exit codes, error messages (and their --json problem documents),
 * JSON output, and the store and name helpers commands share. */
#include "cmd.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format.h"
#include "../common/fsutil.h"
#include "../common/problem.h"

/* The exit-code rule (README "Exit codes"): 2 when what was typed is wrong
 * (a flag, a name, a config value: fix the command), 11 when the same
 * command may succeed later unchanged (the store or catalog is busy, the
 * state kept changing, the state root is not there yet: the classes the API
 * answers with Retry-After), 1 for every other failure or refusal on the
 * merits (verify failed, not found, pinned, a limit such as max_files or
 * max_unpacked_bytes exceeded, a running bot without --while-running). */
int cli_exit_code(int code)
{
    if (code == ERR_INVALID)
        return CLI_EXIT_USAGE;
    if (problem_retryable(code))
        return CLI_EXIT_RETRY;
    return CLI_EXIT_FAILED;
}

/* With --json and nothing on stdout yet, the problem document for e. */
static void print_problem(struct cli_ctx *c, const struct err *e)
{
    json_t *doc;

    if (c == NULL || !c->json || c->printed)
        return;
    if ((doc = problem_doc_for_err(e)) != NULL) {
        (void)cli_print_json(c, doc);
        json_decref(doc);
    }
}

int cli_fail(struct cli_ctx *c, const struct err *e)
{
    fprintf(stderr, "statesnap: ");
    format_safe(stderr, e->msg[0] ? e->msg : "failed");
    fputc('\n', stderr);
    print_problem(c, e);
    return cli_exit_code(e->code);
}

int cli_usage_message(struct cli_ctx *c, const char *msg)
{
    struct err e = { 0 };

    /* msg may echo what was typed: escaped like every other echo to a terminal. */
    fprintf(stderr, "statesnap: ");
    format_safe(stderr, msg);
    fputc('\n', stderr);
    err_set(&e, ERR_INVALID, "%s", msg);
    print_problem(c, &e);
    return CLI_EXIT_USAGE;
}

int cli_usage_error(struct cli_ctx *c, const char *fmt, const char *arg)
{
    char msg[400], full[512];

    /* fmt is always one of the CLI's own literals with one %s. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
    (void)snprintf(msg, sizeof(msg), fmt, arg);
#pragma GCC diagnostic pop
    if (c != NULL && c->cmd != NULL)
        (void)snprintf(full, sizeof(full), "%s (see statesnap %s --help)", msg, c->cmd->name);
    else
        (void)snprintf(full, sizeof(full), "%s (see statesnap --help)", msg);
    return cli_usage_message(c, full);
}

int cli_print_json(struct cli_ctx *c, const json_t *doc)
{
    /* 15 significant digits: 572.46 prints as 572.46, not 572.46000000000004. */
    char *s = json_dumps(doc, JSON_INDENT(2) | JSON_SORT_KEYS | JSON_REAL_PRECISION(15));

    if (s == NULL)
        return 1;
    puts(s);
    free(s);
    if (c != NULL)
        c->printed = 1;
    return 0;
}

const char *cli_opt(const struct cli_ctx *c, const char *name)
{
    int i = cli_opt_find(c->cmd->opts, name);

    return i >= 0 && c->args.set[i] ? c->args.val[i] : NULL;
}

int cli_flag(const struct cli_ctx *c, const char *name)
{
    int i = cli_opt_find(c->cmd->opts, name);

    return i >= 0 && c->args.set[i];
}

const char *cli_target_name(struct cli_ctx *c, int required, int *bad)
{
    const char *byopt = cli_opt(c, "name"), *pos = c->args.positional;

    *bad = 0;
    if (byopt && pos && strcmp(byopt, pos) != 0) {
        *bad = cli_usage_error(c, "%s: give the name once (NAME or --name NAME)", c->cmd->name);
        return NULL;
    }
    if (byopt == NULL && pos == NULL && required) {
        *bad = cli_usage_error(c, "%s: which snapshot? (NAME or --name NAME)", c->cmd->name);
        return NULL;
    }
    return byopt ? byopt : pos;
}

int cli_open_store(struct cli_ctx *c, int create, struct store **s)
{
    struct err e = { 0 };

    if (store_open(s, &c->cfg->engine, create, &e) != 0)
        return cli_fail(c, &e);
    return 0;
}

/* The engine names an archive relative to the store; the CLI runs beside
 * the store, so its own output shows where the file is. */
void cli_locate_archive(const struct cli_ctx *c, json_t *snap)
{
    const char *loc = json_string_value(json_object_get(snap, "location"));
    char path[PATH_MAX];

    if (loc == NULL || *loc == '\0' || *loc == '/' ||
        fs_join(path, sizeof(path), c->cfg->store, loc, NULL) != 0)
        return;
    json_object_set_new(snap, "location", json_string(path));
}

int cli_parse_size(const char *s, size_t *out)
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
