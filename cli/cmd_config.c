/* cmd_config.c - config check: validate a config file as serve would load it. */
#include "cmd.h"

#include <stdio.h>
#include <string.h>

#include "format.h"

int cli_cmd_config(struct cli_ctx *c)
{
    struct config other;
    struct err e = { 0 };
    const char *file = NULL;

    const char *byopt = cli_opt(c, "file"), *pos = c->args.n_pos > 1 ? c->args.pos[1] : NULL;

    /* "config check [FILE]" or "config check --file FILE": FILE, else the
     * --config already loaded. */
    if (c->args.positional == NULL || strcmp(c->args.positional, "check") != 0)
        return cli_usage_error(c, "config: the subcommand is \"check\" (statesnap config check [FILE])%s", "");
    if (byopt != NULL && pos != NULL && strcmp(byopt, pos) != 0)
        return cli_usage_error(c, "config check: give the file once (FILE or --file FILE)%s", "");
    file = byopt ? byopt : pos ? pos : c->cfg->path;
    if (file == NULL)
        return cli_usage_error(c, "config check: which file? (config check FILE, --file FILE or --config FILE)%s", "");
    if (config_load(&other, file, &e) != 0) {
        config_free(&other);
        return cli_fail(c, &e);
    }
    config_free(&other);
    if (c->json) {
        json_t *doc = json_pack("{s:b,s:s}", "ok", 1, "file", file);
        int rc = doc != NULL ? cli_print_json(c, doc) : 1;
        json_decref(doc);
        return rc;
    }
    printf("OK ");
    format_safe(stdout, file);
    putchar('\n');
    return 0;
}

