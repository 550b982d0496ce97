/* settings.c - the "offsite" section of statesnap.json: endpoint, bucket,
 * prefix, region, credentials (each from its environment variable over the
 * file, or the standard AWS variables), interval, TLS, sync-after-create and
 * the Object Lock retention uploads ask for.
 * The one list of its keys is here. */
#include "settings.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "../common/duration.h"
#include "../engine/engine.h"
#include "../engine/meta.h"

static const char *const offsite_keys[] = {
    "endpoint", "bucket", "prefix", "region", "access_key", "secret_key", "session_token",
    "path_style", "interval", "verify_tls", "sync_after_create",
    "object_lock", "encrypt_to", "decrypt_key", NULL
};

static const char *const object_lock_keys[] = { "mode", "days", NULL };

static int text_ok(const char *s, size_t max)
{
    size_t n = strlen(s);

    if (n == 0 || n > max)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] == 0x7f)
            return 0;
    return 1;
}

/* Prefix characters are limited so a key never needs URL-encoding: the
 * signed canonical URI is then the path exactly as sent. */
static int prefix_ok(const char *s)
{
    size_t n = strlen(s);

    if (n > OFFSITE_PREFIX_MAX || s[0] == '/' || strstr(s, "..") != NULL || strstr(s, "//"))
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-' || c == '/'))
            return 0;
    }
    return 1;
}

static int bucket_ok(const char *s)
{
    size_t n = strlen(s);

    if (n < 3 || n > 63)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-'))
            return 0;
    }
    return 1;
}

static int region_ok(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > 63)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
            return 0;
    return 1;
}

static void wipe_free(char *s)
{
    if (s != NULL) {
        OPENSSL_cleanse(s, strlen(s));
        free(s);
    }
}

static int get_str(const json_t *cfg, const char *key, const char **out, struct err *e)
{
    const json_t *v = json_object_get(cfg, key);

    if (v == NULL)
        return 0;
    if (!json_is_string(v))
        return err_set(e, ERR_INVALID, "config: \"offsite.%s\" must be a string", key);
    *out = json_string_value(v);
    return 0;
}

static int get_flag(const json_t *cfg, const char *key, int *out, struct err *e)
{
    const json_t *v = json_object_get(cfg, key);

    if (v == NULL)
        return 0;
    if (!json_is_boolean(v))
        return err_set(e, ERR_INVALID, "config: \"offsite.%s\" must be true or false", key);
    *out = json_is_true(v);
    return 0;
}

/* A key from the environment (which wins, so the file can hold a placeholder) or the file. */
static int get_key(const json_t *cfg, const char *key, const char *env, char **out,
                   struct err *e)
{
    const char *val = getenv(env), *file = NULL;

    if (get_str(cfg, key, &file, e) != 0)
        return -1;
    if (val == NULL || *val == '\0')
        val = file;
    if (val == NULL)
        return err_set(e, ERR_INVALID, "config: offsite needs \"%s\" or $%s%s", key, env,
                       strcmp(key, "access_key") == 0 ? " (or $AWS_ACCESS_KEY_ID with "
                                                        "$AWS_SECRET_ACCESS_KEY)" : "");
    if (!text_ok(val, 256))
        return err_set(e, ERR_INVALID, "config: the offsite %s (%s) must be 1..256 printable "
                                       "characters without spaces", key,
                       val == file ? "the file" : env);
    if ((*out = strdup(val)) == NULL)
        return err_set(e, ERR_IO, "out of memory");
    return 0;
}

/* A non-empty environment variable, or NULL. */
static const char *env_set(const char *name)
{
    const char *v = getenv(name);

    return v != NULL && *v != '\0' ? v : NULL;
}

/* The credentials, from the first source that names an access key:
 *  1. $STATESNAP_OFFSITE_ACCESS_KEY, or offsite.access_key in the config
 *     (each of the three values: its STATESNAP_OFFSITE_* variable over the
 *     config's key, as before);
 *  2. else the standard $AWS_ACCESS_KEY_ID, $AWS_SECRET_ACCESS_KEY and
 *     $AWS_SESSION_TOKEN (what STS, SSO and `aws configure export-credentials`
 *     hand out), all three from there: a temporary key never mixes with a
 *     token from elsewhere. */
static int get_credentials(const json_t *cfg, struct offsite_settings *o, struct err *e)
{
    const char *file = NULL, *token = NULL;

    if (get_str(cfg, "access_key", &file, e) != 0)
        return -1;
    if (env_set(OFFSITE_ACCESS_KEY_ENV) == NULL && file == NULL && env_set("AWS_ACCESS_KEY_ID") != NULL) {
        const char *ak = env_set("AWS_ACCESS_KEY_ID"), *sk = env_set("AWS_SECRET_ACCESS_KEY");
        if (json_object_get(cfg, "secret_key") != NULL || json_object_get(cfg, "session_token") != NULL)
            return err_set(e, ERR_INVALID, "config: offsite.secret_key/session_token are set but "
                                           "the access key comes from $AWS_ACCESS_KEY_ID: give all "
                                           "three in one place");
        if (sk == NULL)
            return err_set(e, ERR_INVALID, "config: $AWS_ACCESS_KEY_ID is set but "
                                           "$AWS_SECRET_ACCESS_KEY is not");
        token = env_set("AWS_SESSION_TOKEN");
        if (!text_ok(ak, 256) || !text_ok(sk, 256))
            return err_set(e, ERR_INVALID, "config: $AWS_ACCESS_KEY_ID and $AWS_SECRET_ACCESS_KEY "
                                           "must be 1..256 printable characters without spaces");
        if (token != NULL && !text_ok(token, OFFSITE_TOKEN_MAX))
            return err_set(e, ERR_INVALID, "config: $AWS_SESSION_TOKEN must be 1..%d printable "
                                           "characters without spaces", OFFSITE_TOKEN_MAX);
        if ((o->s3.access_key = strdup(ak)) == NULL || (o->s3.secret_key = strdup(sk)) == NULL ||
            (token != NULL && (o->s3.session_token = strdup(token)) == NULL))
            return err_set(e, ERR_IO, "out of memory");
        return 0;
    }
    if (get_key(cfg, "access_key", OFFSITE_ACCESS_KEY_ENV, &o->s3.access_key, e) ||
        get_key(cfg, "secret_key", OFFSITE_SECRET_KEY_ENV, &o->s3.secret_key, e))
        return -1;
    if (get_str(cfg, "session_token", &token, e) != 0)
        return -1;
    if (env_set(OFFSITE_SESSION_TOKEN_ENV) != NULL)
        token = env_set(OFFSITE_SESSION_TOKEN_ENV);
    if (token != NULL) {
        if (!text_ok(token, OFFSITE_TOKEN_MAX))
            return err_set(e, ERR_INVALID, "config: the offsite session_token must be 1..%d "
                                           "printable characters without spaces", OFFSITE_TOKEN_MAX);
        if ((o->s3.session_token = strdup(token)) == NULL)
            return err_set(e, ERR_IO, "out of memory");
    }
    return 0;
}

/* "object_lock": {"mode": "GOVERNANCE"|"COMPLIANCE", "days": N}, both required. */
static int parse_object_lock(const json_t *cfg, struct offsite_settings *o, struct err *e)
{
    const json_t *lock = json_object_get(cfg, "object_lock"), *mode, *days, *v;
    const char *k;

    if (lock == NULL || json_is_null(lock))
        return 0;
    if (!json_is_object(lock))
        return err_set(e, ERR_INVALID, "config: \"offsite.object_lock\" must be an object "
                                       "{\"mode\": \"GOVERNANCE\" or \"COMPLIANCE\", \"days\": N}");
    json_object_foreach((json_t *)lock, k, v) {
        size_t i;
        for (i = 0; object_lock_keys[i] != NULL && strcmp(object_lock_keys[i], k) != 0; i++)
            ;
        if (object_lock_keys[i] == NULL)
            return err_set(e, ERR_INVALID, "config: unknown key \"offsite.object_lock.%.64s\" "
                                           "(it has \"mode\" and \"days\")", k);
    }
    mode = json_object_get(lock, "mode");
    if (!json_is_string(mode) || (strcmp(json_string_value(mode), "GOVERNANCE") != 0 &&
                                  strcmp(json_string_value(mode), "COMPLIANCE") != 0))
        return err_set(e, ERR_INVALID, "config: \"offsite.object_lock.mode\" must be "
                                       "\"GOVERNANCE\" or \"COMPLIANCE\"");
    days = json_object_get(lock, "days");
    if (!json_is_integer(days) || json_integer_value(days) < 1 ||
        json_integer_value(days) > OFFSITE_LOCK_DAYS_MAX)
        return err_set(e, ERR_INVALID, "config: \"offsite.object_lock.days\" must be a whole "
                                       "number of days from 1 to %d", OFFSITE_LOCK_DAYS_MAX);
    snprintf(o->lock_mode, sizeof(o->lock_mode), "%s", json_string_value(mode));
    o->lock_days = (long)json_integer_value(days);
    return 0;
}

/* offsite.encrypt_to and offsite.decrypt_key: absolute paths of PEM files
 * (read by offsite_settings_load_keys when the bucket is used). */
static int get_crypt(const json_t *cfg, struct offsite_settings *o, struct err *e)
{
    const char *cert = NULL, *key = NULL;

    if (get_str(cfg, "encrypt_to", &cert, e) || get_str(cfg, "decrypt_key", &key, e))
        return -1;
    if (cert != NULL && cert[0] != '/')
        return err_set(e, ERR_INVALID, "config: \"offsite.encrypt_to\" must be the absolute path "
                                       "of a PEM certificate");
    if (key != NULL && key[0] != '/')
        return err_set(e, ERR_INVALID, "config: \"offsite.decrypt_key\" must be the absolute path "
                                       "of a PEM private key");
    if (cert != NULL && ((o->encrypt_to = strdup(cert)) == NULL))
        return err_set(e, ERR_IO, "out of memory");
    if (key != NULL && ((o->decrypt_key = strdup(key)) == NULL))
        return err_set(e, ERR_IO, "out of memory");
    return 0;
}

int offsite_settings_load_keys(struct offsite_settings *o, struct err *e)
{
    if (o->encrypt_to != NULL && o->recipient == NULL &&
        cms_recipient_load(o->encrypt_to, &o->recipient, e) != 0)
        return -1;
    return o->decrypt_key != NULL ? cms_key_check(o->decrypt_key, o->recipient, e) : 0;
}

int offsite_settings_parse(const json_t *cfg, struct offsite_settings *o, struct err *e)
{
    const char *endpoint = NULL, *bucket = NULL, *prefix = NULL, *region = "us-east-1", *p;
    const json_t *v;
    const char *k;
    char host[200];
    int n;

    memset(o, 0, sizeof(*o));
    o->interval = OFFSITE_INTERVAL_DEFAULT;
    o->s3.verify_tls = 1;
    o->s3.user_agent = "statesnap/" STATESNAP_VERSION;
    if (!json_is_object(cfg))
        return err_set(e, ERR_INVALID, "config: \"offsite\" must be an object");
    json_object_foreach((json_t *)cfg, k, v) {
        size_t i;
        for (i = 0; offsite_keys[i] != NULL && strcmp(offsite_keys[i], k) != 0; i++)
            ;
        if (offsite_keys[i] == NULL)
            return err_set(e, ERR_INVALID, "config: unknown key \"offsite.%.64s\"", k);
    }
    if (get_str(cfg, "endpoint", &endpoint, e) || get_str(cfg, "bucket", &bucket, e) ||
        get_str(cfg, "prefix", &prefix, e) || get_str(cfg, "region", &region, e) ||
        get_flag(cfg, "path_style", &o->s3.path_style, e) ||
        get_flag(cfg, "verify_tls", &o->s3.verify_tls, e) ||
        get_flag(cfg, "sync_after_create", &o->sync_after_create, e))
        return -1;
    if (endpoint == NULL || !text_ok(endpoint, 255))
        return err_set(e, ERR_INVALID, "config: \"offsite.endpoint\" is required: "
                                       "http(s)://HOST[:PORT]");
    if (strncmp(endpoint, "https://", 8) == 0) {
        snprintf(o->s3.scheme, sizeof(o->s3.scheme), "https");
        p = endpoint + 8;
    } else if (strncmp(endpoint, "http://", 7) == 0) {
        snprintf(o->s3.scheme, sizeof(o->s3.scheme), "http");
        p = endpoint + 7;
    } else {
        return err_set(e, ERR_INVALID, "config: \"offsite.endpoint\" must start with http:// "
                                       "or https://");
    }
    n = snprintf(o->s3.host, sizeof(o->s3.host), "%s", p);
    if (n <= 0 || (size_t)n >= sizeof(o->s3.host))
        return err_set(e, ERR_INVALID, "config: \"offsite.endpoint\" is too long");
    if (n > 0 && o->s3.host[n - 1] == '/')
        o->s3.host[--n] = '\0';
    if (n == 0 || strpbrk(o->s3.host, "/?#@") != NULL)
        return err_set(e, ERR_INVALID, "config: \"offsite.endpoint\" must be http(s)://HOST[:PORT] "
                                       "without a path");
    if (bucket == NULL || !bucket_ok(bucket))
        return err_set(e, ERR_INVALID, "config: \"offsite.bucket\" is required: 3..63 of a-z, "
                                       "0-9, '.' and '-'");
    snprintf(o->s3.bucket, sizeof(o->s3.bucket), "%s", bucket);
    if (!region_ok(region))
        return err_set(e, ERR_INVALID, "config: \"offsite.region\" must be a region name like "
                                       "eu-central-1");
    snprintf(o->s3.region, sizeof(o->s3.region), "%s", region);
    if (prefix == NULL) {
        /* statesnap/<host>/: several hosts share a bucket without meeting. */
        meta_host(host, sizeof(host));
        for (char *c = host; *c; c++)
            if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
                  (*c >= '0' && *c <= '9') || *c == '.' || *c == '-'))
                *c = '-';
        snprintf(o->prefix, sizeof(o->prefix), "statesnap/%s/", host[0] ? host : "host");
    } else {
        if (!prefix_ok(prefix))
            return err_set(e, ERR_INVALID, "config: \"offsite.prefix\" must be at most %d of "
                                           "letters, digits, '.', '_', '-' and '/', not starting "
                                           "with '/' and without \"..\"", OFFSITE_PREFIX_MAX);
        n = snprintf(o->prefix, sizeof(o->prefix), "%s%s", prefix,
                     *prefix && prefix[strlen(prefix) - 1] != '/' ? "/" : "");
        if (n < 0 || (size_t)n >= sizeof(o->prefix))
            return err_set(e, ERR_INVALID, "config: \"offsite.prefix\" is too long");
    }
    if ((v = json_object_get(cfg, "interval")) != NULL) {
        if (json_is_integer(v) && json_integer_value(v) >= 60 &&
            json_integer_value(v) <= 366L * 86400) {
            o->interval = (long)json_integer_value(v);
        } else if (!json_is_string(v) ||
                   duration_parse(json_string_value(v), &o->interval, e) != 0 ||
                   o->interval < 60) {
            e->code = ERR_NONE;
            return err_set(e, ERR_INVALID, "config: \"offsite.interval\" must be a duration of "
                                           "at least 60 seconds (e.g. \"7d\", \"24h\")");
        }
    }
    if (parse_object_lock(cfg, o, e) != 0 || get_crypt(cfg, o, e) != 0)
        return -1;
    return get_credentials(cfg, o, e);
}

void offsite_settings_clear(struct offsite_settings *o)
{
    if (o == NULL)
        return;
    wipe_free(o->s3.access_key);
    wipe_free(o->s3.secret_key);
    wipe_free(o->s3.session_token);
    o->s3.access_key = o->s3.secret_key = o->s3.session_token = NULL;
    cms_recipient_free(o->recipient);
    free(o->encrypt_to);
    free(o->decrypt_key);
    o->recipient = NULL;
    o->encrypt_to = o->decrypt_key = NULL;
}


char *offsite_settings_endpoint(const struct offsite_settings *set, char *buf, size_t len)
{
    return s3_endpoint_text(&set->s3, buf, len);
}
