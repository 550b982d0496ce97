/* cmd_diff.c - diff: two snapshots, or one against the live state root. */
#include "cmd.h"

#include <string.h>

#include "render_diff.h"

int cli_cmd_diff(struct cli_ctx *c)
{
    struct store *s = NULL;
    struct err e = { 0 };
    json_t *d = NULL;
    const char *from = cli_opt(c, "from"), *to = cli_opt(c, "to");
    int rc;

    if (c->args.positional != NULL)
        return cli_usage_error(c, "diff: unexpected argument \"%s\" (use --from A --to B)",
                               c->args.positional);
    if (from == NULL || to == NULL)
        return cli_usage_error(c, "diff: needs --from A and --to B (B may be live)%s", "");
    if ((strcmp(from, "live") != 0 && engine_name_check(from, &e) != 0) ||
        (strcmp(to, "live") != 0 && engine_name_check(to, &e) != 0))
        return cli_fail(c, &e);
    if ((rc = cli_open_store(c, 0, &s)) != 0)
        return rc;
    if (engine_diff(s, from, to, &d, &e) != 0) {
        rc = cli_fail(c, &e);
    } else {
        if (c->json)
            cli_print_json(c, d);
        else
            cli_render_diff(stdout, d);
        rc = 0;
    }
    json_decref(d);
    store_close(s);
    return rc;
}

/* Split "a,b,c" into the only list (pointers into buf). */
