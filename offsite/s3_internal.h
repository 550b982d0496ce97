/* s3_internal.h - the S3 client's insides, for offsite/s3*.c only: the
 * client struct, one request and the retrying sender (s3.c), so the
 * multipart upload (s3_multipart.c) sends through the same signed path. */
#ifndef STATESNAP_S3_INTERNAL_H
#define STATESNAP_S3_INTERNAL_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>

#include "../common/err.h"
#include "digests.h"
#include "s3.h"

struct s3 {
    struct s3_config cfg;        /* the secrets in it are borrowed */
    char sigv4[96];              /* "aws:amz:REGION:s3" */
    CURL *curl;
    unsigned char *part;         /* S3_PART_BYTES, for multipart uploads */
    const atomic_int *abort;     /* set by whoever stops us, or NULL */
    char lock_mode[16];          /* x-amz-object-lock-mode on uploads, or "" */
    char lock_until[32];         /* x-amz-object-lock-retain-until-date, or "" */
};

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
    const char *checksum_algo;   /* x-amz-checksum-algorithm (CreateMultipartUpload), or NULL */
    int new_object;              /* creates an object: the client's object lock applies */
    int out_fd;                  /* GET into this file, or -1 */
    struct digests *out_digest;  /* hash what a GET writes, or NULL */
    /* results */
    long status;
    char etag[130];
    char got_meta_sha[65];
    char code[64];               /* S3's error <Code> of a failed answer, or "" */
    int64_t length;
    char *resp;                  /* response body (capped), NUL-terminated */
    size_t resp_len;
    size_t body_off;
    int write_failed;
};

/* A zeroed request for method on key (NULL: the bucket). Cannot fail. */
void s3_req_init(struct req *r, const char *method, const char *key);

/* Free what a request kept (its response text). Cannot fail. */
void s3_req_done(struct req *r);

/* Send r, S3_ATTEMPTS tries for what can be transient. 0 on a 2xx, else -1
 * with e (never a key or a signature) and r->code set when S3 named one. */
int s3_request(struct s3 *cl, struct req *r, struct err *e);

/* The text of the first <tag> in xml into out ("" when absent). Cannot fail. */
void s3_xml_text(const char *xml, const char *tag, char *out, size_t len);

#endif
