/* main.c - statesnap's entry point: the CLI's global options, the config, then
 * the CLI or the server. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alerts.h"
#include "config.h"
#include "serve.h"
#include "../cli/cli.h"

/* The global options are the CLI's (cli_begin); then the config, then serve
 * or one CLI command. */
int main(int argc, char **argv)
{
    struct cli_globals g;
    struct config cfg;
    struct err e = { 0 };
    int rc;

    /* A closed pipe is an error to report, not a reason to die silently. */
    signal(SIGPIPE, SIG_IGN);
    if ((rc = cli_begin(&g, argc, argv)) >= 0) {
        cli_globals_free(&g);
        return rc;
    }
    if (config_load(&cfg, g.config_path, &e) != 0 ||
        (g.root && config_set_string(&cfg.root, g.root, &e) != 0) ||
        (g.store && config_set_string(&cfg.store, g.store, &e) != 0)) {
        rc = cli_startup_error(g.json, &e);
        config_free(&cfg);
        cli_globals_free(&g);
        return rc;
    }
    config_sync_engine(&cfg);
    if (strcmp(g.rest[0], "serve") == 0) {
        serve_tune_malloc(argv);
        rc = serve_main(&cfg, g.n - 1, g.rest + 1);
    } else if (alerts_start(&cfg, 0, &e) != 0) {
        /* A CLI restore alerts like the server's; a bad "alerts" config is a config error. */
        rc = cli_startup_error(g.json, &e);
    } else {
        rc = cli_main(&cfg, &g);
        (void)alerts_drain(ALERTS_CLI_DRAIN_MS);
        alerts_stop();
    }
    config_free(&cfg);
    cli_globals_free(&g);
    return rc;
}
