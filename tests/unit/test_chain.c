/* test_chain.c - the hash chain's tip and links, fed in any chunking; where a
 * JSON string ends (the scan's inner loop); hook output redaction. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "../../common/jsonscan.h"
#include "../../engine/chain.h"
#include "../../engine/hooks.h"

/* A chain of n lines with links h0 -> h1 -> ...; line bad (1-based) gets a wrong prev. */
static char *make_chain(int n, int bad, const char *seqk, const char *hashk, const char *prevk)
{
    size_t cap = (size_t)n * 200 + 1, len = 0;
    char *s = malloc(cap);

    for (int i = 0; i < n; i++) {
        char prev[16], hash[16];
        snprintf(prev, sizeof(prev), "h%d", i - 1 + (i + 1 == bad ? 100 : 0));
        snprintf(hash, sizeof(hash), "h%d", i);
        len += (size_t)snprintf(s + len, cap - len,
                                "{\"data\":{\"%s\":\"x\",\"%s\":99,\"nested\":[1,{\"a\":\"}\"}]},"
                                "\"%s\":\"%s\",\"%s\":\"%s\",\"%s\":%d,\"ts\":\"t\"}\n",
                                hashk, seqk, hashk, hash, prevk, i == 0 ? "genesis" : prev, seqk, i);
    }
    return s;
}

static json_t *scan(const char *data, size_t len, size_t chunk, const char *seqk,
                    const char *hashk, const char *prevk)
{
    struct chain_scan c;
    json_t *r;

    chain_scan_init(&c, seqk, hashk, prevk);
    for (size_t off = 0; off < len; off += chunk)
        chain_scan_feed(&c, (const unsigned char *)data + off, len - off < chunk ? len - off : chunk);
    r = chain_scan_result(&c, "state/hash_chain.jsonl");
    chain_scan_free(&c);
    return r;
}

/* The string end one byte at a time: what jsonscan_string_end's eight-byte
 * steps must agree with. */
static const char *string_end_bytewise(const char *p, const char *end)
{
    for (p++; p < end; p++) {
        if (*p == '\\')
            p++;
        else if (*p == '"')
            return p + 1;
    }
    return NULL;
}

static void string_ends_agree_with_a_bytewise_walk(void **state)
{
    static const char special[] = "\"\\";
    char buf[64];
    uint32_t x = 7;

    (void)state;
    /* An escaped quote, and an escaped backslash before the closing quote,
     * at every offset: on both sides of every eight-byte step. */
    for (size_t k = 1; k < 40; k++) {
        memset(buf, 'a', sizeof(buf));
        buf[0] = '"';
        buf[k] = '\\';
        buf[k + 1] = '"';
        buf[k + 12] = '"';
        assert_ptr_equal(jsonscan_string_end(buf, buf + 60), buf + k + 13);
        buf[k + 1] = '\\';
        buf[k + 2] = '"';
        assert_ptr_equal(jsonscan_string_end(buf, buf + 60), buf + k + 3);
    }
    /* Random texts of every length to 40, mostly plain bytes (as in a hash
     * or an order id), that may end inside a string. */
    for (int round = 0; round < 20000; round++) {
        size_t n = 1 + (size_t)(round % 40);
        buf[0] = '"';
        for (size_t i = 1; i < n; i++) {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            buf[i] = x % 6 == 0 ? special[(x >> 8) & 1] : (char)('a' + (x >> 8) % 26);
        }
        assert_ptr_equal(jsonscan_string_end(buf, buf + n), string_end_bytewise(buf, buf + n));
    }
    /* a backslash as the last byte: no end */
    const char *u = "\"abcdefghijk\\";
    assert_null(jsonscan_string_end(u, u + strlen(u)));
}

/* A hash with an escape is not a plain hash: the line is bad; an escaped
 * quote in another field does not end the line early. */
static void escapes_in_lines(void **state)
{
    const char *good = "{\"data\":{\"note\":\"say \\\"hi\\\" twice, \\\\ once\"},\"hash\":\"h0\","
                       "\"prev\":\"genesis\",\"seq\":0}\n"
                       "{\"hash\":\"h1\",\"prev\":\"h0\",\"seq\":1,\"ts\":\"2024-12-01T14:30:00Z\"}\n";
    const char *bad = "{\"hash\":\"h\\u0030\",\"prev\":\"genesis\",\"seq\":0}\n";
    json_t *r;

    (void)state;
    r = scan(good, strlen(good), 5, NULL, NULL, NULL);
    assert_int_equal(json_integer_value(json_object_get(r, "lines")), 2);
    assert_true(json_is_true(json_object_get(r, "links_ok")));
    assert_string_equal(json_string_value(json_object_get(r, "last_hash")), "h1");
    json_decref(r);
    r = scan(bad, strlen(bad), 64, NULL, NULL, NULL);
    assert_true(json_is_false(json_object_get(r, "links_ok")));
    assert_int_equal(json_integer_value(json_object_get(r, "first_bad_line")), 1);
    json_decref(r);
}

static void tip_and_links_in_any_chunking(void **state)
{
    char *data = make_chain(500, 0, "seq", "hash", "prev");
    size_t chunks[] = { 1, 7, 64, 4096, 1 << 20 };

    (void)state;
    for (size_t k = 0; k < sizeof(chunks) / sizeof(chunks[0]); k++) {
        json_t *r = scan(data, strlen(data), chunks[k], NULL, NULL, NULL);
        assert_int_equal(json_integer_value(json_object_get(r, "lines")), 500);
        assert_int_equal(json_integer_value(json_object_get(r, "last_seq")), 499);
        assert_string_equal(json_string_value(json_object_get(r, "last_hash")), "h499");
        assert_true(json_is_true(json_object_get(r, "links_ok")));
        assert_true(json_is_null(json_object_get(r, "first_bad_line")));
        json_decref(r);
    }
    free(data);
}

static void a_broken_link_is_named(void **state)
{
    char *data = make_chain(50, 17, "seq", "hash", "prev");
    json_t *r;

    (void)state;
    r = scan(data, strlen(data), 33, NULL, NULL, NULL);
    assert_false(json_is_true(json_object_get(r, "links_ok")));
    assert_int_equal(json_integer_value(json_object_get(r, "first_bad_line")), 17);
    assert_int_equal(json_integer_value(json_object_get(r, "last_seq")), 49);
    json_decref(r);
    free(data);
}

static void field_names_are_configurable(void **state)
{
    char *data = make_chain(20, 0, "n", "digest", "parent");
    json_t *r;

    (void)state;
    r = scan(data, strlen(data), 5, "n", "digest", "parent");
    assert_true(json_is_true(json_object_get(r, "links_ok")));
    assert_int_equal(json_integer_value(json_object_get(r, "last_seq")), 19);
    json_decref(r);
    /* With the default names nothing is found: every line is bad. */
    r = scan(data, strlen(data), 5, NULL, NULL, NULL);
    assert_false(json_is_true(json_object_get(r, "links_ok")));
    assert_int_equal(json_integer_value(json_object_get(r, "first_bad_line")), 1);
    json_decref(r);
    free(data);
}

static void junk_and_partial_lines(void **state)
{
    const char *cases[] = { "", "\n\n", "not json\n", "{\"hash\":\"a\",\"seq\":1", "{\"hash\":\"a\"}",
                            "{\"hash\":\"a\",\"seq\":12345678901234567890123}\n", "[1,2]\n" };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *r = scan(cases[i], strlen(cases[i]), 3, NULL, NULL, NULL);
        assert_non_null(r);
        json_decref(r);
    }
    /* A last line without its newline still counts. */
    json_t *r = scan("{\"hash\":\"a\",\"seq\":1}\n{\"hash\":\"b\",\"prev\":\"a\",\"seq\":2}", 52, 4,
                     NULL, NULL, NULL);
    assert_int_equal(json_integer_value(json_object_get(r, "lines")), 2);
    assert_int_equal(json_integer_value(json_object_get(r, "last_seq")), 2);
    assert_true(json_is_true(json_object_get(r, "links_ok")));
    json_decref(r);
}

static void overlong_line_is_not_parsed(void **state)
{
    size_t n = CHAIN_LINE_MAX + 100;
    char *s = malloc(n + 64);
    json_t *r;

    (void)state;
    memset(s, 'x', n);
    memcpy(s, "{\"hash\":\"", 9);
    snprintf(s + n, 64, "\"}\n{\"hash\":\"z\",\"seq\":3}\n");
    r = scan(s, strlen(s), 1000, NULL, NULL, NULL);
    assert_int_equal(json_integer_value(json_object_get(r, "lines")), 2);
    assert_false(json_is_true(json_object_get(r, "links_ok")));
    assert_int_equal(json_integer_value(json_object_get(r, "first_bad_line")), 1);
    json_decref(r);
    free(s);
}

static void hook_output_is_redacted(void **state)
{
    struct { const char *in, *out; } t[] = {
        { "API_KEY=sk_live_abcdef more\nnext line", "API_KEY=***\nnext line" },
        { "db_password: hunter22, next", "db_password: ***" },
        { "Authorization: Bearer eyJabc.def", "Authorization: ***" },
        { "curl -H 'x: Bearer eyJabc.def'", "curl -H 'x: Bearer ***" },
        { "SECRET=ab", "SECRET=**" },
        { "seq=42 name=bot", "seq=42 name=bot" },
        { "TOKEN=***", "TOKEN=***" },
        { "", "" },
    };
    (void)state;
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        char buf[128];
        snprintf(buf, sizeof(buf), "%s", t[i].in);
        hook_redact(buf);
        assert_string_equal(buf, t[i].out);
    }
}

/* A scan marked at any offset (mid-line included), written out as JSON
 * and parsed back, then resumed on the bytes from the mark's line start,
 * says what a scan of the whole file says: tip, links, the first bad line
 * before the mark, blank and CRLF lines. Names that differ do not parse. */
static void a_marked_scan_resumes_to_the_same_result(void **state)
{
    char *data = make_chain(60, 9, "seq", "hash", "prev");
    size_t len = strlen(data);
    char *mixed = malloc(len + 8);
    json_t *whole;

    (void)state;
    /* a blank line and a CRLF line among the others */
    memcpy(mixed, "\n", 1);
    memcpy(mixed + 1, data, len);
    len += 1;
    mixed[len] = '\0';
    {
        char *nl = strchr(mixed + 300, '\n');
        memmove(nl + 1, nl, strlen(nl) + 1);
        *nl = '\r';
        len++;
    }
    whole = scan(mixed, len, 4096, NULL, NULL, NULL);
    assert_int_equal(json_integer_value(json_object_get(whole, "first_bad_line")), 9);
    for (size_t at = 0; at <= len; at += 13) {
        struct chain_scan a, b;
        struct chain_mark m, back;
        json_t *j, *r;
        char *dump;

        chain_scan_init(&a, NULL, NULL, NULL);
        chain_scan_feed(&a, (const unsigned char *)mixed, at);
        chain_scan_mark(&a, at, &m);
        assert_true(m.valid && m.from <= at);
        assert_true(m.from == 0 || mixed[m.from - 1] == '\n');
        assert_non_null(j = chain_mark_json(&m, &a));
        dump = json_dumps(j, JSON_COMPACT);
        json_decref(j);
        j = json_loads(dump, 0, NULL);
        free(dump);
        assert_int_equal(chain_mark_parse(j, &a, &back), 0);
        chain_scan_free(&a);
        chain_scan_init(&b, NULL, NULL, NULL);
        chain_scan_resume(&b, &back);
        chain_scan_feed(&b, (const unsigned char *)mixed + back.from, len - back.from);
        r = chain_scan_result(&b, "state/hash_chain.jsonl");
        assert_true(json_equal(r, whole));
        json_decref(r);
        chain_scan_free(&b);
        /* another config's field names: not this scan's state */
        chain_scan_init(&b, "n", "hash", "prev");
        assert_int_equal(chain_mark_parse(j, &b, &back), -1);
        assert_int_equal(chain_mark_parse(j, NULL, &back), 0);
        chain_scan_free(&b);
        json_decref(j);
    }
    /* what is not such an object */
    {
        json_t *bad = json_pack("{s:I,s:s,s:n,s:s,s:b,s:I,s:[sss]}", "from", (json_int_t)1, "lines",
                                "2", "last_seq", "last_hash", "h", "links_ok", 1,
                                "first_bad_line", (json_int_t)0, "fields", "seq", "hash", "prev");
        struct chain_mark m;
        assert_int_equal(chain_mark_parse(bad, NULL, &m), -1);
        json_object_set_new(bad, "lines", json_integer(2));
        assert_int_equal(chain_mark_parse(bad, NULL, &m), 0);
        json_object_set_new(bad, "first_bad_line", json_integer(3));   /* past the lines */
        assert_int_equal(chain_mark_parse(bad, NULL, &m), -1);
        json_decref(bad);
    }
    /* inside an overlong line there is no mark */
    {
        struct chain_scan a;
        struct chain_mark m;
        char *big = malloc(CHAIN_LINE_MAX + 10);
        memset(big, 'x', CHAIN_LINE_MAX + 10);
        chain_scan_init(&a, NULL, NULL, NULL);
        chain_scan_feed(&a, (const unsigned char *)big, CHAIN_LINE_MAX + 10);
        chain_scan_mark(&a, CHAIN_LINE_MAX + 10, &m);
        assert_false(m.valid);
        chain_scan_free(&a);
        free(big);
    }
    json_decref(whole);
    free(mixed);
    free(data);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(string_ends_agree_with_a_bytewise_walk),
        cmocka_unit_test(escapes_in_lines),
        cmocka_unit_test(tip_and_links_in_any_chunking),
        cmocka_unit_test(a_broken_link_is_named),
        cmocka_unit_test(field_names_are_configurable),
        cmocka_unit_test(junk_and_partial_lines),
        cmocka_unit_test(overlong_line_is_not_parsed),
        cmocka_unit_test(hook_output_is_redacted),
        cmocka_unit_test(a_marked_scan_resumes_to_the_same_result),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
