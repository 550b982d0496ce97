/* fuzz_zipin.c - the central directory walk and the entry reader
 * (engine/zipin.c) on hostile bytes: every entry it reports, and every data
 * offset it finds, lies within the file; a read never gives more than the
 * entry's size, ends only at exactly its size, and a refusal always says why. */
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
    struct zipin_rd rd;
    uint64_t budget;            /* bytes left to inflate for this input */
};

/* Read en through the reader: at most its size, and the end only at it. */
static void read_entry(struct walk *w, const struct zipin_entry *en)
{
    static unsigned char out[4096];
    struct err e = { 0 };
    uint64_t got = 0;
    ssize_t r = 0;

    if (zipin_rd_start(&w->rd, en, &e) != 0) {
        if (e.msg[0] == '\0')
            abort();
        return;
    }
    while (w->budget > 0 && (r = zipin_rd_read(&w->rd, out, sizeof(out), &e)) > 0) {
        got += (uint64_t)r;
        w->budget = w->budget > (uint64_t)r ? w->budget - (uint64_t)r : 0;
        if (got > en->size)
            abort();
    }
    if (w->budget == 0)
        return;
    if (r == 0 && got != en->size)
        abort();
    if (r < 0 && e.msg[0] == '\0')
        abort();
}

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
        if (w->rd.in != NULL)
            read_entry(w, en);
    } else if (e.msg[0] == '\0') {
        abort();
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct walk w = { .fd = memfd_create("fuzz.zip", 0), .size = size, .budget = 8u << 20 };
    struct err e = { 0 };

    if (w.fd < 0)
        return 0;
    if (zipin_rd_init(&w.rd, w.fd, &e) != 0)
        w.rd.in = NULL;
    if (write(w.fd, data, size) == (ssize_t)size && zipin_each(w.fd, each, &w, &e) != 0 &&
        e.msg[0] == '\0')
        abort();
    zipin_rd_free(&w.rd);
    close(w.fd);
    return 0;
}
