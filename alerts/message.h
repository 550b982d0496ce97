/* message.h - what an alert says: a human summary and the webhook body. */
#ifndef STATESNAP_ALERTS_MESSAGE_H
#define STATESNAP_ALERTS_MESSAGE_H

#include <stddef.h>
#include <jansson.h>

#define ALERTS_TEXT_MAX 3500               /* Telegram allows 4096 characters */
#define ALERTS_BODY_MAX (256u << 10)       /* webhook JSON; per-file details are cut beyond */

/* A summary being written; cut (and marked so) at ALERTS_TEXT_MAX. */
struct alerts_text {
    char buf[ALERTS_TEXT_MAX + 1];
    size_t len;
    int cut;
};

/* The human summary of an engine event (Telegram's text and the webhook's
 * "summary") into *t, always NUL-terminated valid UTF-8. Cannot fail. */
void alerts_summarize(const json_t *event, struct alerts_text *t);

/* The webhook body: the event plus "source", "summary" and, for a restore,
 * "files_restored"; the per-file list is dropped past ALERTS_BODY_MAX.
 * Caller frees the string; NULL on OOM. */
char *alerts_webhook_body(const json_t *event, const struct alerts_text *t);

#endif
