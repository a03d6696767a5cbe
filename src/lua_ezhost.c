/* lua_ezhost: the rules host as a Lua C module (build/ezhost.so) so busted specs drive the real
 * bindings: a spec opens a host on a rules directory with an in-memory store, runs a handler
 * through the real coroutine/yield path answering each outbound call from fixtures, and gets
 * back the calls made, the state writes, logs and emits. Not linked into the daemon's paths.
 * Everything the rules state reports is buffered in C and converted after the run, so no
 * error of the spec's Lua state can unwind through the rules state. */
#include "config.h"
#include "log.h"
#include "lua_json.h"
#include "rules.h"
#include "store.h"

#include <lauxlib.h>
#include <stdlib.h>
#include <string.h>

#define HOST_MT "ezhost.host"

struct host {
    struct rules *rules;
    struct store *store;
};

struct note {
    char *what, *json;
};

struct trace {
    struct note *v;
    size_t n;
    int oom;
};

static void note_add(struct trace *t, const char *what, const char *json)
{
    struct note *nv = realloc(t->v, (t->n + 1) * sizeof *nv);
    if (!nv) {
        t->oom = 1;
        return;
    }
    t->v = nv;
    nv[t->n].what = strdup(what);
    nv[t->n].json = strdup(json ? json : "null");
    if (!nv[t->n].what || !nv[t->n].json) t->oom = 1;
    t->n++;
}

static void trace_free(struct trace *t)
{
    for (size_t i = 0; i < t->n; i++) {
        free(t->v[i].what);
        free(t->v[i].json);
    }
    free(t->v);
    t->v = NULL;
    t->n = 0;
}

struct run_state {
    struct rules_run *run;
    struct trace trace, emits;
};

static void on_trace(void *ud, const char *what, const char *json)
{
    note_add(&((struct run_state *)ud)->trace, what, json);
}

static void on_emit(void *ud, const char *topic, const char *payload)
{
    note_add(&((struct run_state *)ud)->emits, topic, payload);
}

static struct host *check_host(lua_State *L)
{
    struct host *h = luaL_checkudata(L, 1, HOST_MT);
    if (!h->rules) luaL_error(L, "ezhost: host is closed");
    return h;
}

static void host_release(struct host *h)
{
    rules_close(h->rules);
    store_close(h->store);
    h->rules = NULL;
    h->store = NULL;
}

static long opt_long(lua_State *L, int t, const char *k, long def)
{
    lua_getfield(L, t, k);
    long v = lua_isnil(L, -1) ? def : (long)luaL_checkinteger(L, -1);
    lua_pop(L, 1);
    return v;
}

/* ezhost.open{dir=, budget=, memory_mb=} -> host | nil, err */
static int l_open(lua_State *L)
{
    char err[2048];
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_getfield(L, 1, "dir");
    const char *dir = luaL_optstring(L, -1, "rules");
    struct host *h = lua_newuserdatauv(L, sizeof *h, 0);
    memset(h, 0, sizeof *h);
    luaL_setmetatable(L, HOST_MT);
    struct config cfg;
    config_defaults(&cfg);
    char *saved = cfg.rules_dir;
    cfg.rules_dir = (char *)dir;
    cfg.rules_instruction_budget = opt_long(L, 1, "budget", 1000000);
    cfg.rules_memory_mb = opt_long(L, 1, "memory_mb", 32);
    int rc = store_open(&h->store, ":memory:", 0, err, sizeof err);
    if (rc == 0) rc = rules_open(&h->rules, &cfg, err, sizeof err);
    cfg.rules_dir = saved;
    config_free(&cfg);
    if (rc) {
        host_release(h);
        lua_pushnil(L);
        lua_pushstring(L, err);
        return 2;
    }
    return 1;
}

static int l_gc(lua_State *L)
{
    host_release(luaL_checkudata(L, 1, HOST_MT));
    return 0;
}

static int l_version(lua_State *L)
{
    lua_pushstring(L, rules_version_id(check_host(L)->rules));
    return 1;
}

static int l_handles(lua_State *L)
{
    struct host *h = check_host(L);
    lua_pushboolean(L, rules_handles(h->rules, luaL_checkstring(L, 2)));
    return 1;
}

static int l_reload(lua_State *L)
{
    char err[2048];
    if (rules_reload(check_host(L)->rules, err, sizeof err)) {
        lua_pushnil(L);
        lua_pushstring(L, err);
        return 2;
    }
    lua_pushboolean(L, 1);
    return 1;
}

static int l_stats(lua_State *L)
{
    struct rules_stats s;
    rules_stats(check_host(L)->rules, &s);
    lua_createtable(L, 0, 8);
    lua_pushstring(L, s.version);
    lua_setfield(L, -2, "version");
    lua_pushstring(L, s.last_error);
    lua_setfield(L, -2, "last_error");
    lua_pushinteger(L, (lua_Integer)s.reloads_ok);
    lua_setfield(L, -2, "reloads_ok");
    lua_pushinteger(L, (lua_Integer)s.reloads_failed);
    lua_setfield(L, -2, "reloads_failed");
    lua_pushinteger(L, (lua_Integer)s.runs);
    lua_setfield(L, -2, "runs");
    lua_pushinteger(L, (lua_Integer)s.memory_bytes);
    lua_setfield(L, -2, "memory_bytes");
    return 1;
}

static int push_store_value(lua_State *L, struct store *st, int rc, char *val)
{
    if (rc < 0) {
        free(val);
        return luaL_error(L, "ezhost: %s", store_errmsg(st));
    }
    if (rc == STORE_NOTFOUND) lua_pushnil(L);
    else lua_pushstring(L, val);
    free(val);
    return 1;
}

static int l_idmap_get(lua_State *L)
{
    struct host *h = check_host(L);
    char *val = NULL;
    int rc = store_idmap_get_orderez(h->store, luaL_checkstring(L, 2), luaL_checkstring(L, 3),
                                     &val);
    return push_store_value(L, h->store, rc, val);
}

static int l_idmap_put(lua_State *L)
{
    struct host *h = check_host(L);
    if (store_idmap_put(h->store, luaL_checkstring(L, 2), luaL_checkstring(L, 3),
                        luaL_checkstring(L, 4)))
        return luaL_error(L, "ezhost: %s", store_errmsg(h->store));
    return 0;
}

static int l_kv_get(lua_State *L)
{
    struct host *h = check_host(L);
    char *val = NULL;
    int rc = store_kv_get(h->store, "rules", luaL_checkstring(L, 2), &val);
    if (rc != 0) return push_store_value(L, h->store, rc, val);
    lua_pushstring(L, val);
    free(val);
    lua_json_decode(L, lua_tostring(L, -1), lua_rawlen(L, -1));
    return 1;
}

/* The next canned answer for the call table at the top: from a function(call) or the next
 * entry of a list. Pushes {status=, body=<string>, error=}. */
static void push_answer(lua_State *L, int responses, lua_Integer *next)
{
    if (lua_isfunction(L, responses)) {
        lua_pushvalue(L, responses);
        lua_pushvalue(L, -2);
        lua_call(L, 1, 1); /* protected: push_answer runs inside run_loop's lua_pcall */
    } else if (lua_istable(L, responses)) {
        lua_rawgeti(L, responses, ++*next);
    } else {
        lua_pushnil(L);
    }
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        lua_createtable(L, 0, 2);
        lua_pushinteger(L, 0);
        lua_setfield(L, -2, "status");
        lua_pushliteral(L, "ezhost: no canned response for this call");
        lua_setfield(L, -2, "error");
    }
    luaL_checktype(L, -1, LUA_TTABLE);
    lua_getfield(L, -1, "body");
    if (lua_istable(L, -1)) {
        lua_json_encode(L, -1, 0, NULL);
        lua_setfield(L, -3, "body");
    }
    lua_pop(L, 1);
}

static void push_call(lua_State *L, const struct rules_io *io)
{
    static const char *const kinds[] = { "shopify", "orderez", "notify" };
    lua_createtable(L, 0, 5);
    lua_pushstring(L, kinds[io->kind]);
    lua_setfield(L, -2, "kind");
    lua_pushstring(L, io->method);
    lua_setfield(L, -2, "method");
    lua_pushstring(L, io->path);
    lua_setfield(L, -2, "path");
    lua_pushstring(L, io->body);
    lua_setfield(L, -2, "body");
    lua_pushinteger(L, io->seq);
    lua_setfield(L, -2, "seq");
}

/* Protected part of h:run(): the loop over yields. Errors from the spec's fixtures land in
 * the caller, which frees the run. */
static int run_loop(lua_State *L)
{
    struct run_state *rs = lua_touserdata(L, 1);
    int responses = 2, calls = 3;
    lua_Integer next = 0;
    enum rules_status st = rules_run_status(rs->run);
    while (st == RULES_YIELD) {
        push_call(L, rules_run_io(rs->run));
        lua_pushvalue(L, -1);
        lua_rawseti(L, calls, (lua_Integer)lua_rawlen(L, calls) + 1);
        push_answer(L, responses, &next);
        struct rules_io_result res = { 0, NULL, NULL, NULL };
        lua_getfield(L, -1, "status");
        res.status = (int)luaL_optinteger(L, -1, 200);
        lua_getfield(L, -2, "body");
        res.body = lua_tostring(L, -1);
        lua_getfield(L, -3, "error");
        res.error = lua_tostring(L, -1);
        st = rules_run_resume(rs->run, &res);
        lua_pop(L, 5);
    }
    return 0;
}

static void push_notes(lua_State *L, struct trace *t, int emits)
{
    lua_createtable(L, (int)t->n, 0);
    for (size_t i = 0; i < t->n; i++) {
        lua_json_decode(L, t->v[i].json, strlen(t->v[i].json));
        if (emits) {
            lua_createtable(L, 0, 2);
            lua_insert(L, -2);
            lua_setfield(L, -2, "payload");
            lua_pushstring(L, t->v[i].what);
            lua_setfield(L, -2, "topic");
        } else {
            lua_pushstring(L, t->v[i].what);
            lua_setfield(L, -2, "what");
        }
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
}

/* h:run(topic, event, {responses=, job_id=, now_ms=}) -> {status=, error=, error_kind=,
 * version=, calls=, writes=, logs=, emits=} */
static int l_run(lua_State *L)
{
    static const char *const ekinds[] = { "none", "rule", "transient", "limit" };
    struct host *h = check_host(L);
    const char *topic = luaL_checkstring(L, 2);
    const char *event = NULL;
    lua_settop(L, 4);
    if (lua_istable(L, 3)) {
        lua_json_encode(L, 3, 0, NULL);
        lua_replace(L, 3);  /* the event text, anchored */
    }
    event = luaL_optstring(L, 3, NULL);
    if (lua_isnil(L, 4)) {
        lua_newtable(L);
        lua_replace(L, 4);
    }
    struct run_state rs;
    memset(&rs, 0, sizeof rs);
    struct rules_ctx ctx = { h->store, opt_long(L, 4, "job_id", 0), on_emit, &rs,
                             opt_long(L, 4, "now_ms", 0), on_trace, NULL, NULL, 0, NULL, 0,
                             NULL, NULL };
    rules_run_start(h->rules, topic, event, &ctx, &rs.run);
    if (!rs.run) return luaL_error(L, "ezhost: out of memory");
    lua_pushcfunction(L, run_loop);                     /* 5 */
    lua_pushlightuserdata(L, &rs);
    lua_getfield(L, 4, "responses");
    lua_newtable(L);                                    /* calls */
    lua_pushvalue(L, -1);
    lua_insert(L, 5);                                   /* 5: calls, 6: run_loop ... */
    int prc = lua_pcall(L, 3, 0, 0);
    if (prc != LUA_OK) {
        rules_run_free(rs.run);
        trace_free(&rs.trace);
        trace_free(&rs.emits);
        return lua_error(L);
    }
    enum rules_status st = rules_run_status(rs.run);
    lua_createtable(L, 0, 8);                           /* 6: result */
    lua_pushstring(L, rules_status_name(st));
    lua_setfield(L, 6, "status");
    lua_pushstring(L, rules_run_error(rs.run));
    lua_setfield(L, 6, "error");
    lua_pushstring(L, ekinds[rules_run_error_kind(rs.run)]);
    lua_setfield(L, 6, "error_kind");
    lua_pushstring(L, rules_run_version(rs.run));
    lua_setfield(L, 6, "version");
    lua_pushvalue(L, 5);
    lua_setfield(L, 6, "calls");
    const char *result = rules_run_result(rs.run);
    if (result) {
        lua_json_decode(L, result, strlen(result)); /* our own encoding: cannot fail */
        lua_setfield(L, 6, "result");
    }
    rules_run_free(rs.run);
    /* split the trace into writes and logs */
    struct trace writes = { 0 }, logs = { 0 };
    for (size_t i = 0; i < rs.trace.n; i++)
        note_add(strcmp(rs.trace.v[i].what, "log") ? &writes : &logs, rs.trace.v[i].what,
                 rs.trace.v[i].json);
    trace_free(&rs.trace);
    push_notes(L, &writes, 0);
    lua_setfield(L, 6, "writes");
    push_notes(L, &logs, 0);
    lua_setfield(L, 6, "logs");
    push_notes(L, &rs.emits, 1);
    lua_setfield(L, 6, "emits");
    trace_free(&writes);
    trace_free(&logs);
    trace_free(&rs.emits);
    return 1;
}

static int l_close(lua_State *L)
{
    host_release(luaL_checkudata(L, 1, HOST_MT));
    return 0;
}

static const luaL_Reg host_methods[] = {
    { "version", l_version }, { "handles", l_handles }, { "reload", l_reload },
    { "stats", l_stats },     { "run", l_run },         { "idmap_get", l_idmap_get },
    { "idmap_put", l_idmap_put }, { "kv_get", l_kv_get }, { "close", l_close },
    { NULL, NULL },
};

/* ezhost.json_decode(text): the host's own decoder, so specs read call bodies exactly as the
 * remote would (int64 exact, null sentinel). */
static int l_json_decode(lua_State *L)
{
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    lua_json_decode(L, s, len);
    return 1;
}

static const luaL_Reg ezhost_lib[] = {
    { "open", l_open },
    { "json_decode", l_json_decode },
    { NULL, NULL },
};

int luaopen_ezhost(lua_State *L);

int luaopen_ezhost(lua_State *L)
{
    log_setup(LOG_WARN, LOG_LOGFMT, NULL);
    luaL_newmetatable(L, HOST_MT);
    luaL_newlib(L, host_methods);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, l_gc);
    lua_setfield(L, -2, "__gc");
    lua_pop(L, 1);
    luaL_newlib(L, ezhost_lib);
    lua_json_open(L);
    lua_setfield(L, -2, "json");
    return 1;
}
