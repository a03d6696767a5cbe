/* lua_ez: see lua_ez.h. */
#include "lua_ez.h"

#include "lua_json.h"

#include <lauxlib.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

void lua_ez_open(lua_State *L)
{
    lua_newtable(L);
    lua_ez_open_shopify(L);
    lua_ez_open_orderez(L);
    lua_ez_open_idmap(L);
    lua_ez_open_kv(L);
    lua_ez_open_log(L);
    lua_ez_open_misc(L);
    lua_json_open(L);
    lua_setfield(L, -2, "json");
}

struct rules_run *lua_ez_run(lua_State *L, const char *fname, int need)
{
    struct rules_version *v = rules_version_of(L);
    struct rules_run *run = v ? v->run : NULL;
    if (!need) return run;
    if (!run)
        luaL_error(L, "%s: only available inside a rule run (not at load time or in self_check)",
                   fname);
    if ((need & LUA_EZ_NEED_STORE) && !run->ctx.store && !run->ctx.state)
        luaL_error(L, "%s: no store in this run", fname);
    if ((need & LUA_EZ_NEED_MAIN) && L != run->co)
        luaL_error(L, "%s: cannot be called inside a coroutine the rule created", fname);
    return run;
}

int lua_ez_yield(lua_State *L, struct rules_run *run, enum rules_io_kind kind,
                 const char *method, const char *path, const char *body, lua_KFunction k)
{
    char *m = method ? strdup(method) : NULL;
    char *p = path ? strdup(path) : NULL;
    char *b = body ? strdup(body) : NULL;
    if ((method && !m) || (path && !p) || (body && !b)) {
        free(m);
        free(p);
        free(b);
        return luaL_error(L, "out of memory");
    }
    run->io.kind = kind;
    run->io.method = m;
    run->io.path = p;
    run->io.body = b;
    run->io.seq = ++run->io_seq;
    run->io_pending = 1;
    return lua_yieldk(L, 0, 0, k);
}

const struct rules_io_result *lua_ez_result(lua_State *L)
{
    struct rules_run *run = lua_ez_run(L, "ez", LUA_EZ_NEED_RUN);
    if (!run->res) luaL_error(L, "ez: resumed without a result");
    return run->res;
}

int lua_ez_transient_error(lua_State *L, const char *fmt, ...)
{
    va_list ap;
    lua_pushliteral(L, RULES_TRANSIENT_PREFIX);
    va_start(ap, fmt);
    lua_pushvfstring(L, fmt, ap);
    va_end(ap);
    lua_concat(L, 2);
    return lua_error(L);
}

int lua_ez_transient(lua_State *L, const char *what, const struct rules_io_result *res)
{
    return lua_ez_transient_error(L, "%s: %s", what,
                                  res->error && *res->error ? res->error : "transport error");
}

const char *lua_ez_id(lua_State *L, int idx, char *buf, size_t buflen)
{
    if (lua_isinteger(L, idx)) {
        snprintf(buf, buflen, "%lld", (long long)lua_tointeger(L, idx));
        return buf;
    }
    if (lua_type(L, idx) == LUA_TSTRING) return lua_tostring(L, idx);
    luaL_typeerror(L, idx, "id (integer or string)");
    return NULL;
}

void lua_ez_trace(lua_State *L, struct rules_run *run, const char *what, int idx)
{
    if (!run || !run->ctx.trace) return;
    const char *json = lua_json_encode(L, idx, 0, NULL);
    run->ctx.trace(run->ctx.ud, what, json);
    lua_pop(L, 1);
}

void lua_ez_trace_fields(lua_State *L, struct rules_run *run, const char *what, int n,
                         const char *const *keys, const char *const *vals)
{
    if (!run || !run->ctx.trace) return;
    const char *json = lua_json_encode_fields(L, n, keys, vals);
    run->ctx.trace(run->ctx.ud, what, json);
    lua_pop(L, 1);
}

static int decode_body(lua_State *L)
{
    const struct rules_io_result *res = lua_touserdata(L, 1);
    lua_json_decode_tape(L, res->body_tape, res->body, strlen(res->body));
    return 1;
}

int lua_ez_push_body(lua_State *L, const struct rules_io_result *res)
{
    if (!res->body || !*res->body) {
        lua_pushnil(L);
        return 0;
    }
    lua_pushcfunction(L, decode_body);
    lua_pushlightuserdata(L, (void *)res);
    if (lua_pcall(L, 1, 1, 0) == LUA_OK) return 1;
    lua_pop(L, 1);
    lua_pushnil(L);
    return 0;
}
