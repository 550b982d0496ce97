/* digests.h - SHA-256 and MD5 of one stream at once (OpenSSL EVP). */
#ifndef STATESNAP_DIGESTS_H
#define STATESNAP_DIGESTS_H

#include <stddef.h>
#include <stdint.h>
#include <openssl/evp.h>

struct digests {
    EVP_MD_CTX *sha, *md5;       /* md5 is NULL once dropped */
};

/* Start both digests. Returns 0, or -1 on OOM (call digests_free either way). */
int digests_init(struct digests *d);

/* Add n bytes of p. Cannot fail. */
void digests_update(struct digests *d, const void *p, size_t n);

/* Finish into hex SHA-256, base64 SHA-256 and base64 MD5 (any output may be
 * NULL; md5_b64 is left alone when MD5 was dropped). Cannot fail. */
void digests_final(struct digests *d, char sha_hex[65], char sha_b64[45], char md5_b64[25]);

/* Stop computing MD5 (when only the SHA-256 is wanted). Cannot fail. */
void digests_drop_md5(struct digests *d);

/* Free both. Accepts a zeroed or freed struct; cannot fail. */
void digests_free(struct digests *d);

/* Hash the whole of fd from where it stands: hex and base64 SHA-256 and,
 * when md5_b64 is not NULL, base64 MD5 (any output may be NULL). *size gets
 * the bytes read. Returns 0, or -1 with errno set (ENOMEM when out of memory). */
int digests_fd(int fd, char sha_hex[65], char sha_b64[45], char md5_b64[25], int64_t *size);

#endif
