/* sync.h - the offsite sync policy: one round (upload what is not yet
 * offsite, re-check what the catalog calls synced) and the status report. */
#ifndef STATESNAP_OFFSITE_SYNC_H
#define STATESNAP_OFFSITE_SYNC_H

#include <jansson.h>

#include "../common/err.h"
#include "../engine/engine.h"
#include "client.h"

#define OFFSITE_MULTIPART_ABOVE (64LL << 20)      /* archives larger than this go in parts */
#define OFFSITE_RETRY_MIN_S 60                    /* after a failed round: 60 s, doubling, */
                                                  /* never past the interval */

/* One sync round: every synced copy is first re-checked against the bucket
 * (one that is gone or replaced goes back to pending, is alerted and listed
 * in "lost"); then every snapshot not yet synced is uploaded (single PUT
 * with Content-MD5 and x-amz-checksum-sha256, or multipart above
 * OFFSITE_MULTIPART_ABOVE), confirmed with HEAD, its manifest put beside
 * it, and marked synced; a failure marks that snapshot failed with the
 * error and goes on. A bucket that cannot be listed fails the round and
 * every waiting snapshot. *report = {uploaded:[..], already:[..],
 * failed:[{name, error}], lost:[{name, problem}], checked}. Returns 0, or -1
 * with e naming the first failure (ERR_IO) when any snapshot failed;
 * *report is set either way unless the round could not start. Caller
 * decrefs. */
int offsite_sync(struct offsite *o, struct store *s, json_t **report, struct err *e);

/* The offsite status of the store: settings (never the keys), counts per
 * state, last success, and the failed snapshots with their errors.
 * Returns 0 or -1 with e. Caller decrefs *doc. */
int offsite_status(struct offsite *o, struct store *s, json_t **doc, struct err *e);

/* The copies still under S3 Object Lock by the catalog's record (what
 * status shows as locked_copies): [{name, mode, retain_until,
 * archive_sha256, local}], soonest expiry first; local is false once the
 * snapshot was pruned or deleted here (its copy stays in the bucket).
 * Returns a new array, or NULL with e. */
json_t *offsite_locked_copies(struct catalog *cat, struct err *e);

#endif
