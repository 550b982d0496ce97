/* s3.c - a small S3 client on libcurl. CURLOPT_AWS_SIGV4 signs every
 * request (the payload's SHA-256 is signed too: x-amz-content-sha256), PUTs
 * carry Content-MD5 and x-amz-checksum-sha256 so the server verifies what
 * it stores (and, with offsite.object_lock, the retention headers), and what can be transient (a dropped connection, 5xx, 408,
 * 429) is tried S3_ATTEMPTS times. Error messages name the method, the
 * object and S3's error code, never a key or a signature. */
#include "s3.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/crypto.h>

#include "../common/fsutil.h"
#include "digests.h"
#include "s3_internal.h"

int s3_open(struct s3 **out, const struct s3_config *cfg, struct err *e)
{
    struct s3 *cl;

    *out = NULL;
    if ((cl = calloc(1, sizeof(*cl))) == NULL)
        return err_set(e, ERR_IO, "out of memory");
    cl->cfg = *cfg;
    snprintf(cl->sigv4, sizeof(cl->sigv4), "aws:amz:%s:s3", cfg->region);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        free(cl);
        return err_set(e, ERR_IO, "offsite: libcurl cannot start");
    }
    if ((cl->curl = curl_easy_init()) == NULL) {
        curl_global_cleanup();
        free(cl);
        return err_set(e, ERR_IO, "offsite: libcurl cannot start");
    }
    *out = cl;
    return 0;
}

void s3_close(struct s3 *cl)
{
    if (cl == NULL)
        return;
    curl_easy_cleanup(cl->curl);
    curl_global_cleanup();
    free(cl->part);
    free(cl);
}

void s3_set_abort(struct s3 *cl, const atomic_int *abort)
{
    cl->abort = abort;
}

int s3_set_object_lock(struct s3 *cl, const char *mode, const char *retain_until)
{
    if (mode == NULL || retain_until == NULL) {
        cl->lock_mode[0] = cl->lock_until[0] = '\0';
        return 0;
    }
    if ((strcmp(mode, "GOVERNANCE") != 0 && strcmp(mode, "COMPLIANCE") != 0) ||
        strlen(retain_until) != 20 || retain_until[10] != 'T' || retain_until[19] != 'Z')
        return -1;
    snprintf(cl->lock_mode, sizeof(cl->lock_mode), "%s", mode);
    snprintf(cl->lock_until, sizeof(cl->lock_until), "%s", retain_until);
    return 0;
}

int s3_aborted(const struct s3 *cl)
{
    return cl->abort != NULL && atomic_load(cl->abort);
}

char *s3_endpoint_text(const struct s3_config *cfg, char *buf, size_t len)
{
    snprintf(buf, len, "%s://%s", cfg->scheme, cfg->host);
    return buf;
}

/* ---- one S3 request ---- */


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
    if (r->resp_len + n > S3_RESPONSE_MAX)
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
    const struct s3 *cl = ud;

    (void)dlt;
    (void)dln;
    (void)ult;
    (void)uln;
    return cl->abort != NULL && atomic_load(cl->abort) ? 1 : 0;
}

static int build_url(const struct s3 *cl, const struct req *r, char *url, size_t len)
{
    int n;

    if (cl->cfg.path_style)
        n = snprintf(url, len, "%s://%s/%s/%s%s%s", cl->cfg.scheme, cl->cfg.host, cl->cfg.bucket,
                     r->key ? r->key : "", r->query ? "?" : "", r->query ? r->query : "");
    else
        n = snprintf(url, len, "%s://%s.%s/%s%s%s", cl->cfg.scheme, cl->cfg.bucket, cl->cfg.host,
                     r->key ? r->key : "", r->query ? "?" : "", r->query ? r->query : "");
    return n < 0 || (size_t)n >= len ? -1 : 0;
}

/* The <Code> of an S3 error body, or "". */
void s3_xml_text(const char *xml, const char *tag, char *out, size_t len)
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
    r->etag[0] = r->got_meta_sha[0] = r->code[0] = '\0';
    r->length = -1;
    r->write_failed = 0;
}

/* Send r once. 0 on a 2xx; else -1 with e saying what happened (never a
 * key: only the method, the object and S3's error code) and *retry set
 * when another attempt could help. */
static int perform(struct s3 *cl, struct req *r, int *retry, struct err *e)
{
    CURL *c = cl->curl;
    struct curl_slist *h = NULL;
    char url[S3_URL_MAX], line[160], code[64];
    curl_off_t clen = -1;
    CURLcode rc;
    int ret = -1;

    *retry = 0;
    req_reset(r);
    if (build_url(cl, r, url, sizeof(url)) != 0)
        return err_set(e, ERR_INVALID, "offsite: object URL too long");
    curl_easy_reset(c);
    snprintf(line, sizeof(line), "x-amz-content-sha256: %s", r->sha_hex ? r->sha_hex : S3_EMPTY_SHA256);
    h = curl_slist_append(h, line);
    if (r->md5_b64 != NULL) {
        snprintf(line, sizeof(line), "Content-MD5: %s", r->md5_b64);
        h = curl_slist_append(h, line);
    }
    if (r->sha_b64 != NULL) {
        snprintf(line, sizeof(line), "x-amz-checksum-sha256: %s", r->sha_b64);
        h = curl_slist_append(h, line);
    }
    if (r->checksum_algo != NULL) {
        snprintf(line, sizeof(line), "x-amz-checksum-algorithm: %s", r->checksum_algo);
        h = curl_slist_append(h, line);
    }
    if (r->new_object && cl->lock_mode[0] != '\0') {
        /* Object Lock retention, signed like every x-amz header we add. */
        snprintf(line, sizeof(line), "x-amz-object-lock-mode: %s", cl->lock_mode);
        h = curl_slist_append(h, line);
        snprintf(line, sizeof(line), "x-amz-object-lock-retain-until-date: %s", cl->lock_until);
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
    if (cl->cfg.amz_date != NULL) {
        /* libcurl signs with a date the caller gives instead of the clock's. */
        snprintf(line, sizeof(line), "x-amz-date: %.32s", cl->cfg.amz_date);
        h = curl_slist_append(h, line);
    }
    if (cl->cfg.session_token != NULL) {
        /* Temporary credentials: libcurl's SigV4 signs every header we add,
         * so the token is in SignedHeaders as S3 requires. */
        size_t tl = strlen(cl->cfg.session_token) + 32;
        char *tok = malloc(tl);
        if (tok == NULL) {
            curl_slist_free_all(h);
            return err_set(e, ERR_IO, "out of memory");
        }
        snprintf(tok, tl, "x-amz-security-token: %s", cl->cfg.session_token);
        h = curl_slist_append(h, tok);
        OPENSSL_cleanse(tok, tl);
        free(tok);
    }
    if (h == NULL)
        return err_set(e, ERR_IO, "out of memory");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_AWS_SIGV4, cl->sigv4);
    curl_easy_setopt(c, CURLOPT_USERNAME, cl->cfg.access_key);
    curl_easy_setopt(c, CURLOPT_PASSWORD, cl->cfg.secret_key);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_USERAGENT, cl->cfg.user_agent);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, (long)S3_CONNECT_TIMEOUT_S);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, (long)S3_LOW_SPEED_S);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, cl->cfg.verify_tls ? 1L : 0L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, cl->cfg.verify_tls ? 2L : 0L);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, write_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, cl);
    if (r->in_fd < 0 && r->body == NULL && r->out_fd < 0)
        curl_easy_setopt(c, CURLOPT_TIMEOUT, (long)S3_SMALL_TIMEOUT_S);
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
        *retry = rc != CURLE_ABORTED_BY_CALLBACK && !r->write_failed;
        /* Not reached, or no answer: the endpoint's trouble, worth a retry later. */
        err_set(e, *retry ? ERR_UPSTREAM : ERR_IO, "offsite: %s %s: %s", r->method,
                r->key ? r->key : cl->cfg.bucket,
                r->write_failed ? strerror(r->write_failed) : curl_easy_strerror(rc));
        goto out;
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    if (curl_easy_getinfo(c, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &clen) == CURLE_OK)
        r->length = (int64_t)clen;
    if (r->status >= 200 && r->status < 300) {
        ret = 0;
        goto out;
    }
    s3_xml_text(r->resp, "Code", code, sizeof(code));
    /* A HEAD answer has no body to name the error: say what the status means. */
    if (code[0] == '\0')
        snprintf(code, sizeof(code), "%s", r->status == 404 ? "NotFound"
                                           : r->status == 403 ? "Forbidden"
                                           : r->status == 400 ? "BadRequest" : "(no error code)");
    snprintf(r->code, sizeof(r->code), "%s", code);
    *retry = r->status >= 500 || r->status == 408 || r->status == 429;
    err_set(e, r->status == 404 ? ERR_NOT_FOUND : *retry ? ERR_UPSTREAM : ERR_IO,
            "offsite: %s %s: HTTP %ld %s%s",
            r->method, r->key ? r->key : cl->cfg.bucket, r->status, code,
            strcmp(code, "SignatureDoesNotMatch") == 0 ? " (check offsite.secret_key)"
            : strcmp(code, "Forbidden") == 0 ? " (check the offsite keys and the bucket policy)"
            : strcmp(code, "InvalidAccessKeyId") == 0 ? " (check offsite.access_key)"
            : strcmp(code, "NoSuchBucket") == 0 ? " (check offsite.bucket)" : "");
out:
    curl_slist_free_all(h);
    return ret;
}

int s3_request(struct s3 *cl, struct req *r, struct err *e)
{
    int retry = 0;

    for (int k = 0; k < S3_ATTEMPTS; k++) {
        if (k > 0) {
            struct timespec ts = { 0, S3_RETRY_MS * 1000000L };
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
        if (perform(cl, r, &retry, e) == 0)
            return 0;
        if (!retry)
            break;
    }
    return -1;
}

void s3_req_init(struct req *r, const char *method, const char *key)
{
    memset(r, 0, sizeof(*r));
    r->method = method;
    r->key = key;
    r->in_fd = -1;
    r->out_fd = -1;
    r->length = -1;
}

void s3_req_done(struct req *r)
{
    free(r->resp);
    r->resp = NULL;
}

/* HEAD key: 1 when present (size and stored sha256 filled), 0 when absent, -1 on error. */
int s3_head(struct s3 *cl, const char *key, int64_t *size, char sha[65],
                       struct err *e)
{
    struct req r;
    struct err he = { 0 };
    int rc;

    s3_req_init(&r, "HEAD", key);
    rc = s3_request(cl, &r, &he);
    if (rc == 0) {
        *size = r.length;
        snprintf(sha, 65, "%s", r.got_meta_sha);
        s3_req_done(&r);
        return 1;
    }
    s3_req_done(&r);
    if (he.code == ERR_NOT_FOUND)
        return 0;
    *e = he;
    return -1;
}

int s3_put_file(struct s3 *cl, const char *key, int fd, int64_t size,
                      const char *sha_hex, const char *sha_b64, const char *md5_b64,
                      struct err *e)
{
    struct req r;
    int rc;

    s3_req_init(&r, "PUT", key);
    r.in_fd = fd;
    r.in_len = size;
    r.sha_hex = sha_hex;
    r.sha_b64 = sha_b64;
    r.md5_b64 = md5_b64;
    r.meta_sha = sha_hex;
    r.content_type = "application/zip";
    r.new_object = 1;
    rc = s3_request(cl, &r, e);
    s3_req_done(&r);
    return rc;
}

int s3_put_bytes(struct s3 *cl, const char *key, const void *buf, size_t len,
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
    s3_req_init(&r, "PUT", key);
    r.body = buf;
    r.body_len = len;
    r.sha_hex = sha_hex;
    r.sha_b64 = sha_b64;
    r.md5_b64 = md5_b64;
    r.meta_sha = sha_hex;
    r.content_type = content_type;
    r.new_object = 1;
    rc = s3_request(cl, &r, e);
    s3_req_done(&r);
    return rc;
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


/* Everything under the prefix (ListObjectsV2, all pages), each <Contents>
 * handed to fn. */
static void list_page(const char *xml, s3_list_fn fn, void *ctx)
{
    const char *p = xml;

    while ((p = strstr(p, "<Contents>")) != NULL) {
        const char *end = strstr(p, "</Contents>");
        char block[4096], key[S3_KEY_MAX + 1], size[32], mod[64];
        size_t bl;
        if (end == NULL)
            break;
        bl = (size_t)(end - p);
        if (bl < sizeof(block)) {
            memcpy(block, p, bl);
            block[bl] = '\0';
            s3_xml_text(block, "Key", key, sizeof(key));
            s3_xml_text(block, "Size", size, sizeof(size));
            s3_xml_text(block, "LastModified", mod, sizeof(mod));
            fn(ctx, key, (int64_t)strtoll(size, NULL, 10), mod);
        }
        p = end;
    }
}

int s3_list(struct s3 *cl, const char *prefix_text, s3_list_fn fn, void *ctx, struct err *e)
{
    char prefix[3 * S3_KEY_MAX + 8], token[1024], etoken[3 * 1024 + 8],
        query[sizeof(prefix) + sizeof(etoken) + 64], trunc[16], *text = NULL;

    if (query_escape(prefix_text, prefix, sizeof(prefix)) != 0)
        return err_set(e, ERR_INVALID, "offsite: prefix too long");
    token[0] = '\0';
    for (int page = 0; page < 100000; page++) {
        int n;
        if (token[0]) {
            if (query_escape(token, etoken, sizeof(etoken)) != 0)
                return err_set(e, ERR_IO, "offsite: continuation token too long");
            /* Parameters in canonical (sorted) order, so the signature matches. */
            n = snprintf(query, sizeof(query), "continuation-token=%s&list-type=2&prefix=%s",
                         etoken, prefix);
        } else {
            n = snprintf(query, sizeof(query), "list-type=2&prefix=%s", prefix);
        }
        if (n < 0 || (size_t)n >= sizeof(query))
            return err_set(e, ERR_INVALID, "offsite: list query too long");
        if (s3_get_text(cl, NULL, query, &text, e) != 0)
            return -1;
        list_page(text, fn, ctx);
        s3_xml_text(text, "IsTruncated", trunc, sizeof(trunc));
        s3_xml_text(text, "NextContinuationToken", token, sizeof(token));
        free(text);
        if (strcmp(trunc, "true") != 0 || token[0] == '\0')
            break;
    }
    return 0;
}

int s3_get_text(struct s3 *cl, const char *key, const char *query, char **text, struct err *e)
{
    struct req r;

    *text = NULL;
    s3_req_init(&r, "GET", key);
    r.query = query;
    if (s3_request(cl, &r, e) != 0) {
        s3_req_done(&r);
        return -1;
    }
    *text = r.resp != NULL ? r.resp : strdup("");
    r.resp = NULL;
    return *text != NULL ? 0 : err_set(e, ERR_IO, "out of memory");
}

int s3_get_file(struct s3 *cl, const char *key, int fd, char sha[65], struct err *e)
{
    struct digests d = { 0 };
    struct req r;
    int rc = -1;

    if (digests_init(&d) != 0) {
        digests_free(&d);
        return err_set(e, ERR_IO, "out of memory");
    }
    digests_drop_md5(&d);
    s3_req_init(&r, "GET", key);
    r.out_fd = fd;
    r.out_digest = &d;
    if (s3_request(cl, &r, e) != 0)
        goto out;
    digests_final(&d, sha, NULL, NULL);
    if (r.got_meta_sha[0] && strcmp(r.got_meta_sha, sha) != 0) {
        err_set(e, ERR_VERIFY, "offsite: %s arrived with SHA-256 %.12s..., the object says "
                               "%.12s...", key, sha, r.got_meta_sha);
        goto out;
    }
    rc = 0;
out:
    s3_req_done(&r);
    digests_free(&d);
    return rc;
}

int s3_delete(struct s3 *cl, const char *key, struct err *e)
{
    int refused;

    return s3_delete_object(cl, key, &refused, e);
}

int s3_delete_object(struct s3 *cl, const char *key, int *refused, struct err *e)
{
    struct req r;
    int rc;

    s3_req_init(&r, "DELETE", key);
    rc = s3_request(cl, &r, e);
    *refused = rc != 0 && r.status == 403 && strcmp(r.code, "AccessDenied") == 0;
    s3_req_done(&r);
    return rc;
}
