/* lua_json: see lua_json.h. The shared parts (null, the array marker, ez.json) and the jansson
 * paths: decoding through a jansson tree, and encoding by building a tree (which never raises)
 * and dumping it with sorted keys. lua_json_fast.c goes direct both ways and falls back to
 * these for errors. The tree and the dumped text sit in a "box" userdata whose __gc frees them,
 * so a memory error raised by Lua midway (the rules state has a hard cap) cannot leak them. */
#include "lua_json.h"
#include "lua_json_internal.h"
#include "lua_json_lazy.h"

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

void lua_json_box_clear(struct jbox *b)
{
    if (b->root) json_decref(b->root);
    free(b->text);
    b->root = NULL;
    b->text = NULL;
}

static int box_gc(lua_State *L)
{
    lua_json_box_clear(lua_touserdata(L, 1));
    return 0;
}

struct jbox *lua_json_box_push(lua_State *L)
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

void lua_json_push_array_mt(lua_State *L)
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
    lua_json_push_array_mt(L);
    lua_setmetatable(L, idx);
}

/* True when the table at idx carries the array marker. Does not allocate. */
int lua_json_is_marked_array(lua_State *L, int idx)
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
    struct jbox *b = lua_json_box_push(L);
    b->root = json_loadb(s, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
    if (!b->root)
        luaL_error(L, "json: %s (line %d, column %d)", jerr.text, jerr.line, jerr.column);
    push_value(L, b->root, 1);
    lua_json_box_clear(b);
    lua_remove(L, -2); /* the box */
}

/* ---- encode ---- */

/* Builds a jansson tree for the value at idx. Never raises: returns NULL with err set. */
static json_t *to_json(lua_State *L, int idx, int depth, char *err, size_t errlen);

static json_t *table_to_json(lua_State *L, int idx, int depth, char *err, size_t errlen)
{
    int nomem = 0;
    if (lua_json_lazy_pforce(L, idx, &nomem)) { /* read raw below; see lua_json_lazy.h */
        snprintf(err, errlen, "json: %s", nomem ? "not enough memory" : "cannot read a table");
        return NULL;
    }
    int array = lua_json_is_marked_array(L, idx);
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

const char *lua_json_encode_tree(lua_State *L, int idx, int flags, size_t *len)
{
    char err[160];
    idx = lua_absindex(L, idx);
    struct jbox *b = lua_json_box_push(L);
    b->root = to_json(L, idx, 1, err, sizeof err);
    if (!b->root) luaL_error(L, "%s", err);
    /* 17 significant digits: every double survives the round trip (send decimals as strings) */
    size_t jflags = JSON_ENCODE_ANY | JSON_SORT_KEYS | JSON_REAL_PRECISION(17) |
                    ((flags & LUA_JSON_PRETTY) ? JSON_INDENT(2) : JSON_COMPACT);
    b->text = json_dumps(b->root, jflags);
    if (!b->text) luaL_error(L, "json: out of memory");
    const char *s = lua_pushstring(L, b->text);
    lua_json_box_clear(b);
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
    lua_json_lazy_force(L, 1, 0); /* its metatable is replaced: its members must be there */
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
