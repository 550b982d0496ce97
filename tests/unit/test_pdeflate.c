/* test_pdeflate.c - the multi-threaded deflate stream: whatever the size and
 * the thread count, zlib's inflate gives back the input and the tap saw
 * every byte once, in order (the tap is where the caller takes its CRC-32
 * and SHA-256). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <zlib.h>

#include "../../common/fsutil.h"
#include "../../engine/pdeflate.h"

struct tap_state {
    unsigned char *seen;
    size_t len;
};

static void tap(void *ud, const unsigned char *p, size_t n)
{
    struct tap_state *t = ud;

    memcpy(t->seen + t->len, p, n);
    t->len += n;
}

/* Input like a state root's: JSON lines (compressible) with random hashes
 * (not), so blocks reference their dictionary and also carry literals. */
static unsigned char *make_input(size_t n, unsigned seed)
{
    unsigned char *b = malloc(n ? n : 1);
    size_t i = 0;

    assert_non_null(b);
    srand(seed);
    while (i < n) {
        char line[160];
        int k = snprintf(line, sizeof(line), "{\"seq\":%zu,\"hash\":\"%08x%08x\",\"side\":\"%s\"}\n",
                         i, (unsigned)rand(), (unsigned)rand(), rand() % 2 ? "buy" : "sell");
        for (int j = 0; j < k && i < n; j++)
            b[i++] = (unsigned char)line[j];
    }
    return b;
}

static int temp_file_with(const unsigned char *data, size_t n)
{
    char path[] = "/tmp/statesnap-pdeflate-" FS_TEMPLATE_TAIL;
    int fd = mkstemp(path);

    assert_true(fd >= 0);
    unlink(path);
    assert_int_equal(fs_write_all(fd, data, n), 0);
    assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
    return fd;
}

/* Compress n bytes on threads workers reading in reads of chunk bytes;
 * check the round trip. */
static void round_trip(size_t n, unsigned threads, size_t chunk, int level)
{
    unsigned char *in = make_input(n, (unsigned)(n + threads));
    unsigned char *z = NULL, *back = malloc(n + 1);
    size_t zlen = 0, zcap = 0;
    struct tap_state t = { malloc(n + 1), 0 };
    struct pdeflate *p = NULL;
    struct err e = { 0 };
    z_stream s;
    int fd = temp_file_with(in, n);
    ssize_t r;

    assert_int_equal(pdeflate_start(&p, fd, n, level, threads, "test", tap, &t, &e), 0);
    for (;;) {
        if (zcap - zlen < chunk) {
            zcap = zcap * 2 + chunk;
            z = realloc(z, zcap);
            assert_non_null(z);
        }
        r = pdeflate_read(p, z + zlen, chunk, &e);
        assert_true(r >= 0);
        if (r == 0)
            break;
        zlen += (size_t)r;
    }
    pdeflate_free(p);
    close(fd);
    assert_int_equal(t.len, n);
    assert_memory_equal(t.seen, in, n);

    memset(&s, 0, sizeof(s));
    assert_int_equal(inflateInit2(&s, -15), Z_OK);
    s.next_in = z;
    s.avail_in = (uInt)zlen;
    s.next_out = back;
    s.avail_out = (uInt)(n + 1);
    assert_int_equal(inflate(&s, Z_FINISH), Z_STREAM_END);
    assert_int_equal(s.total_out, n);
    assert_int_equal(s.avail_in, 0);    /* nothing after the final block */
    inflateEnd(&s);
    assert_memory_equal(back, in, n);
    free(in);
    free(z);
    free(back);
    free(t.seen);
}

static void sizes_around_block_edges(void **state)
{
    const size_t b = PDEFLATE_BLOCK;
    const size_t sizes[] = { 0, 1, 100, 32767, 32768, 40000, b - 1, b, b + 1, 2 * b + 5000,
                             3 * b + b / 2 };

    (void)state;
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
        round_trip(sizes[i], 3, 65536, 6);
}

static void thread_counts_and_levels(void **state)
{
    (void)state;
    for (unsigned th = 1; th <= 4; th++)
        round_trip(5 * PDEFLATE_BLOCK + 777, th, 8192, 6);
    round_trip(3 * PDEFLATE_BLOCK, 2, 1 << 20, 1);
    round_trip(3 * PDEFLATE_BLOCK, 2, 1000, 9);
}

static void compresses_like_zlib(void **state)
{
    size_t n = 4 * PDEFLATE_BLOCK;
    unsigned char *in = make_input(n, 7), *out = malloc(n);
    struct pdeflate *p = NULL;
    struct err e = { 0 };
    uLongf single = compressBound(n);
    unsigned char *ref = malloc(single);
    size_t total = 0;
    ssize_t r;
    int fd = temp_file_with(in, n);

    (void)state;
    assert_int_equal(compress2(ref, &single, in, n, 6), Z_OK);
    assert_int_equal(pdeflate_start(&p, fd, n, 6, 2, "test", NULL, NULL, &e), 0);
    while ((r = pdeflate_read(p, out, n, &e)) > 0)
        total += (size_t)r;
    assert_int_equal(r, 0);
    pdeflate_free(p);
    close(fd);
    /* Blocks keep their dictionary: within 2% of one-threaded zlib. */
    assert_true(total < single + single / 50);
    free(in);
    free(out);
    free(ref);
}

static void a_file_shorter_than_promised_is_an_error(void **state)
{
    size_t n = 3 * PDEFLATE_BLOCK;
    unsigned char *in = make_input(n, 3), buf[65536];
    struct pdeflate *p = NULL;
    struct err e = { 0 };
    int fd = temp_file_with(in, n - 10);
    ssize_t r;

    (void)state;
    assert_int_equal(pdeflate_start(&p, fd, n, 6, 2, "state/hash_chain.jsonl", NULL, NULL, &e), 0);
    while ((r = pdeflate_read(p, buf, sizeof(buf), &e)) > 0)
        ;
    assert_int_equal(r, -1);
    assert_int_equal(e.code, ERR_IO);
    assert_non_null(strstr(e.msg, "state/hash_chain.jsonl shrank"));
    pdeflate_free(p);
    close(fd);
    free(in);
}

static void freed_midway_stops_the_workers(void **state)
{
    size_t n = 6 * PDEFLATE_BLOCK;
    unsigned char *in = make_input(n, 9), buf[1000];
    struct pdeflate *p = NULL;
    struct err e = { 0 };
    int fd = temp_file_with(in, n);

    (void)state;
    assert_int_equal(pdeflate_start(&p, fd, n, 6, 4, "test", NULL, NULL, &e), 0);
    assert_true(pdeflate_read(p, buf, sizeof(buf), &e) > 0);
    pdeflate_free(p);      /* blocks still queued: must join, not hang or leak */
    pdeflate_free(NULL);
    close(fd);
    free(in);
}

/* The whole stream of fd's n bytes from its offset (after optional priming). */
static unsigned char *deflate_all(int fd, size_t n, const unsigned char *dict, size_t dict_len,
                                  size_t *zlen, uint64_t *last_in, uint64_t *last_out)
{
    struct pdeflate *p = NULL;
    struct err e = { 0 };
    unsigned char *z = malloc(n + n / 4 + 65536);
    ssize_t r;

    assert_int_equal(pdeflate_start(&p, fd, n, 6, 2, "test", NULL, NULL, &e), 0);
    if (dict != NULL)
        pdeflate_prime(p, dict, dict_len);
    *zlen = 0;
    while ((r = pdeflate_read(p, z + *zlen, 50000, &e)) > 0)
        *zlen += (size_t)r;
    assert_int_equal(r, 0);
    pdeflate_last_block(p, last_in, last_out);
    pdeflate_free(p);
    return z;
}

/* What reuse does: the first stream's bytes up to its last block, then a
 * second stream of the rest primed with the prefix's last 32 KiB, are the
 * stream a full deflate of the whole would write, byte for byte. */
static void a_prefix_continues_byte_for_byte(void **state)
{
    const size_t sizes[] = { 3 * PDEFLATE_BLOCK + 12345, 2 * PDEFLATE_BLOCK, PDEFLATE_BLOCK + 1 };

    (void)state;
    for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
        size_t n = sizes[k], grown = n + PDEFLATE_BLOCK + 999, zlen, tlen, flen;
        unsigned char *in = make_input(grown, 11);
        uint64_t pin, pout, tin, tout, fin, fout;
        int fd = temp_file_with(in, grown);
        unsigned char *first = deflate_all(fd, n, NULL, 0, &zlen, &pin, &pout);

        assert_int_equal(pin, ((n - 1) / PDEFLATE_BLOCK) * PDEFLATE_BLOCK);
        assert_true(pout > 0 && pout < zlen);
        /* The sync flush ends the prefix byte-aligned: 00 00 ff ff. */
        assert_memory_equal(first + pout - 4, "\0\0\377\377", 4);
        assert_int_equal(lseek(fd, (off_t)pin, SEEK_SET), (off_t)pin);
        unsigned char *tail = deflate_all(fd, grown - pin, in + pin - 32768, 32768, &tlen, &tin,
                                          &tout);
        assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
        unsigned char *full = deflate_all(fd, grown, NULL, 0, &flen, &fin, &fout);
        assert_int_equal(pout + tlen, flen);
        assert_memory_equal(full, first, pout);
        assert_memory_equal(full + pout, tail, tlen);
        assert_int_equal(pin + tin, fin);
        assert_int_equal(pout + tout, fout);
        close(fd);
        free(in);
        free(first);
        free(tail);
        free(full);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sizes_around_block_edges),
        cmocka_unit_test(a_prefix_continues_byte_for_byte),
        cmocka_unit_test(thread_counts_and_levels),
        cmocka_unit_test(compresses_like_zlib),
        cmocka_unit_test(a_file_shorter_than_promised_is_an_error),
        cmocka_unit_test(freed_midway_stops_the_workers),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
