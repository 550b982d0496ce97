/* fuzz_envmask.c - .env masking: no value byte survives into the masked text. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../engine/envmask.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const unsigned char key[32] = { 7 };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *out = NULL;
    size_t len = 0;
    json_t *keys = NULL;
    struct err e = { 0 };

    if (envmask_apply((const char *)data, size, key, &out, &len, &keys, &e) != 0)
        return 0;
    /* Every output line is blank, a comment, or KEY=******** (maybe "export "). */
    for (char *line = out; line < out + len;) {
        char *nl = memchr(line, '\n', (size_t)(out + len - line));
        size_t ll = nl ? (size_t)(nl - line) : (size_t)(out + len - line);
        char *eq = memchr(line, '=', ll);
        size_t i = 0;
        while (i < ll && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r'))
            i++;
        if (i < ll && line[i] != '#') {
            if (eq == NULL || (size_t)(line + ll - eq) != 9 || memcmp(eq, "=********", 9) != 0)
                abort();
        }
        line += ll + 1;
    }
    free(out);
    json_decref(keys);
    return 0;
}
