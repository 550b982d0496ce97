/* test_retention.c - retention keeps exactly the expected set, with reasons. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "../../engine/retention.h"

#define DAY 86400
/* 2024-12-31T12:00:00Z, a Tuesday. */
#define NOW 1735646400LL

static char names[200][16];

/* One snapshot a day at noon for 90 days, plus a second one on the newest
 * day at 08:00; items newest first. */
static size_t history(struct retention_item *items)
{
    size_t n = 0;

    snprintf(names[n], sizeof(names[n]), "d0-noon");
    items[n++] = (struct retention_item){ names[0], NOW, 0, NULL, 0 };
    snprintf(names[n], sizeof(names[n]), "d0-8am");
    items[n++] = (struct retention_item){ names[1], NOW - 4 * 3600, 0, NULL, 0 };
    for (int d = 1; d < 90; d++) {
        snprintf(names[n], sizeof(names[n]), "d%d", d);
        items[n] = (struct retention_item){ names[n], NOW - (int64_t)d * DAY, 0, NULL, 0 };
        n++;
    }
    return n;
}

static const char *reasons(const struct retention_item *it, char *buf, size_t len)
{
    size_t i, off = 0;
    const json_t *r;

    buf[0] = '\0';
    json_array_foreach(it->reasons, i, r)
        off += (size_t)snprintf(buf + off, len - off, "%s%s", i ? "," : "", json_string_value(r));
    return buf;
}

static const struct retention_item *find(struct retention_item *items, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(items[i].name, name) == 0)
            return &items[i];
    fail_msg("no item %s", name);
    return NULL;
}

static void free_items(struct retention_item *items, size_t n)
{
    for (size_t i = 0; i < n; i++)
        json_decref(items[i].reasons);
}

static size_t kept(struct retention_item *items, size_t n)
{
    size_t k = 0;

    for (size_t i = 0; i < n; i++)
        k += json_array_size(items[i].reasons) > 0;
    return k;
}

static void policy_table(void **state)
{
    struct retention_item items[100];
    struct retention_policy p;
    struct err e = { 0 };
    char buf[128];
    size_t n = history(items);

    (void)state;
    retention_default(&p);
    p.keep_daily = 7;
    p.keep_weekly = 4;
    p.keep_monthly = 3;
    assert_int_equal(retention_apply(&p, items, n, NOW, &e), 0);
    /* last-5: d0-noon, d0-8am, d1, d2, d3. daily-1..7: d0-noon (day 0), d1..d6.
     * weekly (ISO weeks, Mondays): 2024-W01 holds Dec 30-31 -> d0-noon;
     * W52 (Dec 23-29) -> d2; W51 -> d9; W50 -> d16.
     * monthly: 2024-12 -> d0-noon, 2024-11 -> d31 (Nov 30), 2024-10 -> d61 (Oct 31). */
    assert_string_equal(reasons(find(items, n, "d0-noon"), buf, sizeof(buf)),
                        "last-1,daily-1,weekly-1,monthly-1");
    assert_string_equal(reasons(find(items, n, "d0-8am"), buf, sizeof(buf)), "last-2");
    assert_string_equal(reasons(find(items, n, "d1"), buf, sizeof(buf)), "last-3,daily-2");
    assert_string_equal(reasons(find(items, n, "d2"), buf, sizeof(buf)), "last-4,daily-3,weekly-2");
    assert_string_equal(reasons(find(items, n, "d3"), buf, sizeof(buf)), "last-5,daily-4");
    assert_string_equal(reasons(find(items, n, "d6"), buf, sizeof(buf)), "daily-7");
    assert_string_equal(reasons(find(items, n, "d7"), buf, sizeof(buf)), "");
    assert_string_equal(reasons(find(items, n, "d9"), buf, sizeof(buf)), "weekly-3");
    assert_string_equal(reasons(find(items, n, "d16"), buf, sizeof(buf)), "weekly-4");
    assert_string_equal(reasons(find(items, n, "d31"), buf, sizeof(buf)), "monthly-2");
    assert_string_equal(reasons(find(items, n, "d61"), buf, sizeof(buf)), "monthly-3");
    assert_string_equal(reasons(find(items, n, "d89"), buf, sizeof(buf)), "");
    /* 5 last + d4,d5,d6 daily + d9,d16 weekly + d31,d61 monthly = 12. */
    assert_int_equal(kept(items, n), 12);
    free_items(items, n);
}

static void pinned_survive_and_expire_after_bounds_buckets(void **state)
{
    struct retention_item items[100];
    struct retention_policy p;
    struct err e = { 0 };
    char buf[128];
    size_t n = history(items);

    (void)state;
    items[80].pinned = 1;   /* d79 */
    retention_default(&p);
    p.keep_monthly = 3;
    p.expire_after = 45LL * DAY;
    assert_int_equal(retention_apply(&p, items, n, NOW, &e), 0);
    assert_string_equal(reasons(find(items, n, "d79"), buf, sizeof(buf)), "pinned");
    assert_string_equal(reasons(find(items, n, "d31"), buf, sizeof(buf)), "monthly-2");
    assert_string_equal(reasons(find(items, n, "d61"), buf, sizeof(buf)), "");   /* expired */
    assert_int_equal(kept(items, n), 5 + 1 + 1);
    free_items(items, n);
}

static void max_count_never_cuts_last_or_pinned(void **state)
{
    struct retention_item items[100];
    struct retention_policy p;
    struct err e = { 0 };
    size_t n = history(items);

    (void)state;
    items[50].pinned = 1;
    retention_default(&p);
    p.keep_daily = 30;
    p.max_count = 8;
    assert_int_equal(retention_apply(&p, items, n, NOW, &e), 0);
    /* 5 last + pinned + the 2 newest daily-only keeps. */
    assert_int_equal(kept(items, n), 8);
    assert_true(json_array_size(items[50].reasons) > 0);
    assert_true(json_array_size(items[5].reasons) > 0);    /* d4, daily */
    assert_true(json_array_size(items[6].reasons) > 0);    /* d5, daily */
    assert_int_equal(json_array_size(items[7].reasons), 0);
    free_items(items, n);
}

static void keep_last_below_five_is_refused(void **state)
{
    struct retention_policy p;
    struct err e = { 0 };
    json_t *cfg = json_pack("{s:i}", "keep_last", 3);

    (void)state;
    assert_int_equal(retention_from_json(cfg, &p, &e), -1);
    assert_int_equal(e.code, ERR_INVALID);
    assert_non_null(strstr(e.msg, "at least the 5"));
    json_decref(cfg);
    cfg = json_pack("{s:i,s:s}", "keep_last", 7, "expire_after", "30d");
    err_clear(&e);
    assert_int_equal(retention_from_json(cfg, &p, &e), 0);
    assert_int_equal(p.keep_last, 7);
    assert_int_equal(p.expire_after, 30LL * DAY);
    json_decref(cfg);
}

/* Five snapshots of an unmounted volume, newest, cannot push the real ones
 * out: they take no last-N place, and unpinned they go. */
static void empty_snapshots_never_push_real_ones_out(void **state)
{
    struct retention_policy p;
    struct retention_item items[12];
    struct err e = { 0 };
    char buf[128];
    size_t n = 0;

    (void)state;
    retention_default(&p);
    for (int i = 0; i < 5; i++) {
        snprintf(names[n], sizeof(names[n]), "empty%d", i);
        items[n] = (struct retention_item){ names[n], NOW - i, 0, NULL, 1 };
        n++;
    }
    snprintf(names[n], sizeof(names[n]), "empty-pinned");
    items[n] = (struct retention_item){ names[n], NOW - 10, 1, NULL, 1 };
    n++;
    for (int i = 0; i < 6; i++) {
        snprintf(names[n], sizeof(names[n]), "real%d", i);
        items[n] = (struct retention_item){ names[n], NOW - DAY * (i + 1), 0, NULL, 0 };
        n++;
    }
    assert_int_equal(retention_apply(&p, items, n, NOW, &e), 0);
    for (int i = 0; i < 5; i++)
        assert_int_equal(json_array_size(items[i].reasons), 0);
    assert_string_equal(reasons(&items[5], buf, sizeof(buf)), "pinned");
    for (int i = 0; i < 5; i++) {
        char want[16];
        snprintf(want, sizeof(want), "last-%d", i + 1);
        assert_string_equal(reasons(&items[6 + i], buf, sizeof(buf)), want);
    }
    assert_int_equal(json_array_size(items[11].reasons), 0);
    for (size_t i = 0; i < n; i++)
        json_decref(items[i].reasons);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(policy_table),
        cmocka_unit_test(pinned_survive_and_expire_after_bounds_buckets),
        cmocka_unit_test(max_count_never_cuts_last_or_pinned),
        cmocka_unit_test(keep_last_below_five_is_refused),
        cmocka_unit_test(empty_snapshots_never_push_real_ones_out),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
