/* sync.c - the sync policy: which snapshots go offsite (every one the
 * catalog has not seen synced), what a round first re-checks (every copy
 * the catalog calls synced, against the bucket's listing and a HEAD), how
 * each upload is confirmed (HEAD: size and stored SHA-256) before the
 * catalog says synced, and the status report. Local archives are only read;
 * catalog state is read and written through db/ functions alone (no SQL). */
#include "sync.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../db/offsite.h"
#include "../engine/archive.h"
#include "../engine/store.h"
#include "bucket.h"
#include "digests.h"
#include "s3_multipart.h"

/* The manifest beside the archive, so a bucket listing can be read without
 * downloading archives. */
static int put_manifest(struct offsite *o, struct store *s, const char *name, const char *path,
                        struct err *e)
{
    struct archive *a = NULL;
    char key[OFFSITE_KEY_MAX + OFFSITE_PREFIX_MAX], *buf = NULL;
    size_t len = 0;
    int rc = -1;

    (void)s;
    if (offsite_object_key(o, name, ".manifest.json", key, sizeof(key), e) != 0 ||
        archive_open(&a, path, e) != 0)
        goto out;
    if ((buf = json_dumps(archive_manifest(a), JSON_INDENT(2) | JSON_SORT_KEYS)) == NULL) {
        err_set(e, ERR_IO, "out of memory");
        goto out;
    }
    len = strlen(buf);
    rc = s3_put_bytes(o->s3, key, buf, len, "application/json", e);
out:
    free(buf);
    archive_close(a);
    return rc;
}

/* With offsite.object_lock, every upload from now asks for retention until
 * now + days: set on the client, and *until gets the date (0 without). */
static int lock_uploads(struct offsite *o, int64_t *until, struct err *e)
{
    char text[32];

    *until = 0;
    if (o->set.lock_mode[0] == '\0')
        return 0;
    *until = engine_now() + (int64_t)o->set.lock_days * 86400;
    engine_time_format(*until, text, sizeof(text));
    if (s3_set_object_lock(o->s3, o->set.lock_mode, text) != 0)
        return err_set(e, ERR_INVALID, "offsite: cannot lock until %s", text);
    return 0;
}

/* Upload NAME unless the bucket already holds it with the catalog's hash. */
static int sync_one(struct offsite *o, struct store *s, const char *name, int *uploaded,
                    struct err *e)
{
    struct catalog_snapshot row;
    char path[PATH_MAX], key[OFFSITE_KEY_MAX + OFFSITE_PREFIX_MAX], sha[65], sha_b64[45],
        md5_b64[25] = "", remote_sha[65];
    int64_t remote_size = -1, size = 0, hashed = 0, lock_until = 0;
    struct stat st;
    int fd = -1, rc = -1, r;

    *uploaded = 0;
    memset(&row, 0, sizeof(row));
    if (catalog_snapshot_get(s->cat, name, 0, &row, e) != 0 ||
        store_archive_path(s, name, path, sizeof(path), e) != 0 ||
        offsite_object_key(o, name, ".zip", key, sizeof(key), e) != 0 ||
        lock_uploads(o, &lock_until, e) != 0)
        goto out;
    if ((r = s3_head(o->s3, key, &remote_size, remote_sha, e)) < 0)
        goto out;
    if (r == 1 && remote_size == row.size && strcmp(remote_sha, row.archive_sha256) == 0) {
        /* A round cut short after the archive may have missed the manifest. */
        char mkey[sizeof(key)], msha[65];
        int64_t msize;
        if (offsite_object_key(o, name, ".manifest.json", mkey, sizeof(mkey), e) != 0 ||
            (r = s3_head(o->s3, mkey, &msize, msha, e)) < 0 ||
            (r == 0 && put_manifest(o, s, name, path, e) != 0))
            goto out;
        rc = 0;
        goto out;
    }
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
        err_sys(e, errno, "offsite: cannot read the local archive of %s", name);
        goto out;
    }
    if (fstat(fd, &st) != 0) {
        err_sys(e, errno, "offsite: stat %s", path);
        goto out;
    }
    size = (int64_t)st.st_size;
    /* Hash what will be sent, and refuse to copy an archive that no longer
     * matches its catalog entry: a bad copy offsite is worse than none.
     * Parts carry their own MD5, so a multipart upload needs only the
     * whole SHA-256. */
    if (digests_fd(fd, sha, sha_b64, size > OFFSITE_MULTIPART_ABOVE ? NULL : md5_b64, &hashed) != 0) {
        if (errno == ENOMEM)
            err_set(e, ERR_IO, "out of memory");
        else
            err_sys(e, errno, "offsite: read %s", path);
        goto out;
    }
    if (strcmp(sha, row.archive_sha256) != 0 || size != row.size) {
        err_set(e, ERR_VERIFY, "offsite: the local archive of %s does not match its catalog "
                               "SHA-256 (run statesnap verify); not uploaded", name);
        goto out;
    }
    if (size > OFFSITE_MULTIPART_ABOVE)
        rc = s3_put_multipart(o->s3, key, fd, size, sha, e);
    else
        rc = s3_put_file(o->s3, key, fd, size, sha, sha_b64, md5_b64, e);
    if (rc != 0)
        goto out;
    rc = -1;
    /* Trust only what the server says it now holds. */
    if ((r = s3_head(o->s3, key, &remote_size, remote_sha, e)) < 0)
        goto out;
    if (r == 0 || remote_size != size || strcmp(remote_sha, sha) != 0) {
        err_set(e, ERR_VERIFY, "offsite: after the upload of %s the server holds %s", name,
                r == 0 ? "nothing" : remote_size != size ? "a different size"
                                                        : "a different SHA-256");
        goto out;
    }
    if (put_manifest(o, s, name, path, e) != 0)
        goto out;
    /* The retention it was sent with, kept past a local prune (status shows it). */
    if (lock_until > 0 &&
        catalog_offsite_lock_set(s->cat, name, o->set.lock_mode, lock_until, sha, engine_now(), e) != 0)
        goto out;
    *uploaded = 1;
    rc = 0;
out:
    if (fd >= 0)
        close(fd);
    catalog_snapshot_clear(&row);
    return rc;
}

/* Check every snapshot the catalog calls synced against the bucket's
 * listing (size), and a HEAD (x-amz-meta-sha256) for each whose size
 * matches: one that is gone, or is another object now, goes back to
 * "pending" with the reason, is alerted, and is appended to lost. -1 only
 * when the bucket could not be asked. */
static int recheck_synced(struct offsite *o, struct store *s, json_t *lost, int64_t *checked,
                          struct err *e)
{
    json_t *listing = NULL, *archives, *manifests;
    struct catalog_offsite_row *rows = NULL;
    size_t n = 0;
    int rc = -1;

    *checked = 0;
    if (offsite_listing(o, &listing, e) != 0) {
        char why[sizeof(e->msg)];
        int code = e->code == ERR_UPSTREAM ? ERR_UPSTREAM : ERR_IO;
        snprintf(why, sizeof(why), "%s", e->msg);
        e->code = ERR_NONE;
        err_set(e, code, "offsite: cannot list the bucket, so nothing was checked or sent: %.400s", why);
        return -1;
    }
    archives = json_object_get(listing, "archives");
    manifests = json_object_get(listing, "manifests");
    if (catalog_offsite_rows(s->cat, &rows, &n, e) != 0)
        goto out;
    for (size_t i = 0; i < n; i++) {
        const json_t *obj = json_object_get(archives, rows[i].name);
        char problem[2 * (OFFSITE_KEY_MAX + OFFSITE_PREFIX_MAX) + 200], sha[65] = "",
            key[OFFSITE_KEY_MAX + OFFSITE_PREFIX_MAX];
        int64_t size = -1;
        int r;
        if (strcmp(rows[i].state, "synced") != 0)
            continue;
        if (s3_aborted(o->s3))
            break;
        (*checked)++;
        problem[0] = '\0';
        if (obj == NULL) {
            snprintf(problem, sizeof(problem), "gone from the bucket: %s%s.zip is missing",
                     o->set.prefix, rows[i].name);
        } else if (json_integer_value(json_object_get(obj, "size")) != rows[i].size) {
            snprintf(problem, sizeof(problem), "the bucket holds another object as %s%s.zip (%lld "
                     "bytes, the snapshot has %lld)", o->set.prefix, rows[i].name,
                     (long long)json_integer_value(json_object_get(obj, "size")), (long long)rows[i].size);
        } else {
            if (offsite_object_key(o, rows[i].name, ".zip", key, sizeof(key), e) != 0 ||
                (r = s3_head(o->s3, key, &size, sha, e)) < 0)
                goto out;
            if (r == 0)
                snprintf(problem, sizeof(problem), "gone from the bucket: %s is missing", key);
            else if (strcmp(sha, rows[i].sha256) != 0)
                snprintf(problem, sizeof(problem), "the bucket holds another object as %s (SHA-256 "
                         "%.12s..., the snapshot's is %.12s...)", key, sha[0] ? sha : "unknown",
                         rows[i].sha256);
            else if (json_object_get(manifests, rows[i].name) == NULL)
                snprintf(problem, sizeof(problem), "its manifest %s%s.manifest.json is gone from the "
                         "bucket", o->set.prefix, rows[i].name);
        }
        if (problem[0] == '\0')
            continue;
        (void)catalog_offsite_set(s->cat, rows[i].name, "pending", problem, engine_now(), NULL);
        json_array_append_new(lost, json_pack("{s:s, s:s}", "name", rows[i].name, "problem", problem));
        json_t *d = json_pack("{s:s}", "error", problem);
        engine_emit(store_config(s), "offsite", "error", rows[i].name, d);
        json_decref(d);
    }
    rc = 0;
out:
    catalog_offsite_rows_free(rows, n);
    json_decref(listing);
    return rc;
}

int offsite_sync(struct offsite *o, struct store *s, json_t **report, struct err *e)
{
    char **names = NULL;
    size_t n = 0;
    json_t *up = json_array(), *already = json_array(), *failed = json_array(), *lost = json_array();
    int nfailed = 0;
    int64_t checked = 0;

    *report = NULL;
    if (up == NULL || already == NULL || failed == NULL || lost == NULL) {
        err_set(e, ERR_IO, "out of memory");
        goto out;
    }
    /* Every round asks the bucket, even with nothing new: an endpoint that
     * cannot be reached fails the round, and a copy that vanished or was
     * replaced is found and sent again. */
    if (catalog_offsite_mark_new(s->cat, e) != 0)
        goto out;
    {
        struct err le = { 0 };
        int listed = recheck_synced(o, s, lost, &checked, &le) == 0;
        if (catalog_offsite_todo(s->cat, &names, &n, e) != 0)
            goto out;
        if (!listed) {
            /* Nothing could be sent: what was to go failed this round, with
             * the reason; what was synced stays so (unknown is not lost). */
            for (size_t i = 0; i < n; i++) {
                json_t *d = json_pack("{s:s}", "error", le.msg);
                (void)catalog_offsite_set(s->cat, names[i], "failed", le.msg, engine_now(), NULL);
                json_array_append_new(failed, json_pack("{s:s, s:s}", "name", names[i], "error", le.msg));
                engine_emit(store_config(s), "offsite", "error", names[i], d);
                json_decref(d);
            }
            if (n == 0) {
                json_t *d = json_pack("{s:s}", "error", le.msg);
                engine_emit(store_config(s), "offsite", "error", NULL, d);
                json_decref(d);
            }
            *e = le;
            *report = json_pack("{s:O, s:O, s:O, s:O, s:I}", "uploaded", up, "already", already,
                                "failed", failed, "lost", lost, "checked", (json_int_t)checked);
            nfailed = 1;
            goto out;
        }
    }
    for (size_t i = 0; i < n; i++) {
        struct err se = { 0 };
        int uploaded = 0;
        int64_t now = engine_now();
        /* Stopping is not a failure of the snapshots not yet sent: they stay as they are. */
        if (s3_aborted(o->s3))
            break;
        if (sync_one(o, s, names[i], &uploaded, &se) == 0) {
            /* A snapshot deleted meanwhile has no row to mark: nothing to say. */
            (void)catalog_offsite_set(s->cat, names[i], "synced", NULL, now, NULL);
            json_array_append_new(uploaded ? up : already, json_string(names[i]));
            continue;
        }
        if (se.code == ERR_NOT_FOUND && catalog_snapshot_exists(s->cat, names[i], NULL) == 0)
            continue;
        if (s3_aborted(o->s3))
            break;
        (void)catalog_offsite_set(s->cat, names[i], "failed", se.msg, now, NULL);
        json_array_append_new(failed, json_pack("{s:s, s:s}", "name", names[i], "error", se.msg));
        {
            json_t *d = json_pack("{s:s}", "error", se.msg);
            engine_emit(store_config(s), "offsite", "error", names[i], d);
            json_decref(d);
        }
        if (nfailed++ == 0)
            *e = se;
    }
    *report = json_pack("{s:O, s:O, s:O, s:O, s:I}", "uploaded", up, "already", already, "failed", failed,
                        "lost", lost, "checked", (json_int_t)checked);
    if (*report == NULL) {
        err_set(e, ERR_IO, "out of memory");
        goto out;
    }
    if (nfailed > 0) {
        /* The endpoint's trouble (unreachable, 5xx) is a retry later. */
        int code = e->code == ERR_UPSTREAM ? ERR_UPSTREAM : ERR_IO;
        if (nfailed > 1) {
            char first[sizeof(e->msg)];
            snprintf(first, sizeof(first), "%s", e->msg);
            e->code = ERR_NONE;
            err_set(e, code, "%d snapshots failed to sync; first: %.200s", nfailed, first);
        }
        e->code = code;
    }
out:
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    json_decref(up);
    json_decref(already);
    json_decref(failed);
    json_decref(lost);
    return *report != NULL && nfailed == 0 ? 0 : -1;
}

static json_t *time_or_null(int64_t t)
{
    char buf[32];

    if (t <= 0)
        return json_null();
    engine_time_format(t, buf, sizeof(buf));
    return json_string(buf);
}

json_t *offsite_locked_copies(struct catalog *cat, struct err *e)
{
    struct catalog_offsite_lock *rows = NULL;
    size_t n = 0;
    json_t *out;

    if (catalog_offsite_locks(cat, engine_now(), &rows, &n, e) != 0)
        return NULL;
    if ((out = json_array()) == NULL)
        err_set(e, ERR_IO, "out of memory");
    for (size_t i = 0; out != NULL && i < n; i++)
        json_array_append_new(out, json_pack("{s:s, s:s, s:o, s:s, s:b}", "name", rows[i].name,
                                             "mode", rows[i].mode, "retain_until",
                                             time_or_null(rows[i].retain_until), "archive_sha256",
                                             rows[i].archive_sha256, "local", rows[i].local));
    free(rows);
    return out;
}

int offsite_status(struct offsite *o, struct store *s, json_t **doc, struct err *e)
{
    struct catalog_offsite_stats st;
    char **names = NULL, ep[300];
    size_t n = 0;
    json_t *failed = json_array(), *locked;

    *doc = NULL;
    if (failed == NULL)
        return err_set(e, ERR_IO, "out of memory");
    if (catalog_offsite_stats(s->cat, &st, e) != 0 || catalog_offsite_todo(s->cat, &names, &n, e) != 0) {
        json_decref(failed);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        struct catalog_offsite off;
        if (catalog_offsite_get(s->cat, names[i], &off, NULL) == 0 &&
            strcmp(off.state, "failed") == 0)
            json_array_append_new(failed, json_pack("{s:s, s:s, s:o}", "name", names[i], "error",
                                                    off.error, "at", time_or_null(off.at)));
        free(names[i]);
    }
    free(names);
    if ((locked = offsite_locked_copies(s->cat, e)) == NULL) {
        json_decref(failed);
        return -1;
    }
    *doc = json_pack("{s:b, s:s, s:s, s:s, s:s, s:b, s:I, s:b, s:{s:I, s:I, s:I, s:I}, s:o, s:o}",
                     "enabled", 1, "endpoint", offsite_settings_endpoint(&o->set, ep, sizeof(ep)), "bucket",
                     o->set.s3.bucket, "prefix", o->set.prefix, "region", o->set.s3.region, "path_style",
                     o->set.s3.path_style, "interval_seconds", (json_int_t)o->set.interval,
                     "sync_after_create", o->set.sync_after_create, "counts", "none",
                     (json_int_t)st.none, "pending", (json_int_t)st.pending, "synced",
                     (json_int_t)st.synced, "failed", (json_int_t)st.failed, "last_success",
                     time_or_null(st.last_success), "failed_snapshots", failed);
    if (*doc == NULL) {
        json_decref(locked);
        return err_set(e, ERR_IO, "out of memory");
    }
    json_object_set_new(*doc, "object_lock", o->set.lock_mode[0]
                        ? json_pack("{s:s, s:I}", "mode", o->set.lock_mode, "days",
                                    (json_int_t)o->set.lock_days)
                        : json_null());
    json_object_set_new(*doc, "locked_copies", locked);
    return 0;
}

