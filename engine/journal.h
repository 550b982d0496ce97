/* journal.h - the restore journal (STORE/.work/restore.journal): what a
 * restore is about to do to the state root, written before it does it, so
 * recover_all can finish or undo it after a kill. */
#ifndef STATESNAP_JOURNAL_H
#define STATESNAP_JOURNAL_H

#include "plan.h"
#include "store.h"

/* Write the journal (atomically, durably) for plan p of restore o in phase
 * "prepare" (temps being written, nothing swapped) or "commit" (every file
 * is to reach its snapshot version). The lock is held. 0 or -1. */
int journal_write(struct store *s, const char *phase, const struct restore_opts *o,
                  const struct plan *p, struct err *e);

/* Remove the journal (durably): the restore is done or undone. 0 or -1. */
int journal_remove(struct store *s, struct err *e);

/* Finish (roll forward) or undo the restore whose journal is at path, as
 * its phase says: "prepare" = nothing was swapped yet, the temps are
 * removed; "commit" = every file is brought to its snapshot version (the
 * temp when it holds the right bytes, else extracted again). Then the
 * journal is removed. An unreadable journal is left for a human (ERR_IO).
 * The lock is held. */
int journal_recover(struct store *s, const char *path, struct err *e);

#endif
