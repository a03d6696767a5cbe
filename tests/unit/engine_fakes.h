/* Test doubles for the engine's two interfaces, shared by the engine, poller and dlq tests:
 * a runner scripted per topic ("call orderez POST /x, then done") that checks no two runs of
 * one entity overlap, and a remote that answers from a route table with injected transient /
 * permanent failures and delays (evtimer), recording every call. Plus a loop helper that runs
 * the real libevent loop until a condition holds. Header-only: each test is one binary. */
#ifndef EZ_TEST_ENGINE_FAKES_H
#define EZ_TEST_ENGINE_FAKES_H

#include "engine.h"
#include "store.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FAKE_MAX 512

/* ---- runner ---- */

struct fake_call { int kind; const char *method, *path, *body; };

struct fake_script {
    const char *topic;
    struct fake_call calls[4];
    int ncalls;
    int fail_at_end;             /* after the calls: FAILED with fail_msg */
    int fail_transient;
    const char *fail_msg;
};

struct fake_runner {
    struct fake_script *scripts;
    int nscripts;
    const char *version;
    int transient_failures;      /* the next N runs fail transiently at their end */
    int started, finished, active, max_active, overlap_violations;
    int64_t start_order[FAKE_MAX];
    char start_entity[FAKE_MAX][96];
    int nstart;
    int statuses[FAKE_MAX];      /* every status resume() saw */
    char bodies[FAKE_MAX][128];
    int nresume;
    char active_entity[64][96];
};

struct fake_run {
    struct fake_runner *fr;
    const struct fake_script *sc;
    char entity[96];
    int next, slot;
    char err[600];
    int transient;
};

static const struct fake_script fake_default_script = { "", { { 0 } }, 0, 0, 0, NULL };

static inline enum engine_run_status fake_step(struct fake_run *r, struct engine_io *io)
{
    if (r->next < r->sc->ncalls) {
        const struct fake_call *c = &r->sc->calls[r->next++];
        io->kind = c->kind;
        io->method = c->method;
        io->path = c->path;
        io->body = c->body;
        return ENGINE_RUN_WAIT;
    }
    if (r->fr->transient_failures > 0) {
        r->fr->transient_failures--;
        snprintf(r->err, sizeof r->err, "io failure\nstack traceback:\n\t[rule]:3: in main");
        r->transient = 1;
        return ENGINE_RUN_FAILED;
    }
    if (r->sc->fail_at_end) {
        snprintf(r->err, sizeof r->err, "%s\nstack traceback:\n\t[rule]:7: in function 'handle'",
                 r->sc->fail_msg ? r->sc->fail_msg : "rule error");
        r->transient = r->sc->fail_transient;
        return ENGINE_RUN_FAILED;
    }
    return ENGINE_RUN_DONE;
}

static inline enum engine_run_status fake_start(void *ud, const struct engine_job_info *job,
                                         const char *event_json, void **run,
                                         struct engine_io *io)
{
    (void)event_json;
    struct fake_runner *fr = ud;
    struct fake_run *r = calloc(1, sizeof *r);
    r->fr = fr;
    r->sc = &fake_default_script;
    for (int i = 0; i < fr->nscripts; i++)
        if (strcmp(fr->scripts[i].topic, job->topic) == 0) r->sc = &fr->scripts[i];
    snprintf(r->entity, sizeof r->entity, "%s", job->entity_key);
    r->slot = -1;
    for (int i = 0; i < 64; i++)
        if (fr->active_entity[i][0] && strcmp(fr->active_entity[i], r->entity) == 0)
            fr->overlap_violations++;
    for (int i = 0; i < 64 && r->slot < 0; i++)
        if (!fr->active_entity[i][0]) {
            r->slot = i;
            snprintf(fr->active_entity[i], sizeof fr->active_entity[i], "%s", r->entity);
        }
    fr->started++;
    if (++fr->active > fr->max_active) fr->max_active = fr->active;
    if (fr->nstart < FAKE_MAX) {
        fr->start_order[fr->nstart] = job->id;
        snprintf(fr->start_entity[fr->nstart], sizeof fr->start_entity[0], "%s", job->entity_key);
        fr->nstart++;
    }
    *run = r;
    return fake_step(r, io);
}

static inline enum engine_run_status fake_resume(void *ud, void *run, int status, const char *body,
                                          const char *transport_error, struct engine_io *io)
{
    struct fake_runner *fr = ud;
    struct fake_run *r = run;
    if (fr->nresume < FAKE_MAX) {
        fr->statuses[fr->nresume] = status;
        snprintf(fr->bodies[fr->nresume], sizeof fr->bodies[0], "%s", body ? body : "");
        fr->nresume++;
    }
    if (transport_error) { /* what the rule host does: raise at the call site */
        snprintf(r->err, sizeof r->err, "%s\nstack traceback:\n\t[rule]:12: in function 'sync'",
                 transport_error);
        r->transient = 0;
        return ENGINE_RUN_FAILED;
    }
    return fake_step(r, io);
}

static inline const char *fake_error(void *ud, void *run) { (void)ud; return ((struct fake_run *)run)->err; }
static inline int fake_transient(void *ud, void *run) { (void)ud; return ((struct fake_run *)run)->transient; }
static inline const char *fake_version(void *ud) { return ((struct fake_runner *)ud)->version; }

static inline void fake_finish(void *ud, void *run)
{
    struct fake_runner *fr = ud;
    struct fake_run *r = run;
    if (r->slot >= 0) fr->active_entity[r->slot][0] = '\0';
    fr->active--;
    fr->finished++;
    free(r);
}

static inline struct engine_runner fake_runner_iface(struct fake_runner *fr)
{
    struct engine_runner r = { fr, fake_start, fake_resume, fake_error, fake_transient,
                               fake_version, fake_finish };
    return r;
}

/* ---- remote ---- */

struct fake_route {
    const char *prefix;          /* matches paths starting with it */
    int cls;
    long status;
    const char *body;
    int times;                   /* > 0: applies that many times; -1: always */
    double retry_after_s;        /* the answer's Retry-After; 0: none */
};

struct fake_remote {
    struct event_base *base;
    struct fake_route routes[32];
    int nroutes;
    int delay_ms;                /* 0: answer on the next loop turn */
    int vary_delay;              /* add (call number % 7) * 3 ms */
    int sync;                    /* answer inside send() */
    int hang;                    /* accept and never answer */
    int ncalls, pending;
    /* optional: runs inside send() with the call's number (from 0), before any answer */
    void (*on_call)(struct fake_remote *fm, int n, void *ud);
    void *on_call_ud;
    char paths[FAKE_MAX][160];
    char keys[FAKE_MAX][48];
    char bodies[FAKE_MAX][512];
    int prios[FAKE_MAX];
};

struct fake_pending {
    struct fake_remote *fm;
    struct event *ev;
    engine_send_done done;
    void *cbud;
    int cls;
    long status;
    const char *body;
    double retry_after_s;
};

static inline void fake_answer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct fake_pending *p = arg;
    p->fm->pending--;
    p->done(p->cbud, p->cls, p->status, p->body,
            p->cls == ENGINE_CALL_OK ? NULL : (p->cls == 1 ? "HTTP 503" : "HTTP 422"),
            p->retry_after_s);
    if (p->ev) event_free(p->ev);
    free(p);
}

static inline int fake_send(void *ud, const struct engine_io *io, int priority, const char *idem_key,
                     engine_send_done done, void *cbud)
{
    struct fake_remote *fm = ud;
    int n = fm->ncalls++;
    if (fm->on_call) fm->on_call(fm, n, fm->on_call_ud);
    if (n < FAKE_MAX) {
        snprintf(fm->paths[n], sizeof fm->paths[0], "%s", io->path ? io->path : "");
        snprintf(fm->keys[n], sizeof fm->keys[0], "%s", idem_key ? idem_key : "");
        snprintf(fm->bodies[n], sizeof fm->bodies[0], "%s", io->body ? io->body : "");
        fm->prios[n] = priority;
    }
    if (fm->hang) return 0;
    struct fake_pending *p = calloc(1, sizeof *p);
    p->fm = fm;
    p->done = done;
    p->cbud = cbud;
    p->status = 200;
    p->body = "{\"data\":{}}";
    for (int i = 0; i < fm->nroutes; i++) {
        struct fake_route *r = &fm->routes[i];
        if (r->times == 0 || strncmp(io->path ? io->path : "", r->prefix, strlen(r->prefix)))
            continue;
        if (r->times > 0) r->times--;
        p->cls = r->cls;
        p->status = r->status;
        p->body = r->body;
        p->retry_after_s = r->retry_after_s;
        break;
    }
    fm->pending++;
    if (fm->sync) {
        fake_answer(-1, 0, p);
        return 0;
    }
    int ms = fm->delay_ms + (fm->vary_delay ? (n % 7) * 3 : 0);
    struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
    p->ev = evtimer_new(fm->base, fake_answer, p);
    evtimer_add(p->ev, &tv);
    return 0;
}

static inline void fake_route_add(struct fake_remote *fm, const char *prefix, int cls, long status,
                           const char *body, int times)
{
    struct fake_route r = { prefix, cls, status, body, times, 0 };
    fm->routes[fm->nroutes++] = r;
}

static inline int fake_count_path(const struct fake_remote *fm, const char *prefix)
{
    int n = 0;
    for (int i = 0; i < fm->ncalls && i < FAKE_MAX; i++)
        if (strncmp(fm->paths[i], prefix, strlen(prefix)) == 0) n++;
    return n;
}

static inline struct engine_remotes fake_remotes_iface(struct fake_remote *fm)
{
    struct engine_remotes r = { fm, fake_send };
    return r;
}

/* ---- loop ---- */

struct fake_wait { struct event_base *base; int (*cond)(void *); void *ud; int met; };

static inline void fake_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct fake_wait *w = arg;
    if (w->cond(w->ud)) {
        w->met = 1;
        event_base_loopbreak(w->base);
    }
}

/* Runs the loop until cond(ud) or timeout_ms; returns whether cond held. */
static inline int fake_run_until(struct event_base *base, int (*cond)(void *), void *ud, int timeout_ms)
{
    struct fake_wait w = { base, cond, ud, 0 };
    if (cond(ud)) return 1;
    struct event *tick = event_new(base, -1, EV_PERSIST, fake_tick, &w);
    struct timeval tv = { 0, 2000 };
    event_add(tick, &tv);
    int64_t deadline = store_now_ms() + timeout_ms;
    while (!w.met && store_now_ms() < deadline) event_base_loop(base, EVLOOP_ONCE);
    event_free(tick);
    return w.met;
}

/* Lets the loop run for ms regardless. */
static inline int fake_never(void *ud) { (void)ud; return 0; }
static inline void fake_run_for(struct event_base *base, int ms) { fake_run_until(base, fake_never, NULL, ms); }

/* Jobs in a state (all priorities). */
static inline int64_t fake_count_state(struct store *st, int state)
{
    int64_t depth[STORE_JOB_NSTATES][STORE_JOB_NPRIORITIES], n = 0;
    if (store_jobs_depth(st, depth)) return -1;
    for (int p = 0; p < STORE_JOB_NPRIORITIES; p++) n += depth[state][p];
    return n;
}

static inline int64_t fake_add_event(struct store *st, const char *source, const char *topic,
                              const char *dedupe, const char *body)
{
    /* As the webhook receiver stores a delivery: into the backlog lane of its topic. */
    struct store_event ev = { .source = source, .topic = topic, .dedupe_key = dedupe,
                              .body = body, .body_len = strlen(body),
                              .lane = engine_topics_priority(topic) };
    int inserted = 0;
    if (store_event_insert(st, &ev, &inserted) || !inserted) return -1;
    return ev.id;
}

#endif
