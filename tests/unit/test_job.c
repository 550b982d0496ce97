/* test_job.c - the background-job runner (server/job.c): the first run at
 * once or at its planned time, the next one by the job's policy (the phase's
 * grid, or one interval after the end with a backoff after a failure), a
 * wake-up runs at once, stop interrupts and waits for the run in progress,
 * and a status read sees the job's own fields with the common ones. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "../../server/job.h"

#define WAIT_MS 5000

struct probe {
    atomic_int runs, finished, interrupted;
    atomic_int fail;              /* the run reports a failure */
    atomic_int block;             /* the run waits until interrupted */
    int64_t first;                /* first_run's answer */
    int recorded;                 /* written by record, under the job's lock */
};

static int64_t probe_first(void *ctx)
{
    return ((struct probe *)ctx)->first;
}

static int probe_run(void *ctx, char *error, size_t len)
{
    struct probe *p = ctx;

    while (atomic_load(&p->block) && !atomic_load(&p->interrupted)) {
        struct timespec ts = { 0, 5 * 1000000L };
        nanosleep(&ts, NULL);
    }
    atomic_fetch_add(&p->runs, 1);
    if (atomic_load(&p->fail)) {
        snprintf(error, len, "it broke");
        return 0;
    }
    return 1;
}

static void probe_record(void *ctx, int ok)
{
    struct probe *p = ctx;

    p->recorded = atomic_load(&p->runs) * (ok ? 1 : -1);
}

static void probe_interrupt(void *ctx)
{
    atomic_store(&((struct probe *)ctx)->interrupted, 1);
}

static void probe_finish(void *ctx)
{
    atomic_fetch_add(&((struct probe *)ctx)->finished, 1);
}

struct seen {
    struct job_status st;
    int recorded;
    struct probe *p;
};

static void copy_status(void *arg, const struct job_status *st)
{
    struct seen *s = arg;

    s->st = *st;
    s->recorded = s->p->recorded;
}

static struct seen status_of(struct job *j, struct probe *p)
{
    struct seen s = { .p = p };

    job_read(j, copy_status, &s);
    return s;
}

/* Wait until the job has ended n runs and is not running. */
static struct seen wait_runs(struct job *j, struct probe *p, uint64_t n)
{
    struct seen s;

    for (int waited = 0; waited < WAIT_MS; waited += 5) {
        struct timespec ts = { 0, 5 * 1000000L };
        s = status_of(j, p);
        if (s.st.runs[0] + s.st.runs[1] >= n && !s.st.running)
            return s;
        nanosleep(&ts, NULL);
    }
    fail_msg("fewer than %llu runs in %d ms", (unsigned long long)n, WAIT_MS);
    return s;
}

static struct job_spec spec_of(struct probe *p, enum job_policy policy, long interval)
{
    struct job_spec sp = { .name = "test", .interval = interval, .policy = policy,
                           .retry_min = 60, .first_run = probe_first, .run = probe_run,
                           .record = probe_record, .interrupt = probe_interrupt,
                           .finish = probe_finish, .ctx = p };
    return sp;
}

static void first_run_at_once_then_one_interval_after_its_end(void **state)
{
    static struct job j = JOB_INITIALIZER;
    struct probe p = { 0 };
    struct job_spec sp = spec_of(&p, JOB_AFTER_END, 3600);
    struct err e = { 0 };
    struct seen s;

    (void)state;
    assert_int_equal(job_start(&j, &sp, &e), 0);
    assert_true(job_active(&j));
    s = wait_runs(&j, &p, 1);
    assert_true(s.st.enabled);
    assert_int_equal(s.st.interval, 3600);
    assert_int_equal(s.st.last_result, 1);
    assert_string_equal(s.st.last_error, "");
    assert_true(s.st.last_start > 0 && s.st.last_start <= s.st.last_end);
    assert_int_equal(s.st.last_success_end, s.st.last_end);
    assert_int_equal(s.st.next_run, s.st.last_end + 3600);
    assert_int_equal(s.recorded, 1);
    job_stop(&j);
    assert_int_equal(atomic_load(&p.finished), 1);
    assert_int_equal(atomic_load(&p.runs), 1);
}

static void a_wake_runs_at_once_and_a_stopped_job_cannot_be_woken(void **state)
{
    static struct job j = JOB_INITIALIZER;
    struct probe p = { 0 };
    struct job_spec sp = spec_of(&p, JOB_AFTER_END, 3600);
    struct err e = { 0 };
    struct seen s;

    (void)state;
    assert_int_equal(job_wake(&j), -1);
    assert_int_equal(job_start(&j, &sp, &e), 0);
    wait_runs(&j, &p, 1);
    assert_int_equal(job_wake(&j), 0);
    s = wait_runs(&j, &p, 2);
    assert_int_equal(s.st.runs[0], 2);
    job_stop(&j);
    job_stop(&j);   /* twice is fine */
    assert_int_equal(job_wake(&j), -1);
    assert_false(job_active(&j));
    s = status_of(&j, &p);
    assert_false(s.st.enabled);
    assert_int_equal(s.st.interval, 0);
    assert_int_equal(s.st.next_run, 0);
    assert_int_equal(s.st.runs[0], 2);   /* the counters stay */
}

static void a_failure_comes_back_sooner_backing_off(void **state)
{
    static struct job j = JOB_INITIALIZER;
    struct probe p = { 0 };
    struct job_spec sp = spec_of(&p, JOB_AFTER_END, 3600);
    struct err e = { 0 };
    struct seen s;

    (void)state;
    atomic_store(&p.fail, 1);
    assert_int_equal(job_start(&j, &sp, &e), 0);
    s = wait_runs(&j, &p, 1);
    assert_int_equal(s.st.last_result, 0);
    assert_string_equal(s.st.last_error, "it broke");
    assert_int_equal(s.st.runs[1], 1);
    assert_int_equal(s.st.last_success_end, 0);
    assert_int_equal(s.st.next_run, s.st.last_end + 60);
    assert_int_equal(s.recorded, -1);
    assert_int_equal(job_wake(&j), 0);
    s = wait_runs(&j, &p, 2);
    assert_int_equal(s.st.next_run, s.st.last_end + 120);
    atomic_store(&p.fail, 0);
    assert_int_equal(job_wake(&j), 0);
    s = wait_runs(&j, &p, 3);
    assert_int_equal(s.st.last_result, 1);
    assert_string_equal(s.st.last_error, "");
    assert_int_equal(s.st.next_run, s.st.last_end + 3600);
    job_stop(&j);
}

static void a_planned_first_run_waits_and_the_phase_is_kept(void **state)
{
    static struct job j = JOB_INITIALIZER, k = JOB_INITIALIZER;
    struct probe p = { 0 }, q = { 0 };
    struct job_spec sp = spec_of(&p, JOB_KEEP_PHASE, 3600);
    struct job_spec sq = spec_of(&q, JOB_KEEP_PHASE, 3600);
    struct err e = { 0 };
    struct timespec ts = { 0, 100 * 1000000L };
    struct seen s;
    int64_t now = (int64_t)time(NULL);

    (void)state;
    /* Due in an hour: planned, not run. */
    p.first = now + 3600;
    assert_int_equal(job_start(&j, &sp, &e), 0);
    nanosleep(&ts, NULL);
    s = status_of(&j, &p);
    assert_int_equal(s.st.next_run, now + 3600);
    assert_int_equal(atomic_load(&p.runs), 0);
    job_stop(&j);
    /* Overdue: at once, and the next run stays on the grid of the planned one. */
    q.first = now - 10;
    assert_int_equal(job_start(&k, &sq, &e), 0);
    s = wait_runs(&k, &q, 1);
    assert_true(s.st.next_run > s.st.last_end);
    assert_int_equal((s.st.next_run - s.st.last_start) % 3600, 0);
    job_stop(&k);
}

static void stop_interrupts_the_run_in_progress_and_waits_for_it(void **state)
{
    static struct job j = JOB_INITIALIZER;
    struct probe p = { 0 };
    struct job_spec sp = spec_of(&p, JOB_AFTER_END, 3600);
    struct err e = { 0 };
    struct seen s;

    (void)state;
    atomic_store(&p.block, 1);
    assert_int_equal(job_start(&j, &sp, &e), 0);
    for (int waited = 0; waited < WAIT_MS && !status_of(&j, &p).st.running; waited += 5) {
        struct timespec ts = { 0, 5 * 1000000L };
        nanosleep(&ts, NULL);
    }
    assert_true(status_of(&j, &p).st.running);
    job_stop(&j);
    assert_int_equal(atomic_load(&p.interrupted), 1);
    assert_int_equal(atomic_load(&p.runs), 1);
    assert_int_equal(atomic_load(&p.finished), 1);
    s = status_of(&j, &p);
    assert_false(s.st.running);
    assert_int_equal(s.st.runs[0], 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(first_run_at_once_then_one_interval_after_its_end),
        cmocka_unit_test(a_wake_runs_at_once_and_a_stopped_job_cannot_be_woken),
        cmocka_unit_test(a_failure_comes_back_sooner_backing_off),
        cmocka_unit_test(a_planned_first_run_waits_and_the_phase_is_kept),
        cmocka_unit_test(stop_interrupts_the_run_in_progress_and_waits_for_it),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
