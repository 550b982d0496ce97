/* catalog.c - the SQLite catalog's connection: open (migrating the schema,
 * falling back to read-only on a full disk), transactions, the prepared
 * statement cache and the error mapping every db/ module shares. The
 * snapshot rows are in snapshots.c; other tables in their own files. */
#include "catalog_internal.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

#define CATALOG_BUSY_TIMEOUT_MS 10000
#define CATALOG_FULL_BELOW (256u * 1024)   /* free bytes under which the disk counts as full */

/* Prepared statements kept per connection: the server answers every read
 * from one of a few queries, and parsing SQL each time cost more than
 * running it. Keyed by the SQL text; a statement in use is skipped, so a
 * query nested in a loop over the same query gets a second one. */
#define CATALOG_STMT_CACHE 32

struct cached_stmt {
    char *sql;
    sqlite3_stmt *st;
    int busy;
};

struct catalog {
    sqlite3 *db;
    char dir[4096];     /* the directory holding catalog.db, for free-space checks */
    int readonly;       /* opened read-only because the disk was full */
    struct cached_stmt stmts[CATALOG_STMT_CACHE];
};

/* 1 when the catalog's file system has (almost) no room left. */
static int disk_full(const struct catalog *c)
{
    struct statvfs v;

    if (c->dir[0] == '\0' || statvfs(c->dir, &v) != 0)
        return 0;
    return (unsigned long long)v.f_bavail * v.f_frsize < CATALOG_FULL_BELOW;
}

/* Forward migrations; migrations[i] takes user_version i to i+1. Never edit
 * a shipped step: append a new one. */
static const char *const migrations[] = {
    /* 0 -> 1: the first schema. */
    "CREATE TABLE snapshots ("
    "  id INTEGER PRIMARY KEY,"
    "  name TEXT NOT NULL UNIQUE,"
    "  created_at INTEGER NOT NULL,"
    "  size INTEGER NOT NULL,"
    "  file_count INTEGER NOT NULL,"
    "  version TEXT NOT NULL,"
    "  git_commit TEXT,"
    "  host TEXT NOT NULL,"
    "  created_by TEXT NOT NULL,"
    "  archive_sha256 TEXT NOT NULL,"
    "  labels TEXT NOT NULL DEFAULT '{}',"
    "  pinned INTEGER NOT NULL DEFAULT 0,"
    "  pin_until INTEGER NOT NULL DEFAULT 0,"
    "  positions_count INTEGER NOT NULL DEFAULT -1,"
    "  offsite_state TEXT NOT NULL DEFAULT '',"
    "  offsite_error TEXT,"
    "  offsite_at INTEGER"
    ");"
    "CREATE INDEX snapshots_newest ON snapshots(created_at DESC, id DESC);"
    "CREATE TABLE snapshot_files ("
    "  snapshot_id INTEGER NOT NULL REFERENCES snapshots(id) ON DELETE CASCADE,"
    "  path TEXT NOT NULL,"
    "  size INTEGER NOT NULL,"
    "  sha256 TEXT NOT NULL,"
    "  grp TEXT NOT NULL,"
    "  PRIMARY KEY (snapshot_id, path)"
    ") WITHOUT ROWID;"
    /* Totals kept by triggers so the list's header is O(1) at any size. */
    "CREATE TABLE totals (id INTEGER PRIMARY KEY CHECK (id = 1), count INTEGER NOT NULL,"
    "  bytes INTEGER NOT NULL);"
    "INSERT INTO totals VALUES (1, 0, 0);"
    "CREATE TRIGGER snapshots_ins AFTER INSERT ON snapshots BEGIN"
    "  UPDATE totals SET count = count + 1, bytes = bytes + NEW.size WHERE id = 1; END;"
    "CREATE TRIGGER snapshots_del AFTER DELETE ON snapshots BEGIN"
    "  UPDATE totals SET count = count - 1, bytes = bytes - OLD.size WHERE id = 1; END;"
    "CREATE TABLE audit ("
    "  seq INTEGER PRIMARY KEY,"
    "  time TEXT NOT NULL,"
    "  actor TEXT NOT NULL,"
    "  op TEXT NOT NULL,"
    "  snapshot TEXT,"
    "  result TEXT NOT NULL,"
    "  details TEXT NOT NULL DEFAULT '{}',"
    "  prev_hash TEXT NOT NULL,"
    "  hash TEXT NOT NULL"
    ");"
    "CREATE TABLE idempotency ("
    "  key TEXT PRIMARY KEY,"
    "  request_hash TEXT NOT NULL,"
    "  status INTEGER NOT NULL,"
    "  body TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL"
    ");",
    /* 1 -> 2: offsite counts kept by triggers and the newest sync found by
     * an index, so /metrics and /offsite/status are O(1) at any size. */
    "CREATE TABLE offsite_totals (state TEXT PRIMARY KEY, n INTEGER NOT NULL) WITHOUT ROWID;"
    "INSERT INTO offsite_totals SELECT offsite_state, count(*) FROM snapshots GROUP BY offsite_state;"
    "CREATE INDEX snapshots_offsite ON snapshots(offsite_state, offsite_at);"
    "CREATE TRIGGER offsite_ins AFTER INSERT ON snapshots BEGIN"
    "  INSERT INTO offsite_totals VALUES (NEW.offsite_state, 1)"
    "    ON CONFLICT(state) DO UPDATE SET n = n + 1; END;"
    "CREATE TRIGGER offsite_del AFTER DELETE ON snapshots BEGIN"
    "  UPDATE offsite_totals SET n = n - 1 WHERE state = OLD.offsite_state; END;"
    "CREATE TRIGGER offsite_upd AFTER UPDATE OF offsite_state ON snapshots"
    "  WHEN OLD.offsite_state IS NOT NEW.offsite_state BEGIN"
    "  UPDATE offsite_totals SET n = n - 1 WHERE state = OLD.offsite_state;"
    "  INSERT INTO offsite_totals VALUES (NEW.offsite_state, 1)"
    "    ON CONFLICT(state) DO UPDATE SET n = n + 1; END;",
    /* 2 -> 3: what a snapshot of a live root is (consistent cut or not), the
     * hash chain's tip, and whether it captured any file at all (retention
     * never lets an empty one push a real one out). */
    "ALTER TABLE snapshots ADD COLUMN consistency TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE snapshots ADD COLUMN chain TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE snapshots ADD COLUMN empty INTEGER NOT NULL DEFAULT 0;"
    "UPDATE snapshots SET empty = NOT EXISTS (SELECT 1 FROM snapshot_files f"
    "  WHERE f.snapshot_id = snapshots.id AND f.grp <> 'secrets');"
    /* Flagged snapshots are few: counted for /metrics through a partial index. */
    "CREATE INDEX snapshots_changed ON snapshots(id)"
    "  WHERE consistency LIKE '%\"state\":\"changed\"%';",
    /* 3 -> 4: restore drills (db/drill.c). No foreign key: a drill's record
     * outlives its snapshot (the counters in /metrics never go back), and
     * archive_sha256 tells a drill of a since-recreated name apart. */
    "CREATE TABLE drills ("
    "  id INTEGER PRIMARY KEY,"
    "  snapshot TEXT NOT NULL,"
    "  archive_sha256 TEXT NOT NULL,"
    "  at INTEGER NOT NULL,"
    "  result TEXT NOT NULL CHECK (result IN ('ok', 'failed')),"
    "  files_checked INTEGER NOT NULL,"
    "  bytes INTEGER NOT NULL,"
    "  duration_ms INTEGER NOT NULL,"
    "  error TEXT"
    ");"
    "CREATE INDEX drills_snapshot ON drills(snapshot, id DESC);"
    "CREATE INDEX drills_result ON drills(result, at);"
    "CREATE TABLE drill_totals (result TEXT PRIMARY KEY, n INTEGER NOT NULL) WITHOUT ROWID;"
    "INSERT INTO drill_totals VALUES ('ok', 0), ('failed', 0);"
    "CREATE TRIGGER drills_ins AFTER INSERT ON drills BEGIN"
    "  UPDATE drill_totals SET n = n + 1 WHERE result = NEW.result; END;",
    /* 4 -> 5: how far audit.jsonl is known to have been written (set after
     * each fsync of the file), so a file shorter than that is a deleted tail,
     * and a file short of the catalog but not of that mark is a crash before
     * the flush. */
    "CREATE TABLE audit_flushed (id INTEGER PRIMARY KEY CHECK (id = 1), seq INTEGER NOT NULL);"
    "INSERT INTO audit_flushed VALUES (1, 0);"
    /* Operations by result and by who ran them (the CLI, or a server: a
     * token, the scheduler), kept by a trigger on the append-only audit
     * table, so /metrics counts every process's operations in O(1). */
    "CREATE TABLE audit_ops (op TEXT NOT NULL, result TEXT NOT NULL, origin TEXT NOT NULL,"
    "  n INTEGER NOT NULL, PRIMARY KEY (op, result, origin)) WITHOUT ROWID;"
    "INSERT INTO audit_ops SELECT op, result,"
    "  CASE WHEN actor LIKE 'cli:%' THEN 'cli' ELSE 'server' END, count(*) FROM audit GROUP BY 1, 2, 3;"
    "CREATE TRIGGER audit_ops_ins AFTER INSERT ON audit BEGIN"
    "  INSERT INTO audit_ops VALUES (NEW.op, NEW.result,"
    "    CASE WHEN NEW.actor LIKE 'cli:%' THEN 'cli' ELSE 'server' END, 1)"
    "    ON CONFLICT(op, result, origin) DO UPDATE SET n = n + 1; END;",
    /* 5 -> 6: what each archive's signature is worth (#21): "signed" by a
     * trusted key (signer = its key id), "unsigned", or "untrusted" (signed,
     * but by no trusted key; admitted with --allow-unsigned). Rows from
     * before signing were made by statesnap without one: unsigned. Not
     * signed ones are few: counted for /metrics through a partial index. */
    "ALTER TABLE snapshots ADD COLUMN signature TEXT NOT NULL DEFAULT 'unsigned';"
    "ALTER TABLE snapshots ADD COLUMN signer TEXT NOT NULL DEFAULT '';"
    "CREATE INDEX snapshots_not_signed ON snapshots(signature) WHERE signature <> 'signed';",
    /* 6 -> 7 (object lock): the S3 Object Lock retention each offsite copy
     * was uploaded with (db/offsite.c). No foreign key: a locked copy stays
     * in the bucket after its snapshot is pruned here, and status says so. */
    "CREATE TABLE offsite_locks ("
    "  name TEXT PRIMARY KEY,"
    "  mode TEXT NOT NULL CHECK (mode IN ('GOVERNANCE', 'COMPLIANCE')),"
    "  retain_until INTEGER NOT NULL,"
    "  archive_sha256 TEXT NOT NULL,"
    "  at INTEGER NOT NULL"
    ") WITHOUT ROWID;"
    "CREATE INDEX offsite_locks_until ON offsite_locks(retain_until);",
    /* 7 -> 8: what the offsite copy is when it is not the archive itself
     * (#21): an encrypted copy's SHA-256 and size, so a round can tell it is
     * still the object uploaded. NULL: a plain copy (the archive's bytes). */
    ("ALTER TABLE snapshots ADD COLUMN offsite_copy_sha256 TEXT;"
     "ALTER TABLE snapshots ADD COLUMN offsite_copy_size INTEGER;"),
};

#define N_MIGRATIONS (sizeof(migrations) / sizeof(migrations[0]))

int catalog_fail(struct catalog *c, struct err *e, const char *what)
{
    int rc = sqlite3_errcode(c->db);

    if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED)
        return err_set(e, ERR_LOCKED, "catalog busy (%s)", what);
    /* SQLite reports a full disk as FULL, or as an I/O error when the WAL
     * index can't grow: say which it is. */
    if (rc == SQLITE_FULL || ((rc == SQLITE_IOERR || rc == SQLITE_CANTOPEN || c->readonly) &&
                              disk_full(c)))
        return err_set(e, ERR_NO_SPACE, "no space left on the store's disk (catalog: %s)", what);
    if (rc == SQLITE_READONLY && c->readonly)
        return err_set(e, ERR_NO_SPACE, "no space left on the store's disk (catalog is read-only)");
    return err_set(e, ERR_IO, "catalog: %s: %s", what, sqlite3_errmsg(c->db));
}

int catalog_exec(struct catalog *c, const char *sql, struct err *e)
{
    if (sqlite3_exec(c->db, sql, NULL, NULL, NULL) != SQLITE_OK)
        return catalog_fail(c, e, "exec");
    return 0;
}

static int migrate(struct catalog *c, struct err *e)
{
    sqlite3_stmt *st = NULL;
    int version;

    if (catalog_exec(c, "BEGIN IMMEDIATE", e) != 0)
        return -1;
    if (sqlite3_prepare_v2(c->db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK ||
        sqlite3_step(st) != SQLITE_ROW) {
        sqlite3_finalize(st);
        catalog_fail(c, e, "read schema version");
        goto fail;
    }
    version = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    if (version > (int)N_MIGRATIONS) {
        err_set(e, ERR_IO, "catalog schema version %d is newer than this statesnap (%zu)",
                version, N_MIGRATIONS);
        goto fail;
    }
    for (; version < (int)N_MIGRATIONS; version++) {
        char pragma[64];
        if (catalog_exec(c, migrations[version], e) != 0)
            goto fail;
        snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %d", version + 1);
        if (catalog_exec(c, pragma, e) != 0)
            goto fail;
    }
    return catalog_exec(c, "COMMIT", e);
fail:
    sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
    return -1;
}

static int open_readonly(struct catalog *c, const char *path)
{
    char uri[4200];
    sqlite3_stmt *st = NULL;
    int version = -1;

    sqlite3_close(c->db);
    c->db = NULL;
    if (snprintf(uri, sizeof(uri), "file:%s?immutable=1", path) >= (int)sizeof(uri) ||
        sqlite3_open_v2(uri, &c->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI | SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK)
        return -1;
    if (sqlite3_prepare_v2(c->db, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        version = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    /* An empty or older catalog can't be migrated without room: no fallback. */
    if (version != (int)N_MIGRATIONS)
        return -1;
    c->readonly = 1;
    return 0;
}

/* Process-wide SQLite settings, before its first use. Without memory
 * statistics sqlite3_malloc takes no global mutex: the server's worker
 * threads each have a connection, and that mutex was where they queued. */
static pthread_once_t sqlite_once = PTHREAD_ONCE_INIT;

static void sqlite_setup(void)
{
    (void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

int catalog_open(struct catalog **out, const char *path, struct err *e)
{
    struct catalog *c;

    *out = NULL;
    (void)pthread_once(&sqlite_once, sqlite_setup);
    if ((c = calloc(1, sizeof(*c))) == NULL)
        return err_set(e, ERR_IO, "out of memory");
    snprintf(c->dir, sizeof(c->dir), "%s", path);
    char *slash = strrchr(c->dir, '/');
    if (slash != NULL)
        *slash = '\0';
    else
        snprintf(c->dir, sizeof(c->dir), ".");
    if (sqlite3_open_v2(path, &c->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL) !=
        SQLITE_OK) {
        err_set(e, ERR_IO, "open catalog %s: %s", path,
                c->db ? sqlite3_errmsg(c->db) : "out of memory");
        goto fail;
    }
    sqlite3_busy_timeout(c->db, CATALOG_BUSY_TIMEOUT_MS);
    sqlite3_extended_result_codes(c->db, 0);
    /* WAL lets readers run beside the one writer; synchronous=FULL makes
     * every commit durable before it returns. */
    /* A 128 KiB page cache per connection (the server keeps one per worker
     * thread): lists and lookups are index-driven, a bigger cache only grows RSS. */
    if (catalog_exec(c, "PRAGMA journal_mode=WAL", e) || catalog_exec(c, "PRAGMA synchronous=FULL", e) ||
        catalog_exec(c, "PRAGMA cache_size=-128", e) ||
        catalog_exec(c, "PRAGMA foreign_keys=ON", e) || migrate(c, e) != 0) {
        /* On a full disk the WAL index can't be created, yet reading what is
         * there must still work: fall back to a read-only view of the file
         * (the last writer checkpointed it when it closed). */
        if (e->code == ERR_NO_SPACE && open_readonly(c, path) == 0) {
            err_clear(e);
            *out = c;
            return 0;
        }
        goto fail;
    }
    *out = c;
    return 0;
fail:
    catalog_close(c);
    return -1;
}

void catalog_close(struct catalog *c)
{
    size_t i;

    if (c == NULL)
        return;
    for (i = 0; i < CATALOG_STMT_CACHE; i++) {
        sqlite3_finalize(c->stmts[i].st);
        free(c->stmts[i].sql);
    }
    sqlite3_close(c->db);
    free(c);
}

sqlite3 *catalog_handle(struct catalog *c)
{
    return c->db;
}

int catalog_begin(struct catalog *c, struct err *e)
{
    return catalog_exec(c, "BEGIN IMMEDIATE", e);
}

int catalog_commit(struct catalog *c, struct err *e)
{
    if (catalog_exec(c, "COMMIT", e) != 0) {
        catalog_rollback(c);
        return -1;
    }
    return 0;
}

void catalog_checkpoint(struct catalog *c)
{
    if (c == NULL || c->readonly)
        return;
    (void)sqlite3_wal_checkpoint_v2(c->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
}

int catalog_in_transaction(struct catalog *c)
{
    return !sqlite3_get_autocommit(c->db);
}

void catalog_rollback(struct catalog *c)
{
    if (!sqlite3_get_autocommit(c->db))
        sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
}

int catalog_prepare(struct catalog *c, const char *sql, sqlite3_stmt **st)
{
    struct cached_stmt *free_slot = NULL;
    size_t i;

    for (i = 0; i < CATALOG_STMT_CACHE; i++) {
        struct cached_stmt *cs = &c->stmts[i];
        if (cs->st == NULL) {
            if (free_slot == NULL)
                free_slot = cs;
        } else if (!cs->busy && strcmp(cs->sql, sql) == 0) {
            cs->busy = 1;
            *st = cs->st;
            return 0;
        }
    }
    int rc = sqlite3_prepare_v3(c->db, sql, -1, free_slot ? SQLITE_PREPARE_PERSISTENT : 0, st, NULL);

    if (rc != SQLITE_OK)
        return rc;
    /* Full cache (many list filter combinations): this one is not kept. */
    if (free_slot != NULL && (free_slot->sql = strdup(sql)) != NULL) {
        free_slot->st = *st;
        free_slot->busy = 1;
    }
    return SQLITE_OK;
}

int catalog_stmt(struct catalog *c, const char *sql, sqlite3_stmt **st, struct err *e)
{
    if (catalog_prepare(c, sql, st) != SQLITE_OK)
        return catalog_fail(c, e, "prepare");
    return 0;
}

void catalog_release(struct catalog *c, sqlite3_stmt *st)
{
    size_t i;

    if (st == NULL)
        return;
    for (i = 0; i < CATALOG_STMT_CACHE; i++) {
        if (c->stmts[i].st == st) {
            (void)sqlite3_reset(st);
            (void)sqlite3_clear_bindings(st);
            c->stmts[i].busy = 0;
            return;
        }
    }
    sqlite3_finalize(st);
}

int catalog_version(struct catalog *c, struct catalog_version *v, struct err *e)
{
    sqlite3_stmt *st = NULL;

    if (catalog_stmt(c, "PRAGMA data_version", &st, e) != 0)
        return -1;
    if (sqlite3_step(st) != SQLITE_ROW) {
        catalog_release(c, st);
        return catalog_fail(c, e, "read data version");
    }
    v->others = sqlite3_column_int64(st, 0);
    catalog_release(c, st);
    v->own = sqlite3_total_changes64(c->db);
    return 0;
}
