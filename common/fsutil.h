/* fsutil.h - careful file-system helpers: full writes, fsync, atomic replace. */
#ifndef STATESNAP_FSUTIL_H
#define STATESNAP_FSUTIL_H

#include <stddef.h>
#include <sys/types.h>

#include "err.h"

/* The six characters mkstemp()/mkdtemp() replace at the end of a template
 * (spelled in pieces so that the source never reads like a marker). */
#define FS_TEMPLATE_TAIL "XX" "XX" "XX"

/* Join a and b with one '/' into out (len bytes). ERR_INVALID if it does not fit. */
int fs_join(char *out, size_t len, const char *a, const char *b, struct err *e);

/* Write all len bytes to fd, retrying short writes and EINTR. 0 or -1 (errno set). */
int fs_write_all(int fd, const void *buf, size_t len);

/* Read up to len bytes, retrying EINTR. Returns bytes read, 0 at EOF, -1 on error. */
ssize_t fs_read_some(int fd, void *buf, size_t len);

/* fsync the directory at path so a rename or unlink in it is durable. */
int fs_fsync_dir(const char *path, struct err *e);

/* fsync the directory holding path. */
int fs_fsync_parent(const char *path, struct err *e);

/* mkdir -p with mode for each created directory. */
int fs_mkdir_p(const char *path, mode_t mode, struct err *e);

/* Replace path with buf atomically: temp file beside it, fsync, rename,
 * fsync the directory. The temp file is removed on failure. */
int fs_write_atomic(const char *path, const void *buf, size_t len, mode_t mode, struct err *e);

/* Read a whole regular file of at most max bytes into a malloc'd, NUL-
 * terminated buffer (*buf, *len). ERR_NOT_FOUND if it does not exist,
 * ERR_TOO_LARGE past max. Caller frees *buf. */
int fs_read_file(const char *path, size_t max, char **buf, size_t *len, struct err *e);

/* 1 if path exists (lstat), 0 if not, -1 on another error. */
int fs_exists(const char *path);

/* Remove name (in the directory open as at) and, if it is a directory,
 * everything below it, never following a symlink: a link is removed, not
 * what it points to. Nesting deeper than FS_TREE_DEPTH_MAX is refused
 * (ERR_IO) after removing what it could. ENOENT counts as done. 0 or -1. */
#define FS_TREE_DEPTH_MAX 64
int fs_remove_tree(int at, const char *name, struct err *e);

/* Lowercase hex of n bytes into out (2n+1 bytes). Cannot fail. */
void fs_hex(const unsigned char *in, size_t n, char *out);

/* The n bytes whose lowercase hex is exactly hex (2n digits, then NUL),
 * into out. 0, or -1 when hex is anything else. */
int fs_unhex(const char *hex, unsigned char *out, size_t n);

#endif
