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
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "archive.h"
#include "../common/fsutil.h"
#include "manifest.h"
#include "pdeflate.h"

#define REUSE_BUF (1u << 20)
#define REUSE_MANIFEST_MAX (256u << 20)

struct reuse {
    zip_t *za;
    struct manifest_doc doc;   /* the previous manifest: its files as records (manifest_read) */
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

/* The previous manifest read and validated into r->doc. 0 or -1. */
static int read_manifest(struct reuse *r)
{
    zip_stat_t st;
    zip_file_t *zf;
    char *buf;
    zip_int64_t got = 0, rd = 0;
    struct err e = { 0 };
    int rc = -1;

    if (zip_stat(r->za, MANIFEST_NAME, 0, &st) != 0 || !(st.valid & ZIP_STAT_SIZE) ||
        st.size > REUSE_MANIFEST_MAX || (buf = malloc(st.size + 1)) == NULL)
        return -1;
    if ((zf = zip_fopen(r->za, MANIFEST_NAME, 0)) != NULL) {
        while ((zip_uint64_t)got < st.size && (rd = zip_fread(zf, buf + got, st.size - got)) > 0)
            got += rd;
        zip_fclose(zf);
        if ((zip_uint64_t)got == st.size)
            rc = manifest_read(buf, (size_t)got, &r->doc, &e);
    }
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
    int fd = -1, zerr = 0;

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
    if ((r = calloc(1, sizeof(*r))) == NULL || lseek(fd, 0, SEEK_SET) != 0) {
        why = "out of memory";
        goto out;
    }
    snprintf(r->name, sizeof(r->name), "%s", row.name);
    r->s = s;
    /* The very file hashed: libzip owns fd from here. */
    if ((r->za = zip_fdopen(fd, 0, &zerr)) == NULL) {
        why = "the previous archive does not open";
        goto out;
    }
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
    if (r->za != NULL)
        zip_discard(r->za);
    manifest_doc_free(&r->doc);
    free(r);
}

zip_t *reuse_zip(struct reuse *r)
{
    return r->za;
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
    const struct manifest_file *f;
    const json_t *p;
    zip_int64_t idx;
    zip_stat_t st;

    memset(out, 0, sizeof(*out));
    if (r == NULL || (f = manifest_doc_find(&r->doc, rel)) == NULL ||
        (idx = zip_name_locate(r->za, rel, 0)) < 0 ||
        zip_stat_index(r->za, (zip_uint64_t)idx, 0, &st) != 0)
        return 0;
    if ((st.valid & (ZIP_STAT_SIZE | ZIP_STAT_COMP_SIZE | ZIP_STAT_COMP_METHOD | ZIP_STAT_CRC)) !=
            (ZIP_STAT_SIZE | ZIP_STAT_COMP_SIZE | ZIP_STAT_COMP_METHOD | ZIP_STAT_CRC) ||
        st.comp_method != ZIP_CM_DEFLATE || st.encryption_method != ZIP_EM_NONE ||
        f->size != st.size ||
        archive_ratio_exceeded(st.size, st.comp_size))
        return 0;
    out->idx = (zip_uint64_t)idx;
    out->size = st.size;
    out->comp_size = st.comp_size;
    out->crc = st.crc;
    out->sha256 = f->sha256;
    p = json_object_get(f->note, "deflate_prefix");
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
