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

struct chain_scan {
    const char *f_seq, *f_hash, *f_prev;
    uint64_t lines;
    int64_t last_seq;
    int have_seq;
    char last_hash[CHAIN_HASH_MAX + 1];
    int links_ok;                 /* every prev matched so far */
    uint64_t first_bad_line;      /* 1-based; 0 = none */
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

/* Free the scan's buffer. Accepts a zeroed scan. */
void chain_scan_free(struct chain_scan *c);

#endif
