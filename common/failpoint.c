/* failpoint.c - named kill points for crash tests (test builds only). */
#include "failpoint.h"

#ifdef STATESNAP_TESTING
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* STATESNAP_FAILPOINT=name[:n] kills at the n-th hit (default the first);
 * STATESNAP_FAILPOINT_LOG=path appends every point passed, so a crash test
 * can enumerate the points an operation goes through;
 * STATESNAP_FAILPOINT_SLEEP=name:ms waits there, so a test can change the
 * state root at that instant (a file that vanishes mid-create). */
void failpoint_hit(const char *name)
{
    static _Atomic int hits;   /* restore passes points on two threads */
    const char *want = getenv("STATESNAP_FAILPOINT");
    const char *log = getenv("STATESNAP_FAILPOINT_LOG");

    if (log != NULL) {
        FILE *f = fopen(log, "a");
        if (f != NULL) {
            fprintf(f, "%s\n", name);
            fclose(f);
        }
    }
    const char *nap = getenv("STATESNAP_FAILPOINT_SLEEP");
    size_t n = strlen(name);
    if (nap != NULL && strncmp(nap, name, n) == 0 && nap[n] == ':') {
        long ms = strtol(nap + n + 1, NULL, 10);
        if (ms > 0 && ms <= 60000)
            usleep((useconds_t)ms * 1000);
    }
    if (want == NULL)
        return;
    if (strncmp(want, name, n) != 0 || (want[n] != '\0' && want[n] != ':'))
        return;
    int nth = want[n] == ':' ? (int)strtol(want + n + 1, NULL, 10) : 1;
    if (atomic_fetch_add(&hits, 1) + 1 >= nth)
        raise(SIGKILL);
}
#else
typedef int failpoint_unused;
#endif
