/* job.h - the server's background-job runner: a named job runs its work
 * function on its own thread every interval (or sooner when woken), keeps a
 * status, and stops cleanly. The scheduler, the restore-drill scheduler and
 * the offsite syncer are jobs. */
#ifndef STATESNAP_JOB_H
#define STATESNAP_JOB_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "../common/err.h"

/* "prune: " or "create: cannot open the store: " before an err message. */
#define JOB_ERROR_MAX (sizeof(((struct err *)0)->msg) + 64)

/* When the run after a finished one is due. */
enum job_policy {
    /* On the grid first_run + k * interval: the first slot after the run
     * ended, so a run longer than the interval skips the slots it overlapped. */
    JOB_KEEP_PHASE,
    /* One interval after the run ended; after a failure sooner, backing off
     * from retry_min seconds (doubling) up to the interval. */
    JOB_AFTER_END,
};

/* What a job is. Every callback gets ctx; all but record run on the job's
 * own thread with no lock held. */
struct job_spec {
    const char *name;           /* for messages: "scheduler", "offsite sync" */
    long interval;              /* seconds between runs, > 0 */
    enum job_policy policy;
    long retry_min;             /* JOB_AFTER_END: first retry after a failure, seconds */
    /* When the first run is due, wall-clock Unix seconds (at once when not
     * in the future). NULL = at once. */
    int64_t (*first_run)(void *ctx);
    /* One run. Returns 1 on success, or 0 with a message in error. */
    int (*run)(void *ctx, char *error, size_t error_len);
    /* Optional: called with the job's lock held right after a run's common
     * status is updated, to record the job's own outcome fields so that a
     * status read (job_read) sees them and the common fields together. */
    void (*record)(void *ctx, int ok);
    /* Optional: called by job_stop (any thread, no lock) before it waits,
     * to cut a run in progress short (the offsite syncer aborts a transfer). */
    void (*interrupt)(void *ctx);
    /* Optional: on the job's thread as it ends (close what run opened). */
    void (*finish)(void *ctx);
    void *ctx;
};

/* The status every job has. Times are wall-clock Unix seconds, 0 = never. */
struct job_status {
    int enabled;                /* started and not yet stopped */
    int stopping;
    int running;                /* a run is in progress */
    long interval;              /* the spec's, 0 when not enabled */
    int64_t last_start, last_end;
    int64_t last_success_end;
    int64_t next_run;           /* 0 when none is planned (off, stopping, not yet planned) */
    int last_result;            /* -1 none yet, 0 failure, 1 success */
    char last_error[JOB_ERROR_MAX];   /* the last run's error when it failed, else "" */
    uint64_t runs[2];           /* [0] successes, [1] failures */
};

/* A job's state; define one statically with JOB_INITIALIZER. Fields are the
 * runner's own: use the functions below. */
struct job {
    pthread_mutex_t mu;
    pthread_cond_t wake;        /* CLOCK_MONOTONIC: stop, job_wake, the deadline */
    pthread_t thread;
    struct job_spec spec;
    int started, stopping, wake_requested;
    struct timespec deadline;   /* CLOCK_MONOTONIC: when the next run is due */
    struct job_status st;
};

#define JOB_INITIALIZER { .mu = PTHREAD_MUTEX_INITIALIZER, .st = { .last_result = -1 } }

/* Start j's thread with *spec (copied). The counters and last outcome from
 * an earlier start are kept. Call with the signals the server waits for
 * already blocked. Returns 0 (also when j is already started) or -1 with
 * ERR_IO in *e naming the job. */
int job_start(struct job *j, const struct job_spec *spec, struct err *e);

/* Stop j: no new run starts, a run in progress is interrupted (when the
 * spec can) and waited for, the thread is joined. Safe to call when j was
 * not started, and more than once. Cannot fail. */
void job_stop(struct job *j);

/* Ask for a run now: at once when idle, right after the current one when a
 * run is in progress (several requests meanwhile make one run). Returns 0,
 * or -1 when j is not started or is stopping. Never blocks on a run. */
int job_wake(struct job *j);

/* 1 when j is started and not stopping, else 0. Cannot fail. */
int job_active(struct job *j);

/* Call fn(arg, status) with j's lock held, so that fn sees the common
 * status and whatever the spec's record callback wrote as one consistent
 * state. fn must not call back into j. Cannot fail. */
void job_read(struct job *j, void (*fn)(void *arg, const struct job_status *st), void *arg);

/* A status time as JSON: "2024-12-25T14:30:00Z", or null for 0 (never,
 * none planned). Caller owns the value; NULL on OOM. */
json_t *job_time_json(int64_t t);

#endif
