/* meta.h - facts about the state root: version, git commit, positions count, host. */
#ifndef STATESNAP_META_H
#define STATESNAP_META_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "../common/err.h"

/* Version: tag if not NULL, else ROOT/VERSION, else "version" of
 * ROOT/config/config.json, else "unknown". Cannot fail; out gets at most len-1 chars. */
void meta_version(const char *root, const char *tag, char *out, size_t len);

/* The commit HEAD points at, read from ROOT/.git directly (gitdir files,
 * symbolic refs, loose refs, packed-refs). out = "" when not a repository
 * or unreadable. Cannot fail. */
void meta_git_commit(const char *root, char *out, size_t len);

/* Entries in a positions document: {"positions":[...]}, a bare array, or an
 * object map. -1 when it cannot be parsed. */
int64_t meta_positions_count(const char *json, size_t len);

/* Same, from a parsed document. */
int64_t meta_positions_count_json(const json_t *doc);

/* This host's name. Cannot fail. */
void meta_host(char *out, size_t len);

#endif
