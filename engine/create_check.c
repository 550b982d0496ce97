/* create_check.c - a create's archive read back before it is kept: the
 * read-back that verify, restore, import and reindex would do. */
#include "create_zip.h"

#include <stdint.h>
#include <zip.h>

#include "archive.h"
#include "manifest.h"

#define CREATE_REHASH_MAX (64u << 20)      /* streamed files re-hashed from the archive up to this */

/* Read the finished archive back the way verify, restore, import and
 * reindex will: its structure and manifest, every entry's size and CRC in
 * the central directory against the bytes that were read, and the small
 * files hashed again whole. create never reports an archive they refuse. */
int create_zip_check(struct create_ctx *cc, const char *tmp)
{
    struct archive *a = NULL;
    struct err ae = { 0 };
    uint64_t fd_bytes = 0;
    int rc = -1;

    if (archive_open(&a, tmp, &ae) != 0)
        goto bad;
    for (size_t i = 0; i < cc->cap.n; i++) {
        const struct cut_file *c = &cc->cut.files[i];
        if (c->present && !cut_in_memory(c))
            fd_bytes += c->limit;
    }
    for (size_t i = 0; i < cc->cap.n; i++) {
        const struct cut_file *c = &cc->cut.files[i];
        uint64_t size;
        uint32_t crc;
        if (!c->present)
            continue;
        if (archive_entry_stat(a, c->cf->rel, &size, &crc, &ae) != 0)
            goto bad;
        if (size != c->limit || crc != (cut_in_memory(c) ? c->crc : cc->srcs[i].crc)) {
            err_set(&ae, ERR_VERIFY, "%.200s: the archive's size or CRC differs from what was read",
                    c->cf->rel);
            goto bad;
        }
        if ((cut_in_memory(c) || fd_bytes <= CREATE_REHASH_MAX) &&
            archive_stream(a, c->cf->rel, NULL, NULL, &ae) != 0)
            goto bad;
    }
    if (cc->env_masked != NULL && archive_stream(a, MANIFEST_ENV_ENTRY, NULL, NULL, &ae) != 0)
        goto bad;
    rc = 0;
    goto out;
bad:
    err_set(cc->e, ERR_IO, "the archive just written does not check out, so it was not kept: %s",
            ae.msg);
out:
    archive_close(a);
    return rc;
}
