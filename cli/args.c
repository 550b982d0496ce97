/* args.c - the CLI's option tables (one per command, plus the global options)
 * and the one parser over them. */
#include "args.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>


const struct cli_opt cli_global_opts[] = {
    { "config", "FILE", 0, "config file (default ./statesnap.json if present)" },
    { "root", "DIR", 0, "the trading bot's state root" },
    { "store", "DIR", 0, "where snapshots are kept (default ./snapshots)" },
    { "json", NULL, 0, "print the result as JSON (the API's document; errors as its problem document)" },
    { "help", NULL, 0, "show help" },
    { "version", NULL, 0, "print the version and exit" },
    { NULL, NULL, 0, NULL },
};

/* statesnap serve's options: server/serve.c parses with this table, and
 * help, completion and the man page print from it. */
const struct cli_opt cli_serve_opts[] = {
    { "listen", "ADDR:PORT", 0, "where to listen (default the config's listen, 127.0.0.1:8080; "
                                "port 0 picks a free port)" },
    { "tls-cert", "FILE", 0, "serve HTTPS with this PEM certificate (with --tls-key)" },
    { "tls-key", "FILE", 0, "the certificate's PEM private key" },
    { "port-file", "PATH", 0, "write the port here once listening" },
    { "static-dir", "DIR", 0, "the dashboard's files (default static/ found beside the binary)" },
    { NULL, NULL, 0, NULL },
};

const struct cli_opt create_opts[] = {
    { "name", "NAME", 0, "snapshot name (default snap_YYYYMMDDTHHMMSSZ)" },
    { "dotenv", "PATH", 0, ".env to capture masked (default ROOT/.env)" },
    { "label", "K=V", 1, "attach a label" },
    { "pin", NULL, 0, "pin the snapshot (never pruned, delete needs --force)" },
    { "version-tag", "V", 0, "record this version instead of detecting it" },
    { "if-changed", NULL, 0, "write nothing when no captured file changed since the newest snapshot" },
    { NULL, NULL, 0, NULL },
};
const struct cli_opt list_opts[] = {
    { "prefix", "P", 0, "only names starting with P" },
    { "label", "K=V", 0, "only snapshots with this label" },
    { "limit", "N", 0, "page size, 1-1000 (default 50)" },
    { "cursor", "C", 0, "continue after a previous page" },
    { NULL, NULL, 0, NULL },
};
const struct cli_opt name_opts[] = {
    { "name", "NAME", 0, "the snapshot" },
    { NULL, NULL, 0, NULL },
};
const struct cli_opt verify_opts[] = {
    { "name", "NAME", 0, "the snapshot" },
    { "all", NULL, 0, "verify every snapshot" },
    { NULL, NULL, 0, NULL },
};
const struct cli_opt drill_opts_tbl[] = {
    { "name", "NAME", 0, "the snapshot to drill" },
    { "latest", NULL, 0, "drill the newest snapshot" },
    { NULL, NULL, 0, NULL },
};
const struct cli_opt diff_opts[] = {
    { "from", "A", 0, "older snapshot (or live)" },
    { "to", "B", 0, "newer snapshot, or live for the current state root" },
    { NULL, NULL, 0, NULL },
};
const struct cli_opt restore_opts_tbl[] = {
    { "name", "NAME", 0, "the snapshot to restore" },
    { "yes", NULL, 0, "do not ask for confirmation" },
    { "dry-run", NULL, 0, "show what would happen and stop" },
    { "only", "P1,P2", 0, "restore only these archive paths" },
    { "clear-kill-switch", NULL, 0, "remove a KILL_SWITCH the snapshot does not have" },
    { "engage-kill-switch", NULL, 0, "leave state/KILL_SWITCH engaged after the restore" },
    { "while-running", NULL, 0, "go ahead although the bot runs (lock/pid file, quiet period)" },
    { "replace-special", NULL, 0, "replace a symlink, FIFO or empty directory at a target" },
    { "target", "DIR", 0, "restore into a new or empty DIR instead (live root untouched)" },
    { NULL, NULL, 0, NULL },
};
const struct cli_opt delete_opts[] = {
    { "name", "NAME", 0, "the snapshot" },
    { "force", NULL, 0, "delete even when pinned" },
    { NULL, NULL, 0, NULL },
};
const struct cli_opt pin_opts[] = {
    { "name", "NAME", 0, "the snapshot" },
    { NULL, NULL, 0, NULL },
};
const struct cli_opt export_opts[] = {
    { "name", "NAME", 0, "the snapshot" },
    { "out", "FILE", 0, "where to write the zip (default ./NAME.zip)" },
    { NULL, NULL, 0, NULL },
};
const struct cli_opt prune_opts[] = {
    { "dry-run", NULL, 0, "list what would be removed and why the rest is kept; delete nothing" },
    { "keep-last", "N", 0, "keep the N newest (at least 5)" },
    { "keep-daily", "N", 0, "keep the newest of each of the last N days" },
    { "keep-weekly", "N", 0, "keep the newest of each of the last N ISO weeks" },
    { "keep-monthly", "N", 0, "keep the newest of each of the last N months" },
    { "expire-after", "DURATION", 0, "drop day/week/month keeps older than this (e.g. 90d)" },
    { "max-count", "N", 0, "never keep more than N (pinned and keep-last excepted)" },
    { NULL, NULL, 0, NULL },
};
const struct cli_opt audit_opts[] = {
    { "after", "SEQ", 0, "entries after this sequence number" },
    { "limit", "N", 0, "at most N entries, 1-1000 (default 100)" },
    { NULL, NULL, 0, NULL },
};
const struct cli_opt health_opts[] = {
    { "url", "URL", 0, "what to probe (default http://LISTEN/readyz from the config)" },
    { "max-age", "SECONDS", 0, "also fail when the latest snapshot is older than this" },
    { "timeout", "SECONDS", 0, "give up after this long (default 5)" },
    { NULL, NULL, 0, NULL },
};
const struct cli_opt config_opts[] = {
    { "file", "FILE", 0, "the config file to check (default: --config)" },
    { NULL, NULL, 0, NULL },
};
const struct cli_opt reindex_opts[] = {
    { "from-offsite", NULL, 0, "first download every archive the offsite store has and this store lacks" },
    { "allow-unsigned", NULL, 0, "also index archives no trusted key signed (kept marked unsigned/untrusted)" },
    { NULL, NULL, 0, NULL },
};
const struct cli_opt import_opts[] = {
    { "allow-unsigned", NULL, 0, "admit an archive no trusted key signed (kept marked unsigned/untrusted)" },
    { NULL, NULL, 0, NULL },
};
const struct cli_opt none_opts[] = {
    { NULL, NULL, 0, NULL },
};
const struct cli_opt help_opts[] = {
    { "all", NULL, 0, "every command's page, one after another" },
    { NULL, NULL, 0, NULL },
};

char cli_global_short(const char *name)
{
    return strcmp(name, "help") == 0 ? 'h' : strcmp(name, "version") == 0 ? 'V' : 0;
}

int cli_opt_find(const struct cli_opt *opts, const char *name)
{
    for (int i = 0; opts[i].name; i++)
        if (strcmp(opts[i].name, name) == 0)
            return i;
    return -1;
}

/* Word the parse error (fmt with one %s) into why. Returns -1. */
static int refuse(char *why, size_t len, const char *fmt, const char *arg)
{
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
    /* fmt is always one of the literals below; a long arg is cut. */
    (void)snprintf(why, len, fmt, arg);
#pragma GCC diagnostic pop
    return -1;
}

int cli_args_parse(const char *cmd_name, const struct cli_opt *opts, size_t max_pos, int argc,
                   char **argv, struct cli_args *a, int *help, char *why, size_t whylen)
{
    int options = 1;

    memset(a, 0, sizeof(*a));
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (options && strcmp(arg, "--") == 0) {
            options = 0;
            continue;
        }
        if (options && (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0)) {
            *help = 1;
            return 0;
        }
        if (!options || strncmp(arg, "--", 2) != 0) {
            if (a->n_pos >= max_pos || a->n_pos >= CLI_MAX_POSITIONAL)
                return refuse(why, whylen, "unexpected argument \"%s\"", arg);
            a->pos[a->n_pos++] = arg;
            a->positional = a->pos[0];
            continue;
        }
        char name[64];
        const char *eq = strchr(arg + 2, '='), *val = NULL;
        size_t nl = eq ? (size_t)(eq - arg - 2) : strlen(arg + 2);
        if (nl >= sizeof(name))
            return refuse(why, whylen, "unknown option \"%.64s\"", arg);
        memcpy(name, arg + 2, nl);
        name[nl] = '\0';
        int k = cli_opt_find(opts, name);
        if (k < 0) {
            (void)snprintf(why, whylen, "%s: unknown option \"--%s\"", cmd_name, name);
            return -1;
        }
        const struct cli_opt *o = &opts[k];
        if (o->arg != NULL) {
            if (eq)
                val = eq + 1;
            else if (i + 1 < argc)
                val = argv[++i];
            else
                return refuse(why, whylen, "option --%s needs a value", name);
        } else if (eq) {
            return refuse(why, whylen, "option --%s takes no value", name);
        }
        if (o->repeat) {
            if (a->n_multi[k] >= CLI_MAX_REPEAT)
                return refuse(why, whylen, "option --%s given too many times", name);
            a->multi[k][a->n_multi[k]++] = val;
        } else if (a->set[k]) {
            return refuse(why, whylen, "option --%s given twice", name);
        }
        a->set[k] = 1;
        a->val[k] = val;
    }
    return 0;
}

void cli_globals_free(struct cli_globals *g)
{
    free(g->rest);
    g->rest = NULL;
    g->n = 0;
}

int cli_globals_parse(struct cli_globals *g, int argc, char **argv)
{
    int version = 0;

    memset(g, 0, sizeof(*g));
    if ((g->rest = calloc((size_t)argc + 2, sizeof(char *))) == NULL) {
        fprintf(stderr, "statesnap: out of memory\n");
        return -1;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char **slot = strcmp(a, "--config") == 0 ? &g->config_path
                            : strcmp(a, "--root") == 0 ? &g->root
                            : strcmp(a, "--store") == 0 ? &g->store : NULL;
        if (strcmp(a, "--") == 0) {
            /* The end of options: the rest is the command's, word for word.
             * Before the command, the next word is the command itself. */
            if (g->n == 0 && i + 1 < argc)
                g->rest[g->n++] = argv[++i];
            g->rest[g->n++] = argv[i];
            while (++i < argc)
                g->rest[g->n++] = argv[i];
            break;
        }
        if (slot != NULL) {
            if (i + 1 >= argc) {
                fprintf(stderr, "statesnap: option %s needs a value (see statesnap --help)\n", a);
                return -1;
            }
            *slot = argv[++i];
            continue;
        }
        if (strncmp(a, "--config=", 9) == 0) {
            g->config_path = a + 9;
            continue;
        }
        if (strncmp(a, "--root=", 7) == 0) {
            g->root = a + 7;
            continue;
        }
        if (strncmp(a, "--store=", 8) == 0) {
            g->store = a + 8;
            continue;
        }
        if (strcmp(a, "--json") == 0) {
            g->json = 1;
            continue;
        }
        if (g->n == 0 && (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)) {
            g->help = 1;
            continue;
        }
        if (strcmp(a, "--version") == 0 || strcmp(a, "-V") == 0) {
            version = 1;
            continue;
        }
        g->rest[g->n++] = argv[i];
    }
    g->version = version;
    if (g->help && g->n > 0) {
        /* "statesnap --help create" reads as "statesnap create --help". */
        g->rest[g->n++] = "--help";
    }
    return 0;
}
