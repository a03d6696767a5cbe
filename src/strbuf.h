/* strbuf: a growable, always NUL-terminated byte buffer. One implementation for every place that
 * builds text (log lines, header JSON, e-mail messages, the metrics page). Out of memory is
 * sticky: later appends are dropped and `oom` tells the builder to give up. */
#ifndef EZ_STRBUF_H
#define EZ_STRBUF_H

#include <stddef.h>

struct strbuf {
    char *p;            /* NULL until the first append */
    size_t len, cap;
    int oom;
};

void strbuf_put(struct strbuf *b, const char *s, size_t n);
void strbuf_puts(struct strbuf *b, const char *s);
void strbuf_printf(struct strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The text, or "" when empty; owned by b. */
const char *strbuf_str(const struct strbuf *b);
/* Hands the text over (malloc'd; NULL after out of memory) and resets b. */
char *strbuf_take(struct strbuf *b);
void strbuf_free(struct strbuf *b);
/* Empties b, keeping its buffer for the next text (a builder that runs per request). */
void strbuf_reset(struct strbuf *b);

#endif
