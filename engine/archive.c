/* archive.c - reading snapshot archives: structure checks and hashed streaming. */
#include "archive.h"

#include <errno.h>
#include <stdatomic.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zip.h>
#include <openssl/evp.h>

#include "engine.h"
#include "../common/fsutil.h"
#include "manifest.h"

#define ARCHIVE_BUF (256u * 1024)
#define ARCHIVE_MAX_SUMS (64u << 20)
#define ARCHIVE_MAX_SIG 256          /* manifest.json.sig: 64 bytes when well formed */

/* Process-wide: set from the config at store_open, read by every open. */
static _Atomic uint64_t limit_unpacked = ENGINE_DEFAULT_MAX_UNPACKED;
static _Atomic unsigned limit_ratio = ENGINE_DEFAULT_MAX_RATIO;

void archive_set_limits(uint64_t max_unpacked, unsigned max_ratio)
{
    atomic_store(&limit_unpacked, max_unpacked ? max_unpacked : ENGINE_DEFAULT_MAX_UNPACKED);
    atomic_store(&limit_ratio, max_ratio ? max_ratio : ENGINE_DEFAULT_MAX_RATIO);
}

int archive_ratio_exceeded(uint64_t size, uint64_t comp)
{
    unsigned ratio = atomic_load(&limit_ratio);

    return size >= ENGINE_RATIO_MIN_BYTES && size / ratio > comp;
}

struct archive {
    zip_t *za;
    struct manifest_doc doc;    /* the validated manifest: head and file records */
    unsigned char *buf;         /* archive_stream's buffer and hash, reused entry to entry */
    EVP_MD_CTX *md;
    char *manifest_raw; /* manifest.json's exact bytes (what a signature covers) */
    size_t manifest_len;
    char *sig;          /* manifest.json.sig's bytes, or NULL when unsigned */
    size_t sig_len;
};

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int read_entry_raw(zip_t *za, const char *name, size_t max, char **buf, size_t *len,
                          struct err *e)
{
    zip_stat_t st;
    zip_file_t *zf;
    char *b;
    zip_int64_t r;

    *buf = NULL;
    if (zip_stat(za, name, 0, &st) != 0 || !(st.valid & ZIP_STAT_SIZE))
        return err_set(e, ERR_VERIFY, "archive has no %s", name);
    if (st.size > max)
        return err_set(e, ERR_VERIFY, "%s is larger than %zu bytes", name, max);
    if ((b = malloc(st.size + 1)) == NULL)
        return err_set(e, ERR_IO, "out of memory");
    if ((zf = zip_fopen(za, name, 0)) == NULL) {
        free(b);
        return err_set(e, ERR_VERIFY, "cannot open %s in the archive: %s", name, zip_strerror(za));
    }
    size_t got = 0;
    while (got < st.size && (r = zip_fread(zf, b + got, st.size - got)) > 0)
        got += (size_t)r;
    /* One more read must hit the end: it is where libzip checks the CRC. */
    char extra;
    r = zip_fread(zf, &extra, 1);
    if (r != 0 || got != st.size) {
        err_set(e, ERR_VERIFY, "%s in the archive is damaged: %s", name,
                r < 0 ? zip_file_strerror(zf) : "wrong size");
        zip_fclose(zf);
        free(b);
        return -1;
    }
    zip_fclose(zf);
    b[got] = '\0';
    *buf = b;
    *len = got;
    return 0;
}

static int check_structure(struct archive *a, struct err *e)
{
    zip_int64_t n = zip_get_num_entries(a->za, 0);
    const char **names = NULL;
    uint64_t total = 0, max_total = atomic_load(&limit_unpacked);
    unsigned ratio = atomic_load(&limit_ratio);
    int rc = -1;

    if (n < 0 || n > ENGINE_MAX_FILES_HARD + ENGINE_RESERVED_ENTRIES)
        return err_set(e, ERR_VERIFY, "archive has too many entries (limit %d)",
                       ENGINE_MAX_FILES_HARD + ENGINE_RESERVED_ENTRIES);
    if ((names = calloc((size_t)n + 1, sizeof(*names))) == NULL)
        return err_set(e, ERR_IO, "out of memory");
    for (zip_int64_t i = 0; i < n; i++) {
        zip_stat_t st;
        zip_uint8_t opsys;
        zip_uint32_t attr;
        if (zip_stat_index(a->za, (zip_uint64_t)i, 0, &st) != 0 || st.name == NULL) {
            err_set(e, ERR_VERIFY, "archive entry %lld is unreadable", (long long)i);
            goto out;
        }
        if (!manifest_path_safe(st.name)) {
            err_set(e, ERR_VERIFY, "archive entry \"%.200s\" has an unsafe path", st.name);
            goto out;
        }
        if (zip_file_get_external_attributes(a->za, (zip_uint64_t)i, 0, &opsys, &attr) == 0 &&
            opsys == ZIP_OPSYS_UNIX && (attr >> 16) != 0 && !S_ISREG((attr >> 16) & S_IFMT)) {
            err_set(e, ERR_VERIFY, "archive entry \"%.200s\" is not a regular file", st.name);
            goto out;
        }
        if ((st.valid & ZIP_STAT_ENCRYPTION_METHOD) && st.encryption_method != ZIP_EM_NONE) {
            err_set(e, ERR_VERIFY, "archive entry \"%.200s\" is encrypted", st.name);
            goto out;
        }
        if ((st.valid & ZIP_STAT_COMP_METHOD) && st.comp_method != ZIP_CM_STORE &&
            st.comp_method != ZIP_CM_DEFLATE) {
            err_set(e, ERR_VERIFY, "archive entry \"%.200s\" uses an unsupported compression",
                    st.name);
            goto out;
        }
        /* The zip-bomb limits, from the central directory's sizes before a
         * byte is inflated; archive_stream then never inflates past them. */
        if (st.size > ENGINE_MAX_ENTRY_BYTES || st.size > max_total ||
            (total += st.size) > max_total) {
            err_set(e, ERR_VERIFY, "archive is too large when unpacked (limit %llu bytes, "
                    "max_unpacked_bytes)", (unsigned long long)max_total);
            goto out;
        }
        if (st.size >= ENGINE_RATIO_MIN_BYTES && (st.valid & ZIP_STAT_COMP_SIZE) &&
            st.size / ratio > st.comp_size) {
            err_set(e, ERR_VERIFY, "archive entry \"%.200s\" unpacks too large for its compressed "
                    "size: %llu bytes from %llu (ratio over the limit %u:1, "
                    "max_compression_ratio)", st.name, (unsigned long long)st.size,
                    (unsigned long long)st.comp_size, ratio);
            goto out;
        }
        names[i] = st.name;
    }
    qsort(names, (size_t)n, sizeof(*names), cmp_str);
    for (zip_int64_t i = 1; i < n; i++) {
        if (strcmp(names[i - 1], names[i]) == 0) {
            err_set(e, ERR_VERIFY, "archive entry \"%.200s\" appears twice", names[i]);
            goto out;
        }
    }
    rc = 0;
out:
    free(names);
    return rc;
}

/* SHA256SUMS read in pieces and compared with the manifest as it comes
 * (never a whole copy of it). 0, or -1 with ERR_VERIFY. */
static int sums_check(zip_t *za, const struct manifest_doc *d, struct err *e)
{
    struct manifest_sums ms;
    zip_stat_t st;
    zip_file_t *zf;
    char buf[1 << 16];
    zip_int64_t r;
    zip_uint64_t got = 0;

    if (zip_stat(za, MANIFEST_SUMS, 0, &st) != 0 || !(st.valid & ZIP_STAT_SIZE))
        return err_set(e, ERR_VERIFY, "archive has no %s", MANIFEST_SUMS);
    if (st.size > ARCHIVE_MAX_SUMS)
        return err_set(e, ERR_VERIFY, "%s is larger than %u bytes", MANIFEST_SUMS, ARCHIVE_MAX_SUMS);
    if ((zf = zip_fopen(za, MANIFEST_SUMS, 0)) == NULL)
        return err_set(e, ERR_VERIFY, "cannot open %s in the archive: %s", MANIFEST_SUMS,
                       zip_strerror(za));
    manifest_sums_begin(&ms, d);
    /* Read to the end (where libzip checks the CRC), never past the size. */
    while ((r = zip_fread(zf, buf, sizeof(buf))) > 0 && (got += (zip_uint64_t)r) <= st.size)
        manifest_sums_feed(&ms, buf, (size_t)r);
    if (r != 0 || got != st.size) {
        err_set(e, ERR_VERIFY, "%s in the archive is damaged: %s", MANIFEST_SUMS,
                r < 0 ? zip_file_strerror(zf) : "wrong size");
        zip_fclose(zf);
        return -1;
    }
    zip_fclose(zf);
    if (!manifest_sums_end(&ms))
        return err_set(e, ERR_VERIFY, "SHA256SUMS does not agree with manifest.json");
    return 0;
}

static int check_manifest(struct archive *a, struct err *e)
{
    char *buf = NULL;
    size_t len;

    if (read_entry_raw(a->za, MANIFEST_NAME, ENGINE_MAX_MANIFEST_BYTES, &buf, &len, e) != 0)
        return -1;
    a->manifest_raw = buf;
    a->manifest_len = len;
    /* A signed archive has one more member; its bytes are checked by the
     * caller against the trusted keys (engine/signing.c). */
    if (zip_name_locate(a->za, MANIFEST_SIG, 0) >= 0 &&
        read_entry_raw(a->za, MANIFEST_SIG, ARCHIVE_MAX_SIG, &a->sig, &a->sig_len, e) != 0)
        return -1;
    if (manifest_read(buf, len, &a->doc, e) != 0 || sums_check(a->za, &a->doc, e) != 0)
        return -1;
    if ((size_t)zip_get_num_entries(a->za, 0) != a->doc.n + 2 + (a->sig != NULL))
        return err_set(e, ERR_VERIFY, "archive entries do not match the manifest's file list");
    for (size_t i = 0; i < a->doc.n; i++) {
        const struct manifest_file *f = &a->doc.files[i];
        zip_stat_t st;
        if (zip_stat(a->za, f->path, 0, &st) != 0)
            return err_set(e, ERR_VERIFY, "%.200s: listed in the manifest but missing from the "
                           "archive", f->path);
        if (st.size != f->size)
            return err_set(e, ERR_VERIFY, "%.200s: size in the archive differs from the manifest",
                           f->path);
    }
    return 0;
}

int archive_open(struct archive **out, const char *path, struct err *e)
{
    struct archive *a;
    int zerr = 0;

    *out = NULL;
    if (fs_exists(path) != 1)
        return err_set(e, ERR_NOT_FOUND, "archive %s is missing", path);
    if ((a = calloc(1, sizeof(*a))) == NULL)
        return err_set(e, ERR_IO, "out of memory");
    a->za = zip_open(path, ZIP_RDONLY | ZIP_CHECKCONS, &zerr);
    if (a->za == NULL) {
        zip_error_t ze;
        zip_error_init_with_code(&ze, zerr);
        /* libzip says "File already exists" for two entries of one name,
         * which reads as if the store had it; say what is wrong instead. */
        err_set(e, zerr == ZIP_ER_OPEN || zerr == ZIP_ER_READ ? ERR_IO : ERR_VERIFY,
                "%s is not a readable zip archive: %s", path,
                zerr == ZIP_ER_EXISTS ? "duplicate entry (two files of one name)" : zip_error_strerror(&ze));
        zip_error_fini(&ze);
        free(a);
        return -1;
    }
    if (check_structure(a, e) != 0 || check_manifest(a, e) != 0) {
        archive_close(a);
        return -1;
    }
    *out = a;
    return 0;
}

void archive_close(struct archive *a)
{
    if (a == NULL)
        return;
    if (a->za != NULL)
        zip_discard(a->za);
    manifest_doc_free(&a->doc);
    free(a->buf);
    EVP_MD_CTX_free(a->md);
    free(a->manifest_raw);
    free(a->sig);
    free(a);
}

int archive_signature(const struct archive *a, const char **manifest, size_t *manifest_len,
                      const unsigned char **sig, size_t *sig_len)
{
    *manifest = a->manifest_raw;
    *manifest_len = a->manifest_len;
    *sig = (const unsigned char *)a->sig;
    *sig_len = a->sig != NULL ? a->sig_len : 0;
    return a->sig != NULL;
}

const json_t *archive_head(const struct archive *a)
{
    return a->doc.head;
}

size_t archive_n_files(const struct archive *a)
{
    return a->doc.n;
}

const struct manifest_file *archive_file(const struct archive *a, size_t i)
{
    return i < a->doc.n ? &a->doc.files[i] : NULL;
}

const struct manifest_file *archive_file_entry(const struct archive *a, const char *path)
{
    return manifest_doc_find(&a->doc, path);
}

void archive_forget_manifest_text(struct archive *a)
{
    free(a->manifest_raw);
    a->manifest_raw = NULL;
    a->manifest_len = 0;
}

json_t *archive_manifest_tree(const struct archive *a)
{
    if (a->manifest_raw == NULL)
        return NULL;
    return json_loadb(a->manifest_raw, a->manifest_len, JSON_REJECT_DUPLICATES, NULL);
}

int archive_stream(struct archive *a, const char *path, archive_sink sink, void *ctx,
                   struct err *e)
{
    struct manifest_file *f = manifest_doc_find(&a->doc, path);
    zip_file_t *zf = NULL;
    EVP_MD_CTX *md;
    unsigned char *buf, digest[32];
    char hex[65];
    uint64_t want, got = 0;
    zip_int64_t r;
    int rc = -1;

    if (f == NULL)
        return err_set(e, ERR_NOT_FOUND, "%.200s is not in the snapshot", path);
    want = f->size;
    /* One buffer and one hash context for every entry of the archive: no
     * heap churn per file when a whole archive is checked. */
    if ((a->buf == NULL && (a->buf = malloc(ARCHIVE_BUF)) == NULL) ||
        (a->md == NULL && (a->md = EVP_MD_CTX_new()) == NULL) ||
        EVP_DigestInit_ex(a->md, EVP_sha256(), NULL) != 1)
        return err_set(e, ERR_IO, "out of memory");
    buf = a->buf;
    md = a->md;
    if ((zf = zip_fopen(a->za, path, 0)) == NULL) {
        err_set(e, ERR_VERIFY, "%.200s: cannot open in the archive: %s", path, zip_strerror(a->za));
        goto out;
    }
    while ((r = zip_fread(zf, buf, ARCHIVE_BUF)) > 0) {
        got += (uint64_t)r;
        /* Never trust the header's size: stop as soon as the data runs past
         * what the manifest promised (a zip bomb ends here). */
        if (got > want) {
            err_set(e, ERR_VERIFY, "%.200s: more data than the manifest says", path);
            goto out;
        }
        if (got > atomic_load(&limit_unpacked)) {
            err_set(e, ERR_VERIFY, "%.200s: unpacks past the limit of %llu bytes "
                    "(max_unpacked_bytes)", path, (unsigned long long)atomic_load(&limit_unpacked));
            goto out;
        }
        EVP_DigestUpdate(md, buf, (size_t)r);
        if (sink != NULL && sink(ctx, buf, (size_t)r, e) != 0)
            goto out;
    }
    if (r < 0) {
        err_set(e, ERR_VERIFY, "%.200s: damaged data in the archive (%s)", path,
                zip_file_strerror(zf));
        goto out;
    }
    if (got != want) {
        err_set(e, ERR_VERIFY, "%.200s: size differs from the manifest", path);
        goto out;
    }
    EVP_DigestFinal_ex(md, digest, NULL);
    fs_hex(digest, sizeof(digest), hex);
    if (strcmp(hex, f->sha256) != 0) {
        err_set(e, ERR_VERIFY, "%.200s: SHA-256 mismatch", path);
        goto out;
    }
    /* Remembered so a check of the whole archive does not read it again. */
    f->verified = 1;
    rc = 0;
out:
    if (zf != NULL)
        zip_fclose(zf);
    return rc;
}

struct membuf {
    char *p;
    size_t n, cap, max;
};

static int mem_sink(void *ctx, const void *buf, size_t n, struct err *e)
{
    struct membuf *m = ctx;

    if (m->n + n > m->max)
        return err_set(e, ERR_TOO_LARGE, "entry larger than %zu bytes", m->max);
    if (m->n + n + 1 > m->cap) {
        size_t ncap = (m->n + n + 1) * 2;
        char *np = realloc(m->p, ncap);
        if (np == NULL)
            return err_set(e, ERR_IO, "out of memory");
        m->p = np;
        m->cap = ncap;
    }
    memcpy(m->p + m->n, buf, n);
    m->n += n;
    return 0;
}

int archive_read(struct archive *a, const char *path, size_t max, char **buf, size_t *len,
                 struct err *e)
{
    struct membuf m = { .max = max };

    *buf = NULL;
    *len = 0;
    if (archive_stream(a, path, mem_sink, &m, e) != 0) {
        free(m.p);
        return -1;
    }
    if (m.p == NULL && (m.p = malloc(1)) == NULL)
        return err_set(e, ERR_IO, "out of memory");
    m.p[m.n] = '\0';
    *buf = m.p;
    *len = m.n;
    return 0;
}

int archive_check_all(struct archive *a, json_t *errors, struct err *e)
{
    int bad = 0;

    for (size_t i = 0; i < a->doc.n; i++) {
        const char *p = a->doc.files[i].path;
        struct err fe = { 0 };
        if (a->doc.files[i].verified || archive_stream(a, p, NULL, NULL, &fe) == 0)
            continue;
        if (fe.code != ERR_VERIFY) {
            *e = fe;
            return -1;
        }
        bad++;
        /* The message already starts with the path; keep the problem alone. */
        const char *problem = fe.msg;
        size_t pl = strlen(p);
        if (strncmp(problem, p, pl) == 0 && problem[pl] == ':')
            problem += pl + 2;
        json_array_append_new(errors, json_pack("{s:s,s:s}", "path", p, "problem", problem));
    }
    return bad;
}

int archive_file_sha256(const char *path, char hex[65], int64_t *size, struct err *e)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    unsigned char *buf = NULL, digest[32];
    EVP_MD_CTX *md = NULL;
    ssize_t r;
    int64_t total = 0;
    int rc = -1;

    if (fd < 0)
        return err_sys(e, errno, "open %s", path);
    if ((buf = malloc(ARCHIVE_BUF)) == NULL || (md = EVP_MD_CTX_new()) == NULL ||
        EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
        err_set(e, ERR_IO, "out of memory");
        goto out;
    }
    while ((r = fs_read_some(fd, buf, ARCHIVE_BUF)) > 0) {
        EVP_DigestUpdate(md, buf, (size_t)r);
        total += r;
    }
    if (r < 0) {
        err_sys(e, errno, "read %s", path);
        goto out;
    }
    EVP_DigestFinal_ex(md, digest, NULL);
    fs_hex(digest, sizeof(digest), hex);
    if (size != NULL)
        *size = total;
    rc = 0;
out:
    close(fd);
    free(buf);
    EVP_MD_CTX_free(md);
    return rc;
}

struct archive_reader {
    zip_file_t *zf;
    char path[256];
};

struct archive_reader *archive_reader_open(struct archive *a, const char *path, struct err *e)
{
    struct archive_reader *r;

    if (archive_file_entry(a, path) == NULL) {
        err_set(e, ERR_NOT_FOUND, "%.200s is not in the snapshot", path);
        return NULL;
    }
    if ((r = calloc(1, sizeof(*r))) == NULL) {
        err_set(e, ERR_IO, "out of memory");
        return NULL;
    }
    snprintf(r->path, sizeof(r->path), "%s", path);
    if ((r->zf = zip_fopen(a->za, path, 0)) == NULL) {
        err_set(e, ERR_VERIFY, "%.200s: cannot open in the archive: %s", path, zip_strerror(a->za));
        free(r);
        return NULL;
    }
    return r;
}

ssize_t archive_reader_read(struct archive_reader *r, void *buf, size_t n, struct err *e)
{
    zip_int64_t got = zip_fread(r->zf, buf, n);

    if (got < 0)
        return err_set(e, ERR_VERIFY, "%s: damaged data in the archive (%s)", r->path,
                       zip_file_strerror(r->zf));
    return (ssize_t)got;
}

void archive_reader_close(struct archive_reader *r)
{
    if (r == NULL)
        return;
    zip_fclose(r->zf);
    free(r);
}

int archive_entry_stat(struct archive *a, const char *path, uint64_t *size, uint32_t *crc,
                       struct err *e)
{
    zip_stat_t st;

    if (zip_stat(a->za, path, 0, &st) != 0)
        return err_set(e, ERR_VERIFY, "%.200s is not in the archive", path);
    if (!(st.valid & ZIP_STAT_SIZE) || !(st.valid & ZIP_STAT_CRC))
        return err_set(e, ERR_VERIFY, "%.200s: no size or CRC in the central directory", path);
    *size = st.size;
    *crc = st.crc;
    return 0;
}
