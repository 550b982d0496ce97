/* diff.c - structural comparison of two sides (snapshots, or a snapshot and
 * the live root): file lists, config JSON (diff_json.c), positions
 * (diff_positions.c), the hash chain and the .env keys. */
#include "diff.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "diff_positions.h"

#define POSITIONS_PATH "state/positions.json"
#define CHAIN_PATH "state/hash_chain.jsonl"
#define CHAIN_CHUNK (64u * 1024u)   /* bytes read per side per step; bounds chain memory */

/* ---------------------------------------------------------------- file lists */

struct fref {
    const char *path;
    json_int_t size;       /* -1 when the side did not say */
    const char *sha;       /* NULL when the side did not say */
};

static int cmp_fref(const void *x, const void *y)
{
    return strcmp(((const struct fref *)x)->path, ((const struct fref *)y)->path);
}

/* Borrow path/size/sha256 of each entry of side->files, sorted by path. */
static int index_files(const struct diff_side *s, struct fref **out, size_t *n, struct err *e)
{
    size_t cnt, i;
    struct fref *v = NULL;
    json_t *f;

    *out = NULL;
    *n = 0;
    if (s->files == NULL)
        return 0;
    if (!json_is_array(s->files))
        return err_set(e, ERR_INVALID, "diff: file list of %s is not an array",
                       s->label ? s->label : "?");
    cnt = json_array_size(s->files);
    if (cnt == 0)
        return 0;
    v = calloc(cnt, sizeof(*v));
    if (v == NULL)
        return err_set(e, ERR_IO, "diff: out of memory");
    json_array_foreach(s->files, i, f) {
        json_t *path = json_object_get(f, "path");
        json_t *size = json_object_get(f, "size");
        json_t *sha = json_object_get(f, "sha256");

        if (!json_is_string(path)) {
            free(v);
            return err_set(e, ERR_INVALID, "diff: file entry %zu of %s has no path", i,
                           s->label ? s->label : "?");
        }
        v[i].path = json_string_value(path);
        v[i].size = json_is_integer(size) ? json_integer_value(size) : -1;
        v[i].sha = json_is_string(sha) ? json_string_value(sha) : NULL;
    }
    /* The contract says sorted; sorting again costs little and makes the merge
     * correct even for a side built by hand. */
    qsort(v, cnt, sizeof(*v), cmp_fref);
    *out = v;
    *n = cnt;
    return 0;
}

static const struct fref *find_file(const struct fref *v, size_t n, const char *path)
{
    struct fref key = {.path = path};

    if (n == 0)
        return NULL;
    return bsearch(&key, v, n, sizeof(*v), cmp_fref);
}

static json_t *size_or_null(const struct fref *f)
{
    return f && f->size >= 0 ? json_integer(f->size) : json_null();
}

static json_t *sha_or_null(const struct fref *f)
{
    return f && f->sha ? json_string(f->sha) : json_null();
}

static int ends_with(const char *s, const char *suffix)
{
    size_t ls = strlen(s), lx = strlen(suffix);

    return ls >= lx && strcmp(s + ls - lx, suffix) == 0;
}

/* ---------------------------------------------------------------- reading */

enum load_status { LOAD_OK = 0, LOAD_BAD_JSON, LOAD_TOO_LARGE };

/* Read path from side s into memory (at most max bytes). Returns 0 with *buf
 * (caller frees) and *len, 1 when the stream is longer than max, -1 on error. */
static int read_all(const struct diff_side *s, const char *path, size_t max, char **buf,
                    size_t *len, struct err *e)
{
    struct diff_reader *r;
    char *b = NULL, *nb;
    size_t used = 0, cap = 0;
    int rc = -1;

    *buf = NULL;
    *len = 0;
    if (s->open == NULL)
        return err_set(e, ERR_INVALID, "diff: side %s cannot open files",
                       s->label ? s->label : "?");
    r = s->open(s->ctx, path, e);
    if (r == NULL)
        return err_set(e, ERR_IO, "diff: cannot open %s on %s", path, s->label ? s->label : "?");
    for (;;) {
        ssize_t got;

        if (used == cap) {
            size_t ncap = cap ? cap * 2 : 4096;

            /* One byte past max tells "too large" from "exactly max". */
            if (ncap > max + 1)
                ncap = max + 1;
            if (ncap <= used) {
                rc = 1;
                goto out;
            }
            nb = realloc(b, ncap);
            if (nb == NULL) {
                err_set(e, ERR_IO, "diff: out of memory reading %s", path);
                goto out;
            }
            b = nb;
            cap = ncap;
        }
        got = r->read(r, b + used, cap - used, e);
        if (got < 0) {
            err_set(e, ERR_IO, "diff: cannot read %s on %s", path, s->label ? s->label : "?");
            goto out;
        }
        if ((size_t)got > cap - used) {
            err_set(e, ERR_IO, "diff: reader for %s returned too many bytes", path);
            goto out;
        }
        if (got == 0)
            break;
        used += (size_t)got;
    }
    if (used > max) {
        rc = 1;
        goto out;
    }
    *buf = b;
    *len = used;
    b = NULL;
    rc = 0;
out:
    free(b);
    r->close(r);
    return rc;
}

/* Load and parse one JSON file. Returns 0 with *status and, for LOAD_OK,
 * *doc (caller decrefs); -1 on an I/O error. */
static int load_json(const struct diff_side *s, const char *path, json_t **doc,
                     enum load_status *status, struct err *e)
{
    char *buf = NULL;
    size_t len = 0;
    json_error_t jerr;
    int rc;

    *doc = NULL;
    rc = read_all(s, path, DIFF_MAX_JSON_BYTES, &buf, &len, e);
    if (rc < 0)
        return -1;
    if (rc == 1) {
        *status = LOAD_TOO_LARGE;
        return 0;
    }
    *doc = json_loadb(buf ? buf : "", len, JSON_DECODE_ANY, &jerr);
    free(buf);
    *status = *doc ? LOAD_OK : LOAD_BAD_JSON;
    return 0;
}

/* load_json(), but a file listed as too large is not read at all. */
static int load_listed(const struct diff_side *s, const struct fref *f, json_t **doc,
                       enum load_status *status, struct err *e)
{
    if (f->size > (json_int_t)DIFF_MAX_JSON_BYTES) {
        *doc = NULL;
        *status = LOAD_TOO_LARGE;
        return 0;
    }
    return load_json(s, f->path, doc, status, e);
}

/* ---------------------------------------------------------------- hash chain */

struct stream {
    struct diff_reader *r;
    unsigned char *buf;
    size_t pos, len;
    int eof;
    uint64_t newlines;
    uint64_t bytes;
    unsigned char last;
};

static int stream_open(struct stream *st, const struct diff_side *s, struct err *e)
{
    memset(st, 0, sizeof(*st));
    if (s->open == NULL)
        return err_set(e, ERR_INVALID, "diff: side %s cannot open files",
                       s->label ? s->label : "?");
    st->buf = malloc(CHAIN_CHUNK);
    if (st->buf == NULL)
        return err_set(e, ERR_IO, "diff: out of memory");
    st->r = s->open(s->ctx, CHAIN_PATH, e);
    if (st->r == NULL)
        return err_set(e, ERR_IO, "diff: cannot open %s on %s", CHAIN_PATH,
                       s->label ? s->label : "?");
    return 0;
}

static void stream_close(struct stream *st)
{
    if (st->r)
        st->r->close(st->r);
    free(st->buf);
    st->r = NULL;
    st->buf = NULL;
}

/* Read the next chunk when the current one is used up; lines are counted here
 * so every byte is counted exactly once whatever the comparison does. */
static int stream_fill(struct stream *st, struct err *e)
{
    ssize_t got;

    if (st->eof || st->pos < st->len)
        return 0;
    got = st->r->read(st->r, st->buf, CHAIN_CHUNK, e);
    if (got < 0)
        return err_set(e, ERR_IO, "diff: cannot read %s", CHAIN_PATH);
    if ((size_t)got > CHAIN_CHUNK)
        return err_set(e, ERR_IO, "diff: reader for %s returned too many bytes", CHAIN_PATH);
    st->pos = 0;
    st->len = (size_t)got;
    if (got == 0) {
        st->eof = 1;
        return 0;
    }
    for (size_t i = 0; i < st->len; i++)
        st->newlines += st->buf[i] == '\n';
    st->bytes += st->len;
    st->last = st->buf[st->len - 1];
    return 0;
}

/* A final line without its '\n' is still a line. */
static uint64_t stream_lines(const struct stream *st)
{
    return st->newlines + (st->bytes > 0 && st->last != '\n');
}

static int count_lines(const struct diff_side *s, uint64_t *lines, struct err *e)
{
    struct stream st;
    int rc = -1;

    if (stream_open(&st, s, e) != 0)
        goto out;
    while (!st.eof) {
        if (stream_fill(&st, e) != 0)
            goto out;
        st.pos = st.len;
    }
    *lines = stream_lines(&st);
    rc = 0;
out:
    stream_close(&st);
    return rc;
}

enum chain_rel { CHAIN_IDENTICAL, CHAIN_EXTENDS, CHAIN_REWRITTEN };

/* Compare two chains chunk by chunk: is a's byte stream a prefix of b's?
 * *div_line is the 1-based line holding the first differing byte (rewritten only). */
static int chain_compare(const struct diff_side *a, const struct diff_side *b,
                         enum chain_rel *rel, uint64_t *la, uint64_t *lb, uint64_t *div_line,
                         struct err *e)
{
    struct stream sa, sb;
    uint64_t common_nl = 0;
    int diverged = 0, a_prefix = 0, rc = -1;

    memset(&sb, 0, sizeof(sb));
    if (stream_open(&sa, a, e) != 0 || stream_open(&sb, b, e) != 0)
        goto out;
    while (!sa.eof || !sb.eof) {
        if (stream_fill(&sa, e) != 0 || stream_fill(&sb, e) != 0)
            goto out;
        if (!diverged && sa.pos < sa.len && sb.pos < sb.len) {
            size_t n = sa.len - sa.pos, k;

            if (sb.len - sb.pos < n)
                n = sb.len - sb.pos;
            for (k = 0; k < n && sa.buf[sa.pos + k] == sb.buf[sb.pos + k]; k++)
                common_nl += sa.buf[sa.pos + k] == '\n';
            sa.pos += k;
            sb.pos += k;
            if (k < n)
                diverged = 1;
            continue;
        }
        if (!diverged && (sa.pos < sa.len || sb.pos < sb.len)) {
            /* One stream ended while the other still has bytes. */
            diverged = 1;
            a_prefix = sa.eof;
        }
        /* After the verdict only the line counts remain: drain both. */
        sa.pos = sa.len;
        sb.pos = sb.len;
    }
    if (!diverged)
        *rel = CHAIN_IDENTICAL;
    else if (a_prefix)
        *rel = CHAIN_EXTENDS;
    else
        *rel = CHAIN_REWRITTEN;
    *la = stream_lines(&sa);
    *lb = stream_lines(&sb);
    *div_line = common_nl + 1;
    rc = 0;
out:
    stream_close(&sa);
    stream_close(&sb);
    return rc;
}

static json_t *lines_json(int present, uint64_t n)
{
    return present ? json_integer((json_int_t)n) : json_null();
}

static json_t *chain_block(const struct diff_side *a, const struct fref *fa,
                           const struct diff_side *b, const struct fref *fb, struct err *e)
{
    enum chain_rel rel = CHAIN_IDENTICAL;
    uint64_t la = 0, lb = 0, div = 0, added = 0;
    const char *relation;
    json_t *blk;

    if (fa && fb) {
        if (fa->sha && fb->sha && strcmp(fa->sha, fb->sha) == 0) {
            if (count_lines(b, &lb, e) != 0)
                return NULL;
            la = lb;
        } else if (chain_compare(a, b, &rel, &la, &lb, &div, e) != 0) {
            return NULL;
        }
        relation = rel == CHAIN_IDENTICAL ? "identical"
                 : rel == CHAIN_EXTENDS   ? "extends"
                                          : "rewritten";
        added = lb > la ? lb - la : 0;
    } else if (fb) {
        if (count_lines(b, &lb, e) != 0)
            return NULL;
        relation = "added";
        added = lb;
    } else {
        if (count_lines(a, &la, e) != 0)
            return NULL;
        relation = "removed";
    }
    blk = json_pack("{s:s, s:s, s:o, s:o, s:I, s:o}", "path", CHAIN_PATH, "relation", relation,
                    "old_lines", lines_json(fa != NULL, la), "new_lines",
                    lines_json(fb != NULL, lb), "lines_added", (json_int_t)added,
                    "first_divergent_line",
                    (fa && fb && rel == CHAIN_REWRITTEN) ? json_integer((json_int_t)div)
                                                         : json_null());
    if (blk == NULL)
        err_set(e, ERR_IO, "diff: out of memory");
    return blk;
}

/* ---------------------------------------------------------------- env */

static json_t *env_block(const json_t *ea, const json_t *eb, struct err *e)
{
    const char **ka = NULL, **kb = NULL;
    size_t na = 0, nb = 0, i = 0, j = 0;
    json_t *blk = NULL, *added = json_array(), *removed = json_array(), *changed = json_array();

    if (!json_is_object(ea))
        ea = NULL;
    if (!json_is_object(eb))
        eb = NULL;
    if (added == NULL || removed == NULL || changed == NULL ||
        (ea && diff_json_sorted_keys(ea, &ka, &na) != 0) || (eb && diff_json_sorted_keys(eb, &kb, &nb) != 0))
        goto oom;
    while (i < na || j < nb) {
        int c = i >= na ? 1 : j >= nb ? -1 : strcmp(ka[i], kb[j]);

        if (c < 0) {
            if (json_array_append_new(removed, json_string(ka[i])) != 0)
                goto oom;
            i++;
        } else if (c > 0) {
            if (json_array_append_new(added, json_string(kb[j])) != 0)
                goto oom;
            j++;
        } else {
            if (!json_equal(json_object_get(ea, ka[i]), json_object_get(eb, kb[j])) &&
                json_array_append_new(changed, json_string(ka[i])) != 0)
                goto oom;
            i++;
            j++;
        }
    }
    blk = json_pack("{s:o, s:o, s:o}", "added", added, "removed", removed, "changed", changed);
    /* json_pack's "o" steals even on failure. */
    added = removed = changed = NULL;
    if (blk == NULL)
        goto oom;
    free(ka);
    free(kb);
    return blk;
oom:
    err_set(e, ERR_IO, "diff: out of memory");
    free(ka);
    free(kb);
    json_decref(added);
    json_decref(removed);
    json_decref(changed);
    return NULL;
}

/* ---------------------------------------------------------------- sides */

static json_t *side_header(const struct diff_side *s)
{
    json_t *h;
    const char *label = s->label ? s->label : "";

    if (!json_is_object(s->meta))
        return json_pack("{s:s}", "name", label);
    h = json_deep_copy(s->meta);
    if (h && !json_is_string(json_object_get(h, "name")) &&
        json_object_set_new(h, "name", json_string(label)) != 0) {
        json_decref(h);
        return NULL;
    }
    return h;
}

/* Flatten one file's changes into config_changes: {file, pointer, old, new}. */
static int add_config_changes(json_t *cfg, const char *file, const json_t *changes)
{
    size_t i;
    json_t *c;

    json_array_foreach((json_t *)changes, i, c) {
        json_t *oldv = json_object_get(c, "old"), *newv = json_object_get(c, "new");
        json_t *row = json_pack("{s:s, s:O, s:O, s:O}", "file", file, "pointer",
                                json_object_get(c, "pointer"), "old", oldv ? oldv : json_null(),
                                "new", newv ? newv : json_null());

        if (row == NULL || json_array_append_new(cfg, row) != 0)
            return -1;
    }
    return 0;
}

/* One json_changes entry for a modified .json file present on both sides. */
static json_t *json_change_entry(const char *path, const json_t *da, enum load_status sa,
                                 const json_t *db, enum load_status sb)
{
    json_t *changes;
    int cut;

    if (sa == LOAD_TOO_LARGE || sb == LOAD_TOO_LARGE)
        return json_pack("{s:s, s:s}", "path", path, "error", "too large for a structural diff");
    if (sa != LOAD_OK || sb != LOAD_OK)
        return json_pack("{s:s, s:s}", "path", path, "error", "not valid JSON");
    changes = json_array();
    if (changes == NULL)
        return NULL;
    cut = diff_json(da, db, changes, DIFF_MAX_CHANGES);
    if (cut < 0) {
        json_decref(changes);
        return NULL;
    }
    return json_pack("{s:s, s:o, s:b}", "path", path, "changes", changes, "truncated", cut);
}

static const char *load_why(int present, enum load_status st, const char *which)
{
    if (!present || st == LOAD_OK)
        return NULL;
    if (st == LOAD_TOO_LARGE)
        return strcmp(which, "old") == 0 ? "old " POSITIONS_PATH " is too large"
                                         : "new " POSITIONS_PATH " is too large";
    return strcmp(which, "old") == 0 ? "old " POSITIONS_PATH " is not valid JSON"
                                     : "new " POSITIONS_PATH " is not valid JSON";
}

int diff_sides(const struct diff_side *a, const struct diff_side *b, json_t **out, struct err *e)
{
    struct fref *fa = NULL, *fb = NULL;
    size_t na = 0, nb = 0, i = 0, j = 0;
    json_int_t n_add = 0, n_rem = 0, n_mod = 0, n_same = 0;
    json_t *doc = NULL, *files = NULL, *jchanges = NULL, *cfg = NULL, *blk = NULL;
    json_t *pos_doc[2] = {NULL, NULL};
    enum load_status pos_st[2] = {LOAD_OK, LOAD_OK};
    int pos_loaded[2] = {0, 0};
    const struct fref *pa, *pb;
    int rc = -1;

    *out = NULL;
    if (index_files(a, &fa, &na, e) != 0 || index_files(b, &fb, &nb, e) != 0)
        goto out;
    doc = json_object();
    files = json_array();
    jchanges = json_array();
    cfg = json_array();
    if (doc == NULL || files == NULL || jchanges == NULL || cfg == NULL)
        goto oom;

    while (i < na || j < nb) {
        int c = i >= na ? 1 : j >= nb ? -1 : strcmp(fa[i].path, fb[j].path);
        const struct fref *x = c <= 0 ? &fa[i] : NULL, *y = c >= 0 ? &fb[j] : NULL;
        const char *path = x ? x->path : y->path, *status;
        json_t *row;

        if (x && y) {
            status = (x->sha && y->sha && strcmp(x->sha, y->sha) == 0) ? "unchanged" : "modified";
        } else {
            status = x ? "removed" : "added";
        }
        row = json_pack("{s:s, s:s, s:o, s:o, s:o, s:o}", "path", path, "status", status,
                        "old_size", size_or_null(x), "new_size", size_or_null(y), "old_sha256",
                        sha_or_null(x), "new_sha256", sha_or_null(y));
        if (row == NULL || json_array_append_new(files, row) != 0)
            goto oom;
        if (!x)
            n_add++;
        else if (!y)
            n_rem++;
        else if (status[0] == 'u')
            n_same++;
        else
            n_mod++;

        if (x && y && status[0] == 'm' && ends_with(path, ".json") &&
            x->size <= (json_int_t)DIFF_MAX_JSON_BYTES &&
            y->size <= (json_int_t)DIFF_MAX_JSON_BYTES) {
            json_t *da = NULL, *db = NULL, *entry;
            enum load_status sa, sb;
            int keep = strcmp(path, POSITIONS_PATH) == 0;

            if (load_json(a, path, &da, &sa, e) != 0 || load_json(b, path, &db, &sb, e) != 0) {
                json_decref(da);
                goto out;
            }
            entry = json_change_entry(path, da, sa, db, sb);
            if (entry == NULL || json_array_append_new(jchanges, entry) != 0 ||
                (strncmp(path, "config/", 7) == 0 &&
                 add_config_changes(cfg, path, json_object_get(entry, "changes")) != 0)) {
                json_decref(da);
                json_decref(db);
                goto oom;
            }
            if (keep) {
                /* Reuse for the positions block: on the live side a second read
                 * could see a different file than the one just compared. */
                pos_doc[0] = da;
                pos_doc[1] = db;
                pos_st[0] = sa;
                pos_st[1] = sb;
                pos_loaded[0] = pos_loaded[1] = 1;
            } else {
                json_decref(da);
                json_decref(db);
            }
        }
        if (x)
            i++;
        if (y)
            j++;
    }

    pa = find_file(fa, na, POSITIONS_PATH);
    pb = find_file(fb, nb, POSITIONS_PATH);
    if (pa || pb) {
        if (pa && !pos_loaded[0] && load_listed(a, pa, &pos_doc[0], &pos_st[0], e) != 0)
            goto out;
        if (pb && !pos_loaded[1] && load_listed(b, pb, &pos_doc[1], &pos_st[1], e) != 0)
            goto out;
        blk = diff_positions_block(pos_doc[0], load_why(pa != NULL, pos_st[0], "old"), pos_doc[1],
                              load_why(pb != NULL, pos_st[1], "new"), e);
        if (blk == NULL)
            goto out;
    } else {
        blk = json_null();
    }
    if (json_object_set_new(doc, "positions", blk) != 0) {
        blk = NULL;
        goto oom;
    }

    blk = env_block(a->env_keys, b->env_keys, e);
    if (blk == NULL || json_object_set_new(doc, "env", blk) != 0)
        goto oom;

    pa = find_file(fa, na, CHAIN_PATH);
    pb = find_file(fb, nb, CHAIN_PATH);
    blk = (pa || pb) ? chain_block(a, pa, b, pb, e) : json_null();
    if (blk == NULL || json_object_set_new(doc, "hash_chain", blk) != 0)
        goto oom;

    if (json_object_set_new(doc, "from", side_header(a)) != 0 ||
        json_object_set_new(doc, "to", side_header(b)) != 0 ||
        json_object_set_new(doc, "summary",
                            json_pack("{s:I, s:I, s:I, s:I}", "added", n_add, "removed", n_rem,
                                      "modified", n_mod, "unchanged", n_same)) != 0)
        goto oom;
    rc = json_object_set_new(doc, "files", files);
    files = NULL;
    if (rc != 0)
        goto oom;
    rc = json_object_set_new(doc, "json_changes", jchanges);
    jchanges = NULL;
    if (rc != 0)
        goto oom;
    rc = json_object_set_new(doc, "config_changes", cfg);
    cfg = NULL;
    if (rc != 0)
        goto oom;
    *out = doc;
    doc = NULL;
    rc = 0;
    goto out;
oom:
    err_set(e, ERR_IO, "diff: out of memory");
    rc = -1;
out:
    json_decref(pos_doc[0]);
    json_decref(pos_doc[1]);
    json_decref(doc);
    json_decref(files);
    json_decref(jchanges);
    json_decref(cfg);
    free(fa);
    free(fb);
    return rc;
}
