/* capture.c - which files of the state root go into a snapshot. */
#include "capture.h"

#include <dirent.h>
#include <errno.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../common/fsutil.h"
#include "../common/strpool.h"
#include "manifest.h"

#define CAPTURE_MAX_DEPTH 16

static const char *const default_include[] = {
    "state/*.json", "state/*.jsonl", "state/KILL_SWITCH",
    "config/config.json", "config/strategy*.json", "config/risk*.json",
};

/* The files the seed lists: when missing they are recorded as absent. */
static const char *const expected[] = {
    "config/config.json", "state/KILL_SWITCH", "state/hash_chain.jsonl",
    "state/idempotency_store.json", "state/orders.json", "state/pnl_history.json",
    "state/positions.json",
};

struct walk {
    const struct engine_config *cfg;
    const char *const *inc;
    size_t n_inc;
    char root_real[PATH_MAX];
    struct capture_set *out;
    size_t cap;
    struct err *e;
    size_t max_files;       /* cfg->max_files or the default */
    size_t over;            /* matching files past max_files: counted, not kept */
    int env_known;          /* env_dev/env_ino filled (lazily, by is_secret) */
    size_t n_env;
    dev_t env_dev[2];       /* the dotenv and ROOT/.env, by identity */
    ino_t env_ino[2];
};

const char *capture_group(const char *rel)
{
    if (strncmp(rel, "state/", 6) == 0)
        return "state";
    if (strncmp(rel, "config/", 7) == 0)
        return "config";
    if (strncmp(rel, "env/", 4) == 0)
        return "secrets";
    return "other";
}

int capture_is_expected(const char *rel)
{
    for (size_t i = 0; i < sizeof(expected) / sizeof(expected[0]); i++)
        if (strcmp(rel, expected[i]) == 0)
            return 1;
    return 0;
}

static int count_parts(const char *p)
{
    int n = 1;

    for (; *p; p++)
        if (*p == '/')
            n++;
    return n;
}

/* Could a file below directory rel (depth parts) match pattern? Compare the
 * first parts of the pattern with the directory's, one component at a time. */
static int dir_may_match(const char *pattern, const char *rel)
{
    char pbuf[PATH_MAX], rbuf[PATH_MAX];
    char *ps, *rs, *pp, *rp;

    if (count_parts(pattern) <= count_parts(rel))
        return 0;
    snprintf(pbuf, sizeof(pbuf), "%s", pattern);
    snprintf(rbuf, sizeof(rbuf), "%s", rel);
    pp = strtok_r(pbuf, "/", &ps);
    rp = strtok_r(rbuf, "/", &rs);
    while (rp != NULL && pp != NULL) {
        if (fnmatch(pp, rp, 0) != 0)
            return 0;
        pp = strtok_r(NULL, "/", &ps);
        rp = strtok_r(NULL, "/", &rs);
    }
    return 1;
}

static int matches_any(const char *rel, const char *const *globs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (fnmatch(globs[i], rel, FNM_PATHNAME) == 0)
            return 1;
    return 0;
}

static int warn(struct walk *w, const char *fmt, const char *rel)
{
    char buf[PATH_MAX + 128];

    snprintf(buf, sizeof(buf), fmt, rel);
    if (json_array_append_new(w->out->warnings, json_string(buf)) != 0)
        return err_set(w->e, ERR_IO, "out of memory");
    return 0;
}

/* 1 if s is valid UTF-8 (no overlongs, no surrogates). */
static int utf8_ok(const unsigned char *s)
{
    while (*s) {
        unsigned c = *s, n, min;
        if (c < 0x80) {
            s++;
            continue;
        }
        if ((c & 0xE0) == 0xC0)
            n = 1, min = 0x80, c &= 0x1F;
        else if ((c & 0xF0) == 0xE0)
            n = 2, min = 0x800, c &= 0x0F;
        else if ((c & 0xF8) == 0xF0)
            n = 3, min = 0x10000, c &= 0x07;
        else
            return 0;
        for (unsigned i = 1; i <= n; i++) {
            if ((s[i] & 0xC0) != 0x80)
                return 0;
            c = (c << 6) | (s[i] & 0x3F);
        }
        if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
            return 0;
        s += n + 1;
    }
    return 1;
}

int capture_name_ok(const char *rel)
{
    return manifest_path_safe(rel) && utf8_ok((const unsigned char *)rel);
}

void capture_escape(const char *s, char *out, size_t len)
{
    size_t o = 0;

    for (const unsigned char *p = (const unsigned char *)s; *p && o + 5 < len; p++) {
        if (*p == '\\') {
            out[o++] = '\\';
            out[o++] = '\\';
        } else if (*p == '\n') {
            out[o++] = '\\';
            out[o++] = 'n';
        } else if (*p == '\t') {
            out[o++] = '\\';
            out[o++] = 't';
        } else if (*p < 0x20 || *p >= 0x7f) {
            o += (size_t)snprintf(out + o, len - o, "\\x%02x", *p);
        } else {
            out[o++] = (char)*p;
        }
    }
    out[o < len ? o : len - 1] = '\0';
}

/* Is this entry of the walk a secret that only ever enters masked? By name
 * (capture_is_secret_name), and by identity: the dotenv or ROOT/.env under
 * another name (a hard link), or a symlink that resolves to one of them or
 * to a file with a secret's name. */
static int is_secret(struct walk *w, const char *base, const char *abs, const struct stat *st)
{
    struct stat id = *st, tst;
    char path[PATH_MAX], real[PATH_MAX];

    if (capture_is_secret_name(base))
        return 1;
    if (!w->env_known) {
        const char *cand[2] = { w->cfg->dotenv, NULL };
        if (fs_join(path, sizeof(path), w->cfg->root, ".env", NULL) == 0)
            cand[1] = path;
        for (size_t i = 0; i < 2; i++) {
            if (cand[i] != NULL && stat(cand[i], &tst) == 0) {
                w->env_dev[w->n_env] = tst.st_dev;
                w->env_ino[w->n_env++] = tst.st_ino;
            }
        }
        w->env_known = 1;
    }
    if (S_ISLNK(st->st_mode)) {
        const char *rb;
        if (stat(abs, &id) != 0)
            return 0;
        if (realpath(abs, real) != NULL && (rb = strrchr(real, '/')) != NULL &&
            capture_is_secret_name(rb + 1))
            return 1;
    }
    for (size_t i = 0; i < w->n_env; i++)
        if (id.st_dev == w->env_dev[i] && id.st_ino == w->env_ino[i])
            return 1;
    return 0;
}

static int add_file(struct walk *w, const char *rel, const char *abs, off_t size)
{
    struct capture_set *o = w->out;

    /* Past the cap the walk goes on counting, so the refusal can say how
     * many there are (and so how far to raise it). */
    if (o->n >= w->max_files) {
        w->over++;
        return 0;
    }
    if (o->n == w->cap) {
        size_t ncap = w->cap ? w->cap * 2 : 32;
        struct capture_file *nf = realloc(o->files, ncap * sizeof(*nf));
        if (nf == NULL)
            return err_set(w->e, ERR_IO, "out of memory");
        o->files = nf;
        w->cap = ncap;
    }
    struct capture_file *f = &o->files[o->n];
    size_t la = strlen(abs), lr = strlen(rel);
    f->abs = strpool_copy(&o->strings, abs, la);
    /* Mostly abs is ROOT/rel: then rel is its tail, one string a file, not two. */
    if (f->abs != NULL && la > lr && abs[la - lr - 1] == '/' && strcmp(abs + la - lr, rel) == 0)
        f->rel = f->abs + (la - lr);
    else
        f->rel = strpool_copy(&o->strings, rel, lr);
    f->group = capture_group(rel);
    f->size = size;
    o->n++;
    if (f->rel == NULL || f->abs == NULL)
        return err_set(w->e, ERR_IO, "out of memory");
    return 0;
}

static int walk_dir(struct walk *w, const char *abs_dir, const char *rel_dir, int depth)
{
    DIR *d;
    struct dirent *de;
    int rc = 0;

    if (depth > CAPTURE_MAX_DEPTH)
        return 0;
    if ((d = opendir(abs_dir)) == NULL) {
        if (errno == EACCES)
            return err_sys(w->e, errno, "cannot read directory %s", rel_dir[0] ? rel_dir : ".");
        return err_sys(w->e, errno, "open %s", abs_dir);
    }
    while ((de = readdir(d)) != NULL && rc == 0) {
        const char *base = de->d_name;
        char rel[PATH_MAX], abs[PATH_MAX];
        struct stat st;

        if (strcmp(base, ".") == 0 || strcmp(base, "..") == 0)
            continue;
        if (depth == 0 && strcmp(base, ".git") == 0)
            continue;
        if (snprintf(rel, sizeof(rel), "%s%s%s", rel_dir, rel_dir[0] ? "/" : "", base) >=
                (int)sizeof(rel) ||
            snprintf(abs, sizeof(abs), "%s/%s", abs_dir, base) >= (int)sizeof(abs)) {
            rc = warn(w, "skipped %s: path too long", base);
            continue;
        }
        if (lstat(abs, &st) != 0) {
            if (errno == ENOENT)  /* removed while we walked */
                continue;
            rc = err_sys(w->e, errno, "stat %s", rel);
            break;
        }
        if (S_ISDIR(st.st_mode) || S_ISLNK(st.st_mode)) {
            struct stat tst;
            int want = 0;
            int is_dir = S_ISDIR(st.st_mode) || (stat(abs, &tst) == 0 && S_ISDIR(tst.st_mode));
            for (size_t i = 0; i < w->n_inc && !want && is_dir; i++)
                want = dir_may_match(w->inc[i], rel);
            if (want && S_ISLNK(st.st_mode)) {
                /* A linked directory could lead anywhere, or loop: not followed. */
                rc = warn(w, "skipped %s: a symlinked directory is not followed", rel);
                continue;
            }
            if (want)
                rc = walk_dir(w, abs, rel, depth + 1);
            if (is_dir)
                continue;
        }
        if (!matches_any(rel, w->inc, w->n_inc) ||
            matches_any(rel, w->cfg->exclude, w->cfg->n_exclude))
            continue;
        if (strstr(base, CAPTURE_TMP_MARK) != NULL)
            continue;
        if (!capture_name_ok(rel)) {
            /* verify, restore and import would refuse the whole archive. */
            char shown[PATH_MAX * 4 + 1];
            capture_escape(rel, shown, sizeof(shown));
            rc = warn(w, "skipped %s: its name cannot go into an archive (control characters, "
                      "a backslash or ':', or not UTF-8)", shown);
            continue;
        }
        if (is_secret(w, base, abs, &st)) {
            /* A .env is a secret: it only ever enters an archive masked. */
            rc = warn(w, "skipped %s: .env files are captured masked only", rel);
            continue;
        }
        if (S_ISLNK(st.st_mode)) {
            char real[PATH_MAX];
            size_t rl = strlen(w->root_real);
            struct stat tst;
            if (realpath(abs, real) == NULL || strncmp(real, w->root_real, rl) != 0 ||
                real[rl] != '/' || stat(real, &tst) != 0 || !S_ISREG(tst.st_mode)) {
                rc = warn(w, "skipped %s: symlink leads outside the state root or not to a file",
                          rel);
                continue;
            }
            rc = add_file(w, rel, real, tst.st_size);
            continue;
        }
        if (!S_ISREG(st.st_mode)) {
            rc = warn(w, "skipped %s: not a regular file", rel);
            continue;
        }
        rc = add_file(w, rel, abs, st.st_size);
    }
    closedir(d);
    return rc;
}

static int cmp_files(const void *a, const void *b)
{
    return strcmp(((const struct capture_file *)a)->rel, ((const struct capture_file *)b)->rel);
}

int capture_check_root(const struct engine_config *cfg, struct err *e)
{
    struct stat st;

    if (cfg->root == NULL || *cfg->root == '\0')
        return err_set(e, ERR_INVALID, "no state root configured (use --root DIR or \"root\" in the config)");
    if (stat(cfg->root, &st) != 0)
        return err_set(e, ERR_INVALID, "state root %s: %s", cfg->root,
                       errno == ENOENT ? "no such directory" : "cannot be read");
    if (!S_ISDIR(st.st_mode))
        return err_set(e, ERR_INVALID, "state root %s is not a directory", cfg->root);
    return 0;
}

int capture_scan(const struct engine_config *cfg, struct capture_set *out, struct err *e)
{
    struct walk w;
    char envp[PATH_MAX];

    memset(out, 0, sizeof(*out));
    memset(&w, 0, sizeof(w));
    if (capture_check_root(cfg, e) != 0)
        return -1;
    out->absent = json_array();
    out->warnings = json_array();
    if (out->absent == NULL || out->warnings == NULL)
        return err_set(e, ERR_IO, "out of memory");
    w.cfg = cfg;
    w.out = out;
    w.e = e;
    w.inc = cfg->include ? cfg->include : default_include;
    w.n_inc = cfg->include ? cfg->n_include : sizeof(default_include) / sizeof(default_include[0]);
    if (realpath(cfg->root, w.root_real) == NULL)
        return err_sys(e, errno, "state root %s", cfg->root);
    w.max_files = cfg->max_files > 0 ? cfg->max_files : ENGINE_DEFAULT_MAX_FILES;
    if (walk_dir(&w, cfg->root, "", 0) != 0)
        return -1;
    if (w.over > 0)
        return err_set(e, ERR_TOO_LARGE, "%zu files match the include set, more than the %zu "
                       "one snapshot may hold (max_files): raise \"max_files\" in the config "
                       "(at most %d), or narrow \"include\" or add \"exclude\" globs",
                       w.over + out->n, w.max_files, ENGINE_MAX_FILES_HARD);
    /* An empty root leaves files NULL, which qsort and bsearch must not see. */
    if (out->n > 0)
        qsort(out->files, out->n, sizeof(out->files[0]), cmp_files);
    for (size_t i = 0; i < sizeof(expected) / sizeof(expected[0]); i++) {
        struct capture_file key = { .rel = (char *)expected[i] };
        if ((out->n == 0 || bsearch(&key, out->files, out->n, sizeof(key), cmp_files) == NULL) &&
            json_array_append_new(out->absent, json_string(expected[i])) != 0)
            return err_set(e, ERR_IO, "out of memory");
    }
    if (cfg->dotenv != NULL) {
        struct stat st;
        if (stat(cfg->dotenv, &st) != 0)
            return err_set(e, ERR_INVALID, "--dotenv %s: %s", cfg->dotenv,
                           errno == ENOENT ? "no such file" : "cannot be read");
        out->env_path = strdup(cfg->dotenv);
    } else {
        if (fs_join(envp, sizeof(envp), cfg->root, ".env", e) != 0)
            return -1;
        if (fs_exists(envp) == 1)
            out->env_path = strdup(envp);
        else if (json_array_append_new(out->absent, json_string(".env")) != 0)
            return err_set(e, ERR_IO, "out of memory");
    }
    return 0;
}

void capture_set_free(struct capture_set *c)
{
    if (c == NULL)
        return;
    strpool_free(&c->strings);
    free(c->files);
    json_decref(c->absent);
    json_decref(c->warnings);
    free(c->env_path);
    memset(c, 0, sizeof(*c));
}

int capture_is_secret_name(const char *base)
{
    size_t n = strlen(base);

    /* .env, .env.local, .envrc, .environment, and prod.env / bot.env. */
    return strncmp(base, ".env", 4) == 0 || (n > 4 && strcmp(base + n - 4, ".env") == 0);
}

int capture_path_allowed(const struct engine_config *cfg, const char *rel)
{
    const char *const *inc = cfg->include ? cfg->include : default_include;
    size_t n_inc = cfg->include ? cfg->n_include
                                : sizeof(default_include) / sizeof(default_include[0]);
    const char *base = strrchr(rel, '/');
    const char *c = rel;

    base = base ? base + 1 : rel;
    /* What the walk would never capture is never written either: .git (its
     * config runs commands), secrets, our own temp files, deeper than the walk. */
    if (count_parts(rel) > CAPTURE_MAX_DEPTH + 1 || capture_is_secret_name(base) ||
        strstr(rel, CAPTURE_TMP_MARK) != NULL)
        return 0;
    for (;;) {
        const char *slash = strchr(c, '/');
        size_t len = slash ? (size_t)(slash - c) : strlen(c);
        if (len == 4 && strncmp(c, ".git", 4) == 0)
            return 0;
        if (slash == NULL)
            break;
        c = slash + 1;
    }
    return matches_any(rel, inc, n_inc) &&
           !matches_any(rel, cfg->exclude, cfg->n_exclude);
}
