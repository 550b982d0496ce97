/* retention.h - which snapshots a policy keeps, and why (restic/Kopia style). */
#ifndef STATESNAP_RETENTION_H
#define STATESNAP_RETENTION_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "../common/err.h"

#define RETENTION_MIN_KEEP_LAST 5   /* the seed: "keep at least 5 recent snapshots" */

struct retention_policy {
    int keep_last;        /* >= RETENTION_MIN_KEEP_LAST */
    int keep_daily;       /* 0 = no daily buckets */
    int keep_weekly;
    int keep_monthly;
    int64_t expire_after; /* seconds; 0 = never; bucket keeps older than this go */
    int max_count;        /* 0 = no bound; never cuts into keep_last or pinned */
};

/* One snapshot as retention sees it. */
struct retention_item {
    const char *name;
    int64_t created_at;   /* server clock at creation */
    int pinned;           /* effective pin (expiry already applied) */
    json_t *reasons;      /* filled by retention_apply: array of strings; empty = remove */
    int empty;            /* captured no file: takes no keep_last or bucket place */
};

/* The default policy: keep_last 5, nothing else. Cannot fail. */
void retention_default(struct retention_policy *p);

/* Read a policy from the config's "retention" object (NULL = defaults).
 * keep_last below 5, negative counts or a bad duration are ERR_INVALID. */
int retention_from_json(const json_t *obj, struct retention_policy *p, struct err *e);

/* Decide, for items sorted newest first, which to keep and why: reasons get
 * "pinned", "last-N", "daily-N", "weekly-N", "monthly-N". An item left with
 * no reason is to be removed. Empty items (an unmounted volume's snapshot)
 * never count toward last-N or a bucket, so they cannot push real ones out;
 * unpinned, they are removed. now is the server clock. Returns 0 or -1. */
int retention_apply(const struct retention_policy *p, struct retention_item *items, size_t n,
                    int64_t now, struct err *e);

#endif
