/* create.c - capture the state root into a new archive, crash-safely. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zip.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "archive.h"
#include "audit.h"
#include "capture.h"
#include "engine.h"
#include "envmask.h"
#include "failpoint.h"
#include "fsutil.h"
#include "manifest.h"
#include "meta.h"
#include "ops.h"
#include "pdeflate.h"
#include "store.h"

#define CREATE_READ_CHUNK (256u * 1024)
#define CREATE_POSITIONS_MAX (16u << 20)   /* positions.json kept in memory to count entries */
#define CREATE_STORE_BELOW 64              /* tiny files are stored, not deflated */

struct create_ctx;

/* One captured file while libzip pulls its bytes. */
struct file_src {
    struct create_ctx *cc;
    const struct capture_file *cf;
    int fd;
    uint64_t limit;        /* bytes to read: the size when the file was opened */
    uint64_t done;
    time_t mtime;
    mode_t mode;
    EVP_MD_CTX *md;
    char sha256[65];
    int finished;
    int level;             /* > 0: deflated here on several threads, not by libzip */
    struct pdeflate *pd;
    uint32_t crc;          /* of the content, for libzip, when deflated here */
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
    struct file_src *srcs;
    char *env_masked;
    size_t env_len;
    char env_sha[65];
    json_t *env_keys;
    char *positions;       /* tee of state/positions.json */
    size_t positions_len;
    int positions_ok;
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

static int src_open(struct file_src *fs)
{
    struct stat st;

    if (fs->fd >= 0)
        return 0;
    fs->fd = open(fs->cf->abs, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
    if (fs->fd < 0) {
        err_sys(fs->cc->e, errno, "cannot read %s", fs->cf->rel);
        zip_error_set(&fs->zerr, ZIP_ER_OPEN, errno);
        return -1;
    }
    if (fstat(fs->fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        err_set(fs->cc->e, ERR_IO, "%s is no longer a regular file", fs->cf->rel);
        zip_error_set(&fs->zerr, ZIP_ER_OPEN, 0);
        close(fs->fd);
        fs->fd = -1;
        return -1;
    }
    /* Read exactly the size seen now: a file appended to while we read
     * (hash_chain.jsonl) is captured as the prefix it had, consistently. */
    fs->limit = (uint64_t)st.st_size;
    fs->mtime = st.st_mtime;
    fs->mode = st.st_mode & 0777;
    return 0;
}

/* Every byte read from a file: into its hash, and positions.json also into
 * memory (its entries are counted for the manifest). */
static void file_tap(void *ud, const unsigned char *data, size_t r)
{
    struct file_src *fs = ud;
    struct create_ctx *cc = fs->cc;

    EVP_DigestUpdate(fs->md, data, r);
    if (cc->positions_ok && strcmp(fs->cf->rel, "state/positions.json") == 0) {
        if (cc->positions_len + r > CREATE_POSITIONS_MAX) {
            cc->positions_ok = 0;
        } else {
            char *np = realloc(cc->positions, cc->positions_len + r + 1);
            if (np == NULL) {
                cc->positions_ok = 0;
            } else {
                cc->positions = np;
                memcpy(np + cc->positions_len, data, r);
                cc->positions_len += r;
            }
        }
    }
    fs->done += (uint64_t)r;
}

static zip_int64_t file_cb(void *ud, void *data, zip_uint64_t len, zip_source_cmd_t cmd)
{
    struct file_src *fs = ud;
    struct create_ctx *cc = fs->cc;

    switch (cmd) {
    case ZIP_SOURCE_OPEN:
        if (src_open(fs) != 0)
            return -1;
        fs->done = 0;
        if ((fs->md = EVP_MD_CTX_new()) == NULL || EVP_DigestInit_ex(fs->md, EVP_sha256(), NULL) != 1) {
            zip_error_set(&fs->zerr, ZIP_ER_MEMORY, 0);
            return -1;
        }
        if (fs->level > 0 && pdeflate_start(&fs->pd, fs->fd, fs->limit, fs->level,
                                            (unsigned)cc->s->cfg->compress_threads, fs->cf->rel,
                                            file_tap, fs, cc->e) != 0) {
            zip_error_set(&fs->zerr, ZIP_ER_MEMORY, 0);
            return -1;
        }
        return 0;
    case ZIP_SOURCE_READ: {
        uint64_t left = fs->limit - fs->done;
        ssize_t r;
        if (fs->pd != NULL) {
            /* The deflated stream; the tap hashes the input as it is read. */
            if ((r = pdeflate_read(fs->pd, data, (size_t)len, cc->e)) < 0) {
                zip_error_set(&fs->zerr, ZIP_ER_READ, 0);
                return -1;
            }
            if (r == 0 && fs->done == fs->limit)
                fs->crc = pdeflate_crc(fs->pd);
            return r;
        }
        if (left == 0)
            return 0;
        if (len > left)
            len = left;
        r = fs_read_some(fs->fd, data, (size_t)len);
        if (r < 0) {
            err_sys(cc->e, errno, "read %s", fs->cf->rel);
            zip_error_set(&fs->zerr, ZIP_ER_READ, errno);
            return -1;
        }
        if (r == 0) {
            err_set(cc->e, ERR_IO, "%s shrank while it was being read; try again", fs->cf->rel);
            zip_error_set(&fs->zerr, ZIP_ER_READ, 0);
            return -1;
        }
        file_tap(fs, data, (size_t)r);
        return r;
    }
    case ZIP_SOURCE_CLOSE:
        if (fs->md != NULL && fs->done == fs->limit) {
            sha_hex(fs->md, fs->sha256);
            fs->finished = 1;
        }
        pdeflate_free(fs->pd);
        fs->pd = NULL;
        EVP_MD_CTX_free(fs->md);
        fs->md = NULL;
        if (fs->fd >= 0)
            close(fs->fd);
        fs->fd = -1;
        return 0;
    case ZIP_SOURCE_STAT: {
        zip_stat_t *st = data;
        if (src_open(fs) != 0)
            return -1;
        zip_stat_init(st);
        st->valid = ZIP_STAT_SIZE | ZIP_STAT_MTIME;
        st->size = fs->limit;
        st->mtime = fs->mtime;
        if (fs->level > 0) {
            /* Already deflated: libzip copies the stream as it is and takes
             * the CRC from here once the data is through. */
            st->valid |= ZIP_STAT_COMP_METHOD;
            st->comp_method = ZIP_CM_DEFLATE;
            if (fs->finished) {
                st->valid |= ZIP_STAT_CRC;
                st->crc = fs->crc;
            }
        }
        return sizeof(*st);
    }
    case ZIP_SOURCE_ERROR:
        return zip_error_to_data(&fs->zerr, data, len);
    case ZIP_SOURCE_FREE:
        pdeflate_free(fs->pd);
        fs->pd = NULL;
        EVP_MD_CTX_free(fs->md);
        fs->md = NULL;
        if (fs->fd >= 0)
            close(fs->fd);
        fs->fd = -1;
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

static json_t *build_manifest(struct create_ctx *cc)
{
    char created[32];
    json_t *m, *files;

    engine_time_format(cc->now, created, sizeof(created));
    files = json_array();
    for (size_t i = 0; i < cc->cap.n; i++) {
        struct file_src *fs = &cc->srcs[i];
        if (!fs->finished)
            goto fail;
        json_array_append_new(files, json_pack("{s:s,s:I,s:s,s:s}", "path", fs->cf->rel,
                                               "size", (json_int_t)fs->limit, "sha256", fs->sha256,
                                               "group", fs->cf->group));
    }
    if (cc->env_masked != NULL)
        json_array_append_new(files, json_pack("{s:s,s:I,s:s,s:s}", "path", MANIFEST_ENV_ENTRY,
                                               "size", (json_int_t)cc->env_len, "sha256",
                                               cc->env_sha, "group", "secrets"));
    int64_t positions = cc->positions_ok && cc->positions != NULL
                            ? meta_positions_count(cc->positions, cc->positions_len) : -1;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    m = json_pack("{s:i,s:s,s:s,s:I,s:s,s:o,s:s,s:s,s:o,s:b,s:o,s:O,s:o,s:o,s:s}",
                  "format", MANIFEST_FORMAT, "name", cc->name, "created_at", created,
                  /* Orders snapshots taken within one second, for reindex. */
                  "created_us", (json_int_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000,
                  "version", cc->version,
                  "git_commit", cc->git[0] ? json_string(cc->git) : json_null(),
                  "host", cc->host, "created_by", cc->actor,
                  "labels", cc->o->labels ? json_deep_copy(cc->o->labels) : json_object(),
                  "pinned", cc->o->pin || cc->o->pin_seconds > 0,
                  "files", files,
                  "absent", cc->cap.absent,
                  "env_keys", cc->env_keys ? json_incref(cc->env_keys) : json_object(),
                  "positions_count", positions >= 0 ? json_integer(positions) : json_null(),
                  "statesnap_version", STATESNAP_VERSION);
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

    if (level == 0 || size < CREATE_STORE_BELOW || stored_ext(fs->cf->rel))
        method = ZIP_CM_STORE;
    /* A large file is deflated on every core, or compress_threads of them
     * (the chain can be most of a snapshot); libzip would use one. */
    else if (size >= PDEFLATE_MIN && pdeflate_threads((unsigned)fs->cc->s->cfg->compress_threads) > 1)
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
        zip_source_t *src;
        zip_int64_t idx;
        struct stat st;

        if (stat(fs->cf->abs, &st) != 0) {
            err_sys(e, errno, "cannot read %s", fs->cf->rel);
            goto fail;
        }
        if ((src = zip_source_function(za, file_cb, fs)) == NULL)
            goto zfail;
        if ((idx = zip_file_add(za, fs->cf->rel, src, ZIP_FL_ENC_UTF_8)) < 0) {
            zip_source_free(src);
            goto zfail;
        }
        zip_file_set_external_attributes(za, (zip_uint64_t)idx, 0, ZIP_OPSYS_UNIX,
                                         (zip_uint32_t)(S_IFREG | (st.st_mode & 0777)) << 16);
        if (set_compression(za, idx, level, fs, (uint64_t)st.st_size) != 0)
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
fail:
    zip_discard(za);
    unlink(tmp);
    return -1;
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

int engine_create(struct store *s, const struct create_opts *o, json_t **snap, struct err *e)
{
    struct create_ctx cc;
    char tmp[PATH_MAX], final[PATH_MAX], sha[65];
    struct catalog_snapshot row;
    int64_t size = 0;
    int locked = 0, intent = 0, rc = -1, gated = 0;

    memset(&cc, 0, sizeof(cc));
    memset(&row, 0, sizeof(row));
    *snap = NULL;
    cc.s = s;
    cc.o = o;
    cc.e = e;
    cc.now = engine_now();
    cc.positions_ok = 1;
    /* Everything the caller could have got wrong is checked before the
     * store is touched, so bad input changes nothing. */
    if (o->name != NULL && engine_name_check(o->name, e) != 0)
        return -1;
    if (o->labels != NULL && ops_labels_check(o->labels, e) != 0)
        return -1;
    if (capture_check_root(s->cfg, e) != 0)
        return -1;
    if (store_lock(s, e) != 0)
        return -1;
    locked = 1;
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
    if (capture_scan(s->cfg, &cc.cap, e) != 0)
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
    for (size_t i = 0; i < cc.cap.n; i++) {
        cc.srcs[i].cc = &cc;
        cc.srcs[i].cf = &cc.cap.files[i];
        cc.srcs[i].fd = -1;
        zip_error_init(&cc.srcs[i].zerr);
    }
    meta_version(s->cfg->root, o->version_tag, cc.version, sizeof(cc.version));
    meta_git_commit(s->cfg->root, cc.git, sizeof(cc.git));
    meta_host(cc.host, sizeof(cc.host));
    engine_actor(s->cfg, cc.actor, sizeof(cc.actor));

    char file[ENGINE_NAME_MAX + 16];
    snprintf(file, sizeof(file), "%s.zip.tmp", cc.name);
    if (fs_join(tmp, sizeof(tmp), s->work, file, e) != 0)
        goto out;
    FAILPOINT("create.before_zip");
    if (write_zip(&cc, tmp) != 0)
        goto out;
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
    if (rename(tmp, final) != 0) {
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
    json_t *ad = json_pack("{s:I,s:i,s:s}", "size", (json_int_t)size, "files", (int)row.n_files,
                           "archive_sha256", sha);
    int bad_insert = catalog_snapshot_insert(s->cat, &row, e) != 0 ||
                     audit_append(s, "create", cc.name, "ok", ad, e) != 0;
    if (bad_insert || catalog_commit(s->cat, e) != 0) {
        json_decref(ad);
        catalog_rollback(s->cat);
        goto out_final;
    }
    engine_emit(s->cfg, "create", "ok", cc.name, ad);
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
    json_object_set(*snap, "absent", cc.cap.absent);
    json_object_set(*snap, "warnings", cc.cap.warnings);
    if (s->cfg->prune_after_create) {
        /* A create that succeeded stays a success if pruning then fails. */
        json_t *pr = NULL, *names = json_array(), *r;
        struct err pe = { 0 };
        size_t i;
        if (engine_prune(s, NULL, 0, &pr, &pe) == 0) {
            json_array_foreach(json_object_get(pr, "removed"), i, r)
                json_array_append(names, json_object_get(r, "name"));
        } else {
            char w[300];
            snprintf(w, sizeof(w), "prune after create failed: %s", pe.msg);
            json_array_append_new(cc.cap.warnings, json_string(w));
        }
        json_object_set_new(*snap, "pruned", names);
        json_decref(pr);
    }
    rc = 0;
    goto out;
out_final:
    unlink(final);
    fs_fsync_dir(s->dir, NULL);
out_unlink:
    unlink(tmp);
out:
    if (intent)
        store_intent_clear(s, cc.name, "create", NULL);
    /* Bad input and a taken name are the caller's to hear about, not an alert. */
    if (rc != 0 && !gated && e->code != ERR_INVALID && e->code != ERR_CONFLICT &&
        e->code != ERR_NOT_FOUND) {
        json_t *fd = json_pack("{s:s}", "error", e->msg);
        engine_emit(s->cfg, "create", "error", cc.name[0] ? cc.name : NULL, fd);
        json_decref(fd);
    }
    if (locked)
        store_unlock(s);
    catalog_snapshot_clear(&row);
    capture_set_free(&cc.cap);
    free(cc.srcs);
    if (cc.env_masked != NULL)
        OPENSSL_cleanse(cc.env_masked, cc.env_len);
    free(cc.env_masked);
    json_decref(cc.env_keys);
    free(cc.positions);
    json_decref(cc.manifest);
    return rc;
}
