/* offsite.c - offsite copies in S3-compatible object storage. A small S3
 * client on libcurl (CURLOPT_AWS_SIGV4 signs every request; the payload's
 * SHA-256 is signed too, and PUTs carry Content-MD5 and
 * x-amz-checksum-sha256 so the server verifies what it stores), the sync,
 * fetch, list and reindex operations, and the server's sync thread.
 * Local archives are only ever read here; a download lands in .work and
 * the engine verifies it before it takes its place. */
#include "offsite.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "../db/offsite.h"
#include "../engine/archive.h"
#include "../common/fsutil.h"
#include "../engine/meta.h"
#include "../engine/store.h"
#include "log.h"
#include "metrics.h"

static const char *const offsite_keys[] = {
    "endpoint", "bucket", "prefix", "region", "access_key", "secret_key", "session_token",
    "path_style", "interval", "verify_tls", "sync_after_create", NULL
};

struct offsite {
    char scheme[8];              /* "http" or "https" */
    char host[256];              /* host[:port] of the endpoint */
    char bucket[64];
    char prefix[OFFSITE_PREFIX_MAX + 2];
    char region[64];
    char sigv4[96];              /* "aws:amz:REGION:s3" */
    char *access_key;            /* wiped on close */
    char *secret_key;            /* wiped on close */
    char *session_token;         /* temporary credentials' x-amz-security-token, or NULL; wiped */
    int path_style, verify_tls, sync_after_create;
    long interval;
    CURL *curl;
    unsigned char *part;         /* OFFSITE_PART_BYTES, for multipart uploads */
    const atomic_int *abort;     /* set by offsite_stop, or NULL */
};

/* ---- settings ---- */

static int text_ok(const char *s, size_t max)
{
    size_t n = strlen(s);

    if (n == 0 || n > max)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] == 0x7f)
            return 0;
    return 1;
}

/* Prefix characters are limited so a key never needs URL-encoding: the
 * signed canonical URI is then the path exactly as sent. */
static int prefix_ok(const char *s)
{
    size_t n = strlen(s);

    if (n > OFFSITE_PREFIX_MAX || s[0] == '/' || strstr(s, "..") != NULL || strstr(s, "//"))
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-' || c == '/'))
            return 0;
    }
    return 1;
}

static int bucket_ok(const char *s)
{
    size_t n = strlen(s);

    if (n < 3 || n > 63)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-'))
            return 0;
    }
    return 1;
}

static int region_ok(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > 63)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
            return 0;
    return 1;
}

static void wipe_free(char *s)
{
    if (s != NULL) {
        OPENSSL_cleanse(s, strlen(s));
        free(s);
    }
}

static int get_str(const json_t *cfg, const char *key, const char **out, struct err *e)
{
    const json_t *v = json_object_get(cfg, key);

    if (v == NULL)
        return 0;
    if (!json_is_string(v))
        return err_set(e, ERR_INVALID, "config: \"offsite.%s\" must be a string", key);
    *out = json_string_value(v);
    return 0;
}

static int get_flag(const json_t *cfg, const char *key, int *out, struct err *e)
{
    const json_t *v = json_object_get(cfg, key);

    if (v == NULL)
        return 0;
    if (!json_is_boolean(v))
        return err_set(e, ERR_INVALID, "config: \"offsite.%s\" must be true or false", key);
    *out = json_is_true(v);
    return 0;
}

/* A key from the environment (which wins, so the file can hold a placeholder) or the file. */
static int get_key(const json_t *cfg, const char *key, const char *env, char **out,
                   struct err *e)
{
    const char *val = getenv(env), *file = NULL;

    if (get_str(cfg, key, &file, e) != 0)
        return -1;
    if (val == NULL || *val == '\0')
        val = file;
    if (val == NULL)
        return err_set(e, ERR_INVALID, "config: offsite needs \"%s\" or $%s%s", key, env,
                       strcmp(key, "access_key") == 0 ? " (or $AWS_ACCESS_KEY_ID with "
                                                        "$AWS_SECRET_ACCESS_KEY)" : "");
    if (!text_ok(val, 256))
        return err_set(e, ERR_INVALID, "config: the offsite %s (%s) must be 1..256 printable "
                                       "characters without spaces", key,
                       val == file ? "the file" : env);
    if ((*out = strdup(val)) == NULL)
        return err_set(e, ERR_IO, "out of memory");
    return 0;
}

/* A non-empty environment variable, or NULL. */
static const char *env_set(const char *name)
{
    const char *v = getenv(name);

    return v != NULL && *v != '\0' ? v : NULL;
}

/* The credentials, from the first source that names an access key:
 *  1. $STATESNAP_OFFSITE_ACCESS_KEY, or offsite.access_key in the config
 *     (each of the three values: its STATESNAP_OFFSITE_* variable over the
 *     config's key, as before);
 *  2. else the standard $AWS_ACCESS_KEY_ID, $AWS_SECRET_ACCESS_KEY and
 *     $AWS_SESSION_TOKEN (what STS, SSO and `aws configure export-credentials`
 *     hand out), all three from there: a temporary key never mixes with a
 *     token from elsewhere. */
static int get_credentials(const json_t *cfg, struct offsite *o, struct err *e)
{
    const char *file = NULL, *token = NULL;

    if (get_str(cfg, "access_key", &file, e) != 0)
        return -1;
    if (env_set(OFFSITE_ACCESS_KEY_ENV) == NULL && file == NULL && env_set("AWS_ACCESS_KEY_ID") != NULL) {
        const char *ak = env_set("AWS_ACCESS_KEY_ID"), *sk = env_set("AWS_SECRET_ACCESS_KEY");
        if (json_object_get(cfg, "secret_key") != NULL || json_object_get(cfg, "session_token") != NULL)
            return err_set(e, ERR_INVALID, "config: offsite.secret_key/session_token are set but "
                                           "the access key comes from $AWS_ACCESS_KEY_ID: give all "
                                           "three in one place");
        if (sk == NULL)
            return err_set(e, ERR_INVALID, "config: $AWS_ACCESS_KEY_ID is set but "
                                           "$AWS_SECRET_ACCESS_KEY is not");
        token = env_set("AWS_SESSION_TOKEN");
        if (!text_ok(ak, 256) || !text_ok(sk, 256))
            return err_set(e, ERR_INVALID, "config: $AWS_ACCESS_KEY_ID and $AWS_SECRET_ACCESS_KEY "
                                           "must be 1..256 printable characters without spaces");
        if (token != NULL && !text_ok(token, OFFSITE_TOKEN_MAX))
            return err_set(e, ERR_INVALID, "config: $AWS_SESSION_TOKEN must be 1..%d printable "
                                           "characters without spaces", OFFSITE_TOKEN_MAX);
        if ((o->access_key = strdup(ak)) == NULL || (o->secret_key = strdup(sk)) == NULL ||
            (token != NULL && (o->session_token = strdup(token)) == NULL))
            return err_set(e, ERR_IO, "out of memory");
        return 0;
    }
    if (get_key(cfg, "access_key", OFFSITE_ACCESS_KEY_ENV, &o->access_key, e) ||
        get_key(cfg, "secret_key", OFFSITE_SECRET_KEY_ENV, &o->secret_key, e))
        return -1;
    if (get_str(cfg, "session_token", &token, e) != 0)
        return -1;
    if (env_set(OFFSITE_SESSION_TOKEN_ENV) != NULL)
        token = env_set(OFFSITE_SESSION_TOKEN_ENV);
    if (token != NULL) {
        if (!text_ok(token, OFFSITE_TOKEN_MAX))
            return err_set(e, ERR_INVALID, "config: the offsite session_token must be 1..%d "
                                           "printable characters without spaces", OFFSITE_TOKEN_MAX);
        if ((o->session_token = strdup(token)) == NULL)
            return err_set(e, ERR_IO, "out of memory");
    }
    return 0;
}

static int parse_settings(const json_t *cfg, struct offsite *o, struct err *e)
{
    const char *endpoint = NULL, *bucket = NULL, *prefix = NULL, *region = "us-east-1", *p;
    const json_t *v;
    const char *k;
    char host[200];
    int n;

    o->interval = OFFSITE_INTERVAL_DEFAULT;
    o->verify_tls = 1;
    if (!json_is_object(cfg))
        return err_set(e, ERR_INVALID, "config: \"offsite\" must be an object");
    json_object_foreach((json_t *)cfg, k, v) {
        size_t i;
        for (i = 0; offsite_keys[i] != NULL && strcmp(offsite_keys[i], k) != 0; i++)
            ;
        if (offsite_keys[i] == NULL)
            return err_set(e, ERR_INVALID, "config: unknown key \"offsite.%.64s\"", k);
    }
    if (get_str(cfg, "endpoint", &endpoint, e) || get_str(cfg, "bucket", &bucket, e) ||
        get_str(cfg, "prefix", &prefix, e) || get_str(cfg, "region", &region, e) ||
        get_flag(cfg, "path_style", &o->path_style, e) ||
        get_flag(cfg, "verify_tls", &o->verify_tls, e) ||
        get_flag(cfg, "sync_after_create", &o->sync_after_create, e))
        return -1;
    if (endpoint == NULL || !text_ok(endpoint, 255))
        return err_set(e, ERR_INVALID, "config: \"offsite.endpoint\" is required: "
                                       "http(s)://HOST[:PORT]");
    if (strncmp(endpoint, "https://", 8) == 0) {
        snprintf(o->scheme, sizeof(o->scheme), "https");
        p = endpoint + 8;
    } else if (strncmp(endpoint, "http://", 7) == 0) {
        snprintf(o->scheme, sizeof(o->scheme), "http");
        p = endpoint + 7;
    } else {
        return err_set(e, ERR_INVALID, "config: \"offsite.endpoint\" must start with http:// "
                                       "or https://");
    }
    n = snprintf(o->host, sizeof(o->host), "%s", p);
    if (n <= 0 || (size_t)n >= sizeof(o->host))
        return err_set(e, ERR_INVALID, "config: \"offsite.endpoint\" is too long");
    if (n > 0 && o->host[n - 1] == '/')
        o->host[--n] = '\0';
    if (n == 0 || strpbrk(o->host, "/?#@") != NULL)
        return err_set(e, ERR_INVALID, "config: \"offsite.endpoint\" must be http(s)://HOST[:PORT] "
                                       "without a path");
    if (bucket == NULL || !bucket_ok(bucket))
        return err_set(e, ERR_INVALID, "config: \"offsite.bucket\" is required: 3..63 of a-z, "
                                       "0-9, '.' and '-'");
    snprintf(o->bucket, sizeof(o->bucket), "%s", bucket);
    if (!region_ok(region))
        return err_set(e, ERR_INVALID, "config: \"offsite.region\" must be a region name like "
                                       "eu-central-1");
    snprintf(o->region, sizeof(o->region), "%s", region);
    snprintf(o->sigv4, sizeof(o->sigv4), "aws:amz:%s:s3", o->region);
    if (prefix == NULL) {
        /* statesnap/<host>/: several hosts share a bucket without meeting. */
        meta_host(host, sizeof(host));
        for (char *c = host; *c; c++)
            if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
                  (*c >= '0' && *c <= '9') || *c == '.' || *c == '-'))
                *c = '-';
        snprintf(o->prefix, sizeof(o->prefix), "statesnap/%s/", host[0] ? host : "host");
    } else {
        if (!prefix_ok(prefix))
            return err_set(e, ERR_INVALID, "config: \"offsite.prefix\" must be at most %d of "
                                           "letters, digits, '.', '_', '-' and '/', not starting "
                                           "with '/' and without \"..\"", OFFSITE_PREFIX_MAX);
        n = snprintf(o->prefix, sizeof(o->prefix), "%s%s", prefix,
                     *prefix && prefix[strlen(prefix) - 1] != '/' ? "/" : "");
        if (n < 0 || (size_t)n >= sizeof(o->prefix))
            return err_set(e, ERR_INVALID, "config: \"offsite.prefix\" is too long");
    }
    if ((v = json_object_get(cfg, "interval")) != NULL) {
        if (json_is_integer(v) && json_integer_value(v) >= 60 &&
            json_integer_value(v) <= 366L * 86400) {
            o->interval = (long)json_integer_value(v);
        } else if (!json_is_string(v) ||
                   config_parse_duration(json_string_value(v), &o->interval, e) != 0 ||
                   o->interval < 60) {
            e->code = ERR_NONE;
            return err_set(e, ERR_INVALID, "config: \"offsite.interval\" must be a duration of "
                                           "at least 60 seconds (e.g. \"7d\", \"24h\")");
        }
    }
    return get_credentials(cfg, o, e);
}

static void settings_clear(struct offsite *o)
{
    wipe_free(o->access_key);
    wipe_free(o->secret_key);
    wipe_free(o->session_token);
    o->access_key = o->secret_key = o->session_token = NULL;
}

int offsite_check(const json_t *offsite, struct err *e)
{
    struct offsite o;
    int rc;

    if (offsite == NULL)
        return 0;
    memset(&o, 0, sizeof(o));
    rc = parse_settings(offsite, &o, e);
    settings_clear(&o);
    return rc;
}

int offsite_open(struct offsite **out, const struct config *cfg, struct err *e)
{
    struct offsite *o;

    *out = NULL;
    if (cfg->offsite == NULL)
        return err_set(e, ERR_INVALID, "offsite copy is not configured (no \"offsite\" section "
                                       "in the config)");
    if ((o = calloc(1, sizeof(*o))) == NULL)
        return err_set(e, ERR_IO, "out of memory");
    if (parse_settings(cfg->offsite, o, e) != 0) {
        offsite_close(o);
        return -1;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK || (o->curl = curl_easy_init()) == NULL) {
        offsite_close(o);
        return err_set(e, ERR_IO, "offsite: libcurl cannot start");
    }
    *out = o;
    return 0;
}

void offsite_close(struct offsite *o)
{
    if (o == NULL)
        return;
    if (o->curl != NULL) {
        curl_easy_cleanup(o->curl);
        curl_global_cleanup();
    }
    settings_clear(o);
    free(o->part);
    free(o);
}

/* ---- hashing ---- */

struct digests {
    EVP_MD_CTX *sha, *md5;
};

static int digests_init(struct digests *d)
{
    d->sha = EVP_MD_CTX_new();
    d->md5 = EVP_MD_CTX_new();
    if (d->sha == NULL || d->md5 == NULL || EVP_DigestInit_ex(d->sha, EVP_sha256(), NULL) != 1 ||
        EVP_DigestInit_ex(d->md5, EVP_md5(), NULL) != 1)
        return -1;
    return 0;
}

static void digests_update(struct digests *d, const void *p, size_t n)
{
    EVP_DigestUpdate(d->sha, p, n);
    if (d->md5 != NULL)
        EVP_DigestUpdate(d->md5, p, n);
}

/* Finish into hex SHA-256, base64 SHA-256 and base64 MD5 (any may be NULL). */
static void digests_final(struct digests *d, char sha_hex[65], char sha_b64[45], char md5_b64[25])
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

static void digests_free(struct digests *d)
{
    EVP_MD_CTX_free(d->sha);
    EVP_MD_CTX_free(d->md5);
    d->sha = d->md5 = NULL;
}

#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

/* ---- one S3 request ---- */

struct req {
    const char *method;          /* GET, HEAD, PUT, POST, DELETE */
    const char *key;             /* object key, or NULL for the bucket */
    const char *query;           /* already canonical: sorted, encoded; or NULL */
    const unsigned char *body;   /* in-memory body, or NULL */
    size_t body_len;
    int in_fd;                   /* file body (whole file), or -1 */
    int64_t in_len;
    const char *sha_hex;         /* payload SHA-256 (hex); NULL = empty body */
    const char *sha_b64;         /* x-amz-checksum-sha256, or NULL */
    const char *md5_b64;         /* Content-MD5, or NULL */
    const char *meta_sha;        /* x-amz-meta-sha256 to store, or NULL */
    const char *content_type;
    int out_fd;                  /* GET into this file, or -1 */
    struct digests *out_digest;  /* hash what a GET writes, or NULL */
    /* results */
    long status;
    char etag[130];
    char got_meta_sha[65];
    int64_t length;
    char *resp;                  /* response body (capped), NUL-terminated */
    size_t resp_len;
    size_t body_off;
    int write_failed;
};

static size_t read_body(char *buf, size_t size, size_t nmemb, void *ud)
{
    struct req *r = ud;
    size_t want = size * nmemb, n;

    if (r->in_fd >= 0) {
        ssize_t got = fs_read_some(r->in_fd, buf, want);
        return got < 0 ? CURL_READFUNC_ABORT : (size_t)got;
    }
    n = r->body_len - r->body_off;
    if (n > want)
        n = want;
    memcpy(buf, r->body + r->body_off, n);
    r->body_off += n;
    return n;
}

static size_t write_body(char *p, size_t size, size_t nmemb, void *ud)
{
    struct req *r = ud;
    size_t n = size * nmemb;

    /* A download goes to its file only on success; an error body is kept as text. */
    if (r->out_fd >= 0 && r->status == 200) {
        if (fs_write_all(r->out_fd, p, n) != 0) {
            r->write_failed = errno ? errno : EIO;
            return 0;
        }
        if (r->out_digest != NULL)
            digests_update(r->out_digest, p, n);
        return n;
    }
    if (r->resp_len + n > OFFSITE_RESPONSE_MAX)
        return n;          /* keep the start: enough for an error code or a page */
    char *nr = realloc(r->resp, r->resp_len + n + 1);
    if (nr == NULL)
        return 0;
    r->resp = nr;
    memcpy(r->resp + r->resp_len, p, n);
    r->resp_len += n;
    r->resp[r->resp_len] = '\0';
    return n;
}

/* Header lines: the status (so the body callback knows where bytes go), ETag, our metadata. */
static size_t on_header(char *p, size_t size, size_t nmemb, void *ud)
{
    struct req *r = ud;
    size_t n = size * nmemb, vl;
    const char *v;

    if (n > 9 && strncmp(p, "HTTP/", 5) == 0) {
        const char *sp = memchr(p, ' ', n);
        if (sp != NULL && (size_t)(sp - p) + 4 <= n)
            r->status = strtol(sp + 1, NULL, 10);
        r->etag[0] = r->got_meta_sha[0] = '\0';
        return n;
    }
    if (n > 5 && strncasecmp(p, "etag:", 5) == 0) {
        v = p + 5;
        vl = n - 5;
        while (vl > 0 && (*v == ' ' || *v == '\t'))
            v++, vl--;
        while (vl > 0 && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' '))
            vl--;
        if (vl < sizeof(r->etag)) {
            memcpy(r->etag, v, vl);
            r->etag[vl] = '\0';
        }
    } else if (n > 18 && strncasecmp(p, "x-amz-meta-sha256:", 18) == 0) {
        v = p + 18;
        vl = n - 18;
        while (vl > 0 && *v == ' ')
            v++, vl--;
        if (vl >= 64) {
            memcpy(r->got_meta_sha, v, 64);
            r->got_meta_sha[64] = '\0';
        }
    }
    return n;
}

static int progress(void *ud, curl_off_t dlt, curl_off_t dln, curl_off_t ult, curl_off_t uln)
{
    const struct offsite *o = ud;

    (void)dlt;
    (void)dln;
    (void)ult;
    (void)uln;
    return o->abort != NULL && atomic_load(o->abort) ? 1 : 0;
}

static int build_url(const struct offsite *o, const struct req *r, char *url, size_t len)
{
    int n;

    if (o->path_style)
        n = snprintf(url, len, "%s://%s/%s/%s%s%s", o->scheme, o->host, o->bucket,
                     r->key ? r->key : "", r->query ? "?" : "", r->query ? r->query : "");
    else
        n = snprintf(url, len, "%s://%s.%s/%s%s%s", o->scheme, o->bucket, o->host,
                     r->key ? r->key : "", r->query ? "?" : "", r->query ? r->query : "");
    return n < 0 || (size_t)n >= len ? -1 : 0;
}

/* The <Code> of an S3 error body, or "". */
static void xml_text(const char *xml, const char *tag, char *out, size_t len)
{
    char open[64], close[64];
    const char *a, *b;

    out[0] = '\0';
    if (xml == NULL)
        return;
    snprintf(open, sizeof(open), "<%s>", tag);
    snprintf(close, sizeof(close), "</%s>", tag);
    if ((a = strstr(xml, open)) == NULL)
        return;
    a += strlen(open);
    if ((b = strstr(a, close)) == NULL)
        return;
    snprintf(out, len, "%.*s", (int)(b - a), a);
}

static void req_reset(struct req *r)
{
    free(r->resp);
    r->resp = NULL;
    r->resp_len = 0;
    r->body_off = 0;
    r->status = 0;
    r->etag[0] = r->got_meta_sha[0] = '\0';
    r->length = -1;
    r->write_failed = 0;
}

/* Send r once. 0 on a 2xx; else -1 with e saying what happened (never a
 * key: only the method, the object and S3's error code) and *retry set
 * when another attempt could help. */
static int perform(struct offsite *o, struct req *r, int *retry, struct err *e)
{
    CURL *c = o->curl;
    struct curl_slist *h = NULL;
    char url[OFFSITE_URL_MAX], line[160], code[64];
    curl_off_t cl = -1;
    CURLcode rc;
    int ret = -1;

    *retry = 0;
    req_reset(r);
    if (build_url(o, r, url, sizeof(url)) != 0)
        return err_set(e, ERR_INVALID, "offsite: object URL too long");
    curl_easy_reset(c);
    snprintf(line, sizeof(line), "x-amz-content-sha256: %s", r->sha_hex ? r->sha_hex : EMPTY_SHA256);
    h = curl_slist_append(h, line);
    if (r->md5_b64 != NULL) {
        snprintf(line, sizeof(line), "Content-MD5: %s", r->md5_b64);
        h = curl_slist_append(h, line);
    }
    if (r->sha_b64 != NULL) {
        snprintf(line, sizeof(line), "x-amz-checksum-sha256: %s", r->sha_b64);
        h = curl_slist_append(h, line);
    }
    if (r->meta_sha != NULL) {
        snprintf(line, sizeof(line), "x-amz-meta-sha256: %s", r->meta_sha);
        h = curl_slist_append(h, line);
    }
    if (r->content_type != NULL) {
        snprintf(line, sizeof(line), "Content-Type: %s", r->content_type);
        h = curl_slist_append(h, line);
    }
    if (o->session_token != NULL) {
        /* Temporary credentials: libcurl's SigV4 signs every header we add,
         * so the token is in SignedHeaders as S3 requires. */
        size_t tl = strlen(o->session_token) + 32;
        char *tok = malloc(tl);
        if (tok == NULL) {
            curl_slist_free_all(h);
            return err_set(e, ERR_IO, "out of memory");
        }
        snprintf(tok, tl, "x-amz-security-token: %s", o->session_token);
        h = curl_slist_append(h, tok);
        OPENSSL_cleanse(tok, tl);
        free(tok);
    }
    if (h == NULL)
        return err_set(e, ERR_IO, "out of memory");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_AWS_SIGV4, o->sigv4);
    curl_easy_setopt(c, CURLOPT_USERNAME, o->access_key);
    curl_easy_setopt(c, CURLOPT_PASSWORD, o->secret_key);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_USERAGENT, "statesnap/" STATESNAP_VERSION);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, (long)OFFSITE_CONNECT_TIMEOUT_S);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, (long)OFFSITE_LOW_SPEED_S);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, o->verify_tls ? 1L : 0L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, o->verify_tls ? 2L : 0L);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, write_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, o);
    if (r->in_fd < 0 && r->body == NULL && r->out_fd < 0)
        curl_easy_setopt(c, CURLOPT_TIMEOUT, (long)OFFSITE_SMALL_TIMEOUT_S);
    if (strcmp(r->method, "HEAD") == 0) {
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    } else if (strcmp(r->method, "PUT") == 0) {
        curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(c, CURLOPT_READFUNCTION, read_body);
        curl_easy_setopt(c, CURLOPT_READDATA, r);
        curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE,
                         (curl_off_t)(r->in_fd >= 0 ? r->in_len : (int64_t)r->body_len));
        if (r->in_fd >= 0 && lseek(r->in_fd, 0, SEEK_SET) != 0) {
            err_sys(e, errno, "offsite: rewind the archive");
            goto out;
        }
    } else if (strcmp(r->method, "POST") == 0) {
        curl_easy_setopt(c, CURLOPT_POST, 1L);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, r->body ? (const char *)r->body : "");
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_len);
    } else if (strcmp(r->method, "DELETE") == 0) {
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "DELETE");
    }
    rc = curl_easy_perform(c);
    if (rc != CURLE_OK) {
        /* libcurl's fixed message only: its error buffer can quote the URL. */
        err_set(e, ERR_IO, "offsite: %s %s: %s", r->method, r->key ? r->key : o->bucket,
                r->write_failed ? strerror(r->write_failed) : curl_easy_strerror(rc));
        *retry = rc != CURLE_ABORTED_BY_CALLBACK && !r->write_failed;
        goto out;
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    if (curl_easy_getinfo(c, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl) == CURLE_OK)
        r->length = (int64_t)cl;
    if (r->status >= 200 && r->status < 300) {
        ret = 0;
        goto out;
    }
    xml_text(r->resp, "Code", code, sizeof(code));
    /* A HEAD answer has no body to name the error: say what the status means. */
    if (code[0] == '\0')
        snprintf(code, sizeof(code), "%s", r->status == 404 ? "NotFound"
                                           : r->status == 403 ? "Forbidden"
                                           : r->status == 400 ? "BadRequest" : "(no error code)");
    err_set(e, r->status == 404 ? ERR_NOT_FOUND : ERR_IO, "offsite: %s %s: HTTP %ld %s%s",
            r->method, r->key ? r->key : o->bucket, r->status, code,
            strcmp(code, "SignatureDoesNotMatch") == 0 ? " (check offsite.secret_key)"
            : strcmp(code, "Forbidden") == 0 ? " (check the offsite keys and the bucket policy)"
            : strcmp(code, "InvalidAccessKeyId") == 0 ? " (check offsite.access_key)"
            : strcmp(code, "NoSuchBucket") == 0 ? " (check offsite.bucket)" : "");
    *retry = r->status >= 500 || r->status == 408 || r->status == 429;
out:
    curl_slist_free_all(h);
    return ret;
}

/* perform() with OFFSITE_ATTEMPTS tries for what can be transient. */
static int request(struct offsite *o, struct req *r, struct err *e)
{
    int retry = 0;

    for (int k = 0; k < OFFSITE_ATTEMPTS; k++) {
        if (k > 0) {
            struct timespec ts = { 0, OFFSITE_RETRY_MS * 1000000L };
            nanosleep(&ts, NULL);
            err_clear(e);
            if (r->out_fd >= 0 && (ftruncate(r->out_fd, 0) != 0 ||
                                   lseek(r->out_fd, 0, SEEK_SET) != 0))
                return err_sys(e, errno, "offsite: reset the download");
            if (r->out_digest != NULL) {
                digests_free(r->out_digest);
                if (digests_init(r->out_digest) != 0)
                    return err_set(e, ERR_IO, "out of memory");
            }
        }
        if (perform(o, r, &retry, e) == 0)
            return 0;
        if (!retry)
            break;
    }
    return -1;
}

static void req_init(struct req *r, const char *method, const char *key)
{
    memset(r, 0, sizeof(*r));
    r->method = method;
    r->key = key;
    r->in_fd = -1;
    r->out_fd = -1;
    r->length = -1;
}

static void req_done(struct req *r)
{
    free(r->resp);
    r->resp = NULL;
}

/* ---- objects ---- */

static int object_key(const struct offsite *o, const char *name, const char *suffix, char *out,
                      size_t len, struct err *e)
{
    int n = snprintf(out, len, "%s%s%s", o->prefix, name, suffix);

    if (n < 0 || (size_t)n >= len)
        return err_set(e, ERR_INVALID, "offsite: object key too long");
    return 0;
}

/* HEAD key: 1 when present (size and stored sha256 filled), 0 when absent, -1 on error. */
static int head_object(struct offsite *o, const char *key, int64_t *size, char sha[65],
                       struct err *e)
{
    struct req r;
    struct err he = { 0 };
    int rc;

    req_init(&r, "HEAD", key);
    rc = request(o, &r, &he);
    if (rc == 0) {
        *size = r.length;
        snprintf(sha, 65, "%s", r.got_meta_sha);
        req_done(&r);
        return 1;
    }
    req_done(&r);
    if (he.code == ERR_NOT_FOUND)
        return 0;
    *e = he;
    return -1;
}

static int put_single(struct offsite *o, const char *key, int fd, int64_t size,
                      const char *sha_hex, const char *sha_b64, const char *md5_b64,
                      struct err *e)
{
    struct req r;
    int rc;

    req_init(&r, "PUT", key);
    r.in_fd = fd;
    r.in_len = size;
    r.sha_hex = sha_hex;
    r.sha_b64 = sha_b64;
    r.md5_b64 = md5_b64;
    r.meta_sha = sha_hex;
    r.content_type = "application/zip";
    rc = request(o, &r, e);
    req_done(&r);
    return rc;
}

static int put_bytes(struct offsite *o, const char *key, const void *buf, size_t len,
                     const char *content_type, struct err *e)
{
    struct digests d = { 0 };
    char sha_hex[65], sha_b64[45], md5_b64[25];
    struct req r;
    int rc;

    if (digests_init(&d) != 0) {
        digests_free(&d);
        return err_set(e, ERR_IO, "out of memory");
    }
    digests_update(&d, buf, len);
    digests_final(&d, sha_hex, sha_b64, md5_b64);
    digests_free(&d);
    req_init(&r, "PUT", key);
    r.body = buf;
    r.body_len = len;
    r.sha_hex = sha_hex;
    r.sha_b64 = sha_b64;
    r.md5_b64 = md5_b64;
    r.meta_sha = sha_hex;
    r.content_type = content_type;
    rc = request(o, &r, e);
    req_done(&r);
    return rc;
}

/* Multipart upload of the open archive, one OFFSITE_PART_BYTES part in
 * memory at a time: memory stays bounded whatever the archive's size. An
 * upload that fails is aborted so no parts linger in the bucket. */
static int put_multipart(struct offsite *o, const char *key, int fd, int64_t size,
                         const char *sha_hex, struct err *e)
{
    struct req r;
    char upload_id[512], query[700], *xml = NULL;
    size_t xml_len = 0, xml_cap = 0;
    int64_t off = 0;
    int part = 0, rc = -1;
    struct err ae = { 0 };

    if (o->part == NULL && (o->part = malloc(OFFSITE_PART_BYTES)) == NULL)
        return err_set(e, ERR_IO, "out of memory");
    if ((size + OFFSITE_PART_BYTES - 1) / OFFSITE_PART_BYTES > OFFSITE_MAX_PARTS)
        return err_set(e, ERR_TOO_LARGE, "offsite: archive too large for %d parts",
                       OFFSITE_MAX_PARTS);
    req_init(&r, "POST", key);
    r.query = "uploads=";
    r.meta_sha = sha_hex;
    r.content_type = "application/zip";
    if (request(o, &r, e) != 0) {
        req_done(&r);
        return -1;
    }
    xml_text(r.resp, "UploadId", upload_id, sizeof(upload_id));
    req_done(&r);
    if (upload_id[0] == '\0' || strspn(upload_id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                                  "0123456789-_.~") != strlen(upload_id))
        return err_set(e, ERR_IO, "offsite: the server gave no usable UploadId");
    if (lseek(fd, 0, SEEK_SET) != 0)
        return err_sys(e, errno, "offsite: rewind the archive");
    xml_cap = 256 + (size_t)((size / OFFSITE_PART_BYTES) + 1) * 200;
    if ((xml = malloc(xml_cap)) == NULL) {
        err_set(e, ERR_IO, "out of memory");
        goto abort;
    }
    xml_len = (size_t)snprintf(xml, xml_cap, "<CompleteMultipartUpload>");
    while (off < size) {
        struct digests d = { 0 };
        char psha[65], pmd5[25];
        size_t want = size - off > OFFSITE_PART_BYTES ? OFFSITE_PART_BYTES : (size_t)(size - off);
        size_t got = 0;
        while (got < want) {
            ssize_t k = fs_read_some(fd, o->part + got, want - got);
            if (k <= 0) {
                err_set(e, ERR_IO, "offsite: the archive changed size while uploading");
                goto abort;
            }
            got += (size_t)k;
        }
        part++;
        if (digests_init(&d) != 0) {
            digests_free(&d);
            err_set(e, ERR_IO, "out of memory");
            goto abort;
        }
        digests_update(&d, o->part, got);
        digests_final(&d, psha, NULL, pmd5);
        digests_free(&d);
        snprintf(query, sizeof(query), "partNumber=%d&uploadId=%s", part, upload_id);
        req_init(&r, "PUT", key);
        r.query = query;
        r.body = o->part;
        r.body_len = got;
        r.sha_hex = psha;
        r.md5_b64 = pmd5;
        if (request(o, &r, e) != 0) {
            req_done(&r);
            goto abort;
        }
        if (r.etag[0] == '\0' || strchr(r.etag, '<') != NULL || strchr(r.etag, '&') != NULL) {
            req_done(&r);
            err_set(e, ERR_IO, "offsite: part %d: the server gave no ETag", part);
            goto abort;
        }
        {
            int n = snprintf(xml + xml_len, xml_cap - xml_len,
                             "<Part><PartNumber>%d</PartNumber><ETag>%s</ETag></Part>", part,
                             r.etag);
            req_done(&r);
            if (n < 0 || (size_t)n >= xml_cap - xml_len) {
                err_set(e, ERR_IO, "offsite: the part list does not fit");
                goto abort;
            }
            xml_len += (size_t)n;
        }
        off += (int64_t)got;
    }
    {
        int n = snprintf(xml + xml_len, xml_cap - xml_len, "</CompleteMultipartUpload>");
        if (n < 0 || (size_t)n >= xml_cap - xml_len) {
            err_set(e, ERR_IO, "offsite: the part list does not fit");
            goto abort;
        }
        xml_len += (size_t)n;
    }
    {
        struct digests d = { 0 };
        char csha[65];
        if (digests_init(&d) != 0) {
            digests_free(&d);
            err_set(e, ERR_IO, "out of memory");
            goto abort;
        }
        digests_update(&d, xml, xml_len);
        digests_final(&d, csha, NULL, NULL);
        digests_free(&d);
        snprintf(query, sizeof(query), "uploadId=%s", upload_id);
        req_init(&r, "POST", key);
        r.query = query;
        r.body = (const unsigned char *)xml;
        r.body_len = xml_len;
        r.sha_hex = csha;
        r.content_type = "application/xml";
        if (request(o, &r, e) != 0) {
            req_done(&r);
            goto abort;
        }
        /* S3 can answer 200 with an error document when completing fails late. */
        if (r.resp != NULL && strstr(r.resp, "<Error>") != NULL) {
            char code[64];
            xml_text(r.resp, "Code", code, sizeof(code));
            req_done(&r);
            err_set(e, ERR_IO, "offsite: completing the upload of %s failed: %s", key, code);
            goto abort;
        }
        req_done(&r);
    }
    rc = 0;
    goto out;
abort:
    snprintf(query, sizeof(query), "uploadId=%s", upload_id);
    req_init(&r, "DELETE", key);
    r.query = query;
    (void)request(o, &r, &ae);
    req_done(&r);
out:
    free(xml);
    return rc;
}

/* The manifest beside the archive, so a bucket listing can be read without
 * downloading archives. */
static int put_manifest(struct offsite *o, struct store *s, const char *name, const char *path,
                        struct err *e)
{
    struct archive *a = NULL;
    char key[OFFSITE_KEY_MAX + OFFSITE_PREFIX_MAX], *buf = NULL;
    size_t len = 0;
    int rc = -1;

    (void)s;
    if (object_key(o, name, ".manifest.json", key, sizeof(key), e) != 0 ||
        archive_open(&a, path, e) != 0)
        goto out;
    if ((buf = json_dumps(archive_manifest(a), JSON_INDENT(2) | JSON_SORT_KEYS)) == NULL) {
        err_set(e, ERR_IO, "out of memory");
        goto out;
    }
    len = strlen(buf);
    rc = put_bytes(o, key, buf, len, "application/json", e);
out:
    free(buf);
    archive_close(a);
    return rc;
}

/* Upload NAME unless the bucket already holds it with the catalog's hash. */
static int sync_one(struct offsite *o, struct store *s, const char *name, int *uploaded,
                    struct err *e)
{
    struct catalog_snapshot row;
    struct digests d = { 0 };
    char path[PATH_MAX], key[OFFSITE_KEY_MAX + OFFSITE_PREFIX_MAX], sha[65], sha_b64[45],
        md5_b64[25], remote_sha[65], buf[1 << 16];
    int64_t remote_size = -1, size = 0;
    struct stat st;
    ssize_t k;
    int fd = -1, rc = -1, r;

    *uploaded = 0;
    memset(&row, 0, sizeof(row));
    if (catalog_snapshot_get(s->cat, name, 0, &row, e) != 0 ||
        store_archive_path(s, name, path, sizeof(path), e) != 0 ||
        object_key(o, name, ".zip", key, sizeof(key), e) != 0)
        goto out;
    if ((r = head_object(o, key, &remote_size, remote_sha, e)) < 0)
        goto out;
    if (r == 1 && remote_size == row.size && strcmp(remote_sha, row.archive_sha256) == 0) {
        /* A round cut short after the archive may have missed the manifest. */
        char mkey[sizeof(key)], msha[65];
        int64_t msize;
        if (object_key(o, name, ".manifest.json", mkey, sizeof(mkey), e) != 0 ||
            (r = head_object(o, mkey, &msize, msha, e)) < 0 ||
            (r == 0 && put_manifest(o, s, name, path, e) != 0))
            goto out;
        rc = 0;
        goto out;
    }
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
        err_sys(e, errno, "offsite: cannot read the local archive of %s", name);
        goto out;
    }
    if (fstat(fd, &st) != 0) {
        err_sys(e, errno, "offsite: stat %s", path);
        goto out;
    }
    size = (int64_t)st.st_size;
    /* Hash what will be sent, and refuse to copy an archive that no longer
     * matches its catalog entry: a bad copy offsite is worse than none. */
    if (digests_init(&d) != 0) {
        err_set(e, ERR_IO, "out of memory");
        goto out;
    }
    if (size > OFFSITE_MULTIPART_ABOVE) {
        /* Parts carry their own MD5; only the whole SHA-256 is needed here. */
        EVP_MD_CTX_free(d.md5);
        d.md5 = NULL;
    }
    while ((k = fs_read_some(fd, buf, sizeof(buf))) > 0)
        digests_update(&d, buf, (size_t)k);
    if (k < 0) {
        err_sys(e, errno, "offsite: read %s", path);
        goto out;
    }
    digests_final(&d, sha, sha_b64, md5_b64);
    if (strcmp(sha, row.archive_sha256) != 0 || size != row.size) {
        err_set(e, ERR_VERIFY, "offsite: the local archive of %s does not match its catalog "
                               "SHA-256 (run statesnap verify); not uploaded", name);
        goto out;
    }
    if (size > OFFSITE_MULTIPART_ABOVE)
        rc = put_multipart(o, key, fd, size, sha, e);
    else
        rc = put_single(o, key, fd, size, sha, sha_b64, md5_b64, e);
    if (rc != 0)
        goto out;
    rc = -1;
    /* Trust only what the server says it now holds. */
    if ((r = head_object(o, key, &remote_size, remote_sha, e)) < 0)
        goto out;
    if (r == 0 || remote_size != size || strcmp(remote_sha, sha) != 0) {
        err_set(e, ERR_VERIFY, "offsite: after the upload of %s the server holds %s", name,
                r == 0 ? "nothing" : remote_size != size ? "a different size"
                                                        : "a different SHA-256");
        goto out;
    }
    if (put_manifest(o, s, name, path, e) != 0)
        goto out;
    *uploaded = 1;
    rc = 0;
out:
    digests_free(&d);
    if (fd >= 0)
        close(fd);
    catalog_snapshot_clear(&row);
    return rc;
}

static int list_objects(struct offsite *o, json_t **objects, struct err *e);

/* Check every snapshot the catalog calls synced against the bucket's
 * listing (size), and a HEAD (x-amz-meta-sha256) for each whose size
 * matches: one that is gone, or is another object now, goes back to
 * "pending" with the reason, is alerted, and is appended to lost. -1 only
 * when the bucket could not be asked. */
static int recheck_synced(struct offsite *o, struct store *s, json_t *lost, int64_t *checked,
                          struct err *e)
{
    json_t *listing = NULL, *archives, *manifests;
    struct catalog_offsite_row *rows = NULL;
    size_t n = 0;
    int rc = -1;

    *checked = 0;
    if (list_objects(o, &listing, e) != 0) {
        char why[sizeof(e->msg)];
        snprintf(why, sizeof(why), "%s", e->msg);
        e->code = ERR_NONE;
        err_set(e, ERR_IO, "offsite: cannot list the bucket, so nothing was checked or sent: %.400s", why);
        return -1;
    }
    archives = json_object_get(listing, "archives");
    manifests = json_object_get(listing, "manifests");
    if (catalog_offsite_rows(s->cat, &rows, &n, e) != 0)
        goto out;
    for (size_t i = 0; i < n; i++) {
        const json_t *obj = json_object_get(archives, rows[i].name);
        char problem[2 * (OFFSITE_KEY_MAX + OFFSITE_PREFIX_MAX) + 200], sha[65] = "",
            key[OFFSITE_KEY_MAX + OFFSITE_PREFIX_MAX];
        int64_t size = -1;
        int r;
        if (strcmp(rows[i].state, "synced") != 0)
            continue;
        if (o->abort != NULL && atomic_load(o->abort))
            break;
        (*checked)++;
        problem[0] = '\0';
        if (obj == NULL) {
            snprintf(problem, sizeof(problem), "gone from the bucket: %s%s.zip is missing",
                     o->prefix, rows[i].name);
        } else if (json_integer_value(json_object_get(obj, "size")) != rows[i].size) {
            snprintf(problem, sizeof(problem), "the bucket holds another object as %s%s.zip (%lld "
                     "bytes, the snapshot has %lld)", o->prefix, rows[i].name,
                     (long long)json_integer_value(json_object_get(obj, "size")), (long long)rows[i].size);
        } else {
            if (object_key(o, rows[i].name, ".zip", key, sizeof(key), e) != 0 ||
                (r = head_object(o, key, &size, sha, e)) < 0)
                goto out;
            if (r == 0)
                snprintf(problem, sizeof(problem), "gone from the bucket: %s is missing", key);
            else if (strcmp(sha, rows[i].sha256) != 0)
                snprintf(problem, sizeof(problem), "the bucket holds another object as %s (SHA-256 "
                         "%.12s..., the snapshot's is %.12s...)", key, sha[0] ? sha : "unknown",
                         rows[i].sha256);
            else if (json_object_get(manifests, rows[i].name) == NULL)
                snprintf(problem, sizeof(problem), "its manifest %s%s.manifest.json is gone from the "
                         "bucket", o->prefix, rows[i].name);
        }
        if (problem[0] == '\0')
            continue;
        (void)catalog_offsite_set(s->cat, rows[i].name, "pending", problem, engine_now(), NULL);
        json_array_append_new(lost, json_pack("{s:s, s:s}", "name", rows[i].name, "problem", problem));
        json_t *d = json_pack("{s:s}", "error", problem);
        engine_emit(store_config(s), "offsite", "error", rows[i].name, d);
        json_decref(d);
    }
    rc = 0;
out:
    catalog_offsite_rows_free(rows, n);
    json_decref(listing);
    return rc;
}

int offsite_sync(struct offsite *o, struct store *s, json_t **report, struct err *e)
{
    char **names = NULL;
    size_t n = 0;
    json_t *up = json_array(), *already = json_array(), *failed = json_array(), *lost = json_array();
    int nfailed = 0;
    int64_t checked = 0;

    *report = NULL;
    if (up == NULL || already == NULL || failed == NULL || lost == NULL) {
        err_set(e, ERR_IO, "out of memory");
        goto out;
    }
    /* Every round asks the bucket, even with nothing new: an endpoint that
     * cannot be reached fails the round, and a copy that vanished or was
     * replaced is found and sent again. */
    if (catalog_offsite_mark_new(s->cat, e) != 0)
        goto out;
    {
        struct err le = { 0 };
        int listed = recheck_synced(o, s, lost, &checked, &le) == 0;
        if (catalog_offsite_todo(s->cat, &names, &n, e) != 0)
            goto out;
        if (!listed) {
            /* Nothing could be sent: what was to go failed this round, with
             * the reason; what was synced stays so (unknown is not lost). */
            for (size_t i = 0; i < n; i++) {
                json_t *d = json_pack("{s:s}", "error", le.msg);
                (void)catalog_offsite_set(s->cat, names[i], "failed", le.msg, engine_now(), NULL);
                json_array_append_new(failed, json_pack("{s:s, s:s}", "name", names[i], "error", le.msg));
                engine_emit(store_config(s), "offsite", "error", names[i], d);
                json_decref(d);
            }
            if (n == 0) {
                json_t *d = json_pack("{s:s}", "error", le.msg);
                engine_emit(store_config(s), "offsite", "error", NULL, d);
                json_decref(d);
            }
            *e = le;
            *report = json_pack("{s:O, s:O, s:O, s:O, s:I}", "uploaded", up, "already", already,
                                "failed", failed, "lost", lost, "checked", (json_int_t)checked);
            nfailed = 1;
            goto out;
        }
    }
    for (size_t i = 0; i < n; i++) {
        struct err se = { 0 };
        int uploaded = 0;
        int64_t now = engine_now();
        /* Stopping is not a failure of the snapshots not yet sent: they stay as they are. */
        if (o->abort != NULL && atomic_load(o->abort))
            break;
        if (sync_one(o, s, names[i], &uploaded, &se) == 0) {
            /* A snapshot deleted meanwhile has no row to mark: nothing to say. */
            (void)catalog_offsite_set(s->cat, names[i], "synced", NULL, now, NULL);
            json_array_append_new(uploaded ? up : already, json_string(names[i]));
            continue;
        }
        if (se.code == ERR_NOT_FOUND && catalog_snapshot_exists(s->cat, names[i], NULL) == 0)
            continue;
        if (o->abort != NULL && atomic_load(o->abort))
            break;
        (void)catalog_offsite_set(s->cat, names[i], "failed", se.msg, now, NULL);
        json_array_append_new(failed, json_pack("{s:s, s:s}", "name", names[i], "error", se.msg));
        {
            json_t *d = json_pack("{s:s}", "error", se.msg);
            engine_emit(store_config(s), "offsite", "error", names[i], d);
            json_decref(d);
        }
        if (nfailed++ == 0)
            *e = se;
    }
    *report = json_pack("{s:O, s:O, s:O, s:O, s:I}", "uploaded", up, "already", already, "failed", failed,
                        "lost", lost, "checked", (json_int_t)checked);
    if (*report == NULL) {
        err_set(e, ERR_IO, "out of memory");
        goto out;
    }
    if (nfailed > 0) {
        if (nfailed > 1) {
            char first[sizeof(e->msg)];
            snprintf(first, sizeof(first), "%s", e->msg);
            e->code = ERR_NONE;
            err_set(e, ERR_IO, "%d snapshots failed to sync; first: %.200s", nfailed, first);
        }
        e->code = ERR_IO;
    }
out:
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    json_decref(up);
    json_decref(already);
    json_decref(failed);
    json_decref(lost);
    return *report != NULL && nfailed == 0 ? 0 : -1;
}

static json_t *time_or_null(int64_t t)
{
    char buf[32];

    if (t <= 0)
        return json_null();
    engine_time_format(t, buf, sizeof(buf));
    return json_string(buf);
}

static char *endpoint_text(const struct offsite *o, char *buf, size_t len)
{
    snprintf(buf, len, "%s://%s", o->scheme, o->host);
    return buf;
}

int offsite_status(struct offsite *o, struct store *s, json_t **doc, struct err *e)
{
    struct catalog_offsite_stats st;
    char **names = NULL, ep[300];
    size_t n = 0;
    json_t *failed = json_array();

    *doc = NULL;
    if (failed == NULL)
        return err_set(e, ERR_IO, "out of memory");
    if (catalog_offsite_stats(s->cat, &st, e) != 0 || catalog_offsite_todo(s->cat, &names, &n, e) != 0) {
        json_decref(failed);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        struct catalog_offsite off;
        if (catalog_offsite_get(s->cat, names[i], &off, NULL) == 0 &&
            strcmp(off.state, "failed") == 0)
            json_array_append_new(failed, json_pack("{s:s, s:s, s:o}", "name", names[i], "error",
                                                    off.error, "at", time_or_null(off.at)));
        free(names[i]);
    }
    free(names);
    *doc = json_pack("{s:b, s:s, s:s, s:s, s:s, s:b, s:I, s:b, s:{s:I, s:I, s:I, s:I}, s:o, s:o}",
                     "enabled", 1, "endpoint", endpoint_text(o, ep, sizeof(ep)), "bucket",
                     o->bucket, "prefix", o->prefix, "region", o->region, "path_style",
                     o->path_style, "interval_seconds", (json_int_t)o->interval,
                     "sync_after_create", o->sync_after_create, "counts", "none",
                     (json_int_t)st.none, "pending", (json_int_t)st.pending, "synced",
                     (json_int_t)st.synced, "failed", (json_int_t)st.failed, "last_success",
                     time_or_null(st.last_success), "failed_snapshots", failed);
    if (*doc == NULL)
        return err_set(e, ERR_IO, "out of memory");
    return 0;
}

/* Sort one <Contents> entry into the listing: our archives
 * (PREFIX/NAME.zip) and manifests (PREFIX/NAME.manifest.json) by name, and
 * everything else under the prefix as foreign, with why it was skipped.
 * Keys are taken as listed: S3's XML escapes never occur in a valid name,
 * so an escaped key is simply foreign. */
static void list_entry(const char *block, json_t *listing, const struct offsite *o)
{
    char key[OFFSITE_KEY_MAX + OFFSITE_PREFIX_MAX], size[32], mod[64], name[ENGINE_NAME_MAX + 1];
    size_t pl = strlen(o->prefix), kl;
    const char *rest, *why = NULL, *kind = NULL;
    json_int_t bytes;

    xml_text(block, "Key", key, sizeof(key));
    xml_text(block, "Size", size, sizeof(size));
    xml_text(block, "LastModified", mod, sizeof(mod));
    bytes = (json_int_t)strtoll(size, NULL, 10);
    kl = strlen(key);
    if (kl < pl || strncmp(key, o->prefix, pl) != 0)
        return;   /* outside the prefix: not ours to judge */
    rest = key + pl;
    if (strchr(rest, '/') != NULL)
        why = "in a folder below the prefix";
    else if (kl > pl + 4 && strcmp(key + kl - 4, ".zip") == 0)
        kind = ".zip";
    else if (kl > pl + 14 && strcmp(key + kl - 14, ".manifest.json") == 0)
        kind = ".manifest.json";
    else
        why = "not NAME.zip or NAME.manifest.json";
    if (kind != NULL) {
        size_t nl = kl - pl - strlen(kind);
        if (nl > ENGINE_NAME_MAX) {
            why = "name too long for a snapshot";
        } else {
            memcpy(name, rest, nl);
            name[nl] = '\0';
            if (engine_name_check(name, NULL) != 0)
                why = "not a valid snapshot name";
        }
    }
    if (why != NULL) {
        json_array_append_new(json_object_get(listing, "foreign"),
                              json_pack("{s:s, s:I, s:s}", "key", key, "size", bytes, "reason", why));
        return;
    }
    if (strcmp(kind, ".zip") == 0)
        json_object_set_new(json_object_get(listing, "archives"), name,
                            json_pack("{s:s, s:s, s:I, s:s}", "name", name, "key", key, "size", bytes,
                                      "last_modified", mod));
    else
        json_object_set_new(json_object_get(listing, "manifests"), name, json_integer(bytes));
}

static void list_page(const char *xml, json_t *listing, const struct offsite *o)
{
    const char *p = xml;

    while ((p = strstr(p, "<Contents>")) != NULL) {
        const char *end = strstr(p, "</Contents>");
        char block[4096];
        size_t bl;
        if (end == NULL)
            break;
        bl = (size_t)(end - p);
        if (bl < sizeof(block)) {
            memcpy(block, p, bl);
            block[bl] = '\0';
            list_entry(block, listing, o);
        }
        p = end;
    }
}

/* Percent-encode for a query value (RFC 3986 unreserved kept). */
static int query_escape(const char *in, char *out, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t j = 0;

    for (; *in; in++) {
        unsigned char c = (unsigned char)*in;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '_' || c == '.' || c == '~') {
            if (j + 1 >= len)
                return -1;
            out[j++] = (char)c;
        } else {
            if (j + 3 >= len)
                return -1;
            out[j++] = '%';
            out[j++] = hex[c >> 4];
            out[j++] = hex[c & 15];
        }
    }
    out[j] = '\0';
    return 0;
}

/* Everything under the prefix (ListObjectsV2, all pages):
 * *listing = {archives:{NAME:{name,key,size,last_modified}}, manifests:{NAME:size},
 * foreign:[{key,size,reason}]}. -1 when the endpoint cannot be listed. */
static int list_objects(struct offsite *o, json_t **objects, struct err *e)
{
    char prefix[3 * OFFSITE_PREFIX_MAX + 8], token[1024], etoken[3 * 1024 + 8],
        query[sizeof(prefix) + sizeof(etoken) + 64], trunc[16];
    json_t *out = json_pack("{s:o, s:o, s:o}", "archives", json_object(), "manifests", json_object(),
                            "foreign", json_array());
    struct req r;

    *objects = NULL;
    if (out == NULL)
        return err_set(e, ERR_IO, "out of memory");
    if (query_escape(o->prefix, prefix, sizeof(prefix)) != 0)
        return json_decref(out), err_set(e, ERR_INVALID, "offsite: prefix too long");
    token[0] = '\0';
    for (int page = 0; page < 100000; page++) {
        int n;
        if (token[0]) {
            if (query_escape(token, etoken, sizeof(etoken)) != 0) {
                json_decref(out);
                return err_set(e, ERR_IO, "offsite: continuation token too long");
            }
            /* Parameters in canonical (sorted) order, so the signature matches. */
            n = snprintf(query, sizeof(query), "continuation-token=%s&list-type=2&prefix=%s",
                         etoken, prefix);
        } else {
            n = snprintf(query, sizeof(query), "list-type=2&prefix=%s", prefix);
        }
        if (n < 0 || (size_t)n >= sizeof(query)) {
            json_decref(out);
            return err_set(e, ERR_INVALID, "offsite: list query too long");
        }
        req_init(&r, "GET", NULL);
        r.query = query;
        if (request(o, &r, e) != 0) {
            req_done(&r);
            json_decref(out);
            return -1;
        }
        if (r.resp != NULL)
            list_page(r.resp, out, o);
        xml_text(r.resp, "IsTruncated", trunc, sizeof(trunc));
        xml_text(r.resp, "NextContinuationToken", token, sizeof(token));
        req_done(&r);
        if (strcmp(trunc, "true") != 0 || token[0] == '\0')
            break;
    }
    *objects = out;
    return 0;
}

/* The listing's archives as an array (new reference), in key order. */
static json_t *archives_of(json_t *listing)
{
    json_t *arr = json_array(), *v;
    const char *k;

    json_object_foreach(json_object_get(listing, "archives"), k, v)
        json_array_append(arr, v);
    return arr;
}

int offsite_list(struct offsite *o, struct store *s, json_t **doc, struct err *e)
{
    json_t *listing = NULL, *objs = NULL, *missing = NULL, *obj;
    struct catalog_offsite_row *rows = NULL;
    size_t n = 0;
    const char *name;

    *doc = NULL;
    if (list_objects(o, &listing, e) != 0)
        return -1;
    if ((objs = json_array()) == NULL || (missing = json_array()) == NULL) {
        err_set(e, ERR_IO, "out of memory");
        goto fail;
    }
    json_object_foreach(json_object_get(listing, "archives"), name, obj) {
        char sha[65] = "";
        int64_t size = -1;
        struct catalog_offsite off;
        if (head_object(o, json_string_value(json_object_get(obj, "key")), &size, sha, e) < 0)
            goto fail;
        json_object_set_new(obj, "sha256", sha[0] ? json_string(sha) : json_null());
        json_object_set_new(obj, "catalog_state",
                            catalog_offsite_get(s->cat, name, &off, NULL) == 0
                                ? json_string(off.state[0] ? off.state : "none")
                                : json_null());
        json_object_set_new(obj, "manifest",
                            json_boolean(json_object_get(json_object_get(listing, "manifests"), name) != NULL));
        json_array_append(objs, obj);
    }
    /* What the catalog has that the bucket does not: whatever its state says. */
    if (catalog_offsite_rows(s->cat, &rows, &n, e) != 0)
        goto fail;
    for (size_t i = 0; i < n; i++)
        if (json_object_get(json_object_get(listing, "archives"), rows[i].name) == NULL)
            json_array_append_new(missing, json_pack("{s:s, s:s}", "name", rows[i].name, "catalog_state",
                                                     rows[i].state[0] ? rows[i].state : "none"));
    catalog_offsite_rows_free(rows, n);
    *doc = json_pack("{s:s, s:o, s:o, s:O}", "prefix", o->prefix, "objects", objs, "missing", missing,
                     "foreign", json_object_get(listing, "foreign"));
    objs = missing = NULL;
    json_decref(listing);
    return *doc ? 0 : err_set(e, ERR_IO, "out of memory");
fail:
    json_decref(objs);
    json_decref(missing);
    json_decref(listing);
    return -1;
}

/* GET key into a new .work/upload-offsite-* file, hashing it on the way;
 * the object's stored sha256 must match what arrived. *path is the temp
 * file (caller removes it or hands it on). */
static int download(struct offsite *o, struct store *s, const char *key, const char *name,
                    char *path, size_t len, char sha[65], struct err *e)
{
    struct digests d = { 0 };
    char rnd[17], file[ENGINE_NAME_MAX + 64];
    struct req r;
    int fd, rc = -1;

    if (store_random_hex(rnd, 8, e) != 0)
        return -1;
    snprintf(file, sizeof(file), "%soffsite-%s-%s.zip", STORE_UPLOAD_PREFIX, name, rnd);
    if (fs_join(path, len, s->work, file, e) != 0)
        return -1;
    if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, STORE_FILE_MODE)) < 0)
        return err_sys(e, errno, "offsite: create %s", path);
    if (digests_init(&d) != 0) {
        err_set(e, ERR_IO, "out of memory");
        goto out;
    }
    EVP_MD_CTX_free(d.md5);
    d.md5 = NULL;
    req_init(&r, "GET", key);
    r.out_fd = fd;
    r.out_digest = &d;
    if (request(o, &r, e) != 0) {
        req_done(&r);
        goto out;
    }
    digests_final(&d, sha, NULL, NULL);
    if (r.got_meta_sha[0] && strcmp(r.got_meta_sha, sha) != 0) {
        req_done(&r);
        err_set(e, ERR_VERIFY, "offsite: %s arrived with SHA-256 %.12s..., the object says "
                               "%.12s...", key, sha, r.got_meta_sha);
        goto out;
    }
    req_done(&r);
    if (fsync(fd) != 0) {
        err_sys(e, errno, "offsite: fsync %s", path);
        goto out;
    }
    rc = 0;
out:
    digests_free(&d);
    if (close(fd) != 0 && rc == 0)
        rc = err_sys(e, errno, "offsite: close %s", path);
    if (rc != 0)
        unlink(path);
    return rc;
}

int offsite_fetch(struct offsite *o, struct store *s, const char *name, int *fetched,
                  struct err *e)
{
    char local[PATH_MAX], tmp[PATH_MAX], key[OFFSITE_KEY_MAX + OFFSITE_PREFIX_MAX], sha[65];
    int r;

    *fetched = 0;
    if (engine_name_check(name, e) != 0)
        return -1;
    if ((r = catalog_snapshot_exists(s->cat, name, e)) < 0)
        return -1;
    if (store_archive_path(s, name, local, sizeof(local), e) != 0 ||
        object_key(o, name, ".zip", key, sizeof(key), e) != 0)
        return -1;
    if (r == 1 && fs_exists(local) == 1)
        return 0;
    if (download(o, s, key, name, tmp, sizeof(tmp), sha, e) != 0) {
        if (e->code == ERR_NOT_FOUND) {
            e->code = ERR_NONE;
            if (r == 1)
                err_set(e, ERR_NOT_FOUND, "the archive of %s is missing locally and not in the "
                                          "offsite store (%s)", name, key);
            else
                err_set(e, ERR_NOT_FOUND, "no snapshot named \"%s\" in the catalog or the offsite "
                                          "store (%s)", name, key);
        }
        return -1;
    }
    if (r == 1) {
        if (engine_adopt_archive(s, name, tmp, e) != 0)
            return -1;
    } else {
        /* Only in the bucket: imported like any zip (every byte checked),
         * and only under the name asked for. */
        struct archive *a = NULL;
        json_t *snap = NULL;
        const char *mname;
        if (archive_open(&a, tmp, e) != 0) {
            unlink(tmp);
            return -1;
        }
        mname = json_string_value(json_object_get(archive_manifest(a), "name"));
        if (mname == NULL || strcmp(mname, name) != 0) {
            err_set(e, ERR_VERIFY, "offsite: %s holds a snapshot named \"%.64s\", not \"%s\"", key,
                    mname ? mname : "", name);
            archive_close(a);
            unlink(tmp);
            return -1;
        }
        archive_close(a);
        if (engine_import(s, tmp, &snap, e) != 0) {
            unlink(tmp);
            return -1;
        }
        json_decref(snap);
        (void)catalog_offsite_set(s->cat, name, "synced", NULL, engine_now(), NULL);
    }
    *fetched = 1;
    return 0;
}

int offsite_reindex(struct offsite *o, struct store *s, json_t **report, struct err *e)
{
    json_t *objs = NULL, *obj, *down = json_array(), *present = json_array(),
           *skipped = json_array(), *ri = NULL, *snap = NULL;
    size_t i;
    int rc = -1;

    *report = NULL;
    if (down == NULL || present == NULL || skipped == NULL) {
        err_set(e, ERR_IO, "out of memory");
        goto out;
    }
    {
        json_t *listing = NULL;
        if (list_objects(o, &listing, e) != 0)
            goto out;
        objs = archives_of(listing);
        json_decref(listing);
    }
    json_array_foreach(objs, i, obj) {
        const char *name = json_string_value(json_object_get(obj, "name"));
        const char *key = json_string_value(json_object_get(obj, "key"));
        char local[PATH_MAX], tmp[PATH_MAX], sha[65];
        struct err oe = { 0 };
        int r;
        if (store_archive_path(s, name, local, sizeof(local), &oe) != 0)
            goto skip;
        if (fs_exists(local) == 1) {
            json_array_append_new(present, json_string(name));
            continue;
        }
        if (download(o, s, key, name, tmp, sizeof(tmp), sha, &oe) != 0)
            goto skip;
        if ((r = catalog_snapshot_exists(s->cat, name, &oe)) < 0) {
            unlink(tmp);
            goto skip;
        }
        /* Either way every entry's hash is checked before the archive is kept. */
        if (r == 1 ? engine_adopt_archive(s, name, tmp, &oe) != 0
                   : engine_import(s, tmp, &snap, &oe) != 0) {
            unlink(tmp);
            goto skip;
        }
        json_decref(snap);
        snap = NULL;
        json_array_append_new(down, json_string(name));
        continue;
skip:
        json_array_append_new(skipped, json_pack("{s:s, s:s}", "key", key, "problem", oe.msg));
    }
    if (engine_reindex(s, &ri, e) != 0)
        goto out;
    /* What came from the bucket, and what it already held, is offsite. */
    json_array_foreach(objs, i, obj) {
        const char *name = json_string_value(json_object_get(obj, "name"));
        size_t j;
        json_t *v;
        json_array_foreach(skipped, j, v)
            if (strcmp(json_string_value(json_object_get(v, "key")),
                       json_string_value(json_object_get(obj, "key"))) == 0)
                break;
        if (j == json_array_size(skipped))
            (void)catalog_offsite_set(s->cat, name, "synced", NULL, engine_now(), NULL);
    }
    *report = json_pack("{s:O, s:O, s:O, s:O}", "downloaded", down, "present", present,
                        "skipped", skipped, "indexed", json_object_get(ri, "indexed"));
    rc = *report ? 0 : err_set(e, ERR_IO, "out of memory");
out:
    json_decref(objs);
    json_decref(down);
    json_decref(present);
    json_decref(skipped);
    json_decref(ri);
    return rc;
}

/* ---- what the server's sync thread reads ---- */

long offsite_interval(const struct offsite *o)
{
    return o->interval;
}

int offsite_sync_after_create(const struct offsite *o)
{
    return o->sync_after_create;
}

void offsite_describe(const struct offsite *o, char *endpoint, size_t elen, char *bucket,
                      size_t blen, char *prefix, size_t plen)
{
    endpoint_text(o, endpoint, elen);
    snprintf(bucket, blen, "%s", o->bucket);
    snprintf(prefix, plen, "%s", o->prefix);
}

void offsite_set_abort(struct offsite *o, const atomic_int *abort)
{
    o->abort = abort;
}
