/* cmd_offsite.c - the offsite commands (sync, status, list, fetch, reindex
 * --from-offsite): thin fronts on the offsite module. */
#include "cmd.h"

#include <stdio.h>

#include "format.h"
#include "../offsite/bucket.h"
#include "../offsite/fetch.h"
#include "../offsite/sync.h"

int cli_offsite_fetch_missing(struct cli_ctx *c, struct store *s, const char *name)
{
    struct err e = { 0 };
    int fetched = 0;

    if (offsite_fetch_if_missing(c->cfg->offsite, s, name, &fetched, &e) != 0)
        return cli_fail(c, &e);
    if (fetched && !c->json)
        printf("Fetched %s from the offsite store (every hash verified)\n\n", FORMAT_SAFE(name));
    return 0;
}

/* "  [FAILED] NAME: ERROR" for one {name, error} of a sync or status report. */
static void print_failed(const json_t *v)
{
    printf("  [FAILED] %s: ", FORMAT_SAFE(json_string_value(json_object_get(v, "name"))));
    format_safe(stdout, json_string_value(json_object_get(v, "error")));
    putchar('\n');
}

/* The Object Lock lines of `offsite status`: the setting, then each copy
 * still locked by our record, saying which were pruned here. */
static void print_locks(const json_t *r)
{
    const json_t *lock = json_object_get(r, "object_lock"), *v;
    size_t i;

    if (json_is_object(lock))
        printf("Object lock:  %s, %lld days per upload\n",
               FORMAT_SAFE(json_string_value(json_object_get(lock, "mode"))),
               (long long)json_integer_value(json_object_get(lock, "days")));
    else
        printf("Object lock:  off\n");
    if (json_array_size(json_object_get(r, "locked_copies")) > 0)
        printf("Locked:       %zu\n", json_array_size(json_object_get(r, "locked_copies")));
    json_array_foreach(json_object_get(r, "locked_copies"), i, v) {
        int local = json_is_true(json_object_get(v, "local"));
        printf("  [%s] %s: locked until %s (%s)%s\n", local ? "LOCKED" : "KEPT",
               FORMAT_SAFE(json_string_value(json_object_get(v, "name"))),
               FORMAT_SAFE(json_string_value(json_object_get(v, "retain_until"))),
               FORMAT_SAFE(json_string_value(json_object_get(v, "mode"))),
               local ? "" : "; pruned here, kept offsite");
    }
}

/* Open the offsite client and the store, or print why not. */
static int begin(struct cli_ctx *c, int create, struct offsite **o, struct store **s)
{
    struct err e = { 0 };

    *o = NULL;
    *s = NULL;
    if (offsite_open(o, c->cfg->offsite, &e) != 0)
        return cli_fail(c, &e);
    if (store_open(s, &c->cfg->engine, create, &e) != 0) {
        offsite_close(*o);
        *o = NULL;
        return cli_fail(c, &e);
    }
    return 0;
}

int cli_cmd_offsite_sync(struct cli_ctx *c)
{
    struct offsite *o;
    struct store *s;
    struct err e = { 0 };
    json_t *r = NULL, *v;
    size_t i;
    int rc;

    if (c->args.positional != NULL)
        return cli_usage_error(c, "offsite sync: unexpected argument \"%s\"", c->args.positional);
    if ((rc = begin(c, 0, &o, &s)) != 0)
        return rc;
    rc = offsite_sync(o, s, &r, &e);
    if (r != NULL && c->json) {
        cli_print_json(c, r);
    } else if (r != NULL) {
        printf("OFFSITE SYNC\n============\n");
        json_array_foreach(json_object_get(r, "lost"), i, v) {
            printf("  [LOST] %s: ", FORMAT_SAFE(json_string_value(json_object_get(v, "name"))));
            format_safe(stdout, json_string_value(json_object_get(v, "problem")));
            printf(" (back to pending)\n");
        }
        json_array_foreach(json_object_get(r, "uploaded"), i, v)
            printf("  [OK] %s uploaded\n", FORMAT_SAFE(json_string_value(v)));
        json_array_foreach(json_object_get(r, "already"), i, v)
            printf("  [OK] %s already offsite\n", FORMAT_SAFE(json_string_value(v)));
        json_array_foreach(json_object_get(r, "failed"), i, v)
            print_failed(v);
        printf("\n%zu uploaded, %zu already offsite, %zu failed\n",
               json_array_size(json_object_get(r, "uploaded")),
               json_array_size(json_object_get(r, "already")),
               json_array_size(json_object_get(r, "failed")));
        printf("%lld synced copies checked in the bucket, %zu found gone or replaced\n",
               (long long)json_integer_value(json_object_get(r, "checked")),
               json_array_size(json_object_get(r, "lost")));
    }
    rc = rc != 0 ? cli_fail(c, &e) : 0;
    json_decref(r);
    store_close(s);
    offsite_close(o);
    return rc;
}

int cli_cmd_offsite_status(struct cli_ctx *c)
{
    struct offsite *o;
    struct store *s;
    struct err e = { 0 };
    json_t *r = NULL, *cnt, *v;
    size_t i;
    int rc;

    if (c->args.positional != NULL)
        return cli_usage_error(c, "offsite status: unexpected argument \"%s\"", c->args.positional);
    if ((rc = begin(c, 0, &o, &s)) != 0)
        return rc;
    if (offsite_status(o, s, &r, &e) != 0) {
        rc = cli_fail(c, &e);
    } else if (c->json) {
        cli_print_json(c, r);
    } else {
        cnt = json_object_get(r, "counts");
        printf("OFFSITE\n=======\nTarget:       %s/%s/%s\nEncrypted:    %s\nInterval:     %llds\n"
               "Synced:       %lld\nPending:      %lld\nFailed:       %lld\n"
               "Last success: %s\n",
               FORMAT_SAFE(json_string_value(json_object_get(r, "endpoint"))),
               FORMAT_SAFE(json_string_value(json_object_get(r, "bucket"))),
               FORMAT_SAFE(json_string_value(json_object_get(r, "prefix"))),
               json_is_true(json_object_get(r, "encrypted")) ? "yes (offsite.encrypt_to)" : "no",
               (long long)json_integer_value(json_object_get(r, "interval_seconds")),
               (long long)json_integer_value(json_object_get(cnt, "synced")),
               (long long)(json_integer_value(json_object_get(cnt, "pending")) +
                           json_integer_value(json_object_get(cnt, "none"))),
               (long long)json_integer_value(json_object_get(cnt, "failed")),
               json_is_string(json_object_get(r, "last_success"))
                   ? FORMAT_SAFE(json_string_value(json_object_get(r, "last_success"))) : "never");
        print_locks(r);
        json_array_foreach(json_object_get(r, "failed_snapshots"), i, v)
            print_failed(v);
    }
    json_decref(r);
    store_close(s);
    offsite_close(o);
    return rc;
}

int cli_cmd_offsite_list(struct cli_ctx *c)
{
    struct offsite *o;
    struct store *s;
    struct err e = { 0 };
    json_t *r = NULL, *v;
    size_t i;
    int rc;

    if (c->args.positional != NULL)
        return cli_usage_error(c, "offsite list: unexpected argument \"%s\"", c->args.positional);
    if ((rc = begin(c, 0, &o, &s)) != 0)
        return rc;
    if (offsite_list(o, s, &r, &e) != 0) {
        rc = cli_fail(c, &e);
    } else if (c->json) {
        cli_print_json(c, r);
    } else {
        printf("OFFSITE ARCHIVES (%s)\n", FORMAT_SAFE(json_string_value(json_object_get(r, "prefix"))));
        json_array_foreach(json_object_get(r, "objects"), i, v)
            printf("  %-40s %12lld  %s  %s\n", FORMAT_SAFE(json_string_value(json_object_get(v, "name"))),
                   (long long)json_integer_value(json_object_get(v, "size")),
                   json_is_string(json_object_get(v, "sha256"))
                       ? FORMAT_SAFE(json_string_value(json_object_get(v, "sha256"))) : "(no sha256)",
                   json_is_string(json_object_get(v, "catalog_state"))
                       ? FORMAT_SAFE(json_string_value(json_object_get(v, "catalog_state"))) : "not catalogued");
        printf("\nTotal: %zu archives\n", json_array_size(json_object_get(r, "objects")));
        if (json_array_size(json_object_get(r, "missing")) > 0) {
            printf("\nMISSING FROM THE BUCKET (catalogued here)\n");
            json_array_foreach(json_object_get(r, "missing"), i, v)
                printf("  %-40s catalog says %s\n", FORMAT_SAFE(json_string_value(json_object_get(v, "name"))),
                       FORMAT_SAFE(json_string_value(json_object_get(v, "catalog_state"))));
        }
        if (json_array_size(json_object_get(r, "foreign")) > 0) {
            printf("\nOTHER OBJECTS UNDER THE PREFIX (skipped)\n");
            json_array_foreach(json_object_get(r, "foreign"), i, v) {
                printf("  ");
                format_safe(stdout, json_string_value(json_object_get(v, "key")));
                printf("  %lld bytes: %s\n", (long long)json_integer_value(json_object_get(v, "size")),
                       FORMAT_SAFE(json_string_value(json_object_get(v, "reason"))));
            }
        }
    }
    json_decref(r);
    store_close(s);
    offsite_close(o);
    return rc;
}

int cli_cmd_offsite_fetch(struct cli_ctx *c)
{
    struct offsite *o;
    struct store *s;
    struct err e = { 0 };
    int bad, rc, fetched = 0;
    const char *name = cli_target_name(c, 1, &bad);

    if (name == NULL)
        return bad;
    if (engine_name_check(name, &e) != 0)
        return cli_fail(c, &e);
    if ((rc = begin(c, 1, &o, &s)) != 0)
        return rc;
    if (offsite_fetch(o, s, name, &fetched, &e) != 0)
        rc = cli_fail(c, &e);
    else if (c->json) {
        json_t *doc = json_pack("{s:s,s:b}", "name", name, "fetched", fetched);
        rc = doc != NULL ? cli_print_json(c, doc) : 1;
        json_decref(doc);
    } else
        printf(fetched ? "Fetched %s from the offsite store (every hash verified)\n"
                       : "%s: the archive is already in the store\n", FORMAT_SAFE(name));
    store_close(s);
    offsite_close(o);
    return rc;
}

int cli_cmd_reindex_offsite(struct cli_ctx *c)
{
    struct offsite *o;
    struct store *s;
    struct err e = { 0 };
    json_t *r = NULL, *v;
    size_t i;
    int rc;

    if ((rc = begin(c, 1, &o, &s)) != 0)
        return rc;
    if (offsite_reindex(o, s, cli_flag(c, "allow-unsigned") ? ENGINE_ALLOW_UNSIGNED : 0, &r, &e) != 0) {
        rc = cli_fail(c, &e);
    } else if (c->json) {
        cli_print_json(c, r);
    } else {
        json_array_foreach(json_object_get(r, "downloaded"), i, v)
            printf("  [OK] %s downloaded and verified\n", FORMAT_SAFE(json_string_value(v)));
        json_array_foreach(json_object_get(r, "skipped"), i, v) {
            printf("  [skipped] ");
            format_safe(stdout, json_string_value(json_object_get(v, "key")));
            printf(": ");
            format_safe(stdout, json_string_value(json_object_get(v, "problem")));
            putchar('\n');
        }
        printf("Reindexed %lld snapshots (%zu downloaded from the offsite store)\n",
               (long long)json_integer_value(json_object_get(r, "indexed")),
               json_array_size(json_object_get(r, "downloaded")));
    }
    json_decref(r);
    store_close(s);
    offsite_close(o);
    return rc;
}

