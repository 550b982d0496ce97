/* chain.c - the tip of a JSONL hash chain, read as its bytes stream past. */
#include "chain.h"

#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "../common/jsonscan.h"

static int key_is(const char *k, size_t klen, const char *want, size_t wlen)
{
    return wlen == klen && (klen == 0 || k[0] == want[0]) && memcmp(k, want, klen) == 0;
}

/* Copy a plain string value (p at '"', no escapes, at most CHAIN_HASH_MAX):
 * past its closing quote, or NULL. */
static const char *take_string(const char *p, const char *end, char out[CHAIN_HASH_MAX + 1])
{
    const char *q = jsonscan_string_end(p, end);
    size_t n;

    if (q == NULL || (n = (size_t)(q - p - 2)) > CHAIN_HASH_MAX || memchr(p + 1, '\\', n) != NULL)
        return NULL;
    memcpy(out, p + 1, n);
    out[n] = '\0';
    return q;
}

/* The three fields of one line; 0, or -1 when it is not such an object. */
static int parse_line(const struct chain_scan *c, const char *p, const char *end, int64_t *seq,
                      int *have_seq, char hash[CHAIN_HASH_MAX + 1], char prev[CHAIN_HASH_MAX + 1])
{
    int have_hash = 0;

    *have_seq = 0;
    hash[0] = prev[0] = '\0';
    p = jsonscan_ws(p, end);
    if (p >= end || *p != '{')
        return -1;
    p++;
    for (;;) {
        const char *k, *v;
        size_t klen;
        p = jsonscan_ws(p, end);
        if (p < end && *p == '}')
            break;
        if (p >= end || *p != '"')
            return -1;
        k = p + 1;
        if ((p = jsonscan_string_end(p, end)) == NULL)
            return -1;
        klen = (size_t)(p - 1 - k);
        p = jsonscan_ws(p, end);
        if (p >= end || *p != ':')
            return -1;
        v = p = jsonscan_ws(p + 1, end);
        if (key_is(k, klen, c->f_seq, c->n_seq)) {
            const char *d = v;
            int neg = d < end && *d == '-';
            int64_t n = 0;
            if (neg)
                d++;
            if (d >= end || *d < '0' || *d > '9')
                return -1;
            for (; d < end && *d >= '0' && *d <= '9' && n < INT64_MAX / 10 - 9; d++)
                n = n * 10 + (*d - '0');
            *seq = neg ? -n : n;
            *have_seq = 1;
            p = jsonscan_value_end(v, end);
        } else if (key_is(k, klen, c->f_hash, c->n_hash)) {
            if (v >= end || *v != '"' || (p = take_string(v, end, hash)) == NULL)
                return -1;
            have_hash = 1;
        } else if (key_is(k, klen, c->f_prev, c->n_prev)) {
            if (v >= end || *v != '"' || (p = take_string(v, end, prev)) == NULL)
                return -1;
        } else {
            p = jsonscan_value_end(v, end);
        }
        if (p == NULL)
            return -1;
        p = jsonscan_ws(p, end);
        if (p < end && *p == ',') {
            p++;
            continue;
        }
        if (p < end && *p == '}')
            break;
        return -1;
    }
    return have_hash ? 0 : -1;
}

static void mark_bad(struct chain_scan *c)
{
    c->st.links_ok = 0;
    if (c->st.first_bad_line == 0)
        c->st.first_bad_line = c->st.lines;
}

static void one_line(struct chain_scan *c, const char *p, size_t n)
{
    char hash[CHAIN_HASH_MAX + 1], prev[CHAIN_HASH_MAX + 1];
    int64_t seq = 0;
    int have_seq;

    if (n > 0 && p[n - 1] == '\r')
        n--;
    if (n == 0)
        return;             /* a blank line is no event */
    c->st.lines++;
    if (n > CHAIN_LINE_MAX || parse_line(c, p, p + n, &seq, &have_seq, hash, prev) != 0) {
        mark_bad(c);
        c->st.last_hash[0] = '\0';
        c->st.have_seq = 0;
        return;
    }
    if (c->st.lines > 1 && (c->st.last_hash[0] == '\0' || strcmp(prev, c->st.last_hash) != 0))
        mark_bad(c);
    memcpy(c->st.last_hash, hash, sizeof(hash));
    c->st.have_seq = have_seq;
    c->st.last_seq = seq;
}

void chain_scan_init(struct chain_scan *c, const char *f_seq, const char *f_hash,
                     const char *f_prev)
{
    memset(c, 0, sizeof(*c));
    c->f_seq = f_seq ? f_seq : "seq";
    c->f_hash = f_hash ? f_hash : "hash";
    c->f_prev = f_prev ? f_prev : "prev";
    c->n_seq = strlen(c->f_seq);
    c->n_hash = strlen(c->f_hash);
    c->n_prev = strlen(c->f_prev);
    c->st.links_ok = 1;
}

/* Keep the start of a line that continues in the next feed. */
static void keep_partial(struct chain_scan *c, const unsigned char *p, size_t n)
{
    if (c->overlong)
        return;
    if (c->len + n > CHAIN_LINE_MAX) {
        c->overlong = 1;
        return;
    }
    if (c->len + n > c->cap) {
        size_t ncap = c->cap ? c->cap * 2 : 1024;
        char *nl;
        while (ncap < c->len + n)
            ncap *= 2;
        if ((nl = realloc(c->line, ncap)) == NULL) {
            c->overlong = 1;
            return;
        }
        c->line = nl;
        c->cap = ncap;
    }
    memcpy(c->line + c->len, p, n);
    c->len += n;
}

static void end_partial(struct chain_scan *c)
{
    if (c->overlong) {
        c->st.lines++;
        mark_bad(c);
        c->st.last_hash[0] = '\0';
        c->st.have_seq = 0;
    } else if (c->len > 0) {
        one_line(c, c->line, c->len);
    }
    c->len = 0;
    c->overlong = 0;
}

void chain_scan_feed(struct chain_scan *c, const unsigned char *p, size_t n)
{
    const unsigned char *end = p + n;

    while (p < end) {
        const unsigned char *nl = memchr(p, '\n', (size_t)(end - p));
        if (nl == NULL) {
            keep_partial(c, p, (size_t)(end - p));
            return;
        }
        if (c->len > 0 || c->overlong) {
            keep_partial(c, p, (size_t)(nl - p));
            end_partial(c);
        } else {
            one_line(c, (const char *)p, (size_t)(nl - p));
        }
        p = nl + 1;
    }
}

json_t *chain_scan_result(struct chain_scan *c, const char *path)
{
    end_partial(c);
    return json_pack("{s:s,s:I,s:o,s:o,s:b,s:o}", "path", path, "lines", (json_int_t)c->st.lines,
                     "last_seq", c->st.have_seq ? json_integer(c->st.last_seq) : json_null(),
                     "last_hash", c->st.last_hash[0] ? json_string(c->st.last_hash) : json_null(),
                     "links_ok", c->st.links_ok,
                     "first_bad_line",
                     c->st.first_bad_line ? json_integer((json_int_t)c->st.first_bad_line)
                                          : json_null());
}

void chain_scan_free(struct chain_scan *c)
{
    free(c->line);
    c->line = NULL;
    c->len = c->cap = 0;
}

void chain_scan_mark(const struct chain_scan *c, uint64_t fed, struct chain_mark *m)
{
    memset(m, 0, sizeof(*m));
    if (c->overlong || c->len > fed)
        return;
    m->from = fed - c->len;
    m->st = c->st;
    m->valid = 1;
}

void chain_scan_resume(struct chain_scan *c, const struct chain_mark *m)
{
    c->st = m->st;
    c->len = 0;
    c->overlong = 0;
}

json_t *chain_mark_json(const struct chain_mark *m, const struct chain_scan *c)
{
    if (!m->valid || m->from > (uint64_t)INT64_MAX || m->st.lines > (uint64_t)INT64_MAX ||
        m->st.first_bad_line > m->st.lines)
        return NULL;
    /* json_pack fails on a last hash that is not UTF-8: no mark then. */
    return json_pack("{s:I,s:I,s:o,s:s,s:b,s:I,s:[sss]}", "from", (json_int_t)m->from, "lines",
                     (json_int_t)m->st.lines, "last_seq",
                     m->st.have_seq ? json_integer(m->st.last_seq) : json_null(), "last_hash",
                     m->st.last_hash, "links_ok", m->st.links_ok, "first_bad_line",
                     (json_int_t)m->st.first_bad_line, "fields", c->f_seq, c->f_hash, c->f_prev);
}

static int count_field(const json_t *v, uint64_t *out)
{
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return -1;
    *out = (uint64_t)json_integer_value(v);
    return 0;
}

int chain_mark_parse(const json_t *o, const struct chain_scan *c, struct chain_mark *m)
{
    const json_t *seq = json_object_get(o, "last_seq"), *f = json_object_get(o, "fields"),
                 *ok = json_object_get(o, "links_ok");
    const char *hash = json_string_value(json_object_get(o, "last_hash"));

    memset(m, 0, sizeof(*m));
    if (!json_is_object(o) || count_field(json_object_get(o, "from"), &m->from) != 0 ||
        count_field(json_object_get(o, "lines"), &m->st.lines) != 0 ||
        count_field(json_object_get(o, "first_bad_line"), &m->st.first_bad_line) != 0 ||
        m->st.first_bad_line > m->st.lines || !json_is_boolean(ok) ||
        (!json_is_null(seq) && !json_is_integer(seq)) || hash == NULL ||
        strlen(hash) > CHAIN_HASH_MAX || !json_is_array(f) || json_array_size(f) != 3)
        return -1;
    for (size_t i = 0; i < 3; i++)
        if (!json_is_string(json_array_get(f, i)))
            return -1;
    if (c != NULL && (strcmp(json_string_value(json_array_get(f, 0)), c->f_seq) != 0 ||
                      strcmp(json_string_value(json_array_get(f, 1)), c->f_hash) != 0 ||
                      strcmp(json_string_value(json_array_get(f, 2)), c->f_prev) != 0))
        return -1;
    m->st.have_seq = json_is_integer(seq);
    m->st.last_seq = m->st.have_seq ? (int64_t)json_integer_value(seq) : 0;
    snprintf(m->st.last_hash, sizeof(m->st.last_hash), "%s", hash);
    m->st.links_ok = json_is_true(ok);
    m->valid = 1;
    return 0;
}
