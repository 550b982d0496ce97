/* target.c - restore elsewhere: the directory it writes (a path, or a name
 * under restore_targets_dir), its checks, and the store seeing it as its
 * state root while the restore runs. */
#include "target.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/fsutil.h"

void target_redirect_begin(struct store *s, struct target_redirect *rt, const char *target)
{
    rt->saved = s->cfg;
    rt->cfg = *s->cfg;
    rt->cfg.root = target;
    rt->cfg.dotenv = NULL;
    s->cfg = &rt->cfg;
}

void target_redirect_end(struct store *s, struct target_redirect *rt)
{
    if (rt->saved != NULL)
        s->cfg = rt->saved;
}

/* The directory a restore elsewhere writes: a path as given (the CLI), or a
 * bare name under cfg->restore_targets_dir (the API: a client never names a
 * server path). NULL with e when it cannot be. */
const char *target_path(struct store *s, const char *target, char *buf, size_t len,
                        struct err *e)
{
    if (strchr(target, '/') != NULL)
        return target;
    if (s->cfg->restore_targets_dir == NULL) {
        err_set(e, ERR_INVALID, "restore elsewhere by name needs \"restore_targets_dir\" in the "
                "config (or give a path)");
        return NULL;
    }
    if (engine_name_check(target, NULL) != 0) {
        err_set(e, ERR_INVALID, "a restore target name is [A-Za-z0-9][A-Za-z0-9._-]{0,63}");
        return NULL;
    }
    if (fs_join(buf, len, s->cfg->restore_targets_dir, target, e) != 0)
        return NULL;
    return buf;
}

/* --target is absent, or an empty directory. */
int target_empty_or_absent(const char *target, struct err *e)
{
    struct stat st;
    DIR *d;
    struct dirent *de;
    int empty = 1;

    if (target == NULL || target[0] == '\0')
        return err_set(e, ERR_INVALID, "--target needs a directory");
    if (lstat(target, &st) != 0)
        return errno == ENOENT ? 0 : err_sys(e, errno, "--target %s", target);
    if (!S_ISDIR(st.st_mode))
        return err_set(e, ERR_INVALID, "--target %.200s is not a directory", target);
    if ((d = opendir(target)) == NULL)
        return err_sys(e, errno, "--target %s", target);
    while ((de = readdir(d)) != NULL && empty)
        empty = strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0;
    closedir(d);
    if (!empty)
        return err_set(e, ERR_CONFLICT, "--target %.200s is not empty: restore elsewhere writes "
                       "into a new or empty directory only", target);
    return 0;
}

/* 1 if path is dir or below it (both real paths). */
static int below(const char *path, const char *dir)
{
    size_t n = strlen(dir);

    return strncmp(path, dir, n) == 0 && (path[n] == '\0' || path[n] == '/' || n == 1);
}

/* A target directory for restore elsewhere: new (made 0700, in a directory
 * that exists) or empty, and neither the state root, nor inside it, nor the
 * store. Checked before anything is made. */
int target_check(struct store *s, const char *target, struct err *e)
{
    char real[PATH_MAX], live[PATH_MAX], store[PATH_MAX], parent[PATH_MAX];
    const char *slash, *base;
    int absent;

    if (target_empty_or_absent(target, e) != 0)
        return -1;
    absent = access(target, F_OK) != 0;
    if (!absent) {
        if (realpath(target, real) == NULL)
            return err_sys(e, errno, "--target %s", target);
    } else {
        /* Where it would be: its parent's real path and its name. */
        slash = strrchr(target, '/');
        base = slash ? slash + 1 : target;
        snprintf(parent, sizeof(parent), "%.*s", slash ? (int)(slash - target) : 1,
                 slash ? (slash == target ? "/" : target) : ".");
        if (*base == '\0' || strcmp(base, ".") == 0 || strcmp(base, "..") == 0)
            return err_set(e, ERR_INVALID, "--target %.200s: name a directory", target);
        if (realpath(parent, real) == NULL)
            return err_sys(e, errno, "--target %s: its directory", target);
        if (strlen(real) + 1 + strlen(base) >= sizeof(real))
            return err_set(e, ERR_INVALID, "--target %.200s: path too long", target);
        strcat(strcat(real, strcmp(real, "/") == 0 ? "" : "/"), base);
    }
    if (s->cfg->root != NULL && realpath(s->cfg->root, live) != NULL && below(real, live))
        return err_set(e, ERR_INVALID, "--target %.200s is the state root or inside it; "
                       "restore the live root without --target", target);
    if (realpath(s->dir, store) != NULL && below(real, store))
        return err_set(e, ERR_INVALID, "--target %.200s is inside the store", target);
    if (absent && mkdir(target, 0700) != 0)
        return err_sys(e, errno, "--target %s", target);
    return 0;
}
