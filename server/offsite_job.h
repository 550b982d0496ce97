/* offsite_job.h - the server's offsite sync job (start/stop/status/wake, the
 * wake-up after a create) and its fetch-before-restore. */
#ifndef STATESNAP_OFFSITE_JOB_H
#define STATESNAP_OFFSITE_JOB_H

#include <jansson.h>

#include "../common/err.h"
#include "../routes/prom.h"
#include "../conf/config.h"
#include "../offsite/client.h"

/* With an "offsite" section, start the sync job (first round at once, then
 * every interval; after a failed round sooner, with backoff). Call with the
 * server's signals blocked. Returns 0 (also when not configured) or -1. */
int offsite_job_start(struct config *cfg, struct err *e);

/* The engine event sink (engine_sinks_add): a successful create asks for a
 * round when the job runs with sync_after_create; any other event is
 * ignored. ctx is unused. Cannot fail. */
void offsite_job_event_sink(void *ctx, const json_t *event);

/* Ask for a round now. Returns 0, or -1 when offsite is off. */
int offsite_job_sync_now(void);

/* For the server's restore: when offsite runs and NAME's archive is missing
 * locally, fetch it (offsite_fetch_if_missing, every hash verified). 0 when
 * there is nothing to do or it was fetched; -1 with e otherwise.
 * Thread-safe. */
int offsite_job_fetch_missing(struct store *s, const char *name, struct err *e);

/* Stop the job (a transfer in progress is cut short; the snapshot stays
 * pending or failed for the next start). Safe when not started. */
void offsite_job_stop(void);

/* The job's status {enabled, running, interval_seconds, sync_after_create,
 * endpoint, bucket, prefix, last_start, last_end, last_result, last_error,
 * next_run, rounds}, or {enabled: false}. Caller decrefs; NULL on OOM. */
json_t *offsite_job_status(void);

/* Write statesnap_offsite_enabled and statesnap_offsite_rounds_total. Returns 0 or -1. */
int offsite_job_render_metrics(struct prom_text *f);

#endif
