/* The engine tests' fixture, shared by test_engine.c and test_engine_outage.c: a real SQLite
 * file, the real libevent loop, an engine over the fakes of engine_fakes.h, and helpers that
 * add events and wait for job states. Header-only (each test is one binary); include after
 * cmocka.h. */
#ifndef EZ_TEST_ENGINE_FIXTURE_H
#define EZ_TEST_ENGINE_FIXTURE_H

#include "config.h"
#include "engine.h"
#include "engine_fakes.h"
#include "store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct fx {
    char path[600];
    struct store *st;
    struct event_base *base;
    struct config cfg;
    struct fake_runner fr;
    struct fake_remote fm;
    struct engine *eng;
};

static inline void tmp_path(char *out, size_t len, const char *name)
{
    const char *dir = getenv("EZSYNC_TEST_TMP");
    snprintf(out, len, "%s/engine-%s-%d.db", dir && *dir ? dir : "/tmp", name, (int)getpid());
    unlink(out);
}

static inline void fx_open(struct fx *f, const char *name)
{
    char err[512];
    memset(f, 0, sizeof *f);
    tmp_path(f->path, sizeof f->path, name);
    assert_int_equal(store_open(&f->st, f->path, 0, err, sizeof err), 0);
    f->base = event_base_new();
    config_defaults(&f->cfg);
    f->cfg.engine_concurrency = 4;
    f->cfg.engine_retry_base_ms = 5;
    f->cfg.engine_retry_cap_ms = 20;
    f->cfg.engine_max_attempts = 5;
    f->cfg.engine_sweep_ms = 50;
    f->fr.version = "rules-v1";
    f->fm.base = f->base;
}

static inline void fx_engine(struct fx *f)
{
    struct engine_runner r = fake_runner_iface(&f->fr);
    struct engine_remotes m = fake_remotes_iface(&f->fm);
    f->eng = engine_new(f->base, f->st, &f->cfg, &r, &m);
    assert_non_null(f->eng);
    assert_int_equal(engine_start(f->eng), 0);
}

static inline int no_pending(void *ud) { return ((struct fake_remote *)ud)->pending == 0; }

static inline void fx_close(struct fx *f)
{
    fake_run_until(f->base, no_pending, &f->fm, 2000);
    engine_free(f->eng);
    f->eng = NULL;
    store_close(f->st);
    event_base_free(f->base);
    config_free(&f->cfg);
    unlink(f->path);
}

struct count_cond { struct store *st; int state; int64_t n; };
static inline int state_reached(void *ud)
{
    struct count_cond *c = ud;
    return fake_count_state(c->st, c->state) >= c->n;
}

static inline int wait_state(struct fx *f, int state, int64_t n, int ms)
{
    struct count_cond c = { f->st, state, n };
    return fake_run_until(f->base, state_reached, &c, ms);
}

static inline struct store_job get_job(struct fx *f, int64_t id)
{
    struct store_job j;
    assert_int_equal(store_job_get(f->st, id, &j), 0);
    return j;
}

static inline int64_t job_of_event(struct fx *f, int64_t event_id)
{
    struct store_job *jobs = NULL;
    size_t n = 0;
    int64_t id = -1;
    assert_int_equal(store_jobs_list(f->st, -1, 1000, &jobs, &n), 0);
    for (size_t i = 0; i < n; i++)
        if (jobs[i].event_id == event_id) id = jobs[i].id;
    store_jobs_free(jobs, n);
    return id;
}

static inline int64_t add_order_event(struct fx *f, const char *topic, const char *id, int seq)
{
    char body[256], key[128];
    snprintf(body, sizeof body, "{\"id\":%s,\"updated_at\":\"2025-01-01T00:00:%02dZ\"}", id, seq % 60);
    snprintf(key, sizeof key, "wh-%s-%s-%d", topic, id, seq);
    return fake_add_event(f->st, "shopify", topic, key, body);
}

/* An order that makes two OrderEZ calls (outlet, then order). */
__attribute__((unused)) static struct fake_script two_calls[] = {
    { "orders/create", { { 1, "POST", "/distributor/outlets", "{\"name\":\"A\"}" },
                         { 1, "POST", "/distributor/orders", "{\"externalRef\":\"1\"}" } },
      2, 0, 0, NULL },
};

#endif
