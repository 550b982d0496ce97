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

#include "../common/err.h"

struct zipin_entry {
    const char *name;          /* NUL-terminated copy, borrowed for the call */
    size_t name_len;
    uint64_t local_off;        /* of the local header */
    uint64_t comp_size, size;
    uint32_t crc;
    uint16_t method, flags;
};

/* Receives one entry; non-zero stops the walk. */
typedef int (*zipin_fn)(void *ctx, const struct zipin_entry *en);

/* Call each for every central directory entry of the zip on fd, in order.
 * 0, each's first non-zero return, or -1 with ERR_VERIFY (not a zip this
 * reads: multi-disk, truncated, a record past its bounds) or ERR_IO. */
int zipin_each(int fd, zipin_fn each, void *ctx, struct err *e);

/* Where en's data begins on fd, from its local header (signature and name
 * checked; the data must end within the file). 0 or -1 (ERR_VERIFY). */
int zipin_data_at(int fd, const struct zipin_entry *en, uint64_t *at, struct err *e);

/* pread n bytes at off, all of them. 0 or -1 (ERR_IO, or ERR_VERIFY when the file ends first). */
int zipin_pread(int fd, void *buf, size_t n, uint64_t off, struct err *e);

#endif
