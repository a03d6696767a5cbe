/* json_text: the byte-level rules of JSON strings that the direct decoder (lua_json_fast.c) and
 * the recording's line scan (dryrun_scan.c) share, so the scan can never accept a string the
 * decoder refuses. Header-only: these run per byte of every line and must inline. */
#ifndef EZ_JSON_TEXT_H
#define EZ_JSON_TEXT_H

#include <stddef.h>
#include <stdint.h>
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

/* The number of plain bytes at p (up to end). */
static inline size_t plain_run(const unsigned char *p, const unsigned char *end)
{
    const unsigned char *s = p;
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

#endif
