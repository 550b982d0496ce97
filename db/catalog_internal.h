/* catalog_internal.h - the raw SQLite handle, for other db/ modules only. */
#ifndef STATESNAP_CATALOG_INTERNAL_H
#define STATESNAP_CATALOG_INTERNAL_H

#include <sqlite3.h>

#include "catalog.h"

/* The connection behind c (borrowed). Only db/ files may use it. */
sqlite3 *catalog_handle(struct catalog *c);

/* A prepared statement for sql from the connection's cache (or a new one);
 * give it back with catalog_release(), which resets it. Returns an SQLite
 * result code; the message is in sqlite3_errmsg(catalog_handle(c)). */
int catalog_prepare(struct catalog *c, const char *sql, sqlite3_stmt **st);
void catalog_release(struct catalog *c, sqlite3_stmt *st);

/* catalog_prepare() that reports a failure in *e. Returns 0 or -1. */
int catalog_stmt(struct catalog *c, const char *sql, sqlite3_stmt **st, struct err *e);

/* Run sql (no results). Returns 0 or -1 with *e. */
int catalog_exec(struct catalog *c, const char *sql, struct err *e);

/* Set *e from the connection's last error, naming what failed: ERR_LOCKED
 * when busy, ERR_NO_SPACE when the disk is full, else ERR_IO. Returns -1. */
int catalog_fail(struct catalog *c, struct err *e, const char *what);

#endif
