/* signing.c - the store's signing key and trust list (see signing.h). */
#include "signing.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "../common/fsutil.h"
#include "manifest.h"

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
        /* The store's own key's temps go to .work, which recovery sweeps. */
        if (sign_key_load_private(key, pub, s->cfg->signing_key ? NULL : s->work, create,
                                  &s->sign_key, e) != 0)
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

int signing_check(struct store *s, struct archive *a, struct signing_result *r,
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
    if (trust_build(s, e) != 0) {
        archive_forget_manifest_text(a);
        return -1;
    }
    r->state = sign_trust_check(&s->trust, manifest, mlen, sig, slen, r->key_id)
                   ? SIGNING_SIGNED : SIGNING_UNTRUSTED;
    /* Read again for this check only: not held while the caller goes on
     * reading the archive (20 MB at 100,000 files). */
    archive_forget_manifest_text(a);
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

int signing_fill_row(struct store *s, struct archive *a, struct catalog_snapshot *row,
                     struct err *e)
{
    struct signing_result r;

    if (signing_check(s, a, &r, e) != 0)
        return -1;
    snprintf(row->signature, sizeof(row->signature), "%s", signing_state_name(r.state));
    snprintf(row->signer, sizeof(row->signer), "%s", r.state == SIGNING_SIGNED ? r.key_id : "");
    return 0;
}

int signing_admit(struct store *s, struct archive *a, int allow, struct signing_result *r,
                  struct err *e)
{
    if (signing_check(s, a, r, e) != 0)
        return -1;
    if (r->state == SIGNING_SIGNED || allow)
        return 0;
    if (r->state == SIGNING_UNSIGNED)
        return err_set(e, ERR_VERIFY, "the archive is not signed (no %s): nothing says which "
                       "store made it; admit it with --allow-unsigned (API: allow_unsigned) "
                       "if you trust where it came from", MANIFEST_SIG);
    return err_set(e, ERR_VERIFY, "the archive's signature does not verify with any trusted key "
                   "(another store's key, or an edited manifest): add the signer's public key "
                   "to trusted_keys, or admit it with --allow-unsigned (API: allow_unsigned)");
}

enum signing_state signing_row_state(const struct catalog_snapshot *row)
{
    if (strcmp(row->signature, "signed") == 0)
        return SIGNING_SIGNED;
    if (strcmp(row->signature, "untrusted") == 0)
        return SIGNING_UNTRUSTED;
    return SIGNING_UNSIGNED;
}

int signing_matches_row(struct store *s, struct archive *a,
                        const struct catalog_snapshot *row, struct signing_result *r,
                        struct err *e)
{
    if (signing_check(s, a, r, e) != 0)
        return -1;
    if (signing_row_state(row) != SIGNING_SIGNED || r->state == SIGNING_SIGNED)
        return 0;
    if (r->state == SIGNING_UNSIGNED)
        return err_set(e, ERR_VERIFY, "%s was signed when it was catalogued, and its archive now "
                       "carries no signature (%s removed)", row->name, MANIFEST_SIG);
    return err_set(e, ERR_VERIFY, "%s's signature no longer verifies with any trusted key (was "
                   "signed by %.16s...; an edited manifest, or trusted_keys lost that key)",
                   row->name, row->signer);
}

json_t *signing_row_json(const struct catalog_snapshot *row)
{
    enum signing_state st = signing_row_state(row);

    return json_pack("{s:s,s:o}", "state", signing_state_name(st), "key_id",
                     st == SIGNING_SIGNED && row->signer[0] ? json_string(row->signer) : json_null());
}
