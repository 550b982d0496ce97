/* sign.c - Ed25519 keys and detached signatures for manifests, on OpenSSL's
 * EVP interface (see sign.h for the formats and the openssl recipe). */
#include "sign.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "../common/fsutil.h"

#define SIGN_PEM_MAX (16 * 1024)    /* a key file is a few hundred bytes */

struct sign_key {
    EVP_PKEY *pkey;
    int has_private;
    char id[SIGN_KEY_ID_LEN + 1];
};

/* Wrap pkey (taken) as a key, computing its id. NULL on failure (pkey freed). */
static struct sign_key *key_wrap(EVP_PKEY *pkey, int has_private)
{
    struct sign_key *k;
    unsigned char *der = NULL, md[32];
    unsigned int mdlen = 0;
    int n;

    if (pkey == NULL)
        return NULL;
    if ((k = calloc(1, sizeof(*k))) == NULL || (n = i2d_PUBKEY(pkey, &der)) <= 0 ||
        EVP_Digest(der, (size_t)n, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32) {
        OPENSSL_free(der);
        EVP_PKEY_free(pkey);
        free(k);
        return NULL;
    }
    OPENSSL_free(der);
    fs_hex(md, 32, k->id);
    k->pkey = pkey;
    k->has_private = has_private;
    return k;
}

void sign_key_free(struct sign_key *k)
{
    if (k == NULL)
        return;
    EVP_PKEY_free(k->pkey);
    free(k);
}

const char *sign_key_id(const struct sign_key *k)
{
    return k->id;
}

static int is_ed25519(EVP_PKEY *p)
{
    return p != NULL && EVP_PKEY_is_a(p, "ED25519");
}

int sign_key_from_pem(const char *pem, size_t len, struct sign_key **out, struct err *e)
{
    BIO *b;
    EVP_PKEY *p;

    *out = NULL;
    if (len > SIGN_PEM_MAX || (b = BIO_new_mem_buf(pem, (int)len)) == NULL)
        return err_set(e, ERR_INVALID, "public key: too long or out of memory");
    p = PEM_read_bio_PUBKEY(b, NULL, NULL, NULL);
    BIO_free(b);
    if (!is_ed25519(p)) {
        EVP_PKEY_free(p);
        return err_set(e, ERR_INVALID, "not an Ed25519 public key in PEM (BEGIN PUBLIC KEY)");
    }
    if ((*out = key_wrap(p, 0)) == NULL)
        return err_set(e, ERR_IO, "out of memory");
    return 0;
}

char *sign_key_public_pem(const struct sign_key *k)
{
    BIO *b = BIO_new(BIO_s_mem());
    char *data, *out = NULL;
    long n;

    if (b == NULL)
        return NULL;
    if (PEM_write_bio_PUBKEY(b, k->pkey) == 1 && (n = BIO_get_mem_data(b, &data)) > 0 &&
        (out = malloc((size_t)n + 1)) != NULL) {
        memcpy(out, data, (size_t)n);
        out[n] = '\0';
    }
    BIO_free(b);
    return out;
}

/* Parse an Ed25519 private key from the PEM bytes of the file at path. */
static int parse_private(const char *path, const char *pem, size_t len, struct sign_key **out,
                         struct err *e)
{
    BIO *b = BIO_new_mem_buf(pem, (int)len);
    EVP_PKEY *p = b ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) : NULL;

    BIO_free(b);
    if (!is_ed25519(p)) {
        EVP_PKEY_free(p);
        return err_set(e, ERR_INVALID, "%s: not an Ed25519 private key in PEM", path);
    }
    if ((*out = key_wrap(p, 1)) == NULL)
        return err_set(e, ERR_IO, "out of memory");
    return 0;
}

static int read_private(const char *path, struct sign_key **out, struct err *e)
{
    struct stat st;
    char *pem = NULL;
    size_t len = 0;
    int fd, rc;

    if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0)
        return err_sys(e, errno, "signing key %s", path);
    if (fstat(fd, &st) != 0) {
        rc = err_sys(e, errno, "signing key %s", path);
        close(fd);
        return rc;
    }
    close(fd);
    if (!S_ISREG(st.st_mode))
        return err_set(e, ERR_INVALID, "signing key %s is not a regular file", path);
    if (st.st_mode & 077)
        return err_set(e, ERR_INVALID, "signing key %s is readable by others (mode %03o): "
                       "chmod 600 it", path, (unsigned)(st.st_mode & 0777));
    if (fs_read_file(path, SIGN_PEM_MAX, &pem, &len, e) != 0)
        return -1;
    rc = parse_private(path, pem, len, out, e);
    OPENSSL_cleanse(pem, len);
    free(pem);
    return rc;
}

/* Generate a key and link it into place at path; EEXIST when another process
 * was first (the caller then loads that one). */
/* A temp file name for path: in tmp_dir (the store's .work, which recovery
 * sweeps) when given, else beside path. */
static int tmp_name(char *out, size_t len, const char *path, const char *tmp_dir, const char *tag)
{
    const char *base = strrchr(path, '/');

    base = base ? base + 1 : path;
    if (tmp_dir != NULL)
        return snprintf(out, len, "%s/%s.%s-" FS_TEMPLATE_TAIL, tmp_dir, base, tag) >= (int)len;
    return snprintf(out, len, "%s.%s-" FS_TEMPLATE_TAIL, path, tag) >= (int)len;
}

/* Write pem to path through a temp file and rename, durably. */
static int write_public(const char *path, const char *tmp_dir, const char *pem, struct err *e)
{
    char tmp[4096];
    int fd;

    if (tmp_name(tmp, sizeof(tmp), path, tmp_dir, "pub"))
        return err_set(e, ERR_INVALID, "public key path too long");
    if ((fd = mkostemp(tmp, O_CLOEXEC)) < 0)
        return err_sys(e, errno, "write %s", path);
    if (fchmod(fd, 0600) != 0 || fs_write_all(fd, pem, strlen(pem)) != 0 || fsync(fd) != 0) {
        err_sys(e, errno, "write %s", path);
        close(fd);
        unlink(tmp);
        return -1;
    }
    close(fd);
    if (rename(tmp, path) != 0) {
        err_sys(e, errno, "write %s", path);
        unlink(tmp);
        return -1;
    }
    return fs_fsync_parent(path, e);
}

static int create_private(const char *path, const char *tmp_dir, struct sign_key **out,
                          struct err *e)
{
    char tmp[4096];
    EVP_PKEY *p = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    BIO *b = BIO_new(BIO_s_mem());
    char *data;
    long n = 0;
    int fd = -1, rc = -1;

    if (p == NULL || b == NULL || PEM_write_bio_PrivateKey(b, p, NULL, NULL, 0, NULL, NULL) != 1 ||
        (n = BIO_get_mem_data(b, &data)) <= 0) {
        err_set(e, ERR_IO, "cannot generate an Ed25519 key");
        goto out;
    }
    if (tmp_name(tmp, sizeof(tmp), path, tmp_dir, "new")) {
        err_set(e, ERR_INVALID, "signing key path too long");
        goto out;
    }
    if ((fd = mkostemp(tmp, O_CLOEXEC)) < 0) {
        err_sys(e, errno, "signing key %s", path);
        goto out;
    }
    if (fchmod(fd, 0600) != 0 || fs_write_all(fd, data, (size_t)n) != 0 || fsync(fd) != 0) {
        err_sys(e, errno, "write signing key %s", tmp);
        goto unlink;
    }
    if (link(tmp, path) != 0) {
        if (errno == EEXIST)
            rc = 1;
        else
            err_sys(e, errno, "signing key %s", path);
        goto unlink;
    }
    if (fs_fsync_parent(path, e) != 0)
        goto unlink;
    if ((*out = key_wrap(p, 1)) == NULL) {
        p = NULL;                       /* key_wrap freed it */
        err_set(e, ERR_IO, "out of memory");
        goto unlink;
    }
    p = NULL;
    rc = 0;
unlink:
    (void)unlink(tmp);
out:
    if (fd >= 0)
        close(fd);
    BIO_free(b);
    EVP_PKEY_free(p);
    return rc;
}

int sign_key_load_private(const char *path, const char *pub_path, const char *tmp_dir,
                          int create, struct sign_key **out, struct err *e)
{
    struct sign_key *k = NULL;
    int rc;

    *out = NULL;
    if (access(path, F_OK) != 0 && errno == ENOENT && create) {
        if ((rc = create_private(path, tmp_dir, &k, e)) < 0)
            return -1;
        if (rc == 1 && read_private(path, &k, e) != 0)
            return -1;
    } else if (read_private(path, &k, e) != 0) {
        return -1;
    }
    if (pub_path != NULL && create) {
        /* Written when missing or not this key's, and only by a caller that
         * may write (create, under the store lock): a read never writes. */
        char *pem = sign_key_public_pem(k), *have = NULL;
        size_t hlen = 0;
        struct err re = { 0 };
        int same = pem != NULL && fs_read_file(pub_path, 64 * 1024, &have, &hlen, &re) == 0 &&
                   hlen == strlen(pem) && memcmp(have, pem, hlen) == 0;
        free(have);
        if (!same && (pem == NULL || write_public(pub_path, tmp_dir, pem, e) != 0)) {
            if (pem == NULL)
                err_set(e, ERR_IO, "out of memory");
            free(pem);
            sign_key_free(k);
            return -1;
        }
        free(pem);
    }
    *out = k;
    return 0;
}

int sign_bytes(const struct sign_key *k, const void *msg, size_t len,
               unsigned char sig[SIGN_SIG_LEN], struct err *e)
{
    EVP_MD_CTX *ctx;
    size_t n = SIGN_SIG_LEN;
    int ok;

    if (!k->has_private)
        return err_set(e, ERR_INVALID, "key %.16s has no private half: cannot sign", k->id);
    if ((ctx = EVP_MD_CTX_new()) == NULL)
        return err_set(e, ERR_IO, "out of memory");
    ok = EVP_DigestSignInit(ctx, NULL, NULL, NULL, k->pkey) == 1 &&
         EVP_DigestSign(ctx, sig, &n, msg, len) == 1 && n == SIGN_SIG_LEN;
    EVP_MD_CTX_free(ctx);
    return ok ? 0 : err_set(e, ERR_IO, "Ed25519 signing failed");
}

int sign_check(const struct sign_key *k, const void *msg, size_t len,
               const unsigned char *sig, size_t sig_len)
{
    EVP_MD_CTX *ctx;
    int ok;

    if (sig_len != SIGN_SIG_LEN || (ctx = EVP_MD_CTX_new()) == NULL)
        return 0;
    ok = EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, k->pkey) == 1 &&
         EVP_DigestVerify(ctx, sig, sig_len, msg, len) == 1;
    EVP_MD_CTX_free(ctx);
    return ok;
}

int sign_trust_add(struct sign_trust *t, const struct sign_key *k, struct err *e)
{
    struct sign_key *copy;
    char *pem;
    int rc;

    for (size_t i = 0; i < t->n; i++)
        if (strcmp(t->keys[i]->id, k->id) == 0)
            return 0;
    if (t->n >= SIGN_MAX_TRUSTED)
        return err_set(e, ERR_TOO_LARGE, "more than %d trusted keys", SIGN_MAX_TRUSTED);
    if ((pem = sign_key_public_pem(k)) == NULL)
        return err_set(e, ERR_IO, "out of memory");
    rc = sign_key_from_pem(pem, strlen(pem), &copy, e);
    free(pem);
    if (rc != 0)
        return -1;
    t->keys[t->n++] = copy;
    return 0;
}

int sign_trust_add_file(struct sign_trust *t, const char *path, struct err *e)
{
    struct err why = { 0 };
    struct sign_key *k;
    char *pem = NULL;
    size_t len = 0;
    int rc;

    if (fs_read_file(path, SIGN_PEM_MAX, &pem, &len, e) != 0)
        return -1;
    rc = sign_key_from_pem(pem, len, &k, &why);
    free(pem);
    if (rc != 0)
        return err_set(e, why.code, "trusted key %s: %s", path, why.msg);
    rc = sign_trust_add(t, k, e);
    sign_key_free(k);
    return rc;
}

int sign_trust_check(const struct sign_trust *t, const void *msg, size_t len,
                     const unsigned char *sig, size_t sig_len, char id_out[SIGN_KEY_ID_LEN + 1])
{
    for (size_t i = 0; i < t->n; i++) {
        if (sign_check(t->keys[i], msg, len, sig, sig_len)) {
            memcpy(id_out, t->keys[i]->id, SIGN_KEY_ID_LEN + 1);
            return 1;
        }
    }
    return 0;
}

void sign_trust_clear(struct sign_trust *t)
{
    for (size_t i = 0; i < t->n; i++)
        sign_key_free(t->keys[i]);
    t->n = 0;
}
