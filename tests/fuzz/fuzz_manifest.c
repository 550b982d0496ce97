/* fuzz_manifest.c - manifest.json validation. */
#include <stdint.h>
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
        char *sums = manifest_sums_text(m);
        const json_t *files = json_object_get(m, "files"), *f;
        size_t i;
        /* Every accepted path is safe to join under a directory. */
        json_array_foreach(files, i, f)
            if (!manifest_path_safe(json_string_value(json_object_get(f, "path"))))
                abort();
        free(sums);
    } else if (e.code != ERR_VERIFY && e.code != ERR_IO) {
        abort();
    }
    json_decref(m);
    return 0;
}
