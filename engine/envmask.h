/* envmask.h - .env masking: values never leave, keys keep an HMAC fingerprint. */
#ifndef STATESNAP_ENVMASK_H
#define STATESNAP_ENVMASK_H

#include <stddef.h>
#include <jansson.h>

#include "../common/err.h"

#define ENVMASK_MASK "********"

/* Mask the .env text in (len bytes): every KEY=value line becomes
 * KEY=********, blank lines stay, a line that is neither is replaced by a
 * comment (it might hold a secret). A comment that looks like an assignment
 * ("#OLD_KEY=value", "# export K=v") is masked like one, without a
 * fingerprint; a comment holding a 16+ character token with letters and
 * digits, or a URL with credentials, is replaced by a note; other comments
 * stay verbatim. *masked (malloc'd, caller
 * frees) gets the text; *keys (caller decrefs) maps KEY to the lowercase hex
 * HMAC-SHA256 of its value under key[32]. Returns 0 or -1. The caller wipes in. */
int envmask_apply(const char *in, size_t len, const unsigned char key[32], char **masked,
                  size_t *masked_len, json_t **keys, struct err *e);

/* Read and mask the .env at path (at most ENGINE_MAX_ENV_BYTES), wiping the
 * plain text afterwards. Same outputs as envmask_apply. */
int envmask_file(const char *path, const unsigned char key[32], char **masked,
                 size_t *masked_len, json_t **keys, struct err *e);

#endif
