/* idempotency.h - stored responses of POST requests that carried an
 * Idempotency-Key, so a retried request replays the first answer (24 h). */
#ifndef STATESNAP_IDEMPOTENCY_H
#define STATESNAP_IDEMPOTENCY_H

#include <stdint.h>

#include "catalog.h"
#include "../common/err.h"

#define IDEMPOTENCY_TTL_SECONDS (24L * 3600)
#define IDEMPOTENCY_KEY_MAX 255

struct idempotency_record {
    char request_hash[65];   /* hex SHA-256 of method, path and body */
    int status;
    char *body;              /* malloc'd response body */
};

/* Look up key among records younger than IDEMPOTENCY_TTL_SECONDS at now.
 * Returns 1 and fills *out (idempotency_record_clear frees), 0 when there is
 * none, -1 on a catalog error. */
int idempotency_lookup(struct catalog *c, const char *key, int64_t now,
                       struct idempotency_record *out, struct err *e);

/* Remember the response for key (replacing an expired record of the same
 * key) and purge records older than the TTL. Returns 0 or -1. */
int idempotency_save(struct catalog *c, const char *key, const char *request_hash, int status,
                     const char *body, int64_t now, struct err *e);

/* Free what a record owns. Accepts NULL. */
void idempotency_record_clear(struct idempotency_record *r);

#endif
