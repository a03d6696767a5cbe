/* lua_ez_shopify: ez.shopify.graphql(doc, vars) -> response, status. Yields a RULES_IO_SHOPIFY
 * call; the engine POSTs it to the Admin GraphQL endpoint (auth, version, rate limit there). */
#include "lua_ez.h"

#include "lua_json.h"

#include <lauxlib.h>

/* On resume: the decoded response ({data=, errors=, extensions=}), the HTTP status and, when
 * the body is not JSON (a proxy's error page), nil, status, raw body. A transport failure
 * raises a transient error. */
static int graphql_done(lua_State *L, int status, lua_KContext kctx)
{
    (void)status;
    (void)kctx;
    const struct rules_io_result *res = lua_ez_result(L);
    if (res->status == 0) return lua_ez_transient(L, "shopify", res);
    lua_settop(L, 0);
    int decoded = lua_ez_push_body(L, res);
    lua_pushinteger(L, res->status);
    if (decoded) return 2;
    lua_pushstring(L, res->body ? res->body : "");
    return 3;
}

static int l_graphql(lua_State *L)
{
    struct rules_run *run = lua_ez_run(L, "ez.shopify.graphql", LUA_EZ_NEED_MAIN);
    luaL_checkstring(L, 1);
    if (!lua_isnoneornil(L, 2)) luaL_checktype(L, 2, LUA_TTABLE);
    lua_settop(L, 2);
    lua_createtable(L, 0, 2);
    lua_pushvalue(L, 1);
    lua_setfield(L, 3, "query");
    if (!lua_isnil(L, 2)) {
        lua_pushvalue(L, 2);
        lua_setfield(L, 3, "variables");
    }
    const char *body = lua_json_encode(L, 3, 0, NULL);
    return lua_ez_yield(L, run, RULES_IO_SHOPIFY, "POST", NULL, body, graphql_done);
}

static const luaL_Reg shopify_lib[] = {
    { "graphql", l_graphql },
    { NULL, NULL },
};

void lua_ez_open_shopify(lua_State *L)
{
    luaL_newlib(L, shopify_lib);
    lua_setfield(L, -2, "shopify");
}
