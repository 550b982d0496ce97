/* archive.h - reading snapshot archives: structure checks and hashed streaming. */
#ifndef STATESNAP_ARCHIVE_H
#define STATESNAP_ARCHIVE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <jansson.h>

#include "../common/err.h"
#include "manifest.h"

struct archive;

/* Receives decompressed bytes while an entry streams; returns 0 or -1 (with e set). */
typedef int (*archive_sink)(void *ctx, const void *buf, size_t n, struct err *e);

/* Set the zip-bomb limits every archive_open of this process checks (from
 * the store's config; one config per process): max_unpacked bytes for the
 * whole archive (and any entry), and max_ratio:1 for an entry of
 * ENGINE_RATIO_MIN_BYTES or more. 0 keeps the default. Thread-safe; cannot fail. */
void archive_set_limits(uint64_t max_unpacked, unsigned max_ratio);

/* 1 if an entry of size bytes deflated to comp bytes is over the ratio
 * limit archive_open enforces. Cannot fail. */
int archive_ratio_exceeded(uint64_t size, uint64_t comp);

/* Open the zip at path and check its structure without reading file data:
 * safe unique entry names, no symlinks or directories, size and count
 * limits, the zip-bomb limits (archive_set_limits) from the central
 * directory's sizes, a valid manifest.json, a SHA256SUMS that agrees with it, and
 * entries == manifest files exactly. ERR_NOT_FOUND if absent, ERR_VERIFY
 * for anything wrong with the archive. Free with archive_close. */
int archive_open(struct archive **out, const char *path, struct err *e);

/* Close. Accepts NULL. */
void archive_close(struct archive *a);

/* The validated manifest's head: all of it but files[] and "reuse"."files",
 * which stand there empty (borrowed; see manifest_read). */
const json_t *archive_head(const struct archive *a);

/* The manifest's files, in its order: how many, and the i-th (borrowed;
 * NULL past the end). */
size_t archive_n_files(const struct archive *a);
const struct manifest_file *archive_file(const struct archive *a, size_t i);

/* The whole manifest as a tree, files and all (new reference; NULL out of
 * memory or when manifest.json cannot be read again): for showing it,
 * never for reading files. */
json_t *archive_manifest_tree(struct archive *a);

/* Free manifest.json's text if a signature or tree asked for it (the head
 * and records stay). archive_open does not hold the text beside the records
 * it was parsed into: archive_signature and archive_manifest_tree read it
 * again (CRC-checked) and keep it until this or archive_close. Cannot fail. */
void archive_forget_manifest_text(struct archive *a);

/* manifest.json's exact bytes and, when the archive is signed, the bytes of
 * manifest.json.sig (all borrowed). Returns 1 when signed, 0 when not; what
 * the signature is worth is engine/signing.c's to say. When manifest.json
 * cannot be read again the manifest is empty, which no signature verifies. */
int archive_signature(struct archive *a, const char **manifest, size_t *manifest_len,
                      const unsigned char **sig, size_t *sig_len);

/* The manifest's record of path, or NULL (borrowed). */
const struct manifest_file *archive_file_entry(const struct archive *a, const char *path);

/* Decompress entry path, hashing as it goes, feeding sink (may be NULL).
 * ERR_VERIFY when the bytes, size or SHA-256 differ from the manifest (the
 * sink may have seen bad bytes by then: callers write to temp files only). */
int archive_stream(struct archive *a, const char *path, archive_sink sink, void *ctx,
                   struct err *e);

/* Read a whole entry of at most max bytes into a malloc'd NUL-terminated buffer. */
int archive_read(struct archive *a, const char *path, size_t max, char **buf, size_t *len,
                 struct err *e);

/* Stream and check every file (those archive_stream already checked whole
 * through this handle are not read again); append {path, problem} to errors
 * for each bad one. Returns the number of bad files, or -1 if checking itself failed. */
int archive_check_all(struct archive *a, json_t *errors, struct err *e);

/* The central directory's uncompressed size and CRC-32 of entry path
 * (nothing is inflated). ERR_VERIFY when it is missing. */
int archive_entry_stat(struct archive *a, const char *path, uint64_t *size, uint32_t *crc,
                       struct err *e);

/* SHA-256 (hex) and size of a whole file. */
int archive_file_sha256(const char *path, char hex[65], int64_t *size, struct err *e);

#endif

/* Pull-style reading of one entry (no hash check; the size and CRC are
 * checked at the end). NULL with e set on failure. */
struct archive_reader;
struct archive_reader *archive_reader_open(struct archive *a, const char *path, struct err *e);
ssize_t archive_reader_read(struct archive_reader *r, void *buf, size_t n, struct err *e);
void archive_reader_close(struct archive_reader *r);
