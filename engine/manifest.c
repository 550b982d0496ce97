/* manifest.c - manifest.json: the self-description inside every archive. */
#include "manifest.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "chain.h"
#include "engine.h"

int manifest_parse_time(const char *s, int64_t *out)
{
    struct tm tm;
    const char *end;

    if (s == NULL)
        return -1;
    memset(&tm, 0, sizeof(tm));
    end = strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm);
    if (end == NULL || *end != '\0')
        return -1;
    *out = (int64_t)timegm(&tm);
    return 0;
}

int manifest_path_safe(const char *p)
{
    size_t n;
    const char *c;

    if (p == NULL || (n = strlen(p)) == 0 || n >= 1024 || p[0] == '/')
        return 0;
    for (c = p; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f || *c == '\\' || *c == ':')
            return 0;
    /* Every component non-empty and neither "." nor "..". */
    c = p;
    for (;;) {
        const char *slash = strchr(c, '/');
        size_t len = slash ? (size_t)(slash - c) : strlen(c);
        if (len == 0 || (len == 1 && c[0] == '.') || (len == 2 && c[0] == '.' && c[1] == '.'))
            return 0;
        if (slash == NULL)
            break;
        c = slash + 1;
    }
    return 1;
}

int manifest_is_sha256(const char *s)
{
    if (s == NULL || strlen(s) != 64)
        return 0;
    for (int i = 0; i < 64; i++)
        if (!isxdigit((unsigned char)s[i]) || isupper((unsigned char)s[i]))
            return 0;
    return 1;
}

static int uint_in(const json_t *v, uint64_t max)
{
    return json_is_integer(v) && json_integer_value(v) >= 0 &&
           (uint64_t)json_integer_value(v) <= max;
}

/* One file's reuse note (docs/DESIGN.md "Reuse"): "reused" is "entry" or
 * "prefix" (then with "reused_bytes"), "deflate_prefix" has {bytes,
 * compressed, sha256, crc32}, a hex "mac" and for the chain a "chain" state
 * (chain_mark_parse, from <= bytes); "chain_scanned_from" (with "reused") where
 * the chain's scan resumed; unknown keys are allowed, as elsewhere (a
 * later create checks bytes against the file's size). 1 when well formed. */
int manifest_note_ok(const json_t *f)
{
    const uint64_t size = ENGINE_MAX_ENTRY_BYTES;
    const json_t *r = json_object_get(f, "reused"), *n = json_object_get(f, "reused_bytes"),
                 *dp = json_object_get(f, "deflate_prefix"), *c;
    const char *how = json_string_value(r);
    struct chain_mark m;

    if (!json_is_object(f))
        return 0;
    if (r != NULL && (how == NULL || (strcmp(how, "entry") != 0 && strcmp(how, "prefix") != 0)))
        return 0;
    if ((how != NULL && strcmp(how, "prefix") == 0) != (n != NULL) ||
        (n != NULL && !uint_in(n, size)) ||
        ((c = json_object_get(f, "chain_scanned_from")) != NULL && (how == NULL || !uint_in(c, size))))
        return 0;
    if (dp == NULL)
        return 1;
    if (!json_is_object(dp) ||
        !uint_in(json_object_get(dp, "bytes"), size - 1) ||
        !uint_in(json_object_get(dp, "compressed"), ENGINE_MAX_ENTRY_BYTES) ||
        !uint_in(json_object_get(dp, "crc32"), UINT32_MAX) ||
        !manifest_is_sha256(json_string_value(json_object_get(dp, "sha256"))) ||
        (json_object_get(dp, "mac") != NULL &&
         !manifest_is_sha256(json_string_value(json_object_get(dp, "mac")))))
        return 0;
    /* The chain scan's state at a line start within the prefix. */
    if ((c = json_object_get(dp, "chain")) != NULL &&
        (chain_mark_parse(c, NULL, &m) != 0 ||
         m.from > (uint64_t)json_integer_value(json_object_get(dp, "bytes"))))
        return 0;
    return 1;
}

/* The optional "reuse" object: {"from": a snapshot name (when anything
 * was reused), "files": {listed path: note}}; the notes are manifest_read's. */
static int reuse_check(const json_t *r, struct err *e)
{
    const json_t *from;
    struct err ne = { 0 };

    if (r == NULL)
        return 0;
    from = json_object_get(r, "from");
    if (!json_is_object(r) || !json_is_object(json_object_get(r, "files")) ||
        (from != NULL && (json_string_value(from) == NULL ||
                          engine_name_check(json_string_value(from), &ne) != 0)))
        return err_set(e, ERR_VERIFY, "manifest.json: \"reuse\" is malformed");
    return 0;
}

int manifest_head_check(const json_t *m, struct err *e)
{
    const json_t *f, *v;
    const char *k, *name;
    size_t i;
    int64_t t;

    if (!json_is_object(m))
        return err_set(e, ERR_VERIFY, "manifest.json is not a JSON object");
    v = json_object_get(m, "format");
    if (!json_is_integer(v) || json_integer_value(v) != MANIFEST_FORMAT)
        return err_set(e, ERR_VERIFY, "manifest.json: unsupported format (want %d)", MANIFEST_FORMAT);
    name = json_string_value(json_object_get(m, "name"));
    if (name == NULL)
        return err_set(e, ERR_VERIFY, "manifest.json: missing or invalid \"name\"");
    struct err ne = { 0 };
    if (engine_name_check(name, &ne) != 0)
        return err_set(e, ERR_VERIFY, "manifest.json: invalid \"name\": %s", ne.msg);
    if (manifest_parse_time(json_string_value(json_object_get(m, "created_at")), &t) != 0)
        return err_set(e, ERR_VERIFY, "manifest.json: \"created_at\" is not RFC 3339 UTC");
    static const char *const strings[] = { "version", "host", "created_by", "statesnap_version" };
    for (i = 0; i < sizeof(strings) / sizeof(strings[0]); i++) {
        v = json_object_get(m, strings[i]);
        if (!json_is_string(v) || json_string_length(v) > 255)
            return err_set(e, ERR_VERIFY, "manifest.json: \"%s\" must be a short string", strings[i]);
    }
    v = json_object_get(m, "git_commit");
    if (!json_is_null(v) && !(json_is_string(v) && json_string_length(v) <= 64))
        return err_set(e, ERR_VERIFY, "manifest.json: \"git_commit\" must be a string or null");
    v = json_object_get(m, "pinned");
    if (!json_is_boolean(v))
        return err_set(e, ERR_VERIFY, "manifest.json: \"pinned\" must be a boolean");
    v = json_object_get(m, "positions_count");
    if (!json_is_null(v) && !json_is_integer(v))
        return err_set(e, ERR_VERIFY, "manifest.json: \"positions_count\" must be an integer or null");
    v = json_object_get(m, "labels");
    if (!json_is_object(v) || json_object_size(v) > ENGINE_LABELS_MAX)
        return err_set(e, ERR_VERIFY, "manifest.json: \"labels\" must be an object");
    json_object_foreach((json_t *)v, k, f) {
        if (!json_is_string(f) || strlen(k) > ENGINE_LABEL_KEY_MAX ||
            json_string_length(f) > ENGINE_LABEL_VALUE_MAX)
            return err_set(e, ERR_VERIFY, "manifest.json: label \"%.64s\" is invalid", k);
    }
    v = json_object_get(m, "env_keys");
    if (!json_is_object(v))
        return err_set(e, ERR_VERIFY, "manifest.json: \"env_keys\" must be an object");
    json_object_foreach((json_t *)v, k, f) {
        if (!manifest_is_sha256(json_string_value(f)))
            return err_set(e, ERR_VERIFY, "manifest.json: env key \"%.64s\" has a bad fingerprint", k);
    }
    v = json_object_get(m, "absent");
    if (!json_is_array(v))
        return err_set(e, ERR_VERIFY, "manifest.json: \"absent\" must be an array");
    if (!json_is_array(json_object_get(m, "files")))
        return err_set(e, ERR_VERIFY, "manifest.json: \"files\" must be an array of at most %d",
                       ENGINE_MAX_FILES_HARD + 1);
    return reuse_check(json_object_get(m, "reuse"), e);
}

void manifest_sums_begin(struct manifest_sums *ms, const struct manifest_doc *d)
{
    memset(ms, 0, sizeof(*ms));
    ms->d = d;
}

/* The expected text's next segment at ms's position: file i's SHA-256, two
 * spaces, its path, a newline. NULL past the last file. */
static const char *sums_segment(const struct manifest_sums *ms, size_t *len)
{
    const struct manifest_file *f;
    const char *s;

    if (ms->i >= ms->d->n)
        return NULL;
    f = &ms->d->files[ms->i];
    switch (ms->seg) {
    case 0: s = f->sha256; break;
    case 1: s = "  "; break;
    case 2: s = f->path; break;
    default: s = "\n"; break;
    }
    *len = strlen(s);
    return s;
}

void manifest_sums_feed(struct manifest_sums *ms, const char *data, size_t n)
{
    while (n > 0 && !ms->bad) {
        size_t len, k;
        const char *s = sums_segment(ms, &len);
        if (s == NULL) {
            ms->bad = 1;        /* more text than files */
            return;
        }
        k = len - ms->off < n ? len - ms->off : n;
        if (memcmp(s + ms->off, data, k) != 0) {
            ms->bad = 1;
            return;
        }
        data += k;
        n -= k;
        ms->off += k;
        if (ms->off == len) {
            ms->off = 0;
            if (++ms->seg == 4) {
                ms->seg = 0;
                ms->i++;
            }
        }
    }
}

int manifest_sums_end(const struct manifest_sums *ms)
{
    return !ms->bad && ms->seg == 0 && ms->off == 0 && ms->i == ms->d->n;
}
