/* op_diff.c - the diff operation: build the two sides (archive or live root) and compare. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "archive.h"
#include "capture.h"
#include "diff.h"
#include "op.h"
#include "envmask.h"
#include "../common/fsutil.h"
#include "manifest.h"
#include "meta.h"
#include "snapshot.h"
#include "store.h"

#define LIVE "live"

struct side_ctx {
    struct archive *a;       /* archive side */
    const char *root;        /* live side */
    char *env_masked;        /* live side: masked .env bytes */
    size_t env_len;
};

/* ---- archive readers ---- */

struct zreader {
    struct diff_reader base;
    struct archive_reader *r;
};

static ssize_t zread(struct diff_reader *r, void *buf, size_t n, struct err *e)
{
    return archive_reader_read(((struct zreader *)r)->r, buf, n, e);
}

static void zclose(struct diff_reader *r)
{
    archive_reader_close(((struct zreader *)r)->r);
    free(r);
}

static struct diff_reader *archive_open_cb(void *ctx, const char *path, struct err *e)
{
    struct side_ctx *sc = ctx;
    struct zreader *z = calloc(1, sizeof(*z));

    if (z == NULL) {
        err_set(e, ERR_IO, "out of memory");
        return NULL;
    }
    if ((z->r = archive_reader_open(sc->a, path, e)) == NULL) {
        free(z);
        return NULL;
    }
    z->base.read = zread;
    z->base.close = zclose;
    return &z->base;
}

/* ---- live readers ---- */

struct freader {
    struct diff_reader base;
    int fd;
    const char *mem;     /* the masked .env instead of a file */
    size_t len, off;
};

static ssize_t fread_cb(struct diff_reader *r, void *buf, size_t n, struct err *e)
{
    struct freader *f = (struct freader *)r;
    ssize_t got;

    if (f->mem != NULL) {
        if (n > f->len - f->off)
            n = f->len - f->off;
        memcpy(buf, f->mem + f->off, n);
        f->off += n;
        return (ssize_t)n;
    }
    got = fs_read_some(f->fd, buf, n);
    if (got < 0)
        return err_sys(e, errno, "read live file");
    return got;
}

static void fclose_cb(struct diff_reader *r)
{
    struct freader *f = (struct freader *)r;

    if (f->fd >= 0)
        close(f->fd);
    free(f);
}

static struct diff_reader *live_open_cb(void *ctx, const char *path, struct err *e)
{
    struct side_ctx *sc = ctx;
    struct freader *f = calloc(1, sizeof(*f));
    char abs[PATH_MAX];

    if (f == NULL) {
        err_set(e, ERR_IO, "out of memory");
        return NULL;
    }
    f->fd = -1;
    f->base.read = fread_cb;
    f->base.close = fclose_cb;
    if (strcmp(path, MANIFEST_ENV_ENTRY) == 0) {
        f->mem = sc->env_masked ? sc->env_masked : "";
        f->len = sc->env_masked ? sc->env_len : 0;
        return &f->base;
    }
    if (!manifest_path_safe(path) || fs_join(abs, sizeof(abs), sc->root, path, e) != 0 ||
        (f->fd = open(abs, O_RDONLY | O_CLOEXEC | O_NONBLOCK)) < 0) {
        if (e->code == ERR_NONE)
            err_sys(e, errno, "open %s", path);
        free(f);
        return NULL;
    }
    return &f->base;
}

/* ---- building sides ---- */

static int archive_side(struct store *s, const char *name, struct side_ctx *sc,
                        struct diff_side *side, struct err *e)
{
    struct catalog_snapshot row;
    char path[PATH_MAX];
    const json_t *m;

    if (engine_name_check(name, e) != 0 || catalog_snapshot_get(s->cat, name, 0, &row, e) != 0)
        return -1;
    catalog_snapshot_clear(&row);
    if (store_archive_path(s, name, path, sizeof(path), e) != 0 || archive_open(&sc->a, path, e) != 0)
        return -1;
    m = archive_head(sc->a);
    side->label = json_string_value(json_object_get(m, "name"));
    side->meta = json_pack("{s:O,s:O,s:O,s:O,s:O}", "name", json_object_get(m, "name"),
                           "created_at", json_object_get(m, "created_at"),
                           "version", json_object_get(m, "version"),
                           "git_commit", json_object_get(m, "git_commit"),
                           "positions_count", json_object_get(m, "positions_count"));
    if ((side->files = json_array()) == NULL)
        return err_set(e, ERR_IO, "out of memory");
    for (size_t i = 0; i < archive_n_files(sc->a); i++) {
        const struct manifest_file *f = archive_file(sc->a, i);
        if (json_array_append_new(side->files, json_pack("{s:s,s:I,s:s,s:s}", "path", f->path,
                                                         "size", (json_int_t)f->size, "sha256",
                                                         f->sha256, "group", f->group)) != 0)
            return err_set(e, ERR_IO, "out of memory");
    }
    side->env_keys = json_incref(json_object_get(m, "env_keys"));
    side->open = archive_open_cb;
    side->ctx = sc;
    return side->meta ? 0 : err_set(e, ERR_IO, "out of memory");
}

static int live_side(struct store *s, struct side_ctx *sc, struct diff_side *side, struct err *e)
{
    struct capture_set cap;
    char version[129], git[65], created[32];
    int rc = -1;

    memset(&cap, 0, sizeof(cap));
    if (capture_scan(s->cfg, &cap, e) != 0)
        goto out;
    sc->root = s->cfg->root;
    side->files = json_array();
    for (size_t i = 0; i < cap.n; i++) {
        char sha[65];
        int64_t size;
        if (archive_file_sha256(cap.files[i].abs, sha, &size, e) != 0)
            goto out;
        json_array_append_new(side->files, json_pack("{s:s,s:I,s:s,s:s}", "path", cap.files[i].rel,
                                                     "size", (json_int_t)size, "sha256", sha,
                                                     "group", cap.files[i].group));
    }
    if (cap.env_path != NULL) {
        if (store_secret(s, e) != 0 ||
            envmask_file(cap.env_path, s->secret, &sc->env_masked, &sc->env_len, &side->env_keys, e))
            goto out;
        char sha[65];
        EVP_MD_CTX *md = EVP_MD_CTX_new();
        unsigned char d[32];
        if (md == NULL || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
            EVP_MD_CTX_free(md);
            err_set(e, ERR_IO, "out of memory");
            goto out;
        }
        EVP_DigestUpdate(md, sc->env_masked, sc->env_len);
        EVP_DigestFinal_ex(md, d, NULL);
        EVP_MD_CTX_free(md);
        fs_hex(d, sizeof(d), sha);
        json_array_append_new(side->files, json_pack("{s:s,s:I,s:s,s:s}", "path", MANIFEST_ENV_ENTRY,
                                                     "size", (json_int_t)sc->env_len, "sha256", sha,
                                                     "group", "secrets"));
    } else {
        side->env_keys = json_object();
    }
    meta_version(s->cfg->root, NULL, version, sizeof(version));
    meta_git_commit(s->cfg->root, git, sizeof(git));
    engine_time_format(engine_now(), created, sizeof(created));
    side->label = LIVE;
    side->meta = json_pack("{s:s,s:s,s:s,s:o}", "name", LIVE, "created_at", created,
                           "version", version, "git_commit", git[0] ? json_string(git) : json_null());
    side->open = live_open_cb;
    side->ctx = sc;
    rc = side->meta ? 0 : err_set(e, ERR_IO, "out of memory");
out:
    capture_set_free(&cap);
    return rc;
}

static void side_free(struct diff_side *side, struct side_ctx *sc)
{
    json_decref(side->meta);
    json_decref(side->files);
    json_decref(side->env_keys);
    archive_close(sc->a);
    if (sc->env_masked != NULL)
        OPENSSL_cleanse(sc->env_masked, sc->env_len);
    free(sc->env_masked);
}

static int cmp_path(const void *x, const void *y)
{
    const json_t *a = *(json_t *const *)x, *b = *(json_t *const *)y;

    return strcmp(json_string_value(json_object_get(a, "path")),
                  json_string_value(json_object_get(b, "path")));
}

/* diff.h wants files sorted by path; a manifest's order is the writer's. */
static int sort_files(json_t *files, struct err *e)
{
    size_t n = json_array_size(files);
    json_t **v = calloc(n + 1, sizeof(*v));

    if (v == NULL)
        return err_set(e, ERR_IO, "out of memory");
    for (size_t i = 0; i < n; i++)
        v[i] = json_incref(json_array_get(files, i));
    qsort(v, n, sizeof(*v), cmp_path);
    json_array_clear(files);
    for (size_t i = 0; i < n; i++)
        json_array_append_new(files, v[i]);
    free(v);
    return 0;
}

static int diff_run(struct store *s, const char *from, const char *to, json_t **diff,
                    struct err *e)
{
    struct side_ctx ca, cb;
    struct diff_side a, b;
    int rc = -1;

    *diff = NULL;
    memset(&ca, 0, sizeof(ca));
    memset(&cb, 0, sizeof(cb));
    memset(&a, 0, sizeof(a));
    memset(&b, 0, sizeof(b));
    if (from == NULL || to == NULL)
        return err_set(e, ERR_INVALID, "diff needs --from and --to");
    if (strcmp(from, LIVE) == 0 ? live_side(s, &ca, &a, e) : archive_side(s, from, &ca, &a, e))
        goto out;
    if (strcmp(to, LIVE) == 0 ? live_side(s, &cb, &b, e) : archive_side(s, to, &cb, &b, e))
        goto out;
    /* The manifest's file array is borrowed from the archive: sort a copy. */
    json_t *fa = json_deep_copy(a.files), *fb = json_deep_copy(b.files);
    json_decref(a.files);
    json_decref(b.files);
    a.files = fa;
    b.files = fb;
    if (fa == NULL || fb == NULL || sort_files(fa, e) != 0 || sort_files(fb, e) != 0)
        goto out;
    rc = diff_sides(&a, &b, diff, e);
out:
    side_free(&a, &ca);
    side_free(&b, &cb);
    return rc;
}

int engine_diff(struct store *s, const char *from, const char *to, json_t **diff, struct err *e)
{
    struct op op;
    int rc;

    (void)op_begin(s, OP_READ, &op, e);   /* reads two sides as they are: no lock, as ever */
    rc = diff_run(s, from, to, diff, e);
    op_end(&op);
    return rc;
}
