/* lua_json_fast: the direct paths of lua_json (see lua_json.h): text straight to Lua values
 * and Lua values straight to text, without a jansson tree in between. Each accepts only what
 * the jansson path accepts and produces the same result; anything else (every error included)
 * is handed to the jansson path in lua_json.c, so messages are jansson's as before. */
#include "lua_json.h"
#include "lua_json_internal.h"
#include "lua_json_lazy.h"
#include "json_text.h"

#include <lauxlib.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

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
    int cache_tbl;             /* stack index of the cache's strings, slot i at [i + 1] */
    struct scache *cache;
    int nul;                   /* a string decoded to one holding a NUL byte (from \u0000) */
};

/* Texts the fast path handed to the tree path (this thread): tests check it stays 0 on valid
 * JSON, so a fast path that silently refuses everything cannot pass for a correct one. */
static _Thread_local unsigned long fallbacks;

unsigned long lua_json_decode_fallbacks(void)
{
    return fallbacks;
}

static int dec_value(struct dec *d, int depth);

/* The string cache (see lua_json_internal.h). */
static const char scache_key = 0;

const void *lua_json_scache_key(void)
{
    return &scache_key;
}

struct scache *lua_json_push_scache(lua_State *L)
{
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &scache_key) != LUA_TUSERDATA) {
        lua_pop(L, 1);
        struct scache *c = lua_newuserdatauv(L, sizeof *c, 1);
        memset(c->len, 0, sizeof c->len);
        lua_createtable(L, SCACHE_SLOTS, 0);
        for (lua_Integer i = 1; i <= SCACHE_SLOTS; i++) { /* the array part, filled once */
            lua_pushboolean(L, 0);
            lua_rawseti(L, -2, i);
        }
        lua_setiuservalue(L, -2, 1);
        lua_pushvalue(L, -1);
        lua_rawsetp(L, LUA_REGISTRYINDEX, &scache_key);
    }
    struct scache *c = lua_touserdata(L, -1);
    lua_getiuservalue(L, -1, 1);
    lua_remove(L, -2);
    return c;
}


/* Compact text (every recording) has no whitespace at all: one compare settles it, since
 * every JSON whitespace byte is <= ' ' and no token starts with such a byte. */
static inline void skip_ws(struct dec *d)
{
    if (d->p < d->end && *d->p > ' ') return;
    while (d->p < d->end && (*d->p == ' ' || *d->p == '\n' || *d->p == '\r' || *d->p == '\t'))
        d->p++;
}

/* A string with escapes or non-ASCII bytes, from s (after the opening quote) to q (the closing
 * quote): validated and unescaped (json_unescape) into a Lua buffer no longer than the raw text. */
static int dec_string_slow(struct dec *d, const unsigned char *s, const unsigned char *q, int key)
{
    luaL_Buffer b;
    unsigned char *o = (unsigned char *)luaL_buffinitsize(d->L, &b, (size_t)(q - s));
    long n = json_unescape(s, q, o, key);
    if (n < 0) return -1;
    /* only an escape makes a NUL (a raw one is refused above): strings that take this path */
    if (!d->nul && memchr(o, 0, (size_t)n)) d->nul = 1;
    luaL_pushresultsize(&b, (size_t)n);
    return 0;
}

/* d->p is just after the opening quote. */
static int dec_string(struct dec *d, int key)
{
    const unsigned char *s = d->p, *p = s + plain_run(s, d->end), *end = d->end;
    if (p < end && *p == '"') { /* the common case: nothing to unescape */
        lj_push_short(d->L, d->cache, d->cache_tbl, s, (size_t)(p - s), end);
        d->p = p + 1;
        return 0;
    }
    if (!(p = json_string_close(p, end))) return -1;
    d->p = p + 1;
    return dec_string_slow(d, s, p, key);
}

static int dec_number(struct dec *d)
{
    int real;
    int64_t i;
    double v;
    const unsigned char *p = json_number(d->p, d->end, &real, &i, &v);
    if (!p) return -1;
    d->p = p;
    if (real) lua_pushnumber(d->L, (lua_Number)v);
    else lua_pushinteger(d->L, (lua_Integer)i);
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
            if (d->p >= d->end || *d->p != '"' || !lj_object_room(L, n)) return -1;
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
    lj_object(L, base, n);
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
            if (!lj_array_room(L, n) || dec_value(d, depth + 1)) return -1;
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
    lj_array(L, base, n, d->array_mt);
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
    lua_json_decode_nul(L, s, len, NULL);
}

void lua_json_decode_nul(lua_State *L, const char *s, size_t len, int *nul)
{
    int base = lua_gettop(L);
    if (nul) *nul = 0;
    luaL_checkstack(L, 8, "json: nesting too deep");
    lua_json_push_array_mt(L);
    struct scache *cache = lua_json_push_scache(L);
    struct dec d = { L, (const unsigned char *)s, (const unsigned char *)s + len, base + 1, base + 2,
                     cache, 0 };
    skip_ws(&d);
    if (dec_value(&d, 1) == 0) {
        skip_ws(&d);
        if (d.p == d.end) {
            lua_replace(L, base + 1); /* over the metatable; then the cache goes */
            lua_settop(L, base + 1);
            if (nul) *nul = d.nul;
            return;
        }
    }
    lua_json_decode_fallback(L, base, s, len);
}

void lua_json_decode_fallback(lua_State *L, int base, const char *s, size_t len)
{
    lua_settop(L, base);
    fallbacks++;
    lua_json_decode_tree(L, s, len); /* raises jansson's error; see above */
}

/* ---- encode, direct ----
 * The same text as json_dumps(tree, JSON_SORT_KEYS | JSON_REAL_PRECISION(17) | compact or
 * JSON_INDENT(2)): keys sorted bytewise, '"' '\\' and control characters escaped (\b \f \n \r \t,
 * else \u00XX), everything else as is. Floats are few in this traffic (money travels as strings)
 * and are formatted by jansson itself, so the digits cannot drift from it. The text grows in a
 * C buffer that a Lua error cannot leak (see struct encbuf); nothing here raises. */

/* The text grows in a buffer kept per state from one encode to the next (a userdata in the
 * registry whose __gc frees it): a fresh box per encode, its growth from 256 bytes and its
 * finalizer cost more than encoding a small body. A finalizer run by the collector while an
 * encode is under way (a rule's __gc calling ez.json.encode) finds the buffer busy and gets a
 * box of its own, as every encode did before. */
#define ENCBUF_KEEP (64 * 1024)    /* a larger buffer is freed after use, not kept */
struct encbuf {
    char *text;
    size_t cap;
    int busy;
};

static const char encbuf_key = 0;

static void encbuf_free_text(struct encbuf *b)
{
    free(b->text);
    b->text = NULL;
    b->cap = 0;
}

static int encbuf_gc(lua_State *L)
{
    encbuf_free_text(lua_touserdata(L, 1));
    return 0;
}

/* The state's buffer, made on first use (which may raise: nothing is held yet). */
static struct encbuf *encbuf_of(lua_State *L)
{
    struct encbuf *b;
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &encbuf_key) == LUA_TUSERDATA) {
        b = lua_touserdata(L, -1);
        lua_pop(L, 1);
        return b;
    }
    lua_pop(L, 1);
    b = lua_newuserdatauv(L, sizeof *b, 0);
    memset(b, 0, sizeof *b);
    lua_createtable(L, 0, 1);
    lua_pushcfunction(L, encbuf_gc);
    lua_setfield(L, -2, "__gc");
    lua_setmetatable(L, -2);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &encbuf_key);
    return b;
}

struct enc {
    lua_State *L;
    struct encbuf *buf;     /* buf->text: the text so far */
    size_t len;
    int pretty;
};

struct enc_key {
    const char *s;
    size_t len;
    int slot;               /* the stack slot of the member's value */
};

static int enc_reserve(struct enc *e, size_t n)
{
    struct encbuf *b = e->buf;
    if (e->len + n <= b->cap) return 0;
    size_t cap = b->cap ? b->cap * 2 : 256;
    while (cap < e->len + n) cap *= 2;
    char *t = realloc(b->text, cap);
    if (!t) return -1;
    b->text = t;
    b->cap = cap;
    return 0;
}

static int enc_put(struct enc *e, const char *s, size_t n)
{
    if (enc_reserve(e, n)) return -1;
    memcpy(e->buf->text + e->len, s, n);
    e->len += n;
    return 0;
}

static int enc_indent(struct enc *e, int depth)
{
    if (!e->pretty) return 0;
    if (enc_reserve(e, 1 + (size_t)depth * 2)) return -1;
    e->buf->text[e->len++] = '\n';
    memset(e->buf->text + e->len, ' ', (size_t)depth * 2);
    e->len += (size_t)depth * 2;
    return 0;
}

/* A string, checked to be UTF-8 (the tree path refuses it otherwise: -1 hands it over). */
static int enc_string(struct enc *e, const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str, *end = s + n;
    if (enc_reserve(e, n * 6 + 2)) return -1; /* every byte escaped, at most */
    char *o = e->buf->text + e->len, *o0 = o;
    *o++ = '"';
    while (s < end) {
        size_t k = plain_run(s, end); /* bytes as they are: a word at a time, then one copy */
        memcpy(o, s, k);
        o += k, s += k;
        if (s == end) break;
        unsigned c = *s;
        if (c >= 0x80) {
            size_t m = utf8_len(s, end);
            if (!m) return -1;
            memcpy(o, s, m);
            o += m, s += m;
        } else {
            static const char hex[] = "0123456789ABCDEF";
            *o++ = '\\';
            switch (c) {
            case '"': *o++ = '"'; break;
            case '\\': *o++ = '\\'; break;
            case '\b': *o++ = 'b'; break;
            case '\f': *o++ = 'f'; break;
            case '\n': *o++ = 'n'; break;
            case '\r': *o++ = 'r'; break;
            case '\t': *o++ = 't'; break;
            default:
                memcpy(o, "u00", 3);
                o[3] = hex[c >> 4];
                o[4] = hex[c & 15];
                o += 5;
            }
            s++;
        }
    }
    *o++ = '"';
    e->len += (size_t)(o - o0);
    return 0;
}

static int enc_real(struct enc *e, double d)
{
    if (!isfinite(d)) return -1;
    json_t *r = json_real(d);
    char buf[64];
    size_t n = r ? json_dumpb(r, buf, sizeof buf, JSON_ENCODE_ANY | JSON_REAL_PRECISION(17)) : 0;
    json_decref(r);
    return n && n < sizeof buf ? enc_put(e, buf, n) : -1;
}

static int cmp_keys(const void *a, const void *b)
{
    const struct enc_key *x = a, *y = b;
    int r = memcmp(x->s, y->s, x->len < y->len ? x->len : y->len);
    return r ? r : (x->len > y->len) - (x->len < y->len);
}

/* Sorts keys bytewise: insertion for the few keys of most objects (qsort's setup and indirect
 * calls cost more there), qsort beyond. Keys are distinct (those of one table). */
static void sort_keys(struct enc_key *k, size_t n)
{
    if (n > 16) {
        qsort(k, n, sizeof *k, cmp_keys);
        return;
    }
    for (size_t i = 1; i < n; i++) {
        struct enc_key t = k[i];
        size_t j = i;
        for (; j > 0 && cmp_keys(&k[j - 1], &t) > 0; j--) k[j] = k[j - 1];
        k[j] = t;
    }
}

static int enc_value(struct enc *e, int idx, int depth);

/* An array: elements 1..n by index. */
static int enc_array(struct enc *e, int idx, size_t n, int depth)
{
    lua_State *L = e->L;
    if (enc_put(e, "[", 1)) return -1;
    if (n == 0) return enc_put(e, "]", 1);
    /* jansson counts indentation from 0 at the document, depth from 1 here */
    if (enc_indent(e, depth)) return -1;
    for (size_t i = 0; i < n; i++) {
        lua_rawgeti(L, idx, (lua_Integer)i + 1);
        int bad = enc_value(e, lua_gettop(L), depth + 1);
        lua_pop(L, 1);
        if (bad || (i + 1 < n ? enc_put(e, ",", 1) || enc_indent(e, depth) : enc_indent(e, depth - 1)))
            return -1;
    }
    return enc_put(e, "]", 1);
}

/* A table: an array when marked, or when its keys are exactly 1..n (what table_to_json
 * decides, minus its error cases, handed over); else an object. The members stay on the stack
 * as lua_next gives them (key, value, key, value, ...), so each value is encoded from there
 * after the keys are sorted, without looking it up again by its key. */
#define ENC_FEW_KEYS 32
static int enc_table(struct enc *e, int idx, int depth)
{
    lua_State *L = e->L;
    /* read raw below: a lazy table is filled first (protected: nothing here may raise; on an
     * error the tree path tries again and reports it) */
    if (lua_json_lazy_pforce(L, idx, NULL)) return -1;
    if (lua_json_is_marked_array(L, idx)) return enc_array(e, idx, lua_rawlen(L, idx), depth);
    int base = lua_gettop(L), rc = -1;
    size_t count = 0, nint = 0, nkeys = 0, kcap = ENC_FEW_KEYS;
    lua_Integer max = 0;
    struct enc_key few[ENC_FEW_KEYS], *keys = few;
    lua_pushnil(L);
    while (lua_next(L, idx)) { /* ... key value */
        count++;
        if (lua_isinteger(L, -2) && lua_tointeger(L, -2) > 0) {
            nint++;
            if (lua_tointeger(L, -2) > max) max = lua_tointeger(L, -2);
        } else if (lua_type(L, -2) != LUA_TSTRING) {
            goto done;
        }
        if (nint) { /* an array or an error: its values are read by index */
            lua_pop(L, 1);
            continue;
        }
        if (nkeys == kcap) {
            kcap *= 2;
            struct enc_key *nk = keys == few ? malloc(kcap * sizeof *nk)
                                             : realloc(keys, kcap * sizeof *nk);
            if (!nk) goto done;
            if (keys == few) memcpy(nk, few, sizeof few);
            keys = nk;
        }
        size_t klen;
        const char *k = lua_tolstring(L, -2, &klen); /* a string: not converted, no allocation */
        keys[nkeys++] = (struct enc_key){ k, klen, lua_gettop(L) }; /* the value's slot */
        /* the key again on top for lua_next; a stack that cannot grow: the tree path copes */
        if (!lua_checkstack(L, 4)) goto done;
        lua_pushvalue(L, -2);
    }
    if (nint) {
        if (nint != count || (size_t)max != nint) goto done;
        lua_settop(L, base);
        rc = enc_array(e, idx, nint, depth);
        goto done;
    }
    size_t n = nkeys;
    if (enc_put(e, "{", 1)) goto done;
    if (n == 0) {
        rc = enc_put(e, "}", 1);
        goto done;
    }
    sort_keys(keys, n);
    if (enc_indent(e, depth)) goto done;
    for (size_t i = 0; i < n; i++) {
        /* a key the tree path refuses (a NUL byte, bad UTF-8) goes to it whole */
        if (memchr(keys[i].s, '\0', keys[i].len) || enc_string(e, keys[i].s, keys[i].len) ||
            enc_put(e, e->pretty ? ": " : ":", e->pretty ? 2 : 1) ||
            enc_value(e, keys[i].slot, depth + 1) ||
            (i + 1 < n ? enc_put(e, ",", 1) || enc_indent(e, depth) : enc_indent(e, depth - 1)))
            goto done;
    }
    rc = enc_put(e, "}", 1);
done:
    if (keys != few) free(keys);
    lua_settop(L, base);
    return rc;
}

size_t lua_json_integer_text(char *buf, lua_Integer v)
{
    char tmp[24], *t = tmp + sizeof tmp;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v; /* INT64_MIN included */
    do *--t = (char)('0' + u % 10); while ((u /= 10) != 0);
    if (v < 0) *--t = '-';
    size_t n = (size_t)(tmp + sizeof tmp - t);
    memcpy(buf, t, n);
    return n;
}

static int enc_value(struct enc *e, int idx, int depth)
{
    lua_State *L = e->L;
    char num[32];
    if (depth > LUA_JSON_MAX_DEPTH || !lua_checkstack(L, 4)) return -1;
    switch (lua_type(L, idx)) {
    case LUA_TNIL: return enc_put(e, "null", 4);
    case LUA_TBOOLEAN: return lua_toboolean(L, idx) ? enc_put(e, "true", 4) : enc_put(e, "false", 5);
    case LUA_TNUMBER:
        if (!lua_isinteger(L, idx)) return enc_real(e, (double)lua_tonumber(L, idx));
        return enc_put(e, num, lua_json_integer_text(num, lua_tointeger(L, idx)));
    case LUA_TSTRING: {
        size_t n;
        const char *s = lua_tolstring(L, idx, &n);
        return enc_string(e, s, n);
    }
    case LUA_TLIGHTUSERDATA: return lua_json_isnull(L, idx) ? enc_put(e, "null", 4) : -1;
    case LUA_TTABLE: return enc_table(e, idx, depth);
    default: return -1;
    }
}

static _Thread_local unsigned long enc_fallbacks;

unsigned long lua_json_encode_fallbacks(void)
{
    return enc_fallbacks;
}

const char *lua_json_encode(lua_State *L, int idx, int flags, size_t *len)
{
    idx = lua_absindex(L, idx);
    struct encbuf *b = encbuf_of(L), own = { NULL, 0, 0 };
    struct jbox *box = NULL;
    if (b->busy) { /* see struct encbuf: the box is pushed first, so nothing can leak */
        box = lua_json_box_push(L);
        b = &own;
    }
    int top = lua_gettop(L);
    struct enc e = { L, b, 0, (flags & LUA_JSON_PRETTY) != 0 };
    b->busy = 1;
    int bad = enc_value(&e, idx, 1);
    b->busy = 0;
    if (box) box->text = own.text; /* owned by the box from here on */
    if (!bad) {
        /* the copy is made before the collector can run (and a finalizer reuse the buffer); a
         * memory error leaves the text with the state's buffer or the box, not leaked */
        const char *s = lua_pushlstring(L, b->text, e.len);
        if (box) {
            lua_json_box_clear(box);
            lua_remove(L, -2);
        } else if (b->cap > ENCBUF_KEEP) {
            encbuf_free_text(b);
        }
        if (len) *len = e.len;
        return s;
    }
    lua_settop(L, top);
    if (box) {
        lua_json_box_clear(box);
        lua_pop(L, 1);
    } else if (b->cap > ENCBUF_KEEP) {
        encbuf_free_text(b);
    }
    enc_fallbacks++;
    return lua_json_encode_tree(L, idx, flags, len); /* raises jansson's error, see above */
}

const char *lua_json_encode_fields(lua_State *L, int n, const char *const *keys,
                                   const char *const *vals)
{
    struct encbuf *b = encbuf_of(L);
    if (!b->busy) {
        struct enc e = { L, b, 0, 0 };
        int bad = enc_put(&e, "{", 1);
        for (int i = 0; i < n && !bad; i++)
            bad = (i && enc_put(&e, ",", 1)) || enc_string(&e, keys[i], strlen(keys[i])) ||
                  enc_put(&e, ":", 1) || enc_string(&e, vals[i], strlen(vals[i]));
        if (!bad && !enc_put(&e, "}", 1)) {
            const char *s = lua_pushlstring(L, b->text, e.len); /* see lua_json_encode */
            if (b->cap > ENCBUF_KEEP) encbuf_free_text(b);
            return s;
        }
    }
    /* not valid UTF-8 (or the buffer in use): the table, the general way (and its error) */
    lua_createtable(L, 0, n);
    for (int i = 0; i < n; i++) {
        lua_pushstring(L, vals[i]);
        lua_setfield(L, -2, keys[i]);
    }
    lua_json_encode(L, -1, 0, NULL);
    lua_remove(L, -2);
    return lua_tostring(L, -1);
}
