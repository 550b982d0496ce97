/* failpoint.h - named kill points for crash tests, compiled into test builds only.
 *
 * FAILPOINT("create.after_rename") kills the process with SIGKILL when the
 * environment variable STATESNAP_FAILPOINT names that point; in a release
 * build it is nothing at all. */
#ifndef STATESNAP_FAILPOINT_H
#define STATESNAP_FAILPOINT_H

#ifdef STATESNAP_TESTING
void failpoint_hit(const char *name);
#define FAILPOINT(name) failpoint_hit(name)
#else
#define FAILPOINT(name) ((void)0)
#endif

#endif
