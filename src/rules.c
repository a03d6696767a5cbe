/* rules: see rules.h. The owner of the serving version: reload = load a complete new version,
 * then swap the pointer; the old version is released, and lives on while runs hold it. The
 * directory watch is a 1 s poll of names/sizes/mtimes rather than inotify: it needs no fd or
 * watch per directory, sees lib/ and editors' rename-into-place saves the same way, works on
 * network and container-mounted filesystems where inotify is silent, and costs a readdir and
 * a stat per file per second. A change reloads once it has been quiet for one poll. */
#include "rules_internal.h"

#include "config.h"
#include "log.h"
#include "store.h"

#include <event2/event.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

extern char **environ;

struct rules {
    struct rules_version *cur;
    struct rules_shared *shared;
    char *dir;
    long long budget;
    size_t mem_limit;
    char last_error[2048];
    uint64_t reloads_ok, reloads_failed;
    int64_t loaded_at_ms;
    struct event *watch;
    int gc_pause, gc_stepmul; /* rules_set_gc(); 0: Lua's default */
    uint64_t sig;             /* directory signature last seen */
    int changed;              /* seen a change, waiting for a quiet poll */
};

static int load(struct rules *r, struct rules_version **v, char *err, size_t errlen)
{
    if (rules_version_load(v, r->dir, r->budget, r->mem_limit, r->shared, err, errlen)) return -1;
    /* 0 leaves a parameter as it is (Lua's default on a new state) */
    if (r->gc_pause || r->gc_stepmul) lua_gc((*v)->L, LUA_GCINC, r->gc_pause, r->gc_stepmul, 0);
    return 0;
}

int rules_open(struct rules **out, const struct config *cfg, char *err, size_t errlen)
{
    struct rules *r = calloc(1, sizeof *r);
    *out = NULL;
    if (!r || !(r->shared = calloc(1, sizeof *r->shared)) ||
        !(r->dir = strdup(cfg->rules_dir ? cfg->rules_dir : "rules"))) {
        snprintf(err, errlen, "rules: out of memory");
        goto fail;
    }
    r->shared->refs = 1;
    r->budget = cfg->rules_instruction_budget > 0 ? cfg->rules_instruction_budget : 10000000;
    r->mem_limit = (size_t)(cfg->rules_memory_mb > 0 ? cfg->rules_memory_mb : 64) << 20;
    if (load(r, &r->cur, err, errlen)) goto fail;
    r->loaded_at_ms = store_now_ms();
    r->sig = rules_dir_signature(r->dir);
    log_info("rules loaded", "version", r->cur->id, "dir", r->dir);
    *out = r;
    return 0;
fail:
    rules_close(r);
    return -1;
}

int rules_reload(struct rules *r, char *err, size_t errlen)
{
    struct rules_version *v = NULL;
    char buf[2048];
    if (load(r, &v, buf, sizeof buf)) {
        r->reloads_failed++;
        snprintf(r->last_error, sizeof r->last_error, "%s", buf);
        if (err) snprintf(err, errlen, "%s", buf);
        log_error("rules reload failed; the previous version keeps serving",
                  "version", r->cur->id, "error", buf);
        return -1;
    }
    r->reloads_ok++;
    r->last_error[0] = 0;
    if (strcmp(v->id, r->cur->id) == 0) {
        log_debug("rules unchanged", "version", v->id);
        rules_version_unref(v);
        return 0;
    }
    log_info("rules reloaded", "version", v->id, "previous", r->cur->id);
    rules_version_unref(r->cur);
    r->cur = v;
    r->loaded_at_ms = store_now_ms();
    return 0;
}

static void on_poll(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct rules *r = arg;
    uint64_t sig = rules_dir_signature(r->dir);
    if (sig != r->sig) {
        r->sig = sig;
        r->changed = 1;
        return;
    }
    if (!r->changed) return;
    r->changed = 0;
    log_info("rules directory changed: reloading", "dir", r->dir);
    rules_reload(r, NULL, 0);
}

int rules_watch(struct rules *r, struct event_base *base)
{
    struct timeval tv = { 1, 0 };
    if (r->watch) return 0;
    r->watch = event_new(base, -1, EV_PERSIST, on_poll, r);
    if (!r->watch || event_add(r->watch, &tv)) return -1;
    return 0;
}

void rules_set_gc(struct rules *r, int pause, int stepmul)
{
    r->gc_pause = pause;
    r->gc_stepmul = stepmul;
    lua_gc(r->cur->L, LUA_GCINC, pause, stepmul, 0);
}

const char *rules_version_id(struct rules *r)
{
    return r->cur->id;
}

int rules_handles(struct rules *r, const char *topic)
{
    return bsearch(&topic, r->cur->topics, r->cur->ntopics, sizeof *r->cur->topics,
                   rules_topic_cmp) != NULL;
}

size_t rules_topics(struct rules *r, const char *const **out)
{
    *out = (const char *const *)r->cur->topics;
    return r->cur->ntopics;
}

void rules_stats(struct rules *r, struct rules_stats *out)
{
    memset(out, 0, sizeof *out);
    out->version = r->cur->id;
    out->last_error = r->last_error;
    out->reloads_ok = r->reloads_ok;
    out->reloads_failed = r->reloads_failed;
    out->loaded_at_ms = r->loaded_at_ms;
    out->runs = r->shared->runs;
    out->runs_failed = r->shared->runs_failed;
    out->runs_killed = r->shared->runs_killed;
    out->runs_nomem = r->shared->runs_nomem;
    out->memory_bytes = r->cur->mem.used;
    out->versions_alive = r->shared->alive;
}

enum rules_status rules_run_start(struct rules *r, const char *topic, const char *event_json,
                                  const struct rules_ctx *ctx, struct rules_run **out)
{
    return rules_run_new(r->cur, topic, event_json, ctx, out);
}

void rules_close(struct rules *r)
{
    if (!r) return;
    if (r->watch) event_free(r->watch);
    rules_version_unref(r->cur);
    rules_shared_unref(r->shared);
    free(r->dir);
    free(r);
}

/* luacheck over the directory; its findings go to stderr. 0 clean or skipped, -1 problems. */
static int lint(const char *dir)
{
    char *argv[] = { "luacheck", "--std", "lua54", "--read-globals", "ez",
                     "--not-globals", "io", "package", "debug", "dofile", "loadfile",
                     "collectgarbage", "print", "warn", "--no-color", "--codes",
                     "--formatter", "plain", "--", (char *)dir, NULL };
    posix_spawn_file_actions_t fa;
    pid_t pid;
    int status = 0;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, 2, 1);
    int rc = posix_spawnp(&pid, "luacheck", &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc) {
        fprintf(stderr, "note: luacheck not found: lint skipped\n");
        return 0;
    }
    if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status)) return -1;
    if (WEXITSTATUS(status) == 127) {
        fprintf(stderr, "note: luacheck not found: lint skipped\n");
        return 0;
    }
    return WEXITSTATUS(status) == 0 ? 0 : -1;
}

int rules_check(const struct config *cfg, const char *dir)
{
    struct config c = *cfg;
    struct rules *r = NULL;
    char err[2048];
    c.rules_dir = (char *)(dir ? dir : cfg->rules_dir);
    if (rules_open(&r, &c, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    printf("%s: rules ok (version %s, %zu topics)\n", c.rules_dir, rules_version_id(r),
           r->cur->ntopics);
    rules_close(r);
    return lint(c.rules_dir);
}
