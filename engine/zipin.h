/* zipin.h - a zip's central directory walked entry by entry, without
 * holding it (a primitive).
 *
 * For an archive this store wrote and whose SHA-256 the catalog vouches
 * for (reuse.c: the previous snapshot a repeat copies compressed bytes
 * from): a libzip directory of it costs ~270 bytes an entry for as long as
 * it is open, where a walk keeps only what its caller takes. Every field is
 * bounds-checked all the same; Zip64 end records and extra fields are read. */
#ifndef STATESNAP_ZIPIN_H
#define STATESNAP_ZIPIN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <zlib.h>

#include "../common/err.h"

struct zipin_entry {
    const char *name;          /* NUL-terminated copy, borrowed for the call */
    size_t name_len;
    uint64_t local_off;        /* of the local header */
    uint64_t comp_size, size;
    uint32_t crc;
    uint32_t ext_attr;         /* external attributes (the mode in the high 16 bits on Unix) */
    uint16_t method, flags;
    uint16_t made_by;          /* "version made by": the system in its high byte */
    uint64_t count;            /* entries the end record says the directory holds */
};

/* Receives one entry; non-zero stops the walk. */
typedef int (*zipin_fn)(void *ctx, const struct zipin_entry *en);

/* Call each for every central directory entry of the zip on fd, in order.
 * 0, each's first non-zero return, or -1 with ERR_VERIFY (not a zip this
 * reads: multi-disk, truncated, a record past its bounds) or ERR_IO. */
int zipin_each(int fd, zipin_fn each, void *ctx, struct err *e);

/* Where en's data begins on fd, from its local header (signature, name and
 * compression method checked; the data must end within the file). 0 or -1
 * (ERR_VERIFY). */
int zipin_data_at(int fd, const struct zipin_entry *en, uint64_t *at, struct err *e);

/* pread n bytes at off, all of them. 0 or -1 (ERR_IO, or ERR_VERIFY when the file ends first). */
int zipin_pread(int fd, void *buf, size_t n, uint64_t off, struct err *e);

/* One entry's data read back: its compressed bytes pread from where the
 * local header says they begin, inflated, counted and CRC-checked against
 * the central directory's. The end is checked before it is given out as the
 * end: a short, long or damaged entry is an error, never an EOF. One reader
 * serves entry after entry (its buffer and inflate state are reused). */
struct zipin_rd {
    int fd;
    const char *name;           /* the entry's, borrowed while it is read */
    uint64_t at, left;          /* the next compressed byte; compressed bytes left */
    uint64_t size, out;         /* the central directory's size; bytes given so far */
    uint32_t want_crc, crc;
    int method, ended, z_ready;
    z_stream z;
    unsigned char *in;          /* ZIPIN_RD_IN bytes */
};

#define ZIPIN_RD_IN (64u * 1024)

/* Ready a reader for the zip on fd (no entry yet). 0 or -1 (out of memory). */
int zipin_rd_init(struct zipin_rd *rd, int fd, struct err *e);

/* Start reading en (its name must outlive the reading): 0, or -1
 * (ERR_VERIFY: a broken local header, a method other than stored or deflate). */
int zipin_rd_start(struct zipin_rd *rd, const struct zipin_entry *en, struct err *e);

/* Up to n bytes of the entry into buf: how many, 0 at its checked end, or
 * -1 (ERR_VERIFY "NAME: damaged data in the archive (why)", or ERR_IO). */
ssize_t zipin_rd_read(struct zipin_rd *rd, void *buf, size_t n, struct err *e);

/* Free the reader's buffer and state (not the fd). Accepts one never initialised by zeroing. */
void zipin_rd_free(struct zipin_rd *rd);

#endif
