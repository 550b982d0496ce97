/* engine.c - small engine-wide helpers: names, the clock. */
#include "engine.h"
#include "meta.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <pwd.h>
#include <unistd.h>

/* Letters and digits anywhere; '.', '_' and '-' after the first character. */
static int name_char_ok(unsigned char c, size_t i)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           (i > 0 && (c == '.' || c == '_' || c == '-'));
}

int engine_name_check(const char *name, struct err *e)
{
    size_t n;

    if (name == NULL || (n = strlen(name)) == 0)
        return err_set(e, ERR_INVALID, "snapshot name is empty");
    if (n > ENGINE_NAME_MAX)
        return err_set(e, ERR_INVALID, "snapshot name is longer than %d characters",
                       ENGINE_NAME_MAX);
    /* "live" names the state root itself in a diff; "latest" is the newest
     * snapshot in GET .../snapshots/latest, so DELETE .../latest must not
     * mean another one. */
    if (strcmp(name, "live") == 0)
        return err_set(e, ERR_INVALID, "\"live\" is reserved: it names the current state root");
    if (strcmp(name, "latest") == 0)
        return err_set(e, ERR_INVALID, "\"latest\" is reserved: it names the newest snapshot");
    for (size_t i = 0; i < n; i++) {
        if (!name_char_ok((unsigned char)name[i], i))
            return err_set(e, ERR_INVALID,
                           "invalid snapshot name: use letters, digits, '.', '_' and '-', "
                           "starting with a letter or digit (at most %d)", ENGINE_NAME_MAX);
    }
    return 0;
}

int engine_name_prefix_check(const char *prefix, struct err *e)
{
    size_t n = strlen(prefix);

    if (n > ENGINE_NAME_MAX)
        return err_set(e, ERR_INVALID, "prefix is longer than a snapshot name can be (%d)",
                       ENGINE_NAME_MAX);
    for (size_t i = 0; i < n; i++)
        if (!name_char_ok((unsigned char)prefix[i], i))
            return err_set(e, ERR_INVALID,
                           "prefix can only match snapshot names: use letters, digits, '.', '_' "
                           "and '-', starting with a letter or digit");
    return 0;
}

int32_t engine_utf8_next(const char *s, size_t *n)
{
    const unsigned char *u = (const unsigned char *)s;
    int32_t cp;
    size_t len, i;

    *n = 1;
    if (u[0] < 0x80)
        return u[0];
    if (u[0] >= 0xc2 && u[0] <= 0xdf)
        len = 2, cp = u[0] & 0x1f;
    else if (u[0] >= 0xe0 && u[0] <= 0xef)
        len = 3, cp = u[0] & 0x0f;
    else if (u[0] >= 0xf0 && u[0] <= 0xf4)
        len = 4, cp = u[0] & 0x07;
    else
        return -1;
    for (i = 1; i < len; i++) {
        if ((u[i] & 0xc0) != 0x80)
            return -1;
        cp = (cp << 6) | (u[i] & 0x3f);
    }
    /* Overlong forms, surrogates and beyond U+10FFFF are not UTF-8. */
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return -1;
    *n = len;
    return cp;
}

int engine_char_unsafe(int32_t cp)
{
    return cp < 0x20 || cp == 0x7f ||
           (cp >= 0x80 && cp <= 0x9f) ||        /* C1 controls: U+009B is a CSI */
           cp == 0x061c ||                      /* Arabic letter mark */
           (cp >= 0x200b && cp <= 0x200f) ||    /* zero-width, LRM, RLM */
           cp == 0x2028 || cp == 0x2029 ||      /* line and paragraph separators */
           (cp >= 0x202a && cp <= 0x202e) ||    /* bidi embeddings and overrides */
           (cp >= 0x2060 && cp <= 0x2069) ||    /* invisible operators, bidi isolates */
           cp == 0xfeff;                        /* zero-width no-break space */
}

int64_t engine_now(void)
{
#ifdef STATESNAP_TESTING
    /* Test builds may pin the clock (retention tables, age checks). */
    const char *pin = getenv("STATESNAP_TEST_NOW");
    if (pin != NULL && *pin != '\0') {
        char *end;
        long long v = strtoll(pin, &end, 10);
        if (*end == '\0' && v > 0)
            return v;
    }
#endif
    return (int64_t)time(NULL);
}

void engine_time_format(int64_t t, char *buf, size_t len)
{
    time_t tt = (time_t)t;
    struct tm tm;

    if (gmtime_r(&tt, &tm) == NULL || strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(buf, len, "1970-01-01T00:00:00Z");
}

void engine_actor(const struct engine_config *cfg, char *out, size_t len)
{
    const char *user;

    if (cfg->actor != NULL) {
        snprintf(out, len, "%s", cfg->actor);
        return;
    }
    user = getenv("USER");
    if (user == NULL || *user == '\0') {
        struct passwd *pw = getpwuid(getuid());
        user = pw ? pw->pw_name : "unknown";
    }
    snprintf(out, len, "cli:%s", user);
}

int engine_sinks_add(struct engine_sinks *t, engine_sink_fn fn, void *ctx, struct err *e)
{
    if (t->n >= ENGINE_SINKS_MAX)
        return err_set(e, ERR_INVALID, "more than %d event sinks", ENGINE_SINKS_MAX);
    t->at[t->n].fn = fn;
    t->at[t->n].ctx = ctx;
    t->n++;
    return 0;
}

void engine_emit(const struct engine_config *cfg, const char *op, const char *result,
                 const char *snapshot, const json_t *details)
{
    char actor[160], host[256], now[32];
    json_t *ev;

    if (cfg == NULL || cfg->sinks == NULL || cfg->sinks->n == 0)
        return;
    engine_actor(cfg, actor, sizeof(actor));
    meta_host(host, sizeof(host));
    engine_time_format(engine_now(), now, sizeof(now));
    ev = json_pack("{s:s,s:s,s:o,s:s,s:s,s:s,s:o}", "op", op, "result", result,
                   "snapshot", snapshot ? json_string(snapshot) : json_null(), "actor", actor,
                   "host", host, "time", now,
                   "details", details ? json_deep_copy(details) : json_object());
    for (size_t i = 0; ev != NULL && i < cfg->sinks->n; i++)
        cfg->sinks->at[i].fn(cfg->sinks->at[i].ctx, ev);
    json_decref(ev);
}
