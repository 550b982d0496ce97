/* zipout.c - a libzip write source with a write-behind buffer (zipout.h). */
#include "zipout.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct zipout {
    char *path;
    int fd;                 /* -1 until the write begins, and after it ends */
    unsigned char *buf;     /* bytes [base, base + len) of the file, not yet written */
    size_t len;
    uint64_t base;
    uint64_t pos;           /* where the next write goes */
    uint64_t end;           /* the file's length as written so far */
    zip_error_t zerr;
};

static int pwrite_all(int fd, const unsigned char *p, size_t n, uint64_t off)
{
    while (n > 0) {
        ssize_t w = pwrite(fd, p, n, (off_t)off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
        off += (uint64_t)w;
    }
    return 0;
}

static int flush(struct zipout *z)
{
    if (z->len > 0 && pwrite_all(z->fd, z->buf, z->len, z->base) != 0) {
        zip_error_set(&z->zerr, ZIP_ER_WRITE, errno ? errno : EIO);
        return -1;
    }
    z->len = 0;
    z->base = z->pos;
    return 0;
}

/* The bytes go into the window when they extend it without a gap (a
 * header rewritten just behind, or the next bytes); anything else flushes
 * it first. Large writes skip the buffer. */
static zip_int64_t out_write(struct zipout *z, const void *data, zip_uint64_t n)
{
    if (z->pos >= z->base && z->pos <= z->base + z->len && z->pos + n <= z->base + ZIPOUT_BUF) {
        size_t at = (size_t)(z->pos - z->base);
        memcpy(z->buf + at, data, (size_t)n);
        if (at + n > z->len)
            z->len = at + (size_t)n;
    } else {
        if (flush(z) != 0)
            return -1;
        if (n >= ZIPOUT_BUF / 2) {
            if (pwrite_all(z->fd, data, (size_t)n, z->pos) != 0) {
                zip_error_set(&z->zerr, ZIP_ER_WRITE, errno ? errno : EIO);
                return -1;
            }
            z->base = z->pos + n;
        } else {
            memcpy(z->buf, data, (size_t)n);
            z->len = (size_t)n;
        }
    }
    z->pos += n;
    if (z->pos > z->end)
        z->end = z->pos;
    return (zip_int64_t)n;
}

static void out_abandon(struct zipout *z)
{
    if (z->fd >= 0) {
        close(z->fd);
        z->fd = -1;
        unlink(z->path);
    }
    z->len = 0;
}

static zip_int64_t out_cb(void *ud, void *data, zip_uint64_t len, zip_source_cmd_t cmd)
{
    struct zipout *z = ud;

    switch (cmd) {
    case ZIP_SOURCE_BEGIN_WRITE:
        z->fd = open(z->path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (z->fd < 0) {
            zip_error_set(&z->zerr, ZIP_ER_OPEN, errno);
            return -1;
        }
        if (z->buf == NULL && (z->buf = malloc(ZIPOUT_BUF)) == NULL) {
            out_abandon(z);
            zip_error_set(&z->zerr, ZIP_ER_MEMORY, 0);
            return -1;
        }
        z->len = 0;
        z->base = z->pos = z->end = 0;
        return 0;
    case ZIP_SOURCE_WRITE:
        return out_write(z, data, len);
    case ZIP_SOURCE_TELL_WRITE:
        return (zip_int64_t)z->pos;
    case ZIP_SOURCE_SEEK_WRITE: {
        zip_int64_t off = zip_source_seek_compute_offset(z->pos, z->end, data, len, &z->zerr);
        if (off < 0)
            return -1;
        z->pos = (uint64_t)off;
        return 0;
    }
    case ZIP_SOURCE_COMMIT_WRITE: {
        int rc = flush(z);
        if (close(z->fd) != 0 && rc == 0) {
            zip_error_set(&z->zerr, ZIP_ER_WRITE, errno);
            rc = -1;
        }
        z->fd = -1;
        if (rc != 0)
            unlink(z->path);
        return rc;
    }
    case ZIP_SOURCE_ROLLBACK_WRITE:
        out_abandon(z);
        return 0;
    case ZIP_SOURCE_REMOVE:
        out_abandon(z);
        if (unlink(z->path) != 0 && errno != ENOENT) {
            zip_error_set(&z->zerr, ZIP_ER_REMOVE, errno);
            return -1;
        }
        return 0;
    case ZIP_SOURCE_STAT:
        /* There is no archive to read yet: libzip makes a new one (it
         * tells "no such file" by this pair, as its own file source says it). */
        zip_error_set(&z->zerr, ZIP_ER_READ, ENOENT);
        return -1;
    case ZIP_SOURCE_OPEN:
    case ZIP_SOURCE_CLOSE:
        return 0;
    case ZIP_SOURCE_READ:
        return 0;
    case ZIP_SOURCE_SEEK:
        return 0;
    case ZIP_SOURCE_TELL:
        return 0;
    case ZIP_SOURCE_ERROR:
        return zip_error_to_data(&z->zerr, data, len);
    case ZIP_SOURCE_FREE:
        out_abandon(z);
        free(z->buf);
        free(z->path);
        zip_error_fini(&z->zerr);
        free(z);
        return 0;
    case ZIP_SOURCE_SUPPORTS:
        return ZIP_SOURCE_SUPPORTS_WRITABLE;
    default:
        zip_error_set(&z->zerr, ZIP_ER_OPNOTSUPP, 0);
        return -1;
    }
}

zip_t *zipout_open(const char *path, struct err *e)
{
    struct zipout *z = calloc(1, sizeof(*z));
    zip_error_t ze;
    zip_source_t *src;
    zip_t *za;

    if (z == NULL || (z->path = strdup(path)) == NULL) {
        free(z);
        err_set(e, ERR_IO, "out of memory");
        return NULL;
    }
    z->fd = -1;
    zip_error_init(&z->zerr);
    zip_error_init(&ze);
    if ((src = zip_source_function_create(out_cb, z, &ze)) == NULL) {
        free(z->path);
        free(z);
        err_set(e, ERR_IO, "cannot create %s: %s", path, zip_error_strerror(&ze));
        zip_error_fini(&ze);
        return NULL;
    }
    if ((za = zip_open_from_source(src, ZIP_CREATE | ZIP_TRUNCATE, &ze)) == NULL) {
        err_set(e, ERR_IO, "cannot create %s: %s", path, zip_error_strerror(&ze));
        zip_source_free(src);   /* frees z */
    }
    zip_error_fini(&ze);
    return za;
}
