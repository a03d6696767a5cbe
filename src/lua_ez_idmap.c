/* lua_ez_idmap: ez.idmap.get/put/find over the store's idmap (kind, shopify_id) <-> orderez_id.
 * Ids go in as integers or strings and come out as strings: a Shopify id above 2^53 stays
 * exact, and both systems' ids compare as text. Store failures are transient (busy, disk). */
#include "lua_ez.h"

#include "store.h"

#include <lauxlib.h>
#include <stdlib.h>
#include <string.h>

/* Pushes the malloc'd string (or nil) and frees it; raises after freeing on error. */
static int push_owned(lua_State *L, struct store *st, int rc, char *val, const char *what)
{
    if (rc < 0) {
        free(val);
        return lua_ez_transient_error(L, "%s: %s", what, store_errmsg(st));
    }
    if (rc == STORE_NOTFOUND || !val) {
        free(val);
        lua_pushnil(L);
        return 1;
    }
    /* lua_pushstring may raise (memory cap): copy to a buffer the GC owns first */
    size_t n = strlen(val);
    char *copy = lua_newuserdatauv(L, n + 1, 0);
    memcpy(copy, val, n + 1);
    free(val);
    lua_pushlstring(L, copy, n);
    lua_remove(L, -2);
    return 1;
}

/* get and find are the same lookup in opposite directions. */
typedef int (*idmap_lookup_fn)(struct store *st, const char *kind, const char *id, char **out);

static int lookup(lua_State *L, const char *name, idmap_lookup_fn fn)
{
    struct rules_run *run = lua_ez_run(L, name, LUA_EZ_NEED_STORE);
    char buf[32];
    const char *kind = luaL_checkstring(L, 1);
    const char *id = lua_ez_id(L, 2, buf, sizeof buf);
    char *val = NULL;
    int rc = fn(run->ctx.store, kind, id, &val);
    return push_owned(L, run->ctx.store, rc, val, name);
}

static int l_get(lua_State *L) { return lookup(L, "ez.idmap.get", store_idmap_get_orderez); }

static int l_find(lua_State *L) { return lookup(L, "ez.idmap.find", store_idmap_get_shopify); }

static int l_put(lua_State *L)
{
    struct rules_run *run = lua_ez_run(L, "ez.idmap.put", LUA_EZ_NEED_STORE);
    char b1[32], b2[32];
    const char *kind = luaL_checkstring(L, 1);
    const char *sid = lua_ez_id(L, 2, b1, sizeof b1);
    const char *oid = lua_ez_id(L, 3, b2, sizeof b2);
    if (store_idmap_put(run->ctx.store, kind, sid, oid))
        return lua_ez_transient_error(L, "ez.idmap.put: %s",
                          store_errmsg(run->ctx.store));
    if (run->ctx.trace) {
        lua_createtable(L, 0, 3);
        lua_pushstring(L, kind);
        lua_setfield(L, -2, "kind");
        lua_pushstring(L, sid);
        lua_setfield(L, -2, "shopify_id");
        lua_pushstring(L, oid);
        lua_setfield(L, -2, "orderez_id");
        lua_ez_trace(L, run, "idmap.put", -1);
    }
    lua_pushboolean(L, 1);
    return 1;
}

static const luaL_Reg idmap_lib[] = {
    { "get", l_get },
    { "put", l_put },
    { "find", l_find },
    { NULL, NULL },
};

void lua_ez_open_idmap(lua_State *L)
{
    luaL_newlib(L, idmap_lib);
    lua_setfield(L, -2, "idmap");
}
