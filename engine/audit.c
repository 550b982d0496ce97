/* audit.c - the audit chain: every mutating operation, hash-linked, in the
 * catalog and in STORE/audit.jsonl. */
#include "audit.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/evp.h>

#include "../db/audit.h"
#include "../common/fsutil.h"

#define AUDIT_TAIL 65536
#define AUDIT_BATCH 1000
#define AUDIT_LINE_MAX (1u << 20)

/* The hashed form: every field but the hashes, sorted keys, no spaces. */
static char *canonical(const struct catalog_audit *a)
{
    json_t *details = json_loads(a->details ? a->details : "{}", 0, NULL);
    json_t *o;
    char *s;

    if (details == NULL)
        details = json_string(a->details ? a->details : "");
    o = json_pack("{s:I,s:s,s:s,s:s,s:o,s:s,s:o}", "seq", (json_int_t)a->seq, "time", a->time,
                  "actor", a->actor ? a->actor : "", "op", a->op ? a->op : "",
                  "snapshot", a->snapshot ? json_string(a->snapshot) : json_null(),
                  "result", a->result ? a->result : "", "details", details);
    if (o == NULL)
        return NULL;
    s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(o);
    return s;
}

static int chain_hash(const char *prev, const char *canon, char out[65])
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned char d[32];

    if (md == NULL || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(md);
        return -1;
    }
    EVP_DigestUpdate(md, prev, strlen(prev));
    EVP_DigestUpdate(md, canon, strlen(canon));
    EVP_DigestFinal_ex(md, d, NULL);
    EVP_MD_CTX_free(md);
    fs_hex(d, sizeof(d), out);
    return 0;
}

int audit_append(struct store *s, const char *op, const char *snapshot, const char *result,
                 const json_t *details, struct err *e)
{
    struct catalog_audit a;
    char actor[160], *canon = NULL;
    int rc = -1;

    memset(&a, 0, sizeof(a));
    if (catalog_audit_last(s->cat, &a.seq, a.prev_hash, e) != 0)
        return -1;
    a.seq++;
    engine_time_format(engine_now(), a.time, sizeof(a.time));
    engine_actor(s->cfg, actor, sizeof(actor));
    a.actor = actor;
    a.op = (char *)op;
    a.snapshot = (char *)snapshot;
    a.result = (char *)result;
    a.details = details ? json_dumps(details, JSON_COMPACT | JSON_SORT_KEYS) : strdup("{}");
    if (a.details == NULL || (canon = canonical(&a)) == NULL || chain_hash(a.prev_hash, canon, a.hash)) {
        err_set(e, ERR_IO, "out of memory");
        goto out;
    }
    rc = catalog_audit_insert(s->cat, &a, e);
    if (rc == 0 && !catalog_in_transaction(s->cat))
        engine_emit(s->cfg, op, result, snapshot, details);
out:
    free(a.details);
    free(canon);
    return rc;
}

static char *line_of(const struct catalog_audit *a)
{
    char *canon = canonical(a), *line;
    json_t *o;

    if (canon == NULL)
        return NULL;
    o = json_loads(canon, 0, NULL);
    free(canon);
    if (o == NULL)
        return NULL;
    json_object_set_new(o, "prev_hash", json_string(a->prev_hash));
    json_object_set_new(o, "hash", json_string(a->hash));
    line = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(o);
    return line;
}

/* The seq of the file's last complete line (0 if none); cuts a torn tail. */
static int file_tail(int fd, int64_t *seq, struct err *e)
{
    struct stat st;
    char *buf;
    off_t start;
    ssize_t n;

    *seq = 0;
    if (fstat(fd, &st) != 0)
        return err_sys(e, errno, "stat %s", AUDIT_FILE);
    if (st.st_size == 0)
        return 0;
    start = st.st_size > AUDIT_TAIL ? st.st_size - AUDIT_TAIL : 0;
    if ((buf = malloc(AUDIT_TAIL + 1)) == NULL)
        return err_set(e, ERR_IO, "out of memory");
    n = pread(fd, buf, (size_t)(st.st_size - start), start);
    if (n < 0) {
        free(buf);
        return err_sys(e, errno, "read %s", AUDIT_FILE);
    }
    buf[n] = '\0';
    if (buf[n - 1] != '\n') {
        /* A write cut short by a crash: drop the partial line, it is re-appended. */
        char *nl = memrchr(buf, '\n', (size_t)n);
        off_t keep = nl ? start + (nl - buf) + 1 : start;
        if (nl == NULL && start > 0) {
            free(buf);
            return err_set(e, ERR_IO, "%s: last line is longer than %d bytes", AUDIT_FILE, AUDIT_TAIL);
        }
        if (ftruncate(fd, keep) != 0) {
            free(buf);
            return err_sys(e, errno, "truncate %s", AUDIT_FILE);
        }
        n = nl ? (nl - buf) + 1 : 0;
        buf[n] = '\0';
    }
    if (n > 0) {
        buf[n - 1] = '\0';
        char *last = strrchr(buf, '\n');
        json_t *o = json_loads(last ? last + 1 : buf, 0, NULL);
        json_t *sv = json_object_get(o, "seq");
        *seq = json_is_integer(sv) ? json_integer_value(sv) : -1;
        json_decref(o);
    }
    free(buf);
    return 0;
}

static int flush_impl(struct store *s, int rebuild_missing, int64_t *behind_out, struct err *e)
{
    char path[PATH_MAX];
    int fd, rc = -1, wrote = 0;
    int64_t seq, last, flushed;
    char lasthash[65];

    if (catalog_audit_last(s->cat, &last, lasthash, e) != 0 ||
        catalog_audit_flushed(s->cat, &flushed, e) != 0)
        return -1;
    if (fs_join(path, sizeof(path), s->dir, AUDIT_FILE, e) != 0)
        return -1;
    if (fs_exists(path) != 1) {
        if (last == 0)
            return 0;
        /* A file that had entries and is gone is evidence: only an explicit
         * `audit repair` writes a new one. */
        if (flushed > 0 && !rebuild_missing) {
            if (behind_out)
                *behind_out = -1;
            return 0;
        }
        flushed = 0;
    }
    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return err_sys(e, errno, "open %s", path);
    (void)fchmod(fd, 0600);
    if (file_tail(fd, &seq, e) != 0)
        goto out;
    /* A file ahead of the catalog, unreadable, or shorter than it was
     * durably written (a deleted tail) is evidence: leave it for verify. */
    if (seq < 0 || seq > last || seq < flushed) {
        if (behind_out)
            *behind_out = -1;
        rc = 0;
        goto out;
    }
    if (lseek(fd, 0, SEEK_END) < 0) {
        err_sys(e, errno, "seek %s", path);
        goto out;
    }
    while (seq < last) {
        struct catalog_audit *rows = NULL;
        size_t n = 0;
        if (catalog_audit_list(s->cat, seq, AUDIT_BATCH, &rows, &n, e) != 0)
            goto out;
        if (n == 0)
            break;
        for (size_t i = 0; i < n; i++) {
            char *line = line_of(&rows[i]);
            if (line == NULL || fs_write_all(fd, line, strlen(line)) != 0 ||
                fs_write_all(fd, "\n", 1) != 0) {
                free(line);
                catalog_audit_free(rows, n);
                err_sys(e, errno, "append to %s", path);
                goto out;
            }
            free(line);
            seq = rows[i].seq;
            wrote = 1;
        }
        catalog_audit_free(rows, n);
    }
    if (wrote && fsync(fd) != 0) {
        err_sys(e, errno, "sync %s", path);
        goto out;
    }
    if (wrote && fs_fsync_dir(s->dir, e) != 0)
        goto out;
    /* Only once the lines are on disk: a crash before this leaves the mark
     * behind the file, never ahead of it. */
    if (seq != flushed && catalog_audit_set_flushed(s->cat, seq, e) != 0)
        goto out;
    if (behind_out)
        *behind_out = 0;
    rc = 0;
out:
    close(fd);
    return rc;
}

int audit_flush(struct store *s, struct err *e)
{
    return flush_impl(s, 0, NULL, e);
}

int audit_flush_rebuild(struct store *s, struct err *e)
{
    return flush_impl(s, 1, NULL, e);
}

/* Check one entry against the chain so far. NULL when good, else the problem. */
static const char *check_entry(const struct catalog_audit *a, int64_t want_seq, const char *prev)
{
    char *canon, hash[65];

    if (a->seq != want_seq)
        return a->seq > want_seq ? "entries missing before this one" : "out of order";
    if (strcmp(a->prev_hash, prev) != 0)
        return "prev_hash does not match the entry before it";
    if ((canon = canonical(a)) == NULL || chain_hash(a->prev_hash, canon, hash) != 0) {
        free(canon);
        return "cannot hash";
    }
    free(canon);
    if (strcmp(hash, a->hash) != 0)
        return "hash does not match the entry's content (edited)";
    return NULL;
}

static json_t *bad(int64_t where_key, const char *key, int64_t seq, const char *problem)
{
    return json_pack("{s:I,s:I,s:s}", key, (json_int_t)where_key, "seq", (json_int_t)seq,
                     "problem", problem);
}

int audit_check(struct store *s, json_t **report, struct err *e)
{
    int64_t after = 0, want = 1, count = 0, last, flushed = 0, behind = 0;
    int missing = 0, torn = 0;
    char prev[65], lasthash[65], path[PATH_MAX];
    json_t *cat_bad = json_null(), *file_bad = json_null();
    char *text = NULL;
    size_t len = 0;
    struct err fe = { 0 };

    *report = NULL;
    memset(prev, '0', 64);
    prev[64] = '\0';
    if (catalog_audit_last(s->cat, &last, lasthash, e) != 0)
        return -1;
    /* The catalog's chain. */
    while (json_is_null(cat_bad)) {
        struct catalog_audit *rows = NULL;
        size_t n = 0;
        if (catalog_audit_list(s->cat, after, AUDIT_BATCH, &rows, &n, e) != 0)
            return -1;
        for (size_t i = 0; i < n && json_is_null(cat_bad); i++) {
            const char *p = check_entry(&rows[i], want, prev);
            if (p != NULL) {
                json_decref(cat_bad);
                cat_bad = bad(rows[i].seq, "row", rows[i].seq, p);
                break;
            }
            snprintf(prev, sizeof(prev), "%s", rows[i].hash);
            want++;
            count++;
            after = rows[i].seq;
        }
        catalog_audit_free(rows, n);
        if (n < AUDIT_BATCH)
            break;
    }
    /* The file's chain, line by line, and each line against the catalog. */
    if (catalog_audit_flushed(s->cat, &flushed, e) != 0)
        goto fail;
    if (fs_join(path, sizeof(path), s->dir, AUDIT_FILE, e) != 0)
        goto fail;
    memset(prev, '0', 64);
    if (fs_read_file(path, (size_t)1 << 34, &text, &len, &fe) != 0) {
        if (fe.code != ERR_NOT_FOUND) {
            *e = fe;
            goto fail;
        }
        missing = 1;
    }
    /* A last line without its newline that does not parse is an append a
     * kill cut short: the next flush cuts it and writes it again. */
    if (text != NULL && len > 0 && text[len - 1] != '\n') {
        char *nl = memrchr(text, '\n', len);
        char *tail = nl ? nl + 1 : text;
        json_t *o = json_loads(tail, 0, NULL);
        if (!json_is_object(o)) {
            *tail = '\0';
            torn = 1;
        }
        json_decref(o);
    }
    int64_t line_no = 0, fwant = 1;
    char *save = NULL;
    for (char *line = text ? strtok_r(text, "\n", &save) : NULL; line && json_is_null(file_bad);
         line = strtok_r(NULL, "\n", &save)) {
        struct catalog_audit a;
        json_t *o = json_loads(line, JSON_REJECT_DUPLICATES, NULL), *d;
        line_no++;
        memset(&a, 0, sizeof(a));
        if (!json_is_object(o) || !json_is_integer(json_object_get(o, "seq"))) {
            json_decref(o);
            file_bad = bad(line_no, "line", 0, "not an audit entry");
            break;
        }
        a.seq = json_integer_value(json_object_get(o, "seq"));
        snprintf(a.time, sizeof(a.time), "%s", json_string_value(json_object_get(o, "time")) ?: "");
        a.actor = (char *)json_string_value(json_object_get(o, "actor"));
        a.op = (char *)json_string_value(json_object_get(o, "op"));
        a.snapshot = (char *)json_string_value(json_object_get(o, "snapshot"));
        a.result = (char *)json_string_value(json_object_get(o, "result"));
        d = json_object_get(o, "details");
        a.details = d ? json_dumps(d, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY) : NULL;
        snprintf(a.prev_hash, sizeof(a.prev_hash), "%s", json_string_value(json_object_get(o, "prev_hash")) ?: "");
        snprintf(a.hash, sizeof(a.hash), "%s", json_string_value(json_object_get(o, "hash")) ?: "");
        const char *p = check_entry(&a, fwant, prev);
        if (p == NULL && a.seq > last)
            p = "not in the catalog";
        if (p == NULL) {
            struct catalog_audit *row = NULL;
            size_t n = 0;
            if (catalog_audit_list(s->cat, a.seq - 1, 1, &row, &n, e) != 0) {
                free(a.details);
                json_decref(o);
                goto fail;
            }
            if (n != 1 || strcmp(row[0].hash, a.hash) != 0)
                p = "differs from the catalog's entry";
            catalog_audit_free(row, n);
        }
        if (p != NULL)
            file_bad = bad(line_no, "line", a.seq, p);
        snprintf(prev, sizeof(prev), "%s", a.hash);
        fwant++;
        free(a.details);
        json_decref(o);
    }
    /* Short of the catalog: a crash between a commit and its flush leaves
     * the file at (or past) the mark recorded after its last fsync; a file
     * short of that mark lost lines it had, which no crash does. */
    if (json_is_null(file_bad) && fwant - 1 < last) {
        char problem[200];
        int64_t have = fwant - 1;
        if (missing && flushed > 0) {
            snprintf(problem, sizeof(problem), "audit.jsonl is missing; it had been written up to "
                     "seq %lld (deleted)", (long long)flushed);
            file_bad = json_pack("{s:I,s:I,s:s,s:b}", "line", (json_int_t)1, "seq", (json_int_t)1,
                                 "problem", problem, "file_missing", 1);
        } else if (have < flushed) {
            snprintf(problem, sizeof(problem), "entries missing at the end of the file: it ends at "
                     "seq %lld but had been written up to seq %lld (a deleted or cut tail)",
                     (long long)have, (long long)flushed);
            file_bad = bad(line_no + 1, "line", fwant, problem);
        } else {
            behind = last - have;
        }
    }
    free(text);
    text = NULL;
    int ok = json_is_null(cat_bad) && json_is_null(file_bad);
    *report = json_pack("{s:b,s:I,s:{s:b,s:o},s:{s:b,s:o,s:I,s:I}}", "ok", ok, "entries", (json_int_t)last,
                        "catalog", "ok", json_is_null(cat_bad), "first_bad", cat_bad,
                        "file", "ok", json_is_null(file_bad), "first_bad", file_bad,
                        "entries", (json_int_t)(fwant - 1), "behind", (json_int_t)behind);
    if (*report == NULL)
        return err_set(e, ERR_IO, "out of memory");
    if (behind > 0)
        json_object_set_new(json_object_get(*report, "file"), "note",
                            json_string(torn ? "a crash cut the last append short "
                                               "(any write or `statesnap audit repair` catches it up)"
                                             : "a crash came between a commit and "
                                               "its write to audit.jsonl (any write or `statesnap audit "
                                               "repair` catches it up)"));
    if (!ok) {
        const json_t *fb = json_is_null(json_object_get(json_object_get(*report, "catalog"), "first_bad"))
                               ? json_object_get(json_object_get(*report, "file"), "first_bad")
                               : json_object_get(json_object_get(*report, "catalog"), "first_bad");
        return err_set(e, ERR_VERIFY, "audit chain broken at %s %lld (seq %lld): %s",
                       json_object_get(fb, "line") ? "audit.jsonl line" : "catalog entry",
                       (long long)json_integer_value(json_object_get(fb, json_object_get(fb, "line") ? "line" : "row")),
                       (long long)json_integer_value(json_object_get(fb, "seq")),
                       json_string_value(json_object_get(fb, "problem")));
    }
    return 0;
fail:
    free(text);
    json_decref(cat_bad);
    json_decref(file_bad);
    return -1;
}
