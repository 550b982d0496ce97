/* duration.h - "90s", "30m", "24h", "7d", "2w" or plain seconds, as config
 * files and command lines write a length of time. */
#ifndef STATESNAP_DURATION_H
#define STATESNAP_DURATION_H

#include "err.h"

/* Parse s into seconds (at most ten years). Returns 0, or -1 with
 * ERR_INVALID quoting at most 32 characters of s. */
int duration_parse(const char *s, long *out, struct err *e);

#endif
