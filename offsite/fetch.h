/* fetch.h - bringing archives back from the offsite bucket. */
#ifndef STATESNAP_OFFSITE_FETCH_H
#define STATESNAP_OFFSITE_FETCH_H

#include <jansson.h>

#include "../common/err.h"
#include "../engine/engine.h"
#include "client.h"

/* Bring back NAME's archive when it is missing locally: download it to
 * .work, verify every hash (engine_adopt_archive) and put it in place; a
 * NAME only in the bucket is imported (it must be the snapshot its manifest
 * names) and marked synced. *fetched is 1 when a download happened, 0 when
 * the archive was already there. Returns 0, or -1 with e (ERR_NOT_FOUND
 * when NAME is neither catalogued nor offsite, ERR_VERIFY on a bad copy). */
int offsite_fetch(struct offsite *o, struct store *s, const char *name, int *fetched,
                  struct err *e);

/* Before a restore (both fronts call this): with an "offsite" section, a
 * valid NAME the catalog knows and no local archive, open the client and
 * offsite_fetch it. Anything else is left to the restore and returns 0 with
 * *fetched 0. Returns 0, or -1 with e from the fetch. */
int offsite_fetch_if_missing(const json_t *section, struct store *s, const char *name,
                             int *fetched, struct err *e);

/* Download every archive under the prefix that the store lacks, verify each
 * completely, adopt it (catalogued) or import it (not), rebuild the catalog
 * from the archives, and mark what the bucket holds as synced. flags as
 * engine_reindex's (ENGINE_ALLOW_UNSIGNED: also archives no trusted key signed).
 * *report = {downloaded:[..], present:[..], skipped:[{key, problem}], indexed}.
 * Returns 0 or -1 with e. Caller decrefs. */
int offsite_reindex(struct offsite *o, struct store *s, unsigned flags, json_t **report,
                    struct err *e);

#endif
