/* strpool.h - strings copied into shared blocks: no allocation (and its
 * header) a string, all freed at once (a primitive). For the many short
 * paths of a capture set or a manifest's records. */
#ifndef STATESNAP_STRPOOL_H
#define STATESNAP_STRPOOL_H

#include <stddef.h>

struct strpool;   /* a list of blocks; NULL is an empty pool */

/* A NUL-terminated copy of the n bytes at s in *pool, valid until
 * strpool_free. NULL when out of memory. */
char *strpool_copy(struct strpool **pool, const char *s, size_t n);

/* Free every block and set *pool to NULL. Accepts an empty pool. */
void strpool_free(struct strpool **pool);

#endif
