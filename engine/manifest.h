/* manifest.h - manifest.json: the self-description inside every archive. */
#ifndef STATESNAP_MANIFEST_H
#define STATESNAP_MANIFEST_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "../common/err.h"

#define MANIFEST_FORMAT 1
#define MANIFEST_NAME "manifest.json"
#define MANIFEST_SUMS "SHA256SUMS"
#define MANIFEST_SIG "manifest.json.sig"   /* Ed25519 over manifest.json's bytes (engine/sign.h) */
#define MANIFEST_ENV_ENTRY "env/.env.masked"

/* Check a parsed manifest's shape: format 1, valid name, RFC 3339
 * created_at, files [{path, size, sha256, group}] with safe unique paths,
 * env_keys of hex fingerprints, and so on. Unknown keys are allowed (a newer
 * writer may add some). ERR_VERIFY naming the first problem. */
int manifest_validate(const json_t *m, struct err *e);

/* Parse RFC 3339 "YYYY-MM-DDTHH:MM:SSZ" into unix seconds. 0 or -1. */
int manifest_parse_time(const char *s, int64_t *out);

/* 1 if p is a safe relative archive path: no leading '/', no '\\', no empty,
 * "." or ".." component, no control characters, under 1024 bytes. */
int manifest_path_safe(const char *p);

/* 1 if s is 64 lowercase hex digits. */
int manifest_is_sha256(const char *s);

/* 1 when sums (n bytes) is exactly the SHA256SUMS text of the manifest's
 * files ("<hex>  <path>\n" each, in files[] order), compared as it stands
 * (no second copy is built); 0 otherwise. */
int manifest_sums_agree(const json_t *m, const char *sums, size_t n);

/* The same, fed in pieces as the text is read: begin, feed each piece,
 * then end says 1 when the whole text agreed. */
struct manifest_sums {
    const json_t *files;
    size_t i;       /* the file whose line is next */
    int seg;        /* 0 its hash, 1 the two spaces, 2 its path, 3 the newline */
    size_t off;     /* into that segment */
    int bad;
};
void manifest_sums_begin(struct manifest_sums *ms, const json_t *m);
void manifest_sums_feed(struct manifest_sums *ms, const char *data, size_t n);
int manifest_sums_end(const struct manifest_sums *ms);

#endif
