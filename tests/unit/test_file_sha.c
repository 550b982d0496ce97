/* test_file_sha.c - store_file_sha's memo: a hash computed on one thread is
 * reused on another while the file's identity and times stand, and never
 * once the file was written, even when size and mtime are put back. */
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "../../common/fsutil.h"
#include "../../engine/store.h"
#include "unit_tmp.h"

#define SHA_HELLO "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
#define SHA_WORLD "486ea46224d1bb4fb680f34f7c9ad96a8f24ec88be73ea8e5a6c65260e9cb8a7"

static int setup(void **state)
{
    (void)state;
    return unit_tmp_make("f");
}

static int teardown(void **state)
{
    (void)state;
    return unit_tmp_remove();
}

static void write_file(const char *text)
{
    int fd = open(unit_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    assert_int_equal(close(fd), 0);
}

/* Past STORE_MEMO_SETTLE_NS, so the next hash may be remembered. */
static void settle(void)
{
    struct timespec ts = { 0, 150 * 1000000L };

    nanosleep(&ts, NULL);
}

static void sha_now(char out[65])
{
    struct stat st;
    struct err e = { 0 };

    assert_int_equal(lstat(unit_path, &st), 0);
    assert_int_equal(store_file_sha(unit_path, &st, out, &e), 0);
}

static void *sha_thread(void *arg)
{
    sha_now(arg);
    return NULL;
}

static void memo_is_shared_and_follows_every_write(void **state)
{
    char sha[65], other[65];
    uint64_t n;
    pthread_t th;
    struct stat before;
    struct timespec keep[2];

    (void)state;
    write_file("hello");
    settle();
    n = store_files_hashed();
    sha_now(sha);
    assert_string_equal(sha, SHA_HELLO);
    assert_int_equal(store_files_hashed(), n + 1);

    /* Another thread (the API's apply after its preview): remembered. */
    assert_int_equal(pthread_create(&th, NULL, sha_thread, other), 0);
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_string_equal(other, SHA_HELLO);
    assert_int_equal(store_files_hashed(), n + 1);

    /* Rewritten in place with the same size and its old mtime put back:
     * only ctime tells, and it is enough. */
    assert_int_equal(lstat(unit_path, &before), 0);
    write_file("world");
    keep[0] = before.st_atim;
    keep[1] = before.st_mtim;
    assert_int_equal(utimensat(AT_FDCWD, unit_path, keep, 0), 0);
    sha_now(sha);
    assert_string_equal(sha, SHA_WORLD);
    assert_int_equal(store_files_hashed(), n + 2);

    /* Changed just now: not remembered yet, read again. */
    sha_now(sha);
    assert_string_equal(sha, SHA_WORLD);
    assert_int_equal(store_files_hashed(), n + 3);

    /* Settled: remembered from here on. */
    settle();
    sha_now(sha);
    sha_now(sha);
    assert_string_equal(sha, SHA_WORLD);
    assert_int_equal(store_files_hashed(), n + 4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(memo_is_shared_and_follows_every_write, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
