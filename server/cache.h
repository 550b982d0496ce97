/* cache.h - the response cache: a worker thread's recent read answers, kept
 * for reuse while the catalog and the clock's second stand still. */
#ifndef STATESNAP_CACHE_H
#define STATESNAP_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include <microhttpd.h>

#include "../db/catalog.h"
#include "../routes/routes.h"
#include "router.h"

#define CACHE_SLOTS 8
#define CACHE_KEY_MAX 1024

struct cache_slot {
    int route;                      /* -1 = empty */
    char key[CACHE_KEY_MAX];        /* path and query arguments, length-prefixed */
    struct catalog_version ver;
    int64_t second;
    char *body;
    size_t len;
};

/* One per worker thread (never shared, so no lock). */
struct cache {
    struct cache_slot slot[CACHE_SLOTS];
    unsigned next;                  /* round-robin victim */
};

/* Empty c. Cannot fail. */
void cache_init(struct cache *c);

/* Free what c keeps (c is then empty). Accepts NULL. */
void cache_clear(struct cache *c);

/* May the answer to method on rt be reused? Only GET/HEAD of a route the
 * table marks ROUTER_CACHEABLE. Cannot fail. */
int cache_wanted(const struct router_route *rt, const char *method);

/* The cache key of a request: its path and every query argument in order,
 * into out (CACHE_KEY_MAX bytes). Returns 0, or -1 when it does not fit
 * (the answer is then not reused). */
int cache_key(struct MHD_Connection *conn, const char *path, char *out);

/* Fill o with a copy of the answer kept for (route, key, ver, second):
 * status 200, o->text (caller's, freed with o). Returns 1 on a hit, 0 on
 * a miss or when the copy cannot be made (o untouched). */
int cache_get(struct cache *c, int route, const char *key, const struct catalog_version *ver,
              int64_t second, struct route_resp *o);

/* Keep o's answer when it is a plain 200 JSON one, turning o->json into
 * o->text so that what is kept and what is sent are the same bytes. Any
 * failure just means no reuse. Cannot fail. */
void cache_put(struct cache *c, int route, const char *key, const struct catalog_version *ver,
               int64_t second, struct route_resp *o);

#endif
