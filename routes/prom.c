/* prom.c - the growing buffer a Prometheus scrape is written into. */
#include "prom.h"

#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>

#define PROM_POOL_MAX 8     /* buffers kept: a scrape is sent as it is made, so about one per worker */

/* A text's buffer with its size in front, so a released text can be kept. */
struct block {
    size_t cap;
    char data[];
};

/* Scrapes are ~25 KiB, made and freed on every probe; glibc sweeps all of
 * its fast bins when a chunk that size is freed, so a few are kept here. */
static struct {
    pthread_mutex_t mu;
    struct block *kept[PROM_POOL_MAX];
    size_t n;
} pool = { .mu = PTHREAD_MUTEX_INITIALIZER };

static struct block *block_of(void *text)
{
    return (struct block *)((char *)text - offsetof(struct block, data));
}

/* A block with room for cap bytes (a kept one when there is), or NULL. */
static struct block *block_get(size_t cap)
{
    struct block *b = NULL, *nb;

    pthread_mutex_lock(&pool.mu);
    if (pool.n > 0)
        b = pool.kept[--pool.n];
    pthread_mutex_unlock(&pool.mu);
    if (b != NULL && b->cap >= cap)
        return b;
    if ((nb = realloc(b, sizeof(*b) + cap)) == NULL) {
        free(b);
        return NULL;
    }
    nb->cap = cap;
    return nb;
}

void prom_release(void *text)
{
    struct block *b;

    if (text == NULL)
        return;
    b = block_of(text);
    pthread_mutex_lock(&pool.mu);
    if (pool.n < PROM_POOL_MAX) {
        pool.kept[pool.n++] = b;
        b = NULL;
    }
    pthread_mutex_unlock(&pool.mu);
    free(b);
}

void prom_pool_drain(void)
{
    pthread_mutex_lock(&pool.mu);
    while (pool.n > 0)
        free(pool.kept[--pool.n]);
    pthread_mutex_unlock(&pool.mu);
}

int prom_text_init(struct prom_text *t, size_t cap)
{
    struct block *b = block_get(cap > 0 ? cap : 1);

    t->len = 0;
    t->failed = b == NULL;
    t->buf = b != NULL ? b->data : NULL;
    t->cap = b != NULL ? b->cap : 0;
    return b != NULL ? 0 : -1;
}

void prom_text_free(struct prom_text *t)
{
    if (t == NULL)
        return;
    prom_release(t->buf);
    t->buf = NULL;
    t->len = t->cap = 0;
}

char *prom_text_take(struct prom_text *t)
{
    char *text = t->buf;

    t->buf = NULL;
    t->len = t->cap = 0;
    return text;
}

int prom_grow(struct prom_text *t, size_t n)
{
    size_t cap = t->cap > 0 ? t->cap : 4096;
    struct block *b;

    if (t->failed)
        return -1;
    while (cap - t->len < n) {
        if (cap > (SIZE_MAX - sizeof(*b)) / 2) {
            t->failed = 1;
            return -1;
        }
        cap *= 2;
    }
    if ((b = realloc(t->buf != NULL ? block_of(t->buf) : NULL, sizeof(*b) + cap)) == NULL) {
        t->failed = 1;
        return -1;
    }
    b->cap = cap;
    t->buf = b->data;
    t->cap = cap;
    return 0;
}

void prom_u64(struct prom_text *t, uint64_t v)
{
    char b[24], *p = b + sizeof(b);

    do
        *--p = (char)('0' + v % 10);
    while ((v /= 10) != 0);
    prom_put(t, p, (size_t)(b + sizeof(b) - p));
}

void prom_i64(struct prom_text *t, int64_t v)
{
    if (v < 0) {
        prom_put(t, "-", 1);
        prom_u64(t, (uint64_t)0 - (uint64_t)v);
        return;
    }
    prom_u64(t, (uint64_t)v);
}

void prom_sample(struct prom_text *t, const char *text, int64_t v)
{
    prom_puts(t, text);
    prom_i64(t, v);
    prom_put(t, "\n", 1);
}
