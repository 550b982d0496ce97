/* alerts_metrics.h - the alert counters in the server's /metrics. */
#ifndef STATESNAP_ALERTS_METRICS_H
#define STATESNAP_ALERTS_METRICS_H

#include "../routes/prom.h"

/* Write statesnap_alerts_total{channel,result}, statesnap_alerts_dropped_total
 * and statesnap_alerts_queued in Prometheus text format. Returns 0 or -1 on
 * a write error. */
int alerts_render_metrics(struct prom_text *f);

#endif
