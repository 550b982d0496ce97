/* fuzz_jsoncheck.c - jsoncheck_valid never vouches for a text jansson refuses. */
#include <stdint.h>
#include <stdlib.h>

#include <jansson.h>

#include "../../common/jsoncheck.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (jsoncheck_valid((const char *)data, size)) {
        json_t *j = json_loadb((const char *)data, size, JSON_DECODE_ANY, NULL);
        if (j == NULL)
            abort();
        json_decref(j);
    }
    return 0;
}
