/* drill_schedule.h - the server's periodic restore drill: every
 * drill_interval a background job drills the newest snapshot (engine_drill). */
#ifndef STATESNAP_DRILL_SCHEDULE_H
#define STATESNAP_DRILL_SCHEDULE_H

#include <jansson.h>

#include "../common/err.h"
#include "../routes/prom.h"
#include "../conf/config.h"

#define DRILL_SCHEDULE_ACTOR "drill-scheduler"

/* When cfg->drill_interval > 0, start the drill job with a copy of
 * cfg->engine (its event sinks included, so failures alert). The first drill
 * is one interval after the newest recorded drill, or at once when there is
 * none or it is overdue; runs then keep their phase. Call with the server's
 * signals blocked. Returns 0 (also when off) or -1 with *e. */
int drill_schedule_start(const struct config *cfg, struct err *e);

/* Start no new drill, wait for one in progress, join the thread. Safe to
 * call when nothing was started. Cannot fail. */
void drill_schedule_stop(void);

/* {enabled, interval_seconds, running, last_start, last_end, last_result,
 * last_error, last_snapshot, next_run} (openapi.yaml DrillSchedule).
 * Caller decrefs; NULL on OOM. */
json_t *drill_schedule_status(void);

/* Write statesnap_drill_interval_seconds. Returns 0 or -1. */
int drill_schedule_render_metrics(struct prom_text *f);

#endif
