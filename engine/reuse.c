/* reuse.c - the previous snapshot's archive as a source of compressed bytes
 * (reuse.h). The decision what "verified" means is docs/DESIGN.md, "Reuse". */
#include "reuse.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "archive.h"
#include "../common/fsutil.h"
#include "manifest.h"
#include "pdeflate.h"
#include "zipin.h"

#define REUSE_BUF (1u << 20)
#define REUSE_MANIFEST_MAX (256u << 20)

/* One file of the previous manifest and where its archive holds it: 80
 * bytes, by path. The manifest's own records (manifest_read) are freed
 * once these are made: a repeat create holds these beside its cut. */
struct reuse_rec {
    const char *path;          /* in the manifest's arena */
    uint64_t size;             /* the manifest's */
    uint64_t local_off, comp_size;
    unsigned char sha[32];     /* the manifest's SHA-256 */
    json_t *note;              /* its "reuse" note carrying a deflate_prefix (held), or NULL */
    uint32_t crc;
    unsigned char found;       /* 1: one deflated, unencrypted entry; 2: more than one (none used) */
};

struct reuse {
    int fd;                    /* the archive hashed: the bytes hashed are the bytes copied */
    struct manifest_doc doc;   /* the previous manifest's head and arena (its records freed) */
    struct reuse_rec *recs;    /* its files, sorted by path */
    size_t n;
    struct zipin_entry mf;     /* manifest.json's entry (name: MANIFEST_NAME) */
    int have_mf;
    struct store *s;           /* its secret keys the deflate_prefix macs */
    char name[ENGINE_NAME_MAX + 1];
};

/* SHA-256 of everything on fd from offset 0, as hex. 0 or -1. */
static int fd_sha256(int fd, char hex[65])
{
    unsigned char *buf = malloc(REUSE_BUF), d[32];
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    ssize_t r = -1;

    if (buf != NULL && md != NULL && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1) {
        while ((r = fs_read_some(fd, buf, REUSE_BUF)) > 0)
            EVP_DigestUpdate(md, buf, (size_t)r);
        if (r == 0) {
            EVP_DigestFinal_ex(md, d, NULL);
            fs_hex(d, sizeof(d), hex);
        }
    }
    EVP_MD_CTX_free(md);
    free(buf);
    return r == 0 ? 0 : -1;
}

static int find_manifest(void *ctx, const struct zipin_entry *en)
{
    struct reuse *r = ctx;

    if (strcmp(en->name, MANIFEST_NAME) == 0) {
        r->mf = *en;
        r->mf.name = MANIFEST_NAME;
        r->have_mf++;
    }
    return 0;
}

static int cmp_rec(const void *a, const void *b)
{
    return strcmp(((const struct reuse_rec *)a)->path, ((const struct reuse_rec *)b)->path);
}

static struct reuse_rec *find_rec(const struct reuse *r, const char *path)
{
    struct reuse_rec key = { .path = path };

    return r->n > 0 ? bsearch(&key, r->recs, r->n, sizeof(key), cmp_rec) : NULL;
}

static int locate_file(void *ctx, const struct zipin_entry *en)
{
    struct reuse *r = ctx;
    struct reuse_rec *l = find_rec(r, en->name);

    if (l == NULL)
        return 0;
    if (l->found) {
        l->found = 2;
        return 0;
    }
    /* The directory's size must be the manifest's. */
    l->found = en->method == 8 && (en->flags & 1) == 0 && en->size == l->size ? 1 : 2;
    l->local_off = en->local_off;
    l->comp_size = en->comp_size;
    l->crc = en->crc;
    return 0;
}

/* r->doc's records as r->recs, and the records freed (the arena, which
 * holds the paths, and the head stay). 0 or -1. */
static int make_recs(struct reuse *r)
{
    struct manifest_doc *d = &r->doc;

    if ((r->recs = calloc(d->n + 1, sizeof(*r->recs))) == NULL)
        return -1;
    for (size_t i = 0; i < d->n; i++) {
        struct manifest_file *f = d->sorted[i];
        struct reuse_rec *l = &r->recs[i];
        l->path = f->path;
        l->size = f->size;
        if (fs_unhex(f->sha256, l->sha, sizeof(l->sha)) != 0)
            return -1;
        l->note = f->note;
        f->note = NULL;
    }
    r->n = d->n;
    free(d->files);
    free(d->sorted);
    d->files = NULL;
    d->sorted = NULL;
    d->n = 0;
    return 0;
}

/* The previous manifest read (inflated, its CRC and size checked) and
 * validated into r->doc, and each of its files' entries located. 0 or -1. */
static int read_manifest(struct reuse *r)
{
    struct err e = { 0 };
    unsigned char *comp = NULL;
    char *buf = NULL;
    uint64_t at;
    z_stream zs;
    int rc = -1, zok;

    if (zipin_each(r->fd, find_manifest, r, &e) != 0 || r->have_mf != 1 ||
        r->mf.size > REUSE_MANIFEST_MAX || r->mf.comp_size > REUSE_MANIFEST_MAX ||
        (r->mf.method != 0 && r->mf.method != 8) || (r->mf.flags & 1) != 0 ||
        zipin_data_at(r->fd, &r->mf, &at, &e) != 0 ||
        (comp = malloc(r->mf.comp_size + 1)) == NULL ||
        zipin_pread(r->fd, comp, (size_t)r->mf.comp_size, at, &e) != 0 ||
        (buf = malloc(r->mf.size + 1)) == NULL)
        goto out;
    if (r->mf.method == 0) {
        if (r->mf.comp_size != r->mf.size)
            goto out;
        memcpy(buf, comp, (size_t)r->mf.size);
    } else {
        memset(&zs, 0, sizeof(zs));
        if (inflateInit2(&zs, -MAX_WBITS) != Z_OK)
            goto out;
        zs.next_in = comp;
        zs.avail_in = (uInt)r->mf.comp_size;
        zs.next_out = (Bytef *)buf;
        zs.avail_out = (uInt)r->mf.size + 1;
        zok = inflate(&zs, Z_FINISH);
        inflateEnd(&zs);
        if (zok != Z_STREAM_END || zs.total_out != r->mf.size)
            goto out;
    }
    free(comp);                 /* not beside the text and its records */
    comp = NULL;
    if ((uint32_t)crc32(crc32(0L, Z_NULL, 0), (Bytef *)buf, (uInt)r->mf.size) != r->mf.crc ||
        manifest_read(buf, (size_t)r->mf.size, &r->doc, &e) != 0)
        goto out;
    free(buf);
    buf = NULL;
    if (make_recs(r) != 0 || zipin_each(r->fd, locate_file, r, &e) != 0)
        goto out;
    rc = 0;
out:
    free(comp);
    free(buf);
    return rc;
}

struct reuse *reuse_open(struct store *s, const char **reason)
{
    struct catalog_snapshot row;
    struct err e = { 0 };
    char path[PATH_MAX], sha[65];
    struct reuse *r = NULL;
    const char *why = NULL;
    int fd = -1;

    memset(&row, 0, sizeof(row));
    if (catalog_snapshot_latest(s->cat, &row, &e) != 0) {
        why = "no previous snapshot";
        goto out;
    }
    if (store_archive_path(s, row.name, path, sizeof(path), &e) != 0 ||
        (fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
        why = "the previous archive is missing";
        goto out;
    }
    /* The bytes are what was written and read back when the row was made. */
    if (fd_sha256(fd, sha) != 0 || strcmp(sha, row.archive_sha256) != 0) {
        why = "the previous archive's SHA-256 differs from the catalog's";
        goto out;
    }
    if ((r = calloc(1, sizeof(*r))) == NULL) {
        why = "out of memory";
        goto out;
    }
    snprintf(r->name, sizeof(r->name), "%s", row.name);
    r->s = s;
    r->fd = fd;   /* the very file hashed */
    fd = -1;
    if (read_manifest(r) != 0 ||
        strcmp(json_string_value(json_object_get(r->doc.head, "name")), row.name) != 0) {
        why = "the previous manifest does not check out";
        goto out;
    }
out:
    if (why != NULL) {
        if (fd >= 0)
            close(fd);
        reuse_close(r);
        r = NULL;
    }
    if (reason != NULL)
        *reason = why;
    catalog_snapshot_clear(&row);
    return r;
}

void reuse_close(struct reuse *r)
{
    if (r == NULL)
        return;
    if (r->fd >= 0)
        close(r->fd);
    manifest_doc_free(&r->doc);
    for (size_t i = 0; r->recs != NULL && i < r->n; i++)
        json_decref(r->recs[i].note);
    free(r->recs);
    free(r);
}

int reuse_data_at(struct reuse *r, const char *rel, const struct reuse_entry *re, uint64_t *at,
                  struct err *e)
{
    struct zipin_entry en;

    memset(&en, 0, sizeof(en));
    en.name = rel;
    en.name_len = strlen(rel);
    en.local_off = re->local_off;
    en.comp_size = re->comp_size;
    en.method = 8;              /* only deflated entries are reused (locate_file) */
    return zipin_data_at(r->fd, &en, at, e);
}

int reuse_read(struct reuse *r, void *buf, size_t n, uint64_t off, struct err *e)
{
    return zipin_pread(r->fd, buf, n, off, e);
}

const char *reuse_name(const struct reuse *r)
{
    return r->name;
}

/* HMAC-SHA256 under the store's secret of one deflate_prefix record, as
 * hex: only this store's own creates write records it accepts. A record
 * with the chain scan's state (chain, not NULL) is message version 2: the
 * same lines and that object's sorted compact JSON after them. */
static int prefix_mac(struct store *s, const char *snap, const char *path, uint64_t bytes,
                      uint64_t compressed, const char *sha256, uint32_t crc, const json_t *chain,
                      char out[65])
{
    char msg[1400], *cj = NULL, *all = NULL;
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    struct err e = { 0 };
    size_t len;
    int n, rc = -1;

    if (!s->have_secret && store_secret(s, &e) != 0)
        return -1;
    n = snprintf(msg, sizeof(msg), "statesnap deflate_prefix %d\n%s\n%s\n%llu\n%llu\n%s\n%lu",
                 chain != NULL ? 2 : 1, snap, path, (unsigned long long)bytes,
                 (unsigned long long)compressed, sha256, (unsigned long)crc);
    if (n < 0 || (size_t)n >= sizeof(msg))
        return -1;
    len = (size_t)n;
    if (chain != NULL) {
        size_t cl;
        if ((cj = json_dumps(chain, JSON_COMPACT | JSON_SORT_KEYS)) == NULL ||
            (all = malloc(len + 1 + (cl = strlen(cj)))) == NULL)
            goto out;
        memcpy(all, msg, len);
        all[len] = '\n';
        memcpy(all + len + 1, cj, cl);
        len += 1 + cl;
    }
    if (HMAC(EVP_sha256(), s->secret, sizeof(s->secret),
             (const unsigned char *)(all != NULL ? all : msg), len, mac, &maclen) == NULL ||
        maclen != 32)
        goto out;
    fs_hex(mac, 32, out);
    rc = 0;
out:
    free(cj);
    free(all);
    return rc;
}

static int uint_field(const json_t *o, const char *k, uint64_t *out)
{
    const json_t *v = json_object_get(o, k);

    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return -1;
    *out = (uint64_t)json_integer_value(v);
    return 0;
}

int reuse_find(struct reuse *r, const char *rel, struct reuse_entry *out)
{
    const struct reuse_rec *l;
    const json_t *p;

    memset(out, 0, sizeof(*out));
    if (r == NULL || (l = find_rec(r, rel)) == NULL)
        return 0;
    if (l->found != 1 || archive_ratio_exceeded(l->size, l->comp_size))
        return 0;
    out->local_off = l->local_off;
    out->size = l->size;
    out->comp_size = l->comp_size;
    out->crc = l->crc;
    fs_hex(l->sha, sizeof(l->sha), out->sha256);
    p = json_object_get(l->note, "deflate_prefix");
    if (json_is_object(p)) {
        uint64_t crc;
        const char *mac = json_string_value(json_object_get(p, "mac"));
        char want[65];
        out->prefix_sha256 = json_string_value(json_object_get(p, "sha256"));
        if (uint_field(p, "bytes", &out->prefix_bytes) == 0 &&
            uint_field(p, "compressed", &out->prefix_comp) == 0 &&
            uint_field(p, "crc32", &crc) == 0 && crc <= UINT32_MAX &&
            manifest_is_sha256(out->prefix_sha256) && out->prefix_bytes > 0 &&
            out->prefix_bytes < out->size && out->prefix_comp < out->comp_size && mac != NULL &&
            strlen(mac) == 64 &&
            prefix_mac(r->s, r->name, rel, out->prefix_bytes, out->prefix_comp,
                       out->prefix_sha256, (uint32_t)crc, json_object_get(p, "chain"),
                       want) == 0 &&
            CRYPTO_memcmp(want, mac, 64) == 0) {
            out->prefix_crc = (uint32_t)crc;
            out->has_prefix = 1;
            out->prefix_chain = json_object_get(p, "chain");
        }
    }
    return 1;
}

void reuse_dict_push(unsigned char *dict, size_t *len, const unsigned char *p, size_t n)
{
    if (n >= REUSE_DICT) {
        memcpy(dict, p + n - REUSE_DICT, REUSE_DICT);
        *len = REUSE_DICT;
        return;
    }
    if (*len + n > REUSE_DICT) {
        size_t drop = *len + n - REUSE_DICT;
        memmove(dict, dict + drop, *len - drop);
        *len -= drop;
    }
    memcpy(dict + *len, p, n);
    *len += n;
}

uint64_t reuse_last_block(uint64_t base_in, uint64_t limit)
{
    uint64_t n = limit - base_in, blocks = n == 0 ? 1 : (n + PDEFLATE_BLOCK - 1) / PDEFLATE_BLOCK;

    return base_in + (blocks - 1) * (uint64_t)PDEFLATE_BLOCK;
}

json_t *reuse_prefix_json(struct store *s, const char *snap, const char *path, uint64_t bytes,
                          uint64_t compressed, const char *sha256, uint32_t crc, json_t *chain)
{
    char mac[65];
    json_t *dp = NULL;

    if (prefix_mac(s, snap, path, bytes, compressed, sha256, crc, chain, mac) == 0)
        dp = json_pack("{s:I,s:I,s:s,s:I,s:s}", "bytes", (json_int_t)bytes, "compressed",
                       (json_int_t)compressed, "sha256", sha256, "crc32", (json_int_t)crc,
                       "mac", mac);
    if (dp != NULL && chain != NULL && json_object_set(dp, "chain", chain) != 0) {
        json_decref(dp);
        dp = NULL;
    }
    json_decref(chain);
    return dp;
}

int reuse_sha_so_far(EVP_MD_CTX *md, char out[65])
{
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    unsigned char d[32];
    int rc = -1;

    if (c != NULL && EVP_MD_CTX_copy_ex(c, md) == 1 && EVP_DigestFinal_ex(c, d, NULL) == 1) {
        fs_hex(d, sizeof(d), out);
        rc = 0;
    }
    EVP_MD_CTX_free(c);
    return rc;
}
