/* alerts.c - restore and failure alerts. Engine events that match the
 * config's "on" list go through a bounded queue to one worker thread, which
 * POSTs each to a webhook (the event as JSON) and/or Telegram sendMessage (a
 * human summary), with a per-attempt timeout and bounded retries. An
 * operation never waits for an alert: a full queue drops it and counts it. */
#include "alerts.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <openssl/crypto.h>

#include "../engine/engine.h"
#include "../common/clock.h"
#include "log.h"
#include "metrics.h"

enum channel { CH_WEBHOOK = 0, CH_TELEGRAM, CH_COUNT };

static const char *const channel_names[CH_COUNT] = { "webhook", "telegram" };

/* Operations an "on" entry may name; bit i of on_ops is ops[i]. */
static const char *const ops[] = { "create", "delete", "restore", "prune", "import", "pin",
                                   "unpin", "labels", "verify", "offsite", "drill", NULL };

static const char *const alerts_keys[] = { "webhook_url", "telegram", "on", "timeout_ms",
                                           "retries", NULL };
static const char *const telegram_keys[] = { "api_base", "bot_token", "chat_id", NULL };

/* The parsed "alerts" section. */
struct settings {
    char *webhook_url;           /* may carry a secret path: never logged */
    char *telegram_url;          /* holds the bot token: never logged, wiped when freed */
    size_t telegram_url_len;
    json_t *chat_id;
    unsigned on_ops;             /* bit i = ops[i] */
    int on_failures, on_all;
    long timeout_ms;
    int retries;
};

struct alerts {
    struct settings set;         /* fixed once started */
    int log_success;
    /* worker */
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t wake;         /* worker: an event, or stop */
    pthread_cond_t idle;         /* drainers: nothing queued, nothing in hand */
    json_t *queue[ALERTS_QUEUE_MAX];
    size_t head, len;
    int busy;
    int started, stopping;
    atomic_int abort_transfer;
};

static struct alerts al = { .mu = PTHREAD_MUTEX_INITIALIZER };

static _Atomic uint64_t delivered[CH_COUNT][2];   /* [channel][0 success, 1 failure] */
static _Atomic uint64_t dropped;

/* ---- settings ---- */

static int url_ok(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > ALERTS_URL_MAX)
        return 0;
    if (strncmp(s, "http://", 7) != 0 && strncmp(s, "https://", 8) != 0)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] == 0x7f)
            return 0;
    return 1;
}

/* Telegram tokens are "<digits>:<letters, digits, _ and ->"; anything else
 * could change the URL it is pasted into. */
static int bot_token_ok(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > ALERTS_BOT_TOKEN_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == ':' || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

static int check_keys(const json_t *obj, const char *const *allowed, const char *where,
                      struct err *e)
{
    const char *k;
    json_t *v;

    json_object_foreach((json_t *)obj, k, v) {
        size_t i;
        for (i = 0; allowed[i] != NULL; i++)
            if (strcmp(allowed[i], k) == 0)
                break;
        if (allowed[i] == NULL)
            return err_set(e, ERR_INVALID, "config: unknown key \"%s.%.64s\"", where, k);
    }
    return 0;
}

static int parse_on(const json_t *on, struct settings *st, struct err *e)
{
    const json_t *v;
    size_t i;

    if (on == NULL) {
        st->on_ops = 1u << 2;     /* restore */
        st->on_failures = 1;
        return 0;
    }
    if (!json_is_array(on) || json_array_size(on) == 0 || json_array_size(on) > 32)
        return err_set(e, ERR_INVALID, "config: \"alerts.on\" must be a non-empty list of "
                                       "\"failures\", \"all\" or operation names");
    json_array_foreach(on, i, v) {
        const char *s = json_string_value(v);
        size_t k;
        if (s != NULL && strcmp(s, "failures") == 0) {
            st->on_failures = 1;
            continue;
        }
        if (s != NULL && strcmp(s, "all") == 0) {
            st->on_all = 1;
            continue;
        }
        for (k = 0; s != NULL && ops[k] != NULL; k++)
            if (strcmp(ops[k], s) == 0)
                break;
        if (s == NULL || ops[k] == NULL)
            return err_set(e, ERR_INVALID, "config: \"alerts.on\"[%zu] must be \"failures\", "
                                           "\"all\" or one of create, delete, restore, prune, "
                                           "import, pin, unpin, labels, verify, offsite, drill", i);
        st->on_ops |= 1u << k;
    }
    return 0;
}

static int parse_telegram(const json_t *tg, struct settings *st, struct err *e)
{
    const json_t *v;
    const char *base = ALERTS_TELEGRAM_API, *token, *env = getenv(ALERTS_TOKEN_ENV);
    size_t blen;
    int n;

    if (!json_is_object(tg))
        return err_set(e, ERR_INVALID, "config: \"alerts.telegram\" must be an object");
    if (check_keys(tg, telegram_keys, "alerts.telegram", e) != 0)
        return -1;
    if ((v = json_object_get(tg, "api_base")) != NULL) {
        if (!json_is_string(v) || !url_ok(json_string_value(v)))
            return err_set(e, ERR_INVALID, "config: \"alerts.telegram.api_base\" must be an "
                                           "http:// or https:// URL");
        base = json_string_value(v);
    }
    v = json_object_get(tg, "bot_token");
    if (v != NULL && !json_is_string(v))
        return err_set(e, ERR_INVALID, "config: \"alerts.telegram.bot_token\" must be a string");
    /* The environment wins, so the file can hold a placeholder. */
    token = env != NULL && *env != '\0' ? env : json_string_value(v);
    if (token == NULL)
        return err_set(e, ERR_INVALID, "config: alerts.telegram needs a bot token: "
                                       "\"bot_token\" or $" ALERTS_TOKEN_ENV);
    if (!bot_token_ok(token))
        return err_set(e, ERR_INVALID, "config: the Telegram bot token (%s) must be 1..%d "
                                       "characters of letters, digits, ':', '_' and '-'",
                       token == env ? "$" ALERTS_TOKEN_ENV : "alerts.telegram.bot_token",
                       ALERTS_BOT_TOKEN_MAX);
    v = json_object_get(tg, "chat_id");
    if (!(json_is_integer(v) ||
          (json_is_string(v) && json_string_length(v) > 0 &&
           json_string_length(v) <= ALERTS_CHAT_ID_MAX)))
        return err_set(e, ERR_INVALID, "config: \"alerts.telegram.chat_id\" is required: a "
                                       "number or a string of 1..%d characters",
                       ALERTS_CHAT_ID_MAX);
    st->chat_id = json_deep_copy(v);
    blen = strlen(base);
    while (blen > 0 && base[blen - 1] == '/')
        blen--;
    st->telegram_url_len = blen + strlen(token) + 32;
    if (st->chat_id == NULL || (st->telegram_url = malloc(st->telegram_url_len)) == NULL)
        return err_set(e, ERR_IO, "out of memory");
    n = snprintf(st->telegram_url, st->telegram_url_len, "%.*s/bot%s/sendMessage", (int)blen, base,
                 token);
    if (n < 0 || (size_t)n >= st->telegram_url_len)
        return err_set(e, ERR_INVALID, "config: the Telegram URL is too long");
    return 0;
}

static void settings_free(struct settings *st)
{
    if (st->telegram_url != NULL)
        OPENSSL_cleanse(st->telegram_url, st->telegram_url_len);
    free(st->telegram_url);
    free(st->webhook_url);
    json_decref(st->chat_id);
    st->telegram_url = NULL;
    st->telegram_url_len = 0;
    st->webhook_url = NULL;
    st->chat_id = NULL;
    st->on_ops = 0;
    st->on_failures = st->on_all = 0;
}

static int parse_settings(const json_t *cfg, struct settings *st, struct err *e)
{
    const json_t *v;

    st->timeout_ms = ALERTS_TIMEOUT_MS_DEFAULT;
    st->retries = ALERTS_RETRIES_DEFAULT;
    if (!json_is_object(cfg))
        return err_set(e, ERR_INVALID, "config: \"alerts\" must be an object");
    if (check_keys(cfg, alerts_keys, "alerts", e) != 0)
        return -1;
    if ((v = json_object_get(cfg, "webhook_url")) != NULL) {
        if (!json_is_string(v) || !url_ok(json_string_value(v)))
            return err_set(e, ERR_INVALID, "config: \"alerts.webhook_url\" must be an http:// or "
                                           "https:// URL of at most %d characters", ALERTS_URL_MAX);
        if ((st->webhook_url = strdup(json_string_value(v))) == NULL)
            return err_set(e, ERR_IO, "out of memory");
    }
    if ((v = json_object_get(cfg, "telegram")) != NULL && parse_telegram(v, st, e) != 0)
        return -1;
    if (st->webhook_url == NULL && st->telegram_url == NULL)
        return err_set(e, ERR_INVALID, "config: \"alerts\" needs \"webhook_url\" and/or "
                                       "\"telegram\"");
    if (parse_on(json_object_get(cfg, "on"), st, e) != 0)
        return -1;
    if ((v = json_object_get(cfg, "timeout_ms")) != NULL) {
        if (!json_is_integer(v) || json_integer_value(v) < ALERTS_TIMEOUT_MS_MIN ||
            json_integer_value(v) > ALERTS_TIMEOUT_MS_MAX)
            return err_set(e, ERR_INVALID, "config: \"alerts.timeout_ms\" must be an integer from "
                                           "%d to %d", ALERTS_TIMEOUT_MS_MIN, ALERTS_TIMEOUT_MS_MAX);
        st->timeout_ms = (long)json_integer_value(v);
    }
    if ((v = json_object_get(cfg, "retries")) != NULL) {
        if (!json_is_integer(v) || json_integer_value(v) < 0 ||
            json_integer_value(v) > ALERTS_RETRIES_MAX)
            return err_set(e, ERR_INVALID, "config: \"alerts.retries\" must be an integer from 0 "
                                           "to %d", ALERTS_RETRIES_MAX);
        st->retries = (int)json_integer_value(v);
    }
    return 0;
}

/* ---- what an alert says ---- */

/* Does the "on" list ask for this event? */
static int wanted(const json_t *ev)
{
    const char *op = json_string_value(json_object_get(ev, "op"));
    const char *result = json_string_value(json_object_get(ev, "result"));

    if (op == NULL)
        return 0;
    /* "failures": anything but ok, so a kept inconsistent cut and a
     * restore the bot overwrote at once alert too, not only errors. */
    if (al.set.on_all || (al.set.on_failures && result != NULL && strcmp(result, "ok") != 0))
        return 1;
    for (size_t k = 0; ops[k] != NULL; k++)
        if (strcmp(ops[k], op) == 0)
            return (al.set.on_ops >> k) & 1u;
    return 0;
}

struct text {
    char buf[ALERTS_TEXT_MAX + 1];
    size_t len;
    int cut;
};

static void text_add(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void text_add(struct text *t, const char *fmt, ...)
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
static void summarize(const json_t *ev, struct text *t)
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
static char *webhook_body(const json_t *ev, const struct text *t)
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

/* ---- delivery ---- */

static size_t discard(char *p, size_t size, size_t n, void *ud)
{
    (void)p;
    (void)ud;
    return size * n;
}

/* Cut a transfer short once alerts_stop asked. */
static int progress(void *ud, curl_off_t dlt, curl_off_t dln, curl_off_t ult, curl_off_t uln)
{
    (void)ud;
    (void)dlt;
    (void)dln;
    (void)ult;
    (void)uln;
    return atomic_load(&al.abort_transfer) ? 1 : 0;
}

/* One POST. Returns 0 on a 2xx answer; else -1 with *why filled and
 * *permanent set when retrying cannot help (a 4xx other than 408 and 429). */
static int post_once(CURL *c, const char *url, const char *body, struct curl_slist *hdrs,
                     char *why, size_t why_len, int *permanent)
{
    CURLcode rc;
    long status = 0;

    *permanent = 0;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, al.set.timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, al.set.timeout_ms);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_USERAGENT, "statesnap/" STATESNAP_VERSION);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, progress);
    rc = curl_easy_perform(c);
    /* Only libcurl's fixed message, never its error buffer: that can quote the URL. */
    if (rc != CURLE_OK) {
        (void)snprintf(why, why_len, "%s", curl_easy_strerror(rc));
        return -1;
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    if (status >= 200 && status < 300)
        return 0;
    (void)snprintf(why, why_len, "HTTP status %ld", status);
    *permanent = status >= 400 && status < 500 && status != 408 && status != 429;
    return -1;
}

/* Sleep ms unless alerts_stop comes first. Returns 0, or -1 when stopping. */
static int backoff(long ms)
{
    struct timespec until;
    int stop;

    clock_deadline_ms(&until, ms);
    pthread_mutex_lock(&al.mu);
    while (!al.stopping && pthread_cond_timedwait(&al.wake, &al.mu, &until) != ETIMEDOUT)
        ;
    stop = al.stopping;
    pthread_mutex_unlock(&al.mu);
    return stop ? -1 : 0;
}

static void send_channel(CURL *c, enum channel ch, const char *url, const char *body,
                         struct curl_slist *hdrs, const json_t *ev)
{
    char why[160] = "stopped before the first attempt";
    long wait_ms = ALERTS_BACKOFF_MS;
    int tried = 0, permanent = 0;

    while (tried <= al.set.retries && !permanent) {
        if (tried > 0) {
            if (backoff(wait_ms) != 0)
                break;
            wait_ms = wait_ms * 2 > ALERTS_BACKOFF_MAX_MS ? ALERTS_BACKOFF_MAX_MS : wait_ms * 2;
        }
        tried++;
        if (post_once(c, url, body, hdrs, why, sizeof(why), &permanent) == 0) {
            atomic_fetch_add(&delivered[ch][0], 1);
            if (al.log_success)
                log_event("info", "alert sent",
                          json_pack("{s:s, s:s?, s:O?, s:i}", "channel", channel_names[ch], "op",
                                    json_string_value(json_object_get(ev, "op")), "snapshot",
                                    json_object_get(ev, "snapshot"), "attempts", tried));
            return;
        }
    }
    atomic_fetch_add(&delivered[ch][1], 1);
    /* The URL is left out on purpose: a webhook path or a bot token is a secret. */
    log_event("error", "alert not delivered",
              json_pack("{s:s, s:s?, s:O?, s:i, s:s}", "channel", channel_names[ch], "op",
                        json_string_value(json_object_get(ev, "op")), "snapshot",
                        json_object_get(ev, "snapshot"), "attempts", tried, "error", why));
}

static void deliver(CURL *c, struct curl_slist *hdrs, const json_t *ev)
{
    static struct text t;      /* only the worker thread uses it */
    char *body;

    summarize(ev, &t);
    if (al.set.webhook_url != NULL) {
        if ((body = webhook_body(ev, &t)) != NULL)
            send_channel(c, CH_WEBHOOK, al.set.webhook_url, body, hdrs, ev);
        else
            atomic_fetch_add(&delivered[CH_WEBHOOK][1], 1);
        free(body);
    }
    if (al.set.telegram_url != NULL) {
        json_t *msg = json_pack("{s:O, s:s}", "chat_id", al.set.chat_id, "text", t.buf);
        body = msg ? json_dumps(msg, JSON_COMPACT) : NULL;
        json_decref(msg);
        if (body != NULL)
            send_channel(c, CH_TELEGRAM, al.set.telegram_url, body, hdrs, ev);
        else
            atomic_fetch_add(&delivered[CH_TELEGRAM][1], 1);
        free(body);
    }
}

static void *worker(void *arg)
{
    CURL *c = curl_easy_init();
    struct curl_slist *hdrs = curl_slist_append(NULL, "Content-Type: application/json");
    json_t *ev;

    (void)arg;
    if (c == NULL || hdrs == NULL)
        log_event("error", "alerts: cannot set up libcurl; alerts will count as failed", NULL);
    pthread_mutex_lock(&al.mu);
    for (;;) {
        while (al.len == 0 && !al.stopping)
            pthread_cond_wait(&al.wake, &al.mu);
        if (al.stopping)
            break;
        ev = al.queue[al.head];
        al.queue[al.head] = NULL;
        al.head = (al.head + 1) % ALERTS_QUEUE_MAX;
        al.len--;
        al.busy = 1;
        pthread_mutex_unlock(&al.mu);
        if (c != NULL && hdrs != NULL) {
            deliver(c, hdrs, ev);
        } else {
            if (al.set.webhook_url != NULL)
                atomic_fetch_add(&delivered[CH_WEBHOOK][1], 1);
            if (al.set.telegram_url != NULL)
                atomic_fetch_add(&delivered[CH_TELEGRAM][1], 1);
        }
        json_decref(ev);
        pthread_mutex_lock(&al.mu);
        al.busy = 0;
        if (al.len == 0)
            pthread_cond_broadcast(&al.idle);
    }
    pthread_mutex_unlock(&al.mu);
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(c);
    return NULL;
}

void alerts_event_sink(void *ctx, const json_t *event)
{
    (void)ctx;
    alerts_enqueue(event);
}

/* ---- public ---- */

int alerts_check(const json_t *alerts, struct err *e)
{
    struct settings st;
    int rc;

    if (alerts == NULL)
        return 0;
    memset(&st, 0, sizeof(st));
    rc = parse_settings(alerts, &st, e);
    settings_free(&st);
    return rc;
}

int alerts_start(struct config *cfg, int flags, struct err *e)
{
    int rc;

    if (al.started || cfg->alerts == NULL)
        return 0;
    if (parse_settings(cfg->alerts, &al.set, e) != 0) {
        settings_free(&al.set);
        return -1;
    }
    al.log_success = (flags & ALERTS_LOG_SUCCESS) != 0;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        settings_free(&al.set);
        return err_set(e, ERR_IO, "alerts: libcurl cannot start");
    }
    /* Timed waits use the monotonic clock, so a clock step cannot stretch a backoff. */
    (void)clock_cond_init(&al.wake);
    (void)clock_cond_init(&al.idle);
    al.head = al.len = 0;
    al.busy = al.stopping = 0;
    atomic_store(&al.abort_transfer, 0);
    if ((rc = pthread_create(&al.thread, NULL, worker, NULL)) != 0) {
        pthread_cond_destroy(&al.wake);
        pthread_cond_destroy(&al.idle);
        curl_global_cleanup();
        settings_free(&al.set);
        return err_sys(e, rc, "alerts: cannot start the worker thread");
    }
    pthread_mutex_lock(&al.mu);
    al.started = 1;
    pthread_mutex_unlock(&al.mu);
    return 0;
}

void alerts_enqueue(const json_t *event)
{
    json_t *copy;

    if (event == NULL)
        return;
    pthread_mutex_lock(&al.mu);
    if (!al.started || al.stopping || !wanted(event)) {
        pthread_mutex_unlock(&al.mu);
        return;
    }
    pthread_mutex_unlock(&al.mu);
    /* Copy outside the lock: the worker only needs it for a moment. */
    if ((copy = json_deep_copy(event)) == NULL) {
        atomic_fetch_add(&dropped, 1);
        return;
    }
    pthread_mutex_lock(&al.mu);
    if (al.stopping || al.len == ALERTS_QUEUE_MAX) {
        pthread_mutex_unlock(&al.mu);
        json_decref(copy);
        atomic_fetch_add(&dropped, 1);
        log_event("warn", "alert dropped: the queue is full",
                  json_pack("{s:s?, s:i}", "op", json_string_value(json_object_get(event, "op")),
                            "queue_max", ALERTS_QUEUE_MAX));
        return;
    }
    al.queue[(al.head + al.len) % ALERTS_QUEUE_MAX] = copy;
    al.len++;
    pthread_cond_signal(&al.wake);
    pthread_mutex_unlock(&al.mu);
}

int alerts_drain(long max_ms)
{
    struct timespec until;
    int rc;

    clock_deadline_ms(&until, max_ms);
    pthread_mutex_lock(&al.mu);
    if (!al.started) {
        pthread_mutex_unlock(&al.mu);
        return 0;
    }
    while ((al.len > 0 || al.busy) &&
           pthread_cond_timedwait(&al.idle, &al.mu, &until) != ETIMEDOUT)
        ;
    rc = al.len > 0 || al.busy ? -1 : 0;
    pthread_mutex_unlock(&al.mu);
    return rc;
}

void alerts_stop(void)
{
    size_t left = 0;

    pthread_mutex_lock(&al.mu);
    if (!al.started) {
        pthread_mutex_unlock(&al.mu);
        return;
    }
    al.stopping = 1;
    atomic_store(&al.abort_transfer, 1);
    pthread_cond_broadcast(&al.wake);
    pthread_mutex_unlock(&al.mu);
    pthread_join(al.thread, NULL);
    pthread_mutex_lock(&al.mu);
    while (al.len > 0) {
        json_decref(al.queue[al.head]);
        al.queue[al.head] = NULL;
        al.head = (al.head + 1) % ALERTS_QUEUE_MAX;
        al.len--;
        left++;
    }
    al.started = 0;
    pthread_mutex_unlock(&al.mu);
    if (left > 0) {
        atomic_fetch_add(&dropped, left);
        log_event("warn", "alerts not sent before stopping",
                  json_pack("{s:I}", "count", (json_int_t)left));
    }
    pthread_cond_destroy(&al.wake);
    pthread_cond_destroy(&al.idle);
    curl_global_cleanup();
    settings_free(&al.set);
}

int alerts_render_metrics(struct prom_text *f)
{
    size_t queued;

    pthread_mutex_lock(&al.mu);
    queued = al.len + (size_t)al.busy;
    pthread_mutex_unlock(&al.mu);
    prom_puts(f, "# HELP statesnap_alerts_total Alerts delivered (success) or given up after every "
                 "retry (failure), by channel.\n# TYPE statesnap_alerts_total counter\n");
    for (int ch = 0; ch < CH_COUNT; ch++) {
        for (int r = 0; r < 2; r++) {
            prom_puts(f, "statesnap_alerts_total{channel=\"");
            prom_puts(f, channel_names[ch]);
            prom_sample(f, r == 0 ? "\",result=\"success\"} " : "\",result=\"failure\"} ",
                        (int64_t)atomic_load(&delivered[ch][r]));
        }
    }
    prom_sample(f, "# HELP statesnap_alerts_dropped_total Alerts never sent: the queue was "
                   "full, or the process stopped first.\n"
                   "# TYPE statesnap_alerts_dropped_total counter\n"
                   "statesnap_alerts_dropped_total ", (int64_t)atomic_load(&dropped));
    prom_sample(f, "# HELP statesnap_alerts_queued Alerts waiting or being sent.\n"
                   "# TYPE statesnap_alerts_queued gauge\nstatesnap_alerts_queued ",
                (int64_t)queued);
    return f->failed ? -1 : 0;
}
