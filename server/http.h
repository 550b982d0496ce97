/* http.h - server limits and the per-request state kept between
 * libmicrohttpd's access-handler calls. */
#ifndef STATESNAP_HTTP_H
#define STATESNAP_HTTP_H

#include <limits.h>
#include <stdint.h>
#include <time.h>

#include <openssl/evp.h>

#include "config.h"
#include "log.h"
#include "router.h"

#define HTTP_THREADS 8                      /* engine calls block; SQLite and libzip do I/O */
#define HTTP_CONNECTION_LIMIT 4096   /* idle clients are cheap under epoll; a fresh one still gets in */
#define HTTP_FD_RESERVE 128          /* descriptors kept for the store, logs and SQLite */
#define HTTP_CONNECTION_TIMEOUT 120         /* seconds of client silence before a close */
#define HTTP_CONNECTION_MEMORY (16u << 10)  /* per-connection header/read buffer; MHD zeroes it per request */
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
    int rejected;                /* refused before the body: the handler must never run */
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
};

#endif
