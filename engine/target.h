/* target.h - restore elsewhere: the directory it writes, its checks, and the
 * store seeing it as its state root while the restore runs. */
#ifndef STATESNAP_TARGET_H
#define STATESNAP_TARGET_H

#include <stddef.h>

#include "store.h"

/* While begun, the store's configuration names target as its state root
 * (and no dotenv): every path rule, the journal and its recovery then work
 * on target. */
struct target_redirect {
    const struct engine_config *saved;
    struct engine_config cfg;
};

/* Point s at target (target_redirect_end undoes it). Cannot fail. */
void target_redirect_begin(struct store *s, struct target_redirect *rt, const char *target);

/* Undo target_redirect_begin; a no-op on a zeroed rt. Cannot fail. */
void target_redirect_end(struct store *s, struct target_redirect *rt);

/* The directory a restore elsewhere writes: a path as given (the CLI), or a
 * bare name under cfg->restore_targets_dir (the API: a client never names a
 * server path), in buf. NULL with e (ERR_INVALID) when it cannot be. */
const char *target_path(struct store *s, const char *target, char *buf, size_t len,
                        struct err *e);

/* --target is absent, or an empty directory: 0; else -1 (ERR_INVALID,
 * ERR_CONFLICT when not empty). */
int target_empty_or_absent(const char *target, struct err *e);

/* A target directory for restore elsewhere: new (made 0700, in a directory
 * that exists) or empty, and neither the state root, nor inside it, nor the
 * store. Checked before anything is made. 0, or -1 with ERR_INVALID. */
int target_check(struct store *s, const char *target, struct err *e);

#endif
