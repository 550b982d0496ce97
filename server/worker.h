/* worker.h - per-thread state of libmicrohttpd's worker threads: each keeps
 * its own store (with its catalog connection), engine settings whose actor
 * changes per request, and its response cache. */
#ifndef STATESNAP_WORKER_H
#define STATESNAP_WORKER_H

#include "../common/err.h"
#include "../engine/engine.h"
#include "cache.h"

struct worker {
    struct engine_config ecfg;   /* the server's, actor pointing to actor[] */
    char actor[160];             /* who the current request acts as */
    struct store *store;
    struct cache cache;
};

/* Set up the thread-local slot; base (borrowed, must outlive the workers) is
 * the engine config every worker copies. Returns 0 or -1 with *e. */
int worker_init(const struct engine_config *base, struct err *e);

/* This thread's worker, made (and its store opened) on first use; freed when
 * the thread ends. NULL with *e when the store cannot be opened. */
struct worker *worker_get(struct err *e);

/* Drop the thread-local slot, after every worker thread has ended. Safe to
 * call when worker_init failed or was not called. Cannot fail. */
void worker_fini(void);

#endif
