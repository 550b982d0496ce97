/* create_zip.h - the archive a create writes (create_zip.c, read back by create_check.c) and the state
 * of one create that create.c and create_zip.c share. Internal to create:
 * nothing else includes it. */
#ifndef STATESNAP_CREATE_ZIP_H
#define STATESNAP_CREATE_ZIP_H

#include <stdint.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <zlib.h>

#include "capture.h"
#include "chain.h"
#include "cut.h"
#include "pdeflate.h"
#include "reuse.h"
#include "sign.h"
#include "store.h"
#include "zipin.h"
#include "zipout.h"

struct create_ctx;
struct archive;

/* What one file's entry needs beside its cut_file, kept small (56 bytes):
 * a root of 100,000 files holds 100,000 of these while the archive is written. The
 * state of the read itself is in struct file_read (one, the archive takes the
 * entries one after another), and what reuse needs is in a file_reuse
 * only for the few files that have one. */
struct file_src {
    struct file_reuse *ru;     /* a candidate in the previous archive, or a deflate_prefix to record */
    uint32_t crc;              /* of the bytes read, checked against the archive */
    unsigned char finished;    /* read through: its cut_file's sha is the entry's */
    unsigned char level;       /* > 0: deflated on several threads (pdeflate), not by cc->zs */
    unsigned char store_only;  /* deflates past the zip-bomb ratio limit: stored instead */
    unsigned char try_reuse;   /* ru holds a candidate to check once the bytes are read */
    unsigned char reused;      /* CREATE_REUSED_*: what the entry written took */
    unsigned char has_dp;      /* ru->dp_*: this entry's deflate_prefix for the next create */
};

/* Reuse of the previous archive (reuse.h) by one file. */
struct file_reuse {
    struct reuse_entry re;
    uint64_t base_in, base_out;   /* the reused prefix: input and compressed bytes */
    uint64_t dp_bytes, dp_comp;   /* where the next create can continue this entry */
    char dp_sha[65];
    uint32_t dp_crc;
};

/* The file being read into its entry (its file_src is fs). */
struct file_read {
    struct file_src *fs;
    uint64_t done;
    EVP_MD_CTX *md;
    struct pdeflate *pd;
    unsigned char *ring;   /* the last CUT_TAIL_MAX bytes read (append-only files only) */
    size_t ring_len;
    int no_crc;            /* reading what a reuse record's CRC already covers */
    uint64_t raw_at;       /* the previous entry's compressed bytes, to copy: where */
    uint64_t raw_left;     /* and how many */
    unsigned char *dict;   /* the prefix's last 32 KiB, the tail's dictionary */
    size_t dict_len;
    uint64_t mark_at;      /* where this entry's last deflate block begins */
    int marked;
    char mark_sha[65];     /* of the bytes before mark_at, and their CRC */
    uint32_t mark_crc;
};

enum { CREATE_REUSED_NONE, CREATE_REUSED_ENTRY, CREATE_REUSED_PREFIX };

struct create_ctx {
    struct store *s;
    const struct create_opts *o;
    char name[ENGINE_NAME_MAX + 1];
    int64_t now;
    struct capture_set cap;
    struct cut cut;
    struct file_src *srcs;
    struct file_read rd;   /* the entry being read */
    struct zipout *zo;     /* the archive being written */
    unsigned char *io, *zbuf;   /* a read's bytes, a deflate's output */
    z_stream zs;           /* deflates what is not deflated on several threads */
    int zs_ready, zs_level;
    char *env_masked;
    size_t env_len;
    char env_sha[65];
    json_t *env_keys;
    json_t *absent;        /* the scan's absent paths and files that vanished */
    json_t *warnings;      /* the scan's and the cut's */
    json_t *hooks;         /* results of the hooks that ran */
    struct chain_scan chain;
    int chain_idx;         /* index of the chain in cap.files, or -1 */
    int chain_streamed;    /* the chain is read from its descriptor (its scan is fed then) */
    int64_t positions;     /* positions.json's count (create_captured_positions) */
    json_t *chain_tip;
    uint64_t chain_from;   /* the chain's bytes before it are in the scan's state already */
    struct chain_mark chain_mark;       /* the scan at the chain entry's mark_at */
    int moved;             /* an append-only file was rewritten or shrank after the cut */
    int hooks_begun;       /* the pre hook ran (or there is none): the post hook is due */
    int post_done;
    json_t *manifest;      /* the manifest's small fields (create_manifest.c): all but files[] and reuse */
    struct zipin_entry manifest_entry;  /* where manifest.json went, for its signature */
    const struct sign_key *sign_key;   /* signs manifest.json (engine/signing.c) */
    struct reuse *reuse;   /* the previous archive, when it checked out (create_zip_write opens it) */
    int reuse_tried;
    int reuse_failed;      /* copying from it failed: written again without */
    char version[129];
    char git[65];
    char host[256];
    char actor[129];
    struct err *e;
};

/* A source's cut file (srcs[i] is cut.files[i]'s), and the chain scan it
 * feeds when it is the hash chain read from its descriptor (else NULL). */
static inline struct cut_file *src_cut(const struct create_ctx *cc, const struct file_src *fs)
{
    return &cc->cut.files[fs - cc->srcs];
}

static inline struct chain_scan *src_chain(struct create_ctx *cc, const struct file_src *fs)
{
    return cc->chain_streamed && fs - cc->srcs == cc->chain_idx ? &cc->chain : NULL;
}

/* SHA-256 of what md has digested, as hex, into out. Frees nothing. Cannot fail. */
void create_zip_sha_hex(EVP_MD_CTX *md, char out[65]);

/* Open the previous archive for reuse (once; nothing when this create
 * stores its entries). Before the pre hook: hashing it never holds the bot
 * paused, and its records are made while the cut's are not yet there.
 * Cannot fail (without it every entry is deflated). */
void create_zip_reuse_open(struct create_ctx *cc);

/* Write the archive of the cut in cc to tmp: every present file, the
 * masked .env, SHA256SUMS and manifest.json, leaving cc->zo open for
 * create_zip_seal. 0, or -1 with cc->e filled (cc->moved set when an
 * append-only file was rewritten meanwhile, or when a copy from the
 * previous archive failed after bytes it would need again were released:
 * the caller takes the cut again). tmp is removed on failure. */
int create_zip_write(struct create_ctx *cc, const char *tmp);

/* Finish the archive create_zip_write left open: manifest.json's signature
 * when the store signs (made from manifest.json read back from tmp, once
 * the caller has freed the cut and its sources: the text is never beside
 * them), then the central directory. Needs the capture set's names (the
 * directory borrows them). 0, or -1 with cc->e and tmp removed. */
int create_zip_seal(struct create_ctx *cc, const char *tmp);

/* Receives a generated text piece by piece: 0, or -1 to stop it. */
typedef int (*create_text_fn)(void *ctx, const char *p, size_t n);

/* create_manifest.c: manifest.json's text and SHA256SUMS, from every
 * file's record once all were read, handed to out in pieces (neither is
 * held whole); the manifest's head stays in cc->manifest. The same records
 * give the same text every time. 0, or -1 when a file was not read
 * through, out failed or out of memory. */
int create_manifest_stream(struct create_ctx *cc, create_text_fn out, void *ctx);
int create_sums_stream(struct create_ctx *cc, create_text_fn out, void *ctx);

/* The positions count, from positions.json's captured bytes when they are
 * in memory (-1 otherwise): taken once the cut is, into cc->positions. */
int64_t create_captured_positions(const struct create_ctx *cc);

/* Drop the generated manifest's head (cc->manifest): the next write makes it again. */
void create_manifest_forget(struct create_ctx *cc);

/* Free what the records in cc->srcs hold (not the array). Cannot fail. */
void create_zip_srcs_clear(struct create_ctx *cc);

/* What the read-back compares the archive with, for one captured file
 * present in it (in capture order, the manifest's): 24 bytes, so the cut,
 * its sources and the capture set can be freed first. */
struct create_read {
    uint64_t limit;
    uint32_t crc;
    uint32_t path_crc;        /* CRC-32 of the relative path */
    unsigned char in_memory;  /* read inside the window: hashed again whole */
};

struct create_readback {
    struct create_read *files;
    size_t n;
    uint64_t fd_bytes;        /* of the files streamed from a descriptor */
    int has_env;              /* the masked .env follows them */
};

/* Take rb from the cut and sources of cc. 0 or -1 (ERR_IO). Free with create_readback_free. */
int create_readback_take(const struct create_ctx *cc, struct create_readback *rb, struct err *e);
void create_readback_free(struct create_readback *rb);

/* Read the archive at tmp back the way verify, restore, import and reindex
 * will, against rb; 0 with *out the open archive (the caller's to close:
 * the catalog row is made from it), or -1 with cc->e (ERR_IO) naming what
 * does not check out. */
int create_zip_check(struct create_ctx *cc, const struct create_readback *rb, const char *tmp,
                     struct archive **out);

#endif
