/* prune.h - the prune primitives: a retention policy applied under the
 * store lock the caller holds (engine_prune's locked part, which create's
 * prune_after_create uses too). */
#ifndef STATESNAP_PRUNE_H
#define STATESNAP_PRUNE_H

#include <jansson.h>

#include "retention.h"
#include "store.h"

/* The policy to apply: p, else the store's configured one, else the
 * default (kept in *def); in *out. ERR_INVALID (keep_last below
 * RETENTION_MIN_KEEP_LAST) with *out set anyway. Writes nothing. */
int prune_policy(const struct store *s, const struct retention_policy *p,
                 struct retention_policy *def, const struct retention_policy **out, struct err *e);

/* Apply policy p (from prune_policy) to the catalog: every snapshot it
 * keeps in *report's kept with its reasons, every other one deleted
 * crash-safely (intent first) unless dry_run, and one audit entry "prune"
 * when any was. *report = {dry_run, kept, removed}. A failure is also an
 * event (prune, error). The lock is held. */
int prune_apply(struct store *s, const struct retention_policy *p, int dry_run, json_t **report,
                struct err *e);

/* The prune error event ({error}) for e. Cannot fail. */
void prune_emit_error(const struct store *s, const struct err *e);

/* The configured retention applied right after a create (prune_after_create):
 * snap (that create's Snapshot document) gets "pruned" = the names removed;
 * a failure is a warning in its "warnings", never the create's error. The
 * lock is held. Cannot fail. */
void prune_after_create(struct store *s, json_t *snap);

#endif
