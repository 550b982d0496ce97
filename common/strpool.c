/* strpool.c - strings copied into shared blocks (strpool.h). */
#include "strpool.h"

#include <stdlib.h>
#include <string.h>

#define STRPOOL_BLOCK (64u * 1024)

struct strpool {
    struct strpool *next;
    size_t used, cap;
    char bytes[];
};

char *strpool_copy(struct strpool **pool, const char *s, size_t n)
{
    struct strpool *b = *pool;
    char *p;

    if (b == NULL || b->cap - b->used < n + 1) {
        size_t cap = n + 1 > STRPOOL_BLOCK ? n + 1 : STRPOOL_BLOCK;
        if ((b = malloc(sizeof(*b) + cap)) == NULL)
            return NULL;
        b->next = *pool;
        b->used = 0;
        b->cap = cap;
        *pool = b;
    }
    p = b->bytes + b->used;
    memcpy(p, s, n);
    p[n] = '\0';
    b->used += n + 1;
    return p;
}

void strpool_free(struct strpool **pool)
{
    while (*pool != NULL) {
        struct strpool *next = (*pool)->next;
        free(*pool);
        *pool = next;
    }
}
