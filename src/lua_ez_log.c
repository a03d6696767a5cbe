/* lua_ez_log: ez.log.debug/info/warn/error(msg, fields) into the service log, one line per
 * call with the run's job id. fields is a flat table; values print as text (tables as JSON),
 * keys sorted so a line reads the same every time. */
#include "lua_ez.h"

#include "log.h"
#include "lua_json.h"
#include "lua_json_lazy.h"

#include <lauxlib.h>
#include <stdlib.h>
#include <string.h>

#define LOG_MAX_FIELDS 12

struct pair {
    const char *k, *v;
};

static int cmp_pair(const void *a, const void *b)
{
    return strcmp(((const struct pair *)a)->k, ((const struct pair *)b)->k);
}

static int do_log(lua_State *L, enum log_level level, const char *name)
{
    struct rules_run *run = lua_ez_run(L, name, 0);
    const char *msg = luaL_checkstring(L, 1);
    if (!lua_isnoneornil(L, 2)) luaL_checktype(L, 2, LUA_TTABLE);
    lua_settop(L, 2);
    int traced = run && run->ctx.trace && !run->ctx.trace_no_logs;
    if (!log_enabled(level) && !traced) return 0;
    struct pair p[LOG_MAX_FIELDS + 2];
    int n = 0;
    char job[32] = "";
    if (run && run->ctx.job_id) {
        snprintf(job, sizeof job, "%lld", (long long)run->ctx.job_id);
        p[n++] = (struct pair){ "job_id", job };
    }
    int fixed = n;
    if (lua_istable(L, 2)) {
        lua_json_lazy_force(L, 2, 0); /* read raw below */
        lua_pushnil(L);
        while (lua_next(L, 2)) {
            if (lua_type(L, -2) != LUA_TSTRING)
                return luaL_error(L, "%s: field names must be strings", name);
            if (n - fixed == LOG_MAX_FIELDS)
                return luaL_error(L, "%s: at most %d fields", name, LOG_MAX_FIELDS);
            luaL_checkstack(L, 4, name);
            /* the value's text stays on the stack below the key, anchoring it */
            if (lua_istable(L, -1)) lua_json_encode(L, -1, 0, NULL);
            else if (lua_json_isnull(L, -1)) lua_pushliteral(L, "null");
            else luaL_tolstring(L, -1, NULL);
            lua_replace(L, -2);
            p[n].k = lua_tostring(L, -2);
            p[n].v = lua_tostring(L, -1);
            n++;
            lua_pushvalue(L, -2);           /* key copy for lua_next; text stays */
        }
    }
    qsort(p + fixed, (size_t)(n - fixed), sizeof p[0], cmp_pair);
    for (int i = n; i < LOG_MAX_FIELDS + 2; i++) p[i] = (struct pair){ NULL, NULL };
    /* log_kv stops at the first NULL key: unused slots end the list */
    log_kv(level, msg, p[0].k, p[0].v, p[1].k, p[1].v, p[2].k, p[2].v, p[3].k, p[3].v,
           p[4].k, p[4].v, p[5].k, p[5].v, p[6].k, p[6].v, p[7].k, p[7].v, p[8].k, p[8].v,
           p[9].k, p[9].v, p[10].k, p[10].v, p[11].k, p[11].v, p[12].k, p[12].v,
           p[13].k, p[13].v, (const char *)0);
    if (traced) {
        static const char *const lv[] = { "debug", "info", "warn", "error" };
        lua_createtable(L, 0, 3);
        lua_pushstring(L, lv[level]);
        lua_setfield(L, -2, "level");
        lua_pushvalue(L, 1);
        lua_setfield(L, -2, "msg");
        lua_pushvalue(L, 2);
        lua_setfield(L, -2, "fields");
        lua_ez_trace(L, run, "log", -1);
    }
    return 0;
}

static int l_debug(lua_State *L) { return do_log(L, LOG_DEBUG, "ez.log.debug"); }
static int l_info(lua_State *L) { return do_log(L, LOG_INFO, "ez.log.info"); }
static int l_warn(lua_State *L) { return do_log(L, LOG_WARN, "ez.log.warn"); }
static int l_error(lua_State *L) { return do_log(L, LOG_ERROR, "ez.log.error"); }

static const luaL_Reg log_lib[] = {
    { "debug", l_debug },
    { "info", l_info },
    { "warn", l_warn },
    { "error", l_error },
    { NULL, NULL },
};

void lua_ez_open_log(lua_State *L)
{
    luaL_newlib(L, log_lib);
    lua_setfield(L, -2, "log");
}
