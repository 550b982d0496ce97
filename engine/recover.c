/* recover.c - recover_all: finish or undo what a killed process left in the
 * store (recover.h; the protocol is docs/DESIGN.md, "The crash protocol"). */
#include "recover.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
#include "../common/fsutil.h"
#include "snapshot.h"
#include "journal.h"

#define UPLOAD_STALE_SECONDS 3600   /* an upload this old is a dead client's */

/* An intent names the snapshot in its file name: NAME.create or NAME.delete. */
static int intent_name(const char *file, const char *suffix, char *name, size_t len)
{
    size_t fl = strlen(file), sl = strlen(suffix);

    if (fl <= sl || strcmp(file + fl - sl, suffix) != 0 || fl - sl >= len)
        return 0;
    memcpy(name, file, fl - sl);
    name[fl - sl] = '\0';
    return engine_name_check(name, NULL) == 0;
}

/* A drill's scratch directory in .work (d): a drill still running holds a
 * flock on it and is left alone (1); one whose process is gone, killed
 * mid-drill, is removed with everything in it, no symlink followed (1). 0
 * when f is not a directory (removed like any temp file), -1 on error. */
static int drill_leftover(DIR *d, const char *f, struct err *e)
{
    int fd = openat(dirfd(d), f, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

    if (fd < 0)
        return errno == ENOTDIR || errno == ELOOP || errno == ENOENT ? 0
               : err_sys(e, errno, "open leftover %s", f);
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int saved = errno;
        close(fd);
        return saved == EWOULDBLOCK ? 1 : err_sys(e, saved, "lock leftover %s", f);
    }
    int rc = fs_remove_tree(dirfd(d), f, e);
    close(fd);
    return rc == 0 ? 1 : -1;
}

int recover_all(struct store *s, struct err *e)
{
    DIR *d;
    struct dirent *de;
    char path[PATH_MAX], name[ENGINE_NAME_MAX + 1];
    int rc = 0;

    if (fs_join(path, sizeof(path), s->work, STORE_JOURNAL_FILE, e) != 0)
        return -1;
    if (fs_exists(path) == 1 && journal_recover(s, path, e) != 0)
        return -1;
    if ((d = opendir(s->work)) == NULL)
        return errno == ENOENT ? 0 : err_sys(e, errno, "open %s", s->work);
    while ((de = readdir(d)) != NULL) {
        const char *f = de->d_name;
        if (strcmp(f, ".") == 0 || strcmp(f, "..") == 0)
            continue;
        if (fs_join(path, sizeof(path), s->work, f, e) != 0) {
            rc = -1;
            break;
        }
        if (intent_name(f, ".create", name, sizeof(name))) {
            /* The archive may or may not have reached its final name; if it
             * did and is whole, it is adopted, else removed. */
            if (snapshot_adopt_or_remove(s, name, e) != 0) {
                rc = -1;
                break;
            }
        } else if (intent_name(f, ".delete", name, sizeof(name))) {
            if (snapshot_finish_delete(s, name, e) != 0) {
                rc = -1;
                break;
            }
        } else if (strncmp(f, STORE_DRILL_PREFIX, strlen(STORE_DRILL_PREFIX)) == 0) {
            int r = drill_leftover(d, f, e);
            if (r < 0) {
                rc = -1;
                break;
            }
            if (r > 0)
                continue;
        } else if (strncmp(f, STORE_UPLOAD_PREFIX, strlen(STORE_UPLOAD_PREFIX)) == 0) {
            struct stat st;
            if (lstat(path, &st) != 0 || time(NULL) - st.st_mtime < UPLOAD_STALE_SECONDS)
                continue;
        }
        if (unlink(path) != 0 && errno != ENOENT) {
            rc = err_sys(e, errno, "remove leftover %s", path);
            break;
        }
    }
    closedir(d);
    if (rc == 0)
        rc = fs_fsync_dir(s->work, e);
    if (rc == 0)
        rc = audit_flush(s, e);
    return rc;
}
