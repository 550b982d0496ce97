/* cache.c - the response cache. A read answer kept for reuse: the same route
 * and arguments, the same catalog version and the same second give the same
 * bytes (ages and pin expiry are whole seconds). Monitoring probes and
 * dashboards ask for the latest snapshot and the list far more often than
 * the catalog changes. Which routes qualify is the route table's
 * ROUTER_CACHEABLE flag. */
#include "cache.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

void cache_init(struct cache *c)
{
    memset(c, 0, sizeof(*c));
    for (size_t i = 0; i < CACHE_SLOTS; i++)
        c->slot[i].route = -1;
}

void cache_clear(struct cache *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < CACHE_SLOTS; i++)
        free(c->slot[i].body);
    cache_init(c);
}

int cache_wanted(const struct router_route *rt, const char *method)
{
    return (rt->flags & ROUTER_CACHEABLE) != 0 &&
           (strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0);
}

struct key_buf {
    char *p;
    size_t len, cap;
    int overflow;
};

static void key_add(struct key_buf *k, const char *s)
{
    size_t n = s ? strlen(s) : 0;
    int w;

    if (k->overflow)
        return;
    /* Length-prefixed, so no byte inside a value can fake a boundary. */
    w = snprintf(k->p + k->len, k->cap - k->len, s ? "%zu:%s" : "-", n, s);
    if (w < 0 || (size_t)w >= k->cap - k->len)
        k->overflow = 1;
    else
        k->len += (size_t)w;
}

static enum MHD_Result key_arg(void *cls, enum MHD_ValueKind kind, const char *name,
                               const char *value)
{
    (void)kind;
    key_add(cls, name);
    key_add(cls, value);
    return MHD_YES;
}

int cache_key(struct MHD_Connection *conn, const char *path, char *out)
{
    struct key_buf k = { out, 0, CACHE_KEY_MAX, 0 };

    key_add(&k, path);
    MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, key_arg, &k);
    return k.overflow ? -1 : 0;
}

int cache_get(struct cache *c, int route, const char *key, const struct catalog_version *ver,
              int64_t second, struct route_resp *o)
{
    for (size_t i = 0; i < CACHE_SLOTS; i++) {
        const struct cache_slot *s = &c->slot[i];
        if (s->route == route && s->second == second && s->ver.others == ver->others &&
            s->ver.own == ver->own && strcmp(s->key, key) == 0) {
            if ((o->text = malloc(s->len + 1)) == NULL)
                return 0;
            memcpy(o->text, s->body, s->len + 1);
            o->text_len = s->len;
            o->status = 200;
            return 1;
        }
    }
    return 0;
}

void cache_put(struct cache *c, int route, const char *key, const struct catalog_version *ver,
               int64_t second, struct route_resp *o)
{
    struct cache_slot *s = NULL;
    char *text, *copy;
    size_t len;

    if (o->status != 200 || o->json == NULL || o->n_headers != 0 ||
        (o->content_type != NULL && strcmp(o->content_type, ROUTE_JSON) != 0))
        return;
    if ((text = json_dumps(o->json, JSON_COMPACT)) == NULL)
        return;
    len = strlen(text);
    json_decref(o->json);
    o->json = NULL;
    o->text = text;
    o->text_len = len;
    if ((copy = malloc(len + 1)) == NULL)
        return;
    memcpy(copy, text, len + 1);
    /* The same key (an older version or second) is replaced in place. */
    for (size_t i = 0; i < CACHE_SLOTS && s == NULL; i++)
        if (c->slot[i].route == route && strcmp(c->slot[i].key, key) == 0)
            s = &c->slot[i];
    if (s == NULL)
        s = &c->slot[c->next++ % CACHE_SLOTS];
    free(s->body);
    s->route = route;
    snprintf(s->key, sizeof(s->key), "%s", key);
    s->ver = *ver;
    s->second = second;
    s->body = copy;
    s->len = len;
}
