/* catalog_internal.h - the raw SQLite handle, for other db/ modules only. */
#ifndef STATESNAP_CATALOG_INTERNAL_H
#define STATESNAP_CATALOG_INTERNAL_H

#include <sqlite3.h>

#include "catalog.h"

/* The connection behind c (borrowed). Only db/ files may use it. */
sqlite3 *catalog_handle(struct catalog *c);

#endif
