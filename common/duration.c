/* duration.c - lengths of time as config files write them ("24h", "7d"). */
#include "duration.h"

#include <errno.h>
#include <stdlib.h>

int duration_parse(const char *s, long *out, struct err *e)
{
    char *end;
    long long v, mul = 1;

    errno = 0;
    v = strtoll(s, &end, 10);
    if (end == s || errno != 0 || v < 0)
        return err_set(e, ERR_INVALID, "bad duration \"%.32s\" (use e.g. 90s, 30m, 24h, 7d)", s);
    if (*end == 's' || *end == '\0')
        mul = 1;
    else if (*end == 'm')
        mul = 60;
    else if (*end == 'h')
        mul = 3600;
    else if (*end == 'd')
        mul = 86400;
    else if (*end == 'w')
        mul = 7 * 86400;
    else
        return err_set(e, ERR_INVALID, "bad duration \"%.32s\" (use e.g. 90s, 30m, 24h, 7d)", s);
    if (*end != '\0' && end[1] != '\0')
        return err_set(e, ERR_INVALID, "bad duration \"%.32s\" (use e.g. 90s, 30m, 24h, 7d)", s);
    if (v > 10LL * 365 * 86400 / mul)
        return err_set(e, ERR_INVALID, "duration \"%.32s\" is too long", s);
    *out = (long)(v * mul);
    return 0;
}
