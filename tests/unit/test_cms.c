/* test_cms.c - offsite/cms: an archive encrypted to a certificate through the
 * streaming reader (any read size) is what `openssl cms -decrypt` and
 * cms_decrypt_file give back byte for byte; the wrong key, another
 * recipient's key, a truncated or altered object are refused with a clear
 * error; a signature-only certificate is refused as a recipient. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "../../common/fsutil.h"
#include "../../offsite/cms.h"
#include "unit_tmp.h"

#define PLAIN_LEN (3 * 1024 * 1024 + 17)

static char path_buf[8][sizeof(unit_path) + 32];
enum { PLAIN, ENC, OUT, CERT_A, KEY_A, CERT_B, KEY_B, CERT_ED };

static const char *P(int which)
{
    static const char *names[] = { "plain.zip", "plain.zip.cms", "out.zip", "a.crt", "a.key",
                                   "b.crt", "b.key", "ed.crt" };
    snprintf(path_buf[which], sizeof(path_buf[which]), "%s/%s", unit_dir, names[which]);
    return path_buf[which];
}

static int sh(const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    return system(cmd);
}

/* Flip every bit of the byte at off: setting it to a fixed value would
 * leave it unchanged 1 time in 256 (the content is random), and the test
 * would then see a valid object. */
static void flip_byte(const char *path, off_t off)
{
    int fd = open(path, O_RDWR);
    unsigned char b;

    assert_true(fd >= 0);
    assert_int_equal(pread(fd, &b, 1, off), 1);
    b ^= 0xff;
    assert_int_equal(pwrite(fd, &b, 1, off), 1);
    close(fd);
}

static int setup(void **state)
{
    (void)state;
    if (unit_tmp_make("x") != 0)
        return -1;
    if (sh("cd '%s' && head -c %d /dev/urandom > plain.zip && "
           "openssl req -x509 -newkey rsa:2048 -nodes -keyout a.key -out a.crt -subj /CN=a "
           "-days 2 >/dev/null 2>&1 && "
           "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout b.key "
           "-out b.crt -subj /CN=b -days 2 >/dev/null 2>&1 && "
           "openssl req -x509 -newkey ed25519 -nodes -keyout ed.key -out ed.crt -subj /CN=ed "
           "-days 2 >/dev/null 2>&1", unit_dir, PLAIN_LEN) != 0)
        return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return unit_tmp_remove();
}

/* Encrypt PLAIN to cert into ENC, reading step bytes at a time. */
static void encrypt_to(const char *cert, size_t step)
{
    struct cms_recipient *r;
    struct cms_enc *c;
    struct err e = { 0 };
    static unsigned char buf[70000];
    int in = open(P(PLAIN), O_RDONLY), out = open(P(ENC), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ssize_t n;

    assert_true(in >= 0 && out >= 0);
    assert_int_equal(cms_recipient_load(cert, &r, &e), 0);
    assert_int_equal(cms_enc_open(r, in, &c, &e), 0);
    while ((n = cms_enc_read(c, buf, step, &e)) > 0)
        assert_int_equal(fs_write_all(out, buf, (size_t)n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(cms_enc_plain_bytes(c), PLAIN_LEN);
    cms_enc_free(c);
    cms_recipient_free(r);
    close(in);
    close(out);
}

static int decrypt_with(const char *cert, const char *key, struct err *e)
{
    int out = open(P(OUT), O_WRONLY | O_CREAT | O_TRUNC, 0600), rc;

    assert_true(out >= 0);
    rc = cms_decrypt_file(P(ENC), out, cert, key, e);
    close(out);
    return rc;
}

static void test_openssl_and_fetch_read_back_every_byte(void **state)
{
    size_t steps[] = { 65536, 1, 70000, 4093 };
    struct err e = { 0 };
    unsigned char head[32];
    int fd;

    (void)state;
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        /* 1-byte reads over 3 MiB would take long: only the start of it */
        if (steps[i] == 1) {
            struct cms_recipient *r;
            struct cms_enc *c;
            unsigned char b;
            int in = open(P(PLAIN), O_RDONLY);
            assert_int_equal(cms_recipient_load(P(CERT_A), &r, &e), 0);
            assert_int_equal(cms_enc_open(r, in, &c, &e), 0);
            for (int k = 0; k < 1000; k++)
                assert_int_equal(cms_enc_read(c, &b, 1, &e), 1);
            cms_enc_free(c);              /* abandoned midway: no leak */
            cms_recipient_free(r);
            close(in);
            continue;
        }
        encrypt_to(i % 2 ? P(CERT_B) : P(CERT_A), steps[i]);
        const char *cert = i % 2 ? P(CERT_B) : P(CERT_A), *key = i % 2 ? P(KEY_B) : P(KEY_A);
        assert_int_equal(sh("openssl cms -decrypt -binary -inform DER -in '%s' -recip '%s' "
                            "-inkey '%s' -out '%s.cli' && cmp -s '%s.cli' '%s'", P(ENC), cert, key,
                            P(OUT), P(OUT), P(PLAIN)), 0);
        assert_int_equal(decrypt_with(cert, key, &e), 0);
        assert_int_equal(sh("cmp -s '%s' '%s'", P(OUT), P(PLAIN)), 0);
        assert_int_equal(sh("openssl cms -cmsout -print -inform DER -in '%s' | "
                            "grep -q authEnvelopedData", P(ENC)), 0);
    }
    fd = open(P(ENC), O_RDONLY);
    assert_int_equal(read(fd, head, sizeof(head)), (ssize_t)sizeof(head));
    close(fd);
    assert_int_equal(cms_looks_encrypted(head, sizeof(head)), 1);
    assert_int_equal(cms_looks_encrypted((const unsigned char *)"PK\3\4aaaaaaaaaaaaaaaa", 20), 0);
    assert_int_equal(cms_looks_encrypted(head, 1), 0);
}

static void test_the_wrong_key_is_refused_clearly(void **state)
{
    struct err e = { 0 };

    (void)state;
    encrypt_to(P(CERT_A), 65536);
    /* a key that is not the certificate's */
    assert_int_equal(decrypt_with(P(CERT_A), P(KEY_B), &e), -1);
    assert_int_equal(e.code, ERR_INVALID);
    assert_non_null(strstr(e.msg, "is not the private key of the certificate"));
    /* another recipient's certificate and key */
    err_clear(&e);
    assert_int_equal(decrypt_with(P(CERT_B), P(KEY_B), &e), -1);
    assert_int_equal(e.code, ERR_VERIFY);
    assert_non_null(strstr(e.msg, "cannot decrypt"));
    /* without a certificate every recipient is tried: the right key opens it, */
    err_clear(&e);
    assert_int_equal(decrypt_with(NULL, P(KEY_A), &e), 0);
    assert_int_equal(sh("cmp -s '%s' '%s'", P(PLAIN), P(OUT)), 0);
    /* another does not */
    assert_int_equal(decrypt_with(NULL, P(KEY_B), &e), -1);
    assert_int_equal(e.code, ERR_VERIFY);
    assert_non_null(strstr(e.msg, "cannot decrypt"));
    /* a missing key file */
    err_clear(&e);
    assert_int_equal(decrypt_with(P(CERT_A), "/nonexistent/key.pem", &e), -1);
    assert_non_null(strstr(e.msg, "offsite.decrypt_key"));
}

static void test_a_truncated_or_altered_object_is_refused(void **state)
{
    struct err e = { 0 };
    struct stat st;

    (void)state;
    encrypt_to(P(CERT_A), 65536);
    assert_int_equal(stat(P(ENC), &st), 0);
    assert_int_equal(truncate(P(ENC), st.st_size - 40), 0);
    assert_int_equal(decrypt_with(P(CERT_A), P(KEY_A), &e), -1);
    assert_int_equal(e.code, ERR_VERIFY);
    encrypt_to(P(CERT_A), 65536);
    /* one flipped byte well inside the encrypted content: the GCM tag fails */
    flip_byte(P(ENC), st.st_size / 2);
    err_clear(&e);
    assert_int_equal(decrypt_with(P(CERT_A), P(KEY_A), &e), -1);
    assert_int_equal(e.code, ERR_VERIFY);
}

static void test_a_signature_only_certificate_is_no_recipient(void **state)
{
    struct cms_recipient *r = NULL;
    struct err e = { 0 };

    (void)state;
    assert_int_equal(cms_recipient_load(P(CERT_ED), &r, &e), -1);
    assert_null(r);
    assert_non_null(strstr(e.msg, "cannot receive an encryption key"));
    err_clear(&e);
    assert_int_equal(cms_recipient_load(P(KEY_A), &r, &e), -1);   /* a key, not a certificate */
    assert_non_null(strstr(e.msg, "not a PEM X.509 certificate"));
}

/* Objects other encoders write decrypt as well through the streaming
 * reader: definite-length DER from `openssl cms -encrypt` (GCM, and CBC
 * EnvelopedData), and a streamed (indefinite-length) one. */
static void test_openssl_made_objects_decrypt_streaming(void **state)
{
    static const char *const how[] = { "-aes-256-gcm", "-aes-256-cbc", "-aes-256-gcm -stream" };
    struct err e = { 0 };

    (void)state;
    for (size_t i = 0; i < sizeof(how) / sizeof(how[0]); i++) {
        assert_int_equal(sh("openssl cms -encrypt -binary %s -outform DER -in '%s' -out '%s' '%s'",
                            how[i], P(PLAIN), P(ENC), P(CERT_A)), 0);
        unlink(P(OUT));
        assert_int_equal(decrypt_with(P(CERT_A), P(KEY_A), &e), 0);
        assert_int_equal(sh("cmp -s '%s' '%s'", P(PLAIN), P(OUT)), 0);
        /* and with the EC recipient, key only */
        assert_int_equal(sh("openssl cms -encrypt -binary %s -outform DER -in '%s' -out '%s' '%s'",
                            how[i], P(PLAIN), P(ENC), P(CERT_B)), 0);
        unlink(P(OUT));
        assert_int_equal(decrypt_with(NULL, P(KEY_B), &e), 0);
        assert_int_equal(sh("cmp -s '%s' '%s'", P(PLAIN), P(OUT)), 0);
    }
    /* a flipped content byte in a DER GCM object: the tag fails */
    assert_int_equal(sh("openssl cms -encrypt -binary -aes-256-gcm -outform DER -in '%s' -out '%s' '%s'",
                        P(PLAIN), P(ENC), P(CERT_A)), 0);
    flip_byte(P(ENC), PLAIN_LEN / 2);
    assert_int_equal(decrypt_with(P(CERT_A), P(KEY_A), &e), -1);
    assert_int_equal(e.code, ERR_VERIFY);
    /* a zip is no CMS object */
    err_clear(&e);
    assert_int_equal(sh("cp '%s' '%s'", P(PLAIN), P(ENC)), 0);
    assert_int_equal(decrypt_with(P(CERT_A), P(KEY_A), &e), -1);
    assert_int_equal(e.code, ERR_VERIFY);
    assert_non_null(strstr(e.msg, "not a whole CMS"));
}

static void test_the_config_checks_of_key_and_certificate(void **state)
{
    struct cms_recipient *r = NULL;
    struct err e = { 0 };
    char pub[sizeof(path_buf[0])], locked[sizeof(path_buf[0])];

    (void)state;
    snprintf(pub, sizeof(pub), "%s/a.pub", unit_dir);
    snprintf(locked, sizeof(locked), "%s/locked.key", unit_dir);
    assert_int_equal(sh("openssl pkey -in '%s' -pubout -out '%s' && openssl pkey -in '%s' "
                        "-aes256 -passout pass:x -out '%s'", P(KEY_A), pub, P(KEY_A), locked), 0);
    /* a bare public key is refused with the recipe for a certificate */
    assert_int_equal(cms_recipient_load(pub, &r, &e), -1);
    assert_int_equal(e.code, ERR_INVALID);
    assert_non_null(strstr(e.msg, "bare public key"));
    assert_non_null(strstr(e.msg, "openssl req -x509"));
    err_clear(&e);
    assert_int_equal(cms_recipient_load("/nonexistent/c.pem", &r, &e), -1);
    assert_int_equal(e.code, ERR_INVALID);
    assert_non_null(strstr(e.msg, "offsite.encrypt_to /nonexistent/c.pem"));
    /* the key: its own certificate's is accepted, another's refused */
    err_clear(&e);
    assert_int_equal(cms_recipient_load(P(CERT_A), &r, &e), 0);
    assert_int_equal(cms_key_check(P(KEY_A), r, &e), 0);
    assert_int_equal(cms_key_check(P(KEY_B), NULL, &e), 0);
    assert_int_equal(cms_key_check(P(KEY_B), r, &e), -1);
    assert_int_equal(e.code, ERR_INVALID);
    assert_non_null(strstr(e.msg, "is not the private key of the offsite.encrypt_to"));
    /* a certificate or a passphrase-protected key is no key (and nothing prompts) */
    err_clear(&e);
    assert_int_equal(cms_key_check(P(CERT_A), r, &e), -1);
    assert_non_null(strstr(e.msg, "not a PEM private key"));
    err_clear(&e);
    assert_int_equal(cms_key_check(locked, r, &e), -1);
    assert_non_null(strstr(e.msg, "without a passphrase"));
    err_clear(&e);
    assert_int_equal(cms_key_check("/nonexistent/k.pem", r, &e), -1);
    assert_int_equal(e.code, ERR_INVALID);
    cms_recipient_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_openssl_and_fetch_read_back_every_byte, setup, teardown),
        cmocka_unit_test_setup_teardown(test_the_wrong_key_is_refused_clearly, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_truncated_or_altered_object_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_signature_only_certificate_is_no_recipient, setup, teardown),
        cmocka_unit_test_setup_teardown(test_the_config_checks_of_key_and_certificate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_openssl_made_objects_decrypt_streaming, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
