/* zipout.h - the file a create's archive is written to: a libzip write
 * source with a write-behind buffer.
 *
 * libzip writes every entry as a local header, the data, a seek back to
 * rewrite the header with the CRC and sizes, and a seek forward again.
 * Through its stdio file source each of those seeks flushes and re-reads a
 * page: about ten system calls an entry, which for a root of many small
 * files costs more than the bytes. Here the seeks land in a buffer and the
 * file sees large pwrites only. */
#ifndef STATESNAP_ZIPOUT_H
#define STATESNAP_ZIPOUT_H

#include <zip.h>

#include "../common/err.h"

#define ZIPOUT_BUF (1u << 20)   /* the write-behind window */

/* A new, empty archive that zip_close writes to path (created 0600 or
 * truncated when it is first written; removed when the write fails or is
 * rolled back). Returns the archive, or NULL with ERR_IO. zip_close or
 * zip_discard frees it. */
zip_t *zipout_open(const char *path, struct err *e);

#endif
