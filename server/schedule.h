/* schedule.h - the server's periodic auto-snapshot: every schedule_interval a
 * background job creates a snapshot labelled reason=scheduled, then prunes. */
#ifndef STATESNAP_SCHEDULE_H
#define STATESNAP_SCHEDULE_H

#include <jansson.h>

#include "../common/err.h"
#include "../routes/prom.h"
#include "../conf/config.h"

#define SCHEDULE_ACTOR "scheduler"
#define SCHEDULE_LABEL_KEY "reason"
#define SCHEDULE_LABEL_VALUE "scheduled"

/* When cfg->schedule_interval > 0, start the scheduler job with a copy of
 * cfg->engine (its event sinks included). The first run is one interval after
 * the newest scheduled snapshot, or at once when there is none or it is
 * overdue; runs then keep their phase, skipping any that a slow run overlapped.
 * Call with the signals the server waits for already blocked. Returns 0 (also
 * when the schedule is off) or -1 with *e. */
int schedule_start(const struct config *cfg, struct err *e);

/* Start no new run, wait for one in progress to finish, join the thread.
 * Safe to call when nothing was started. Cannot fail. */
void schedule_stop(void);

/* The status document {enabled, interval_seconds, running, last_start,
 * last_end, last_result, last_error, last_snapshot, last_prune, next_run,
 * runs} (see openapi.yaml ScheduleStatus). Caller decrefs; NULL on OOM. */
json_t *schedule_status(void);

/* Write statesnap_schedule_* in Prometheus text format. Returns 0 or -1. */
int schedule_render_metrics(struct prom_text *f);

#endif
