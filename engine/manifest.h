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

/* One file of a manifest read as records (manifest_read). */
struct manifest_file {
    const char *path;       /* in the document's arena */
    uint64_t size;
    char sha256[65];
    const char *group;      /* in the arena, shared by the files of one group */
    json_t *note;           /* its "reuse" note when that carries a deflate_prefix (held), or NULL */
    unsigned char has_note; /* "reuse"."files" names it */
    unsigned char verified; /* streamed whole with the right hash (engine/archive.c) */
};

struct strpool;

/* A manifest read and validated: its head as a tree, its files as records.
 * The head is the whole manifest but for files[] and "reuse"."files", which
 * stand there empty ([] and {}): at 100,000 files the records are a tenth
 * of a tree's memory. */
struct manifest_doc {
    json_t *head;
    struct manifest_file *files;    /* in the manifest's order */
    size_t n;
    struct manifest_file **sorted;  /* by path */
    struct strpool *arena;          /* the paths and groups (common/strpool.h) */
};

/* Parse and validate manifest.json's text: format 1, valid name, RFC 3339
 * created_at, files [{path, size, sha256, group}] with safe unique paths,
 * env_keys of hex fingerprints, a well-formed "reuse", and so on. Unknown
 * keys are allowed (a newer writer may add some). Each element of files[]
 * and of "reuse"."files" is parsed alone; the rest is parsed with them
 * left empty, so the whole text is valid JSON exactly when all the parts
 * are. ERR_VERIFY naming the first problem (ERR_IO out of memory); *d is
 * then empty. Free with manifest_doc_free. */
int manifest_read(const char *text, size_t len, struct manifest_doc *d, struct err *e);

/* Free (a zeroed doc accepted). */
void manifest_doc_free(struct manifest_doc *d);

/* The file at path, or NULL. */
struct manifest_file *manifest_doc_find(const struct manifest_doc *d, const char *path);

/* The head's checks (everything manifest_read checks but files[] and the
 * "reuse" notes). ERR_VERIFY naming the first problem. */
int manifest_head_check(const json_t *m, struct err *e);

/* 1 if a "reuse"."files" note is well formed (docs/DESIGN.md "Reuse"). */
int manifest_note_ok(const json_t *note);

/* Parse RFC 3339 "YYYY-MM-DDTHH:MM:SSZ" into unix seconds. 0 or -1. */
int manifest_parse_time(const char *s, int64_t *out);

/* 1 if p is a safe relative archive path: no leading '/', no '\\', no empty,
 * "." or ".." component, no control characters, under 1024 bytes. */
int manifest_path_safe(const char *p);

/* 1 if s is 64 lowercase hex digits. */
int manifest_is_sha256(const char *s);

/* SHA256SUMS compared with a manifest's files as it is read, in pieces,
 * never built as a second text: begin, feed each piece, then end says 1
 * when the whole text was exactly "<hex>  <path>\n" for each file in
 * files[] order. */
struct manifest_sums {
    const struct manifest_doc *d;
    size_t i;       /* the file whose line is next */
    int seg;        /* 0 its hash, 1 the two spaces, 2 its path, 3 the newline */
    size_t off;     /* into that segment */
    int bad;
};
void manifest_sums_begin(struct manifest_sums *ms, const struct manifest_doc *d);
void manifest_sums_feed(struct manifest_sums *ms, const char *data, size_t n);
int manifest_sums_end(const struct manifest_sums *ms);

#endif
