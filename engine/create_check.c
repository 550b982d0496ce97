/* create_check.c - a create's archive read back before it is kept: the
 * read-back that verify, restore, import and reindex would do, against
 * 24 bytes a file of what was read (the cut and its sources are freed by
 * then: a root of many files does not hold them beside the archive's own). */
#include "create_zip.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "archive.h"
#include "manifest.h"

#define CREATE_REHASH_MAX (64u << 20)      /* streamed files re-hashed from the archive up to this */

static uint32_t path_crc(const char *p)
{
    return (uint32_t)crc32(crc32(0L, Z_NULL, 0), (const Bytef *)p, (uInt)strlen(p));
}

int create_readback_take(const struct create_ctx *cc, struct create_readback *rb, struct err *e)
{
    size_t n = 0;

    memset(rb, 0, sizeof(*rb));
    for (size_t i = 0; i < cc->cap.n; i++)
        n += cc->cut.files[i].present ? 1 : 0;
    if ((rb->files = calloc(n + 1, sizeof(*rb->files))) == NULL)
        return err_set(e, ERR_IO, "out of memory");
    for (size_t i = 0; i < cc->cap.n; i++) {
        const struct cut_file *c = &cc->cut.files[i];
        struct create_read *r = &rb->files[rb->n];
        if (!c->present)
            continue;
        r->limit = c->limit;
        r->crc = cut_in_memory(c) ? c->crc : cc->srcs[i].crc;
        r->path_crc = path_crc(c->cf->rel);
        r->in_memory = (unsigned char)cut_in_memory(c);
        if (!r->in_memory)
            rb->fd_bytes += c->limit;
        rb->n++;
    }
    rb->has_env = cc->env_masked != NULL;
    return 0;
}

void create_readback_free(struct create_readback *rb)
{
    free(rb->files);
    memset(rb, 0, sizeof(*rb));
}

/* Read the finished archive back the way verify, restore, import and
 * reindex will: its structure and manifest, the manifest's files in the
 * order they were captured (path, size) with every entry's size and CRC in
 * the central directory against the bytes that were read, and the small
 * files hashed again whole. create never reports an archive they refuse. */
int create_zip_check(struct create_ctx *cc, const struct create_readback *rb, const char *tmp,
                     struct archive **out)
{
    struct archive *a = NULL;
    struct err ae = { 0 };

    *out = NULL;
    if (archive_open(&a, tmp, &ae) != 0)
        goto bad;
    if (archive_n_files(a) != rb->n + (rb->has_env ? 1 : 0)) {
        err_set(&ae, ERR_VERIFY, "its manifest lists %zu files, %zu were written",
                archive_n_files(a), rb->n + (rb->has_env ? 1 : 0));
        goto bad;
    }
    for (size_t i = 0; i < rb->n; i++) {
        const struct create_read *r = &rb->files[i];
        const struct manifest_file *f = archive_file(a, i);
        uint64_t size;
        uint32_t crc;
        if (path_crc(f->path) != r->path_crc || f->size != r->limit) {
            err_set(&ae, ERR_VERIFY, "%.200s: not the file captured at its place in the manifest",
                    f->path);
            goto bad;
        }
        if (archive_entry_stat(a, f->path, &size, &crc, &ae) != 0)
            goto bad;
        if (size != r->limit || crc != r->crc) {
            err_set(&ae, ERR_VERIFY, "%.200s: the archive's size or CRC differs from what was read",
                    f->path);
            goto bad;
        }
        if ((r->in_memory || rb->fd_bytes <= CREATE_REHASH_MAX) &&
            archive_stream(a, f->path, NULL, NULL, &ae) != 0)
            goto bad;
    }
    if (rb->has_env && (strcmp(archive_file(a, rb->n)->path, MANIFEST_ENV_ENTRY) != 0 ||
                        archive_stream(a, MANIFEST_ENV_ENTRY, NULL, NULL, &ae) != 0)) {
        err_set(&ae, ERR_VERIFY, "the masked %s is not where it was written", MANIFEST_ENV_ENTRY);
        goto bad;
    }
    *out = a;
    return 0;
bad:
    archive_close(a);
    return err_set(cc->e, ERR_IO, "the archive just written does not check out, so it was not kept: %s",
                   ae.msg);
}
