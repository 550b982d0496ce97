/* op_adopt.c - the adopt operation: the archive of a catalogued snapshot put
 * back from a download in .work, after every byte checks out against the
 * catalog. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "archive.h"
#include "../common/fsutil.h"
#include "op.h"
#include "snapshot.h"

int engine_adopt_archive(struct store *s, const char *name, const char *path, struct err *e)
{
    struct catalog_snapshot row;
    struct archive *a = NULL;
    char final[PATH_MAX], sha[65];
    const char *mname;
    int64_t size;
    int rc = -1;
    size_t wl = strlen(s->work);
    struct op op = { 0 };

    memset(&row, 0, sizeof(row));
    if (strncmp(path, s->work, wl) != 0 || path[wl] != '/')
        return err_set(e, ERR_INVALID, "adopt: %s is not in the store's work directory", path);
    if (op_begin(s, OP_WRITE, &op, e) != 0)
        goto out;
    if (catalog_snapshot_get(s->cat, name, 0, &row, e) != 0 ||
        store_archive_path(s, name, final, sizeof(final), e) != 0)
        goto out;
    if (fs_exists(final) == 1) {
        err_set(e, ERR_CONFLICT, "the archive of \"%s\" is already in the store", name);
        goto out;
    }
    /* Every byte: the structure, each entry against the manifest, then the
     * whole file against the hash the catalog recorded at creation. */
    if (snapshot_archive_whole(path, &a, e) != 0 || snapshot_admissible(s->cfg, a, e) != 0)
        goto out;
    mname = json_string_value(json_object_get(archive_head(a), "name"));
    if (mname == NULL || strcmp(mname, name) != 0) {
        err_set(e, ERR_VERIFY, "the archive's manifest names another snapshot");
        goto out;
    }
    if (archive_file_sha256(path, sha, &size, e) != 0)
        goto out;
    if (strcmp(sha, row.archive_sha256) != 0 || size != row.size) {
        err_set(e, ERR_VERIFY, "archive SHA-256 %.12s... does not match the catalog's %.12s...",
                sha, row.archive_sha256);
        goto out;
    }
    if (rename(path, final) != 0) {
        err_sys(e, errno, "rename into %s", final);
        goto out;
    }
    if (fs_fsync_dir(s->dir, e) != 0)
        goto out;
    rc = 0;
out:
    archive_close(a);
    catalog_snapshot_clear(&row);
    if (rc != 0)
        unlink(path);
    op_end(&op);
    return rc;
}
