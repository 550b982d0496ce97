/* test_s3.c - the S3 client alone (offsite/s3.c): its SigV4 signatures
 * against AWS's documented examples, and, when $STATESNAP_TEST_S3_ENDPOINT
 * names an S3 server (tests/offsite runs this against its s3rver behind the
 * signature-checking proxy), a put/head/list/get/delete round trip. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <fcntl.h>
#include <pthread.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <cmocka.h>

#include "../../common/fsutil.h"
#include "../../offsite/digests.h"
#include "../../offsite/s3.h"
#include "../../offsite/s3_multipart.h"

/* AWS's example credentials (Signature Version 4, "Examples of how to
 * calculate the signature": examplebucket, us-east-1, 20130524T000000Z). */
#define AWS_ACCESS "AKIAIOSFODNN7EXAMPLE"
#define AWS_SECRET "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"

/* One HTTP request read from a loopback socket, answered 200 with no body. */
struct capture {
    int listener;
    char request[8192];
};

static void *capture_one(void *arg)
{
    struct capture *c = arg;
    size_t got = 0;
    int fd = accept(c->listener, NULL, NULL);
    static const char answer[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";

    if (fd < 0)
        return NULL;
    while (got + 1 < sizeof(c->request)) {
        ssize_t k = read(fd, c->request + got, sizeof(c->request) - 1 - got);
        if (k <= 0)
            break;
        got += (size_t)k;
        c->request[got] = '\0';
        if (strstr(c->request, "\r\n\r\n") != NULL)
            break;
    }
    (void)fs_write_all(fd, answer, sizeof(answer) - 1);
    close(fd);
    return NULL;
}

/* The Authorization header the client sends for GET bucket?query, signed as
 * of AWS's example date, captured through an HTTP proxy on loopback (the
 * request keeps its Host: examplebucket.s3.amazonaws.com). */
static void signed_request(const char *query, int put_locked, char *auth, size_t len,
                           char *request, size_t rlen);

static void signed_get(const char *query, char *auth, size_t len)
{
    signed_request(query, 0, auth, len, NULL, 0);
}

/* GET bucket?query, or (put_locked) a PUT of "hello" under Object Lock, as
 * sent; the Authorization header into auth and the whole request into
 * request (when not NULL). */
static void signed_request(const char *query, int put_locked, char *auth, size_t len,
                           char *request, size_t rlen)
{
    struct capture c;
    struct sockaddr_in sa;
    socklen_t sl = sizeof(sa);
    struct s3_config cfg;
    struct s3 *cl = NULL;
    struct err e = { 0 };
    pthread_t t;
    char proxy[64], *text = NULL;
    const char *a, *end;

    memset(&c, 0, sizeof(c));
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    c.listener = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(c.listener >= 0);
    assert_int_equal(bind(c.listener, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(c.listener, 1), 0);
    assert_int_equal(getsockname(c.listener, (struct sockaddr *)&sa, &sl), 0);
    snprintf(proxy, sizeof(proxy), "http://127.0.0.1:%d", ntohs(sa.sin_port));
    setenv("http_proxy", proxy, 1);
    unsetenv("no_proxy");
    unsetenv("NO_PROXY");
    assert_int_equal(pthread_create(&t, NULL, capture_one, &c), 0);

    memset(&cfg, 0, sizeof(cfg));
    snprintf(cfg.scheme, sizeof(cfg.scheme), "http");
    snprintf(cfg.host, sizeof(cfg.host), "s3.amazonaws.com");
    snprintf(cfg.bucket, sizeof(cfg.bucket), "examplebucket");
    snprintf(cfg.region, sizeof(cfg.region), "us-east-1");
    cfg.access_key = AWS_ACCESS;
    cfg.secret_key = AWS_SECRET;
    cfg.user_agent = "test_s3";
    cfg.amz_date = "20130524T000000Z";
    assert_int_equal(s3_open(&cl, &cfg, &e), 0);
    if (put_locked) {
        assert_int_equal(s3_set_object_lock(cl, "COMPLIANCE", "2013-06-23T00:00:00Z"), 0);
        assert_int_equal(s3_put_bytes(cl, "note.txt", "hello", 5, "text/plain", &e), 0);
    } else {
        assert_int_equal(s3_get_text(cl, NULL, query, &text, &e), 0);
        free(text);
    }
    s3_close(cl);
    pthread_join(t, NULL);
    close(c.listener);
    unsetenv("http_proxy");

    assert_non_null(strstr(c.request, "\r\nHost: examplebucket.s3.amazonaws.com\r\n"));
    a = strstr(c.request, "\r\nAuthorization: ");
    assert_non_null(a);
    a += strlen("\r\nAuthorization: ");
    end = strstr(a, "\r\n");
    assert_non_null(end);
    snprintf(auth, len, "%.*s", (int)(end - a), a);
    if (request != NULL)
        snprintf(request, rlen, "%s", c.request);
}

static void expect_signature(const char *auth, const char *signature)
{
    char want[128];

    assert_non_null(strstr(auth, "AWS4-HMAC-SHA256 Credential=" AWS_ACCESS
                                 "/20130524/us-east-1/s3/aws4_request"));
    assert_non_null(strstr(auth, "SignedHeaders=host;x-amz-content-sha256;x-amz-date"));
    snprintf(want, sizeof(want), "Signature=%s", signature);
    assert_non_null(strstr(auth, want));
}

/* AWS's "GET Bucket (List Objects)" example: GET /?max-keys=2&prefix=J. */
static void sigv4_matches_the_aws_list_objects_example(void **state)
{
    char auth[1024];

    (void)state;
    signed_get("max-keys=2&prefix=J", auth, sizeof(auth));
    expect_signature(auth, "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7");
}

/* AWS's "GET Bucket Lifecycle" example: GET /?lifecycle. */
static void sigv4_matches_the_aws_bucket_lifecycle_example(void **state)
{
    char auth[1024];

    (void)state;
    signed_get("lifecycle=", auth, sizeof(auth));
    expect_signature(auth, "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543");
}

/* With an object lock set, an upload carries the mode and date, and both are
 * signed (in SignedHeaders, in canonical order); the GET known answers above
 * stay the same because requests that create no object carry no lock. */
static void object_lock_headers_are_sent_and_signed(void **state)
{
    char auth[1024], req[8192];
    struct s3_config cfg;
    struct s3 *cl = NULL;
    struct err e = { 0 };

    (void)state;
    signed_request(NULL, 1, auth, sizeof(auth), req, sizeof(req));
    assert_non_null(strstr(req, "PUT http://examplebucket.s3.amazonaws.com/note.txt HTTP/1.1\r\n"));
    assert_non_null(strstr(req, "\r\nx-amz-object-lock-mode: COMPLIANCE\r\n"));
    assert_non_null(strstr(req, "\r\nx-amz-object-lock-retain-until-date: 2013-06-23T00:00:00Z\r\n"));
    /* "hello": its SHA-256 and MD5 in base64, for the server to check. */
    assert_non_null(strstr(req, "\r\nx-amz-checksum-sha256: LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ=\r\n"));
    assert_non_null(strstr(req, "\r\nContent-MD5: XUFAKrxLKna5cZ2REBfFkg==\r\n"));
    assert_non_null(strstr(auth, "SignedHeaders=content-md5;content-type;host;x-amz-checksum-sha256;"
                                 "x-amz-content-sha256;x-amz-date;x-amz-meta-sha256;"
                                 "x-amz-object-lock-mode;x-amz-object-lock-retain-until-date,"));
    assert_non_null(strstr(auth, "Credential=" AWS_ACCESS "/20130524/us-east-1/s3/aws4_request"));
    /* The known answer, from AWS's own signer (@smithy/signature-v4, as the
     * offsite suite's proxy runs it) over the same headers. */
    assert_non_null(strstr(auth, "Signature=736f8c14bed602e9b3887cd4c720dc803c2aeddf27dc26a9f7979acef0740cfa"));

    /* Only the two modes and a whole-second UTC date are accepted. */
    memset(&cfg, 0, sizeof(cfg));
    snprintf(cfg.scheme, sizeof(cfg.scheme), "http");
    snprintf(cfg.host, sizeof(cfg.host), "s3.amazonaws.com");
    snprintf(cfg.bucket, sizeof(cfg.bucket), "examplebucket");
    snprintf(cfg.region, sizeof(cfg.region), "us-east-1");
    assert_int_equal(s3_open(&cl, &cfg, &e), 0);
    assert_int_equal(s3_set_object_lock(cl, "governance", "2013-06-23T00:00:00Z"), -1);
    assert_int_equal(s3_set_object_lock(cl, "GOVERNANCE", "2013-06-23"), -1);
    assert_int_equal(s3_set_object_lock(cl, "GOVERNANCE", "2013-06-23T00:00:00Z"), 0);
    assert_int_equal(s3_set_object_lock(cl, NULL, NULL), 0);
    s3_close(cl);
}

struct seen {
    char keys[8][256];
    int64_t sizes[8];
    int n;
};

static void note(void *ctx, const char *key, int64_t size, const char *last_modified)
{
    struct seen *s = ctx;

    (void)last_modified;
    if (s->n < 8) {
        snprintf(s->keys[s->n], sizeof(s->keys[0]), "%s", key);
        s->sizes[s->n++] = size;
    }
}

static const char *env_or_skip(const char *name)
{
    const char *v = getenv(name);

    if (v == NULL || *v == '\0')
        skip();
    return v;
}

/* A temporary file of n pseudo-random bytes, open for reading at offset 0. */
static int temp_file(size_t n)
{
    char path[] = "/tmp/test_s3." FS_TEMPLATE_TAIL;
    unsigned char buf[4096];
    uint32_t x = 2463534242u;
    int fd = mkstemp(path);

    assert_true(fd >= 0);
    unlink(path);
    for (size_t done = 0; done < n;) {
        size_t k = n - done < sizeof(buf) ? n - done : sizeof(buf);
        for (size_t i = 0; i < k; i++) {
            x ^= x << 13, x ^= x >> 17, x ^= x << 5;
            buf[i] = (unsigned char)x;
        }
        assert_int_equal(fs_write_all(fd, buf, k), 0);
        done += k;
    }
    assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
    return fd;
}

/* Against a real S3 server: single PUT, multipart PUT (two parts), PUT of
 * bytes, HEAD, LIST, GET (hash checked) and DELETE, each object seen to come
 * and go. */
static void round_trip_against_the_s3_server(void **state)
{
    const char *endpoint = env_or_skip("STATESNAP_TEST_S3_ENDPOINT");
    const char *prefix = env_or_skip("STATESNAP_TEST_S3_PREFIX");
    struct s3_config cfg;
    struct s3 *cl = NULL;
    struct err e = { 0 };
    struct seen seen;
    char small_key[512], big_key[512], note_key[512], sha[65], b64[45], md5[25], got_sha[65],
        stored[65], *text = NULL;
    int64_t size = 0, n = 0;
    int fd, out;

    (void)state;
    unsetenv("http_proxy");
    memset(&cfg, 0, sizeof(cfg));
    assert_int_equal(strncmp(endpoint, "http://", 7), 0);
    snprintf(cfg.scheme, sizeof(cfg.scheme), "http");
    snprintf(cfg.host, sizeof(cfg.host), "%s", endpoint + 7);
    snprintf(cfg.bucket, sizeof(cfg.bucket), "%s", env_or_skip("STATESNAP_TEST_S3_BUCKET"));
    snprintf(cfg.region, sizeof(cfg.region), "%s", env_or_skip("STATESNAP_TEST_S3_REGION"));
    cfg.access_key = (char *)env_or_skip("STATESNAP_TEST_S3_ACCESS_KEY");
    cfg.secret_key = (char *)env_or_skip("STATESNAP_TEST_S3_SECRET_KEY");
    cfg.path_style = 1;
    cfg.verify_tls = 1;
    cfg.user_agent = "test_s3";
    snprintf(small_key, sizeof(small_key), "%ssmall.bin", prefix);
    snprintf(big_key, sizeof(big_key), "%sbig.bin", prefix);
    snprintf(note_key, sizeof(note_key), "%snote.txt", prefix);
    assert_int_equal(s3_open(&cl, &cfg, &e), 0);

    /* Nothing there yet. */
    assert_int_equal(s3_head(cl, small_key, &size, stored, &e), 0);

    /* A single PUT with its SHA-256 and MD5, then HEAD says the same. */
    fd = temp_file(100000);
    assert_int_equal(digests_fd(fd, sha, b64, md5, &n), 0);
    assert_int_equal(n, 100000);
    assert_int_equal(s3_put_file(cl, small_key, fd, n, sha, b64, md5, &e), 0);
    close(fd);
    assert_int_equal(s3_head(cl, small_key, &size, stored, &e), 1);
    assert_int_equal(size, 100000);
    assert_string_equal(stored, sha);

    /* Multipart: one part more than S3_PART_BYTES. */
    fd = temp_file(S3_PART_BYTES + 4096);
    assert_int_equal(digests_fd(fd, sha, NULL, NULL, &n), 0);
    assert_int_equal(s3_put_multipart(cl, big_key, fd, n, sha, &e), 0);
    close(fd);
    assert_int_equal(s3_head(cl, big_key, &size, stored, &e), 1);
    assert_int_equal(size, (int64_t)S3_PART_BYTES + 4096);
    assert_string_equal(stored, sha);

    assert_int_equal(s3_put_bytes(cl, note_key, "hello", 5, "text/plain", &e), 0);

    /* LIST sees the three, in key order. */
    memset(&seen, 0, sizeof(seen));
    assert_int_equal(s3_list(cl, prefix, note, &seen, &e), 0);
    assert_int_equal(seen.n, 3);
    assert_string_equal(seen.keys[0], big_key);
    assert_string_equal(seen.keys[1], note_key);
    assert_string_equal(seen.keys[2], small_key);
    assert_int_equal(seen.sizes[1], 5);

    /* GET brings back the same bytes (hashed on the way, checked against the metadata). */
    out = temp_file(0);
    assert_int_equal(s3_get_file(cl, big_key, out, got_sha, &e), 0);
    assert_string_equal(got_sha, sha);
    assert_int_equal(lseek(out, 0, SEEK_END), (off_t)S3_PART_BYTES + 4096);
    close(out);
    assert_int_equal(s3_get_text(cl, note_key, NULL, &text, &e), 0);
    assert_string_equal(text, "hello");
    free(text);

    /* DELETE, and they are gone. */
    assert_int_equal(s3_delete(cl, small_key, &e), 0);
    assert_int_equal(s3_delete(cl, big_key, &e), 0);
    assert_int_equal(s3_delete(cl, note_key, &e), 0);
    assert_int_equal(s3_head(cl, big_key, &size, stored, &e), 0);
    out = temp_file(0);
    assert_int_equal(s3_get_file(cl, small_key, out, got_sha, &e), -1);
    assert_int_equal(e.code, ERR_NOT_FOUND);
    close(out);
    memset(&seen, 0, sizeof(seen));
    assert_int_equal(s3_list(cl, prefix, note, &seen, &e), 0);
    assert_int_equal(seen.n, 0);
    s3_close(cl);
    printf("# s3 round trip: ok\n");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sigv4_matches_the_aws_list_objects_example),
        cmocka_unit_test(sigv4_matches_the_aws_bucket_lifecycle_example),
        cmocka_unit_test(object_lock_headers_are_sent_and_signed),
        cmocka_unit_test(round_trip_against_the_s3_server),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
