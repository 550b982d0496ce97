/* prune.c - apply a retention policy to the store. */
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "../common/failpoint.h"
#include "ops.h"
#include "retention.h"

int engine_prune(struct store *s, const struct retention_policy *p, int dry_run, json_t **report,
                 struct err *e)
{
    struct retention_policy def;
    struct catalog_brief *rows = NULL;
    struct retention_item *items = NULL;
    size_t n = 0;
    json_t *kept = json_array(), *removed = json_array();
    int64_t now = engine_now();
    int rc = -1;

    *report = NULL;
    if (p == NULL)
        p = s->cfg->retention;
    if (p == NULL) {
        retention_default(&def);
        p = &def;
    }
    if (p->keep_last < RETENTION_MIN_KEEP_LAST) {
        err_set(e, ERR_INVALID, "keep_last below %d is refused", RETENTION_MIN_KEEP_LAST);
        goto out;
    }
    if (kept == NULL || removed == NULL) {
        err_set(e, ERR_IO, "out of memory");
        goto out;
    }
    if (store_lock(s, e) != 0)
        goto out;
    if (catalog_snapshot_brief(s->cat, &rows, &n, e) != 0)
        goto unlock;
    if ((items = calloc(n + 1, sizeof(*items))) == NULL) {
        err_set(e, ERR_IO, "out of memory");
        goto unlock;
    }
    for (size_t i = 0; i < n; i++) {
        items[i].name = rows[i].name;
        items[i].created_at = rows[i].created_at;
        items[i].pinned = rows[i].pinned && (rows[i].pin_until == 0 || rows[i].pin_until > now);
        items[i].empty = rows[i].empty;
    }
    if (retention_apply(p, items, n, now, e) != 0)
        goto unlock;
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
            if (ops_delete_locked(s, items[i].name, e) != 0)
                goto unlock;
            FAILPOINT("prune.after_delete");
        }
        json_array_append_new(removed, json_pack("{s:s,s:s}", "name", items[i].name,
                                                 "created_at", created));
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
unlock:
    store_unlock(s);
out:
    if (rc != 0 && e->code != ERR_INVALID) {
        json_t *fd = json_pack("{s:s}", "error", e->msg);
        engine_emit(s->cfg, "prune", "error", NULL, fd);
        json_decref(fd);
    }
    for (size_t i = 0; items && i < n; i++)
        json_decref(items[i].reasons);
    free(items);
    free(rows);
    json_decref(kept);
    json_decref(removed);
    return rc;
}
