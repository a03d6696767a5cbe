/* dryrun_scan: see dryrun_scan.h. A validating skip over the line: the same grammar as the
 * direct decoder (lua_json_fast.c), with its string rules from json_text.h, minus everything
 * where it or jansson could decide otherwise than "valid, and these values" — those lines are
 * answered 0. Returning 0 too often only costs speed; vouching wrongly would change the index,
 * so every doubt is a 0. */
#include "dryrun_scan.h"

#include "json_text.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Far below the decoder's limit (LUA_JSON_MAX_DEPTH): recordings nest a few levels. */
#define SCAN_MAX_DEPTH 64

struct scan {
    const unsigned char *p, *end;
};

static void skip_ws(struct scan *s)
{
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\n' || *s->p == '\r' || *s->p == '\t'))
        s->p++;
}

#if defined(__SSE2__)
/* Steps over plain bytes and one-character escapes 16 bytes at a time, all the escapes of a
 * block in one pass over its special bytes: JSON inside JSON (the webhook body) has a \" every
 * few bytes, and leaving the block at each cost most of the scan. Stops at anything else (a
 * quote, \u, a non-ASCII or control byte, a bad escape) or 17 bytes before the end, for
 * skip_string to judge. */
static const unsigned char *skip_simple(const unsigned char *p, const unsigned char *end)
{
    while (end - p >= 17) { /* the block, and the byte after it (an escape's second byte) */
        unsigned m = special16(p), next = 0;
        for (; m; m &= m - 1) {
            unsigned k = (unsigned)__builtin_ctz(m);
            if (k < next) continue; /* the byte an escape names */
            if (p[k] != '\\' || !simple_unescape[p[k + 1]]) return p + k;
            next = k + 2;
        }
        p += next > 16 ? next : 16;
    }
    return p;
}
#endif

/* s->p at the opening quote. The decoder's string rules; \u0000 is left to the full read
 * (jansson refuses it where the decoder does not). Refused here rather than by a search of
 * the line for the six bytes (as the full read does): that search cost a sixth of the scan. */
static int skip_string(struct scan *s)
{
    const unsigned char *p = s->p + 1, *end = s->end;
    for (;;) {
#if defined(__SSE2__)
        p = skip_simple(p, end);
#endif
        p += plain_run(p, end);
        if (p >= end) return -1;
        unsigned c = *p;
        if (c == '"') break;
        if (c >= 0x80) {
            size_t n = utf8_len(p, end);
            if (!n) return -1;
            p += n;
            continue;
        }
        if (c != '\\' || end - p < 2) return -1; /* a control character, or cut short */
        switch (p[1]) {
        case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
            p += 2;
            break;
        case 'u': {
            unsigned cp, lo;
            if (hex4(p + 2, end, &cp) || cp == 0 || (cp >= 0xDC00 && cp <= 0xDFFF)) return -1;
            p += 6;
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                if (end - p < 6 || p[0] != '\\' || p[1] != 'u' || hex4(p + 2, end, &lo) ||
                    lo < 0xDC00 || lo > 0xDFFF)
                    return -1;
                p += 6;
            }
            break;
        }
        default: return -1;
        }
    }
    s->p = p + 1;
    return 0;
}

static int is_digit(const struct scan *s, const unsigned char *p)
{
    return p < s->end && *p >= '0' && *p <= '9';
}

/* Integers that fit int64 (as the decoder checks them) and fractions without an exponent of up
 * to 63 characters (the decoder's strtod buffer; no overflow or underflow possible). Anything
 * else, valid or not, is the full read's to judge. */
static int skip_number(struct scan *s)
{
    const unsigned char *p = s->p;
    int neg = *p == '-';
    p += neg;
    if (!is_digit(s, p)) return -1;
    const unsigned char *digits = p;
    uint64_t u = 0;
    if (*p == '0') {
        p++;
        if (is_digit(s, p)) return -1;
    } else {
        while (is_digit(s, p) && p - digits < 20) u = u * 10 + (uint64_t)(*p++ - '0');
    }
    int frac = p < s->end && *p == '.';
    if (frac) {
        p++;
        if (!is_digit(s, p)) return -1;
        while (is_digit(s, p)) p++;
    }
    if (p < s->end && (*p == 'e' || *p == 'E')) return -1;
    /* 19 digits cannot wrap a uint64 */
    if (frac ? p - s->p > 63 : p - digits > 19 || u > (uint64_t)INT64_MAX + (uint64_t)neg)
        return -1;
    s->p = p;
    return 0;
}

static int skip_literal(struct scan *s, const char *word, size_t n)
{
    if ((size_t)(s->end - s->p) < n || memcmp(s->p, word, n)) return -1;
    s->p += n;
    return 0;
}

static int skip_value(struct scan *s, int depth);

/* s->p at the key's opening quote. The key's raw text (between the quotes) in *k, *klen; a key
 * written with escapes is refused: its raw text is not what it decodes to. Then the ':'. */
static int scan_key(struct scan *s, const unsigned char **k, size_t *klen)
{
    if (s->p >= s->end || *s->p != '"') return -1;
    *k = s->p + 1;
    if (skip_string(s)) return -1;
    *klen = (size_t)(s->p - 1 - *k);
    if (memchr(*k, '\\', *klen)) return -1;
    skip_ws(s);
    if (s->p >= s->end || *s->p != ':') return -1;
    s->p++;
    skip_ws(s);
    return 0;
}

/* After a member or element: ',' (0, more follow) or the closing byte (1, consumed). */
static int next_or_close(struct scan *s, unsigned char close)
{
    skip_ws(s);
    if (s->p >= s->end) return -1;
    if (*s->p == close) {
        s->p++;
        return 1;
    }
    if (*s->p != ',') return -1;
    s->p++;
    skip_ws(s);
    return 0;
}

/* s->p at '{' or '['. */
static int skip_container(struct scan *s, int depth)
{
    unsigned char close = *s->p == '{' ? '}' : ']';
    s->p++;
    skip_ws(s);
    if (s->p < s->end && *s->p == close) {
        s->p++;
        return 0;
    }
    for (;;) {
        if (close == '}') {
            if (s->p >= s->end || *s->p != '"' || skip_string(s)) return -1;
            skip_ws(s);
            if (s->p >= s->end || *s->p != ':') return -1;
            s->p++;
            skip_ws(s);
        }
        if (skip_value(s, depth + 1)) return -1;
        int r = next_or_close(s, close);
        if (r) return r < 0 ? -1 : 0;
    }
}

/* s->p at the value. depth 1 is the line itself. */
static int skip_value(struct scan *s, int depth)
{
    if (depth > SCAN_MAX_DEPTH || s->p >= s->end) return -1;
    switch (*s->p) {
    case '{': case '[': return skip_container(s, depth);
    case '"': return skip_string(s);
    case 't': return skip_literal(s, "true", 4);
    case 'f': return skip_literal(s, "false", 5);
    case 'n': return skip_literal(s, "null", 4);
    default: return skip_number(s);
    }
}

static const char *const field_names[DRYRUN_NFIELDS] = {
    [DRYRUN_F_KIND] = "kind", [DRYRUN_F_METHOD] = "method", [DRYRUN_F_PATH] = "path",
    [DRYRUN_F_BODY] = "body", [DRYRUN_F_RESPONSE] = "response", [DRYRUN_F_STATUS] = "status",
};

/* s->p at an object whose members' values are at depth: the spans of the members named in
 * names (n of them; a repeated member: the last one, as decoded) in out, cleared first. */
static int scan_fields(struct scan *s, const char *const *names, int n, struct dryrun_span *out,
                       int depth)
{
    memset(out, 0, (size_t)n * sizeof *out);
    if (s->p >= s->end || *s->p != '{') return -1;
    s->p++;
    skip_ws(s);
    if (s->p < s->end && *s->p == '}') {
        s->p++;
        return 0;
    }
    for (;;) {
        const unsigned char *k;
        size_t klen;
        if (scan_key(s, &k, &klen)) return -1;
        const unsigned char *v = s->p;
        if (skip_value(s, depth)) return -1;
        for (int f = 0; f < n; f++)
            if (strlen(names[f]) == klen && memcmp(names[f], k, klen) == 0)
                out[f] = (struct dryrun_span){ (const char *)v, (size_t)(s->p - v) };
        int r = next_or_close(s, '}');
        if (r) return r < 0 ? -1 : 0;
    }
}

/* One element of "calls" (depth 3), which must be an object: its fields' spans. */
static int scan_call(struct scan *s, struct dryrun_scan_call *c)
{
    return scan_fields(s, field_names, DRYRUN_NFIELDS, c->f, 4);
}

static const char *const event_names[DRYRUN_NEVENT] = {
    [DRYRUN_E_ID] = "id", [DRYRUN_E_RECEIVED_AT] = "received_at", [DRYRUN_E_SOURCE] = "source",
    [DRYRUN_E_TOPIC] = "topic", [DRYRUN_E_BODY] = "body",
};
static const char *const job_names[1] = { "id" };

/* The value of "calls" (depth 2), which must be an array. */
static int scan_calls(struct scan *s, struct dryrun_scan *sc)
{
    if (s->p >= s->end || *s->p != '[') return -1;
    s->p++;
    skip_ws(s);
    if (s->p < s->end && *s->p == ']') {
        s->p++;
        return 0;
    }
    for (;;) {
        if (sc->ncalls == sc->cap) {
            size_t cap = sc->cap ? sc->cap * 2 : 16;
            struct dryrun_scan_call *a = realloc(sc->calls, cap * sizeof *a);
            if (!a) return -1;
            sc->calls = a;
            sc->cap = cap;
        }
        if (scan_call(s, &sc->calls[sc->ncalls++])) return -1;
        int r = next_or_close(s, ']');
        if (r) return r < 0 ? -1 : 0;
    }
}

static int is_string(const struct dryrun_span *f) { return f->s && f->s[0] == '"'; }

/* whole: also the event and the job (see dryrun_scan_event_line). */
static int scan_line(struct dryrun_scan *sc, const char *line, size_t len, int whole)
{
    struct scan s = { (const unsigned char *)line, (const unsigned char *)line + len };
    sc->ncalls = 0;
    memset(sc->event, 0, sizeof sc->event);
    memset(&sc->job_id, 0, sizeof sc->job_id);
    int event_object = 0;
    skip_ws(&s);
    if (s.p >= s.end || *s.p != '{') return 0;
    s.p++;
    skip_ws(&s);
    int seen_calls = 0;
    if (s.p < s.end && *s.p == '}') {
        s.p++;
    } else {
        for (;;) {
            const unsigned char *k;
            size_t klen;
            if (scan_key(&s, &k, &klen)) return 0;
            if (klen == 5 && memcmp(k, "calls", 5) == 0) {
                if (seen_calls++ || scan_calls(&s, sc)) return 0;
            } else if (whole && klen == 5 && memcmp(k, "event", 5) == 0) {
                /* a repeated one replaces the one before, as in the decoded line */
                event_object = s.p < s.end && *s.p == '{';
                if (event_object ? scan_fields(&s, event_names, DRYRUN_NEVENT, sc->event, 3)
                                 : skip_value(&s, 2))
                    return 0;
            } else if (whole && klen == 3 && memcmp(k, "job", 3) == 0) {
                memset(&sc->job_id, 0, sizeof sc->job_id);
                if (s.p < s.end && *s.p == '{' ? scan_fields(&s, job_names, 1, &sc->job_id, 3)
                                               : skip_value(&s, 2))
                    return 0;
            } else if (skip_value(&s, 2)) {
                return 0;
            }
            int r = next_or_close(&s, '}');
            if (r < 0) return 0;
            if (r) break;
        }
    }
    skip_ws(&s);
    if (s.p != s.end) return 0;
    if (whole && (!event_object || !is_string(&sc->event[DRYRUN_E_SOURCE]) ||
                  !is_string(&sc->event[DRYRUN_E_TOPIC]) || !is_string(&sc->event[DRYRUN_E_BODY])))
        return 0;
    return 1;
}

int dryrun_scan_line(struct dryrun_scan *sc, const char *line, size_t len)
{
    return scan_line(sc, line, len, 0);
}

int dryrun_scan_event_line(struct dryrun_scan *sc, const char *line, size_t len)
{
    return scan_line(sc, line, len, 1);
}

void dryrun_scan_free(struct dryrun_scan *sc)
{
    free(sc->calls);
    memset(sc, 0, sizeof *sc);
}
