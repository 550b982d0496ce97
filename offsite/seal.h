/* seal.h - encrypted ("sealed") offsite copies (#21): an archive, or its
 * manifest, encrypted to offsite.encrypt_to (offsite/cms.c) into a temp file
 * in the store's .work before it is uploaded, and a downloaded copy opened
 * with offsite.decrypt_key before the engine verifies it.
 *
 * A sealed copy of NAME is PREFIX/NAME.zip.p7m beside
 * PREFIX/NAME.manifest.json.p7m: DER CMS AuthEnvelopedData (AES-256-GCM)
 * that `openssl cms -decrypt -binary -inform DER -inkey key.pem` reads.
 * Encryption is streamed through a temp file (memory: a few 64 KiB chunks
 * plus the multipart part; disk: one more copy of the archive while it is
 * sent). Decryption streams too (cms_decrypt_file): the download and the
 * decrypted archive are each a file in .work, memory stays at a few MiB. */
#ifndef STATESNAP_OFFSITE_SEAL_H
#define STATESNAP_OFFSITE_SEAL_H

#include <stddef.h>
#include <stdint.h>

#include "../common/err.h"
#include "../engine/engine.h"
#include "client.h"

#define SEAL_SUFFIX ".p7m"
#define SEAL_CONTENT_TYPE "application/pkcs7-mime"

/* Encrypt the whole of in_fd (from its start) to o's recipient into an
 * unlinked temp file in s's .work: *out_fd is open at offset 0 and the
 * caller closes it; *size, sha (hex), sha_b64 and, when md5_b64 is not NULL,
 * md5_b64 describe its bytes. Returns 0 or -1 with e. */
int seal_encrypt(struct offsite *o, struct store *s, int in_fd, int *out_fd, int64_t *size,
                 char sha[65], char sha_b64[45], char md5_b64[25], struct err *e);

/* Encrypt len bytes of buf to o's recipient and PUT them as key. Returns 0
 * or -1 with e. */
int seal_put_bytes(struct offsite *o, struct store *s, const char *key, const void *buf,
                   size_t len, struct err *e);

/* A downloaded object at path (in .work) for NAME: when key ends in
 * SEAL_SUFFIX or its bytes are CMS enveloped data, decrypt it with
 * offsite.decrypt_key into a new .work file whose path replaces path, and
 * remove the download; *sealed says which it was. A sealed copy with no
 * decrypt_key is ERR_INVALID, the wrong key or an altered object
 * ERR_VERIFY; on failure the download is removed too. Returns 0 or -1. */
int seal_open(struct offsite *o, struct store *s, const char *key, const char *name, char *path,
              size_t len, int *sealed, struct err *e);

#endif
