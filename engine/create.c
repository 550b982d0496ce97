/* create.c - the create primitives (create.h): a create's options checked,
 * and one snapshot written under the caller's lock: hooks, the consistent
 * cut, the archive (create_zip.c), the intent, the catalog row and its
 * audit entry. The crash protocol is docs/DESIGN.md. */
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "archive.h"
#include "audit.h"
#include "capture.h"
#include "chain.h"
#include "create.h"
#include "create_zip.h"
#include "signing.h"
#include "cut.h"
#include "envmask.h"
#include "../common/failpoint.h"
#include "../common/fsutil.h"
#include "hooks.h"
#include "meta.h"
#include "pdeflate.h"
#include "snapshot.h"

#define CREATE_CUT_ROUNDS 3                /* cuts retaken when the chain moved under compression */

/* Run one hook with the operation's environment, collecting its result. */
static int run_hook(struct create_ctx *cc, const struct hook_spec *h, const char *what,
                    const char *result, struct err *e)
{
    char v_op[] = "STATESNAP_OP=create", v_name[128], v_root[4200], v_reason[96], v_result[64],
         v_store[4200], v_cons[64];
    const char *env[8];
    json_t *res = NULL;
    int n = 0, rc;

    snprintf(v_name, sizeof(v_name), "STATESNAP_SNAPSHOT=%s", cc->name);
    snprintf(v_root, sizeof(v_root), "STATESNAP_ROOT=%s", cc->s->cfg->root);
    snprintf(v_store, sizeof(v_store), "STATESNAP_STORE=%s", cc->s->dir);
    snprintf(v_reason, sizeof(v_reason), "STATESNAP_REASON=%.64s",
             cc->o->reason ? cc->o->reason : "manual");
    env[n++] = v_op;
    env[n++] = v_name;
    env[n++] = v_root;
    env[n++] = v_store;
    env[n++] = v_reason;
    if (result != NULL) {
        snprintf(v_result, sizeof(v_result), "STATESNAP_RESULT=%s", result);
        snprintf(v_cons, sizeof(v_cons), "STATESNAP_CONSISTENCY=%s",
                 cc->cut.attempts == 0 ? "none" : cc->cut.consistent ? "consistent" : "changed");
        env[n++] = v_result;
        env[n++] = v_cons;
    }
    env[n] = NULL;
    rc = hook_run(h, what, env, &res, e);
    if (res != NULL) {
        json_object_set_new(res, "optional", json_boolean(h->optional));
        json_array_append_new(cc->hooks, res);
    }
    return rc;
}

/* Does the scan hold what the config requires (by default: one of the
 * expected files)? An unmounted volume must not become a snapshot. */
static int require_check(struct create_ctx *cc, struct err *e)
{
    const struct capture_policy *p = cc->s->cfg->capture;

    /* A restore's safety snapshot of an empty root is the undo of
     * restoring into it: always taken. */
    if (cc->o->reason != NULL && strcmp(cc->o->reason, "pre-restore") == 0)
        return 0;
    if (p != NULL && p->require != NULL) {
        for (size_t g = 0; g < p->n_require; g++) {
            int hit = 0;
            for (size_t i = 0; i < cc->cap.n && !hit; i++)
                hit = fnmatch(p->require[g], cc->cap.files[i].rel, FNM_PATHNAME) == 0;
            if (!hit)
                return err_set(e, ERR_UNAVAILABLE,
                               "state root %.200s has no file matching \"%.100s\" "
                               "(capture.require): is the volume mounted?",
                               cc->s->cfg->root, p->require[g]);
        }
        return 0;
    }
    for (size_t i = 0; i < cc->cap.n; i++)
        if (capture_is_expected(cc->cap.files[i].rel))
            return 0;
    return err_set(e, ERR_UNAVAILABLE,
                   "state root %.200s holds none of the expected state files "
                   "(state/positions.json, state/hash_chain.jsonl, config/config.json, ...): "
                   "is the volume mounted?", cc->s->cfg->root);
}

/* The per-file state of a create: sources, cut (but whether it was
 * consistent, in how many attempts), capture set. Zeroed, so a second call
 * does nothing. Cannot fail. */
/* The cut and its sources (what the read-back has taken from them). */
static void create_cut_free(struct create_ctx *cc)
{
    int consistent = cc->cut.consistent, attempts = cc->cut.attempts;

    create_zip_srcs_clear(cc);    /* before the capture set: it counts them */
    cut_free(&cc->cut);
    /* What the hooks and the event still say of the cut. */
    cc->cut.consistent = consistent;
    cc->cut.attempts = attempts;
    free(cc->srcs);
    cc->srcs = NULL;
}

static void create_files_free(struct create_ctx *cc)
{
    create_cut_free(cc);
    /* The archive being written borrows the capture set's names. */
    zipout_discard(cc->zo);
    cc->zo = NULL;
    capture_set_free(&cc->cap);
    memset(&cc->cap, 0, sizeof(cc->cap));
}

/* The post hook, once, when the hook phase began (the pre hook ran, or
 * there is none): right after the cut, so a paused bot resumes before the
 * compression, or on the way out of a create that failed before that. A
 * failing post hook does not undo a capture: it warns (and alerts). */
static void post_hook(struct create_ctx *cc, const char *result)
{
    const struct hook_spec *h = cc->s->cfg->post_snapshot;
    struct err he = { 0 };

    if (!cc->hooks_begun || cc->post_done || h == NULL)
        return;
    cc->post_done = 1;
    if (run_hook(cc, h, "post_snapshot", result, &he) != 0) {
        char w[300];
        json_t *d = json_pack("{s:s}", "error", he.msg);
        snprintf(w, sizeof(w), "%s", he.msg);
        json_array_append_new(cc->warnings, json_string(w));
        engine_emit(cc->s->cfg, "hook", "error", cc->name, d);
        json_decref(d);
    }
}

/* Capture the root: a consistent cut, then every entry of the archive at
 * tmp written and read back. A rewrite of an append-only file seen only
 * while compressing takes the cut again. */
static int capture_and_write(struct create_ctx *cc, const char *tmp, struct err *e)
{
    const struct capture_policy *p = cc->s->cfg->capture;
    const char *chain_path = p && p->chain_path ? p->chain_path : "state/hash_chain.jsonl";

    for (int round = 1;; round++) {
        cut_free(&cc->cut);
        create_manifest_forget(cc);
        json_decref(cc->chain_tip);
        cc->chain_tip = NULL;
        chain_scan_free(&cc->chain);
        cc->moved = 0;
        FAILPOINT("create.before_cut");
        int cr = cut_take(cc->s->cfg, cc->s->work, &cc->cap, &cc->cut, e);
        post_hook(cc, cr == 0 ? "ok" : "error");
        if (cr != 0)
            return -1;
        FAILPOINT("create.after_cut");
        chain_scan_init(&cc->chain, p ? p->chain_seq : NULL, p ? p->chain_hash : NULL,
                        p ? p->chain_prev : NULL);
        cc->chain_idx = -1;
        cc->chain_streamed = 0;
        create_zip_srcs_clear(cc);
        for (size_t i = 0; i < cc->cap.n; i++) {
            struct file_src *fs = &cc->srcs[i];
            struct cut_file *c = &cc->cut.files[i];
            memset(fs, 0, sizeof(*fs));
            if (c->present && strcmp(c->cf->rel, chain_path) == 0) {
                cc->chain_idx = (int)i;
                if (c->buf != NULL)
                    chain_scan_feed(&cc->chain, c->buf, (size_t)c->limit);
                else
                    cc->chain_streamed = 1;
            }
        }
        cc->positions = create_captured_positions(cc);
        FAILPOINT("create.before_zip");
        if (create_zip_write(cc, tmp) == 0)
            break;
        if (!cc->moved || round >= CREATE_CUT_ROUNDS)
            return -1;
        err_clear(e);
    }
    return 0;
}

static int choose_name(struct create_ctx *cc, struct err *e)
{
    char stamp[32], cand[ENGINE_NAME_MAX + 1];
    time_t t = (time_t)cc->now;
    struct tm tm;

    if (cc->o->name != NULL) {
        if (snprintf(cc->name, sizeof(cc->name), "%s", cc->o->name) >= (int)sizeof(cc->name))
            return err_set(e, ERR_INVALID, "snapshot name is longer than %d characters",
                           ENGINE_NAME_MAX);
        return 0;
    }
    const char *prefix = cc->o->name_prefix != NULL ? cc->o->name_prefix : "snap";

    gmtime_r(&t, &tm);
    strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
    /* The one automatic name of the tree (API and CLI creates, the
     * scheduler, a restore's safety snapshot): two in one second get _2, _3, ... */
    for (int i = 1; i < 100; i++) {
        if (i == 1)
            snprintf(cand, sizeof(cand), "%s_%s", prefix, stamp);
        else
            snprintf(cand, sizeof(cand), "%s_%s_%d", prefix, stamp, i);
        char path[PATH_MAX];
        int r = catalog_snapshot_exists(cc->s->cat, cand, e);
        if (r < 0 || store_archive_path(cc->s, cand, path, sizeof(path), e) != 0)
            return -1;
        if (r == 0 && fs_exists(path) == 0) {
            snprintf(cc->name, sizeof(cc->name), "%s", cand);
            return 0;
        }
    }
    return err_set(e, ERR_CONFLICT, "too many snapshots in one second");
}

/* Add what the cut saw to the scan's absent list and warnings. */
static int merge_cut_notes(struct create_ctx *cc, struct err *e)
{
    size_t i;
    json_t *v;

    for (i = 0; i < cc->cap.n; i++)
        if (!cc->cut.files[i].present &&
            json_array_append_new(cc->absent, json_string(cc->cap.files[i].rel)) != 0)
            return err_set(e, ERR_IO, "out of memory");
    json_array_foreach(cc->cut.warnings, i, v)
        if (json_array_append(cc->warnings, v) != 0)
            return err_set(e, ERR_IO, "out of memory");
    if (!cc->cut.consistent) {
        char w[300];
        snprintf(w, sizeof(w), "not a consistent cut: files changed while they were read "
                 "(%d attempts); kept because capture.on_inconsistent is \"keep\"",
                 cc->cut.attempts);
        json_array_append_new(cc->warnings, json_string(w));
    }
    return 0;
}

int create_check(const struct store *s, const struct create_opts *o, struct err *e)
{
    /* Everything the caller could have got wrong is checked before the
     * store is touched, so bad input changes nothing. */
    if (o->name != NULL && engine_name_check(o->name, e) != 0)
        return -1;
    if (o->labels != NULL && snapshot_labels_check(o->labels, e) != 0)
        return -1;
    return capture_check_root(s->cfg, e);
}

/* The archive's SHA-256 and size, taken on a thread of its own. */
struct archive_hash {
    const char *path;
    char hex[65];
    int64_t size;
    struct err e;
    int rc;
};

static void *archive_hash_run(void *arg)
{
    struct archive_hash *h = arg;

    h->rc = archive_file_sha256(h->path, h->hex, &h->size, &h->e);
    return NULL;
}

/* zipout_close did not sync. The write-back is started, the archive hash
 * read from the page cache on another thread, and meanwhile the sync waits
 * for the disk and the read-back checks the entries (*ar, the archive
 * opened): three waits of a 100 MB root's create (~10, ~15 and a few ms)
 * that ran one after the other, and still do with compress_threads 1. The
 * caller renames only after this returns 0. */
static int create_sync_and_check(struct create_ctx *cc, const struct create_readback *rb,
                                 const char *tmp, char sha[65], int64_t *size, struct archive **ar)
{
    struct archive_hash h;
    pthread_t th;
    int fd = open(tmp, O_RDONLY | O_CLOEXEC), threaded, rc = 0;

    if (fd < 0)
        return err_sys(cc->e, errno, "sync %s", tmp);
    (void)sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE);   /* a hint: fsync decides */
    memset(&h, 0, sizeof(h));
    h.path = tmp;
    threaded = pdeflate_threads((unsigned)cc->s->cfg->compress_threads) > 1 &&
               pthread_create(&th, NULL, archive_hash_run, &h) == 0;
    if (!threaded)
        archive_hash_run(&h);
    if (fsync(fd) != 0)
        rc = err_sys(cc->e, errno, "sync %s", tmp);
    close(fd);
    if (rc == 0)
        rc = create_zip_check(cc, rb, tmp, ar);
    if (threaded)
        pthread_join(th, NULL);
    if (rc != 0)
        return -1;
    if (h.rc != 0) {
        *cc->e = h.e;
        return -1;
    }
    memcpy(sha, h.hex, 65);
    *size = h.size;
    return 0;
}

int create_write(struct store *s, const struct create_opts *o, json_t **snap, struct err *e)
{
    struct create_ctx cc;
    char tmp[PATH_MAX], final[PATH_MAX], sha[65];
    struct catalog_snapshot row;
    struct create_readback rb;
    struct archive *ar = NULL;
    int64_t size = 0;
    int intent = 0, rc = -1, gated = 0, rc_row;

    memset(&cc, 0, sizeof(cc));
    memset(&row, 0, sizeof(row));
    memset(&rb, 0, sizeof(rb));
    *snap = NULL;
    cc.s = s;
    cc.o = o;
    cc.e = e;
    cc.now = engine_now();
    cc.chain_idx = -1;
    cc.hooks = json_array();
    if (cc.hooks == NULL)
        return err_set(e, ERR_IO, "out of memory");
    if (choose_name(&cc, e) != 0)
        goto out;
    /* Every new archive is signed with the store's key (made by the first create). */
    if (signing_key(s, 1, &cc.sign_key, e) != 0)
        goto out;
    int exists = catalog_snapshot_exists(s->cat, cc.name, e);
    if (exists < 0)
        goto out;
    if (store_archive_path(s, cc.name, final, sizeof(final), e) != 0)
        goto out;
    if (exists || fs_exists(final) == 1) {
        err_set(e, ERR_CONFLICT, "a snapshot named \"%s\" already exists", cc.name);
        goto out;
    }
    create_zip_reuse_open(&cc);
    /* The bot is paused (if it can be) from here until the cut is taken. */
    cc.hooks_begun = 1;
    if (s->cfg->pre_snapshot != NULL) {
        struct err he = { 0 };
        if (run_hook(&cc, s->cfg->pre_snapshot, "pre_snapshot", NULL, &he) != 0) {
            if (!s->cfg->pre_snapshot->optional) {
                *e = he;
                goto out;
            }
            cc.warnings = json_array();
            json_array_append_new(cc.warnings, json_string(he.msg));
        }
    }
    if (capture_scan(s->cfg, &cc.cap, e) != 0)
        goto out;
    cc.absent = json_incref(cc.cap.absent);
    if (cc.warnings == NULL) {
        cc.warnings = json_incref(cc.cap.warnings);
    } else {
        json_array_extend(cc.warnings, cc.cap.warnings);
    }
    if (require_check(&cc, e) != 0)
        goto out;
    if (cc.cap.env_path != NULL) {
        EVP_MD_CTX *md;
        if (store_secret(s, e) != 0 ||
            envmask_file(cc.cap.env_path, s->secret, &cc.env_masked, &cc.env_len, &cc.env_keys, e) != 0)
            goto out;
        if ((md = EVP_MD_CTX_new()) == NULL || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
            EVP_MD_CTX_free(md);
            err_set(e, ERR_IO, "out of memory");
            goto out;
        }
        EVP_DigestUpdate(md, cc.env_masked, cc.env_len);
        create_zip_sha_hex(md, cc.env_sha);
        EVP_MD_CTX_free(md);
    }
    if ((cc.srcs = calloc(cc.cap.n + 1, sizeof(*cc.srcs))) == NULL) {
        err_set(e, ERR_IO, "out of memory");
        goto out;
    }
    meta_version(s->cfg->root, o->version_tag, cc.version, sizeof(cc.version));
    meta_git_commit(s->cfg->root, cc.git, sizeof(cc.git));
    meta_host(cc.host, sizeof(cc.host));
    engine_actor(s->cfg, cc.actor, sizeof(cc.actor));

    char file[ENGINE_NAME_MAX + 16];
    snprintf(file, sizeof(file), "%s.zip.tmp", cc.name);
    if (fs_join(tmp, sizeof(tmp), s->work, file, e) != 0)
        goto out;
    if (capture_and_write(&cc, tmp, e) != 0)
        goto out;
    /* Written: nothing copies from the previous archive any more, and
     * the bytes read into memory are in the archive, where the read-back
     * takes them from. */
    reuse_close(cc.reuse);
    cc.reuse = NULL;
    cut_release_bytes(&cc.cut);
    if (merge_cut_notes(&cc, e) != 0)
        goto out_unlink;
    /* The read-back compares the archive with 24 bytes a file of what was
     * read: the cut and its sources are freed first, then the manifest is
     * signed (read back whole: never beside them) and the archive closed,
     * and the catalog row is made from the archive's own manifest (as
     * reindex would make it). */
    if (create_readback_take(&cc, &rb, e) != 0)
        goto out_unlink;
    create_cut_free(&cc);
    if (create_zip_seal(&cc, tmp) != 0)
        goto out_unlink;
    create_files_free(&cc);
    FAILPOINT("create.after_zip");
    if (create_sync_and_check(&cc, &rb, tmp, sha, &size, &ar) != 0)
        goto out_unlink;
    create_readback_free(&rb);
    archive_forget_manifest_text(ar);   /* the row needs the head and records only */
    rc_row = snapshot_row_from_archive(ar, size, sha, &row, e);
    archive_close(ar);
    ar = NULL;
    if (rc_row != 0)
        goto out_unlink;
    if (o->gate != NULL && o->gate(o->gate_ctx, e) != 0) {
        gated = 1;
        goto out_unlink;
    }
    if (store_intent_write(s, cc.name, "create", e) != 0)
        goto out_unlink;
    intent = 1;
    FAILPOINT("create.after_intent");
    /* The store's files are the owner's alone (zipout creates 0600; this says so once more). */
    if (chmod(tmp, STORE_FILE_MODE) != 0 || rename(tmp, final) != 0) {
        err_sys(e, errno, "rename into %s", final);
        goto out_unlink;
    }
    FAILPOINT("create.after_rename");
    if (fs_fsync_dir(s->dir, e) != 0)
        goto out_final;
    snprintf(row.signature, sizeof(row.signature), "signed");
    snprintf(row.signer, sizeof(row.signer), "%s", sign_key_id(cc.sign_key));
    if (o->pin_seconds > 0)
        row.pin_until = cc.now + o->pin_seconds;
    if (o->pin_seconds > 0)
        row.pinned = 1;
    if (catalog_begin(s->cat, e) != 0)
        goto out_final;
    json_t *ad = json_pack("{s:I,s:i,s:s,s:O}", "size", (json_int_t)size, "files",
                           (int)row.n_files, "archive_sha256", sha, "consistency",
                           json_object_get(cc.manifest, "consistency"));
    if (json_array_size(cc.hooks) > 0)
        json_object_set(ad, "hooks", cc.hooks);
    int bad_insert = catalog_snapshot_insert(s->cat, &row, e) != 0 ||
                     audit_append(s, "create", cc.name, "ok", ad, e) != 0;
    if (bad_insert || catalog_commit(s->cat, e) != 0) {
        json_decref(ad);
        catalog_rollback(s->cat);
        goto out_final;
    }
    engine_emit(s->cfg, "create", cc.cut.consistent ? "ok" : "inconsistent", cc.name, ad);
    json_decref(ad);
    FAILPOINT("create.after_catalog");
    if (store_intent_clear(s, cc.name, "create", e) != 0)
        goto out;
    intent = 0;
    if (o->files_apart)
        catalog_snapshot_drop_files(&row);   /* the caller reads them from the catalog */
    *snap = snapshot_json(s, &row);
    if (*snap == NULL) {
        err_set(e, ERR_IO, "out of memory");
        goto out;
    }
    json_object_set(*snap, "absent", cc.absent);
    json_object_set(*snap, "warnings", cc.warnings);
    json_object_set(*snap, "hooks", cc.hooks);
    rc = 0;
    goto out;
out_final:
    unlink(final);
    fs_fsync_dir(s->dir, NULL);
out_unlink:
    unlink(tmp);
out:
    post_hook(&cc, rc == 0 ? "ok" : "error");
    if (intent)
        store_intent_clear(s, cc.name, "create", NULL);
    /* Bad input and a taken name are the caller's to hear about, not an alert. */
    if (rc != 0 && !gated && e->code != ERR_INVALID && e->code != ERR_CONFLICT &&
        e->code != ERR_NOT_FOUND) {
        json_t *fd = json_pack("{s:s}", "error", e->msg);
        if (json_array_size(cc.hooks) > 0)
            json_object_set(fd, "hooks", cc.hooks);
        engine_emit(s->cfg, "create", "error", cc.name[0] ? cc.name : NULL, fd);
        json_decref(fd);
    }
    catalog_snapshot_clear(&row);
    create_readback_free(&rb);
    archive_close(ar);
    create_files_free(&cc);
    if (cc.env_masked != NULL)
        OPENSSL_cleanse(cc.env_masked, cc.env_len);
    free(cc.env_masked);
    json_decref(cc.env_keys);
    json_decref(cc.absent);
    json_decref(cc.warnings);
    json_decref(cc.hooks);
    json_decref(cc.chain_tip);
    chain_scan_free(&cc.chain);
    create_manifest_forget(&cc);
    reuse_close(cc.reuse);
    return rc;
}
