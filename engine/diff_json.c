/* diff_json.c - the structural diff of two JSON values (diff_json, diff.h):
 * a tree walk that names each change by its RFC 6901 pointer. */
#include "diff.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- pointers */

/* A growing RFC 6901 JSON pointer; push by appending, pop by restoring len. */
struct ptr {
    char *buf;
    size_t len, cap;
};

static int ptr_reserve(struct ptr *p, size_t extra)
{
    size_t need, cap;
    char *nb;

    if (extra > SIZE_MAX - p->len - 1)
        return -1;
    need = p->len + extra + 1;
    if (need <= p->cap)
        return 0;
    cap = p->cap ? p->cap : 64;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    nb = realloc(p->buf, cap);
    if (nb == NULL)
        return -1;
    p->buf = nb;
    p->cap = cap;
    return 0;
}

static int ptr_push_key(struct ptr *p, const char *key)
{
    size_t klen = strlen(key);

    /* Worst case every byte doubles ("~" -> "~0", "/" -> "~1"). */
    if (klen > (SIZE_MAX - 2) / 2 || ptr_reserve(p, 2 * klen + 1) != 0)
        return -1;
    p->buf[p->len++] = '/';
    for (const char *k = key; *k; k++) {
        if (*k == '~') {
            p->buf[p->len++] = '~';
            p->buf[p->len++] = '0';
        } else if (*k == '/') {
            p->buf[p->len++] = '~';
            p->buf[p->len++] = '1';
        } else {
            p->buf[p->len++] = *k;
        }
    }
    p->buf[p->len] = '\0';
    return 0;
}

static int ptr_push_index(struct ptr *p, size_t i)
{
    char tmp[32];
    int n = snprintf(tmp, sizeof(tmp), "/%zu", i);

    if (n < 0 || (size_t)n >= sizeof(tmp) || ptr_reserve(p, (size_t)n) != 0)
        return -1;
    memcpy(p->buf + p->len, tmp, (size_t)n + 1);
    p->len += (size_t)n;
    return 0;
}

static void ptr_pop(struct ptr *p, size_t len)
{
    p->len = len;
    if (p->buf)
        p->buf[len] = '\0';
}

/* ---------------------------------------------------------------- diff_json */

static int cmp_str(const void *x, const void *y)
{
    return strcmp(*(const char *const *)x, *(const char *const *)y);
}

/* Keys of obj in strcmp order into a malloc'd array (NULL when empty). */
int diff_json_sorted_keys(const json_t *obj, const char ***out, size_t *n)
{
    const char *key;
    json_t *val;
    size_t i = 0, cnt = json_object_size(obj);
    const char **keys = NULL;

    *out = NULL;
    *n = 0;
    if (cnt == 0)
        return 0;
    keys = calloc(cnt, sizeof(*keys));
    if (keys == NULL)
        return -1;
    json_object_foreach((json_t *)obj, key, val) {
        (void)val;
        if (i < cnt)
            keys[i++] = key;
    }
    qsort(keys, i, sizeof(*keys), cmp_str);
    *out = keys;
    *n = i;
    return 0;
}

/* Append one change. 1 when the list is already full, -1 on allocation. */
static int add_change(json_t *changes, size_t max, const char *pointer, const char *op,
                      const json_t *oldv, const json_t *newv)
{
    json_t *c;

    if (json_array_size(changes) >= max)
        return 1;
    c = json_object();
    if (c == NULL)
        return -1;
    if (json_object_set_new(c, "pointer", json_string(pointer)) != 0 ||
        json_object_set_new(c, "op", json_string(op)) != 0 ||
        (oldv && json_object_set_new(c, "old", json_deep_copy(oldv)) != 0) ||
        (newv && json_object_set_new(c, "new", json_deep_copy(newv)) != 0) ||
        json_array_append_new(changes, c) != 0) {
        json_decref(c);
        return -1;
    }
    return 0;
}

static int walk(const json_t *a, const json_t *b, struct ptr *p, json_t *changes, size_t max);

static int walk_objects(const json_t *a, const json_t *b, struct ptr *p, json_t *changes,
                        size_t max)
{
    const char **ka = NULL, **kb = NULL;
    size_t na = 0, nb = 0, i = 0, j = 0, mark = p->len;
    int rc = 0;

    if (diff_json_sorted_keys(a, &ka, &na) != 0 || diff_json_sorted_keys(b, &kb, &nb) != 0) {
        rc = -1;
        goto out;
    }
    while (rc == 0 && (i < na || j < nb)) {
        int c = i >= na ? 1 : j >= nb ? -1 : strcmp(ka[i], kb[j]);
        const char *key = c <= 0 ? ka[i] : kb[j];

        if (ptr_push_key(p, key) != 0) {
            rc = -1;
            break;
        }
        if (c < 0) {
            rc = add_change(changes, max, p->buf, "removed", json_object_get(a, key), NULL);
            i++;
        } else if (c > 0) {
            rc = add_change(changes, max, p->buf, "added", NULL, json_object_get(b, key));
            j++;
        } else {
            rc = walk(json_object_get(a, key), json_object_get(b, key), p, changes, max);
            i++;
            j++;
        }
        ptr_pop(p, mark);
    }
out:
    free(ka);
    free(kb);
    return rc;
}

static int walk_arrays(const json_t *a, const json_t *b, struct ptr *p, json_t *changes,
                       size_t max)
{
    size_t na = json_array_size(a), nb = json_array_size(b), mark = p->len;
    int rc = 0;

    for (size_t i = 0; rc == 0 && i < (na > nb ? na : nb); i++) {
        if (ptr_push_index(p, i) != 0)
            return -1;
        if (i >= nb)
            rc = add_change(changes, max, p->buf, "removed", json_array_get(a, i), NULL);
        else if (i >= na)
            rc = add_change(changes, max, p->buf, "added", NULL, json_array_get(b, i));
        else
            rc = walk(json_array_get(a, i), json_array_get(b, i), p, changes, max);
        ptr_pop(p, mark);
    }
    return rc;
}

static int walk(const json_t *a, const json_t *b, struct ptr *p, json_t *changes, size_t max)
{
    if (json_is_object(a) && json_is_object(b))
        return walk_objects(a, b, p, changes, max);
    if (json_is_array(a) && json_is_array(b))
        return walk_arrays(a, b, p, changes, max);
    if (json_equal((json_t *)a, (json_t *)b))
        return 0;
    return add_change(changes, max, p->buf, "changed", a, b);
}

int diff_json(const json_t *a, const json_t *b, json_t *changes, size_t max)
{
    struct ptr p = {0};
    int rc;

    if (!json_is_array(changes) || ptr_reserve(&p, 0) != 0)
        return -1;
    p.buf[0] = '\0';
    rc = walk(a, b, &p, changes, max);
    free(p.buf);
    return rc;
}
