/* op_reindex.c - the reindex operation: the catalog's snapshot rows rebuilt
 * from the archives in the store alone. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "archive.h"
#include "../common/failpoint.h"
#include "../common/fsutil.h"
#include "op.h"
#include "signing.h"
#include "snapshot.h"

struct reindex_order {
    struct catalog_snapshot *row;
    int64_t us;
};

static int cmp_order(const void *x, const void *y)
{
    const struct reindex_order *a = x, *b = y;

    if (a->row->created_at != b->row->created_at)
        return a->row->created_at < b->row->created_at ? -1 : 1;
    if (a->us != b->us)
        return a->us < b->us ? -1 : 1;
    return strcmp(a->row->name, b->row->name);
}

int engine_reindex(struct store *s, unsigned flags, json_t **report, struct err *e)
{
    struct reindex_order *order = NULL;
    int64_t *us = NULL;
    DIR *d = NULL;
    struct dirent *de;
    json_t *skipped = json_array();
    struct catalog_snapshot *rows = NULL;
    size_t n = 0, cap = 0;
    int rc = -1;
    struct op op = { 0 };

    *report = NULL;
    if (op_begin(s, OP_WRITE, &op, e) != 0) {
        json_decref(skipped);
        return -1;
    }
    if ((d = opendir(s->dir)) == NULL) {
        err_sys(e, errno, "open %s", s->dir);
        goto out;
    }
    while ((de = readdir(d)) != NULL) {
        char name[ENGINE_NAME_MAX + 1], path[PATH_MAX], sha[65];
        size_t len = strlen(de->d_name);
        struct archive *a = NULL;
        struct err ae = { 0 };
        int64_t size;

        if (len < 5 || strcmp(de->d_name + len - 4, ".zip") != 0 || len - 4 > ENGINE_NAME_MAX)
            continue;
        memcpy(name, de->d_name, len - 4);
        name[len - 4] = '\0';
        if (engine_name_check(name, &ae) != 0) {
            json_array_append_new(skipped, json_pack("{s:s,s:s}", "file", de->d_name, "problem",
                                                     ae.msg));
            continue;
        }
        if (fs_join(path, sizeof(path), s->dir, de->d_name, e))
            continue;
        if (snapshot_archive_whole(path, &a, &ae) != 0 ||
            snapshot_admissible(s->cfg, a, &ae) != 0 ||
            archive_file_sha256(path, sha, &size, &ae) != 0 ||
            strcmp(json_string_value(json_object_get(archive_head(a), "name")), name) != 0) {
            if (ae.code == ERR_NONE)
                err_set(&ae, ERR_VERIFY, "manifest names another snapshot");
            json_array_append_new(skipped, json_pack("{s:s,s:s}", "file", de->d_name, "problem",
                                                     ae.msg));
            archive_close(a);
            continue;
        }
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 64;
            struct catalog_snapshot *nr = realloc(rows, ncap * sizeof(*nr));
            int64_t *nu = nr ? realloc(us, ncap * sizeof(*nu)) : NULL;
            if (nr != NULL)
                rows = nr;
            if (nu == NULL) {
                archive_close(a);
                err_set(e, ERR_IO, "out of memory");
                goto out;
            }
            us = nu;
            cap = ncap;
        }
        const json_t *cu = json_object_get(archive_head(a), "created_us");
        us[n] = json_is_integer(cu) ? json_integer_value(cu) : 0;
        /* What the catalog knew beyond the archive (pin changes, labels
         * edited later, that it was admitted unsigned) survives a reindex
         * when the row is still there for this very archive. */
        struct catalog_snapshot old;
        struct err ge = { 0 };
        struct signing_result sr;
        int have_old = catalog_snapshot_get(s->cat, name, 0, &old, &ge) == 0;
        int known = have_old && strcmp(old.archive_sha256, sha) == 0;
        if (signing_admit(s, a, known || (flags & ENGINE_ALLOW_UNSIGNED), &sr, &ae) != 0) {
            if (have_old)
                catalog_snapshot_clear(&old);
            archive_close(a);
            if (ae.code != ERR_VERIFY) {
                *e = ae;
                goto out;
            }
            json_array_append_new(skipped, json_pack("{s:s,s:s}", "file", de->d_name, "problem",
                                                     ae.msg));
            continue;
        }
        int ok = snapshot_row_from_archive(a, size, sha, &rows[n], e);
        n++;
        archive_close(a);
        if (ok == 0) {
            snprintf(rows[n - 1].signature, sizeof(rows[n - 1].signature), "%s",
                     signing_state_name(sr.state));
            snprintf(rows[n - 1].signer, sizeof(rows[n - 1].signer), "%s",
                     sr.state == SIGNING_SIGNED ? sr.key_id : "");
        }
        if (ok != 0) {
            if (have_old)
                catalog_snapshot_clear(&old);
            goto out;
        }
        if (have_old) {
            rows[n - 1].pinned = old.pinned;
            rows[n - 1].pin_until = old.pin_until;
            free(rows[n - 1].labels_json);
            rows[n - 1].labels_json = old.labels_json;
            old.labels_json = NULL;
            snprintf(rows[n - 1].offsite_state, sizeof(rows[n - 1].offsite_state), "%s",
                     old.offsite_state);
            catalog_snapshot_clear(&old);
        }
    }
    /* Insert oldest first so row ids follow creation order: the list's
     * tie-break within one second stays what it was before the reindex. */
    if ((order = calloc(n + 1, sizeof(*order))) == NULL) {
        err_set(e, ERR_IO, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        order[i].row = &rows[i];
        order[i].us = us[i];
    }
    qsort(order, n, sizeof(*order), cmp_order);
    if (catalog_begin(s->cat, e) != 0)
        goto out;
    if (catalog_snapshot_delete_all(s->cat, e) != 0)
        goto rollback;
    for (size_t i = 0; i < n; i++)
        if (catalog_snapshot_insert(s->cat, order[i].row, e) != 0)
            goto rollback;
    FAILPOINT("reindex.before_commit");
    if (catalog_commit(s->cat, e) != 0)
        goto out;
    FAILPOINT("reindex.after_commit");
    *report = json_pack("{s:I,s:O}", "indexed", (json_int_t)n, "skipped", skipped);
    rc = *report ? 0 : err_set(e, ERR_IO, "out of memory");
    goto out;
rollback:
    catalog_rollback(s->cat);
out:
    if (d != NULL)
        closedir(d);
    free(order);
    free(us);
    catalog_snapshots_free(rows, n);
    json_decref(skipped);
    op_end(&op);
    return rc;
}
