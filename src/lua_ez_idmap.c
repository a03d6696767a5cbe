/* lua_ez_idmap: ez.idmap.get/put/find over the store's idmap (kind, shopify_id) <-> orderez_id,
 * or over rules_ctx.state when the host keeps it elsewhere (dry-run). Ids go in as integers or strings and come out as strings: a Shopify id above 2^53 stays
 * exact, and both systems' ids compare as text. Store failures are transient (busy, disk). */
#include "lua_ez.h"

#include "store.h"

#include <lauxlib.h>
#include <stdlib.h>
#include <string.h>

/* Pushes the value read (or nil); val is freed when owned. Raises after freeing on error. */
static int push_value(lua_State *L, struct rules_run *run, int rc, char *val, int owned,
                      const char *what)
{
    if (rc < 0) {
        if (owned) free(val);
        return lua_ez_transient_error(L, "%s: %s", what,
                                      run->ctx.state ? run->ctx.state->errmsg(run->ctx.state_ud)
                                                     : store_errmsg(run->ctx.store));
    }
    if (rc == STORE_NOTFOUND || !val) {
        if (owned) free(val);
        lua_pushnil(L);
        return 1;
    }
    if (!owned) { /* borrowed: lua_pushstring may raise, nothing to free */
        lua_pushstring(L, val);
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

static int lookup(lua_State *L, const char *name, int reverse)
{
    struct rules_run *run = lua_ez_run(L, name, LUA_EZ_NEED_STORE);
    char buf[32];
    const char *kind = luaL_checkstring(L, 1);
    const char *id = lua_ez_id(L, 2, buf, sizeof buf);
    if (run->ctx.state) {
        const char *val = NULL;
        int rc = run->ctx.state->idmap_get(run->ctx.state_ud, kind, id, reverse, &val);
        return push_value(L, run, rc, (char *)val, 0, name);
    }
    char *val = NULL;
    int rc = (reverse ? store_idmap_get_shopify : store_idmap_get_orderez)(run->ctx.store, kind,
                                                                           id, &val);
    return push_value(L, run, rc, val, 1, name);
}

/* get and find are the same lookup in opposite directions. */
static int l_get(lua_State *L) { return lookup(L, "ez.idmap.get", 0); }

static int l_find(lua_State *L) { return lookup(L, "ez.idmap.find", 1); }

static int l_put(lua_State *L)
{
    struct rules_run *run = lua_ez_run(L, "ez.idmap.put", LUA_EZ_NEED_STORE);
    char b1[32], b2[32];
    const char *kind = luaL_checkstring(L, 1);
    const char *sid = lua_ez_id(L, 2, b1, sizeof b1);
    const char *oid = lua_ez_id(L, 3, b2, sizeof b2);
    if (run->ctx.state ? run->ctx.state->idmap_put(run->ctx.state_ud, kind, sid, oid)
                       : store_idmap_put(run->ctx.store, kind, sid, oid))
        return push_value(L, run, -1, NULL, 0, "ez.idmap.put");
    /* written straight from the strings: a table and its encoding cost ~5k instructions, and
     * the dry-run traces every link (several an order) */
    static const char *const keys[] = { "kind", "orderez_id", "shopify_id" }; /* sorted */
    const char *vals[] = { kind, oid, sid };
    lua_ez_trace_fields(L, run, "idmap.put", 3, keys, vals);
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
