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
#include "lock.h"
#include "seal.h"

/* The manifest beside the archive, so a bucket listing can be read without
 * downloading archives. */
static int put_manifest(struct offsite *o, struct store *s, const char *name, const char *path,
                        int sealed, struct err *e)
{
    struct archive *a = NULL;
    char key[OFFSITE_KEY_MAX + OFFSITE_PREFIX_MAX], *buf = NULL;
    size_t len = 0;
    int rc = -1;

    if (offsite_object_key(o, name, sealed ? ".manifest.json" SEAL_SUFFIX : ".manifest.json", key,
                           sizeof(key), e) != 0 ||
        archive_open(&a, path, e) != 0)
        goto out;
    json_t *m = archive_manifest_tree(a);
    buf = m != NULL ? json_dumps(m, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL;
    json_decref(m);
    if (buf == NULL) {
        err_set(e, ERR_IO, "out of memory");
        goto out;
    }
    len = strlen(buf);
    rc = sealed ? seal_put_bytes(o, s, key, buf, len, e)
                : s3_put_bytes(o->s3, key, buf, len, "application/json", e);
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

/* After a sealed copy of NAME is confirmed, the plain copy an earlier round
 * left (before encrypt_to was set) goes: the bucket holds no plaintext. It
 * goes through offsite_delete_unless_locked, the one way to delete a bucket
 * object: a copy under Object Lock (by the catalog's record or the bucket's
 * refusal) stays, and `offsite list` shows it. */
static void drop_plain(struct offsite *o, struct catalog *cat, const char *name)
{
    char key[OFFSITE_KEY_MAX + OFFSITE_PREFIX_MAX], sha[65], why[256];
    int64_t size;
    struct err de = { 0 };

    if (offsite_object_key(o, name, ".zip", key, sizeof(key), &de) == 0 &&
        s3_head(o->s3, key, &size, sha, &de) == 1 &&
        offsite_delete_unless_locked(o, cat, name, key, why, sizeof(why), &de) == 0 &&
        offsite_object_key(o, name, ".manifest.json", key, sizeof(key), &de) == 0)
        (void)offsite_delete_unless_locked(o, cat, name, key, why, sizeof(why), &de);
}

/* Upload NAME unless the bucket already holds it: a plain copy with the
 * catalog's hash, or (with encrypt_to) the sealed copy the catalog recorded. */
static int sync_one(struct offsite *o, struct store *s, const char *name, int *uploaded,
                    struct err *e)
{
    struct catalog_snapshot row;
    struct catalog_offsite off;
    char path[PATH_MAX], key[OFFSITE_KEY_MAX + OFFSITE_PREFIX_MAX], sha[65], sha_b64[45],
        md5_b64[25] = "", remote_sha[65], usha[65], usha_b64[45], umd5[25] = "";
    int64_t remote_size = -1, size = 0, hashed = 0, usize = 0, lock_until = 0;
    int sealed = o->set.recipient != NULL;
    struct stat st;
    int fd = -1, cfd = -1, rc = -1, r, ufd;

    *uploaded = 0;
    memset(&row, 0, sizeof(row));
    memset(&off, 0, sizeof(off));
    if (catalog_snapshot_get(s->cat, name, 0, &row, e) != 0 ||
        (sealed && catalog_offsite_get(s->cat, name, &off, e) != 0) ||
        store_archive_path(s, name, path, sizeof(path), e) != 0 ||
        offsite_object_key(o, name, sealed ? ".zip" SEAL_SUFFIX : ".zip", key, sizeof(key), e) != 0 ||
        lock_uploads(o, &lock_until, e) != 0)
        goto out;
    if ((r = s3_head(o->s3, key, &remote_size, remote_sha, e)) < 0)
        goto out;
    if (r == 1 && (sealed ? off.copy_sha256[0] && remote_size == off.copy_size &&
                                strcmp(remote_sha, off.copy_sha256) == 0
                          : remote_size == row.size && strcmp(remote_sha, row.archive_sha256) == 0)) {
        /* A round cut short after the archive may have missed the manifest. */
        char mkey[sizeof(key)], msha[65];
        int64_t msize;
        if (offsite_object_key(o, name, sealed ? ".manifest.json" SEAL_SUFFIX : ".manifest.json",
                               mkey, sizeof(mkey), e) != 0 ||
            (r = s3_head(o->s3, mkey, &msize, msha, e)) < 0 ||
            (r == 0 && put_manifest(o, s, name, path, sealed, e) != 0))
            goto out;
        if (sealed)
            drop_plain(o, s->cat, name);
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
    if (digests_fd(fd, sha, sha_b64, !sealed && size <= OFFSITE_MULTIPART_ABOVE ? md5_b64 : NULL,
                   &hashed) != 0) {
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
    /* Sealed: what is sent (and hashed for S3) is the encrypted copy. */
    ufd = fd;
    usize = size;
    memcpy(usha, sha, sizeof(usha));
    memcpy(usha_b64, sha_b64, sizeof(usha_b64));
    memcpy(umd5, md5_b64, sizeof(umd5));
    if (sealed) {
        if (seal_encrypt(o, s, fd, &cfd, &usize, usha, usha_b64, umd5, e) != 0)
            goto out;
        ufd = cfd;
    }
    if (usize > OFFSITE_MULTIPART_ABOVE)
        rc = s3_put_multipart(o->s3, key, ufd, usize, usha, e);
    else
        rc = s3_put_file(o->s3, key, ufd, usize, usha, usha_b64, umd5, e);
    if (rc != 0)
        goto out;
    rc = -1;
    /* Trust only what the server says it now holds. */
    if ((r = s3_head(o->s3, key, &remote_size, remote_sha, e)) < 0)
        goto out;
    if (r == 0 || remote_size != usize || strcmp(remote_sha, usha) != 0) {
        err_set(e, ERR_VERIFY, "offsite: after the upload of %s the server holds %s", name,
                r == 0 ? "nothing" : remote_size != usize ? "a different size"
                                                         : "a different SHA-256");
        goto out;
    }
    if (put_manifest(o, s, name, path, sealed, e) != 0 ||
        catalog_offsite_set_copy(s->cat, name, sealed ? usha : NULL, usize, e) != 0)
        goto out;
    /* The retention it was sent with, kept past a local prune (status shows it). */
    if (lock_until > 0 &&
        catalog_offsite_lock_set(s->cat, name, o->set.lock_mode, lock_until, sha, engine_now(), e) != 0)
        goto out;
    if (sealed)
        drop_plain(o, s->cat, name);
    *uploaded = 1;
    rc = 0;
out:
    if (fd >= 0)
        close(fd);
    if (cfd >= 0)
        close(cfd);
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
    json_t *listing = NULL, *manifests;
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
    manifests = json_object_get(listing, "manifests");
    if (catalog_offsite_rows(s->cat, &rows, &n, e) != 0)
        goto out;
    for (size_t i = 0; i < n; i++) {
        /* The copy the catalog recorded: sealed (its own hash and size) or plain. */
        int rec_sealed = rows[i].copy_sha256[0] != '\0';
        const json_t *obj = json_object_get(json_object_get(listing, rec_sealed ? "sealed" : "plain"),
                                            rows[i].name);
        const char *suffix = rec_sealed ? ".zip" SEAL_SUFFIX : ".zip";
        const char *want_sha = rec_sealed ? rows[i].copy_sha256 : rows[i].sha256;
        int64_t want_size = rec_sealed ? rows[i].copy_size : rows[i].size;
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
            snprintf(problem, sizeof(problem), "gone from the bucket: %s%s%s is missing",
                     o->set.prefix, rows[i].name, suffix);
        } else if (json_integer_value(json_object_get(obj, "size")) != want_size) {
            snprintf(problem, sizeof(problem), "the bucket holds another object as %s%s%s (%lld "
                     "bytes, the %s has %lld)", o->set.prefix, rows[i].name, suffix,
                     (long long)json_integer_value(json_object_get(obj, "size")),
                     rec_sealed ? "encrypted copy sent" : "snapshot", (long long)want_size);
        } else {
            if (offsite_object_key(o, rows[i].name, suffix, key, sizeof(key), e) != 0 ||
                (r = s3_head(o->s3, key, &size, sha, e)) < 0)
                goto out;
            if (r == 0)
                snprintf(problem, sizeof(problem), "gone from the bucket: %s is missing", key);
            else if (strcmp(sha, want_sha) != 0)
                snprintf(problem, sizeof(problem), "the bucket holds another object as %s (SHA-256 "
                         "%.12s..., the %s is %.12s...)", key, sha[0] ? sha : "unknown",
                         rec_sealed ? "encrypted copy sent" : "snapshot's", want_sha);
            else if (json_object_get(manifests, rows[i].name) == NULL)
                snprintf(problem, sizeof(problem), "its manifest %s%s.manifest.json%s is gone from "
                         "the bucket", o->set.prefix, rows[i].name, rec_sealed ? SEAL_SUFFIX : "");
        }
        if (problem[0] == '\0' && !rec_sealed && o->set.recipient != NULL) {
            /* encrypt_to was set after this plain copy went: it goes again,
             * sealed, and the plain one is then removed. Nothing was lost. */
            (void)catalog_offsite_set(s->cat, rows[i].name, "pending", "a plain copy; "
                                      "offsite.encrypt_to is set, so it is sent again encrypted",
                                      engine_now(), NULL);
            continue;
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
    *doc = json_pack("{s:b, s:b, s:s, s:s, s:s, s:s, s:b, s:I, s:b, s:{s:I, s:I, s:I, s:I}, s:o, s:o}",
                     "enabled", 1, "encrypted", o->set.recipient != NULL, "endpoint", offsite_settings_endpoint(&o->set, ep, sizeof(ep)), "bucket",
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

