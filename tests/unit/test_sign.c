/* test_sign.c - engine/sign: a key is created once (0600, its public half
 * beside it) and loaded the same afterwards; a signature verifies with that
 * key only, over those bytes only; the OpenSSL command line checks it with
 * nothing but the public key file; trust lists name the signer. */
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
#include "../../engine/sign.h"
#include "unit_tmp.h"

static const char MSG[] = "{\"format\":1,\"files\":[{\"path\":\"positions.json\"}]}\n";

static char pub_path[sizeof(unit_path)];

static int setup(void **state)
{
    (void)state;
    if (unit_tmp_make("signing_key.pem") != 0)
        return -1;
    snprintf(pub_path, sizeof(pub_path), "%s/signing_key.pub", unit_dir);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return unit_tmp_remove();
}

static struct sign_key *load(int create)
{
    struct sign_key *k = NULL;
    struct err e = { 0 };

    assert_int_equal(sign_key_load_private(unit_path, pub_path, NULL, create, &k, &e), 0);
    assert_non_null(k);
    return k;
}

static void test_created_once_private_and_loaded_the_same(void **state)
{
    struct sign_key *a, *b, *none = NULL;
    struct err e = { 0 };
    struct stat st;
    char id[SIGN_KEY_ID_LEN + 1];

    (void)state;
    assert_int_equal(sign_key_load_private(unit_path, pub_path, NULL, 0, &none, &e), -1);
    assert_null(none);
    a = load(1);
    assert_int_equal(stat(unit_path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(strlen(sign_key_id(a)), SIGN_KEY_ID_LEN);
    snprintf(id, sizeof(id), "%s", sign_key_id(a));
    b = load(1);                      /* exists: loaded, not replaced */
    assert_string_equal(sign_key_id(b), id);
    sign_key_free(a);
    sign_key_free(b);
    assert_true(fs_exists(pub_path));
}

static void test_a_key_others_can_read_is_refused(void **state)
{
    struct sign_key *k = load(1), *again = NULL;
    struct err e = { 0 };

    (void)state;
    sign_key_free(k);
    assert_int_equal(chmod(unit_path, 0644), 0);
    assert_int_equal(sign_key_load_private(unit_path, NULL, NULL, 1, &again, &e), -1);
    assert_int_equal(e.code, ERR_INVALID);
    assert_non_null(strstr(e.msg, "readable by others"));
    assert_null(again);
}

static void test_a_file_that_is_not_a_key_is_refused(void **state)
{
    struct sign_key *k = NULL;
    struct err e = { 0 };

    (void)state;
    assert_int_equal(fs_write_atomic(unit_path, "hello\n", 6, 0600, &e), 0);
    assert_int_equal(sign_key_load_private(unit_path, NULL, NULL, 1, &k, &e), -1);
    assert_int_equal(e.code, ERR_INVALID);
    assert_non_null(strstr(e.msg, "not an Ed25519 private key"));
}

static void test_a_signature_holds_for_its_key_and_bytes_only(void **state)
{
    struct sign_key *a = load(1), *b, *pub;
    struct err e = { 0 };
    unsigned char sig[SIGN_SIG_LEN];
    char edited[sizeof(MSG)], *pem;
    char other[sizeof(unit_path) + 8];

    (void)state;
    assert_int_equal(sign_bytes(a, MSG, strlen(MSG), sig, &e), 0);
    assert_int_equal(sign_check(a, MSG, strlen(MSG), sig, sizeof(sig)), 1);
    /* the public half alone checks it */
    pem = sign_key_public_pem(a);
    assert_non_null(pem);
    assert_int_equal(sign_key_from_pem(pem, strlen(pem), &pub, &e), 0);
    free(pem);
    assert_string_equal(sign_key_id(pub), sign_key_id(a));
    assert_int_equal(sign_check(pub, MSG, strlen(MSG), sig, sizeof(sig)), 1);
    assert_int_equal(sign_bytes(pub, MSG, strlen(MSG), sig, &e), -1);   /* no private half */
    /* one changed byte, a truncated signature, another key: refused */
    memcpy(edited, MSG, sizeof(MSG));
    edited[10] ^= 1;
    assert_int_equal(sign_check(a, edited, strlen(edited), sig, sizeof(sig)), 0);
    assert_int_equal(sign_check(a, MSG, strlen(MSG), sig, sizeof(sig) - 1), 0);
    sig[0] ^= 0x80;
    assert_int_equal(sign_check(a, MSG, strlen(MSG), sig, sizeof(sig)), 0);
    sig[0] ^= 0x80;
    snprintf(other, sizeof(other), "%s.other", unit_path);
    assert_int_equal(sign_key_load_private(other, NULL, NULL, 1, &b, &e), 0);
    assert_string_not_equal(sign_key_id(b), sign_key_id(a));
    assert_int_equal(sign_check(b, MSG, strlen(MSG), sig, sizeof(sig)), 0);
    sign_key_free(a);
    sign_key_free(b);
    sign_key_free(pub);
}

/* The recipe in the README: openssl pkeyutl with the public key file alone;
 * and the key id is sha256sum of the public key's DER. */
static void test_the_openssl_command_line_agrees(void **state)
{
    struct sign_key *k = load(1);
    struct err e = { 0 };
    unsigned char sig[SIGN_SIG_LEN];
    char cmd[4 * sizeof(unit_path) + 256], msg_path[sizeof(unit_path) + 8],
         sig_path[sizeof(unit_path) + 8], line[128];
    FILE *p;

    (void)state;
    snprintf(msg_path, sizeof(msg_path), "%s/manifest.json", unit_dir);
    snprintf(sig_path, sizeof(sig_path), "%s/manifest.json.sig", unit_dir);
    assert_int_equal(sign_bytes(k, MSG, strlen(MSG), sig, &e), 0);
    assert_int_equal(fs_write_atomic(msg_path, MSG, strlen(MSG), 0644, &e), 0);
    assert_int_equal(fs_write_atomic(sig_path, sig, sizeof(sig), 0644, &e), 0);
    snprintf(cmd, sizeof(cmd), "openssl pkeyutl -verify -pubin -inkey '%s' -rawin -in '%s' "
             "-sigfile '%s' >/dev/null 2>&1", pub_path, msg_path, sig_path);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(fs_write_atomic(msg_path, "{}\n", 3, 0644, &e), 0);
    assert_int_not_equal(system(cmd), 0);
    snprintf(cmd, sizeof(cmd), "openssl pkey -pubin -in '%s' -outform DER | sha256sum", pub_path);
    assert_non_null(p = popen(cmd, "r"));
    assert_non_null(fgets(line, sizeof(line), p));
    pclose(p);
    assert_memory_equal(line, sign_key_id(k), SIGN_KEY_ID_LEN);
    sign_key_free(k);
}

static void test_a_trust_list_names_the_signer(void **state)
{
    struct sign_key *a = load(1), *b;
    struct sign_trust t = { 0 };
    struct err e = { 0 };
    unsigned char sig[SIGN_SIG_LEN];
    char other[sizeof(unit_path) + 8], id[SIGN_KEY_ID_LEN + 1] = "";

    (void)state;
    snprintf(other, sizeof(other), "%s.other", unit_path);
    assert_int_equal(sign_key_load_private(other, NULL, NULL, 1, &b, &e), 0);
    assert_int_equal(sign_bytes(a, MSG, strlen(MSG), sig, &e), 0);
    assert_int_equal(sign_trust_add(&t, b, &e), 0);
    assert_int_equal(sign_trust_check(&t, MSG, strlen(MSG), sig, sizeof(sig), id), 0);
    assert_int_equal(sign_trust_add_file(&t, pub_path, &e), 0);
    assert_int_equal(sign_trust_add_file(&t, pub_path, &e), 0);        /* a duplicate */
    assert_int_equal(t.n, 2);
    assert_int_equal(sign_trust_check(&t, MSG, strlen(MSG), sig, sizeof(sig), id), 1);
    assert_string_equal(id, sign_key_id(a));
    err_clear(&e);
    assert_int_equal(sign_trust_add_file(&t, unit_path, &e), -1);      /* a private key file */
    assert_non_null(strstr(e.msg, "trusted key"));
    sign_trust_clear(&t);
    sign_key_free(a);
    sign_key_free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_created_once_private_and_loaded_the_same, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_key_others_can_read_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_file_that_is_not_a_key_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_signature_holds_for_its_key_and_bytes_only, setup, teardown),
        cmocka_unit_test_setup_teardown(test_the_openssl_command_line_agrees, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_trust_list_names_the_signer, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
