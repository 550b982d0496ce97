/* serve.c - `statesnap serve`: its arguments, where the dashboard's files
 * are, the malloc tuning, and the composition of the server: which
 * subsystems start in which order (alerts, offsite sync, the scheduler,
 * the drill scheduler, then the HTTP daemon) and stop in which order on
 * SIGTERM/SIGINT. */
#include "serve.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <limits.h>
#include <malloc.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "../common/fsutil.h"
#include "../alerts/alerts.h"
#include "../cli/args.h"
#include "../cli/cli.h"
#include "../engine/engine.h"
#include "../engine/store.h"
#include "admit.h"
#include "alerts_metrics.h"
#include "auth.h"
#include "daemon.h"
#include "drill_schedule.h"
#include "http.h"
#include "log.h"
#include "metrics.h"
#include "offsite_job.h"
#include "schedule.h"

/* Each of the worker threads would get its own malloc arena, each holding
 * freed memory: two arenas keep the RSS flat under churn (the fixed mmap
 * threshold is main's, for every command). */
static void tune_arenas(void)
{
    (void)mallopt(M_ARENA_MAX, 2);
}

/* GET /metrics: the daemon's own series, then each subsystem's. */
static int render_metrics(struct prom_text *f)
{
    int rc = metrics_render(f);

    if (schedule_render_metrics(f) != 0 || drill_schedule_render_metrics(f) != 0 ||
        alerts_render_metrics(f) != 0 || offsite_job_render_metrics(f) != 0)
        rc = -1;
    return rc;
}


/* Split "host:port" / "[v6]:port" into host and port. Returns 0 or -1. */
static int split_listen(const char *listen, char *host, size_t hlen, char *port, size_t plen)
{
    const char *colon;
    size_t n;

    if (listen[0] == '[') {
        const char *close_br = strchr(listen, ']');
        if (close_br == NULL || close_br[1] != ':')
            return -1;
        n = (size_t)(close_br - listen - 1);
        colon = close_br + 1;
        listen++;
    } else {
        if ((colon = strrchr(listen, ':')) == NULL)
            return -1;
        n = (size_t)(colon - listen);
    }
    if (n == 0 || n >= hlen || snprintf(port, plen, "%s", colon + 1) >= (int)plen)
        return -1;
    memcpy(host, listen, n);
    host[n] = '\0';
    if (port[0] == '\0' || strspn(port, "0123456789") != strlen(port) || strlen(port) > 5 ||
        strtol(port, NULL, 10) > 65535)
        return -1;
    return 0;
}

static int is_loopback_addr(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET)
        return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127;
    if (sa->sa_family == AF_INET6)
        return IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)sa)->sin6_addr);
    return 0;
}

/* Find the dashboard: --static-dir, else ./static, else next to the binary
 * (build/rel/statesnap -> ../../static). Leaves dir empty when none exists. */
static void find_static(char *dir, size_t len, const char *given)
{
    char exe[PATH_MAX], cand[PATH_MAX];
    struct stat st;
    ssize_t n;
    const char *ups[] = { "/../static", "/../../static" };
    size_t i;

    dir[0] = '\0';
    if (given != NULL) {
        (void)snprintf(dir, len, "%s", given);
        return;
    }
    if (stat("static", &st) == 0 && S_ISDIR(st.st_mode)) {
        (void)snprintf(dir, len, "static");
        return;
    }
    if ((n = readlink("/proc/self/exe", exe, sizeof(exe) - 1)) <= 0)
        return;
    exe[n] = '\0';
    if (strrchr(exe, '/') != NULL)
        *strrchr(exe, '/') = '\0';
    for (i = 0; i < sizeof(ups) / sizeof(ups[0]); i++) {
        if (snprintf(cand, sizeof(cand), "%s%s", exe, ups[i]) < (int)sizeof(cand) &&
            stat(cand, &st) == 0 && S_ISDIR(st.st_mode)) {
            (void)snprintf(dir, len, "%s", cand);
            return;
        }
    }
}

static int write_port_file(const char *path, unsigned port)
{
    char buf[16];
    struct err e = { 0 };
    int n = snprintf(buf, sizeof(buf), "%u\n", port);

    if (fs_write_atomic(path, buf, (size_t)n, 0644, &e) != 0) {
        fprintf(stderr, "statesnap: cannot write the port file: %s\n", e.msg);
        return -1;
    }
    return 0;
}

struct serve_args {
    const char *listen, *tls_cert, *tls_key, *port_file, *static_dir;
};

/* The field of a for the option named name of cli_serve_opts, or NULL. */
static const char **serve_field(struct serve_args *a, const char *name)
{
    return strcmp(name, "listen") == 0 ? &a->listen
           : strcmp(name, "tls-cert") == 0 ? &a->tls_cert
           : strcmp(name, "tls-key") == 0 ? &a->tls_key
           : strcmp(name, "port-file") == 0 ? &a->port_file
           : strcmp(name, "static-dir") == 0 ? &a->static_dir : NULL;
}

/* Parse serve's options with the CLI's table of them (cli_serve_opts, which
 * help, completion and the man page print). Returns 0, 1 for --help, or -1
 * (message printed). */
static int parse_args(int argc, char **argv, struct serve_args *a)
{
    for (int i = 0; i < argc; i++) {
        const char *arg = argv[i], *val = NULL;
        const struct cli_opt *o;
        const char **field;
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0)
            return 1;
        for (o = cli_serve_opts; o->name; o++) {
            size_t fl = strlen(o->name);
            if (strncmp(arg, "--", 2) != 0 || strncmp(arg + 2, o->name, fl) != 0)
                continue;
            if (arg[2 + fl] == '=')
                val = arg + 2 + fl + 1;
            else if (arg[2 + fl] == '\0' && i + 1 < argc)
                val = argv[++i];
            else if (arg[2 + fl] == '\0')
                val = "";
            else
                continue;
            break;
        }
        if (o->name == NULL || (field = serve_field(a, o->name)) == NULL) {
            fprintf(stderr, "statesnap serve: unknown option %s (see --help)\n", arg);
            return -1;
        }
        if (*val == '\0') {
            fprintf(stderr, "statesnap serve: --%s needs a value\n", o->name);
            return -1;
        }
        *field = val;
    }
    return 0;
}

/* glibc keeps a cache of freed chunks in every thread (tcache) that
 * malloc_trim cannot reach. With eight worker threads answering a mix of
 * requests, those caches fill bin by bin for many minutes, and the server's
 * RSS creeps up by megabytes that no one can use. Its tunables are read only
 * at startup, so `serve` starts itself once more with the cache off (the
 * arenas behind it stay; requests hardly allocate on the hot path). An
 * operator's own GLIBC_TUNABLES setting for it wins. */
void serve_tune_malloc(char **argv)
{
    static const char setting[] = "glibc.malloc.tcache_count=0";
    const char *cur = getenv("GLIBC_TUNABLES");
    char *saved = cur ? strdup(cur) : NULL, *want;

    if (cur != NULL && (saved == NULL || strstr(cur, "glibc.malloc.tcache_count") != NULL)) {
        free(saved);
        return;
    }
    if (asprintf(&want, "%s%s%s", cur ? cur : "", cur && *cur ? ":" : "", setting) < 0) {
        free(saved);
        return;
    }
    if (setenv("GLIBC_TUNABLES", want, 1) == 0) {
        execv("/proc/self/exe", argv);
        /* Could not run again: go on as we are, with the environment as it was. */
        if (saved != NULL)
            (void)setenv("GLIBC_TUNABLES", saved, 1);
        else
            (void)unsetenv("GLIBC_TUNABLES");
    }
    free(want);
    free(saved);
}

int serve_main(struct config *cfg, int argc, char **argv)
{
    static char static_dir[PATH_MAX];
    struct serve_args a = { 0 };
    struct admit_policy ap = { 0 };
    struct route_env env = { 0 };
    struct daemon_settings ds = { 0 };
    struct addrinfo hints = { 0 }, *ai = NULL;
    struct err e = { 0 };
    struct store *boot = NULL;
    char host[256], port[8];
    char *tls_key = NULL, *tls_cert = NULL;
    size_t tls_key_len = 0, tls_cert_len = 0, i;
    sigset_t sigs;
    int rc, sig, ret = 1;

    if ((rc = parse_args(argc, argv, &a)) != 0) {
        if (rc > 0)
            cli_help_serve(stdout);
        return rc > 0 ? 0 : 2;
    }
    if ((a.listen && config_set_string(&cfg->listen, a.listen, &e) != 0) ||
        (a.tls_cert && config_set_string(&cfg->tls_cert, a.tls_cert, &e) != 0) ||
        (a.tls_key && config_set_string(&cfg->tls_key, a.tls_key, &e) != 0)) {
        fprintf(stderr, "statesnap serve: %s\n", e.msg);
        return 2;
    }
    config_sync_engine(cfg);
    if ((cfg->tls_cert == NULL) != (cfg->tls_key == NULL)) {
        fprintf(stderr, "statesnap serve: TLS needs both tls_cert and tls_key\n");
        return 2;
    }
    if (cfg->listen == NULL ||
        split_listen(cfg->listen, host, sizeof(host), port, sizeof(port)) != 0) {
        fprintf(stderr, "statesnap serve: listen must be HOST:PORT or [IPv6]:PORT, got \"%s\"\n",
                cfg->listen ? cfg->listen : "");
        return 2;
    }
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    if ((rc = getaddrinfo(host, port, &hints, &ai)) != 0) {
        fprintf(stderr, "statesnap serve: cannot resolve %s: %s\n", host, gai_strerror(rc));
        return 2;
    }
    ap.cfg = cfg;
    ap.dev_mode = cfg->n_tokens == 0;
    for (i = 0; host[i] != '\0' && i < sizeof(ap.bind_host) - 1; i++)
        ap.bind_host[i] = (char)tolower((unsigned char)host[i]);
    ap.bind_wildcard = strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0;
    ap.tls = cfg->tls_cert != NULL;
    /* Known now unless the kernel picks it (port 0): then no client can
     * know it before the port file is written below. */
    ap.port = (unsigned)strtoul(port, NULL, 10);
    if (ap.dev_mode && !(auth_host_is_loopback(host) && is_loopback_addr(ai->ai_addr))) {
        fprintf(stderr, "statesnap serve: no tokens are configured, so the server only listens "
                        "on loopback (127.0.0.1, ::1, localhost); add tokens to listen on %s\n",
                host);
        freeaddrinfo(ai);
        return 2;
    }
    /* Open the store once up front: a crashed operation is finished now
     * rather than on some request, audit.jsonl catches up with the catalog,
     * and a bad store path fails the start instead of every request. A
     * missing store is made only when this server could create a snapshot
     * (its state root exists); else a typo would serve an empty store. */
    if (store_open(&boot, &cfg->engine, cfg->root != NULL && access(cfg->root, F_OK) == 0, &e) != 0) {
        fprintf(stderr, "statesnap serve: %s\n", e.msg);
        goto out;
    }
    store_close(boot);
    if (cfg->tls_cert != NULL &&
        (fs_read_file(cfg->tls_cert, HTTP_TLS_FILE_MAX, &tls_cert, &tls_cert_len, &e) != 0 ||
         fs_read_file(cfg->tls_key, HTTP_TLS_FILE_MAX, &tls_key, &tls_key_len, &e) != 0)) {
        fprintf(stderr, "statesnap serve: TLS: %s\n", e.msg);
        goto out;
    }
    find_static(static_dir, sizeof(static_dir), a.static_dir);
    env.readyz_max_age = cfg->readyz_max_age;
    env.static_dir = static_dir[0] ? static_dir : NULL;
    env.render_metrics = render_metrics;
    env.schedule_status = schedule_status;
    env.drill_status = drill_schedule_status;
    env.readyz_max_drill_age = cfg->readyz_max_drill_age;
    env.offsite_status = offsite_job_status;
    env.offsite_sync_now = offsite_job_sync_now;
    env.offsite_fetch_missing = offsite_job_fetch_missing;

    /* Every thread started from here inherits this mask, so only the
     * sigwait below sees the signals. */
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    /* Request lines gathered and written by their own thread (after the
     * mask, so SIGTERM still reaches sigwait below). */
    if (log_buffer_start() != 0)
        log_event("warn", "cannot start the log writer; request lines are written one by one",
                  NULL);
    signal(SIGPIPE, SIG_IGN);

    /* The start order: the subsystems behind the API, then the API. (The
     * engine's event sinks were fixed by main.c before any of them.) */
    if (alerts_start(cfg->alerts, ALERTS_LOG_SUCCESS, log_event, &e) != 0) {
        fprintf(stderr, "statesnap serve: %s\n", e.msg);
        ret = e.code == ERR_INVALID ? 2 : 1;
        goto out;
    }
    if (offsite_job_start(cfg, &e) != 0 || schedule_start(cfg, &e) != 0 ||
        drill_schedule_start(cfg, &e) != 0) {
        fprintf(stderr, "statesnap serve: %s\n", e.msg);
        goto out;
    }
    tune_arenas();
    ds.cfg = cfg;
    ds.env = &env;
    ds.admit = &ap;
    ds.addr = ai->ai_addr;
    ds.tls_cert = tls_cert;
    ds.tls_key = tls_key;
    if (daemon_start(&ds, &e) != 0) {
        fprintf(stderr, "statesnap serve: %s\n", e.msg);
        goto out;
    }
    if (a.port_file && write_port_file(a.port_file, daemon_port()) != 0)
        goto out;
    if (ap.dev_mode)
        log_event("warn", "no tokens configured: dev mode, every request is admin, loopback only",
                  NULL);
    log_event("info", "listening",
              json_pack("{s:s, s:i, s:b, s:s?, s:s}", "host", host, "port", (int)daemon_port(),
                        "tls", tls_cert != NULL, "static_dir", env.static_dir, "version",
                        STATESNAP_VERSION));

    for (;;) {
        if (sigwait(&sigs, &sig) == 0)
            break;
    }
    log_event("info", "shutting down: draining requests in flight",
              json_pack("{s:s, s:I}", "signal", sig == SIGTERM ? "SIGTERM" : "SIGINT", "in_flight",
                        (json_int_t)daemon_in_flight()));
    /* The stop order. From here new connections are turned away. (Not
     * MHD_quiesce_daemon: in 0.9.75 it races the worker threads, which take
     * the listening socket out of their sets themselves when they see the
     * flag it sets, and it then panics when its own removal fails.) */
    daemon_refuse_new();
    /* No new scheduled run from here; one in progress finishes (a create is
     * all-or-nothing either way, so waiting only avoids wasted work). */
    schedule_stop();
    drill_schedule_stop();
    daemon_drain(HTTP_DRAIN_SECONDS * 1000L);
    ret = 0;
out:
    schedule_stop();
    drill_schedule_stop();
    offsite_job_stop();
    daemon_stop();
    prom_pool_drain();   /* every response is gone with the daemon */
    /* The last requests may have queued alerts (a restore just before SIGTERM). */
    if (alerts_drain(ALERTS_SHUTDOWN_DRAIN_MS) != 0)
        log_event("warn", "alerts still being sent at shutdown; giving up on them", NULL);
    alerts_stop();
    if (ret == 0)
        log_event("info", "stopped", NULL);
    log_buffer_stop();
    if (tls_key != NULL)
        OPENSSL_cleanse(tls_key, tls_key_len);
    free(tls_key);
    free(tls_cert);
    freeaddrinfo(ai);
    return ret;
}
