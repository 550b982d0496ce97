/* create.c - capture the state root into a new archive, crash-safely. */
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zip.h>
#include <zlib.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "archive.h"
#include "audit.h"
#include "capture.h"
#include "chain.h"
#include "create.h"
#include "cut.h"
#include "engine.h"
#include "envmask.h"
#include "../common/failpoint.h"
#include "../common/fsutil.h"
#include "hooks.h"
#include "manifest.h"
#include "meta.h"
#include "ops.h"
#include "pdeflate.h"
#include "op.h"
#include "prune.h"
#include "store.h"

#define CREATE_STORE_BELOW 64              /* tiny files are stored, not deflated */
#define CREATE_REHASH_MAX (64u << 20)      /* streamed files re-hashed from the archive up to this */
#define CREATE_CUT_ROUNDS 3                /* cuts retaken when the chain moved under compression */

struct create_ctx;

/* One captured file with its bytes on a descriptor (an append-only file, or
 * a private copy of a large one) while libzip pulls them. */
struct file_src {
    struct create_ctx *cc;
    struct cut_file *cut;
    uint64_t done;
    EVP_MD_CTX *md;
    char sha256[65];
    uint32_t crc;          /* of the bytes read, checked against the archive */
    int finished;
    int level;             /* > 0: deflated here on several threads, not by libzip */
    struct pdeflate *pd;
    uint32_t pd_crc;       /* from pdeflate, for libzip, when deflated here */
    unsigned char ring[CUT_TAIL_MAX];   /* the last bytes read (append-only files) */
    size_t ring_len;
    struct chain_scan *chain;           /* fed when this is the hash chain */
    int store_only;        /* deflates past the zip-bomb ratio limit: stored instead */
    zip_error_t zerr;
};

/* A member generated when libzip reaches it (manifest.json, SHA256SUMS): by
 * then every file before it has been read and hashed. */
struct lazy_src {
    struct create_ctx *cc;
    char *(*make)(struct create_ctx *cc, size_t *len);
    char *buf;
    size_t len, off;
    zip_error_t zerr;
};

struct create_ctx {
    struct store *s;
    const struct create_opts *o;
    char name[ENGINE_NAME_MAX + 1];
    int64_t now;
    struct capture_set cap;
    struct cut cut;
    struct file_src *srcs;
    char *env_masked;
    size_t env_len;
    char env_sha[65];
    json_t *env_keys;
    json_t *absent;        /* the scan's absent paths and files that vanished */
    json_t *warnings;      /* the scan's and the cut's */
    json_t *hooks;         /* results of the hooks that ran */
    struct chain_scan chain;
    int chain_idx;         /* index of the chain in cap.files, or -1 */
    json_t *chain_tip;
    int moved;             /* an append-only file was rewritten or shrank after the cut */
    int hooks_begun;       /* the pre hook ran (or there is none): the post hook is due */
    int post_done;
    json_t *manifest;      /* built by make_manifest */
    char version[129];
    char git[65];
    char host[256];
    char actor[129];
    struct err *e;
};

static void sha_hex(EVP_MD_CTX *md, char out[65])
{
    unsigned char d[32];

    EVP_DigestFinal_ex(md, d, NULL);
    fs_hex(d, sizeof(d), out);
}

/* Every byte read from a file: into its hash and CRC, the end of an
 * append-only file into the ring, the chain into its scan. */
static void file_tap(void *ud, const unsigned char *data, size_t r)
{
    struct file_src *fs = ud;

    EVP_DigestUpdate(fs->md, data, r);
    fs->crc = (uint32_t)crc32(fs->crc, data, (uInt)r);
    if (fs->cut->append) {
        if (r >= CUT_TAIL_MAX) {
            memcpy(fs->ring, data + r - CUT_TAIL_MAX, CUT_TAIL_MAX);
            fs->ring_len = CUT_TAIL_MAX;
        } else {
            if (fs->ring_len + r > CUT_TAIL_MAX) {
                size_t drop = fs->ring_len + r - CUT_TAIL_MAX;
                memmove(fs->ring, fs->ring + drop, fs->ring_len - drop);
                fs->ring_len -= drop;
            }
            memcpy(fs->ring + fs->ring_len, data, r);
            fs->ring_len += r;
        }
    }
    if (fs->chain != NULL)
        chain_scan_feed(fs->chain, data, r);
    fs->done += (uint64_t)r;
}

/* All of an append-only file's bytes are through: do they still end with
 * what was there when the cut was taken? */
static int tail_check(struct file_src *fs)
{
    const struct cut_file *c = fs->cut;

    if (!c->append || (fs->ring_len == c->tail_len && memcmp(fs->ring, c->tail, c->tail_len) == 0))
        return 0;
    fs->cc->moved = 1;
    err_set(fs->cc->e, ERR_UNSTABLE, "%s was rewritten while it was being read", c->cf->rel);
    zip_error_set(&fs->zerr, ZIP_ER_READ, 0);
    return -1;
}

static void src_reset(struct file_src *fs)
{
    pdeflate_free(fs->pd);
    fs->pd = NULL;
    EVP_MD_CTX_free(fs->md);
    fs->md = NULL;
}

static zip_int64_t file_cb(void *ud, void *data, zip_uint64_t len, zip_source_cmd_t cmd)
{
    struct file_src *fs = ud;
    struct create_ctx *cc = fs->cc;
    struct cut_file *c = fs->cut;

    switch (cmd) {
    case ZIP_SOURCE_OPEN:
        src_reset(fs);
        fs->done = 0;
        fs->ring_len = 0;
        fs->crc = (uint32_t)crc32(0L, Z_NULL, 0);
        if (fs->chain != NULL) {
            chain_scan_free(fs->chain);
            chain_scan_init(fs->chain, fs->chain->f_seq, fs->chain->f_hash, fs->chain->f_prev);
        }
        if (lseek(c->fd, 0, SEEK_SET) != 0) {
            err_sys(cc->e, errno, "read %s", c->cf->rel);
            zip_error_set(&fs->zerr, ZIP_ER_READ, errno);
            return -1;
        }
        if ((fs->md = EVP_MD_CTX_new()) == NULL || EVP_DigestInit_ex(fs->md, EVP_sha256(), NULL) != 1) {
            zip_error_set(&fs->zerr, ZIP_ER_MEMORY, 0);
            return -1;
        }
        if (fs->level > 0 && pdeflate_start(&fs->pd, c->fd, c->limit, fs->level,
                                            (unsigned)cc->s->cfg->compress_threads, c->cf->rel,
                                            file_tap, fs, cc->e) != 0) {
            zip_error_set(&fs->zerr, ZIP_ER_MEMORY, 0);
            return -1;
        }
        return 0;
    case ZIP_SOURCE_READ: {
        uint64_t left = c->limit - fs->done;
        ssize_t r;
        if (fs->pd != NULL) {
            /* The deflated stream; the tap hashes the input as it is read. */
            if ((r = pdeflate_read(fs->pd, data, (size_t)len, cc->e)) < 0) {
                struct stat st;
                /* An append-only file cut shorter than the cut was rewritten. */
                if (c->append && fstat(c->fd, &st) == 0 && (uint64_t)st.st_size < c->limit) {
                    cc->moved = 1;
                    err_clear(cc->e);
                    err_set(cc->e, ERR_UNSTABLE, "%s shrank while it was being read", c->cf->rel);
                }
                zip_error_set(&fs->zerr, ZIP_ER_READ, 0);
                return -1;
            }
            if (r == 0 && fs->done == c->limit) {
                fs->pd_crc = pdeflate_crc(fs->pd);
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
        if (r < 0) {
            err_sys(cc->e, errno, "read %s", c->cf->rel);
            zip_error_set(&fs->zerr, ZIP_ER_READ, errno);
            return -1;
        }
        if (r == 0) {
            /* Only an append-only file is the live one: it was cut short. */
            cc->moved = c->append;
            err_set(cc->e, c->append ? ERR_UNSTABLE : ERR_IO,
                    "%s shrank while it was being read", c->cf->rel);
            zip_error_set(&fs->zerr, ZIP_ER_READ, 0);
            return -1;
        }
        file_tap(fs, data, (size_t)r);
        return r;
    }
    case ZIP_SOURCE_CLOSE:
        if (fs->md != NULL && fs->done == c->limit) {
            sha_hex(fs->md, fs->sha256);
            fs->finished = 1;
        }
        src_reset(fs);
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
        return zip_error_to_data(&fs->zerr, data, len);
    case ZIP_SOURCE_FREE:
        src_reset(fs);
        return 0;
    case ZIP_SOURCE_SUPPORTS:
        return zip_source_make_command_bitmap(ZIP_SOURCE_OPEN, ZIP_SOURCE_READ, ZIP_SOURCE_CLOSE,
                                              ZIP_SOURCE_STAT, ZIP_SOURCE_ERROR, ZIP_SOURCE_FREE, -1);
    default:
        zip_error_set(&fs->zerr, ZIP_ER_OPNOTSUPP, 0);
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
        return 0;
    case ZIP_SOURCE_STAT: {
        zip_stat_t *st = data;
        zip_stat_init(st);
        st->valid = ZIP_STAT_MTIME;
        st->mtime = (time_t)ls->cc->now;
        /* The size is unknown until the files before it are read; when
         * libzip already opened us (it re-stats after reading) it is known. */
        if (ls->buf != NULL) {
            st->valid |= ZIP_STAT_SIZE;
            st->size = ls->len;
        }
        return sizeof(*st);
    }
    case ZIP_SOURCE_ERROR:
        return zip_error_to_data(&ls->zerr, data, len);
    case ZIP_SOURCE_FREE:
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

/* The positions count, from positions.json's captured bytes when they are in memory. */
static int64_t captured_positions(const struct create_ctx *cc)
{
    for (size_t i = 0; i < cc->cap.n; i++) {
        const struct cut_file *c = &cc->cut.files[i];
        if (strcmp(c->cf->rel, "state/positions.json") == 0)
            return c->present && c->buf != NULL
                       ? meta_positions_count((const char *)c->buf, (size_t)c->limit) : -1;
    }
    return -1;
}

static json_t *build_manifest(struct create_ctx *cc)
{
    char created[32];
    json_t *m, *files;

    engine_time_format(cc->now, created, sizeof(created));
    files = json_array();
    for (size_t i = 0; i < cc->cap.n; i++) {
        const struct cut_file *c = &cc->cut.files[i];
        const struct file_src *fs = &cc->srcs[i];
        if (!c->present)
            continue;
        /* Size and hash come from the one read that produced the entry. */
        if (c->buf == NULL && !fs->finished)
            goto fail;
        json_array_append_new(files, json_pack("{s:s,s:I,s:s,s:s}", "path", c->cf->rel,
                                               "size", (json_int_t)c->limit, "sha256",
                                               c->buf != NULL ? c->sha256 : fs->sha256,
                                               "group", c->cf->group));
    }
    if (cc->env_masked != NULL)
        json_array_append_new(files, json_pack("{s:s,s:I,s:s,s:s}", "path", MANIFEST_ENV_ENTRY,
                                               "size", (json_int_t)cc->env_len, "sha256",
                                               cc->env_sha, "group", "secrets"));
    int64_t positions = captured_positions(cc);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    m = json_pack("{s:i,s:s,s:s,s:I,s:s,s:o,s:s,s:s,s:o,s:b,s:o,s:O,s:o,s:o,s:s,s:o}",
                  "format", MANIFEST_FORMAT, "name", cc->name, "created_at", created,
                  /* Orders snapshots taken within one second, for reindex. */
                  "created_us", (json_int_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000,
                  "version", cc->version,
                  "git_commit", cc->git[0] ? json_string(cc->git) : json_null(),
                  "host", cc->host, "created_by", cc->actor,
                  "labels", cc->o->labels ? json_deep_copy(cc->o->labels) : json_object(),
                  "pinned", cc->o->pin || cc->o->pin_seconds > 0,
                  "files", files,
                  "absent", cc->absent,
                  "env_keys", cc->env_keys ? json_incref(cc->env_keys) : json_object(),
                  "positions_count", positions >= 0 ? json_integer(positions) : json_null(),
                  "statesnap_version", STATESNAP_VERSION,
                  "consistency", cut_consistency_json(&cc->cut));
    if (m != NULL && cc->chain_idx >= 0) {
        if (cc->chain_tip == NULL)
            cc->chain_tip = chain_scan_result(&cc->chain, cc->cap.files[cc->chain_idx].rel);
        json_object_set(m, "chain", cc->chain_tip);
    }
    return m;
fail:
    json_decref(files);
    return NULL;
}

static char *make_manifest(struct create_ctx *cc, size_t *len)
{
    char *text;

    if (cc->manifest == NULL && (cc->manifest = build_manifest(cc)) == NULL)
        return NULL;
    text = json_dumps(cc->manifest, JSON_INDENT(2) | JSON_SORT_KEYS);
    if (text != NULL) {
        size_t n = strlen(text);
        char *t2 = realloc(text, n + 2);
        if (t2 == NULL) {
            free(text);
            return NULL;
        }
        t2[n] = '\n';
        t2[n + 1] = '\0';
        text = t2;
        *len = n + 1;
    }
    return text;
}

static char *make_sums(struct create_ctx *cc, size_t *len)
{
    char *text;

    if (cc->manifest == NULL && (cc->manifest = build_manifest(cc)) == NULL)
        return NULL;
    text = manifest_sums_text(cc->manifest);
    if (text != NULL)
        *len = strlen(text);
    return text;
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
        fs->level = level;
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

/* Write every member into tmp. On failure the partial file is gone. */
static int write_zip(struct create_ctx *cc, const char *tmp)
{
    struct err *e = cc->e;
    int zerr = 0, level = cc->o->compression_level > 0 ? cc->o->compression_level
                          : cc->o->compression_level == CREATE_LEVEL_STORED ? 0
                          : cc->s->cfg->compression_level;
    zip_t *za;
    struct lazy_src mf = { 0 }, sums = { 0 };

    if (level < 0 || level > 9)
        level = 6;
    za = zip_open(tmp, ZIP_CREATE | ZIP_TRUNCATE, &zerr);
    if (za == NULL)
        return err_set(e, ERR_IO, "cannot create %s (libzip error %d)", tmp, zerr);
    for (size_t i = 0; i < cc->cap.n; i++) {
        struct file_src *fs = &cc->srcs[i];
        struct cut_file *c = fs->cut;
        zip_source_t *src;
        zip_int64_t idx;

        if (!c->present)
            continue;
        /* Bytes read into memory inside the window go in as they are; the
         * rest streams from its descriptor through file_cb. */
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
    if (add_lazy(za, cc, &sums, MANIFEST_SUMS, make_sums) != 0 ||
        add_lazy(za, cc, &mf, MANIFEST_NAME, make_manifest) != 0)
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
    return 0;
zfail:
    err_set(e, ERR_IO, "building the archive: %s", zip_strerror(za));
    zip_discard(za);
    unlink(tmp);
    return -1;
}

/* Entries that deflated past the ratio limit archive_open enforces on
 * every read (a file of zeros): marked to be stored. Returns how many. */
static int mark_over_ratio(struct create_ctx *cc, const char *tmp)
{
    int zerr = 0, n = 0;
    zip_t *za = zip_open(tmp, ZIP_RDONLY, &zerr);

    if (za == NULL)
        return 0;   /* check_written says what is wrong */
    for (size_t i = 0; i < cc->cap.n; i++) {
        zip_stat_t st;
        if (!cc->cut.files[i].present || cc->srcs[i].store_only ||
            zip_stat(za, cc->cut.files[i].cf->rel, 0, &st) != 0)
            continue;
        if ((st.valid & ZIP_STAT_COMP_SIZE) && archive_ratio_exceeded(st.size, st.comp_size)) {
            cc->srcs[i].store_only = 1;
            n++;
        }
    }
    zip_discard(za);
    return n;
}

/* Read the finished archive back the way verify, restore, import and
 * reindex will: its structure and manifest, every entry's size and CRC in
 * the central directory against the bytes that were read, and the small
 * files hashed again whole. create never reports an archive they refuse. */
static int check_written(struct create_ctx *cc, const char *tmp)
{
    struct archive *a = NULL;
    struct err ae = { 0 };
    uint64_t fd_bytes = 0;
    int rc = -1;

    if (archive_open(&a, tmp, &ae) != 0)
        goto bad;
    for (size_t i = 0; i < cc->cap.n; i++) {
        const struct cut_file *c = &cc->cut.files[i];
        if (c->present && c->buf == NULL)
            fd_bytes += c->limit;
    }
    for (size_t i = 0; i < cc->cap.n; i++) {
        const struct cut_file *c = &cc->cut.files[i];
        uint64_t size;
        uint32_t crc;
        if (!c->present)
            continue;
        if (archive_entry_stat(a, c->cf->rel, &size, &crc, &ae) != 0)
            goto bad;
        if (size != c->limit || crc != (c->buf != NULL ? c->crc : cc->srcs[i].crc)) {
            err_set(&ae, ERR_VERIFY, "%.200s: the archive's size or CRC differs from what was read",
                    c->cf->rel);
            goto bad;
        }
        if ((c->buf != NULL || fd_bytes <= CREATE_REHASH_MAX) &&
            archive_stream(a, c->cf->rel, NULL, NULL, &ae) != 0)
            goto bad;
    }
    if (cc->env_masked != NULL && archive_stream(a, MANIFEST_ENV_ENTRY, NULL, NULL, &ae) != 0)
        goto bad;
    rc = 0;
    goto out;
bad:
    err_set(cc->e, ERR_IO, "the archive just written does not check out, so it was not kept: %s",
            ae.msg);
out:
    archive_close(a);
    return rc;
}

/* Run one hook with the operation's environment, collecting its result. */
static int run_hook(struct create_ctx *cc, const struct hook_spec *h, const char *what,
                    const char *result, struct err *e)
{
    char v_op[] = "STATESNAP_OP=create", v_name[128], v_root[4200], v_reason[96], v_result[64],
         v_store[4200], v_cons[64];
    const char *env[8];
    json_t *res = NULL;
    int n = 0, rc;

    snprintf(v_name, sizeof(v_name), "STATESNAP_SNAPSHOT=%s", cc->name);
    snprintf(v_root, sizeof(v_root), "STATESNAP_ROOT=%s", cc->s->cfg->root);
    snprintf(v_store, sizeof(v_store), "STATESNAP_STORE=%s", cc->s->dir);
    snprintf(v_reason, sizeof(v_reason), "STATESNAP_REASON=%.64s",
             cc->o->reason ? cc->o->reason : "manual");
    env[n++] = v_op;
    env[n++] = v_name;
    env[n++] = v_root;
    env[n++] = v_store;
    env[n++] = v_reason;
    if (result != NULL) {
        snprintf(v_result, sizeof(v_result), "STATESNAP_RESULT=%s", result);
        snprintf(v_cons, sizeof(v_cons), "STATESNAP_CONSISTENCY=%s",
                 cc->cut.attempts == 0 ? "none" : cc->cut.consistent ? "consistent" : "changed");
        env[n++] = v_result;
        env[n++] = v_cons;
    }
    env[n] = NULL;
    rc = hook_run(h, what, env, &res, e);
    if (res != NULL) {
        json_object_set_new(res, "optional", json_boolean(h->optional));
        json_array_append_new(cc->hooks, res);
    }
    return rc;
}

/* Does the scan hold what the config requires (by default: one of the
 * expected files)? An unmounted volume must not become a snapshot. */
static int require_check(struct create_ctx *cc, struct err *e)
{
    const struct capture_policy *p = cc->s->cfg->capture;

    /* A restore's safety snapshot of an empty root is the undo of
     * restoring into it: always taken. */
    if (cc->o->reason != NULL && strcmp(cc->o->reason, "pre-restore") == 0)
        return 0;
    if (p != NULL && p->require != NULL) {
        for (size_t g = 0; g < p->n_require; g++) {
            int hit = 0;
            for (size_t i = 0; i < cc->cap.n && !hit; i++)
                hit = fnmatch(p->require[g], cc->cap.files[i].rel, FNM_PATHNAME) == 0;
            if (!hit)
                return err_set(e, ERR_UNAVAILABLE,
                               "state root %.200s has no file matching \"%.100s\" "
                               "(capture.require): is the volume mounted?",
                               cc->s->cfg->root, p->require[g]);
        }
        return 0;
    }
    for (size_t i = 0; i < cc->cap.n; i++)
        if (capture_is_expected(cc->cap.files[i].rel))
            return 0;
    return err_set(e, ERR_UNAVAILABLE,
                   "state root %.200s holds none of the expected state files "
                   "(state/positions.json, state/hash_chain.jsonl, config/config.json, ...): "
                   "is the volume mounted?", cc->s->cfg->root);
}

/* The post hook, once, when the hook phase began (the pre hook ran, or
 * there is none): right after the cut, so a paused bot resumes before the
 * compression, or on the way out of a create that failed before that. A
 * failing post hook does not undo a capture: it warns (and alerts). */
static void post_hook(struct create_ctx *cc, const char *result)
{
    const struct hook_spec *h = cc->s->cfg->post_snapshot;
    struct err he = { 0 };

    if (!cc->hooks_begun || cc->post_done || h == NULL)
        return;
    cc->post_done = 1;
    if (run_hook(cc, h, "post_snapshot", result, &he) != 0) {
        char w[300];
        json_t *d = json_pack("{s:s}", "error", he.msg);
        snprintf(w, sizeof(w), "%s", he.msg);
        json_array_append_new(cc->warnings, json_string(w));
        engine_emit(cc->s->cfg, "hook", "error", cc->name, d);
        json_decref(d);
    }
}

/* Capture the root: a consistent cut, then every entry of the archive at
 * tmp written and read back. A rewrite of an append-only file seen only
 * while compressing takes the cut again. */
static int capture_and_write(struct create_ctx *cc, const char *tmp, struct err *e)
{
    const struct capture_policy *p = cc->s->cfg->capture;
    const char *chain_path = p && p->chain_path ? p->chain_path : "state/hash_chain.jsonl";

    for (int round = 1;; round++) {
        cut_free(&cc->cut);
        json_decref(cc->manifest);
        cc->manifest = NULL;
        json_decref(cc->chain_tip);
        cc->chain_tip = NULL;
        chain_scan_free(&cc->chain);
        cc->moved = 0;
        FAILPOINT("create.before_cut");
        int cr = cut_take(cc->s->cfg, cc->s->work, &cc->cap, &cc->cut, e);
        post_hook(cc, cr == 0 ? "ok" : "error");
        if (cr != 0)
            return -1;
        FAILPOINT("create.after_cut");
        chain_scan_init(&cc->chain, p ? p->chain_seq : NULL, p ? p->chain_hash : NULL,
                        p ? p->chain_prev : NULL);
        cc->chain_idx = -1;
        for (size_t i = 0; i < cc->cap.n; i++) {
            struct file_src *fs = &cc->srcs[i];
            memset(fs, 0, sizeof(*fs));
            fs->cc = cc;
            fs->cut = &cc->cut.files[i];
            zip_error_init(&fs->zerr);
            if (fs->cut->present && strcmp(fs->cut->cf->rel, chain_path) == 0) {
                cc->chain_idx = (int)i;
                if (fs->cut->buf != NULL)
                    chain_scan_feed(&cc->chain, fs->cut->buf, (size_t)fs->cut->limit);
                else
                    fs->chain = &cc->chain;
            }
        }
        FAILPOINT("create.before_zip");
        if (write_zip(cc, tmp) == 0) {
            /* A file that deflates past the zip-bomb ratio is stored
             * instead, or every later read of the archive would refuse it. */
            if (mark_over_ratio(cc, tmp) == 0 || write_zip(cc, tmp) == 0)
                break;
        }
        if (!cc->moved || round >= CREATE_CUT_ROUNDS)
            return -1;
        err_clear(e);
    }
    return 0;
}

static int choose_name(struct create_ctx *cc, struct err *e)
{
    char stamp[32], cand[ENGINE_NAME_MAX + 1];
    time_t t = (time_t)cc->now;
    struct tm tm;

    if (cc->o->name != NULL) {
        if (snprintf(cc->name, sizeof(cc->name), "%s", cc->o->name) >= (int)sizeof(cc->name))
            return err_set(e, ERR_INVALID, "snapshot name is longer than %d characters",
                           ENGINE_NAME_MAX);
        return 0;
    }
    gmtime_r(&t, &tm);
    strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
    /* Two automatic snapshots in one second get _2, _3, ... */
    for (int i = 1; i < 100; i++) {
        if (i == 1)
            snprintf(cand, sizeof(cand), "snap_%s", stamp);
        else
            snprintf(cand, sizeof(cand), "snap_%s_%d", stamp, i);
        char path[PATH_MAX];
        int r = catalog_snapshot_exists(cc->s->cat, cand, e);
        if (r < 0 || store_archive_path(cc->s, cand, path, sizeof(path), e) != 0)
            return -1;
        if (r == 0 && fs_exists(path) == 0) {
            snprintf(cc->name, sizeof(cc->name), "%s", cand);
            return 0;
        }
    }
    return err_set(e, ERR_CONFLICT, "too many snapshots in one second");
}

/* Add what the cut saw to the scan's absent list and warnings. */
static int merge_cut_notes(struct create_ctx *cc, struct err *e)
{
    size_t i;
    json_t *v;

    for (i = 0; i < cc->cap.n; i++)
        if (!cc->cut.files[i].present &&
            json_array_append_new(cc->absent, json_string(cc->cap.files[i].rel)) != 0)
            return err_set(e, ERR_IO, "out of memory");
    json_array_foreach(cc->cut.warnings, i, v)
        if (json_array_append(cc->warnings, v) != 0)
            return err_set(e, ERR_IO, "out of memory");
    if (!cc->cut.consistent) {
        char w[300];
        snprintf(w, sizeof(w), "not a consistent cut: files changed while they were read "
                 "(%d attempts); kept because capture.on_inconsistent is \"keep\"",
                 cc->cut.attempts);
        json_array_append_new(cc->warnings, json_string(w));
    }
    return 0;
}

int create_check(const struct store *s, const struct create_opts *o, struct err *e)
{
    /* Everything the caller could have got wrong is checked before the
     * store is touched, so bad input changes nothing. */
    if (o->name != NULL && engine_name_check(o->name, e) != 0)
        return -1;
    if (o->labels != NULL && ops_labels_check(o->labels, e) != 0)
        return -1;
    return capture_check_root(s->cfg, e);
}

int create_write(struct store *s, const struct create_opts *o, json_t **snap, struct err *e)
{
    struct create_ctx cc;
    char tmp[PATH_MAX], final[PATH_MAX], sha[65];
    struct catalog_snapshot row;
    int64_t size = 0;
    int intent = 0, rc = -1, gated = 0;

    memset(&cc, 0, sizeof(cc));
    memset(&row, 0, sizeof(row));
    *snap = NULL;
    cc.s = s;
    cc.o = o;
    cc.e = e;
    cc.now = engine_now();
    cc.chain_idx = -1;
    cc.hooks = json_array();
    if (cc.hooks == NULL)
        return err_set(e, ERR_IO, "out of memory");
    if (choose_name(&cc, e) != 0)
        goto out;
    int exists = catalog_snapshot_exists(s->cat, cc.name, e);
    if (exists < 0)
        goto out;
    if (store_archive_path(s, cc.name, final, sizeof(final), e) != 0)
        goto out;
    if (exists || fs_exists(final) == 1) {
        err_set(e, ERR_CONFLICT, "a snapshot named \"%s\" already exists", cc.name);
        goto out;
    }
    /* The bot is paused (if it can be) from here until the cut is taken. */
    cc.hooks_begun = 1;
    if (s->cfg->pre_snapshot != NULL) {
        struct err he = { 0 };
        if (run_hook(&cc, s->cfg->pre_snapshot, "pre_snapshot", NULL, &he) != 0) {
            if (!s->cfg->pre_snapshot->optional) {
                *e = he;
                goto out;
            }
            cc.warnings = json_array();
            json_array_append_new(cc.warnings, json_string(he.msg));
        }
    }
    if (capture_scan(s->cfg, &cc.cap, e) != 0)
        goto out;
    cc.absent = json_incref(cc.cap.absent);
    if (cc.warnings == NULL) {
        cc.warnings = json_incref(cc.cap.warnings);
    } else {
        json_array_extend(cc.warnings, cc.cap.warnings);
    }
    if (require_check(&cc, e) != 0)
        goto out;
    if (cc.cap.env_path != NULL) {
        EVP_MD_CTX *md;
        if (store_secret(s, e) != 0 ||
            envmask_file(cc.cap.env_path, s->secret, &cc.env_masked, &cc.env_len, &cc.env_keys, e) != 0)
            goto out;
        if ((md = EVP_MD_CTX_new()) == NULL || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
            EVP_MD_CTX_free(md);
            err_set(e, ERR_IO, "out of memory");
            goto out;
        }
        EVP_DigestUpdate(md, cc.env_masked, cc.env_len);
        sha_hex(md, cc.env_sha);
        EVP_MD_CTX_free(md);
    }
    if ((cc.srcs = calloc(cc.cap.n + 1, sizeof(*cc.srcs))) == NULL) {
        err_set(e, ERR_IO, "out of memory");
        goto out;
    }
    meta_version(s->cfg->root, o->version_tag, cc.version, sizeof(cc.version));
    meta_git_commit(s->cfg->root, cc.git, sizeof(cc.git));
    meta_host(cc.host, sizeof(cc.host));
    engine_actor(s->cfg, cc.actor, sizeof(cc.actor));

    char file[ENGINE_NAME_MAX + 16];
    snprintf(file, sizeof(file), "%s.zip.tmp", cc.name);
    if (fs_join(tmp, sizeof(tmp), s->work, file, e) != 0)
        goto out;
    if (capture_and_write(&cc, tmp, e) != 0)
        goto out;
    if (merge_cut_notes(&cc, e) != 0)
        goto out_unlink;
    FAILPOINT("create.after_zip");
    /* libzip renamed its own temp onto tmp but did not sync: do it now,
     * and read the result back for the archive hash. */
    {
        int fd = open(tmp, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || fsync(fd) != 0) {
            err_sys(e, errno, "sync %s", tmp);
            if (fd >= 0)
                close(fd);
            goto out_unlink;
        }
        close(fd);
    }
    if (check_written(&cc, tmp) != 0)
        goto out_unlink;
    if (archive_file_sha256(tmp, sha, &size, e) != 0)
        goto out_unlink;
    if (o->gate != NULL && o->gate(o->gate_ctx, e) != 0) {
        gated = 1;
        goto out_unlink;
    }
    if (store_intent_write(s, cc.name, "create", e) != 0)
        goto out_unlink;
    intent = 1;
    FAILPOINT("create.after_intent");
    /* libzip creates with 0666 & ~umask: the store's files are the owner's alone. */
    if (chmod(tmp, STORE_FILE_MODE) != 0 || rename(tmp, final) != 0) {
        err_sys(e, errno, "rename into %s", final);
        goto out_unlink;
    }
    FAILPOINT("create.after_rename");
    if (fs_fsync_dir(s->dir, e) != 0)
        goto out_final;
    if (ops_row_from_manifest(cc.manifest, size, sha, &row, e) != 0)
        goto out_final;
    if (o->pin_seconds > 0)
        row.pin_until = cc.now + o->pin_seconds;
    if (o->pin_seconds > 0)
        row.pinned = 1;
    if (catalog_begin(s->cat, e) != 0)
        goto out_final;
    json_t *ad = json_pack("{s:I,s:i,s:s,s:O}", "size", (json_int_t)size, "files",
                           (int)row.n_files, "archive_sha256", sha, "consistency",
                           json_object_get(cc.manifest, "consistency"));
    if (json_array_size(cc.hooks) > 0)
        json_object_set(ad, "hooks", cc.hooks);
    int bad_insert = catalog_snapshot_insert(s->cat, &row, e) != 0 ||
                     audit_append(s, "create", cc.name, "ok", ad, e) != 0;
    if (bad_insert || catalog_commit(s->cat, e) != 0) {
        json_decref(ad);
        catalog_rollback(s->cat);
        goto out_final;
    }
    engine_emit(s->cfg, "create", cc.cut.consistent ? "ok" : "inconsistent", cc.name, ad);
    json_decref(ad);
    FAILPOINT("create.after_catalog");
    if (store_intent_clear(s, cc.name, "create", e) != 0)
        goto out;
    intent = 0;
    *snap = ops_snapshot_json(s, &row);
    if (*snap == NULL) {
        err_set(e, ERR_IO, "out of memory");
        goto out;
    }
    json_object_set(*snap, "absent", cc.absent);
    json_object_set(*snap, "warnings", cc.warnings);
    json_object_set(*snap, "hooks", cc.hooks);
    rc = 0;
    goto out;
out_final:
    unlink(final);
    fs_fsync_dir(s->dir, NULL);
out_unlink:
    unlink(tmp);
out:
    post_hook(&cc, rc == 0 ? "ok" : "error");
    if (intent)
        store_intent_clear(s, cc.name, "create", NULL);
    /* Bad input and a taken name are the caller's to hear about, not an alert. */
    if (rc != 0 && !gated && e->code != ERR_INVALID && e->code != ERR_CONFLICT &&
        e->code != ERR_NOT_FOUND) {
        json_t *fd = json_pack("{s:s}", "error", e->msg);
        if (json_array_size(cc.hooks) > 0)
            json_object_set(fd, "hooks", cc.hooks);
        engine_emit(s->cfg, "create", "error", cc.name[0] ? cc.name : NULL, fd);
        json_decref(fd);
    }
    catalog_snapshot_clear(&row);
    cut_free(&cc.cut);
    capture_set_free(&cc.cap);
    free(cc.srcs);
    if (cc.env_masked != NULL)
        OPENSSL_cleanse(cc.env_masked, cc.env_len);
    free(cc.env_masked);
    json_decref(cc.env_keys);
    json_decref(cc.absent);
    json_decref(cc.warnings);
    json_decref(cc.hooks);
    json_decref(cc.chain_tip);
    chain_scan_free(&cc.chain);
    json_decref(cc.manifest);
    return rc;
}

int engine_create(struct store *s, const struct create_opts *o, json_t **snap, struct err *e)
{
    struct op op = { 0 };
    int rc;

    *snap = NULL;
    if (create_check(s, o, e) != 0)
        return -1;
    if (op_begin(s, OP_WRITE, &op, e) != 0) {
        /* A busy store is an alert (nothing was snapshotted); bad input is not. */
        if (e->code != ERR_INVALID && e->code != ERR_CONFLICT && e->code != ERR_NOT_FOUND) {
            json_t *fd = json_pack("{s:s}", "error", e->msg);
            engine_emit(s->cfg, "create", "error", NULL, fd);
            json_decref(fd);
        }
        return -1;
    }
    rc = create_write(s, o, snap, e);
    if (rc == 0 && s->cfg->prune_after_create)
        prune_after_create(s, *snap);
    op_end(&op);
    return rc;
}
