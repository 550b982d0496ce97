/* test_catalog.c - the SQLite catalog: schema, migrations, queries. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "../../common/fsutil.h"
#include <sqlite3.h>

#include "../../db/catalog.h"
#include "../../db/drill.h"
#include "unit_tmp.h"

static int setup(void **state)
{
    (void)state;
    return unit_tmp_make("catalog.db");
}

static int teardown(void **state)
{
    (void)state;
    return unit_tmp_remove();
}

static void fill(struct catalog_snapshot *s, const char *name, int64_t created, int64_t size)
{
    memset(s, 0, sizeof(*s));
    snprintf(s->name, sizeof(s->name), "%s", name);
    s->created_at = created;
    s->size = size;
    s->file_count = 1;
    strcpy(s->version, "1.2.0");
    strcpy(s->host, "h");
    strcpy(s->created_by, "cli:test");
    memset(s->archive_sha256, 'a', 64);
    s->labels_json = (char *)"{\"reason\":\"pre-deploy\"}";
    s->positions_count = 3;
}

static void open_sets_schema_version_and_wal(void **state)
{
    struct catalog *c = NULL;
    struct err e = { 0 };
    sqlite3 *db;
    sqlite3_stmt *st;

    (void)state;
    assert_int_equal(catalog_open(&c, unit_path, &e), 0);
    catalog_close(c);
    /* Reopening an existing catalog migrates nothing and keeps the data. */
    assert_int_equal(catalog_open(&c, unit_path, &e), 0);
    catalog_close(c);
    assert_int_equal(sqlite3_open(unit_path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(st, 0), 8);
    sqlite3_finalize(st);
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "wal");
    sqlite3_finalize(st);
    sqlite3_close(db);
}

/* Readers reuse an answer while the version stands still: it must move on
 * every commit, by this connection or by another one. */
static void version_moves_with_every_commit(void **state)
{
    struct catalog *c = NULL, *other = NULL;
    struct catalog_version v0, v1, v2, v3;
    struct catalog_snapshot s;
    struct err e = { 0 };

    (void)state;
    assert_int_equal(catalog_open(&c, unit_path, &e), 0);
    assert_int_equal(catalog_open(&other, unit_path, &e), 0);
    assert_int_equal(catalog_version(c, &v0, &e), 0);
    assert_int_equal(catalog_version(c, &v1, &e), 0);
    assert_memory_equal(&v0, &v1, sizeof(v0));
    fill(&s, "mine", 100, 1);
    assert_int_equal(catalog_snapshot_insert(c, &s, &e), 0);
    assert_int_equal(catalog_version(c, &v2, &e), 0);
    assert_true(v2.own != v1.own || v2.others != v1.others);
    fill(&s, "theirs", 200, 1);
    assert_int_equal(catalog_snapshot_insert(other, &s, &e), 0);
    assert_int_equal(catalog_version(c, &v3, &e), 0);
    assert_true(v3.others != v2.others);
    assert_int_equal(catalog_snapshot_set_pin(other, "mine", 1, 0, &e), 0);
    assert_int_equal(catalog_version(c, &v1, &e), 0);
    assert_true(v1.others != v3.others);
    catalog_close(other);
    catalog_close(c);
}

static void newer_schema_is_refused(void **state)
{
    struct catalog *c = NULL;
    struct err e = { 0 };
    sqlite3 *db;

    (void)state;
    assert_int_equal(sqlite3_open(unit_path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(catalog_open(&c, unit_path, &e), -1);
    assert_non_null(strstr(e.msg, "newer"));
    assert_null(c);
}

/* Schema 3 adds consistency, chain and empty: a schema-2 catalog gets them,
 * with empty computed from the files (the .env's masked copy aside), and the
 * new fields round-trip. */
static void schema_2_catalog_migrates_and_new_fields_round_trip(void **state)
{
    struct catalog *c = NULL;
    struct err e = { 0 };
    struct catalog_snapshot s, got;
    struct catalog_file real = { .path = (char *)"state/positions.json", .size = 10 };
    struct catalog_file env = { .path = (char *)"env/.env.masked", .size = 10 };
    struct catalog_brief *rows = NULL;
    size_t n = 0;
    int64_t flagged = -1;
    sqlite3 *db;

    (void)state;
    memset(real.sha256, 'a', 64);
    strcpy(real.group, "state");
    memset(env.sha256, 'b', 64);
    strcpy(env.group, "secrets");
    assert_int_equal(catalog_open(&c, unit_path, &e), 0);
    fill(&s, "real", 1000, 10);
    s.files = &real;
    s.n_files = 1;
    assert_int_equal(catalog_snapshot_insert(c, &s, &e), 0);
    fill(&s, "envonly", 2000, 10);
    s.files = &env;
    s.n_files = 1;
    assert_int_equal(catalog_snapshot_insert(c, &s, &e), 0);
    catalog_close(c);
    assert_int_equal(sqlite3_open(unit_path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, UNIT_CATALOG_DOWN_TO_2 "PRAGMA user_version = 2;", NULL,
                                  NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(catalog_open(&c, unit_path, &e), 0);
    assert_int_equal(catalog_snapshot_brief(c, &rows, &n, &e), 0);
    assert_int_equal(n, 2);
    assert_string_equal(rows[0].name, "envonly");
    assert_int_equal(rows[0].empty, 1);
    assert_int_equal(rows[1].empty, 0);
    free(rows);
    assert_int_equal(catalog_snapshot_get(c, "real", 0, &got, &e), 0);
    assert_null(got.consistency_json);
    assert_null(got.chain_json);
    assert_string_equal(got.signature, "unsigned");   /* made before signing */
    assert_string_equal(got.signer, "");
    catalog_snapshot_clear(&got);
    fill(&s, "flagged", 3000, 10);
    s.files = &real;
    s.n_files = 1;
    s.consistency_json = (char *)"{\"attempts\":2,\"changed\":[\"state/positions.json\"],"
                                 "\"state\":\"changed\",\"window_ms\":0.5}";
    s.chain_json = (char *)"{\"lines\":3}";
    assert_int_equal(catalog_snapshot_insert(c, &s, &e), 0);
    assert_int_equal(catalog_snapshot_get(c, "flagged", 0, &got, &e), 0);
    assert_string_equal(got.consistency_json, s.consistency_json);
    assert_string_equal(got.chain_json, "{\"lines\":3}");
    catalog_snapshot_clear(&got);
    assert_int_equal(catalog_count_inconsistent(c, &flagged, &e), 0);
    assert_int_equal(flagged, 1);
    /* Signature state round trips; the not-signed counts follow it. */
    int64_t nu, nt;
    assert_int_equal(catalog_count_unsigned(c, &nu, &nt, &e), 0);
    assert_int_equal(nu, 3);                  /* real, envonly (migrated), flagged (none given) */
    assert_int_equal(nt, 0);
    fill(&s, "signed1", 4000, 10);
    s.consistency_json = s.chain_json = NULL;
    snprintf(s.signature, sizeof(s.signature), "signed");
    memset(s.signer, 'a', 64);
    s.signer[64] = '\0';
    assert_int_equal(catalog_snapshot_insert(c, &s, &e), 0);
    fill(&s, "theirs", 4001, 10);
    snprintf(s.signature, sizeof(s.signature), "untrusted");
    s.signer[0] = '\0';
    assert_int_equal(catalog_snapshot_insert(c, &s, &e), 0);
    assert_int_equal(catalog_snapshot_get(c, "signed1", 0, &got, &e), 0);
    assert_string_equal(got.signature, "signed");
    assert_int_equal(strlen(got.signer), 64);
    catalog_snapshot_clear(&got);
    assert_int_equal(catalog_count_unsigned(c, &nu, &nt, &e), 0);
    assert_int_equal(nu, 3);
    assert_int_equal(nt, 1);
    catalog_close(c);
}

static void insert_get_duplicate_delete(void **state)
{
    struct catalog *c = NULL;
    struct err e = { 0 };
    struct catalog_snapshot s, got;
    struct catalog_file f = { .path = (char *)"state/positions.json", .size = 10 };
    int64_t count, bytes;

    (void)state;
    assert_int_equal(catalog_open(&c, unit_path, &e), 0);
    fill(&s, "pre_live_v1", 1000, 2048);
    memset(f.sha256, 'b', 64);
    strcpy(f.group, "state");
    s.files = &f;
    s.n_files = 1;
    assert_int_equal(catalog_snapshot_insert(c, &s, &e), 0);
    assert_int_equal(catalog_snapshot_insert(c, &s, &e), -1);
    assert_int_equal(e.code, ERR_CONFLICT);
    err_clear(&e);
    assert_int_equal(catalog_snapshot_get(c, "pre_live_v1", 1, &got, &e), 0);
    assert_int_equal(got.size, 2048);
    assert_int_equal(got.n_files, 1);
    assert_string_equal(got.files[0].path, "state/positions.json");
    assert_string_equal(got.labels_json, "{\"reason\":\"pre-deploy\"}");
    assert_int_equal(got.positions_count, 3);
    catalog_snapshot_clear(&got);
    assert_int_equal(catalog_totals(c, &count, &bytes, &e), 0);
    assert_int_equal(count, 1);
    assert_int_equal(bytes, 2048);
    assert_int_equal(catalog_snapshot_delete(c, "pre_live_v1", &e), 0);
    assert_int_equal(catalog_totals(c, &count, &bytes, &e), 0);
    assert_int_equal(count, 0);
    assert_int_equal(bytes, 0);
    assert_int_equal(catalog_snapshot_get(c, "pre_live_v1", 0, &got, &e), -1);
    assert_int_equal(e.code, ERR_NOT_FOUND);
    catalog_close(c);
}

static void list_is_newest_first_with_cursor_and_filters(void **state)
{
    struct catalog *c = NULL;
    struct err e = { 0 };
    struct catalog_snapshot s, *rows = NULL, latest;
    struct catalog_filter f;
    size_t n;
    int more;
    char name[32];

    (void)state;
    assert_int_equal(catalog_open(&c, unit_path, &e), 0);
    for (int i = 0; i < 5; i++) {
        snprintf(name, sizeof(name), "%s_%d", i % 2 ? "daily" : "deploy", i);
        fill(&s, name, 1000 + i, 100);
        if (i == 4)
            s.labels_json = (char *)"{\"reason\":\"scheduled\"}";
        assert_int_equal(catalog_snapshot_insert(c, &s, &e), 0);
    }
    memset(&f, 0, sizeof(f));
    f.limit = 2;
    assert_int_equal(catalog_snapshot_list(c, &f, &rows, &n, &more, &e), 0);
    assert_int_equal(n, 2);
    assert_int_equal(more, 1);
    assert_string_equal(rows[0].name, "deploy_4");
    assert_string_equal(rows[1].name, "daily_3");
    f.after_created_at = rows[1].created_at;
    f.after_id = rows[1].id;
    catalog_snapshots_free(rows, n);
    assert_int_equal(catalog_snapshot_list(c, &f, &rows, &n, &more, &e), 0);
    assert_int_equal(n, 2);
    assert_string_equal(rows[0].name, "deploy_2");
    catalog_snapshots_free(rows, n);
    memset(&f, 0, sizeof(f));
    f.prefix = "daily";
    assert_int_equal(catalog_snapshot_list(c, &f, &rows, &n, &more, &e), 0);
    assert_int_equal(n, 2);
    assert_int_equal(more, 0);
    catalog_snapshots_free(rows, n);
    memset(&f, 0, sizeof(f));
    f.label_key = "reason";
    f.label_value = "scheduled";
    assert_int_equal(catalog_snapshot_list(c, &f, &rows, &n, &more, &e), 0);
    assert_int_equal(n, 1);
    assert_string_equal(rows[0].name, "deploy_4");
    catalog_snapshots_free(rows, n);
    assert_int_equal(catalog_snapshot_latest(c, &latest, &e), 0);
    assert_string_equal(latest.name, "deploy_4");
    catalog_snapshot_clear(&latest);
    catalog_close(c);
}

static void drill_add(struct catalog *c, const char *name, char sha, const char *result,
                      int64_t at)
{
    struct catalog_drill d;
    struct err e = { 0 };

    memset(&d, 0, sizeof(d));
    snprintf(d.snapshot, sizeof(d.snapshot), "%s", name);
    memset(d.archive_sha256, sha, 64);
    snprintf(d.result, sizeof(d.result), "%s", result);
    if (strcmp(result, "failed") == 0)
        snprintf(d.error, sizeof(d.error), "state/positions.json: SHA-256 mismatch");
    d.at = at;
    d.files_checked = 9;
    assert_int_equal(catalog_drill_insert(c, &d, &e), 0);
}

/* The last drill is the newest of that very archive; the totals and the
 * newest success/failure follow every insert and survive the snapshot. */
static void drills_last_per_archive_and_totals(void **state)
{
    struct catalog *c = NULL;
    struct catalog_drill d, *rows = NULL;
    struct catalog_drill_stats st;
    struct err e = { 0 };
    size_t n;

    (void)state;
    assert_int_equal(catalog_open(&c, unit_path, &e), 0);
    assert_int_equal(catalog_drill_stats(c, &st, &e), 0);
    assert_true(st.ok == 0 && st.failed == 0 && st.last_success == 0 && st.last_failure == 0);
    assert_int_equal(catalog_drill_last(c, "a", "x", &d, &e), 0);
    drill_add(c, "a", 'a', "ok", 1000);
    drill_add(c, "a", 'a', "failed", 2000);
    drill_add(c, "b", 'b', "ok", 3000);
    drill_add(c, "a", 'c', "ok", 4000);   /* "a" deleted and made again: another archive */
    char sha[65];
    memset(sha, 'a', 64);
    sha[64] = '\0';
    assert_int_equal(catalog_drill_last(c, "a", sha, &d, &e), 1);
    assert_string_equal(d.result, "failed");
    assert_int_equal(d.at, 2000);
    assert_string_equal(d.error, "state/positions.json: SHA-256 mismatch");
    assert_int_equal(catalog_drill_stats(c, &st, &e), 0);
    assert_int_equal(st.ok, 3);
    assert_int_equal(st.failed, 1);
    assert_int_equal(st.last_success, 4000);
    assert_int_equal(st.last_failure, 2000);
    assert_int_equal(catalog_drill_recent(c, 2, &rows, &n, &e), 0);
    assert_int_equal(n, 2);
    assert_int_equal(rows[0].at, 4000);
    assert_string_equal(rows[1].snapshot, "b");
    free(rows);
    catalog_close(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(open_sets_schema_version_and_wal, setup, teardown),
        cmocka_unit_test_setup_teardown(newer_schema_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(version_moves_with_every_commit, setup, teardown),
        cmocka_unit_test_setup_teardown(insert_get_duplicate_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(schema_2_catalog_migrates_and_new_fields_round_trip, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(list_is_newest_first_with_cursor_and_filters, setup, teardown),
        cmocka_unit_test_setup_teardown(drills_last_per_archive_and_totals, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
