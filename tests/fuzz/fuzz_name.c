/* fuzz_name.c - snapshot names and archive paths: never crash, and agree with the rules. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../engine/engine.h"
#include "../../engine/manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    struct err e = { 0 };

    if (s == NULL)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    if (engine_name_check(s, &e) == 0) {
        /* An accepted name can never be a path outside the store. */
        if (strchr(s, '/') || strstr(s, "..") == s || s[0] == '.' || strlen(s) > ENGINE_NAME_MAX)
            abort();
    }
    if (manifest_path_safe(s)) {
        if (s[0] == '/' || strstr(s, "/../") || strncmp(s, "../", 3) == 0 || strcmp(s, "..") == 0 ||
            strchr(s, '\\'))
            abort();
    }
    free(s);
    return 0;
}
