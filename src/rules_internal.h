/* rules_internal: what rules.c, rules_load.c, rules_run.c and the lua_ez_* bindings share.
 * Not for use outside the rules host. */
#ifndef EZ_RULES_INTERNAL_H
#define EZ_RULES_INTERNAL_H

#include "json_tape.h"
#include "rules.h"
#include "rules_pool.h"

#include <lua.h>
#include <signal.h>
#include <stdint.h>

#define RULES_ID_LEN 12         /* hex digits of the sha256 shown as the version id */
#define RULES_HOOK_STEP 1000    /* instructions between two count-hook calls */
#define RULES_MEM_HEADROOM (256 * 1024) /* lent while the host builds an error report */

/* Instruction budget of one protected call (load) or one run (all its resumes). */
struct rules_meter {
    long long used, budget;
    int killed;
};

/* The custom allocator's books: a hard cap per state. */
struct rules_mem {
    struct rules_pool pool;  /* the state's small blocks */
    size_t used, limit, peak;
    int refused;             /* an allocation was refused since the flag was last cleared */
};

/* Statistics shared by the owner and its versions, so a run that outlives rules_close() (or a
 * retired version) still has somewhere to count; freed with the last reference. */
struct rules_shared {
    int refs;
    int alive;                /* versions not yet freed */
    uint64_t runs, runs_failed, runs_killed, runs_nomem;
};

struct rules_version {
    int refs;
    lua_State *L;
    struct rules_mem mem;
    char id[RULES_ID_LEN + 1];
    char *dir;
    long long budget;
    char **topics;            /* sorted, for rules_handles() without touching Lua */
    size_t ntopics;
    int handlers_ref;         /* registry: topic -> handler function */
    struct rules_meter *meter;/* charged by the hook: the load's, or the running run's */
    struct rules_run *run;    /* the run being resumed; NULL between resumes */
    struct rules_shared *shared;
    struct json_tape tape;    /* an event's tape, made here when the caller brings none */
};

struct rules_run {
    struct rules_version *v;
    lua_State *co;
    int co_ref;               /* registry anchor of the coroutine, LUA_NOREF when released */
    enum rules_status status;
    enum rules_error_kind ekind;
    char *error;
    char *result;             /* JSON of the handler's return value, or NULL */
    struct rules_ctx ctx;
    struct rules_meter meter;
    struct rules_io io;
    int io_pending;
    const struct rules_io_result *res;  /* during a resume only */
    uint64_t uuid_seq;
    int io_seq;
    /* an unmetered run (rules_ctx.unmetered): its Lua time so far, the watchdog's ticks while
     * it resumed, and whether it must be run again metered */
    int unmetered, retry;
    int64_t lua_ns;
    volatile sig_atomic_t ticks;
};

/* rules_load.c */
int rules_version_load(struct rules_version **out, const char *dir, long long budget,
                       size_t mem_limit, struct rules_shared *shared, char *err, size_t errlen);
void rules_shared_unref(struct rules_shared *s);
void rules_version_unref(struct rules_version *v);
/* A signature of the directory (names, sizes, mtimes) for the watcher; 0 if unreadable. */
uint64_t rules_dir_signature(const char *dir);

/* rules_run.c */
void rules_hook(lua_State *L, lua_Debug *ar);
/* Replaces create and wrap in the coroutine library at lib with the unmetered runs' guards. */
void rules_guard_coroutines(lua_State *L, int lib);
/* Message handler: appends a traceback; a table {msg} passes through as plain msg (errors
 * that already name file:line, where a traceback of the loader would be noise). */
int rules_msgh(lua_State *L);
int rules_topic_cmp(const void *a, const void *b);  /* bsearch/qsort over char * */
/* Starts a run on v (takes a reference): the body of rules_run_start(). */
enum rules_status rules_run_new(struct rules_version *v, const char *topic,
                                const char *event_json, const struct rules_ctx *ctx,
                                struct rules_run **out);
/* Protected call on the version's main state with a traceback handler; on failure err holds
 * message + traceback. Returns the lua_pcall status. */
int rules_pcall(struct rules_version *v, lua_CFunction fn, void *arg, char *err, size_t errlen);

static inline struct rules_version *rules_version_of(lua_State *L)
{
    return *(struct rules_version **)lua_getextraspace(L);
}

/* The run whose coroutine is executing, or NULL (loading, self_check). */
static inline struct rules_run *rules_current_run(lua_State *L)
{
    return rules_version_of(L)->run;
}

#endif
