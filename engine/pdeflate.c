/* pdeflate.c - deflate one file on several threads, as a stream (see pdeflate.h). */
#include "pdeflate.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "../common/fsutil.h"

#define DICT_BYTES 32768u          /* deflate's window */

enum slot_state { SLOT_FREE, SLOT_QUEUED, SLOT_DONE, SLOT_FAILED };

/* One block in flight: its dictionary and input, then its output. */
struct slot {
    unsigned char *in;             /* DICT_BYTES + PDEFLATE_BLOCK: dictionary, then data */
    size_t dict_len, len;
    int last;
    unsigned char *out;
    size_t out_cap, out_len, out_off;
    enum slot_state state;
};

struct pdeflate {
    int fd;
    uint64_t limit, nblocks;
    uint64_t filled;               /* blocks read and queued */
    uint64_t taken;                /* blocks a worker has picked up */
    uint64_t written;              /* blocks handed out completely */
    uint64_t out_before_last;      /* compressed bytes of every block but the last */
    int level;
    const char *what;
    pdeflate_tap tap;
    void *ud;
    unsigned char tail[DICT_BYTES];   /* the last input bytes read, the next dictionary */
    size_t tail_len;
    struct slot *slots;
    unsigned nslots;
    pthread_t *workers;
    unsigned nworkers;
    pthread_mutex_t mu;
    pthread_cond_t work;           /* a block was queued, or stop */
    pthread_cond_t done;           /* a block was compressed */
    int stop;
};

unsigned pdeflate_threads(unsigned threads)
{
    if (threads == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        threads = n > 0 ? (unsigned)n : 1;
    }
    if (threads > PDEFLATE_THREADS_MAX)
        threads = PDEFLATE_THREADS_MAX;
    return threads;
}

/* Compress s with z (reset first). Returns 0 or -1 (out of memory). */
static int compress_slot(z_stream *z, struct slot *s)
{
    int rc;

    if (deflateReset(z) != Z_OK)
        return -1;
    if (s->dict_len > 0 && deflateSetDictionary(z, s->in, (uInt)s->dict_len) != Z_OK)
        return -1;
    z->next_in = s->in + s->dict_len;
    z->avail_in = (uInt)s->len;
    s->out_len = 0;
    for (;;) {
        if (s->out_len == s->out_cap) {
            size_t ncap = s->out_cap * 2;
            unsigned char *n = realloc(s->out, ncap);
            if (n == NULL)
                return -1;
            s->out = n;
            s->out_cap = ncap;
        }
        z->next_out = s->out + s->out_len;
        z->avail_out = (uInt)(s->out_cap - s->out_len);
        rc = deflate(z, s->last ? Z_FINISH : Z_SYNC_FLUSH);
        s->out_len = s->out_cap - z->avail_out;
        if (rc == Z_STREAM_ERROR)
            return -1;
        /* Done when finished, or when a sync flush left room to spare. */
        if (s->last ? rc == Z_STREAM_END : (z->avail_in == 0 && z->avail_out > 0))
            return 0;
    }
}

static void *worker(void *arg)
{
    struct pdeflate *p = arg;
    z_stream z;
    int ok;

    memset(&z, 0, sizeof(z));
    ok = deflateInit2(&z, p->level, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) == Z_OK;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->stop && p->taken == p->filled)
            pthread_cond_wait(&p->work, &p->mu);
        if (p->stop)
            break;
        struct slot *s = &p->slots[p->taken++ % p->nslots];
        pthread_mutex_unlock(&p->mu);
        int rc = ok ? compress_slot(&z, s) : -1;
        pthread_mutex_lock(&p->mu);
        s->state = rc == 0 ? SLOT_DONE : SLOT_FAILED;
        pthread_cond_broadcast(&p->done);
    }
    pthread_mutex_unlock(&p->mu);
    if (ok)
        deflateEnd(&z);
    return NULL;
}

/* Read the next block into its slot and queue it, while a slot is free. */
static int fill(struct pdeflate *p, struct err *e)
{
    while (p->filled < p->nblocks && p->filled - p->written < p->nslots) {
        struct slot *s = &p->slots[p->filled % p->nslots];
        uint64_t left = p->limit - p->filled * PDEFLATE_BLOCK;
        size_t want = left > PDEFLATE_BLOCK ? PDEFLATE_BLOCK : (size_t)left, got = 0;

        memcpy(s->in, p->tail, p->tail_len);
        s->dict_len = p->tail_len;
        while (got < want) {
            ssize_t r = fs_read_some(p->fd, s->in + s->dict_len + got, want - got);
            if (r < 0)
                return err_sys(e, errno, "read %s", p->what);
            if (r == 0)
                return err_set(e, ERR_IO, "%s shrank while it was being read; try again", p->what);
            got += (size_t)r;
        }
        s->len = want;
        s->last = p->filled + 1 == p->nblocks;
        s->out_off = 0;
        if (want >= DICT_BYTES) {
            memcpy(p->tail, s->in + s->dict_len + want - DICT_BYTES, DICT_BYTES);
            p->tail_len = DICT_BYTES;
        } else {
            /* Short block (only ever the last): the window is old tail + it. */
            size_t keep = p->tail_len + want > DICT_BYTES ? DICT_BYTES - want : p->tail_len;
            memmove(p->tail, p->tail + p->tail_len - keep, keep);
            memcpy(p->tail + keep, s->in + s->dict_len, want);
            p->tail_len = keep + want;
        }
        if (p->tap != NULL && want > 0)
            p->tap(p->ud, s->in + s->dict_len, want);
        pthread_mutex_lock(&p->mu);
        s->state = SLOT_QUEUED;
        p->filled++;
        pthread_cond_signal(&p->work);
        pthread_mutex_unlock(&p->mu);
    }
    return 0;
}

int pdeflate_start(struct pdeflate **out, int fd, uint64_t limit, int level, unsigned threads,
                   const char *what, pdeflate_tap tap, void *ud, struct err *e)
{
    struct pdeflate *p;
    unsigned i;

    *out = NULL;
    if ((p = calloc(1, sizeof(*p))) == NULL)
        return err_set(e, ERR_IO, "out of memory");
    p->fd = fd;
    p->limit = limit;
    p->nblocks = limit == 0 ? 1 : (limit + PDEFLATE_BLOCK - 1) / PDEFLATE_BLOCK;
    p->level = level < 1 || level > 9 ? Z_DEFAULT_COMPRESSION : level;
    p->what = what;
    p->tap = tap;
    p->ud = ud;
    p->nworkers = pdeflate_threads(threads);
    /* Two blocks per worker: one being compressed, one read ahead. */
    p->nslots = 2 * p->nworkers;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->work, NULL);
    pthread_cond_init(&p->done, NULL);
    if ((p->slots = calloc(p->nslots, sizeof(*p->slots))) == NULL ||
        (p->workers = calloc(p->nworkers, sizeof(*p->workers))) == NULL)
        goto oom;
    for (i = 0; i < p->nslots; i++) {
        struct slot *s = &p->slots[i];
        s->out_cap = PDEFLATE_BLOCK + PDEFLATE_BLOCK / 8 + 4096;
        if ((s->in = malloc(DICT_BYTES + PDEFLATE_BLOCK)) == NULL ||
            (s->out = malloc(s->out_cap)) == NULL)
            goto oom;
    }
    for (i = 0; i < p->nworkers; i++) {
        if (pthread_create(&p->workers[i], NULL, worker, p) != 0) {
            p->nworkers = i;
            pdeflate_free(p);
            return err_set(e, ERR_IO, "cannot start a compression thread");
        }
    }
    *out = p;
    return 0;
oom:
    p->nworkers = 0;
    pdeflate_free(p);
    return err_set(e, ERR_IO, "out of memory");
}

ssize_t pdeflate_read(struct pdeflate *p, void *buf, size_t len, struct err *e)
{
    struct slot *s;
    size_t n;

    if (fill(p, e) != 0)
        return -1;
    if (p->written == p->nblocks)
        return 0;
    s = &p->slots[p->written % p->nslots];
    pthread_mutex_lock(&p->mu);
    while (s->state == SLOT_QUEUED)
        pthread_cond_wait(&p->done, &p->mu);
    pthread_mutex_unlock(&p->mu);
    if (s->state != SLOT_DONE)
        return err_set(e, ERR_IO, "cannot compress %s: out of memory", p->what);
    n = s->out_len - s->out_off;
    if (n > len)
        n = len;
    memcpy(buf, s->out + s->out_off, n);
    s->out_off += n;
    if (s->out_off == s->out_len) {
        s->state = SLOT_FREE;
        if (!s->last)
            p->out_before_last += s->out_len;
        p->written++;
    }
    return (ssize_t)n;
}

void pdeflate_prime(struct pdeflate *p, const unsigned char *dict, size_t len)
{
    if (len > DICT_BYTES) {
        dict += len - DICT_BYTES;
        len = DICT_BYTES;
    }
    memcpy(p->tail, dict, len);
    p->tail_len = len;
}

void pdeflate_last_block(const struct pdeflate *p, uint64_t *in_start, uint64_t *out_start)
{
    *in_start = (p->nblocks - 1) * (uint64_t)PDEFLATE_BLOCK;
    *out_start = p->out_before_last;
}

void pdeflate_free(struct pdeflate *p)
{
    unsigned i;

    if (p == NULL)
        return;
    pthread_mutex_lock(&p->mu);
    p->stop = 1;
    pthread_cond_broadcast(&p->work);
    pthread_mutex_unlock(&p->mu);
    for (i = 0; i < p->nworkers; i++)
        pthread_join(p->workers[i], NULL);
    if (p->slots != NULL) {
        for (i = 0; i < p->nslots; i++) {
            free(p->slots[i].in);
            free(p->slots[i].out);
        }
    }
    free(p->slots);
    free(p->workers);
    pthread_cond_destroy(&p->done);
    pthread_cond_destroy(&p->work);
    pthread_mutex_destroy(&p->mu);
    free(p);
}
