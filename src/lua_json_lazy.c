/* lua_json_lazy: see lua_json_lazy.h. Building an order's ~800 strings and ~150 tables was
 * ~46 % of a dry-run's rule thread, for rules that read a tenth of them.
 *
 * A table is filled whole on its first touch rather than member by member: after that it is an
 * ordinary table, so every later read is a plain table read, a missing key costs no metamethod
 * call, and nothing (next, rawget, rawlen, a C reader) can see half a table. What is saved is
 * the subtrees nobody opens, which is where the bulk of an order lies (line items, price sets,
 * addresses).
 *
 * The state a rule cannot see: a document is one userdata holding a copy of the tape and its
 * text (GC-managed, so allocated through the rules state's allocator and counted against its
 * memory cap, and alive as long as any of its lazy tables), with two metatables of its own,
 * objects' and arrays' (the latter named "ez.json.array" as the marker is, so tostring and
 * error messages read the same); each metatable holds its document under a light key. A
 * registry table with weak keys maps each lazy table to its token. */
#include "lua_json_lazy.h"
#include "json_tape.h"
#include "lua_json.h"
#include "lua_json_internal.h"

#include <lauxlib.h>
#include <math.h>
#include <string.h>

static const char doc_key = 'd';  /* in a lazy metatable: its document */
static const char weak_key = 'w'; /* registry: lazy table -> index of its token */

/* The userdata of a document: this header, then the tokens, the unescaped bytes, the text.
 * Its user values: 1 the objects' metatable, 2 the arrays'. */
struct lazy_doc {
    const struct json_tok *tok;
    size_t ntok;
    const unsigned char *text, *end, *bytes;
};

/* ---- filling a table ---- */

/* Where a fill finds what it needs on the stack. */
struct fill {
    lua_State *L;
    const struct lazy_doc *d;
    int mts;          /* the objects' metatable; the arrays' at mts + 1 */
    int weak;         /* the weak table */
    int array_mt;     /* the ez.json.array marker */
    int cache_tbl;
    struct scache *cache;
};

static void push_weak(lua_State *L)
{
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &weak_key) == LUA_TTABLE) return;
    lua_pop(L, 1);
    lua_newtable(L);
    lua_createtable(L, 0, 1);
    lua_pushliteral(L, "k");
    lua_setfield(L, -2, "__mode");
    lua_setmetatable(L, -2);
    lua_pushvalue(L, -1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &weak_key);
}

/* Pushes the value of token j: a scalar as the decoders make it; an object or array as a new
 * lazy table sized for its members (an empty one as the decoders make it: nothing to defer).
 * Returns the index of the token after the value. Needs 4 stack slots. */
static size_t push_member(struct fill *f, size_t j)
{
    lua_State *L = f->L;
    const struct json_tok *k = &f->d->tok[j];
    if (!lj_tape_scalar(L, f->cache, f->cache_tbl, k, f->d->text, f->d->end, f->d->bytes))
        return j + 1;
    int arr = k->kind == JT_ARRAY, n = (int)k->n;
    lua_createtable(L, arr ? n : 0, arr ? 0 : n);
    if (n == 0) {
        if (arr) {
            lua_pushvalue(L, f->array_mt);
            lua_setmetatable(L, -2);
        }
        return j + 1;
    }
    lua_pushvalue(L, f->mts + arr);
    lua_setmetatable(L, -2);
    lua_pushvalue(L, -1);
    lua_pushinteger(L, (lua_Integer)j);
    lua_rawset(L, f->weak);
    return (size_t)k->v.end;
}

/* Fills the lazy table at t (absolute) from token i, then makes it ordinary. The members are
 * made on the stack first and set afterwards, as the decoders do: only making them allocates
 * (the table was created with room for them all), so a memory error leaves the table untouched
 * and still lazy. An object too large for the stack is set member by member instead. */
static void fill_members(struct fill *f, int t, size_t i)
{
    lua_State *L = f->L;
    const struct json_tok *k = &f->d->tok[i];
    int obj = k->kind == JT_OBJECT, n = (int)k->n;
    int at_once = k->n < 1u << 24 && lua_checkstack(L, (obj ? 2 : 1) * n + 8);
    int base = lua_gettop(L);
    size_t j = i + 1;
    for (int m = 0; m < n; m++) {
        if (!at_once) luaL_checkstack(L, 8, "json: nesting too deep");
        if (obj) lj_tape_string(L, f->cache, f->cache_tbl, &f->d->tok[j++], f->d->text, f->d->end,
                                f->d->bytes);
        j = push_member(f, j);
        if (at_once) continue;
        if (obj) lua_rawset(L, t);
        else lua_rawseti(L, t, m + 1);
    }
    if (at_once && obj) { /* in document order: a repeated key, the last one wins */
        for (int m = 0; m < n; m++) {
            lua_pushvalue(L, base + 1 + 2 * m);
            lua_pushvalue(L, base + 2 + 2 * m);
            lua_rawset(L, t);
        }
    } else if (at_once) {
        for (int m = n; m > 0; m--) lua_rawseti(L, t, m); /* pops the last element */
    }
    lua_settop(L, base);
    if (obj) lua_pushnil(L);
    else lua_pushvalue(L, f->array_mt);
    lua_setmetatable(L, t);
    lua_pushvalue(L, t);
    lua_pushnil(L);
    lua_rawset(L, f->weak);
}

static int fill(lua_State *L, int t, int deep)
{
    luaL_checkstack(L, 16, "json: nesting too deep");
    if (!lua_getmetatable(L, t)) return 0;
    if (lua_rawgetp(L, -1, &doc_key) != LUA_TUSERDATA) {
        lua_pop(L, 2);
        return 0;
    }
    int base = lua_gettop(L) - 2;                  /* base+1 mt, base+2 doc */
    struct fill f = { L, lua_touserdata(L, base + 2), base + 3, base + 5, base + 6, base + 7,
                      NULL };
    lua_getiuservalue(L, base + 2, 1);             /* base+3, base+4: the metatables */
    lua_getiuservalue(L, base + 2, 2);
    push_weak(L);                                  /* base+5 */
    lua_json_push_array_mt(L);                     /* base+6 */
    f.cache = lua_json_push_scache(L);             /* base+7 */
    lua_pushvalue(L, t);
    if (lua_rawget(L, f.weak) != LUA_TNUMBER) luaL_error(L, "json: a lazy table lost its place");
    size_t i = (size_t)lua_tointeger(L, -1);
    lua_pop(L, 1);
    fill_members(&f, t, i);
    if (deep) { /* every value is new: no cycle, and no table the rule has seen */
        lua_pushnil(L);
        while (lua_next(L, t)) {
            if (lua_type(L, -1) == LUA_TTABLE) fill(L, lua_gettop(L), 1);
            lua_pop(L, 1);
        }
    }
    lua_settop(L, base);
    return 1;
}

/* ---- the metamethods: each fills the table, then does what an ordinary table would ---- */

static int lazy_index(lua_State *L)
{
    fill(L, 1, 0);
    lua_settop(L, 2);
    lua_rawget(L, 1);
    return 1;
}

/* The errors an assignment to an ordinary table raises, with the assigning line's position
 * (luaL_error's level 1 is the function that triggered the metamethod). */
static int lazy_newindex(lua_State *L)
{
    fill(L, 1, 0);
    lua_settop(L, 3);
    if (lua_isnil(L, 2)) return luaL_error(L, "index is nil");
    if (lua_type(L, 2) == LUA_TNUMBER && !lua_isinteger(L, 2) && isnan(lua_tonumber(L, 2)))
        return luaL_error(L, "index is NaN");
    lua_rawset(L, 1);
    return 0;
}

static int lazy_len(lua_State *L)
{
    fill(L, 1, 0);
    lua_pushinteger(L, (lua_Integer)lua_rawlen(L, 1));
    return 1;
}

static int lazy_pairs(lua_State *L)
{
    fill(L, 1, 0);
    lua_pushcfunction(L, lua_json_lazy_next);
    lua_pushvalue(L, 1);
    lua_pushnil(L);
    return 3;
}

static void push_mt(lua_State *L, int doc, int array)
{
    static const luaL_Reg mm[] = {
        { "__index", lazy_index }, { "__newindex", lazy_newindex }, { "__len", lazy_len },
        { "__pairs", lazy_pairs }, { NULL, NULL },
    };
    lua_createtable(L, 0, 6);
    luaL_setfuncs(L, mm, 0);
    if (array) {
        lua_pushliteral(L, "ez.json.array");
        lua_setfield(L, -2, "__name");
    }
    lua_pushvalue(L, doc);
    lua_rawsetp(L, -2, &doc_key);
}

void lua_json_decode_lazy(lua_State *L, const struct json_tape *t, const char *s, size_t len)
{
    if (!t || !t->text || t->text != s || t->len != len || !t->ntok ||
        (t->tok[0].kind != JT_OBJECT && t->tok[0].kind != JT_ARRAY)) {
        lua_json_decode_tape(L, t, s, len); /* no tape (then from s), or no table to defer */
        return;
    }
    luaL_checkstack(L, 12, "json: nesting too deep");
    size_t toks = t->ntok * sizeof *t->tok;
    struct lazy_doc *d = lua_newuserdatauv(L, sizeof *d + toks + t->nbytes + len, 2);
    int doc = lua_gettop(L);
    unsigned char *p = (unsigned char *)(d + 1); /* the header keeps the tokens aligned */
    memcpy(p, t->tok, toks);
    d->tok = (const struct json_tok *)p;
    d->ntok = t->ntok;
    p += toks;
    if (t->nbytes) memcpy(p, t->bytes, t->nbytes);
    d->bytes = p;
    p += t->nbytes;
    memcpy(p, s, len);
    d->text = p;
    d->end = p + len;
    push_mt(L, doc, 0);
    lua_setiuservalue(L, doc, 1);
    push_mt(L, doc, 1);
    lua_setiuservalue(L, doc, 2);
    lua_getiuservalue(L, doc, 1);
    lua_getiuservalue(L, doc, 2);
    push_weak(L);
    lua_json_push_array_mt(L);
    struct fill f = { L, d, doc + 1, doc + 3, doc + 4, 0, NULL };
    push_member(&f, 0); /* the root has members (not empty): no string is pushed */
    lua_replace(L, doc);
    lua_settop(L, doc);
}

int lua_json_lazy_is(lua_State *L, int idx)
{
    if (!lua_checkstack(L, 2)) return 0;
    if (!lua_getmetatable(L, idx)) return 0;
    int lazy = lua_rawgetp(L, -1, &doc_key) == LUA_TUSERDATA;
    lua_pop(L, 2);
    return lazy;
}

int lua_json_lazy_force(lua_State *L, int idx, int deep)
{
    return fill(L, lua_absindex(L, idx), deep);
}

static int pforce(lua_State *L)
{
    fill(L, 1, 0);
    return 0;
}

int lua_json_lazy_pforce(lua_State *L, int idx, int *nomem)
{
    if (!lua_checkstack(L, 4)) return -1;
    if (!lua_json_lazy_is(L, idx)) return 0;
    idx = lua_absindex(L, idx);
    lua_pushcfunction(L, pforce);
    lua_pushvalue(L, idx);
    int st = lua_pcall(L, 1, 0, 0);
    if (st == LUA_OK) return 0;
    if (nomem && st == LUA_ERRMEM) *nomem = 1;
    lua_pop(L, 1);
    return -1;
}

int lua_json_lazy_next(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 2);
    lua_json_lazy_force(L, 1, 0);
    if (lua_next(L, 1)) return 2;
    lua_pushnil(L);
    return 1;
}
