/* problem.h - the one mapping from error classes to HTTP statuses and RFC 9457
 * problem documents, shared by both fronts (routes/ answers with it, cli/
 * prints it for --json). */
#ifndef STATESNAP_PROBLEM_H
#define STATESNAP_PROBLEM_H

#include <jansson.h>

#include "err.h"

#define PROBLEM_TYPE_PREFIX "urn:statesnap:problem:"

/* The HTTP status for an error class (enum err_code); 500 for any other
 * value. Cannot fail. */
int problem_status_for(int code);

/* The reason phrase of an HTTP status ("Not Found"); "Internal Server Error"
 * for a status it does not know. Cannot fail. */
const char *problem_reason(int status);

/* A new problem document {type, title, status, detail} for status. slug is
 * the type's last part, or NULL for the status's own. Returns NULL when out
 * of memory; the caller owns the result (json_decref). */
json_t *problem_doc_new(int status, const char *slug, const char *detail);

/* The problem document for e: status from problem_status_for(e->code), the
 * type finer than the status where a client may tell the cases apart
 * (pinned, verification-failed, ...), detail e->msg (or the reason phrase).
 * Returns NULL when out of memory; the caller owns the result. */
json_t *problem_doc_for_err(const struct err *e);

/* 1 when e's class is worth retrying soon (the API adds Retry-After, the CLI
 * exits CLI_EXIT_RETRY): the store or catalog is busy, the state kept
 * changing, the state root is not there yet. 0 otherwise. Cannot fail. */
int problem_retryable(int code);

#endif
