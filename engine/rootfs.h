/* rootfs.h - reaching files below the state root without following a symlink. */
#ifndef STATESNAP_ROOTFS_H
#define STATESNAP_ROOTFS_H

#include <sys/stat.h>

#include "../common/err.h"

/* Open the directory that holds rel below root and return its fd (caller
 * closes). rel is a safe relative path ('/'-separated, no empty, "." or ".."
 * component: manifest_path_safe). root itself is opened as configured (it may
 * be a symlink the operator chose); every directory below it is opened one
 * component at a time with O_NOFOLLOW | O_DIRECTORY, so a symlink anywhere
 * between root and the file is never followed. With create != 0, missing
 * directories are made with mode 0755 (mkdirat in the verified parent).
 * *base is set to the last component of rel (points into rel).
 * Returns the fd, or -1 with e: ERR_NOT_FOUND when a directory is missing
 * and create is 0, ERR_CONFLICT when a component is a symlink or not a
 * directory (naming it), ERR_INVALID for a bad rel, ERR_IO otherwise. */
int rootfs_open_parent(const char *root, const char *rel, int create, const char **base,
                       struct err *e);

/* lstat rel below root through rootfs_open_parent (no symlink followed on
 * the way; the file itself is not followed either). Returns 1 with *st when
 * it exists, 0 when it or one of its directories does not, -1 with e
 * (ERR_CONFLICT for a symlinked or non-directory parent). */
int rootfs_lstat(const char *root, const char *rel, struct stat *st, struct err *e);

#endif
