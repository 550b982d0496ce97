/* fetch.c - archives back from the bucket: one snapshot (`offsite fetch`,
 * and before a restore whose archive is gone), or every archive under the
 * prefix with the catalog rebuilt (`reindex --from-offsite`). A download
 * lands in .work and the engine verifies every hash before it takes its
 * place. */
#include "fetch.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/fsutil.h"
#include "../db/offsite.h"
#include "../engine/archive.h"
#include "../engine/store.h"
#include "bucket.h"
#include "seal.h"

/* The listing's archives as an array (new reference), in key order. */
static json_t *archives_of(json_t *listing)
{
    json_t *arr = json_array(), *v;
    const char *k;

    json_object_foreach(json_object_get(listing, "archives"), k, v)
        json_array_append(arr, v);
    return arr;
}

/* GET key into a new .work/upload-offsite-* file, hashing it on the way;
 * the object's stored sha256 must match what arrived. *path is the temp
 * file (caller removes it or hands it on). */
static int download(struct offsite *o, struct store *s, const char *key, const char *name,
                    char *path, size_t len, char sha[65], struct err *e)
{
    char rnd[17], file[ENGINE_NAME_MAX + 64];
    int fd, rc = -1;

    if (store_random_hex(rnd, 8, e) != 0)
        return -1;
    snprintf(file, sizeof(file), "%soffsite-%s-%s.zip", STORE_UPLOAD_PREFIX, name, rnd);
    if (fs_join(path, len, s->work, file, e) != 0)
        return -1;
    if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, STORE_FILE_MODE)) < 0)
        return err_sys(e, errno, "offsite: create %s", path);
    if (s3_get_file(o->s3, key, fd, sha, e) != 0)
        goto out;
    if (fsync(fd) != 0) {
        err_sys(e, errno, "offsite: fsync %s", path);
        goto out;
    }
    rc = 0;
out:
    if (close(fd) != 0 && rc == 0)
        rc = err_sys(e, errno, "offsite: close %s", path);
    if (rc != 0)
        unlink(path);
    return rc;
}

/* GET NAME's copy under key (sealed or not, by suffix) and open it: *path
 * is then the archive in .work, *sealed and *copy_size/copy_sha what the
 * bucket held. */
static int fetch_copy(struct offsite *o, struct store *s, const char *key, const char *name,
                      char *path, size_t len, int *sealed, int64_t *copy_size, char copy_sha[65],
                      struct err *e)
{
    struct stat st;

    if (download(o, s, key, name, path, len, copy_sha, e) != 0)
        return -1;
    *copy_size = stat(path, &st) == 0 ? (int64_t)st.st_size : 0;
    return seal_open(o, s, key, name, path, len, sealed, e);
}

int offsite_fetch(struct offsite *o, struct store *s, const char *name, int *fetched,
                  struct err *e)
{
    char local[PATH_MAX], tmp[PATH_MAX], key[OFFSITE_KEY_MAX + OFFSITE_PREFIX_MAX],
        other[sizeof(key)], sha[65];
    struct catalog_offsite off;
    int64_t copy_size = 0;
    int r, rc, sealed = 0, first_sealed;

    *fetched = 0;
    if (engine_name_check(name, e) != 0)
        return -1;
    if ((r = catalog_snapshot_exists(s->cat, name, e)) < 0)
        return -1;
    /* The copy the catalog recorded first (an encrypted one, or with
     * encrypt_to set the encrypted form), then the other form. */
    memset(&off, 0, sizeof(off));
    if (r == 1)
        (void)catalog_offsite_get(s->cat, name, &off, NULL);
    first_sealed = off.copy_sha256[0] != '\0' || o->set.recipient != NULL;
    if (store_archive_path(s, name, local, sizeof(local), e) != 0 ||
        offsite_object_key(o, name, first_sealed ? ".zip" SEAL_SUFFIX : ".zip", key, sizeof(key), e) != 0 ||
        offsite_object_key(o, name, first_sealed ? ".zip" : ".zip" SEAL_SUFFIX, other, sizeof(other), e) != 0)
        return -1;
    if (r == 1 && fs_exists(local) == 1)
        return 0;
    rc = fetch_copy(o, s, key, name, tmp, sizeof(tmp), &sealed, &copy_size, sha, e);
    if (rc != 0 && e->code == ERR_NOT_FOUND) {
        char first[sizeof(key)];
        memcpy(first, key, sizeof(first));
        e->code = ERR_NONE;
        memcpy(key, other, sizeof(key));
        rc = fetch_copy(o, s, key, name, tmp, sizeof(tmp), &sealed, &copy_size, sha, e);
        if (rc != 0 && e->code == ERR_NOT_FOUND) {
            e->code = ERR_NONE;
            if (r == 1)
                err_set(e, ERR_NOT_FOUND, "the archive of %s is missing locally and not in the "
                                          "offsite store (%s, %s)", name, first, other);
            else
                err_set(e, ERR_NOT_FOUND, "no snapshot named \"%s\" in the catalog or the offsite "
                                          "store (%s, %s)", name, first, other);
        }
    }
    if (rc != 0)
        return -1;
    if (r == 1) {
        if (engine_adopt_archive(s, name, tmp, e) != 0)
            return -1;
    } else {
        /* Only in the bucket: imported like any zip (every byte checked),
         * and only under the name asked for. */
        struct archive *a = NULL;
        json_t *snap = NULL;
        const char *mname;
        if (archive_open(&a, tmp, e) != 0) {
            unlink(tmp);
            return -1;
        }
        mname = json_string_value(json_object_get(archive_head(a), "name"));
        if (mname == NULL || strcmp(mname, name) != 0) {
            err_set(e, ERR_VERIFY, "offsite: %s holds a snapshot named \"%.64s\", not \"%s\"", key,
                    mname ? mname : "", name);
            archive_close(a);
            unlink(tmp);
            return -1;
        }
        archive_close(a);
        if (engine_import(s, tmp, 0, &snap, e) != 0) {
            unlink(tmp);
            return -1;
        }
        json_decref(snap);
        (void)catalog_offsite_set_copy(s->cat, name, sealed ? sha : NULL, copy_size, NULL);
        (void)catalog_offsite_set(s->cat, name, "synced", NULL, engine_now(), NULL);
    }
    *fetched = 1;
    return 0;
}

int offsite_reindex(struct offsite *o, struct store *s, unsigned flags, json_t **report,
                    struct err *e)
{
    json_t *objs = NULL, *obj, *down = json_array(), *present = json_array(),
           *skipped = json_array(), *ri = NULL, *snap = NULL;
    size_t i;
    int rc = -1;

    *report = NULL;
    if (down == NULL || present == NULL || skipped == NULL) {
        err_set(e, ERR_IO, "out of memory");
        goto out;
    }
    {
        json_t *listing = NULL;
        if (offsite_listing(o, &listing, e) != 0)
            goto out;
        objs = archives_of(listing);
        json_decref(listing);
    }
    json_array_foreach(objs, i, obj) {
        const char *name = json_string_value(json_object_get(obj, "name"));
        const char *key = json_string_value(json_object_get(obj, "key"));
        char local[PATH_MAX], tmp[PATH_MAX], sha[65];
        struct err oe = { 0 };
        int r;
        if (store_archive_path(s, name, local, sizeof(local), &oe) != 0)
            goto skip;
        if (fs_exists(local) == 1) {
            json_array_append_new(present, json_string(name));
            continue;
        }
        {
            int sealed;
            if (download(o, s, key, name, tmp, sizeof(tmp), sha, &oe) != 0 ||
                seal_open(o, s, key, name, tmp, sizeof(tmp), &sealed, &oe) != 0)
                goto skip;
        }
        if ((r = catalog_snapshot_exists(s->cat, name, &oe)) < 0) {
            unlink(tmp);
            goto skip;
        }
        /* Either way every entry's hash is checked before the archive is kept. */
        if (r == 1 ? engine_adopt_archive(s, name, tmp, &oe) != 0
                   : engine_import(s, tmp, flags, &snap, &oe) != 0) {
            unlink(tmp);
            goto skip;
        }
        json_decref(snap);
        snap = NULL;
        json_array_append_new(down, json_string(name));
        continue;
skip:
        json_array_append_new(skipped, json_pack("{s:s, s:s}", "key", key, "problem", oe.msg));
    }
    if (engine_reindex(s, flags, &ri, e) != 0)
        goto out;
    /* What came from the bucket, and what it already held, is offsite. */
    json_array_foreach(objs, i, obj) {
        const char *name = json_string_value(json_object_get(obj, "name"));
        size_t j;
        json_t *v;
        json_array_foreach(skipped, j, v)
            if (strcmp(json_string_value(json_object_get(v, "key")),
                       json_string_value(json_object_get(obj, "key"))) == 0)
                break;
        if (j == json_array_size(skipped)) {
            /* An encrypted copy is recorded with its own hash, as a sync would. */
            char sha[65] = "";
            int64_t size = -1;
            struct err he = { 0 };
            if (json_is_true(json_object_get(obj, "encrypted"))) {
                if (s3_head(o->s3, json_string_value(json_object_get(obj, "key")), &size, sha,
                            &he) != 1 || sha[0] == '\0')
                    continue;      /* unknown: left for the next sync to send again */
                (void)catalog_offsite_set_copy(s->cat, name, sha, size, NULL);
            } else {
                (void)catalog_offsite_set_copy(s->cat, name, NULL, 0, NULL);
            }
            (void)catalog_offsite_set(s->cat, name, "synced", NULL, engine_now(), NULL);
        }
    }
    *report = json_pack("{s:O, s:O, s:O, s:O}", "downloaded", down, "present", present,
                        "skipped", skipped, "indexed", json_object_get(ri, "indexed"));
    rc = *report ? 0 : err_set(e, ERR_IO, "out of memory");
out:
    json_decref(objs);
    json_decref(down);
    json_decref(present);
    json_decref(skipped);
    json_decref(ri);
    return rc;
}


int offsite_fetch_if_missing(const json_t *section, struct store *s, const char *name,
                             int *fetched, struct err *e)
{
    struct offsite *o = NULL;
    char local[PATH_MAX];
    int rc;

    *fetched = 0;
    /* Only a catalogued snapshot whose archive is gone: a name the catalog
     * does not know is the restore's own "not found", and bringing in a
     * snapshot that exists only in the bucket is `offsite fetch`'s job. */
    if (section == NULL || engine_name_check(name, NULL) != 0 ||
        store_archive_path(s, name, local, sizeof(local), NULL) != 0 || fs_exists(local) == 1 ||
        catalog_snapshot_exists(s->cat, name, NULL) != 1)
        return 0;
    if (offsite_open(&o, section, e) != 0)
        return -1;
    rc = offsite_fetch(o, s, name, fetched, e);
    offsite_close(o);
    return rc;
}
