/* signing.h - the store's signing key and trust list, and what an archive's
 * signature is worth (#21). A primitive over engine/sign.c: the store's own
 * Ed25519 key lives at STORE/signing_key.pem (0600, made by the first create)
 * with its public half at STORE/signing_key.pub, or at the config's
 * signing_key (made there the same way, KEY.pub beside it); the trust list
 * is that key plus the config's trusted_keys. */
#ifndef STATESNAP_SIGNING_H
#define STATESNAP_SIGNING_H

#include <jansson.h>

#include "archive.h"
#include "sign.h"
#include "store.h"

#define SIGNING_KEY_FILE "signing_key.pem"
#define SIGNING_PUB_FILE "signing_key.pub"

enum signing_state {
    SIGNING_UNSIGNED = 0,   /* no manifest.json.sig (made before #21, or by another tool) */
    SIGNING_SIGNED,         /* a trusted key signed these manifest bytes */
    SIGNING_UNTRUSTED       /* signed, but by no trusted key: edited, or another store's */
};

struct signing_result {
    enum signing_state state;
    char key_id[SIGN_KEY_ID_LEN + 1];   /* the signer's, when SIGNED */
};

/* The store's private key (borrowed, cached on s). With create, made once
 * when missing (and its .pub written); without, ERR_NOT_FOUND when there is
 * none. Returns 0 or -1 with *e. */
int signing_key(struct store *s, int create, const struct sign_key **out, struct err *e);

/* What a's signature is worth against the store's trust list. Returns 0
 * with *r, or -1 with *e when a trusted key cannot be read (a config error). */
int signing_check(struct store *s, struct archive *a, struct signing_result *r,
                  struct err *e);

/* Put what a's signature is worth into row (signature, signer). Returns 0,
 * or -1 with *e as signing_check. */
int signing_fill_row(struct store *s, struct archive *a, struct catalog_snapshot *row,
                     struct err *e);

/* Whether an archive from outside (import, reindex, an offsite copy the
 * catalog does not know) may join the store: signed by a trusted key, or
 * allow is set (--allow-unsigned), which admits an unsigned or untrusted one
 * recorded as such. Returns 0 with *r, or -1 with *e: ERR_VERIFY saying
 * what the archive is and how to admit it, or signing_check's error. */
int signing_admit(struct store *s, struct archive *a, int allow, struct signing_result *r,
                  struct err *e);

/* A catalogued archive must still be worth what its row recorded: a row
 * that says signed needs a trusted signature now (a stripped or edited one
 * is refused); one admitted unsigned or untrusted is taken as it was.
 * Returns 0 with *r, or -1 with *e (ERR_VERIFY, or signing_check's error). */
int signing_matches_row(struct store *s, struct archive *a,
                        const struct catalog_snapshot *row, struct signing_result *r,
                        struct err *e);

/* The signature state a row records ("" from an old row reads unsigned). */
enum signing_state signing_row_state(const struct catalog_snapshot *row);

/* {state, key_id} of a catalog row; NULL on OOM. */
json_t *signing_row_json(const struct catalog_snapshot *row);

/* "signed", "unsigned", "untrusted". */
const char *signing_state_name(enum signing_state st);

/* {state, key_id} (key_id null unless signed); NULL on OOM. */
json_t *signing_json(const struct signing_result *r);

#endif
