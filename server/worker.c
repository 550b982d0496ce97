/* worker.c - per-thread state of the HTTP worker threads (worker.h): made
 * on a thread's first request, freed by the thread-local destructor. */
#include "worker.h"

#include <pthread.h>
#include <stdlib.h>

#include "../engine/store.h"

static pthread_key_t worker_key;
static int key_made;
static const struct engine_config *worker_base;

static void worker_free(void *p)
{
    struct worker *w = p;

    if (w == NULL)
        return;
    cache_clear(&w->cache);
    store_close(w->store);
    free(w);
}

int worker_init(const struct engine_config *base, struct err *e)
{
    if (pthread_key_create(&worker_key, worker_free) != 0)
        return err_set(e, ERR_IO, "cannot create thread state");
    key_made = 1;
    worker_base = base;
    return 0;
}

struct worker *worker_get(struct err *e)
{
    struct worker *w = pthread_getspecific(worker_key);

    if (w != NULL)
        return w;
    if ((w = calloc(1, sizeof(*w))) == NULL) {
        err_set(e, ERR_IO, "out of memory");
        return NULL;
    }
    w->ecfg = *worker_base;
    w->ecfg.actor = w->actor;
    cache_init(&w->cache);
    if (store_open(&w->store, &w->ecfg, 0, e) != 0 || pthread_setspecific(worker_key, w) != 0) {
        if (e->code == ERR_NONE)
            err_set(e, ERR_IO, "cannot keep per-thread state");
        worker_free(w);
        return NULL;
    }
    return w;
}

void worker_fini(void)
{
    if (key_made)
        pthread_key_delete(worker_key);
    key_made = 0;
}
