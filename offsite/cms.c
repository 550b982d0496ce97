/* cms.c - streaming CMS AuthEnvelopedData encryption of archives for offsite
 * copies, and their decryption on fetch, on OpenSSL's CMS interface (see
 * cms.h for the format and the openssl recipe). */
#include "cms.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

struct cms_recipient {
    X509 *cert;
};

struct cms_enc {
    CMS_ContentInfo *cms;
    BIO *out;               /* memory: encrypted bytes not yet read */
    BIO *chain;             /* plaintext in, through the CMS encoder, into out */
    int fd;
    int in_eof, finished;
    long long plain;
    unsigned char chunk[CMS_CHUNK];
};

/* OpenSSL's reason for the last failure, for a message; clears its queue. */
static const char *ossl_why(void)
{
    unsigned long code = ERR_peek_last_error();
    const char *r = code ? ERR_reason_error_string(code) : NULL;

    ERR_clear_error();
    return r != NULL ? r : "unknown error";
}

/* No passphrase prompt, ever (a daemon has no terminal): an encrypted PEM
 * key simply fails to load. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)u;
    return -1;
}

/* The PEM private key at path, or NULL with *e (ERR_INVALID naming what). */
static EVP_PKEY *key_load(const char *path, struct err *e)
{
    BIO *b = BIO_new_file(path, "r");
    EVP_PKEY *key;

    if (b == NULL) {
        ERR_clear_error();
        err_sys(e, errno ? errno : ENOENT, "config: offsite.decrypt_key %s", path);
        if (e->code == ERR_IO)
            e->code = ERR_INVALID;
        return NULL;
    }
    key = PEM_read_bio_PrivateKey(b, NULL, no_passphrase, NULL);
    BIO_free(b);
    ERR_clear_error();
    if (key == NULL)
        err_set(e, ERR_INVALID, "config: offsite.decrypt_key %s: not a PEM private key without "
                "a passphrase (BEGIN PRIVATE KEY)", path);
    return key;
}

int cms_key_check(const char *key_path, const struct cms_recipient *r, struct err *e)
{
    EVP_PKEY *key = key_load(key_path, e);
    int ok;

    if (key == NULL)
        return -1;
    ok = r == NULL || X509_check_private_key(r->cert, key) == 1;
    ERR_clear_error();
    EVP_PKEY_free(key);
    if (!ok)
        return err_set(e, ERR_INVALID, "config: offsite.decrypt_key %s is not the private key of "
                       "the offsite.encrypt_to certificate", key_path);
    return 0;
}

int cms_recipient_load(const char *path, struct cms_recipient **out, struct err *e)
{
    struct cms_recipient *r;
    BIO *b;
    X509 *cert;
    EVP_PKEY *pub;
    int ok;

    *out = NULL;
    if ((b = BIO_new_file(path, "r")) == NULL) {
        ERR_clear_error();
        err_sys(e, errno ? errno : ENOENT, "config: offsite.encrypt_to %s", path);
        if (e->code == ERR_IO)
            e->code = ERR_INVALID;
        return -1;
    }
    cert = PEM_read_bio_X509(b, NULL, no_passphrase, NULL);
    if (cert == NULL) {
        /* A bare public key names no recipient the way CMS does (issuer and
         * serial): say how to make the certificate. */
        EVP_PKEY *pk;
        ERR_clear_error();
        (void)BIO_reset(b);
        pk = PEM_read_bio_PUBKEY(b, NULL, no_passphrase, NULL);
        BIO_free(b);
        ERR_clear_error();
        if (pk != NULL) {
            EVP_PKEY_free(pk);
            return err_set(e, ERR_INVALID, "config: offsite.encrypt_to %s is a bare public key; "
                           "give a certificate (openssl req -x509 -new -key KEY.pem -subj "
                           "/CN=statesnap-offsite -days 36500 -out cert.pem)", path);
        }
        return err_set(e, ERR_INVALID, "config: offsite.encrypt_to %s: not a PEM X.509 "
                       "certificate (BEGIN CERTIFICATE)", path);
    }
    BIO_free(b);
    /* Ed25519 and other signature-only keys cannot receive a content key. */
    pub = X509_get0_pubkey(cert);
    ok = pub != NULL && (EVP_PKEY_is_a(pub, "RSA") || EVP_PKEY_is_a(pub, "EC") ||
                         EVP_PKEY_is_a(pub, "X25519") || EVP_PKEY_is_a(pub, "X448"));
    if (!ok) {
        X509_free(cert);
        return err_set(e, ERR_INVALID, "config: offsite.encrypt_to %s: the certificate's key cannot "
                       "receive an encryption key (use RSA or EC)", path);
    }
    if ((r = calloc(1, sizeof(*r))) == NULL) {
        X509_free(cert);
        return err_set(e, ERR_IO, "out of memory");
    }
    r->cert = cert;
    *out = r;
    return 0;
}

void cms_recipient_free(struct cms_recipient *r)
{
    if (r == NULL)
        return;
    X509_free(r->cert);
    free(r);
}

int cms_enc_open(const struct cms_recipient *r, int fd, struct cms_enc **out, struct err *e)
{
    struct cms_enc *c;
    STACK_OF(X509) *certs = sk_X509_new_null();

    *out = NULL;
    if (certs == NULL || (c = calloc(1, sizeof(*c))) == NULL) {
        sk_X509_free(certs);
        return err_set(e, ERR_IO, "out of memory");
    }
    c->fd = fd;
    if (sk_X509_push(certs, r->cert) <= 0 ||
        (c->cms = CMS_encrypt(certs, NULL, EVP_aes_256_gcm(), CMS_BINARY | CMS_STREAM)) == NULL ||
        (c->out = BIO_new(BIO_s_mem())) == NULL ||
        (c->chain = BIO_new_CMS(c->out, c->cms)) == NULL) {
        sk_X509_free(certs);
        err_set(e, ERR_IO, "cannot start CMS encryption: %s", ossl_why());
        cms_enc_free(c);
        return -1;
    }
    sk_X509_free(certs);          /* the CMS structure holds its own reference */
    *out = c;
    return 0;
}

/* Flush the encoder (the GCM tag and the end of the structure go out) and
 * free the BIOs it pushed on top of out. Returns 0 or -1. */
static int enc_finish(struct cms_enc *c)
{
    int ok = BIO_flush(c->chain) > 0;

    while (c->chain != NULL && c->chain != c->out) {
        BIO *next = BIO_pop(c->chain);
        BIO_free(c->chain);
        c->chain = next;
    }
    c->chain = NULL;
    c->finished = 1;
    return ok ? 0 : -1;
}

ssize_t cms_enc_read(struct cms_enc *c, void *buf, size_t len, struct err *e)
{
    for (;;) {
        size_t pending = BIO_ctrl_pending(c->out);
        ssize_t n;

        if (pending > 0) {
            int want = (int)(len < pending ? len : pending);
            if (want > 1 << 30)
                want = 1 << 30;
            n = BIO_read(c->out, buf, want);
            return n > 0 ? n : err_set(e, ERR_IO, "CMS encryption: %s", ossl_why());
        }
        if (c->finished || len == 0)
            return 0;
        if (c->in_eof) {
            if (enc_finish(c) != 0)
                return err_set(e, ERR_IO, "CMS encryption: %s", ossl_why());
            continue;
        }
        n = read(c->fd, c->chunk, sizeof(c->chunk));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return err_sys(e, errno, "read archive for encryption");
        }
        if (n == 0) {
            c->in_eof = 1;
            continue;
        }
        if (BIO_write(c->chain, c->chunk, (int)n) != (int)n)
            return err_set(e, ERR_IO, "CMS encryption: %s", ossl_why());
        c->plain += n;
    }
}

long long cms_enc_plain_bytes(const struct cms_enc *c)
{
    return c->plain;
}

void cms_enc_free(struct cms_enc *c)
{
    if (c == NULL)
        return;
    while (c->chain != NULL && c->chain != c->out) {
        BIO *next = BIO_pop(c->chain);
        BIO_free(c->chain);
        c->chain = next;
    }
    BIO_free(c->out);
    CMS_ContentInfo_free(c->cms);
    OPENSSL_cleanse(c->chunk, sizeof(c->chunk));
    free(c);
}

/* ---- streaming decryption ----
 *
 * OpenSSL's d2i_CMS_bio reads a whole object into memory (three times its
 * size at the peak). Instead the object is read twice from its file: once
 * to rebuild it without its encrypted content (the header: recipients,
 * algorithm, the GCM tag; small), which CMS_decrypt gets as the structure,
 * and once through a BIO that hands it the encrypted content's octets as
 * detached content. The path down to the content is re-encoded with
 * indefinite lengths (valid BER whatever the original form); everything
 * else is copied as it was. Memory: the header and a few buffers. */

#define CMS_HEADER_MAX (1u << 20)

struct hbuf {
    unsigned char *p;
    size_t n, cap;
};

static int hbuf_add(struct hbuf *b, const void *p, size_t n)
{
    if (b->n + n > CMS_HEADER_MAX)
        return -1;
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 4096;
        unsigned char *np;
        while (cap < b->n + n)
            cap *= 2;
        if ((np = realloc(b->p, cap)) == NULL)
            return -1;
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->n, p, n);
    b->n += n;
    return 0;
}

/* One BER header: its raw bytes in hb (*hl of them), the tag byte and the
 * length (-1: indefinite). Only one-byte tags occur in CMS. 0 or -1. */
static int ber_hdr(FILE *f, unsigned char hb[10], int *hl, int *tag, int64_t *len)
{
    int c, n;

    if ((c = getc(f)) == EOF || (c & 0x1f) == 0x1f)
        return -1;
    hb[0] = (unsigned char)c;
    *tag = c;
    if ((c = getc(f)) == EOF)
        return -1;
    hb[1] = (unsigned char)c;
    *hl = 2;
    if (c < 0x80) {
        *len = c;
        return 0;
    }
    if (c == 0x80) {
        *len = -1;
        return 0;
    }
    n = c & 0x7f;
    if (n > 7)
        return -1;
    *len = 0;
    while (n-- > 0) {
        if ((c = getc(f)) == EOF)
            return -1;
        hb[(*hl)++] = (unsigned char)c;
        *len = (*len << 8) | c;
    }
    return 0;
}

/* Copy the element whose header was just read (content still in f) into b. */
static int ber_copy(FILE *f, struct hbuf *b, const unsigned char *hb, int hl, int64_t len, int depth)
{
    unsigned char chunk[4096], h[10];
    int t, l;
    int64_t n;

    if (depth > 32 || hbuf_add(b, hb, (size_t)hl) != 0)
        return -1;
    if (len >= 0) {
        while (len > 0) {
            size_t want = len > (int64_t)sizeof(chunk) ? sizeof(chunk) : (size_t)len;
            if (fread(chunk, 1, want, f) != want || hbuf_add(b, chunk, want) != 0)
                return -1;
            len -= (int64_t)want;
        }
        return 0;
    }
    for (;;) {
        if (ber_hdr(f, h, &l, &t, &n) != 0)
            return -1;
        if (t == 0 && n == 0)
            return hbuf_add(b, h, 2);
        if (ber_copy(f, b, h, l, n, depth + 1) != 0)
            return -1;
    }
}

/* Where the encrypted content is: a primitive [0] (one run of octets) or a
 * constructed one (OCTET STRING chunks, to its length or its end mark). */
struct ccontent {
    int found, constructed;
    off_t start;                 /* first byte of [0]'s contents */
    int64_t len;                 /* -1: indefinite */
};

/* Skip the contents of a constructed [0] of OCTET STRING chunks. */
static int skip_chunks(FILE *f, int64_t len)
{
    off_t start = ftello(f);
    unsigned char h[10];
    int t, l;
    int64_t n;

    for (;;) {
        if (len >= 0 && ftello(f) - start >= len)
            return ftello(f) - start == len ? 0 : -1;
        if (ber_hdr(f, h, &l, &t, &n) != 0)
            return -1;
        if (t == 0 && n == 0 && len < 0)
            return 0;
        if (t != 0x04 || n < 0 || fseeko(f, (off_t)n, SEEK_CUR) != 0)
            return -1;
    }
}

/* The children of a path element at level (0 ContentInfo, 1 its [0],
 * 2 (Auth)EnvelopedData, 3 EncryptedContentInfo), content length len. */
static int ber_rebuild(FILE *f, struct hbuf *b, int64_t len, int level, struct ccontent *ct)
{
    off_t start = ftello(f);
    unsigned char h[10];
    int t, l, path_done = 0;
    int64_t n;
    static const unsigned char eoc[2] = { 0, 0 };

    for (;;) {
        int on_path;
        if (len >= 0 && ftello(f) - start >= len)
            return ftello(f) - start == len ? 0 : -1;
        if (ber_hdr(f, h, &l, &t, &n) != 0)
            return -1;
        if (t == 0 && n == 0 && len < 0)
            return 0;
        if (level == 3 && (t == 0x80 || t == 0xa0) && !ct->found) {
            ct->found = 1;
            ct->constructed = t == 0xa0;
            ct->start = ftello(f);
            ct->len = n;
            if (t == 0x80 ? n < 0 || fseeko(f, (off_t)n, SEEK_CUR) != 0 : skip_chunks(f, n) != 0)
                return -1;
            continue;
        }
        on_path = !path_done && ((level == 0 && t == 0xa0) || ((level == 1 || level == 2) && t == 0x30));
        if (on_path && level < 3) {
            unsigned char open[2] = { (unsigned char)t, 0x80 };
            path_done = 1;
            if (hbuf_add(b, open, 2) != 0 || ber_rebuild(f, b, n, level + 1, ct) != 0 ||
                hbuf_add(b, eoc, 2) != 0)
                return -1;
            continue;
        }
        if (ber_copy(f, b, h, l, n, 0) != 0)
            return -1;
    }
}

/* The detached content: the octets of [0], chunk by chunk. */
struct cstream {
    FILE *f;
    struct ccontent ct;
    int64_t left;                /* of the current run */
    int eof, bad;
};

static int cstream_read(BIO *bio, char *buf, size_t len, size_t *got)
{
    struct cstream *cs = BIO_get_data(bio);
    size_t k;

    *got = 0;
    while (cs->left == 0 && !cs->eof && !cs->bad) {
        unsigned char h[10];
        int t, l;
        int64_t n;
        if (!cs->ct.constructed ||
            (cs->ct.len >= 0 && ftello(cs->f) - cs->ct.start >= cs->ct.len)) {
            cs->eof = 1;
            break;
        }
        if (ber_hdr(cs->f, h, &l, &t, &n) != 0) {
            cs->bad = 1;
            break;
        }
        if (t == 0 && n == 0 && cs->ct.len < 0)
            cs->eof = 1;
        else if (t != 0x04 || n < 0)
            cs->bad = 1;
        else
            cs->left = n;
    }
    if (cs->left == 0)
        return 0;
    k = len < (size_t)cs->left ? len : (size_t)cs->left;
    if ((k = fread(buf, 1, k, cs->f)) == 0) {
        cs->bad = 1;
        return 0;
    }
    cs->left -= (int64_t)k;
    if (!cs->ct.constructed && cs->left == 0)
        cs->eof = 1;
    *got = k;
    return 1;
}

static long cstream_ctrl(BIO *bio, int cmd, long num, void *ptr)
{
    struct cstream *cs = BIO_get_data(bio);

    (void)num;
    (void)ptr;
    if (cmd == BIO_CTRL_EOF)
        return cs->eof || cs->bad;
    return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

/* Rebuild in_path's structure without its content into b and open the
 * content stream. Returns 0 or -1 with *e (ERR_VERIFY: not such an object). */
static int split_object(const char *in_path, struct hbuf *b, struct cstream *cs, struct err *e)
{
    FILE *f = fopen(in_path, "rb");
    unsigned char h[10];
    static const unsigned char open[2] = { 0x30, 0x80 }, eoc[2] = { 0, 0 };
    int t, l, ok;
    int64_t n;

    if (f == NULL)
        return err_sys(e, errno, "%s: cannot open", in_path);
    ok = ber_hdr(f, h, &l, &t, &n) == 0 && t == 0x30 && hbuf_add(b, open, 2) == 0 &&
         ber_rebuild(f, b, n, 0, &cs->ct) == 0 && hbuf_add(b, eoc, 2) == 0 && cs->ct.found;
    fclose(f);
    if (!ok)
        return err_set(e, ERR_VERIFY, "not a whole CMS enveloped object (truncated, or not "
                       "encrypted)");
    if ((cs->f = fopen(in_path, "rb")) == NULL)
        return err_sys(e, errno, "%s: cannot open", in_path);
    if (fseeko(cs->f, cs->ct.start, SEEK_SET) != 0)
        return err_sys(e, errno, "%s: seek", in_path);
    cs->left = cs->ct.constructed ? 0 : cs->ct.len;
    cs->eof = !cs->ct.constructed && cs->ct.len == 0;
    return 0;
}

int cms_decrypt_file(const char *in_path, int out_fd, const char *cert_path,
                     const char *key_path, struct err *e)
{
    BIO *in = NULL, *cb = NULL, *out = NULL, *content = NULL;
    BIO_METHOD *meth = NULL;
    struct hbuf hb = { 0 };
    struct cstream cs;
    CMS_ContentInfo *cms = NULL;
    X509 *cert = NULL;
    EVP_PKEY *key = NULL;
    int rc = -1;

    memset(&cs, 0, sizeof(cs));
    if ((key = key_load(key_path, e)) == NULL)
        goto out;
    if (cert_path != NULL) {
        if ((cb = BIO_new_file(cert_path, "r")) == NULL ||
            (cert = PEM_read_bio_X509(cb, NULL, no_passphrase, NULL)) == NULL) {
            err_set(e, ERR_INVALID, "config: offsite.encrypt_to %s: cannot read a PEM certificate "
                    "(%s)", cert_path, ossl_why());
            goto out;
        }
        if (X509_check_private_key(cert, key) != 1) {
            ERR_clear_error();
            err_set(e, ERR_INVALID, "config: offsite.decrypt_key %s is not the private key of the "
                    "certificate %s", key_path, cert_path);
            goto out;
        }
    }
    if (split_object(in_path, &hb, &cs, e) != 0)
        goto out;
    if ((in = BIO_new_mem_buf(hb.p, (int)hb.n)) == NULL || (cms = d2i_CMS_bio(in, NULL)) == NULL) {
        err_set(e, ERR_VERIFY, "not a whole CMS enveloped object: %s", ossl_why());
        goto out;
    }
    if ((meth = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "cms content")) == NULL ||
        !BIO_meth_set_read_ex(meth, cstream_read) || !BIO_meth_set_ctrl(meth, cstream_ctrl) ||
        (content = BIO_new(meth)) == NULL) {
        err_set(e, ERR_IO, "out of memory");
        goto out;
    }
    BIO_set_data(content, &cs);
    BIO_set_init(content, 1);
    if ((out = BIO_new_fd(out_fd, BIO_NOCLOSE)) == NULL) {
        err_set(e, ERR_IO, "out of memory");
        goto out;
    }
    /* Without the certificate every recipient is tried with the key; the
     * certificate's own key is what a copy made with encrypt_to used. */
    if (CMS_decrypt(cms, key, cert, content, out, CMS_BINARY) != 1 || cs.bad) {
        err_set(e, ERR_VERIFY, "cannot decrypt with offsite.decrypt_key %s: %s (not encrypted to "
                "this key, or altered)", key_path, ossl_why());
        goto out;
    }
    if (BIO_flush(out) <= 0) {
        err_sys(e, errno ? errno : EIO, "write decrypted archive");
        goto out;
    }
    rc = 0;
out:
    BIO_free(out);
    BIO_free(in);
    BIO_free(cb);
    BIO_free(content);
    BIO_meth_free(meth);
    if (cs.f != NULL)
        fclose(cs.f);
    free(hb.p);
    CMS_ContentInfo_free(cms);
    X509_free(cert);
    EVP_PKEY_free(key);
    return rc;
}

int cms_looks_encrypted(const unsigned char *head, size_t n)
{
    static const unsigned char auth_env[] = { 0x06, 0x0b, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d,
                                              0x01, 0x09, 0x10, 0x01, 0x17 };
    static const unsigned char env[] = { 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d,
                                         0x01, 0x07, 0x03 };
    size_t i = 2;

    if (n < 2 || head[0] != 0x30)
        return 0;
    if (head[1] & 0x80) {                 /* indefinite (0x80) or long form */
        i += head[1] & 0x7f;
        if ((head[1] & 0x7f) > 4)
            return 0;
    }
    if (n >= i + sizeof(auth_env) && memcmp(head + i, auth_env, sizeof(auth_env)) == 0)
        return 1;
    return n >= i + sizeof(env) && memcmp(head + i, env, sizeof(env)) == 0;
}
