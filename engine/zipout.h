/* zipout.h - a zip archive written entry by entry (a primitive).
 *
 * Each entry is a local header, its data (already compressed, or stored),
 * and the header rewritten with the CRC-32 and sizes once they are known
 * (no data descriptor). The central directory is written at the end from
 * a 48-byte record an entry, the names borrowed from the caller: a root of
 * 100,000 files costs 4.8 MB here, where libzip held ~500 B an entry and a
 * source each until zip_close. Writes go through a 1 MiB write-behind
 * buffer, so a header rewritten just behind its data is a memcpy, not a
 * seek: the file sees large pwrites only.
 *
 * The archive is what libzip writes: version made by 6.3 on Unix, no extra
 * fields, bit 11 for a name that is not ASCII, Zip64 where a size, an
 * offset or the entry count needs it (an entry whose size is known to be
 * near 4 GiB gets the Zip64 local field up front). unzip, Python's zipfile
 * and libzip's ZIP_CHECKCONS read it. */
#ifndef STATESNAP_ZIPOUT_H
#define STATESNAP_ZIPOUT_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "../common/err.h"

#define ZIPOUT_BUF (1u << 20)   /* the write-behind window */

enum { ZIPOUT_STORE = 0, ZIPOUT_DEFLATE = 8 };

struct zipout;

/* A new, empty archive at path (created 0600, or truncated). Errors go
 * into e (kept for every later call). NULL with ERR_IO. */
struct zipout *zipout_open(const char *path, struct err *e);

/* Begin an entry: name (borrowed until zipout_close), the Unix mode, the
 * mtime, the method of the data that follows, and the size the data will
 * inflate to as far as it is known (only to choose Zip64 up front). 0 or -1. */
int zipout_begin(struct zipout *z, const char *name, unsigned mode, time_t mtime, int method,
                 uint64_t size_hint);

/* The entry's data, as it goes into the archive. 0 or -1. */
int zipout_write(struct zipout *z, const void *p, size_t n);

/* Bytes of data written into the entry begun so far. */
uint64_t zipout_entry_bytes(const struct zipout *z);

/* End the entry begun: its CRC-32 and size inflated. 0 or -1. */
int zipout_end(struct zipout *z, uint32_t crc, uint64_t size);

/* The entry ended last: where its local header is, its compressed size,
 * size, CRC-32 and method (for reading it back once zipout_flush has
 * written it out). 0, or -1 when no entry has ended. */
struct zipout_info {
    uint64_t off, comp, size;
    uint32_t crc;
    int method;
};
int zipout_last(const struct zipout *z, struct zipout_info *out);

/* Write out what the window holds: the file then has every byte so far
 * (the last header rewritten included). 0 or -1. */
int zipout_flush(struct zipout *z);

/* Drop the entry begun (its header and data): the next begin writes over
 * it. Cannot fail. */
void zipout_undo(struct zipout *z);

/* The central directory and end records; the file is flushed, cut to its
 * length and closed (not fsynced: the caller does that). Frees z. 0, or
 * -1 with the file removed. */
int zipout_close(struct zipout *z);

/* Abandon the archive: the file is removed. Frees z (NULL accepted). */
void zipout_discard(struct zipout *z);

/* Room for n entries' records at once (a create knows how many). 0 or -1. */
int zipout_reserve(struct zipout *z, size_t n);

/* Tests only: Zip64 local fields from this size hint up (default just below 4 GiB). */
void zipout_set_zip64_at(struct zipout *z, uint64_t size_hint);

#endif
