/* signing.c - the store's signing key and trust list (see signing.h). */
#include "signing.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "../common/fsutil.h"

static int key_paths(struct store *s, char *key, size_t klen, char *pub, size_t plen,
                     struct err *e)
{
    if (s->cfg->signing_key != NULL) {
        if (snprintf(key, klen, "%s", s->cfg->signing_key) >= (int)klen ||
            snprintf(pub, plen, "%s.pub", s->cfg->signing_key) >= (int)plen)
            return err_set(e, ERR_INVALID, "signing_key: path too long");
        return 0;
    }
    if (fs_join(key, klen, s->dir, SIGNING_KEY_FILE, e) != 0 ||
        fs_join(pub, plen, s->dir, SIGNING_PUB_FILE, e) != 0)
        return -1;
    return 0;
}

int signing_key(struct store *s, int create, const struct sign_key **out, struct err *e)
{
    char key[PATH_MAX], pub[PATH_MAX];

    if (s->sign_key == NULL) {
        if (key_paths(s, key, sizeof(key), pub, sizeof(pub), e) != 0)
            return -1;
        if (!create && fs_exists(key) != 1)
            return err_set(e, ERR_NOT_FOUND, "the store has no signing key yet (%s)", key);
        if (sign_key_load_private(key, pub, create, &s->sign_key, e) != 0)
            return -1;
    }
    *out = s->sign_key;
    return 0;
}

/* The trust list: the store's own key when it has one, then trusted_keys
 * (each a PEM file, or PEM text in the config). Built once per store handle. */
static int trust_build(struct store *s, struct err *e)
{
    const struct sign_key *own;
    struct err ke = { 0 };

    if (s->trust_ready)
        return 0;
    if (signing_key(s, 0, &own, &ke) == 0 && sign_trust_add(&s->trust, own, e) != 0)
        return -1;
    if (ke.code != ERR_NONE && ke.code != ERR_NOT_FOUND) {
        *e = ke;
        return -1;
    }
    for (size_t i = 0; i < s->cfg->n_trusted_keys; i++) {
        const char *k = s->cfg->trusted_keys[i];
        if (strncmp(k, "-----BEGIN", 10) == 0) {
            struct sign_key *pk;
            if (sign_key_from_pem(k, strlen(k), &pk, e) != 0)
                return err_set(e, ERR_INVALID, "trusted_keys[%zu]: not an Ed25519 public key", i);
            int rc = sign_trust_add(&s->trust, pk, e);
            sign_key_free(pk);
            if (rc != 0)
                return -1;
        } else if (sign_trust_add_file(&s->trust, k, e) != 0) {
            return -1;
        }
    }
    s->trust_ready = 1;
    return 0;
}

int signing_check(struct store *s, const struct archive *a, struct signing_result *r,
                  struct err *e)
{
    const char *manifest;
    const unsigned char *sig;
    size_t mlen, slen;

    memset(r, 0, sizeof(*r));
    if (!archive_signature(a, &manifest, &mlen, &sig, &slen)) {
        r->state = SIGNING_UNSIGNED;
        return 0;
    }
    if (trust_build(s, e) != 0)
        return -1;
    r->state = sign_trust_check(&s->trust, manifest, mlen, sig, slen, r->key_id)
                   ? SIGNING_SIGNED : SIGNING_UNTRUSTED;
    return 0;
}

const char *signing_state_name(enum signing_state st)
{
    return st == SIGNING_SIGNED ? "signed" : st == SIGNING_UNTRUSTED ? "untrusted" : "unsigned";
}

json_t *signing_json(const struct signing_result *r)
{
    return json_pack("{s:s,s:o}", "state", signing_state_name(r->state), "key_id",
                     r->state == SIGNING_SIGNED ? json_string(r->key_id) : json_null());
}
