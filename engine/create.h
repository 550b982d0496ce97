/* create.h - the create primitives: the checks of a create's options and
 * the locked part of a create, which writes one snapshot (archive, intent,
 * catalog row, audit entry). engine_create and restore's safety snapshot
 * both use them; neither is an operation of its own. */
#ifndef STATESNAP_CREATE_H
#define STATESNAP_CREATE_H

#include <jansson.h>

#include "store.h"

/* Check what the caller of a create could have got wrong (the name, the
 * labels, the state root) before the store is touched. ERR_INVALID naming
 * the problem. Writes nothing. */
int create_check(const struct store *s, const struct create_opts *o, struct err *e);

/* Capture the state root into NAME.zip and catalog it, crash-safely (the
 * temp in .work, then the create intent, the rename, the catalog row with
 * its audit entry in one transaction, and the intent cleared). The lock is
 * held and o passed create_check. Runs the snapshot hooks, emits the create
 * event (or its error, for anything but bad input and a taken name).
 * Returns 0 and *snap (the Snapshot document with its files, absent,
 * warnings and hooks; caller decrefs) or -1 (ERR_CONFLICT, ERR_IO,
 * ERR_NO_SPACE, ERR_UNAVAILABLE, a hook's or the gate's error). Nothing is
 * left behind on failure. */
int create_write(struct store *s, const struct create_opts *o, json_t **snap, struct err *e);

#endif
