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
#include <openssl/evp.h>

#include "engine.h"
#include "../common/fsutil.h"
#include "manifest.h"
#include "zipin.h"

#define ARCHIVE_BUF (256u * 1024)
#define ARCHIVE_MAX_SUMS (64u << 20)
#define ARCHIVE_MAX_SIG 256          /* manifest.json.sig: 64 bytes when well formed */
#define ZIP_OPSYS_UNIX 3             /* "version made by"'s high byte */
#define ZIP_FLAG_ENCRYPTED 0x0001    /* general purpose flags: traditional or AES encryption */
#define ZIP_FLAG_STRONG 0x0040       /* strong encryption */

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

/* Where a manifest file's entry lies, from the central directory. */
struct archive_loc {
    uint64_t local_off, comp_size;
    uint32_t crc;
    uint16_t method;
    unsigned char found;
};

/* One of the archive's own members (manifest.json, SHA256SUMS, the signature). */
struct member {
    struct zipin_entry en;      /* en.name: the member's constant name */
    unsigned count;
};

struct archive {
    int fd;
    struct manifest_doc doc;    /* the validated manifest: head and file records */
    struct archive_loc *loc;    /* doc.files[i]'s entry */
    struct member manifest, sums, sig_member;
    uint64_t n_entries;         /* in the central directory */
    unsigned char *buf;         /* archive_stream's buffer, hash and entry reader, */
    EVP_MD_CTX *md;             /* reused entry to entry */
    struct zipin_rd rd;
    char *manifest_raw; /* manifest.json's exact bytes (what a signature covers), read when asked */
    size_t manifest_len;
    char *sig;          /* manifest.json.sig's bytes, or NULL when unsigned */
    size_t sig_len;
};

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

static uint64_t name_hash(const char *s, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;

    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 0x100000001b3ull;
    return h;
}

/* The structure walk: every entry's rules, the sizes' sum, the members,
 * and each name's hash (8 bytes an entry, for the duplicate check). */
struct walk {
    struct archive *a;
    uint64_t n, total, *hash;
    size_t cap;
    struct err *e;
    struct err rule;            /* the first entry that breaks a rule (named after duplicates) */
};

static int walk_entry(void *ctx, const struct zipin_entry *en)
{
    struct walk *w = ctx;
    struct err *e = w->e;
    uint64_t max_total = atomic_load(&limit_unpacked);
    unsigned ratio = atomic_load(&limit_ratio), mode = en->ext_attr >> 16;
    struct member *m = NULL;

    if (en->count > ENGINE_MAX_FILES_HARD + ENGINE_RESERVED_ENTRIES)
        return err_set(e, ERR_VERIFY, "archive has too many entries (limit %d)",
                       ENGINE_MAX_FILES_HARD + ENGINE_RESERVED_ENTRIES), 1;
    /* A mode without a file type (Python's zipfile writes those) is a
     * regular file, as unzip takes it; a symlink, directory or device is not. */
    if (w->rule.code != ERR_NONE)
        ;
    else if (strlen(en->name) != en->name_len || !manifest_path_safe(en->name))
        err_set(&w->rule, ERR_VERIFY, "archive entry \"%.200s\" has an unsafe path", en->name);
    else if (en->made_by >> 8 == ZIP_OPSYS_UNIX && (mode & S_IFMT) != 0 &&
             (mode & S_IFMT) != S_IFREG)
        err_set(&w->rule, ERR_VERIFY, "archive entry \"%.200s\" is not a regular file", en->name);
    else if (en->flags & (ZIP_FLAG_ENCRYPTED | ZIP_FLAG_STRONG))
        err_set(&w->rule, ERR_VERIFY, "archive entry \"%.200s\" is encrypted", en->name);
    else if (en->method != 0 && en->method != 8)
        err_set(&w->rule, ERR_VERIFY, "archive entry \"%.200s\" uses an unsupported compression",
                en->name);
    /* The zip-bomb limits, from the central directory's sizes before a
     * byte is inflated; an entry is then never inflated past its size. */
    if (en->size > ENGINE_MAX_ENTRY_BYTES || en->size > max_total ||
        (w->total += en->size) > max_total)
        return err_set(e, ERR_VERIFY, "archive is too large when unpacked (limit %llu bytes, "
                       "max_unpacked_bytes)", (unsigned long long)max_total), 1;
    if (en->size >= ENGINE_RATIO_MIN_BYTES && en->size / ratio > en->comp_size)
        return err_set(e, ERR_VERIFY, "archive entry \"%.200s\" unpacks too large for its compressed "
                       "size: %llu bytes from %llu (ratio over the limit %u:1, "
                       "max_compression_ratio)", en->name, (unsigned long long)en->size,
                       (unsigned long long)en->comp_size, ratio), 1;
    if (w->n == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 256;
        uint64_t *nh = realloc(w->hash, cap * sizeof(*nh));
        if (nh == NULL)
            return err_set(e, ERR_IO, "out of memory"), 1;
        w->hash = nh;
        w->cap = cap;
    }
    w->hash[w->n++] = name_hash(en->name, en->name_len);
    if (strcmp(en->name, MANIFEST_NAME) == 0)
        m = &w->a->manifest;
    else if (strcmp(en->name, MANIFEST_SUMS) == 0)
        m = &w->a->sums;
    else if (strcmp(en->name, MANIFEST_SIG) == 0)
        m = &w->a->sig_member;
    if (m != NULL && m->count++ == 0) {
        const char *name = m == &w->a->manifest ? MANIFEST_NAME : m == &w->a->sums ? MANIFEST_SUMS
                                                                                  : MANIFEST_SIG;
        m->en = *en;
        m->en.name = name;
    }
    return 0;
}

/* The names whose hashes collide, compared for real. */
struct twins {
    const uint64_t *hash;       /* the colliding hashes, sorted */
    size_t n_hash;
    char **names;
    size_t n, cap;
    int oom;
};

static int twin_entry(void *ctx, const struct zipin_entry *en)
{
    struct twins *t = ctx;
    uint64_t h = name_hash(en->name, en->name_len);

    if (bsearch(&h, t->hash, t->n_hash, sizeof(h), cmp_u64) == NULL)
        return 0;
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 16;
        char **nn = realloc(t->names, cap * sizeof(*nn));
        if (nn == NULL)
            return t->oom = 1;
        t->names = nn;
        t->cap = cap;
    }
    if ((t->names[t->n] = strdup(en->name)) == NULL)
        return t->oom = 1;
    t->n++;
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* 1 if two entries have one name, 0 if none do, -1 with e set. */
static int has_twins(struct archive *a, uint64_t *hash, size_t n, struct err *e)
{
    struct twins t = { 0 };
    size_t k = 0;
    int rc = 0;

    if (n < 2)
        return 0;
    qsort(hash, n, sizeof(*hash), cmp_u64);
    for (size_t i = 1; i < n; i++)
        if (hash[i] == hash[i - 1] && (k == 0 || hash[k - 1] != hash[i]))
            hash[k++] = hash[i];
    if (k == 0)
        return 0;
    t.hash = hash;
    t.n_hash = k;
    if (zipin_each(a->fd, twin_entry, &t, e) != 0 && !t.oom)
        rc = -1;
    else if (t.oom)
        rc = err_set(e, ERR_IO, "out of memory");
    else if (t.n > 1) {
        qsort(t.names, t.n, sizeof(*t.names), cmp_str);
        for (size_t i = 1; i < t.n && rc == 0; i++)
            rc = strcmp(t.names[i - 1], t.names[i]) == 0;
    }
    for (size_t i = 0; i < t.n; i++)
        free(t.names[i]);
    free(t.names);
    return rc;
}

static int not_a_zip(const char *path, int code, const char *why, struct err *e)
{
    const char *lead = "not a zip archive: ";

    if (strncmp(why, lead, strlen(lead)) == 0)
        why += strlen(lead);
    return err_set(e, code == ERR_IO ? ERR_IO : ERR_VERIFY, "%s is not a readable zip archive: %s",
                   path, why);
}

static int check_structure(struct archive *a, const char *path, struct err *e)
{
    struct walk w = { .a = a, .e = e };
    struct err ze = { 0 };
    int rc = -1, r;

    r = zipin_each(a->fd, walk_entry, &w, &ze);
    if (r == 1)
        goto out;               /* walk_entry's own error, in e */
    if (r != 0) {
        not_a_zip(path, ze.code, ze.msg, e);
        goto out;
    }
    if ((r = has_twins(a, w.hash, (size_t)w.n, &ze)) != 0) {
        if (r > 0)
            not_a_zip(path, ERR_VERIFY, "duplicate entry (two files of one name)", e);
        else
            *e = ze;
        goto out;
    }
    if (w.rule.code != ERR_NONE) {
        *e = w.rule;
        goto out;
    }
    a->n_entries = w.n;
    rc = 0;
out:
    free(w.hash);
    return rc;
}

/* A member read whole: at most max bytes, NUL-terminated. */
static int read_member(struct archive *a, const struct member *m, size_t max, char **buf,
                       size_t *len, struct err *e)
{
    char *b;
    size_t got = 0;
    ssize_t r;

    *buf = NULL;
    if (m->count == 0)
        return err_set(e, ERR_VERIFY, "archive has no %s", m == &a->manifest ? MANIFEST_NAME :
                       m == &a->sums ? MANIFEST_SUMS : MANIFEST_SIG);
    if (m->en.size > max)
        return err_set(e, ERR_VERIFY, "%s is larger than %zu bytes", m->en.name, max);
    if (zipin_rd_start(&a->rd, &m->en, e) != 0)
        return -1;
    if ((b = malloc((size_t)m->en.size + 1)) == NULL)
        return err_set(e, ERR_IO, "out of memory");
    /* One more read must hit the end: it is where the size and CRC are checked. */
    while ((r = zipin_rd_read(&a->rd, b + got, (size_t)m->en.size - got + (got == m->en.size),
                              e)) > 0)
        got += (size_t)r;
    if (r < 0) {
        free(b);
        return -1;
    }
    b[got] = '\0';
    *buf = b;
    *len = got;
    return 0;
}

/* SHA256SUMS read in pieces and compared with the manifest as it comes
 * (never a whole copy of it). 0, or -1 with ERR_VERIFY. */
static int sums_check(struct archive *a, struct err *e)
{
    struct manifest_sums ms;
    ssize_t r;

    if (a->sums.count == 0)
        return err_set(e, ERR_VERIFY, "archive has no %s", MANIFEST_SUMS);
    if (a->sums.en.size > ARCHIVE_MAX_SUMS)
        return err_set(e, ERR_VERIFY, "%s is larger than %u bytes", MANIFEST_SUMS, ARCHIVE_MAX_SUMS);
    if (zipin_rd_start(&a->rd, &a->sums.en, e) != 0)
        return -1;
    manifest_sums_begin(&ms, &a->doc);
    while ((r = zipin_rd_read(&a->rd, a->buf, ARCHIVE_BUF, e)) > 0)
        manifest_sums_feed(&ms, (const char *)a->buf, (size_t)r);
    if (r < 0)
        return -1;
    if (!manifest_sums_end(&ms))
        return err_set(e, ERR_VERIFY, "SHA256SUMS does not agree with manifest.json");
    return 0;
}

/* Each listed file's entry, found by a second walk of the directory. */
struct place {
    struct archive *a;
    struct err *e;
};

static int place_entry(void *ctx, const struct zipin_entry *en)
{
    struct place *p = ctx;
    struct archive *a = p->a;
    const struct manifest_file *f = manifest_doc_find(&a->doc, en->name);
    struct archive_loc *l;

    if (f == NULL)
        return 0;   /* a member, or an entry no file is listed for: counted already */
    if (en->size != f->size)
        return err_set(p->e, ERR_VERIFY, "%.200s: size in the archive differs from the manifest",
                       f->path), 1;
    l = &a->loc[f - a->doc.files];
    l->local_off = en->local_off;
    l->comp_size = en->comp_size;
    l->crc = en->crc;
    l->method = en->method;
    l->found = 1;
    return 0;
}

static int check_manifest(struct archive *a, struct err *e)
{
    struct place p = { .a = a, .e = e };
    struct err ze = { 0 };
    char *buf = NULL;
    size_t len;
    int r;

    if (a->manifest.count > 1 || a->sums.count > 1 || a->sig_member.count > 1)
        return err_set(e, ERR_VERIFY, "archive has a member twice");
    if (read_member(a, &a->manifest, ENGINE_MAX_MANIFEST_BYTES, &buf, &len, e) != 0)
        return -1;
    /* A signed archive has one more member; its bytes are checked by the
     * caller against the trusted keys (engine/signing.c). */
    if (a->sig_member.count == 1 &&
        read_member(a, &a->sig_member, ARCHIVE_MAX_SIG, &a->sig, &a->sig_len, e) != 0) {
        free(buf);
        return -1;
    }
    r = manifest_read(buf, len, &a->doc, e);
    /* The text is read again if a signature or the whole tree is asked for:
     * it is not held beside its records. */
    free(buf);
    if (r != 0 || sums_check(a, e) != 0)
        return -1;
    if (a->n_entries != a->doc.n + 2 + (a->sig != NULL))
        return err_set(e, ERR_VERIFY, "archive entries do not match the manifest's file list");
    if ((a->loc = calloc(a->doc.n + 1, sizeof(*a->loc))) == NULL)
        return err_set(e, ERR_IO, "out of memory");
    if ((r = zipin_each(a->fd, place_entry, &p, &ze)) != 0)
        return r == 1 ? -1 : (*e = ze, -1);
    for (size_t i = 0; i < a->doc.n; i++)
        if (!a->loc[i].found)
            return err_set(e, ERR_VERIFY, "%.200s: listed in the manifest but missing from the "
                           "archive", a->doc.files[i].path);
    return 0;
}

int archive_open(struct archive **out, const char *path, struct err *e)
{
    struct archive *a;

    *out = NULL;
    if (fs_exists(path) != 1)
        return err_set(e, ERR_NOT_FOUND, "archive %s is missing", path);
    if ((a = calloc(1, sizeof(*a))) == NULL)
        return err_set(e, ERR_IO, "out of memory");
    if ((a->fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
        err_sys(e, errno, "open %s", path);
        free(a);
        return -1;
    }
    if ((a->buf = malloc(ARCHIVE_BUF)) == NULL || zipin_rd_init(&a->rd, a->fd, e) != 0) {
        archive_close(a);
        return err_set(e, ERR_IO, "out of memory");
    }
    if (check_structure(a, path, e) != 0 || check_manifest(a, e) != 0) {
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
    if (a->fd >= 0)
        close(a->fd);
    zipin_rd_free(&a->rd);
    manifest_doc_free(&a->doc);
    free(a->loc);
    free(a->buf);
    EVP_MD_CTX_free(a->md);
    free(a->manifest_raw);
    free(a->sig);
    free(a);
}

/* manifest.json's text, read again (the records were made from it at open). */
static int load_manifest_text(struct archive *a)
{
    struct err e = { 0 };

    if (a->manifest_raw != NULL)
        return 0;
    return read_member(a, &a->manifest, ENGINE_MAX_MANIFEST_BYTES, &a->manifest_raw,
                       &a->manifest_len, &e);
}

int archive_signature(struct archive *a, const char **manifest, size_t *manifest_len,
                      const unsigned char **sig, size_t *sig_len)
{
    if (a->sig != NULL)
        load_manifest_text(a);
    *manifest = a->manifest_raw != NULL ? a->manifest_raw : "";
    if (a->manifest_raw == NULL)
        a->manifest_len = 0;
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

json_t *archive_manifest_tree(struct archive *a)
{
    if (load_manifest_text(a) != 0)
        return NULL;
    return json_loadb(a->manifest_raw, a->manifest_len, JSON_REJECT_DUPLICATES, NULL);
}

/* The zip entry of a manifest file, from where the structure walk found it. */
static void loc_entry(const struct archive *a, const struct manifest_file *f,
                      struct zipin_entry *en)
{
    const struct archive_loc *l = &a->loc[f - a->doc.files];

    memset(en, 0, sizeof(*en));
    en->name = f->path;
    en->name_len = strlen(f->path);
    en->local_off = l->local_off;
    en->comp_size = l->comp_size;
    en->size = f->size;
    en->crc = l->crc;
    en->method = l->method;
}

int archive_stream(struct archive *a, const char *path, archive_sink sink, void *ctx,
                   struct err *e)
{
    struct manifest_file *f = manifest_doc_find(&a->doc, path);
    struct zipin_entry en;
    EVP_MD_CTX *md;
    unsigned char *buf, digest[32];
    char hex[65];
    uint64_t want, got = 0;
    ssize_t r;

    if (f == NULL)
        return err_set(e, ERR_NOT_FOUND, "%.200s is not in the snapshot", path);
    want = f->size;
    /* One buffer, hash context and reader for every entry of the archive:
     * no heap churn per file when a whole archive is checked. */
    if ((a->buf == NULL && (a->buf = malloc(ARCHIVE_BUF)) == NULL) ||
        (a->md == NULL && (a->md = EVP_MD_CTX_new()) == NULL) ||
        EVP_DigestInit_ex(a->md, EVP_sha256(), NULL) != 1)
        return err_set(e, ERR_IO, "out of memory");
    buf = a->buf;
    md = a->md;
    loc_entry(a, f, &en);
    if (zipin_rd_start(&a->rd, &en, e) != 0)
        return -1;
    while ((r = zipin_rd_read(&a->rd, buf, ARCHIVE_BUF, e)) > 0) {
        got += (uint64_t)r;
        /* The reader never gives more than the directory's size, which the
         * walk held to the manifest's and to the limit; both are checked
         * here all the same, before the bytes reach the sink. */
        if (got > want)
            return err_set(e, ERR_VERIFY, "%.200s: more data than the manifest says", path);
        if (got > atomic_load(&limit_unpacked))
            return err_set(e, ERR_VERIFY, "%.200s: unpacks past the limit of %llu bytes "
                           "(max_unpacked_bytes)", path,
                           (unsigned long long)atomic_load(&limit_unpacked));
        EVP_DigestUpdate(md, buf, (size_t)r);
        if (sink != NULL && sink(ctx, buf, (size_t)r, e) != 0)
            return -1;
    }
    if (r < 0)
        return -1;
    if (got != want)
        return err_set(e, ERR_VERIFY, "%.200s: size differs from the manifest", path);
    EVP_DigestFinal_ex(md, digest, NULL);
    fs_hex(digest, sizeof(digest), hex);
    if (strcmp(hex, f->sha256) != 0)
        return err_set(e, ERR_VERIFY, "%.200s: SHA-256 mismatch", path);
    /* Remembered so a check of the whole archive does not read it again. */
    f->verified = 1;
    return 0;
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
    struct zipin_rd rd;
    struct zipin_entry en;      /* en.name: the manifest record's path */
};

struct archive_reader *archive_reader_open(struct archive *a, const char *path, struct err *e)
{
    const struct manifest_file *f = archive_file_entry(a, path);
    struct archive_reader *r;

    if (f == NULL) {
        err_set(e, ERR_NOT_FOUND, "%.200s is not in the snapshot", path);
        return NULL;
    }
    if ((r = calloc(1, sizeof(*r))) == NULL) {
        err_set(e, ERR_IO, "out of memory");
        return NULL;
    }
    loc_entry(a, f, &r->en);
    if (zipin_rd_init(&r->rd, a->fd, e) != 0 || zipin_rd_start(&r->rd, &r->en, e) != 0) {
        archive_reader_close(r);
        return NULL;
    }
    return r;
}

ssize_t archive_reader_read(struct archive_reader *r, void *buf, size_t n, struct err *e)
{
    return zipin_rd_read(&r->rd, buf, n, e);
}

void archive_reader_close(struct archive_reader *r)
{
    if (r == NULL)
        return;
    zipin_rd_free(&r->rd);
    free(r);
}

int archive_entry_stat(struct archive *a, const char *path, uint64_t *size, uint32_t *crc,
                       struct err *e)
{
    const struct manifest_file *f = archive_file_entry(a, path);

    if (f == NULL)
        return err_set(e, ERR_VERIFY, "%.200s is not in the archive", path);
    *size = f->size;    /* the walk found the directory's size equal to it */
    *crc = a->loc[f - a->doc.files].crc;
    return 0;
}
