/* bucket.c - what the bucket holds under the prefix, sorted into our
 * archives, their manifests and foreign objects, and the `offsite list`
 * report that sets it beside the catalog. */
#include "bucket.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../db/offsite.h"
#include "../engine/store.h"
#include "seal.h"

/* Sort one <Contents> entry into the listing: our archives
 * (PREFIX/NAME.zip, or NAME.zip.p7m encrypted) and manifests
 * (PREFIX/NAME.manifest.json, or .manifest.json.p7m) by name, and
 * everything else under the prefix as foreign, with why it was skipped.
 * Keys are taken as listed: S3's XML escapes never occur in a valid name,
 * so an escaped key is simply foreign. */
struct sorting {
    json_t *listing;
    const struct offsite *o;
};

static void list_entry(void *ctx, const char *key, int64_t size, const char *mod)
{
    const struct sorting *so = ctx;
    json_t *listing = so->listing;
    const struct offsite *o = so->o;
    char name[ENGINE_NAME_MAX + 1];
    size_t pl = strlen(o->set.prefix), kl;
    const char *rest, *why = NULL, *kind = NULL;
    json_int_t bytes = (json_int_t)size;

    kl = strlen(key);
    if (kl < pl || strncmp(key, o->set.prefix, pl) != 0)
        return;   /* outside the prefix: not ours to judge */
    rest = key + pl;
    if (strchr(rest, '/') != NULL)
        why = "in a folder below the prefix";
    else if (kl > pl + 4 && strcmp(key + kl - 4, ".zip") == 0)
        kind = ".zip";
    else if (kl > pl + 8 && strcmp(key + kl - 8, ".zip" SEAL_SUFFIX) == 0)
        kind = ".zip" SEAL_SUFFIX;
    else if (kl > pl + 14 && strcmp(key + kl - 14, ".manifest.json") == 0)
        kind = ".manifest.json";
    else if (kl > pl + 18 && strcmp(key + kl - 18, ".manifest.json" SEAL_SUFFIX) == 0)
        kind = ".manifest.json" SEAL_SUFFIX;
    else
        why = "not NAME.zip, NAME.zip.p7m, NAME.manifest.json or NAME.manifest.json.p7m";
    if (kind != NULL) {
        size_t nl = kl - pl - strlen(kind);
        if (nl > ENGINE_NAME_MAX) {
            why = "name too long for a snapshot";
        } else {
            memcpy(name, rest, nl);
            name[nl] = '\0';
            if (engine_name_check(name, NULL) != 0)
                why = "not a valid snapshot name";
        }
    }
    if (why != NULL) {
        json_array_append_new(json_object_get(listing, "foreign"),
                              json_pack("{s:s, s:I, s:s}", "key", key, "size", bytes, "reason", why));
        return;
    }
    if (strncmp(kind, ".zip", 4) == 0)
        json_object_set_new(json_object_get(listing, kind[4] ? "sealed" : "plain"), name,
                            json_pack("{s:s, s:s, s:I, s:s, s:b}", "name", name, "key", key, "size",
                                      bytes, "last_modified", mod, "encrypted", kind[4] != '\0'));
    else
        json_object_set_new(json_object_get(listing, "manifests"), name, json_integer(bytes));
}

int offsite_listing(struct offsite *o, json_t **listing, struct err *e)
{
    json_t *out = json_pack("{s:o, s:o, s:o, s:o, s:o}", "archives", json_object(), "plain",
                            json_object(), "sealed", json_object(), "manifests", json_object(),
                            "foreign", json_array());
    struct sorting so = { out, o };
    json_t *plain, *sealed, *v;
    const char *name;

    *listing = NULL;
    if (out == NULL)
        return err_set(e, ERR_IO, "out of memory");
    if (s3_list(o->s3, o->set.prefix, list_entry, &so, e) != 0) {
        json_decref(out);
        return -1;
    }
    /* One archive per name: the encrypted copy when this host can open it
     * (decrypt_key) or there is no plain one, else the plain copy. */
    plain = json_object_get(out, "plain");
    sealed = json_object_get(out, "sealed");
    json_object_foreach(plain, name, v)
        if (json_object_get(sealed, name) == NULL || o->set.decrypt_key == NULL)
            json_object_set(json_object_get(out, "archives"), name, v);
    json_object_foreach(sealed, name, v)
        if (json_object_get(plain, name) == NULL || o->set.decrypt_key != NULL)
            json_object_set(json_object_get(out, "archives"), name, v);
    *listing = out;
    return 0;
}

int offsite_list(struct offsite *o, struct store *s, json_t **doc, struct err *e)
{
    json_t *listing = NULL, *objs = NULL, *missing = NULL, *obj;
    struct catalog_offsite_row *rows = NULL;
    size_t n = 0;
    const char *name;

    *doc = NULL;
    if (offsite_listing(o, &listing, e) != 0)
        return -1;
    if ((objs = json_array()) == NULL || (missing = json_array()) == NULL) {
        err_set(e, ERR_IO, "out of memory");
        goto fail;
    }
    json_object_foreach(json_object_get(listing, "archives"), name, obj) {
        char sha[65] = "";
        int64_t size = -1;
        struct catalog_offsite off;
        if (s3_head(o->s3, json_string_value(json_object_get(obj, "key")), &size, sha, e) < 0)
            goto fail;
        json_object_set_new(obj, "sha256", sha[0] ? json_string(sha) : json_null());
        json_object_set_new(obj, "catalog_state",
                            catalog_offsite_get(s->cat, name, &off, NULL) == 0
                                ? json_string(off.state[0] ? off.state : "none")
                                : json_null());
        json_object_set_new(obj, "manifest",
                            json_boolean(json_object_get(json_object_get(listing, "manifests"), name) != NULL));
        json_array_append(objs, obj);
    }
    /* What the catalog has that the bucket does not: whatever its state says. */
    if (catalog_offsite_rows(s->cat, &rows, &n, e) != 0)
        goto fail;
    for (size_t i = 0; i < n; i++)
        if (json_object_get(json_object_get(listing, "archives"), rows[i].name) == NULL)
            json_array_append_new(missing, json_pack("{s:s, s:s}", "name", rows[i].name, "catalog_state",
                                                     rows[i].state[0] ? rows[i].state : "none"));
    catalog_offsite_rows_free(rows, n);
    *doc = json_pack("{s:s, s:o, s:o, s:O}", "prefix", o->set.prefix, "objects", objs, "missing", missing,
                     "foreign", json_object_get(listing, "foreign"));
    objs = missing = NULL;
    json_decref(listing);
    return *doc ? 0 : err_set(e, ERR_IO, "out of memory");
fail:
    json_decref(objs);
    json_decref(missing);
    json_decref(listing);
    return -1;
}

