/* pdeflate.h - deflate one file on several threads, as a stream.
 *
 * pigz's scheme: the input is cut into blocks; a worker compresses each with
 * the previous block's last 32 KiB as its dictionary and ends it with a sync
 * flush (the last block with finish), so the pieces join into one raw
 * deflate stream that any inflater reads. The caller's thread reads the file
 * once, in order, and hands every byte to a tap (the caller's CRC-32 and
 * SHA-256) as it goes; the compressed stream comes back through
 * pdeflate_read() in order.
 */
#ifndef STATESNAP_PDEFLATE_H
#define STATESNAP_PDEFLATE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "../common/err.h"

#define PDEFLATE_BLOCK (1u << 20)      /* input bytes per block */
#define PDEFLATE_MIN (2u * PDEFLATE_BLOCK)  /* smaller files gain nothing from threads */
#define PDEFLATE_THREADS_MAX 8

struct pdeflate;

/* Sees each input block in file order, on the caller's thread. */
typedef void (*pdeflate_tap)(void *ud, const unsigned char *p, size_t n);

/* Start compressing the first limit bytes of fd (read from its current
 * offset) at level 1..9 with threads workers (0 = one per online CPU, at
 * most PDEFLATE_THREADS_MAX). what names the file in errors. */
int pdeflate_start(struct pdeflate **out, int fd, uint64_t limit, int level, unsigned threads,
                   const char *what, pdeflate_tap tap, void *ud, struct err *e);

/* Up to len bytes of the compressed stream; 0 once it is all out; -1 with
 * *e (a read error, or the file shrank below limit). */
ssize_t pdeflate_read(struct pdeflate *p, void *buf, size_t len, struct err *e);

/* Use dict's last 32 KiB as the first block's dictionary, as if the
 * stream continued one whose input ended with dict (a sync-flushed prefix
 * deflated elsewhere). Before the first pdeflate_read. Cannot fail. */
void pdeflate_prime(struct pdeflate *p, const unsigned char *dict, size_t len);

/* Once the stream is all out: where its last block begins, in input bytes
 * and in compressed bytes from the start. Every block before it ends in a
 * sync flush, so that much of the stream can be continued (pdeflate_prime)
 * by a later one. Cannot fail. */
void pdeflate_last_block(const struct pdeflate *p, uint64_t *in_start, uint64_t *out_start);

/* Stop the workers and free everything. p may be NULL. */
void pdeflate_free(struct pdeflate *p);

/* Worker count for threads (0 = online CPUs), within 1..PDEFLATE_THREADS_MAX. */
unsigned pdeflate_threads(unsigned threads);

#endif
