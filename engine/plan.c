/* plan.c - a restore's plan: what each file of the snapshot would do to the
 * state root (create, overwrite, unchanged, kept, delete), the token that
 * binds a preview to it, and its JSON. Writes nothing. */
#include "plan.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "capture.h"
#include "../common/fsutil.h"
#include "manifest.h"
#include "meta.h"
#include "rootfs.h"
#include "signing.h"

#define POSITIONS "state/positions.json"
#define RESTORE_POSITIONS_MAX (16u << 20)

void plan_free(struct plan *p)
{
    for (size_t i = 0; i < p->n; i++) {
        free(p->v[i].path);
        free(p->v[i].tmp);
    }
    free(p->v);
    archive_close(p->a);
    json_decref(p->warnings);
    json_decref(p->specials);
    json_decref(p->signature);
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
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 64;
        struct step *nv = realloc(p->v, cap * sizeof(*nv));
        if (nv == NULL)
            return err_set(e, ERR_IO, "out of memory");
        p->v = nv;
        p->cap = cap;
    }
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

int plan_make(struct store *s, const struct restore_opts *o, struct plan *p, struct err *e)
{
    struct catalog_snapshot row;
    char path[PATH_MAX];
    const json_t *m, *pc, *ab;
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
    if (store_archive_path(s, o->name, path, sizeof(path), e) != 0 ||
        archive_open(&p->a, path, e) != 0) {
        catalog_snapshot_clear(&row);
        return -1;
    }
    /* A snapshot catalogued as signed restores only while its signature
     * still verifies; one admitted unsigned says so in the warnings. */
    struct signing_result sr;
    int sig_rc = signing_matches_row(s, p->a, &row, &sr, e);
    catalog_snapshot_clear(&row);
    if (sig_rc != 0 || (p->signature = signing_json(&sr)) == NULL)
        return sig_rc != 0 ? -1 : err_set(e, ERR_IO, "out of memory");
    if (sr.state != SIGNING_SIGNED) {
        char w[300];
        snprintf(w, sizeof(w), "snapshot \"%s\" is %s: it was admitted with --allow-unsigned or "
                 "made before signing, so nothing proves which store made it", o->name,
                 signing_state_name(sr.state));
        json_array_append_new(p->warnings, json_string(w));
    }
    m = archive_head(p->a);
    pc = json_object_get(m, "positions_count");
    p->snap_positions = json_is_integer(pc) ? json_integer_value(pc) : -1;
    p->cur_positions = live_positions(s->cfg->root);
    for (i = 0; i < o->n_only; i++) {
        if (strcmp(o->only[i], MANIFEST_ENV_ENTRY) == 0 || strcmp(o->only[i], ".env") == 0)
            return err_set(e, ERR_INVALID, ".env is never restored");
        if (archive_file_entry(p->a, o->only[i]) == NULL && !in_absent(m, o->only[i]) &&
            !(strcmp(o->only[i], PLAN_KILL_SWITCH) == 0))
            return err_set(e, ERR_INVALID, "%.200s is not in snapshot \"%s\"", o->only[i], o->name);
    }
    for (i = 0; i < archive_n_files(p->a); i++) {
        const struct manifest_file *f = archive_file(p->a, i);
        const char *fp = f->path;
        struct step *st;
        if (strcmp(fp, PLAN_KILL_SWITCH) == 0)
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
        snprintf(st->want_sha, sizeof(st->want_sha), "%s", f->sha256);
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
    json_array_foreach(json_object_get(m, "absent"), i, ab) {
        const char *ap = json_string_value(ab);
        char cur[65];
        if (ap == NULL || !manifest_path_safe(ap) || strcmp(ap, PLAN_KILL_SWITCH) == 0 ||
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
    if (!snap_has_ks && selected(o, PLAN_KILL_SWITCH) && capture_path_allowed(s->cfg, PLAN_KILL_SWITCH)) {
        char cur[65];
        const char *special;
        if (file_sha(s, PLAN_KILL_SWITCH, cur, &special, e) != 0)
            return -1;
        if (cur[0] != '\0') {
            /* The kill switch was thrown after this snapshot: someone stopped
             * trading for a reason, and a restore must not quietly undo it. */
            if (add_step(p, PLAN_KILL_SWITCH, e) != 0)
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

int plan_token(struct store *s, const struct restore_opts *o, const struct plan *p,
               int64_t expires, char *out, size_t len, struct err *e)
{
    char full[65], shape[65];

    if (plan_mac(s, o, p, expires, 1, full, e) != 0 || plan_mac(s, o, p, expires, 0, shape, e) != 0)
        return -1;
    if (snprintf(out, len, "t.%lld.%s.%s", (long long)expires, full, shape) >= (int)len)
        return err_set(e, ERR_IO, "token buffer too small");
    return 0;
}

json_t *plan_json(const struct restore_opts *o, const struct plan *p)
{
    char created[32];
    json_t *files = json_array(), *ks = json_null();

    for (size_t i = 0; i < p->n; i++) {
        json_array_append_new(files, json_pack("{s:s,s:s}", "path", p->v[i].path, "action",
                                               p->v[i].action));
        if (strcmp(p->v[i].path, PLAN_KILL_SWITCH) == 0) {
            json_decref(ks);
            ks = json_string(strcmp(p->v[i].action, "kept") == 0 ? "kept"
                             : strcmp(p->v[i].action, "delete") == 0 ? "cleared" : "restored");
        }
    }
    engine_time_format(p->created_at, created, sizeof(created));
    return json_pack("{s:s,s:s,s:o,s:o,s:o,s:o,s:O,s:O,s:o,s:O}", "snapshot", o->name, "created_at",
                     created,
                     "current_positions", p->cur_positions >= 0 ? json_integer(p->cur_positions)
                                                                 : json_null(),
                     "snapshot_positions", p->snap_positions >= 0
                                               ? json_integer(p->snap_positions) : json_null(),
                     "files", files, "kill_switch", ks, "warnings", p->warnings,
                     "special", p->specials,
                     "target", o->target ? json_string(o->target) : json_null(),
                     "signature", p->signature ? p->signature : json_null());
    /* (the preview names the target as given; the report names the directory) */
}

/* The paths a restore looks at: every step's target. */
char **plan_paths(const struct plan *p)
{
    char **v = calloc(p->n + 1, sizeof(*v));

    for (size_t i = 0; v && i < p->n; i++)
        v[i] = p->v[i].path;
    return v;
}
