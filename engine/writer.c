/* writer.c - is the bot still writing its state root? */
#include "writer.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rootfs.h"

static int lock_held(const char *path, char *what, size_t len, struct err *e)
{
    struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
    int fd = open(path, O_RDWR | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);

    if (fd < 0)
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        if (errno == ENOENT)
            return 0;       /* no lock file: nobody holds it */
        return err_sys(e, errno, "bot.lock_file %s", path);
    }
    /* POSIX record locks (fcntl, lockf): who would block a write lock? */
    if (fcntl(fd, F_GETLK, &fl) == 0 && fl.l_type != F_UNLCK) {
        snprintf(what, len, "%s is locked by pid %ld", path, (long)fl.l_pid);
        close(fd);
        return 1;
    }
    /* flock locks: try to take one, and let go at once. */
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int busy = errno == EWOULDBLOCK;
        close(fd);
        if (busy) {
            snprintf(what, len, "%s is locked (flock) by another process", path);
            return 1;
        }
        return 0;
    }
    flock(fd, LOCK_UN);
    close(fd);
    return 0;
}

static int pid_alive(const char *path, char *what, size_t len, struct err *e)
{
    char buf[64], *end;
    ssize_t n;
    long pid;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);

    if (fd < 0) {
        if (errno == ENOENT)
            return 0;
        return err_sys(e, errno, "bot.pid_file %s", path);
    }
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return 0;           /* empty: a bot that removed its pid on the way out */
    buf[n] = '\0';
    errno = 0;
    pid = strtol(buf, &end, 10);
    if (errno != 0 || end == buf || pid <= 0 || pid == (long)getpid())
        return err_set(e, ERR_INVALID, "bot.pid_file %s does not hold a process id", path);
    if (kill((pid_t)pid, 0) == 0 || errno == EPERM) {
        snprintf(what, len, "pid %ld from %s is alive", pid, path);
        return 1;
    }
    return 0;               /* stale */
}

int writer_bot_running(const struct engine_config *cfg, char *what, size_t len, struct err *e)
{
    int r;

    what[0] = '\0';
    if (cfg->bot_lock_file != NULL && (r = lock_held(cfg->bot_lock_file, what, len, e)) != 0)
        return r;
    if (cfg->bot_pid_file != NULL && (r = pid_alive(cfg->bot_pid_file, what, len, e)) != 0)
        return r;
    return 0;
}

int writer_idents(const char *root, char *const *paths, size_t n, struct writer_ident *ids,
                  struct err *e)
{
    for (size_t i = 0; i < n; i++) {
        struct stat st;
        int r = rootfs_lstat(root, paths[i], &st, e);
        memset(&ids[i], 0, sizeof(ids[i]));
        if (r < 0)
            return -1;
        if (r == 0)
            continue;
        ids[i].present = 1;
        ids[i].dev = st.st_dev;
        ids[i].ino = st.st_ino;
        ids[i].mode = st.st_mode;
        ids[i].size = st.st_size;
        ids[i].mtime = st.st_mtim;
        ids[i].ctime = st.st_ctim;
    }
    return 0;
}

int writer_ident_eq(const struct writer_ident *a, const struct writer_ident *b)
{
    if (!a->present || !b->present)
        return a->present == b->present;
    return a->dev == b->dev && a->ino == b->ino && a->mode == b->mode && a->size == b->size &&
           a->mtime.tv_sec == b->mtime.tv_sec && a->mtime.tv_nsec == b->mtime.tv_nsec &&
           a->ctime.tv_sec == b->ctime.tv_sec && a->ctime.tv_nsec == b->ctime.tv_nsec;
}

static int64_t mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int writer_quiet(const char *root, char *const *paths, size_t n, const struct writer_ident *ids,
                 long ms, json_t *changed, struct err *e)
{
    struct writer_ident *now = calloc(n + 1, sizeof(*now));
    int64_t end = mono_ms() + (ms > 0 ? ms : 0);
    int moved = 0;

    if (now == NULL)
        return err_set(e, ERR_IO, "out of memory");
    for (;;) {
        if (writer_idents(root, paths, n, now, e) != 0) {
            free(now);
            return -1;
        }
        for (size_t i = 0; i < n; i++) {
            if (!writer_ident_eq(&ids[i], &now[i])) {
                json_array_append_new(changed, json_string(paths[i]));
                moved = 1;
            }
        }
        if (moved || mono_ms() >= end)
            break;
        usleep(WRITER_POLL_MS * 1000);
    }
    free(now);
    return moved;
}
