/* lua_json_internal: what lua_json.c (shared parts, jansson paths) and lua_json_fast.c (the
 * direct decoder and encoder) share. Not for other modules. */
#ifndef EZ_LUA_JSON_INTERNAL_H
#define EZ_LUA_JSON_INTERNAL_H

#include "json_tape.h"
#include "json_text.h"
#include "lua_json.h"

#include <jansson.h>
#include <lauxlib.h>
#include <lua.h>
#include <stdint.h>
#include <string.h>

/* C memory owned by a userdata whose __gc frees it, so a Lua error cannot leak it */
struct jbox {
    json_t *root;
    char *text;
};
struct jbox *lua_json_box_push(lua_State *L);
void lua_json_box_clear(struct jbox *b);

void lua_json_push_array_mt(lua_State *L);
/* True when the table at idx carries the array marker. Does not allocate. */
int lua_json_is_marked_array(lua_State *L, int idx);

/* ---- building decoded values: shared by the text decoder (lua_json_fast.c) and the tape's
 * (lua_json_tape.c), so both make the same Lua values by the same Lua calls in the same order
 * (the same strings, tables and allocations: a memory cap or a collection cycle falls at the
 * same point either way). ---- */

/* Short strings through a per-state cache. Lua interns every short string: pushing one hashes
 * all its bytes and walks the state's string table, ~200 instructions a string and the largest
 * single cost of decoding an order payload (~800 strings). The same keys and many values
 * ("amount", "currency_code", "CAD") come back in every document, so the decoder remembers the
 * last string per slot of a small direct-mapped cache: a hit compares at most SCACHE_MAXLEN
 * bytes and pushes the string from the cache's table. It is the very string Lua would have
 * interned, so no decoded value changes. The cache lives in the registry (a userdata whose user
 * value is the table of strings), so it is per state and freed with it; ~60 KB at most. */
#define SCACHE_SLOTS 1024          /* a power of two */
#define SCACHE_MAXLEN 24
/* A string is known by three words (see scache_key_of), which a hit compares instead of the
 * bytes: cheaper than memcmp's call for strings this short. */
struct scache_key {
    uint64_t first, last, mid;
};
struct scache {
    unsigned char len[SCACHE_SLOTS];   /* 0: an empty slot (the empty string is not cached) */
    struct scache_key keys[SCACHE_SLOTS];
};

/* Pushes the state's cache table and returns the cache, made on first use. */
struct scache *lua_json_push_scache(lua_State *L);
/* The registry key of the cache's userdata (light userdata), once lua_json_push_scache made it. */
const void *lua_json_scache_key(void);

/* The words that tell the n bytes at s (1 <= n <= SCACHE_MAXLEN) apart from any other n bytes:
 * from 8 bytes on, the first and the last 8 (overlapping), which cover every byte up to 16,
 * and the 8 after the first ones beyond that; below 8, the bytes themselves in one word, zero
 * after them. Read as whole words where the text goes on far enough (a string is followed by
 * more text but for the last one), instead of a loop over the bytes. */
static inline struct scache_key scache_key_of(const unsigned char *s, size_t n,
                                              const unsigned char *end)
{
    struct scache_key k = { 0, n, 0 };
    if (n >= 8) {
        memcpy(&k.first, s, 8);
        memcpy(&k.last, s + n - 8, 8);
        if (n > 16) memcpy(&k.mid, s + 8, 8);
#if WORD_SCAN /* little-endian: the bytes read past the string are the high ones, masked off */
    } else if (end - s >= 8) {
        memcpy(&k.first, s, 8);
        k.first &= ~UINT64_C(0) >> (64 - 8 * n);
#endif
    } else {
        (void)end;
        memcpy(&k.first, s, n); /* the same word as above, the bytes at the start of it */
    }
    return k;
}

/* The cache slot of a key: a multiplicative hash of its words. */
static inline unsigned scache_slot(const struct scache_key *k)
{
    uint64_t h = ((k->first * UINT64_C(0x9E3779B97F4A7C15)) ^ k->last ^ k->mid) *
                 UINT64_C(0xFF51AFD7ED558CCD);
    return (unsigned)(h >> 32) & (SCACHE_SLOTS - 1);
}

/* Pushes the n bytes at s (a text that goes on to end) as a string, through the cache (c, its
 * strings at stack index tbl) when they are short enough. */
static inline void lj_push_short(lua_State *L, struct scache *c, int tbl, const unsigned char *s,
                                 size_t n, const unsigned char *end)
{
    if (n == 0 || n > SCACHE_MAXLEN) {
        lua_pushlstring(L, (const char *)s, n);
        return;
    }
    struct scache_key k = scache_key_of(s, n, end);
    unsigned i = scache_slot(&k);
    struct scache_key *ck = &c->keys[i];
    if (c->len[i] == n && ck->first == k.first && ck->last == k.last && ck->mid == k.mid) {
        lua_rawgeti(L, tbl, (lua_Integer)i + 1);
        return;
    }
    lua_pushlstring(L, (const char *)s, n); /* may raise (memory): the cache is still whole */
    lua_pushvalue(L, -1);
    lua_rawseti(L, tbl, (lua_Integer)i + 1); /* the preallocated array part: no alloc */
    c->len[i] = (unsigned char)n;
    *ck = k;
}

/* The room checks before an object's or array's nth member: once per 16 (per member it cost
 * as much as pushing the key). 0: a stack that cannot grow (a giant object), which the tree
 * path copes with. An object's member takes 2 slots, and the createtable. */
static inline int lj_object_room(lua_State *L, int n)
{
    return (n & 15) != 0 || lua_checkstack(L, 40);
}
static inline int lj_array_room(lua_State *L, int n)
{
    return (n & 15) != 0 || lua_checkstack(L, 24);
}

/* The object of the n members (key, value, key, value, ...) above base, which it replaces.
 * Members are collected on the stack and the table is made once their number is known:
 * growing a table member by member rehashes it at every power of two. */
static inline void lj_object(lua_State *L, int base, int n)
{
    /* made above the members and moved down over them at the end: inserting it below them
     * shifted all 2n slots (a rotation per object) */
    lua_createtable(L, 0, n);
    int t = base + 2 * n + 1;
    for (int i = 0; i < n; i++) { /* in order: a repeated key, the last one wins, as in jansson */
        lua_pushvalue(L, base + 1 + 2 * i);
        lua_pushvalue(L, base + 2 + 2 * i);
        lua_rawset(L, t);
    }
    if (n > 0) {
        lua_replace(L, base + 1);
        lua_settop(L, base + 1);
    }
}

/* The array of the n elements above base, which it replaces; marked with array_mt. */
static inline void lj_array(lua_State *L, int base, int n, int array_mt)
{
    lua_createtable(L, n, 0);
    lua_insert(L, base + 1);
    for (int i = n; i > 0; i--) lua_rawseti(L, base + 1, i); /* pops the last element */
    lua_pushvalue(L, array_mt);
    lua_setmetatable(L, base + 1);
}

/* ---- a tape's values (json_tape.h): shared by lua_json_tape.c (the whole document at once)
 * and lua_json_lazy.c (a table's members when the table is first touched), so both push the
 * same strings by the same calls. text..end is the taped text, bytes the tape's unescaped ones. */

/* The string of a JT_STRING or JT_ESCAPED token: as dec_string / dec_string_slow would. */
static inline void lj_tape_string(lua_State *L, struct scache *c, int tbl,
                                  const struct json_tok *k, const unsigned char *text,
                                  const unsigned char *end, const unsigned char *bytes)
{
    if (k->kind == JT_STRING) {
        lj_push_short(L, c, tbl, text + k->v.s.off, k->n, end);
        return;
    }
    /* as dec_string_slow: a buffer of the raw length, then the unescaped bytes */
    luaL_Buffer b;
    char *o = luaL_buffinitsize(L, &b, k->v.s.raw);
    memcpy(o, bytes + k->v.s.off, k->n);
    luaL_pushresultsize(&b, k->n);
}

/* Pushes the value of a token that is not an object or array; 1 (nothing pushed) if it is. */
static inline int lj_tape_scalar(lua_State *L, struct scache *c, int tbl,
                                 const struct json_tok *k, const unsigned char *text,
                                 const unsigned char *end, const unsigned char *bytes)
{
    switch (k->kind) {
    case JT_OBJECT:
    case JT_ARRAY: return 1;
    case JT_STRING:
    case JT_ESCAPED: lj_tape_string(L, c, tbl, k, text, end, bytes); break;
    case JT_INTEGER: lua_pushinteger(L, (lua_Integer)k->v.i); break;
    case JT_REAL: lua_pushnumber(L, (lua_Number)k->v.d); break;
    case JT_TRUE: lua_pushboolean(L, 1); break;
    case JT_FALSE: lua_pushboolean(L, 0); break;
    default: lua_json_pushnull(L); break;
    }
    return 0;
}

/* lua_json_decode's way out for a text its direct path refused: the stack back to base, the
 * fallback counted, and the text decoded through the tree (which raises jansson's error). */
void lua_json_decode_fallback(lua_State *L, int base, const char *s, size_t len);

#endif
