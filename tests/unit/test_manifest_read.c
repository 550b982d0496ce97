/* test_manifest_read.c - manifest.json read as records: the parts parsed
 * alone give the records a parse of the whole would, whatever the key order
 * or spelling, and every way of hiding a second file list is refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "../../engine/manifest.h"

#define SHA_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define SHA_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define SHA_C "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"

#define HEAD_KEYS                                                                        \
    "\"absent\": [], \"created_at\": \"2026-12-01T10:00:00Z\", \"created_by\": \"t\", "  \
    "\"env_keys\": {}, \"format\": 1, \"git_commit\": null, \"host\": \"h\", "          \
    "\"labels\": {\"k\": \"v\"}, \"name\": \"snap-1\", \"pinned\": false, "             \
    "\"positions_count\": null, \"statesnap_version\": \"1\", \"version\": \"v\""

#define FILES                                                                            \
    "[{\"group\": \"config\", \"path\": \"config/a.json\", \"sha256\": \"" SHA_A         \
    "\", \"size\": 10}, {\"group\": \"state\", \"path\": \"state/b]\\\"{c.json\", "      \
    "\"sha256\": \"" SHA_B "\", \"size\": 20}, {\"group\": \"state\", \"path\": "        \
    "\"state/chain.jsonl\", \"sha256\": \"" SHA_C "\", \"size\": 3000}]"

#define PREFIX                                                                           \
    "{\"deflate_prefix\": {\"bytes\": 100, \"compressed\": 40, \"crc32\": 7, \"sha256\": \"" \
    SHA_A "\"}, \"reused\": \"prefix\", \"reused_bytes\": 100}"

#define NOTES                                                                            \
    "{\"config/a.json\": {\"reused\": \"entry\"}, \"state/chain.jsonl\": " PREFIX "}"

static int read_text(const char *text, struct manifest_doc *d, struct err *e)
{
    memset(e, 0, sizeof(*e));
    return manifest_read(text, strlen(text), d, e);
}

/* The records of the three files above, notes where they belong, and the
 * head with its two lists empty. */
static void assert_three(const struct manifest_doc *d)
{
    assert_int_equal(d->n, 3);
    assert_string_equal(d->files[0].path, "config/a.json");
    assert_string_equal(d->files[1].path, "state/b]\"{c.json");
    assert_string_equal(d->files[2].path, "state/chain.jsonl");
    assert_int_equal(d->files[1].size, 20);
    assert_string_equal(d->files[2].sha256, SHA_C);
    assert_string_equal(d->files[0].group, "config");
    assert_true(d->files[1].group == d->files[2].group);
    assert_ptr_equal(manifest_doc_find(d, "state/chain.jsonl"), &d->files[2]);
    assert_null(manifest_doc_find(d, "state/nope"));
    assert_int_equal(json_array_size(json_object_get(d->head, "files")), 0);
    assert_string_equal(json_string_value(json_object_get(d->head, "name")), "snap-1");
}

static void records_as_our_writer_lays_it_out(void **state)
{
    struct manifest_doc d;
    struct err e;
    const char *text = "{\n  " HEAD_KEYS ",\n  \"files\": " FILES ",\n  \"reuse\": {\"files\": " NOTES
                       ", \"from\": \"snap-0\"}\n}\n";

    (void)state;
    assert_int_equal(read_text(text, &d, &e), 0);
    assert_three(&d);
    assert_true(d.files[0].has_note);
    assert_null(d.files[0].note);                /* no deflate_prefix: not kept */
    assert_false(d.files[1].has_note);
    assert_non_null(d.files[2].note);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(d.files[2].note,
                                                                        "deflate_prefix"), "bytes")), 100);
    assert_int_equal(json_object_size(json_object_get(json_object_get(d.head, "reuse"), "files")), 0);
    assert_string_equal(json_string_value(json_object_get(json_object_get(d.head, "reuse"), "from")),
                        "snap-0");
    manifest_doc_free(&d);
}

/* Keys escaped, another order, compact: read from the tree, same records. */
static void other_layouts_give_the_same_records(void **state)
{
    static const char *const texts[] = {
        "{\"reuse\":{\"from\":\"snap-0\",\"files\":" NOTES "},\"files\":" FILES "," HEAD_KEYS "}",
        "{" HEAD_KEYS ", \"fil\\u0065s\": " FILES ", \"reuse\": {\"files\": " NOTES "}}",
        "{" HEAD_KEYS ", \"files\": " FILES ", \"reu\\u0073e\": {\"files\": " NOTES "}}",
        "{" HEAD_KEYS ", \"files\": " FILES ", \"reuse\": {\"\\u0066iles\": " NOTES "}}",
        "\t{" HEAD_KEYS ",\"files\"\n:\n" FILES "\r\n,\"reuse\":{\"files\":" NOTES "}}  \n",
    };
    (void)state;
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        struct manifest_doc d;
        struct err e;
        assert_int_equal(read_text(texts[i], &d, &e), 0);
        assert_three(&d);
        assert_non_null(d.files[2].note);
        assert_true(d.files[0].has_note);
        manifest_doc_free(&d);
    }
}

/* A "files" inside another member is that member's business, not the list. */
static void nested_files_are_not_the_list(void **state)
{
    struct manifest_doc d;
    struct err e;
    const char *text = "{" HEAD_KEYS ", \"extra\": {\"files\": [{\"path\": \"../../etc/x\"}], "
                       "\"s\": \"\\\"files\\\": []\"}, \"files\": " FILES "}";

    (void)state;
    assert_int_equal(read_text(text, &d, &e), 0);
    assert_three(&d);
    manifest_doc_free(&d);
}

static void refused(const char *text, const char *why)
{
    struct manifest_doc d;
    struct err e;

    assert_int_equal(read_text(text, &d, &e), -1);
    assert_int_equal(e.code, ERR_VERIFY);
    if (strstr(e.msg, why) == NULL)
        fail_msg("\"%s\" does not say \"%s\"", e.msg, why);
    assert_int_equal(d.n, 0);
    assert_null(d.head);
}

static void a_second_list_or_bad_part_is_refused(void **state)
{
    (void)state;
    refused("{" HEAD_KEYS ", \"files\": " FILES ", \"files\": []}", "not valid JSON");
    refused("{" HEAD_KEYS ", \"files\": [], \"files\": " FILES "}", "not valid JSON");
    refused("{" HEAD_KEYS ", \"files\": " FILES ", \"fil\\u0065s\": []}", "not valid JSON");
    refused("{" HEAD_KEYS ", \"fil\\u0065s\": [], \"files\": " FILES "}", "not valid JSON");
    refused("{" HEAD_KEYS ", \"files\": " FILES ", \"reuse\": {\"files\": {}, \"files\": " NOTES "}}",
            "not valid JSON");
    refused("{" HEAD_KEYS ", \"files\": " FILES ", \"reuse\": {\"files\": {\"config/a.json\": "
            "{\"reused\": \"entry\"}, \"config/a.json\": {\"reused\": \"entry\"}}}}", "malformed");
    refused("{" HEAD_KEYS ", \"files\": " FILES ", \"reuse\": {\"files\": {\"state/x\": "
            "{\"reused\": \"entry\"}}}}", "not a listed file");
    refused("{" HEAD_KEYS ", \"files\": " FILES ", \"reuse\": {\"files\": {\"config/a.json\": "
            "{\"reused\": \"whole\"}}}}", "malformed");
    refused("{" HEAD_KEYS ", \"files\": " FILES "} x", "not valid JSON");
    refused("{" HEAD_KEYS ", \"files\": " FILES, "not valid JSON");
    refused("{" HEAD_KEYS ", \"files\": {}}", "\"files\" must be an array");
    refused("{" HEAD_KEYS "}", "\"files\" must be an array");
    refused("{" HEAD_KEYS ", \"files\": [1]}", "unsafe or reserved path");
    refused("{" HEAD_KEYS ", \"files\": [{\"group\": \"g\", \"path\": \"../x\", \"sha256\": \""
            SHA_A "\", \"size\": 1}]}", "unsafe or reserved path");
    refused("{" HEAD_KEYS ", \"files\": [{\"group\": \"g\", \"path\": \"a\", \"sha256\": \""
            SHA_A "\", \"size\": \"1\"}]}", "malformed");
    refused("{" HEAD_KEYS ", \"files\": [{\"group\": \"g\", \"path\": \"a\", \"sha256\": \""
            SHA_A "\", \"size\": 1} {\"group\": \"g\"}]}", "not valid JSON");
    refused("{" HEAD_KEYS ", \"files\": [{\"group\": \"g\", \"path\": \"a\", \"sha256\": \""
            SHA_A "\", \"size\": 1, \"size\": 2}]}", "not valid JSON");
    refused("{" HEAD_KEYS ", \"files\": [{\"group\": \"g\", \"path\": \"a\", \"sha256\": \""
            SHA_A "\", \"size\": 1}, {\"group\": \"g\", \"path\": \"a\", \"sha256\": \""
            SHA_B "\", \"size\": 1}]}", "listed twice");
    refused("{" HEAD_KEYS ", \"files\": [{\"group\": \"g\", \"path\": \"a\\u0000b\", \"sha256\": \""
            SHA_A "\", \"size\": 1},]}", "not valid JSON");
    refused("[" FILES "]", "not a JSON object");
    refused("", "not valid JSON");
}

/* SHA256SUMS is compared with the records as it is read, in any pieces. */
static void sums_agree_in_pieces(void **state)
{
    struct manifest_doc d;
    struct manifest_sums ms;
    struct err e;
    const char *text = "{" HEAD_KEYS ", \"files\": " FILES "}";
    const char *sums = SHA_A "  config/a.json\n" SHA_B "  state/b]\"{c.json\n" SHA_C
                       "  state/chain.jsonl\n";
    size_t n = strlen(sums);

    (void)state;
    assert_int_equal(read_text(text, &d, &e), 0);
    for (size_t cut = 0; cut <= n; cut++) {
        manifest_sums_begin(&ms, &d);
        manifest_sums_feed(&ms, sums, cut);
        manifest_sums_feed(&ms, sums + cut, n - cut);
        assert_true(manifest_sums_end(&ms));
        manifest_sums_begin(&ms, &d);
        manifest_sums_feed(&ms, sums, cut);
        assert_int_equal(manifest_sums_end(&ms), cut == n);
    }
    manifest_doc_free(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(records_as_our_writer_lays_it_out),
        cmocka_unit_test(other_layouts_give_the_same_records),
        cmocka_unit_test(nested_files_are_not_the_list),
        cmocka_unit_test(a_second_list_or_bad_part_is_refused),
        cmocka_unit_test(sums_agree_in_pieces),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
