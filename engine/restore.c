/* restore.c - preview and apply a restore: verified, journaled, crash-safe. */
#include "restore.h"

#include <dirent.h>
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
#include "create.h"
#include "../common/failpoint.h"
#include "../common/fsutil.h"
#include "manifest.h"
#include "meta.h"
#include "op.h"
#include "ops.h"
#include "prune.h"
#include "hooks.h"
#include "rootfs.h"
#include "writer.h"

#define KILL_SWITCH "state/KILL_SWITCH"
#define POSITIONS "state/positions.json"
#define RESTORE_POSITIONS_MAX (16u << 20)
#define RESTORE_NEXT_STEP "Run /preflight to verify system state."
#define RESTORE_TOKEN_MAX 200
#define RESTORE_SETTLE_MAX_MS 500     /* after the swap, targets are looked at again this late */

/* One file of the plan. */
struct step {
    char *path;
    const char *action;     /* create, overwrite, unchanged, kept, delete */
    char cur_sha[65];       /* "" when absent now */
    char want_sha[65];      /* "" for kept/delete */
    mode_t mode;
    char tmp[PATH_MAX];
    const char *special;    /* the target is a symlink, fifo, ... (not a file): its kind */
};

struct plan {
    struct step *v;
    size_t n;
    struct archive *a;
    json_t *warnings;
    json_t *specials;       /* [{path, kind, remedy}] of targets that are not files */
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
    json_decref(p->specials);
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
static const char *special_kind(mode_t m)
{
    return S_ISLNK(m) ? "symlink" : S_ISFIFO(m) ? "fifo" : S_ISSOCK(m) ? "socket"
           : S_ISDIR(m) ? "directory" : S_ISREG(m) ? NULL : "device";
}

static int file_sha(struct store *s, const char *rel, char out[65], const char **special,
                    struct err *e)
{
    char path[PATH_MAX];
    struct stat st;
    int r;

    out[0] = '\0';
    *special = NULL;
    /* A restore elsewhere plans against a target that may not exist yet. */
    if (access(s->cfg->root, F_OK) != 0 && errno == ENOENT)
        return 0;
    if ((r = rootfs_lstat(s->cfg->root, rel, &st, e)) <= 0)
        return r;
    if ((*special = special_kind(st.st_mode)) != NULL) {
        /* Not a file: named in the plan, replaced only when asked. The
         * token still binds it (its kind and inode). */
        snprintf(out, 65, "%.16s:%llx", *special, (unsigned long long)st.st_ino);
        return 0;
    }
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
/* A target that is not a regular file: the plan names it with the remedy.
 * A non-empty directory is never replaced, even when asked. */
static int note_special(const struct restore_opts *o, struct plan *p, const char *path,
                        const char *kind, struct err *e)
{
    char remedy[400];

    if (strcmp(kind, "directory") == 0)
        snprintf(remedy, sizeof(remedy), "%.200s is a directory where the snapshot has a file: "
                 "move it away (--replace-special replaces an empty one)", path);
    else
        snprintf(remedy, sizeof(remedy), "%.200s is a %s, not a file: move it away, or pass "
                 "--replace-special (API: \"replace_special\": true) to replace it", path, kind);
    if (json_array_append_new(p->specials, json_pack("{s:s,s:s,s:s,s:b}", "path", path, "kind",
                                                     kind, "remedy", remedy, "replaced",
                                                     o->replace_special)) != 0 ||
        json_array_append_new(p->warnings, json_string(remedy)) != 0)
        return err_set(e, ERR_IO, "out of memory");
    return 0;
}

static int plan_make(struct store *s, const struct restore_opts *o, struct plan *p, struct err *e)
{
    struct catalog_snapshot row;
    char path[PATH_MAX];
    const json_t *m, *files, *f, *pc;
    size_t i;
    int snap_has_ks = 0;

    memset(p, 0, sizeof(*p));
    if ((p->warnings = json_array()) == NULL || (p->specials = json_array()) == NULL)
        return err_set(e, ERR_IO, "out of memory");
    if (engine_name_check(o->name, e) != 0 ||
        (o->target == NULL && capture_check_root(s->cfg, e) != 0))
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
        if (file_sha(s, fp, st->cur_sha, &st->special, e) != 0)
            return -1;
        st->action = st->cur_sha[0] == '\0' ? "create"
                     : strcmp(st->cur_sha, st->want_sha) == 0 ? "unchanged" : "overwrite";
        if (st->special != NULL && note_special(o, p, fp, st->special, e) != 0)
            return -1;
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
        const char *special;
        if (file_sha(s, ap, cur, &special, e) != 0)
            return -1;
        if (cur[0] == '\0')
            continue;
        if (add_step(p, ap, e) != 0)
            return -1;
        snprintf(p->v[p->n - 1].cur_sha, sizeof(p->v[0].cur_sha), "%s", cur);
        p->v[p->n - 1].action = "delete";
        p->v[p->n - 1].special = special;
        if (special != NULL && note_special(o, p, ap, special, e) != 0)
            return -1;
    }
    if (!snap_has_ks && selected(o, KILL_SWITCH) && capture_path_allowed(s->cfg, KILL_SWITCH)) {
        char cur[65];
        const char *special;
        if (file_sha(s, KILL_SWITCH, cur, &special, e) != 0)
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
 * current bytes: t.<expiry>.<hmac>.<shape hmac>. The second MAC leaves the
 * current bytes out: after a pre_restore hook stopped the bot (which may
 * write on its way down), the same plan is still what the operator confirmed. */
static int plan_mac(struct store *s, const struct restore_opts *o, const struct plan *p,
                    int64_t expires, int with_bytes, char hex[65], struct err *e)
{
    unsigned char mac[32];
    unsigned int maclen = 0;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned char digest[32];
    char head[4300];

    if (md == NULL || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(md);
        return err_set(e, ERR_IO, "out of memory");
    }
    snprintf(head, sizeof(head), "restore-v2\n%lld\n%d\n%d\n%d\n%d\n%s\n", (long long)expires,
             o->clear_kill_switch, o->replace_special, o->engage_kill_switch, with_bytes,
             o->target ? o->target : "");
    EVP_DigestUpdate(md, head, strlen(head));
    EVP_DigestUpdate(md, o->name, strlen(o->name) + 1);
    EVP_DigestUpdate(md, p->archive_sha, strlen(p->archive_sha) + 1);
    for (size_t i = 0; i < p->n; i++) {
        EVP_DigestUpdate(md, p->v[i].path, strlen(p->v[i].path) + 1);
        if (with_bytes)
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
    return 0;
}

static int plan_token(struct store *s, const struct restore_opts *o, const struct plan *p,
                      int64_t expires, char *out, size_t len, struct err *e)
{
    char full[65], shape[65];

    if (plan_mac(s, o, p, expires, 1, full, e) != 0 || plan_mac(s, o, p, expires, 0, shape, e) != 0)
        return -1;
    if (snprintf(out, len, "t.%lld.%s.%s", (long long)expires, full, shape) >= (int)len)
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
    return json_pack("{s:s,s:s,s:o,s:o,s:o,s:o,s:O,s:O,s:o}", "snapshot", o->name, "created_at",
                     created,
                     "current_positions", p->cur_positions >= 0 ? json_integer(p->cur_positions)
                                                                 : json_null(),
                     "snapshot_positions", p->snap_positions >= 0
                                               ? json_integer(p->snap_positions) : json_null(),
                     "files", files, "kill_switch", ks, "warnings", p->warnings,
                     "special", p->specials,
                     "target", o->target ? json_string(o->target) : json_null());
    /* (the preview names the target as given; the report names the directory) */
}

/* The store sees target as its state root (and no dotenv) between begin
 * and end: every path rule, the journal and its recovery then work on target. */
struct retarget {
    const struct engine_config *saved;
    struct engine_config cfg;
};

static void retarget_begin(struct store *s, struct retarget *rt, const char *target)
{
    rt->saved = s->cfg;
    rt->cfg = *s->cfg;
    rt->cfg.root = target;
    rt->cfg.dotenv = NULL;
    s->cfg = &rt->cfg;
}

static void retarget_end(struct store *s, struct retarget *rt)
{
    if (rt->saved != NULL)
        s->cfg = rt->saved;
}

static int target_empty_or_absent(const char *target, struct err *e);

/* The directory a restore elsewhere writes: a path as given (the CLI), or a
 * bare name under cfg->restore_targets_dir (the API: a client never names a
 * server path). NULL with e when it cannot be. */
static const char *target_path(struct store *s, const char *target, char *buf, size_t len,
                               struct err *e)
{
    if (strchr(target, '/') != NULL)
        return target;
    if (s->cfg->restore_targets_dir == NULL) {
        err_set(e, ERR_INVALID, "restore elsewhere by name needs \"restore_targets_dir\" in the "
                "config (or give a path)");
        return NULL;
    }
    if (engine_name_check(target, NULL) != 0) {
        err_set(e, ERR_INVALID, "a restore target name is [A-Za-z0-9][A-Za-z0-9._-]{0,63}");
        return NULL;
    }
    if (fs_join(buf, len, s->cfg->restore_targets_dir, target, e) != 0)
        return NULL;
    return buf;
}

int engine_restore_preview(struct store *s, const struct restore_opts *o, json_t **preview,
                           struct err *e)
{
    struct plan p;
    char token[RESTORE_TOKEN_MAX], exp[32];
    json_t *errors = NULL;
    int64_t expires = engine_now() + ENGINE_CONFIRM_TOKEN_TTL;
    int rc = -1, bad;

    *preview = NULL;
    memset(&p, 0, sizeof(p));
    struct retarget rt = { 0 };
    struct op op;
    char tbuf[PATH_MAX];
    const char *tdir = NULL;
    (void)op_begin(s, OP_READ, &op, e);   /* writes nothing: no lock, as ever */
    if (o->target != NULL) {
        if ((tdir = target_path(s, o->target, tbuf, sizeof(tbuf), e)) == NULL ||
            target_empty_or_absent(tdir, e) != 0)
            return -1;
        retarget_begin(s, &rt, tdir);
    }
    if (plan_make(s, o, &p, e) != 0)
        goto out;
    if (o->target == NULL && !o->while_running) {
        char what[600];
        struct err be = { 0 };
        if (writer_bot_running(s->cfg, what, sizeof(what), &be) > 0) {
            char w[700];
            snprintf(w, sizeof(w), "the bot is running (%s): the restore will be refused until "
                     "it stops (or with --while-running)", what);
            json_array_append_new(p.warnings, json_string(w));
        }
    }
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
    retarget_end(s, &rt);
    json_decref(errors);
    plan_free(&p);
    op_end(&op);
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
        /* The locked part of a create: the lock is ours already. */
        if (create_check(s, &co, &ce) == 0 && create_write(s, &co, &snap, &ce) == 0) {
            if (s->cfg->prune_after_create)
                prune_after_create(s, snap);
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

/* ---- coordination with the bot: hooks, writer detection, identities ---- */

/* Run a restore hook with the operation's environment; its result joins hooks. */
static int restore_hook(struct store *s, const struct hook_spec *h, const char *what,
                        const struct restore_opts *o, const char *safety, const char *result,
                        json_t *hooks, struct err *e)
{
    char v_name[128], v_root[4200], v_store[4200], v_safety[128], v_result[64];
    const char *env[8];
    json_t *res = NULL;
    int n = 0, rc;

    snprintf(v_name, sizeof(v_name), "STATESNAP_SNAPSHOT=%s", o->name);
    snprintf(v_root, sizeof(v_root), "STATESNAP_ROOT=%s", s->cfg->root);
    snprintf(v_store, sizeof(v_store), "STATESNAP_STORE=%s", s->dir);
    env[n++] = "STATESNAP_OP=restore";
    env[n++] = v_name;
    env[n++] = v_root;
    env[n++] = v_store;
    if (safety != NULL && safety[0]) {
        snprintf(v_safety, sizeof(v_safety), "STATESNAP_SAFETY_SNAPSHOT=%s", safety);
        env[n++] = v_safety;
    }
    if (result != NULL) {
        snprintf(v_result, sizeof(v_result), "STATESNAP_RESULT=%s", result);
        env[n++] = v_result;
    }
    env[n] = NULL;
    rc = hook_run(h, what, env, &res, e);
    if (res != NULL) {
        json_object_set_new(res, "optional", json_boolean(h->optional));
        json_array_append_new(hooks, res);
    }
    return rc;
}

/* The paths a restore looks at: every step's target. */
static char **plan_paths(const struct plan *p)
{
    char **v = calloc(p->n + 1, sizeof(*v));

    for (size_t i = 0; v && i < p->n; i++)
        v[i] = p->v[i].path;
    return v;
}

/* Leave state/KILL_SWITCH engaged: written (no symlink followed) unless the
 * plan restores or keeps one. */
static int engage_kill_switch(struct store *s, const struct plan *p, const char *snap,
                              struct err *e)
{
    char text[200], when[32];
    const char *base;
    int dfd, fd;

    for (size_t i = 0; i < p->n; i++)
        if (strcmp(p->v[i].path, KILL_SWITCH) == 0 && strcmp(p->v[i].action, "delete") != 0)
            return 0;
    engine_time_format(engine_now(), when, sizeof(when));
    snprintf(text, sizeof(text), "engaged by statesnap after restoring %s at %s: clear it once "
             "the bot's preflight has reconciled with the exchange\n", snap, when);
    if ((dfd = rootfs_open_parent(s->cfg->root, KILL_SWITCH, 1, &base, e)) < 0)
        return -1;
    fd = openat(dfd, base, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0 || fs_write_all(fd, text, strlen(text)) != 0 || fsync(fd) != 0) {
        err_sys(e, errno, "engage %s", KILL_SWITCH);
        if (fd >= 0)
            close(fd);
        close(dfd);
        return -1;
    }
    close(fd);
    if (fsync(dfd) != 0 && errno != EINVAL) {
        err_sys(e, errno, "fsync the directory of %s", KILL_SWITCH);
        close(dfd);
        return -1;
    }
    close(dfd);
    return 0;
}

/* --target is absent, or an empty directory. */
static int target_empty_or_absent(const char *target, struct err *e)
{
    struct stat st;
    DIR *d;
    struct dirent *de;
    int empty = 1;

    if (target == NULL || target[0] == '\0')
        return err_set(e, ERR_INVALID, "--target needs a directory");
    if (lstat(target, &st) != 0)
        return errno == ENOENT ? 0 : err_sys(e, errno, "--target %s", target);
    if (!S_ISDIR(st.st_mode))
        return err_set(e, ERR_INVALID, "--target %.200s is not a directory", target);
    if ((d = opendir(target)) == NULL)
        return err_sys(e, errno, "--target %s", target);
    while ((de = readdir(d)) != NULL && empty)
        empty = strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0;
    closedir(d);
    if (!empty)
        return err_set(e, ERR_CONFLICT, "--target %.200s is not empty: restore elsewhere writes "
                       "into a new or empty directory only", target);
    return 0;
}

/* 1 if path is dir or below it (both real paths). */
static int below(const char *path, const char *dir)
{
    size_t n = strlen(dir);

    return strncmp(path, dir, n) == 0 && (path[n] == '\0' || path[n] == '/' || n == 1);
}

/* A target directory for restore elsewhere: new (made 0700, in a directory
 * that exists) or empty, and neither the state root, nor inside it, nor the
 * store. Checked before anything is made. */
static int target_check(struct store *s, const char *target, struct err *e)
{
    char real[PATH_MAX], live[PATH_MAX], store[PATH_MAX], parent[PATH_MAX];
    const char *slash, *base;
    int absent;

    if (target_empty_or_absent(target, e) != 0)
        return -1;
    absent = access(target, F_OK) != 0;
    if (!absent) {
        if (realpath(target, real) == NULL)
            return err_sys(e, errno, "--target %s", target);
    } else {
        /* Where it would be: its parent's real path and its name. */
        slash = strrchr(target, '/');
        base = slash ? slash + 1 : target;
        snprintf(parent, sizeof(parent), "%.*s", slash ? (int)(slash - target) : 1,
                 slash ? (slash == target ? "/" : target) : ".");
        if (*base == '\0' || strcmp(base, ".") == 0 || strcmp(base, "..") == 0)
            return err_set(e, ERR_INVALID, "--target %.200s: name a directory", target);
        if (realpath(parent, real) == NULL)
            return err_sys(e, errno, "--target %s: its directory", target);
        if (strlen(real) + 1 + strlen(base) >= sizeof(real))
            return err_set(e, ERR_INVALID, "--target %.200s: path too long", target);
        strcat(strcat(real, strcmp(real, "/") == 0 ? "" : "/"), base);
    }
    if (s->cfg->root != NULL && realpath(s->cfg->root, live) != NULL && below(real, live))
        return err_set(e, ERR_INVALID, "--target %.200s is the state root or inside it; "
                       "restore the live root without --target", target);
    if (realpath(s->dir, store) != NULL && below(real, store))
        return err_set(e, ERR_INVALID, "--target %.200s is inside the store", target);
    if (absent && mkdir(target, 0700) != 0)
        return err_sys(e, errno, "--target %s", target);
    return 0;
}

int engine_restore_apply(struct store *s, const struct restore_opts *o, const char *token,
                         json_t **report, struct err *e)
{
    struct plan p;
    char want[RESTORE_TOKEN_MAX], safety[ENGINE_NAME_MAX + 1] = "", what[600];
    const char *given_shape, *dot;
    long long expires;
    char *end, **paths = NULL;
    json_t *files = NULL, *hooks = json_array(), *changed = json_array(),
           *warnings = json_array();
    struct prepare_job job;
    struct err ignored = { 0 };
    struct writer_ident *ids = NULL, *after = NULL;
    struct retarget rt = { 0 };
    struct op op = { 0 };
    char tbuf[PATH_MAX];
    const char *tdir = NULL;
    int rc = -1, journaled = 0, locked = 0, hooks_begun = 0, live = o->target == NULL;
    int engage = live && (o->engage_kill_switch || s->cfg->restore_engage_kill_switch);
    long quiet = s->cfg->restore_quiet_ms >= 0 ? s->cfg->restore_quiet_ms : WRITER_DEFAULT_QUIET_MS;

    *report = NULL;
    memset(&p, 0, sizeof(p));
    memset(&job, 0, sizeof(job));
    if (hooks == NULL || changed == NULL || warnings == NULL) {
        err_set(e, ERR_IO, "out of memory");
        goto out;
    }
    if (token == NULL || *token == '\0') {
        err_set(e, ERR_INVALID, "a confirm token from a restore preview is required");
        goto out;
    }
    if (strncmp(token, "t.", 2) != 0) {
        err_set(e, ERR_INVALID, "that is not a confirm token from a restore preview");
        goto out;
    }
    errno = 0;
    expires = strtoll(token + 2, &end, 10);
    if (errno != 0 || end == token + 2 || *end != '.' || strlen(token) >= RESTORE_TOKEN_MAX) {
        err_set(e, ERR_INVALID, "malformed confirm token");
        goto out;
    }
    dot = strchr(end + 1, '.');
    given_shape = dot ? dot + 1 : NULL;
    if (engage && o->clear_kill_switch) {
        err_set(e, ERR_INVALID, "clearing the kill switch and leaving it engaged contradict: "
                "give one of --clear-kill-switch, --engage-kill-switch");
        goto out;
    }
#ifdef STATESNAP_TESTING
    {
        /* Test builds: the suites that do not test the quiet period skip it. */
        const char *q = getenv("STATESNAP_TEST_RESTORE_QUIET_MS");
        if (q != NULL && *q != '\0' && s->cfg->restore_quiet_ms < 0)
            quiet = strtol(q, NULL, 10);
    }
#endif
    if (op_begin(s, OP_WRITE, &op, e) != 0)
        goto out;
    locked = 1;
    if (!live) {
        if ((tdir = target_path(s, o->target, tbuf, sizeof(tbuf), e)) == NULL)
            goto out;
        /* The configured directory of API targets is made on first use. */
        if (tdir == tbuf && fs_mkdir_p(s->cfg->restore_targets_dir, 0700, e) != 0)
            goto out;
        if (target_check(s, tdir, e) != 0)
            goto out;
        retarget_begin(s, &rt, tdir);
    }
    /* Stop the bot (if the operator said how) before anything is planned:
     * it may write on its way down. The post hook runs whatever happens. */
    if (live && (s->cfg->pre_restore != NULL || s->cfg->post_restore != NULL))
        hooks_begun = 1;
    if (live && s->cfg->pre_restore != NULL) {
        struct err he = { 0 };
        if (restore_hook(s, s->cfg->pre_restore, "pre_restore", o, NULL, NULL, hooks, &he) != 0) {
            if (!s->cfg->pre_restore->optional) {
                err_set(e, ERR_HOOK, "%s; nothing restored", he.msg);
                goto out;
            }
            json_array_append_new(warnings, json_string(he.msg));
        }
    }
    if (plan_make(s, o, &p, e) != 0)
        goto out;
    if (plan_token(s, o, &p, expires, want, sizeof(want), e) != 0)
        goto out;
    if (strlen(want) != strlen(token) || CRYPTO_memcmp(want, token, strlen(want)) != 0) {
        /* After the pre hook the bytes may differ (the bot's last writes,
         * kept by the safety snapshot), and with --while-running the
         * operator said the bot goes on writing; the plan itself must not. */
        const char *want_shape = strrchr(want, '.') + 1;
        if ((s->cfg->pre_restore == NULL && !o->while_running) || !live || given_shape == NULL ||
            strlen(given_shape) != strlen(want_shape) ||
            CRYPTO_memcmp(given_shape, want_shape, strlen(want_shape)) != 0) {
            err_set(e, ERR_CONFLICT, "the state root or the options changed since the preview; "
                    "preview again");
            goto out;
        }
        json_array_append_new(warnings, json_string(o->while_running
                                                    ? "the state root changed since the preview "
                                                      "(--while-running): the bytes replaced are "
                                                      "in the safety snapshot"
                                                    : "the state root changed after "
                                                      "hooks.pre_restore ran (the bot's last "
                                                      "writes): they are in the safety snapshot"));
    }
    if (expires < engine_now()) {
        err_set(e, ERR_CONFLICT, "the confirm token has expired; preview again");
        goto out;
    }
    for (size_t i = 0; i < p.n; i++) {
        const struct step *st = &p.v[i];
        if (st->special == NULL || strcmp(st->action, "unchanged") == 0)
            continue;
        if (!o->replace_special || strcmp(st->special, "directory") == 0) {
            const json_t *sp;
            size_t k;
            json_array_foreach(p.specials, k, sp)
                if (strcmp(json_string_value(json_object_get(sp, "path")), st->path) == 0)
                    err_set(e, ERR_CONFLICT, "%s; nothing restored",
                            json_string_value(json_object_get(sp, "remedy")));
            goto out;
        }
    }
    if ((paths = plan_paths(&p)) == NULL || (ids = calloc(p.n + 1, sizeof(*ids))) == NULL ||
        (after = calloc(p.n + 1, sizeof(*after))) == NULL) {
        err_set(e, ERR_IO, "out of memory");
        goto out;
    }
    if (writer_idents(s->cfg->root, paths, p.n, ids, e) != 0)
        goto out;
    if (live && !o->while_running) {
        /* A running bot would rewrite the root right after the swap. */
        int r = writer_bot_running(s->cfg, what, sizeof(what), e);
        if (r < 0)
            goto out;
        if (r > 0) {
            err_set(e, ERR_CONFLICT, "the bot is running (%s): stop it first (hooks.pre_restore "
                    "can), or pass --while-running; nothing restored", what);
            goto out;
        }
        json_t *moved = json_array();
        r = writer_quiet(s->cfg->root, paths, p.n, ids, quiet, moved, e);
        if (r != 0) {
            if (r > 0)
                err_set(e, ERR_CONFLICT, "%s changed during the %ld ms quiet period before the "
                        "swap: something still writes the state root (stop the bot, or pass "
                        "--while-running); nothing restored",
                        json_string_value(json_array_get(moved, 0)), quiet);
            json_decref(moved);
            goto out;
        }
        json_decref(moved);
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
    if (!live) {
        /* Restore elsewhere: the live root is not touched, so no safety net. */
        if (prepare_files(s, &p, o->name, e) != 0)
            goto fail;
    } else {
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
    }
    FAILPOINT("restore.after_safety");
    /* Right before the swap: the targets as they were planned (and quiet). */
    {
        json_t *moved = json_array();
        int r = writer_quiet(s->cfg->root, paths, p.n, ids, 0, moved, e);
        if (r < 0) {
            json_decref(moved);
            goto fail;
        }
        if (r > 0 && !o->while_running) {
            err_set(e, ERR_CONFLICT, "%s changed while the restore was prepared: something "
                    "still writes the state root; nothing restored",
                    json_string_value(json_array_get(moved, 0)));
            json_decref(moved);
            goto fail;
        }
        json_decref(moved);
    }
    if (engage && engage_kill_switch(s, &p, o->name, e) != 0)
        goto fail;
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
            files = NULL;
            /* The journal stays: the next command rolls forward. */
            journaled = 0;
            goto out;
        }
        FAILPOINT("restore.after_rename");
        json_array_append_new(files, json_pack("{s:s,s:s,s:s}", "path", st->path, "action",
                                               st->action, "result", "OK"));
    }
    if (writer_idents(s->cfg->root, paths, p.n, after, e) != 0) {
        journaled = 0;
        goto out;
    }
    if (journal_remove(s, e) != 0) {
        journaled = 0;
        goto out;
    }
    journaled = 0;
    /* Again a little later: a bot still running rewrites right after the swap. */
    if (live) {
        long settle = quiet / 4 < RESTORE_SETTLE_MAX_MS ? quiet / 4 : RESTORE_SETTLE_MAX_MS;
        if (writer_quiet(s->cfg->root, paths, p.n, after, settle, changed, &ignored) > 0) {
            char w[400];
            snprintf(w, sizeof(w), "%s changed right after the restore: something still writes "
                     "the state root, so it is not the snapshot now (see changed_during_restore)",
                     json_string_value(json_array_get(changed, 0)));
            json_array_append_new(warnings, json_string(w));
        }
    }
    *report = json_pack("{s:s,s:o,s:O,s:o,s:s,s:O,s:O,s:O,s:o}", "snapshot", o->name,
                        "safety_snapshot", live ? json_string(safety) : json_null(),
                        "files", files, "kill_switch", json_null(), "next_step", RESTORE_NEXT_STEP,
                        "hooks", hooks, "changed_during_restore", changed, "warnings", warnings,
                        "target", live ? json_null() : json_string(tdir));
    for (size_t i = 0; i < p.n && *report; i++)
        if (strcmp(p.v[i].path, KILL_SWITCH) == 0)
            json_object_set_new(*report, "kill_switch",
                                json_string(strcmp(p.v[i].action, "kept") == 0 ? "kept"
                                            : strcmp(p.v[i].action, "delete") == 0 ? "cleared"
                                            : "restored"));
    if (*report && engage && strcmp(json_string_value(json_object_get(*report, "kill_switch")) ?: "",
                                    "restored") != 0)
        json_object_set_new(*report, "kill_switch", json_string("engaged"));
    rc = *report ? 0 : err_set(e, ERR_IO, "out of memory");
    goto out;
fail:
    remove_tmps(s, &p);
out:
    if (journaled)
        journal_remove(s, NULL);
    retarget_end(s, &rt);
    /* The post hook (the bot's preflight, then its start) runs whenever the
     * pre hook ran, and its result is part of the report. */
    if (hooks_begun && s->cfg->post_restore != NULL) {
        struct err he = { 0 };
        const char *res = rc != 0 ? "error" : json_array_size(changed) ? "changed" : "ok";
        if (restore_hook(s, s->cfg->post_restore, "post_restore", o, safety, res, hooks, &he) != 0) {
            char w[300];
            snprintf(w, sizeof(w), "%s", he.msg);
            json_array_append_new(warnings, json_string(w));
            json_t *d = json_pack("{s:s}", "error", he.msg);
            engine_emit(s->cfg, "hook", "error", o->name, d);
            json_decref(d);
        }
    }
    if (rc == 0) {
        json_t *ad = json_pack("{s:O,s:O,s:O}", "safety_snapshot",
                               json_object_get(*report, "safety_snapshot"), "files", files,
                               "kill_switch", json_object_get(*report, "kill_switch"));
        if (json_array_size(hooks) > 0)
            json_object_set(ad, "hooks", hooks);
        if (json_array_size(changed) > 0)
            json_object_set(ad, "changed_during_restore", changed);
        if (!live)
            json_object_set_new(ad, "target", json_string(tdir));
        /* The audit entry is also the event (alerts): result "changed" is one. */
        audit_append(s, "restore", o->name, json_array_size(changed) ? "changed" : "ok", ad, NULL);
        json_decref(ad);
    }
    /* A refused restore is worth a line (a bad archive, a stale token); bad
     * input is not, and changes nothing. */
    if (rc != 0 && locked && e->code != ERR_LOCKED && e->code != ERR_INVALID &&
        e->code != ERR_NOT_FOUND) {
        json_t *ad = json_pack("{s:s}", "error", e->msg);
        if (json_array_size(hooks) > 0)
            json_object_set(ad, "hooks", hooks);
        audit_append(s, "restore", o->name, "error", ad, NULL);
        json_decref(ad);
    }
    json_decref(files);
    json_decref(hooks);
    json_decref(changed);
    json_decref(warnings);
    free(paths);
    free(ids);
    free(after);
    plan_free(&p);
    op_end(&op);
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
