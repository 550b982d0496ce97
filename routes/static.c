/* static.c - the dashboard: GET / and /static/... from the static/ directory,
 * with content types, revalidation (ETag) and a strict Content-Security-Policy. */
#include "routes.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define STATIC_PATH_MAX 256
#define STATIC_CSP "default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

static const struct {
    const char *ext;
    const char *type;
} types[] = {
    { ".html", "text/html; charset=utf-8" },
    { ".css", "text/css; charset=utf-8" },
    { ".js", "text/javascript; charset=utf-8" },
    { ".mjs", "text/javascript; charset=utf-8" },
    { ".json", "application/json" },
    { ".svg", "image/svg+xml" },
    { ".png", "image/png" },
    { ".ico", "image/x-icon" },
    { ".txt", "text/plain; charset=utf-8" },
    { ".woff2", "font/woff2" },
    { ".map", "application/json" },
};

static const char *type_for(const char *path)
{
    size_t n = strlen(path), i;

    for (i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        size_t el = strlen(types[i].ext);
        if (n > el && strcmp(path + n - el, types[i].ext) == 0)
            return types[i].type;
    }
    return "application/octet-stream";
}

/* Only plain relative paths: no empty or dot-leading segments (which also
 * rules out "." and ".."), no backslashes, bounded length. */
static int path_ok(const char *p)
{
    const char *seg = p;

    if (*p == '\0' || strlen(p) > STATIC_PATH_MAX || strchr(p, '\\') != NULL)
        return 0;
    for (;;) {
        const char *slash = strchr(seg, '/');
        if (*seg == '\0' || *seg == '/' || *seg == '.')
            return 0;
        if (slash == NULL)
            return 1;
        seg = slash + 1;
    }
}

/* Open rel (checked by path_ok) below dir without following a symlink in
 * any of its components: a link inside static/ (to a file or a directory)
 * must not let a request read outside it. Returns the descriptor or -1. */
static int open_below(const char *dir, const char *rel)
{
    char comp[STATIC_PATH_MAX + 1];
    const char *p = rel, *slash;
    int dfd, fd;

    if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
        return -1;
    while ((slash = strchr(p, '/')) != NULL) {
        size_t n = (size_t)(slash - p);
        memcpy(comp, p, n);   /* n <= STATIC_PATH_MAX: path_ok bounds the whole path */
        comp[n] = '\0';
        fd = openat(dfd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        close(dfd);
        if (fd < 0)
            return -1;
        dfd = fd;
        p = slash + 1;
    }
    fd = openat(dfd, p, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    close(dfd);
    return fd;
}

void route_static(const struct route_req *r, struct route_resp *o)
{
    char etag[64];
    const char *rel = r->rest, *inm;
    struct stat st;
    int fd = -1;

    /* GET / has no rest; "/static/" (an empty rest) is not a file. */
    if (rel == NULL)
        rel = "index.html";
    if (r->env->static_dir == NULL || !path_ok(rel)) {
        route_problem(o, 404, "no such file");
        return;
    }
    fd = open_below(r->env->static_dir, rel);
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        if (fd >= 0)
            close(fd);
        route_problem(o, 404, "no such file");
        return;
    }
    (void)snprintf(etag, sizeof(etag), "\"%llx-%llx\"", (unsigned long long)st.st_size,
                   (unsigned long long)st.st_mtim.tv_sec * 1000000000ULL +
                       (unsigned long long)st.st_mtim.tv_nsec);
    /* Files are not fingerprinted, so the browser revalidates each time; a
     * matching ETag costs one 304 and no body. */
    (void)route_header_add(o, "ETag", etag);
    (void)route_header_add(o, "Cache-Control", "no-cache");
    (void)route_header_add(o, "Content-Security-Policy", STATIC_CSP);
    (void)route_header_add(o, "Referrer-Policy", "no-referrer");
    inm = r->header(r, "If-None-Match");
    if (inm != NULL && strcmp(inm, etag) == 0) {
        close(fd);
        o->status = 304;
        o->content_type = NULL;
        return;
    }
    o->status = 200;
    o->content_type = type_for(rel);
    o->fd = fd;
    o->fd_size = (uint64_t)st.st_size;
}
