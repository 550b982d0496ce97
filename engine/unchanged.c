/* unchanged.c - create --if-changed: the state root compared with the
 * newest snapshot (unchanged.h). */
#include "unchanged.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "capture.h"
#include "cut.h"
#include "envmask.h"
#include "../common/fsutil.h"
#include "manifest.h"
#include "snapshot.h"

#define UNCHANGED_ATTEMPTS 3          /* a root that will not hold still has changed */
#define UNCHANGED_WAIT_MS 500
#define UNCHANGED_BUF (256u * 1024)

static int cmp_file(const void *a, const void *b)
{
    return strcmp(((const struct catalog_file *)a)->path, ((const struct catalog_file *)b)->path);
}

static const struct catalog_file *find(const struct catalog_snapshot *row, const char *path)
{
    struct catalog_file key = { .path = (char *)path };

    return row->n_files == 0 ? NULL
                             : bsearch(&key, row->files, row->n_files, sizeof(key), cmp_file);
}

/* SHA-256 of the first limit bytes on fd (an append-only file the cut left
 * on its descriptor). 0, or -1 when it cannot be read whole. */
static int hash_fd(int fd, uint64_t limit, EVP_MD_CTX *md, unsigned char *buf, char hex[65])
{
    unsigned char d[32];
    uint64_t off = 0;

    if (EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1)
        return -1;
    while (off < limit) {
        size_t want = limit - off < UNCHANGED_BUF ? (size_t)(limit - off) : UNCHANGED_BUF;
        ssize_t r = pread(fd, buf, want, (off_t)off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        EVP_DigestUpdate(md, buf, (size_t)r);
        off += (uint64_t)r;
    }
    EVP_DigestFinal_ex(md, d, NULL);
    fs_hex(d, sizeof(d), hex);
    return 0;
}

/* The masked .env as a create would archive it, against the row's entry. */
static int env_same(struct store *s, const struct capture_set *cap,
                    const struct catalog_snapshot *row)
{
    const struct catalog_file *f = find(row, MANIFEST_ENV_ENTRY);
    char *masked = NULL, hex[65];
    size_t len = 0;
    json_t *keys = NULL;
    unsigned char d[32];
    struct err e = { 0 };
    int same = 0;

    if (cap->env_path == NULL || f == NULL)
        return cap->env_path == NULL && f == NULL;
    if (store_secret(s, &e) != 0 || envmask_file(cap->env_path, s->secret, &masked, &len, &keys,
                                                 &e) != 0)
        return 0;
    if (EVP_Digest(masked, len, d, NULL, EVP_sha256(), NULL) == 1) {
        fs_hex(d, sizeof(d), hex);
        same = (int64_t)len == f->size && strcmp(hex, f->sha256) == 0;
    }
    OPENSSL_cleanse(masked, len);
    free(masked);
    json_decref(keys);
    return same;
}

/* 1 when the cut of cap holds exactly row's files, byte for byte. */
static int files_same(struct store *s, const struct capture_set *cap,
                      const struct catalog_snapshot *row)
{
    struct engine_config cfg = *s->cfg;
    struct capture_policy pol = { 0 };
    struct cut cut = { 0 };
    struct err e = { 0 };
    EVP_MD_CTX *md = NULL;
    unsigned char *buf = NULL;
    int same = 0;

    /* A check that waits out a busy bot would cost what it saves: a root
     * that does not hold still for a few quick cuts has changed. */
    if (s->cfg->capture != NULL)
        pol = *s->cfg->capture;
    pol.max_attempts = UNCHANGED_ATTEMPTS;
    pol.max_wait_ms = UNCHANGED_WAIT_MS;
    pol.keep_inconsistent = 0;
    cfg.capture = &pol;
    if (cut_take(&cfg, s->work, cap, &cut, &e) != 0)
        goto out;
    for (size_t i = 0; i < cut.n; i++) {
        const struct cut_file *c = &cut.files[i];
        const struct catalog_file *f = find(row, c->cf->rel);
        char hex[65];
        if (!c->present || f == NULL || (uint64_t)f->size != c->limit)
            goto out;
        if (!c->hashed) {
            if ((md == NULL && (md = EVP_MD_CTX_new()) == NULL) ||
                (buf == NULL && (buf = malloc(UNCHANGED_BUF)) == NULL) ||
                hash_fd(c->fd, c->limit, md, buf, hex) != 0)
                goto out;
        }
        if (c->hashed)
            fs_hex(c->sha, sizeof(c->sha), hex);
        if (strcmp(hex, f->sha256) != 0)
            goto out;
    }
    same = 1;
out:
    cut_free(&cut);
    EVP_MD_CTX_free(md);
    free(buf);
    return same;
}

int unchanged_check(struct store *s, json_t **snap, struct err *e)
{
    struct catalog_snapshot latest = { 0 }, row = { 0 };
    struct capture_set cap = { 0 };
    struct err ce = { 0 };
    char path[PATH_MAX];
    size_t n_row;
    int rc = 0;

    *snap = NULL;
    if (catalog_snapshot_latest(s->cat, &latest, &ce) != 0 ||
        catalog_snapshot_get(s->cat, latest.name, 1, &row, &ce) != 0 ||
        store_archive_path(s, row.name, path, sizeof(path), &ce) != 0 || fs_exists(path) != 1)
        goto out;
    if (row.n_files > 1)
        qsort(row.files, row.n_files, sizeof(row.files[0]), cmp_file);
    if (capture_scan(s->cfg, &cap, &ce) != 0)
        goto out;
    /* The cheap answers first: the same paths (every captured file in the
     * row and as many of them) and, from the walk, the same sizes. */
    n_row = row.n_files - (find(&row, MANIFEST_ENV_ENTRY) != NULL);
    if (cap.n != n_row)
        goto out;
    for (size_t i = 0; i < cap.n; i++) {
        const struct catalog_file *f = find(&row, cap.files[i].rel);
        /* An append-only file is cut at its last complete line: its size
         * at the walk may be larger than what a snapshot of it holds (a
         * line being written), never smaller. */
        int append = cut_is_append(s->cfg, cap.files[i].rel);
        if (f == NULL || (append ? (int64_t)cap.files[i].size < f->size
                                 : (int64_t)cap.files[i].size != f->size))
            goto out;
    }
    if (!env_same(s, &cap, &row) || !files_same(s, &cap, &row))
        goto out;
    if ((*snap = snapshot_json(s, &row)) == NULL ||
        json_object_set_new(*snap, "skipped", json_true()) != 0) {
        json_decref(*snap);
        *snap = NULL;
        rc = err_set(e, ERR_IO, "out of memory");
        goto out;
    }
    rc = 1;
out:
    capture_set_free(&cap);
    catalog_snapshot_clear(&latest);
    catalog_snapshot_clear(&row);
    return rc;
}
