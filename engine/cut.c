/* cut.c - a consistent cut of a live state root. */
#include "cut.h"

#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include <openssl/evp.h>

#include "../common/fsutil.h"
#include "../common/jsoncheck.h"

#define CUT_READ_CHUNK (256u * 1024)
#define CUT_BACKOFF_FIRST_MS 5
#define CUT_BACKOFF_MAX_MS 250
#define CUT_QUIET_NS (2LL * 1000000000) /* untouched this long: invalid JSON is its content */
#define CUT_RECENT_NS (50LL * 1000000)  /* written this recently: bytes compared at the re-check */

static const char *const default_append[] = { "state/*.jsonl" };

static int64_t mono_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int cut_is_append(const struct engine_config *cfg, const char *rel)
{
    const struct capture_policy *p = cfg->capture;
    const char *const *g = default_append;
    size_t n = 1;

    if (p != NULL && p->append_only != NULL) {
        g = p->append_only;
        n = p->n_append_only;
    }
    for (size_t i = 0; i < n; i++)
        if (fnmatch(g[i], rel, FNM_PATHNAME) == 0)
            return 1;
    return 0;
}

static void ident_of(const struct stat *st, struct cut_ident *id)
{
    id->dev = st->st_dev;
    id->ino = st->st_ino;
    id->size = st->st_size;
    id->mtime_ns = (int64_t)st->st_mtim.tv_sec * 1000000000LL + st->st_mtim.tv_nsec;
    id->ctime_ns = (int64_t)st->st_ctim.tv_sec * 1000000000LL + st->st_ctim.tv_nsec;
}

static int ident_eq(const struct cut_ident *a, const struct cut_ident *b)
{
    return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
           a->mtime_ns == b->mtime_ns && a->ctime_ns == b->ctime_ns;
}

static void file_release(struct cut_file *f)
{
    free(f->buf);
    f->buf = NULL;
    free(f->tail);
    f->tail = NULL;
    if (f->fd >= 0)
        close(f->fd);
    f->fd = -1;
}

/* A private, already unlinked file under work for a large file's copy. */
static int private_copy_fd(const char *work, struct err *e)
{
    char path[4096];
    int fd = open(work, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);

    if (fd >= 0)
        return fd;
    /* No O_TMPFILE on this file system: a named file, unlinked at once. */
    snprintf(path, sizeof(path), "%s/cut-" FS_TEMPLATE_TAIL, work);
    if ((fd = mkostemp(path, O_CLOEXEC)) < 0)
        return err_sys(e, errno, "cannot make a copy under %s", work);
    unlink(path);
    return fd;
}

/* Read a whole file (f->fd open, f->id its identity at open) into memory or
 * a private copy, hashing it. Sets intact when nothing changed meanwhile. */
static int read_whole(struct cut_file *f, int fd, const char *work, uint64_t *in_memory,
                      struct err *e)
{
    uint64_t size = (uint64_t)f->id.size, done = 0;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned char d[32], *chunk = NULL;
    uint32_t crc = (uint32_t)crc32(0L, Z_NULL, 0);
    int copy = -1, rc = -1;
    struct stat st;

    if (md == NULL || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
        err_set(e, ERR_IO, "out of memory");
        goto out;
    }
    if (size <= CUT_MEM_MAX && *in_memory + size <= CUT_MEM_TOTAL) {
        *in_memory += size;
        /* One byte more than the size: a file that grew is seen to. */
        if ((f->buf = malloc(size + 1)) == NULL) {
            err_set(e, ERR_IO, "out of memory");
            goto out;
        }
        while (done <= size) {
            ssize_t r = fs_read_some(fd, f->buf + done, size + 1 - done);
            if (r < 0) {
                err_sys(e, errno, "read %s", f->cf->rel);
                goto out;
            }
            if (r == 0)
                break;
            done += (uint64_t)r;
            /* A regular file reads short only at its end: no second read
             * just to see 0 (a file that grows after this read changes its
             * size, which the fstat below sees). */
            if (done == size)
                break;
        }
        if (done > size)
            done = size + 1;    /* grew: not intact; the extra byte is not kept */
        EVP_DigestUpdate(md, f->buf, done > size ? size : done);
        crc = (uint32_t)crc32(crc, f->buf, (uInt)(done > size ? size : done));
    } else {
        if ((chunk = malloc(CUT_READ_CHUNK)) == NULL) {
            err_set(e, ERR_IO, "out of memory");
            goto out;
        }
        if ((copy = private_copy_fd(work, e)) < 0)
            goto out;
        while (done <= size) {
            size_t want = CUT_READ_CHUNK;
            ssize_t r;
            if (want > size + 1 - done)
                want = (size_t)(size + 1 - done);
            if ((r = fs_read_some(fd, chunk, want)) < 0) {
                err_sys(e, errno, "read %s", f->cf->rel);
                goto out;
            }
            if (r == 0)
                break;
            if (done + (uint64_t)r > size)
                r = (ssize_t)(size - done), done = size + 1;
            else
                done += (uint64_t)r;
            if (r > 0) {
                EVP_DigestUpdate(md, chunk, (size_t)r);
                crc = (uint32_t)crc32(crc, chunk, (uInt)r);
                if (fs_write_all(copy, chunk, (size_t)r) != 0) {
                    err_sys(e, errno, "copy %s into the store's work directory", f->cf->rel);
                    goto out;
                }
            }
            if (done > size)
                break;
        }
        if (lseek(copy, 0, SEEK_SET) != 0) {
            err_sys(e, errno, "copy of %s", f->cf->rel);
            goto out;
        }
        f->fd = copy;
        copy = -1;
    }
    if (fstat(fd, &st) != 0) {
        err_sys(e, errno, "stat %s", f->cf->rel);
        goto out;
    }
    struct cut_ident after;
    ident_of(&st, &after);
    f->intact = done == size && ident_eq(&f->id, &after);
    f->limit = done > size ? size : done;
    EVP_DigestFinal_ex(md, d, NULL);
    memcpy(f->sha, d, sizeof(f->sha));
    f->crc = crc;
    f->hashed = 1;
    rc = 0;
out:
    if (copy >= 0)
        close(copy);
    free(chunk);
    EVP_MD_CTX_free(md);
    return rc;
}

/* Cut an append-only file at its last complete line and keep the bytes
 * before the cut. The descriptor stays open for the compression pass. */
static int cut_append(struct cut_file *f, int fd, struct err *e)
{
    unsigned char buf[CUT_TAIL_MAX];
    uint64_t end = (uint64_t)f->id.size, cut = 0;
    struct stat st;

    if (f->tail == NULL && (f->tail = malloc(CUT_TAIL_MAX)) == NULL)
        return err_set(e, ERR_IO, "out of memory");

    while (end > 0) {
        size_t n = end < sizeof(buf) ? (size_t)end : sizeof(buf);
        ssize_t r = pread(fd, buf, n, (off_t)(end - n));
        if (r < 0)
            return err_sys(e, errno, "read %s", f->cf->rel);
        if ((size_t)r != n) {
            f->intact = 0;   /* shrank under us */
            return 0;
        }
        unsigned char *nl = memrchr(buf, '\n', n);
        if (nl != NULL) {
            cut = end - n + (uint64_t)(nl - buf) + 1;
            break;
        }
        end -= n;
    }
    f->limit = cut;
    f->tail_len = cut < CUT_TAIL_MAX ? (uint32_t)cut : CUT_TAIL_MAX;
    if (f->tail_len > 0 &&
        pread(fd, f->tail, f->tail_len, (off_t)(cut - f->tail_len)) != (ssize_t)f->tail_len) {
        f->intact = 0;
        return 0;
    }
    if (fstat(fd, &st) != 0)
        return err_sys(e, errno, "stat %s", f->cf->rel);
    f->intact = st.st_dev == f->id.dev && st.st_ino == f->id.ino &&
                (uint64_t)st.st_size >= cut;
    f->fd = fd;
    return 0;
}

/* Open one file and capture it as its kind wants. present = 0 when it is gone. */
static int capture_one(const struct engine_config *cfg, struct cut_file *f, const char *work,
                       int append_ok, uint64_t *in_memory, struct err *e)
{
    struct stat st;
    int fd, rc;

    f->fd = -1;
    f->present = 1;
    fd = open(f->cf->abs, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
    if (fd < 0) {
        if (errno == ENOENT) {
            f->present = 0;
            return 0;
        }
        return err_sys(e, errno, "cannot read %s", f->cf->rel);
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        f->present = 0;     /* replaced by something that is not a file: not captured */
        return 0;
    }
    ident_of(&st, &f->id);
    f->mode = st.st_mode & 0777;
    if (append_ok && cut_is_append(cfg, f->cf->rel)) {
        f->append = 1;
        if ((rc = cut_append(f, fd, e)) != 0 || f->fd != fd)
            close(fd);
        return rc;
    }
    rc = read_whole(f, fd, work, in_memory, e);
    close(fd);
    return rc;
}

/* Was f written to within CUT_RECENT_NS? File times advance only once per
 * kernel tick, so a rewrite of the same size in the same tick as the open
 * leaves the identity as it was: such a file's bytes are compared too. */
static int recently_written(const struct cut_file *f)
{
    struct timespec now;

    clock_gettime(CLOCK_REALTIME, &now);
    int64_t age = (int64_t)now.tv_sec * 1000000000LL + now.tv_nsec - f->id.mtime_ns;
    return age < CUT_RECENT_NS;
}

/* Do the bytes at off in the file at path still equal want[0..n)? */
static int same_bytes(const char *path, uint64_t off, const unsigned char *want, size_t n)
{
    unsigned char buf[CUT_READ_CHUNK < 65536 ? CUT_READ_CHUNK : 65536];
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY), same = 1;

    if (fd < 0)
        return 0;
    while (n > 0 && same) {
        size_t k = n < sizeof(buf) ? n : sizeof(buf);
        ssize_t r = pread(fd, buf, k, (off_t)off);
        same = r == (ssize_t)k && memcmp(buf, want, k) == 0;
        off += k;
        want += k;
        n -= k;
    }
    close(fd);
    return same;
}

/* Is the file still exactly what was captured? Growth of an append-only
 * file inside the window counts as a change too: the cut is the instant
 * between the last open and the first re-check, when every file held
 * precisely the bytes taken. */
static int unchanged(const struct cut_file *f)
{
    struct stat st;
    struct cut_ident now;

    if (stat(f->cf->abs, &st) != 0)
        return !f->present && errno == ENOENT;
    if (!f->present)
        return 0;           /* came back */
    ident_of(&st, &now);
    if (f->append) {
        if (now.dev != f->id.dev || now.ino != f->id.ino || now.size != f->id.size)
            return 0;
        return !recently_written(f) ||
               same_bytes(f->cf->abs, f->limit - f->tail_len, f->tail, f->tail_len);
    }
    if (!ident_eq(&f->id, &now))
        return 0;
    return f->buf == NULL || !recently_written(f) ||
           same_bytes(f->cf->abs, 0, f->buf, (size_t)f->limit);
}

static int is_json_name(const char *rel)
{
    size_t n = strlen(rel);

    return n > 5 && strcmp(rel + n - 5, ".json") == 0;
}

/* A *.json read into memory that does not parse was caught being written,
 * unless nobody touched it for a while (then it is what the file holds). */
static int json_torn(struct cut_file *f, json_t *warnings)
{
    struct timespec now;
    json_error_t je;
    json_t *doc;

    if (!f->present || f->append || f->buf == NULL || !is_json_name(f->cf->rel))
        return 0;
    /* Parsed once per read: the attempt's check and the final warnings
     * pass share the answer. */
    if (f->json_ok == 0 && jsoncheck_valid((const char *)f->buf, (size_t)f->limit))
        f->json_ok = 1;             /* no tree built: see common/jsoncheck.h */
    if (f->json_ok == 0) {
        doc = json_loadb((const char *)f->buf, (size_t)f->limit, JSON_DECODE_ANY, &je);
        f->json_ok = doc != NULL ? 1 : -1;
        json_decref(doc);
    }
    if (f->json_ok > 0)
        return 0;
    clock_gettime(CLOCK_REALTIME, &now);
    int64_t age = (int64_t)now.tv_sec * 1000000000LL + now.tv_nsec - f->id.mtime_ns;
    if (age < CUT_QUIET_NS)
        return 1;
    if (warnings != NULL) {
        char w[600];
        memset(&je, 0, sizeof(je));
        json_decref(json_loadb((const char *)f->buf, (size_t)f->limit, JSON_DECODE_ANY, &je));
        snprintf(w, sizeof(w), "%.400s is not valid JSON (line %d: %.100s); captured as it is",
                 f->cf->rel, je.line, je.text);
        json_array_append_new(warnings, json_string(w));
    }
    return 0;
}

struct order_key {
    uint64_t size;
    size_t idx;
};

/* By size, then by path order: the same order every attempt. */
static int cmp_order(const void *a, const void *b)
{
    const struct order_key *x = a, *y = b;

    if (x->size != y->size)
        return x->size < y->size ? -1 : 1;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* One attempt: capture every file, then check them all again. */
static int attempt(const struct engine_config *cfg, const char *work, const struct capture_set *cap,
                   struct cut_file *files, const size_t *order, json_t *changed,
                   int64_t *window_us, struct err *e)
{
    size_t n_append = 0;
    uint64_t in_memory = 0;
    int64_t t0 = mono_us();
    int ok = 1;

    for (size_t k = 0; k < cap->n; k++) {
        struct cut_file *f = &files[order[k]];
        memset(f, 0, sizeof(*f));
        f->cf = &cap->files[order[k]];
        f->fd = -1;
        int append_ok = n_append < CUT_APPEND_MAX;
        if (capture_one(cfg, f, work, append_ok, &in_memory, e) != 0)
            return -1;
        if (f->append)
            n_append++;
    }
    for (size_t k = 0; k < cap->n; k++) {
        struct cut_file *f = &files[order[k]];
        if (!unchanged(f) || (f->present && !f->intact)) {
            ok = 0;
            json_array_append_new(changed, json_string(f->cf->rel));
        }
    }
    *window_us = mono_us() - t0;
    /* Outside the window: a JSON file caught half-written is a change too. */
    for (size_t i = 0; i < cap->n; i++) {
        if (json_torn(&files[i], NULL)) {
            files[i].intact = 0;
            json_array_append_new(changed, json_string(files[i].cf->rel));
            ok = 0;
        }
    }
    return ok;
}

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

int cut_take(const struct engine_config *cfg, const char *work, const struct capture_set *cap,
             struct cut *out, struct err *e)
{
    const struct capture_policy *p = cfg->capture;
    int max_attempts = p && p->max_attempts > 0 ? p->max_attempts : CAPTURE_DEFAULT_ATTEMPTS;
    long max_wait = p && p->max_wait_ms > 0 ? p->max_wait_ms : CAPTURE_DEFAULT_WAIT_MS;
    int keep = p && p->keep_inconsistent;
    struct cut_file *cur = NULL, *kept = NULL;
    size_t *order = NULL;
    unsigned char *have = NULL;     /* keep mode: kept[i] holds an intact read */
    int64_t start = mono_us();
    long backoff = CUT_BACKOFF_FIRST_MS;
    int rc = -1;

    memset(out, 0, sizeof(*out));
    out->n = cap->n;
    out->changed = json_array();
    out->warnings = json_array();
    cur = calloc(cap->n + 1, sizeof(*cur));
    /* kept is only allocated when an attempt is not consistent: a root of
     * many files pays for one array of cut files, not two. */
    order = calloc(cap->n + 1, sizeof(*order));
    have = calloc(cap->n + 1, 1);
    if (out->changed == NULL || out->warnings == NULL || cur == NULL ||
        order == NULL || have == NULL) {
        err_set(e, ERR_IO, "out of memory");
        goto out;
    }
    /* Append-only files first (only their ends are read), then the rest
     * smallest first, so the files that change most are read closest
     * together. The sizes are the walk's: no second stat of every file. */
    {
        struct order_key *keys = calloc(cap->n + 1, sizeof(*keys));
        if (keys == NULL) {
            err_set(e, ERR_IO, "out of memory");
            goto out;
        }
        for (size_t i = 0; i < cap->n; i++) {
            keys[i].idx = i;
            keys[i].size = cut_is_append(cfg, cap->files[i].rel) ? 0
                           : (uint64_t)cap->files[i].size + 1;
        }
        if (cap->n > 1)
            qsort(keys, cap->n, sizeof(*keys), cmp_order);
        for (size_t i = 0; i < cap->n; i++)
            order[i] = keys[i].idx;
        free(keys);
    }
    for (size_t i = 0; i < cap->n; i++)
        cur[i].fd = -1;
    for (int a = 1;; a++) {
        int64_t win = 0;
        json_t *changed = json_array();
        int r;
        if (changed == NULL) {
            err_set(e, ERR_IO, "out of memory");
            goto out;
        }
        r = attempt(cfg, work, cap, cur, order, changed, &win, e);
        out->attempts = a;
        if (r < 0) {
            json_decref(changed);
            goto out;
        }
        if (r == 1) {
            /* A consistent cut: it replaces whatever was kept. */
            for (size_t i = 0; kept && i < cap->n; i++)
                file_release(&kept[i]);
            free(kept);
            kept = cur;
            cur = NULL;
            for (size_t i = 0; i < cap->n; i++)
                have[i] = 1;
            json_decref(changed);
            json_array_clear(out->changed);
            out->consistent = 1;
            out->window_us = win;
            break;
        }
        json_decref(out->changed);
        out->changed = changed;
        out->window_us = win;
        /* Keep each file's newest intact read (or its absence), for a
         * flagged snapshot. */
        if (keep && kept == NULL) {
            if ((kept = calloc(cap->n + 1, sizeof(*kept))) == NULL) {
                err_set(e, ERR_IO, "out of memory");
                goto out;
            }
            for (size_t i = 0; i < cap->n; i++)
                kept[i].fd = -1;
        }
        for (size_t i = 0; i < cap->n; i++) {
            if (keep && (!cur[i].present || (cur[i].intact && !json_torn(&cur[i], NULL)))) {
                file_release(&kept[i]);
                kept[i] = cur[i];
                have[i] = 1;
                cur[i].buf = NULL;
                cur[i].tail = NULL;
                cur[i].fd = -1;
            }
            file_release(&cur[i]);
        }
        int64_t spent_ms = (mono_us() - start) / 1000;
        if (a >= max_attempts || spent_ms + backoff > max_wait)
            break;
        /* Jitter, so a writer on a fixed period is not met at the same phase. */
        sleep_ms(backoff / 2 + (long)((unsigned)rand() % (unsigned)(backoff / 2 + 1)));
        backoff = backoff * 2 > CUT_BACKOFF_MAX_MS ? CUT_BACKOFF_MAX_MS : backoff * 2;
    }
    if (!out->consistent) {
        char list[200] = "";
        size_t i, used = 0;
        json_t *v;
        json_array_foreach(out->changed, i, v) {
            int w = snprintf(list + used, sizeof(list) - used, "%s%s", i ? ", " : "",
                             json_string_value(v));
            if (w < 0 || (size_t)w >= sizeof(list) - used) {
                snprintf(list + (sizeof(list) > 5 ? sizeof(list) - 5 : 0), 5, "...");
                break;
            }
            used += (size_t)w;
        }
        int missing = 0;
        for (i = 0; i < cap->n && keep; i++)
            if (!have[i])
                missing = 1;
        if (!keep || missing) {
            err_set(e, ERR_UNSTABLE,
                    "no consistent cut of the state root in %d attempt%s over %lld ms: %s kept "
                    "changing (pause the bot with hooks.pre_snapshot, or set "
                    "capture.on_inconsistent to \"keep\")",
                    out->attempts, out->attempts == 1 ? "" : "s",
                    (long long)((mono_us() - start) / 1000), list);
            goto out;
        }
    }
    for (size_t i = 0; i < cap->n; i++) {
        struct cut_file *f = &kept[i];
        f->cf = &cap->files[i];
        if (!f->present) {
            char w[600];
            snprintf(w, sizeof(w), "%.400s vanished before it was read; recorded as absent",
                     f->cf->rel);
            json_array_append_new(out->warnings, json_string(w));
        } else {
            json_torn(f, out->warnings);   /* adds the "not valid JSON" warning */
        }
    }
    out->files = kept;
    kept = NULL;
    rc = 0;
out:
    for (size_t i = 0; cur && i < cap->n; i++)
        file_release(&cur[i]);
    for (size_t i = 0; kept && i < cap->n; i++)
        file_release(&kept[i]);
    free(cur);
    free(kept);
    free(order);
    free(have);
    return rc;
}

void cut_free(struct cut *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; c->files && i < c->n; i++)
        file_release(&c->files[i]);
    free(c->files);
    json_decref(c->changed);
    json_decref(c->warnings);
    memset(c, 0, sizeof(*c));
}

void cut_release_bytes(struct cut *c)
{
    for (size_t i = 0; c->files && i < c->n; i++) {
        struct cut_file *f = &c->files[i];
        if (f->buf != NULL) {
            free(f->buf);
            f->buf = NULL;
            f->released = 1;
        }
    }
}

json_t *cut_consistency_json(const struct cut *c)
{
    return json_pack("{s:s,s:i,s:f,s:O}", "state", c->consistent ? "consistent" : "changed",
                     "attempts", c->attempts, "window_ms", (double)c->window_us / 1000.0,
                     "changed", c->changed);
}
