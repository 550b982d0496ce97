/* auth.h - bearer tokens: hashed, compared in constant time, mapped to roles. */
#ifndef STATESNAP_AUTH_H
#define STATESNAP_AUTH_H

#include "../conf/config.h"

enum auth_result {
    AUTH_MISSING = 0,   /* no Authorization header, or not "Bearer ..." */
    AUTH_BAD,           /* a bearer token that matches no configured token */
    AUTH_OK
};

/* Check an Authorization header value (may be NULL) against cfg's tokens.
 * AUTH_OK sets *role and *name (the token's configured name, borrowed from
 * cfg). Every configured token is compared, so the time taken does not
 * depend on which one matched. Cannot fail. */
enum auth_result auth_check(const struct config *cfg, const char *authorization,
                            enum token_role *role, const char **name);

/* 1 if host (an address or "localhost", as written in a listen setting) is
 * a loopback address: 127.0.0.0/8, ::1 or localhost. Cannot fail. */
int auth_host_is_loopback(const char *host);

/* "read", "write" or "admin". Cannot fail. */
const char *auth_role_name(enum token_role role);

#endif
