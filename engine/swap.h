/* swap.h - the file moves of a restore and its recovery: a temp extracted
 * beside its target, renamed over it, or removed; every path reached
 * through rootfs, relative to a verified directory fd. */
#ifndef STATESNAP_SWAP_H
#define STATESNAP_SWAP_H

#include <stddef.h>
#include <sys/types.h>

#include "archive.h"

/* Name the temp file for rel below root: beside its target, marked
 * (CAPTURE_TMP_MARK), random. ERR_INVALID when the path is too long. */
int swap_tmp_name(const char *root, const char *rel, char *tmp, size_t tmplen, struct err *e);

/* The last component of a temp path (it lives beside its target). Cannot fail. */
const char *swap_tmp_base(const char *tmp);

/* Extract rel from the archive into the temp file tmp (named by
 * swap_tmp_name) in rel's directory below root, checking its hash on the
 * way; fsync it. The directory is reached (and made) through rootfs, and
 * the temp is created relative to that verified directory fd, so no
 * symlink in the root can send the bytes elsewhere. 0 or -1 (the temp is
 * removed then). */
int swap_extract(const char *root, struct archive *a, const char *rel, mode_t mode,
                 const char *tmp, struct err *e);

/* Delete rel (tmp NULL), or rename temp tmp onto it, in rel's directory
 * below root reached through rootfs; then fsync the directory. 0 or -1. */
int swap_in(const char *root, const char *rel, const char *tmp, struct err *e);

/* Remove the temp of rel, if any, from rel's directory (through rootfs).
 * Best effort: cannot fail. */
void swap_remove_tmp(const char *root, const char *rel, const char *tmp);

/* 1 when tmp (from a journal) is exactly what swap_tmp_name makes for rel
 * below root: ROOT/REL.statesnap-tmp.<hex>; anything else in a journal is
 * not ours to touch (0). Cannot fail. */
int swap_tmp_is_ours(const char *root, const char *rel, const char *tmp);

#endif
