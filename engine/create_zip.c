/* create_zip.c - the archive a create writes: every captured file streamed
 * into the zip (hashed, and deflated on several threads when large), the
 * manifest and SHA256SUMS generated last, and the result read back. */
#include "create_zip.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "archive.h"
#include "capture.h"
#include "../common/failpoint.h"
#include "../common/fsutil.h"
#include "manifest.h"
#include "meta.h"
#include "pdeflate.h"
#include "sign.h"
#include "zipout.h"

#define CREATE_STORE_BELOW 64              /* tiny files are stored, not deflated */
#define CREATE_IO (256u << 10)             /* a read, and a deflate's output, at a time */

void create_zip_sha_hex(EVP_MD_CTX *md, char out[65])
{
    unsigned char d[32];

    EVP_DigestFinal_ex(md, d, NULL);
    fs_hex(d, sizeof(d), out);
}

/* Every byte read from a file: into its hash and CRC, the end of an
 * append-only file into the ring, the chain into its scan. */
static void tap_bytes(struct create_ctx *cc, struct file_src *fs, const unsigned char *data,
                      size_t r)
{
    struct file_read *rd = &cc->rd;
    struct chain_scan *chain = src_chain(cc, fs);

    EVP_DigestUpdate(rd->md, data, r);
    if (!rd->no_crc)
        fs->crc = (uint32_t)crc32(fs->crc, data, (uInt)r);
    if (src_cut(cc, fs)->append) {
        if (r >= CUT_TAIL_MAX) {
            memcpy(rd->ring, data + r - CUT_TAIL_MAX, CUT_TAIL_MAX);
            rd->ring_len = CUT_TAIL_MAX;
        } else {
            if (rd->ring_len + r > CUT_TAIL_MAX) {
                size_t drop = rd->ring_len + r - CUT_TAIL_MAX;
                memmove(rd->ring, rd->ring + drop, rd->ring_len - drop);
                rd->ring_len -= drop;
            }
            memcpy(rd->ring + rd->ring_len, data, r);
            rd->ring_len += r;
        }
    }
    if (chain != NULL && rd->done + r > cc->chain_from) {
        size_t skip = rd->done >= cc->chain_from ? 0 : (size_t)(cc->chain_from - rd->done);
        chain_scan_feed(chain, data + skip, r - skip);
    }
    rd->done += (uint64_t)r;
}

/* The hash and CRC of the bytes before mark_at (where the entry's last
 * deflate block begins) are taken on the way through. */
static void file_tap(void *ud, const unsigned char *data, size_t r)
{
    struct create_ctx *cc = ud;
    struct file_src *fs = cc->rd.fs;
    struct file_read *rd = &cc->rd;

    if (!rd->marked && rd->mark_at > rd->done && rd->mark_at <= rd->done + r) {
        size_t k = (size_t)(rd->mark_at - rd->done);
        tap_bytes(cc, fs, data, k);
        rd->marked = reuse_sha_so_far(rd->md, rd->mark_sha) == 0;
        rd->mark_crc = fs->crc;
        struct chain_scan *chain = src_chain(cc, fs);
        if (chain != NULL)
            chain_scan_mark(chain, rd->mark_at, &cc->chain_mark);
        data += k;
        r -= k;
    }
    if (r > 0)
        tap_bytes(cc, fs, data, r);
}

/* All of an append-only file's bytes are through: do they still end with
 * what was there when the cut was taken? */
static int tail_check(struct create_ctx *cc, struct file_src *fs)
{
    const struct cut_file *c = src_cut(cc, fs);
    struct file_read *rd = &cc->rd;

    if (!c->append || (rd->ring_len == c->tail_len && memcmp(rd->ring, c->tail, c->tail_len) == 0))
        return 0;
    cc->moved = 1;
    return err_set(cc->e, ERR_UNSTABLE, "%s was rewritten while it was being read", c->cf->rel);
}

/* The read's buffers and streams freed; rd no longer anyone's. */
static void read_reset(struct file_read *rd)
{
    free(rd->ring);
    pdeflate_free(rd->pd);
    EVP_MD_CTX_free(rd->md);
    free(rd->dict);
    memset(rd, 0, sizeof(*rd));
}

/* Back to the file's first byte with nothing read: rd is fs's. */
static int src_rewind(struct create_ctx *cc, struct file_src *fs)
{
    struct cut_file *c = src_cut(cc, fs);
    struct file_read *rd = &cc->rd;
    struct chain_scan *chain = src_chain(cc, fs);

    read_reset(rd);
    rd->fs = fs;
    fs->has_dp = 0;
    fs->reused = CREATE_REUSED_NONE;
    if (fs->ru != NULL)
        fs->ru->base_in = fs->ru->base_out = 0;
    fs->crc = (uint32_t)crc32(0L, Z_NULL, 0);
    if (chain != NULL) {
        chain_scan_free(chain);
        chain_scan_init(chain, chain->f_seq, chain->f_hash, chain->f_prev);
        cc->chain_from = 0;
        cc->chain_mark.valid = 0;
    }
    if (lseek(c->fd, 0, SEEK_SET) != 0)
        return err_sys(cc->e, errno, "read %s", c->cf->rel);
    if ((c->append && (rd->ring = malloc(CUT_TAIL_MAX)) == NULL) ||
        (rd->md = EVP_MD_CTX_new()) == NULL || EVP_DigestInit_ex(rd->md, EVP_sha256(), NULL) != 1)
        return err_set(cc->e, ERR_IO, "out of memory");
    return 0;
}

/* A read of the file returned r <= 0: the error in cc->e. Returns -1. */
static int read_failed(struct create_ctx *cc, struct file_src *fs, ssize_t r)
{
    struct cut_file *c = src_cut(cc, fs);

    if (r < 0)
        return err_sys(cc->e, errno, "read %s", c->cf->rel);
    /* Only an append-only file is the live one: it was cut short. */
    cc->moved = c->append;
    return err_set(cc->e, c->append ? ERR_UNSTABLE : ERR_IO, "%s shrank while it was being read",
                   c->cf->rel);
}

/* Before anything is emitted: read (and hash) the bytes the previous
 * archive's entry, or its deflate_prefix, covers, and when they are the
 * same, find that entry's compressed bytes to copy. 1 reused, 0 not (the
 * caller rewinds), -1 a read error, or the previous archive's local header
 * does not check out (reuse_failed: the archive is written again without
 * reuse). Those bytes' CRC-32 is the record's,
 * and the chain's scan resumes from the record's state: both are taken
 * only once the SHA-256 matched (the record is under the store's MAC). */
static int reuse_check(struct create_ctx *cc, struct file_src *fs)
{
    struct cut_file *c = src_cut(cc, fs);
    struct file_read *rd = &cc->rd;
    const struct reuse_entry *re = &fs->ru->re;
    int whole = re->size == c->limit;
    uint64_t n = whole ? c->limit : re->prefix_bytes;
    unsigned char *buf;
    char sha[65];
    int same;

    if (!whole && (!re->has_prefix || re->prefix_bytes > c->limit))
        return 0;
    if ((buf = malloc(PDEFLATE_BLOCK)) == NULL || (rd->dict = malloc(REUSE_DICT)) == NULL) {
        free(buf);
        return 0;
    }
    if (!whole)
        rd->mark_at = reuse_last_block(n, c->limit);
    if (src_chain(cc, fs) != NULL && re->prefix_chain != NULL) {
        struct chain_mark m;
        struct chain_scan *chain = src_chain(cc, fs);
        if (chain_mark_parse(re->prefix_chain, chain, &m) == 0 && m.from <= n) {
            chain_scan_resume(chain, &m);
            cc->chain_from = m.from;
        }
    }
    rd->no_crc = 1;
    while (rd->done < n) {
        uint64_t want = n - rd->done;
        ssize_t r = fs_read_some(c->fd, buf, want > PDEFLATE_BLOCK ? PDEFLATE_BLOCK : (size_t)want);
        if (r <= 0) {
            free(buf);
            return read_failed(cc, fs, r);
        }
        file_tap(cc, buf, (size_t)r);
        reuse_dict_push(rd->dict, &rd->dict_len, buf, (size_t)r);
    }
    free(buf);
    rd->no_crc = 0;
    same = reuse_sha_so_far(rd->md, sha) == 0 &&
           strcmp(sha, whole ? re->sha256 : re->prefix_sha256) == 0;
    if (same) {
        fs->crc = whole ? re->crc : re->prefix_crc;
        if (rd->marked && rd->mark_at == n)
            rd->mark_crc = fs->crc;
    }
    if (!same)
        return 0;
    if (reuse_data_at(cc->reuse, c->cf->rel, re, &rd->raw_at, cc->e) != 0) {
        cc->reuse_failed = 1;
        return -1;
    }
    rd->raw_left = whole ? re->comp_size : re->prefix_comp;
    fs->reused = whole ? CREATE_REUSED_ENTRY : CREATE_REUSED_PREFIX;
    fs->ru->base_in = n;
    fs->ru->base_out = rd->raw_left;
    return 1;
}

/* The deflated stream is through: where the next create can continue it. */
static void note_prefix(struct create_ctx *cc, struct file_src *fs)
{
    struct file_read *rd = &cc->rd;
    uint64_t in_at, out_at, base_in = fs->ru != NULL ? fs->ru->base_in : 0;

    pdeflate_last_block(rd->pd, &in_at, &out_at);
    if (!rd->marked || base_in + in_at != rd->mark_at || rd->mark_at == 0)
        return;
    /* Only an optimisation for the next create: without memory, not recorded. */
    if (fs->ru == NULL && (fs->ru = calloc(1, sizeof(*fs->ru))) == NULL)
        return;
    fs->has_dp = 1;
    fs->ru->dp_bytes = rd->mark_at;
    fs->ru->dp_comp = fs->ru->base_out + out_at;
    memcpy(fs->ru->dp_sha, rd->mark_sha, sizeof(fs->ru->dp_sha));
    fs->ru->dp_crc = rd->mark_crc;
}

/* The compressed bytes of the previous archive's entry fs->ru->re, n of
 * them, into the entry begun (from rd->raw_at when reuse_check found it).
 * A failure sets reuse_failed: the archive is written again without reuse. */
static int copy_raw(struct create_ctx *cc, struct file_src *fs, uint64_t n)
{
    struct file_read *rd = &cc->rd;

    if (rd->raw_left == 0 &&
        reuse_data_at(cc->reuse, src_cut(cc, fs)->cf->rel, &fs->ru->re, &rd->raw_at, cc->e) != 0) {
        cc->reuse_failed = 1;
        return -1;
    }
    while (n > 0) {
        size_t k = n < CREATE_IO ? (size_t)n : CREATE_IO;
        if (reuse_read(cc->reuse, cc->io, k, rd->raw_at, cc->e) != 0) {
            cc->reuse_failed = 1;
            return -1;
        }
        if (zipout_write(cc->zo, cc->io, k) != 0)
            return -1;
        rd->raw_at += k;
        n -= k;
    }
    rd->raw_left = 0;
    return 0;
}

/* Ready cc->zs for a new raw deflate stream at level. */
static int zbegin(struct create_ctx *cc, int level)
{
    if (!cc->zs_ready) {
        memset(&cc->zs, 0, sizeof(cc->zs));
        if (deflateInit2(&cc->zs, level, Z_DEFLATED, -MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK)
            return err_set(cc->e, ERR_IO, "out of memory");
        cc->zs_ready = 1;
        cc->zs_level = level;
        return 0;
    }
    deflateReset(&cc->zs);
    if (cc->zs_level != level && deflateParams(&cc->zs, level, Z_DEFAULT_STRATEGY) != Z_OK)
        return err_set(cc->e, ERR_IO, "deflate: cannot set level %d", level);
    cc->zs_level = level;
    return 0;
}

/* n bytes at p through cc->zs into the entry begun; finish ends the stream. */
static int zdeflate(struct create_ctx *cc, const unsigned char *p, size_t n, int finish)
{
    z_stream *zs = &cc->zs;
    int r;

    do {
        size_t chunk = n > (1u << 30) ? (1u << 30) : n;
        zs->next_in = (Bytef *)(uintptr_t)p;
        zs->avail_in = (uInt)chunk;
        p += chunk;
        n -= chunk;
        do {
            zs->next_out = cc->zbuf;
            zs->avail_out = CREATE_IO;
            r = deflate(zs, finish && n == 0 ? Z_FINISH : Z_NO_FLUSH);
            if (r == Z_STREAM_ERROR)
                return err_set(cc->e, ERR_IO, "deflate failed");
            if (zipout_write(cc->zo, cc->zbuf, CREATE_IO - zs->avail_out) != 0)
                return -1;
        } while (zs->avail_out == 0);
    } while (n > 0);
    if (finish && r != Z_STREAM_END)
        return err_set(cc->e, ERR_IO, "deflate failed");
    return 0;
}

/* End the entry begun with method. 1 when it deflated past the zip-bomb
 * ratio every later read enforces (a file of zeros): then it is dropped,
 * and the caller writes it again stored. */
static int entry_end(struct create_ctx *cc, int method, uint32_t crc, uint64_t size)
{
    if (method == ZIPOUT_DEFLATE && archive_ratio_exceeded(size, zipout_entry_bytes(cc->zo))) {
        zipout_undo(cc->zo);
        return 1;
    }
    return zipout_end(cc->zo, crc, size);
}

/* An entry whose bytes are in memory, deflated at level: stored when level
 * is 0, the bytes are few, or deflating them does not pay or passes the
 * ratio limit. 0 or -1. */
static int write_mem(struct create_ctx *cc, const char *name, const unsigned char *p, size_t n,
                     uint32_t crc, unsigned mode, time_t mtime, int level)
{
    int method = level > 0 && n >= CREATE_STORE_BELOW ? ZIPOUT_DEFLATE : ZIPOUT_STORE;

    if (zipout_begin(cc->zo, name, mode, mtime, method, n) != 0)
        return -1;
    if (method == ZIPOUT_DEFLATE) {
        if (zbegin(cc, level) != 0 || zdeflate(cc, p, n, 1) != 0)
            return -1;
        uint64_t comp = zipout_entry_bytes(cc->zo);
        if (comp < n && !archive_ratio_exceeded(n, comp))
            return zipout_end(cc->zo, crc, n);
        zipout_undo(cc->zo);
        return write_mem(cc, name, p, n, crc, mode, mtime, 0);
    }
    if (zipout_write(cc->zo, p, n) != 0)
        return -1;
    return zipout_end(cc->zo, crc, n);
}

/* The bytes of a file on a descriptor (the live append-only file, or a
 * large private copy): read once, hashed, checked against the previous
 * archive's entry when there is a candidate, and copied from it, deflated
 * on several threads (fs->level > 0), deflated here, or stored (level 0).
 * 0, 1 (deflated past the ratio limit: write it again stored) or -1. */
static int write_fd(struct create_ctx *cc, struct file_src *fs, int level)
{
    struct cut_file *c = src_cut(cc, fs);
    struct file_read *rd = &cc->rd;
    int method = level > 0 ? ZIPOUT_DEFLATE : ZIPOUT_STORE, r = 0;
    ssize_t got;

    if (src_rewind(cc, fs) != 0)
        return -1;
    if (fs->try_reuse && (r = reuse_check(cc, fs)) < 0)
        return -1;
    if (r == 0 && fs->try_reuse && src_rewind(cc, fs) != 0)
        return -1;
    if (zipout_begin(cc->zo, c->cf->rel, S_IFREG | c->mode, CUT_MTIME_SEC(c), method, c->limit) != 0)
        return -1;
    if (fs->reused != CREATE_REUSED_NONE && copy_raw(cc, fs, rd->raw_left) != 0)
        return -1;
    if (fs->reused == CREATE_REUSED_ENTRY) {
        /* Read and hashed through by reuse_check. */
    } else if (fs->level > 0) {
        uint64_t base_in = fs->reused == CREATE_REUSED_PREFIX ? fs->ru->base_in : 0;
        if (fs->reused == CREATE_REUSED_NONE)
            rd->mark_at = reuse_last_block(0, c->limit);
        if (pdeflate_start(&rd->pd, c->fd, c->limit - base_in, fs->level,
                           (unsigned)cc->s->cfg->compress_threads, c->cf->rel, file_tap, cc,
                           cc->e) != 0)
            return -1;
        if (fs->reused == CREATE_REUSED_PREFIX)
            pdeflate_prime(rd->pd, rd->dict, rd->dict_len);
        while ((got = pdeflate_read(rd->pd, cc->io, CREATE_IO, cc->e)) > 0)
            if (zipout_write(cc->zo, cc->io, (size_t)got) != 0)
                return -1;
        if (got < 0) {
            struct stat st;
            /* An append-only file cut shorter than the cut was rewritten. */
            if (c->append && fstat(c->fd, &st) == 0 && (uint64_t)st.st_size < c->limit) {
                cc->moved = 1;
                err_clear(cc->e);
                err_set(cc->e, ERR_UNSTABLE, "%s shrank while it was being read", c->cf->rel);
            }
            return -1;
        }
        note_prefix(cc, fs);
    } else {
        if (method == ZIPOUT_DEFLATE && zbegin(cc, level) != 0)
            return -1;
        while (rd->done < c->limit) {
            uint64_t want = c->limit - rd->done;
            got = fs_read_some(c->fd, cc->io, want < CREATE_IO ? (size_t)want : CREATE_IO);
            if (got <= 0)
                return read_failed(cc, fs, got);
            file_tap(cc, cc->io, (size_t)got);
            if (method == ZIPOUT_DEFLATE ? zdeflate(cc, cc->io, (size_t)got, 0) != 0
                                         : zipout_write(cc->zo, cc->io, (size_t)got) != 0)
                return -1;
        }
        if (method == ZIPOUT_DEFLATE && zdeflate(cc, NULL, 0, 1) != 0)
            return -1;
    }
    if (rd->done != c->limit)
        return read_failed(cc, fs, 0);
    if (tail_check(cc, fs) != 0)
        return -1;
    EVP_DigestFinal_ex(rd->md, c->sha, NULL);
    fs->finished = 1;
    read_reset(rd);
    return entry_end(cc, method, fs->crc, c->limit);
}

static int stored_ext(const char *rel)
{
    static const char *const exts[] = { ".zip", ".gz", ".zst", ".xz", ".bz2", ".png", ".jpg",
                                        ".parquet", NULL };
    size_t n = strlen(rel);

    for (int i = 0; exts[i]; i++) {
        size_t m = strlen(exts[i]);
        if (n > m && strcmp(rel + n - m, exts[i]) == 0)
            return 1;
    }
    return 0;
}

/* Whether fs's entry is the previous archive's, with the same bytes (the
 * cut read them inside the window and hashed them): 1, with fs->ru and
 * what the read would have found filled. 0 otherwise; then try_reuse says
 * whether write_fd is to check the candidate it found once it reads the bytes. */
static int reuse_plan(struct create_ctx *cc, struct file_src *fs, int level)
{
    struct cut_file *c = src_cut(cc, fs);
    struct reuse_entry re;

    fs->try_reuse = 0;
    fs->reused = CREATE_REUSED_NONE;
    fs->has_dp = 0;
    free(fs->ru);
    fs->ru = NULL;
    if (cc->reuse == NULL || level == 0 || c->limit < CREATE_STORE_BELOW ||
        stored_ext(c->cf->rel) || fs->store_only || !reuse_find(cc->reuse, c->cf->rel, &re))
        return 0;
    if (!c->hashed) {
        if (c->fd < 0 || (fs->ru = calloc(1, sizeof(*fs->ru))) == NULL)
            return 0;
        fs->ru->re = re;
        fs->try_reuse = 1;
        return 0;
    }
    char hex[65];
    fs_hex(c->sha, sizeof(c->sha), hex);
    if (re.size != c->limit || re.crc != c->crc || strcmp(re.sha256, hex) != 0 ||
        (fs->ru = calloc(1, sizeof(*fs->ru))) == NULL)
        return 0;
    fs->ru->re = re;
    fs->reused = CREATE_REUSED_ENTRY;
    fs->crc = c->crc;
    fs->finished = 1;   /* hashed: the manifest takes the cut's SHA-256 */
    return 1;
}

/* One captured file's entry: copied from the previous archive, from
 * memory, or from its descriptor. 0, 1 (write it again: it is now
 * store_only) or -1. */
static int write_entry(struct create_ctx *cc, struct file_src *fs, int level)
{
    struct cut_file *c = src_cut(cc, fs);
    int stored = level == 0 || c->limit < CREATE_STORE_BELOW || stored_ext(c->cf->rel) ||
                 fs->store_only;
    int r;

    fs->level = 0;
    fs->finished = 0;
    if (reuse_plan(cc, fs, level) == 1) {
        if (zipout_begin(cc->zo, c->cf->rel, S_IFREG | c->mode, CUT_MTIME_SEC(c),
                         ZIPOUT_DEFLATE, c->limit) != 0 ||
            copy_raw(cc, fs, fs->ru->re.comp_size) != 0)
            return -1;
        r = entry_end(cc, ZIPOUT_DEFLATE, c->crc, c->limit);
    } else if (c->buf != NULL) {
        if (write_mem(cc, c->cf->rel, c->buf, (size_t)c->limit, c->crc, S_IFREG | c->mode,
                      CUT_MTIME_SEC(c), stored ? 0 : level) != 0)
            return -1;
        /* In the archive now. Without a previous archive to copy from, this
         * write is never done again from the same cut (a moved file takes
         * a new one), so the bytes need not stay beside what follows. */
        if (cc->reuse == NULL) {
            free(c->buf);
            c->buf = NULL;
            c->released = 1;
        }
        return 0;
    } else if (c->fd < 0) {
        return err_set(cc->e, ERR_IO, "%s: its bytes are no longer held", c->cf->rel);
    } else {
        /* A large file is deflated on every core, or compress_threads of
         * them (the chain can be most of a snapshot); a candidate for reuse
         * the same way, so its blocks can be continued next time. */
        if (!stored && ((c->limit >= PDEFLATE_MIN &&
                         pdeflate_threads((unsigned)cc->s->cfg->compress_threads) > 1) ||
                        fs->try_reuse))
            fs->level = (unsigned char)level;
        r = write_fd(cc, fs, stored ? 0 : level);
    }
    if (r == 1)
        fs->store_only = 1;
    return r;
}

void create_zip_srcs_clear(struct create_ctx *cc)
{
    for (size_t i = 0; cc->srcs != NULL && i < cc->cap.n; i++) {
        free(cc->srcs[i].ru);
        cc->srcs[i].ru = NULL;
    }
}

static int write_once(struct create_ctx *cc, const char *tmp);

/* The deflate level of this create: 0 = stored. */
static int create_level(const struct create_ctx *cc)
{
    int level = cc->o->compression_level > 0 ? cc->o->compression_level
                : cc->o->compression_level == CREATE_LEVEL_STORED ? 0
                : cc->s->cfg->compression_level;

    return level < 0 || level > 9 ? 6 : level;
}

void create_zip_reuse_open(struct create_ctx *cc)
{
    if (cc->reuse_tried)
        return;
    cc->reuse_tried = 1;
    /* A stored archive (a restore's safety snapshot) copies nothing. */
    if (create_level(cc) > 0)
        cc->reuse = reuse_open(cc->s, NULL);
}

/* Write every member into tmp. On failure the partial file is gone. If
 * copying from the previous archive fails the archive is written again
 * without it. */
int create_zip_write(struct create_ctx *cc, const char *tmp)
{
    create_zip_reuse_open(cc);
    cc->reuse_failed = 0;
    if (write_once(cc, tmp) == 0)
        return 0;
    if (!cc->reuse_failed || cc->moved)
        return -1;
    reuse_close(cc->reuse);
    cc->reuse = NULL;
    err_clear(cc->e);
    return write_once(cc, tmp);
}

/* A generated member being deflated (or stored) as it is made. */
struct gen {
    struct create_ctx *cc;
    uint32_t crc;
    uint64_t size;
    int level;
};

static int gen_piece(void *ctx, const char *p, size_t n)
{
    struct gen *g = ctx;

    g->crc = (uint32_t)crc32(g->crc, (const Bytef *)p, (uInt)n);
    g->size += n;
    return g->level > 0 ? zdeflate(g->cc, (const unsigned char *)p, n, 0)
                        : zipout_write(g->cc->zo, p, n);
}

typedef int (*gen_fn)(struct create_ctx *cc, create_text_fn out, void *ctx);

/* SHA256SUMS or manifest.json, written as make gives it, never held whole:
 * deflated at level, or made again and stored where write_mem would have
 * stored it (few bytes, no gain, past the ratio limit). 0 or -1. */
static int write_gen(struct create_ctx *cc, const char *name, gen_fn make, int level)
{
    struct gen g = { .cc = cc, .crc = (uint32_t)crc32(0L, Z_NULL, 0), .level = level };
    uint64_t comp;

    if (zipout_begin(cc->zo, name, S_IFREG | 0644, (time_t)cc->now,
                     level > 0 ? ZIPOUT_DEFLATE : ZIPOUT_STORE, 0) != 0 ||
        (level > 0 && zbegin(cc, level) != 0))
        return -1;
    if (make(cc, gen_piece, &g) != 0 || (level > 0 && zdeflate(cc, NULL, 0, 1) != 0))
        return cc->e->code != ERR_NONE ? -1
               : err_set(cc->e, ERR_IO, "building %s: out of memory", name);
    if (level == 0)
        return zipout_end(cc->zo, g.crc, g.size);
    comp = zipout_entry_bytes(cc->zo);
    if (g.size >= CREATE_STORE_BELOW && comp < g.size && !archive_ratio_exceeded(g.size, comp))
        return zipout_end(cc->zo, g.crc, g.size);
    zipout_undo(cc->zo);
    return write_gen(cc, name, make, 0);
}

static int write_members(struct create_ctx *cc, int level)
{
    struct zipout_info zi;
    int r;

    for (size_t i = 0; i < cc->cap.n; i++) {
        if (!cc->cut.files[i].present)
            continue;
        while ((r = write_entry(cc, &cc->srcs[i], level)) == 1)
            ;
        if (r != 0)
            return -1;
    }
    if (cc->env_masked != NULL &&
        write_mem(cc, MANIFEST_ENV_ENTRY, (const unsigned char *)cc->env_masked, cc->env_len,
                  (uint32_t)crc32(0L, (const Bytef *)cc->env_masked, (uInt)cc->env_len),
                  S_IFREG | 0600, (time_t)cc->now, 6) != 0)
        return -1;
    /* Generated now: every file before them has been read and hashed. */
    if (write_gen(cc, MANIFEST_SUMS, create_sums_stream, 6) != 0 ||
        write_gen(cc, MANIFEST_NAME, create_manifest_stream, 6) != 0 ||
        zipout_last(cc->zo, &zi) != 0)
        return -1;
    /* Where create_zip_seal reads it back to sign it. */
    memset(&cc->manifest_entry, 0, sizeof(cc->manifest_entry));
    cc->manifest_entry.name = MANIFEST_NAME;
    cc->manifest_entry.name_len = strlen(MANIFEST_NAME);
    cc->manifest_entry.local_off = zi.off;
    cc->manifest_entry.comp_size = zi.comp;
    cc->manifest_entry.size = zi.size;
    cc->manifest_entry.crc = zi.crc;
    cc->manifest_entry.method = (uint16_t)zi.method;
    return 0;
}

/* manifest.json read back from tmp (CRC and size checked), signed, and
 * the signature written after it, stored (64 random bytes do not deflate). */
static int sign_manifest(struct create_ctx *cc, const char *tmp)
{
    const struct zipin_entry *en = &cc->manifest_entry;
    struct zipin_rd rd = { .fd = -1 };
    unsigned char sig[SIGN_SIG_LEN];
    char *text = NULL;
    size_t got = 0;
    ssize_t r = -1;
    int fd, rc = -1;

    if (zipout_flush(cc->zo) != 0)
        return -1;
    if ((fd = open(tmp, O_RDONLY | O_CLOEXEC)) < 0)
        return err_sys(cc->e, errno, "open %s", tmp);
    if ((text = malloc((size_t)en->size + 1)) == NULL) {
        err_set(cc->e, ERR_IO, "signing %s: out of memory", MANIFEST_NAME);
        goto out;
    }
    if (zipin_rd_init(&rd, fd, cc->e) != 0 || zipin_rd_start(&rd, en, cc->e) != 0)
        goto out;
    /* One more read must hit the end: it is where the size and CRC are checked. */
    while ((r = zipin_rd_read(&rd, text + got, (size_t)en->size - got + (got == en->size),
                             cc->e)) > 0)
        got += (size_t)r;
    if (r < 0 || sign_bytes(cc->sign_key, text, got, sig, cc->e) != 0)
        goto out;
    rc = write_mem(cc, MANIFEST_SIG, sig, sizeof(sig),
                   (uint32_t)crc32(0L, sig, sizeof(sig)), S_IFREG | 0644, (time_t)cc->now, 0);
out:
    zipin_rd_free(&rd);
    free(text);
    close(fd);
    return rc;
}

int create_zip_seal(struct create_ctx *cc, const char *tmp)
{
    int rc;

    if (cc->zo == NULL)
        return err_set(cc->e, ERR_IO, "no archive to finish");
    if (cc->sign_key != NULL && sign_manifest(cc, tmp) != 0) {
        if (cc->e->code == ERR_NONE)
            err_set(cc->e, ERR_IO, "signing %s failed", MANIFEST_NAME);
        zipout_discard(cc->zo);
        rc = -1;
    } else
        rc = zipout_close(cc->zo);
    cc->zo = NULL;
    return rc;
}

static int write_once(struct create_ctx *cc, const char *tmp)
{
    int rc = -1;

    /* What an earlier write generated may not hold for this one. */
    create_manifest_forget(cc);
    read_reset(&cc->rd);
    if ((cc->io = malloc(2 * CREATE_IO)) == NULL) {
        err_set(cc->e, ERR_IO, "out of memory");
        return -1;
    }
    cc->zbuf = cc->io + CREATE_IO;
    if ((cc->zo = zipout_open(tmp, cc->e)) != NULL) {
        /* Every file, the masked .env, SHA256SUMS, the manifest and its signature. */
        if (zipout_reserve(cc->zo, cc->cap.n + 4) == 0 && write_members(cc, create_level(cc)) == 0) {
            rc = 0;             /* left open: create_zip_seal signs and closes it */
        } else {
            zipout_discard(cc->zo);
            unlink(tmp);
            cc->zo = NULL;
        }
    }
    read_reset(&cc->rd);
    if (cc->zs_ready)
        deflateEnd(&cc->zs);
    cc->zs_ready = 0;
    free(cc->io);
    cc->io = cc->zbuf = NULL;
    return rc;
}
