/* settings.h - the "offsite" section of statesnap.json, parsed and checked
 * once (unknown keys, types, ranges; keys possibly from the environment). */
#ifndef STATESNAP_OFFSITE_SETTINGS_H
#define STATESNAP_OFFSITE_SETTINGS_H

#include <stddef.h>
#include <jansson.h>

#include "../common/err.h"
#include "cms.h"
#include "s3.h"

#define OFFSITE_ACCESS_KEY_ENV "STATESNAP_OFFSITE_ACCESS_KEY"
#define OFFSITE_SECRET_KEY_ENV "STATESNAP_OFFSITE_SECRET_KEY"
#define OFFSITE_SESSION_TOKEN_ENV "STATESNAP_OFFSITE_SESSION_TOKEN"
#define OFFSITE_TOKEN_MAX 4096   /* STS/SSO session tokens run to ~2 KiB */
#define OFFSITE_INTERVAL_DEFAULT (7L * 86400)     /* weekly */
#define OFFSITE_PREFIX_MAX 512
#define OFFSITE_KEY_MAX 256
#define OFFSITE_LOCK_DAYS_MAX 36500               /* offsite.object_lock.days: 100 years */

struct offsite_settings {
    struct s3_config s3;         /* endpoint, bucket, region, TLS; owns the three secrets */
    char prefix[OFFSITE_PREFIX_MAX + 2];   /* always ends in '/' (or is empty) */
    long interval;               /* seconds between the server's rounds */
    int sync_after_create;
    char lock_mode[16];          /* offsite.object_lock.mode, or "" for no Object Lock */
    long lock_days;              /* offsite.object_lock.days (retain until upload + days) */
    /* Encrypted copies (#21): offsite.encrypt_to, the recipient's PEM
     * certificate (absolute path), loaded; offsite.decrypt_key, the PEM
     * private key that opens them (absolute path), or NULL. */
    char *encrypt_to;
    struct cms_recipient *recipient;
    char *decrypt_key;
};

/* Parse and check an "offsite" object into *set (overwritten). The
 * credentials come from $STATESNAP_OFFSITE_* over the file's keys, or
 * else all three from $AWS_ACCESS_KEY_ID / $AWS_SECRET_ACCESS_KEY /
 * $AWS_SESSION_TOKEN. Returns 0, or -1 with ERR_INVALID naming the key
 * (never a key's value) or ERR_IO. Call offsite_settings_clear either way. */
int offsite_settings_parse(const json_t *section, struct offsite_settings *set, struct err *e);

/* Read the files offsite.encrypt_to and offsite.decrypt_key name: the
 * certificate (a recipient), the key (readable, without a passphrase, and
 * the certificate's when both are set). offsite_open does this, so every
 * use of the bucket checks them; `config check` checks only their form (the
 * files may live where the check does not run). Returns 0 or -1 with
 * ERR_INVALID naming the key and path (never key material). */
int offsite_settings_load_keys(struct offsite_settings *set, struct err *e);

/* Wipe and free the secrets. Accepts NULL; cannot fail. */
void offsite_settings_clear(struct offsite_settings *set);

/* "scheme://host" of the endpoint into buf. Returns buf. Cannot fail. */
char *offsite_settings_endpoint(const struct offsite_settings *set, char *buf, size_t len);

#endif
