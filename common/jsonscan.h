/* jsonscan.h - the structure of JSON text, walked without parsing it:
 * where whitespace, a string or a whole value ends. Only the structure
 * (quotes, escapes, brackets): whoever calls it still parses what it keeps.
 * Used where a tree would cost too much: a hash chain's lines
 * (engine/chain.c) and a manifest's file list (engine/manifest_read.c);
 * common/jsoncheck.c takes its eight-byte string step. */
#ifndef STATESNAP_JSONSCAN_H
#define STATESNAP_JSONSCAN_H

#include <stdint.h>
#include <string.h>

/* Past JSON whitespace at p. */
static inline const char *jsonscan_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p;
}

/* The high bit of each byte of the word v that may be a quote or a
 * backslash: none is set when no byte is either (a set bit above a true
 * one may be a false alarm, which costs a byte-at-a-time step, no more). */
static inline uint64_t jsonscan_quote_or_backslash(uint64_t v)
{
    const uint64_t ones = 0x0101010101010101u, highs = 0x8080808080808080u;
    uint64_t q = v ^ (ones * '"'), b = v ^ (ones * '\\');

    return (((q - ones) & ~q) | ((b - ones) & ~b)) & highs;
}

/* p at '"': past the closing quote, or NULL when the text ends first.
 * Eight bytes at a time while none of them is a quote or a backslash (most
 * of a hash chain's bytes are in strings: this is the scan's inner loop). */
static inline const char *jsonscan_string_end(const char *p, const char *end)
{
    for (p++; p < end;) {
        if (end - p >= 8) {
            uint64_t v;
            memcpy(&v, p, 8);
            if (jsonscan_quote_or_backslash(v) == 0) {
                p += 8;
                continue;
            }
        }
        if (*p == '\\')
            p += 2;
        else if (*p == '"')
            return p + 1;
        else
            p++;
    }
    return NULL;
}

/* Whether c ends a scalar (a number, true, false or null); a NUL does too,
 * as it did when this was a memchr over ",}] \t\n\r" and its terminator. */
static inline int jsonscan_scalar_stop(char c)
{
    return c == ',' || c == '}' || c == ']' || c == ' ' || c == '\t' || c == '\n' || c == '\r' ||
           c == '\0';
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
        while (p < end && !jsonscan_scalar_stop(*p))
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
