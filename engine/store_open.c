/* store_open.c - opening a store: the handle (store.h), made if asked,
 * and whatever a killed process left finished first (recover_all). */
#include "store.h"

#include <dirent.h>
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
#include "recover.h"

static int work_has_entries(const struct store *s)
{
    DIR *d = opendir(s->work);
    struct dirent *de;
    int found = 0;

    if (d == NULL)
        return 0;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0) {
            found = 1;
            break;
        }
    }
    closedir(d);
    return found;
}

int store_open(struct store **out, const struct engine_config *cfg, int create, struct err *e)
{
    struct store *s;
    char path[PATH_MAX];
    struct stat st;

    *out = NULL;
    if (cfg->store == NULL || *cfg->store == '\0')
        return err_set(e, ERR_INVALID, "no store directory configured");
    if ((s = calloc(1, sizeof(*s))) == NULL)
        return err_set(e, ERR_IO, "out of memory");
    s->cfg = cfg;
    s->lock_fd = -1;
    archive_set_limits(cfg->max_unpacked_bytes, cfg->max_compression_ratio);
    if (snprintf(s->dir, sizeof(s->dir), "%s", cfg->store) >= (int)sizeof(s->dir) ||
        fs_join(s->work, sizeof(s->work), s->dir, STORE_WORK_DIR, e) != 0) {
        err_set(e, ERR_INVALID, "store path too long");
        goto fail;
    }
    if (fs_join(path, sizeof(path), s->dir, STORE_CATALOG_FILE, e) != 0)
        goto fail;
    if (stat(s->dir, &st) != 0) {
        if (errno != ENOENT || !create) {
            if (errno == ENOENT)
                err_set(e, ERR_NOT_FOUND, STORE_NOT_A_STORE, s->dir);
            else
                err_sys(e, errno, "store %s", s->dir);
            goto fail;
        }
        if (fs_mkdir_p(s->dir, STORE_DIR_MODE, e) != 0)
            goto fail;
        /* mkdir's mode passes through the umask; the store is private anyway. */
        if (chmod(s->dir, STORE_DIR_MODE) != 0) {
            err_sys(e, errno, "chmod %s", s->dir);
            goto fail;
        }
    } else if (!S_ISDIR(st.st_mode)) {
        err_set(e, ERR_INVALID, "store %s is not a directory", s->dir);
        goto fail;
    }
    /* Only a command that may create a snapshot makes a store: a typo in
     * --store must not leave an empty catalog behind and report 0 snapshots. */
    if (!create && fs_exists(path) != 1) {
        err_set(e, ERR_NOT_FOUND, STORE_NOT_A_STORE, s->dir);
        goto fail;
    }
    if (mkdir(s->work, STORE_DIR_MODE) != 0 && errno != EEXIST) {
        err_sys(e, errno, "create %s", s->work);
        goto fail;
    }
    if (create && fs_exists(path) != 1) {
        /* SQLite gives its -wal and -shm the database file's mode. */
        int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, STORE_FILE_MODE);
        if (fd < 0 || fchmod(fd, STORE_FILE_MODE) != 0) {
            err_sys(e, errno, "create %s", path);
            if (fd >= 0)
                close(fd);
            goto fail;
        }
        close(fd);
    }
    if (catalog_open(&s->cat, path, e) != 0)
        goto fail;
    /* A killed operation is finished by whoever comes next; if the lock is
     * busy, its holder is alive and will do it. A handle opened to write
     * (create != 0: the server at start, create, import) also brings
     * audit.jsonl up to the catalog, which a kill just after a commit can
     * leave one flush behind. */
    if (create || work_has_entries(s)) {
        struct engine_config quick = *cfg;
        const struct engine_config *saved = s->cfg;
        struct err ignored = { 0 };
        quick.lock_timeout_ms = 0;
        s->cfg = &quick;
        if (store_lock(s, &ignored) == 0) {
            /* What op_begin and op_end do around an operation, at open
             * (op.c is above this file: the same three steps, written out). */
            recover_all(s, &ignored);
            FAILPOINT("store.before_audit_flush");
            audit_flush(s, NULL);
            store_unlock(s);
        }
        s->cfg = saved;
        if (ignored.code != ERR_NONE && ignored.code != ERR_LOCKED) {
            *e = ignored;
            goto fail;
        }
    }
    *out = s;
    return 0;
fail:
    store_close(s);
    return -1;
}
