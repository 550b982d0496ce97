/* op_verify.c - the verify operation: re-read an archive (or every one) and
 * compare each hash with the manifest and the catalog. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "archive.h"
#include "audit.h"
#include "manifest.h"
#include "op.h"
#include "signing.h"
#include "snapshot.h"

static int verify_one(struct store *s, const char *name, json_t **report, struct err *e)
{
    struct catalog_snapshot row;
    char path[PATH_MAX], sha[65];
    struct archive *a = NULL;
    json_t *errors = json_array(), *signature = json_null();
    struct signing_result sr;
    struct err ae = { 0 };
    int64_t size;
    int checked = 0, rc = -1;

    *report = NULL;
    if (catalog_snapshot_get(s->cat, name, 1, &row, e) != 0) {
        json_decref(errors);
        return -1;
    }
    if (store_archive_path(s, name, path, sizeof(path), e) != 0)
        goto out;
    if (archive_open(&a, path, &ae) != 0) {
        if (ae.code != ERR_VERIFY && ae.code != ERR_NOT_FOUND) {
            *e = ae;
            goto out;
        }
        json_array_append_new(errors, json_pack("{s:s,s:s}", "path", "(archive)", "problem", ae.msg));
    } else {
        int bad = archive_check_all(a, errors, e);
        if (bad < 0)
            goto out;
        /* Worth at least what the catalog recorded: a snapshot catalogued
         * as signed fails once its signature is stripped or no longer
         * verifies; one admitted unsigned or untrusted reports as such. */
        struct err se = { 0 };
        if (signing_matches_row(s, a, &row, &sr, &se) != 0) {
            if (se.code != ERR_VERIFY) {
                *e = se;
                goto out;
            }
            json_array_append_new(errors, json_pack("{s:s,s:s}", "path", MANIFEST_SIG, "problem",
                                                    se.msg));
        }
        json_decref(signature);
        signature = signing_json(&sr);
        checked = (int)archive_n_files(a);
        /* The catalog's file list must agree with the manifest's too. */
        for (size_t i = 0; i < row.n_files; i++) {
            const struct manifest_file *f = archive_file_entry(a, row.files[i].path);
            if (f == NULL || strcmp(f->sha256, row.files[i].sha256) != 0)
                json_array_append_new(errors, json_pack("{s:s,s:s}", "path", row.files[i].path,
                                                        "problem", "catalog and manifest disagree"));
        }
        if (row.n_files != (size_t)checked)
            json_array_append_new(errors, json_pack("{s:s,s:s}", "path", "(catalog)", "problem",
                                                    "catalog and manifest list different files"));
        if (archive_file_sha256(path, sha, &size, e) != 0)
            goto out;
        /* Only when no file explains it: a changed byte outside file data. */
        if (strcmp(sha, row.archive_sha256) != 0 && json_array_size(errors) == 0)
            json_array_append_new(errors, json_pack("{s:s,s:s}", "path", "(archive)", "problem",
                                                    "archive SHA-256 differs from the catalog"));
    }
    *report = json_pack("{s:s,s:b,s:i,s:O,s:O}", "name", name, "ok", json_array_size(errors) == 0,
                        "checked_files", checked, "errors", errors, "signature", signature);
    if (*report == NULL) {
        err_set(e, ERR_IO, "out of memory");
        goto out;
    }
    if (json_array_size(errors) > 0) {
        json_t *first = json_array_get(errors, 0);
        engine_emit(s->cfg, "verify", "error", name, *report);
        err_set(e, ERR_VERIFY, "%s: %s: %s", name,
                json_string_value(json_object_get(first, "path")),
                json_string_value(json_object_get(first, "problem")));
        goto out;
    }
    rc = 0;
out:
    archive_close(a);
    catalog_snapshot_clear(&row);
    json_decref(errors);
    json_decref(signature);
    return rc;
}

static int verify_named(struct store *s, const char *name, json_t **report, struct err *e)
{
    if (engine_name_check(name, e) != 0)
        return -1;
    return verify_one(s, name, report, e);
}

static int verify_every(struct store *s, json_t **report, struct err *e)
{
    char **names = NULL;
    size_t n = 0;
    json_t *list = json_array();
    int bad = 0;

    *report = NULL;
    if (catalog_snapshot_names(s->cat, &names, &n, e) != 0) {
        json_decref(list);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *r = NULL;
        struct err ve = { 0 };
        if (verify_one(s, names[i], &r, &ve) != 0) {
            if (r == NULL) {
                /* Deleted while we walked the list: not a failure. */
                if (ve.code == ERR_NOT_FOUND)
                    continue;
                r = json_pack("{s:s,s:b,s:i,s:[{s:s,s:s}]}", "name", names[i], "ok", 0,
                              "checked_files", 0, "errors", "path", "(archive)", "problem", ve.msg);
            }
            bad++;
        }
        json_array_append_new(list, r);
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    *report = json_pack("{s:b,s:i,s:i,s:o}", "ok", bad == 0, "checked", (int)json_array_size(list),
                        "failed", bad, "snapshots", list);
    if (bad > 0)
        return err_set(e, ERR_VERIFY, "%d snapshot%s failed verification", bad, bad == 1 ? "" : "s");
    return 0;
}

int engine_verify(struct store *s, const char *name, json_t **report, struct err *e)
{
    struct op op;
    int rc;

    (void)op_begin(s, OP_READ, &op, e);   /* a query: no lock, as ever */
    rc = verify_named(s, name, report, e);
    op_end(&op);
    return rc;
}

int engine_verify_all(struct store *s, json_t **report, struct err *e)
{
    struct op op;
    int rc;

    (void)op_begin(s, OP_READ, &op, e);   /* a query: no lock, as ever */
    rc = verify_every(s, report, e);
    op_end(&op);
    return rc;
}
