/* problem.c - response helpers: JSON bodies and RFC 9457 problem documents
 * (the mapping from error classes to statuses is common/problem.c's). */
#include "routes.h"

#include "../common/problem.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void route_resp_init(struct route_resp *o)
{
    memset(o, 0, sizeof(*o));
    o->status = 500;
    o->fd = -1;
}

void route_text_free(struct route_resp *o)
{
    if (o->text != NULL)
        (o->text_free != NULL ? o->text_free : free)(o->text);
    o->text = NULL;
    o->text_free = NULL;
}

void route_resp_clear(struct route_resp *o)
{
    if (o == NULL)
        return;
    json_decref(o->json);
    route_text_free(o);
    if (o->fd >= 0)
        close(o->fd);
    route_resp_init(o);
}

int route_status_for(int code)
{
    return problem_status_for(code);
}

const char *route_reason(int status)
{
    return problem_reason(status);
}

int route_header_add(struct route_resp *o, const char *name, const char *value)
{
    struct route_header *h;

    if (o->n_headers >= ROUTE_MAX_HEADERS)
        return -1;
    h = &o->headers[o->n_headers];
    if (snprintf(h->name, sizeof(h->name), "%s", name) >= (int)sizeof(h->name) ||
        snprintf(h->value, sizeof(h->value), "%s", value) >= (int)sizeof(h->value))
        return -1;
    o->n_headers++;
    return 0;
}

/* Replace whatever body o has with nothing, keeping its headers. */
static void drop_body(struct route_resp *o)
{
    json_decref(o->json);
    o->json = NULL;
    route_text_free(o);
    o->text_len = 0;
    if (o->fd >= 0)
        close(o->fd);
    o->fd = -1;
}

static void problem_make(struct route_resp *o, int status, json_t *doc)
{
    drop_body(o);
    o->status = status;
    o->content_type = ROUTE_PROBLEM_JSON;
    o->json = doc;
    if (status == 423) {
        char secs[16];
        (void)snprintf(secs, sizeof(secs), "%d", ROUTE_RETRY_AFTER_SECONDS);
        (void)route_header_add(o, "Retry-After", secs);
    }
}

void route_json(struct route_resp *o, int status, json_t *doc)
{
    if (doc == NULL) {
        route_problem(o, 500, "out of memory building the response");
        return;
    }
    drop_body(o);
    o->status = status;
    o->content_type = ROUTE_JSON;
    o->json = doc;
}

void route_problem(struct route_resp *o, int status, const char *fmt, ...)
{
    char detail[512];
    va_list ap;

    va_start(ap, fmt);
    /* A long detail is cut; the status and type still say what happened. */
    (void)vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    problem_make(o, status, problem_doc_new(status, NULL, detail));
}

void route_problem_err(struct route_resp *o, const struct err *e)
{
    int status = route_status_for(e->code);

    problem_make(o, status, problem_doc_for_err(e));
    /* The state was moving or not there yet, or the offsite endpoint did
     * not answer: worth trying again soon (423 has its header already). */
    if (status != 423 && problem_retryable(e->code)) {
        char secs[16];
        (void)snprintf(secs, sizeof(secs), "%d", ROUTE_RETRY_AFTER_SECONDS);
        (void)route_header_add(o, "Retry-After", secs);
    }
}

int route_body_object(const struct route_req *r, const char *const *allowed, json_t **out,
                      struct route_resp *o)
{
    json_error_t jerr;
    json_t *doc;
    const char *key;
    json_t *v;

    *out = NULL;
    if (r->body_len == 0) {
        if ((*out = json_object()) == NULL) {
            route_problem(o, 500, "out of memory");
            return -1;
        }
        return 0;
    }
    doc = json_loadb(r->body, r->body_len, JSON_REJECT_DUPLICATES, &jerr);
    if (doc == NULL) {
        route_problem(o, 400, "malformed JSON at line %d column %d: %s", jerr.line, jerr.column,
                      jerr.text);
        return -1;
    }
    if (!json_is_object(doc)) {
        json_decref(doc);
        route_problem(o, 400, "the request body must be a JSON object");
        return -1;
    }
    json_object_foreach(doc, key, v) {
        size_t i;
        for (i = 0; allowed[i] != NULL; i++)
            if (strcmp(allowed[i], key) == 0)
                break;
        if (allowed[i] == NULL) {
            route_problem(o, 400, "unknown key \"%.64s\" in the request body", key);
            json_decref(doc);
            return -1;
        }
    }
    *out = doc;
    return 0;
}

int route_check_labels(const json_t *v, struct route_resp *o)
{
    const char *key;
    json_t *val;

    if (v == NULL)
        return 0;
    if (!json_is_object(v)) {
        route_problem(o, 400, "\"labels\" must be an object of strings");
        return -1;
    }
    if (json_object_size(v) > ENGINE_LABELS_MAX) {
        route_problem(o, 400, "at most %d labels", ENGINE_LABELS_MAX);
        return -1;
    }
    json_object_foreach((json_t *)v, key, val) {
        if (!json_is_string(val)) {
            route_problem(o, 400, "label \"%.64s\" must be a string", key);
            return -1;
        }
        if (*key == '\0' || strlen(key) > ENGINE_LABEL_KEY_MAX ||
            json_string_length(val) > ENGINE_LABEL_VALUE_MAX) {
            route_problem(o, 400, "label keys are 1..%d bytes, values at most %d bytes",
                          ENGINE_LABEL_KEY_MAX, ENGINE_LABEL_VALUE_MAX);
            return -1;
        }
    }
    return 0;
}

int route_check_name(const struct route_req *r, struct route_resp *o)
{
    struct err e = { 0 };

    if (r->name == NULL || engine_name_check(r->name, &e) != 0) {
        if (e.code == ERR_NONE)
            err_set(&e, ERR_INVALID, "missing snapshot name");
        route_problem_err(o, &e);
        return -1;
    }
    return 0;
}

int route_parse_int(const char *s, long long lo, long long hi, long long *out)
{
    char *end;
    long long v;

    if (s == NULL || *s == '\0' || *s == '-' || *s == '+')
        return -1;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}
