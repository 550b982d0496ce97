/* meta.c - facts about the state root: version, git commit, positions count, host. */
#include "meta.h"

#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../common/fsutil.h"

#define META_SMALL_FILE (64u * 1024)
#define META_PACKED_REFS_MAX (64u << 20)
#define META_CONFIG_MAX (16u << 20)

/* A version string must be short and printable to go in a table. */
static int clean_copy(const char *in, size_t n, char *out, size_t len)
{
    size_t i = 0;

    while (n > 0 && isspace((unsigned char)*in))
        in++, n--;
    while (n > 0 && isspace((unsigned char)in[n - 1]))
        n--;
    if (n == 0 || n >= len || n > 64)
        return -1;
    for (i = 0; i < n; i++) {
        if (!isgraph((unsigned char)in[i]))
            return -1;
        out[i] = in[i];
    }
    out[n] = '\0';
    return 0;
}

void meta_version(const char *root, const char *tag, char *out, size_t len)
{
    char path[PATH_MAX], *buf = NULL;
    size_t n;
    struct err e = { 0 };

    if (tag != NULL && clean_copy(tag, strlen(tag), out, len) == 0)
        return;
    if (fs_join(path, sizeof(path), root, "VERSION", &e) == 0 &&
        fs_read_file(path, META_SMALL_FILE, &buf, &n, &e) == 0) {
        char *nl = memchr(buf, '\n', n);
        int ok = clean_copy(buf, nl ? (size_t)(nl - buf) : n, out, len);
        free(buf);
        if (ok == 0)
            return;
    }
    err_clear(&e);
    if (fs_join(path, sizeof(path), root, "config/config.json", &e) == 0 &&
        fs_read_file(path, META_CONFIG_MAX, &buf, &n, &e) == 0) {
        json_t *doc = json_loadb(buf, n, 0, NULL);
        const char *v = json_string_value(json_object_get(doc, "version"));
        int ok = v ? clean_copy(v, strlen(v), out, len) : -1;
        json_decref(doc);
        free(buf);
        if (ok == 0)
            return;
    }
    snprintf(out, len, "unknown");
}

static int is_hex_id(const char *s, size_t n)
{
    if (n != 40 && n != 64)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!isxdigit((unsigned char)s[i]) || isupper((unsigned char)s[i]))
            return 0;
    return 1;
}

static int read_small(const char *dir, const char *name, char **buf, size_t *n)
{
    char path[PATH_MAX];
    struct err e = { 0 };

    if (fs_join(path, sizeof(path), dir, name, &e) != 0)
        return -1;
    return fs_read_file(path, META_SMALL_FILE, buf, n, &e);
}

static void trim(char *s)
{
    size_t n = strlen(s);

    while (n > 0 && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
}

static int lookup_ref(const char *gitdir, const char *common, const char *ref, char *out,
                      size_t len)
{
    char *buf = NULL, path[PATH_MAX];
    size_t n;
    struct err e = { 0 };

    /* Loose ref first (in the worktree's dir, then the common dir), then packed-refs. */
    for (int pass = 0; pass < 2; pass++) {
        const char *dir = pass == 0 ? gitdir : common;
        if (read_small(dir, ref, &buf, &n) == 0) {
            trim(buf);
            if (is_hex_id(buf, strlen(buf)) && strlen(buf) < len) {
                snprintf(out, len, "%s", buf);
                free(buf);
                return 0;
            }
            free(buf);
        }
    }
    if (fs_join(path, sizeof(path), common, "packed-refs", &e) != 0 ||
        fs_read_file(path, META_PACKED_REFS_MAX, &buf, &n, &e) != 0)
        return -1;
    char *save = NULL;
    for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *sp = strchr(line, ' ');
        if (line[0] == '#' || line[0] == '^' || sp == NULL)
            continue;
        *sp = '\0';
        trim(sp + 1);
        if (strcmp(sp + 1, ref) == 0 && is_hex_id(line, strlen(line)) && strlen(line) < len) {
            snprintf(out, len, "%s", line);
            free(buf);
            return 0;
        }
    }
    free(buf);
    return -1;
}

void meta_git_commit(const char *root, char *out, size_t len)
{
    char gitdir[PATH_MAX], common[PATH_MAX], *buf = NULL;
    size_t n;
    struct err e = { 0 };

    out[0] = '\0';
    if (fs_join(gitdir, sizeof(gitdir), root, ".git", &e) != 0)
        return;
    /* .git may be a file "gitdir: PATH" (worktrees, submodules). */
    if (fs_read_file(gitdir, META_SMALL_FILE, &buf, &n, &e) == 0) {
        trim(buf);
        if (strncmp(buf, "gitdir: ", 8) != 0) {
            free(buf);
            return;
        }
        if (buf[8] == '/')
            snprintf(gitdir, sizeof(gitdir), "%s", buf + 8);
        else if (snprintf(gitdir, sizeof(gitdir), "%s/%s", root, buf + 8) >= (int)sizeof(gitdir)) {
            free(buf);
            return;
        }
        free(buf);
    }
    snprintf(common, sizeof(common), "%s", gitdir);
    if (read_small(gitdir, "commondir", &buf, &n) == 0) {
        trim(buf);
        if (buf[0] == '/')
            snprintf(common, sizeof(common), "%s", buf);
        else if (snprintf(common, sizeof(common), "%s/%s", gitdir, buf) >= (int)sizeof(common))
            snprintf(common, sizeof(common), "%s", gitdir);
        free(buf);
    }
    if (read_small(gitdir, "HEAD", &buf, &n) != 0)
        return;
    trim(buf);
    if (strncmp(buf, "ref: ", 5) == 0) {
        const char *ref = buf + 5;
        /* A ref name is refs/... with no ".." (it becomes a path). */
        if (strncmp(ref, "refs/", 5) == 0 && strstr(ref, "..") == NULL)
            lookup_ref(gitdir, common, ref, out, len);
    } else if (is_hex_id(buf, strlen(buf)) && strlen(buf) < len) {
        snprintf(out, len, "%s", buf);
    }
    free(buf);
}

int64_t meta_positions_count_json(const json_t *doc)
{
    const json_t *p;

    if (json_is_array(doc))
        return (int64_t)json_array_size(doc);
    if (!json_is_object(doc))
        return -1;
    p = json_object_get(doc, "positions");
    if (json_is_array(p))
        return (int64_t)json_array_size(p);
    if (json_is_object(p))
        return (int64_t)json_object_size(p);
    /* An object map symbol -> position: count the object-valued members. */
    int64_t n = 0;
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)doc, k, v) {
        (void)k;
        if (json_is_object(v))
            n++;
    }
    return n;
}

int64_t meta_positions_count(const char *json, size_t len)
{
    json_t *doc = json_loadb(json, len, JSON_DECODE_ANY, NULL);
    int64_t n = doc ? meta_positions_count_json(doc) : -1;

    json_decref(doc);
    return n;
}

void meta_host(char *out, size_t len)
{
    if (gethostname(out, len) != 0 || out[0] == '\0')
        snprintf(out, len, "unknown");
    out[len - 1] = '\0';
}
