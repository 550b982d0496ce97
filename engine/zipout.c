/* zipout.c - a zip archive written entry by entry (zipout.h). */
#include "zipout.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "zipfmt.h"

#define MADE_BY 0x033f                 /* 6.3, Unix: what libzip writes */
#define FLAG_UTF8 0x0800
#define U32_MAX 0xffffffffu
#define U16_MAX 0xffffu

/* The central directory's record of one entry: 48 bytes (the name's
 * length and flags are taken from it again when the directory is written). */
struct zipout_ent {
    const char *name;
    uint64_t off, comp, size;
    uint32_t crc;
    uint16_t dtime, ddate;
    uint32_t mode;
    uint16_t method;
    unsigned char z64_local;   /* the local header carries the Zip64 sizes */
};

struct zipout {
    char *path;
    int fd;
    struct err *e;
    unsigned char *buf;     /* bytes [base, base + len) of the file, not yet written */
    size_t len;
    uint64_t base;
    uint64_t pos;           /* the end of what is written: where the next bytes go */
    struct zipout_ent *ents;
    size_t n, cap;
    int open_entry;         /* ents[n] is begun */
    uint64_t data_at;       /* where the open entry's data begins */
    size_t name_len;        /* the open entry's */
    uint64_t z64_at;
};

static int pwrite_all(struct zipout *z, const unsigned char *p, size_t n, uint64_t off)
{
    while (n > 0) {
        ssize_t w = pwrite(z->fd, p, n, (off_t)off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return err_sys(z->e, w < 0 ? errno : EIO, "writing the archive");
        p += w;
        n -= (size_t)w;
        off += (uint64_t)w;
    }
    return 0;
}

static int flush(struct zipout *z)
{
    if (z->len > 0 && pwrite_all(z, z->buf, z->len, z->base) != 0)
        return -1;
    z->len = 0;
    z->base = z->pos;
    return 0;
}

/* Append n bytes at pos. Large writes skip the window. */
static int put(struct zipout *z, const void *p, size_t n)
{
    if (z->len + n > ZIPOUT_BUF && flush(z) != 0)
        return -1;
    if (n >= ZIPOUT_BUF / 2) {
        if (pwrite_all(z, p, n, z->pos) != 0)
            return -1;
        z->pos += n;
        z->base = z->pos;
        return 0;
    }
    memcpy(z->buf + z->len, p, n);
    z->len += n;
    z->pos += n;
    return 0;
}

/* Rewrite n bytes at off, behind pos. */
static int patch(struct zipout *z, uint64_t off, const unsigned char *p, size_t n)
{
    if (off >= z->base) {
        memcpy(z->buf + (off - z->base), p, n);
        return 0;
    }
    if (off + n > z->base && flush(z) != 0)
        return -1;
    return pwrite_all(z, p, n, off);
}

struct zipout *zipout_open(const char *path, struct err *e)
{
    struct zipout *z = calloc(1, sizeof(*z));

    if (z == NULL || (z->path = strdup(path)) == NULL || (z->buf = malloc(ZIPOUT_BUF)) == NULL) {
        if (z != NULL)
            free(z->path);
        free(z);
        err_set(e, ERR_IO, "out of memory");
        return NULL;
    }
    z->e = e;
    z->z64_at = U32_MAX - (U32_MAX >> 6);   /* deflate may grow a block: keep a margin */
    z->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (z->fd < 0) {
        err_sys(e, errno, "cannot create %s", path);
        free(z->buf);
        free(z->path);
        free(z);
        return NULL;
    }
    return z;
}

int zipout_reserve(struct zipout *z, size_t n)
{
    struct zipout_ent *ne;

    if (n <= z->cap)
        return 0;
    if (n > SIZE_MAX / sizeof(*ne) || (ne = realloc(z->ents, n * sizeof(*ne))) == NULL)
        return err_set(z->e, ERR_IO, "out of memory");
    z->ents = ne;
    z->cap = n;
    return 0;
}

void zipout_set_zip64_at(struct zipout *z, uint64_t size_hint)
{
    z->z64_at = size_hint;
}

static int ascii(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s >= 0x80)
            return 0;
    return 1;
}

static unsigned version_needed(const struct zipout_ent *t, int z64)
{
    return z64 ? 45 : t->method == ZIPOUT_DEFLATE ? 20 : 10;
}

int zipout_begin(struct zipout *z, const char *name, unsigned mode, time_t mtime, int method,
                 uint64_t size_hint)
{
    unsigned char h[ZIPFMT_LOCAL_FIXED + 20];
    size_t name_len = strlen(name);
    struct zipout_ent *t;
    struct tm tm;

    if (z->open_entry)
        return err_set(z->e, ERR_IO, "an archive entry was begun twice");
    if (name_len == 0 || name_len >= U16_MAX)
        return err_set(z->e, ERR_IO, "cannot store a file name of %zu bytes in a zip", name_len);
    if (z->n == z->cap && zipout_reserve(z, z->cap ? z->cap * 2 : 64) != 0)
        return -1;
    t = &z->ents[z->n];
    memset(t, 0, sizeof(*t));
    t->name = name;
    z->name_len = name_len;
    t->off = z->pos;
    t->mode = mode;
    t->method = (uint16_t)method;
    t->z64_local = size_hint >= z->z64_at;
    /* As libzip does: local time, 1980 at the earliest (and 2107 at the latest). */
    if (localtime_r(&mtime, &tm) == NULL)
        memset(&tm, 0, sizeof(tm));
    if (tm.tm_year < 80) {
        tm.tm_year = 80;
        tm.tm_mon = 0;
        tm.tm_mday = 1;
        tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
    } else if (tm.tm_year > 207) {
        /* DOS dates end with 2107. */
        tm.tm_year = 207;
        tm.tm_mon = 11;
        tm.tm_mday = 31;
        tm.tm_hour = 23;
        tm.tm_min = 59;
        tm.tm_sec = 58;
    }
    t->ddate = (uint16_t)(((tm.tm_year + 1900 - 1980) << 9) + ((tm.tm_mon + 1) << 5) + tm.tm_mday);
    t->dtime = (uint16_t)((tm.tm_hour << 11) + (tm.tm_min << 5) + (tm.tm_sec >> 1));

    memset(h, 0, sizeof(h));
    zipfmt_put32(h, ZIPFMT_SIG_LOCAL);
    zipfmt_put16(h + 4, version_needed(t, t->z64_local));
    zipfmt_put16(h + 6, ascii(name) ? 0 : FLAG_UTF8);
    zipfmt_put16(h + 8, t->method);
    zipfmt_put16(h + 10, t->dtime);
    zipfmt_put16(h + 12, t->ddate);
    /* CRC and sizes at 14..25: written by zipout_end. */
    zipfmt_put16(h + 26, (unsigned)name_len);
    zipfmt_put16(h + 28, t->z64_local ? 20 : 0);
    if (put(z, h, ZIPFMT_LOCAL_FIXED) != 0 || put(z, name, name_len) != 0)
        return -1;
    if (t->z64_local) {
        zipfmt_put16(h + ZIPFMT_LOCAL_FIXED, 0x0001);
        zipfmt_put16(h + ZIPFMT_LOCAL_FIXED + 2, 16);
        if (put(z, h + ZIPFMT_LOCAL_FIXED, 20) != 0)
            return -1;
    }
    z->open_entry = 1;
    z->data_at = z->pos;
    return 0;
}

int zipout_write(struct zipout *z, const void *p, size_t n)
{
    return n == 0 ? 0 : put(z, p, n);
}

uint64_t zipout_entry_bytes(const struct zipout *z)
{
    return z->open_entry ? z->pos - z->data_at : 0;
}

int zipout_end(struct zipout *z, uint32_t crc, uint64_t size)
{
    struct zipout_ent *t = &z->ents[z->n];
    unsigned char h[16];

    if (!z->open_entry)
        return err_set(z->e, ERR_IO, "an archive entry was ended before it was begun");
    t->crc = crc;
    t->size = size;
    t->comp = z->pos - z->data_at;
    if (!t->z64_local && (t->size >= U32_MAX || t->comp >= U32_MAX))
        return err_set(z->e, ERR_IO, "%s: larger than its header allows", t->name);
    zipfmt_put32(h, crc);
    zipfmt_put32(h + 4, t->z64_local ? U32_MAX : (uint32_t)t->comp);
    zipfmt_put32(h + 8, t->z64_local ? U32_MAX : (uint32_t)t->size);
    if (patch(z, t->off + 14, h, 12) != 0)
        return -1;
    if (t->z64_local) {
        zipfmt_put64(h, t->size);
        zipfmt_put64(h + 8, t->comp);
        if (patch(z, t->off + ZIPFMT_LOCAL_FIXED + z->name_len + 4, h, 16) != 0)
            return -1;
    }
    z->open_entry = 0;
    z->n++;
    return 0;
}

int zipout_last(const struct zipout *z, struct zipout_info *out)
{
    const struct zipout_ent *t;

    if (z->n == 0)
        return err_set(z->e, ERR_IO, "the archive has no entry yet");
    t = &z->ents[z->n - 1];
    out->off = t->off;
    out->comp = t->comp;
    out->size = t->size;
    out->crc = t->crc;
    out->method = t->method;
    return 0;
}

int zipout_flush(struct zipout *z)
{
    return flush(z);
}

void zipout_undo(struct zipout *z)
{
    uint64_t off = z->ents[z->n].off;

    if (!z->open_entry)
        return;
    z->open_entry = 0;
    if (off >= z->base) {
        z->len = (size_t)(off - z->base);
    } else {
        /* Already written out: what follows overwrites it, and close cuts the file. */
        z->len = 0;
        z->base = off;
    }
    z->pos = off;
}

/* One central directory record. */
static int put_central(struct zipout *z, const struct zipout_ent *t)
{
    unsigned char h[ZIPFMT_CENTRAL_FIXED + 28];
    unsigned char *x = h + ZIPFMT_CENTRAL_FIXED;
    size_t xl = 0;
    int big_size = t->size >= U32_MAX, big_comp = t->comp >= U32_MAX, big_off = t->off >= U32_MAX;
    int z64 = big_size || big_comp || big_off;
    size_t name_len = strlen(t->name);

    memset(h, 0, sizeof(h));
    if (z64) {
        xl = 4;
        if (big_size)
            zipfmt_put64(x + xl, t->size), xl += 8;
        if (big_comp)
            zipfmt_put64(x + xl, t->comp), xl += 8;
        if (big_off)
            zipfmt_put64(x + xl, t->off), xl += 8;
        zipfmt_put16(x, 0x0001);
        zipfmt_put16(x + 2, (unsigned)(xl - 4));
    }
    zipfmt_put32(h, ZIPFMT_SIG_CENTRAL);
    zipfmt_put16(h + 4, MADE_BY);
    zipfmt_put16(h + 6, version_needed(t, z64 || t->z64_local));
    zipfmt_put16(h + 8, ascii(t->name) ? 0 : FLAG_UTF8);
    zipfmt_put16(h + 10, t->method);
    zipfmt_put16(h + 12, t->dtime);
    zipfmt_put16(h + 14, t->ddate);
    zipfmt_put32(h + 16, t->crc);
    zipfmt_put32(h + 20, big_comp ? U32_MAX : (uint32_t)t->comp);
    zipfmt_put32(h + 24, big_size ? U32_MAX : (uint32_t)t->size);
    zipfmt_put16(h + 28, (unsigned)name_len);
    zipfmt_put16(h + 30, (unsigned)xl);
    /* comment length, disk, internal attributes: 0 */
    zipfmt_put32(h + 38, t->mode << 16);
    zipfmt_put32(h + 42, big_off ? U32_MAX : (uint32_t)t->off);
    if (put(z, h, ZIPFMT_CENTRAL_FIXED) != 0 || put(z, t->name, name_len) != 0)
        return -1;
    return xl > 0 ? put(z, x, xl) : 0;
}

static int put_end(struct zipout *z, uint64_t cd_off, uint64_t cd_size)
{
    unsigned char h[56 + 20 + ZIPFMT_END_FIXED];
    size_t n = 0;

    memset(h, 0, sizeof(h));
    if (z->n >= U16_MAX || cd_off >= U32_MAX || cd_size >= U32_MAX) {
        uint64_t at = z->pos;
        zipfmt_put32(h, ZIPFMT_SIG_END64);
        zipfmt_put64(h + 4, 44);
        zipfmt_put16(h + 12, MADE_BY);
        zipfmt_put16(h + 14, 45);
        /* this disk, the directory's disk: 0 */
        zipfmt_put64(h + 24, z->n);
        zipfmt_put64(h + 32, z->n);
        zipfmt_put64(h + 40, cd_size);
        zipfmt_put64(h + 48, cd_off);
        zipfmt_put32(h + 56, ZIPFMT_SIG_LOCATOR64);
        zipfmt_put64(h + 64, at);
        zipfmt_put32(h + 72, 1);
        n = 76;
    }
    zipfmt_put32(h + n, ZIPFMT_SIG_END);
    zipfmt_put16(h + n + 8, z->n >= U16_MAX ? U16_MAX : (unsigned)z->n);
    zipfmt_put16(h + n + 10, z->n >= U16_MAX ? U16_MAX : (unsigned)z->n);
    zipfmt_put32(h + n + 12, cd_size >= U32_MAX ? U32_MAX : (uint32_t)cd_size);
    zipfmt_put32(h + n + 16, cd_off >= U32_MAX ? U32_MAX : (uint32_t)cd_off);
    return put(z, h, n + ZIPFMT_END_FIXED);
}

static void zipout_free(struct zipout *z)
{
    free(z->ents);
    free(z->buf);
    free(z->path);
    free(z);
}

int zipout_close(struct zipout *z)
{
    uint64_t cd_off = z->pos;
    int rc = 0;

    if (z->open_entry)
        rc = err_set(z->e, ERR_IO, "an archive entry was not ended");
    for (size_t i = 0; rc == 0 && i < z->n; i++)
        rc = put_central(z, &z->ents[i]);
    if (rc == 0)
        rc = put_end(z, cd_off, z->pos - cd_off);
    if (rc == 0)
        rc = flush(z);
    if (rc == 0 && ftruncate(z->fd, (off_t)z->pos) != 0)
        rc = err_sys(z->e, errno, "writing the archive");
    if (close(z->fd) != 0 && rc == 0)
        rc = err_sys(z->e, errno, "writing the archive");
    if (rc != 0)
        unlink(z->path);
    zipout_free(z);
    return rc;
}

void zipout_discard(struct zipout *z)
{
    if (z == NULL)
        return;
    close(z->fd);
    unlink(z->path);
    zipout_free(z);
}
