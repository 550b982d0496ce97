/* test_metrics.c - the scrape text: prom_text grows from any size and writes
 * integers at their limits; metrics_render shows every counter as it is now,
 * on a thread that rendered before (its cached operations text is made again
 * after an operation ends) and on a fresh thread alike. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "../../routes/prom.h"
#include "../../server/metrics.h"

static char *text_of(struct prom_text *t)
{
    prom_put(t, "", 1);   /* NUL, so the text can be searched */
    assert_false(t->failed);
    return t->buf;
}

static void prom_text_grows_from_one_byte(void **state)
{
    struct prom_text t;
    char want[64];

    (void)state;
    assert_int_equal(prom_text_init(&t, 1), 0);
    for (int i = 0; i < 5000; i++)
        prom_puts(&t, "abcdefghij");
    assert_false(t.failed);
    assert_int_equal(t.len, 50000);
    assert_true(t.cap >= t.len);
    assert_memory_equal(t.buf + 49990, "abcdefghij", 10);
    t.len = 0;
    prom_u64(&t, 0);
    prom_put(&t, " ", 1);
    prom_u64(&t, UINT64_MAX);
    prom_put(&t, " ", 1);
    prom_i64(&t, INT64_MIN);
    prom_put(&t, " ", 1);
    prom_sample(&t, "x{a=\"b\"} ", -7);
    snprintf(want, sizeof(want), "0 %llu %lld x{a=\"b\"} -7\n", (unsigned long long)UINT64_MAX,
             (long long)INT64_MIN);
    assert_string_equal(text_of(&t), want);
    prom_text_free(&t);
    prom_text_free(&t);   /* twice, and NULL: both fine */
    prom_text_free(NULL);
}

/* Texts given back are used again, grown when a bigger one is asked for;
 * beyond what the pool keeps they are freed (valgrind sees no leak). */
static void released_texts_are_reused(void **state)
{
    struct prom_text t;
    char *texts[20], *first;

    (void)state;
    prom_pool_drain();
    assert_int_equal(prom_text_init(&t, 100), 0);
    prom_puts(&t, "hello");
    first = prom_text_take(&t);
    assert_null(t.buf);
    assert_memory_equal(first, "hello", 5);
    prom_release(first);
    assert_int_equal(prom_text_init(&t, 50), 0);
    assert_ptr_equal(t.buf, first);
    assert_true(t.cap >= 100);
    prom_text_free(&t);
    assert_int_equal(prom_text_init(&t, 1 << 20), 0);    /* bigger than the kept one */
    assert_true(t.cap >= 1u << 20);
    memset(t.buf, 'x', t.cap);
    t.len = t.cap;
    prom_put(&t, "y", 1);                                   /* grows past it */
    assert_false(t.failed);
    assert_int_equal(t.buf[t.len - 1], 'y');
    prom_text_free(&t);
    for (int i = 0; i < 20; i++) {
        assert_int_equal(prom_text_init(&t, 64), 0);
        texts[i] = prom_text_take(&t);
    }
    for (int i = 0; i < 20; i++)
        prom_release(texts[i]);
    prom_release(NULL);
    prom_pool_drain();
}

static char *render_now(void)
{
    struct prom_text t;

    assert_int_equal(prom_text_init(&t, 16), 0);
    assert_int_equal(metrics_render(&t), 0);
    return text_of(&t);   /* caller gives it back with prom_release */
}

static void *render_thread(void *arg)
{
    (void)arg;
    return render_now();
}

/* The value on the line that starts with prefix, or -1 when there is none. */
static long long value_of(const char *text, const char *prefix)
{
    size_t n = strlen(prefix);

    for (const char *p = text; p != NULL && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
        if (strncmp(p, prefix, n) == 0)
            return strtoll(p + n, NULL, 10);
    return -1;
}

static void render_follows_every_change(void **state)
{
    static const char *const labels[] = { "/a", "/b/{name}" };
    char *t1, *t2, *t3, *other;
    pthread_t th;
    void *res;

    (void)state;
    assert_int_equal(metrics_init(labels, 2), 0);
    t1 = render_now();
    assert_null(strstr(t1, "statesnap_http_requests_total{"));
    assert_int_equal(value_of(t1, "statesnap_operations_total{op=\"create\",result=\"success\"} "), 0);
    assert_int_equal(value_of(t1, "statesnap_operation_duration_seconds_count{op=\"create\"} "), 0);

    metrics_http_count(0, 200);
    metrics_http_count(0, 200);
    metrics_http_count(1, 404);
    metrics_http_count(2, 599);       /* unmatched */
    metrics_http_count(3, 200);       /* no such route: dropped */
    metrics_http_count(0, 99);        /* no such status: dropped */
    metrics_op_observe(METRICS_OP_CREATE, 1, 0.2);
    metrics_op_observe(METRICS_OP_CREATE, 0, 7.5);
    /* Same thread as t1: its cached operations text must not be reused. */
    t2 = render_now();
    assert_int_equal(value_of(t2, "statesnap_http_requests_total{route=\"/a\",code=\"200\"} "), 2);
    assert_int_equal(value_of(t2, "statesnap_http_requests_total{route=\"/b/{name}\",code=\"404\"} "), 1);
    assert_int_equal(value_of(t2, "statesnap_http_requests_total{route=\"unmatched\",code=\"599\"} "), 1);
    assert_int_equal(value_of(t2, "statesnap_http_requests_total{route=\"/a\",code=\"404\"} "), -1);
    assert_null(strstr(t2, "code=\"099\""));
    assert_int_equal(value_of(t2, "statesnap_operations_total{op=\"create\",result=\"success\"} "), 1);
    assert_int_equal(value_of(t2, "statesnap_operations_total{op=\"create\",result=\"failure\"} "), 1);
    assert_int_equal(value_of(t2, "statesnap_operation_duration_seconds_bucket{op=\"create\",le=\"0.25\"} "), 1);
    assert_int_equal(value_of(t2, "statesnap_operation_duration_seconds_bucket{op=\"create\",le=\"5\"} "), 1);
    assert_int_equal(value_of(t2, "statesnap_operation_duration_seconds_bucket{op=\"create\",le=\"10\"} "), 2);
    assert_int_equal(value_of(t2, "statesnap_operation_duration_seconds_bucket{op=\"create\",le=\"+Inf\"} "), 2);
    assert_int_equal(value_of(t2, "statesnap_operation_duration_seconds_count{op=\"create\"} "), 2);
    assert_non_null(strstr(t2, "statesnap_operation_duration_seconds_sum{op=\"create\"} 7.700000\n"));

    /* Nothing changed: the same text again, from this thread and another. */
    t3 = render_now();
    assert_string_equal(t3, t2);
    assert_int_equal(pthread_create(&th, NULL, render_thread, NULL), 0);
    assert_int_equal(pthread_join(th, &res), 0);
    other = res;
    assert_string_equal(other, t2);
    prom_release(other);

    /* An operation other threads ended shows on this thread's next scrape. */
    metrics_op_observe(METRICS_OP_VERIFY, 1, 0.001);
    prom_release(t3);
    t3 = render_now();
    assert_int_equal(value_of(t3, "statesnap_operations_total{op=\"verify\",result=\"success\"} "), 1);
    assert_int_equal(value_of(t3, "statesnap_operation_duration_seconds_bucket{op=\"verify\",le=\"0.005\"} "), 1);
    prom_release(t1);
    prom_release(t2);
    prom_release(t3);
    prom_pool_drain();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(prom_text_grows_from_one_byte),
        cmocka_unit_test(released_texts_are_reused),
        cmocka_unit_test(render_follows_every_change),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
