/* daemon.h - the HTTP daemon (libmicrohttpd): start listening, answer
 * requests through admission, the router and the response cache, stop
 * taking new ones, wait for those in flight, stop. One per process. */
#ifndef STATESNAP_DAEMON_H
#define STATESNAP_DAEMON_H

#include <sys/socket.h>

#include "../common/err.h"
#include "../routes/routes.h"
#include "admit.h"
#include "../conf/config.h"

struct daemon_settings {
    struct config *cfg;                 /* borrowed; must outlive the daemon */
    const struct route_env *env;        /* copied */
    const struct admit_policy *admit;   /* copied; its port is updated once bound */
    const struct sockaddr *addr;        /* where to listen */
    const char *tls_cert, *tls_key;     /* PEM in memory (borrowed until daemon_stop), or NULL */
};

/* Start the worker threads and listen. Call with the signals the server
 * waits for already blocked (the threads inherit the mask). Returns 0, or
 * -1 with *e (ERR_IO: cannot listen, or no thread state); then call
 * daemon_stop. */
int daemon_start(const struct daemon_settings *s, struct err *e);

/* The port listened on (the kernel's pick for port 0). Cannot fail. */
unsigned daemon_port(void);

/* Requests begun and not yet completed. Cannot fail. */
long daemon_in_flight(void);

/* From now on turn new connections away and answer with Connection: close
 * (kept-alive connections finish what they started). Cannot fail. */
void daemon_refuse_new(void);

/* Wait until no request is in flight (for a few polls in a row), at most
 * max_ms. Cannot fail. */
void daemon_drain(long max_ms);

/* Stop listening and end the worker threads (their state freed). Safe to
 * call when daemon_start failed or was not called. Cannot fail. */
void daemon_stop(void);

#endif
