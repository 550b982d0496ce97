/* cmd_audit.c - the retention and the audit trail: prune, audit (list,
 * verify, repair). */
#include "cmd.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format.h"
#include "../common/duration.h"
#include "../engine/audit.h"

int cli_cmd_prune(struct cli_ctx *c)
{
    struct retention_policy p = *c->cfg->engine.retention;
    struct store *s = NULL;
    struct err e = { 0 };
    json_t *r = NULL, *k, *v;
    static const char *const counts[] = { "keep-last", "keep-daily", "keep-weekly",
                                          "keep-monthly", "max-count" };
    int *slots[] = { &p.keep_last, &p.keep_daily, &p.keep_weekly, &p.keep_monthly, &p.max_count };
    size_t i;
    int rc;

    if (c->args.positional != NULL)
        return cli_usage_error(c, "prune: unexpected argument \"%s\"", c->args.positional);
    for (i = 0; i < 5; i++) {
        const char *val = cli_opt(c, counts[i]);
        char *end;
        long n;
        if (val == NULL)
            continue;
        errno = 0;
        n = strtol(val, &end, 10);
        if (end == val || *end != '\0' || errno != 0 || n < 0 || n > 100000)
            return cli_usage_error(c, "prune: bad count \"%s\"", val);
        *slots[i] = (int)n;
    }
    if (cli_opt(c, "expire-after")) {
        long secs;
        if (duration_parse(cli_opt(c, "expire-after"), &secs, &e) != 0)
            return cli_fail(c, &e);
        p.expire_after = secs;
    }
    if (p.keep_last < RETENTION_MIN_KEEP_LAST) {
        err_set(&e, ERR_INVALID, "--keep-last %d refused: statesnap always keeps at least the %d most "
                "recent snapshots", p.keep_last, RETENTION_MIN_KEEP_LAST);
        return cli_fail(c, &e);
    }
    if ((rc = cli_open_store(c, 0, &s)) != 0)
        return rc;
    if (engine_prune(s, &p, cli_flag(c, "dry-run"), &r, &e) != 0) {
        rc = cli_fail(c, &e);
    } else if (c->json) {
        cli_print_json(c, r);
        rc = 0;
    } else {
        printf("PRUNE%s\n=====%s\n", cli_flag(c, "dry-run") ? " (dry run)" : "",
               cli_flag(c, "dry-run") ? "==========" : "");
        json_array_foreach(json_object_get(r, "kept"), i, k) {
            size_t j;
            printf("  keep    %-40s ", FORMAT_SAFE(json_string_value(json_object_get(k, "name"))));
            json_array_foreach(json_object_get(k, "reasons"), j, v)
                printf("%s%s", j ? "," : "", FORMAT_SAFE(json_string_value(v)));
            putchar('\n');
        }
        json_array_foreach(json_object_get(r, "removed"), i, k) {
            const json_t *lock = json_object_get(k, "offsite_lock");
            printf("  %-7s %s", cli_flag(c, "dry-run") ? "remove" : "removed",
                   FORMAT_SAFE(json_string_value(json_object_get(k, "name"))));
            if (json_is_object(lock))
                printf(" (kept offsite: locked until %s, %s)",
                       FORMAT_SAFE(json_string_value(json_object_get(lock, "retain_until"))),
                       FORMAT_SAFE(json_string_value(json_object_get(lock, "mode"))));
            putchar('\n');
        }
        printf("\n%zu kept, %zu %s\n", json_array_size(json_object_get(r, "kept")),
               json_array_size(json_object_get(r, "removed")),
               cli_flag(c, "dry-run") ? "would be removed" : "removed");
        rc = 0;
    }
    json_decref(r);
    store_close(s);
    return rc;
}

int cli_cmd_audit(struct cli_ctx *c)
{
    struct store *s = NULL;
    struct err e = { 0 };
    json_t *r = NULL, *en;
    const char *pos = c->args.positional;
    long long after = 0;
    size_t limit = 0, i;
    int rc;

    if (pos != NULL && strcmp(pos, "verify") != 0 && strcmp(pos, "repair") != 0)
        return cli_usage_error(c, "audit: unknown subcommand \"%s\" (audit, audit verify or audit repair)", pos);
    if (cli_opt(c, "after")) {
        char *end;
        errno = 0;
        after = strtoll(cli_opt(c, "after"), &end, 10);
        if (end == cli_opt(c, "after") || *end != '\0' || errno != 0 || after < 0)
            return cli_usage_error(c, "audit: bad --after \"%s\"", cli_opt(c, "after"));
    }
    if (cli_opt(c, "limit") && cli_parse_size(cli_opt(c, "limit"), &limit) != 0)
        return cli_usage_error(c, "audit: --limit must be from 1 to 1000, got \"%s\"", cli_opt(c, "limit"));
    if ((rc = cli_open_store(c, 0, &s)) != 0)
        return rc;
    if (pos != NULL && strcmp(pos, "repair") == 0) {
        if ((rc = engine_audit_repair(s, &r, &e)) != 0)
            rc = cli_fail(c, &e);
        else if (c->json)
            cli_print_json(c, r);
        else
            printf("OK audit.jsonl %s (%lld entries, %lld written)\n",
                   json_is_true(json_object_get(r, "rewritten")) ? "written anew from the catalog"
                                                                 : "caught up with the catalog",
                   (long long)json_integer_value(json_object_get(r, "entries")),
                   (long long)json_integer_value(json_object_get(r, "appended")));
    } else if (pos != NULL) {
        rc = engine_audit_verify(s, &r, &e);
        json_t *file = json_object_get(r, "file");
        if (r != NULL && c->json)
            cli_print_json(c, r);
        else if (rc == 0)
            printf("OK audit chain (%lld entries)\n",
                   (long long)json_integer_value(json_object_get(r, "entries")));
        if (rc == 0 && !c->json && json_integer_value(json_object_get(file, "behind")) > 0)
            printf("WARNING audit.jsonl is %lld entries behind the catalog: %s\n",
                   (long long)json_integer_value(json_object_get(file, "behind")),
                   FORMAT_SAFE(json_string_value(json_object_get(file, "note"))));
        if (rc != 0) {
            if (!c->json && r != NULL)
                printf("FAILED audit chain\n");
            rc = cli_fail(c, &e);
        }
    } else if (engine_audit_list(s, after, limit, &r, &e) != 0) {
        rc = cli_fail(c, &e);
    } else if (c->json) {
        cli_print_json(c, r);
    } else {
        printf("AUDIT\n=====\n");
        json_array_foreach(json_object_get(r, "entries"), i, en) {
            printf("%5lld %s %-8s %-6s %-16s ", (long long)json_integer_value(json_object_get(en, "seq")),
                   FORMAT_SAFE(json_string_value(json_object_get(en, "time"))),
                   FORMAT_SAFE(json_string_value(json_object_get(en, "op"))),
                   FORMAT_SAFE(json_string_value(json_object_get(en, "result"))),
                   FORMAT_SAFE(json_string_value(json_object_get(en, "actor"))));
            format_safe(stdout, json_is_string(json_object_get(en, "snapshot"))
                                    ? json_string_value(json_object_get(en, "snapshot")) : "-");
            putchar('\n');
        }
    }
    json_decref(r);
    store_close(s);
    return rc;
}

