/* client.c - opening an offsite target: settings parsed once, one S3 client. */
#include "client.h"

#include <stdio.h>
#include <stdlib.h>

int offsite_open(struct offsite **out, const json_t *section, struct err *e)
{
    struct offsite *o;

    *out = NULL;
    if (section == NULL)
        return err_set(e, ERR_INVALID, "offsite copy is not configured (no \"offsite\" section "
                                       "in the config)");
    if ((o = calloc(1, sizeof(*o))) == NULL)
        return err_set(e, ERR_IO, "out of memory");
    if (offsite_settings_parse(section, &o->set, e) != 0 ||
        offsite_settings_load_keys(&o->set, e) != 0 || s3_open(&o->s3, &o->set.s3, e) != 0) {
        offsite_close(o);
        return -1;
    }
    *out = o;
    return 0;
}

void offsite_close(struct offsite *o)
{
    if (o == NULL)
        return;
    s3_close(o->s3);
    offsite_settings_clear(&o->set);
    free(o);
}

long offsite_interval(const struct offsite *o)
{
    return o->set.interval;
}

int offsite_sync_after_create(const struct offsite *o)
{
    return o->set.sync_after_create;
}

void offsite_describe(const struct offsite *o, char *endpoint, size_t elen, char *bucket,
                      size_t blen, char *prefix, size_t plen)
{
    offsite_settings_endpoint(&o->set, endpoint, elen);
    snprintf(bucket, blen, "%s", o->set.s3.bucket);
    snprintf(prefix, plen, "%s", o->set.prefix);
}

void offsite_set_abort(struct offsite *o, const atomic_int *abort)
{
    s3_set_abort(o->s3, abort);
}

int offsite_object_key(const struct offsite *o, const char *name, const char *suffix, char *out,
                       size_t len, struct err *e)
{
    int n = snprintf(out, len, "%s%s%s", o->set.prefix, name, suffix);

    if (n < 0 || (size_t)n >= len)
        return err_set(e, ERR_INVALID, "offsite: object key too long");
    return 0;
}
