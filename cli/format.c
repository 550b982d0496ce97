/* format.c - the seed's text blocks, rendered from the engine's documents. */
#include "format.h"

#include <string.h>

#include "../engine/engine.h"

void format_size(int64_t bytes, const char *sep, char *out, size_t len)
{
    static const char *const units[] = { "KB", "MB", "GB", "TB" };
    double v = (double)bytes;
    int u = -1;

    if (bytes < 1024) {
        snprintf(out, len, "%lld%sB", (long long)bytes, sep);
        return;
    }
    while (v >= 1024 && u < 3) {
        v /= 1024;
        u++;
    }
    snprintf(out, len, "%.1f%s%s", v, sep, units[u]);
}

/* One piece of s at *i, escaped as format_safe says, into piece (>= 8 bytes). */
static size_t safe_piece(const char *s, size_t *i, char piece[8])
{
    size_t n;
    int32_t cp = engine_utf8_next(s + *i, &n);
    size_t len;

    if (cp < 0 || cp < 0x20 || cp == 0x7f)
        len = (size_t)snprintf(piece, 8, "\\x%02x", (unsigned char)s[*i]);
    else if (engine_char_unsafe(cp))
        len = (size_t)snprintf(piece, 8, "\\u%04x", (unsigned)cp);
    else {
        memcpy(piece, s + *i, n);
        piece[n] = '\0';
        len = n;
    }
    *i += n;
    return len;
}

size_t format_safe(FILE *out, const char *s)
{
    char piece[8];
    size_t i = 0, total = 0;

    while (s && s[i]) {
        size_t n = safe_piece(s, &i, piece);
        fwrite(piece, 1, n, out);
        total += n;
    }
    return total;
}

void format_safe_str(char *buf, size_t len, const char *s)
{
    char piece[8];
    size_t i = 0, used = 0;

    if (len == 0)
        return;
    buf[0] = '\0';
    while (s && s[i]) {
        size_t n = safe_piece(s, &i, piece);
        if (used + n + 1 > len)
            break;
        memcpy(buf + used, piece, n + 1);
        used += n;
    }
}

const char *format_safe_arg(char *buf, size_t len, const char *s)
{
    format_safe_str(buf, len, s);
    return buf;
}

static const char *str(const json_t *o, const char *k)
{
    const char *v = json_string_value(json_object_get(o, k));

    return v ? v : "";
}

/* "Capture:" and "Chain:" lines: what cut the snapshot is, and the chain's
 * tip. Snapshots older than consistent cuts print neither. */
static void format_capture(FILE *out, const json_t *snap)
{
    const json_t *c = json_object_get(snap, "consistency"), *ch = json_object_get(snap, "chain");
    const json_t *sig = json_object_get(snap, "signature"), *v;
    size_t i;

    if (json_is_object(sig)) {
        if (strcmp(str(sig, "state"), "signed") == 0)
            fprintf(out, "Signature: signed by key %s\n", str(sig, "key_id"));
        else if (strcmp(str(sig, "state"), "untrusted") == 0)
            fputs("Signature: [!] UNTRUSTED: signed by no trusted key (admitted with "
                  "--allow-unsigned)\n", out);
        else
            fputs("Signature: [!] UNSIGNED (made before signing, or admitted with "
                  "--allow-unsigned)\n", out);
    }
    if (json_is_object(c)) {
        long long n = (long long)json_integer_value(json_object_get(c, "attempts"));
        double ms = json_number_value(json_object_get(c, "window_ms"));
        if (strcmp(str(c, "state"), "consistent") == 0) {
            fprintf(out, "Capture: consistent cut (%lld attempt%s, window %.1f ms)\n", n,
                    n == 1 ? "" : "s", ms);
        } else {
            fprintf(out, "Capture: [!] NOT A CONSISTENT CUT (%lld attempt%s): changed while read:",
                    n, n == 1 ? "" : "s");
            json_array_foreach(json_object_get(c, "changed"), i, v) {
                fputs(i ? ", " : " ", out);
                format_safe(out, json_string_value(v));
            }
            fputc('\n', out);
        }
    }
    if (json_is_object(ch)) {
        fputs("Chain: ", out);
        format_safe(out, str(ch, "path"));
        fprintf(out, ", %lld lines", (long long)json_integer_value(json_object_get(ch, "lines")));
        if (json_is_integer(json_object_get(ch, "last_seq")))
            fprintf(out, ", last seq %lld",
                    (long long)json_integer_value(json_object_get(ch, "last_seq")));
        if (json_is_true(json_object_get(ch, "links_ok")))
            fputs(", links ok\n", out);
        else
            fprintf(out, ", [!] links broken at line %lld\n",
                    (long long)json_integer_value(json_object_get(ch, "first_bad_line")));
    }
}

void format_created_head(FILE *out, const json_t *snap)
{
    char size[32];

    format_size(json_integer_value(json_object_get(snap, "size")), " ", size, sizeof(size));
    fprintf(out, "SNAPSHOT CREATED\n================\n");
    fputs("Name: ", out);
    format_safe(out, str(snap, "name"));
    /* The seed's block, line for line: a consistent cut adds nothing here
     * (show has the Capture and Chain lines); a flagged one is a warning. */
    fprintf(out, "\nTime: %s\nSize: %s\n\nCONTENTS:\n", str(snap, "created_at"), size);
}

void format_created_file(FILE *out, const char *path, const char *sha256)
{
    fputs("  ", out);
    format_safe(out, path);
    fprintf(out, " (SHA256: %s)\n", sha256);
}

void format_created_tail(FILE *out, const json_t *snap, const char *restore_cmd)
{
    const json_t *w;
    size_t i;

    json_array_foreach(json_object_get(snap, "warnings"), i, w) {
        fputs("  [!] ", out);
        format_safe(out, json_string_value(w));
        fputc('\n', out);
    }
    fputs("\nLocation: ", out);
    format_safe(out, str(snap, "location"));
    fputs("\n\nRESTORE COMMAND:\n  ", out);
    format_safe(out, restore_cmd);
    fputc('\n', out);
}

void format_skipped(FILE *out, const json_t *snap)
{
    fprintf(out, "SNAPSHOT SKIPPED\n================\nNothing changed since the newest "
            "snapshot: no archive written.\nCurrent: ");
    format_safe(out, str(snap, "name"));
    fprintf(out, "\nTime: %s\nLocation: ", str(snap, "created_at"));
    format_safe(out, str(snap, "location"));
    fputc('\n', out);
}

void format_list(FILE *out, const json_t *page)
{
    const json_t *snaps = json_object_get(page, "snapshots"), *s;
    size_t i, w[4] = { 4, 4, 4, 7 };
    char size[32], total[32];
    int64_t count = json_integer_value(json_object_get(page, "total_count"));

    char name[4 * ENGINE_NAME_MAX + 1], version[1024];

    json_array_foreach(snaps, i, s) {
        format_size(json_integer_value(json_object_get(s, "size")), "", size, sizeof(size));
        format_safe_str(name, sizeof(name), str(s, "name"));
        format_safe_str(version, sizeof(version), str(s, "version"));
        if (strlen(name) > w[0])
            w[0] = strlen(name);
        w[1] = 10;
        if (strlen(size) > w[2])
            w[2] = strlen(size);
        if (strlen(version) > w[3])
            w[3] = strlen(version);
    }
    fprintf(out, "SNAPSHOTS\n=========\n");
    fprintf(out, "| %-*s | %-*s | %-*s | %-*s |\n", (int)w[0], "Name", (int)w[1], "Date",
            (int)w[2], "Size", (int)w[3], "Version");
    fputc('|', out);
    for (int c = 0; c < 4; c++) {
        for (size_t k = 0; k < w[c] + 2; k++)
            fputc('-', out);
        fputc('|', out);
    }
    fputc('\n', out);
    json_array_foreach(snaps, i, s) {
        char date[11];
        snprintf(date, sizeof(date), "%s", str(s, "created_at"));
        format_size(json_integer_value(json_object_get(s, "size")), "", size, sizeof(size));
        format_safe_str(name, sizeof(name), str(s, "name"));
        format_safe_str(version, sizeof(version), str(s, "version"));
        fprintf(out, "| %-*s | %-*s | %-*s | %-*s |\n", (int)w[0], name, (int)w[1], date,
                (int)w[2], size, (int)w[3], version);
    }
    {
        int flagged = 0;
        json_array_foreach(snaps, i, s) {
            if (strcmp(str(json_object_get(s, "consistency"), "state"), "changed") != 0)
                continue;
            fputs(flagged++ ? ", " : "\n[!] not a consistent cut (files changed while read): ", out);
            format_safe(out, str(s, "name"));
        }
        if (flagged)
            fputc('\n', out);
        flagged = 0;
        json_array_foreach(snaps, i, s) {
            const char *st = str(json_object_get(s, "signature"), "state");
            if (*st == '\0' || strcmp(st, "signed") == 0)
                continue;
            fputs(flagged++ ? ", " : "\n[!] not signed by a trusted key: ", out);
            format_safe(out, str(s, "name"));
            fprintf(out, " (%s)", st);
        }
        if (flagged)
            fputc('\n', out);
    }
    format_size(json_integer_value(json_object_get(page, "total_bytes")), " ", total, sizeof(total));
    fprintf(out, "\nTotal: %lld snapshot%s, %s\n", (long long)count, count == 1 ? "" : "s", total);
    if (json_is_string(json_object_get(page, "next_cursor")))
        fprintf(out, "More: --cursor %s\n", str(page, "next_cursor"));
}

void format_show(FILE *out, const json_t *snap)
{
    char size[32];
    const json_t *files = json_object_get(snap, "files"), *f, *labels = json_object_get(snap, "labels");
    const json_t *m = json_object_get(snap, "manifest"), *v;
    const char *k;
    size_t i;

    format_size(json_integer_value(json_object_get(snap, "size")), " ", size, sizeof(size));
    fputs("SNAPSHOT ", out);
    size_t rule = format_safe(out, str(snap, "name")) + 9;
    fputc('\n', out);
    for (; rule > 0; rule--)
        fputc('=', out);
    fprintf(out, "\nTime: %s\nSize: %s\nVersion: ", str(snap, "created_at"), size);
    format_safe(out, str(snap, "version"));
    fputs("\nGit commit: ", out);
    format_safe(out, json_is_string(json_object_get(snap, "git_commit")) ? str(snap, "git_commit") : "-");
    fputs("\nHost: ", out);
    format_safe(out, str(snap, "host"));
    fputs("\nCreated by: ", out);
    format_safe(out, str(snap, "created_by"));
    fputc('\n', out);
    fprintf(out, "Pinned: %s%s%s\n", json_is_true(json_object_get(snap, "pinned")) ? "yes" : "no",
            json_is_string(json_object_get(snap, "pinned_until")) ? " until " : "",
            str(snap, "pinned_until"));
    if (json_is_integer(json_object_get(snap, "positions_count")))
        fprintf(out, "Positions: %lld\n",
                (long long)json_integer_value(json_object_get(snap, "positions_count")));
    format_capture(out, snap);
    if (json_is_object(json_object_get(snap, "last_drill"))) {
        const json_t *ld = json_object_get(snap, "last_drill");
        fprintf(out, "Last drill: %s at %s\n", strcmp(str(ld, "result"), "ok") == 0 ? "ok"
                                                                               : "[!] FAILED",
                str(ld, "at"));
    }
    fprintf(out, "Archive SHA256: %s\nLocation: ", str(snap, "archive_sha256"));
    format_safe(out, str(snap, "location"));
    fputc('\n', out);
    if (json_object_size(labels) > 0) {
        fprintf(out, "Labels:");
        json_object_foreach((json_t *)labels, k, v) {
            fputc(' ', out);
            format_safe(out, k);
            fputc('=', out);
            format_safe(out, json_string_value(v));
        }
        fputc('\n', out);
    }
    fprintf(out, "\nCONTENTS:\n");
    json_array_foreach(files, i, f) {
        char fs[32];
        format_size(json_integer_value(json_object_get(f, "size")), " ", fs, sizeof(fs));
        fputs("  ", out);
        format_safe(out, str(f, "path"));
        fprintf(out, " (%s, SHA256: %s)\n", fs, str(f, "sha256"));
    }
    if (json_array_size(json_object_get(m, "absent")) > 0) {
        fprintf(out, "\nABSENT:\n");
        json_array_foreach(json_object_get(m, "absent"), i, v) {
            fputs("  ", out);
            format_safe(out, json_string_value(v));
            fputc('\n', out);
        }
    }
    if (json_object_size(json_object_get(m, "env_keys")) > 0) {
        fprintf(out, "\nENV KEYS (values masked):");
        json_object_foreach(json_object_get(m, "env_keys"), k, v) {
            fputc(' ', out);
            format_safe(out, k);
        }
        fputc('\n', out);
    }
    if (json_is_string(json_object_get(snap, "manifest_error"))) {
        fputs("\n[!] archive problem: ", out);
        format_safe(out, str(snap, "manifest_error"));
        fputc('\n', out);
    }
}

static void print_count(FILE *out, const char *label, const json_t *v)
{
    if (json_is_integer(v))
        fprintf(out, "%s: %lld\n", label, (long long)json_integer_value(v));
    else
        fprintf(out, "%s: unknown\n", label);
}

void format_restore_preview(FILE *out, const json_t *p)
{
    const json_t *f;
    size_t i;
    char date[11];

    snprintf(date, sizeof(date), "%s", str(p, "created_at"));
    fprintf(out, "RESTORE FROM SNAPSHOT\n=====================\n");
    fputs("Source: ", out);
    format_safe(out, str(p, "snapshot"));
    fprintf(out, " (%s)\n\n", date);
    fprintf(out, "[!] WARNING: This will overwrite current state!\n\n");
    print_count(out, "Current positions", json_object_get(p, "current_positions"));
    print_count(out, "Snapshot positions", json_object_get(p, "snapshot_positions"));
    fprintf(out, "\nFILES:\n");
    json_array_foreach(json_object_get(p, "files"), i, f) {
        const char *a = str(f, "action");
        fprintf(out, "  %-9s ", a);
        format_safe(out, str(f, "path"));
        if (strcmp(a, "kept") == 0)
            fputs("  (present now, absent in the snapshot; --clear-kill-switch removes it)", out);
        fputc('\n', out);
    }
    fprintf(out, "  .env is never restored.\n");
    json_array_foreach(json_object_get(p, "warnings"), i, f) {
        fputs("  [!] ", out);
        format_safe(out, json_string_value(f));
        fputc('\n', out);
    }
    fputc('\n', out);
}

/* The hooks that ran around an operation: one line each. */
static void format_hooks(FILE *out, const json_t *hooks)
{
    const json_t *h;
    size_t i;

    json_array_foreach(hooks, i, h) {
        const json_t *code = json_object_get(h, "exit_code");
        fprintf(out, "  hook %s: ", str(h, "hook"));
        if (json_is_true(json_object_get(h, "timed_out")))
            fputs("timed out", out);
        else if (json_is_integer(code))
            fprintf(out, "exit %lld", (long long)json_integer_value(code));
        else
            fputs("did not run", out);
        fprintf(out, " (%lld ms)\n", (long long)json_integer_value(json_object_get(h, "duration_ms")));
    }
}

void format_restore_report(FILE *out, const json_t *r)
{
    const json_t *f;
    size_t i;

    if (json_is_string(json_object_get(r, "target"))) {
        fputs("Target: ", out);
        format_safe(out, str(r, "target"));
        fputs(" (the live state root is untouched; no safety snapshot)\n", out);
    } else {
        fputs("Safety snapshot: ", out);
        format_safe(out, str(r, "safety_snapshot"));
        fputs(" (pinned)\n", out);
    }
    format_hooks(out, json_object_get(r, "hooks"));
    fputs("\nRESTORING...\n", out);
    json_array_foreach(json_object_get(r, "files"), i, f) {
        const char *a = str(f, "action");
        fprintf(out, "  [%s] ", strcmp(a, "kept") == 0 ? "KEPT" : str(f, "result"));
        format_safe(out, str(f, "path"));
        if (strcmp(a, "unchanged") == 0)
            fputs(" (unchanged)", out);
        else if (strcmp(a, "delete") == 0)
            fputs(" (removed)", out);
        fputc('\n', out);
    }
    if (strcmp(str(r, "kill_switch"), "engaged") == 0)
        fputs("  [!] state/KILL_SWITCH engaged: the bot does not trade until it is cleared\n", out);
    json_array_foreach(json_object_get(r, "warnings"), i, f) {
        fputs("  [!] ", out);
        format_safe(out, json_string_value(f));
        fputc('\n', out);
    }
    if (json_array_size(json_object_get(r, "changed_during_restore")) > 0) {
        fputs("\n[!] CHANGED DURING RESTORE:", out);
        json_array_foreach(json_object_get(r, "changed_during_restore"), i, f) {
            fputc(' ', out);
            format_safe(out, json_string_value(f));
        }
        fprintf(out, "\nRESTORE APPLIED, BUT THE STATE ROOT IS NO LONGER THE SNAPSHOT\n%s\n",
                str(r, "next_step"));
        return;
    }
    fprintf(out, "\nRESTORE COMPLETE\n%s\n", str(r, "next_step"));
}

void format_verify(FILE *out, const json_t *r)
{
    const json_t *e;
    size_t i;

    if (json_is_true(json_object_get(r, "ok"))) {
        fprintf(out, "OK %s\n", str(r, "name"));
        return;
    }
    json_array_foreach(json_object_get(r, "errors"), i, e) {
        fprintf(out, "FAILED %s: ", str(r, "name"));
        format_safe(out, str(e, "path"));
        fputs(": ", out);
        format_safe(out, str(e, "problem"));
        fputc('\n', out);
    }
}

#define HOOK_LINE_MAX 4097   /* a hook's whole output is at most 4 KiB */

void format_drill(FILE *out, const json_t *r)
{
    const json_t *check = json_object_get(r, "check");
    char size[32];
    int ok = strcmp(str(r, "result"), "ok") == 0;

    format_size(json_integer_value(json_object_get(r, "bytes")), " ", size, sizeof(size));
    fputs("RESTORE DRILL\n=============\nSnapshot: ", out);
    format_safe(out, str(r, "snapshot"));
    fprintf(out, "\nFiles checked: %lld (%s extracted, .env never written)\n",
            (long long)json_integer_value(json_object_get(r, "files_checked")), size);
    if (json_is_object(check)) {
        fputs("Check: ", out);
        if (json_is_true(json_object_get(check, "timed_out")))
            fputs("timed out", out);
        else if (json_is_integer(json_object_get(check, "signal")) &&
                 json_integer_value(json_object_get(check, "signal")) > 0)
            fprintf(out, "killed by signal %lld",
                    (long long)json_integer_value(json_object_get(check, "signal")));
        else
            fprintf(out, "exit %lld",
                    (long long)json_integer_value(json_object_get(check, "exit_code")));
        fprintf(out, " in %lld ms%s\n",
                (long long)json_integer_value(json_object_get(check, "duration_ms")),
                json_is_true(json_object_get(check, "optional")) ? " (optional)" : "");
        const char *output = str(check, "output");
        if (*output != '\0')
            fputs("Check output:\n", out);
        /* Line by line, each made safe for the terminal on its own. */
        while (*output != '\0') {
            size_t n = strcspn(output, "\n");
            char line[HOOK_LINE_MAX];
            snprintf(line, sizeof(line), "%.*s", (int)(n < sizeof(line) ? n : sizeof(line) - 1),
                     output);
            fputs("  ", out);
            format_safe(out, line);
            fputc('\n', out);
            output += n + (output[n] == '\n');
        }
    } else {
        fputs("Check: none (hooks.drill_check is not set)\n", out);
    }
    fprintf(out, "Duration: %lld ms\nDrilled at: %s\n",
            (long long)json_integer_value(json_object_get(r, "duration_ms")), str(r, "drilled_at"));
    if (ok) {
        fputs("[OK] DRILL PASSED: the snapshot restores and checks out\n", out);
    } else {
        fputs("[FAILED] DRILL FAILED: ", out);
        format_safe(out, str(r, "error"));
        fputc('\n', out);
    }
}
