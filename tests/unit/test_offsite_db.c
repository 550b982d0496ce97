/* test_offsite_db.c - the catalog's offsite columns: state, error, time, counts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <sqlite3.h>

#include "../../common/fsutil.h"

#include "../../db/catalog.h"
#include "../../db/offsite.h"
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

static void add(struct catalog *c, const char *name, int64_t created)
{
    struct catalog_snapshot s;
    struct err e = { 0 };

    memset(&s, 0, sizeof(s));
    snprintf(s.name, sizeof(s.name), "%s", name);
    s.created_at = created;
    s.size = 10;
    s.file_count = 0;
    strcpy(s.version, "1");
    strcpy(s.host, "h");
    strcpy(s.created_by, "t");
    memset(s.archive_sha256, 'a', 64);
    s.labels_json = (char *)"{}";
    assert_int_equal(catalog_snapshot_insert(c, &s, &e), 0);
}

static void new_snapshots_become_pending_and_states_are_counted(void **state)
{
    struct catalog *c = NULL;
    struct catalog_offsite off;
    struct catalog_offsite_stats st;
    struct err e = { 0 };
    char **names = NULL;
    size_t n = 0;

    (void)state;
    assert_int_equal(catalog_open(&c, unit_path, &e), 0);
    add(c, "old", 100);
    add(c, "mid", 200);
    add(c, "new", 300);
    assert_int_equal(catalog_offsite_stats(c, &st, &e), 0);
    assert_int_equal(st.none, 3);
    assert_int_equal(st.last_success, 0);
    assert_int_equal(catalog_offsite_mark_new(c, &e), 0);
    assert_int_equal(catalog_offsite_set(c, "mid", "synced", NULL, 1000, &e), 0);
    assert_int_equal(catalog_offsite_set(c, "new", "failed", "HTTP 403 SignatureDoesNotMatch",
                                         1001, &e), 0);
    assert_int_equal(catalog_offsite_get(c, "new", &off, &e), 0);
    assert_string_equal(off.state, "failed");
    assert_string_equal(off.error, "HTTP 403 SignatureDoesNotMatch");
    assert_int_equal(off.at, 1001);
    assert_int_equal(catalog_offsite_get(c, "mid", &off, &e), 0);
    assert_string_equal(off.error, "");
    /* A plain copy until told otherwise; an encrypted copy keeps its hash and size. */
    assert_string_equal(off.copy_sha256, "");
    assert_int_equal(catalog_offsite_set_copy(c, "mid", "ab12", 4242, &e), 0);
    assert_int_equal(catalog_offsite_get(c, "mid", &off, &e), 0);
    assert_string_equal(off.copy_sha256, "ab12");
    assert_int_equal(off.copy_size, 4242);
    assert_string_equal(off.state, "synced");
    {
        struct catalog_offsite_row *rows = NULL;
        size_t nr = 0;
        assert_int_equal(catalog_offsite_rows(c, &rows, &nr, &e), 0);
        assert_int_equal(nr, 3);
        assert_string_equal(rows[1].name, "mid");
        assert_string_equal(rows[1].copy_sha256, "ab12");
        assert_int_equal(rows[1].copy_size, 4242);
        assert_string_equal(rows[0].copy_sha256, "");
        catalog_offsite_rows_free(rows, nr);
    }
    assert_int_equal(catalog_offsite_set_copy(c, "mid", NULL, 0, &e), 0);
    assert_int_equal(catalog_offsite_get(c, "mid", &off, &e), 0);
    assert_string_equal(off.copy_sha256, "");
    assert_int_equal(catalog_offsite_set_copy(c, "ghost", NULL, 0, &e), -1);
    assert_int_equal(e.code, ERR_NOT_FOUND);
    err_clear(&e);
    /* Not yet synced, oldest first. */
    assert_int_equal(catalog_offsite_todo(c, &names, &n, &e), 0);
    assert_int_equal(n, 2);
    assert_string_equal(names[0], "old");
    assert_string_equal(names[1], "new");
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    assert_int_equal(catalog_offsite_stats(c, &st, &e), 0);
    assert_int_equal(st.none, 0);
    assert_int_equal(st.pending, 1);
    assert_int_equal(st.synced, 1);
    assert_int_equal(st.failed, 1);
    assert_int_equal(st.last_success, 1000);
    catalog_close(c);
}

static void unknown_snapshot_is_not_found(void **state)
{
    struct catalog *c = NULL;
    struct catalog_offsite off;
    struct err e = { 0 };

    (void)state;
    assert_int_equal(catalog_open(&c, unit_path, &e), 0);
    assert_int_equal(catalog_offsite_set(c, "ghost", "synced", NULL, 1, &e), -1);
    assert_int_equal(e.code, ERR_NOT_FOUND);
    err_clear(&e);
    assert_int_equal(catalog_offsite_get(c, "ghost", &off, &e), -1);
    assert_int_equal(e.code, ERR_NOT_FOUND);
    catalog_close(c);
}

static void expect_stats(struct catalog *c, int64_t none, int64_t pending, int64_t synced,
                         int64_t failed, int64_t last)
{
    struct catalog_offsite_stats st;
    struct err e = { 0 };

    assert_int_equal(catalog_offsite_stats(c, &st, &e), 0);
    assert_int_equal(st.none, none);
    assert_int_equal(st.pending, pending);
    assert_int_equal(st.synced, synced);
    assert_int_equal(st.failed, failed);
    assert_int_equal(st.last_success, last);
}

/* The counts are kept by triggers (schema 2): they must follow deletes and
 * state changes, and a schema-1 catalog must start with the right ones. */
static void counts_follow_changes_and_a_schema_1_catalog_migrates(void **state)
{
    struct catalog *c = NULL;
    struct err e = { 0 };
    sqlite3 *db;

    (void)state;
    assert_int_equal(catalog_open(&c, unit_path, &e), 0);
    add(c, "a", 100);
    add(c, "b", 200);
    add(c, "c", 300);
    add(c, "d", 400);
    assert_int_equal(catalog_offsite_mark_new(c, &e), 0);
    assert_int_equal(catalog_offsite_set(c, "a", "synced", NULL, 1000, &e), 0);
    assert_int_equal(catalog_offsite_set(c, "b", "synced", NULL, 2000, &e), 0);
    assert_int_equal(catalog_offsite_set(c, "c", "failed", "boom", 2100, &e), 0);
    catalog_close(c);

    /* Back to schema 1: what a catalog written by the previous release has. */
    assert_int_equal(sqlite3_open(unit_path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, UNIT_CATALOG_DOWN_TO_2
                                      "DROP TRIGGER offsite_ins; DROP TRIGGER offsite_del;"
                                      "DROP TRIGGER offsite_upd; DROP INDEX snapshots_offsite;"
                                      "DROP TABLE offsite_totals; PRAGMA user_version = 1;",
                                  NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);

    assert_int_equal(catalog_open(&c, unit_path, &e), 0);
    expect_stats(c, 0, 1, 2, 1, 2000);
    /* Deleting the newest synced one moves last_success back to the other. */
    assert_int_equal(catalog_snapshot_delete(c, "b", &e), 0);
    expect_stats(c, 0, 1, 1, 1, 1000);
    assert_int_equal(catalog_offsite_set(c, "c", "synced", NULL, 3000, &e), 0);
    assert_int_equal(catalog_offsite_set(c, "c", "synced", NULL, 3001, &e), 0);
    expect_stats(c, 0, 1, 2, 0, 3001);
    add(c, "e", 500);
    expect_stats(c, 1, 1, 2, 0, 3001);
    assert_int_equal(catalog_snapshot_delete_all(c, &e), 0);
    expect_stats(c, 0, 0, 0, 0, 0);
    catalog_close(c);
}

/* Object Lock records: kept when the snapshot is deleted, the later date
 * wins, only those still in force are listed (soonest first), a bad mode is
 * refused and an unknown name is not found. */
static void lock_records_outlive_their_snapshot(void **state)
{
    struct catalog *c = NULL;
    struct catalog_offsite_lock lk, *rows = NULL;
    struct err e = { 0 };
    size_t n = 0;
    static const char sha[] = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

    (void)state;
    assert_int_equal(catalog_open(&c, unit_path, &e), 0);
    add(c, "a", 100);
    add(c, "b", 200);
    add(c, "c", 300);
    assert_int_equal(catalog_offsite_lock_set(c, "a", "COMPLIANCE", 5000, sha, 1000, &e), 0);
    assert_int_equal(catalog_offsite_lock_set(c, "b", "GOVERNANCE", 4000, sha, 1000, &e), 0);
    assert_int_equal(catalog_offsite_lock_set(c, "c", "GOVERNANCE", 1500, sha, 1000, &e), 0);
    /* An upload again with an earlier date does not shorten what the old version has. */
    assert_int_equal(catalog_offsite_lock_set(c, "a", "GOVERNANCE", 3000, sha, 2000, &e), 0);
    assert_int_equal(catalog_offsite_lock_get(c, "a", &lk, &e), 0);
    assert_string_equal(lk.mode, "COMPLIANCE");
    assert_int_equal(lk.retain_until, 5000);
    assert_int_equal(lk.at, 2000);
    assert_int_equal(lk.local, 1);
    /* A later one extends it. */
    assert_int_equal(catalog_offsite_lock_set(c, "b", "COMPLIANCE", 6000, sha, 2000, &e), 0);
    assert_int_equal(catalog_snapshot_delete(c, "a", &e), 0);

    assert_int_equal(catalog_offsite_locks(c, 2000, &rows, &n, &e), 0);
    assert_int_equal(n, 2);   /* c expired at 1500 */
    assert_string_equal(rows[0].name, "a");
    assert_int_equal(rows[0].local, 0);
    assert_int_equal(rows[0].retain_until, 5000);
    assert_string_equal(rows[0].archive_sha256, sha);
    assert_string_equal(rows[1].name, "b");
    assert_string_equal(rows[1].mode, "COMPLIANCE");
    assert_int_equal(rows[1].retain_until, 6000);
    assert_int_equal(rows[1].local, 1);
    free(rows);
    assert_int_equal(catalog_offsite_locks(c, 7000, &rows, &n, &e), 0);
    assert_int_equal(n, 0);
    assert_null(rows);

    assert_int_equal(catalog_offsite_lock_set(c, "b", "compliance", 9000, sha, 1, &e), -1);
    assert_int_equal(e.code, ERR_INVALID);
    e.code = ERR_NONE;
    assert_int_equal(catalog_offsite_lock_get(c, "b", &lk, &e), 0);
    assert_int_equal(lk.retain_until, 6000);
    assert_int_equal(catalog_offsite_lock_get(c, "zz", &lk, &e), -1);
    assert_int_equal(e.code, ERR_NOT_FOUND);
    catalog_close(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(new_snapshots_become_pending_and_states_are_counted,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(unknown_snapshot_is_not_found, setup, teardown),
        cmocka_unit_test_setup_teardown(counts_follow_changes_and_a_schema_1_catalog_migrates,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(lock_records_outlive_their_snapshot, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
