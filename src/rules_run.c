/* rules_run: one rule run = one coroutine on the version's state. The host resumes it; a
 * binding that does I/O yields with a rules_io; the count hook charges the run's budget and,
 * once it is spent, yields straight to the host (a hook yield skips every pcall of the rule)
 * or, where the rule is inside a C call that cannot yield, raises on every instruction until
 * it reaches a point that can. */
#include "rules_internal.h"

#include "lua_json.h"
#include "lua_json_lazy.h"

#include <assert.h>
#include <lauxlib.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

void rules_hook(lua_State *L, lua_Debug *ar)
{
    (void)ar;
    struct rules_version *v = rules_version_of(L);
    struct rules_meter *m = v->meter;
    if (!m) return;
    if (!m->killed) {
        /* In an unmetered run the hook is the watchdog's (or that of a coroutine made while
         * metered): the run's count is unknown, so it stops here to be run again metered. */
        if (v->run && v->run->unmetered) v->run->retry = 1;
        else if ((m->used += m->budget < RULES_HOOK_STEP ? m->budget : RULES_HOOK_STEP) < m->budget)
            return;
        m->killed = 1;
        /* from now on every instruction lands here, on every thread of the run */
        if (v->run) lua_sethook(v->run->co, rules_hook, LUA_MASKCOUNT, 1);
        lua_sethook(L, rules_hook, LUA_MASKCOUNT, 1);
    }
    if (v->run && lua_isyieldable(L)) {
        lua_yield(L, 0);
        return;
    }
    if (v->run && v->run->retry) luaL_error(L, "unmetered run stopped");
    luaL_error(L, "instruction budget of %I exhausted", (lua_Integer)m->budget);
}

/* ---- unmetered runs (rules_ctx.unmetered) ----
 * A runaway loop in an unmetered run never comes back to the host, so a timer on the rules
 * thread's CPU time signals that thread every WATCHDOG_PERIOD_NS. The handler counts the ticks
 * that land while a run is resumed; at the second one (the run has had a whole period, ~1000
 * times an ordinary run's time) it sets the hook on the run's coroutine, and rules_hook stops
 * the run as it stops one that spent its budget. lua_sethook may be called from a signal
 * handler (lua.c stops scripts on SIGINT so). The timer exists per thread, made on its first
 * unmetered run; only the thread's own CPU time moves it, so it costs a signal per period of
 * work and nothing while the thread waits. */
#define WATCHDOG_PERIOD_NS 10000000L
#define WATCHDOG_SIGNAL (SIGRTMIN + 5)

/* The unmetered run being resumed on this thread: what the handler, which has no argument,
 * acts on. Thread-local because a timer signals its own thread. */
static _Thread_local struct rules_run *volatile watched;
static _Thread_local int watchdog_state;  /* 0 none yet, 1 armed, -1 cannot be */
static pthread_once_t watchdog_once = PTHREAD_ONCE_INIT;
static pthread_key_t watchdog_key;        /* the thread's timer, deleted when the thread ends */
static int watchdog_installed;

static void on_watchdog(int sig)
{
    (void)sig;
    struct rules_run *run = watched;
    if (run && ++run->ticks >= 2) lua_sethook(run->co, rules_hook, LUA_MASKCOUNT, 1);
}

static void watchdog_thread_end(void *timer)
{
    timer_delete((timer_t)timer);
}

static void watchdog_install(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_watchdog;
    sa.sa_flags = SA_RESTART;  /* the thread's blocking calls go on as if nothing happened */
    sigemptyset(&sa.sa_mask);
    watchdog_installed = sigaction(WATCHDOG_SIGNAL, &sa, NULL) == 0 &&
                         pthread_key_create(&watchdog_key, watchdog_thread_end) == 0;
}

/* 0 when this thread's watchdog runs; -1 when it cannot (runs are then metered). */
static int watchdog_arm(void)
{
    if (watchdog_state) return watchdog_state > 0 ? 0 : -1;
    watched = NULL;  /* first touch outside the handler (a dlopen'd module's TLS is lazy) */
    watchdog_state = -1;
    if (pthread_once(&watchdog_once, watchdog_install) || !watchdog_installed) return -1;
    struct sigevent sev;
    memset(&sev, 0, sizeof sev);
    sev.sigev_notify = SIGEV_THREAD_ID;
    sev.sigev_signo = WATCHDOG_SIGNAL;
    sev._sigev_un._tid = gettid();  /* glibc 2.36 names it only so (sigev_notify_thread_id: 2.41) */
    timer_t t;
    if (timer_create(CLOCK_THREAD_CPUTIME_ID, &sev, &t)) return -1;
    struct itimerspec its = { { 0, WATCHDOG_PERIOD_NS }, { 0, WATCHDOG_PERIOD_NS } };
    if (timer_settime(t, 0, &its, NULL) || pthread_setspecific(watchdog_key, (void *)t)) {
        timer_delete(t);
        return -1;
    }
    watchdog_state = 1;
    return 0;
}

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* coroutine.create and coroutine.wrap. A coroutine made in an unmetered run would carry no
 * hook, out of the watchdog's reach (it hooks the run's coroutine): the run stops at its next
 * instruction, to be run again metered, and the coroutine is made hooked so it stops too. One
 * made while metered (an earlier run, the load) inherited the count hook, whose first call in
 * an unmetered run stops it the same way. */
static int guarded_coroutine(lua_State *L)
{
    struct rules_run *run = rules_current_run(L);
    if (run && run->unmetered) {
        run->retry = 1;
        lua_sethook(L, rules_hook, LUA_MASKCOUNT, 1);
    }
    return lua_tocfunction(L, lua_upvalueindex(1))(L);
}

void rules_guard_coroutines(lua_State *L, int lib)
{
    const char *names[] = { "create", "wrap" };
    lib = lua_absindex(L, lib);
    for (int i = 0; i < 2; i++) {
        lua_getfield(L, lib, names[i]);
        lua_pushcclosure(L, guarded_coroutine, 1);
        lua_setfield(L, lib, names[i]);
    }
}

int rules_msgh(lua_State *L)
{
    lua_json_lazy_pforce(L, 1, NULL); /* an error object read raw below */
    if (lua_type(L, 1) == LUA_TTABLE && lua_rawgeti(L, 1, 1) == LUA_TSTRING) return 1;
    const char *msg = lua_type(L, 1) == LUA_TSTRING ? lua_tostring(L, 1) : NULL;
    if (!msg) msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
    luaL_traceback(L, L, msg, 1);
    return 1;
}

int rules_pcall(struct rules_version *v, lua_CFunction fn, void *arg, char *err, size_t errlen)
{
    lua_State *L = v->L;
    int top = lua_gettop(L);
    /* light C functions and light userdata: these pushes never allocate */
    lua_pushcfunction(L, rules_msgh);
    lua_pushcfunction(L, fn);
    lua_pushlightuserdata(L, arg);
    int st = lua_pcall(L, 1, 0, top + 1);
    if (st != LUA_OK && err) {
        const char *msg = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
        snprintf(err, errlen, "%s", msg ? msg : "(error object is not a string)");
    }
    lua_settop(L, top);
    return st;
}

/* ---- run lifecycle ---- */

struct setup_args {
    struct rules_run *run;
    const char *topic;
    const char *event;
    const struct json_tape *tape;   /* NULL, or the event's tape */
    lua_json_lend lend;             /* NULL, or tape and event are lent (rules_ctx) */
    void *owner;
};

/* Protected: the coroutine, anchored in the registry, with handler and decoded event. The
 * event's tables are lazy (lua_json_lazy.h): built as the rule reads them, from the caller's
 * tape or, without one (the service), a tape made here; the same path either way, so the
 * dry-run shows what the service does. */
static int run_setup(lua_State *L)
{
    struct setup_args *a = lua_touserdata(L, 1);
    struct rules_version *v = a->run->v;
    lua_State *co = lua_newthread(L);
    a->run->co = co;
    a->run->co_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_rawgeti(L, LUA_REGISTRYINDEX, a->run->v->handlers_ref);
    lua_getfield(L, -1, a->topic);
    if (a->event) {
        size_t len = strlen(a->event);
        const struct json_tape *t = a->tape;
        if (t && t->text == a->event && t->len == len) {
            lua_json_decode_lazy_lent(L, t, a->event, len, a->lend, a->owner);
        } else {
            t = json_tape_parse(&v->tape, a->event, len) == 0 ? &v->tape : NULL;
            lua_json_decode_lazy(L, t, a->event, len);
        }
        if (!lua_istable(L, -1)) luaL_error(L, "event: not a JSON object");
    } else {
        lua_newtable(L);
    }
    lua_xmove(L, co, 2);
    return 0;
}

struct tb_args {
    lua_State *co;
    const char *headline;  /* NULL: the error object on the coroutine's stack */
    char *out;
};

static int build_traceback(lua_State *L)
{
    struct tb_args *a = lua_touserdata(L, 1);
    const char *msg = a->headline;
    if (!msg) {
        int t = lua_type(a->co, -1);
        msg = t == LUA_TSTRING ? lua_tostring(a->co, -1)
              : lua_pushfstring(L, "(error object is a %s value)", lua_typename(L, t));
    }
    luaL_traceback(L, a->co, msg, 0);
    a->out = strdup(lua_tostring(L, -1));
    return 0;
}

/* The run's error: message + the coroutine's traceback. Lends the allocator a little room so
 * a run that died of the memory cap can still be reported. */
static void set_error(struct rules_run *run, const char *headline)
{
    struct rules_version *v = run->v;
    struct tb_args a = { run->co, headline, NULL };
    v->mem.limit += RULES_MEM_HEADROOM;
    if (rules_pcall(v, build_traceback, &a, NULL, 0) != LUA_OK || !a.out) {
        free(a.out);
        const char *msg = headline ? headline
            : lua_type(run->co, -1) == LUA_TSTRING ? lua_tostring(run->co, -1) : "rule failed";
        a.out = strdup(msg);
    }
    v->mem.limit -= RULES_MEM_HEADROOM;
    free(run->error);
    run->error = a.out;
}

static void release_coroutine(struct rules_run *run)
{
    if (run->co_ref == LUA_NOREF) return;
    luaL_unref(run->v->L, LUA_REGISTRYINDEX, run->co_ref);
    run->co_ref = LUA_NOREF;
    run->co = NULL;
}

static void free_io(struct rules_run *run)
{
    free((char *)run->io.method);
    free((char *)run->io.path);
    free((char *)run->io.body);
    run->io.method = run->io.path = run->io.body = NULL;
    run->io_pending = 0;
}

static enum rules_status finish(struct rules_run *run, enum rules_status st,
                                enum rules_error_kind kind)
{
    struct rules_shared *sh = run->v->shared;
    run->status = st;
    run->ekind = kind;
    if (st != RULES_RETRY) sh->runs++; /* a retried run is counted once, when run metered */
    if (st == RULES_KILLED) sh->runs_killed++;
    else if (st == RULES_NOMEM) sh->runs_nomem++;
    else if (st != RULES_DONE && st != RULES_RETRY) sh->runs_failed++;
    release_coroutine(run);
    /* a killed, starved or stopped run leaves garbage that the next run should not pay for */
    if (st == RULES_KILLED || st == RULES_NOMEM || st == RULES_RETRY) lua_gc(run->v->L, LUA_GCCOLLECT);
    return st;
}

/* Runs protected on the finished coroutine: the value may hold something JSON cannot. */
static int encode_result(lua_State *L)
{
    lua_json_encode(L, 1, 0, NULL);
    return 1;
}

/* Keeps the handler's first return value as JSON (the engine audits it, e.g. {skipped=...}). */
static void keep_result(struct rules_run *run, int nres)
{
    lua_State *co = run->co;
    if (nres < 1 || lua_isnil(co, -nres)) return;
    lua_pushcfunction(co, encode_result);
    lua_pushvalue(co, -nres - 1);
    if (lua_pcall(co, 1, 1, 0) == LUA_OK) run->result = strdup(lua_tostring(co, -1));
    lua_pop(co, 1);
}

static enum rules_status resume(struct rules_run *run, int nargs)
{
    struct rules_version *v = run->v;
    char head[160];
    int nres = 0;
    assert(lua_gettop(v->L) == 0);
    v->run = run;
    v->meter = &run->meter;
    v->mem.refused = 0;
    int64_t t0 = 0;
    if (run->unmetered) {
        t0 = now_ns();
        watched = run;
    }
    int st = lua_resume(run->co, v->L, nargs, &nres);
    if (run->unmetered) {
        watched = NULL;
        /* Lua time bounds the instructions run: past the budget's worth at the fastest
         * conceivable rate, the count is unknown */
        run->lua_ns += now_ns() - t0;
        if ((double)run->lua_ns >= (double)v->budget * RULES_UNMETERED_NS_PER_INSN) run->retry = 1;
    }
    v->run = NULL;
    v->meter = NULL;
    assert(lua_gettop(v->L) == 0);
    if (run->retry) return finish(run, RULES_RETRY, RULES_EK_NONE); /* its coroutine goes */
    if (st == LUA_OK) {
        keep_result(run, nres);
        lua_pop(run->co, nres);
        return finish(run, RULES_DONE, RULES_EK_NONE);
    }
    if (run->meter.killed) {
        snprintf(head, sizeof head, "rule killed: instruction budget of %lld exhausted",
                 run->meter.budget);
        set_error(run, head);
        return finish(run, RULES_KILLED, RULES_EK_LIMIT);
    }
    if (st == LUA_YIELD) {
        lua_pop(run->co, nres);
        if (run->io_pending) return run->status = RULES_YIELD;
        set_error(run, "coroutine.yield() outside a coroutine the rule created");
        return finish(run, RULES_ERROR, RULES_EK_RULE);
    }
    const char *msg = lua_type(run->co, -1) == LUA_TSTRING ? lua_tostring(run->co, -1) : "";
    if (st == LUA_ERRMEM || (v->mem.refused && strstr(msg, "not enough memory"))) {
        snprintf(head, sizeof head, "rule stopped: memory cap of %zu bytes reached",
                 v->mem.limit);
        set_error(run, head);
        return finish(run, RULES_NOMEM, RULES_EK_LIMIT);
    }
    int transient = strncmp(msg, RULES_TRANSIENT_PREFIX, strlen(RULES_TRANSIENT_PREFIX)) == 0;
    set_error(run, NULL);
    return finish(run, RULES_ERROR, transient ? RULES_EK_TRANSIENT : RULES_EK_RULE);
}

enum rules_status rules_run_new(struct rules_version *v, const char *topic,
                                const char *event_json, const struct rules_ctx *ctx,
                                struct rules_run **out)
{
    char err[512];
    struct rules_run *run = calloc(1, sizeof *run);
    *out = run;
    if (!run) return RULES_NOMEM;
    run->v = v;
    v->refs++;
    run->co_ref = LUA_NOREF;
    if (ctx) run->ctx = *ctx;
    run->ctx.event_tape = NULL; /* the caller's, for the setup below only */
    run->ctx.event_lend = NULL;
    run->ctx.event_owner = NULL;
    run->meter.budget = v->budget;
    if (v->run) {  /* from inside a binding (an emit callback): the state is mid-resume */
        run->error = strdup("rules_run_start called while another run is executing");
        run->status = RULES_ERROR;
        run->ekind = RULES_EK_TRANSIENT;
        return run->status;
    }
    if (!bsearch(&topic, v->topics, v->ntopics, sizeof *v->topics, rules_topic_cmp)) {
        snprintf(err, sizeof err, "no rule handles topic %s", topic);
        run->error = strdup(err);
        run->status = RULES_NOHANDLER;
        run->ekind = RULES_EK_RULE;
        return run->status;
    }
    struct setup_args a = { run, topic, event_json, ctx ? ctx->event_tape : NULL,
                            ctx ? ctx->event_lend : NULL, ctx ? ctx->event_owner : NULL };
    v->mem.refused = 0;
    int st = rules_pcall(v, run_setup, &a, err, sizeof err);
    if (st != LUA_OK) {
        char *nl = strchr(err, '\n');  /* the host's own frames are noise */
        if (nl) *nl = 0;
        run->error = strdup(err);
        release_coroutine(run);
        run->v->shared->runs++;
        run->v->shared->runs_failed++;
        run->status = st == LUA_ERRMEM ? RULES_NOMEM : RULES_ERROR;
        run->ekind = st == LUA_ERRMEM ? RULES_EK_LIMIT : RULES_EK_RULE;
        return run->status;
    }
    run->unmetered = ctx && ctx->unmetered && v->budget >= RULES_UNMETERED_MIN_BUDGET &&
                     watchdog_arm() == 0;
    int step = v->budget < RULES_HOOK_STEP ? (int)v->budget : RULES_HOOK_STEP;
    if (!run->unmetered) lua_sethook(run->co, rules_hook, LUA_MASKCOUNT, step > 0 ? step : 1);
    return resume(run, 1);
}

int rules_topic_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

const struct rules_io *rules_run_io(struct rules_run *run)
{
    return run && run->status == RULES_YIELD ? &run->io : NULL;
}

enum rules_status rules_run_resume(struct rules_run *run, const struct rules_io_result *res)
{
    if (run->status != RULES_YIELD) return run->status;
    static const struct rules_io_result none = { 0, NULL, "no result given", NULL };
    free_io(run);
    run->res = res ? res : &none;
    enum rules_status st = resume(run, 0);
    run->res = NULL;
    return st;
}

enum rules_status rules_run_status(struct rules_run *run)
{
    return run->status;
}

const char *rules_run_error(struct rules_run *run)
{
    return run && run->error ? run->error : "";
}

enum rules_error_kind rules_run_error_kind(struct rules_run *run)
{
    return run->ekind;
}

const char *rules_run_version(struct rules_run *run)
{
    return run->v->id;
}

void rules_run_free(struct rules_run *run)
{
    if (!run) return;
    free_io(run);
    release_coroutine(run);
    free(run->error);
    free(run->result);
    rules_version_unref(run->v);
    free(run);
}

const char *rules_run_result(struct rules_run *run) { return run->result; }

const char *rules_status_name(enum rules_status st)
{
    static const char *const names[] = { "done", "yield", "error", "killed", "nomem",
                                         "nohandler", "retry" };
    return (unsigned)st < sizeof names / sizeof names[0] ? names[st] : "?";
}
