/* fuzz_manifest.c - manifest.json read as records (manifest_read): what it
 * accepts is valid JSON whose files[] are exactly its records, and the same
 * manifest laid out by jansson gets the same verdict (the split of the text
 * into parts agrees with a parse of the whole). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../engine/manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Its SHA256SUMS agrees, and the same with one byte changed or one short does not. */
static void check_sums(const struct manifest_doc *d)
{
    size_t cap = 1, len = 0;
    struct manifest_sums ms;
    char *sums;

    for (size_t i = 0; i < d->n; i++)
        cap += 64 + 2 + strlen(d->files[i].path) + 1;
    if ((sums = malloc(cap)) == NULL)
        abort();
    for (size_t i = 0; i < d->n; i++)
        len += (size_t)snprintf(sums + len, cap - len, "%s  %s\n", d->files[i].sha256,
                                d->files[i].path);
    manifest_sums_begin(&ms, d);
    manifest_sums_feed(&ms, sums, len);
    if (!manifest_sums_end(&ms))
        abort();
    if (len > 0) {
        manifest_sums_begin(&ms, d);
        manifest_sums_feed(&ms, sums, len - 1);
        if (manifest_sums_end(&ms))
            abort();
        sums[len / 2] ^= 0x01;
        manifest_sums_begin(&ms, d);
        manifest_sums_feed(&ms, sums, len / 2);
        manifest_sums_feed(&ms, sums + len / 2, len - len / 2);
        if (manifest_sums_end(&ms))
            abort();
    }
    free(sums);
}

/* The records are the whole tree's files[], in order. */
static void check_records(const struct manifest_doc *d, const json_t *whole)
{
    const json_t *files = json_object_get(whole, "files"), *f;
    size_t i;

    if (json_array_size(files) != d->n)
        abort();
    json_array_foreach(files, i, f) {
        const struct manifest_file *r = &d->files[i];
        if (strcmp(r->path, json_string_value(json_object_get(f, "path"))) != 0 ||
            r->size != (uint64_t)json_integer_value(json_object_get(f, "size")) ||
            strcmp(r->sha256, json_string_value(json_object_get(f, "sha256"))) != 0 ||
            strcmp(r->group, json_string_value(json_object_get(f, "group"))) != 0 ||
            !manifest_path_safe(r->path) || manifest_doc_find(d, r->path) != r)
            abort();
    }
    if (json_array_size(json_object_get(d->head, "files")) != 0)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct manifest_doc d, d2;
    struct err e = { 0 }, e2 = { 0 };
    json_t *whole = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
    int ok = manifest_read((const char *)data, size, &d, &e) == 0;
    char *text;

    if (ok) {
        if (whole == NULL)
            abort();
        check_records(&d, whole);
        check_sums(&d);
    } else if (e.code != ERR_VERIFY && e.code != ERR_IO) {
        abort();
    }
    if (whole != NULL && (text = json_dumps(whole, JSON_INDENT(2) | JSON_SORT_KEYS)) != NULL) {
        int ok2 = manifest_read(text, strlen(text), &d2, &e2) == 0;
        if (ok2 != ok && e.code != ERR_IO && e2.code != ERR_IO)
            abort();
        if (ok2)
            manifest_doc_free(&d2);
        free(text);
    }
    if (ok)
        manifest_doc_free(&d);
    json_decref(whole);
    return 0;
}
