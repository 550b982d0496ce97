/* sign.h - Ed25519 keys and detached signatures for manifests (#21).
 *
 * A store signs every archive's manifest.json with one Ed25519 key: the
 * private half in a PEM file (PKCS#8, mode 0600, created once), the public
 * half beside it (SubjectPublicKeyInfo PEM) for operators to copy into other
 * hosts' trusted_keys. A signature is the 64 raw bytes Ed25519 gives over
 * the exact manifest bytes (RFC 8032, no pre-hash), so the OpenSSL command
 * line checks it alone:
 *
 *     openssl pkeyutl -verify -pubin -inkey signing_key.pub -rawin \
 *         -in manifest.json -sigfile manifest.json.sig
 *
 * A key is named by its key id: the lowercase hex SHA-256 of its public
 * key's DER (SubjectPublicKeyInfo), the same bytes `openssl pkey -pubin
 * -outform DER | sha256sum` hashes. A primitive: no locks, no store. */
#ifndef STATESNAP_SIGN_H
#define STATESNAP_SIGN_H

#include <stddef.h>

#include "../common/err.h"

#define SIGN_SIG_LEN 64          /* an Ed25519 signature */
#define SIGN_KEY_ID_LEN 64       /* hex SHA-256 */
#define SIGN_MAX_TRUSTED 16      /* keys in one trust list */

struct sign_key;                 /* a loaded key: private (can sign) or public only */

/* Load the private key at path, or, when no file is there and create is
 * non-zero, generate one and write it (0600, linked into place, fsynced).
 * With create, its public half is also written at pub_path (may be NULL)
 * when missing or not this key's (0600 like every store file: its owner
 * copies it out); without, nothing is written. Temp files go to tmp_dir
 * (the store's .work, which recovery sweeps after a kill) or, when NULL,
 * beside path. Two processes creating at once end with the same key on
 * disk (the loser loads the winner's). A file
 * that is not an Ed25519 private key, or that others can read, is refused
 * (ERR_INVALID, naming the path). Returns 0 with *out, or -1 with *e. */
int sign_key_load_private(const char *path, const char *pub_path, const char *tmp_dir,
                          int create, struct sign_key **out, struct err *e);

/* A public key from PEM text (SubjectPublicKeyInfo, as written beside the
 * private key or by `openssl pkey -pubout`). Returns 0 with *out or -1 with *e. */
int sign_key_from_pem(const char *pem, size_t len, struct sign_key **out, struct err *e);

/* The key's public half as PEM text (caller frees), or NULL on OOM. */
char *sign_key_public_pem(const struct sign_key *k);

/* The key id (NUL-terminated hex). Cannot fail. */
const char *sign_key_id(const struct sign_key *k);

void sign_key_free(struct sign_key *k);

/* Sign msg with a private key into sig. Returns 0 or -1 with *e
 * (ERR_INVALID when k has no private half). */
int sign_bytes(const struct sign_key *k, const void *msg, size_t len,
               unsigned char sig[SIGN_SIG_LEN], struct err *e);

/* 1 when sig is k's signature of msg, 0 when it is not (any other key, any
 * changed byte, a signature of the wrong length). Cannot fail otherwise. */
int sign_check(const struct sign_key *k, const void *msg, size_t len,
               const unsigned char *sig, size_t sig_len);

/* A set of trusted public keys, e.g. the store's own plus config's trusted_keys. */
struct sign_trust {
    struct sign_key *keys[SIGN_MAX_TRUSTED];
    size_t n;
};

/* Add a copy of k's public half (duplicates by key id are skipped).
 * Returns 0, or -1 with *e when the list is full (ERR_TOO_LARGE) or on OOM. */
int sign_trust_add(struct sign_trust *t, const struct sign_key *k, struct err *e);

/* Add the public key in the PEM file at path. Returns 0 or -1 with *e. */
int sign_trust_add_file(struct sign_trust *t, const char *path, struct err *e);

/* Which trusted key signed msg: copies its key id to id_out and returns 1;
 * 0 when none of them did. */
int sign_trust_check(const struct sign_trust *t, const void *msg, size_t len,
                     const unsigned char *sig, size_t sig_len, char id_out[SIGN_KEY_ID_LEN + 1]);

void sign_trust_clear(struct sign_trust *t);

#endif
