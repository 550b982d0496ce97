/* alerts.c - restore and failure alerts. Engine events that match the
 * config's "on" list go through a bounded queue to one worker thread, which
 * POSTs each to a webhook (the event as JSON) and/or Telegram sendMessage (a
 * human summary), with a per-attempt timeout and bounded retries. An
 * operation never waits for an alert: a full queue drops it and counts it. */
#include "alerts.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <openssl/crypto.h>

#include "../common/clock.h"
#include "../engine/engine.h"
#include "message.h"

enum channel { CH_WEBHOOK = 0, CH_TELEGRAM, CH_COUNT = ALERTS_CHANNELS };

static const char *const channel_names[CH_COUNT] = { "webhook", "telegram" };

struct alerts {
    struct alerts_settings set;  /* fixed once started */
    int log_success;
    alerts_log_fn log;           /* the caller's structured log, or NULL */
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


/* One structured log line through the caller's logger (fields stolen). */
static void say(const char *level, const char *msg, json_t *fields)
{
    if (al.log != NULL)
        al.log(level, msg, fields);
    else
        json_decref(fields);
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
                say("info", "alert sent",
                          json_pack("{s:s, s:s?, s:O?, s:i}", "channel", channel_names[ch], "op",
                                    json_string_value(json_object_get(ev, "op")), "snapshot",
                                    json_object_get(ev, "snapshot"), "attempts", tried));
            return;
        }
    }
    atomic_fetch_add(&delivered[ch][1], 1);
    /* The URL is left out on purpose: a webhook path or a bot token is a secret. */
    say("error", "alert not delivered",
              json_pack("{s:s, s:s?, s:O?, s:i, s:s}", "channel", channel_names[ch], "op",
                        json_string_value(json_object_get(ev, "op")), "snapshot",
                        json_object_get(ev, "snapshot"), "attempts", tried, "error", why));
}

static void deliver(CURL *c, struct curl_slist *hdrs, const json_t *ev)
{
    static struct alerts_text t;   /* only the worker thread uses it */
    char *body;

    alerts_summarize(ev, &t);
    if (al.set.webhook_url != NULL) {
        if ((body = alerts_webhook_body(ev, &t)) != NULL)
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
        say("error", "alerts: cannot set up libcurl; alerts will count as failed", NULL);
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

int alerts_start(const json_t *section, int flags, alerts_log_fn log, struct err *e)
{
    int rc;

    if (al.started || section == NULL)
        return 0;
    if (alerts_settings_parse(section, &al.set, e) != 0) {
        alerts_settings_clear(&al.set);
        return -1;
    }
    al.log_success = (flags & ALERTS_LOG_SUCCESS) != 0;
    al.log = log;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        alerts_settings_clear(&al.set);
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
        alerts_settings_clear(&al.set);
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
    if (!al.started || al.stopping || !alerts_settings_wants(&al.set, event)) {
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
        say("warn", "alert dropped: the queue is full",
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
        say("warn", "alerts not sent before stopping",
                  json_pack("{s:I}", "count", (json_int_t)left));
    }
    pthread_cond_destroy(&al.wake);
    pthread_cond_destroy(&al.idle);
    curl_global_cleanup();
    alerts_settings_clear(&al.set);
}

const char *alerts_channel_name(int channel)
{
    return channel >= 0 && channel < CH_COUNT ? channel_names[channel] : "?";
}

void alerts_read_counters(struct alerts_counters *out)
{
    pthread_mutex_lock(&al.mu);
    out->queued = al.len + (size_t)al.busy;
    pthread_mutex_unlock(&al.mu);
    for (int ch = 0; ch < CH_COUNT; ch++)
        for (int r = 0; r < 2; r++)
            out->delivered[ch][r] = atomic_load(&delivered[ch][r]);
    out->dropped = atomic_load(&dropped);
}
