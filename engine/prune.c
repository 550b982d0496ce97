/* prune.c - the prune primitives (prune.h): a retention policy applied to the
 * catalog under the caller's lock. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "../common/failpoint.h"
#include "snapshot.h"
#include "prune.h"
#include "retention.h"

void prune_emit_error(const struct store *s, const struct err *e)
{
    json_t *fd = json_pack("{s:s}", "error", e->msg);

    engine_emit(s->cfg, "prune", "error", NULL, fd);
    json_decref(fd);
}

int prune_policy(const struct store *s, const struct retention_policy *p,
                 struct retention_policy *def, const struct retention_policy **out, struct err *e)
{
    if (p == NULL)
        p = s->cfg->retention;
    if (p == NULL) {
        retention_default(def);
        p = def;
    }
    *out = p;
    if (p->keep_last < RETENTION_MIN_KEEP_LAST)
        return err_set(e, ERR_INVALID, "keep_last below %d is refused", RETENTION_MIN_KEEP_LAST);
    return 0;
}

int prune_apply(struct store *s, const struct retention_policy *p, int dry_run, json_t **report,
                struct err *e)
{
    struct catalog_brief *rows = NULL;
    struct retention_item *items = NULL;
    size_t n = 0;
    json_t *kept = json_array(), *removed = json_array();
    int64_t now = engine_now();
    int rc = -1;

    *report = NULL;
    if (kept == NULL || removed == NULL) {
        err_set(e, ERR_IO, "out of memory");
        goto out;
    }
    if (catalog_snapshot_brief(s->cat, &rows, &n, e) != 0)
        goto out;
    if ((items = calloc(n + 1, sizeof(*items))) == NULL) {
        err_set(e, ERR_IO, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        items[i].name = rows[i].name;
        items[i].created_at = rows[i].created_at;
        items[i].pinned = rows[i].pinned && (rows[i].pin_until == 0 || rows[i].pin_until > now);
        items[i].empty = rows[i].empty;
    }
    if (retention_apply(p, items, n, now, e) != 0)
        goto out;
    for (size_t i = 0; i < n; i++) {
        char created[32];
        engine_time_format(items[i].created_at, created, sizeof(created));
        if (json_array_size(items[i].reasons) > 0) {
            json_array_append_new(kept, json_pack("{s:s,s:s,s:O}", "name", items[i].name,
                                                  "created_at", created, "reasons",
                                                  items[i].reasons));
            continue;
        }
        if (!dry_run) {
            if (snapshot_delete(s, items[i].name, e) != 0)
                goto out;
            FAILPOINT("prune.after_delete");
        }
        json_array_append_new(removed, json_pack("{s:s,s:s,s:o}", "name", items[i].name,
                                                 "created_at", created, "offsite_lock",
                                                 snapshot_offsite_lock(s, items[i].name)));
    }
    if (!dry_run && json_array_size(removed) > 0) {
        json_t *names = json_array(), *r;
        size_t i;
        json_array_foreach(removed, i, r)
            json_array_append(names, json_object_get(r, "name"));
        json_t *ad = json_pack("{s:o,s:i}", "removed", names, "kept", (int)json_array_size(kept));
        audit_append(s, "prune", NULL, "ok", ad, NULL);
        json_decref(ad);
    }
    *report = json_pack("{s:b,s:O,s:O}", "dry_run", dry_run, "kept", kept, "removed", removed);
    rc = *report ? 0 : err_set(e, ERR_IO, "out of memory");
out:
    if (rc != 0 && e->code != ERR_INVALID)
        prune_emit_error(s, e);
    for (size_t i = 0; items && i < n; i++)
        json_decref(items[i].reasons);
    free(items);
    free(rows);
    json_decref(kept);
    json_decref(removed);
    return rc;
}

void prune_after_create(struct store *s, json_t *snap)
{
    struct retention_policy def;
    const struct retention_policy *p;
    json_t *pr = NULL, *names = json_array(), *r;
    struct err pe = { 0 };
    size_t i;

    /* A create that succeeded stays a success if pruning then fails. */
    if (prune_policy(s, NULL, &def, &p, &pe) == 0 && prune_apply(s, p, 0, &pr, &pe) == 0) {
        json_array_foreach(json_object_get(pr, "removed"), i, r)
            json_array_append(names, json_object_get(r, "name"));
    } else {
        char w[300];
        snprintf(w, sizeof(w), "prune after create failed: %s", pe.msg);
        json_array_append_new(json_object_get(snap, "warnings"), json_string(w));
    }
    json_object_set_new(snap, "pruned", names);
    json_decref(pr);
}
