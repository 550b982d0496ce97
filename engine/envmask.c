/* envmask.c - .env masking: values never leave, keys keep an HMAC fingerprint. */
#include "envmask.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "engine.h"
#include "../common/fsutil.h"

struct buf {
    char *p;
    size_t n, cap;
};

static int buf_add(struct buf *b, const char *s, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        size_t ncap = (b->n + n + 1) * 2;
        char *np = malloc(ncap);
        if (np == NULL)
            return -1;
        if (b->p != NULL) {
            memcpy(np, b->p, b->n);
            OPENSSL_cleanse(b->p, b->cap);
            free(b->p);
        }
        b->p = np;
        b->cap = ncap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
    return 0;
}

static int key_char(int c, int first)
{
    return isalpha(c) || c == '_' || (!first && (isdigit(c) || c == '.' || c == '-'));
}

#define ENVMASK_TOKEN_RUN 16   /* a run this long with a letter and a digit may be a secret */
#define ENVMASK_COMMENT_REMOVED "# statesnap: comment removed (it may hold a secret)\n"

static int token_char(int c)
{
    return isalnum(c) || c == '_' || c == '+' || c == '/' || c == '=' || c == '.' || c == '-';
}

/* Could this comment text carry a secret? A long token-like run with both
 * letters and digits (an API key, a hash, a base64 blob), or a URL with
 * credentials in it (scheme://user:pass@host). */
static int comment_may_hold_secret(const char *c, size_t n)
{
    const char *url = NULL;

    for (size_t i = 0; i < n;) {
        size_t j = i;
        int alpha = 0, digit = 0;
        while (j < n && token_char((unsigned char)c[j])) {
            alpha |= isalpha((unsigned char)c[j]) != 0;
            digit |= isdigit((unsigned char)c[j]) != 0;
            j++;
        }
        if (j - i >= ENVMASK_TOKEN_RUN && alpha && digit)
            return 1;
        i = j > i ? j : i + 1;
    }
    for (size_t i = 0; i + 3 <= n && url == NULL; i++)
        if (memcmp(c + i, "://", 3) == 0)
            url = c + i + 3;
    return url != NULL && memchr(url, '@', n - (size_t)(url - c)) != NULL;
}

/* Append a comment line (line[i] is its '#'). "# KEY=value" and "#export
 * KEY=value" (a disabled or old assignment) are masked like an assignment,
 * with no fingerprint (the key is not live); other prose is kept verbatim
 * unless comment_may_hold_secret(), when the whole line is replaced. */
static int add_comment(struct buf *out, const char *line, size_t ll, size_t i)
{
    size_t j = i, ks, ke;

    while (j < ll && (line[j] == '#' || line[j] == ' ' || line[j] == '\t'))
        j++;
    if (ll - j > 7 && strncmp(line + j, "export", 6) == 0 &&
        (line[j + 6] == ' ' || line[j + 6] == '\t')) {
        j += 7;
        while (j < ll && (line[j] == ' ' || line[j] == '\t'))
            j++;
    }
    ks = j;
    while (j < ll && key_char((unsigned char)line[j], j == ks))
        j++;
    ke = j;
    while (j < ll && (line[j] == ' ' || line[j] == '\t'))
        j++;
    if (ke > ks && j < ll && line[j] == '=')
        return buf_add(out, line, ke) || buf_add(out, "=" ENVMASK_MASK "\n", 10);
    if (comment_may_hold_secret(line + i, ll - i))
        return buf_add(out, ENVMASK_COMMENT_REMOVED, strlen(ENVMASK_COMMENT_REMOVED));
    return buf_add(out, line, ll) || buf_add(out, "\n", 1);
}

static int fingerprint(const unsigned char key[32], const char *v, size_t n, json_t *keys,
                       const char *name)
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    char hex[2 * EVP_MAX_MD_SIZE + 1];

    if (HMAC(EVP_sha256(), key, 32, (const unsigned char *)v, n, mac, &maclen) == NULL)
        return -1;
    fs_hex(mac, maclen, hex);
    return json_object_set_new(keys, name, json_string(hex));
}

int envmask_apply(const char *in, size_t len, const unsigned char key[32], char **masked,
                  size_t *masked_len, json_t **keys, struct err *e)
{
    struct buf out = { 0 };
    json_t *k = json_object();
    size_t pos = 0;

    *masked = NULL;
    *keys = NULL;
    if (k == NULL)
        return err_set(e, ERR_IO, "out of memory");
    while (pos < len) {
        const char *line = in + pos;
        const char *nl = memchr(line, '\n', len - pos);
        size_t ll = nl ? (size_t)(nl - line) : len - pos;
        size_t next = pos + ll + (nl ? 1 : 0);
        size_t i = 0, ks, ke, vs, ve;
        int is_export = 0;

        while (i < ll && (line[i] == ' ' || line[i] == '\t'))
            i++;
        if (i == ll || (ll - i == 1 && line[i] == '\r')) {
            if (buf_add(&out, line, ll) || buf_add(&out, "\n", 1))
                goto oom;
            pos = next;
            continue;
        }
        if (line[i] == '#') {
            if (add_comment(&out, line, ll, i))
                goto oom;
            pos = next;
            continue;
        }
        if (ll - i > 7 && strncmp(line + i, "export", 6) == 0 && (line[i + 6] == ' ' || line[i + 6] == '\t')) {
            is_export = 1;
            i += 7;
            while (i < ll && (line[i] == ' ' || line[i] == '\t'))
                i++;
        }
        ks = i;
        while (i < ll && key_char((unsigned char)line[i], i == ks))
            i++;
        ke = i;
        while (i < ll && (line[i] == ' ' || line[i] == '\t'))
            i++;
        if (ke == ks || ke - ks > 255 || i >= ll || line[i] != '=') {
            /* Not KEY=value: it could be a pasted secret, so it does not survive. */
            if (buf_add(&out, "# statesnap: unparseable line removed\n", 38))
                goto oom;
            pos = next;
            continue;
        }
        i++;
        while (i < ll && (line[i] == ' ' || line[i] == '\t'))
            i++;
        vs = i;
        ve = ll;
        while (ve > vs && (line[ve - 1] == ' ' || line[ve - 1] == '\t' || line[ve - 1] == '\r'))
            ve--;
        /* A quoted value may span lines: KEY="a\nb". Swallow up to the close. */
        const char *vstart = line + vs;
        size_t vlen = ve - vs;
        if (vlen >= 1 && (vstart[0] == '"' || vstart[0] == '\'')) {
            char q = vstart[0];
            const char *close = vlen > 1 ? memchr(vstart + 1, q, vlen - 1) : NULL;
            if (close == NULL) {
                const char *end = memchr(vstart + 1, q, len - (pos + vs) - 1);
                if (end != NULL) {
                    vlen = (size_t)(end - vstart) + 1;
                    const char *enl = memchr(end, '\n', len - (size_t)(end - in));
                    next = enl ? (size_t)(enl - in) + 1 : len;
                }
            }
            if (vlen >= 2 && vstart[vlen - 1] == q) {
                vstart++;
                vlen -= 2;
            }
        }
        char name[256];
        memcpy(name, line + ks, ke - ks);
        name[ke - ks] = '\0';
        if (fingerprint(key, vstart, vlen, k, name) != 0)
            goto oom;
        if ((is_export && buf_add(&out, "export ", 7)) || buf_add(&out, name, ke - ks) ||
            buf_add(&out, "=" ENVMASK_MASK "\n", 10))
            goto oom;
        pos = next;
    }
    if (out.p == NULL && buf_add(&out, "", 0))
        goto oom;
    *masked = out.p;
    *masked_len = out.n;
    *keys = k;
    return 0;
oom:
    free(out.p);
    json_decref(k);
    return err_set(e, ERR_IO, "out of memory while masking .env");
}

int envmask_file(const char *path, const unsigned char key[32], char **masked,
                 size_t *masked_len, json_t **keys, struct err *e)
{
    char *plain = NULL;
    size_t len = 0;
    int rc;

    if (fs_read_file(path, ENGINE_MAX_ENV_BYTES, &plain, &len, e) != 0)
        return -1;
    rc = envmask_apply(plain, len, key, masked, masked_len, keys, e);
    OPENSSL_cleanse(plain, len);
    free(plain);
    return rc;
}
