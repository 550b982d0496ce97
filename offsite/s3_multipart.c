/* s3_multipart.c - multipart upload with per-part checksums: one part in
 * memory at a time (memory stays bounded whatever the archive's size),
 * each part's SHA-256 sent for the server to check and listed again in
 * CompleteMultipartUpload, and the object's composite checksum (S3's
 * "checksum of checksums") compared when the server gives it. An upload
 * that fails is aborted so no parts linger in the bucket. */
#include "s3_multipart.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "../common/fsutil.h"
#include "digests.h"
#include "s3_internal.h"

#define PART_SENDS 2             /* a part rejected as corrupted in transit is sent again once */
#define PART_XML_MAX 300         /* one <Part> of the completion list */

/* Is this S3's answer to a body that did not match its checksums? */
static int corrupted_in_transit(const char *code)
{
    return strcmp(code, "BadDigest") == 0 || strcmp(code, "XAmzContentSHA256Mismatch") == 0 ||
           strcmp(code, "InvalidDigest") == 0;
}

/* The 32 bytes of a base64 SHA-256 into raw. Returns 0 or -1. */
static int b64_sha(const char *b64, unsigned char raw[32])
{
    unsigned char buf[48];

    if (strlen(b64) != 44 || EVP_DecodeBlock(buf, (const unsigned char *)b64, 44) != 33)
        return -1;
    memcpy(raw, buf, 32);
    return 0;
}

/* Send one part (in cl->part, got bytes) and its checksums; its ETag into etag. */
static int put_part(struct s3 *cl, const char *key, const char *upload_id, int part, size_t got,
                    const char psha[65], const char pb64[45], const char pmd5[25], char *etag,
                    size_t elen, struct err *e)
{
    char query[700];
    struct req r;

    snprintf(query, sizeof(query), "partNumber=%d&uploadId=%s", part, upload_id);
    for (int k = 0; k < PART_SENDS; k++) {
        int again;
        if (k > 0)
            err_clear(e);
        s3_req_init(&r, "PUT", key);
        r.query = query;
        r.body = cl->part;
        r.body_len = got;
        r.sha_hex = psha;
        r.sha_b64 = pb64;
        r.md5_b64 = pmd5;
        if (s3_request(cl, &r, e) == 0) {
            if (r.etag[0] == '\0' || strchr(r.etag, '<') != NULL || strchr(r.etag, '&') != NULL) {
                s3_req_done(&r);
                return err_set(e, ERR_IO, "offsite: part %d: the server gave no ETag", part);
            }
            snprintf(etag, elen, "%s", r.etag);
            s3_req_done(&r);
            return 0;
        }
        again = corrupted_in_transit(r.code) && !s3_aborted(cl);
        s3_req_done(&r);
        if (!again)
            break;
    }
    return -1;
}

int s3_put_multipart(struct s3 *cl, const char *key, int fd, int64_t size, const char *sha_hex,
                     struct err *e)
{
    struct req r;
    char upload_id[512], query[700], *xml = NULL;
    size_t xml_len = 0, xml_cap = 0;
    int64_t off = 0;
    int part = 0, rc = -1;
    struct err ae = { 0 };
    EVP_MD_CTX *composite = NULL;

    if (cl->part == NULL && (cl->part = malloc(S3_PART_BYTES)) == NULL)
        return err_set(e, ERR_IO, "out of memory");
    if ((size + S3_PART_BYTES - 1) / S3_PART_BYTES > S3_MAX_PARTS)
        return err_set(e, ERR_TOO_LARGE, "offsite: archive too large for %d parts",
                       S3_MAX_PARTS);
    s3_req_init(&r, "POST", key);
    r.query = "uploads=";
    r.meta_sha = sha_hex;
    r.content_type = "application/zip";
    r.checksum_algo = "SHA256";
    r.new_object = 1;
    if (s3_request(cl, &r, e) != 0) {
        s3_req_done(&r);
        return -1;
    }
    s3_xml_text(r.resp, "UploadId", upload_id, sizeof(upload_id));
    s3_req_done(&r);
    if (upload_id[0] == '\0' || strspn(upload_id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                                  "0123456789-_.~") != strlen(upload_id))
        return err_set(e, ERR_IO, "offsite: the server gave no usable UploadId");
    if (lseek(fd, 0, SEEK_SET) != 0) {
        err_sys(e, errno, "offsite: rewind the archive");
        goto abort;
    }
    xml_cap = 256 + (size_t)((size / S3_PART_BYTES) + 1) * PART_XML_MAX;
    if ((xml = malloc(xml_cap)) == NULL || (composite = EVP_MD_CTX_new()) == NULL ||
        EVP_DigestInit_ex(composite, EVP_sha256(), NULL) != 1) {
        err_set(e, ERR_IO, "out of memory");
        goto abort;
    }
    xml_len = (size_t)snprintf(xml, xml_cap, "<CompleteMultipartUpload>");
    while (off < size) {
        struct digests d = { 0 };
        char psha[65], pb64[45], pmd5[25], etag[130];
        unsigned char raw[32];
        size_t want = size - off > S3_PART_BYTES ? S3_PART_BYTES : (size_t)(size - off);
        size_t got = 0;
        int n;
        while (got < want) {
            ssize_t k = fs_read_some(fd, cl->part + got, want - got);
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
        digests_update(&d, cl->part, got);
        digests_final(&d, psha, pb64, pmd5);
        digests_free(&d);
        if (b64_sha(pb64, raw) != 0 || EVP_DigestUpdate(composite, raw, sizeof(raw)) != 1) {
            err_set(e, ERR_IO, "offsite: part %d: cannot compute its checksum", part);
            goto abort;
        }
        if (put_part(cl, key, upload_id, part, got, psha, pb64, pmd5, etag, sizeof(etag), e) != 0)
            goto abort;
        n = snprintf(xml + xml_len, xml_cap - xml_len,
                     "<Part><PartNumber>%d</PartNumber><ETag>%s</ETag>"
                     "<ChecksumSHA256>%s</ChecksumSHA256></Part>", part, etag, pb64);
        if (n < 0 || (size_t)n >= xml_cap - xml_len) {
            err_set(e, ERR_IO, "offsite: the part list does not fit");
            goto abort;
        }
        xml_len += (size_t)n;
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
        unsigned char raw[32];
        unsigned int rawlen = 0;
        char csha[65], want[64], got[96];
        if (digests_init(&d) != 0) {
            digests_free(&d);
            err_set(e, ERR_IO, "out of memory");
            goto abort;
        }
        digests_update(&d, xml, xml_len);
        digests_final(&d, csha, NULL, NULL);
        digests_free(&d);
        /* S3's composite checksum: SHA-256 over the parts' raw digests, "-N". */
        if (EVP_DigestFinal_ex(composite, raw, &rawlen) != 1 || rawlen != sizeof(raw)) {
            err_set(e, ERR_IO, "offsite: cannot compute the composite checksum");
            goto abort;
        }
        EVP_EncodeBlock((unsigned char *)want, raw, (int)sizeof(raw));
        snprintf(want + strlen(want), sizeof(want) - strlen(want), "-%d", part);
        snprintf(query, sizeof(query), "uploadId=%s", upload_id);
        s3_req_init(&r, "POST", key);
        r.query = query;
        r.body = (const unsigned char *)xml;
        r.body_len = xml_len;
        r.sha_hex = csha;
        r.content_type = "application/xml";
        if (s3_request(cl, &r, e) != 0) {
            s3_req_done(&r);
            goto abort;
        }
        /* S3 can answer 200 with an error document when completing fails late. */
        if (r.resp != NULL && strstr(r.resp, "<Error>") != NULL) {
            char code[64];
            s3_xml_text(r.resp, "Code", code, sizeof(code));
            s3_req_done(&r);
            err_set(e, ERR_IO, "offsite: completing the upload of %s failed: %s", key, code);
            goto abort;
        }
        s3_xml_text(r.resp, "ChecksumSHA256", got, sizeof(got));
        s3_req_done(&r);
        if (got[0] != '\0' && strcmp(got, want) != 0) {
            /* The object is complete but not what was sent: the caller's
             * HEAD check and the next round deal with it; say so now. */
            err_set(e, ERR_VERIFY, "offsite: %s: the server's composite checksum %.20s... is "
                                   "not the parts' %.20s...", key, got, want);
            goto out;
        }
    }
    rc = 0;
    goto out;
abort:
    snprintf(query, sizeof(query), "uploadId=%s", upload_id);
    s3_req_init(&r, "DELETE", key);
    r.query = query;
    (void)s3_request(cl, &r, &ae);
    s3_req_done(&r);
out:
    EVP_MD_CTX_free(composite);
    free(xml);
    return rc;
}
