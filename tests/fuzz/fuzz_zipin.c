/* fuzz_zipin.c - the central directory walk (engine/zipin.c) on hostile
 * bytes: every entry it reports, and every data offset it finds, lies
 * within the file; a refusal always says why. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../../engine/zipin.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct walk {
    int fd;
    size_t size;
    size_t n;
};

static int each(void *ctx, const struct zipin_entry *en)
{
    struct walk *w = ctx;
    struct err e = { 0 };
    uint64_t at;
    unsigned char buf[64];

    w->n++;
    if (en->name_len > 0xffff || en->name[en->name_len] != '\0')
        abort();
    if (zipin_data_at(w->fd, en, &at, &e) == 0) {
        if (at > w->size || en->comp_size > w->size - at)
            abort();
        /* The first bytes of the data are there to read. */
        size_t k = en->comp_size < sizeof(buf) ? (size_t)en->comp_size : sizeof(buf);
        if (zipin_pread(w->fd, buf, k, at, &e) != 0)
            abort();
    } else if (e.msg[0] == '\0') {
        abort();
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct walk w = { memfd_create("fuzz.zip", 0), size, 0 };
    struct err e = { 0 };

    if (w.fd < 0)
        return 0;
    if (write(w.fd, data, size) == (ssize_t)size && zipin_each(w.fd, each, &w, &e) != 0 &&
        e.msg[0] == '\0')
        abort();
    close(w.fd);
    return 0;
}
