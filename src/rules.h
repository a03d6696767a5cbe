/* rules: the Lua rule host. Owns rule versions (one sandboxed lua_State per load of the rules
 * directory, id = content hash, refcounted so a run keeps its version alive across a swap),
 * reload (SIGHUP, API, directory watch; the old version keeps serving on any failure) and rule
 * runs (one coroutine per event that yields on outbound I/O; the engine performs the call and
 * resumes it). Uses store (idmap/kv through the ez bindings), log, lua_json, OpenSSL (sha256).
 *
 * A run's life: rules_run_start() -> RULES_YIELD -> rules_run_io() says what to call ->
 * the engine calls -> rules_run_resume(result) -> ... -> RULES_DONE or a failure status.
 * Single-threaded: call everything from the event-loop thread. */
#ifndef EZ_RULES_H
#define EZ_RULES_H

#include <stddef.h>
#include <stdint.h>

struct config;
struct store;
struct event_base;

enum rules_status {
    RULES_DONE,
    RULES_YIELD,     /* waiting on an outbound call: see rules_run_io() */
    RULES_ERROR,     /* the rule raised (or an I/O call failed in transit: see error kind) */
    RULES_KILLED,    /* instruction budget spent */
    RULES_NOMEM,     /* the state's memory cap was hit */
    RULES_NOHANDLER, /* no rule handles the topic */
    RULES_RETRY,     /* an unmetered run (rules_ctx.unmetered) that must be run again metered:
                        it ran long enough that it might have spent the budget, or it used what
                        the unmetered path cannot watch. Undo what it did (calls, state writes,
                        emits) and start it again with unmetered = 0. */
};

/* Why a run failed, for the engine's retry decision. */
enum rules_error_kind {
    RULES_EK_NONE,
    RULES_EK_RULE,      /* a bug or error() in the rule, bad payload: permanent (DLQ) */
    RULES_EK_TRANSIENT, /* an I/O call failed in transit (resumed with status 0), or the store
                           failed: retry the job. The message starts with RULES_TRANSIENT_PREFIX */
    RULES_EK_LIMIT,     /* instruction budget or memory cap: permanent until the rule changes */
};
#define RULES_TRANSIENT_PREFIX "transient: "

enum rules_io_kind { RULES_IO_SHOPIFY /* graphql */, RULES_IO_ORDEREZ /* rest */, RULES_IO_NOTIFY };

struct rules_io {            /* the call a yielded run waits on; owned by the run */
    enum rules_io_kind kind;
    const char *method;      /* "POST" for graphql; REST method; NULL for notify */
    const char *path;        /* orderez path incl. query string; NULL for graphql; channel for
                                notify ("slack", "email") */
    const char *body;        /* JSON text (keys sorted, so equal requests hash equal): graphql
                                {"query":..,"variables":..}; REST body or NULL; notify message */
    int seq;                 /* 1-based number of this call within the run (journal step) */
};

/* What the engine got back. status 0 = transport error (error says why): the binding raises a
 * RULES_EK_TRANSIENT error in the rule. Otherwise the rule sees status and decoded body, so a
 * 4xx/5xx the engine gave up retrying reaches the rule as data. Strings are read during the
 * resume call only. */
struct json_tape;

struct rules_io_result {
    int status;
    const char *body;
    const char *error;
    /* NULL, or a tape of body made ahead on another thread (json_tape.h): the rule gets the same
     * value, decoded from it (the dry-run's recorded answers) */
    const struct json_tape *body_tape;
};

/* Rule state kept elsewhere than in the store (dry-run: in memory). Same contract as the
 * store's idmap/kv functions (0, STORE_NOTFOUND or -1 with errmsg), except that a value read
 * is borrowed: valid until the next call on the same state. */
struct rules_state_ops {
    /* reverse = 0: kind + shopify id -> orderez id; 1: kind + orderez id -> the oldest shopify id */
    int (*idmap_get)(void *ud, const char *kind, const char *id, int reverse, const char **out);
    int (*idmap_put)(void *ud, const char *kind, const char *shopify_id, const char *orderez_id);
    int (*kv_get)(void *ud, const char *ns, const char *key, const char **value);
    int (*kv_put)(void *ud, const char *ns, const char *key, const char *value); /* NULL: delete */
    const char *(*errmsg)(void *ud);
};

struct rules_ctx {           /* what bindings need from the host; set per run, copied */
    struct store *store;     /* idmap, kv (synchronous SQLite: no yield); NULL = unavailable */
    int64_t job_id;          /* 0 outside the engine; != 0 makes ez.uuid() deterministic */
    /* ez.emit: queue the event; do not start a run from inside the callback */
    void (*emit)(void *ud, const char *topic, const char *payload_json);
    void *ud;
    int64_t now_ms;          /* 0 = real clock; dry-run pins time */
    /* Optional observer of state writes and logs (dry-run, specs): what is "idmap.put",
     * "kv.put", "kv.delete" or "log"; json describes it. NULL = none. */
    void (*trace)(void *ud, const char *what, const char *json);
    /* idmap/kv go here instead of store when set (store may then be NULL) */
    const struct rules_state_ops *state;
    void *state_ud;
    /* The trace observer ignores "log": ez.log.* then neither formats nor traces a line the
     * log level filters out (the dry-run, which reports writes and calls, not logs) */
    int trace_no_logs;
    /* NULL, or a tape of the very event_json given with this ctx (json_tape.h), made ahead on
     * another thread: the event is then built from it, the same values, without parsing the
     * text on this thread (the dry-run). Used by rules_run_start only, not kept. */
    const struct json_tape *event_tape;
    /* Run without the instruction-budget hook, whose per-instruction trap is ~8 % of a rule
     * thread's time, for a caller that can undo a run and start it again (the dry-run). The
     * result is the metered run's whenever this returns anything but RULES_RETRY: a run is
     * let finish only while its Lua time stays below what the budget's instructions take at
     * RULES_UNMETERED_NS_PER_INSN (far faster than any CPU runs Lua), so it cannot have spent
     * the budget; a longer one, a runaway loop (stopped by a CPU-time watchdog signal), or one
     * that makes a coroutine, ends in RULES_RETRY. Ignored with a budget too small for that
     * bound to be useful (below RULES_UNMETERED_MIN_BUDGET). Module-level variables a rule
     * changes are not undone: rules must keep state in ez.kv/ez.idmap (a reload or restart
     * loses the rest too). */
    int unmetered;
    /* NULL, or event_tape and event_json are lent, not copied, to the event's lazy tables:
     * event_lend(event_owner, +1) as they take them, -1 when they are collected, maybe after
     * the run (lua_json_decode_lazy_lent). */
    void (*event_lend)(void *owner, int delta);
    void *event_owner;
};
#define RULES_UNMETERED_NS_PER_INSN 0.1
#define RULES_UNMETERED_MIN_BUDGET 1000000

struct rules;
struct rules_run;

/* Loads the first version from cfg->rules_dir (instruction budget and memory cap from cfg).
 * Returns 0, or -1 with "file:line: reason" in err. */
int rules_open(struct rules **out, const struct config *cfg, char *err, size_t errlen);

/* Loads a new version and swaps it in; on failure the old one keeps serving, the reason is in
 * err and in rules_stats().last_error. Returns 0 (also when nothing changed), or -1. */
int rules_reload(struct rules *r, char *err, size_t errlen);

/* Polls the rules directory every second and reloads once a change has settled (one quiet
 * second), so an editor's multi-step save reloads once. Stopped by rules_close(). */
int rules_watch(struct rules *r, struct event_base *base);

/* The Lua incremental collector's pause and step multiplier (percent, as lua_gc(LUA_GCINC)) of
 * the serving version's state and of every version loaded later; 0 keeps Lua's default. For a
 * caller whose runs leave mostly short-lived garbage (the dry-run); the service keeps Lua's. */
void rules_set_gc(struct rules *r, int pause, int stepmul);

const char *rules_version_id(struct rules *r);
int rules_handles(struct rules *r, const char *topic);
/* The serving version's topics, sorted; valid until the next reload. */
size_t rules_topics(struct rules *r, const char *const **out);

struct rules_stats {
    const char *version;      /* id of the serving version */
    const char *last_error;   /* last failed reload ("" when the last reload succeeded) */
    uint64_t reloads_ok, reloads_failed;
    int64_t loaded_at_ms;     /* when the serving version was swapped in */
    uint64_t runs, runs_failed, runs_killed, runs_nomem;
    size_t memory_bytes;      /* of the serving version's state */
    int versions_alive;       /* serving + retired ones still held by runs */
};
void rules_stats(struct rules *r, struct rules_stats *out);

/* Starts the handler for topic with event_json ({id, source, topic, payload, received_at,
 * headers}). *out is always set (NULL only when malloc fails, with RULES_NOMEM); free it with
 * rules_run_free(), also after a failure. */
enum rules_status rules_run_start(struct rules *r, const char *topic, const char *event_json,
                                  const struct rules_ctx *ctx, struct rules_run **out);
const struct rules_io *rules_run_io(struct rules_run *run);        /* valid while RULES_YIELD */
enum rules_status rules_run_resume(struct rules_run *run, const struct rules_io_result *res);
enum rules_status rules_run_status(struct rules_run *run);
const char *rules_run_error(struct rules_run *run);                /* message + traceback */
enum rules_error_kind rules_run_error_kind(struct rules_run *run);
const char *rules_run_version(struct rules_run *run);
/* After RULES_DONE: the handler's return value as JSON (e.g. {"skipped":"test order"}), or NULL
 * when it returned nothing or something JSON cannot hold. */
const char *rules_run_result(struct rules_run *run);
/* Frees the run; a yielded run is abandoned (its coroutine is collected). */
void rules_run_free(struct rules_run *run);
void rules_close(struct rules *r);

const char *rules_status_name(enum rules_status st);

/* `ezsync check`: loads the rules (syntax, shape, lib modules, self_check), then lints them
 * with luacheck --std lua54. Prints problems as file:line to stderr; returns 0 or -1. */
int rules_check(const struct config *cfg, const char *dir);

#endif
