/* create_manifest.c - the members a create generates once every file before
 * them is read: manifest.json and SHA256SUMS, streamed into the archive.
 *
 * The text is written straight from the per-file records (cut_file and
 * file_src), never through a jansson tree of every file: for a root of
 * 100,000 files such a tree, and its dump beside it, were most of a
 * create's memory. Only the manifest's small top-level fields go through
 * jansson. The layout is exactly json_dumps(JSON_INDENT(2) | JSON_SORT_KEYS)'s,
 * as every earlier archive has it (tests/cli/test_manifest_text.py holds
 * the two side by side). */
#include "create_zip.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "capture.h"
#include "../common/fsutil.h"
#include "../db/catalog.h"
#include "manifest.h"
#include "meta.h"
#include "snapshot.h"

#define MANIFEST_DUMP (JSON_INDENT(2) | JSON_SORT_KEYS | JSON_ENCODE_ANY)

/* The text being made, handed to out in pieces of up to CREATE_TEXT_PIECE
 * bytes (never held whole: a 100,000-file manifest is 20 MB); bad once an
 * allocation or out failed (every later put is a no-op). */
struct text {
    char *p;
    size_t len, cap;
    create_text_fn out;
    void *ctx;
    int bad;
};

#define CREATE_TEXT_PIECE (64u * 1024)

static void drain(struct text *t)
{
    if (!t->bad && t->len > 0 && t->out(t->ctx, t->p, t->len) != 0)
        t->bad = 1;
    t->len = 0;
}

static void put(struct text *t, const char *s, size_t n)
{
    if (t->bad || n == 0)
        return;
    if (t->len + n > t->cap)
        drain(t);
    if (n > t->cap) {
        if (!t->bad && t->out(t->ctx, s, n) != 0)
            t->bad = 1;
        return;
    }
    memcpy(t->p + t->len, s, n);
    t->len += n;
}

/* Begin a text for out; 0 or -1 (out of memory). */
static int text_begin(struct text *t, create_text_fn out, void *ctx)
{
    memset(t, 0, sizeof(*t));
    t->out = out;
    t->ctx = ctx;
    t->cap = CREATE_TEXT_PIECE;
    return (t->p = malloc(t->cap)) != NULL ? 0 : -1;
}

/* The rest to out, and the piece freed: 0, or -1 when anything failed. */
static int text_end(struct text *t)
{
    drain(t);
    free(t->p);
    t->p = NULL;
    return t->bad ? -1 : 0;
}

static void put_s(struct text *t, const char *s)
{
    put(t, s, strlen(s));
}

/* A JSON string as jansson dumps it: '"', '\\' and control characters
 * escaped (the short forms where JSON has them, else \u00XX), UTF-8 as it
 * is (capture admits only valid UTF-8 paths). */
static void put_str(struct text *t, const char *s)
{
    const char *run = s;

    put(t, "\"", 1);
    for (; *s != '\0'; s++) {
        unsigned char ch = (unsigned char)*s;
        char u[8];
        const char *esc = NULL;
        if (ch == '"')
            esc = "\\\"";
        else if (ch == '\\')
            esc = "\\\\";
        else if (ch < 0x20) {
            switch (ch) {
            case '\b': esc = "\\b"; break;
            case '\f': esc = "\\f"; break;
            case '\n': esc = "\\n"; break;
            case '\r': esc = "\\r"; break;
            case '\t': esc = "\\t"; break;
            default:
                snprintf(u, sizeof(u), "\\u%04X", ch);
                esc = u;
            }
        }
        if (esc != NULL) {
            put(t, run, (size_t)(s - run));
            put_s(t, esc);
            run = s + 1;
        }
    }
    put(t, run, (size_t)(s - run));
    put(t, "\"", 1);
}

static void put_indent(struct text *t, int depth)
{
    static const char spaces[] = "                ";

    put(t, "\n", 1);
    put(t, spaces, (size_t)(2 * depth) < sizeof(spaces) - 1 ? (size_t)(2 * depth) : sizeof(spaces) - 1);
}

/* v as json_dumps gives it, nested depth levels in. */
static void put_json(struct text *t, const json_t *v, int depth)
{
    char *d = json_dumps(v, MANIFEST_DUMP), *run, *nl;

    if (d == NULL) {
        t->bad = 1;
        return;
    }
    /* A dump's only raw newlines are its layout (newlines inside strings
     * are escaped): each is followed by depth more levels of indent. */
    for (run = d; (nl = strchr(run, '\n')) != NULL; run = nl + 1) {
        put(t, run, (size_t)(nl - run));
        put_indent(t, depth);
    }
    put_s(t, run);
    free(d);
}

static void put_key(struct text *t, const char *key, int depth)
{
    put_indent(t, depth);
    put_str(t, key);
    put(t, ": ", 2);
}

static void put_int(struct text *t, uint64_t v)
{
    char n[24];

    put(t, n, (size_t)snprintf(n, sizeof(n), "%llu", (unsigned long long)v));
}

int64_t create_captured_positions(const struct create_ctx *cc)
{
    for (size_t i = 0; i < cc->cap.n; i++) {
        const struct cut_file *c = &cc->cut.files[i];
        if (strcmp(c->cf->rel, "state/positions.json") == 0)
            return c->present && c->buf != NULL
                       ? meta_positions_count((const char *)c->buf, (size_t)c->limit) : -1;
    }
    return -1;
}

/* What the entry took from the previous archive ("reused": "entry" or
 * "prefix" with "reused_bytes"), and where a later create can continue its
 * deflate stream ("deflate_prefix"), as the file's object in the
 * manifest's "reuse"."files" (files[] stays as it always was), or NULL
 * when there is nothing to say. *bad on failure. */
static json_t *reuse_note(struct create_ctx *cc, const struct file_src *fs, int *bad)
{
    json_t *f = json_object(), *dp = NULL;

    if (f == NULL)
        goto fail;
    if (fs->reused == CREATE_REUSED_ENTRY) {
        if (json_object_set_new(f, "reused", json_string("entry")) != 0)
            goto fail;
        /* The same stream: the previous one's continuation point holds,
         * and so does its chain state (same bytes, same field names). */
        struct chain_mark m;
        if (fs->ru->re.has_prefix)
            dp = reuse_prefix_json(cc->s, cc->name, src_cut(cc, fs)->cf->rel, fs->ru->re.prefix_bytes,
                                   fs->ru->re.prefix_comp, fs->ru->re.prefix_sha256, fs->ru->re.prefix_crc,
                                   src_chain(cc, fs) != NULL && fs->ru->re.prefix_chain != NULL &&
                                   chain_mark_parse(fs->ru->re.prefix_chain, src_chain(cc, fs), &m) == 0
                                       ? json_deep_copy(fs->ru->re.prefix_chain) : NULL);
    } else {
        if (fs->reused == CREATE_REUSED_PREFIX &&
            (json_object_set_new(f, "reused", json_string("prefix")) != 0 ||
             json_object_set_new(f, "reused_bytes", json_integer((json_int_t)fs->ru->base_in)) != 0))
            goto fail;
        if (fs->has_dp)
            dp = reuse_prefix_json(cc->s, cc->name, src_cut(cc, fs)->cf->rel, fs->ru->dp_bytes,
                                   fs->ru->dp_comp, fs->ru->dp_sha, fs->ru->dp_crc,
                                   src_chain(cc, fs) != NULL && cc->chain_mark.valid
                                       ? chain_mark_json(&cc->chain_mark, src_chain(cc, fs)) : NULL);
    }
    /* The chain's scan resumed from the record's state: its lines before
     * this offset were not parsed again (for the bench and debugging). */
    if (src_chain(cc, fs) != NULL && fs->reused != CREATE_REUSED_NONE && cc->chain_from > 0 &&
        json_object_set_new(f, "chain_scanned_from", json_integer((json_int_t)cc->chain_from)) != 0)
        goto fail;
    if (dp != NULL && json_object_set_new(f, "deflate_prefix", dp) != 0) {
        dp = NULL;
        goto fail;
    }
    if (json_object_size(f) > 0)
        return f;
    json_decref(f);
    return NULL;
fail:
    json_decref(dp);
    json_decref(f);
    *bad = 1;
    return NULL;
}

/* The SHA-256 of file i's entry as hex (in buf, or the cut's when it
 * hashed the file), or NULL when it was not read through. */
static const char *file_sha(const struct create_ctx *cc, size_t i, char buf[65])
{
    const struct cut_file *c = &cc->cut.files[i];

    if (!cut_in_memory(c) && !c->hashed && !cc->srcs[i].finished)
        return NULL;
    fs_hex(c->sha, sizeof(c->sha), buf);
    return buf;
}

/* One "key": "value", member of a file's object, and the comma after it. */
static void put_member(struct text *t, const char *key, const char *value)
{
    put_key(t, key, 3);
    put_str(t, value);
    put(t, ",", 1);
}

static void put_file(struct text *t, const char *path, uint64_t size, const char *sha,
                     const char *group)
{
    put(t, "{", 1);
    put_member(t, "group", group);
    put_member(t, "path", path);
    put_member(t, "sha256", sha);
    put_key(t, "size", 3);
    put_int(t, size);
    put_indent(t, 2);
    put(t, "}", 1);
}

/* "files": every present file in capture order, then the masked .env. */
static int put_files(struct text *t, const struct create_ctx *cc)
{
    int first = 1;

    put(t, "[", 1);
    for (size_t i = 0; i < cc->cap.n; i++) {
        const struct cut_file *c = &cc->cut.files[i];
        char shabuf[65];
        const char *sha = file_sha(cc, i, shabuf);
        if (!c->present)
            continue;
        if (sha == NULL)
            return -1;
        put(t, first ? "" : ",", first ? 0 : 1);
        put_indent(t, 2);
        put_file(t, c->cf->rel, c->limit, sha, c->cf->group);
        first = 0;
    }
    if (cc->env_masked != NULL) {
        put(t, first ? "" : ",", first ? 0 : 1);
        put_indent(t, 2);
        put_file(t, MANIFEST_ENV_ENTRY, cc->env_len, cc->env_sha, "secrets");
        first = 0;
    }
    if (!first)
        put_indent(t, 1);
    put(t, "]", 1);
    return 0;
}

/* "reuse": {"files": {path: note}, "from": the previous snapshot} when a
 * file has a note, after a comma when lead; 0 and nothing written (not
 * even the comma) when none has. */
static int put_reuse(struct text *t, struct create_ctx *cc, int lead, int *any)
{
    int reused = 0, bad = 0;

    *any = 0;
    for (size_t i = 0; i < cc->cap.n && !bad; i++) {
        const struct file_src *fs = &cc->srcs[i];
        json_t *note;
        if (!cc->cut.files[i].present || (note = reuse_note(cc, fs, &bad)) == NULL)
            continue;
        if (!*any) {
            put(t, ",", lead ? 1 : 0);
            put_key(t, "reuse", 1);
            put(t, "{", 1);
            put_key(t, "files", 2);
            put(t, "{", 1);
        } else
            put(t, ",", 1);
        *any = 1;
        /* Capture order is strcmp order, which JSON_SORT_KEYS gives too. */
        put_key(t, src_cut(cc, fs)->cf->rel, 3);
        put_json(t, note, 3);
        json_decref(note);
        if (fs->reused != CREATE_REUSED_NONE)
            reused = 1;
    }
    if (bad)
        return -1;
    if (*any) {
        put_indent(t, 2);
        put(t, "}", 1);
        if (reused) {
            put(t, ",", 1);
            put_key(t, "from", 2);
            put_str(t, reuse_name(cc->reuse));
        }
        put_indent(t, 1);
        put(t, "}", 1);
    }
    return 0;
}

/* The manifest's small fields: everything but files[] and reuse. */
static json_t *manifest_head(struct create_ctx *cc)
{
    char created[32];
    struct timespec ts;
    json_t *m;

    engine_time_format(cc->now, created, sizeof(created));
    int64_t positions = cc->positions;
    clock_gettime(CLOCK_REALTIME, &ts);
    m = json_pack("{s:i,s:s,s:s,s:I,s:s,s:o,s:s,s:s,s:o,s:b,s:O,s:o,s:o,s:s,s:o}",
                  "format", MANIFEST_FORMAT, "name", cc->name, "created_at", created,
                  /* Orders snapshots taken within one second, for reindex. */
                  "created_us", (json_int_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000,
                  "version", cc->version,
                  "git_commit", cc->git[0] ? json_string(cc->git) : json_null(),
                  "host", cc->host, "created_by", cc->actor,
                  "labels", cc->o->labels ? json_deep_copy(cc->o->labels) : json_object(),
                  "pinned", cc->o->pin || cc->o->pin_seconds > 0,
                  "absent", cc->absent,
                  "env_keys", cc->env_keys ? json_incref(cc->env_keys) : json_object(),
                  "positions_count", positions >= 0 ? json_integer(positions) : json_null(),
                  "statesnap_version", STATESNAP_VERSION,
                  "consistency", cut_consistency_json(&cc->cut));
    if (m != NULL && cc->chain_idx >= 0) {
        if (cc->chain_tip == NULL)
            cc->chain_tip = chain_scan_result(&cc->chain, cc->cap.files[cc->chain_idx].rel);
        json_object_set(m, "chain", cc->chain_tip);
    }
    return m;
}

static int cmp_keys(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The whole manifest text into t; the head stays in cc->manifest. */
static int manifest_build(struct create_ctx *cc, struct text *t)
{
    const char *keys[32];
    size_t n = 0;
    const char *k;
    json_t *v;

    if ((cc->manifest = manifest_head(cc)) == NULL)
        return -1;
    json_object_foreach(cc->manifest, k, v) {
        if (n + 2 >= sizeof(keys) / sizeof(keys[0]))
            return -1;
        keys[n++] = k;
    }
    keys[n++] = "files";
    keys[n++] = "reuse";
    qsort(keys, n, sizeof(keys[0]), cmp_keys);
    put(t, "{", 1);
    for (size_t i = 0, emitted = 0; i < n; i++) {
        int any = 1;
        if (strcmp(keys[i], "reuse") == 0) {
            if (put_reuse(t, cc, emitted > 0, &any) != 0)
                return -1;
        } else {
            put(t, ",", emitted > 0 ? 1 : 0);
            put_key(t, keys[i], 1);
            if (strcmp(keys[i], "files") == 0) {
                if (put_files(t, cc) != 0)
                    return -1;
            } else
                put_json(t, json_object_get(cc->manifest, keys[i]), 1);
        }
        if (any)
            emitted++;
    }
    put_indent(t, 0);
    put(t, "}\n", 2);
    return t->bad ? -1 : 0;
}

void create_manifest_forget(struct create_ctx *cc)
{
    json_decref(cc->manifest);
    cc->manifest = NULL;
}

int create_manifest_stream(struct create_ctx *cc, create_text_fn out, void *ctx)
{
    struct text t;
    int rc;

    create_manifest_forget(cc);
    if (text_begin(&t, out, ctx) != 0)
        return -1;
    rc = manifest_build(cc, &t);
    if (text_end(&t) != 0 || rc != 0) {
        create_manifest_forget(cc);
        return -1;
    }
    return 0;
}

int create_sums_stream(struct create_ctx *cc, create_text_fn out, void *ctx)
{
    struct text t;
    int bad = 0;

    if (text_begin(&t, out, ctx) != 0)
        return -1;
    for (size_t i = 0; i < cc->cap.n && !bad; i++) {
        char shabuf[65];
        const char *sha = file_sha(cc, i, shabuf);
        if (!cc->cut.files[i].present)
            continue;
        if (sha == NULL)
            bad = 1;
        else {
            put_s(&t, sha);
            put(&t, "  ", 2);
            put_s(&t, cc->cut.files[i].cf->rel);
            put(&t, "\n", 1);
        }
    }
    if (cc->env_masked != NULL) {
        put_s(&t, cc->env_sha);
        put(&t, "  ", 2);
        put_s(&t, MANIFEST_ENV_ENTRY);
        put(&t, "\n", 1);
    }
    return text_end(&t) != 0 || bad ? -1 : 0;
}
