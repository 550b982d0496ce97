/* recover.h - recover_all: finish or undo whatever a killed process left in
 * the store (docs/DESIGN.md, "The crash protocol"). */
#ifndef STATESNAP_RECOVER_H
#define STATESNAP_RECOVER_H

#include "store.h"

/* Bring the store back to a state its invariants allow, in this order:
 * roll a restore journal forward (or undo one that had not committed),
 * resolve each create intent (adopt the archive if whole, else remove it)
 * and delete intent (row and archive both gone), remove temp files, stale
 * uploads and the scratch directories of drills no process holds any more
 * (each live drill holds a flock on its directory), then catch audit.jsonl
 * up with the catalog. The caller holds the store lock. Returns 0 or -1;
 * what is left is finished by the next call. */
int recover_all(struct store *s, struct err *e);

#endif
