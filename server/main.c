/* main.c - statesnap's entry point and composition root: global options,
 * the config, the engine's event-sink table, then the CLI or the server. */
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
#include "../cli/format.h"

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

/* Take the global options out of argv wherever they are (before or after
 * the command), leaving the command and its own options in place. */
int main(int argc, char **argv)
{
    const char *config_path = NULL, *root = NULL, *store = NULL;
    char **rest = calloc((size_t)argc + 1, sizeof(char *));
    int n = 0, json = 0, help = 0, rc;
    struct config cfg;
    struct err e = { 0 };

    if (rest == NULL)
        return 1;
    /* A closed pipe is an error to report, not a reason to die silently. */
    signal(SIGPIPE, SIG_IGN);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char **slot = strcmp(a, "--config") == 0 ? &config_path
                            : strcmp(a, "--root") == 0 ? &root
                            : strcmp(a, "--store") == 0 ? &store : NULL;
        if (slot != NULL) {
            if (i + 1 >= argc) {
                fprintf(stderr, "statesnap: option %s needs a value (see statesnap --help)\n", a);
                free(rest);
                return 2;
            }
            *slot = argv[++i];
            continue;
        }
        if (strncmp(a, "--config=", 9) == 0) {
            config_path = a + 9;
            continue;
        }
        if (strncmp(a, "--root=", 7) == 0) {
            root = a + 7;
            continue;
        }
        if (strncmp(a, "--store=", 8) == 0) {
            store = a + 8;
            continue;
        }
        if (strcmp(a, "--json") == 0) {
            json = 1;
            continue;
        }
        if (n == 0 && (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)) {
            help = 1;
            continue;
        }
        if (n == 0 && strcmp(a, "--version") == 0) {
            printf("statesnap %s\n", STATESNAP_VERSION);
            free(rest);
            return 0;
        }
        rest[n++] = argv[i];
    }
    if (n == 0) {
        if (help)
            cli_usage(1);
        else
            fprintf(stderr, "statesnap: no command given (see statesnap --help)\n");
        free(rest);
        return help ? 0 : 2;
    }
    if (help) {
        /* "statesnap --help create" reads as "statesnap create --help". */
        rest[n++] = "--help";
    }
    if (config_load(&cfg, config_path, &e) != 0 ||
        (root && config_set_string(&cfg.root, root, &e) != 0) ||
        (store && config_set_string(&cfg.store, store, &e) != 0)) {
        fprintf(stderr, "statesnap: ");
        format_safe(stderr, e.msg);
        fputc('\n', stderr);
        config_free(&cfg);
        free(rest);
        return 2;
    }
    config_sync_engine(&cfg);
    if (sinks_build(&cfg, strcmp(rest[0], "serve") == 0, &e) != 0) {
        fprintf(stderr, "statesnap: %s\n", e.msg);
        rc = 1;
    } else if (strcmp(rest[0], "serve") == 0) {
        serve_tune_malloc(argv);
        rc = serve_main(&cfg, n - 1, rest + 1);
    } else if (alerts_start(cfg.alerts, 0, log_event, &e) != 0) {
        /* A CLI restore alerts like the server's; a bad "alerts" config is a config error. */
        fprintf(stderr, "statesnap: ");
        format_safe(stderr, e.msg);
        fputc('\n', stderr);
        rc = 2;
    } else {
        rc = cli_main(&cfg, json, root != NULL, store != NULL, n, rest);
        (void)alerts_drain(ALERTS_CLI_DRAIN_MS);
        alerts_stop();
    }
    config_free(&cfg);
    free(rest);
    return rc;
}
