/* lua_json: see lua_json.h. Decoding is a direct single pass from text to Lua values
 * (below), falling back to a jansson tree for errors; encoding builds a jansson tree
 * (which never raises) and dumps it with sorted keys. The tree and the dumped text sit in a "box" userdata whose __gc frees them,
 * so a memory error raised by Lua midway (the rules state has a hard cap) cannot leak them. */
#include "lua_json.h"

#include <jansson.h>
#include <lauxlib.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Registry keys (addresses, so lookups never allocate). */
static const char array_key = 'a';
static const char box_key = 'b';
/* ez.json.null is a light userdata pointing here: one value, equal to itself in every state. */
static const char null_tag = 'n';

struct jbox {
    json_t *root;
    char *text;
};

static void box_clear(struct jbox *b)
{
    if (b->root) json_decref(b->root);
    free(b->text);
    b->root = NULL;
    b->text = NULL;
}

static int box_gc(lua_State *L)
{
    box_clear(lua_touserdata(L, 1));
    return 0;
}

static struct jbox *push_box(lua_State *L)
{
    struct jbox *b = lua_newuserdatauv(L, sizeof *b, 0);
    b->root = NULL;
    b->text = NULL;
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &box_key) != LUA_TTABLE) {
        lua_pop(L, 1);
        lua_createtable(L, 0, 1);
        lua_pushcfunction(L, box_gc);
        lua_setfield(L, -2, "__gc");
        lua_pushvalue(L, -1);
        lua_rawsetp(L, LUA_REGISTRYINDEX, &box_key);
    }
    lua_setmetatable(L, -2);
    return b;
}

void lua_json_pushnull(lua_State *L)
{
    lua_pushlightuserdata(L, (void *)&null_tag);
}

int lua_json_isnull(lua_State *L, int idx)
{
    return lua_type(L, idx) == LUA_TLIGHTUSERDATA && lua_touserdata(L, idx) == &null_tag;
}

static void push_array_mt(lua_State *L)
{
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &array_key) == LUA_TTABLE) return;
    lua_pop(L, 1);
    lua_createtable(L, 0, 1);
    lua_pushliteral(L, "ez.json.array");
    lua_setfield(L, -2, "__name");
    lua_pushvalue(L, -1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &array_key);
}

void lua_json_setarray(lua_State *L, int idx)
{
    idx = lua_absindex(L, idx);
    push_array_mt(L);
    lua_setmetatable(L, idx);
}

/* True when the table at idx carries the array marker. Does not allocate. */
static int is_marked_array(lua_State *L, int idx)
{
    if (!lua_getmetatable(L, idx)) return 0;
    lua_rawgetp(L, LUA_REGISTRYINDEX, &array_key);
    int same = lua_rawequal(L, -1, -2);
    lua_pop(L, 2);
    return same;
}

/* ---- decode ---- */

static void push_value(lua_State *L, json_t *j, int depth)
{
    if (depth > LUA_JSON_MAX_DEPTH)
        luaL_error(L, "json: nesting deeper than %d levels", LUA_JSON_MAX_DEPTH);
    luaL_checkstack(L, 4, "json: nesting too deep");
    switch (json_typeof(j)) {
    case JSON_OBJECT: {
        const char *key;
        size_t klen;
        json_t *v;
        lua_createtable(L, 0, (int)json_object_size(j));
        json_object_keylen_foreach(j, key, klen, v) {
            lua_pushlstring(L, key, klen);
            push_value(L, v, depth + 1);
            lua_rawset(L, -3);
        }
        break;
    }
    case JSON_ARRAY: {
        size_t n = json_array_size(j);
        lua_createtable(L, (int)n, 0);
        for (size_t i = 0; i < n; i++) {
            push_value(L, json_array_get(j, i), depth + 1);
            lua_rawseti(L, -2, (lua_Integer)i + 1);
        }
        lua_json_setarray(L, -1);
        break;
    }
    case JSON_STRING: lua_pushlstring(L, json_string_value(j), json_string_length(j)); break;
    case JSON_INTEGER: lua_pushinteger(L, (lua_Integer)json_integer_value(j)); break;
    case JSON_REAL: lua_pushnumber(L, (lua_Number)json_real_value(j)); break;
    case JSON_TRUE: lua_pushboolean(L, 1); break;
    case JSON_FALSE: lua_pushboolean(L, 0); break;
    case JSON_NULL: lua_json_pushnull(L); break;
    }
}

void lua_json_decode_tree(lua_State *L, const char *s, size_t len)
{
    json_error_t jerr;
    struct jbox *b = push_box(L);
    b->root = json_loadb(s, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
    if (!b->root)
        luaL_error(L, "json: %s (line %d, column %d)", jerr.text, jerr.line, jerr.column);
    push_value(L, b->root, 1);
    box_clear(b);
    lua_remove(L, -2); /* the box */
}

/* ---- decode, fast path ----
 * Text straight to Lua values in one pass, without a jansson tree: the tree cost a malloc per
 * value plus a second walk, and was most of the dry-run's time. Hand-written because no Debian
 * library decodes JSON into Lua 5.4 values with exact 64-bit integers (lua-cjson, the usual
 * choice, goes through doubles and would round ids above 2^53).
 *
 * The fast path accepts a subset of what jansson accepts (exactly the valid JSON in practice)
 * and produces the same values. On anything it does not accept it returns -1 and the caller
 * decodes the same text through the jansson tree, which then reports the error with jansson's
 * message, line and column, exactly as before. So the fast path never needs its own error
 * messages, and refusing something unusual (a number of more than 63 characters) is only slower,
 * never different. It allocates no C memory: a Lua error (the memory cap) cannot leak. */

struct dec {
    lua_State *L;
    const unsigned char *p, *end;
    int array_mt;              /* stack index of the array marker metatable */
};

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

/* Texts the fast path handed to the tree path (this thread): tests check it stays 0 on valid
 * JSON, so a fast path that silently refuses everything cannot pass for a correct one. */
static _Thread_local unsigned long fallbacks;

unsigned long lua_json_decode_fallbacks(void)
{
    return fallbacks;
}

static int dec_value(struct dec *d, int depth);

static inline void skip_ws(struct dec *d)
{
    while (d->p < d->end && (*d->p == ' ' || *d->p == '\n' || *d->p == '\r' || *d->p == '\t'))
        d->p++;
}

static int hex4(const unsigned char *p, const unsigned char *end, unsigned *out)
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
static size_t utf8_len(const unsigned char *p, const unsigned char *end)
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

static size_t utf8_put(unsigned char *o, unsigned cp)
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

/* A string with escapes or non-ASCII bytes, from s (after the opening quote) to q (the closing
 * quote): validated and unescaped into a Lua buffer no longer than the raw text. */
static int dec_string_slow(struct dec *d, const unsigned char *s, const unsigned char *q, int key)
{
    luaL_Buffer b;
    unsigned char *o0 = (unsigned char *)luaL_buffinitsize(d->L, &b, (size_t)(q - s)), *o = o0;
    const unsigned char *p = s;
    while (p < q) {
        unsigned c = *p;
        if (plain_byte[c]) {
            *o++ = (unsigned char)c;
            p++;
        } else if (c >= 0x80) {
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
    luaL_pushresultsize(&b, (size_t)(o - o0));
    return 0;
}

/* d->p is just after the opening quote. */
static int dec_string(struct dec *d, int key)
{
    const unsigned char *s = d->p, *p = s, *end = d->end;
    while (p < end && plain_byte[*p]) p++;
    if (p < end && *p == '"') { /* the common case: nothing to unescape */
        lua_pushlstring(d->L, (const char *)s, (size_t)(p - s));
        d->p = p + 1;
        return 0;
    }
    while (p < end && *p != '"') {
        if (*p == '\\' && end - p < 2) return -1;
        p += *p == '\\' ? 2 : 1;
    }
    if (p >= end) return -1;
    d->p = p + 1;
    return dec_string_slow(d, s, p, key);
}

static int is_digit(const unsigned char *p, const unsigned char *end)
{
    return p < end && *p >= '0' && *p <= '9';
}

/* jansson's grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?, an integer (no fraction,
 * no exponent) when it fits int64 (else jansson fails: "too big integer"), a double otherwise. */
static int dec_number(struct dec *d)
{
    const unsigned char *start = d->p, *p = start, *end = d->end;
    int neg = *p == '-';
    p += neg;
    if (!is_digit(p, end)) return -1;
    const unsigned char *digits = p;
    uint64_t u = 0;
    if (*p == '0') {
        p++;
        if (is_digit(p, end)) return -1;
    } else {
        while (is_digit(p, end)) u = u * 10 + (uint64_t)(*p++ - '0'); /* checked below */
    }
    if (p >= end || (*p != '.' && *p != 'e' && *p != 'E')) {
        /* 19 digits cannot wrap a uint64 */
        if (p - digits > 19 || u > (uint64_t)INT64_MAX + (uint64_t)neg) return -1;
        d->p = p;
        lua_pushinteger(d->L, !neg ? (lua_Integer)u
                              : u > (uint64_t)INT64_MAX ? INT64_MIN : -(lua_Integer)u);
        return 0;
    }
    if (*p == '.') {
        p++;
        if (!is_digit(p, end)) return -1;
        while (is_digit(p, end)) p++;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < end && (*p == '+' || *p == '-')) p++;
        if (!is_digit(p, end)) return -1;
        while (is_digit(p, end)) p++;
    }
    /* strtod as jansson does, on a terminated copy (the input need not be terminated); under
     * a locale whose decimal point is not '.' it stops early and the tree path takes over */
    char buf[64], *e;
    size_t n = (size_t)(p - start);
    if (n >= sizeof buf) return -1;
    memcpy(buf, start, n);
    buf[n] = '\0';
    errno = 0;
    double v = strtod(buf, &e);
    if (e != buf + n || ((v == HUGE_VAL || v == -HUGE_VAL) && errno == ERANGE)) return -1;
    d->p = p;
    lua_pushnumber(d->L, (lua_Number)v);
    return 0;
}

static int dec_literal(struct dec *d, const char *word, size_t n)
{
    if ((size_t)(d->end - d->p) < n || memcmp(d->p, word, n)) return -1;
    d->p += n;
    return 0;
}

/* Members and elements are collected on the Lua stack and the table is made once their
 * number is known: growing a table member by member rehashes it at every power of two. */
static int dec_object(struct dec *d, int depth)
{
    lua_State *L = d->L;
    int base = lua_gettop(L), n = 0;
    d->p++;
    skip_ws(d);
    if (d->p < d->end && *d->p == '}') {
        d->p++;
    } else {
        for (;;) {
            /* a stack that cannot grow (a giant object): the tree path copes, as before */
            if (d->p >= d->end || *d->p != '"' || !lua_checkstack(L, 6)) return -1;
            d->p++;
            if (dec_string(d, 1)) return -1;
            skip_ws(d);
            if (d->p >= d->end || *d->p != ':') return -1;
            d->p++;
            skip_ws(d);
            if (dec_value(d, depth + 1)) return -1;
            n++;
            skip_ws(d);
            if (d->p >= d->end) return -1;
            if (*d->p == '}') {
                d->p++;
                break;
            }
            if (*d->p != ',') return -1;
            d->p++;
            skip_ws(d);
        }
    }
    lua_createtable(L, 0, n);
    lua_insert(L, base + 1);
    for (int i = 0; i < n; i++) { /* in order: a repeated key, the last one wins, as in jansson */
        lua_pushvalue(L, base + 2 + 2 * i);
        lua_pushvalue(L, base + 3 + 2 * i);
        lua_rawset(L, base + 1);
    }
    lua_settop(L, base + 1);
    return 0;
}

static int dec_array(struct dec *d, int depth)
{
    lua_State *L = d->L;
    int base = lua_gettop(L), n = 0;
    d->p++;
    skip_ws(d);
    if (d->p < d->end && *d->p == ']') {
        d->p++;
    } else {
        for (;;) {
            if (!lua_checkstack(L, 6) || dec_value(d, depth + 1)) return -1;
            n++;
            skip_ws(d);
            if (d->p >= d->end) return -1;
            if (*d->p == ']') {
                d->p++;
                break;
            }
            if (*d->p != ',') return -1;
            d->p++;
            skip_ws(d);
        }
    }
    lua_createtable(L, n, 0);
    lua_insert(L, base + 1);
    for (int i = n; i > 0; i--) lua_rawseti(L, base + 1, i); /* pops the last element */
    lua_pushvalue(L, d->array_mt);
    lua_setmetatable(L, base + 1);
    return 0;
}

/* d->p is at the value (no whitespace before it). depth 1 is the document itself. */
static int dec_value(struct dec *d, int depth)
{
    if (depth > LUA_JSON_MAX_DEPTH || d->p >= d->end) return -1;
    switch (*d->p) {
    case '{':
        luaL_checkstack(d->L, 4, "json: nesting too deep");
        return dec_object(d, depth);
    case '[':
        luaL_checkstack(d->L, 4, "json: nesting too deep");
        return dec_array(d, depth);
    case '"':
        d->p++;
        return dec_string(d, 0);
    case 't':
        if (dec_literal(d, "true", 4)) return -1;
        lua_pushboolean(d->L, 1);
        return 0;
    case 'f':
        if (dec_literal(d, "false", 5)) return -1;
        lua_pushboolean(d->L, 0);
        return 0;
    case 'n':
        if (dec_literal(d, "null", 4)) return -1;
        lua_json_pushnull(d->L);
        return 0;
    default:
        return dec_number(d);
    }
}

void lua_json_decode(lua_State *L, const char *s, size_t len)
{
    int base = lua_gettop(L);
    luaL_checkstack(L, 8, "json: nesting too deep");
    push_array_mt(L);
    struct dec d = { L, (const unsigned char *)s, (const unsigned char *)s + len, base + 1 };
    skip_ws(&d);
    if (dec_value(&d, 1) == 0) {
        skip_ws(&d);
        if (d.p == d.end) {
            lua_remove(L, base + 1); /* the metatable */
            return;
        }
    }
    lua_settop(L, base);
    fallbacks++;
    lua_json_decode_tree(L, s, len); /* raises jansson's error; see above */
}

/* ---- encode ---- */

/* Builds a jansson tree for the value at idx. Never raises: returns NULL with err set. */
static json_t *to_json(lua_State *L, int idx, int depth, char *err, size_t errlen);

static json_t *table_to_json(lua_State *L, int idx, int depth, char *err, size_t errlen)
{
    int array = is_marked_array(L, idx);
    lua_Integer n = 0;
    if (!array) {
        size_t count = 0, nint = 0;
        lua_Integer max = 0;
        lua_pushnil(L);
        while (lua_next(L, idx)) {
            count++;
            if (lua_isinteger(L, -2) && lua_tointeger(L, -2) > 0) {
                nint++;
                if (lua_tointeger(L, -2) > max) max = lua_tointeger(L, -2);
            } else if (lua_type(L, -2) != LUA_TSTRING) {
                snprintf(err, errlen, "json: cannot encode a table key of type %s",
                         luaL_typename(L, -2));
                lua_pop(L, 2);
                return NULL;
            }
            lua_pop(L, 1);
        }
        if (nint && nint != count) {
            snprintf(err, errlen, "json: cannot encode a table mixing array and object keys");
            return NULL;
        }
        if (nint && (size_t)max != nint) {
            snprintf(err, errlen, "json: cannot encode a sparse array (largest index %lld, "
                     "%zu elements)", (long long)max, nint);
            return NULL;
        }
        array = nint > 0;
        n = max;
    } else {
        n = (lua_Integer)lua_rawlen(L, idx);
    }
    json_t *out = array ? json_array() : json_object();
    if (!out) goto nomem;
    if (array) {
        for (lua_Integer i = 1; i <= n; i++) {
            lua_rawgeti(L, idx, i);
            json_t *v = to_json(L, lua_gettop(L), depth + 1, err, errlen);
            lua_pop(L, 1);
            if (!v || json_array_append_new(out, v)) goto fail;
        }
        return out;
    }
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        size_t klen;
        const char *k = lua_tolstring(L, -2, &klen); /* a string key: no conversion */
        json_t *v = to_json(L, lua_gettop(L), depth + 1, err, errlen);
        if (!v) {
            lua_pop(L, 2);
            goto fail;
        }
        if (json_object_setn_new(out, k, klen, v)) {
            snprintf(err, errlen, "json: invalid UTF-8 in a key");
            lua_pop(L, 2);
            goto fail;
        }
        lua_pop(L, 1);
    }
    return out;
nomem:
    snprintf(err, errlen, "json: out of memory");
fail:
    if (out) json_decref(out);
    return NULL;
}

static json_t *to_json(lua_State *L, int idx, int depth, char *err, size_t errlen)
{
    if (depth > LUA_JSON_MAX_DEPTH) {
        snprintf(err, errlen, "json: nesting deeper than %d levels (a cycle?)",
                 LUA_JSON_MAX_DEPTH);
        return NULL;
    }
    if (!lua_checkstack(L, 4)) {
        snprintf(err, errlen, "json: nesting too deep");
        return NULL;
    }
    json_t *v = NULL;
    switch (lua_type(L, idx)) {
    case LUA_TNIL: v = json_null(); break;
    case LUA_TBOOLEAN: v = json_boolean(lua_toboolean(L, idx)); break;
    case LUA_TNUMBER:
        if (lua_isinteger(L, idx)) {
            v = json_integer((json_int_t)lua_tointeger(L, idx));
        } else {
            double d = (double)lua_tonumber(L, idx);
            if (!isfinite(d)) {
                snprintf(err, errlen, "json: cannot encode %s", isnan(d) ? "NaN" : "infinity");
                return NULL;
            }
            v = json_real(d);
        }
        break;
    case LUA_TSTRING: {
        size_t len;
        const char *s = lua_tolstring(L, idx, &len);
        v = json_stringn(s, len);
        if (!v) {
            snprintf(err, errlen, "json: invalid UTF-8 in a string");
            return NULL;
        }
        break;
    }
    case LUA_TLIGHTUSERDATA:
        if (lua_json_isnull(L, idx)) {
            v = json_null();
            break;
        }
        /* fall through */
    default:
        if (lua_type(L, idx) == LUA_TTABLE) return table_to_json(L, idx, depth, err, errlen);
        snprintf(err, errlen, "json: cannot encode a %s", luaL_typename(L, idx));
        return NULL;
    }
    if (!v) snprintf(err, errlen, "json: out of memory");
    return v;
}

const char *lua_json_encode(lua_State *L, int idx, int flags, size_t *len)
{
    char err[160];
    idx = lua_absindex(L, idx);
    struct jbox *b = push_box(L);
    b->root = to_json(L, idx, 1, err, sizeof err);
    if (!b->root) luaL_error(L, "%s", err);
    /* 17 significant digits: every double survives the round trip (send decimals as strings) */
    size_t jflags = JSON_ENCODE_ANY | JSON_SORT_KEYS | JSON_REAL_PRECISION(17) |
                    ((flags & LUA_JSON_PRETTY) ? JSON_INDENT(2) : JSON_COMPACT);
    b->text = json_dumps(b->root, jflags);
    if (!b->text) luaL_error(L, "json: out of memory");
    const char *s = lua_pushstring(L, b->text);
    box_clear(b);
    lua_remove(L, -2); /* the box */
    if (len) *len = lua_rawlen(L, -1);
    return s;
}

/* ---- ez.json ---- */

static int l_encode(lua_State *L)
{
    luaL_checkany(L, 1);
    int flags = 0;
    if (lua_istable(L, 2)) {
        lua_getfield(L, 2, "pretty");
        if (lua_toboolean(L, -1)) flags |= LUA_JSON_PRETTY;
        lua_pop(L, 1);
    }
    lua_json_encode(L, 1, flags, NULL);
    return 1;
}

static int l_decode(lua_State *L)
{
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    lua_json_decode(L, s, len);
    return 1;
}

static int l_array(lua_State *L)
{
    if (lua_isnoneornil(L, 1)) {
        lua_settop(L, 0);
        lua_newtable(L);
    }
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    lua_json_setarray(L, 1);
    return 1;
}

static const luaL_Reg json_lib[] = {
    { "encode", l_encode },
    { "decode", l_decode },
    { "array", l_array },
    { NULL, NULL },
};

int lua_json_open(lua_State *L)
{
    luaL_newlib(L, json_lib);
    lua_json_pushnull(L);
    lua_setfield(L, -2, "null");
    return 1;
}
