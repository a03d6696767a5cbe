/* json_tape: see json_tape.h. The grammar is the direct decoder's (lua_json_fast.c), step for
 * step, with the same byte rules (json_text.h): whatever it refuses is refused here, and what
 * it accepts is taped as the values it would push. The Lua side is lua_json_decode_tape. */
#include "json_tape.h"

#include "json_text.h"
#include "lua_json.h"

#include <stdlib.h>
#include <string.h>

struct tz {
    struct json_tape *t;
    const unsigned char *text, *p, *end;
};

static int tz_value(struct tz *z, int depth);

/* The next token, or NULL on no memory. Its fields are set by the caller. */
static struct json_tok *tz_tok(struct tz *z)
{
    struct json_tape *t = z->t;
    if (t->ntok == t->tok_cap) {
        size_t cap = t->tok_cap ? t->tok_cap * 2 : 1024;
        struct json_tok *k = realloc(t->tok, cap * sizeof *k);
        if (!k) return NULL;
        t->tok = k;
        t->tok_cap = cap;
    }
    return &t->tok[t->ntok++];
}

/* as skip_ws in lua_json_fast.c */
static inline void tz_ws(struct tz *z)
{
    if (z->p < z->end && *z->p > ' ') return;
    while (z->p < z->end && (*z->p == ' ' || *z->p == '\n' || *z->p == '\r' || *z->p == '\t'))
        z->p++;
}

/* z->p is just after the opening quote; as dec_string. key: refuse \u0000 (as jansson). */
static int tz_string(struct tz *z, int key)
{
    const unsigned char *s = z->p, *p = s + plain_run(s, z->end), *end = z->end;
    struct json_tok *k = tz_tok(z);
    if (!k) return -1;
    if (p < end && *p == '"') {
        k->kind = JT_STRING;
        k->n = (uint32_t)(p - s);
        k->v.s.off = (uint32_t)(s - z->text);
        k->v.s.raw = k->n;
        z->p = p + 1;
        return 0;
    }
    if (!(p = json_string_close(p, end))) return -1;
    z->p = p + 1;
    /* room for the unescaped bytes: never more than the raw ones */
    struct json_tape *t = z->t;
    size_t raw = (size_t)(p - s);
    if (t->nbytes + raw > t->bytes_cap) {
        size_t cap = t->bytes_cap ? t->bytes_cap : 4096;
        while (cap < t->nbytes + raw) cap *= 2;
        unsigned char *b = realloc(t->bytes, cap);
        if (!b) return -1;
        t->bytes = b;
        t->bytes_cap = cap;
    }
    long n = json_unescape(s, p, t->bytes + t->nbytes, key);
    if (n < 0) return -1;
    k->kind = JT_ESCAPED;
    k->n = (uint32_t)n;
    k->v.s.off = (uint32_t)t->nbytes;
    k->v.s.raw = (uint32_t)raw;
    t->nbytes += (size_t)n;
    return 0;
}

static int tz_number(struct tz *z)
{
    int real;
    struct json_tok *k = tz_tok(z);
    if (!k) return -1;
    const unsigned char *p = json_number(z->p, z->end, &real, &k->v.i, &k->v.d);
    if (!p) return -1;
    z->p = p;
    k->kind = real ? JT_REAL : JT_INTEGER;
    return 0;
}

static int tz_literal(struct tz *z, const char *word, size_t n, enum json_tok_kind kind)
{
    if ((size_t)(z->end - z->p) < n || memcmp(z->p, word, n)) return -1;
    struct json_tok *k = tz_tok(z);
    if (!k) return -1;
    k->kind = kind;
    z->p += n;
    return 0;
}

/* An object or an array: its token first, its count and end set once the closing byte is seen
 * (the token is found again by index: the list may have moved). */
static int tz_container(struct tz *z, int depth, int obj)
{
    unsigned char close = obj ? '}' : ']';
    struct json_tok *k = tz_tok(z);
    if (!k) return -1;
    size_t at = z->t->ntok - 1;
    k->kind = obj ? JT_OBJECT : JT_ARRAY;
    uint32_t n = 0;
    z->p++;
    tz_ws(z);
    if (z->p < z->end && *z->p == close) {
        z->p++;
    } else {
        for (;;) {
            if (obj) {
                if (z->p >= z->end || *z->p != '"') return -1;
                z->p++;
                if (tz_string(z, 1)) return -1;
                tz_ws(z);
                if (z->p >= z->end || *z->p != ':') return -1;
                z->p++;
                tz_ws(z);
            }
            if (tz_value(z, depth + 1)) return -1;
            n++;
            tz_ws(z);
            if (z->p >= z->end) return -1;
            if (*z->p == close) {
                z->p++;
                break;
            }
            if (*z->p != ',') return -1;
            z->p++;
            tz_ws(z);
        }
    }
    z->t->tok[at].n = n;
    z->t->tok[at].v.end = z->t->ntok; /* lets the lazy tables skip a member in one step */
    return 0;
}

static int tz_value(struct tz *z, int depth)
{
    if (depth > LUA_JSON_MAX_DEPTH || z->p >= z->end) return -1;
    switch (*z->p) {
    case '{': return tz_container(z, depth, 1);
    case '[': return tz_container(z, depth, 0);
    case '"':
        z->p++;
        return tz_string(z, 0);
    case 't': return tz_literal(z, "true", 4, JT_TRUE);
    case 'f': return tz_literal(z, "false", 5, JT_FALSE);
    case 'n': return tz_literal(z, "null", 4, JT_NULL);
    default: return tz_number(z);
    }
}

int json_tape_parse(struct json_tape *t, const char *s, size_t len)
{
    t->ntok = t->nbytes = 0;
    t->text = NULL;
    t->len = 0;
    if (len > UINT32_MAX) return -1; /* offsets and counts are 32 bits */
    struct tz z = { t, (const unsigned char *)s, (const unsigned char *)s,
                    (const unsigned char *)s + len };
    tz_ws(&z);
    if (tz_value(&z, 1)) return -1;
    tz_ws(&z);
    if (z.p != z.end) return -1;
    t->text = s;
    t->len = len;
    return 0;
}

int json_tape_reserve(struct json_tape *t, size_t ntok, size_t nbytes)
{
    if (ntok > t->tok_cap) {
        struct json_tok *k = realloc(t->tok, ntok * sizeof *k);
        if (!k) return -1;
        t->tok = k;
        t->tok_cap = ntok;
    }
    if (nbytes > t->bytes_cap) {
        unsigned char *b = realloc(t->bytes, nbytes);
        if (!b) return -1;
        t->bytes = b;
        t->bytes_cap = nbytes;
    }
    return 0;
}

void json_tape_free(struct json_tape *t)
{
    free(t->tok);
    free(t->bytes);
    memset(t, 0, sizeof *t);
}
