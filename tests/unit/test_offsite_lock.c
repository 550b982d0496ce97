/* test_offsite_lock.c - offsite_delete_unless_locked (offsite/lock.c): a
 * copy the catalog records as locked is never asked to go, a server's 403
 * AccessDenied keeps the copy and says so, and an unlocked one is deleted.
 * Needs $STATESNAP_TEST_S3_ENDPOINT (tests/offsite runs it against its
 * s3rver behind the proxy that refuses deletes of locked objects). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include <jansson.h>

#include "../../common/fsutil.h"
#include "../../db/catalog.h"
#include "../../db/offsite.h"
#include "../../engine/engine.h"
#include "../../offsite/client.h"
#include "../../offsite/lock.h"
#include "unit_tmp.h"

static const char *env_or_skip(const char *name)
{
    const char *v = getenv(name);

    if (v == NULL || *v == '\0')
        skip();
    return v;
}

static int setup(void **state)
{
    (void)state;
    return unit_tmp_make("catalog.db");
}

static int teardown(void **state)
{
    (void)state;
    return unit_tmp_remove();
}

static void delete_respects_object_lock(void **state)
{
    const char *prefix = env_or_skip("STATESNAP_TEST_S3_PREFIX");
    static const char sha[] = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
    struct offsite *o = NULL;
    struct catalog *c = NULL;
    struct err e = { 0 };
    char key[512], why[256], stored[65], until[32];
    int64_t size;
    json_t *sec;

    (void)state;
    unsetenv("STATESNAP_OFFSITE_ACCESS_KEY");
    unsetenv("STATESNAP_OFFSITE_SECRET_KEY");
    unsetenv("STATESNAP_OFFSITE_SESSION_TOKEN");
    sec = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:b}", "endpoint",
                    env_or_skip("STATESNAP_TEST_S3_ENDPOINT"), "bucket",
                    env_or_skip("STATESNAP_TEST_S3_BUCKET"), "region",
                    env_or_skip("STATESNAP_TEST_S3_REGION"), "access_key",
                    env_or_skip("STATESNAP_TEST_S3_ACCESS_KEY"), "secret_key",
                    env_or_skip("STATESNAP_TEST_S3_SECRET_KEY"), "prefix", prefix, "path_style", 1);
    assert_non_null(sec);
    assert_int_equal(offsite_open(&o, sec, &e), 0);
    json_decref(sec);
    assert_int_equal(catalog_open(&c, unit_path, &e), 0);

    /* 1. Locked by our record: kept, and nothing is sent (the suite checks the proxy's log). */
    assert_int_equal(offsite_object_key(o, "recorded", ".zip", key, sizeof(key), &e), 0);
    assert_int_equal(s3_put_bytes(o->s3, key, "one", 3, "application/zip", &e), 0);
    assert_int_equal(catalog_offsite_lock_set(c, "recorded", "COMPLIANCE", engine_now() + 86400,
                                              sha, engine_now(), &e), 0);
    engine_time_format(engine_now() + 86400, until, sizeof(until));
    assert_int_equal(offsite_delete_unless_locked(o, c, "recorded", key, why, sizeof(why), &e), 1);
    assert_non_null(strstr(why, "kept offsite: locked until "));
    assert_non_null(strstr(why, "(COMPLIANCE)"));
    assert_int_equal(s3_head(o->s3, key, &size, stored, &e), 1);

    /* 2. No record, but the server holds it under Object Lock: refused, kept, not an error. */
    assert_int_equal(offsite_object_key(o, "serverlocked", ".zip", key, sizeof(key), &e), 0);
    assert_int_equal(s3_set_object_lock(o->s3, "GOVERNANCE", until), 0);
    assert_int_equal(s3_put_bytes(o->s3, key, "two", 3, "application/zip", &e), 0);
    assert_int_equal(s3_set_object_lock(o->s3, NULL, NULL), 0);
    assert_int_equal(offsite_delete_unless_locked(o, c, "serverlocked", key, why, sizeof(why), &e), 1);
    assert_int_equal(e.code, ERR_NONE);
    assert_non_null(strstr(why, "kept offsite: the bucket refused the delete (AccessDenied"));
    assert_int_equal(s3_head(o->s3, key, &size, stored, &e), 1);

    /* 3. A record that has expired, and no lock on the server: deleted. */
    assert_int_equal(offsite_object_key(o, "expired", ".zip", key, sizeof(key), &e), 0);
    assert_int_equal(s3_put_bytes(o->s3, key, "three", 5, "application/zip", &e), 0);
    assert_int_equal(catalog_offsite_lock_set(c, "expired", "COMPLIANCE", engine_now() - 10, sha,
                                              engine_now() - 100, &e), 0);
    assert_int_equal(offsite_delete_unless_locked(o, c, "expired", key, why, sizeof(why), &e), 0);
    assert_string_equal(why, "");
    assert_int_equal(s3_head(o->s3, key, &size, stored, &e), 0);

    catalog_close(c);
    offsite_close(o);
    printf("# offsite lock deletes: ok\n");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(delete_respects_object_lock, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
