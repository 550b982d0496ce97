/* plan.h - a restore's plan: what each file of the snapshot would do to the
 * state root, the confirm token that binds a preview to it, and its JSON.
 * Primitives: they read the state root and the archive, write nothing. */
#ifndef STATESNAP_PLAN_H
#define STATESNAP_PLAN_H

#include <limits.h>
#include <stdint.h>
#include <sys/types.h>
#include <jansson.h>

#include "archive.h"
#include "store.h"

#define PLAN_KILL_SWITCH "state/KILL_SWITCH"
#define PLAN_TOKEN_MAX 200    /* a confirm token's length, NUL included */

/* One file of the plan. */
struct step {
    char *path;
    const char *action;     /* create, overwrite, unchanged, kept, delete */
    char cur_sha[65];       /* "" when absent now */
    char want_sha[65];      /* "" for kept/delete */
    mode_t mode;
    char *tmp;              /* the temp beside the target, once the apply names it, else NULL
                             * (a PATH_MAX buffer a step was 425 MB for 100,000 files) */
    const char *special;    /* the target is a symlink, fifo, ... (not a file): its kind */
};

struct plan {
    struct step *v;
    size_t n, cap;
    struct archive *a;      /* the snapshot's archive, open */
    json_t *warnings;
    json_t *specials;       /* [{path, kind, remedy}] of targets that are not files */
    char archive_sha[65];
    int64_t created_at;
    int64_t cur_positions, snap_positions;
    json_t *signature;      /* {state, key_id}: what the archive's signature is worth */
};

/* Plan the restore o describes against the state root as it is now: the
 * snapshot's row and archive (opened into p->a), one step per file. 0 and
 * *p (free with plan_free), or -1 (ERR_INVALID, ERR_NOT_FOUND, ERR_VERIFY,
 * ERR_IO); *p may hold a partial plan then, which plan_free frees. */
int plan_make(struct store *s, const struct restore_opts *o, struct plan *p, struct err *e);

/* Free what a plan holds and close its archive. Accepts a zeroed plan.
 * Cannot fail. */
void plan_free(struct plan *p);

/* The confirm token for p and o, good until expires: "t.EXPIRES.FULL.SHAPE"
 * (two HMACs with the store secret: of every byte the plan looked at, and
 * of the plan's shape alone). Into out (PLAN_TOKEN_MAX). 0 or -1. */
int plan_token(struct store *s, const struct restore_opts *o, const struct plan *p,
               int64_t expires, char *out, size_t len, struct err *e);

/* The preview document of p (without token and expiry). NULL when out of
 * memory. Caller decrefs. */
json_t *plan_json(const struct restore_opts *o, const struct plan *p);

/* The paths a restore looks at: every step's target, NULL-ended (borrowed
 * from p; free the array only). NULL when out of memory. */
char **plan_paths(const struct plan *p);

#endif
