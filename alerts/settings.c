/* settings.c - the "alerts" section of statesnap.json: webhook_url,
 * telegram {api_base, bot_token, chat_id}, the "on" list, timeout_ms and
 * retries. The one list of its keys is here. */
#include "settings.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

/* Operations an "on" entry may name; bit i of on_ops is ops[i]. */
static const char *const ops[] = { "create", "delete", "restore", "prune", "import", "pin",
                                   "unpin", "labels", "verify", "offsite", "drill", NULL };

static const char *const alerts_keys[] = { "webhook_url", "telegram", "on", "timeout_ms",
                                           "retries", NULL };
static const char *const telegram_keys[] = { "api_base", "bot_token", "chat_id", NULL };

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

static int parse_on(const json_t *on, struct alerts_settings *st, struct err *e)
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

static int parse_telegram(const json_t *tg, struct alerts_settings *st, struct err *e)
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

void alerts_settings_clear(struct alerts_settings *st)
{
    if (st == NULL)
        return;
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

int alerts_settings_parse(const json_t *cfg, struct alerts_settings *st, struct err *e)
{
    const json_t *v;

    memset(st, 0, sizeof(*st));
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

/* Does the "on" list ask for this event? */
int alerts_settings_wants(const struct alerts_settings *st, const json_t *ev)
{
    const char *op = json_string_value(json_object_get(ev, "op"));
    const char *result = json_string_value(json_object_get(ev, "result"));

    if (op == NULL)
        return 0;
    /* "failures": anything but ok, so a kept inconsistent cut and a
     * restore the bot overwrote at once alert too, not only errors. A
     * create --if-changed that found nothing changed ("skipped") is no
     * failure: it is what the flag asks for. */
    if (st->on_all || (st->on_failures && result != NULL && strcmp(result, "ok") != 0 &&
                       strcmp(result, "skipped") != 0))
        return 1;
    for (size_t k = 0; ops[k] != NULL; k++)
        if (strcmp(ops[k], op) == 0)
            return (st->on_ops >> k) & 1u;
    return 0;
}

