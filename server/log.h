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

/* From now on request lines are gathered in memory and written by a
 * thread of their own, at most LOG_FLUSH_MS apart (or sooner when
 * LOG_BUFFER_BYTES fill up): a worker thread never waits on the log file.
 * Event lines stay immediate (and first write out the request lines before
 * them). Returns 0, or -1 when the thread cannot start (lines then stay
 * synchronous). */
#define LOG_BUFFER_BYTES (64u << 10)
#define LOG_FLUSH_MS 100
int log_buffer_start(void);

/* Write out what is gathered and go back to writing each line at once.
 * Call before exiting. */
void log_buffer_stop(void);

/* A new request id (unique within this process, unpredictable across
 * restarts) into out (at least 33 bytes). Cannot fail. */
void log_new_request_id(char *out, size_t len);

#endif
