/* json_text: the byte-level rules of JSON strings that the direct decoder (lua_json_fast.c) and
 * the recording's line scan (dryrun_scan.c) share, so the scan can never accept a string the
 * decoder refuses. Header-only: these run per byte of every line and must inline. */
#ifndef EZ_JSON_TEXT_H
#define EZ_JSON_TEXT_H

#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Bytes a string can hold as they are: printable ASCII other than '"' and '\\'. */
static const unsigned char plain_byte[256] = {
#define R16(v) v, v, v, v, v, v, v, v, v, v, v, v, v, v, v, v
    R16(0), R16(0),
    1, 1, 0 /* " */, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    R16(1), R16(1),
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0 /* \\ */, 1, 1, 1,
    R16(1), R16(1),
    R16(0), R16(0), R16(0), R16(0), R16(0), R16(0), R16(0), R16(0),
#undef R16
};

/* Strings are scanned 8 bytes at a time. A recorded line is mostly long strings (the webhook
 * body and the API answers, as escaped JSON text), and the byte-at-a-time loops over them were
 * most of the reader's and the journal index's time. The words are read with memcpy (no
 * alignment needed) and never past the end of the text. */
#if defined(__GNUC__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define WORD_SCAN 1
#define ONES UINT64_C(0x0101010101010101)

/* The high bit of each byte of x that is not plain (see plain_byte). The lowest flagged byte
 * is exact (a borrow only runs upwards, from a byte that is itself flagged), which is the only
 * one read: its index is the number of plain bytes before it. */
static inline uint64_t not_plain(uint64_t x)
{
    uint64_t q = x ^ (ONES * '"'), b = x ^ (ONES * '\\');
    return (((x - ONES * 0x20) & ~x) | ((q - ONES) & ~q) | ((b - ONES) & ~b) | x) & (ONES * 0x80);
}
#else
#define WORD_SCAN 0
#endif

#if defined(__SSE2__)
#include <emmintrin.h>

/* One bit per byte of the 16 at p that a string cannot hold as it is: '"', '\\', and (the
 * compare is signed: bytes >= 0x80 are negative, so "< 0x20" takes them too) control and
 * non-ASCII bytes. */
static inline unsigned special16(const unsigned char *p)
{
    __m128i x = _mm_loadu_si128((const __m128i *)(const void *)p);
    __m128i special = _mm_or_si128(_mm_cmpeq_epi8(x, _mm_set1_epi8('"')),
                                   _mm_cmpeq_epi8(x, _mm_set1_epi8('\\')));
    special = _mm_or_si128(special, _mm_cmplt_epi8(x, _mm_set1_epi8(0x20)));
    return (unsigned)_mm_movemask_epi8(special);
}
#endif

/* The number of plain bytes at p (up to end). 16 bytes a step with SSE2: most strings (keys,
 * ids, codes) end within the first block, found in a few instructions where the word steps
 * took two or three; then words, then bytes, never reading past end. */
static inline size_t plain_run(const unsigned char *p, const unsigned char *end)
{
    const unsigned char *s = p;
#if defined(__SSE2__)
    for (; end - p >= 16; p += 16) {
        unsigned m = special16(p);
        if (m) return (size_t)(p - s) + (size_t)__builtin_ctz(m);
    }
#endif
#if WORD_SCAN
    for (; end - p >= 8; p += 8) {
        uint64_t x, m;
        memcpy(&x, p, 8);
        if ((m = not_plain(x)) != 0) return (size_t)(p - s) + (size_t)(__builtin_ctzll(m) >> 3);
    }
#endif
    while (p < end && plain_byte[*p]) p++;
    return (size_t)(p - s);
}

static inline int hex4(const unsigned char *p, const unsigned char *end, unsigned *out)
{
    unsigned v = 0;
    if (end - p < 4) return -1;
    for (int i = 0; i < 4; i++) {
        unsigned c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9') v |= c - '0';
        else if (c >= 'a' && c <= 'f') v |= c - 'a' + 10;
        else if (c >= 'A' && c <= 'F') v |= c - 'A' + 10;
        else return -1;
    }
    *out = v;
    return 0;
}

/* Length of the valid UTF-8 sequence at p (2..4), or 0. The same rules as jansson's: no
 * overlong forms, no surrogates, nothing above U+10FFFF. */
static inline size_t utf8_len(const unsigned char *p, const unsigned char *end)
{
    unsigned c = p[0];
    size_t n = c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
    if (!n || (size_t)(end - p) < n) return 0;
    for (size_t i = 1; i < n; i++)
        if ((p[i] & 0xC0) != 0x80) return 0;
    if (n == 3 && ((c == 0xE0 && p[1] < 0xA0) || (c == 0xED && p[1] > 0x9F))) return 0;
    if (n == 4 && ((c == 0xF0 && p[1] < 0x90) || (c == 0xF4 && p[1] > 0x8F))) return 0;
    return n;
}

/* Copies the plain bytes at *p (up to q) to *o and advances both. Whole words are stored, the
 * bytes after the first special one included: *o trails *p within an output as long as the
 * input (see json_unescape), so a word stored at *o while *p + 8 <= q stays inside it, and
 * the extra bytes are overwritten next. */
static inline void copy_plain(const unsigned char **p, unsigned char **o, const unsigned char *q)
{
    const unsigned char *i = *p;
    unsigned char *w = *o;
#if WORD_SCAN
    for (; q - i >= 8; i += 8, w += 8) {
        uint64_t x, m;
        memcpy(&x, i, 8);
        memcpy(w, &x, 8);
        if ((m = not_plain(x)) != 0) {
            size_t k = (size_t)(__builtin_ctzll(m) >> 3);
            *p = i + k;
            *o = w + k;
            return;
        }
    }
#endif
    while (i < q && plain_byte[*i]) *w++ = *i++;
    *p = i;
    *o = w;
}

static inline size_t utf8_put(unsigned char *o, unsigned cp)
{
    if (cp < 0x80) {
        o[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (unsigned char)(0xC0 | cp >> 6);
        o[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (unsigned char)(0xE0 | cp >> 12);
        o[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
        o[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (unsigned char)(0xF0 | cp >> 18);
    o[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3F));
    o[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
    o[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

#if defined(__SSE2__)
/* What the byte after a backslash stands for in a one-character escape (0: not one). */
static const unsigned char simple_unescape[256] = {
    ['"'] = '"', ['\\'] = '\\', ['/'] = '/', ['b'] = '\b', ['f'] = '\f', ['n'] = '\n',
    ['r'] = '\r', ['t'] = '\t',
};

static inline void copy16(unsigned char *o, const unsigned char *p)
{
    _mm_storeu_si128((__m128i *)(void *)o, _mm_loadu_si128((const __m128i *)(const void *)p));
}

/* Unescapes plain bytes and one-character escapes from *p to *o, 16 input bytes a step, all the
 * escapes of a block in one pass over its special bytes: JSON inside JSON (a webhook body, an
 * API answer) has a \" every few bytes, and restarting the word loop at each was most of an
 * unescape (of the dry-run reader's time, a third). Stops at anything else (\u, a non-ASCII or
 * control byte, a bad escape) or 33 bytes before q, for json_unescape's byte rules. Stores
 * whole blocks: the output trails the input (an escape is two bytes in, one out), so a block
 * stored at o while the input behind it has 16 more bytes stays within the q - s bytes the
 * caller has; o must not overlap the input. */
static inline void unescape_simple(const unsigned char **pp, unsigned char **oo,
                                   const unsigned char *q)
{
    const unsigned char *p = *pp;
    unsigned char *o = *oo;
    while (q - p >= 33) { /* the block, an escape's second byte, a block stored from there */
        unsigned m = special16(p), from = 0;
        for (; m; m &= m - 1) {
            unsigned k = (unsigned)__builtin_ctz(m);
            if (k < from) continue; /* the byte an escape names */
            unsigned char c = simple_unescape[p[k + 1]];
            copy16(o, p + from);
            o += k - from;
            if (p[k] != '\\' || !c) {
                *pp = p + k;
                *oo = o;
                return;
            }
            *o++ = c;
            from = k + 2;
        }
        if (from < 16) {
            copy16(o, p + from);
            o += 16 - from;
            from = 16;
        }
        p += from;
    }
    *pp = p;
    *oo = o;
}
#endif

/* Unescapes a string's text from s (after the opening quote) to q (the closing quote, found by
 * a scan that steps over escapes in pairs, so a backslash is never the last byte) into o, which
 * has room for q - s bytes and does not overlap the text: the decoder's rules, jansson's.
 * Returns the length written, or -1 when the text is no valid string (a control byte, bad
 * UTF-8, a bad escape or surrogate, and with key a \u0000: jansson refuses NUL in a key). */
static inline long json_unescape(const unsigned char *s, const unsigned char *q, unsigned char *o,
                                 int key)
{
    unsigned char *o0 = o;
    const unsigned char *p = s;
    for (;;) {
#if defined(__SSE2__)
        unescape_simple(&p, &o, q);
#endif
        copy_plain(&p, &o, q);
        if (p >= q) break;
        unsigned c = *p;
        if (c >= 0x80) {
            size_t n = utf8_len(p, q);
            if (!n) return -1;
            memcpy(o, p, n);
            o += n, p += n;
        } else if (c != '\\') {
            return -1; /* a control character */
        } else {
            switch (p[1]) { /* p + 1 < q: the scan stepped over escapes in pairs */
            case '"': case '\\': case '/': *o++ = p[1]; break;
            case 'b': *o++ = '\b'; break;
            case 'f': *o++ = '\f'; break;
            case 'n': *o++ = '\n'; break;
            case 'r': *o++ = '\r'; break;
            case 't': *o++ = '\t'; break;
            case 'u': {
                unsigned cp, lo;
                if (hex4(p + 2, q, &cp)) return -1;
                p += 4;
                if (cp >= 0xDC00 && cp <= 0xDFFF) return -1;
                if (cp >= 0xD800 && cp <= 0xDBFF) {
                    if (q - p < 8 || p[2] != '\\' || p[3] != 'u' || hex4(p + 4, q, &lo) ||
                        lo < 0xDC00 || lo > 0xDFFF)
                        return -1;
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                    p += 6;
                }
                if (cp == 0 && key) return -1; /* jansson refuses NUL in a key */
                o += utf8_put(o, cp);
                break;
            }
            default: return -1;
            }
            p += 2;
        }
    }
    return (long)(o - o0);
}

/* The closing quote of a string, from p (inside it, after the opening quote): the first quote
 * not escaped, stepping over escapes in pairs (what they hold is checked while unescaping).
 * NULL when the text ends first. */
static inline const unsigned char *json_string_close(const unsigned char *p,
                                                     const unsigned char *end)
{
    while (p < end && *p != '"') {
        if (*p == '\\' && end - p < 2) return NULL;
        p += *p == '\\' ? 2 : 1;
        p += plain_run(p, end);
    }
    return p < end ? p : NULL;
}

static inline int json_is_digit(const unsigned char *p, const unsigned char *end)
{
    return p < end && *p >= '0' && *p <= '9';
}

/* The number at p, as the decoder reads it. jansson's grammar:
 * -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?, an integer (no fraction, no exponent) when it
 * fits int64 (else jansson fails: "too big integer"), a double otherwise. Returns its end with
 * *real = 0 and *iv, or *real = 1 and *dv; NULL for what the decoder leaves to jansson (bad
 * syntax, an integer beyond int64, an overflowing double, 64 characters or more). */
static inline const unsigned char *json_number(const unsigned char *p, const unsigned char *end,
                                               int *real, int64_t *iv, double *dv)
{
    const unsigned char *start = p;
    int neg = *p == '-';
    p += neg;
    if (!json_is_digit(p, end)) return NULL;
    const unsigned char *digits = p;
    uint64_t u = 0;
    if (*p == '0') {
        p++;
        if (json_is_digit(p, end)) return NULL;
    } else {
        while (json_is_digit(p, end)) u = u * 10 + (uint64_t)(*p++ - '0'); /* checked below */
    }
    if (p >= end || (*p != '.' && *p != 'e' && *p != 'E')) {
        /* 19 digits cannot wrap a uint64 */
        if (p - digits > 19 || u > (uint64_t)INT64_MAX + (uint64_t)neg) return NULL;
        *real = 0;
        *iv = !neg ? (int64_t)u : u > (uint64_t)INT64_MAX ? INT64_MIN : -(int64_t)u;
        return p;
    }
    if (*p == '.') {
        p++;
        if (!json_is_digit(p, end)) return NULL;
        while (json_is_digit(p, end)) p++;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < end && (*p == '+' || *p == '-')) p++;
        if (!json_is_digit(p, end)) return NULL;
        while (json_is_digit(p, end)) p++;
    }
    /* strtod as jansson does, on a terminated copy (the input need not be terminated); under
     * a locale whose decimal point is not '.' it stops early and jansson takes over */
    char buf[64], *e;
    size_t n = (size_t)(p - start);
    if (n >= sizeof buf) return NULL;
    memcpy(buf, start, n);
    buf[n] = '\0';
    errno = 0;
    double v = strtod(buf, &e);
    if (e != buf + n || ((v == HUGE_VAL || v == -HUGE_VAL) && errno == ERANGE)) return NULL;
    *real = 1;
    *dv = v;
    return p;
}

#endif
