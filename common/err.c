/* err.c - filling in struct err. */
#include "err.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int err_set(struct err *e, int code, const char *fmt, ...)
{
    va_list ap;

    if (e == NULL || e->code != ERR_NONE)
        return -1;
    e->code = code;
    va_start(ap, fmt);
    /* A message longer than msg is cut; the code still says what happened. */
    (void)vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
    va_end(ap);
    return -1;
}

int err_sys(struct err *e, int errnum, const char *fmt, ...)
{
    va_list ap;
    char buf[160], ebuf[96];
    const char *es;

    if (e == NULL || e->code != ERR_NONE)
        return -1;
    va_start(ap, fmt);
    (void)vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    es = strerror_r(errnum, ebuf, sizeof(ebuf));
    e->code = (errnum == ENOSPC || errnum == EDQUOT) ? ERR_NO_SPACE : ERR_IO;
    (void)snprintf(e->msg, sizeof(e->msg), "%s: %s", buf, es);
    return -1;
}

void err_clear(struct err *e)
{
    if (e == NULL)
        return;
    e->code = ERR_NONE;
    e->msg[0] = '\0';
}
