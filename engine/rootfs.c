/* rootfs.c - reaching files below the state root without following a symlink. */
#include "rootfs.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define ROOTFS_DIR_FLAGS (O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)

/* Why component comp (of the path prefix shown) could not be opened as a
 * directory: a symlink, not a directory, missing, or an I/O error. */
static int comp_error(int dirfd, const char *comp, const char *prefix, int errnum,
                      struct err *e)
{
    struct stat st;

    if (errnum == ENOENT)
        return err_set(e, ERR_NOT_FOUND, "%.200s does not exist in the state root", prefix);
    if (fstatat(dirfd, comp, &st, AT_SYMLINK_NOFOLLOW) == 0) {
        if (S_ISLNK(st.st_mode))
            return err_set(e, ERR_CONFLICT, "%.200s in the state root is a symlink; restore "
                           "never writes through one (replace it with a directory)", prefix);
        if (!S_ISDIR(st.st_mode))
            return err_set(e, ERR_CONFLICT, "%.200s in the state root is not a directory",
                           prefix);
    }
    return err_sys(e, errnum, "open %.200s in the state root", prefix);
}

int rootfs_open_parent(const char *root, const char *rel, int create, const char **base,
                       struct err *e)
{
    char prefix[PATH_MAX];
    const char *p = rel, *slash;
    int fd, nfd;

    *base = NULL;
    if (rel == NULL || *rel == '\0' || *rel == '/' || strlen(rel) >= sizeof(prefix))
        return err_set(e, ERR_INVALID, "bad path in the state root: %.200s", rel ? rel : "");
    if ((fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
        return err_sys(e, errno, "open state root %s", root);
    while ((slash = strchr(p, '/')) != NULL) {
        size_t n = (size_t)(slash - p);
        char comp[NAME_MAX + 1];
        if (n == 0 || n > NAME_MAX || (n == 1 && p[0] == '.') ||
            (n == 2 && p[0] == '.' && p[1] == '.')) {
            close(fd);
            return err_set(e, ERR_INVALID, "bad path in the state root: %.200s", rel);
        }
        memcpy(comp, p, n);
        comp[n] = '\0';
        memcpy(prefix, rel, (size_t)(slash - rel));
        prefix[slash - rel] = '\0';
        nfd = openat(fd, comp, ROOTFS_DIR_FLAGS);
        if (nfd < 0 && errno == ENOENT && create) {
            /* Made inside the directory fd we already checked, so the new
             * directory cannot land anywhere else; EEXIST is a racing twin. */
            if (mkdirat(fd, comp, 0755) != 0 && errno != EEXIST) {
                int saved = errno;
                close(fd);
                return err_sys(e, saved, "mkdir %.200s in the state root", prefix);
            }
            nfd = openat(fd, comp, ROOTFS_DIR_FLAGS);
        }
        if (nfd < 0) {
            int saved = errno;
            comp_error(fd, comp, prefix, saved, e);
            close(fd);
            return -1;
        }
        close(fd);
        fd = nfd;
        p = slash + 1;
    }
    if (*p == '\0' || strcmp(p, ".") == 0 || strcmp(p, "..") == 0) {
        close(fd);
        return err_set(e, ERR_INVALID, "bad path in the state root: %.200s", rel);
    }
    *base = p;
    return fd;
}

int rootfs_lstat(const char *root, const char *rel, struct stat *st, struct err *e)
{
    const char *base;
    struct err pe = { 0 };
    int fd = rootfs_open_parent(root, rel, 0, &base, &pe), rc;

    if (fd < 0) {
        if (pe.code == ERR_NOT_FOUND)
            return 0;
        if (e != NULL)
            *e = pe;
        return -1;
    }
    if (fstatat(fd, base, st, AT_SYMLINK_NOFOLLOW) == 0)
        rc = 1;
    else if (errno == ENOENT || errno == ENOTDIR)
        rc = 0;
    else
        rc = err_sys(e, errno, "stat %.200s", rel);
    close(fd);
    return rc;
}
