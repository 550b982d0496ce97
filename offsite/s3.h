/* s3.h - a small S3 client on libcurl: SigV4-signed HEAD, PUT (single and
 * multipart: s3_multipart.h), GET, LIST and DELETE with bounded retries. It knows buckets,
 * keys and bytes only: no store, no catalog, no JSON. */
#ifndef STATESNAP_S3_H
#define STATESNAP_S3_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/err.h"

#define S3_PART_BYTES (16u << 20)            /* one multipart part, held in memory while sent */
#define S3_MAX_PARTS 10000                   /* S3's limit: 160 GB at 16 MiB */
#define S3_URL_MAX 2048
#define S3_KEY_MAX 1024                      /* longest object key the client sends */
#define S3_RESPONSE_MAX (1u << 20)           /* XML kept from one response (a list page) */
#define S3_CONNECT_TIMEOUT_S 10
#define S3_SMALL_TIMEOUT_S 60                /* HEAD, list, multipart bookkeeping */
#define S3_LOW_SPEED_S 60                    /* a transfer under 1 byte/s this long fails */
#define S3_ATTEMPTS 2                        /* tries per request */
#define S3_RETRY_MS 300
#define S3_EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

/* Where and as whom: a plain struct the caller fills. The three secrets
 * are borrowed (the caller keeps them alive while the client is open, and
 * wipes them). */
struct s3_config {
    char scheme[8];              /* "http" or "https" */
    char host[256];              /* host[:port] of the endpoint */
    char bucket[64];
    char region[64];
    char *access_key;
    char *secret_key;
    char *session_token;         /* temporary credentials' x-amz-security-token, or NULL */
    int path_style;              /* http://host/bucket/key rather than http://bucket.host/key */
    int verify_tls;
    const char *user_agent;      /* borrowed, e.g. "statesnap/0.1.0" */
    const char *amz_date;        /* sign as of this x-amz-date ("20130524T000000Z"), not the
                                  * clock: for known-answer tests only; NULL otherwise */
};

struct s3;

/* Open a client for cfg (copied; the secrets stay borrowed). Returns 0, or
 * -1 with ERR_IO when libcurl cannot start. Free with s3_close. */
int s3_open(struct s3 **out, const struct s3_config *cfg, struct err *e);

/* Close. Accepts NULL. */
void s3_close(struct s3 *cl);

/* A transfer in progress stops, and s3_aborted says 1, once *abort is set
 * (NULL: never). Cannot fail. */
void s3_set_abort(struct s3 *cl, const atomic_int *abort);
int s3_aborted(const struct s3 *cl);

/* Every upload from now on (single PUT, CreateMultipartUpload) asks for
 * S3 Object Lock retention: x-amz-object-lock-mode mode ("GOVERNANCE" or
 * "COMPLIANCE") until retain_until ("YYYY-MM-DDTHH:MM:SSZ"), both signed.
 * NULL, NULL: no retention headers. Returns 0, or -1 (nothing changed)
 * when mode or the date is not one of those forms. */
int s3_set_object_lock(struct s3 *cl, const char *mode, const char *retain_until);

/* "scheme://host" of the endpoint into buf. Returns buf. Cannot fail. */
char *s3_endpoint_text(const struct s3_config *cfg, char *buf, size_t len);

/* HEAD key: 1 when present (*size and the stored x-amz-meta-sha256, or "",
 * filled), 0 when absent, -1 with e on any other failure. */
int s3_head(struct s3 *cl, const char *key, int64_t *size, char sha[65], struct err *e);

/* PUT the whole of fd (size bytes) in one request, with its SHA-256 signed,
 * Content-MD5 and x-amz-checksum-sha256 for the server to check, and the hex
 * SHA-256 stored as x-amz-meta-sha256. Content type application/zip.
 * Returns 0 or -1 with e (never a secret). */
int s3_put_file(struct s3 *cl, const char *key, int fd, int64_t size, const char *sha_hex,
                const char *sha_b64, const char *md5_b64, struct err *e);

/* PUT len bytes of buf (hashed here) as content_type. Returns 0 or -1 with e. */
int s3_put_bytes(struct s3 *cl, const char *key, const void *buf, size_t len,
                 const char *content_type, struct err *e);

/* GET key into fd (written from its start; a retry starts it over),
 * hashing what arrives into sha; when the object carries x-amz-meta-sha256
 * it must match (else ERR_VERIFY). ERR_NOT_FOUND when there is no such
 * object. Returns 0 or -1 with e; fd's contents are then undefined. */
int s3_get_file(struct s3 *cl, const char *key, int fd, char sha[65], struct err *e);

/* GET key (NULL: the bucket itself) with query (already canonical: sorted,
 * encoded, every parameter with its '='; or NULL) and hand back the response
 * body as text (at most S3_RESPONSE_MAX bytes kept; "" when empty) in *text,
 * which the caller frees. Returns 0 or -1 with e. */
int s3_get_text(struct s3 *cl, const char *key, const char *query, char **text, struct err *e);

/* DELETE key. Returns 0 (also when it was not there: S3 says 204), or -1 with e. */
int s3_delete(struct s3 *cl, const char *key, struct err *e);

/* s3_delete that also tells a refusal apart: *refused is 1 when the server
 * answered 403 AccessDenied (what a bucket says to deleting a version
 * under Object Lock, or a policy that forbids deletes), 0 otherwise.
 * Returns 0 or -1 with e. */
int s3_delete_object(struct s3 *cl, const char *key, int *refused, struct err *e);

/* One listed object: its key as listed (S3's XML escapes left as they are),
 * size and LastModified text. */
typedef void (*s3_list_fn)(void *ctx, const char *key, int64_t size, const char *last_modified);

/* Every object whose key starts with prefix (ListObjectsV2, all pages), in
 * the server's order, each handed to fn. Returns 0, or -1 with e when a page
 * could not be read (fn may have seen the earlier pages). */
int s3_list(struct s3 *cl, const char *prefix, s3_list_fn fn, void *ctx, struct err *e);

#endif
