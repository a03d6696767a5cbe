/* Unit tests for the engine's handling of a remote that is down (src/engine.c with
 * src/outage.c): jobs that meet the outage wait for it without spending attempts, a
 * Retry-After holds the remote's calls, and one probe at a time finds it back. Real SQLite,
 * the real loop, the fakes of engine_fakes.h (fixture: engine_fixture.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "config.h"
#include "engine.h"
#include "engine_fakes.h"
#include "engine_fixture.h"
#include "log.h"
#include "store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* OrderEZ does not answer for a while: the jobs that meet the outage wait for it without
 * spending attempts, so an outage longer than the retry schedule dead-letters nothing. With
 * three attempts allowed, three jobs can absorb at most six of the nine failed calls: without
 * the holds one would die. */
static void test_outage_holds_jobs(void **state)
{
    (void)state;
    struct fx f;
    fx_open(&f, "outage");
    f.cfg.engine_max_attempts = 3;
    f.fr.scripts = two_calls;
    f.fr.nscripts = 1;
    fake_route_add(&f.fm, "/distributor/outlets", ENGINE_CALL_TRANSIENT, 0, "", 9);
    int64_t ev[3];
    for (int i = 0; i < 3; i++) {
        char id[16];
        snprintf(id, sizeof id, "7%d", i);
        ev[i] = add_order_event(&f, "orders/create", id, 0);
    }
    fx_engine(&f);
    assert_true(wait_state(&f, STORE_JOB_DONE, 3, 5000));
    assert_int_equal(fake_count_state(f.st, STORE_JOB_DEAD), 0);
    for (int i = 0; i < 3; i++) {
        struct store_job j = get_job(&f, job_of_event(&f, ev[i]));
        assert_true(j.attempts <= 3);
        store_job_free(&j);
    }
    assert_int_equal(fake_count_path(&f.fm, "/distributor/outlets"), 12);
    struct engine_stats s;
    assert_int_equal(engine_stats(f.eng, &s), 0);
    /* Nine failures: at most six were ordinary retries. (A call sent before the remote came
     * back and answered after it counts as a new signal, so not all seven are holds.) */
    assert_true(s.held >= 3);
    assert_true(s.held + s.retried >= 9);
    assert_true(s.remote_outages[ENGINE_IO_ORDEREZ] >= 1);
    assert_int_equal(s.remote_down[ENGINE_IO_ORDEREZ], 0);   /* the answers brought it back */
    assert_int_equal(s.remote_down[ENGINE_IO_SHOPIFY], 0);
    fx_close(&f);
}

/* A 503 with Retry-After takes the remote down at once, and the job waits that long. */
static void test_outage_retry_after(void **state)
{
    (void)state;
    struct fx f;
    fx_open(&f, "outage_ra");
    f.cfg.engine_retry_cap_ms = 2000;
    f.fr.scripts = two_calls;
    f.fr.nscripts = 1;
    fake_route_add(&f.fm, "/distributor/outlets", ENGINE_CALL_TRANSIENT, 503, "", 1);
    f.fm.routes[0].retry_after_s = 0.3;
    int64_t ev = add_order_event(&f, "orders/create", "80", 0);
    int64_t t0 = store_now_ms();
    fx_engine(&f);
    assert_true(wait_state(&f, STORE_JOB_RETRY_WAIT, 1, 2000));
    struct store_job j = get_job(&f, job_of_event(&f, ev));
    assert_int_equal(j.attempts, 0);                 /* refunded */
    assert_true(j.next_at >= t0 + 300);
    assert_non_null(strstr(j.last_error, "503"));
    store_job_free(&j);
    assert_true(wait_state(&f, STORE_JOB_DONE, 1, 3000));
    assert_true(store_now_ms() - t0 >= 300);
    j = get_job(&f, job_of_event(&f, ev));
    assert_int_equal(j.attempts, 1);
    store_job_free(&j);
    fx_close(&f);
}

/* Notes when the first call after the outage (the route switched off) is sent. */
static void note_first_ok(struct fake_remote *fm, int n, void *ud)
{
    (void)n;
    int64_t *at = ud;
    if (fm->routes[0].times == 0 && !*at) *at = store_now_ms();
}

static int five_calls(void *ud)
{
    return fake_count_path(ud, "/distributor/outlets") >= 5;
}

/* While OrderEZ is down the engine starts no job until the next probe: one job probes per
 * round and the few others started with it wait without sending, instead of every queued job
 * running its rule once per round. The probe that gets an answer releases the waiting jobs at
 * once (not each at its own time). */
static void test_outage_pause_gate_and_release(void **state)
{
    (void)state;
    struct fx f;
    int64_t first_ok = 0;
    fx_open(&f, "outage_gate");
    f.cfg.engine_max_attempts = 3;
    f.cfg.engine_retry_cap_ms = 2000;              /* holds of 1 s, then 2 s (+ up to 1/4) */
    f.fr.scripts = two_calls;
    f.fr.nscripts = 1;
    f.fm.on_call = note_first_ok;
    f.fm.on_call_ud = &first_ok;
    fake_route_add(&f.fm, "/distributor/outlets", ENGINE_CALL_TRANSIENT, 0, "", -1);
    for (int i = 0; i < 40; i++) {
        char id[16];
        snprintf(id, sizeof id, "9%02d", i);
        add_order_event(&f, "orders/create", id, 0);
    }
    fx_engine(&f);
    /* Four first calls (four slots), then the first probe round (1 s after it went down, up
     * to 1.25 s): wait for its call, then a little longer for any other of the round. */
    assert_true(fake_run_until(f.base, five_calls, &f.fm, 4000));
    fake_run_for(f.base, 300);                      /* the next round is 2 s away */
    /* Without the pause every queued job would call in the round (40+); without the gate the
     * four jobs the round starts would (8). */
    int during = fake_count_path(&f.fm, "/distributor/outlets");
    assert_true(during <= 6);
    struct engine_stats s;
    assert_int_equal(engine_stats(f.eng, &s), 0);
    assert_true(s.started <= 12);                   /* a round starts at most four jobs */
    assert_int_equal(s.remote_down[ENGINE_IO_ORDEREZ], 1);
    assert_int_equal(fake_count_state(f.st, STORE_JOB_DEAD), 0);
    struct store_job *jobs = NULL;
    size_t n = 0;
    assert_int_equal(store_jobs_list(f.st, STORE_JOB_RETRY_WAIT, 50, &jobs, &n), 0);
    int waiting = 0;
    for (size_t i = 0; i < n; i++) waiting += strncmp(jobs[i].last_error, "waiting for orderez: ", 21) == 0;
    store_jobs_free(jobs, n);
    assert_true(waiting >= 2);                      /* all but the first two failures */

    f.fm.routes[0].times = 0;                       /* OrderEZ is back */
    assert_true(wait_state(&f, STORE_JOB_DONE, 40, 5000));
    assert_true(first_ok > 0);
    /* Released with the probe's answer: the others' holds ran a second past it. */
    assert_true(store_now_ms() - first_ok < 500);
    assert_int_equal(fake_count_state(f.st, STORE_JOB_DEAD), 0);
    assert_int_equal(engine_stats(f.eng, &s), 0);
    assert_int_equal(s.remote_down[ENGINE_IO_ORDEREZ], 0);
    fx_close(&f);
}

int main(void)
{
    log_setup(LOG_ERROR, LOG_LOGFMT, NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_outage_holds_jobs),
        cmocka_unit_test(test_outage_retry_after),
        cmocka_unit_test(test_outage_pause_gate_and_release),
    };
    return cmocka_run_group_tests_name("engine_outage", tests, NULL, NULL);
}
