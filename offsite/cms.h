/* cms.h - offsite copies encrypted to a recipient certificate (#21).
 *
 * An encrypted copy is CMS AuthEnvelopedData (RFC 5652, RFC 5083) with
 * AES-256-GCM content encryption and the content key wrapped for one
 * recipient: the X.509 certificate in offsite.encrypt_to (RSA or EC). It is
 * written as DER, streamed: the host holds only the certificate, and memory
 * stays at a few chunks whatever the archive's size. The objects are what
 *
 *     openssl cms -decrypt -binary -inform DER -in NAME.zip.p7m \
 *         -inkey key.pem -out NAME.zip
 *
 * reads. Decryption (cms_decrypt_file) streams as well: the object's
 * structure is rebuilt without its encrypted content (a small header with
 * the recipients and the GCM tag) and the content is handed to OpenSSL as
 * detached content, read from the file as it is decrypted; the tag is
 * checked at the end, so the output counts only when it returns 0. */
#ifndef STATESNAP_CMS_H
#define STATESNAP_CMS_H

#include <stddef.h>
#include <sys/types.h>

#include "../common/err.h"

#define CMS_CHUNK (64 * 1024)        /* plaintext read per step */

struct cms_recipient;                /* a loaded certificate */
struct cms_enc;                      /* one streaming encryption */

/* Load the PEM certificate at path (the recipient). Returns 0 with *out or
 * -1 with *e (ERR_INVALID naming the path for anything but a certificate
 * whose key can receive a content key). */
int cms_recipient_load(const char *path, struct cms_recipient **out, struct err *e);
void cms_recipient_free(struct cms_recipient *r);

/* Check that key_path is a readable PEM private key without a passphrase
 * and, when r is not NULL, the key of r's certificate. Returns 0 or -1 with
 * ERR_INVALID naming the path (never the key). */
int cms_key_check(const char *key_path, const struct cms_recipient *r, struct err *e);

/* Begin encrypting the bytes read from fd (from its current offset to EOF)
 * to r. The fd stays the caller's. Returns 0 with *out or -1 with *e. */
int cms_enc_open(const struct cms_recipient *r, int fd, struct cms_enc **out, struct err *e);

/* Up to len bytes of the encrypted object, in order: like read(2), 0 at
 * the end. Returns the count or -1 with *e (a read error on fd, or OpenSSL
 * refusing). */
ssize_t cms_enc_read(struct cms_enc *c, void *buf, size_t len, struct err *e);

/* Plaintext bytes consumed so far (for progress and checks). */
long long cms_enc_plain_bytes(const struct cms_enc *c);

void cms_enc_free(struct cms_enc *c);

/* Decrypt the CMS object at in_path (DER or BER; AuthEnvelopedData or
 * EnvelopedData) with the private key (PEM) into out_fd, in bounded memory;
 * with cert_path (NULL: try every recipient) the key must be its key. A key that is not the recipient's, a truncated
 * or altered object (the GCM tag) give ERR_VERIFY with what was wrong and
 * out_fd may hold a partial plaintext: write it to a temp file. Returns 0 or
 * -1 with *e. */
int cms_decrypt_file(const char *in_path, int out_fd, const char *cert_path,
                     const char *key_path, struct err *e);

/* 1 when the n bytes at head begin a CMS ContentInfo of the enveloped kinds
 * (AuthEnvelopedData or EnvelopedData), so a fetch can tell an encrypted
 * object from a plain zip (which starts "PK"). */
int cms_looks_encrypted(const unsigned char *head, size_t n);

#endif
