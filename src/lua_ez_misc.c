/* lua_ez_misc: ez.emit (a follow-up event through the host), ez.notify (Slack/e-mail, a
 * yielding call), ez.now (ms, pinned in dry-run) and ez.uuid (deterministic per job and call
 * number, so a retried job sends byte-identical requests; random outside a job). */
#include "lua_ez.h"

#include "lua_json.h"
#include "store.h"

#include <lauxlib.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>

static int l_emit(lua_State *L)
{
    struct rules_run *run = lua_ez_run(L, "ez.emit", LUA_EZ_NEED_RUN);
    const char *topic = luaL_checkstring(L, 1);
    const char *slash = strchr(topic, '/');
    if (!slash || slash == topic || !slash[1])
        return luaL_argerror(L, 1, "a topic <source>/<name>");
    if (!run->ctx.emit) return luaL_error(L, "ez.emit: not available in this run");
    lua_settop(L, 2);
    if (lua_isnil(L, 2)) {
        lua_newtable(L);
        lua_replace(L, 2);
    }
    const char *json = lua_json_encode(L, 2, 0, NULL);
    run->ctx.emit(run->ctx.ud, topic, json);
    return 0;
}

/* On resume: true on a 2xx, else false and the reason (never raises: a failed notification
 * should not fail the sync it reports on). */
static int notify_done(lua_State *L, int status, lua_KContext kctx)
{
    (void)status;
    (void)kctx;
    const struct rules_io_result *res = lua_ez_result(L);
    if (res->status >= 200 && res->status < 300) {
        lua_pushboolean(L, 1);
        return 1;
    }
    lua_pushboolean(L, 0);
    if (res->status == 0)
        lua_pushstring(L, res->error && *res->error ? res->error : "transport error");
    else
        lua_pushfstring(L, "HTTP %d", res->status);
    return 2;
}

static int l_notify(lua_State *L)
{
    static const char *const channels[] = { "slack", "email", NULL };
    struct rules_run *run = lua_ez_run(L, "ez.notify", LUA_EZ_NEED_MAIN);
    const char *channel = channels[luaL_checkoption(L, 1, NULL, channels)];
    lua_settop(L, 2);
    if (lua_type(L, 2) == LUA_TSTRING) {
        lua_createtable(L, 0, 1);
        lua_pushvalue(L, 2);
        lua_setfield(L, -2, "text");
        lua_replace(L, 2);
    }
    luaL_checktype(L, 2, LUA_TTABLE);
    const char *body = lua_json_encode(L, 2, 0, NULL);
    return lua_ez_yield(L, run, RULES_IO_NOTIFY, NULL, channel, body, notify_done);
}

static int l_now(lua_State *L)
{
    struct rules_run *run = lua_ez_run(L, "ez.now", 0);
    lua_pushinteger(L, run && run->ctx.now_ms ? run->ctx.now_ms : store_now_ms());
    return 1;
}

static int l_uuid(lua_State *L)
{
    struct rules_run *run = lua_ez_run(L, "ez.uuid", 0);
    unsigned char b[EVP_MAX_MD_SIZE];
    if (run && run->ctx.job_id) {
        char seed[80];
        unsigned int len = 0;
        int n = snprintf(seed, sizeof seed, "ezsync.uuid:%lld:%llu", (long long)run->ctx.job_id,
                         (unsigned long long)++run->uuid_seq);
        if (!EVP_Digest(seed, (size_t)n, b, &len, EVP_sha256(), NULL))
            return luaL_error(L, "ez.uuid: sha256 failed");
    } else if (RAND_bytes(b, 16) != 1) {
        return luaL_error(L, "ez.uuid: no randomness available");
    }
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);   /* version 4 layout: accepted everywhere */
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    char out[37];
    static const char hex[] = "0123456789abcdef";
    for (int i = 0, o = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10) out[o++] = '-';
        out[o++] = hex[b[i] >> 4];
        out[o++] = hex[b[i] & 15];
        out[o] = 0;
    }
    lua_pushstring(L, out);
    return 1;
}

static const luaL_Reg misc_lib[] = {
    { "emit", l_emit },
    { "notify", l_notify },
    { "now", l_now },
    { "uuid", l_uuid },
    { NULL, NULL },
};

void lua_ez_open_misc(lua_State *L)
{
    luaL_setfuncs(L, misc_lib, 0);
}
