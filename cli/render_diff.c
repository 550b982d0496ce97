/* render_diff.c - the CLI's text view of a Diff document. */
#include "render_diff.h"
#include "format.h"

#include <stdlib.h>
#include <string.h>

#define JSON_LINES_PER_FILE 20   /* changes shown per non-config file before "... N more" */
#define VALUE_SHOW_MAX 80        /* bytes of one JSON value shown on a line */

/* Write s escaped as format_safe does: paths and keys come from the archive
 * and must not drive (or, with bidi overrides, deceive) the operator's
 * terminal. Returns bytes written. */
static size_t put_text(FILE *out, const char *s)
{
    return format_safe(out, s ? s : "");
}

static const char *str_or(const json_t *v, const char *dflt)
{
    return json_is_string(v) ? json_string_value(v) : dflt;
}

static void put_size(FILE *out, const json_t *size)
{
    static const char *const units[] = {"KB", "MB", "GB", "TB"};
    double v;
    size_t u = 0;

    if (!json_is_integer(size)) {
        fputs("?", out);
        return;
    }
    if (json_integer_value(size) < 1024) {
        fprintf(out, "%" JSON_INTEGER_FORMAT " B", json_integer_value(size));
        return;
    }
    v = (double)json_integer_value(size) / 1024.0;
    while (v >= 1024.0 && u + 1 < sizeof(units) / sizeof(units[0])) {
        v /= 1024.0;
        u++;
    }
    fprintf(out, "%.1f %s", v, units[u]);
}

/* The shortest fixed-point form of d with at least min_dec decimals that reads
 * back as the same double: prices show cents (451.20), quantities stay bare
 * (0.5), and a small crypto price (0.00001234) is not rounded away. */
static void put_real(FILE *out, double d, int min_dec)
{
    char buf[64];

    for (int dec = min_dec; dec <= 12; dec++) {
        int n = snprintf(buf, sizeof(buf), "%.*f", dec, d);

        if (n > 0 && (size_t)n < sizeof(buf) && strtod(buf, NULL) == d) {
            fputs(buf, out);
            return;
        }
    }
    fprintf(out, "%.17g", d);
}

/* A JSON value, compact, cut after VALUE_SHOW_MAX bytes with "...". */
static void put_value(FILE *out, const json_t *v)
{
    char *s;
    size_t len;

    if (v == NULL) {
        fputs("(none)", out);
        return;
    }
    s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(15));
    if (s == NULL) {
        fputs("?", out);
        return;
    }
    len = strlen(s);
    if (len > VALUE_SHOW_MAX) {
        len = VALUE_SHOW_MAX;
        /* Cut on a UTF-8 character boundary. */
        while (len > 0 && ((unsigned char)s[len] & 0xC0) == 0x80)
            len--;
        s[len] = '\0';
        put_text(out, s);
        fputs("...", out);
    } else {
        put_text(out, s);
    }
    free(s);
}

/* A position field: strings bare, numbers as numbers (reals with at least
 * min_dec decimals), anything else as JSON. */
static void put_scalar(FILE *out, const json_t *v, int min_dec)
{
    if (json_is_string(v))
        put_text(out, json_string_value(v));
    else if (json_is_integer(v))
        fprintf(out, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    else if (json_is_real(v))
        put_real(out, json_real_value(v), min_dec);
    else
        put_value(out, v);
}

static int decimals_for(const char *field)
{
    return strcmp(field, "avg_price") == 0 ? 2 : 0;
}

static const char *side_name(const json_t *diff, const char *key)
{
    return str_or(json_object_get(json_object_get(diff, key), "name"), "?");
}

/* "  old: snap_001  created ...  version ...  commit ..." when the side has metadata. */
static void render_side(FILE *out, const char *tag, const json_t *meta)
{
    static const char *const keys[] = {"created_at", "version", "git_commit"};
    static const char *const words[] = {"created", "version", "commit"};
    int any = 0;

    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        const json_t *v = json_object_get(meta, keys[i]);

        if (!json_is_string(v) && !json_is_integer(v))
            continue;
        if (!any++) {
            fprintf(out, "  %s: ", tag);
            put_text(out, str_or(json_object_get(meta, "name"), "?"));
        }
        fprintf(out, "  %s ", words[i]);
        put_scalar(out, v, 0);
    }
    if (any)
        fputc('\n', out);
}

static void render_header(FILE *out, const json_t *diff)
{
    size_t n = 6;

    fputs("DIFF: ", out);
    n += put_text(out, side_name(diff, "from"));
    fputs(" -> ", out);
    n += 4;
    n += put_text(out, side_name(diff, "to"));
    fputc('\n', out);
    while (n-- > 0)
        fputc('=', out);
    fputc('\n', out);
    render_side(out, "old", json_object_get(diff, "from"));
    render_side(out, "new", json_object_get(diff, "to"));
}

static void render_files(FILE *out, const json_t *diff)
{
    const json_t *files = json_object_get(diff, "files");
    const json_t *sum = json_object_get(diff, "summary");
    json_int_t same = 0;
    size_t i;
    json_t *f;

    fprintf(out,
            "FILES (%" JSON_INTEGER_FORMAT " added, %" JSON_INTEGER_FORMAT
            " removed, %" JSON_INTEGER_FORMAT " modified, %" JSON_INTEGER_FORMAT
            " unchanged):\n",
            json_integer_value(json_object_get(sum, "added")),
            json_integer_value(json_object_get(sum, "removed")),
            json_integer_value(json_object_get(sum, "modified")),
            json_integer_value(json_object_get(sum, "unchanged")));
    json_array_foreach((json_t *)files, i, f) {
        const char *st = str_or(json_object_get(f, "status"), "?");
        int w;

        if (strcmp(st, "unchanged") == 0) {
            same++;
            continue;
        }
        /* Pad "[added]" etc. to the width of "[modified]" so paths line up. */
        w = fprintf(out, "  [%s]", st);
        for (; w >= 0 && w < 12; w++)
            fputc(' ', out);
        fputc(' ', out);
        put_text(out, str_or(json_object_get(f, "path"), "?"));
        fputs(" (", out);
        if (strcmp(st, "added") == 0) {
            put_size(out, json_object_get(f, "new_size"));
        } else if (strcmp(st, "removed") == 0) {
            put_size(out, json_object_get(f, "old_size"));
        } else {
            put_size(out, json_object_get(f, "old_size"));
            fputs(" -> ", out);
            put_size(out, json_object_get(f, "new_size"));
        }
        fputs(")\n", out);
    }
    if (json_array_size(files) == 0)
        fputs("  (no files on either side)\n", out);
    else if (same > 0)
        fprintf(out, "  %" JSON_INTEGER_FORMAT " unchanged\n", same);
}

/* "long 100 @ 451.20", leaving out what the file did not say. */
static void put_position(FILE *out, const json_t *p)
{
    const json_t *side = json_object_get(p, "side"), *qty = json_object_get(p, "qty"),
                 *avg = json_object_get(p, "avg_price");
    const char *sep = "";

    if (side && !json_is_null(side)) {
        put_scalar(out, side, 0);
        sep = " ";
    }
    if (qty && !json_is_null(qty)) {
        fputs(sep, out);
        put_scalar(out, qty, 0);
        sep = " ";
    }
    if (avg && !json_is_null(avg)) {
        fputs(sep, out);
        fputs("@ ", out);
        put_scalar(out, avg, 2);
    }
}

static int has_fields(const json_t *p)
{
    return !json_is_null(json_object_get(p, "side")) || !json_is_null(json_object_get(p, "qty")) ||
           !json_is_null(json_object_get(p, "avg_price"));
}

static void render_positions(FILE *out, const json_t *pos)
{
    const json_t *opened = json_object_get(pos, "opened"), *closed = json_object_get(pos, "closed"),
                 *changed = json_object_get(pos, "changed");
    static const char *const fields[] = {"side", "qty", "avg_price"};
    size_t i;
    json_t *p;

    if (!json_is_object(pos))
        return;
    if (json_is_string(json_object_get(pos, "error"))) {
        fputs("POSITIONS: cannot compare (", out);
        put_text(out, json_string_value(json_object_get(pos, "error")));
        fputs(")\n", out);
        return;
    }
    fputs("POSITIONS (", out);
    put_scalar(out, json_object_get(pos, "old_count"), 0);
    fputs(" -> ", out);
    put_scalar(out, json_object_get(pos, "new_count"), 0);
    fputs("):\n", out);
    json_array_foreach((json_t *)opened, i, p) {
        fputs("  opened  ", out);
        put_text(out, str_or(json_object_get(p, "symbol"), "?"));
        fputc(' ', out);
        put_position(out, p);
        fputc('\n', out);
    }
    json_array_foreach((json_t *)closed, i, p) {
        fputs("  closed  ", out);
        put_text(out, str_or(json_object_get(p, "symbol"), "?"));
        if (has_fields(p)) {
            fputs(" (was ", out);
            put_position(out, p);
            fputc(')', out);
        }
        fputc('\n', out);
    }
    json_array_foreach((json_t *)changed, i, p) {
        const json_t *o = json_object_get(p, "old"), *n = json_object_get(p, "new");
        const char *sep = " ";

        fputs("  changed ", out);
        put_text(out, str_or(json_object_get(p, "symbol"), "?"));
        for (size_t k = 0; k < sizeof(fields) / sizeof(fields[0]); k++) {
            const json_t *ov = json_object_get(o, fields[k]), *nv = json_object_get(n, fields[k]);
            int same = json_is_number(ov) && json_is_number(nv)
                           ? json_number_value(ov) == json_number_value(nv)
                           : json_equal((json_t *)ov, (json_t *)nv);

            if (same)
                continue;
            fprintf(out, "%s%s ", sep, fields[k]);
            put_scalar(out, ov, decimals_for(fields[k]));
            fputs(" -> ", out);
            put_scalar(out, nv, decimals_for(fields[k]));
            sep = ", ";
        }
        fputc('\n', out);
    }
    if (json_array_size(opened) + json_array_size(closed) + json_array_size(changed) == 0)
        fputs("  no position changes\n", out);
}

static void render_chain(FILE *out, const json_t *hc)
{
    const char *rel = str_or(json_object_get(hc, "relation"), "?");
    json_int_t oldl = json_integer_value(json_object_get(hc, "old_lines"));
    json_int_t newl = json_integer_value(json_object_get(hc, "new_lines"));
    json_int_t added = json_integer_value(json_object_get(hc, "lines_added"));

    if (!json_is_object(hc))
        return;
    if (strcmp(rel, "identical") == 0)
        fprintf(out, "HASH CHAIN: identical (%" JSON_INTEGER_FORMAT " lines)\n", newl);
    else if (strcmp(rel, "extends") == 0)
        fprintf(out,
                "HASH CHAIN: extends (+%" JSON_INTEGER_FORMAT " lines, %" JSON_INTEGER_FORMAT
                " -> %" JSON_INTEGER_FORMAT ")\n",
                added, oldl, newl);
    else if (strcmp(rel, "rewritten") == 0)
        fprintf(out,
                "HASH CHAIN: [!] rewritten at line %" JSON_INTEGER_FORMAT " (%" JSON_INTEGER_FORMAT
                " -> %" JSON_INTEGER_FORMAT " lines): history was changed\n",
                json_integer_value(json_object_get(hc, "first_divergent_line")), oldl, newl);
    else if (strcmp(rel, "added") == 0)
        fprintf(out, "HASH CHAIN: added (%" JSON_INTEGER_FORMAT " lines)\n", newl);
    else if (strcmp(rel, "removed") == 0)
        fprintf(out,
                "HASH CHAIN: removed (was %" JSON_INTEGER_FORMAT
                " lines)  [!] chain missing on the new side\n",
                oldl);
    else
        fprintf(out, "HASH CHAIN: %s\n", rel);
}

static void put_pointer(FILE *out, const json_t *c)
{
    const char *p = str_or(json_object_get(c, "pointer"), "?");

    put_text(out, *p ? p : "(root)");
}

/* "/a/b: 1 -> 2", "/a/c: added 3", "/a/d: removed (was 4)". */
static void put_change(FILE *out, const json_t *c)
{
    const char *op = str_or(json_object_get(c, "op"), "changed");

    put_pointer(out, c);
    fputs(": ", out);
    if (strcmp(op, "added") == 0) {
        fputs("added ", out);
        put_value(out, json_object_get(c, "new"));
    } else if (strcmp(op, "removed") == 0) {
        fputs("removed (was ", out);
        put_value(out, json_object_get(c, "old"));
        fputc(')', out);
    } else {
        put_value(out, json_object_get(c, "old"));
        fputs(" -> ", out);
        put_value(out, json_object_get(c, "new"));
    }
    fputc('\n', out);
}

static int is_config(const json_t *entry)
{
    return strncmp(str_or(json_object_get(entry, "path"), ""), "config/", 7) == 0;
}

/* Config changes are few and matter, so every one is listed (the engine keeps
 * up to DIFF_MAX_CHANGES per file); json_changes carries the op for wording. */
static void render_config(FILE *out, const json_t *jc)
{
    size_t i, k, shown = 0;
    json_t *entry, *c;

    fputs("CONFIG CHANGES:", out);
    json_array_foreach((json_t *)jc, i, entry) {
        const char *path = str_or(json_object_get(entry, "path"), "?");

        if (!is_config(entry))
            continue;
        if (shown++ == 0)
            fputc('\n', out);
        if (json_is_string(json_object_get(entry, "error"))) {
            fputs("  ", out);
            put_text(out, path);
            fputs(": ", out);
            put_text(out, json_string_value(json_object_get(entry, "error")));
            fputc('\n', out);
            continue;
        }
        json_array_foreach(json_object_get(entry, "changes"), k, c) {
            fputs("  ", out);
            put_text(out, path);
            fputc(' ', out);
            put_change(out, c);
        }
        if (json_is_true(json_object_get(entry, "truncated"))) {
            fputs("  ", out);
            put_text(out, path);
            fprintf(out, ": ... further changes not kept (limit %zu per file)\n",
                    json_array_size(json_object_get(entry, "changes")));
        }
    }
    if (shown == 0)
        fputs(" none\n", out);
}

static void put_keys(FILE *out, const char *label, const json_t *keys, const char **sep)
{
    size_t i;
    json_t *k;

    if (json_array_size(keys) == 0)
        return;
    fprintf(out, "%s%s ", *sep, label);
    json_array_foreach((json_t *)keys, i, k) {
        if (i > 0)
            fputs(", ", out);
        put_text(out, str_or(k, "?"));
    }
    *sep = "; ";
}

static void render_env(FILE *out, const json_t *env)
{
    const char *sep = " ";

    fputs("ENV KEYS:", out);
    put_keys(out, "changed", json_object_get(env, "changed"), &sep);
    put_keys(out, "added", json_object_get(env, "added"), &sep);
    put_keys(out, "removed", json_object_get(env, "removed"), &sep);
    if (strcmp(sep, " ") == 0)
        fputs(" no changes", out);
    fputc('\n', out);
}

static void render_json_changes(FILE *out, const json_t *jc)
{
    size_t i, k, shown = 0;
    json_t *entry, *c;

    json_array_foreach((json_t *)jc, i, entry) {
        const json_t *changes = json_object_get(entry, "changes");
        size_t n = json_array_size(changes);

        if (is_config(entry))
            continue;
        if (shown++ == 0)
            fputs("JSON CHANGES:\n", out);
        fputs("  ", out);
        put_text(out, str_or(json_object_get(entry, "path"), "?"));
        if (json_is_string(json_object_get(entry, "error"))) {
            fputs(": ", out);
            put_text(out, json_string_value(json_object_get(entry, "error")));
            fputc('\n', out);
            continue;
        }
        fputs(":\n", out);
        json_array_foreach((json_t *)changes, k, c) {
            if (k >= JSON_LINES_PER_FILE)
                break;
            fputs("    ", out);
            put_change(out, c);
        }
        if (n > JSON_LINES_PER_FILE)
            fprintf(out, "    ... %zu more\n", n - JSON_LINES_PER_FILE);
        if (json_is_true(json_object_get(entry, "truncated")))
            fprintf(out, "    ... and further changes not kept (limit %zu per file)\n", n);
    }
}

void cli_render_diff(FILE *out, const json_t *diff)
{
    const json_t *pos = json_object_get(diff, "positions");
    const json_t *hc = json_object_get(diff, "hash_chain");

    render_header(out, diff);
    render_files(out, diff);
    if (json_is_object(pos))
        render_positions(out, pos);
    if (json_is_object(hc))
        render_chain(out, hc);
    render_config(out, json_object_get(diff, "json_changes"));
    render_env(out, json_object_get(diff, "env"));
    render_json_changes(out, json_object_get(diff, "json_changes"));
}
