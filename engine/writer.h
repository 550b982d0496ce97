/* writer.h - is the bot still writing its state root? Before a restore
 * swaps files in, statesnap asks the bot's lock and pid files, and watches
 * the targets' identities for a quiet period; after the swap it looks again. */
#ifndef STATESNAP_WRITER_H
#define STATESNAP_WRITER_H

#include <stddef.h>
#include <sys/types.h>
#include <time.h>
#include <jansson.h>

#include "engine.h"
#include "../common/err.h"

/* What a path below the root is now: absent, or device, inode, type, size,
 * mtime and ctime (lstat through rootfs: no symlink followed). */
struct writer_ident {
    int present;
    dev_t dev;
    ino_t ino;
    mode_t mode;
    off_t size;
    struct timespec mtime, ctime;
};

/* Is the bot running, by cfg->bot_lock_file (another process holds an
 * flock or a POSIX lock on it) or cfg->bot_pid_file (that pid is alive)?
 * Returns 1 and a description in what, 0 when neither says so (or neither
 * is configured), -1 with e when a configured file cannot be read. */
int writer_bot_running(const struct engine_config *cfg, char *what, size_t len, struct err *e);

/* The identities of n paths below root into ids (n entries). 0 or -1. */
int writer_idents(const char *root, char *const *paths, size_t n, struct writer_ident *ids,
                  struct err *e);

/* 1 if a and b describe the same file in the same state (or both absent). */
int writer_ident_eq(const struct writer_ident *a, const struct writer_ident *b);

/* Watch the n paths for ms milliseconds (every WRITER_POLL_MS): 0 when none
 * changed from ids, else 1 with the paths that changed appended to changed.
 * -1 with e on failure. ms <= 0 compares once. */
int writer_quiet(const char *root, char *const *paths, size_t n, const struct writer_ident *ids,
                 long ms, json_t *changed, struct err *e);

#define WRITER_POLL_MS 50
#define WRITER_DEFAULT_QUIET_MS 2000

#endif
