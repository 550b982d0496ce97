/* capture.h - which files of the state root go into a snapshot. */
#ifndef STATESNAP_CAPTURE_H
#define STATESNAP_CAPTURE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <jansson.h>

#include "engine.h"

#define CAPTURE_TMP_MARK ".statesnap-tmp"   /* restore temp files: never captured */

struct capture_file {
    char *rel;      /* path relative to the root, '/'-separated */
    char *abs;      /* path to open (a symlink's target inside the root) */
    const char *group;
    off_t size;     /* at the walk: orders the cut's reads, smallest first */
};

struct strpool;

struct capture_set {
    struct capture_file *files;  /* sorted by rel */
    size_t n;
    json_t *absent;     /* expected paths that are not there */
    json_t *warnings;   /* strings: skipped specials, symlinks out of the root, ... */
    char *env_path;     /* the .env to mask, or NULL */
    struct strpool *strings;  /* the files' paths (common/strpool.h) */
};

/* Walk cfg->root and collect the files matching the include globs (or the
 * defaults) and not the exclude globs. Never follows a symlink out of the
 * root, skips special files and every secret (a .env-like name, or the
 * dotenv or ROOT/.env by identity: a hard link, or a symlink resolving to
 * it), which goes through masking only. ERR_INVALID when the root is missing. Free with
 * capture_set_free (also after failure). */
int capture_scan(const struct engine_config *cfg, struct capture_set *out, struct err *e);

/* Free a capture set. Accepts a zeroed set. */
void capture_set_free(struct capture_set *c);

/* The group of a root-relative path: state, config, secrets or other. Cannot fail. */
const char *capture_group(const char *rel);

/* 1 if rel is one of the default expected files (restore and diff care). */
int capture_is_expected(const char *rel);

/* 1 if rel may be an archive entry: the path rule verify and import apply
 * (engine/manifest.h) and valid UTF-8. */
int capture_name_ok(const char *rel);

/* Write s into out (len bytes, NUL-terminated, cut if short) with a
 * backslash, control characters and non-ASCII bytes escaped (\\, \n, \t,
 * \xNN), safe to print. Cannot fail. */
void capture_escape(const char *s, char *out, size_t len);
/* 1 if base (a file name) is a secret's: .env, .env.*, .envrc, anything
 * starting ".env" or ending ".env". Such files only ever enter an archive
 * masked (the dotenv) or not at all. Cannot fail. */
int capture_is_secret_name(const char *base);

/* 1 if rel (a safe relative path) is one the store's current include set
 * allows: it matches cfg's include globs (or the defaults) and no exclude
 * glob, has no ".git" component, is not a secret's name or a restore temp
 * file, and is no deeper than the walk goes. Restore writes and deletes, and
 * import admits, only such paths. Cannot fail. */
int capture_path_allowed(const struct engine_config *cfg, const char *rel);

/* Check that the state root exists and is a directory. */
int capture_check_root(const struct engine_config *cfg, struct err *e);

#endif
