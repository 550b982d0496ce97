/* fuzz_jsondiff.c - the structural diff of two JSON documents (split at the first NUL). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../engine/diff.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *sep = memchr(data, 0, size);
    json_t *a, *b, *changes;

    if (sep == NULL)
        return 0;
    a = json_loadb((const char *)data, (size_t)(sep - data), JSON_DECODE_ANY, NULL);
    b = json_loadb((const char *)sep + 1, size - (size_t)(sep - data) - 1, JSON_DECODE_ANY, NULL);
    if (a != NULL && b != NULL && (changes = json_array()) != NULL) {
        int cut = diff_json(a, b, changes, 50);
        if (cut < 0 || json_array_size(changes) > 50)
            abort();
        /* Equal documents have no changes, and a document equals itself. */
        if (json_equal(a, b) && json_array_size(changes) != 0)
            abort();
        json_array_clear(changes);
        if (diff_json(a, a, changes, 50) != 0 || json_array_size(changes) != 0)
            abort();
        json_decref(changes);
    }
    json_decref(a);
    json_decref(b);
    return 0;
}
