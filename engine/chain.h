/* chain.h - the tip of a JSONL hash chain, read as its bytes stream past.
 *
 * Each line of state/hash_chain.jsonl is a JSON object with a sequence
 * number, its own hash and the previous line's hash ("seq", "hash", "prev"
 * by default). A snapshot records the tip (lines, last seq, last hash) and
 * whether every line's prev names the line before's hash. Only top-level
 * fields are looked at; the hashes themselves are the bot's to compute. */
#ifndef STATESNAP_CHAIN_H
#define STATESNAP_CHAIN_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#define CHAIN_LINE_MAX (64u * 1024)   /* a longer line is not parsed (links not checked) */
#define CHAIN_HASH_MAX 128

/* What the lines scanned so far say. */
struct chain_state {
    uint64_t lines;
    int64_t last_seq;
    int have_seq;
    char last_hash[CHAIN_HASH_MAX + 1];
    int links_ok;                 /* every prev matched so far */
    uint64_t first_bad_line;      /* 1-based; 0 = none */
};

struct chain_scan {
    const char *f_seq, *f_hash, *f_prev;
    size_t n_seq, n_hash, n_prev;  /* their lengths, compared before the bytes */
    struct chain_state st;
    char *line;                   /* the partial line between two feeds */
    size_t len, cap;
    int overlong;
};

/* Start a scan with the given field names (NULL = seq, hash, prev). */
void chain_scan_init(struct chain_scan *c, const char *f_seq, const char *f_hash,
                     const char *f_prev);

/* Feed the next bytes of the file. Cannot fail (out of memory marks the
 * line unparsed). */
void chain_scan_feed(struct chain_scan *c, const unsigned char *p, size_t n);

/* {path, lines, last_seq, last_hash, links_ok, first_bad_line} for the
 * bytes fed (a last line without '\n' counts as a line). Caller decrefs. */
json_t *chain_scan_result(struct chain_scan *c, const char *path);

/* The scan's state at a line start, so that a later scan of a file that
 * begins with the same bytes resumes there instead of reading every line
 * before it again (a repeat create of an append-only chain; docs/DESIGN.md,
 * "Reuse"). It is trusted only under the deflate_prefix record's MAC and
 * after the bytes before "from" hashed to the record's SHA-256. */
struct chain_mark {
    int valid;
    uint64_t from;                /* file offset of the first byte not in st: a line start */
    struct chain_state st;
};

/* The state of c, fed the file's first fed bytes, as of the start of the
 * line it is in the middle of. Not valid after an overlong line. */
void chain_scan_mark(const struct chain_scan *c, uint64_t fed, struct chain_mark *m);

/* c (just initialised with the field names m was made under) takes m's
 * state: the next byte fed must be the file's byte at m->from. */
void chain_scan_resume(struct chain_scan *c, const struct chain_mark *m);

/* {from, lines, last_seq, last_hash, links_ok, first_bad_line, fields}, fields
 * the scan's three names; NULL when out of memory or not representable. */
json_t *chain_mark_json(const struct chain_mark *m, const struct chain_scan *c);

/* Parse what chain_mark_json wrote: 0 and m filled (valid), -1 when it is not
 * such an object. With c not NULL, its field names must be the object's. */
int chain_mark_parse(const json_t *o, const struct chain_scan *c, struct chain_mark *m);

/* Free the scan's buffer. Accepts a zeroed scan. */
void chain_scan_free(struct chain_scan *c);

#endif
