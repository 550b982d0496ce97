/* fuzz_manifest.c - manifest.json validation. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../engine/manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *m = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
    struct err e = { 0 };

    if (m == NULL)
        return 0;
    if (manifest_validate(m, &e) == 0) {
        const json_t *files = json_object_get(m, "files"), *f;
        size_t i, cap = 1, len = 0;
        /* Every accepted path is safe to join under a directory. */
        json_array_foreach(files, i, f) {
            if (!manifest_path_safe(json_string_value(json_object_get(f, "path"))))
                abort();
            cap += 64 + 2 + strlen(json_string_value(json_object_get(f, "path"))) + 1;
        }
        /* Its SHA256SUMS agrees, and the same with one byte changed does not. */
        char *sums = malloc(cap);
        if (sums == NULL)
            abort();
        json_array_foreach(files, i, f)
            len += (size_t)snprintf(sums + len, cap - len, "%s  %s\n",
                                    json_string_value(json_object_get(f, "sha256")),
                                    json_string_value(json_object_get(f, "path")));
        if (!manifest_sums_agree(m, sums, len) || (len > 0 && manifest_sums_agree(m, sums, len - 1)))
            abort();
        if (len > 0) {
            sums[len / 2] ^= 0x01;
            if (manifest_sums_agree(m, sums, len))
                abort();
        }
        free(sums);
    } else if (e.code != ERR_VERIFY && e.code != ERR_IO) {
        abort();
    }
    json_decref(m);
    return 0;
}
