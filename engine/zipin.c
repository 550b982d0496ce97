/* zipin.c - a zip's central directory walked entry by entry, and an entry's
 * data read back (zipin.h). */
#include "zipin.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "zipfmt.h"

#define END_SCAN (ZIPFMT_END_FIXED + 0xffff)   /* the end record and the longest comment */
#define WINDOW (1u << 20)                      /* > the largest central record (46 + 3 * 65535) */

int zipin_pread(int fd, void *buf, size_t n, uint64_t off, struct err *e)
{
    unsigned char *p = buf;

    while (n > 0) {
        ssize_t r = pread(fd, p, n, (off_t)off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return err_sys(e, errno, "reading the archive");
        if (r == 0)
            return err_set(e, ERR_VERIFY, "the archive ends early");
        p += r;
        n -= (size_t)r;
        off += (uint64_t)r;
    }
    return 0;
}

/* The directory's offset, size and entry count, from the end records. */
static int find_directory(int fd, uint64_t file_size, uint64_t *cd_off, uint64_t *cd_size,
                          uint64_t *count, struct err *e)
{
    size_t scan = file_size < END_SCAN ? (size_t)file_size : END_SCAN;
    unsigned char *buf = malloc(scan > 0 ? scan : 1), *end = NULL;
    uint64_t end_at;
    int rc = -1;

    if (buf == NULL)
        return err_set(e, ERR_IO, "out of memory");
    if (scan < ZIPFMT_END_FIXED) {
        err_set(e, ERR_VERIFY, "not a zip archive: %llu bytes", (unsigned long long)file_size);
        goto out;
    }
    if (zipin_pread(fd, buf, scan, file_size - scan, e) != 0)
        goto out;
    for (size_t i = scan - ZIPFMT_END_FIXED + 1; i-- > 0;)
        if (zipfmt_get32(buf + i) == ZIPFMT_SIG_END && i + ZIPFMT_END_FIXED + zipfmt_get16(buf + i + 20) == scan) {
            end = buf + i;
            break;
        }
    if (end == NULL) {
        err_set(e, ERR_VERIFY, "not a zip archive: no end of central directory record");
        goto out;
    }
    end_at = file_size - scan + (uint64_t)(end - buf);
    if (zipfmt_get16(end + 4) != 0 || zipfmt_get16(end + 6) != 0 || zipfmt_get16(end + 8) != zipfmt_get16(end + 10)) {
        err_set(e, ERR_VERIFY, "a multi-disk zip archive");
        goto out;
    }
    *count = zipfmt_get16(end + 10);
    *cd_size = zipfmt_get32(end + 12);
    *cd_off = zipfmt_get32(end + 16);
    if (*count == 0xffff || *cd_size == 0xffffffffu || *cd_off == 0xffffffffu) {
        unsigned char loc[20], e64[56];
        if (end_at < 20 + 56 || zipin_pread(fd, loc, 20, end_at - 20, e) != 0) {
            err_set(e, ERR_VERIFY, "the zip's Zip64 end record is missing or broken");
            goto out;
        }
        if (zipfmt_get32(loc) != ZIPFMT_SIG_LOCATOR64 || zipfmt_get64(loc + 8) > end_at - 20 - 56 ||
            zipin_pread(fd, e64, 56, zipfmt_get64(loc + 8), e) != 0 || zipfmt_get32(e64) != ZIPFMT_SIG_END64) {
            err_set(e, ERR_VERIFY, "the zip's Zip64 end record is missing or broken");
            goto out;
        }
        *count = zipfmt_get64(e64 + 32);
        *cd_size = zipfmt_get64(e64 + 40);
        *cd_off = zipfmt_get64(e64 + 48);
        end_at = zipfmt_get64(loc + 8);
    }
    if (*cd_off > end_at || *cd_size > end_at - *cd_off) {
        err_set(e, ERR_VERIFY, "the zip's central directory lies outside the file");
        goto out;
    }
    rc = 0;
out:
    free(buf);
    return rc;
}

/* The Zip64 extra field's values where the 32-bit ones say so. */
static int zip64_extra(const unsigned char *x, size_t xl, struct zipin_entry *en, int big_size,
                       int big_comp, int big_off)
{
    while (xl >= 4) {
        uint16_t tag = zipfmt_get16(x), len = zipfmt_get16(x + 2);
        if ((size_t)len + 4 > xl)
            return -1;
        if (tag == 0x0001) {
            size_t at = 4, need = 8u * (size_t)(big_size + big_comp + big_off);
            if (len < need)
                return -1;
            if (big_size)
                en->size = zipfmt_get64(x + at), at += 8;
            if (big_comp)
                en->comp_size = zipfmt_get64(x + at), at += 8;
            if (big_off)
                en->local_off = zipfmt_get64(x + at);
            return 0;
        }
        x += 4 + len;
        xl -= 4 + (size_t)len;
    }
    return big_size || big_comp || big_off ? -1 : 0;
}

int zipin_each(int fd, zipin_fn each, void *ctx, struct err *e)
{
    struct stat st;
    uint64_t cd_off = 0, cd_size = 0, count = 0, done = 0, at;
    unsigned char *win = NULL;
    char *name = NULL;
    size_t have = 0, pos = 0;
    int rc = -1;

    if (fstat(fd, &st) != 0)
        return err_sys(e, errno, "reading the archive");
    if (find_directory(fd, (uint64_t)st.st_size, &cd_off, &cd_size, &count, e) != 0)
        return -1;
    if ((win = malloc(WINDOW)) == NULL || (name = malloc(0x10000)) == NULL) {
        err_set(e, ERR_IO, "out of memory");
        goto out;
    }
    at = cd_off;
    for (uint64_t n = 0; n < count; n++) {
        struct zipin_entry en;
        size_t nl, xl, cl, rec;
        /* Keep a whole record in the window: refill from where it begins. */
        if (have - pos < ZIPFMT_CENTRAL_FIXED ||
            have - pos < ZIPFMT_CENTRAL_FIXED + (size_t)zipfmt_get16(win + pos + 28) + zipfmt_get16(win + pos + 30) +
                             zipfmt_get16(win + pos + 32)) {
            uint64_t left = cd_size - done;
            size_t want = left < WINDOW ? (size_t)left : WINDOW;
            if (want < ZIPFMT_CENTRAL_FIXED) {
                err_set(e, ERR_VERIFY, "the zip's central directory ends early");
                goto out;
            }
            if (zipin_pread(fd, win, want, at, e) != 0)
                goto out;
            have = want;
            pos = 0;
        }
        if (zipfmt_get32(win + pos) != ZIPFMT_SIG_CENTRAL) {
            err_set(e, ERR_VERIFY, "the zip's central directory entry %llu is broken",
                    (unsigned long long)n);
            goto out;
        }
        nl = zipfmt_get16(win + pos + 28);
        xl = zipfmt_get16(win + pos + 30);
        cl = zipfmt_get16(win + pos + 32);
        rec = ZIPFMT_CENTRAL_FIXED + nl + xl + cl;
        if (rec > have - pos) {
            err_set(e, ERR_VERIFY, "the zip's central directory ends early");
            goto out;
        }
        memset(&en, 0, sizeof(en));
        en.count = count;
        en.made_by = zipfmt_get16(win + pos + 4);
        en.ext_attr = zipfmt_get32(win + pos + 38);
        en.flags = zipfmt_get16(win + pos + 8);
        en.method = zipfmt_get16(win + pos + 10);
        en.crc = zipfmt_get32(win + pos + 16);
        en.comp_size = zipfmt_get32(win + pos + 20);
        en.size = zipfmt_get32(win + pos + 24);
        en.local_off = zipfmt_get32(win + pos + 42);
        if (zip64_extra(win + pos + ZIPFMT_CENTRAL_FIXED + nl, xl, &en, en.size == 0xffffffffu,
                        en.comp_size == 0xffffffffu, en.local_off == 0xffffffffu) != 0) {
            err_set(e, ERR_VERIFY, "the zip's central directory entry %llu has a broken Zip64 field",
                    (unsigned long long)n);
            goto out;
        }
        memcpy(name, win + pos + ZIPFMT_CENTRAL_FIXED, nl);
        name[nl] = '\0';
        en.name = name;
        en.name_len = nl;
        pos += rec;
        at += rec;
        done += rec;
        if ((rc = each(ctx, &en)) != 0)
            goto out;
        rc = -1;
    }
    rc = 0;
out:
    free(win);
    free(name);
    return rc;
}

int zipin_data_at(int fd, const struct zipin_entry *en, uint64_t *at, struct err *e)
{
    unsigned char small[ZIPFMT_LOCAL_FIXED + 256], *h = small;
    size_t n = ZIPFMT_LOCAL_FIXED + en->name_len;
    struct stat st;
    uint64_t data;
    int ok;

    if (fstat(fd, &st) != 0)
        return err_sys(e, errno, "reading the archive");
    if (n > sizeof(small) && (h = malloc(n)) == NULL)
        return err_set(e, ERR_IO, "out of memory");
    if (zipin_pread(fd, h, n, en->local_off, e) != 0) {
        if (h != small)
            free(h);
        return -1;
    }
    ok = zipfmt_get32(h) == ZIPFMT_SIG_LOCAL && zipfmt_get16(h + 8) == en->method &&
         zipfmt_get16(h + 26) == en->name_len &&
         memcmp(h + ZIPFMT_LOCAL_FIXED, en->name, en->name_len) == 0;
    data = en->local_off + n + zipfmt_get16(h + 28);
    if (h != small)
        free(h);
    if (!ok || data > (uint64_t)st.st_size || en->comp_size > (uint64_t)st.st_size - data)
        return err_set(e, ERR_VERIFY, "%.200s: its local header is broken", en->name);
    *at = data;
    return 0;
}

int zipin_rd_init(struct zipin_rd *rd, int fd, struct err *e)
{
    memset(rd, 0, sizeof(*rd));
    rd->fd = fd;
    if ((rd->in = malloc(ZIPIN_RD_IN)) == NULL)
        return err_set(e, ERR_IO, "out of memory");
    if (inflateInit2(&rd->z, -MAX_WBITS) != Z_OK) {
        free(rd->in);
        rd->in = NULL;
        return err_set(e, ERR_IO, "out of memory");
    }
    rd->z_ready = 1;
    rd->ended = 1;
    return 0;
}

void zipin_rd_free(struct zipin_rd *rd)
{
    if (rd->z_ready)
        inflateEnd(&rd->z);
    rd->z_ready = 0;
    free(rd->in);
    rd->in = NULL;
}

int zipin_rd_start(struct zipin_rd *rd, const struct zipin_entry *en, struct err *e)
{
    rd->ended = 1;
    if (en->method != 0 && en->method != 8)
        return err_set(e, ERR_VERIFY, "%.200s: unsupported compression method %u", en->name,
                       (unsigned)en->method);
    if (zipin_data_at(rd->fd, en, &rd->at, e) != 0)
        return -1;
    if (inflateReset(&rd->z) != Z_OK)
        return err_set(e, ERR_IO, "inflate state broken");
    rd->name = en->name;
    rd->left = en->comp_size;
    rd->size = en->size;
    rd->out = 0;
    rd->want_crc = en->crc;
    rd->crc = (uint32_t)crc32(0L, Z_NULL, 0);
    rd->method = en->method;
    rd->z.next_in = rd->in;
    rd->z.avail_in = 0;
    rd->ended = 0;
    return 0;
}

static ssize_t rd_damaged(struct zipin_rd *rd, const char *why, struct err *e)
{
    rd->ended = 1;
    return err_set(e, ERR_VERIFY, "%.200s: damaged data in the archive (%s)", rd->name, why);
}

/* Stored: the data is its own size, never more or less. */
static ssize_t rd_stored(struct zipin_rd *rd, unsigned char *buf, size_t n, struct err *e)
{
    uint64_t left = rd->size - rd->out;
    size_t got = left < n ? (size_t)left : n;

    if (rd->left != rd->size - rd->out)
        return rd_damaged(rd, rd->left < rd->size - rd->out ? "the entry ends early" :
                          "more data than its size", e);
    if (got > 0 && zipin_pread(rd->fd, buf, got, rd->at, e) != 0)
        return -1;
    rd->at += got;
    rd->left -= got;
    rd->ended = rd->left == 0;
    return (ssize_t)got;
}

static ssize_t rd_inflate(struct zipin_rd *rd, unsigned char *buf, size_t n, struct err *e)
{
    z_stream *z = &rd->z;

    z->next_out = buf;
    z->avail_out = (uInt)(n > (1u << 30) ? 1u << 30 : n);
    for (;;) {
        int zr;
        if (z->avail_in == 0 && rd->left > 0) {
            size_t take = rd->left < ZIPIN_RD_IN ? (size_t)rd->left : ZIPIN_RD_IN;
            if (zipin_pread(rd->fd, rd->in, take, rd->at, e) != 0)
                return -1;
            rd->at += take;
            rd->left -= take;
            z->next_in = rd->in;
            z->avail_in = (uInt)take;
        }
        zr = inflate(z, Z_NO_FLUSH);
        if (zr == Z_STREAM_END) {
            rd->ended = 1;
            break;
        }
        if (zr == Z_BUF_ERROR && z->avail_in == 0 && rd->left == 0)
            return rd_damaged(rd, "the entry ends early", e);
        if (zr != Z_OK && zr != Z_BUF_ERROR)
            return rd_damaged(rd, zr == Z_MEM_ERROR ? "out of memory" :
                              z->msg != NULL ? z->msg : "not deflate data", e);
        if (z->next_out != buf || z->avail_out == 0)
            break;
    }
    return (ssize_t)(z->next_out - buf);
}

ssize_t zipin_rd_read(struct zipin_rd *rd, void *buf, size_t n, struct err *e)
{
    ssize_t got;

    if (rd->ended || n == 0)
        return 0;
    got = rd->method == 0 ? rd_stored(rd, buf, n, e) : rd_inflate(rd, buf, n, e);
    if (got < 0)
        return -1;
    if ((uint64_t)got > rd->size - rd->out)
        return rd_damaged(rd, "more data than its size", e);
    rd->out += (uint64_t)got;
    rd->crc = (uint32_t)crc32(rd->crc, buf, (uInt)got);
    if (rd->ended && rd->out != rd->size)
        return rd_damaged(rd, "wrong size", e);
    if (rd->ended && rd->crc != rd->want_crc)
        return rd_damaged(rd, "CRC error", e);
    return got;
}
