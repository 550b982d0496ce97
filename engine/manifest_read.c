/* manifest_read.c - manifest.json read as records (manifest.h): the head
 * as a jansson tree, and each element of files[] and of "reuse"."files"
 * parsed alone, checked, and kept as a record. A tree of a 100,000-file
 * manifest is about 66 MB; the records are about 12.
 *
 * The text is split by a walk of its structure (strings, brackets, commas)
 * that finds the two spans; jansson parses every part, so the whole is
 * valid JSON exactly when the parts are. Where the walk does not find a
 * span as our writer lays it out (a key spelled with escapes, a value of
 * another type, text that is not JSON), the span stays in the head and is
 * read from the tree instead: same checks, same result, more memory. */
#include "manifest.h"

#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "../common/jsonscan.h"
#include "../common/strpool.h"

#define GROUPS_SHARED 16    /* group names shared; a file of any other keeps its own copy */

struct reader {
    struct manifest_doc *d;
    size_t cap;                         /* d->files allocated */
    const char *groups[GROUPS_SHARED];
    size_t n_groups;
    struct err *e;
};

struct span {
    const char *p, *end;
};

/* The strings of the records, in the document's pool: no allocation per file. */
static const char *arena_copy(struct manifest_doc *d, const char *s, size_t n)
{
    return strpool_copy(&d->arena, s, n);
}

static const char *group_name(struct reader *r, const char *g)
{
    const char *p;

    for (size_t i = 0; i < r->n_groups; i++)
        if (strcmp(r->groups[i], g) == 0)
            return r->groups[i];
    if ((p = arena_copy(r->d, g, strlen(g))) != NULL && r->n_groups < GROUPS_SHARED)
        r->groups[r->n_groups++] = p;
    return p;
}

/* ---- the walk of the text's structure (common/jsonscan.h) ---- */

static int span_is(struct span s, const char *lit)
{
    size_t n = strlen(lit);

    return (size_t)(s.end - s.p) == n && memcmp(s.p, lit, n) == 0;
}

/* Each member of the object at [p, end) (p at '{', end just past its '}'):
 * fn gets the key's token (quotes and all) and the value. 0 at the end of
 * the object; -1 when the text is not an object's; -2 when fn said so. */
typedef int (*member_fn)(void *ctx, struct span key, struct span val);

static int walk_object(const char *p, const char *end, member_fn fn, void *ctx)
{
    if (p >= end || *p != '{')
        return -1;
    p = jsonscan_ws(p + 1, end);
    if (p < end && *p == '}')
        return jsonscan_ws(p + 1, end) == end ? 0 : -1;
    for (;;) {
        struct span k, v;
        if (p >= end || *p != '"' || (k.end = jsonscan_string_end(p, end)) == NULL)
            return -1;
        k.p = p;
        p = jsonscan_ws(k.end, end);
        if (p >= end || *p != ':')
            return -1;
        v.p = jsonscan_ws(p + 1, end);
        if ((v.end = jsonscan_value_end(v.p, end)) == NULL || v.end == v.p)
            return -1;
        if (fn(ctx, k, v) != 0)
            return -2;
        p = jsonscan_ws(v.end, end);
        if (p < end && *p == ',') {
            p = jsonscan_ws(p + 1, end);
            continue;
        }
        return p < end && *p == '}' && jsonscan_ws(p + 1, end) == end ? 0 : -1;
    }
}

/* The spans of one object's members named name (raw, as our writer spells
 * it), and whether there were two. */
struct find {
    const char *name;
    struct span at;
    int twice;
};

static int find_member(void *ctx, struct span key, struct span val)
{
    struct find *f = ctx;

    if (span_is(key, f->name)) {
        f->twice |= f->at.p != NULL;
        f->at = val;
    }
    return 0;
}

/* The span of member name ("\"files\"") of the object [p, end), when the
 * walk finds it once and its value starts with open. */
static struct span member_span(const char *p, const char *end, const char *name, char open)
{
    struct find f = { .name = name };
    struct span none = { NULL, NULL };

    if (walk_object(p, end, find_member, &f) != 0 || f.twice || f.at.p == NULL || *f.at.p != open)
        return none;
    return f.at;
}

/* ---- the records ---- */

static int file_record(struct reader *r, const json_t *f, size_t i)
{
    struct manifest_doc *d = r->d;
    const char *p = json_string_value(json_object_get(f, "path"));
    const char *sha = json_string_value(json_object_get(f, "sha256"));
    const char *group = json_string_value(json_object_get(f, "group"));
    const json_t *size = json_object_get(f, "size");
    struct manifest_file *mf;

    if (i > ENGINE_MAX_FILES_HARD)
        return err_set(r->e, ERR_VERIFY, "manifest.json: \"files\" must be an array of at most %d",
                       ENGINE_MAX_FILES_HARD + 1);
    if (!json_is_object(f) || !manifest_path_safe(p) || strcmp(p, MANIFEST_NAME) == 0 ||
        strcmp(p, MANIFEST_SUMS) == 0)
        return err_set(r->e, ERR_VERIFY, "manifest.json: files[%zu] has an unsafe or reserved path", i);
    if (!json_is_integer(size) || json_integer_value(size) < 0 ||
        (uint64_t)json_integer_value(size) > ENGINE_MAX_ENTRY_BYTES || !manifest_is_sha256(sha) ||
        group == NULL)
        return err_set(r->e, ERR_VERIFY, "manifest.json: files[%zu] (%.200s) is malformed", i, p);
    if (d->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 256;
        struct manifest_file *nf = realloc(d->files, cap * sizeof(*nf));
        if (nf == NULL)
            return err_set(r->e, ERR_IO, "out of memory");
        d->files = nf;
        r->cap = cap;
    }
    mf = &d->files[d->n];
    memset(mf, 0, sizeof(*mf));
    memcpy(mf->sha256, sha, sizeof(mf->sha256));
    mf->size = (uint64_t)json_integer_value(size);
    if ((mf->path = arena_copy(d, p, strlen(p))) == NULL || (mf->group = group_name(r, group)) == NULL)
        return err_set(r->e, ERR_IO, "out of memory");
    d->n++;
    return 0;
}

static int note_record(struct reader *r, const char *path, json_t *note)
{
    struct manifest_file *f = manifest_doc_find(r->d, path);

    if (f == NULL)
        return err_set(r->e, ERR_VERIFY, "manifest.json: \"reuse\" names %.200s, not a listed file",
                       path);
    if (f->has_note || !manifest_note_ok(note))
        return err_set(r->e, ERR_VERIFY, "manifest.json: \"reuse\" of %.200s is malformed", path);
    f->has_note = 1;
    if (json_is_object(json_object_get(note, "deflate_prefix")))
        f->note = json_incref(note);
    return 0;
}

static json_t *parse_part(struct reader *r, struct span s, const char *what)
{
    json_error_t je;
    json_t *v = json_loadb(s.p, (size_t)(s.end - s.p), JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);

    if (v == NULL)
        err_set(r->e, ERR_VERIFY, "manifest.json is not valid JSON: %s: %s", what, je.text);
    return v;
}

/* files[] from its span: '[' element (',' element)* ']', each parsed alone. */
static int files_from_span(struct reader *r, struct span s)
{
    const char *p = jsonscan_ws(s.p + 1, s.end);

    if (p < s.end && *p == ']')
        return 0;
    for (size_t i = 0;; i++) {
        struct span el = { p, jsonscan_value_end(p, s.end) };
        json_t *f;
        int rc;
        if (el.end == NULL || el.end == el.p)
            break;
        if ((f = parse_part(r, el, "files[]")) == NULL)
            return -1;
        rc = file_record(r, f, i);
        json_decref(f);
        if (rc != 0)
            return -1;
        p = jsonscan_ws(el.end, s.end);
        if (p < s.end && *p == ',') {
            p = jsonscan_ws(p + 1, s.end);
            continue;
        }
        if (p + 1 == s.end && *p == ']')
            return 0;
        break;
    }
    return err_set(r->e, ERR_VERIFY, "manifest.json is not valid JSON: files[] is malformed");
}

static int note_member(void *ctx, struct span key, struct span val)
{
    struct reader *r = ctx;
    json_t *k, *note = NULL;
    int rc = -1;

    if ((k = parse_part(r, key, "reuse")) != NULL && (note = parse_part(r, val, "reuse")) != NULL) {
        if (json_is_string(k))
            rc = note_record(r, json_string_value(k), note);
        else
            err_set(r->e, ERR_VERIFY, "manifest.json is not valid JSON: \"reuse\"");
    }
    json_decref(k);
    json_decref(note);
    return rc;
}

static int cmp_file(const void *a, const void *b)
{
    return strcmp((*(struct manifest_file *const *)a)->path, (*(struct manifest_file *const *)b)->path);
}

static int index_files(struct reader *r)
{
    struct manifest_doc *d = r->d;

    if ((d->sorted = malloc((d->n + 1) * sizeof(*d->sorted))) == NULL)
        return err_set(r->e, ERR_IO, "out of memory");
    for (size_t i = 0; i < d->n; i++)
        d->sorted[i] = &d->files[i];
    if (d->n > 1)
        qsort(d->sorted, d->n, sizeof(*d->sorted), cmp_file);
    for (size_t i = 1; i < d->n; i++)
        if (strcmp(d->sorted[i - 1]->path, d->sorted[i]->path) == 0)
            return err_set(r->e, ERR_VERIFY, "manifest.json: %.200s is listed twice",
                           d->sorted[i]->path);
    return 0;
}

/* The text with the spans (in order, at most two) replaced by their empty
 * values: what jansson parses as the head. */
static char *head_text(const char *text, size_t len, const struct span *cut, const char *const *with,
                       int n, size_t *out_len)
{
    size_t hlen = len + 1;
    const char *p = text;
    char *h, *o;

    for (int i = 0; i < n; i++)
        hlen -= (size_t)(cut[i].end - cut[i].p) - 2;
    if ((h = o = malloc(hlen)) == NULL)
        return NULL;
    for (int i = 0; i < n; i++) {
        memcpy(o, p, (size_t)(cut[i].p - p));
        o += cut[i].p - p;
        memcpy(o, with[i], 2);
        o += 2;
        p = cut[i].end;
    }
    memcpy(o, p, (size_t)(text + len - p));
    o += text + len - p;
    *out_len = (size_t)(o - h);
    return h;
}

int manifest_read(const char *text, size_t len, struct manifest_doc *d, struct err *e)
{
    struct reader r = { .d = d, .e = e };
    const char *end = text + len, *start = jsonscan_ws(text, end);
    struct span files, reuse, notes = { NULL, NULL }, cut[2];
    const char *with[2];
    json_t *rn, *v;
    json_error_t je;
    char *h;
    size_t hlen, i;
    const char *k;
    int n = 0;

    memset(d, 0, sizeof(*d));
    files = member_span(start, end, "\"files\"", '[');
    reuse = member_span(start, end, "\"reuse\"", '{');
    if (reuse.p != NULL)
        notes = member_span(reuse.p, reuse.end, "\"files\"", '{');
    /* Disjoint: notes lies inside reuse, which is another member than files. */
    if (files.p != NULL) {
        cut[n] = files;
        with[n++] = "[]";
    }
    if (notes.p != NULL) {
        cut[n] = notes;
        with[n++] = "{}";
    }
    if (n == 2 && cut[1].p < cut[0].p) {
        struct span t = cut[0];
        cut[0] = cut[1];
        cut[1] = t;
        with[0] = "{}";
        with[1] = "[]";
    }
    if ((h = head_text(text, len, cut, with, n, &hlen)) == NULL)
        return err_set(e, ERR_IO, "out of memory");
    d->head = json_loadb(h, hlen, JSON_REJECT_DUPLICATES, &je);
    free(h);
    if (d->head == NULL) {
        err_set(e, ERR_VERIFY, "manifest.json is not valid JSON: %s", je.text);
        goto bad;
    }
    if (!json_is_object(d->head)) {
        err_set(e, ERR_VERIFY, "manifest.json is not a JSON object");
        goto bad;
    }
    if (manifest_head_check(d->head, e) != 0)
        goto bad;
    if (files.p != NULL) {
        if (files_from_span(&r, files) != 0)
            goto bad;
    } else {
        json_array_foreach(json_object_get(d->head, "files"), i, v)
            if (file_record(&r, v, i) != 0)
                goto bad;
        json_object_set_new(d->head, "files", json_array());
    }
    if (d->n > 0 && d->n < r.cap) {
        struct manifest_file *nf = realloc(d->files, d->n * sizeof(*nf));
        if (nf != NULL)
            d->files = nf;
    }
    if (index_files(&r) != 0)
        goto bad;
    rn = json_object_get(d->head, "reuse");
    if (notes.p != NULL) {
        if (walk_object(notes.p, notes.end, note_member, &r) != 0) {
            if (e->code == 0)
                err_set(e, ERR_VERIFY, "manifest.json: \"reuse\" is malformed");
            goto bad;
        }
    } else if (rn != NULL) {
        json_object_foreach(json_object_get(rn, "files"), k, v)
            if (note_record(&r, k, v) != 0)
                goto bad;
        json_object_set_new(rn, "files", json_object());
    }
    return 0;
bad:
    manifest_doc_free(d);
    return -1;
}

void manifest_doc_free(struct manifest_doc *d)
{
    for (size_t i = 0; i < d->n; i++)
        json_decref(d->files[i].note);
    strpool_free(&d->arena);
    json_decref(d->head);
    free(d->files);
    free(d->sorted);
    memset(d, 0, sizeof(*d));
}

struct manifest_file *manifest_doc_find(const struct manifest_doc *d, const char *path)
{
    struct manifest_file key = { .path = path }, *kp = &key, **hit;

    if (d->n == 0 || d->sorted == NULL)
        return NULL;
    hit = bsearch(&kp, d->sorted, d->n, sizeof(*d->sorted), cmp_file);
    return hit != NULL ? *hit : NULL;
}
