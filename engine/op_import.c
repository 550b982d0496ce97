/* op_import.c - the import operation: a zip from outside checked to the last
 * byte, then adopted crash-safely (the create intent first) under the name
 * its manifest gives. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "archive.h"
#include "audit.h"
#include "../common/failpoint.h"
#include "../common/fsutil.h"
#include "op.h"
#include "signing.h"
#include "snapshot.h"

#define IMPORT_COPY_BUF (256u * 1024)

static int copy_file(const char *from, const char *to, struct err *e)
{
    int in = -1, out = -1, rc = -1;
    char *buf = NULL;
    ssize_t r;

    if ((in = open(from, O_RDONLY | O_CLOEXEC)) < 0)
        return err_sys(e, errno, "open %s", from);
    if ((out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, STORE_FILE_MODE)) < 0 ||
        fchmod(out, STORE_FILE_MODE) != 0) {
        err_sys(e, errno, "create %s", to);
        goto out;
    }
    if ((buf = malloc(IMPORT_COPY_BUF)) == NULL) {
        err_set(e, ERR_IO, "out of memory");
        goto out;
    }
    while ((r = fs_read_some(in, buf, IMPORT_COPY_BUF)) > 0) {
        if (fs_write_all(out, buf, (size_t)r) != 0) {
            err_sys(e, errno, "write %s", to);
            goto out;
        }
    }
    if (r < 0 || fsync(out) != 0) {
        err_sys(e, errno, "copy to %s", to);
        goto out;
    }
    rc = 0;
out:
    if (in >= 0)
        close(in);
    if (out >= 0 && close(out) != 0 && rc == 0)
        rc = err_sys(e, errno, "close %s", to);
    free(buf);
    if (rc != 0)
        unlink(to);
    return rc;
}

static int import_locked(struct store *s, const char *path, unsigned flags, json_t **snap,
                         struct err *e);

int engine_import(struct store *s, const char *path, unsigned flags, json_t **snap, struct err *e)
{
    int rc = import_locked(s, path, flags, snap, e);

    if (rc != 0 && e->code != ERR_CONFLICT && e->code != ERR_INVALID) {
        json_t *fd = json_pack("{s:s}", "error", e->msg);
        engine_emit(s->cfg, "import", "error", NULL, fd);
        json_decref(fd);
    }
    return rc;
}

static int import_locked(struct store *s, const char *path, unsigned flags, json_t **snap,
                         struct err *e)
{
    int allow = (flags & ENGINE_ALLOW_UNSIGNED) != 0;
    struct signing_result sr;
    struct archive *a = NULL;
    char name[ENGINE_NAME_MAX + 1], tmp[PATH_MAX], final[PATH_MAX], file[ENGINE_NAME_MAX + 16];
    struct catalog_snapshot row;
    int rc = -1, intent = 0, r;
    size_t wl = strlen(s->work);
    struct op op = { 0 };

    *snap = NULL;
    memset(&row, 0, sizeof(row));
    /* Every byte is checked before anything in the store changes. */
    if (snapshot_archive_whole(path, &a, e) != 0) {
        if (e->code == ERR_NOT_FOUND)
            e->code = ERR_INVALID;
        return -1;
    }
    if (snapshot_admissible(s->cfg, a, e) != 0 ||
        signing_admit(s, a, allow, &sr, e) != 0) {
        archive_close(a);
        return -1;
    }
    snprintf(name, sizeof(name), "%s", json_string_value(json_object_get(archive_head(a), "name")));
    archive_close(a);
    a = NULL;
    if (op_begin(s, OP_WRITE, &op, e) != 0)
        return -1;
    if (store_archive_path(s, name, final, sizeof(final), e) != 0)
        goto out;
    if ((r = catalog_snapshot_exists(s->cat, name, e)) < 0)
        goto out;
    if (r == 1 || fs_exists(final) == 1) {
        err_set(e, ERR_CONFLICT, "a snapshot named \"%s\" already exists", name);
        goto out;
    }
    snprintf(file, sizeof(file), "%s.zip.tmp", name);
    if (fs_join(tmp, sizeof(tmp), s->work, file, e) != 0)
        goto out;
    /* An upload already in .work is moved; anything else is copied, so the
     * caller's file stays theirs. */
    if (strncmp(path, s->work, wl) == 0 && path[wl] == '/') {
        if (rename(path, tmp) != 0) {
            err_sys(e, errno, "move upload");
            goto out;
        }
    } else if (copy_file(path, tmp, e) != 0) {
        goto out;
    }
    /* Re-check the copy we now own: the source could have changed meanwhile. */
    if (snapshot_archive_whole(tmp, &a, e) != 0 ||
        snapshot_admissible(s->cfg, a, e) != 0 ||
        signing_admit(s, a, allow, &sr, e) != 0 ||
        strcmp(json_string_value(json_object_get(archive_head(a), "name")), name) != 0) {
        if (e->code == ERR_NONE)
            err_set(e, ERR_VERIFY, "archive changed while importing");
        unlink(tmp);
        goto out;
    }
    if (store_intent_write(s, name, "create", e) != 0) {
        unlink(tmp);
        goto out;
    }
    intent = 1;
    FAILPOINT("import.after_intent");
    if (chmod(tmp, STORE_FILE_MODE) != 0 || rename(tmp, final) != 0) {
        err_sys(e, errno, "rename into %s", final);
        unlink(tmp);
        goto out;
    }
    FAILPOINT("import.after_rename");
    if (fs_fsync_dir(s->dir, e) != 0 || snapshot_insert_from_archive(s, final, a, e) != 0) {
        unlink(final);
        goto out;
    }
    FAILPOINT("import.after_catalog");
    {
        json_t *ad = json_pack("{s:s,s:s}", "source", "import", "signature",
                               signing_state_name(sr.state));
        audit_append(s, "import", name, "ok", ad, NULL);
        json_decref(ad);
    }
    if (catalog_snapshot_get(s->cat, name, 1, &row, e) != 0)
        goto out;
    *snap = snapshot_json(s, &row);
    rc = *snap ? 0 : err_set(e, ERR_IO, "out of memory");
out:
    archive_close(a);
    catalog_snapshot_clear(&row);
    if (intent)
        store_intent_clear(s, name, "create", NULL);
    op_end(&op);
    return rc;
}
