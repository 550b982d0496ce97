/* client.h - an open offsite target: the parsed "offsite" settings and the
 * S3 client they configure, plus how a snapshot's objects are named under
 * the prefix. What sync, bucket and fetch share. */
#ifndef STATESNAP_OFFSITE_CLIENT_H
#define STATESNAP_OFFSITE_CLIENT_H

#include <stdatomic.h>
#include <stddef.h>
#include <jansson.h>

#include "../common/err.h"
#include "s3.h"
#include "settings.h"

#define OFFSITE_ACTOR "offsite"                   /* the audit actor of the server's rounds */

struct offsite {
    struct offsite_settings set;
    struct s3 *s3;
};

/* Parse the "offsite" section (offsite_settings_parse) and open its S3
 * client. ERR_INVALID when section is NULL ("offsite copy is not
 * configured") or bad, ERR_IO when libcurl cannot start. Free with
 * offsite_close (which wipes the keys). */
int offsite_open(struct offsite **out, const json_t *section, struct err *e);

/* Close. Accepts NULL. */
void offsite_close(struct offsite *o);

/* What the server's sync thread reads from an open client. Cannot fail. */
long offsite_interval(const struct offsite *o);
int offsite_sync_after_create(const struct offsite *o);
void offsite_describe(const struct offsite *o, char *endpoint, size_t elen, char *bucket,
                      size_t blen, char *prefix, size_t plen);

/* Transfers and rounds stop early once *abort is set (NULL: never). Cannot fail. */
void offsite_set_abort(struct offsite *o, const atomic_int *abort);

/* PREFIX NAME SUFFIX into out (".zip", ".manifest.json"). Returns 0 or -1
 * with ERR_INVALID when it does not fit. */
int offsite_object_key(const struct offsite *o, const char *name, const char *suffix, char *out,
                       size_t len, struct err *e);

#endif
