/* restore.c - preview and apply a restore: verified, journaled, crash-safe. */
#include "restore.h"

#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "archive.h"
#include "audit.h"
#include "capture.h"
#include "failpoint.h"
#include "fsutil.h"
#include "manifest.h"
#include "meta.h"
#include "ops.h"
#include "rootfs.h"

#define KILL_SWITCH "state/KILL_SWITCH"
#define POSITIONS "state/positions.json"
#define RESTORE_POSITIONS_MAX (16u << 20)
#define RESTORE_NEXT_STEP "Run /preflight to verify system state."

/* One file of the plan. */
struct step {
    char *path;
    const char *action;     /* create, overwrite, unchanged, kept, delete */
    char cur_sha[65];       /* "" when absent now */
    char want_sha[65];      /* "" for kept/delete */
    mode_t mode;
    char tmp[PATH_MAX];
};

struct plan {
    struct step *v;
    size_t n;
    struct archive *a;
    json_t *warnings;
    char archive_sha[65];
    int64_t created_at;
    int64_t cur_positions, snap_positions;
};

static void plan_free(struct plan *p)
{
    for (size_t i = 0; i < p->n; i++)
        free(p->v[i].path);
    free(p->v);
    archive_close(p->a);
    json_decref(p->warnings);
    memset(p, 0, sizeof(*p));
}

/* 1 if st is the .env restore never writes: the configured dotenv or
 * ROOT/.env, by identity (a hard link or another name for it counts). */
static int is_dotenv(const struct store *s, const struct stat *st)
{
    char path[PATH_MAX];
    struct stat dst;

    if (s->cfg->dotenv != NULL && stat(s->cfg->dotenv, &dst) == 0 &&
        dst.st_dev == st->st_dev && dst.st_ino == st->st_ino)
        return 1;
    return fs_join(path, sizeof(path), s->cfg->root, ".env", NULL) == 0 &&
           stat(path, &dst) == 0 && dst.st_dev == st->st_dev && dst.st_ino == st->st_ino;
}

/* The current hash of a state-root file ("" when absent), reached without
 * following a symlink (rootfs). The preview and the apply of one restore hash
 * the same files: the second time comes from store_file_sha's memo when the
 * file has not changed. */
static int file_sha(struct store *s, const char *rel, char out[65], struct err *e)
{
    char path[PATH_MAX];
    struct stat st;
    int r;

    out[0] = '\0';
    if ((r = rootfs_lstat(s->cfg->root, rel, &st, e)) <= 0)
        return r;
    if (!S_ISREG(st.st_mode))
        return err_set(e, ERR_CONFLICT, "%s in the state root is not a regular file; "
                       "move it away first", rel);
    if (is_dotenv(s, &st))
        return err_set(e, ERR_VERIFY, "%.200s in the state root is the .env file (same inode); "
                       "restore never writes it", rel);
    if (fs_join(path, sizeof(path), s->cfg->root, rel, e) != 0)
        return -1;
    /* Read by name: the walk above proved no symlink leads there, and the
     * hash only feeds the plan, which the apply checks again. */
    return store_file_sha(path, &st, out, e);
}

static int selected(const struct restore_opts *o, const char *path)
{
    if (o->only == NULL)
        return 1;
    for (size_t i = 0; i < o->n_only; i++)
        if (strcmp(o->only[i], path) == 0)
            return 1;
    return 0;
}

static int add_step(struct plan *p, const char *path, struct err *e)
{
    struct step *nv = realloc(p->v, (p->n + 1) * sizeof(*nv));

    if (nv == NULL)
        return err_set(e, ERR_IO, "out of memory");
    p->v = nv;
    memset(&p->v[p->n], 0, sizeof(p->v[0]));
    if ((p->v[p->n].path = strdup(path)) == NULL)
        return err_set(e, ERR_IO, "out of memory");
    p->n++;
    return 0;
}

static int in_absent(const json_t *m, const char *path)
{
    const json_t *v;
    size_t i;

    json_array_foreach(json_object_get(m, "absent"), i, v)
        if (json_is_string(v) && strcmp(json_string_value(v), path) == 0)
            return 1;
    return 0;
}

static int64_t live_positions(const char *root)
{
    char path[PATH_MAX], *buf = NULL;
    size_t n;
    struct err e = { 0 };
    struct stat st;
    int64_t c;

    if (rootfs_lstat(root, POSITIONS, &st, &e) != 1 || !S_ISREG(st.st_mode) ||
        fs_join(path, sizeof(path), root, POSITIONS, &e) != 0 ||
        fs_read_file(path, RESTORE_POSITIONS_MAX, &buf, &n, &e) != 0)
        return -1;
    c = meta_positions_count(buf, n);
    free(buf);
    return c;
}

/* Open and structure-check the archive, and work out per file what would
 * happen. Reads the state root, writes nothing. */
static int plan_make(struct store *s, const struct restore_opts *o, struct plan *p, struct err *e)
{
    struct catalog_snapshot row;
    char path[PATH_MAX];
    const json_t *m, *files, *f, *pc;
    size_t i;
    int snap_has_ks = 0;

    memset(p, 0, sizeof(*p));
    if ((p->warnings = json_array()) == NULL)
        return err_set(e, ERR_IO, "out of memory");
    if (engine_name_check(o->name, e) != 0 || capture_check_root(s->cfg, e) != 0)
        return -1;
    if (catalog_snapshot_get(s->cat, o->name, 0, &row, e) != 0)
        return -1;
    snprintf(p->archive_sha, sizeof(p->archive_sha), "%s", row.archive_sha256);
    p->created_at = row.created_at;
    catalog_snapshot_clear(&row);
    if (store_archive_path(s, o->name, path, sizeof(path), e) != 0 ||
        archive_open(&p->a, path, e) != 0)
        return -1;
    m = archive_manifest(p->a);
    files = json_object_get(m, "files");
    pc = json_object_get(m, "positions_count");
    p->snap_positions = json_is_integer(pc) ? json_integer_value(pc) : -1;
    p->cur_positions = live_positions(s->cfg->root);
    for (i = 0; i < o->n_only; i++) {
        if (strcmp(o->only[i], MANIFEST_ENV_ENTRY) == 0 || strcmp(o->only[i], ".env") == 0)
            return err_set(e, ERR_INVALID, ".env is never restored");
        if (archive_file_entry(p->a, o->only[i]) == NULL && !in_absent(m, o->only[i]) &&
            !(strcmp(o->only[i], KILL_SWITCH) == 0))
            return err_set(e, ERR_INVALID, "%.200s is not in snapshot \"%s\"", o->only[i], o->name);
    }
    json_array_foreach(files, i, f) {
        const char *fp = json_string_value(json_object_get(f, "path"));
        struct step *st;
        if (strcmp(fp, KILL_SWITCH) == 0)
            snap_has_ks = 1;
        if (strcmp(fp, MANIFEST_ENV_ENTRY) == 0 || !selected(o, fp))
            continue;
        /* The archive does not decide what a restore writes: the store's
         * include set does, whatever the manifest says. */
        if (!capture_path_allowed(s->cfg, fp))
            return err_set(e, ERR_VERIFY, "snapshot \"%s\" holds %.200s, which this store's "
                           "include set does not allow; nothing restored", o->name, fp);
        if (add_step(p, fp, e) != 0)
            return -1;
        st = &p->v[p->n - 1];
        snprintf(st->want_sha, sizeof(st->want_sha), "%s",
                 json_string_value(json_object_get(f, "sha256")));
        if (file_sha(s, fp, st->cur_sha, e) != 0)
            return -1;
        st->action = st->cur_sha[0] == '\0' ? "create"
                     : strcmp(st->cur_sha, st->want_sha) == 0 ? "unchanged" : "overwrite";
    }
    /* A file the snapshot recorded as absent goes too: orders placed after
     * the snapshot must not sit beside its positions. The safety snapshot
     * keeps it. The kill switch has its own rule below; .env is never touched. */
    json_array_foreach(json_object_get(m, "absent"), i, f) {
        const char *ap = json_string_value(f);
        char cur[65];
        if (ap == NULL || !manifest_path_safe(ap) || strcmp(ap, KILL_SWITCH) == 0 ||
            strcmp(ap, ".env") == 0 || !selected(o, ap))
            continue;
        /* Only what the include set allows is ever deleted. A snapshot taken
         * with another include set may list files it never captured. */
        if (!capture_path_allowed(s->cfg, ap)) {
            char w[320];
            snprintf(w, sizeof(w), "%.200s is recorded as absent but is outside the include "
                     "set: left alone", ap);
            json_array_append_new(p->warnings, json_string(w));
            continue;
        }
        if (file_sha(s, ap, cur, e) != 0)
            return -1;
        if (cur[0] == '\0')
            continue;
        if (add_step(p, ap, e) != 0)
            return -1;
        snprintf(p->v[p->n - 1].cur_sha, sizeof(p->v[0].cur_sha), "%s", cur);
        p->v[p->n - 1].action = "delete";
    }
    if (!snap_has_ks && selected(o, KILL_SWITCH) && capture_path_allowed(s->cfg, KILL_SWITCH)) {
        char cur[65];
        if (file_sha(s, KILL_SWITCH, cur, e) != 0)
            return -1;
        if (cur[0] != '\0') {
            /* The kill switch was thrown after this snapshot: someone stopped
             * trading for a reason, and a restore must not quietly undo it. */
            if (add_step(p, KILL_SWITCH, e) != 0)
                return -1;
            struct step *st = &p->v[p->n - 1];
            snprintf(st->cur_sha, sizeof(st->cur_sha), "%s", cur);
            st->action = o->clear_kill_switch ? "delete" : "kept";
        }
    }
    return 0;
}

/* The confirm token binds the snapshot, the options and the state root's
 * current bytes: t.<expiry>.<hmac>. */
static int plan_token(struct store *s, const struct restore_opts *o, const struct plan *p,
                      int64_t expires, char *out, size_t len, struct err *e)
{
    unsigned char mac[32];
    unsigned int maclen = 0;
    char hex[65];
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned char digest[32];
    char head[128];

    if (md == NULL || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(md);
        return err_set(e, ERR_IO, "out of memory");
    }
    snprintf(head, sizeof(head), "restore-v1\n%lld\n%d\n", (long long)expires, o->clear_kill_switch);
    EVP_DigestUpdate(md, head, strlen(head));
    EVP_DigestUpdate(md, o->name, strlen(o->name) + 1);
    EVP_DigestUpdate(md, p->archive_sha, strlen(p->archive_sha) + 1);
    for (size_t i = 0; i < p->n; i++) {
        EVP_DigestUpdate(md, p->v[i].path, strlen(p->v[i].path) + 1);
        EVP_DigestUpdate(md, p->v[i].cur_sha, strlen(p->v[i].cur_sha) + 1);
        EVP_DigestUpdate(md, p->v[i].action, strlen(p->v[i].action) + 1);
    }
    EVP_DigestFinal_ex(md, digest, NULL);
    EVP_MD_CTX_free(md);
    if (store_secret(s, e) != 0)
        return -1;
    if (HMAC(EVP_sha256(), s->secret, sizeof(s->secret), digest, sizeof(digest), mac, &maclen) == NULL)
        return err_set(e, ERR_IO, "hmac failed");
    fs_hex(mac, 32, hex);
    if (snprintf(out, len, "t.%lld.%s", (long long)expires, hex) >= (int)len)
        return err_set(e, ERR_IO, "token buffer too small");
    return 0;
}

static json_t *plan_json(const struct restore_opts *o, const struct plan *p)
{
    char created[32];
    json_t *files = json_array(), *ks = json_null();

    for (size_t i = 0; i < p->n; i++) {
        json_array_append_new(files, json_pack("{s:s,s:s}", "path", p->v[i].path, "action",
                                               p->v[i].action));
        if (strcmp(p->v[i].path, KILL_SWITCH) == 0) {
            json_decref(ks);
            ks = json_string(strcmp(p->v[i].action, "kept") == 0 ? "kept"
                             : strcmp(p->v[i].action, "delete") == 0 ? "cleared" : "restored");
        }
    }
    engine_time_format(p->created_at, created, sizeof(created));
    return json_pack("{s:s,s:s,s:o,s:o,s:o,s:o,s:O}", "snapshot", o->name, "created_at", created,
                     "current_positions", p->cur_positions >= 0 ? json_integer(p->cur_positions)
                                                                 : json_null(),
                     "snapshot_positions", p->snap_positions >= 0
                                               ? json_integer(p->snap_positions) : json_null(),
                     "files", files, "kill_switch", ks, "warnings", p->warnings);
}

int engine_restore_preview(struct store *s, const struct restore_opts *o, json_t **preview,
                           struct err *e)
{
    struct plan p;
    char token[128], exp[32];
    json_t *errors = NULL;
    int64_t expires = engine_now() + ENGINE_CONFIRM_TOKEN_TTL;
    int rc = -1, bad;

    *preview = NULL;
    if (plan_make(s, o, &p, e) != 0)
        goto out;
    /* A preview promises the archive is good: check every byte now. */
    if ((errors = json_array()) == NULL)
        goto out;
    bad = o->skip_verify ? 0 : archive_check_all(p.a, errors, e);
    if (bad != 0) {
        if (bad > 0) {
            json_t *first = json_array_get(errors, 0);
            err_set(e, ERR_VERIFY, "snapshot \"%s\" failed verification: %s: %s", o->name,
                    json_string_value(json_object_get(first, "path")),
                    json_string_value(json_object_get(first, "problem")));
        }
        goto out;
    }
    if (plan_token(s, o, &p, expires, token, sizeof(token), e) != 0)
        goto out;
    if ((*preview = plan_json(o, &p)) == NULL) {
        err_set(e, ERR_IO, "out of memory");
        goto out;
    }
    engine_time_format(expires, exp, sizeof(exp));
    json_object_set_new(*preview, "confirm_token", json_string(token));
    json_object_set_new(*preview, "expires_at", json_string(exp));
    rc = 0;
out:
    json_decref(errors);
    plan_free(&p);
    return rc;
}

/* ---- the journal ---- */

static int journal_write(struct store *s, const char *phase, const struct restore_opts *o,
                         const struct plan *p, struct err *e)
{
    char path[PATH_MAX];
    json_t *j, *files = json_array();
    char *text;
    int rc;

    for (size_t i = 0; i < p->n; i++) {
        const struct step *st = &p->v[i];
        json_array_append_new(files, json_pack("{s:s,s:s,s:s,s:s,s:i}", "path", st->path,
                                               "action", st->action, "sha256", st->want_sha,
                                               "tmp", st->tmp, "mode", (int)st->mode));
    }
    j = json_pack("{s:i,s:s,s:s,s:s,s:o}", "format", 1, "phase", phase, "snapshot", o->name,
                  "root", s->cfg->root, "files", files);
    if (j == NULL || (text = json_dumps(j, JSON_COMPACT)) == NULL) {
        json_decref(j);
        return err_set(e, ERR_IO, "out of memory");
    }
    json_decref(j);
    if (fs_join(path, sizeof(path), s->work, STORE_JOURNAL_FILE, e) != 0) {
        free(text);
        return -1;
    }
    rc = fs_write_atomic(path, text, strlen(text), 0600, e);
    free(text);
    return rc;
}

static int journal_remove(struct store *s, struct err *e)
{
    char path[PATH_MAX];

    if (fs_join(path, sizeof(path), s->work, STORE_JOURNAL_FILE, e) != 0)
        return -1;
    if (unlink(path) != 0 && errno != ENOENT)
        return err_sys(e, errno, "remove %s", path);
    return fs_fsync_dir(s->work, e);
}

struct fd_sink {
    int fd;
    const char *rel;
};

static int fd_sink_write(void *ctx, const void *buf, size_t n, struct err *e)
{
    struct fd_sink *fs = ctx;

    if (fs_write_all(fs->fd, buf, n) != 0)
        return err_sys(e, errno, "write %s", fs->rel);
    return 0;
}

/* Name the temp file for rel below root: beside its target, marked, random. */
static int tmp_name_in(const char *root, const char *rel, char *tmp, size_t tmplen,
                       struct err *e)
{
    char target[PATH_MAX], rnd[17];

    if (fs_join(target, sizeof(target), root, rel, e) != 0 ||
        store_random_hex(rnd, 8, e) != 0)
        return -1;
    if (snprintf(tmp, tmplen, "%s" CAPTURE_TMP_MARK ".%s", target, rnd) >= (int)tmplen)
        return err_set(e, ERR_INVALID, "path too long: %.200s", rel);
    return 0;
}

/* The last component of a temp path (it lives beside its target). */
static const char *tmp_base(const char *tmp)
{
    const char *slash = strrchr(tmp, '/');

    return slash ? slash + 1 : tmp;
}

/* Extract rel from the archive into the temp file tmp (named by tmp_name)
 * in rel's directory below root, checking its hash on the way; fsync it.
 * The directory is reached (and made) through rootfs, and the temp is
 * created relative to that verified directory fd, so no symlink in the
 * root can send the bytes elsewhere. */
static int extract_tmp(const char *root, struct archive *a, const char *rel, mode_t mode,
                       const char *tmp, struct err *e)
{
    struct fd_sink sink;
    const char *base, *tb = tmp_base(tmp);
    int dfd, fd;

    if ((dfd = rootfs_open_parent(root, rel, 1, &base, e)) < 0)
        return -1;
    fd = openat(dfd, tb, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode ? mode : 0644);
    if (fd < 0) {
        err_sys(e, errno, "create %s", tmp);
        close(dfd);
        return -1;
    }
    sink.fd = fd;
    sink.rel = rel;
    if (archive_stream(a, rel, fd_sink_write, &sink, e) != 0 || fsync(fd) != 0) {
        if (e->code == ERR_NONE)
            err_sys(e, errno, "sync %s", tmp);
        close(fd);
        unlinkat(dfd, tb, 0);
        close(dfd);
        return -1;
    }
    if (close(fd) != 0) {
        err_sys(e, errno, "close %s", tmp);
        unlinkat(dfd, tb, 0);
        close(dfd);
        return -1;
    }
    close(dfd);
    return 0;
}

static mode_t entry_mode(const struct plan *p, const char *rel)
{
    (void)p;
    (void)rel;
    /* State files are data, never executables: 0644 whatever the archive says. */
    return 0644;
}

/* Delete rel, or rename temp tmp onto it, in rel's directory below root
 * reached through rootfs: renameat/unlinkat relative to that verified
 * directory fd, then fsync it. */
static int swap_in(const char *root, const char *rel, const char *tmp, struct err *e)
{
    const char *base;
    int dfd, rc = 0;

    if ((dfd = rootfs_open_parent(root, rel, 0, &base, e)) < 0) {
        /* Nothing to delete where there is no directory. */
        if (tmp == NULL && e != NULL && e->code == ERR_NOT_FOUND) {
            err_clear(e);
            return 0;
        }
        return -1;
    }
    if (tmp == NULL) {
        if (unlinkat(dfd, base, 0) != 0 && errno != ENOENT)
            rc = err_sys(e, errno, "remove %s", rel);
    } else if (renameat(dfd, tmp_base(tmp), dfd, base) != 0) {
        rc = err_sys(e, errno, "rename onto %s", rel);
    }
    if (rc == 0 && fsync(dfd) != 0 && errno != EINVAL)
        rc = err_sys(e, errno, "fsync the directory of %s", rel);
    close(dfd);
    return rc;
}

/* Swap one prepared file into place (or delete the kill switch). */
static int commit_step(struct store *s, const struct step *st, struct err *e)
{
    if (strcmp(st->action, "delete") == 0)
        return swap_in(s->cfg->root, st->path, NULL, e);
    if (st->tmp[0] == '\0')
        return 0;
    return swap_in(s->cfg->root, st->path, st->tmp, e);
}

/* Remove the temp of rel, if any, from rel's directory (through rootfs). */
static void remove_tmp(const char *root, const char *rel, const char *tmp)
{
    const char *base;
    int dfd = rootfs_open_parent(root, rel, 0, &base, NULL);

    if (dfd < 0)
        return;
    unlinkat(dfd, tmp_base(tmp), 0);
    close(dfd);
}

static void remove_tmps(struct store *s, struct plan *p)
{
    for (size_t i = 0; i < p->n; i++)
        if (p->v[i].tmp[0] != '\0')
            remove_tmp(s->cfg->root, p->v[i].path, p->v[i].tmp);
}

/* Phase 1's work: every file to its temp (hashed on the way), then the
 * rest of the archive checked. */
static int prepare_files(struct store *s, struct plan *p, const char *snap, struct err *e)
{
    json_t *errors;
    int bad;

    for (size_t i = 0; i < p->n; i++) {
        struct step *st = &p->v[i];
        if (st->tmp[0] == '\0')
            continue;
        if (extract_tmp(s->cfg->root, p->a, st->path, st->mode, st->tmp, e) != 0)
            return -1;
        FAILPOINT("restore.after_extract");
    }
    if ((errors = json_array()) == NULL)
        return err_set(e, ERR_IO, "out of memory");
    bad = archive_check_all(p->a, errors, e);
    if (bad > 0) {
        json_t *first = json_array_get(errors, 0);
        err_set(e, ERR_VERIFY, "snapshot \"%s\" failed verification, nothing restored: %s: %s",
                snap, json_string_value(json_object_get(first, "path")),
                json_string_value(json_object_get(first, "problem")));
    }
    json_decref(errors);
    return bad == 0 ? 0 : -1;
}

/* Phase 1 on a thread of its own while the safety snapshot is written: the
 * two only read the state root and write temp files (the plan's archive is
 * this thread's alone), and the snapshot joins the store only after
 * prepare_wait() says every file checked out. */
struct prepare_job {
    struct store *s;
    struct plan *p;
    const char *snap;
    struct err e;
    int rc;
    int running;
    pthread_t th;
};

static void *prepare_main(void *arg)
{
    struct prepare_job *j = arg;

    j->rc = prepare_files(j->s, j->p, j->snap, &j->e);
    return NULL;
}

/* The create gate: wait for phase 1; its error if it failed. */
static int prepare_wait(void *ctx, struct err *e)
{
    struct prepare_job *j = ctx;

    if (j->running) {
        pthread_join(j->th, NULL);
        j->running = 0;
    }
    if (j->rc != 0) {
        *e = j->e;
        return -1;
    }
    return 0;
}

static int safety_snapshot(struct store *s, char *name, size_t len, struct prepare_job *job,
                           struct err *e)
{
    char stamp[32];
    time_t t = (time_t)engine_now();
    struct tm tm;
    json_t *snap = NULL, *labels;
    struct create_opts co;
    int rc = -1;

    gmtime_r(&t, &tm);
    strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
    labels = json_pack("{s:s}", "reason", "pre-restore");
    for (int i = 1; i < 100; i++) {
        struct err ce = { 0 };
        if (i == 1)
            snprintf(name, len, "pre_restore_%s", stamp);
        else
            snprintf(name, len, "pre_restore_%s_%d", stamp, i);
        memset(&co, 0, sizeof(co));
        co.name = name;
        co.labels = labels;
        co.pin = 1;
        co.reason = "pre-restore";
        /* Taken while an operator waits to restore: by default stored, not
         * deflated, so the safety net does not slow the restore down. */
        co.compression_level = s->cfg->safety_compression_level > 0
                                   ? s->cfg->safety_compression_level : CREATE_LEVEL_STORED;
        co.pin_seconds = s->cfg->safety_pin_seconds > 0 ? s->cfg->safety_pin_seconds
                                                        : ENGINE_SAFETY_PIN_SECONDS;
        co.gate = prepare_wait;
        co.gate_ctx = job;
        if (engine_create(s, &co, &snap, &ce) == 0) {
            rc = 0;
            break;
        }
        /* The files failed their check: that is the restore's error. */
        if (prepare_wait(job, e) != 0)
            break;
        if (ce.code != ERR_CONFLICT) {
            err_set(e, ce.code, "safety snapshot failed, nothing restored: %s", ce.msg);
            break;
        }
    }
    if (rc != 0 && e->code == ERR_NONE)
        err_set(e, ERR_CONFLICT, "no free name for the safety snapshot");
    json_decref(snap);
    json_decref(labels);
    return rc;
}

int engine_restore_apply(struct store *s, const struct restore_opts *o, const char *token,
                         json_t **report, struct err *e)
{
    struct plan p;
    char want[128], safety[ENGINE_NAME_MAX + 1];
    long long expires;
    char *end;
    json_t *files;
    struct prepare_job job;
    struct err ignored = { 0 };
    int rc = -1, journaled = 0;

    *report = NULL;
    memset(&p, 0, sizeof(p));
    memset(&job, 0, sizeof(job));
    if (token == NULL || *token == '\0')
        return err_set(e, ERR_INVALID, "a confirm token from a restore preview is required");
    if (strncmp(token, "t.", 2) != 0)
        return err_set(e, ERR_INVALID, "that is not a confirm token from a restore preview");
    errno = 0;
    expires = strtoll(token + 2, &end, 10);
    if (errno != 0 || end == token + 2 || *end != '.')
        return err_set(e, ERR_INVALID, "malformed confirm token");
    if (store_lock(s, e) != 0)
        return -1;
    if (plan_make(s, o, &p, e) != 0)
        goto out;
    if (plan_token(s, o, &p, expires, want, sizeof(want), e) != 0)
        goto out;
    if (strlen(want) != strlen(token) || CRYPTO_memcmp(want, token, strlen(want)) != 0) {
        err_set(e, ERR_CONFLICT, "the state root or the options changed since the preview; "
                "preview again");
        goto out;
    }
    if (expires < engine_now()) {
        err_set(e, ERR_CONFLICT, "the confirm token has expired; preview again");
        goto out;
    }
    /* Phase 1 (prepare): every file to a temp beside its target, hashed on
     * the way; the rest of the archive checked too. Nothing is swapped, so
     * a crash or a bad byte here leaves the state root as it was. The temp
     * names are in the journal before any of them exists. */
    for (size_t i = 0; i < p.n; i++) {
        struct step *st = &p.v[i];
        if (strcmp(st->action, "create") != 0 && strcmp(st->action, "overwrite") != 0)
            continue;
        st->mode = entry_mode(&p, st->path);
        if (tmp_name_in(s->cfg->root, st->path, st->tmp, sizeof(st->tmp), e) != 0)
            goto out;
    }
    if (journal_write(s, "prepare", o, &p, e) != 0)
        goto out;
    journaled = 1;
    job.s = s;
    job.p = &p;
    job.snap = o->name;
    if (pthread_create(&job.th, NULL, prepare_main, &job) == 0) {
        job.running = 1;
    } else {
        /* No thread: do it here, then the snapshot. */
        job.rc = prepare_files(s, &p, o->name, &job.e);
    }
    int safe = safety_snapshot(s, safety, sizeof(safety), &job, e);
    /* Joined by the gate unless the create stopped before it. */
    if (prepare_wait(&job, &ignored) != 0 || safe != 0) {
        if (job.rc != 0)
            *e = job.e;
        goto fail;
    }
    FAILPOINT("restore.after_safety");
    /* Phase 2 (commit): from here on the restore completes, now or at the
     * next start. */
    if (journal_write(s, "commit", o, &p, e) != 0)
        goto fail;
    FAILPOINT("restore.after_commit_journal");
    files = json_array();
    for (size_t i = 0; i < p.n; i++) {
        const struct step *st = &p.v[i];
        if (commit_step(s, st, e) != 0) {
            json_decref(files);
            /* The journal stays: the next command rolls forward. */
            journaled = 0;
            goto out;
        }
        FAILPOINT("restore.after_rename");
        json_array_append_new(files, json_pack("{s:s,s:s,s:s}", "path", st->path, "action",
                                               st->action, "result", "OK"));
    }
    if (journal_remove(s, e) != 0) {
        json_decref(files);
        journaled = 0;
        goto out;
    }
    journaled = 0;
    *report = json_pack("{s:s,s:s,s:o,s:o,s:s}", "snapshot", o->name, "safety_snapshot", safety,
                        "files", files, "kill_switch", json_null(), "next_step", RESTORE_NEXT_STEP);
    for (size_t i = 0; i < p.n && *report; i++)
        if (strcmp(p.v[i].path, KILL_SWITCH) == 0)
            json_object_set_new(*report, "kill_switch",
                                json_string(strcmp(p.v[i].action, "kept") == 0 ? "kept"
                                            : strcmp(p.v[i].action, "delete") == 0 ? "cleared"
                                            : "restored"));
    rc = *report ? 0 : err_set(e, ERR_IO, "out of memory");
    if (rc == 0) {
        json_t *ad = json_pack("{s:s,s:O,s:O}", "safety_snapshot", safety, "files", files,
                               "kill_switch", json_object_get(*report, "kill_switch"));
        audit_append(s, "restore", o->name, "ok", ad, NULL);
        json_decref(ad);
    }
    goto out;
fail:
    remove_tmps(s, &p);
out:
    if (journaled)
        journal_remove(s, NULL);
    /* A refused restore is worth a line (a bad archive, a stale token); bad
     * input is not, and changes nothing. */
    if (rc != 0 && e->code != ERR_LOCKED && e->code != ERR_INVALID && e->code != ERR_NOT_FOUND) {
        json_t *ad = json_pack("{s:s}", "error", e->msg);
        audit_append(s, "restore", o->name, "error", ad, NULL);
        json_decref(ad);
    }
    plan_free(&p);
    store_unlock(s);
    return rc;
}

/* ---- recovery ---- */

/* The temp tmp (from a journal) when it is exactly what tmp_name makes for
 * rel below root: ROOT/REL.statesnap-tmp.<hex>. Anything else in a journal
 * is not ours to touch. */
static int tmp_is_ours(const char *root, const char *rel, const char *tmp)
{
    char target[PATH_MAX];
    size_t tl, ml = strlen(CAPTURE_TMP_MARK);

    if (tmp == NULL || fs_join(target, sizeof(target), root, rel, NULL) != 0)
        return 0;
    tl = strlen(target);
    if (strncmp(tmp, target, tl) != 0 || strncmp(tmp + tl, CAPTURE_TMP_MARK, ml) != 0 ||
        tmp[tl + ml] != '.' || tmp[tl + ml + 1] == '\0')
        return 0;
    for (const char *c = tmp + tl + ml + 1; *c; c++)
        if (!((*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'f')))
            return 0;
    return 1;
}

/* SHA-256 of regular file name in directory dfd, not following a symlink.
 * 1 when hashed, 0 when it is not there (or not a regular file), -1. */
static int sha_at(int dfd, const char *name, char hex[65], struct err *e)
{
    unsigned char buf[64 * 1024], digest[32];
    EVP_MD_CTX *md;
    struct stat st;
    ssize_t r;
    int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);

    if (fd < 0)
        return errno == ENOENT || errno == ELOOP ? 0 : err_sys(e, errno, "open %s", name);
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return 0;
    }
    if ((md = EVP_MD_CTX_new()) == NULL || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(md);
        close(fd);
        return err_set(e, ERR_IO, "out of memory");
    }
    while ((r = fs_read_some(fd, buf, sizeof(buf))) > 0)
        EVP_DigestUpdate(md, buf, (size_t)r);
    close(fd);
    if (r < 0) {
        EVP_MD_CTX_free(md);
        return err_sys(e, errno, "read %s", name);
    }
    EVP_DigestFinal_ex(md, digest, NULL);
    EVP_MD_CTX_free(md);
    fs_hex(digest, sizeof(digest), hex);
    return 1;
}

/* Bring one journaled create/overwrite to its snapshot version: the temp
 * when it holds the right bytes, else the target when it already does, else
 * extracted again from the archive (*a opened on first need). Every file is
 * reached through rootfs, relative to the verified directory fd. */
static int recover_file(struct store *s, const char *root, const char *name, const char *rel,
                        const char *want, const char *tmp, struct archive **a, struct err *e)
{
    char arch[PATH_MAX], ntmp[PATH_MAX], cur[65];
    const char *base;
    struct err he = { 0 };
    int dfd, rc = -1;

    if ((dfd = rootfs_open_parent(root, rel, 1, &base, e)) < 0)
        return -1;
    /* A temp file is trusted only with the right bytes: a crash during an
     * earlier recovery may have left it half-written. */
    if (tmp_is_ours(root, rel, tmp)) {
        if (want && sha_at(dfd, tmp_base(tmp), cur, &he) == 1 && strcmp(cur, want) == 0) {
            if (renameat(dfd, tmp_base(tmp), dfd, base) != 0)
                goto out_sys;
            goto done;
        }
        unlinkat(dfd, tmp_base(tmp), 0);
    }
    if (want && sha_at(dfd, base, cur, &he) == 1 && strcmp(cur, want) == 0)
        goto done;
    /* Neither the temp nor the right bytes: extract again from the archive. */
    if (*a == NULL && (store_archive_path(s, name, arch, sizeof(arch), e) != 0 ||
                       archive_open(a, arch, e) != 0))
        goto out;
    if (tmp_is_ours(root, rel, tmp) && strlen(tmp) < sizeof(ntmp))
        snprintf(ntmp, sizeof(ntmp), "%s", tmp);
    else if (tmp_name_in(root, rel, ntmp, sizeof(ntmp), e) != 0)
        goto out;
    if (extract_tmp(root, *a, rel, 0644, ntmp, e) != 0)
        goto out;
    if (renameat(dfd, tmp_base(ntmp), dfd, base) != 0) {
        unlinkat(dfd, tmp_base(ntmp), 0);
        goto out_sys;
    }
done:
    fsync(dfd);
    rc = 0;
    goto out;
out_sys:
    err_sys(e, errno, "finishing the interrupted restore of \"%s\": %.200s", name, rel);
out:
    close(dfd);
    return rc;
}

int restore_recover(struct store *s, const char *path, struct err *e)
{
    char *text = NULL;
    size_t len;
    json_t *j = NULL, *files, *f;
    const char *phase, *name, *root;
    struct archive *a = NULL;
    size_t i;
    int rc = -1;

    if (fs_read_file(path, 64u << 20, &text, &len, e) != 0)
        return -1;
    j = json_loadb(text, len, 0, NULL);
    free(text);
    phase = json_string_value(json_object_get(j, "phase"));
    name = json_string_value(json_object_get(j, "snapshot"));
    root = json_string_value(json_object_get(j, "root"));
    files = json_object_get(j, "files");
    if (phase == NULL || name == NULL || root == NULL || !json_is_array(files) ||
        engine_name_check(name, NULL) != 0) {
        /* Written atomically, so unreadable means someone else's bytes: keep it for a human. */
        err_set(e, ERR_IO, "restore journal %s is unreadable; inspect it and remove it by hand", path);
        goto out;
    }
    if (strcmp(phase, "prepare") == 0) {
        json_array_foreach(files, i, f) {
            const char *rel = json_string_value(json_object_get(f, "path"));
            const char *tmp = json_string_value(json_object_get(f, "tmp"));
            if (rel != NULL && manifest_path_safe(rel) && tmp_is_ours(root, rel, tmp))
                remove_tmp(root, rel, tmp);
        }
        rc = unlink(path) == 0 || errno == ENOENT ? fs_fsync_dir(s->work, e)
                                                  : err_sys(e, errno, "remove %s", path);
        goto out;
    }
    /* commit: bring every file to its snapshot version. */
    json_array_foreach(files, i, f) {
        const char *rel = json_string_value(json_object_get(f, "path"));
        const char *action = json_string_value(json_object_get(f, "action"));
        const char *want = json_string_value(json_object_get(f, "sha256"));
        const char *tmp = json_string_value(json_object_get(f, "tmp"));
        /* The same rule as the restore itself: nothing outside the include set. */
        if (rel == NULL || action == NULL || !manifest_path_safe(rel) ||
            !capture_path_allowed(s->cfg, rel))
            continue;
        if (strcmp(action, "delete") == 0) {
            if (swap_in(root, rel, NULL, e) != 0)
                goto out;
            continue;
        }
        if (strcmp(action, "create") != 0 && strcmp(action, "overwrite") != 0)
            continue;
        if (recover_file(s, root, name, rel, want, tmp, &a, e) != 0)
            goto out;
    }
    if (unlink(path) != 0 && errno != ENOENT) {
        err_sys(e, errno, "finishing the interrupted restore of \"%s\"", name);
        goto out;
    }
    rc = fs_fsync_dir(s->work, e);
out:
    archive_close(a);
    json_decref(j);
    return rc;
}
