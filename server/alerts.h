/* alerts.h - restore and failure alerts: engine events POSTed to a webhook
 * (JSON) and/or Telegram sendMessage by one background worker (libcurl). */
#ifndef STATESNAP_ALERTS_H
#define STATESNAP_ALERTS_H

#include <stdio.h>
#include <jansson.h>

#include "../common/err.h"
#include "../routes/prom.h"
#include "config.h"

#define ALERTS_QUEUE_MAX 64                /* events waiting; more are dropped and counted */
#define ALERTS_TIMEOUT_MS_DEFAULT 5000     /* one delivery attempt, connect included */
#define ALERTS_TIMEOUT_MS_MIN 100
#define ALERTS_TIMEOUT_MS_MAX 60000
#define ALERTS_RETRIES_DEFAULT 3           /* attempts after the first */
#define ALERTS_RETRIES_MAX 10
#define ALERTS_BACKOFF_MS 250              /* before the first retry; doubles, capped below */
#define ALERTS_BACKOFF_MAX_MS 4000
#define ALERTS_URL_MAX 2048
#define ALERTS_BOT_TOKEN_MAX 256
#define ALERTS_CHAT_ID_MAX 128
#define ALERTS_TEXT_MAX 3500               /* Telegram allows 4096 characters */
#define ALERTS_BODY_MAX (256u << 10)       /* webhook JSON; per-file details are cut beyond */
#define ALERTS_CLI_DRAIN_MS 10000          /* a CLI command waits this long for its alerts */
#define ALERTS_SHUTDOWN_DRAIN_MS 5000      /* the server, at SIGTERM */
#define ALERTS_TELEGRAM_API "https://api.telegram.org"
#define ALERTS_TOKEN_ENV "STATESNAP_TELEGRAM_BOT_TOKEN"

/* alerts_start flags */
#define ALERTS_LOG_SUCCESS 1   /* log each delivered alert too (the server); failures always are */

/* Check an "alerts" config object completely (what alerts_start checks),
 * without starting anything. NULL (no section) is fine. Returns 0, or -1 with
 * ERR_INVALID naming the key (never a secret's value). */
int alerts_check(const json_t *alerts, struct err *e);

/* Validate cfg->alerts completely (unknown keys, types, URLs, the "on" list;
 * the Telegram bot token may come from $STATESNAP_TELEGRAM_BOT_TOKEN) and,
 * when a webhook or Telegram is configured, start the worker thread (events
 * reach it through alerts_event_sink, registered by the composition root).
 * Without an "alerts" section nothing starts. Call with the signals the
 * caller waits for already blocked. Returns 0, or -1 with ERR_INVALID naming the
 * key (never a secret's value) or ERR_IO. A second call is a no-op. */
int alerts_start(struct config *cfg, int flags, struct err *e);

/* Queue event (borrowed; copied) if it matches the "on" list. Never blocks
 * on the network: a full queue drops the alert and counts it. Cannot fail. */
void alerts_enqueue(const json_t *event);

/* The engine event sink (engine_sinks_add): alerts_enqueue(event); ctx is
 * unused. Cannot fail. */
void alerts_event_sink(void *ctx, const json_t *event);

/* Wait until every queued alert was delivered or given up, at most max_ms.
 * Returns 0 when nothing is left, -1 when time ran out. */
int alerts_drain(long max_ms);

/* Stop the worker (an attempt in progress is cut short), count what is
 * still queued as dropped, free everything and wipe the bot token. Safe to
 * call when alerts_start did not start anything. Cannot fail. */
void alerts_stop(void);

/* Write the alert counters (statesnap_alerts_total{channel,result},
 * statesnap_alerts_dropped_total, statesnap_alerts_queued) in Prometheus
 * text format. Returns 0 or -1 on a write error. */
int alerts_render_metrics(struct prom_text *f);

#endif
