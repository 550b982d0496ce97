/* restore.c - restore in two steps: preview (what would change, plus a confirm
 * token) and apply (only with a token that still matches the state root). */
#include "routes.h"

#include <stdlib.h>
#include <string.h>

/* Options shared by preview and apply, read from body into ro. ro->only
 * points into a malloc'd array (*only_buf, caller frees) of strings borrowed
 * from body. Returns 0, or -1 with a 400 problem in o. */
static int read_opts(const struct route_req *r, json_t *body, struct restore_opts *ro,
                     const char ***only_buf, struct route_resp *o)
{
    json_t *v, *item;
    size_t i;

    static const char *const flags[] = { "clear_kill_switch", "while_running", "replace_special",
                                         "engage_kill_switch", NULL };
    int *slots[4];

    memset(ro, 0, sizeof(*ro));
    *only_buf = NULL;
    ro->name = r->name;
    slots[0] = &ro->clear_kill_switch;
    slots[1] = &ro->while_running;
    slots[2] = &ro->replace_special;
    slots[3] = &ro->engage_kill_switch;
    for (int k = 0; flags[k] != NULL; k++) {
        if ((v = json_object_get(body, flags[k])) == NULL)
            continue;
        if (!json_is_boolean(v)) {
            route_problem(o, 400, "\"%s\" must be true or false", flags[k]);
            return -1;
        }
        *slots[k] = json_is_true(v);
    }
    /* Restore elsewhere: a name under the config's restore_targets_dir, never a path. */
    if ((v = json_object_get(body, "target")) != NULL && !json_is_null(v)) {
        const char *t = json_string_value(v);
        if (t == NULL || engine_name_check(t, NULL) != 0) {
            route_problem(o, 400, "\"target\" must be a name ([A-Za-z0-9][A-Za-z0-9._-]{0,63}) "
                          "under the server's restore_targets_dir");
            return -1;
        }
        ro->target = t;
    }
    if ((v = json_object_get(body, "only")) == NULL || json_is_null(v))
        return 0;
    if (!json_is_array(v) || json_array_size(v) == 0 || json_array_size(v) > ROUTE_ONLY_MAX) {
        route_problem(o, 400, "\"only\" must be a list of 1..%d archive paths", ROUTE_ONLY_MAX);
        return -1;
    }
    if ((*only_buf = calloc(json_array_size(v), sizeof(char *))) == NULL) {
        route_problem(o, 500, "out of memory");
        return -1;
    }
    json_array_foreach(v, i, item) {
        if (!json_is_string(item) || json_string_length(item) == 0) {
            route_problem(o, 400, "\"only\" entries must be non-empty strings");
            free(*only_buf);
            *only_buf = NULL;
            return -1;
        }
        (*only_buf)[i] = json_string_value(item);
    }
    ro->only = *only_buf;
    ro->n_only = json_array_size(v);
    return 0;
}

void route_restore_preview(const struct route_req *r, struct route_resp *o)
{
    static const char *const keys[] = { "only", "clear_kill_switch", "while_running",
                                        "replace_special", "engage_kill_switch", "target", NULL };
    struct restore_opts ro;
    struct err e = { 0 };
    const char **only = NULL;
    json_t *body = NULL, *preview = NULL;

    if (route_check_name(r, o) != 0 || route_body_object(r, keys, &body, o) != 0)
        return;
    if (read_opts(r, body, &ro, &only, o) != 0)
        goto out;
    /* An archive that is only offsite is fetched and verified before the preview. */
    if (r->env->offsite_fetch_missing != NULL &&
        r->env->offsite_fetch_missing(r->store, r->name, &e) != 0) {
        route_problem_err(o, &e);
        goto out;
    }
    if (engine_restore_preview(r->store, &ro, &preview, &e) != 0) {
        json_decref(preview);
        route_problem_err(o, &e);
        goto out;
    }
    route_json(o, 200, preview);
out:
    free(only);
    json_decref(body);
}

void route_restore_apply(const struct route_req *r, struct route_resp *o)
{
    static const char *const keys[] = { "confirm_token", "only", "clear_kill_switch",
                                        "while_running", "replace_special", "engage_kill_switch",
                                        "target", NULL };
    struct restore_opts ro;
    struct err e = { 0 };
    const char **only = NULL;
    json_t *body = NULL, *report = NULL, *tok;

    if (route_check_name(r, o) != 0 || route_body_object(r, keys, &body, o) != 0)
        return;
    tok = json_object_get(body, "confirm_token");
    if (!json_is_string(tok) || json_string_length(tok) == 0) {
        route_problem(o, 400, "\"confirm_token\" (from the restore preview) is required");
        goto out;
    }
    if (read_opts(r, body, &ro, &only, o) != 0)
        goto out;
    if (engine_restore_apply(r->store, &ro, json_string_value(tok), &report, &e) != 0) {
        json_decref(report);
        route_problem_err(o, &e);
        goto out;
    }
    route_json(o, 200, report);
out:
    free(only);
    json_decref(body);
}
