/* alerts.h - restore and failure alerts: engine events POSTed to a webhook
 * (JSON) and/or Telegram sendMessage by one background worker (libcurl). */
#ifndef STATESNAP_ALERTS_H
#define STATESNAP_ALERTS_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "../common/err.h"
#include "../engine/engine.h"
#include "settings.h"

#define ALERTS_QUEUE_MAX 64                /* events waiting; more are dropped and counted */
#define ALERTS_BACKOFF_MS 250              /* before the first retry; doubles, capped below */
#define ALERTS_BACKOFF_MAX_MS 4000
#define ALERTS_CLI_DRAIN_MS 10000          /* a CLI command waits this long for its alerts */
#define ALERTS_SHUTDOWN_DRAIN_MS 5000      /* the server, at SIGTERM */

/* alerts_start flags */
#define ALERTS_LOG_SUCCESS 1   /* log each delivered alert too (the server); failures always are */

/* The caller's structured log: level, message, fields (stolen, may be NULL). */
typedef void (*alerts_log_fn)(const char *level, const char *msg, json_t *fields);

/* Parse the "alerts" section (alerts_settings_parse) and, when a webhook or
 * Telegram is configured, start the worker thread; events reach it through
 * alerts_event_sink, which the composition root puts in the engine's sink
 * table. Without a section (NULL) nothing starts. Deliveries and failures
 * are logged through log (NULL: not logged). Call with the signals the
 * caller waits for already blocked. Returns 0, or -1 with ERR_INVALID
 * naming the key (never a secret's value) or ERR_IO. A second call is a
 * no-op. */
int alerts_start(const json_t *section, int flags, alerts_log_fn log, struct err *e);

/* The engine event sink (engine_sinks_add): alerts_enqueue(event); ctx is
 * unused. Cannot fail. */
void alerts_event_sink(void *ctx, const json_t *event);

/* Queue event (borrowed; copied) if it matches the "on" list. Never blocks
 * on the network: a full queue drops the alert and counts it. Cannot fail. */
void alerts_enqueue(const json_t *event);

/* Wait until every queued alert was delivered or given up, at most max_ms.
 * Returns 0 when nothing is left, -1 when time ran out. */
int alerts_drain(long max_ms);

/* Stop the worker (an attempt in progress is cut short), count what is
 * still queued as dropped, free everything and wipe the bot token. Safe to
 * call when alerts_start did not start anything. Cannot fail. */
void alerts_stop(void);

#define ALERTS_CHANNELS 2               /* 0 webhook, 1 telegram */

struct alerts_counters {
    uint64_t delivered[ALERTS_CHANNELS][2];   /* [channel][0 success, 1 failure] */
    uint64_t dropped;                         /* queue full, or stopped first */
    size_t queued;                            /* waiting or being sent */
};

/* The channel's name ("webhook", "telegram"). Cannot fail. */
const char *alerts_channel_name(int channel);

/* A snapshot of the counters (for /metrics). Cannot fail. */
void alerts_read_counters(struct alerts_counters *out);

#endif
