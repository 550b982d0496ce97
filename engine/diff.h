/* diff.h - structural comparison of two snapshots, or a snapshot and the live root. */
#ifndef STATESNAP_DIFF_H
#define STATESNAP_DIFF_H

#include <stddef.h>
#include <sys/types.h>
#include <jansson.h>

#include "../common/err.h"

#define DIFF_MAX_JSON_BYTES (16u << 20)  /* larger JSON files get no structural diff */
#define DIFF_MAX_CHANGES 200             /* JSON-pointer changes kept per file */

/* A stream over one file's bytes on one side. */
struct diff_reader {
    /* Read up to n bytes; 0 at end, -1 on error (with *e filled). */
    ssize_t (*read)(struct diff_reader *r, void *buf, size_t n, struct err *e);
    /* Close and free. */
    void (*close)(struct diff_reader *r);
};

/* One side of a diff. Everything is borrowed from the caller. */
struct diff_side {
    const char *label;     /* snapshot name, or "live" */
    json_t *meta;          /* {name, created_at, version, git_commit, positions_count}; may be NULL */
    json_t *files;         /* array of {path, size, sha256, group}, sorted by path */
    json_t *env_keys;      /* object KEY -> fingerprint (may be empty) */
    /* Open one of this side's files for reading; NULL with *e on failure. */
    struct diff_reader *(*open)(void *ctx, const char *path, struct err *e);
    void *ctx;
};

/* Compare side a (old) with side b (new). On success *out is the Diff
 * document described in openapi.yaml (caller decrefs) and 0 is returned. */
int diff_sides(const struct diff_side *a, const struct diff_side *b, json_t **out, struct err *e);

/* Structural diff of two JSON values: appends {pointer, op, old?, new?} objects
 * to changes (op: added/removed/changed) until it holds max entries; returns 1
 * if changes were cut off, 0 otherwise. Cannot fail except on allocation (-1). */
int diff_json(const json_t *a, const json_t *b, json_t *changes, size_t max);

/* The keys of obj in strcmp order, borrowed from obj, in a malloc'd array
 * *out (NULL when empty; caller frees the array) of *n. -1 when out of
 * memory. (diff_json.c; the .env block of diff.c uses it too.) */
int diff_json_sorted_keys(const json_t *obj, const char ***out, size_t *n);

#endif
