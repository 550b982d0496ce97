/* fuzz_zip.c - archive validation (import/restore/verify) on hostile zips. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../../engine/archive.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int fd = memfd_create("fuzz.zip", 0);
    char path[64];
    struct archive *a = NULL;
    struct err e = { 0 };

    if (fd < 0)
        return 0;
    if (write(fd, data, size) != (ssize_t)size) {
        close(fd);
        return 0;
    }
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    if (archive_open(&a, path, &e) == 0) {
        json_t *errors = json_array();
        if (archive_check_all(a, errors, &e) < 0 && e.code == ERR_NONE)
            abort();
        json_decref(errors);
        archive_close(a);
    } else if (e.msg[0] == '\0') {
        abort();
    }
    close(fd);
    return 0;
}
