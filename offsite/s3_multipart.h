/* s3_multipart.h - multipart upload through the S3 client (s3.h), with
 * S3's per-part integrity: each part's SHA-256 as x-amz-checksum-sha256,
 * checked by the server, and listed again when completing. */
#ifndef STATESNAP_S3_MULTIPART_H
#define STATESNAP_S3_MULTIPART_H

#include <stdint.h>

#include "../common/err.h"
#include "s3.h"

/* Multipart upload of fd, one S3_PART_BYTES part in memory at a time.
 * CreateMultipartUpload asks for x-amz-checksum-algorithm SHA256 (and the
 * client's object lock, s3_set_object_lock); every UploadPart carries its
 * Content-MD5 and x-amz-checksum-sha256 (base64 of the part's SHA-256), and
 * a part the server rejects as corrupted in transit (BadDigest) is sent once
 * more; CompleteMultipartUpload lists each part's ETag and ChecksumSHA256,
 * and when the server answers with the object's composite checksum (SHA-256
 * of the parts' digests, "-N") it must be ours. sha_hex is stored as
 * x-amz-meta-sha256. A failed upload is aborted so no parts linger.
 * Returns 0 or -1 with e (ERR_TOO_LARGE past S3_MAX_PARTS parts). */
int s3_put_multipart(struct s3 *cl, const char *key, int fd, int64_t size, const char *sha_hex,
                     struct err *e);

#endif
