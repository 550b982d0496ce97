/* cmd_verify.c - the commands that check snapshots: verify (one or --all) and
 * drill (a rehearsed restore). */
#include "cmd.h"

#include <stdio.h>

#include "format.h"

int cli_cmd_verify(struct cli_ctx *c)
{
    struct store *s = NULL;
    struct err e = { 0 };
    json_t *r = NULL, *one;
    int bad, rc, all = cli_flag(c, "all");
    const char *name = cli_target_name(c, !all, &bad);
    size_t i;

    if (name == NULL && !all)
        return bad;
    if (name != NULL && all)
        return cli_usage_error(c, "verify: give NAME or --all%s", "");
    if (name != NULL && engine_name_check(name, &e) != 0)
        return cli_fail(c, &e);
    if ((rc = cli_open_store(c, 0, &s)) != 0)
        return rc;
    rc = all ? engine_verify_all(s, &r, &e) : engine_verify(s, name, &r, &e);
    if (r != NULL) {
        if (c->json) {
            cli_print_json(c, r);
        } else if (all) {
            json_array_foreach(json_object_get(r, "snapshots"), i, one)
                format_verify(stdout, one);
            printf("%lld verified, %lld failed\n",
                   (long long)json_integer_value(json_object_get(r, "checked")),
                   (long long)json_integer_value(json_object_get(r, "failed")));
        } else {
            format_verify(stdout, r);
        }
    }
    if (rc != 0)
        rc = r != NULL && e.code == ERR_VERIFY ? 1 : cli_fail(c, &e);
    if (rc != 0 && r != NULL && e.code == ERR_VERIFY) {
        fprintf(stderr, "statesnap: ");
        format_safe(stderr, e.msg);
        fputc('\n', stderr);
    }
    json_decref(r);
    store_close(s);
    return rc;
}

int cli_cmd_drill(struct cli_ctx *c)
{
    struct drill_opts o = { 0 };
    struct store *s = NULL;
    struct err e = { 0 };
    json_t *r = NULL;
    int bad, rc, latest = cli_flag(c, "latest");
    const char *name = cli_target_name(c, !latest, &bad);

    if (name == NULL && !latest)
        return bad;
    if (name != NULL && latest)
        return cli_usage_error(c, "drill: give NAME or --latest%s", "");
    if (name != NULL && engine_name_check(name, &e) != 0)
        return cli_fail(c, &e);
    if ((rc = cli_open_store(c, 1, &s)) != 0)
        return rc;
    o.name = name;
    o.reason = "manual";
    rc = engine_drill(s, &o, &r, &e);
    if (r != NULL) {
        if (c->json)
            cli_print_json(c, r);
        else
            format_drill(stdout, r);
    }
    /* A drill that ran and failed is exit 1 with its report on stdout and
     * the reason on stderr; one that could not run is the usual error. */
    if (rc != 0)
        rc = cli_fail(c, &e);
    json_decref(r);
    store_close(s);
    return rc;
}

