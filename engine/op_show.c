/* op_show.c - the show operations: one snapshot's document (show, latest)
 * and where its archive is (downloads). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "archive.h"
#include "../common/fsutil.h"
#include "op.h"
#include "snapshot.h"

static int show_one(struct store *s, const char *name, json_t **snap, struct err *e)
{
    struct catalog_snapshot row;
    char path[PATH_MAX];
    struct archive *a = NULL;
    struct err ae = { 0 };

    *snap = NULL;
    if (engine_name_check(name, e) != 0)
        return -1;
    if (catalog_snapshot_get(s->cat, name, 1, &row, e) != 0)
        return -1;
    *snap = snapshot_json(s, &row);
    catalog_snapshot_clear(&row);
    if (*snap == NULL)
        return err_set(e, ERR_IO, "out of memory");
    if (store_archive_path(s, name, path, sizeof(path), e) != 0)
        return -1;
    if (archive_open(&a, path, &ae) == 0) {
        json_t *m = archive_manifest_tree(a);
        archive_close(a);
        if (m == NULL)
            return err_set(e, ERR_IO, "out of memory");
        json_object_set_new(*snap, "manifest", m);
    } else {
        json_object_set_new(*snap, "manifest", json_null());
        json_object_set_new(*snap, "manifest_error", json_string(ae.msg));
    }
    return 0;
}

static int latest_one(struct store *s, json_t **snap, struct err *e)
{
    struct catalog_snapshot row;
    int64_t age;

    *snap = NULL;
    if (catalog_snapshot_latest(s->cat, &row, e) != 0)
        return -1;
    *snap = snapshot_json(s, &row);
    age = engine_now() - row.created_at;
    catalog_snapshot_clear(&row);
    if (*snap == NULL)
        return err_set(e, ERR_IO, "out of memory");
    json_object_set_new(*snap, "age_seconds", json_integer(age < 0 ? 0 : age));
    return 0;
}

static int archive_path_of(struct store *s, const char *name, char **path, char sha256[65],
                           struct err *e)
{
    struct catalog_snapshot row;
    char buf[PATH_MAX];

    *path = NULL;
    if (engine_name_check(name, e) != 0 || catalog_snapshot_get(s->cat, name, 0, &row, e) != 0)
        return -1;
    snprintf(sha256, 65, "%s", row.archive_sha256);
    catalog_snapshot_clear(&row);
    if (store_archive_path(s, name, buf, sizeof(buf), e) != 0)
        return -1;
    if (fs_exists(buf) != 1)
        return err_set(e, ERR_NOT_FOUND, "the archive of \"%s\" is missing from the store", name);
    if ((*path = strdup(buf)) == NULL)
        return err_set(e, ERR_IO, "out of memory");
    return 0;
}

int engine_show(struct store *s, const char *name, json_t **snap, struct err *e)
{
    struct op op;
    int rc;

    (void)op_begin(s, OP_READ, &op, e);   /* a query: no lock, as ever */
    rc = show_one(s, name, snap, e);
    op_end(&op);
    return rc;
}

struct files_relay {
    int (*each)(void *ctx, const struct engine_file *f);
    void *ctx;
};

static int relay_file(void *ctx, const struct catalog_file *cf)
{
    const struct files_relay *r = ctx;
    struct engine_file f = { cf->path, cf->size, cf->sha256, cf->group };

    return r->each(r->ctx, &f);
}

int engine_snapshot_files(struct store *s, const char *name,
                          int (*each)(void *ctx, const struct engine_file *f), void *ctx,
                          struct err *e)
{
    struct files_relay r = { each, ctx };
    struct op op;
    int rc;

    (void)op_begin(s, OP_READ, &op, e);   /* a query: no lock, as ever */
    rc = catalog_files_each(s->cat, name, relay_file, &r, e);
    op_end(&op);
    return rc;
}

int engine_latest(struct store *s, json_t **snap, struct err *e)
{
    struct op op;
    int rc;

    (void)op_begin(s, OP_READ, &op, e);   /* a query: no lock, as ever */
    rc = latest_one(s, snap, e);
    op_end(&op);
    return rc;
}

int engine_archive_path(struct store *s, const char *name, char **path, char sha256[65],
                        struct err *e)
{
    struct op op;
    int rc;

    (void)op_begin(s, OP_READ, &op, e);   /* a query: no lock, as ever */
    rc = archive_path_of(s, name, path, sha256, e);
    op_end(&op);
    return rc;
}
