/* message.c - what an alert says: the human summary (Telegram's text, the
 * webhook's "summary"), cut at a character boundary when too long, and the
 * webhook's JSON body. */
#include "message.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void text_add(struct alerts_text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void text_add(struct alerts_text *t, const char *fmt, ...)
{
    size_t room = sizeof(t->buf) - t->len;
    va_list ap;
    int n;

    if (t->cut)
        return;
    va_start(ap, fmt);
    n = vsnprintf(t->buf + t->len, room, fmt, ap);
    va_end(ap);
    if (n < 0) {
        t->buf[t->len] = '\0';
        return;
    }
    if ((size_t)n >= room) {
        /* Cut at a character boundary and say so: a truncated summary must
         * still be valid UTF-8 and must not read as complete. */
        size_t len = sizeof(t->buf) - 1 - 16;
        while (len > 0 && ((unsigned char)t->buf[len - 1] & 0xC0) == 0x80)
            len--;
        if (len > 0 && ((unsigned char)t->buf[len - 1] & 0x80))
            len--;
        t->len = len + (size_t)snprintf(t->buf + len, sizeof(t->buf) - len, "\n(cut short)");
        t->cut = 1;
        return;
    }
    t->len += (size_t)n;
}

static const char *str_or(const json_t *v, const char *dflt)
{
    const char *s = json_string_value(v);

    return s != NULL ? s : dflt;
}

/* Files a restore wrote back: every "OK" entry (unchanged files are checked
 * and count as restored, as in the CLI's [OK] list), and how many changed. */
static void restore_counts(const json_t *details, size_t *restored, size_t *changed)
{
    const json_t *f;
    size_t i;

    *restored = *changed = 0;
    json_array_foreach(json_object_get(details, "files"), i, f) {
        const char *action = str_or(json_object_get(f, "action"), "");
        if (strcmp(str_or(json_object_get(f, "result"), ""), "OK") != 0)
            continue;
        (*restored)++;
        if (strcmp(action, "unchanged") != 0 && strcmp(action, "kept") != 0)
            (*changed)++;
    }
}

/* The human summary used as Telegram's text and the webhook's "summary". */
void alerts_summarize(const json_t *ev, struct alerts_text *t)
{
    const char *op = str_or(json_object_get(ev, "op"), "?");
    const char *result = str_or(json_object_get(ev, "result"), "?");
    const json_t *d = json_object_get(ev, "details"), *errors;
    int ok = strcmp(result, "ok") == 0;

    t->len = 0;
    t->cut = 0;
    t->buf[0] = '\0';
    text_add(t, "statesnap: %s %s\n", op, ok ? "OK" : strcmp(result, "error") == 0 ? "FAILED"
                                       : strcmp(result, "changed") == 0 ? "APPLIED BUT CHANGED"
                                       : strcmp(result, "inconsistent") == 0 ? "KEPT, NOT A CONSISTENT CUT"
                                       : "FAILED");
    if (json_is_string(json_object_get(ev, "snapshot")))
        text_add(t, "Snapshot: %s\n", json_string_value(json_object_get(ev, "snapshot")));
    text_add(t, "Host: %s\n", str_or(json_object_get(ev, "host"), "?"));
    text_add(t, "Actor: %s\n", str_or(json_object_get(ev, "actor"), "?"));
    if (strcmp(op, "restore") == 0 && ok) {
        size_t restored, changed;
        restore_counts(d, &restored, &changed);
        text_add(t, "Files restored: %zu (%zu changed)\n", restored, changed);
        if (json_is_string(json_object_get(d, "safety_snapshot")))
            text_add(t, "Safety snapshot: %s\n",
                     json_string_value(json_object_get(d, "safety_snapshot")));
        if (json_is_string(json_object_get(d, "kill_switch")))
            text_add(t, "Kill switch: %s\n", json_string_value(json_object_get(d, "kill_switch")));
    }
    if (strcmp(op, "prune") == 0 && json_is_array(json_object_get(d, "removed")))
        text_add(t, "Removed: %zu snapshot(s)\n", json_array_size(json_object_get(d, "removed")));
    if (json_is_string(json_object_get(d, "error")))
        text_add(t, "Error: %s\n", json_string_value(json_object_get(d, "error")));
    errors = json_object_get(d, "errors");
    if (json_is_array(errors) && json_array_size(errors) > 0) {
        const json_t *first = json_array_get(errors, 0);
        text_add(t, "Problems: %zu, first: %s: %s\n", json_array_size(errors),
                 str_or(json_object_get(first, "path"), "?"),
                 str_or(json_object_get(first, "problem"), "?"));
    }
    text_add(t, "Time: %s", str_or(json_object_get(ev, "time"), "?"));
}

/* The webhook body: the event itself plus "source", "summary" and, for a
 * restore, "files_restored". Caller frees the string; NULL on OOM. */
char *alerts_webhook_body(const json_t *ev, const struct alerts_text *t)
{
    json_t *doc = json_deep_copy(ev);
    char *s;

    if (doc == NULL)
        return NULL;
    json_object_set_new(doc, "source", json_string("statesnap"));
    json_object_set_new(doc, "summary", json_string(t->buf));
    if (strcmp(str_or(json_object_get(ev, "op"), ""), "restore") == 0) {
        size_t restored, changed;
        restore_counts(json_object_get(ev, "details"), &restored, &changed);
        json_object_set_new(doc, "files_restored", json_integer((json_int_t)restored));
    }
    s = json_dumps(doc, JSON_COMPACT);
    if (s != NULL && strlen(s) > ALERTS_BODY_MAX) {
        /* A restore of thousands of files: keep the summary, drop the list. */
        json_t *d = json_object_get(doc, "details");
        free(s);
        if (json_is_object(d))
            json_object_del(d, "files");
        json_object_set_new(doc, "details_cut", json_true());
        s = json_dumps(doc, JSON_COMPACT);
    }
    json_decref(doc);
    return s;
}

