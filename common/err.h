/* err.h - the error record every internal function fills in on failure. */
#ifndef STATESNAP_ERR_H
#define STATESNAP_ERR_H

/* Error classes. The front (CLI exit code, HTTP status) is chosen from these
 * in exactly one place per front: cli_exit_code() (cli/ctx.c) and
 * problem_status_for() (common/problem.c). */
enum err_code {
    ERR_NONE = 0,
    ERR_INVALID,   /* bad input: a name, a flag, a config value   -> exit 2, 400 */
    ERR_NOT_FOUND, /* no such snapshot                            -> exit 1, 404 */
    ERR_CONFLICT,  /* duplicate name, stale confirm token         -> exit 1, 409 */
    ERR_PINNED,    /* delete of a pinned snapshot without force   -> exit 1, 409 */
    ERR_VERIFY,    /* hash mismatch, corrupt or hostile archive   -> exit 1, 422 */
    ERR_LOCKED,    /* store lock not acquired within the timeout  -> exit 11, 423 */
    ERR_TOO_LARGE, /* a limit was exceeded                        -> exit 1, 413 */
    ERR_NO_SPACE,  /* ENOSPC / EDQUOT while writing               -> exit 1, 507 */
    ERR_IO,        /* any other system failure                    -> exit 1, 500 */
    ERR_ABORTED,   /* the operator said no                        -> exit 1 */
    ERR_HOOK,      /* a pre/post hook failed or timed out         -> exit 1, 409 */
    ERR_UNSTABLE,  /* the state kept changing: no consistent cut  -> exit 11, 409 + Retry-After */
    ERR_UNAVAILABLE, /* the state root holds none of the required
                      * files (is the volume mounted?)            -> exit 11, 503 + Retry-After */
    ERR_UPSTREAM   /* the offsite endpoint unreachable, or 5xx,
                    * 408, 429 after the retries                  -> exit 11, 502 + Retry-After */
};

struct err {
    int code;
    char msg[256];
};

/* Record an error. Later calls do not overwrite an earlier, more precise
 * message unless the code is ERR_NONE. Cannot fail. Returns -1 so callers can
 * write "return err_set(e, ...);". */
int err_set(struct err *e, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Like err_set() with ERR_IO or ERR_NO_SPACE chosen from errnum, and
 * ": strerror(errnum)" appended. Returns -1. */
int err_sys(struct err *e, int errnum, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Forget a recorded error. Cannot fail. */
void err_clear(struct err *e);

#endif
