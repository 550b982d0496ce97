/* jsoncheck.c - whether a text is one JSON value, checked without building it (see jsoncheck.h). */
#include "jsoncheck.h"

#include <stdint.h>
#include <string.h>

#include "jsonscan.h"

typedef const char *cur;

static int hex(unsigned c)
{
    if (c >= '0' && c <= '9')
        return (int)(c - '0');
    c |= 0x20;
    return c >= 'a' && c <= 'f' ? (int)(c - 'a' + 10) : -1;
}

/* s at '"': past the closing quote, or NULL (invalid, or not sure). Eight
 * bytes at a time while none is a quote, a backslash, a control byte or a
 * byte of 0x80 and above. */
static cur string(cur s, cur end)
{
    const uint64_t ones = 0x0101010101010101u, highs = 0x8080808080808080u;

    if (s >= end || *s != '"')
        return NULL;
    for (s++; s < end;) {
        if (end - s >= 8) {
            uint64_t v;
            memcpy(&v, s, 8);
            /* and no byte under 0x20 (the borrow sets its high bit) or over 0x7f */
            if ((jsonscan_quote_or_backslash(v) | (((v - ones * 0x20) | v) & highs)) == 0) {
                s += 8;
                continue;
            }
        }
        unsigned c = (unsigned char)*s;
        if (c == '"')
            return s + 1;
        if (c < 0x20 || c >= 0x80)
            return NULL;
        if (c != '\\') {
            s++;
            continue;
        }
        if (end - s < 2)
            return NULL;
        c = (unsigned char)s[1];
        if (c == 'u') {
            int v = 0;
            if (end - s < 6)
                return NULL;
            for (int i = 2; i < 6; i++) {
                int h = hex((unsigned char)s[i]);
                if (h < 0)
                    return NULL;
                v = v * 16 + h;
            }
            if (v == 0 || (v >= 0xd800 && v <= 0xdfff))
                return NULL;
            s += 6;
        } else if (c != '\0' && strchr("\"\\/bfnrt", (int)c) != NULL) {
            s += 2;
        } else {
            return NULL;
        }
    }
    return NULL;
}

/* A number without an exponent and of at most 18 digits: past it, or NULL. */
static cur number(cur s, cur end)
{
    cur start;

    if (s < end && *s == '-')
        s++;
    start = s;
    if (s >= end || *s < '0' || *s > '9')
        return NULL;
    if (*s == '0')
        s++;
    else
        while (s < end && *s >= '0' && *s <= '9')
            s++;
    if (s < end && *s == '.') {
        cur f = ++s;
        while (s < end && *s >= '0' && *s <= '9')
            s++;
        if (s == f)
            return NULL;
    }
    if (s < end && (*s == 'e' || *s == 'E'))
        return NULL;
    return s - start <= 18 ? s : NULL;
}

static cur literal(cur s, cur end, const char *word)
{
    size_t n = strlen(word);

    return (size_t)(end - s) >= n && memcmp(s, word, n) == 0 ? s + n : NULL;
}

/* s at a key: past the key, the colon and the whitespace after it. */
static cur key(cur s, cur end)
{
    if ((s = string(s, end)) == NULL)
        return NULL;
    s = jsonscan_ws(s, end);
    if (s >= end || *s != ':')
        return NULL;
    return jsonscan_ws(s + 1, end);
}

int jsoncheck_valid(const char *text, size_t len)
{
    cur s = text, end = s + len;
    char open[JSONCHECK_DEPTH];     /* '{' or '[' of each container we are in */
    int depth = 0;

    s = jsonscan_ws(s, end);
    for (;;) {
        /* s at a value */
        if (s >= end)
            return 0;
        if (*s == '{' || *s == '[') {
            char close = *s == '{' ? '}' : ']';
            if (depth == JSONCHECK_DEPTH)
                return 0;
            open[depth++] = (char)*s;
            s = jsonscan_ws(s + 1, end);
            if (s < end && *s == close) {
                depth--;
                s++;
            } else {
                if (open[depth - 1] == '{' && (s = key(s, end)) == NULL)
                    return 0;
                continue;
            }
        } else if (*s == '"') {
            s = string(s, end);
        } else if (*s == 't') {
            s = literal(s, end, "true");
        } else if (*s == 'f') {
            s = literal(s, end, "false");
        } else if (*s == 'n') {
            s = literal(s, end, "null");
        } else {
            s = number(s, end);
        }
        if (s == NULL)
            return 0;
        /* after a value: close what it ends, then a comma and the next one */
        for (;;) {
            s = jsonscan_ws(s, end);
            if (depth == 0)
                return s == end;
            if (s >= end)
                return 0;
            if (*s == (open[depth - 1] == '{' ? '}' : ']')) {
                depth--;
                s++;
                continue;
            }
            if (*s != ',')
                return 0;
            s = jsonscan_ws(s + 1, end);
            if (open[depth - 1] == '{' && (s = key(s, end)) == NULL)
                return 0;
            break;
        }
    }
}
