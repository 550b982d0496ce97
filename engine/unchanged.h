/* unchanged.h - create --if-changed: does the state root hold exactly what
 * the newest snapshot holds? A primitive of engine_create (op_create.c),
 * run under the create's lock. */
#ifndef STATESNAP_UNCHANGED_H
#define STATESNAP_UNCHANGED_H

#include <jansson.h>

#include "store.h"

/* Compare the captured files of the state root (a consistent cut, each
 * file's size and SHA-256, the masked .env included) with the newest
 * snapshot's catalogued files. Content decides, not times: a file whose
 * mtime was touched but whose bytes are the same is unchanged; a file
 * added, removed or with other bytes is a change. Writes nothing, runs no
 * hook. Returns 1 when nothing changed and the newest snapshot's archive
 * is in the store: *snap is its Snapshot document with "skipped": true
 * (caller decrefs). Returns 0 when anything differs, when there is no
 * snapshot yet, or when the root could not be compared (no consistent cut,
 * a read failing): the create then goes on and reports any failure itself.
 * -1 only when the document cannot be built (ERR_IO). */
int unchanged_check(struct store *s, json_t **snap, struct err *e);

#endif
