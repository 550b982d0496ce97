/* op_restore.c - the restore operation: a preview (the plan, every byte
 * verified, a confirm token) and its apply (hooks, the safety snapshot,
 * then the files swapped in under the journal). */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <openssl/crypto.h>

#include "archive.h"
#include "audit.h"
#include "create.h"
#include "../common/failpoint.h"
#include "../common/fsutil.h"
#include "hooks.h"
#include "journal.h"
#include "op.h"
#include "plan.h"
#include "prune.h"
#include "rootfs.h"
#include "swap.h"
#include "target.h"
#include "writer.h"

#define RESTORE_NEXT_STEP "Run /preflight to verify system state."
#define BOT_RUNNING_REFUSED "the bot is running (%s): stop it first (hooks.pre_restore can), " \
                            "or pass --while-running; nothing restored"
#define RESTORE_SETTLE_MAX_MS 500     /* after the swap, targets are looked at again this late */

int engine_restore_preview(struct store *s, const struct restore_opts *o, json_t **preview,
                           struct err *e)
{
    struct plan p;
    char token[PLAN_TOKEN_MAX], exp[32];
    json_t *errors = NULL;
    int64_t expires = engine_now() + ENGINE_CONFIRM_TOKEN_TTL;
    int rc = -1, bad;

    *preview = NULL;
    memset(&p, 0, sizeof(p));
    struct target_redirect rt = { 0 };
    struct op op;
    char tbuf[PATH_MAX];
    const char *tdir = NULL;
    (void)op_begin(s, OP_READ, &op, e);   /* writes nothing: no lock, as ever */
    if (o->target != NULL) {
        if ((tdir = target_path(s, o->target, tbuf, sizeof(tbuf), e)) == NULL ||
            target_empty_or_absent(tdir, e) != 0)
            return -1;
        target_redirect_begin(s, &rt, tdir);
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
    target_redirect_end(s, &rt);
    json_decref(errors);
    plan_free(&p);
    op_end(&op);
    return rc;
}

static mode_t entry_mode(const struct plan *p, const char *rel)
{
    (void)p;
    (void)rel;
    /* State files are data, never executables: 0644 whatever the archive says. */
    return 0644;
}

/* Swap one prepared file into place (or delete the kill switch). */
static int commit_step(struct store *s, const struct step *st, struct err *e)
{
    if (strcmp(st->action, "delete") == 0)
        return swap_in(s->cfg->root, st->path, NULL, e);
    if (st->tmp == NULL)
        return 0;
    return swap_in(s->cfg->root, st->path, st->tmp, e);
}

static void remove_tmps(struct store *s, struct plan *p)
{
    for (size_t i = 0; i < p->n; i++)
        if (p->v[i].tmp != NULL)
            swap_remove_tmp(s->cfg->root, p->v[i].path, p->v[i].tmp);
}

/* Phase 1's work: every file to its temp (hashed on the way), then the
 * rest of the archive checked. */
static int prepare_files(struct store *s, struct plan *p, const char *snap, struct err *e)
{
    json_t *errors;
    int bad;

    for (size_t i = 0; i < p->n; i++) {
        struct step *st = &p->v[i];
        if (st->tmp == NULL)
            continue;
        if (swap_extract(s->cfg->root, p->a, st->path, st->mode, st->tmp, e) != 0)
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
    json_t *snap = NULL, *labels = json_pack("{s:s}", "reason", "pre-restore");
    struct create_opts co;
    struct err ce = { 0 };
    int rc = -1;

    memset(&co, 0, sizeof(co));
    co.name_prefix = "pre_restore";      /* the engine's auto-name: pre_restore_STAMP[_N] */
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
        snprintf(name, len, "%s", json_string_value(json_object_get(snap, "name")));
        if (s->cfg->prune_after_create)
            prune_after_create(s, snap);
        rc = 0;
    } else if (prepare_wait(job, e) == 0) {
        /* (When the files failed their check, that is the restore's error.) */
        err_set(e, ce.code, "safety snapshot failed, nothing restored: %s", ce.msg);
    }
    json_decref(snap);
    json_decref(labels);
    return rc;
}

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

/* Leave state/PLAN_KILL_SWITCH engaged: written (no symlink followed) unless the
 * plan restores or keeps one. */
static int engage_kill_switch(struct store *s, const struct plan *p, const char *snap,
                              struct err *e)
{
    char text[200], when[32];
    const char *base;
    int dfd, fd;

    for (size_t i = 0; i < p->n; i++)
        if (strcmp(p->v[i].path, PLAN_KILL_SWITCH) == 0 && strcmp(p->v[i].action, "delete") != 0)
            return 0;
    engine_time_format(engine_now(), when, sizeof(when));
    snprintf(text, sizeof(text), "engaged by statesnap after restoring %s at %s: clear it once "
             "the bot's preflight has reconciled with the exchange\n", snap, when);
    if ((dfd = rootfs_open_parent(s->cfg->root, PLAN_KILL_SWITCH, 1, &base, e)) < 0)
        return -1;
    fd = openat(dfd, base, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0 || fs_write_all(fd, text, strlen(text)) != 0 || fsync(fd) != 0) {
        err_sys(e, errno, "engage %s", PLAN_KILL_SWITCH);
        if (fd >= 0)
            close(fd);
        close(dfd);
        return -1;
    }
    close(fd);
    if (fsync(dfd) != 0 && errno != EINVAL) {
        err_sys(e, errno, "fsync the directory of %s", PLAN_KILL_SWITCH);
        close(dfd);
        return -1;
    }
    close(dfd);
    return 0;
}

int engine_restore_apply(struct store *s, const struct restore_opts *o, const char *token,
                         json_t **report, struct err *e)
{
    struct plan p;
    char want[PLAN_TOKEN_MAX], safety[ENGINE_NAME_MAX + 1] = "", what[600];
    const char *given_shape, *dot;
    long long expires;
    char *end, **paths = NULL;
    json_t *files = NULL, *hooks = json_array(), *changed = json_array(),
           *warnings = json_array();
    struct prepare_job job;
    struct err ignored = { 0 };
    struct writer_ident *ids = NULL, *after = NULL;
    struct target_redirect rt = { 0 };
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
    if (errno != 0 || end == token + 2 || *end != '.' || strlen(token) >= PLAN_TOKEN_MAX) {
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
        target_redirect_begin(s, &rt, tdir);
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
            /* A running bot is why the root changed: name it, not the token. */
            if (live && !o->while_running && writer_bot_running(s->cfg, what, sizeof(what), e) > 0)
                err_set(e, ERR_CONFLICT, BOT_RUNNING_REFUSED, what);
            else {
                err_clear(e);
                err_set(e, ERR_CONFLICT, "the state root or the options changed since the "
                        "preview; preview again");
            }
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
            err_set(e, ERR_CONFLICT, BOT_RUNNING_REFUSED, what);
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
        char tmp[PATH_MAX];
        if (swap_tmp_name(s->cfg->root, st->path, tmp, sizeof(tmp), e) != 0)
            goto out;
        if ((st->tmp = strdup(tmp)) == NULL) {
            err_set(e, ERR_IO, "out of memory");
            goto out;
        }
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
        if (strcmp(p.v[i].path, PLAN_KILL_SWITCH) == 0)
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
    target_redirect_end(s, &rt);
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
