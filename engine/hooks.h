/* hooks.h - run an operator's command around an operation (pre/post hooks).
 *
 * A hook is an argv array run directly (no shell unless argv[0] is one),
 * in its own process group, with stdin from /dev/null, stdout and stderr
 * captured together up to HOOK_OUTPUT_MAX bytes, and a timeout after which
 * the whole group is killed. Its environment is statesnap's own plus the
 * STATESNAP_* variables the caller gives. Kopia's actions and Velero's
 * backup hooks work the same way. */
#ifndef STATESNAP_HOOKS_H
#define STATESNAP_HOOKS_H

#include <stddef.h>
#include <jansson.h>

#include "engine.h"
#include "../common/err.h"

#define HOOK_OUTPUT_MAX 4096            /* bytes of output kept (the rest is counted) */
#define HOOK_ENV_MAX 16                 /* STATESNAP_* variables one call may add */

/* Run hook h with extra environment entries env ("NAME=value", NULL-ended,
 * at most HOOK_ENV_MAX). *result gets {hook, argv, exit_code, signal,
 * timed_out, duration_ms, output, output_truncated} (caller decrefs; also
 * on failure when the command ran). Returns 0 when the command exited 0,
 * else -1 with ERR_HOOK naming the hook, its exit status or the timeout.
 * what is "pre_snapshot", "post_snapshot", ... for messages. */
int hook_run(const struct hook_spec *h, const char *what, const char *const *env,
             json_t **result, struct err *e);

/* Replace, in place, every value of an assignment-looking word whose name
 * says it is a secret (KEY, SECRET, TOKEN, PASSWORD, PASSPHRASE, AUTH,
 * CREDENTIAL, PRIVATE: "API_KEY=abc def" -> "API_KEY=***", the value running
 * to the end of its line; also "Bearer abc" -> "Bearer ***") so a hook that prints its environment leaks nothing into the log or
 * the audit trail. Cannot fail. */
void hook_redact(char *text);

#endif
