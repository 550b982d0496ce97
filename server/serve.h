/* serve.h - `statesnap serve`: the HTTP API and dashboard server, and the
 * order its subsystems start and stop in. */
#ifndef STATESNAP_SERVE_H
#define STATESNAP_SERVE_H

#include "../conf/config.h"

/* Run this program again (same pid, same argv) with glibc's per-thread
 * malloc cache turned off, unless GLIBC_TUNABLES already sets it. Returns
 * only when that is not needed or the exec failed (then nothing changed). */
void serve_tune_malloc(char **argv);

/* Run the server with cfg (loaded, CLI overrides applied, event sinks set)
 * and the arguments after "serve" (--listen ADDR:PORT, --tls-cert FILE,
 * --tls-key FILE, --port-file PATH, --static-dir DIR, --help). Starts
 * alerts, the offsite sync job, the scheduler, the drill scheduler, then
 * the HTTP daemon; blocks until SIGTERM or SIGINT; then turns new
 * connections away, stops the schedulers, drains in-flight requests, and
 * stops the rest in reverse. Returns the process exit code: 0 after a
 * graceful shutdown, 1 when the server could not start, 2 for bad usage. */
int serve_main(struct config *cfg, int argc, char **argv);

#endif
