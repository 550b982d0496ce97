/* job.c - the server's background-job runner: one thread per job, waiting
 * on CLOCK_MONOTONIC deadlines, with the job's status under one mutex.
 *
 * One thread per job rather than one for all: a run blocks for as long as
 * its work takes (a create of a large state root, an S3 upload), and one
 * job's run must not hold up another's slot.
 *
 * Planning is in wall-clock seconds, because that is what the status shows
 * and what a job's phase is anchored to (the newest scheduled snapshot's
 * created_at); the wait is a monotonic deadline derived from it when the
 * next run is planned, so a clock step while waiting neither fires a run
 * early nor holds it back. */
#include "job.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "../common/clock.h"
#include "../engine/engine.h"

/* Longest wait for a lagging wall clock once the monotonic deadline passed. */
#define JOB_WALL_LAG_MAX_S 1
#define JOB_WALL_LAG_POLL_MS 2

static int64_t wall_now(void)
{
    return (int64_t)time(NULL);
}

static int ts_before(const struct timespec *a, const struct timespec *b)
{
    return a->tv_sec < b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

/* j->deadline = the monotonic instant at which the wall clock reads
 * j->st.next_run (now when that is past). Called with j->mu held. */
static void plan_deadline(struct job *j)
{
    struct timespec real;
    int64_t ns;

    clock_gettime(CLOCK_REALTIME, &real);
    ns = ((int64_t)j->st.next_run - (int64_t)real.tv_sec) * 1000000000LL - real.tv_nsec;
    if (ns < 0)
        ns = 0;
    clock_gettime(CLOCK_MONOTONIC, &j->deadline);
    j->deadline.tv_sec += (time_t)(ns / 1000000000LL);
    j->deadline.tv_nsec += (long)(ns % 1000000000LL);
    if (j->deadline.tv_nsec >= 1000000000L) {
        j->deadline.tv_sec++;
        j->deadline.tv_nsec -= 1000000000L;
    }
}

/* Is the planned run due? Called with j->mu held. */
static int due(struct job *j)
{
    struct timespec now;
    int64_t w;

    clock_gettime(CLOCK_MONOTONIC, &now);
    if (ts_before(&now, &j->deadline))
        return 0;
    /* The wall clock that the status shows may lag the monotonic one by a
     * little (NTP slewing; time() reads a coarse clock): wait that out, so a
     * run planned for second T also starts in second T. A step back of
     * more than that is not waited for. */
    w = wall_now();
    if (w < j->st.next_run && j->st.next_run - w <= JOB_WALL_LAG_MAX_S) {
        clock_deadline_ms(&j->deadline, JOB_WALL_LAG_POLL_MS);
        return 0;
    }
    return 1;
}

/* The run after the one that just ended (j->st holds its outcome). Called
 * with j->mu held; *retry is the JOB_AFTER_END backoff. */
static void plan_next(struct job *j, int ok, long *retry)
{
    const struct job_spec *sp = &j->spec;

    if (sp->policy == JOB_KEEP_PHASE) {
        j->st.next_run += sp->interval;
        while (j->st.next_run <= j->st.last_end)
            j->st.next_run += sp->interval;
    } else if (ok) {
        *retry = sp->retry_min > 0 ? sp->retry_min : sp->interval;
        j->st.next_run = j->st.last_end + sp->interval;
    } else {
        j->st.next_run = j->st.last_end + (*retry < sp->interval ? *retry : sp->interval);
        *retry = *retry * 2 > sp->interval ? sp->interval : *retry * 2;
    }
    plan_deadline(j);
}

static void *job_thread(void *arg)
{
    struct job *j = arg;
    const struct job_spec *sp = &j->spec;
    char error[JOB_ERROR_MAX];
    long retry = sp->retry_min > 0 ? sp->retry_min : sp->interval;
    int64_t first = sp->first_run != NULL ? sp->first_run(sp->ctx) : 0, now;
    int ok;

    pthread_mutex_lock(&j->mu);
    now = wall_now();
    j->st.next_run = first > now ? first : now;
    plan_deadline(j);
    while (!j->stopping) {
        if (!j->wake_requested && !due(j)) {
            (void)pthread_cond_timedwait(&j->wake, &j->mu, &j->deadline);
            continue;
        }
        j->wake_requested = 0;
        j->st.running = 1;
        j->st.last_start = wall_now();
        pthread_mutex_unlock(&j->mu);

        error[0] = '\0';
        ok = sp->run(sp->ctx, error, sizeof(error)) == 1;

        pthread_mutex_lock(&j->mu);
        j->st.running = 0;
        j->st.last_end = wall_now();
        j->st.last_result = ok;
        snprintf(j->st.last_error, sizeof(j->st.last_error), "%s", ok ? "" : error);
        j->st.runs[ok ? 0 : 1]++;
        if (ok)
            j->st.last_success_end = j->st.last_end;
        if (sp->record != NULL)
            sp->record(sp->ctx, ok);
        plan_next(j, ok, &retry);
    }
    j->st.running = 0;
    pthread_mutex_unlock(&j->mu);
    if (sp->finish != NULL)
        sp->finish(sp->ctx);
    return NULL;
}

int job_start(struct job *j, const struct job_spec *spec, struct err *e)
{
    int rc;

    pthread_mutex_lock(&j->mu);
    if (j->started) {
        pthread_mutex_unlock(&j->mu);
        return 0;
    }
    if ((rc = clock_cond_init(&j->wake)) != 0) {
        pthread_mutex_unlock(&j->mu);
        return err_sys(e, rc, "cannot start the %s thread", spec->name);
    }
    j->spec = *spec;
    j->stopping = 0;
    j->wake_requested = 0;
    j->st.next_run = 0;
    j->started = 1;
    if ((rc = pthread_create(&j->thread, NULL, job_thread, j)) != 0) {
        j->started = 0;
        pthread_cond_destroy(&j->wake);
        pthread_mutex_unlock(&j->mu);
        return err_sys(e, rc, "cannot start the %s thread", spec->name);
    }
    pthread_mutex_unlock(&j->mu);
    return 0;
}

void job_stop(struct job *j)
{
    pthread_mutex_lock(&j->mu);
    if (!j->started || j->stopping) {
        pthread_mutex_unlock(&j->mu);
        return;
    }
    j->stopping = 1;
    pthread_cond_broadcast(&j->wake);
    pthread_mutex_unlock(&j->mu);
    if (j->spec.interrupt != NULL)
        j->spec.interrupt(j->spec.ctx);
    pthread_join(j->thread, NULL);
    pthread_mutex_lock(&j->mu);
    j->started = 0;
    j->stopping = 0;
    j->st.next_run = 0;
    pthread_cond_destroy(&j->wake);
    pthread_mutex_unlock(&j->mu);
}

int job_wake(struct job *j)
{
    int rc = -1;

    pthread_mutex_lock(&j->mu);
    if (j->started && !j->stopping) {
        j->wake_requested = 1;
        pthread_cond_broadcast(&j->wake);
        rc = 0;
    }
    pthread_mutex_unlock(&j->mu);
    return rc;
}

int job_active(struct job *j)
{
    int on;

    pthread_mutex_lock(&j->mu);
    on = j->started && !j->stopping;
    pthread_mutex_unlock(&j->mu);
    return on;
}

void job_read(struct job *j, void (*fn)(void *arg, const struct job_status *st), void *arg)
{
    struct job_status st;

    pthread_mutex_lock(&j->mu);
    st = j->st;
    st.enabled = j->started;
    st.stopping = j->stopping;
    st.interval = j->started ? j->spec.interval : 0;
    if (!j->started || j->stopping)
        st.next_run = 0;
    fn(arg, &st);
    pthread_mutex_unlock(&j->mu);
}

json_t *job_time_json(int64_t t)
{
    char buf[32];

    if (t <= 0)
        return json_null();
    engine_time_format(t, buf, sizeof(buf));
    return json_string(buf);
}
