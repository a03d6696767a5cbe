/* lua_ez_kv: ez.kv.get(key) / ez.kv.put(key, value): small state rules keep between runs
 * (cursors, last-seen markers), stored as JSON in the store's kv namespace "rules". Any
 * JSON-able value round-trips; put(key, nil) deletes. rules_ctx.state, when set, holds them
 * instead (dry-run). */
#include "lua_ez.h"

#include "lua_json.h"
#include "store.h"

#include <lauxlib.h>
#include <stdlib.h>
#include <string.h>

#define KV_NS "rules"

static const char *errmsg(struct rules_run *run)
{
    return run->ctx.state ? run->ctx.state->errmsg(run->ctx.state_ud) : store_errmsg(run->ctx.store);
}

static int l_get(lua_State *L)
{
    struct rules_run *run = lua_ez_run(L, "ez.kv.get", LUA_EZ_NEED_STORE);
    const char *key = luaL_checkstring(L, 1);
    if (run->ctx.state) { /* borrowed, and nothing runs on the state while we decode */
        const char *val = NULL;
        int rc = run->ctx.state->kv_get(run->ctx.state_ud, KV_NS, key, &val);
        if (rc < 0) return lua_ez_transient_error(L, "ez.kv.get: %s", errmsg(run));
        if (rc == STORE_NOTFOUND || !val) lua_pushnil(L);
        else lua_json_decode(L, val, strlen(val));
        return 1;
    }
    char *val = NULL;
    int rc = store_kv_get(run->ctx.store, KV_NS, key, &val);
    if (rc < 0) {
        free(val);
        return lua_ez_transient_error(L, "ez.kv.get: %s", errmsg(run));
    }
    if (rc == STORE_NOTFOUND || !val) {
        free(val);
        lua_pushnil(L);
        return 1;
    }
    size_t n = strlen(val);
    char *copy = lua_newuserdatauv(L, n + 1, 0);   /* GC-owned before anything can raise */
    memcpy(copy, val, n + 1);
    free(val);
    lua_json_decode(L, copy, n);
    return 1;
}

static int l_put(lua_State *L)
{
    struct rules_run *run = lua_ez_run(L, "ez.kv.put", LUA_EZ_NEED_STORE);
    const char *key = luaL_checkstring(L, 1);
    lua_settop(L, 2);
    int rc;
    const char *what;
    const struct rules_state_ops *ops = run->ctx.state;
    if (lua_isnil(L, 2)) {
        rc = ops ? ops->kv_put(run->ctx.state_ud, KV_NS, key, NULL)
                 : store_kv_delete(run->ctx.store, KV_NS, key);
        what = "kv.delete";
    } else {
        const char *json = lua_json_encode(L, 2, 0, NULL);            /* 3 */
        rc = ops ? ops->kv_put(run->ctx.state_ud, KV_NS, key, json)
                 : store_kv_put(run->ctx.store, KV_NS, key, json);
        what = "kv.put";
    }
    if (rc) return lua_ez_transient_error(L, "ez.%s: %s", what, errmsg(run));
    if (run->ctx.trace) {
        lua_createtable(L, 0, 2);
        lua_pushvalue(L, 1);
        lua_setfield(L, -2, "key");
        lua_pushvalue(L, 2);
        lua_setfield(L, -2, "value");
        lua_ez_trace(L, run, what, -1);
    }
    lua_pushboolean(L, 1);
    return 1;
}

static const luaL_Reg kv_lib[] = {
    { "get", l_get },
    { "put", l_put },
    { NULL, NULL },
};

void lua_ez_open_kv(lua_State *L)
{
    luaL_newlib(L, kv_lib);
    lua_setfield(L, -2, "kv");
}
