/* store.c - the store handle (store.h): layout, lock, secret, intents, summary,
 * the file-hash memo. Opening is store_open.c. */
#include "store.h"

#include <pthread.h>
#include <stdatomic.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "archive.h"
#include "../db/audit.h"
#include "../common/fsutil.h"

int store_random_hex(char *out, size_t n, struct err *e)
{
    unsigned char buf[32];

    if (n > sizeof(buf))
        n = sizeof(buf);
    if (RAND_bytes(buf, (int)n) != 1)
        return err_set(e, ERR_IO, "no random bytes available");
    fs_hex(buf, n, out);
    return 0;
}

int store_archive_path(const struct store *s, const char *name, char *out, size_t len,
                       struct err *e)
{
    char file[ENGINE_NAME_MAX + 8];

    if (snprintf(file, sizeof(file), "%s.zip", name) >= (int)sizeof(file))
        return err_set(e, ERR_INVALID, "name too long");
    return fs_join(out, len, s->dir, file, e);
}

void store_close(struct store *s)
{
    if (s == NULL)
        return;
    if (s->lock_fd >= 0)
        close(s->lock_fd);
    catalog_close(s->cat);
    OPENSSL_cleanse(s->secret, sizeof(s->secret));
    sign_key_free(s->sign_key);
    sign_trust_clear(&s->trust);
    free(s);
}

/* Moves each time a store lock is let go in this process, i.e. after every
 * write made through the engine here (see store_summary_recent). */
static _Atomic uint64_t write_generation;

#define STORE_MEMO_SETTLE_NS 100000000LL   /* 100 ms: well past any timestamp tick */

static int same_time(const struct timespec *a, const struct timespec *b)
{
    return a->tv_sec == b->tv_sec && a->tv_nsec == b->tv_nsec;
}

static int64_t ns_of(const struct timespec *t)
{
    return (int64_t)t->tv_sec * 1000000000LL + t->tv_nsec;
}

/* A state-root file's hash as this process last computed it, with what
 * identified the file then. One table for the process, whichever handle or
 * thread asked. */
struct file_memo {
    char *path;
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime, ctime;
    char sha[65];
};

static struct {
    pthread_mutex_t mu;
    struct file_memo *m;
    size_t n;
} memo = { .mu = PTHREAD_MUTEX_INITIALIZER };
static _Atomic uint64_t files_hashed;

/* The entry for path, or NULL. Called with memo.mu held. */
static struct file_memo *memo_find(const char *path)
{
    for (size_t i = 0; i < memo.n; i++)
        if (strcmp(memo.m[i].path, path) == 0)
            return &memo.m[i];
    return NULL;
}

static int memo_matches(const struct file_memo *m, const struct stat *st)
{
    return m->dev == st->st_dev && m->ino == st->st_ino && m->size == st->st_size &&
           same_time(&m->mtime, &st->st_mtim) && same_time(&m->ctime, &st->st_ctim);
}

/* Remember path's hash as of *st (best effort: out of memory or a full
 * table just means it is read again next time). */
static void memo_put(const char *path, const struct stat *st, const char sha[65])
{
    struct file_memo *m;

    pthread_mutex_lock(&memo.mu);
    if ((m = memo_find(path)) == NULL) {
        struct file_memo *nm;
        char *p;
        if (memo.n >= STORE_MEMO_MAX || (p = strdup(path)) == NULL)
            goto out;
        if ((nm = realloc(memo.m, (memo.n + 1) * sizeof(*nm))) == NULL) {
            free(p);
            goto out;
        }
        memo.m = nm;
        m = &memo.m[memo.n++];
        m->path = p;
    }
    m->dev = st->st_dev;
    m->ino = st->st_ino;
    m->size = st->st_size;
    m->mtime = st->st_mtim;
    m->ctime = st->st_ctim;
    memcpy(m->sha, sha, 65);
out:
    pthread_mutex_unlock(&memo.mu);
}

int store_file_sha(const char *path, const struct stat *st, char out[65], struct err *e)
{
    const struct file_memo *m;
    struct timespec now;
    struct stat after;
    int hit;

    pthread_mutex_lock(&memo.mu);
    m = memo_find(path);
    if ((hit = m != NULL && memo_matches(m, st)) != 0)
        memcpy(out, m->sha, 65);
    pthread_mutex_unlock(&memo.mu);
    if (hit)
        return 0;
    clock_gettime(CLOCK_REALTIME, &now);
    atomic_fetch_add(&files_hashed, 1);
    if (archive_file_sha256(path, out, NULL, e) != 0)
        return -1;
    /* Remember only a file that had settled before we read it and did not
     * change while we did. */
    if (ns_of(&st->st_mtim) > ns_of(&now) - STORE_MEMO_SETTLE_NS ||
        ns_of(&st->st_ctim) > ns_of(&now) - STORE_MEMO_SETTLE_NS || lstat(path, &after) != 0 ||
        after.st_ino != st->st_ino || after.st_size != st->st_size ||
        !same_time(&after.st_mtim, &st->st_mtim) || !same_time(&after.st_ctim, &st->st_ctim))
        return 0;
    memo_put(path, st, out);
    return 0;
}

uint64_t store_files_hashed(void)
{
    return atomic_load(&files_hashed);
}

static const char *const op_names[STORE_OP_COUNT] = { "create", "import", "restore", "delete",
                                                       "update", "prune" };
static _Atomic int64_t cli_ops_seen[STORE_OP_COUNT][2];
static _Atomic uint64_t cli_ops_gen;

const char *store_op_name(enum store_op o)
{
    return o < STORE_OP_COUNT ? op_names[o] : "";
}

void store_cli_ops(int64_t out[STORE_OP_COUNT][2])
{
    for (int i = 0; i < STORE_OP_COUNT; i++)
        for (int j = 0; j < 2; j++)
            out[i][j] = atomic_load(&cli_ops_seen[i][j]);
}

uint64_t store_cli_ops_generation(void)
{
    return atomic_load(&cli_ops_gen);
}

/* The CLI's audited operations from the catalog's counts into sm and the
 * process-wide table. */
static int read_cli_ops(struct store *s, struct store_summary *sm, struct err *e)
{
    struct catalog_audit_op rows[64];
    size_t n = 0;
    int changed = 0;

    if (catalog_audit_op_counts(s->cat, "cli", rows, sizeof(rows) / sizeof(rows[0]), &n, e) != 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        const char *op = strcmp(rows[i].op, "pin") == 0 || strcmp(rows[i].op, "unpin") == 0 ||
                                 strcmp(rows[i].op, "labels") == 0 ? "update" : rows[i].op;
        for (int k = 0; k < STORE_OP_COUNT; k++)
            if (strcmp(op, op_names[k]) == 0)
                sm->cli_ops[k][strcmp(rows[i].result, "ok") == 0 ? 0 : 1] += rows[i].n;
    }
    for (int k = 0; k < STORE_OP_COUNT; k++)
        for (int j = 0; j < 2; j++)
            if (atomic_exchange(&cli_ops_seen[k][j], sm->cli_ops[k][j]) != sm->cli_ops[k][j])
                changed = 1;
    if (changed)
        atomic_fetch_add(&cli_ops_gen, 1);
    return 0;
}

int store_summary(struct store *s, struct store_summary *out, struct err *e)
{
    struct store_summary sm;
    struct catalog_version v;
    struct catalog_snapshot latest = { 0 };

    if (catalog_version(s->cat, &v, e) != 0)
        return -1;
    if (s->summary_ok && v.others == s->summary_ver.others && v.own == s->summary_ver.own) {
        *out = s->summary;
        return 0;
    }
    memset(&sm, 0, sizeof(sm));
    if (catalog_totals(s->cat, &sm.count, &sm.bytes, e) != 0)
        return -1;
    if (catalog_snapshot_latest(s->cat, &latest, e) == 0) {
        sm.have_latest = 1;
        sm.latest_created_at = latest.created_at;
        sm.latest_consistent = latest.consistency_json == NULL ? -1
                               : strstr(latest.consistency_json, "\"state\":\"consistent\"") != NULL;
        catalog_snapshot_clear(&latest);
    } else if (e->code != ERR_NOT_FOUND) {
        return -1;
    } else {
        err_clear(e);
    }
    if (catalog_offsite_stats(s->cat, &sm.offsite, e) != 0 ||
        catalog_drill_stats(s->cat, &sm.drills, e) != 0 ||
        catalog_count_inconsistent(s->cat, &sm.inconsistent, e) != 0 ||
        catalog_count_unsigned(s->cat, &sm.unsigned_n, &sm.untrusted, e) != 0 ||
        read_cli_ops(s, &sm, e) != 0)
        return -1;
    /* Kept under the version read first: a commit in between leaves the
     * figures newer than that version, and the next call reads them again. */
    s->summary = sm;
    s->summary_ver = v;
    s->summary_ok = 1;
    *out = sm;
    return 0;
}

int store_summary_recent(struct store *s, int64_t now, struct store_summary *out, struct err *e)
{
    uint64_t gen = atomic_load(&write_generation);

    if (s->summary_ok && s->summary_second == now && s->summary_gen == gen) {
        *out = s->summary;
        return 0;
    }
    if (store_summary(s, out, e) != 0)
        return -1;
    s->summary_second = now;
    s->summary_gen = gen;
    return 0;
}

struct catalog *store_catalog(struct store *s)
{
    return s->cat;
}

const struct engine_config *store_config(const struct store *s)
{
    return s->cfg;
}

int store_lock(struct store *s, struct err *e)
{
    char path[PATH_MAX];
    int fd;
    long waited = 0;

    if (s->lock_depth > 0) {
        s->lock_depth++;
        return 0;
    }
    if (fs_join(path, sizeof(path), s->dir, STORE_LOCK_FILE, e) != 0)
        return -1;
    /* A fresh open file description per lock: flock conflicts between
     * descriptions, so this also serialises threads of one process. */
    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return err_sys(e, errno, "open lock %s", path);
    for (;;) {
        if (flock(fd, LOCK_EX | LOCK_NB) == 0)
            break;
        if (errno != EWOULDBLOCK && errno != EINTR) {
            int saved = errno;
            close(fd);
            return err_sys(e, saved, "lock %s", path);
        }
        if (waited >= s->cfg->lock_timeout_ms) {
            close(fd);
            return err_set(e, ERR_LOCKED, "the store is busy with another operation; try again");
        }
        struct timespec ts = { 0, 10 * 1000 * 1000 };
        nanosleep(&ts, NULL);
        waited += 10;
    }
    s->lock_fd = fd;
    s->lock_depth = 1;
    return 0;
}

void store_unlock(struct store *s)
{
    if (s->lock_depth == 0)
        return;
    if (--s->lock_depth > 0)
        return;
    /* Writers are done: keep the catalog's WAL from growing under readers. */
    catalog_checkpoint(s->cat);
    /* Closing the description releases the flock. */
    close(s->lock_fd);
    s->lock_fd = -1;
    atomic_fetch_add(&write_generation, 1);
}

int store_secret(struct store *s, struct err *e)
{
    char path[PATH_MAX], tmp[PATH_MAX];
    unsigned char key[32];
    int fd, rc = -1;

    if (s->have_secret)
        return 0;
    if (fs_join(path, sizeof(path), s->dir, STORE_SECRET_FILE, e) != 0)
        return -1;
    for (int attempt = 0; attempt < 2; attempt++) {
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd >= 0) {
            ssize_t n = fs_read_some(fd, s->secret, sizeof(s->secret));
            close(fd);
            if (n != (ssize_t)sizeof(s->secret))
                return err_set(e, ERR_IO, "store secret %s is damaged", path);
            s->have_secret = 1;
            return 0;
        }
        if (errno != ENOENT)
            return err_sys(e, errno, "open %s", path);
        /* Create beside, then link(): link fails if another process won the
         * race, and then we read theirs. The key is never half-written. */
        if (RAND_bytes(key, sizeof(key)) != 1)
            return err_set(e, ERR_IO, "no random bytes available");
        if (snprintf(tmp, sizeof(tmp), "%s/secret.tmp" FS_TEMPLATE_TAIL, s->work) >= (int)sizeof(tmp))
            return err_set(e, ERR_INVALID, "path too long");
        fd = mkstemp(tmp);
        if (fd < 0)
            return err_sys(e, errno, "create %s", tmp);
        if (fchmod(fd, 0600) != 0 || fs_write_all(fd, key, sizeof(key)) != 0 || fsync(fd) != 0) {
            err_sys(e, errno, "write %s", tmp);
            close(fd);
            unlink(tmp);
            goto out;
        }
        close(fd);
        if (link(tmp, path) != 0 && errno != EEXIST) {
            err_sys(e, errno, "create %s", path);
            unlink(tmp);
            goto out;
        }
        unlink(tmp);
        if (fs_fsync_dir(s->dir, e) != 0)
            goto out;
    }
    err_set(e, ERR_IO, "could not create the store secret");
out:
    OPENSSL_cleanse(key, sizeof(key));
    return rc;
}

int store_intent_write(struct store *s, const char *name, const char *kind, struct err *e)
{
    char path[PATH_MAX], file[ENGINE_NAME_MAX + 16];

    if (snprintf(file, sizeof(file), "%s.%s", name, kind) >= (int)sizeof(file) ||
        fs_join(path, sizeof(path), s->work, file, e) != 0)
        return err_set(e, ERR_INVALID, "name too long");
    return fs_write_atomic(path, name, strlen(name), 0600, e);
}

int store_intent_clear(struct store *s, const char *name, const char *kind, struct err *e)
{
    char path[PATH_MAX], file[ENGINE_NAME_MAX + 16];

    if (snprintf(file, sizeof(file), "%s.%s", name, kind) >= (int)sizeof(file) ||
        fs_join(path, sizeof(path), s->work, file, e) != 0)
        return err_set(e, ERR_INVALID, "name too long");
    if (unlink(path) != 0 && errno != ENOENT)
        return err_sys(e, errno, "remove %s", path);
    return fs_fsync_dir(s->work, e);
}
