/* zipfmt.h - the zip records' signatures and fixed sizes, and their
 * little-endian fields: what zipout.c writes and zipin.c reads (PKWARE
 * APPNOTE 4.3). Internal to those two. */
#ifndef STATESNAP_ZIPFMT_H
#define STATESNAP_ZIPFMT_H

#include <stdint.h>

#define ZIPFMT_SIG_LOCAL 0x04034b50u
#define ZIPFMT_SIG_CENTRAL 0x02014b50u
#define ZIPFMT_SIG_END 0x06054b50u
#define ZIPFMT_SIG_END64 0x06064b50u
#define ZIPFMT_SIG_LOCATOR64 0x07064b50u
#define ZIPFMT_LOCAL_FIXED 30          /* a local header before its name and extra field */
#define ZIPFMT_CENTRAL_FIXED 46        /* a central record before its name, extra and comment */
#define ZIPFMT_END_FIXED 22            /* the end record before its comment */

static inline void zipfmt_put16(unsigned char *p, unsigned v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
}

static inline void zipfmt_put32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static inline void zipfmt_put64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static inline uint16_t zipfmt_get16(const unsigned char *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

static inline uint32_t zipfmt_get32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t zipfmt_get64(const unsigned char *p)
{
    return (uint64_t)zipfmt_get32(p) | (uint64_t)zipfmt_get32(p + 4) << 32;
}

#endif
