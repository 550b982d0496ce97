/* fsutil.c - careful file-system helpers: full writes, fsync, atomic replace. */
#include "fsutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int fs_join(char *out, size_t len, const char *a, const char *b, struct err *e)
{
    int n;
    size_t al = strlen(a);

    if (al > 0 && a[al - 1] == '/')
        n = snprintf(out, len, "%s%s", a, b);
    else
        n = snprintf(out, len, "%s/%s", a, b);
    if (n < 0 || (size_t)n >= len)
        return err_set(e, ERR_INVALID, "path too long: %.64s/%.64s", a, b);
    return 0;
}

int fs_write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;

    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

ssize_t fs_read_some(int fd, void *buf, size_t len)
{
    ssize_t r;

    do
        r = read(fd, buf, len);
    while (r < 0 && errno == EINTR);
    return r;
}

int fs_fsync_dir(const char *path, struct err *e)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

    if (fd < 0)
        return err_sys(e, errno, "open directory %s", path);
    if (fsync(fd) != 0 && errno != EINVAL) {
        int saved = errno;
        close(fd);
        return err_sys(e, saved, "fsync directory %s", path);
    }
    close(fd);
    return 0;
}

int fs_fsync_parent(const char *path, struct err *e)
{
    char dir[PATH_MAX];
    char *slash;

    if (snprintf(dir, sizeof(dir), "%s", path) >= (int)sizeof(dir))
        return err_set(e, ERR_INVALID, "path too long");
    slash = strrchr(dir, '/');
    if (slash == NULL)
        return fs_fsync_dir(".", e);
    if (slash == dir)
        slash[1] = '\0';
    else
        *slash = '\0';
    return fs_fsync_dir(dir, e);
}

int fs_mkdir_p(const char *path, mode_t mode, struct err *e)
{
    char buf[PATH_MAX];
    size_t len = strlen(path);

    if (len == 0 || len >= sizeof(buf))
        return err_set(e, ERR_INVALID, "bad directory path");
    memcpy(buf, path, len + 1);
    for (char *p = buf + 1; ; p++) {
        if (*p == '/' || *p == '\0') {
            char c = *p;
            *p = '\0';
            if (mkdir(buf, mode) != 0 && errno != EEXIST)
                return err_sys(e, errno, "mkdir %s", buf);
            *p = c;
            if (c == '\0')
                break;
        }
    }
    struct stat st;
    if (stat(path, &st) != 0)
        return err_sys(e, errno, "stat %s", path);
    if (!S_ISDIR(st.st_mode))
        return err_set(e, ERR_INVALID, "%s is not a directory", path);
    return 0;
}

int fs_write_atomic(const char *path, const void *buf, size_t len, mode_t mode, struct err *e)
{
    char tmp[PATH_MAX];
    int fd = -1;

    if (snprintf(tmp, sizeof(tmp), "%s.tmp" FS_TEMPLATE_TAIL, path) >= (int)sizeof(tmp))
        return err_set(e, ERR_INVALID, "path too long: %s", path);
    fd = mkstemp(tmp);
    if (fd < 0)
        return err_sys(e, errno, "create %s", tmp);
    if (fchmod(fd, mode) != 0 || fs_write_all(fd, buf, len) != 0 || fsync(fd) != 0) {
        err_sys(e, errno, "write %s", path);
        goto fail;
    }
    if (close(fd) != 0) {
        fd = -1;
        err_sys(e, errno, "close %s", path);
        goto fail;
    }
    fd = -1;
    if (rename(tmp, path) != 0) {
        err_sys(e, errno, "rename onto %s", path);
        goto fail;
    }
    return fs_fsync_parent(path, e);
fail:
    if (fd >= 0)
        close(fd);
    unlink(tmp);
    return -1;
}

int fs_read_file(const char *path, size_t max, char **buf, size_t *len, struct err *e)
{
    int fd;
    struct stat st;
    char *b = NULL;
    size_t cap, n = 0;

    *buf = NULL;
    *len = 0;
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        if (errno == ENOENT)
            return err_set(e, ERR_NOT_FOUND, "%s: no such file", path);
        return err_sys(e, errno, "open %s", path);
    }
    if (fstat(fd, &st) != 0) {
        err_sys(e, errno, "stat %s", path);
        goto fail;
    }
    if (!S_ISREG(st.st_mode)) {
        err_set(e, ERR_INVALID, "%s is not a regular file", path);
        goto fail;
    }
    if ((uint64_t)st.st_size > max) {
        err_set(e, ERR_TOO_LARGE, "%s is larger than %zu bytes", path, max);
        goto fail;
    }
    cap = (size_t)st.st_size + 1;
    b = malloc(cap + 1);
    if (b == NULL) {
        err_set(e, ERR_IO, "out of memory reading %s", path);
        goto fail;
    }
    for (;;) {
        ssize_t r = fs_read_some(fd, b + n, cap - n);
        if (r < 0) {
            err_sys(e, errno, "read %s", path);
            goto fail;
        }
        if (r == 0)
            break;
        n += (size_t)r;
        if (n == cap) {
            /* The file grew while we read it; keep what fits under max. */
            if (cap >= max + 1) {
                err_set(e, ERR_TOO_LARGE, "%s is larger than %zu bytes", path, max);
                goto fail;
            }
            size_t ncap = cap * 2 > max + 1 ? max + 1 : cap * 2;
            char *nb = realloc(b, ncap + 1);
            if (nb == NULL) {
                err_set(e, ERR_IO, "out of memory reading %s", path);
                goto fail;
            }
            b = nb;
            cap = ncap;
        }
    }
    close(fd);
    b[n] = '\0';
    *buf = b;
    *len = n;
    return 0;
fail:
    close(fd);
    free(b);
    return -1;
}

int fs_exists(const char *path)
{
    struct stat st;

    if (lstat(path, &st) == 0)
        return 1;
    return errno == ENOENT || errno == ENOTDIR ? 0 : -1;
}

void fs_hex(const unsigned char *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";

    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

static int hex_digit(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

int fs_unhex(const char *hex, unsigned char *out, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int hi = hex_digit(hex[2 * i]), lo = hi < 0 ? -1 : hex_digit(hex[2 * i + 1]);
        if (lo < 0)
            return -1;
        out[i] = (unsigned char)(hi << 4 | lo);
    }
    return hex[2 * n] == '\0' ? 0 : -1;
}

static int remove_tree_at(int at, const char *name, int depth, struct err *e)
{
    DIR *d;
    struct dirent *de;
    int fd, rc = 0;

    if (unlinkat(at, name, 0) == 0 || errno == ENOENT)
        return 0;
    if (errno != EISDIR && errno != EPERM)
        return err_sys(e, errno, "remove %.200s", name);
    if (depth >= FS_TREE_DEPTH_MAX)
        return err_set(e, ERR_IO, "remove %.200s: nested too deep", name);
    /* O_NOFOLLOW: had name been swapped for a symlink since the unlink
     * failed, this open fails rather than descend into its target. */
    fd = openat(at, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 0 : err_sys(e, errno, "open %.200s", name);
    if ((d = fdopendir(fd)) == NULL) {
        int saved = errno;
        close(fd);
        return err_sys(e, saved, "read %.200s", name);
    }
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (remove_tree_at(dirfd(d), de->d_name, depth + 1, e) != 0)
            rc = -1;
    }
    closedir(d);
    if (rc == 0 && unlinkat(at, name, AT_REMOVEDIR) != 0 && errno != ENOENT)
        rc = err_sys(e, errno, "remove %.200s", name);
    return rc;
}

int fs_remove_tree(int at, const char *name, struct err *e)
{
    return remove_tree_at(at, name, 0, e);
}
