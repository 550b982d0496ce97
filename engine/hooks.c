/* hooks.c - run an operator's command around an operation (pre/post hooks). */
#include "hooks.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define HOOK_KILL_GRACE_MS 1000     /* SIGTERM, then this long, then SIGKILL */
#define HOOK_LINGER_MS 200          /* output read after the command exited */

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The child's environment: ours without any STATESNAP_* variable (tokens and
 * keys live there), then the caller's. NULL on allocation failure. */
static char **hook_env(const char *const *extra)
{
    size_t n = 0, k = 0, m = 0;
    char **env;

    for (char **p = environ; p && *p; p++)
        n++;
    while (extra && extra[m])
        m++;
    if ((env = calloc(n + m + 1, sizeof(*env))) == NULL)
        return NULL;
    for (size_t i = 0; i < m; i++)
        env[k++] = (char *)extra[i];
    for (char **p = environ; p && *p; p++)
        if (strncmp(*p, "STATESNAP_", 10) != 0)
            env[k++] = *p;
    env[k] = NULL;
    return env;
}

static int secret_name(const char *name, size_t len)
{
    static const char *const words[] = { "KEY", "SECRET", "TOKEN", "PASSWORD", "PASSWD",
                                          "PASSPHRASE", "AUTH", "CREDENTIAL", "PRIVATE", NULL };
    char up[128];

    if (len == 0 || len >= sizeof(up))
        return 0;
    for (size_t i = 0; i < len; i++)
        up[i] = (char)toupper((unsigned char)name[i]);
    up[len] = '\0';
    for (int i = 0; words[i]; i++)
        if (strstr(up, words[i]) != NULL)
            return 1;
    return 0;
}

/* Overwrite text[from..to) (at least 3 bytes) with "***", closing the gap.
 * Returns the new length. */
static size_t mask_span(char *text, size_t len, size_t from, size_t to)
{
    memcpy(text + from, "***", 3);
    memmove(text + from + 3, text + to, len - to + 1);
    return len - (to - from) + 3;
}

void hook_redact(char *text)
{
    size_t len = strlen(text), i = 0;

    while (i < len) {
        /* A word: [A-Za-z0-9_.-]+ followed by '=' or ':' and a value. */
        size_t w = i;
        while (w < len && (isalnum((unsigned char)text[w]) || text[w] == '_' || text[w] == '-' ||
                           text[w] == '.'))
            w++;
        if (w > i && w < len && (text[w] == '=' || text[w] == ':') && secret_name(text + i, w - i)) {
            size_t v = w + 1, end;
            while (v < len && text[v] == ' ')
                v++;
            /* To the end of the line: a value may have spaces ("Bearer x"). */
            end = v;
            while (end < len && text[end] != '\n')
                end++;
            if (end > v && !(end - v == 3 && memcmp(text + v, "***", 3) == 0)) {
                /* A secret of up to 2 bytes grows to "***": the buffer may
                 * not have room, so such short values are only blanked. */
                if (end - v < 3)
                    memset(text + v, '*', end - v);
                else
                    len = mask_span(text, len, v, end);
                i = v + 3;
                continue;
            }
            i = end;
            continue;
        }
        if (w - i == 6 && strncasecmp(text + i, "bearer", 6) == 0 && w < len && text[w] == ' ') {
            size_t v = w + 1, end = v;
            while (end < len && !isspace((unsigned char)text[end]))
                end++;
            if (end - v >= 3 && !(end - v == 3 && memcmp(text + v, "***", 3) == 0)) {
                len = mask_span(text, len, v, end);
                i = v + 3;
                continue;
            }
        }
        i = w > i ? w : i + 1;
    }
}

/* Keep printable UTF-8-ish text: control bytes other than \n and \t become '?'. */
static void scrub_controls(char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c < 0x20 && c != '\n' && c != '\t') || c == 0x7f)
            s[i] = '?';
    }
}

int hook_run(const struct hook_spec *h, const char *what, const char *const *env,
             json_t **result, struct err *e)
{
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    char out[HOOK_OUTPUT_MAX + 1];
    size_t out_len = 0;
    uint64_t dropped = 0;
    int pipefd[2] = { -1, -1 }, status = 0, reaped = 0, timed_out = 0, eof = 0, rc;
    int64_t start = now_ms(), deadline, reaped_at = 0;
    long timeout = h->timeout_ms > 0 ? h->timeout_ms : HOOK_DEFAULT_TIMEOUT_MS;
    char **envp;
    pid_t pid;
    json_t *argv_json;

    *result = NULL;
    if (h->argv == NULL || h->argc == 0)
        return err_set(e, ERR_INVALID, "hook %s has no command", what);
    if (pipe2(pipefd, O_CLOEXEC) != 0)
        return err_sys(e, errno, "hook %s: pipe", what);
    if ((envp = hook_env(env)) == NULL) {
        close(pipefd[0]);
        close(pipefd[1]);
        return err_set(e, ERR_IO, "out of memory");
    }
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, pipefd[1], 1);
    posix_spawn_file_actions_adddup2(&fa, pipefd[1], 2);
    posix_spawn_file_actions_addclosefrom_np(&fa, 3);
    posix_spawnattr_init(&attr);
    {
        sigset_t none, all;
        sigemptyset(&none);
        sigfillset(&all);
        posix_spawnattr_setsigmask(&attr, &none);
        posix_spawnattr_setsigdefault(&attr, &all);
    }
    posix_spawnattr_setpgroup(&attr, 0);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
                                        POSIX_SPAWN_SETSIGDEF);
    rc = posix_spawnp(&pid, h->argv[0], &fa, &attr, (char *const *)h->argv, envp);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    free(envp);
    close(pipefd[1]);
    argv_json = json_array();
    for (size_t i = 0; i < h->argc; i++)
        json_array_append_new(argv_json, json_string(h->argv[i]));
    if (rc != 0) {
        close(pipefd[0]);
        *result = json_pack("{s:s,s:o,s:n,s:n,s:b,s:I,s:s,s:b}", "hook", what, "argv", argv_json,
                            "exit_code", "signal", "timed_out", 0, "duration_ms", (json_int_t)0,
                            "output", strerror(rc), "output_truncated", 0);
        return err_set(e, ERR_HOOK, "hook %s: cannot run %.100s: %s", what, h->argv[0],
                       strerror(rc));
    }
    fcntl(pipefd[0], F_SETFL, O_NONBLOCK);
    deadline = start + timeout;
    for (;;) {
        int64_t now = now_ms();
        if (!reaped) {
            pid_t r = waitpid(pid, &status, WNOHANG);
            if (r == pid || (r < 0 && errno == ECHILD)) {
                reaped = 1;
                reaped_at = now;
            }
        }
        /* The command is done: read what it left in the pipe, but do not
         * wait for a child it put in the background and that keeps the pipe. */
        if (reaped && (eof || now - reaped_at >= HOOK_LINGER_MS))
            break;
        if (!reaped && now >= deadline) {
            timed_out = 1;
            kill(-pid, SIGTERM);
            for (int64_t t = now_ms(); now_ms() - t < HOOK_KILL_GRACE_MS;) {
                if (waitpid(pid, &status, WNOHANG) == pid) {
                    reaped = 1;
                    break;
                }
                poll(NULL, 0, 10);
            }
            kill(-pid, SIGKILL);
            if (!reaped && waitpid(pid, &status, 0) == pid)
                reaped = 1;
            break;
        }
        if (eof) {
            poll(NULL, 0, 5);
            continue;
        }
        struct pollfd p = { .fd = pipefd[0], .events = POLLIN };
        int wait = (int)(deadline - now);
        if (wait > 20)
            wait = 20;
        if (wait < 0)
            wait = 0;
        if (poll(&p, 1, wait) > 0) {
            char buf[4096];
            ssize_t r = read(pipefd[0], buf, sizeof(buf));
            if (r == 0) {
                eof = 1;
            } else if (r > 0) {
                size_t keep = (size_t)r;
                if (keep > HOOK_OUTPUT_MAX - out_len)
                    keep = HOOK_OUTPUT_MAX - out_len;
                memcpy(out + out_len, buf, keep);
                out_len += keep;
                dropped += (uint64_t)r - keep;
            } else if (errno != EAGAIN && errno != EINTR) {
                eof = 1;
            }
        }
    }
    close(pipefd[0]);
    out[out_len] = '\0';
    scrub_controls(out, out_len);
    /* Redaction can only shorten or keep the length of a span ≥ 3 bytes. */
    hook_redact(out);
    int64_t ms = now_ms() - start;
    int code = reaped && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    int sig = reaped && WIFSIGNALED(status) ? WTERMSIG(status) : 0;
    *result = json_pack("{s:s,s:o,s:o,s:o,s:b,s:I,s:s,s:b}", "hook", what, "argv", argv_json,
                        "exit_code", code >= 0 ? json_integer(code) : json_null(),
                        "signal", sig ? json_integer(sig) : json_null(), "timed_out", timed_out,
                        "duration_ms", (json_int_t)ms, "output", out,
                        "output_truncated", dropped > 0);
    if (timed_out)
        return err_set(e, ERR_HOOK, "hook %s timed out after %ld ms and was killed", what,
                       timeout);
    if (sig)
        return err_set(e, ERR_HOOK, "hook %s was killed by signal %d", what, sig);
    if (code != 0)
        return err_set(e, ERR_HOOK, "hook %s failed with exit status %d%s%.120s", what, code,
                       out_len ? ": " : "", out);
    return 0;
}
