/* auth.c - bearer token checks. Only SHA-256 hashes of tokens are configured;
 * the presented token is hashed and compared with CRYPTO_memcmp. */
#include "auth.h"

#include <arpa/inet.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#define AUTH_TOKEN_MAX 4096

enum auth_result auth_check(const struct config *cfg, const char *authorization,
                            enum token_role *role, const char **name)
{
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int dlen = 0;
    const char *tok;
    size_t i, len;
    int match = -1;

    *role = ROLE_NONE;
    *name = NULL;
    if (authorization == NULL || strncasecmp(authorization, "Bearer ", 7) != 0)
        return AUTH_MISSING;
    tok = authorization + 7;
    while (*tok == ' ')
        tok++;
    len = strlen(tok);
    while (len > 0 && tok[len - 1] == ' ')
        len--;
    if (len == 0)
        return AUTH_MISSING;
    if (len > AUTH_TOKEN_MAX ||
        EVP_Digest(tok, len, digest, &dlen, EVP_sha256(), NULL) != 1 || dlen != 32)
        return AUTH_BAD;
    /* No early exit: every token is compared whether or not one matched. */
    for (i = 0; i < cfg->n_tokens; i++) {
        int same = CRYPTO_memcmp(digest, cfg->tokens[i].sha256, 32) == 0;
        if (same && match < 0)
            match = (int)i;
    }
    OPENSSL_cleanse(digest, sizeof(digest));
    if (match < 0)
        return AUTH_BAD;
    *role = cfg->tokens[match].role;
    *name = cfg->tokens[match].name;
    return AUTH_OK;
}

int auth_host_is_loopback(const char *host)
{
    struct in_addr a4;
    struct in6_addr a6;

    if (strcasecmp(host, "localhost") == 0)
        return 1;
    if (inet_pton(AF_INET, host, &a4) == 1)
        return (ntohl(a4.s_addr) >> 24) == 127;
    if (inet_pton(AF_INET6, host, &a6) == 1)
        return IN6_IS_ADDR_LOOPBACK(&a6) ||
               (IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127);
    return 0;
}

const char *auth_role_name(enum token_role role)
{
    switch (role) {
    case ROLE_READ:  return "read";
    case ROLE_WRITE: return "write";
    case ROLE_ADMIN: return "admin";
    default:         return "none";
    }
}
