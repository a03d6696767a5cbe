/* lua_ez_orderez: ez.orderez.request(method, path, opts) -> res. Yields a RULES_IO_ORDEREZ call;
 * the engine sends it to orderez.base_url with the bearer token. Paths live in the rules'
 * profile (rules/lib/orderez.lua), not here: OrderEZ's API is only partly documented. */
#include "lua_ez.h"

#include "lua_json.h"
#include "lua_json_lazy.h"

#include <lauxlib.h>
#include <stdlib.h>
#include <string.h>

static const char *const methods[] = { "GET", "POST", "PUT", "PATCH", "DELETE", NULL };

static int cmp_key(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void add_escaped(luaL_Buffer *b, const char *s, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '_' || c == '.' || c == '~') {
            luaL_addchar(b, (char)c);
        } else {
            luaL_addchar(b, '%');
            luaL_addchar(b, hex[c >> 4]);
            luaL_addchar(b, hex[c & 15]);
        }
    }
}

/* Pushes sep key=value for the scalar at the top (booleans as true/false, integers exact). */
static void push_pair(lua_State *L, char sep, const char *key)
{
    int t = lua_type(L, -1);
    if (t != LUA_TSTRING && t != LUA_TNUMBER && t != LUA_TBOOLEAN)
        luaL_error(L, "ez.orderez.request: query.%s must be a string, number or boolean", key);
    size_t len;
    const char *s = luaL_tolstring(L, -1, &len);   /* pushed: the buffer below stays on top */
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    luaL_addchar(&b, sep);
    add_escaped(&b, key, strlen(key));
    luaL_addchar(&b, '=');
    add_escaped(&b, s, len);
    luaL_pushresult(&b);
    lua_remove(L, -2);
}

/* path .. "?" .. the query table at idx, keys sorted so equal requests are equal strings.
 * A sequence value repeats its key (ids=1&ids=2). Pushes the result. */
static void push_url(lua_State *L, const char *path, int idx)
{
    size_t n = 0;
    lua_json_lazy_force(L, idx, 0); /* read raw below, and its sequences too */
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        if (lua_type(L, -2) != LUA_TSTRING)
            luaL_error(L, "ez.orderez.request: query keys must be strings");
        n++;
        lua_pop(L, 1);
    }
    const char **keys = lua_newuserdatauv(L, (n ? n : 1) * sizeof *keys, 0); /* GC-owned */
    int kidx = lua_gettop(L);
    size_t i = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        keys[i++] = lua_tostring(L, -2);  /* anchored by the table */
        lua_pop(L, 1);
    }
    qsort(keys, n, sizeof *keys, cmp_key);
    lua_pushstring(L, path);
    char sep = strchr(path, '?') ? '&' : '?';
    int parts = 1;
    for (i = 0; i < n; i++) {
        lua_getfield(L, idx, keys[i]);
        if (lua_istable(L, -1)) {
            lua_json_lazy_force(L, -1, 0);
            lua_Integer len = (lua_Integer)lua_rawlen(L, -1);
            for (lua_Integer j = 1; j <= len; j++) {
                lua_rawgeti(L, -1, j);
                push_pair(L, sep, keys[i]);
                lua_remove(L, -2);
                lua_insert(L, -2);      /* keep the table on top */
                parts++;
                sep = '&';
            }
            lua_pop(L, 1);
        } else {
            push_pair(L, sep, keys[i]);
            lua_remove(L, -2);
            parts++;
            sep = '&';
        }
        luaL_checkstack(L, 4, "ez.orderez.request: query too long");
    }
    lua_concat(L, parts);
    lua_remove(L, kidx);
}

/* On resume: {status=, body=<decoded JSON, or the raw text>, error=}. */
static int request_done(lua_State *L, int status, lua_KContext kctx)
{
    (void)status;
    (void)kctx;
    const struct rules_io_result *res = lua_ez_result(L);
    if (res->status == 0) return lua_ez_transient(L, "orderez", res);
    lua_settop(L, 0);
    lua_createtable(L, 0, 3);
    lua_pushinteger(L, res->status);
    lua_setfield(L, 1, "status");
    if (!lua_ez_push_body(L, res) && res->body && *res->body) {
        lua_pop(L, 1);
        lua_pushstring(L, res->body);
    }
    lua_setfield(L, 1, "body");
    if (res->error && *res->error) {
        lua_pushstring(L, res->error);
        lua_setfield(L, 1, "error");
    }
    return 1;
}

static int l_request(lua_State *L)
{
    struct rules_run *run = lua_ez_run(L, "ez.orderez.request", LUA_EZ_NEED_MAIN);
    const char *method = methods[luaL_checkoption(L, 1, NULL, methods)];
    const char *path = luaL_checkstring(L, 2);
    if (path[0] != '/' || strpbrk(path, " \t\r\n#"))
        return luaL_argerror(L, 2, "a path starting with / (no host, spaces or fragment)");
    if (!lua_isnoneornil(L, 3)) luaL_checktype(L, 3, LUA_TTABLE);
    lua_settop(L, 3);
    const char *body = NULL;
    if (!lua_isnil(L, 3)) {
        lua_getfield(L, 3, "query");                                   /* 4 */
        if (lua_istable(L, 4)) {
            push_url(L, path, 4);
            path = lua_tostring(L, -1);                                /* 5, anchored */
        } else if (!lua_isnil(L, 4)) {
            return luaL_error(L, "ez.orderez.request: opts.query must be a table");
        }
        lua_getfield(L, 3, "body");
        if (lua_istable(L, -1)) body = lua_json_encode(L, -1, 0, NULL);
        else if (lua_type(L, -1) == LUA_TSTRING) body = lua_tostring(L, -1);
        else if (!lua_isnil(L, -1))
            return luaL_error(L, "ez.orderez.request: opts.body must be a table or a string");
    }
    return lua_ez_yield(L, run, RULES_IO_ORDEREZ, method, path, body, request_done);
}

static const luaL_Reg orderez_lib[] = {
    { "request", l_request },
    { NULL, NULL },
};

void lua_ez_open_orderez(lua_State *L)
{
    luaL_newlib(L, orderez_lib);
    lua_setfield(L, -2, "orderez");
}
