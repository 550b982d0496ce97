/* retention.c - which snapshots a policy keeps, and why (restic/Kopia style). */
#include "retention.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void retention_default(struct retention_policy *p)
{
    memset(p, 0, sizeof(*p));
    p->keep_last = RETENTION_MIN_KEEP_LAST;
}

static int get_count(const json_t *obj, const char *key, int *out, struct err *e)
{
    const json_t *v = json_object_get(obj, key);

    if (v == NULL)
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 100000)
        return err_set(e, ERR_INVALID, "retention.%s must be a whole number from 0 to 100000", key);
    *out = (int)json_integer_value(v);
    return 0;
}

static int parse_duration(const char *s, int64_t *out)
{
    char *end;
    long long v = strtoll(s, &end, 10);
    int64_t mul;

    if (end == s || v < 0)
        return -1;
    switch (*end) {
    case '\0': case 's': mul = 1; break;
    case 'm': mul = 60; break;
    case 'h': mul = 3600; break;
    case 'd': mul = 86400; break;
    case 'w': mul = 7 * 86400; break;
    default: return -1;
    }
    if (*end != '\0' && end[1] != '\0')
        return -1;
    if (v > (long long)(INT64_MAX / mul))
        return -1;
    *out = (int64_t)v * mul;
    return 0;
}

int retention_from_json(const json_t *obj, struct retention_policy *p, struct err *e)
{
    const json_t *v;

    retention_default(p);
    if (obj == NULL)
        return 0;
    if (!json_is_object(obj))
        return err_set(e, ERR_INVALID, "retention must be an object");
    if (get_count(obj, "keep_last", &p->keep_last, e) || get_count(obj, "keep_daily", &p->keep_daily, e) ||
        get_count(obj, "keep_weekly", &p->keep_weekly, e) ||
        get_count(obj, "keep_monthly", &p->keep_monthly, e) ||
        get_count(obj, "max_count", &p->max_count, e))
        return -1;
    if (p->keep_last < RETENTION_MIN_KEEP_LAST)
        return err_set(e, ERR_INVALID,
                       "retention.keep_last is %d: statesnap always keeps at least the %d most "
                       "recent snapshots", p->keep_last, RETENTION_MIN_KEEP_LAST);
    if (p->max_count != 0 && p->max_count < p->keep_last)
        return err_set(e, ERR_INVALID, "retention.max_count (%d) is below keep_last (%d)",
                       p->max_count, p->keep_last);
    v = json_object_get(obj, "expire_after");
    if (v != NULL) {
        if (json_is_integer(v) && json_integer_value(v) >= 0)
            p->expire_after = json_integer_value(v);
        else if (!json_is_string(v) || parse_duration(json_string_value(v), &p->expire_after) != 0)
            return err_set(e, ERR_INVALID, "retention.expire_after must be seconds or a duration "
                           "like 30d");
    }
    return 0;
}

static void bucket(int64_t t, int kind, char *out, size_t len)
{
    time_t tt = (time_t)t;
    struct tm tm;

    gmtime_r(&tt, &tm);
    if (kind == 0)
        strftime(out, len, "%Y-%m-%d", &tm);
    else if (kind == 1)
        strftime(out, len, "%G-W%V", &tm);   /* ISO week */
    else
        strftime(out, len, "%Y-%m", &tm);
}

static int add_reason(struct retention_item *it, const char *fmt, int k, struct err *e)
{
    char r[32];

    snprintf(r, sizeof(r), fmt, k);
    if (json_array_append_new(it->reasons, json_string(r)) != 0)
        return err_set(e, ERR_IO, "out of memory");
    return 0;
}

static int only_bucket_reasons(const json_t *reasons)
{
    size_t i;
    const json_t *r;

    json_array_foreach(reasons, i, r) {
        const char *s = json_string_value(r);
        if (strncmp(s, "daily-", 6) != 0 && strncmp(s, "weekly-", 7) != 0 &&
            strncmp(s, "monthly-", 8) != 0)
            return 0;
    }
    return json_array_size(reasons) > 0;
}

int retention_apply(const struct retention_policy *p, struct retention_item *items, size_t n,
                    int64_t now, struct err *e)
{
    static const char *const fmts[] = { "daily-%d", "weekly-%d", "monthly-%d" };
    const int counts[] = { p->keep_daily, p->keep_weekly, p->keep_monthly };

    int n_last = 0;

    for (size_t i = 0; i < n; i++) {
        if ((items[i].reasons = json_array()) == NULL)
            return err_set(e, ERR_IO, "out of memory");
        if (items[i].pinned && json_array_append_new(items[i].reasons, json_string("pinned")))
            return err_set(e, ERR_IO, "out of memory");
        if (!items[i].empty && n_last < p->keep_last && add_reason(&items[i], "last-%d", ++n_last, e) != 0)
            return -1;
    }
    /* Buckets: newest first, the first snapshot of each new day/week/month
     * is that bucket's keeper, until the count is used up. */
    for (int kind = 0; kind < 3; kind++) {
        char last[16] = "", cur[16];
        int used = 0;
        for (size_t i = 0; i < n && used < counts[kind]; i++) {
            if (items[i].empty)
                continue;
            bucket(items[i].created_at, kind, cur, sizeof(cur));
            if (strcmp(cur, last) == 0)
                continue;
            snprintf(last, sizeof(last), "%s", cur);
            if (add_reason(&items[i], fmts[kind], ++used, e) != 0)
                return -1;
        }
    }
    /* expire_after bounds the bucket keeps; pinned and last-N stay. */
    if (p->expire_after > 0) {
        for (size_t i = 0; i < n; i++)
            if (now - items[i].created_at > p->expire_after && only_bucket_reasons(items[i].reasons))
                json_array_clear(items[i].reasons);
    }
    /* max_count: drop the oldest bucket-only keeps until within bound. */
    if (p->max_count > 0) {
        size_t kept = 0;
        for (size_t i = 0; i < n; i++)
            kept += json_array_size(items[i].reasons) > 0;
        for (size_t i = n; i-- > 0 && kept > (size_t)p->max_count;) {
            if (only_bucket_reasons(items[i].reasons)) {
                json_array_clear(items[i].reasons);
                kept--;
            }
        }
    }
    return 0;
}
