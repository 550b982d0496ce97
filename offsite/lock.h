/* lock.h - deleting a bucket object only when S3 Object Lock allows it:
 * what any offsite code that removes a copy goes through. */
#ifndef STATESNAP_OFFSITE_LOCK_H
#define STATESNAP_OFFSITE_LOCK_H

#include <stddef.h>

#include "../common/err.h"
#include "../db/catalog.h"
#include "client.h"

/* Delete key (an object of snapshot NAME) unless it is locked: by the
 * catalog's record (retain-until still in the future: nothing is sent), or
 * by the server (403 AccessDenied to the DELETE: not retried). Returns 0
 * when deleted; 1 when kept, with why = "kept offsite: locked until DATE
 * (MODE)" or "kept offsite: the bucket refused the delete (AccessDenied:
 * Object Lock or the bucket policy)"; -1 with e on any other failure. */
int offsite_delete_unless_locked(struct offsite *o, struct catalog *cat, const char *name,
                                 const char *key, char *why, size_t wlen, struct err *e);

#endif
