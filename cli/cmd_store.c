/* cmd_store.c - the commands on the store as a whole: init, import, export,
 * reindex. */
#include "cmd.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <limits.h>
#include <sys/stat.h>

#include "format.h"
#include "../engine/store.h"

int cli_cmd_reindex(struct cli_ctx *c)
{
    struct store *s = NULL;
    struct err e = { 0 };
    json_t *r = NULL, *sk;
    size_t i;
    int rc;

    if (c->args.positional != NULL)
        return cli_usage_error(c, "reindex: unexpected argument \"%s\"", c->args.positional);
    if (cli_flag(c, "from-offsite"))
        return cli_cmd_reindex_offsite(c);
    if ((rc = cli_open_store(c, 1, &s)) != 0)
        return rc;
    if (engine_reindex(s, cli_flag(c, "allow-unsigned") ? ENGINE_ALLOW_UNSIGNED : 0, &r, &e) != 0) {
        rc = cli_fail(c, &e);
    } else {
        if (c->json) {
            cli_print_json(c, r);
        } else {
            printf("Reindexed %lld snapshots\n",
                   (long long)json_integer_value(json_object_get(r, "indexed")));
            json_array_foreach(json_object_get(r, "skipped"), i, sk) {
                printf("  [skipped] ");
                format_safe(stdout, json_string_value(json_object_get(sk, "file")));
                printf(": ");
                format_safe(stdout, json_string_value(json_object_get(sk, "problem")));
                putchar('\n');
            }
        }
        rc = 0;
    }
    json_decref(r);
    store_close(s);
    return rc;
}

int cli_cmd_import(struct cli_ctx *c)
{
    struct store *s = NULL;
    struct err e = { 0 };
    json_t *snap = NULL;
    int rc;

    if (c->args.positional == NULL)
        return cli_usage_error(c, "import: which zip file?%s", "");
    if (access(c->args.positional, R_OK) != 0)
        return cli_usage_error(c, "import: cannot read \"%s\"", c->args.positional);
    if ((rc = cli_open_store(c, 1, &s)) != 0)
        return rc;
    if (engine_import(s, c->args.positional,
                      cli_flag(c, "allow-unsigned") ? ENGINE_ALLOW_UNSIGNED : 0, &snap, &e) != 0) {
        rc = cli_fail(c, &e);
    } else {
        const json_t *sig = json_object_get(snap, "signature");
        const char *st = json_string_value(json_object_get(sig, "state"));
        if (c->json)
            cli_print_json(c, snap);
        else if (st != NULL && strcmp(st, "signed") == 0)
            printf("Imported %s (%lld files, verified, signed by %.16s...)\n",
                   FORMAT_SAFE(json_string_value(json_object_get(snap, "name"))),
                   (long long)json_integer_value(json_object_get(snap, "file_count")),
                   FORMAT_SAFE(json_string_value(json_object_get(sig, "key_id"))));
        else
            printf("Imported %s (%lld files, verified, %s: admitted with --allow-unsigned)\n",
                   FORMAT_SAFE(json_string_value(json_object_get(snap, "name"))),
                   (long long)json_integer_value(json_object_get(snap, "file_count")),
                   st ? st : "unsigned");
        rc = 0;
    }
    json_decref(snap);
    store_close(s);
    return rc;
}

int cli_cmd_export(struct cli_ctx *c)
{
    struct store *s = NULL;
    struct err e = { 0 };
    char *path = NULL, sha[65], out[1024];
    int bad, rc;
    const char *name = cli_target_name(c, 1, &bad);

    if (name == NULL)
        return bad;
    if (engine_name_check(name, &e) != 0)
        return cli_fail(c, &e);
    if (snprintf(out, sizeof(out), "%s", cli_opt(c, "out") ? cli_opt(c, "out") : name) >= (int)sizeof(out))
        return cli_usage_error(c, "export: --out path too long%s", "");
    if (cli_opt(c, "out") == NULL)
        strncat(out, ".zip", sizeof(out) - strlen(out) - 1);
    if ((rc = cli_open_store(c, 0, &s)) != 0)
        return rc;
    if (engine_archive_path(s, name, &path, sha, &e) != 0) {
        rc = cli_fail(c, &e);
        goto out;
    }
    FILE *in = fopen(path, "rb"), *o = in ? fopen(out, "wbx") : NULL;
    if (in == NULL || o == NULL) {
        err_sys(&e, errno, "export to %s", out);
        if (in)
            fclose(in);
        rc = cli_fail(c, &e);
        goto out;
    }
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
        if (fwrite(buf, 1, n, o) != n)
            break;
    int werr = ferror(in) || ferror(o);
    fclose(in);
    if (fclose(o) != 0 || werr) {
        unlink(out);
        err_set(&e, ERR_IO, "export to %s failed", out);
        rc = cli_fail(c, &e);
        goto out;
    }
    if (c->json) {
        json_t *r = json_pack("{s:s,s:s,s:s}", "name", name, "path", out, "archive_sha256", sha);
        cli_print_json(c, r);
        json_decref(r);
    } else {
        printf("Exported %s to %s (SHA256: %s)\n", FORMAT_SAFE(name), FORMAT_SAFE(out), sha);
    }
    rc = 0;
out:
    free(path);
    store_close(s);
    return rc;
}

int cli_cmd_init(struct cli_ctx *c)
{
    struct store *s = NULL;
    struct stat st;
    char cat[PATH_MAX];
    int rc, existed;

    if (c->args.positional != NULL)
        return cli_usage_error(c, "init: unexpected argument \"%s\" (use --store DIR)", c->args.positional);
    if (snprintf(cat, sizeof(cat), "%s/%s", c->cfg->engine.store ? c->cfg->engine.store : "",
                 STORE_CATALOG_FILE) >= (int)sizeof(cat))
        return cli_usage_error(c, "init: store path too long%s", "");
    existed = stat(cat, &st) == 0;
    if ((rc = cli_open_store(c, 1, &s)) != 0)
        return rc;
    if (c->json) {
        json_t *doc = json_pack("{s:s,s:b}", "store", c->cfg->engine.store, "created", !existed);
        cli_print_json(c, doc);
        json_decref(doc);
    } else {
        printf("%s store ", existed ? "Existing" : "Initialized");
        format_safe(stdout, c->cfg->engine.store);
        putchar('\n');
    }
    store_close(s);
    return 0;
}

