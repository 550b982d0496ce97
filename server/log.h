/* log.h - structured logging: one JSON object per line on stderr. */
#ifndef STATESNAP_LOG_H
#define STATESNAP_LOG_H

#include <stddef.h>
#include <jansson.h>

#define LOG_REQUEST_ID_MAX 64

/* Log one finished request. token_name is the token's configured name (never
 * the token), "dev" in dev mode, or NULL when none was given. Cannot fail:
 * a line that cannot be written is dropped. */
void log_request(const char *request_id, const char *method, const char *path, int status,
                 double duration_ms, const char *token_name);

/* Log an event: {"time","level","msg"} plus the members of fields (stolen,
 * may be NULL). Cannot fail. */
void log_event(const char *level, const char *msg, json_t *fields);

/* A new request id (unique within this process, unpredictable across
 * restarts) into out (at least 33 bytes). Cannot fail. */
void log_new_request_id(char *out, size_t len);

#endif
