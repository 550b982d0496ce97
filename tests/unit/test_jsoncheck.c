/* test_jsoncheck.c - jsoncheck_valid says 1 only for text jansson loads:
 * hand-picked cases of both kinds, every prefix of a realistic document (a
 * file caught half rewritten), and thousands of single-byte mutations. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <jansson.h>

#include "../../common/jsoncheck.h"

static int jansson_loads(const char *t, size_t n)
{
    json_t *j = json_loadb(t, n, JSON_DECODE_ANY, NULL);
    json_decref(j);
    return j != NULL;
}

static int check(const char *t)
{
    return jsoncheck_valid(t, strlen(t));
}

static void valid_texts_are_vouched_for(void **state)
{
    static const char *const ok[] = {
        "{}", "[]", " {} ", "0", "-0", "12.5", "-3.25", "true", "false", "null", "\"\"",
        "{\"a\":1,\"b\":[true,false,null,{\"c\":\"d\"}],\"e\":{}}",
        "[1, 2 ,3\t,\n4\r]", "{\"s\":\"say \\\"hi\\\" \\\\ \\/ \\b\\f\\n\\r\\t \\u00e9\"}",
        "{\"positions\":[{\"symbol\":\"EURUSD\",\"qty\":154,\"price\":834.49}],\"ts\":\"2024-12-01T14:30:00Z\"}",
        "{\"a\":1,\"a\":2}",       /* duplicates: jansson keeps the last */
    };
    (void)state;
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        assert_true(jansson_loads(ok[i], strlen(ok[i])));
        if (!check(ok[i]))
            fail_msg("not vouched for: %s", ok[i]);
    }
}

static void invalid_or_unsure_texts_go_to_jansson(void **state)
{
    static const char *const no[] = {
        "", " ", "{", "}", "[", "[1,]", "{\"a\":}", "{\"a\" 1}", "{a:1}", "{\"a\":1,}", "01", "1.",
        ".5", "-", "+1", "tru", "truex", "nul", "[1 2]", "{} {}", "\"abc", "\"a\\x\"", "\"a\\u12\"",
        "\"tab\there\"", "\"\\u0000\"", "\"\\ud800\"", "\"\\udc00\"", "1e5", "2E-3",
        "1234567890123456789", "\"caf\xc3\xa9\"", "\"\xff\"", "\xef\xbb\xbf{}",
    };
    (void)state;
    for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
        if (check(no[i]))
            fail_msg("vouched for: %s", no[i]);
    /* a NUL after the value, and inside a string */
    assert_false(jsoncheck_valid("[1]\0", 4));
    assert_false(jsoncheck_valid("\"a\0b\"", 5));
    /* nesting past JSONCHECK_DEPTH is left to jansson, which loads it */
    char deep[2 * JSONCHECK_DEPTH + 3];
    memset(deep, '[', JSONCHECK_DEPTH + 1);
    memset(deep + JSONCHECK_DEPTH + 1, ']', JSONCHECK_DEPTH + 1);
    deep[2 * JSONCHECK_DEPTH + 2] = '\0';
    assert_false(check(deep));
    assert_true(jansson_loads(deep, strlen(deep)));
    /* and JSONCHECK_DEPTH itself is vouched for */
    assert_true(jsoncheck_valid(deep + 1, 2 * JSONCHECK_DEPTH));
}

/* A document like a bot's state file, long enough for many eight-byte steps. */
static char *make_doc(size_t *n)
{
    size_t cap = 64 * 1024, len = 0;
    char *d = malloc(cap);

    len += (size_t)snprintf(d + len, cap - len, "{\"orders\":[");
    for (int i = 0; i < 120; i++)
        len += (size_t)snprintf(d + len, cap - len,
                                "%s{\"id\":\"c72e0965-2c70-%04d-c037-8f65aaa2d909\",\"px\":%d.%02d,"
                                "\"qty\":%d,\"side\":\"%s\",\"note\":\"a \\\"quoted\\\" \\\\ word\\n\","
                                "\"tags\":[\"x\",\"y\\u00e9\"],\"open\":%s,\"fill\":null}",
                                i ? "," : "", i, 800 + i, i % 100, i * 7, i % 2 ? "buy" : "sell",
                                i % 3 ? "true" : "false");
    len += (size_t)snprintf(d + len, cap - len, "],\"seq\":-42,\"ok\":true}\n");
    *n = len;
    return d;
}

static void prefixes_and_mutations_agree_with_jansson(void **state)
{
    static const char bytes[] = "{}[]\",:\\ 0-.etfnu\x01\x80";
    size_t n;
    char *doc = make_doc(&n);
    char *m = malloc(n);
    uint32_t x = 11;
    int vouched = 0;

    (void)state;
    assert_true(jansson_loads(doc, n));
    assert_true(jsoncheck_valid(doc, n));
    /* a file caught half written: no prefix but the whole is vouched for
     * unless jansson loads it too */
    for (size_t k = 0; k < n; k++)
        if (jsoncheck_valid(doc, k) && !jansson_loads(doc, k))
            fail_msg("prefix of %zu bytes vouched for", k);
    for (int round = 0; round < 6000; round++) {
        memcpy(m, doc, n);
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        size_t at = x % n;
        m[at] = bytes[(x >> 16) % (sizeof(bytes) - 1)];
        if (jsoncheck_valid(m, n)) {
            vouched++;
            if (!jansson_loads(m, n))
                fail_msg("mutation at %zu to 0x%02x vouched for", at, (unsigned char)m[at]);
        }
    }
    /* the fast answer is the usual one: most mutations inside strings keep the text valid */
    assert_true(vouched > 100);
    free(m);
    free(doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(valid_texts_are_vouched_for),
        cmocka_unit_test(invalid_or_unsure_texts_go_to_jansson),
        cmocka_unit_test(prefixes_and_mutations_agree_with_jansson),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
