/* op_drill.c - the drill operation: rehearse a restore into a scratch directory,
 * check it, record the result, clean up. The state root is never touched. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "archive.h"
#include "audit.h"
#include "engine.h"
#include "../common/failpoint.h"
#include "../common/fsutil.h"
#include "hooks.h"
#include "manifest.h"
#include "op.h"
#include "rootfs.h"
#include "store.h"
#include "../db/drill.h"

#define DRILL_RANDOM_BYTES 6     /* 12 hex digits in the scratch directory's name */
#define DRILL_ENV_PATH_MAX (PATH_MAX + 32)

struct drill {
    struct store *s;
    const struct drill_opts *o;
    struct catalog_snapshot row;
    char archive[PATH_MAX];
    char scratch_name[ENGINE_NAME_MAX + 32];   /* its name in .work */
    char scratch[PATH_MAX];                    /* its absolute path (for the hook) */
    int scratch_fd;              /* holds the flock that tells recovery the drill is alive */
    int64_t files_checked, bytes;
    json_t *check;               /* the hook's result, or NULL */
};

static int64_t mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct count_sink {
    int fd;
    const char *rel;
    int64_t *bytes;
};

static int count_sink_write(void *ctx, const void *buf, size_t n, struct err *e)
{
    struct count_sink *k = ctx;

    if (fs_write_all(k->fd, buf, n) != 0)
        return err_sys(e, errno, "write %.200s into the drill directory", k->rel);
    *k->bytes += (int64_t)n;
    return 0;
}

/* Make .work/drill-NAME-RANDOM and take a flock on it, under the store lock:
 * recovery runs only under that lock, so it never sees the directory
 * before the flock marks it as alive. */
static int scratch_make(struct drill *d, struct err *e)
{
    char hex[2 * DRILL_RANDOM_BYTES + 1], path[PATH_MAX];
    struct op op = { 0 };
    int rc = -1;

    if (store_random_hex(hex, DRILL_RANDOM_BYTES, e) != 0)
        return -1;
    if (snprintf(d->scratch_name, sizeof(d->scratch_name), STORE_DRILL_PREFIX "%s-%s",
                 d->row.name, hex) >= (int)sizeof(d->scratch_name) ||
        fs_join(path, sizeof(path), d->s->work, d->scratch_name, e) != 0)
        return err_set(e, ERR_INVALID, "drill directory name too long");
    if (op_begin(d->s, OP_WRITE, &op, e) != 0)
        return -1;
    if (mkdir(path, 0700) != 0) {
        err_sys(e, errno, "create the drill directory %.200s", path);
        goto out;
    }
    d->scratch_fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (d->scratch_fd < 0 || flock(d->scratch_fd, LOCK_EX | LOCK_NB) != 0) {
        err_sys(e, errno, "lock the drill directory %.200s", path);
        rmdir(path);
        goto out;
    }
    /* The hook may run elsewhere than our working directory's idea of a
     * relative store: give it an absolute path. */
    if (realpath(path, d->scratch) == NULL) {
        err_sys(e, errno, "resolve %.200s", path);
        goto out;
    }
    rc = 0;
out:
    op_end(&op);
    return rc;
}

/* Remove the scratch directory and everything in it. Accepts a drill that
 * never made one. */
static int scratch_remove(struct drill *d, struct err *e)
{
    int wfd, rc;

    if (d->scratch_fd < 0)
        return 0;
    wfd = open(d->s->work, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (wfd < 0)
        return err_sys(e, errno, "open %s", d->s->work);
    rc = fs_remove_tree(wfd, d->scratch_name, e);
    close(wfd);
    /* Released only now: until the tree is gone, recovery keeps off it. */
    close(d->scratch_fd);
    d->scratch_fd = -1;
    return rc;
}

/* Extract one entry below the scratch directory, checked as it streams. */
static int extract_one(struct drill *d, struct archive *a, const char *rel, struct err *e)
{
    struct count_sink k = { .rel = rel, .bytes = &d->bytes };
    const char *base;
    int dfd, rc;

    if ((dfd = rootfs_open_parent(d->scratch, rel, 1, &base, e)) < 0)
        return -1;
    k.fd = openat(dfd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (k.fd < 0) {
        err_sys(e, errno, "create %.200s in the drill directory", rel);
        close(dfd);
        return -1;
    }
    rc = archive_stream(a, rel, count_sink_write, &k, e);
    if (close(k.fd) != 0 && rc == 0)
        rc = err_sys(e, errno, "close %.200s in the drill directory", rel);
    close(dfd);
    return rc;
}

/* Every file but the masked .env into the scratch directory, then the rest
 * of the archive and its whole SHA-256 checked against the catalog. */
static int extract_all(struct drill *d, struct archive *a, struct err *e)
{
    json_t *errors;
    char sha[65];
    int bad;

    for (size_t i = 0; i < archive_n_files(a); i++) {
        const char *rel = archive_file(a, i)->path;
        /* Checked below with the rest, never written: a drill leaves no
         * trace of the .env's keys anywhere on disk. */
        if (rel == NULL || strcmp(rel, MANIFEST_ENV_ENTRY) == 0)
            continue;
        if (extract_one(d, a, rel, e) != 0)
            return -1;
        d->files_checked++;
    }
    if ((errors = json_array()) == NULL)
        return err_set(e, ERR_IO, "out of memory");
    bad = archive_check_all(a, errors, e);
    if (bad > 0) {
        const json_t *first = json_array_get(errors, 0);
        err_set(e, ERR_VERIFY, "%s: %s", json_string_value(json_object_get(first, "path")),
                json_string_value(json_object_get(first, "problem")));
    }
    json_decref(errors);
    if (bad != 0)
        return -1;
    d->files_checked = (int64_t)archive_n_files(a);
    if (archive_file_sha256(d->archive, sha, NULL, e) != 0)
        return -1;
    if (strcmp(sha, d->row.archive_sha256) != 0)
        return err_set(e, ERR_VERIFY, "(archive): archive SHA-256 differs from the catalog");
    return 0;
}

/* hooks.drill_check against the scratch copy. An optional check that fails
 * leaves the drill passed (its result is still in the report). */
static int run_check(struct drill *d, struct err *e)
{
    const struct hook_spec *h = d->s->cfg->drill_check;
    char v_name[128], v_dir[DRILL_ENV_PATH_MAX], v_store[DRILL_ENV_PATH_MAX], v_reason[96];
    const char *env[6];
    struct err he = { 0 };
    int rc;

    if (h == NULL)
        return 0;
    if (snprintf(v_dir, sizeof(v_dir), "STATESNAP_DRILL_DIR=%s", d->scratch) >= (int)sizeof(v_dir) ||
        snprintf(v_store, sizeof(v_store), "STATESNAP_STORE=%s", d->s->dir) >= (int)sizeof(v_store))
        return err_set(e, ERR_INVALID, "drill directory path too long for the hook");
    snprintf(v_name, sizeof(v_name), "STATESNAP_SNAPSHOT=%s", d->row.name);
    snprintf(v_reason, sizeof(v_reason), "STATESNAP_REASON=%.64s",
             d->o->reason ? d->o->reason : "manual");
    env[0] = "STATESNAP_OP=drill";
    env[1] = v_name;
    env[2] = v_dir;
    env[3] = v_store;
    env[4] = v_reason;
    env[5] = NULL;
    rc = hook_run(h, "drill_check", env, &d->check, &he);
    if (d->check != NULL)
        json_object_set_new(d->check, "optional", json_boolean(h->optional));
    if (rc != 0 && !h->optional) {
        *e = he;
        return -1;
    }
    return 0;
}

/* The drill's row, its audit entry and its event. */
static int record(struct drill *d, const json_t *report, int ok, int64_t at, int64_t ms,
                  const char *why, struct err *e)
{
    struct catalog_drill row;
    struct op op = { 0 };
    const char *result = ok ? "ok" : "error";

    memset(&row, 0, sizeof(row));
    snprintf(row.snapshot, sizeof(row.snapshot), "%s", d->row.name);
    snprintf(row.archive_sha256, sizeof(row.archive_sha256), "%s", d->row.archive_sha256);
    snprintf(row.result, sizeof(row.result), "%s", ok ? "ok" : "failed");
    snprintf(row.error, sizeof(row.error), "%s", ok ? "" : why);
    row.at = at;
    row.files_checked = d->files_checked;
    row.bytes = d->bytes;
    row.duration_ms = ms;
    if (op_begin(d->s, OP_WRITE, &op, e) != 0)
        return -1;
    if (catalog_begin(d->s->cat, e) != 0)
        goto fail;
    if (catalog_drill_insert(d->s->cat, &row, e) != 0 ||
        audit_append(d->s, "drill", d->row.name, result, report, e) != 0 ||
        catalog_commit(d->s->cat, e) != 0) {
        catalog_rollback(d->s->cat);
        goto fail;
    }
    op_end(&op);
    /* After the commit: an alert never announces what a rollback undid. */
    engine_emit(d->s->cfg, "drill", result, d->row.name, report);
    return 0;
fail:
    op_end(&op);
    return -1;
}

int engine_drill(struct store *s, const struct drill_opts *o, json_t **report, struct err *e)
{
    struct drill d;
    struct archive *a = NULL;
    struct err why = { 0 }, ce = { 0 };
    char when[32];
    int64_t t0 = mono_ms(), at, ms;
    int ok, rc = -1;

    *report = NULL;
    memset(&d, 0, sizeof(d));
    d.s = s;
    d.o = o;
    d.scratch_fd = -1;
    if (o->name != NULL) {
        if (engine_name_check(o->name, e) != 0 ||
            catalog_snapshot_get(s->cat, o->name, 0, &d.row, e) != 0)
            return -1;
    } else if (catalog_snapshot_latest(s->cat, &d.row, e) != 0) {
        if (e->code == ERR_NOT_FOUND) {
            err_clear(e);
            err_set(e, ERR_NOT_FOUND, "there is no snapshot to drill yet");
        }
        return -1;
    }
    if (store_archive_path(s, d.row.name, d.archive, sizeof(d.archive), e) != 0)
        goto out;
    if (scratch_make(&d, &why) != 0) {
        /* A busy store ran no drill: nothing to record, try again later. */
        if (why.code == ERR_LOCKED) {
            *e = why;
            goto out;
        }
        goto done;
    }
    FAILPOINT("drill.after_scratch");
    /* From here the drill ran, whatever it finds: its outcome is recorded. */
    if (archive_open(&a, d.archive, &why) != 0) {
        if (why.code == ERR_NOT_FOUND) {
            err_clear(&why);
            err_set(&why, ERR_VERIFY, "the archive %s.zip is missing from the store",
                    d.row.name);
        }
        goto done;
    }
    if (extract_all(&d, a, &why) != 0)
        goto done;
    FAILPOINT("drill.after_extract");
    (void)run_check(&d, &why);
    FAILPOINT("drill.after_check");
done:
    archive_close(a);
    a = NULL;
    if (scratch_remove(&d, &ce) != 0 && why.code == ERR_NONE)
        why = ce;
    ok = why.code == ERR_NONE;
    at = engine_now();
    ms = mono_ms() - t0;
    engine_time_format(at, when, sizeof(when));
    *report = json_pack("{s:s, s:s, s:I, s:I, s:I, s:O?, s:s?, s:s}", "snapshot", d.row.name,
                        "result", ok ? "ok" : "failed", "files_checked",
                        (json_int_t)d.files_checked, "bytes", (json_int_t)d.bytes,
                        "duration_ms", (json_int_t)ms, "check", d.check,
                        "error", ok ? NULL : why.msg, "drilled_at", when);
    if (*report == NULL) {
        err_set(e, ERR_IO, "out of memory");
        goto out;
    }
    /* A drill that could not be recorded did not happen as far as anyone
     * watching can tell: no report, the recording's error (a busy store is
     * 423 / exit 1, try again). */
    if (record(&d, *report, ok, at, ms, why.msg, e) != 0) {
        json_decref(*report);
        *report = NULL;
        goto out;
    }
    if (!ok) {
        *e = why;
        goto out;
    }
    rc = 0;
out:
    archive_close(a);
    scratch_remove(&d, NULL);
    json_decref(d.check);
    catalog_snapshot_clear(&d.row);
    return rc;
}
