/* prom.c - the growing buffer a Prometheus scrape is written into. */
#include "prom.h"

#include <stdlib.h>

int prom_text_init(struct prom_text *t, size_t cap)
{
    t->len = 0;
    t->failed = 0;
    t->cap = cap;
    if ((t->buf = malloc(cap > 0 ? cap : 1)) == NULL) {
        t->cap = 0;
        t->failed = 1;
        return -1;
    }
    return 0;
}

void prom_text_free(struct prom_text *t)
{
    if (t == NULL)
        return;
    free(t->buf);
    t->buf = NULL;
    t->len = t->cap = 0;
}

int prom_grow(struct prom_text *t, size_t n)
{
    size_t cap = t->cap > 0 ? t->cap : 4096;
    char *nb;

    if (t->failed)
        return -1;
    while (cap - t->len < n) {
        if (cap > SIZE_MAX / 2) {
            t->failed = 1;
            return -1;
        }
        cap *= 2;
    }
    if ((nb = realloc(t->buf, cap)) == NULL) {
        t->failed = 1;
        return -1;
    }
    t->buf = nb;
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
