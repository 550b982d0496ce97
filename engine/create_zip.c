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
#include "zipout.h"

#define CREATE_STORE_BELOW 64              /* tiny files are stored, not deflated */

void create_zip_sha_hex(EVP_MD_CTX *md, char out[65])
{
    unsigned char d[32];

    EVP_DigestFinal_ex(md, d, NULL);
    fs_hex(d, sizeof(d), out);
}

/* Every byte read from a file: into its hash and CRC, the end of an
 * append-only file into the ring, the chain into its scan. */
static void tap_bytes(struct file_src *fs, const unsigned char *data, size_t r)
{
    struct file_read *rd = &fs->cc->rd;

    EVP_DigestUpdate(rd->md, data, r);
    if (!rd->no_crc)
        fs->crc = (uint32_t)crc32(fs->crc, data, (uInt)r);
    if (fs->cut->append) {
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
    if (fs->chain != NULL && rd->done + r > fs->cc->chain_from) {
        size_t skip = rd->done >= fs->cc->chain_from ? 0 : (size_t)(fs->cc->chain_from - rd->done);
        chain_scan_feed(fs->chain, data + skip, r - skip);
    }
    rd->done += (uint64_t)r;
}

/* The hash and CRC of the bytes before mark_at (where the entry's last
 * deflate block begins) are taken on the way through. */
static void file_tap(void *ud, const unsigned char *data, size_t r)
{
    struct file_src *fs = ud;
    struct file_read *rd = &fs->cc->rd;

    if (!rd->marked && rd->mark_at > rd->done && rd->mark_at <= rd->done + r) {
        size_t k = (size_t)(rd->mark_at - rd->done);
        tap_bytes(fs, data, k);
        rd->marked = reuse_sha_so_far(rd->md, rd->mark_sha) == 0;
        rd->mark_crc = fs->crc;
        if (fs->chain != NULL)
            chain_scan_mark(fs->chain, rd->mark_at, &fs->cc->chain_mark);
        data += k;
        r -= k;
    }
    if (r > 0)
        tap_bytes(fs, data, r);
}

/* All of an append-only file's bytes are through: do they still end with
 * what was there when the cut was taken? */
static int tail_check(struct file_src *fs)
{
    const struct cut_file *c = fs->cut;
    struct file_read *rd = &fs->cc->rd;

    if (!c->append || (rd->ring_len == c->tail_len && memcmp(rd->ring, c->tail, c->tail_len) == 0))
        return 0;
    fs->cc->moved = 1;
    err_set(fs->cc->e, ERR_UNSTABLE, "%s was rewritten while it was being read", c->cf->rel);
    zip_error_set(&rd->zerr, ZIP_ER_READ, 0);
    return -1;
}

/* The read's buffers and streams freed; rd no longer anyone's. */
static void read_reset(struct file_read *rd)
{
    free(rd->ring);
    pdeflate_free(rd->pd);
    EVP_MD_CTX_free(rd->md);
    if (rd->raw != NULL)
        zip_fclose(rd->raw);
    free(rd->dict);
    zip_error_t zerr = rd->zerr;
    memset(rd, 0, sizeof(*rd));
    rd->zerr = zerr;
}

/* Back to the file's first byte with nothing read: rd is fs's. */
static int src_rewind(struct file_src *fs)
{
    struct cut_file *c = fs->cut;
    struct file_read *rd = &fs->cc->rd;

    read_reset(rd);
    rd->fs = fs;
    fs->has_dp = 0;
    fs->reused = CREATE_REUSED_NONE;
    if (fs->ru != NULL)
        fs->ru->base_in = fs->ru->base_out = 0;
    fs->crc = (uint32_t)crc32(0L, Z_NULL, 0);
    if (fs->chain != NULL) {
        chain_scan_free(fs->chain);
        chain_scan_init(fs->chain, fs->chain->f_seq, fs->chain->f_hash, fs->chain->f_prev);
        fs->cc->chain_from = 0;
        fs->cc->chain_mark.valid = 0;
    }
    if (lseek(c->fd, 0, SEEK_SET) != 0) {
        err_sys(fs->cc->e, errno, "read %s", c->cf->rel);
        zip_error_set(&rd->zerr, ZIP_ER_READ, errno);
        return -1;
    }
    if ((c->append && (rd->ring = malloc(CUT_TAIL_MAX)) == NULL) ||
        (rd->md = EVP_MD_CTX_new()) == NULL || EVP_DigestInit_ex(rd->md, EVP_sha256(), NULL) != 1) {
        zip_error_set(&rd->zerr, ZIP_ER_MEMORY, 0);
        return -1;
    }
    return 0;
}

/* A read of the file returned r <= 0: the error in cc->e and zerr. */
static void read_failed(struct file_src *fs, ssize_t r)
{
    struct create_ctx *cc = fs->cc;
    struct cut_file *c = fs->cut;

    if (r < 0) {
        err_sys(cc->e, errno, "read %s", c->cf->rel);
        zip_error_set(&cc->rd.zerr, ZIP_ER_READ, errno);
        return;
    }
    /* Only an append-only file is the live one: it was cut short. */
    cc->moved = c->append;
    err_set(cc->e, c->append ? ERR_UNSTABLE : ERR_IO, "%s shrank while it was being read",
            c->cf->rel);
    zip_error_set(&cc->rd.zerr, ZIP_ER_READ, 0);
}

/* Before anything is emitted: read (and hash) the bytes the previous
 * archive's entry, or its deflate_prefix, covers, and when they are the
 * same, open that entry's compressed bytes to copy. 1 reused, 0 not (the
 * caller rewinds), -1 a read error. Those bytes' CRC-32 is the record's,
 * and the chain's scan resumes from the record's state: both are taken
 * only once the SHA-256 matched (the record is under the store's MAC). */
static int reuse_check(struct file_src *fs)
{
    struct cut_file *c = fs->cut;
    struct file_read *rd = &fs->cc->rd;
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
    if (fs->chain != NULL && re->prefix_chain != NULL) {
        struct chain_mark m;
        if (chain_mark_parse(re->prefix_chain, fs->chain, &m) == 0 && m.from <= n) {
            chain_scan_resume(fs->chain, &m);
            fs->cc->chain_from = m.from;
        }
    }
    rd->no_crc = 1;
    while (rd->done < n) {
        uint64_t want = n - rd->done;
        ssize_t r = fs_read_some(c->fd, buf, want > PDEFLATE_BLOCK ? PDEFLATE_BLOCK : (size_t)want);
        if (r <= 0) {
            free(buf);
            read_failed(fs, r);
            return -1;
        }
        file_tap(fs, buf, (size_t)r);
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
    if (!same ||
        (rd->raw = zip_fopen_index(reuse_zip(fs->cc->reuse), re->idx, ZIP_FL_COMPRESSED)) == NULL)
        return 0;
    rd->raw_left = whole ? re->comp_size : re->prefix_comp;
    fs->reused = whole ? CREATE_REUSED_ENTRY : CREATE_REUSED_PREFIX;
    fs->ru->base_in = n;
    fs->ru->base_out = rd->raw_left;
    return 1;
}

/* The deflated stream is through: where the next create can continue it. */
static void note_prefix(struct file_src *fs)
{
    struct file_read *rd = &fs->cc->rd;
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

static zip_int64_t file_read_cb(struct file_src *fs, void *data, zip_uint64_t len)
{
    struct create_ctx *cc = fs->cc;
    struct cut_file *c = fs->cut;
    struct file_read *rd = &cc->rd;
    uint64_t left = c->limit - rd->done;
    ssize_t r;

    if (rd->fs != fs) {
        zip_error_set(&rd->zerr, ZIP_ER_INTERNAL, 0);
        return -1;
    }
    if (rd->raw_left > 0) {
        /* The previous archive's compressed bytes, as they are. */
        zip_int64_t got = zip_fread(rd->raw, data, len < rd->raw_left ? len : rd->raw_left);
        if (got <= 0) {
            cc->reuse_failed = 1;
            err_set(cc->e, ERR_IO, "cannot read %s from the previous archive", c->cf->rel);
            zip_error_set(&rd->zerr, ZIP_ER_READ, 0);
            return -1;
        }
        rd->raw_left -= (uint64_t)got;
        return got;
    }
    if (fs->reused == CREATE_REUSED_ENTRY) {
        fs->pd_crc = fs->crc;
        return tail_check(fs) != 0 ? -1 : 0;
    }
    if (rd->pd != NULL) {
        /* The deflated stream; the tap hashes the input as it is read. */
        if ((r = pdeflate_read(rd->pd, data, (size_t)len, cc->e)) < 0) {
            struct stat st;
            /* An append-only file cut shorter than the cut was rewritten. */
            if (c->append && fstat(c->fd, &st) == 0 && (uint64_t)st.st_size < c->limit) {
                cc->moved = 1;
                err_clear(cc->e);
                err_set(cc->e, ERR_UNSTABLE, "%s shrank while it was being read", c->cf->rel);
            }
            zip_error_set(&rd->zerr, ZIP_ER_READ, 0);
            return -1;
        }
        if (r == 0 && rd->done == c->limit) {
            fs->pd_crc = fs->crc;
            note_prefix(fs);
            if (tail_check(fs) != 0)
                return -1;
        }
        return r;
    }
    if (left == 0)
        return tail_check(fs) != 0 ? -1 : 0;
    if (len > left)
        len = left;
    r = fs_read_some(c->fd, data, (size_t)len);
    if (r <= 0) {
        read_failed(fs, r);
        return -1;
    }
    file_tap(fs, data, (size_t)r);
    return r;
}

static zip_int64_t file_cb(void *ud, void *data, zip_uint64_t len, zip_source_cmd_t cmd)
{
    struct file_src *fs = ud;
    struct create_ctx *cc = fs->cc;
    struct cut_file *c = fs->cut;
    struct file_read *rd = &cc->rd;

    switch (cmd) {
    case ZIP_SOURCE_OPEN: {
        int r = 0;
        if (src_rewind(fs) != 0)
            return -1;
        if (fs->try_reuse && (r = reuse_check(fs)) < 0)
            return -1;
        if (r == 0 && fs->try_reuse && src_rewind(fs) != 0)
            return -1;
        if (fs->reused == CREATE_REUSED_ENTRY || fs->level == 0)
            return 0;
        if (fs->reused == CREATE_REUSED_NONE)
            rd->mark_at = reuse_last_block(0, c->limit);
        uint64_t base_in = fs->reused == CREATE_REUSED_PREFIX ? fs->ru->base_in : 0;
        if (pdeflate_start(&rd->pd, c->fd, c->limit - base_in, fs->level,
                           (unsigned)cc->s->cfg->compress_threads, c->cf->rel,
                           file_tap, fs, cc->e) != 0) {
            zip_error_set(&rd->zerr, ZIP_ER_MEMORY, 0);
            return -1;
        }
        if (fs->reused == CREATE_REUSED_PREFIX)
            pdeflate_prime(rd->pd, rd->dict, rd->dict_len);
        return 0;
    }
    case ZIP_SOURCE_READ:
        return file_read_cb(fs, data, len);
    case ZIP_SOURCE_CLOSE:
        if (rd->fs == fs) {
            if (rd->md != NULL && rd->done == c->limit) {
                create_zip_sha_hex(rd->md, fs->sha256);
                fs->finished = 1;
            }
            read_reset(rd);
        }
        return 0;
    case ZIP_SOURCE_STAT: {
        zip_stat_t *st = data;
        zip_stat_init(st);
        st->valid = ZIP_STAT_SIZE | ZIP_STAT_MTIME;
        st->size = c->limit;
        st->mtime = c->id.mtime.tv_sec;
        if (fs->level > 0) {
            /* Already deflated: libzip copies the stream as it is and takes
             * the CRC from here once the data is through. */
            st->valid |= ZIP_STAT_COMP_METHOD;
            st->comp_method = ZIP_CM_DEFLATE;
            if (fs->finished) {
                st->valid |= ZIP_STAT_CRC;
                st->crc = fs->pd_crc;
            }
        }
        return sizeof(*st);
    }
    case ZIP_SOURCE_ERROR:
        return zip_error_to_data(&rd->zerr, data, len);
    case ZIP_SOURCE_FREE:
        if (rd->fs == fs)
            read_reset(rd);
        return 0;
    case ZIP_SOURCE_SUPPORTS:
        return zip_source_make_command_bitmap(ZIP_SOURCE_OPEN, ZIP_SOURCE_READ, ZIP_SOURCE_CLOSE,
                                              ZIP_SOURCE_STAT, ZIP_SOURCE_ERROR, ZIP_SOURCE_FREE, -1);
    default:
        zip_error_set(&rd->zerr, ZIP_ER_OPNOTSUPP, 0);
        return -1;
    }
}

static zip_int64_t lazy_cb(void *ud, void *data, zip_uint64_t len, zip_source_cmd_t cmd)
{
    struct lazy_src *ls = ud;

    switch (cmd) {
    case ZIP_SOURCE_OPEN:
        if (ls->buf == NULL && (ls->buf = ls->make(ls->cc, &ls->len)) == NULL) {
            zip_error_set(&ls->zerr, ZIP_ER_MEMORY, 0);
            return -1;
        }
        ls->off = 0;
        return 0;
    case ZIP_SOURCE_READ:
        if (len > ls->len - ls->off)
            len = ls->len - ls->off;
        memcpy(data, ls->buf + ls->off, (size_t)len);
        ls->off += (size_t)len;
        return (zip_int64_t)len;
    case ZIP_SOURCE_CLOSE:
        /* Read through: SHA256SUMS is not held while the manifest is made
         * (an OPEN again makes the same bytes again; the size stays known). */
        if (!ls->borrowed && ls->off == ls->len) {
            free(ls->buf);
            ls->buf = NULL;
            ls->closed = 1;
        }
        return 0;
    case ZIP_SOURCE_STAT: {
        zip_stat_t *st = data;
        zip_stat_init(st);
        st->valid = ZIP_STAT_MTIME;
        st->mtime = (time_t)ls->cc->now;
        /* The size is unknown until the files before it are read; when
         * libzip already opened us (it re-stats after reading) it is known. */
        if (ls->buf != NULL || ls->closed) {
            st->valid |= ZIP_STAT_SIZE;
            st->size = ls->len;
        }
        return sizeof(*st);
    }
    case ZIP_SOURCE_ERROR:
        return zip_error_to_data(&ls->zerr, data, len);
    case ZIP_SOURCE_FREE:
        if (!ls->borrowed)
            free(ls->buf);
        ls->buf = NULL;
        return 0;
    case ZIP_SOURCE_SUPPORTS:
        return zip_source_make_command_bitmap(ZIP_SOURCE_OPEN, ZIP_SOURCE_READ, ZIP_SOURCE_CLOSE,
                                              ZIP_SOURCE_STAT, ZIP_SOURCE_ERROR, ZIP_SOURCE_FREE, -1);
    default:
        zip_error_set(&ls->zerr, ZIP_ER_OPNOTSUPP, 0);
        return -1;
    }
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

static int set_compression(zip_t *za, zip_int64_t idx, int level, struct file_src *fs,
                           uint64_t size)
{
    int method = ZIP_CM_DEFLATE;

    fs->level = 0;
    if (level == 0 || size < CREATE_STORE_BELOW || stored_ext(fs->cut->cf->rel) || fs->store_only)
        method = ZIP_CM_STORE;
    /* A large file on a descriptor is deflated on every core, or
     * compress_threads of them (the chain can be most of a snapshot);
     * libzip would use one. */
    else if (fs->cut->fd >= 0 && size >= PDEFLATE_MIN &&
             pdeflate_threads((unsigned)fs->cc->s->cfg->compress_threads) > 1)
        fs->level = (unsigned char)level;
    return zip_set_file_compression(za, (zip_uint64_t)idx, method,
                                    method == ZIP_CM_STORE ? 0 : (zip_uint32_t)level);
}

static int add_lazy(zip_t *za, struct create_ctx *cc, struct lazy_src *ls, const char *name,
                    char *(*make)(struct create_ctx *, size_t *))
{
    zip_source_t *src;
    zip_int64_t idx;

    ls->cc = cc;
    ls->make = make;
    ls->borrowed = make == create_manifest_text;
    zip_error_init(&ls->zerr);
    if ((src = zip_source_function(za, lazy_cb, ls)) == NULL)
        return -1;
    if ((idx = zip_file_add(za, name, src, ZIP_FL_ENC_UTF_8)) < 0) {
        zip_source_free(src);
        return -1;
    }
    zip_file_set_external_attributes(za, (zip_uint64_t)idx, 0, ZIP_OPSYS_UNIX,
                                     (zip_uint32_t)(S_IFREG | 0644) << 16);
    return zip_set_file_compression(za, (zip_uint64_t)idx, ZIP_CM_DEFLATE, 6);
}

/* The source copying fs's entry from the previous archive when its bytes
 * are known to be the same (read inside the window, hashed), or NULL: then
 * try_reuse says whether file_cb is to check the candidate it found. */
static zip_source_t *reuse_source(zip_t *za, struct create_ctx *cc, struct file_src *fs, int level)
{
    struct cut_file *c = fs->cut;
    struct reuse_entry re;
    zip_source_t *src;

    fs->try_reuse = 0;
    fs->reused = CREATE_REUSED_NONE;
    fs->has_dp = 0;
    free(fs->ru);
    fs->ru = NULL;
    if (cc->reuse == NULL || level == 0 || c->limit < CREATE_STORE_BELOW ||
        stored_ext(c->cf->rel) || fs->store_only || !reuse_find(cc->reuse, c->cf->rel, &re))
        return NULL;
    if (!c->hashed) {
        if (c->fd < 0 || (fs->ru = calloc(1, sizeof(*fs->ru))) == NULL)
            return NULL;
        fs->ru->re = re;
        fs->try_reuse = 1;
        return NULL;
    }
    if (re.size != c->limit || re.crc != c->crc || strcmp(re.sha256, c->sha256) != 0 ||
        (fs->ru = calloc(1, sizeof(*fs->ru))) == NULL)
        return NULL;
    if ((src = zip_source_zip(za, reuse_zip(cc->reuse), re.idx, ZIP_FL_COMPRESSED, 0, -1)) == NULL) {
        free(fs->ru);
        fs->ru = NULL;
        return NULL;
    }
    fs->ru->re = re;
    fs->reused = CREATE_REUSED_ENTRY;
    if (c->buf == NULL) {
        /* What file_cb would have found: the cut hashed the private copy. */
        fs->crc = c->crc;
        memcpy(fs->sha256, c->sha256, sizeof(fs->sha256));
        fs->finished = 1;
    }
    return src;
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

/* Write every member into tmp. On failure the partial file is gone. The
 * previous archive is opened for reuse on the first call (after the cut:
 * hashing it never holds the bot paused); if copying from it fails the
 * archive is written again without it. */
int create_zip_write(struct create_ctx *cc, const char *tmp)
{
    if (!cc->reuse_tried) {
        cc->reuse_tried = 1;
        /* A stored archive (a restore's safety snapshot) copies nothing. */
        if (create_level(cc) > 0)
            cc->reuse = reuse_open(cc->s, NULL);
    }
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

static int write_once(struct create_ctx *cc, const char *tmp)
{
    struct err *e = cc->e;
    int level = create_level(cc);
    zip_t *za;
    struct lazy_src mf = { 0 }, sums = { 0 }, sig = { 0 };

    /* What an earlier write generated may not hold for this one. */
    create_manifest_forget(cc);
    memset(&cc->rd, 0, sizeof(cc->rd));
    zip_error_init(&cc->rd.zerr);
    if ((za = zipout_open(tmp, e)) == NULL)
        return -1;
    for (size_t i = 0; i < cc->cap.n; i++) {
        struct file_src *fs = &cc->srcs[i];
        struct cut_file *c = fs->cut;
        zip_source_t *src;
        zip_int64_t idx;

        if (!c->present)
            continue;
        /* An entry the previous archive holds with the same bytes is
         * copied from it; bytes read into memory inside the window go in
         * as they are; the rest streams from its descriptor through file_cb. */
        src = reuse_source(za, cc, fs, level);
        if (src == NULL)
            src = c->buf != NULL ? zip_source_buffer(za, c->buf, c->limit, 0)
                                 : zip_source_function(za, file_cb, fs);
        if (src == NULL)
            goto zfail;
        if ((idx = zip_file_add(za, c->cf->rel, src, ZIP_FL_ENC_UTF_8)) < 0) {
            zip_source_free(src);
            goto zfail;
        }
        zip_file_set_external_attributes(za, (zip_uint64_t)idx, 0, ZIP_OPSYS_UNIX,
                                         (zip_uint32_t)(S_IFREG | c->mode) << 16);
        zip_file_set_mtime(za, (zip_uint64_t)idx, c->id.mtime.tv_sec, 0);
        if (set_compression(za, idx, level, fs, c->limit) != 0)
            goto zfail;
        /* file_cb checks the candidate once it has read the bytes, and
         * deflates them itself when they differ. */
        if (fs->try_reuse && fs->level == 0)
            fs->level = (unsigned char)level;
    }
    if (cc->env_masked != NULL) {
        zip_source_t *src = zip_source_buffer(za, cc->env_masked, cc->env_len, 0);
        zip_int64_t idx;
        if (src == NULL)
            goto zfail;
        if ((idx = zip_file_add(za, MANIFEST_ENV_ENTRY, src, ZIP_FL_ENC_UTF_8)) < 0) {
            zip_source_free(src);
            goto zfail;
        }
        zip_file_set_external_attributes(za, (zip_uint64_t)idx, 0, ZIP_OPSYS_UNIX,
                                         (zip_uint32_t)(S_IFREG | 0600) << 16);
    }
    if (add_lazy(za, cc, &sums, MANIFEST_SUMS, create_sums_text) != 0 ||
        add_lazy(za, cc, &mf, MANIFEST_NAME, create_manifest_text) != 0 ||
        (cc->sign_key != NULL && add_lazy(za, cc, &sig, MANIFEST_SIG, create_manifest_sig) != 0))
        goto zfail;
    if (zip_close(za) != 0) {
        if (e->code == ERR_NONE) {
            zip_error_t *ze = zip_get_error(za);
            int sys = zip_error_code_system(ze);
            if (zip_error_system_type(ze) == ZIP_ET_SYS && sys != 0)
                err_sys(e, sys, "writing the archive");
            else
                err_set(e, ERR_IO, "writing the archive: %s", zip_strerror(za));
        }
        zip_discard(za);
        unlink(tmp);
        return -1;
    }
    /* Written and signed: the text is not needed again (the head stays,
     * for the catalog row), and the read-back has its own copy. */
    free(cc->manifest_text);
    cc->manifest_text = NULL;
    cc->manifest_len = 0;
    return 0;
zfail:
    err_set(e, ERR_IO, "building the archive: %s", zip_strerror(za));
    zip_discard(za);
    unlink(tmp);
    return -1;
}
