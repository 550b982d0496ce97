/* offsite_job.h - the server's offsite sync thread (start/stop/status/wake)
 * and its fetch-before-restore. */
#ifndef STATESNAP_OFFSITE_JOB_H
#define STATESNAP_OFFSITE_JOB_H

#include <jansson.h>

#include "../common/err.h"
#include "../routes/prom.h"
#include "../conf/config.h"
#include "../offsite/client.h"

/* With an "offsite" section, start the sync thread (first round at once,
 * then every interval; after a failed round sooner, with backoff) and, with
 * sync_after_create, hook cfg->engine.on_event so a create wakes it (the
 * previous hook, alerts, still runs). Call after alerts_start and before
 * anything copies cfg->engine. Returns 0 (also when not configured) or -1. */
int offsite_start(struct config *cfg, struct err *e);

/* Ask the thread for a round now. Returns 0, or -1 when offsite is off. */
int offsite_sync_now(void);

/* For the server's restore: when offsite runs and NAME's archive is missing
 * locally, offsite_fetch it (every hash verified). 0 when there is nothing
 * to do or it was fetched; -1 with e otherwise. Thread-safe. */
int offsite_fetch_missing(struct store *s, const char *name, struct err *e);

/* Stop the thread (a transfer in progress is cut short; the snapshot stays
 * pending or failed for the next start). Safe when not started. */
void offsite_stop(void);

/* The thread's status {enabled, running, interval_seconds, sync_after_create,
 * endpoint, bucket, prefix, last_start, last_end, last_result, last_error,
 * next_run, rounds}. Caller decrefs; NULL on OOM. */
json_t *offsite_thread_status(void);

/* Write statesnap_offsite_enabled and statesnap_offsite_rounds_total. Returns 0 or -1. */
int offsite_render_metrics(struct prom_text *f);

#endif
