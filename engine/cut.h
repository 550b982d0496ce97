/* cut.h - a consistent cut of a live state root.
 *
 * A running bot rewrites positions.json and orders.json and appends to
 * hash_chain.jsonl hundreds of times a second. A snapshot that reads its
 * files one after another while it compresses them gets a torn file,
 * or files from different moments. Instead, inside a short window:
 *
 *   1. each append-only file (the chain, state/NAME.jsonl) is opened and cut at its last
 *      complete line; the bytes before the cut are read later, outside
 *      the window, and the bytes just before the cut are kept to check
 *      that the prefix was not rewritten meanwhile;
 *   2. every other file is read whole, smallest first, into memory (or an
 *      unlinked copy in the store's .work when large), hashing as it goes;
 *   3. every file's identity (device, inode, size, mtime and ctime in ns)
 *      is checked again: the cut is consistent when no file changed
 *      between its open and this check (append-only files may only grow).
 *
 * A *.json read in memory must also parse, or it was caught mid-write
 * (unless it has not been touched for a while: then that is its content).
 * A cut that changed is taken again, with backoff, within the policy's
 * bounds. Compression then runs from the captured bytes, outside the window. */
#ifndef STATESNAP_CUT_H
#define STATESNAP_CUT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>
#include <jansson.h>

#include "capture.h"
#include "engine.h"

#define CUT_MEM_MAX (4u << 20)     /* files up to this size are read into memory, */
#define CUT_MEM_TOTAL (64u << 20)  /* ... up to this much in all; the rest into private copies */
#define CUT_TAIL_MAX 4096          /* bytes kept from before an append-only file's cut */
#define CUT_APPEND_MAX 256         /* append-only files held open; more are read whole */

struct cut_ident {
    dev_t dev;
    ino_t ino;
    off_t size;
    int64_t mtime_ns, ctime_ns;     /* since the epoch (16 bytes a file less than two timespecs) */
};

/* A cut file's mtime in whole seconds (rounded down, also before 1970). */
#define CUT_MTIME_SEC(c) ((time_t)((c)->id.mtime_ns / 1000000000LL - \
                                   ((c)->id.mtime_ns % 1000000000LL < 0)))

struct cut_file {
    const struct capture_file *cf;
    struct cut_ident id;    /* at open */
    uint64_t limit;         /* the bytes that belong to the snapshot */
    unsigned char *buf;     /* the bytes, for a file read into memory */
    unsigned char *tail;    /* append-only: the bytes ending at limit (CUT_TAIL_MAX
                             * allocated for those only: a root of many small files
                             * does not pay 4 KiB a file) */
    int fd;                 /* append-only: the live file; large: a private copy; else -1 */
    uint32_t crc;
    mode_t mode;
    uint32_t tail_len;      /* at most CUT_TAIL_MAX */
    unsigned char sha[32];  /* SHA-256 of the bytes: the cut's (hashed == 1), or the
                             * entry's once create read them through (file_src.finished) */
    /* Flags, a byte each (a 100,000-file root has as many of these records). */
    signed char present;    /* 0: gone before it could be read (recorded as absent) */
    signed char append;     /* 1: the live file, read up to limit while compressing */
    signed char intact;     /* this read of the file saw no change while it ran */
    signed char json_ok;    /* *.json in memory: 0 = not parsed yet, 1 = parses, -1 = does not */
    signed char hashed;
    signed char released;   /* buf was freed by cut_release_bytes: the bytes were in memory */
};

struct cut {
    struct cut_file *files; /* one per capture set file, same order */
    size_t n;
    int consistent;         /* 1: no file changed during the window */
    int attempts;
    int64_t window_us;      /* first open to last check, of the cut used */
    json_t *changed;        /* paths that changed in the last attempt that changed */
    json_t *warnings;       /* strings */
};

/* Take a cut of every file in cap under cfg->capture's policy, with large
 * copies under work. Returns 0 with out filled (consistent, or with
 * keep_inconsistent a flagged one made of each file's last intact read),
 * or -1: ERR_UNSTABLE naming the files that kept changing, ERR_IO. Free
 * with cut_free, also after failure. */
int cut_take(const struct engine_config *cfg, const char *work, const struct capture_set *cap,
             struct cut *out, struct err *e);

/* Release the buffers, copies and descriptors. Accepts a zeroed cut. */
void cut_free(struct cut *c);

/* 1 when f's bytes were read into memory (buf, or released since). */
static inline int cut_in_memory(const struct cut_file *f)
{
    return f->buf != NULL || f->released;
}

/* Free the bytes read into memory once the archive holding them is
 * written (the read-back takes them from the archive): a root of many
 * small files does not hold them twice over. Cannot fail. */
void cut_release_bytes(struct cut *c);

/* The "consistency" document: {state, attempts, window_ms, changed}. */
json_t *cut_consistency_json(const struct cut *c);

/* 1 if rel is an append-only file under cfg's policy. */
int cut_is_append(const struct engine_config *cfg, const char *rel);

#endif
