/* restore.h - restore internals shared with the store's crash recovery. */
#ifndef STATESNAP_RESTORE_H
#define STATESNAP_RESTORE_H

#include "store.h"

/* Finish (roll forward) or undo a restore whose journal is at path, as the
 * journal's phase says: "prepare" = nothing was swapped yet, temp files are
 * removed; "commit" = every file is brought to its snapshot version. The
 * lock is held. */
int restore_recover(struct store *s, const char *path, struct err *e);

#endif
