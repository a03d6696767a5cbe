/* json_tape: a JSON text parsed ahead into a flat list of tokens (the "tape"), so that another
 * thread can build its Lua values without reading the text again. The dry-run's reader thread
 * tapes each event while the rule thread runs the previous one; the rule thread then builds
 * the payload from the tape (lua_json_decode_tape): tokenizing, number conversion and
 * unescaping, ~a third of decoding an order, are off its critical path.
 *
 * The tape holds only what the direct decoder (lua_json_fast.c) would accept, and exactly the
 * values it would make: json_tape_parse refuses everything else, and a text without a tape is
 * decoded as before. Plain C (no Lua): it can be made on a thread with no Lua state. */
#ifndef EZ_JSON_TAPE_H
#define EZ_JSON_TAPE_H

#include <stddef.h>
#include <stdint.h>

enum json_tok_kind {
    JT_OBJECT,   /* n members follow, each a key (JT_STRING or JT_ESCAPED) then a value;
                  * v.end: the index of the token after the last one */
    JT_ARRAY,    /* n elements follow; v.end as for JT_OBJECT */
    JT_STRING,   /* n bytes at text + off, as they are in the text (no escapes) */
    JT_ESCAPED,  /* n bytes at bytes + off, unescaped from raw bytes of the text */
    JT_INTEGER,
    JT_REAL,
    JT_TRUE,
    JT_FALSE,
    JT_NULL,
};

struct json_tok {
    uint32_t kind;
    uint32_t n;
    union {
        int64_t i;
        double d;
        uint64_t end;
        struct {
            uint32_t off, raw;
        } s;
    } v;
};

struct json_tape {
    struct json_tok *tok;
    size_t ntok, tok_cap;
    unsigned char *bytes;        /* the escaped strings, unescaped */
    size_t nbytes, bytes_cap;
    const char *text;            /* what the tape was made of: NULL when it was refused */
    size_t len;
};

/* Tapes the len bytes at s (kept by reference: they must outlive the tape's use). 0, or -1
 * when the direct decoder would not decode s itself (bad JSON, a very long number, a text over
 * 4 GB) or memory ran out: the text is then decoded the usual way. Reuses t's buffers. */
int json_tape_parse(struct json_tape *t, const char *s, size_t len);
/* Room for ntok tokens and nbytes unescaped bytes, made ahead (a fresh tape for a text the size
 * of an earlier one grows no further). 0, or -1 on no memory (the tape is then as it was). */
int json_tape_reserve(struct json_tape *t, size_t ntok, size_t nbytes);
void json_tape_free(struct json_tape *t);

#endif
