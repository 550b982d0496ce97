/* clock.h - deadlines for timed condition waits. Condition variables that
 * use them are set to CLOCK_MONOTONIC, so a wall-clock step never stretches
 * or cuts a wait. */
#ifndef STATESNAP_CLOCK_H
#define STATESNAP_CLOCK_H

#include <pthread.h>
#include <time.h>

/* *until = now (CLOCK_MONOTONIC) + ms milliseconds. */
static inline void clock_deadline_ms(struct timespec *until, long ms)
{
    clock_gettime(CLOCK_MONOTONIC, until);
    until->tv_sec += ms / 1000;
    until->tv_nsec += (ms % 1000) * 1000000L;
    if (until->tv_nsec >= 1000000000L) {
        until->tv_sec++;
        until->tv_nsec -= 1000000000L;
    }
}

/* A condition variable whose timed waits count on CLOCK_MONOTONIC. */
static inline int clock_cond_init(pthread_cond_t *cv)
{
    pthread_condattr_t ca;
    int rc;

    if ((rc = pthread_condattr_init(&ca)) != 0)
        return rc;
    (void)pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    rc = pthread_cond_init(cv, &ca);
    pthread_condattr_destroy(&ca);
    return rc;
}

#endif
