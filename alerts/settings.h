/* settings.h - the "alerts" section of statesnap.json, parsed and checked
 * once, and which events it asks for. */
#ifndef STATESNAP_ALERTS_SETTINGS_H
#define STATESNAP_ALERTS_SETTINGS_H

#include <stddef.h>
#include <jansson.h>

#include "../common/err.h"

#define ALERTS_TIMEOUT_MS_DEFAULT 5000     /* one delivery attempt, connect included */
#define ALERTS_TIMEOUT_MS_MIN 100
#define ALERTS_TIMEOUT_MS_MAX 60000
#define ALERTS_RETRIES_DEFAULT 3           /* attempts after the first */
#define ALERTS_RETRIES_MAX 10
#define ALERTS_URL_MAX 2048
#define ALERTS_BOT_TOKEN_MAX 256
#define ALERTS_CHAT_ID_MAX 128
#define ALERTS_TELEGRAM_API "https://api.telegram.org"
#define ALERTS_TOKEN_ENV "STATESNAP_TELEGRAM_BOT_TOKEN"

struct alerts_settings {
    char *webhook_url;           /* may carry a secret path: never logged */
    char *telegram_url;          /* holds the bot token: never logged, wiped when freed */
    size_t telegram_url_len;
    json_t *chat_id;
    unsigned on_ops;             /* bit i = the i-th operation "on" may name */
    int on_failures, on_all;
    long timeout_ms;
    int retries;
};

/* Parse and check an "alerts" object into *st (overwritten): unknown keys,
 * types, URLs, the "on" list; the Telegram bot token may come from
 * $STATESNAP_TELEGRAM_BOT_TOKEN. Returns 0, or -1 with ERR_INVALID naming
 * the key (never a secret's value) or ERR_IO. Call alerts_settings_clear
 * either way. */
int alerts_settings_parse(const json_t *section, struct alerts_settings *st, struct err *e);

/* Wipe the bot token and free what st owns. Accepts NULL; cannot fail. */
void alerts_settings_clear(struct alerts_settings *st);

/* 1 when the "on" list asks for this engine event, else 0. Cannot fail. */
int alerts_settings_wants(const struct alerts_settings *st, const json_t *event);

#endif
