/* seal.c - encrypted offsite copies: encrypt to a temp file before the
 * upload, decrypt a download before the engine checks it (see seal.h). */
#include "seal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../common/fsutil.h"
#include "../engine/store.h"
#include "cms.h"
#include "digests.h"

/* A new file in .work named STORE_UPLOAD_PREFIX what-RANDOM, open
 * read-write; unlinked at once when path is NULL (nothing to clean up after
 * a crash). Returns the fd or -1 with e. */
static int work_file(struct store *s, const char *what, char *path, size_t len, struct err *e)
{
    char rnd[17], file[ENGINE_NAME_MAX + 64], tmp[PATH_MAX];
    char *p = path != NULL ? path : tmp;
    size_t pl = path != NULL ? len : sizeof(tmp);
    int fd;

    if (store_random_hex(rnd, 8, e) != 0)
        return -1;
    snprintf(file, sizeof(file), "%s%s-%s", STORE_UPLOAD_PREFIX, what, rnd);
    if (fs_join(p, pl, s->work, file, e) != 0)
        return -1;
    if ((fd = open(p, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, STORE_FILE_MODE)) < 0)
        return err_sys(e, errno, "offsite: create %s", p);
    if (path == NULL)
        (void)unlink(p);
    return fd;
}

int seal_encrypt(struct offsite *o, struct store *s, int in_fd, int *out_fd, int64_t *size,
                 char sha[65], char sha_b64[45], char md5_b64[25], struct err *e)
{
    struct cms_enc *c = NULL;
    struct digests d = { 0 };
    unsigned char buf[CMS_CHUNK];
    ssize_t n;
    int fd;

    *out_fd = -1;
    *size = 0;
    if (o->set.recipient == NULL)
        return err_set(e, ERR_INVALID, "offsite.encrypt_to is not set");
    if (lseek(in_fd, 0, SEEK_SET) != 0)
        return err_sys(e, errno, "offsite: rewind the archive");
    if ((fd = work_file(s, "seal", NULL, 0, e)) < 0)
        return -1;
    if (digests_init(&d) != 0) {
        err_set(e, ERR_IO, "out of memory");
        goto fail;
    }
    if (md5_b64 == NULL)
        digests_drop_md5(&d);
    if (cms_enc_open(o->set.recipient, in_fd, &c, e) != 0)
        goto fail;
    while ((n = cms_enc_read(c, buf, sizeof(buf), e)) > 0) {
        if (fs_write_all(fd, buf, (size_t)n) != 0) {
            err_sys(e, errno, "offsite: write the encrypted copy in .work");
            goto fail;
        }
        digests_update(&d, buf, (size_t)n);
        *size += n;
    }
    if (n < 0)
        goto fail;
    cms_enc_free(c);
    c = NULL;
    digests_final(&d, sha, sha_b64, md5_b64);
    digests_free(&d);
    if (lseek(fd, 0, SEEK_SET) != 0) {
        err_sys(e, errno, "offsite: rewind the encrypted copy");
        close(fd);
        return -1;
    }
    *out_fd = fd;
    return 0;
fail:
    cms_enc_free(c);
    digests_free(&d);
    close(fd);
    return -1;
}

int seal_put_bytes(struct offsite *o, struct store *s, const char *key, const void *buf,
                   size_t len, struct err *e)
{
    char sha[65], sha_b64[45];
    int64_t size = 0;
    int in, out = -1, rc = -1;
    unsigned char *enc = NULL;
    size_t got = 0;

    if ((in = work_file(s, "seal-in", NULL, 0, e)) < 0)
        return -1;
    if (fs_write_all(in, buf, len) != 0) {
        err_sys(e, errno, "offsite: write %s for encryption", key);
        goto out;
    }
    if (seal_encrypt(o, s, in, &out, &size, sha, sha_b64, NULL, e) != 0)
        goto out;
    if ((enc = malloc((size_t)size + 1)) == NULL) {
        err_set(e, ERR_IO, "out of memory");
        goto out;
    }
    while (got < (size_t)size) {
        ssize_t k = fs_read_some(out, enc + got, (size_t)size - got);
        if (k <= 0) {
            err_sys(e, k < 0 ? errno : EIO, "offsite: read the encrypted %s", key);
            goto out;
        }
        got += (size_t)k;
    }
    rc = s3_put_bytes(o->s3, key, enc, got, SEAL_CONTENT_TYPE, e);
out:
    free(enc);
    if (out >= 0)
        close(out);
    close(in);
    return rc;
}

static int ends_with(const char *s, const char *tail)
{
    size_t n = strlen(s), t = strlen(tail);

    return n >= t && strcmp(s + n - t, tail) == 0;
}

int seal_open(struct offsite *o, struct store *s, const char *key, const char *name, char *path,
              size_t len, int *sealed, struct err *e)
{
    unsigned char head[32];
    char out[PATH_MAX], what[ENGINE_NAME_MAX + 32];
    ssize_t n = 0;
    int fd, ofd = -1;

    *sealed = 0;
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
        err_sys(e, errno, "offsite: open %s", path);
        unlink(path);
        return -1;
    }
    n = fs_read_some(fd, head, sizeof(head));
    close(fd);
    if (!ends_with(key, SEAL_SUFFIX) && !(n > 0 && cms_looks_encrypted(head, (size_t)n)))
        return 0;
    *sealed = 1;
    if (o->set.decrypt_key == NULL) {
        unlink(path);
        return err_set(e, ERR_INVALID, "offsite: %s is an encrypted copy; set offsite.decrypt_key "
                                       "to the private key it was encrypted to", key);
    }
    snprintf(what, sizeof(what), "offsite-%s.zip", name);
    if ((ofd = work_file(s, what, out, sizeof(out), e)) < 0) {
        unlink(path);
        return -1;
    }
    /* No certificate: every recipient is tried with the key, so a key kept
     * from before encrypt_to changed still opens the older copies. */
    if (cms_decrypt_file(path, ofd, NULL, o->set.decrypt_key, e) != 0 || fsync(ofd) != 0) {
        if (e->code == ERR_NONE)
            err_sys(e, errno, "offsite: fsync %s", out);
        else {
            char why[sizeof(e->msg)];
            int code = e->code;
            snprintf(why, sizeof(why), "%s", e->msg);
            e->code = ERR_NONE;
            err_set(e, code, "offsite: %s: %.200s", key, why);
        }
        close(ofd);
        unlink(out);
        unlink(path);
        return -1;
    }
    if (close(ofd) != 0) {
        err_sys(e, errno, "offsite: close %s", out);
        unlink(out);
        unlink(path);
        return -1;
    }
    unlink(path);
    if (snprintf(path, len, "%s", out) >= (int)len) {
        unlink(out);
        return err_set(e, ERR_INVALID, "offsite: path too long");
    }
    return 0;
}
