/* test_zipout.c - the entry-by-entry zip writer and the directory walk:
 * what zipout writes, libzip reads with ZIP_CHECKCONS (local headers
 * against the central directory), unzip and Python's zipfile test clean,
 * and zipin walks to the same entries: stored and deflated entries, a name
 * that is not ASCII, an entry dropped (in the window and after it was
 * written out), Zip64 local fields, and more entries than 16 bits count;
 * zipin refuses what is not a whole zip. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>
#include <zip.h>
#include <zlib.h>

#include "../../engine/zipin.h"
#include "../../engine/zipout.h"
#include "unit_tmp.h"

static int setup(void **state)
{
    (void)state;
    return unit_tmp_make("t.zip");
}

static int teardown(void **state)
{
    (void)state;
    unit_tmp_remove();
    return 0;
}

static uint32_t crc_of(const void *p, size_t n)
{
    return (uint32_t)crc32(crc32(0L, Z_NULL, 0), p, (uInt)n);
}

/* Raw deflate of p into a malloc'd buffer. */
static unsigned char *deflate_raw(const void *p, size_t n, size_t *out_len)
{
    z_stream zs;
    uLong cap = compressBound((uLong)n) + 64;
    unsigned char *out = malloc(cap);

    memset(&zs, 0, sizeof(zs));
    assert_int_equal(deflateInit2(&zs, 6, Z_DEFLATED, -MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
    zs.next_in = (Bytef *)(uintptr_t)p;
    zs.avail_in = (uInt)n;
    zs.next_out = out;
    zs.avail_out = (uInt)cap;
    assert_int_equal(deflate(&zs, Z_FINISH), Z_STREAM_END);
    *out_len = cap - zs.avail_out;
    deflateEnd(&zs);
    return out;
}

/* The entry name holds exactly want (n bytes), read through libzip. */
static void assert_entry(zip_t *za, const char *name, const void *want, size_t n)
{
    zip_stat_t st;
    zip_file_t *zf;
    unsigned char *got = malloc(n + 1);

    assert_int_equal(zip_stat(za, name, 0, &st), 0);
    assert_int_equal(st.size, n);
    assert_int_equal(st.crc, crc_of(want, n));
    assert_non_null(zf = zip_fopen(za, name, 0));
    assert_int_equal(zip_fread(zf, got, n + 1), (zip_int64_t)n);
    assert_memory_equal(got, want, n);
    zip_fclose(zf);
    free(got);
}

static zip_t *open_checked(const char *path)
{
    int zerr = 0;
    zip_t *za = zip_open(path, ZIP_RDONLY | ZIP_CHECKCONS, &zerr);

    if (za == NULL)
        fail_msg("libzip refuses %s: error %d", path, zerr);
    return za;
}

/* unzip -t and Python's zipfile, where they are installed, agree it is sound. */
static void assert_tools_accept(const char *path)
{
    char cmd[512];

    if (system("command -v unzip >/dev/null 2>&1") == 0) {
        snprintf(cmd, sizeof(cmd), "unzip -tqq '%s' >/dev/null", path);
        assert_int_equal(system(cmd), 0);
    }
    if (system("command -v python3 >/dev/null 2>&1") == 0) {
        snprintf(cmd, sizeof(cmd),
                 "python3 -c \"import sys,zipfile; z=zipfile.ZipFile(sys.argv[1]); "
                 "sys.exit(z.testzip() is not None)\" '%s'", path);
        assert_int_equal(system(cmd), 0);
    }
}

struct walk {
    size_t n;
    char last[64];
    uint64_t last_size, last_comp, last_off;
    uint32_t last_crc;
    int last_method;
};

static int walk_one(void *ctx, const struct zipin_entry *en)
{
    struct walk *w = ctx;

    w->n++;
    snprintf(w->last, sizeof(w->last), "%s", en->name);
    w->last_size = en->size;
    w->last_comp = en->comp_size;
    w->last_off = en->local_off;
    w->last_crc = en->crc;
    w->last_method = en->method;
    return 0;
}

/* zipin walks path to n entries, the last of them name with size and
 * CRC as libzip reads them, and its data where libzip finds it. */
static void assert_walk(const char *path, size_t n, const char *name)
{
    struct err e = { 0 };
    struct walk w = { 0 };
    int fd = open(path, O_RDONLY);
    zip_t *za = open_checked(path);
    zip_stat_t st;
    uint64_t at;
    struct zipin_entry en = { 0 };

    assert_true(fd >= 0);
    assert_int_equal(zipin_each(fd, walk_one, &w, &e), 0);
    assert_int_equal(w.n, n);
    assert_string_equal(w.last, name);
    assert_int_equal(zip_stat(za, name, 0, &st), 0);
    assert_int_equal(w.last_size, st.size);
    assert_int_equal(w.last_comp, st.comp_size);
    assert_int_equal(w.last_crc, st.crc);
    assert_int_equal(w.last_method, st.comp_method);
    en.name = w.last;
    en.name_len = strlen(w.last);
    en.local_off = w.last_off;
    en.comp_size = w.last_comp;
    assert_int_equal(zipin_data_at(fd, &en, &at, &e), 0);
    if (st.comp_method == ZIP_CM_STORE && st.size > 0) {
        unsigned char *a = malloc(st.size), *b = malloc(st.size);
        zip_file_t *zf = zip_fopen(za, name, 0);
        assert_int_equal(zip_fread(zf, a, st.size), (zip_int64_t)st.size);
        zip_fclose(zf);
        assert_int_equal(zipin_pread(fd, b, st.size, at, &e), 0);
        assert_memory_equal(a, b, st.size);
        free(a);
        free(b);
    }
    /* A name that is not the local header's is refused. */
    en.name = "x";
    en.name_len = 1;
    assert_int_equal(zipin_data_at(fd, &en, &at, &e), -1);
    assert_int_equal(e.code, ERR_VERIFY);
    zip_close(za);
    close(fd);
}

static void test_entries_and_undo(void **state)
{
    (void)state;
    struct err e = { 0 };
    static const char text[] = "{\"positions\": [{\"symbol\": \"BTC-USD\", \"qty\": 1.5}, "
                               "{\"symbol\": \"ETH-USD\", \"qty\": 20}], \"updated_at\": 1}\n";
    size_t big_n = 3u << 20, dl;
    unsigned char *big = malloc(big_n), *d = deflate_raw(text, sizeof(text) - 1, &dl);
    struct zipout *z = zipout_open(unit_path, &e);
    zip_t *za;
    zip_stat_t st;
    struct stat fst;

    for (size_t i = 0; i < big_n; i++)
        big[i] = (unsigned char)(i * 7 + (i >> 9));
    assert_non_null(z);
    /* Stored. */
    assert_int_equal(zipout_begin(z, "VERSION", 0100644, 1764000000, ZIPOUT_STORE, 6), 0);
    assert_int_equal(zipout_write(z, "1.2.3\n", 6), 0);
    assert_int_equal(zipout_entry_bytes(z), 6);
    assert_int_equal(zipout_end(z, crc_of("1.2.3\n", 6), 6), 0);
    /* Dropped inside the window: gone without a trace. */
    assert_int_equal(zipout_begin(z, "state/dropped.json", 0100644, 1764000000, ZIPOUT_STORE, 4), 0);
    assert_int_equal(zipout_write(z, "junk", 4), 0);
    zipout_undo(z);
    /* Deflated, with a name that is not ASCII. */
    assert_int_equal(zipout_begin(z, "state/p\xc3\xb6sitions.json", 0100600, 1764000000,
                                  ZIPOUT_DEFLATE, sizeof(text) - 1), 0);
    assert_int_equal(zipout_write(z, d, dl), 0);
    assert_int_equal(zipout_end(z, crc_of(text, sizeof(text) - 1), sizeof(text) - 1), 0);
    /* Dropped after its bytes were written out past the window. */
    assert_int_equal(zipout_begin(z, "state/big.bin", 0100644, 1764000000, ZIPOUT_STORE, big_n), 0);
    assert_int_equal(zipout_write(z, big, big_n), 0);
    assert_int_equal(zipout_write(z, big, 1000), 0);
    zipout_undo(z);
    assert_int_equal(zipout_begin(z, "state/big.bin", 0100644, 1764000000, ZIPOUT_STORE, 1000), 0);
    assert_int_equal(zipout_write(z, big, 1000), 0);
    assert_int_equal(zipout_end(z, crc_of(big, 1000), 1000), 0);
    assert_int_equal(zipout_close(z), 0);

    /* The file ends where the directory does: the dropped bytes are cut off. */
    assert_int_equal(stat(unit_path, &fst), 0);
    assert_true(fst.st_size < 4000);
    assert_int_equal(fst.st_mode & 0777, 0600);
    za = open_checked(unit_path);
    assert_int_equal(zip_get_num_entries(za, 0), 3);
    assert_entry(za, "VERSION", "1.2.3\n", 6);
    assert_entry(za, "state/p\xc3\xb6sitions.json", text, sizeof(text) - 1);
    assert_entry(za, "state/big.bin", big, 1000);
    assert_int_equal(zip_stat(za, "state/p\xc3\xb6sitions.json", 0, &st), 0);
    assert_int_equal(st.comp_method, ZIP_CM_DEFLATE);
    assert_int_equal(st.comp_size, dl);
    assert_int_equal(st.mtime, 1764000000);
    {
        zip_uint8_t opsys;
        zip_uint32_t attr;
        zip_int64_t idx = zip_name_locate(za, "state/p\xc3\xb6sitions.json", 0);
        assert_int_equal(zip_file_get_external_attributes(za, (zip_uint64_t)idx, 0, &opsys, &attr), 0);
        assert_int_equal(opsys, ZIP_OPSYS_UNIX);
        assert_int_equal(attr >> 16, 0100600);
    }
    zip_close(za);
    assert_tools_accept(unit_path);
    assert_walk(unit_path, 3, "state/big.bin");
    free(big);
    free(d);
}

static void test_zip64_local_fields(void **state)
{
    (void)state;
    struct err e = { 0 };
    struct zipout *z = zipout_open(unit_path, &e);
    char names[3][32], body[64];
    zip_t *za;

    assert_non_null(z);
    zipout_set_zip64_at(z, 0);   /* every entry as if it were near 4 GiB */
    for (int i = 0; i < 3; i++) {
        int n = snprintf(body, sizeof(body), "entry %d of three\n", i);
        snprintf(names[i], sizeof(names[i]), "state/f%d.txt", i);
        assert_int_equal(zipout_begin(z, names[i], 0100644, 1764000000, ZIPOUT_STORE,
                                      (uint64_t)n), 0);
        assert_int_equal(zipout_write(z, body, (size_t)n), 0);
        assert_int_equal(zipout_end(z, crc_of(body, (size_t)n), (uint64_t)n), 0);
    }
    assert_int_equal(zipout_close(z), 0);
    za = open_checked(unit_path);
    assert_int_equal(zip_get_num_entries(za, 0), 3);
    assert_entry(za, "state/f1.txt", "entry 1 of three\n", 17);
    zip_close(za);
    assert_tools_accept(unit_path);
    assert_walk(unit_path, 3, "state/f2.txt");
}

static void test_more_entries_than_16_bits(void **state)
{
    (void)state;
    struct err e = { 0 };
    struct zipout *z = zipout_open(unit_path, &e);
    enum { N = 70000 };
    char **names = calloc(N, sizeof(*names));
    zip_t *za;

    assert_non_null(z);
    for (int i = 0; i < N; i++) {
        char name[32];
        snprintf(name, sizeof(name), "state/s/%06d.json", i);
        names[i] = strdup(name);
        assert_int_equal(zipout_begin(z, names[i], 0100644, 1764000000, ZIPOUT_STORE, 3), 0);
        assert_int_equal(zipout_write(z, "{}\n", 3), 0);
        assert_int_equal(zipout_end(z, crc_of("{}\n", 3), 3), 0);
    }
    assert_int_equal(zipout_close(z), 0);
    za = open_checked(unit_path);
    assert_int_equal(zip_get_num_entries(za, 0), N);
    assert_entry(za, "state/s/069999.json", "{}\n", 3);
    assert_entry(za, "state/s/000000.json", "{}\n", 3);
    zip_close(za);
    assert_tools_accept(unit_path);
    assert_walk(unit_path, N, "state/s/069999.json");
    for (int i = 0; i < N; i++)
        free(names[i]);
    free(names);
}

static void test_misuse_is_refused(void **state)
{
    (void)state;
    struct err e = { 0 };
    struct zipout *z = zipout_open(unit_path, &e);

    assert_non_null(z);
    assert_int_equal(zipout_end(z, 0, 0), -1);
    assert_non_null(strstr(e.msg, "before it was begun"));
    memset(&e, 0, sizeof(e));
    assert_int_equal(zipout_begin(z, "", 0100644, 0, ZIPOUT_STORE, 0), -1);
    assert_non_null(strstr(e.msg, "file name of 0 bytes"));
    memset(&e, 0, sizeof(e));
    assert_int_equal(zipout_begin(z, "a", 0100644, 0, ZIPOUT_STORE, 0), 0);
    assert_int_equal(zipout_close(z), -1);   /* an entry left open */
    assert_non_null(strstr(e.msg, "not ended"));
    assert_int_equal(access(unit_path, F_OK), -1);   /* removed */
    memset(&e, 0, sizeof(e));
    z = zipout_open(unit_path, &e);
    assert_non_null(z);
    zipout_discard(z);
    assert_int_equal(access(unit_path, F_OK), -1);
    memset(&e, 0, sizeof(e));
    assert_null(zipout_open("/nonexistent-dir/t.zip", &e));
    assert_non_null(strstr(e.msg, "cannot create /nonexistent-dir/t.zip"));
}

/* DOS times hold 1980 to 2107: a time outside is the nearest end, as libzip writes it. */
static void test_times_outside_dos_range_are_clamped(void **state)
{
    (void)state;
    struct err e = { 0 };
    struct zipout *z = zipout_open(unit_path, &e);
    struct tm lo = { .tm_year = 80, .tm_mon = 0, .tm_mday = 1, .tm_isdst = -1 };
    struct tm hi = { .tm_year = 207, .tm_mon = 11, .tm_mday = 31, .tm_hour = 23, .tm_min = 59,
                     .tm_sec = 58, .tm_isdst = -1 };
    zip_t *za;
    zip_stat_t st;

    assert_non_null(z);
    assert_int_equal(zipout_begin(z, "old", 0100644, 86400, ZIPOUT_STORE, 0), 0);
    assert_int_equal(zipout_end(z, 0, 0), 0);
    assert_int_equal(zipout_begin(z, "new", 0100644, (time_t)7258118400LL, ZIPOUT_STORE, 0), 0);
    assert_int_equal(zipout_end(z, 0, 0), 0);
    assert_int_equal(zipout_close(z), 0);
    za = open_checked(unit_path);
    assert_int_equal(zip_stat(za, "old", 0, &st), 0);
    assert_int_equal(st.mtime, mktime(&lo));
    assert_int_equal(zip_stat(za, "new", 0, &st), 0);
    assert_int_equal(st.mtime, mktime(&hi));
    zip_close(za);
}

static int count_one(void *ctx, const struct zipin_entry *en)
{
    (void)en;
    ++*(size_t *)ctx;
    return 0;
}

/* zipin refuses a file cut short, one with no end record and a directory
 * entry with a broken signature, and stops where its callback says. */
static void test_zipin_refuses_broken(void **state)
{
    (void)state;
    struct err e = { 0 };
    struct zipout *z = zipout_open(unit_path, &e);
    struct stat st;
    size_t n = 0;
    int fd;

    for (int i = 0; i < 2; i++) {
        assert_int_equal(zipout_begin(z, i ? "b.txt" : "a.txt", 0100644, 1764000000, ZIPOUT_STORE, 2), 0);
        assert_int_equal(zipout_write(z, "ok", 2), 0);
        assert_int_equal(zipout_end(z, crc_of("ok", 2), 2), 0);
    }
    assert_int_equal(zipout_close(z), 0);
    assert_int_equal(stat(unit_path, &st), 0);
    fd = open(unit_path, O_RDWR);
    assert_true(fd >= 0);
    assert_int_equal(zipin_each(fd, count_one, &n, &e), 0);
    assert_int_equal(n, 2);
    /* A central entry's signature broken. */
    assert_int_equal(pwrite(fd, "\xde\xad\xbe\xef", 4, st.st_size - 22 - (46 + 5)), 4);
    memset(&e, 0, sizeof(e));
    assert_int_equal(zipin_each(fd, count_one, &n, &e), -1);
    assert_int_equal(e.code, ERR_VERIFY);
    /* Cut short: no end record. */
    assert_int_equal(ftruncate(fd, st.st_size - 10), 0);
    memset(&e, 0, sizeof(e));
    assert_int_equal(zipin_each(fd, count_one, &n, &e), -1);
    assert_int_equal(e.code, ERR_VERIFY);
    assert_non_null(strstr(e.msg, "no end of central directory"));
    /* Too short to be a zip at all. */
    assert_int_equal(ftruncate(fd, 5), 0);
    memset(&e, 0, sizeof(e));
    assert_int_equal(zipin_each(fd, count_one, &n, &e), -1);
    assert_non_null(strstr(e.msg, "not a zip archive"));
    close(fd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_entries_and_undo, setup, teardown),
        cmocka_unit_test_setup_teardown(test_zip64_local_fields, setup, teardown),
        cmocka_unit_test_setup_teardown(test_more_entries_than_16_bits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_misuse_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_zipin_refuses_broken, setup, teardown),
        cmocka_unit_test_setup_teardown(test_times_outside_dos_range_are_clamped, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
