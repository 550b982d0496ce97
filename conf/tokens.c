/* tokens.c - the API tokens: the config's "tokens" (name, role, SHA-256 of
 * the token; never a plain token) and $STATESNAP_TOKEN_<ROLE>, hashed and
 * forgotten on arrival. */
#include "tokens.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#define TOKENS_MAX 256

static const char *const token_keys[] = { "name", "role", "sha256", NULL };

static int only_keys(const json_t *obj, const char *const *list, const char *where,
                     struct err *e)
{
    const char *k;
    json_t *v;

    json_object_foreach((json_t *)obj, k, v) {
        const char *const *l = list;
        while (*l != NULL && strcmp(*l, k) != 0)
            l++;
        if (*l == NULL)
            return err_set(e, ERR_INVALID, "config: unknown key \"%s.%.64s\"", where, k);
    }
    return 0;
}

static int hex_decode(const char *hex, unsigned char *out, size_t n)
{
    if (strlen(hex) != 2 * n)
        return -1;
    for (size_t i = 0; i < n; i++) {
        int hi, lo;
        char c = hex[2 * i], d = hex[2 * i + 1];
        hi = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 :
             c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        lo = d >= '0' && d <= '9' ? d - '0' : d >= 'a' && d <= 'f' ? d - 'a' + 10 :
             d >= 'A' && d <= 'F' ? d - 'A' + 10 : -1;
        if (hi < 0 || lo < 0)
            return -1;
        out[i] = (unsigned char)(hi << 4 | lo);
    }
    return 0;
}

static int parse_role(const char *s, enum token_role *r)
{
    if (s == NULL)
        return -1;
    if (strcmp(s, "read") == 0)
        *r = ROLE_READ;
    else if (strcmp(s, "write") == 0)
        *r = ROLE_WRITE;
    else if (strcmp(s, "admin") == 0)
        *r = ROLE_ADMIN;
    else
        return -1;
    return 0;
}

/* Tokens: [{"name": "ci", "role": "write", "sha256": "<hex of SHA-256(token)>"}].
 * Only hashes are accepted in the file: a plain token in a config file is a
 * secret at rest, which is what this format exists to avoid. */
int tokens_parse(const json_t *v, struct config_token **tokens, size_t *n, struct err *e)
{
    const json_t *t;
    size_t i;

    if (v == NULL)
        return 0;
    if (!json_is_array(v) || json_array_size(v) > TOKENS_MAX)
        return err_set(e, ERR_INVALID, "config: \"tokens\" must be an array");
    *tokens = calloc(json_array_size(v) + 1, sizeof(**tokens));
    if (*tokens == NULL)
        return err_set(e, ERR_IO, "out of memory");
    json_array_foreach(v, i, t) {
        struct config_token *tok = &(*tokens)[i];
        const char *name, *hash;
        if (!json_is_object(t))
            return err_set(e, ERR_INVALID, "config: tokens[%zu] must be an object", i);
        if (only_keys(t, token_keys, "tokens[]", e) != 0)
            return -1;
        name = json_string_value(json_object_get(t, "name"));
        hash = json_string_value(json_object_get(t, "sha256"));
        if (name == NULL || *name == '\0' || strlen(name) > 64)
            return err_set(e, ERR_INVALID, "config: tokens[%zu].name must be a short string", i);
        if (parse_role(json_string_value(json_object_get(t, "role")), &tok->role) != 0)
            return err_set(e, ERR_INVALID, "config: tokens[%zu].role must be read, write or admin", i);
        if (hash == NULL || hex_decode(hash, tok->sha256, sizeof(tok->sha256)) != 0)
            return err_set(e, ERR_INVALID,
                           "config: tokens[%zu].sha256 must be 64 hex digits (sha256 of the token)", i);
        if ((tok->name = strdup(name)) == NULL)
            return err_set(e, ERR_IO, "out of memory");
        *n = i + 1;
    }
    return 0;
}

/* STATESNAP_TOKEN_<ROLE>=token adds a token named "env-<role>" without it
 * ever being written to a file; the plain value is hashed and wiped. */
int tokens_from_env(struct config_token **tokens, size_t *n, struct err *e)
{
    static const char *const roles[] = { "READ", "WRITE", "ADMIN" };

    for (int i = 0; i < 3; i++) {
        char var[32];
        const char *val;
        snprintf(var, sizeof(var), "STATESNAP_TOKEN_%s", roles[i]);
        val = getenv(var);
        if (val == NULL || *val == '\0')
            continue;
        struct config_token *nt = realloc(*tokens, (*n + 2) * sizeof(*nt));
        if (nt == NULL)
            return err_set(e, ERR_IO, "out of memory");
        *tokens = nt;
        struct config_token *tok = &(*tokens)[*n];
        memset(tok, 0, sizeof(*tok));
        tok->role = (enum token_role)(i + 1);
        char name[16];
        snprintf(name, sizeof(name), "env-%c%c%c%c%s", roles[i][0] + 32, roles[i][1] + 32,
                 roles[i][2] + 32, roles[i][3] + 32, i == 2 ? "n" : "");
        if ((tok->name = strdup(name)) == NULL)
            return err_set(e, ERR_IO, "out of memory");
        if (EVP_Digest(val, strlen(val), tok->sha256, NULL, EVP_sha256(), NULL) != 1)
            return err_set(e, ERR_IO, "sha256 failed");
        (*n)++;
    }
    return 0;
}


void tokens_free(struct config_token *tokens, size_t n)
{
    if (tokens == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        free(tokens[i].name);
    OPENSSL_cleanse(tokens, n * sizeof(*tokens));
    free(tokens);
}
