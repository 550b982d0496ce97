/* test_diff.c - unit tests for engine/diff.c and cli/render_diff.c over in-memory sides. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>
#include <openssl/evp.h>

#include "../../cli/render_diff.h"
#include "../../engine/diff.h"

/* ---------------------------------------------------------------- in-memory side */

#define MEM_FILES_MAX 16

struct mem_file {
    const char *path;
    char *data;       /* owned copy */
    size_t len;
    int no_sha;       /* leave sha256 out of the file list */
    json_int_t listed_size; /* size the file list claims; 0 = the real length */
};

struct mem_side {
    struct mem_file files[MEM_FILES_MAX];
    size_t n;
    size_t step_max;  /* 0: reads return as much as asked; else 1..step_max bytes */
    int fail_open;    /* open() fails for every path */
    int opens;        /* how many times open() was called */
    json_t *env;
    json_t *list;
    struct diff_side side;
};

struct mem_reader {
    struct diff_reader base;
    const struct mem_file *f;
    size_t pos;
    size_t step_max;
    uint32_t rng;
};

static ssize_t mem_read(struct diff_reader *r, void *buf, size_t n, struct err *e)
{
    struct mem_reader *m = (struct mem_reader *)r;
    size_t left = m->f->len - m->pos;

    (void)e;
    if (m->step_max > 0) {
        /* A cheap LCG picks 1..step_max so chunk edges fall everywhere. */
        size_t k;

        m->rng = m->rng * 1103515245u + 12345u;
        k = 1 + (m->rng >> 16) % m->step_max;
        if (n > k)
            n = k;
    }
    if (n > left)
        n = left;
    memcpy(buf, m->f->data + m->pos, n);
    m->pos += n;
    return (ssize_t)n;
}

static void mem_close(struct diff_reader *r)
{
    free(r);
}

static struct diff_reader *mem_open(void *ctx, const char *path, struct err *e)
{
    struct mem_side *s = ctx;
    struct mem_reader *m;

    s->opens++;
    if (s->fail_open) {
        err_set(e, ERR_IO, "test: open %s refused", path);
        return NULL;
    }
    for (size_t i = 0; i < s->n; i++) {
        if (strcmp(s->files[i].path, path) != 0)
            continue;
        m = calloc(1, sizeof(*m));
        assert_non_null(m);
        m->base.read = mem_read;
        m->base.close = mem_close;
        m->f = &s->files[i];
        m->step_max = s->step_max;
        m->rng = (uint32_t)(s->files[i].len * 2654435761u + i);
        return &m->base;
    }
    err_set(e, ERR_NOT_FOUND, "test: no file %s", path);
    return NULL;
}

static void sha256_hex(const char *data, size_t len, char out[65])
{
    unsigned char md[32];
    unsigned int mdlen = 0;

    assert_int_equal(EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL), 1);
    for (unsigned i = 0; i < 32; i++)
        assert_int_equal(snprintf(out + 2 * i, 3, "%02x", md[i]), 2);
}

static void side_init(struct mem_side *s, const char *label)
{
    memset(s, 0, sizeof(*s));
    s->env = json_object();
    s->side.label = label;
    s->side.open = mem_open;
    s->side.ctx = s;
}

static void side_put_len(struct mem_side *s, const char *path, const char *data, size_t len)
{
    assert_true(s->n < MEM_FILES_MAX);
    s->files[s->n].path = path;
    s->files[s->n].data = malloc(len + 1);
    assert_non_null(s->files[s->n].data);
    memcpy(s->files[s->n].data, data, len);
    s->files[s->n].len = len;
    s->n++;
}

static void side_put(struct mem_side *s, const char *path, const char *data)
{
    side_put_len(s, path, data, strlen(data));
}

/* Build the file list the engine sees (sorted by path, as manifests are). */
static const struct diff_side *side_ready(struct mem_side *s)
{
    json_decref(s->list);
    s->list = json_array();
    for (size_t i = 0; i < s->n; i++) {
        json_t *row = json_pack("{s:s, s:I, s:s}", "path", s->files[i].path, "size",
                                s->files[i].listed_size ? s->files[i].listed_size
                                                        : (json_int_t)s->files[i].len,
                                "group", "state");
        char hex[65];

        assert_non_null(row);
        if (!s->files[i].no_sha) {
            sha256_hex(s->files[i].data, s->files[i].len, hex);
            json_object_set_new(row, "sha256", json_string(hex));
        }
        json_array_append_new(s->list, row);
    }
    s->side.files = s->list;
    s->side.env_keys = s->env;
    return &s->side;
}

static void side_free(struct mem_side *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->files[i].data);
    json_decref(s->list);
    json_decref(s->env);
}

static json_t *run_diff(struct mem_side *a, struct mem_side *b)
{
    struct err e = {0};
    json_t *d = NULL;

    assert_int_equal(diff_sides(side_ready(a), side_ready(b), &d, &e), 0);
    assert_int_equal(e.code, ERR_NONE);
    assert_non_null(d);
    return d;
}

/* The entry of array arr whose member key equals val, or NULL. */
static json_t *find_by(const json_t *arr, const char *key, const char *val)
{
    size_t i;
    json_t *v;

    json_array_foreach((json_t *)arr, i, v) {
        const char *s = json_string_value(json_object_get(v, key));

        if (s && strcmp(s, val) == 0)
            return v;
    }
    return NULL;
}

static json_int_t geti(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);

    assert_true(json_is_integer(v));
    return json_integer_value(v);
}

static const char *gets_(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);

    assert_true(json_is_string(v));
    return json_string_value(v);
}

static char *render(const json_t *d)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);

    assert_non_null(f);
    cli_render_diff(f, d);
    assert_int_equal(fclose(f), 0);
    return buf;
}

/* ---------------------------------------------------------------- diff_json */

static void diff_json_escapes_pointers(void **state)
{
    json_t *a = json_loads("{\"a/b\":{\"m~n\":1},\"arr\":[1,2,3],\"x\":true}", 0, NULL);
    json_t *b = json_loads("{\"a/b\":{\"m~n\":2},\"arr\":[1,5],\"y\":null}", 0, NULL);
    json_t *ch = json_array();
    json_t *c;

    (void)state;
    assert_int_equal(diff_json(a, b, ch, 50), 0);
    assert_int_equal(json_array_size(ch), 5);
    /* Keys in sorted order: "a/b", "arr", "x", "y". */
    c = json_array_get(ch, 0);
    assert_string_equal(gets_(c, "pointer"), "/a~1b/m~0n");
    assert_string_equal(gets_(c, "op"), "changed");
    assert_int_equal(geti(c, "old"), 1);
    assert_int_equal(geti(c, "new"), 2);
    c = json_array_get(ch, 1);
    assert_string_equal(gets_(c, "pointer"), "/arr/1");
    assert_string_equal(gets_(c, "op"), "changed");
    assert_int_equal(geti(c, "new"), 5);
    c = json_array_get(ch, 2);
    assert_string_equal(gets_(c, "pointer"), "/arr/2");
    assert_string_equal(gets_(c, "op"), "removed");
    assert_int_equal(geti(c, "old"), 3);
    assert_null(json_object_get(c, "new"));
    c = json_array_get(ch, 3);
    assert_string_equal(gets_(c, "pointer"), "/x");
    assert_string_equal(gets_(c, "op"), "removed");
    assert_true(json_is_true(json_object_get(c, "old")));
    c = json_array_get(ch, 4);
    assert_string_equal(gets_(c, "pointer"), "/y");
    assert_string_equal(gets_(c, "op"), "added");
    assert_true(json_is_null(json_object_get(c, "new")));
    assert_null(json_object_get(c, "old"));
    json_decref(a);
    json_decref(b);
    json_decref(ch);
}

static void diff_json_root_and_type_change(void **state)
{
    json_t *a = json_loads("[1]", 0, NULL), *b = json_loads("{\"k\":[1]}", 0, NULL);
    json_t *s1 = json_string("x"), *s2 = json_string("x");
    json_t *ch = json_array();

    (void)state;
    assert_int_equal(diff_json(a, b, ch, 10), 0);
    assert_int_equal(json_array_size(ch), 1);
    assert_string_equal(gets_(json_array_get(ch, 0), "pointer"), "");
    assert_true(json_is_array(json_object_get(json_array_get(ch, 0), "old")));
    assert_true(json_is_object(json_object_get(json_array_get(ch, 0), "new")));
    json_array_clear(ch);
    assert_int_equal(diff_json(s1, s2, ch, 10), 0);
    assert_int_equal(json_array_size(ch), 0);
    json_decref(a);
    json_decref(b);
    json_decref(s1);
    json_decref(s2);
    json_decref(ch);
}

static void diff_json_cap_reports_truncation(void **state)
{
    json_t *a = json_object(), *b = json_object(), *ch = json_array();
    char key[16];

    (void)state;
    for (int i = 0; i < 10; i++) {
        assert_int_equal(snprintf(key, sizeof(key), "k%02d", i), 3);
        json_object_set_new(a, key, json_integer(i));
        json_object_set_new(b, key, json_integer(i + 100));
    }
    /* Exactly max changes is not a cut. */
    assert_int_equal(diff_json(a, b, ch, 10), 0);
    assert_int_equal(json_array_size(ch), 10);
    json_array_clear(ch);
    assert_int_equal(diff_json(a, b, ch, 4), 1);
    assert_int_equal(json_array_size(ch), 4);
    assert_string_equal(gets_(json_array_get(ch, 3), "pointer"), "/k03");
    json_decref(a);
    json_decref(b);
    json_decref(ch);
}

/* ---------------------------------------------------------------- whole diffs */

#define CHAIN "state/hash_chain.jsonl"
#define POS "state/positions.json"

static void diff_identical_sides(void **state)
{
    struct mem_side a, b;
    json_t *d, *pos, *hc, *env;
    const char *pj = "{\"positions\":[{\"symbol\":\"AAPL\",\"side\":\"long\",\"qty\":10,"
                     "\"avg_price\":150.5}]}";

    (void)state;
    side_init(&a, "snap_001");
    side_init(&b, "snap_002");
    side_put(&a, "config/config.json", "{\"v\":1}");
    side_put(&a, CHAIN, "{\"h\":1}\n{\"h\":2}\n");
    side_put(&a, POS, pj);
    side_put(&b, "config/config.json", "{\"v\":1}");
    side_put(&b, CHAIN, "{\"h\":1}\n{\"h\":2}\n");
    side_put(&b, POS, pj);
    json_object_set_new(a.env, "BROKER_API_KEY", json_string("fp1"));
    json_object_set_new(b.env, "BROKER_API_KEY", json_string("fp1"));
    d = run_diff(&a, &b);

    assert_string_equal(gets_(json_object_get(d, "from"), "name"), "snap_001");
    assert_string_equal(gets_(json_object_get(d, "to"), "name"), "snap_002");
    assert_int_equal(geti(json_object_get(d, "summary"), "unchanged"), 3);
    assert_int_equal(geti(json_object_get(d, "summary"), "modified"), 0);
    assert_int_equal(geti(json_object_get(d, "summary"), "added"), 0);
    assert_int_equal(geti(json_object_get(d, "summary"), "removed"), 0);
    assert_int_equal(json_array_size(json_object_get(d, "files")), 3);
    assert_string_equal(gets_(json_array_get(json_object_get(d, "files"), 0), "path"),
                        "config/config.json");
    assert_string_equal(gets_(json_array_get(json_object_get(d, "files"), 0), "status"),
                        "unchanged");
    assert_int_equal(json_array_size(json_object_get(d, "json_changes")), 0);
    assert_int_equal(json_array_size(json_object_get(d, "config_changes")), 0);
    pos = json_object_get(d, "positions");
    assert_int_equal(geti(pos, "old_count"), 1);
    assert_int_equal(geti(pos, "new_count"), 1);
    assert_int_equal(json_array_size(json_object_get(pos, "opened")), 0);
    assert_int_equal(json_array_size(json_object_get(pos, "closed")), 0);
    assert_int_equal(json_array_size(json_object_get(pos, "changed")), 0);
    hc = json_object_get(d, "hash_chain");
    assert_string_equal(gets_(hc, "relation"), "identical");
    assert_int_equal(geti(hc, "old_lines"), 2);
    assert_int_equal(geti(hc, "new_lines"), 2);
    assert_int_equal(geti(hc, "lines_added"), 0);
    assert_true(json_is_null(json_object_get(hc, "first_divergent_line")));
    env = json_object_get(d, "env");
    assert_int_equal(json_array_size(json_object_get(env, "added")), 0);
    assert_int_equal(json_array_size(json_object_get(env, "removed")), 0);
    assert_int_equal(json_array_size(json_object_get(env, "changed")), 0);
    /* Equal hashes: only one side of the chain is read, positions once per side. */
    assert_int_equal(a.opens, 1);
    assert_int_equal(b.opens, 2);
    json_decref(d);
    side_free(&a);
    side_free(&b);
}

static void diff_files_statuses_and_meta(void **state)
{
    struct mem_side a, b;
    json_t *d, *f;

    (void)state;
    side_init(&a, "snap_a");
    side_init(&b, "live");
    a.side.meta = json_pack("{s:s, s:s}", "name", "snap_a", "version", "1.2.0");
    side_put(&a, "state/orders.json", "[]");
    side_put(&a, "state/gone.json", "{}");
    side_put(&a, "state/KILL_SWITCH", "on\n");
    side_put(&b, "state/orders.json", "[1]");
    side_put(&b, "state/new.txt", "hello");
    side_put(&b, "state/KILL_SWITCH", "on\n");
    d = run_diff(&a, &b);

    assert_string_equal(gets_(json_object_get(d, "from"), "version"), "1.2.0");
    assert_string_equal(gets_(json_object_get(d, "to"), "name"), "live");
    assert_true(json_is_null(json_object_get(d, "positions")));
    assert_true(json_is_null(json_object_get(d, "hash_chain")));
    assert_int_equal(geti(json_object_get(d, "summary"), "added"), 1);
    assert_int_equal(geti(json_object_get(d, "summary"), "removed"), 1);
    assert_int_equal(geti(json_object_get(d, "summary"), "modified"), 1);
    assert_int_equal(geti(json_object_get(d, "summary"), "unchanged"), 1);
    f = find_by(json_object_get(d, "files"), "path", "state/new.txt");
    assert_string_equal(gets_(f, "status"), "added");
    assert_true(json_is_null(json_object_get(f, "old_size")));
    assert_true(json_is_null(json_object_get(f, "old_sha256")));
    assert_int_equal(geti(f, "new_size"), 5);
    assert_string_equal(gets_(f, "new_sha256"),
                        "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824");
    f = find_by(json_object_get(d, "files"), "path", "state/gone.json");
    assert_string_equal(gets_(f, "status"), "removed");
    assert_int_equal(geti(f, "old_size"), 2);
    assert_true(json_is_null(json_object_get(f, "new_size")));
    f = find_by(json_object_get(d, "files"), "path", "state/orders.json");
    assert_string_equal(gets_(f, "status"), "modified");
    /* Files come out in path order. */
    assert_string_equal(gets_(json_array_get(json_object_get(d, "files"), 0), "path"),
                        "state/KILL_SWITCH");
    f = find_by(json_object_get(d, "json_changes"), "path", "state/orders.json");
    assert_non_null(f);
    assert_true(json_is_false(json_object_get(f, "truncated")));
    assert_string_equal(gets_(json_array_get(json_object_get(f, "changes"), 0), "pointer"), "/0");
    assert_string_equal(gets_(json_array_get(json_object_get(f, "changes"), 0), "op"), "added");
    json_decref(d);
    json_decref(a.side.meta);
    side_free(&a);
    side_free(&b);
}

static json_t *pos_get(const json_t *d, const char *list, const char *sym)
{
    return find_by(json_object_get(json_object_get(d, "positions"), list), "symbol", sym);
}

static void positions_wrapper_shape(void **state)
{
    struct mem_side a, b;
    json_t *d, *pos, *p;

    (void)state;
    side_init(&a, "old");
    side_init(&b, "new");
    side_put(&a, POS,
             "{\"updated\":\"t1\",\"positions\":["
             "{\"symbol\":\"AAPL\",\"side\":\"long\",\"qty\":50,\"avg_price\":180.0},"
             "{\"symbol\":\"MSFT\",\"side\":\"long\",\"qty\":100,\"avg_price\":300.25},"
             "{\"symbol\":\"TSLA\",\"side\":\"short\",\"qty\":10,\"avg_price\":200,\"upl\":1}]}");
    side_put(&b, POS,
             "{\"updated\":\"t2\",\"positions\":["
             "{\"symbol\":\"MSFT\",\"side\":\"long\",\"qty\":150,\"avg_price\":300.25},"
             "{\"symbol\":\"TSLA\",\"side\":\"short\",\"qty\":10.0,\"avg_price\":200,\"upl\":9},"
             "{\"symbol\":\"NVDA\",\"side\":\"long\",\"qty\":100,\"avg_price\":451.2}]}");
    d = run_diff(&a, &b);
    pos = json_object_get(d, "positions");
    assert_int_equal(geti(pos, "old_count"), 3);
    assert_int_equal(geti(pos, "new_count"), 3);
    assert_int_equal(json_array_size(json_object_get(pos, "opened")), 1);
    assert_int_equal(json_array_size(json_object_get(pos, "closed")), 1);
    /* TSLA: qty 10 vs 10.0 is the same and upl is not compared. */
    assert_int_equal(json_array_size(json_object_get(pos, "changed")), 1);
    p = pos_get(d, "opened", "NVDA");
    assert_non_null(p);
    assert_string_equal(gets_(p, "side"), "long");
    assert_int_equal(geti(p, "qty"), 100);
    assert_true(json_real_value(json_object_get(p, "avg_price")) == 451.2);
    p = pos_get(d, "closed", "AAPL");
    assert_non_null(p);
    assert_int_equal(geti(p, "qty"), 50);
    p = pos_get(d, "changed", "MSFT");
    assert_non_null(p);
    assert_int_equal(geti(json_object_get(p, "old"), "qty"), 100);
    assert_int_equal(geti(json_object_get(p, "new"), "qty"), 150);
    assert_string_equal(gets_(json_object_get(p, "new"), "side"), "long");
    /* The file is modified JSON, so it has a structural diff too. */
    p = find_by(json_object_get(d, "json_changes"), "path", POS);
    assert_non_null(p);
    assert_non_null(find_by(json_object_get(p, "changes"), "pointer", "/updated"));
    /* One read per side serves both the structural diff and the positions. */
    assert_int_equal(a.opens, 1);
    assert_int_equal(b.opens, 1);
    json_decref(d);
    side_free(&a);
    side_free(&b);
}

static void positions_array_shape_with_duplicates(void **state)
{
    struct mem_side a, b;
    json_t *d, *pos, *p;

    (void)state;
    side_init(&a, "old");
    side_init(&b, "new");
    side_put(&a, POS,
             "[{\"symbol\":\"AAPL\",\"side\":\"long\",\"qty\":10,\"avg_price\":1},"
             "{\"symbol\":\"AAPL\",\"side\":\"short\",\"qty\":5,\"avg_price\":2},"
             "{\"symbol\":\"IBM\",\"side\":\"long\",\"qty\":1,\"avg_price\":3}]");
    side_put(&b, POS,
             "[{\"symbol\":\"AAPL\",\"side\":\"long\",\"qty\":10,\"avg_price\":1},"
             "{\"symbol\":\"IBM\",\"side\":\"short\",\"qty\":1,\"avg_price\":3}]");
    d = run_diff(&a, &b);
    pos = json_object_get(d, "positions");
    assert_int_equal(geti(pos, "old_count"), 3);
    assert_int_equal(geti(pos, "new_count"), 2);
    assert_int_equal(json_array_size(json_object_get(pos, "opened")), 0);
    assert_int_equal(json_array_size(json_object_get(pos, "closed")), 1);
    p = pos_get(d, "closed", "AAPL#2");
    assert_non_null(p);
    assert_string_equal(gets_(p, "side"), "short");
    assert_int_equal(json_array_size(json_object_get(pos, "changed")), 1);
    p = pos_get(d, "changed", "IBM");
    assert_non_null(p);
    assert_string_equal(gets_(json_object_get(p, "old"), "side"), "long");
    assert_string_equal(gets_(json_object_get(p, "new"), "side"), "short");
    json_decref(d);
    side_free(&a);
    side_free(&b);
}

static void positions_map_shape(void **state)
{
    struct mem_side a, b;
    json_t *d, *pos, *p;

    (void)state;
    side_init(&a, "old");
    side_init(&b, "new");
    side_put(&a, POS, "{\"AAPL\":{\"qty\":10,\"side\":\"long\",\"avg_price\":100}}");
    side_put(&b, POS,
             "{\"GOOG\":{\"qty\":3,\"side\":\"long\",\"avg_price\":140.5},"
             "\"AAPL\":{\"qty\":10,\"side\":\"long\",\"avg_price\":101}}");
    d = run_diff(&a, &b);
    pos = json_object_get(d, "positions");
    assert_int_equal(geti(pos, "old_count"), 1);
    assert_int_equal(geti(pos, "new_count"), 2);
    p = pos_get(d, "opened", "GOOG");
    assert_non_null(p);
    assert_int_equal(geti(p, "qty"), 3);
    p = pos_get(d, "changed", "AAPL");
    assert_non_null(p);
    assert_int_equal(geti(json_object_get(p, "old"), "avg_price"), 100);
    assert_int_equal(geti(json_object_get(p, "new"), "avg_price"), 101);
    assert_int_equal(json_array_size(json_object_get(pos, "closed")), 0);
    json_decref(d);
    side_free(&a);
    side_free(&b);
}

static void positions_on_one_side_only(void **state)
{
    struct mem_side a, b;
    json_t *d, *pos;

    (void)state;
    side_init(&a, "old");
    side_init(&b, "new");
    side_put(&a, POS, "{\"positions\":[{\"symbol\":\"AAPL\",\"qty\":1},{\"symbol\":\"BA\"}]}");
    d = run_diff(&a, &b);
    pos = json_object_get(d, "positions");
    assert_int_equal(geti(pos, "old_count"), 2);
    assert_int_equal(geti(pos, "new_count"), 0);
    assert_int_equal(json_array_size(json_object_get(pos, "closed")), 2);
    assert_true(json_is_null(json_object_get(pos_get(d, "closed", "BA"), "qty")));
    json_decref(d);
    side_free(&a);
    side_free(&b);
}

static void invalid_json_file_gets_error_entry(void **state)
{
    struct mem_side a, b;
    json_t *d, *e1, *pos;

    (void)state;
    side_init(&a, "old");
    side_init(&b, "new");
    side_put(&a, POS, "{\"positions\":[]}");
    side_put(&b, POS, "{\"positions\":[ truncated");
    side_put(&a, "state/orders.json", "{}");
    side_put(&b, "state/orders.json", "");
    d = run_diff(&a, &b);
    e1 = find_by(json_object_get(d, "json_changes"), "path", "state/orders.json");
    assert_non_null(e1);
    assert_string_equal(gets_(e1, "error"), "not valid JSON");
    assert_null(json_object_get(e1, "changes"));
    e1 = find_by(json_object_get(d, "json_changes"), "path", POS);
    assert_string_equal(gets_(e1, "error"), "not valid JSON");
    /* Positions are not guessed from a broken file. */
    pos = json_object_get(d, "positions");
    assert_true(json_is_null(json_object_get(pos, "new_count")));
    assert_non_null(strstr(gets_(pos, "error"), "not valid JSON"));
    assert_int_equal(json_array_size(json_object_get(pos, "opened")), 0);
    json_decref(d);
    side_free(&a);
    side_free(&b);
}

static void oversized_json_is_not_read(void **state)
{
    struct mem_side a, b;
    json_t *d, *pos;

    (void)state;
    side_init(&a, "old");
    side_init(&b, "new");
    side_put(&a, POS, "[]");
    side_put(&b, POS, "[{\"symbol\":\"AAPL\"}]");
    b.files[0].listed_size = (json_int_t)DIFF_MAX_JSON_BYTES + 1;
    d = run_diff(&a, &b);
    /* No structural diff past the limit, and the big side is never opened. */
    assert_int_equal(json_array_size(json_object_get(d, "json_changes")), 0);
    assert_int_equal(b.opens, 0);
    assert_string_equal(gets_(json_array_get(json_object_get(d, "files"), 0), "status"),
                        "modified");
    pos = json_object_get(d, "positions");
    assert_string_equal(gets_(pos, "error"), "new " POS " is too large");
    assert_true(json_is_null(json_object_get(pos, "old_count")));
    json_decref(d);
    side_free(&a);
    side_free(&b);
}

static void json_changes_cap_sets_truncated(void **state)
{
    struct mem_side a, b;
    json_t *oa = json_object(), *ob = json_object(), *d, *ent;
    char key[16], *sa, *sb;

    (void)state;
    for (int i = 0; i < DIFF_MAX_CHANGES + 50; i++) {
        assert_int_equal(snprintf(key, sizeof(key), "k%04d", i), 5);
        json_object_set_new(oa, key, json_integer(i));
        json_object_set_new(ob, key, json_integer(-i - 1));
    }
    sa = json_dumps(oa, JSON_COMPACT);
    sb = json_dumps(ob, JSON_COMPACT);
    side_init(&a, "old");
    side_init(&b, "new");
    side_put(&a, "state/pnl_history.json", sa);
    side_put(&b, "state/pnl_history.json", sb);
    d = run_diff(&a, &b);
    ent = find_by(json_object_get(d, "json_changes"), "path", "state/pnl_history.json");
    assert_non_null(ent);
    assert_true(json_is_true(json_object_get(ent, "truncated")));
    assert_int_equal(json_array_size(json_object_get(ent, "changes")), DIFF_MAX_CHANGES);
    assert_string_equal(gets_(json_array_get(json_object_get(ent, "changes"), 0), "pointer"),
                        "/k0000");
    json_decref(d);
    free(sa);
    free(sb);
    json_decref(oa);
    json_decref(ob);
    side_free(&a);
    side_free(&b);
}

static void config_changes_listed_plainly(void **state)
{
    struct mem_side a, b;
    json_t *d, *cc, *c;

    (void)state;
    side_init(&a, "old");
    side_init(&b, "new");
    side_put(&a, "config/risk_limits.json",
             "{\"max_position_usd\":250000,\"max_daily_loss\":5000,\"old_flag\":true}");
    side_put(&b, "config/risk_limits.json",
             "{\"max_position_usd\":300000,\"max_daily_loss\":5000,\"new_flag\":1}");
    side_put(&a, "state/orders.json", "[1]");
    side_put(&b, "state/orders.json", "[2]");
    d = run_diff(&a, &b);
    cc = json_object_get(d, "config_changes");
    assert_int_equal(json_array_size(cc), 3);
    c = find_by(cc, "pointer", "/max_position_usd");
    assert_non_null(c);
    assert_string_equal(gets_(c, "file"), "config/risk_limits.json");
    assert_int_equal(geti(c, "old"), 250000);
    assert_int_equal(geti(c, "new"), 300000);
    c = find_by(cc, "pointer", "/new_flag");
    assert_true(json_is_null(json_object_get(c, "old")));
    assert_int_equal(geti(c, "new"), 1);
    c = find_by(cc, "pointer", "/old_flag");
    assert_true(json_is_true(json_object_get(c, "old")));
    assert_true(json_is_null(json_object_get(c, "new")));
    /* state/ files do not count as config. */
    assert_null(find_by(cc, "file", "state/orders.json"));
    json_decref(d);
    side_free(&a);
    side_free(&b);
}

static void env_keys_added_removed_changed(void **state)
{
    struct mem_side a, b;
    json_t *d, *env;

    (void)state;
    side_init(&a, "old");
    side_init(&b, "new");
    json_object_set_new(a.env, "BROKER_API_KEY", json_string("fp-a"));
    json_object_set_new(a.env, "DB_URL", json_string("fp-db"));
    json_object_set_new(a.env, "OLD_KEY", json_string("fp-o"));
    json_object_set_new(b.env, "DB_URL", json_string("fp-db"));
    json_object_set_new(b.env, "BROKER_API_KEY", json_string("fp-b"));
    json_object_set_new(b.env, "ZED", json_string("fp-z"));
    json_object_set_new(b.env, "ALPHA", json_string("fp-x"));
    d = run_diff(&a, &b);
    env = json_object_get(d, "env");
    assert_int_equal(json_array_size(json_object_get(env, "added")), 2);
    assert_string_equal(json_string_value(json_array_get(json_object_get(env, "added"), 0)),
                        "ALPHA");
    assert_string_equal(json_string_value(json_array_get(json_object_get(env, "added"), 1)), "ZED");
    assert_int_equal(json_array_size(json_object_get(env, "removed")), 1);
    assert_string_equal(json_string_value(json_array_get(json_object_get(env, "removed"), 0)),
                        "OLD_KEY");
    assert_int_equal(json_array_size(json_object_get(env, "changed")), 1);
    assert_string_equal(json_string_value(json_array_get(json_object_get(env, "changed"), 0)),
                        "BROKER_API_KEY");
    json_decref(d);
    side_free(&a);
    side_free(&b);
}

/* ---------------------------------------------------------------- hash chain */

/* n lines "{"seq":i,"h":"..."}\n" into a malloc'd buffer. */
static char *make_chain(int n, size_t *len)
{
    size_t cap = (size_t)n * 96 + 1, used = 0;
    char *buf = malloc(cap);

    assert_non_null(buf);
    buf[0] = '\0';
    for (int i = 1; i <= n; i++) {
        int w = snprintf(buf + used, cap - used,
                         "{\"seq\":%d,\"prev\":\"%08x\",\"h\":\"%08x%08x\"}\n", i,
                         (unsigned)(i - 1) * 2654435761u, (unsigned)i * 2246822519u,
                         (unsigned)i * 3266489917u);
        assert_true(w > 0 && (size_t)w < cap - used);
        used += (size_t)w;
    }
    *len = used;
    return buf;
}

/* Start of 1-based line n of buf. */
static char *line_at(char *buf, int n)
{
    for (int line = 1; line < n; buf++)
        line += *buf == '\n';
    return buf;
}

static json_t *chain_diff(const char *old, size_t olen, const char *new_, size_t nlen,
                          size_t step, int no_sha)
{
    struct mem_side a, b;
    json_t *d, *hc;

    side_init(&a, "old");
    side_init(&b, "new");
    a.step_max = b.step_max = step;
    if (old) {
        side_put_len(&a, CHAIN, old, olen);
        a.files[0].no_sha = no_sha;
    }
    if (new_) {
        side_put_len(&b, CHAIN, new_, nlen);
        b.files[0].no_sha = no_sha;
    }
    d = run_diff(&a, &b);
    hc = json_incref(json_object_get(d, "hash_chain"));
    json_decref(d);
    side_free(&a);
    side_free(&b);
    return hc;
}

static void chain_extends_across_chunk_edges(void **state)
{
    size_t lo, ln;
    char *old = make_chain(40, &lo), *new_ = make_chain(55, &ln);
    json_t *hc;

    (void)state;
    for (size_t step = 1; step <= 7; step++) {
        hc = chain_diff(old, lo, new_, ln, step, 0);
        assert_string_equal(gets_(hc, "relation"), "extends");
        assert_string_equal(gets_(hc, "path"), CHAIN);
        assert_int_equal(geti(hc, "old_lines"), 40);
        assert_int_equal(geti(hc, "new_lines"), 55);
        assert_int_equal(geti(hc, "lines_added"), 15);
        assert_true(json_is_null(json_object_get(hc, "first_divergent_line")));
        json_decref(hc);
    }
    free(old);
    free(new_);
}

static void chain_rewritten_old_line(void **state)
{
    size_t lo, ln;
    char *old = make_chain(30, &lo), *new_ = make_chain(34, &ln);
    json_t *hc;

    (void)state;
    /* Change one byte in the middle of line 17 of the new chain. */
    line_at(new_, 17)[12] ^= 1;
    for (size_t step = 1; step <= 7; step++) {
        hc = chain_diff(old, lo, new_, ln, step, 0);
        assert_string_equal(gets_(hc, "relation"), "rewritten");
        assert_int_equal(geti(hc, "first_divergent_line"), 17);
        assert_int_equal(geti(hc, "old_lines"), 30);
        assert_int_equal(geti(hc, "new_lines"), 34);
        assert_int_equal(geti(hc, "lines_added"), 4);
        json_decref(hc);
    }
    /* The very first byte differs. */
    new_[0] = '[';
    hc = chain_diff(old, lo, new_, ln, 3, 0);
    assert_string_equal(gets_(hc, "relation"), "rewritten");
    assert_int_equal(geti(hc, "first_divergent_line"), 1);
    json_decref(hc);
    free(old);
    free(new_);
}

static void chain_truncated_is_rewritten(void **state)
{
    size_t lo, ln;
    char *old = make_chain(20, &lo), *new_ = make_chain(12, &ln);
    json_t *hc;

    (void)state;
    for (size_t step = 1; step <= 7; step++) {
        hc = chain_diff(old, lo, new_, ln, step, 0);
        assert_string_equal(gets_(hc, "relation"), "rewritten");
        assert_int_equal(geti(hc, "old_lines"), 20);
        assert_int_equal(geti(hc, "new_lines"), 12);
        assert_int_equal(geti(hc, "lines_added"), 0);
        assert_int_equal(geti(hc, "first_divergent_line"), 13);
        json_decref(hc);
    }
    /* Cut in the middle of line 5. */
    hc = chain_diff(old, lo, old, (size_t)(line_at(old, 5) - old) + 7, 2, 0);
    assert_string_equal(gets_(hc, "relation"), "rewritten");
    assert_int_equal(geti(hc, "new_lines"), 5);
    assert_int_equal(geti(hc, "first_divergent_line"), 5);
    json_decref(hc);
    /* Emptied. */
    hc = chain_diff(old, lo, "", 0, 0, 0);
    assert_string_equal(gets_(hc, "relation"), "rewritten");
    assert_int_equal(geti(hc, "new_lines"), 0);
    assert_int_equal(geti(hc, "first_divergent_line"), 1);
    json_decref(hc);
    free(old);
    free(new_);
}

static void chain_identical_streamed_and_by_hash(void **state)
{
    size_t lo;
    char *old = make_chain(25, &lo);
    json_t *hc;

    (void)state;
    for (size_t step = 1; step <= 7; step += 3) {
        hc = chain_diff(old, lo, old, lo, step, 1);
        assert_string_equal(gets_(hc, "relation"), "identical");
        assert_int_equal(geti(hc, "old_lines"), 25);
        assert_int_equal(geti(hc, "new_lines"), 25);
        assert_int_equal(geti(hc, "lines_added"), 0);
        json_decref(hc);
    }
    hc = chain_diff(old, lo, old, lo, 0, 0);
    assert_string_equal(gets_(hc, "relation"), "identical");
    assert_int_equal(geti(hc, "new_lines"), 25);
    json_decref(hc);
    free(old);
}

static void chain_large_crosses_buffer(void **state)
{
    size_t lo, ln;
    char *old = make_chain(3000, &lo), *new_ = make_chain(3500, &ln);
    json_t *hc;

    (void)state;
    assert_true(lo > 2 * 64 * 1024);
    hc = chain_diff(old, lo, new_, ln, 0, 0);
    assert_string_equal(gets_(hc, "relation"), "extends");
    assert_int_equal(geti(hc, "lines_added"), 500);
    json_decref(hc);
    line_at(new_, 2999)[3] = 'X';
    hc = chain_diff(old, lo, new_, ln, 0, 0);
    assert_string_equal(gets_(hc, "relation"), "rewritten");
    assert_int_equal(geti(hc, "first_divergent_line"), 2999);
    json_decref(hc);
    free(old);
    free(new_);
}

static void chain_partial_last_line_and_one_side(void **state)
{
    json_t *hc;
    const char *old = "{\"a\":1}\n{\"b\":2}";
    const char *new_ = "{\"a\":1}\n{\"b\":2}\n{\"c\":3}\n";

    (void)state;
    hc = chain_diff(old, strlen(old), new_, strlen(new_), 4, 0);
    assert_string_equal(gets_(hc, "relation"), "extends");
    assert_int_equal(geti(hc, "old_lines"), 2);
    assert_int_equal(geti(hc, "new_lines"), 3);
    assert_int_equal(geti(hc, "lines_added"), 1);
    json_decref(hc);
    hc = chain_diff(NULL, 0, new_, strlen(new_), 2, 0);
    assert_string_equal(gets_(hc, "relation"), "added");
    assert_true(json_is_null(json_object_get(hc, "old_lines")));
    assert_int_equal(geti(hc, "new_lines"), 3);
    assert_int_equal(geti(hc, "lines_added"), 3);
    json_decref(hc);
    hc = chain_diff(old, strlen(old), NULL, 0, 2, 0);
    assert_string_equal(gets_(hc, "relation"), "removed");
    assert_int_equal(geti(hc, "old_lines"), 2);
    assert_true(json_is_null(json_object_get(hc, "new_lines")));
    assert_int_equal(geti(hc, "lines_added"), 0);
    json_decref(hc);
}

static void open_failure_is_reported(void **state)
{
    struct mem_side a, b;
    struct err e = {0};
    json_t *d = NULL;

    (void)state;
    side_init(&a, "old");
    side_init(&b, "new");
    side_put(&a, CHAIN, "x\n");
    side_put(&b, CHAIN, "y\n");
    b.fail_open = 1;
    assert_int_equal(diff_sides(side_ready(&a), side_ready(&b), &d, &e), -1);
    assert_null(d);
    assert_int_equal(e.code, ERR_IO);
    assert_non_null(strstr(e.msg, "refused"));
    side_free(&a);
    side_free(&b);
}

static void bad_file_list_is_invalid(void **state)
{
    struct mem_side a, b;
    struct err e = {0};
    json_t *d = NULL;

    (void)state;
    side_init(&a, "old");
    side_init(&b, "new");
    side_ready(&a);
    side_ready(&b);
    json_array_append_new(b.list, json_pack("{s:i}", "size", 3));
    assert_int_equal(diff_sides(&a.side, &b.side, &d, &e), -1);
    assert_null(d);
    assert_int_equal(e.code, ERR_INVALID);
    side_free(&a);
    side_free(&b);
}

/* ---------------------------------------------------------------- render */

static void render_shows_key_lines(void **state)
{
    struct mem_side a, b;
    json_t *d, *oa = json_object(), *ob = json_object();
    char *text, key[16], *sa, *sb;
    size_t lo, ln;
    char *chain_old = make_chain(10, &lo), *chain_new = make_chain(130, &ln);

    (void)state;
    for (int i = 0; i < 25; i++) {
        assert_int_equal(snprintf(key, sizeof(key), "o%02d", i), 3);
        json_object_set_new(oa, key, json_integer(i));
        json_object_set_new(ob, key, json_integer(i + 1));
    }
    sa = json_dumps(oa, JSON_COMPACT);
    sb = json_dumps(ob, JSON_COMPACT);
    side_init(&a, "snap_001");
    side_init(&b, "snap_002");
    side_put(&a, "config/risk_limits.json", "{\"max_position_usd\":250000}");
    side_put(&b, "config/risk_limits.json", "{\"max_position_usd\":300000}");
    side_put_len(&a, CHAIN, chain_old, lo);
    side_put_len(&b, CHAIN, chain_new, ln);
    side_put(&a, "state/orders.json", sa);
    side_put(&b, "state/orders.json", sb);
    side_put(&a, POS,
             "{\"positions\":[{\"symbol\":\"AAPL\",\"side\":\"long\",\"qty\":50,\"avg_price\":180},"
             "{\"symbol\":\"MSFT\",\"side\":\"long\",\"qty\":100,\"avg_price\":300.5}]}");
    side_put(&b, POS,
             "{\"positions\":[{\"symbol\":\"MSFT\",\"side\":\"long\",\"qty\":150,\"avg_price\":300.5},"
             "{\"symbol\":\"NVDA\",\"side\":\"long\",\"qty\":100,\"avg_price\":451.2}]}");
    side_put(&a, "state/same.json", "{}");
    side_put(&b, "state/same.json", "{}");
    side_put(&b, "state/foo.json", "{\"x\":1}");
    json_object_set_new(a.env, "BROKER_API_KEY", json_string("fp-a"));
    json_object_set_new(b.env, "BROKER_API_KEY", json_string("fp-b"));
    json_object_set_new(b.env, "X", json_string("fp-x"));
    json_object_set_new(a.env, "Y", json_string("fp-y"));
    d = run_diff(&a, &b);
    text = render(d);

    assert_non_null(strstr(text, "DIFF: snap_001 -> snap_002\n==========================\n"));
    assert_non_null(strstr(text, "  [modified] state/positions.json ("));
    assert_non_null(strstr(text, "  [added]    state/foo.json (7 B)\n"));
    assert_non_null(strstr(text, "  1 unchanged\n"));
    assert_null(strstr(text, "state/same.json"));
    assert_non_null(strstr(text, "POSITIONS (2 -> 2):\n"));
    assert_non_null(strstr(text, "  opened  NVDA long 100 @ 451.20\n"));
    assert_non_null(strstr(text, "  closed  AAPL (was long 50 @ 180)\n"));
    assert_non_null(strstr(text, "  changed MSFT qty 100 -> 150\n"));
    assert_non_null(strstr(text, "HASH CHAIN: extends (+120 lines, 10 -> 130)\n"));
    assert_non_null(strstr(text, "CONFIG CHANGES:\n  config/risk_limits.json /max_position_usd: "
                                 "250000 -> 300000\n"));
    assert_non_null(strstr(text, "ENV KEYS: changed BROKER_API_KEY; added X; removed Y\n"));
    /* Values of .env never reach the text; fingerprints neither. */
    assert_null(strstr(text, "fp-a"));
    assert_non_null(strstr(text, "JSON CHANGES:\n"));
    assert_non_null(strstr(text, "  state/orders.json:\n    /o00: 0 -> 1\n"));
    assert_non_null(strstr(text, "    /o19: 19 -> 20\n    ... 5 more\n"));
    assert_null(strstr(text, "/o20:"));
    free(text);
    json_decref(d);
    free(sa);
    free(sb);
    free(chain_old);
    free(chain_new);
    json_decref(oa);
    json_decref(ob);
    side_free(&a);
    side_free(&b);
}

static void render_flags_rewritten_chain_and_escapes(void **state)
{
    struct mem_side a, b;
    json_t *d;
    char *text;

    (void)state;
    side_init(&a, "snap\x1b[31m_a");
    side_init(&b, "live");
    side_put(&a, CHAIN, "{\"a\":1}\n{\"b\":2}\n{\"c\":3}\n");
    side_put(&b, CHAIN, "{\"a\":1}\n{\"B\":2}\n{\"c\":3}\n{\"d\":4}\n");
    side_put(&a, "config/config.json", "{}");
    side_put(&b, "config/config.json", "not json");
    d = run_diff(&a, &b);
    text = render(d);
    assert_non_null(strstr(text, "DIFF: snap\\x1b[31m_a -> live\n"));
    assert_null(strchr(text, '\x1b'));
    assert_non_null(strstr(text, "HASH CHAIN: [!] rewritten at line 2 (3 -> 4 lines): history was "
                                 "changed\n"));
    assert_non_null(strstr(text, "  config/config.json: not valid JSON\n"));
    assert_non_null(strstr(text, "ENV KEYS: no changes\n"));
    free(text);
    json_decref(d);
    side_free(&a);
    side_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(diff_json_escapes_pointers),
        cmocka_unit_test(diff_json_root_and_type_change),
        cmocka_unit_test(diff_json_cap_reports_truncation),
        cmocka_unit_test(diff_identical_sides),
        cmocka_unit_test(diff_files_statuses_and_meta),
        cmocka_unit_test(positions_wrapper_shape),
        cmocka_unit_test(positions_array_shape_with_duplicates),
        cmocka_unit_test(positions_map_shape),
        cmocka_unit_test(positions_on_one_side_only),
        cmocka_unit_test(invalid_json_file_gets_error_entry),
        cmocka_unit_test(oversized_json_is_not_read),
        cmocka_unit_test(json_changes_cap_sets_truncated),
        cmocka_unit_test(config_changes_listed_plainly),
        cmocka_unit_test(env_keys_added_removed_changed),
        cmocka_unit_test(chain_extends_across_chunk_edges),
        cmocka_unit_test(chain_rewritten_old_line),
        cmocka_unit_test(chain_truncated_is_rewritten),
        cmocka_unit_test(chain_identical_streamed_and_by_hash),
        cmocka_unit_test(chain_large_crosses_buffer),
        cmocka_unit_test(chain_partial_last_line_and_one_side),
        cmocka_unit_test(open_failure_is_reported),
        cmocka_unit_test(bad_file_list_is_invalid),
        cmocka_unit_test(render_shows_key_lines),
        cmocka_unit_test(render_flags_rewritten_chain_and_escapes),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
