/* prom.h - a Prometheus text scrape being written: one growing buffer that
 * takes literal text and integers (no stdio, no printf: a scrape is hundreds
 * of lines on every probe) and becomes the response body as it is. */
#ifndef STATESNAP_PROM_H
#define STATESNAP_PROM_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct prom_text {
    char *buf;
    size_t len, cap;
    int failed;      /* out of memory: the scrape is incomplete and must not be sent */
};

/* Start t with room for cap bytes, in a buffer kept from an earlier scrape
 * when there is one. Returns 0, or -1 (t->failed set) on OOM. */
int prom_text_init(struct prom_text *t, size_t cap);

/* Free t's buffer (back to the pool). Accepts NULL. */
void prom_text_free(struct prom_text *t);

/* Take t's text: the caller owns it and gives it back with prom_release. */
char *prom_text_take(struct prom_text *t);

/* Give back a text from prom_text_take (kept for the next scrape, or
 * freed). Accepts NULL. Thread-safe. */
void prom_release(void *text);

/* Free every kept buffer (at shutdown, for leak checkers). Thread-safe. */
void prom_pool_drain(void);

/* Make room for n more bytes. Returns 0, or -1 (t->failed set) on OOM. */
int prom_grow(struct prom_text *t, size_t n);

/* Append n bytes of s. Cannot fail: OOM sets t->failed and drops the text. */
static inline void prom_put(struct prom_text *t, const char *s, size_t n)
{
    if (n > t->cap - t->len && prom_grow(t, n) != 0)
        return;
    memcpy(t->buf + t->len, s, n);
    t->len += n;
}

/* Append the NUL-terminated s. Cannot fail (as prom_put). */
static inline void prom_puts(struct prom_text *t, const char *s)
{
    prom_put(t, s, strlen(s));
}

/* Append v in decimal. Cannot fail (as prom_put). */
void prom_u64(struct prom_text *t, uint64_t v);

/* Append v in decimal, with a '-' when negative. Cannot fail (as prom_put). */
void prom_i64(struct prom_text *t, int64_t v);

/* One sample: text (its # HELP and # TYPE lines, if any, then the sample's
 * name and labels up to the value) as it is, then v and a newline. Cannot
 * fail (as prom_put). */
void prom_sample(struct prom_text *t, const char *text, int64_t v);

#endif
