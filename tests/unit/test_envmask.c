/* test_envmask.c - .env masking, names and archive path safety. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "../../engine/engine.h"
#include "../../engine/envmask.h"
#include "../../engine/manifest.h"

static const unsigned char key[32] = { 1, 2, 3 };

static void mask(const char *in, char **out, json_t **keys)
{
    size_t len;
    struct err e = { 0 };

    assert_int_equal(envmask_apply(in, strlen(in), key, out, &len, keys, &e), 0);
    assert_int_equal(strlen(*out), len);
}

static void values_are_masked_comments_kept(void **state)
{
    char *out;
    json_t *keys;

    (void)state;
    mask("# broker\nAPI_KEY=sekret123\n\nexport TOKEN = \"quoted value\"\nMODE=paper", &out, &keys);
    assert_string_equal(out, "# broker\nAPI_KEY=********\n\nexport TOKEN=********\nMODE=********\n");
    assert_null(strstr(out, "sekret123"));
    assert_int_equal(json_object_size(keys), 3);
    assert_int_equal(strlen(json_string_value(json_object_get(keys, "API_KEY"))), 64);
    free(out);
    json_decref(keys);
}

static void unparseable_lines_and_multiline_values_vanish(void **state)
{
    char *out;
    json_t *keys;

    (void)state;
    mask("just-a-secret-pasted-here\nCERT=\"line1\nline2-secret\nline3\"\nNEXT=1\n", &out, &keys);
    assert_null(strstr(out, "just-a-secret"));
    assert_null(strstr(out, "line2-secret"));
    assert_non_null(strstr(out, "CERT=********\nNEXT=********\n"));
    assert_non_null(json_object_get(keys, "NEXT"));
    free(out);
    json_decref(keys);
}

static void comments_that_look_like_assignments_are_masked(void **state)
{
    char *out;
    json_t *keys;

    (void)state;
    mask("#BROKER_API_KEY_OLD=sk_live_abcdef123456\n# export OLD_TOKEN = 'x y'\n"
         "  ## rotate monthly: see the runbook\n"
         "# previous key sk_live_4eC39HqLyjWDarjtT1zdp7dc, revoked\n"
         "# db was postgres://bot:hunter2@db.internal/trading\n"
         "LIVE=1\n", &out, &keys);
    assert_string_equal(out, "#BROKER_API_KEY_OLD=********\n# export OLD_TOKEN=********\n"
                             "  ## rotate monthly: see the runbook\n"
                             "# statesnap: comment removed (it may hold a secret)\n"
                             "# statesnap: comment removed (it may hold a secret)\n"
                             "LIVE=********\n");
    assert_null(strstr(out, "sk_live"));
    assert_null(strstr(out, "hunter2"));
    /* A commented key is not live: no fingerprint, so diff does not list it. */
    assert_int_equal(json_object_size(keys), 1);
    assert_non_null(json_object_get(keys, "LIVE"));
    free(out);
    json_decref(keys);
}

static void fingerprint_tracks_value_not_key(void **state)
{
    char *o1, *o2, *o3;
    json_t *k1, *k2, *k3;

    (void)state;
    mask("A=one\n", &o1, &k1);
    mask("A = 'one'\n", &o2, &k2);
    mask("A=two\n", &o3, &k3);
    assert_string_equal(json_string_value(json_object_get(k1, "A")),
                        json_string_value(json_object_get(k2, "A")));
    assert_string_not_equal(json_string_value(json_object_get(k1, "A")),
                            json_string_value(json_object_get(k3, "A")));
    free(o1);
    free(o2);
    free(o3);
    json_decref(k1);
    json_decref(k2);
    json_decref(k3);
}

static void names(void **state)
{
    (void)state;
    assert_int_equal(engine_name_check("pre_live_v1", NULL), 0);
    assert_int_equal(engine_name_check("a", NULL), 0);
    assert_int_equal(engine_name_check("../x", NULL), -1);
    assert_int_equal(engine_name_check("a/b", NULL), -1);
    assert_int_equal(engine_name_check("", NULL), -1);
    assert_int_equal(engine_name_check("_x", NULL), -1);
    assert_int_equal(engine_name_check("caf\xc3\xa9", NULL), -1);
    char longname[70];
    memset(longname, 'a', 65);
    longname[65] = '\0';
    assert_int_equal(engine_name_check(longname, NULL), -1);
    longname[64] = '\0';
    assert_int_equal(engine_name_check(longname, NULL), 0);
}

static void archive_paths(void **state)
{
    (void)state;
    assert_int_equal(manifest_path_safe("state/positions.json"), 1);
    assert_int_equal(manifest_path_safe("../etc/passwd"), 0);
    assert_int_equal(manifest_path_safe("/etc/passwd"), 0);
    assert_int_equal(manifest_path_safe("state/../../x"), 0);
    assert_int_equal(manifest_path_safe("state//x"), 0);
    assert_int_equal(manifest_path_safe("state/./x"), 0);
    assert_int_equal(manifest_path_safe("a\\b"), 0);
    assert_int_equal(manifest_path_safe("C:x"), 0);
    assert_int_equal(manifest_path_safe(""), 0);
    assert_int_equal(manifest_is_sha256("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"), 1);
    assert_int_equal(manifest_is_sha256("0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef"), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(values_are_masked_comments_kept),
        cmocka_unit_test(unparseable_lines_and_multiline_values_vanish),
        cmocka_unit_test(comments_that_look_like_assignments_are_masked),
        cmocka_unit_test(fingerprint_tracks_value_not_key),
        cmocka_unit_test(names),
        cmocka_unit_test(archive_paths),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
