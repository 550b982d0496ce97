/* lock.c - bucket deletes that respect S3 Object Lock: the catalog's record
 * of each copy's retention is asked first (a locked copy is never asked to
 * go), and a server's refusal is an answer, not a failure to retry. */
#include "lock.h"

#include <stdio.h>

#include "../db/offsite.h"
#include "../engine/engine.h"

int offsite_delete_unless_locked(struct offsite *o, struct catalog *cat, const char *name,
                                 const char *key, char *why, size_t wlen, struct err *e)
{
    struct catalog_offsite_lock lk;
    struct err le = { 0 };
    int refused = 0;

    why[0] = '\0';
    if (catalog_offsite_lock_get(cat, name, &lk, &le) == 0 && lk.retain_until > engine_now()) {
        char until[32];
        engine_time_format(lk.retain_until, until, sizeof(until));
        snprintf(why, wlen, "kept offsite: locked until %s (%s)", until, lk.mode);
        return 1;
    }
    if (le.code != ERR_NONE && le.code != ERR_NOT_FOUND) {
        *e = le;
        return -1;
    }
    if (s3_delete_object(o->s3, key, &refused, e) == 0)
        return 0;
    if (!refused)
        return -1;
    err_clear(e);
    snprintf(why, wlen, "kept offsite: the bucket refused the delete (AccessDenied: Object Lock "
                        "or the bucket policy)");
    return 1;
}
