/* bucket.h - the bucket's listing under the prefix, and the `offsite list` report. */
#ifndef STATESNAP_OFFSITE_BUCKET_H
#define STATESNAP_OFFSITE_BUCKET_H

#include <jansson.h>

#include "../common/err.h"
#include "../engine/engine.h"
#include "client.h"

/* Everything under the prefix (all pages):
 * *listing = {archives:{NAME:{name,key,size,last_modified,encrypted}},
 * plain:{NAME:..}, sealed:{NAME:..}, manifests:{NAME:size},
 * foreign:[{key,size,reason}]}: plain holds the NAME.zip objects, sealed the
 * NAME.zip.p7m ones, archives one per name (the sealed one when
 * offsite.decrypt_key is set or there is no plain one). Returns 0, or -1 with e when the endpoint
 * cannot be listed. Caller decrefs. */
int offsite_listing(struct offsite *o, json_t **listing, struct err *e);

/* The archives under the prefix: {prefix, objects:[{name, key, size,
 * last_modified, sha256, catalog_state, manifest}], missing:[{name,
 * catalog_state}], foreign:[..]}; sha256 comes from each object's metadata
 * (HEAD). Returns 0 or -1 with e. Caller decrefs. */
int offsite_list(struct offsite *o, struct store *s, json_t **doc, struct err *e);

#endif
