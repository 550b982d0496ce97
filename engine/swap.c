/* swap.c - the file moves of a restore and its recovery: a temp extracted
 * beside its target (hashed on the way), renamed over it, or removed. Every
 * path is reached through rootfs, relative to a verified directory fd. */
#include "swap.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "capture.h"
#include "../common/fsutil.h"
#include "rootfs.h"
#include "store.h"

struct fd_sink {
    int fd;
    const char *rel;
};

static int fd_sink_write(void *ctx, const void *buf, size_t n, struct err *e)
{
    struct fd_sink *fs = ctx;

    if (fs_write_all(fs->fd, buf, n) != 0)
        return err_sys(e, errno, "write %s", fs->rel);
    return 0;
}

/* Name the temp file for rel below root: beside its target, marked, random. */
int swap_tmp_name(const char *root, const char *rel, char *tmp, size_t tmplen,
                  struct err *e)
{
    char target[PATH_MAX], rnd[17];

    if (fs_join(target, sizeof(target), root, rel, e) != 0 ||
        store_random_hex(rnd, 8, e) != 0)
        return -1;
    if (snprintf(tmp, tmplen, "%s" CAPTURE_TMP_MARK ".%s", target, rnd) >= (int)tmplen)
        return err_set(e, ERR_INVALID, "path too long: %.200s", rel);
    return 0;
}

/* The last component of a temp path (it lives beside its target). */
const char *swap_tmp_base(const char *tmp)
{
    const char *slash = strrchr(tmp, '/');

    return slash ? slash + 1 : tmp;
}

/* Extract rel from the archive into the temp file tmp (named by swap_tmp_name)
 * in rel's directory below root, checking its hash on the way; fsync it.
 * The directory is reached (and made) through rootfs, and the temp is
 * created relative to that verified directory fd, so no symlink in the
 * root can send the bytes elsewhere. */
int swap_extract(const char *root, struct archive *a, const char *rel, mode_t mode,
                 const char *tmp, struct err *e)
{
    struct fd_sink sink;
    const char *base, *tb = swap_tmp_base(tmp);
    int dfd, fd;

    if ((dfd = rootfs_open_parent(root, rel, 1, &base, e)) < 0)
        return -1;
    fd = openat(dfd, tb, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode ? mode : 0644);
    if (fd < 0) {
        err_sys(e, errno, "create %s", tmp);
        close(dfd);
        return -1;
    }
    sink.fd = fd;
    sink.rel = rel;
    if (archive_stream(a, rel, fd_sink_write, &sink, e) != 0 || fsync(fd) != 0) {
        if (e->code == ERR_NONE)
            err_sys(e, errno, "sync %s", tmp);
        close(fd);
        unlinkat(dfd, tb, 0);
        close(dfd);
        return -1;
    }
    if (close(fd) != 0) {
        err_sys(e, errno, "close %s", tmp);
        unlinkat(dfd, tb, 0);
        close(dfd);
        return -1;
    }
    close(dfd);
    return 0;
}

/* Delete rel, or rename temp tmp onto it, in rel's directory below root
 * reached through rootfs: renameat/unlinkat relative to that verified
 * directory fd, then fsync it. */
int swap_in(const char *root, const char *rel, const char *tmp, struct err *e)
{
    const char *base;
    int dfd, rc = 0;

    if ((dfd = rootfs_open_parent(root, rel, 0, &base, e)) < 0) {
        /* Nothing to delete where there is no directory. */
        if (tmp == NULL && e != NULL && e->code == ERR_NOT_FOUND) {
            err_clear(e);
            return 0;
        }
        return -1;
    }
    if (tmp == NULL) {
        if (unlinkat(dfd, base, 0) != 0 && errno != ENOENT)
            rc = err_sys(e, errno, "remove %s", rel);
    } else if (renameat(dfd, swap_tmp_base(tmp), dfd, base) != 0) {
        rc = err_sys(e, errno, "rename onto %s", rel);
    }
    if (rc == 0 && fsync(dfd) != 0 && errno != EINVAL)
        rc = err_sys(e, errno, "fsync the directory of %s", rel);
    close(dfd);
    return rc;
}

/* Remove the temp of rel, if any, from rel's directory (through rootfs). */
void swap_remove_tmp(const char *root, const char *rel, const char *tmp)
{
    const char *base;
    int dfd = rootfs_open_parent(root, rel, 0, &base, NULL);

    if (dfd < 0)
        return;
    unlinkat(dfd, swap_tmp_base(tmp), 0);
    close(dfd);
}

/* The temp tmp (from a journal) when it is exactly what swap_tmp_name makes for
 * rel below root: ROOT/REL.statesnap-tmp.<hex>. Anything else in a journal
 * is not ours to touch. */
int swap_tmp_is_ours(const char *root, const char *rel, const char *tmp)
{
    char target[PATH_MAX];
    size_t tl, ml = strlen(CAPTURE_TMP_MARK);

    if (tmp == NULL || fs_join(target, sizeof(target), root, rel, NULL) != 0)
        return 0;
    tl = strlen(target);
    if (strncmp(tmp, target, tl) != 0 || strncmp(tmp + tl, CAPTURE_TMP_MARK, ml) != 0 ||
        tmp[tl + ml] != '.' || tmp[tl + ml + 1] == '\0')
        return 0;
    for (const char *c = tmp + tl + ml + 1; *c; c++)
        if (!((*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'f')))
            return 0;
    return 1;
}
