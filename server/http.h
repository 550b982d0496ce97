/* http.h - server limits and the per-request state kept between
 * libmicrohttpd's access-handler calls. */
#ifndef STATESNAP_HTTP_H
#define STATESNAP_HTTP_H

#include <limits.h>
#include <stdint.h>
#include <time.h>

#include <openssl/evp.h>

#include "../conf/config.h"
#include "log.h"
#include "router.h"

#define HTTP_THREADS 8                      /* engine calls block; SQLite and libzip do I/O */
#define HTTP_CONNECTION_LIMIT 4096   /* idle clients are cheap; a fresh one still gets in */
#define HTTP_FD_RESERVE 128          /* descriptors kept for the store, logs and SQLite */
#define HTTP_IDLE_TIMEOUT 15                /* seconds of silence before a request's head, or between requests */
#define HTTP_CONNECTION_TIMEOUT 120         /* seconds of client silence once a request is under way */
#define HTTP_CONNECTION_MEMORY (32u << 10)  /* per-connection header/read buffer; MHD zeroes it per request */
/* Our own limits on a request's head, all well inside HTTP_CONNECTION_MEMORY
 * so that libmicrohttpd never runs out of it first (its own answers are
 * HTML, and in 0.9.75 one that runs out while parsing query arguments never
 * answers at all). */
#define HTTP_URI_MAX 8192                   /* request target, query included */
#define HTTP_QUERY_ARGS_MAX 64
#define HTTP_DRAIN_MAX (64ull << 20)        /* body read and thrown away before an early refusal */
#define HTTP_HEADER_BYTES_MAX (16u << 10)   /* names and values of all header fields */
#define HTTP_HEADERS_MAX 100
#define HTTP_DISCARD_MAX (64ULL << 20)      /* body bytes dropped after a 413 before hanging up */
#define HTTP_DRAIN_SECONDS 600              /* longest wait for in-flight requests at shutdown */
#define HTTP_PATH_MAX 2048                  /* longest path kept for the log */
#define HTTP_TLS_FILE_MAX (1u << 20)

struct http_request {
    char id[LOG_REQUEST_ID_MAX + 1];
    struct timespec start;
    char method[16];
    char *path;                  /* copy for the log line (may be cut at HTTP_PATH_MAX) */
    int route;                   /* index into the route table, or < 0 */
    char name[ENGINE_NAME_MAX + 2];
    const char *rest;
    const char *token_name;      /* borrowed from the config, "dev", or NULL */
    enum token_role role;        /* the caller's role (ROLE_NONE without a token) */
    int rejected;                /* refused before the body: the handler must never run */
    int close;                   /* answer with Connection: close (broken framing) */
    int responded;               /* a response is queued */
    int status;
    int too_large;
    uint64_t limit;              /* body byte cap for this route */
    uint64_t received;
    char *body;                  /* JSON routes: the body so far, NUL-terminated */
    size_t body_len, body_cap;
    int upload_fd;               /* import: temp file, -1 = none */
    char upload_path[PATH_MAX];
    EVP_MD_CTX *digest;          /* body SHA-256 when an Idempotency-Key is present */
    int at_head;                 /* still in the first call: no body byte seen yet */
    struct MHD_Response *deferred;   /* a refusal held until the body is read (drained) */
    unsigned int deferred_status;
    uint64_t drained;
};

#endif
