/* fuzz_config.c - config parsing: any text gives a config or a clear error. */
#include <stdint.h>
#include <stdlib.h>

#include "../../conf/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct config c;
    struct err e = { 0 };

    if (config_parse_text(&c, (const char *)data, size, &e) != 0 && e.msg[0] == '\0')
        abort();
    config_free(&c);
    return 0;
}
