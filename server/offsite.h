/* offsite.h - offsite copies in S3-compatible object storage: a small S3
 * client (libcurl, SigV4), sync/fetch/list/reindex operations, and the
 * server's periodic sync thread. */
#ifndef STATESNAP_OFFSITE_H
#define STATESNAP_OFFSITE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <jansson.h>

#include "../engine/engine.h"
#include "../common/err.h"
#include "../routes/prom.h"
#include "config.h"

#define OFFSITE_ACCESS_KEY_ENV "STATESNAP_OFFSITE_ACCESS_KEY"
#define OFFSITE_SECRET_KEY_ENV "STATESNAP_OFFSITE_SECRET_KEY"
#define OFFSITE_SESSION_TOKEN_ENV "STATESNAP_OFFSITE_SESSION_TOKEN"
#define OFFSITE_TOKEN_MAX 4096   /* STS/SSO session tokens run to ~2 KiB */
#define OFFSITE_INTERVAL_DEFAULT (7L * 86400)     /* weekly */
#define OFFSITE_MULTIPART_ABOVE (64LL << 20)      /* archives larger than this go in parts */
#define OFFSITE_PART_BYTES (16u << 20)            /* one part, held in memory while sent */
#define OFFSITE_MAX_PARTS 10000                   /* S3's limit: 160 GB at 16 MiB */
#define OFFSITE_URL_MAX 2048
#define OFFSITE_PREFIX_MAX 512
#define OFFSITE_KEY_MAX 256
#define OFFSITE_RESPONSE_MAX (1u << 20)           /* XML kept from one response (a list page) */
#define OFFSITE_CONNECT_TIMEOUT_S 10
#define OFFSITE_SMALL_TIMEOUT_S 60                /* HEAD, list, multipart bookkeeping */
#define OFFSITE_LOW_SPEED_S 60                    /* a transfer under 1 byte/s this long fails */
#define OFFSITE_ATTEMPTS 2                        /* tries per request within a round */
#define OFFSITE_RETRY_MS 300
#define OFFSITE_RETRY_MIN_S 60                    /* after a failed round: 60 s, doubling, */
                                                  /* never past the interval */
#define OFFSITE_ACTOR "offsite"

struct offsite;

/* Check an "offsite" config object completely (what offsite_open checks),
 * with the keys possibly from the environment. NULL (no section) is fine.
 * Returns 0 or -1 with ERR_INVALID naming the key (never a key's value). */
int offsite_check(const json_t *offsite, struct err *e);

/* Parse cfg->offsite into a client. ERR_INVALID when there is no "offsite"
 * section ("offsite copy is not configured") or it is bad. Free with
 * offsite_close (which wipes the keys). */
int offsite_open(struct offsite **out, const struct config *cfg, struct err *e);

/* Close. Accepts NULL. */
void offsite_close(struct offsite *o);

/* One sync round: every snapshot not yet synced is uploaded (single PUT with
 * Content-MD5 and x-amz-checksum-sha256, or multipart in OFFSITE_PART_BYTES
 * parts with each part's Content-MD5), confirmed with HEAD, and marked
 * synced; a failure marks that snapshot failed with the error and goes on.
 * Local files are only read. *report = {uploaded:[..], already:[..],
 * failed:[{name, error}]}. Returns 0, or -1 with e naming the first failure
 * (ERR_IO) when any snapshot failed; *report is set either way unless the
 * round could not start. Caller decrefs. */
int offsite_sync(struct offsite *o, struct store *s, json_t **report, struct err *e);

/* The offsite status of the store: settings (never the keys), counts per
 * state, last success, and the failed snapshots with their errors. */
int offsite_status(struct offsite *o, struct store *s, json_t **doc, struct err *e);

/* The archives under the prefix: {objects:[{name, key, size, last_modified,
 * sha256, catalog_state}]}; sha256 comes from each object's metadata (HEAD). */
int offsite_list(struct offsite *o, struct store *s, json_t **doc, struct err *e);

/* Bring back NAME's archive when it is missing locally: download it to
 * .work, verify every hash (engine_adopt_archive) and put it in place.
 * *fetched is 1 when a download happened, 0 when the archive was already
 * there. ERR_NOT_FOUND when NAME is not catalogued or not offsite. */
int offsite_fetch(struct offsite *o, struct store *s, const char *name, int *fetched,
                  struct err *e);

/* Download every archive under the prefix that the store lacks, verify each
 * completely, adopt it (catalogued) or import it (not), rebuild the catalog
 * from the archives, and mark what the bucket holds as synced.
 * *report = {downloaded:[..], present:[..], skipped:[{key, problem}], indexed}. */
int offsite_reindex(struct offsite *o, struct store *s, json_t **report, struct err *e);

/* What the server's sync thread reads from an open client. Cannot fail. */
long offsite_interval(const struct offsite *o);
int offsite_sync_after_create(const struct offsite *o);
void offsite_describe(const struct offsite *o, char *endpoint, size_t elen, char *bucket,
                      size_t blen, char *prefix, size_t plen);

/* Transfers and rounds stop early once *abort is set (NULL: never). Cannot fail. */
void offsite_set_abort(struct offsite *o, const atomic_int *abort);

#endif
