/* reuse.h - the previous snapshot's archive, as a source of compressed
 * bytes a create can copy instead of deflating again (a primitive).
 *
 * A create opens the newest catalogued snapshot of its store once. It is
 * used only when the archive file's SHA-256 equals the one the catalog
 * recorded when that archive was written and read back, and its manifest
 * validates: then an entry whose size, CRC-32 and SHA-256 equal the bytes
 * read now is copied whole (raw deflate bytes), and an append-only file
 * whose first bytes hash to the prefix the previous manifest recorded
 * ("deflate_prefix": a boundary where pdeflate sync-flushed) keeps that
 * prefix's deflate blocks and deflates only its tail. Anything else, or any
 * doubt, is a full deflate. See docs/DESIGN.md, "Reuse". */
#ifndef STATESNAP_REUSE_H
#define STATESNAP_REUSE_H

#include <stdint.h>
#include <jansson.h>
#include <openssl/evp.h>

#include "store.h"

struct reuse;

/* What the previous archive holds for one path (a deflated entry). */
struct reuse_entry {
    uint64_t local_off;        /* of its local header in the previous archive */
    uint64_t size, comp_size;
    uint32_t crc;
    char sha256[65];           /* the previous manifest's */
    int has_prefix;            /* deflate_prefix recorded (bytes > 0) */
    uint64_t prefix_bytes;     /* input bytes up to a sync-flushed block boundary */
    uint64_t prefix_comp;      /* the deflate stream's bytes up to that boundary */
    const char *prefix_sha256; /* of the first prefix_bytes bytes, borrowed */
    uint32_t prefix_crc;
    const json_t *prefix_chain;  /* the record's chain scan state (chain.h), borrowed, or NULL */
};

/* Open the newest snapshot of s for reuse. NULL when there is none or it
 * does not check out (reason, if not NULL, says why, for debugging). Never
 * fails otherwise: reuse is an optimisation. */
struct reuse *reuse_open(struct store *s, const char **reason);

/* Close (NULL accepted). */
void reuse_close(struct reuse *r);

/* Where the compressed bytes of rel's entry re (from reuse_find) begin in
 * the previous archive, its local header checked. 0 or -1 with e. */
int reuse_data_at(struct reuse *r, const char *rel, const struct reuse_entry *re, uint64_t *at,
                  struct err *e);

/* n bytes of the previous archive at off, all of them. 0 or -1 with e. */
int reuse_read(struct reuse *r, void *buf, size_t n, uint64_t off, struct err *e);

/* The previous snapshot's name. */
const char *reuse_name(const struct reuse *r);

/* 1 and *out filled when the previous archive holds rel deflated, within
 * the zip-bomb ratio, with a well-formed manifest entry; 0 otherwise. */
int reuse_find(struct reuse *r, const char *rel, struct reuse_entry *out);

/* The SHA-256 (hex) of what md has digested so far, leaving md as it is. 0 or -1. */
int reuse_sha_so_far(EVP_MD_CTX *md, char out[65]);

#define REUSE_DICT 32768u   /* deflate's window: the bytes a continued stream needs */

/* Append n bytes at p to the sliding dictionary dict (REUSE_DICT bytes,
 * *len of them used), keeping the last REUSE_DICT. Cannot fail. */
void reuse_dict_push(unsigned char *dict, size_t *len, const unsigned char *p, size_t n);

/* Where pdeflate's last block begins (input bytes from the file's start)
 * when it deflates the file's bytes from base_in (a block boundary) to limit. */
uint64_t reuse_last_block(uint64_t base_in, uint64_t limit);

/* The manifest's "deflate_prefix" object of path in snapshot snap: {bytes,
 * compressed, sha256, crc32, mac} and, for the hash chain, "chain" (the
 * scan's state at a line start at or before bytes: chain_mark_json; the
 * reference is taken, NULL for none), mac an HMAC-SHA256 of the rest under s's
 * secret. reuse_find continues only records whose mac checks out: an
 * imported archive, whose entries were checked whole but whose records
 * were not, is never continued from mid-stream. NULL when the secret
 * cannot be had or out of memory (the record is then left out). */
json_t *reuse_prefix_json(struct store *s, const char *snap, const char *path, uint64_t bytes,
                          uint64_t compressed, const char *sha256, uint32_t crc, json_t *chain);

#endif
