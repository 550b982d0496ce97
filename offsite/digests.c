/* digests.c - SHA-256 and MD5 of one stream at once, as S3 wants them:
 * hex SHA-256 (signed payload hash, x-amz-meta-sha256), base64 SHA-256
 * (x-amz-checksum-sha256) and base64 MD5 (Content-MD5). */
#include "digests.h"

#include <errno.h>

#include "../common/fsutil.h"

int digests_init(struct digests *d)
{
    d->sha = EVP_MD_CTX_new();
    d->md5 = EVP_MD_CTX_new();
    if (d->sha == NULL || d->md5 == NULL || EVP_DigestInit_ex(d->sha, EVP_sha256(), NULL) != 1 ||
        EVP_DigestInit_ex(d->md5, EVP_md5(), NULL) != 1)
        return -1;
    return 0;
}

void digests_update(struct digests *d, const void *p, size_t n)
{
    EVP_DigestUpdate(d->sha, p, n);
    if (d->md5 != NULL)
        EVP_DigestUpdate(d->md5, p, n);
}

void digests_final(struct digests *d, char sha_hex[65], char sha_b64[45], char md5_b64[25])
{
    unsigned char sha[32], md5[16];
    unsigned int n;

    EVP_DigestFinal_ex(d->sha, sha, &n);
    if (sha_hex != NULL)
        fs_hex(sha, 32, sha_hex);
    if (sha_b64 != NULL)
        EVP_EncodeBlock((unsigned char *)sha_b64, sha, 32);
    if (d->md5 != NULL) {
        EVP_DigestFinal_ex(d->md5, md5, &n);
        if (md5_b64 != NULL)
            EVP_EncodeBlock((unsigned char *)md5_b64, md5, 16);
    }
}

void digests_free(struct digests *d)
{
    EVP_MD_CTX_free(d->sha);
    EVP_MD_CTX_free(d->md5);
    d->sha = d->md5 = NULL;
}

void digests_drop_md5(struct digests *d)
{
    EVP_MD_CTX_free(d->md5);
    d->md5 = NULL;
}

int digests_fd(int fd, char sha_hex[65], char sha_b64[45], char md5_b64[25], int64_t *size)
{
    struct digests d = { 0 };
    char buf[1 << 16];
    ssize_t k;

    *size = 0;
    if (digests_init(&d) != 0) {
        digests_free(&d);
        errno = ENOMEM;
        return -1;
    }
    if (md5_b64 == NULL)
        digests_drop_md5(&d);
    while ((k = fs_read_some(fd, buf, sizeof(buf))) > 0) {
        digests_update(&d, buf, (size_t)k);
        *size += k;
    }
    if (k < 0) {
        int saved = errno;
        digests_free(&d);
        errno = saved;
        return -1;
    }
    digests_final(&d, sha_hex, sha_b64, md5_b64);
    digests_free(&d);
    return 0;
}
