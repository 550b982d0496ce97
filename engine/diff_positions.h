/* diff_positions.h - the positions block of a diff (diff_positions.c). */
#ifndef STATESNAP_DIFF_POSITIONS_H
#define STATESNAP_DIFF_POSITIONS_H

#include <jansson.h>

#include "../common/err.h"

/* Build the positions block from the two parsed documents (either may be
 * NULL when the file is absent on that side); why_a/why_b name a load
 * failure, which the block reports instead of positions. The block (caller
 * decrefs), or NULL with e (ERR_IO) when out of memory. */
json_t *diff_positions_block(const json_t *da, const char *why_a, const json_t *db,
                             const char *why_b, struct err *e);

#endif
