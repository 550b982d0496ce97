/* problem.c - error classes to HTTP statuses and RFC 9457 problem documents:
 * the single table both fronts use. */
#include "problem.h"

#include <stdio.h>

int problem_status_for(int code)
{
    switch (code) {
    case ERR_INVALID:   return 400;
    case ERR_NOT_FOUND: return 404;
    case ERR_CONFLICT:  return 409;
    case ERR_PINNED:    return 409;
    case ERR_VERIFY:    return 422;
    case ERR_LOCKED:    return 423;
    case ERR_TOO_LARGE: return 413;
    case ERR_NO_SPACE:  return 507;
    case ERR_ABORTED:   return 409;
    case ERR_HOOK:      return 409;
    case ERR_UNSTABLE:  return 409;
    case ERR_UNAVAILABLE: return 503;
    case ERR_UPSTREAM:  return 502;
    default:            return 500;
    }
}

int problem_retryable(int code)
{
    return code == ERR_LOCKED || code == ERR_UNSTABLE || code == ERR_UNAVAILABLE ||
           code == ERR_UPSTREAM;
}

/* The problem "type" slug of an error class, finer than its status where a
 * client may want to tell the cases apart (pinned vs name conflict). */
static const char *slug_for_code(int code)
{
    switch (code) {
    case ERR_PINNED: return "pinned";
    case ERR_VERIFY: return "verification-failed";
    case ERR_HOOK: return "hook-failed";
    case ERR_UNSTABLE: return "state-changing";
    case ERR_UNAVAILABLE: return "state-missing";
    case ERR_UPSTREAM: return "offsite-unreachable";
    default:         return NULL;
    }
}

static const char *slug_for_status(int status)
{
    switch (status) {
    case 400: return "invalid-request";
    case 401: return "unauthorized";
    case 403: return "forbidden";
    case 404: return "not-found";
    case 405: return "method-not-allowed";
    case 409: return "conflict";
    case 413: return "too-large";
    case 414: return "uri-too-long";
    case 415: return "unsupported-media-type";
    case 431: return "header-too-large";
    case 422: return "unprocessable";
    case 423: return "locked";
    case 502: return "bad-gateway";
    case 503: return "unavailable";
    case 507: return "no-space";
    default:  return "internal";
    }
}

const char *problem_reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 204: return "No Content";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 409: return "Conflict";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Content";
    case 423: return "Locked";
    case 431: return "Request Header Fields Too Large";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 507: return "Insufficient Storage";
    default:  return "Internal Server Error";
    }
}

json_t *problem_doc_new(int status, const char *slug, const char *detail)
{
    char type[96];

    if (slug == NULL)
        slug = slug_for_status(status);
    /* The prefix and slugs are short constants, so this always fits. */
    (void)snprintf(type, sizeof(type), PROBLEM_TYPE_PREFIX "%s", slug);
    return json_pack("{s:s, s:s, s:i, s:s}", "type", type, "title", problem_reason(status),
                     "status", status, "detail", detail);
}

json_t *problem_doc_for_err(const struct err *e)
{
    int status = problem_status_for(e->code);

    return problem_doc_new(status, slug_for_code(e->code),
                           e->msg[0] ? e->msg : problem_reason(status));
}
