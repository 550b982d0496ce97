/* main.c - statesnap's entry point and composition root: the CLI's global
 * options, the config, the engine's event-sink table, then the CLI or the server. */
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../alerts/alerts.h"
#include "../conf/config.h"
#include "log.h"
#include "offsite_job.h"
#include "serve.h"
#include "../cli/cli.h"

/* Who hears the engine's events, fixed before any thread starts: alerts
 * (when configured), then, for the server, the offsite syncer's wake-up
 * after a create. Points cfg->engine at the table. Returns 0 or -1 with *e. */
static int sinks_build(struct config *cfg, int serving, struct err *e)
{
    static struct engine_sinks sinks;

    memset(&sinks, 0, sizeof(sinks));
    if (cfg->alerts != NULL && engine_sinks_add(&sinks, alerts_event_sink, NULL, e) != 0)
        return -1;
    if (serving && cfg->offsite != NULL &&
        engine_sinks_add(&sinks, offsite_job_event_sink, NULL, e) != 0)
        return -1;
    cfg->engine.sinks = &sinks;
    return 0;
}

/* The global options are the CLI's (cli_begin); then the config, then serve
 * or one CLI command. */
int main(int argc, char **argv)
{
    struct cli_globals g;
    struct config cfg;
    struct err e = { 0 };
    int rc;

    /* A fixed mmap threshold: glibc otherwise raises it after each large
     * free (a manifest's text, zlib's state), and the large blocks after
     * that come from the heap, whose holes stay resident when freed. A
     * repeat create of 100,000 files peaks 18 MB higher without it. */
    (void)mallopt(M_MMAP_THRESHOLD, 128 * 1024);
    /* A closed pipe is an error to report, not a reason to die silently. */
    signal(SIGPIPE, SIG_IGN);
    /* With TZ unset, glibc's mktime stats /etc/localtime on every call, and
     * libzip converts every entry's time with it: one syscall per file of a
     * snapshot. Naming the same zone explicitly reads it once. Set before
     * any thread starts. */
    if (getenv("TZ") == NULL)
        setenv("TZ", ":/etc/localtime", 0);
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
    if (sinks_build(&cfg, strcmp(g.rest[0], "serve") == 0, &e) != 0) {
        rc = cli_startup_error(g.json, &e);
    } else if (strcmp(g.rest[0], "serve") == 0) {
        serve_tune_malloc(argv);
        rc = serve_main(&cfg, g.n - 1, g.rest + 1);
    } else if (alerts_start(cfg.alerts, 0, log_event, &e) != 0) {
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
