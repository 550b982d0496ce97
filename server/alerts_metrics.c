/* alerts_metrics.c - the alert counters (alerts/) as Prometheus text. */
#include "alerts_metrics.h"

#include "../alerts/alerts.h"

int alerts_render_metrics(struct prom_text *f)
{
    struct alerts_counters c;

    alerts_read_counters(&c);
    prom_puts(f, "# HELP statesnap_alerts_total Alerts delivered (success) or given up after every "
                 "retry (failure), by channel.\n# TYPE statesnap_alerts_total counter\n");
    for (int ch = 0; ch < ALERTS_CHANNELS; ch++) {
        for (int r = 0; r < 2; r++) {
            prom_puts(f, "statesnap_alerts_total{channel=\"");
            prom_puts(f, alerts_channel_name(ch));
            prom_sample(f, r == 0 ? "\",result=\"success\"} " : "\",result=\"failure\"} ",
                        (int64_t)c.delivered[ch][r]);
        }
    }
    prom_sample(f, "# HELP statesnap_alerts_dropped_total Alerts never sent: the queue was "
                   "full, or the process stopped first.\n"
                   "# TYPE statesnap_alerts_dropped_total counter\n"
                   "statesnap_alerts_dropped_total ", (int64_t)c.dropped);
    prom_sample(f, "# HELP statesnap_alerts_queued Alerts waiting or being sent.\n"
                   "# TYPE statesnap_alerts_queued gauge\nstatesnap_alerts_queued ",
                (int64_t)c.queued);
    return f->failed ? -1 : 0;
}
