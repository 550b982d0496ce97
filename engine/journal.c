/* journal.c - the restore journal (STORE/.work/restore.journal): written
 * before a restore touches the state root, and rolled forward or undone by
 * recover_all after a kill (docs/DESIGN.md, "The crash protocol"). */
#include "journal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/evp.h>

#include "capture.h"
#include "../common/fsutil.h"
#include "manifest.h"
#include "rootfs.h"
#include "swap.h"

int journal_write(struct store *s, const char *phase, const struct restore_opts *o,
                  const struct plan *p, struct err *e)
{
    char path[PATH_MAX];
    json_t *j, *files = json_array();
    char *text;
    int rc;

    for (size_t i = 0; i < p->n; i++) {
        const struct step *st = &p->v[i];
        json_array_append_new(files, json_pack("{s:s,s:s,s:s,s:s,s:i}", "path", st->path,
                                               "action", st->action, "sha256", st->want_sha,
                                               "tmp", st->tmp != NULL ? st->tmp : "",
                                               "mode", (int)st->mode));
    }
    j = json_pack("{s:i,s:s,s:s,s:s,s:o}", "format", 1, "phase", phase, "snapshot", o->name,
                  "root", s->cfg->root, "files", files);
    if (j == NULL || (text = json_dumps(j, JSON_COMPACT)) == NULL) {
        json_decref(j);
        return err_set(e, ERR_IO, "out of memory");
    }
    json_decref(j);
    if (fs_join(path, sizeof(path), s->work, STORE_JOURNAL_FILE, e) != 0) {
        free(text);
        return -1;
    }
    rc = fs_write_atomic(path, text, strlen(text), 0600, e);
    free(text);
    return rc;
}

int journal_remove(struct store *s, struct err *e)
{
    char path[PATH_MAX];

    if (fs_join(path, sizeof(path), s->work, STORE_JOURNAL_FILE, e) != 0)
        return -1;
    if (unlink(path) != 0 && errno != ENOENT)
        return err_sys(e, errno, "remove %s", path);
    return fs_fsync_dir(s->work, e);
}

/* SHA-256 of regular file name in directory dfd, not following a symlink.
 * 1 when hashed, 0 when it is not there (or not a regular file), -1. */
static int sha_at(int dfd, const char *name, char hex[65], struct err *e)
{
    unsigned char buf[64 * 1024], digest[32];
    EVP_MD_CTX *md;
    struct stat st;
    ssize_t r;
    int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);

    if (fd < 0)
        return errno == ENOENT || errno == ELOOP ? 0 : err_sys(e, errno, "open %s", name);
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return 0;
    }
    if ((md = EVP_MD_CTX_new()) == NULL || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(md);
        close(fd);
        return err_set(e, ERR_IO, "out of memory");
    }
    while ((r = fs_read_some(fd, buf, sizeof(buf))) > 0)
        EVP_DigestUpdate(md, buf, (size_t)r);
    close(fd);
    if (r < 0) {
        EVP_MD_CTX_free(md);
        return err_sys(e, errno, "read %s", name);
    }
    EVP_DigestFinal_ex(md, digest, NULL);
    EVP_MD_CTX_free(md);
    fs_hex(digest, sizeof(digest), hex);
    return 1;
}

/* Bring one journaled create/overwrite to its snapshot version: the temp
 * when it holds the right bytes, else the target when it already does, else
 * extracted again from the archive (*a opened on first need). Every file is
 * reached through rootfs, relative to the verified directory fd. */
static int recover_file(struct store *s, const char *root, const char *name, const char *rel,
                        const char *want, const char *tmp, struct archive **a, struct err *e)
{
    char arch[PATH_MAX], ntmp[PATH_MAX], cur[65];
    const char *base;
    struct err he = { 0 };
    int dfd, rc = -1;

    if ((dfd = rootfs_open_parent(root, rel, 1, &base, e)) < 0)
        return -1;
    /* A temp file is trusted only with the right bytes: a crash during an
     * earlier recovery may have left it half-written. */
    if (swap_tmp_is_ours(root, rel, tmp)) {
        if (want && sha_at(dfd, swap_tmp_base(tmp), cur, &he) == 1 && strcmp(cur, want) == 0) {
            if (renameat(dfd, swap_tmp_base(tmp), dfd, base) != 0)
                goto out_sys;
            goto done;
        }
        unlinkat(dfd, swap_tmp_base(tmp), 0);
    }
    if (want && sha_at(dfd, base, cur, &he) == 1 && strcmp(cur, want) == 0)
        goto done;
    /* Neither the temp nor the right bytes: extract again from the archive. */
    if (*a == NULL && (store_archive_path(s, name, arch, sizeof(arch), e) != 0 ||
                       archive_open(a, arch, e) != 0))
        goto out;
    if (swap_tmp_is_ours(root, rel, tmp) && strlen(tmp) < sizeof(ntmp))
        snprintf(ntmp, sizeof(ntmp), "%s", tmp);
    else if (swap_tmp_name(root, rel, ntmp, sizeof(ntmp), e) != 0)
        goto out;
    if (swap_extract(root, *a, rel, 0644, ntmp, e) != 0)
        goto out;
    if (renameat(dfd, swap_tmp_base(ntmp), dfd, base) != 0) {
        unlinkat(dfd, swap_tmp_base(ntmp), 0);
        goto out_sys;
    }
done:
    fsync(dfd);
    rc = 0;
    goto out;
out_sys:
    err_sys(e, errno, "finishing the interrupted restore of \"%s\": %.200s", name, rel);
out:
    close(dfd);
    return rc;
}

int journal_recover(struct store *s, const char *path, struct err *e)
{
    char *text = NULL;
    size_t len;
    json_t *j = NULL, *files, *f;
    const char *phase, *name, *root;
    struct archive *a = NULL;
    size_t i;
    int rc = -1;

    if (fs_read_file(path, 64u << 20, &text, &len, e) != 0)
        return -1;
    j = json_loadb(text, len, 0, NULL);
    free(text);
    phase = json_string_value(json_object_get(j, "phase"));
    name = json_string_value(json_object_get(j, "snapshot"));
    root = json_string_value(json_object_get(j, "root"));
    files = json_object_get(j, "files");
    if (phase == NULL || name == NULL || root == NULL || !json_is_array(files) ||
        engine_name_check(name, NULL) != 0) {
        /* Written atomically, so unreadable means someone else's bytes: keep it for a human. */
        err_set(e, ERR_IO, "restore journal %s is unreadable; inspect it and remove it by hand", path);
        goto out;
    }
    if (strcmp(phase, "prepare") == 0) {
        json_array_foreach(files, i, f) {
            const char *rel = json_string_value(json_object_get(f, "path"));
            const char *tmp = json_string_value(json_object_get(f, "tmp"));
            if (rel != NULL && manifest_path_safe(rel) && swap_tmp_is_ours(root, rel, tmp))
                swap_remove_tmp(root, rel, tmp);
        }
        rc = unlink(path) == 0 || errno == ENOENT ? fs_fsync_dir(s->work, e)
                                                  : err_sys(e, errno, "remove %s", path);
        goto out;
    }
    /* commit: bring every file to its snapshot version. */
    json_array_foreach(files, i, f) {
        const char *rel = json_string_value(json_object_get(f, "path"));
        const char *action = json_string_value(json_object_get(f, "action"));
        const char *want = json_string_value(json_object_get(f, "sha256"));
        const char *tmp = json_string_value(json_object_get(f, "tmp"));
        /* The same rule as the restore itself: nothing outside the include set. */
        if (rel == NULL || action == NULL || !manifest_path_safe(rel) ||
            !capture_path_allowed(s->cfg, rel))
            continue;
        if (strcmp(action, "delete") == 0) {
            if (swap_in(root, rel, NULL, e) != 0)
                goto out;
            continue;
        }
        if (strcmp(action, "create") != 0 && strcmp(action, "overwrite") != 0)
            continue;
        if (recover_file(s, root, name, rel, want, tmp, &a, e) != 0)
            goto out;
    }
    if (unlink(path) != 0 && errno != ENOENT) {
        err_sys(e, errno, "finishing the interrupted restore of \"%s\"", name);
        goto out;
    }
    rc = fs_fsync_dir(s->work, e);
out:
    archive_close(a);
    json_decref(j);
    return rc;
}
