/* tokens.h - API tokens and their roles, as the config and the environment give them. */
#ifndef STATESNAP_TOKENS_H
#define STATESNAP_TOKENS_H

#include <stddef.h>
#include <jansson.h>

#include "../common/err.h"

enum token_role { ROLE_NONE = 0, ROLE_READ = 1, ROLE_WRITE = 2, ROLE_ADMIN = 3 };

struct config_token {
    char *name;
    enum token_role role;
    unsigned char sha256[32];   /* SHA-256 of the bearer token; the token itself is never kept */
};

/* Parse a "tokens" array, [{"name": "ci", "role": "write", "sha256": "<hex
 * of SHA-256(token)>"}], into a new *tokens of *n entries (NULL section:
 * none). Returns 0, or -1 with ERR_INVALID naming the entry or ERR_IO; what
 * was parsed is in *tokens either way (free with tokens_free). */
int tokens_parse(const json_t *section, struct config_token **tokens, size_t *n, struct err *e);

/* Append a token "env-<role>" for each $STATESNAP_TOKEN_READ/WRITE/ADMIN
 * that is set, keeping only its SHA-256. Returns 0 or -1 (ERR_IO). */
int tokens_from_env(struct config_token **tokens, size_t *n, struct err *e);

/* Free n tokens, wiping their hashes. Accepts NULL; cannot fail. */
void tokens_free(struct config_token *tokens, size_t n);

#endif
