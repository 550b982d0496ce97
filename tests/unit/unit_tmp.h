/* unit_tmp.h - a fresh scratch directory for each unit test case and the
 * path of one file in it, for cmocka setup and teardown functions. */
#ifndef STATESNAP_UNIT_TMP_H
#define STATESNAP_UNIT_TMP_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/fsutil.h"

#define UNIT_TMP_TEMPLATE "/tmp/statesnap-unit-" FS_TEMPLATE_TAIL

/* SQL that takes a current catalog back to schema 2 (what the previous
 * release wrote), for migration tests; the caller sets user_version. */
#define UNIT_CATALOG_DOWN_TO_2                                  \
    "DROP TABLE offsite_locks;"                                 \
    "DROP INDEX snapshots_not_signed;"                          \
    "ALTER TABLE snapshots DROP COLUMN signature;"              \
    "ALTER TABLE snapshots DROP COLUMN signer;"                 \
    "ALTER TABLE snapshots DROP COLUMN offsite_copy_sha256;"    \
    "ALTER TABLE snapshots DROP COLUMN offsite_copy_size;"      \
    "DROP TRIGGER audit_ops_ins; DROP TABLE audit_ops;"         \
    "DROP TABLE audit_flushed;"                                 \
    "DROP TABLE drills; DROP TABLE drill_totals;"               \
    "DROP INDEX snapshots_changed;"                             \
    "ALTER TABLE snapshots DROP COLUMN consistency;"            \
    "ALTER TABLE snapshots DROP COLUMN chain;"                  \
    "ALTER TABLE snapshots DROP COLUMN empty;"

static char unit_dir[sizeof(UNIT_TMP_TEMPLATE)];
static char unit_path[sizeof(UNIT_TMP_TEMPLATE) + 64];

/* Make unit_dir afresh and point unit_path at file in it. Returns 0 or -1. */
static inline int unit_tmp_make(const char *file)
{
    strcpy(unit_dir, UNIT_TMP_TEMPLATE);
    if (mkdtemp(unit_dir) == NULL)
        return -1;
    return snprintf(unit_path, sizeof(unit_path), "%s/%s", unit_dir, file) < (int)sizeof(unit_path) ? 0 : -1;
}

/* Remove unit_dir and everything in it. Returns 0 or -1. */
static inline int unit_tmp_remove(void)
{
    char cmd[sizeof(unit_dir) + 16];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", unit_dir);
    return system(cmd) == 0 ? 0 : -1;
}

#endif
