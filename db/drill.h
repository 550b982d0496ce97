/* drill.h - the catalog's restore drills: one row per drill, the last drill
 * of a snapshot, and the totals /metrics and /readyz show. */
#ifndef STATESNAP_DB_DRILL_H
#define STATESNAP_DB_DRILL_H

#include <stddef.h>
#include <stdint.h>

#include "catalog.h"

#define CATALOG_DRILL_ERROR_MAX 512
#define CATALOG_DRILL_RECENT_MAX 100

/* One drill. result is "ok" or "failed"; error is "" when there is none. */
struct catalog_drill {
    int64_t id;
    char snapshot[65];
    char archive_sha256[65];   /* the catalog's hash of the archive drilled */
    int64_t at;                /* unix seconds, when the drill ended */
    char result[8];
    int64_t files_checked;
    int64_t bytes;
    int64_t duration_ms;
    char error[CATALOG_DRILL_ERROR_MAX];
};

/* Counts per result and the newest success and failure (0 = none). */
struct catalog_drill_stats {
    int64_t ok, failed;
    int64_t last_success, last_failure;
};

/* Record a drill (d->id is ignored). Inside the caller's transaction if one
 * is open. Returns 0 or -1. */
int catalog_drill_insert(struct catalog *c, const struct catalog_drill *d, struct err *e);

/* The newest drill of NAME whose archive had hash sha256 (a snapshot deleted
 * and made again under its name starts with no drill). Returns 1 and *out,
 * 0 when there is none, -1 on error. */
int catalog_drill_last(struct catalog *c, const char *name, const char *sha256,
                       struct catalog_drill *out, struct err *e);

/* Up to limit (1..CATALOG_DRILL_RECENT_MAX) drills, newest first; *rows is
 * malloc'd (free()). */
int catalog_drill_recent(struct catalog *c, size_t limit, struct catalog_drill **rows, size_t *n,
                         struct err *e);

/* Totals kept by a trigger and two indexed lookups: O(1) at any size. */
int catalog_drill_stats(struct catalog *c, struct catalog_drill_stats *out, struct err *e);

#endif
