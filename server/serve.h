/* serve.h - `statesnap serve`: the HTTP API and dashboard server. */
#ifndef STATESNAP_SERVE_H
#define STATESNAP_SERVE_H

#include "../conf/config.h"

/* Run the server with cfg (loaded, CLI overrides applied) and the arguments
 * after "serve" (--listen ADDR:PORT, --tls-cert FILE, --tls-key FILE,
 * --port-file PATH, --static-dir DIR, --help). Blocks until SIGTERM or
 * SIGINT, drains in-flight requests, and returns the process exit code:
 * 0 after a graceful shutdown, 1 when the server could not start, 2 for
 * bad usage. */
/* Run this program again (same pid, same argv) with glibc's per-thread
 * malloc cache turned off, unless GLIBC_TUNABLES already sets it. Returns
 * only when that is not needed or the exec failed (then nothing changed). */
void serve_tune_malloc(char **argv);

int serve_main(struct config *cfg, int argc, char **argv);

#endif
