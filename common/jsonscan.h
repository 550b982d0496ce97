/* jsonscan.h - the structure of JSON text, walked without parsing it:
 * where whitespace, a string or a whole value ends. Only the structure
 * (quotes, escapes, brackets): whoever calls it still parses what it keeps.
 * Used where a tree would cost too much: a hash chain's lines
 * (engine/chain.c) and a manifest's file list (engine/manifest_read.c). */
#ifndef STATESNAP_JSONSCAN_H
#define STATESNAP_JSONSCAN_H

#include <string.h>

/* Past JSON whitespace at p. */
static inline const char *jsonscan_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p;
}

/* p at '"': past the closing quote, or NULL when the text ends first. */
static inline const char *jsonscan_string_end(const char *p, const char *end)
{
    for (p++; p < end; p++) {
        if (*p == '\\')
            p++;
        else if (*p == '"')
            return p + 1;
    }
    return NULL;
}

/* Past the value at p: an object or array (nested ones included), a
 * string, or a scalar (up to the next ',', '}', ']' or whitespace). NULL
 * when the text ends inside it. */
static inline const char *jsonscan_value_end(const char *p, const char *end)
{
    int depth = 0;

    if (p >= end)
        return NULL;
    if (*p != '{' && *p != '[' && *p != '"') {
        while (p < end && !memchr(",}] \t\n\r", *p, 8))
            p++;
        return p;
    }
    while (p < end) {
        if (*p == '"') {
            if ((p = jsonscan_string_end(p, end)) == NULL)
                return NULL;
            if (depth == 0)
                return p;
            continue;
        }
        if (*p == '{' || *p == '[') {
            depth++;
        } else if (*p == '}' || *p == ']') {
            if (--depth == 0)
                return p + 1;
        }
        p++;
    }
    return NULL;
}

#endif
