/* Unit tests for src/ratelimit.c. A fake clock drives the bucket arithmetic (no long sleeps);
 * one test runs on the real clock to prove the libevent timers fire on time. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "log.h"
#include "ratelimit.h"

#include <event2/event.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct fake { double t; };

static double fake_clock(void *ud) { return ((struct fake *)ud)->t; }

struct rec {
    char order[64];
    int n;
    int cancelled;
};

struct tag { struct rec *r; char c; };

static void on_admit(void *ud, int admitted)
{
    struct tag *t = ud;
    if (!admitted) {
        t->r->cancelled++;
        return;
    }
    t->r->order[t->r->n++] = t->c;
}

static void pump(struct event_base *base)
{
    for (int i = 0; i < 5; i++) event_base_loop(base, EVLOOP_NONBLOCK);
}

struct fx {
    struct event_base *base;
    struct fake clk;
    struct ratelimit *rl;
    struct rec rec;
    struct tag tags[16];
};

static struct fx *fx_new(enum ratelimit_kind kind, double rate, double burst)
{
    struct fx *f = calloc(1, sizeof *f);
    f->base = event_base_new();
    f->clk.t = 1000.0;
    struct ratelimit_opts o = { .kind = kind, .name = "test", .rate = rate, .burst = burst,
                                .clock = fake_clock, .clock_ud = &f->clk };
    assert_int_equal(ratelimit_new(&f->rl, f->base, &o), 0);
    for (int i = 0; i < 16; i++) f->tags[i] = (struct tag){ &f->rec, (char)('A' + i) };
    return f;
}

static void fx_free(struct fx *f)
{
    ratelimit_free(f->rl);
    event_base_free(f->base);
    free(f);
}

static void advance(struct fx *f, double dt)
{
    f->clk.t += dt;
    ratelimit_kick(f->rl);
    pump(f->base);
}

static void test_token_bucket_timing(void **state)
{
    (void)state;
    struct fx *f = fx_new(RATELIMIT_TOKEN, 10, 2);
    for (int i = 0; i < 5; i++)
        assert_int_equal(ratelimit_acquire(f->rl, 1, RATELIMIT_CATALOG, on_admit, &f->tags[i]), 0);
    assert_int_equal(f->rec.n, 0); /* never inside acquire */
    pump(f->base);
    assert_int_equal(f->rec.n, 2); /* the burst */
    assert_true(fabs(ratelimit_wait_s(f->rl, 1) - 0.1) < 1e-9);
    advance(f, 0.05);
    assert_int_equal(f->rec.n, 2);
    advance(f, 0.05);
    assert_int_equal(f->rec.n, 3);
    advance(f, 0.25);
    assert_int_equal(f->rec.n, 5);
    assert_string_equal(f->rec.order, "ABCDE");
    struct ratelimit_stats st;
    ratelimit_get_stats(f->rl, &st);
    assert_int_equal(st.admitted, 5);
    assert_true(fabs(st.available) < 1e-9); /* 2.5 accrued, capped at the burst of 2 */
    /* waits: C 0.1 s, D and E 0.35 s */
    assert_true(fabs(st.total_wait_ms - 800.0) < 1e-6);
    assert_int_equal(st.waiting[RATELIMIT_CATALOG], 0);
    fx_free(f);
}

static void test_headroom(void **state)
{
    (void)state;
    struct fake clk = { 0 };
    struct event_base *base = event_base_new();
    struct ratelimit *rl;
    struct rec rec = { { 0 }, 0, 0 };
    struct tag tags[4] = { { &rec, 'A' }, { &rec, 'B' }, { &rec, 'C' }, { &rec, 'D' } };
    /* rate 100, 50 ms headroom = 5 tokens kept back: the burst of 10 admits 5 */
    struct ratelimit_opts o = { .kind = RATELIMIT_TOKEN, .rate = 100, .burst = 10,
                                .headroom_s = 0.05, .clock = fake_clock, .clock_ud = &clk };
    assert_int_equal(ratelimit_new(&rl, base, &o), 0);
    for (int i = 0; i < 4; i++) ratelimit_acquire(rl, 2, 0, on_admit, &tags[i]);
    pump(base);
    assert_int_equal(rec.n, 2);
    assert_true(fabs(ratelimit_wait_s(rl, 2) - 0.01) < 1e-9);
    ratelimit_free(rl);
    event_base_free(base);
}

static void test_priority_order(void **state)
{
    (void)state;
    struct fx *f = fx_new(RATELIMIT_TOKEN, 1, 1);
    int prio[] = { RATELIMIT_REPORTS, RATELIMIT_ORDERS, RATELIMIT_INVENTORY, RATELIMIT_ORDERS,
                   RATELIMIT_CATALOG, RATELIMIT_FULFILLMENT };
    for (int i = 0; i < 6; i++)
        assert_int_equal(ratelimit_acquire(f->rl, 1, prio[i], on_admit, &f->tags[i]), 0);
    struct ratelimit_stats st;
    ratelimit_get_stats(f->rl, &st);
    assert_int_equal(st.waiting[RATELIMIT_ORDERS], 2);
    assert_int_equal(st.waiting[RATELIMIT_REPORTS], 1);
    pump(f->base);
    for (int i = 0; i < 6; i++) advance(f, 1.0);
    assert_string_equal(f->rec.order, "BDFCEA");
    /* A resend goes to the head of its class, ahead of earlier waiters of that class. */
    memset(&f->rec, 0, sizeof f->rec);
    advance(f, 0.0);
    ratelimit_acquire(f->rl, 1, RATELIMIT_ORDERS, on_admit, &f->tags[0]);
    ratelimit_acquire(f->rl, 1, RATELIMIT_ORDERS, on_admit, &f->tags[1]);
    ratelimit_reacquire(f->rl, 1, RATELIMIT_ORDERS, on_admit, &f->tags[2]);
    pump(f->base);
    advance(f, 1.0);
    advance(f, 1.0);
    assert_string_equal(f->rec.order, "CAB");
    fx_free(f);
}

static void test_retry_after_blocks(void **state)
{
    (void)state;
    struct fx *f = fx_new(RATELIMIT_TOKEN, 10, 5);
    ratelimit_on_429(f->rl, 2.0);
    for (int i = 0; i < 3; i++) ratelimit_acquire(f->rl, 1, RATELIMIT_ORDERS, on_admit, &f->tags[i]);
    pump(f->base);
    assert_int_equal(f->rec.n, 0);
    advance(f, 1.0);
    assert_int_equal(f->rec.n, 0);
    advance(f, 0.999);
    assert_int_equal(f->rec.n, 0);
    struct ratelimit_stats st;
    ratelimit_get_stats(f->rl, &st);
    assert_true(st.blocked_for_s > 0 && st.blocked_for_s < 0.0011);
    advance(f, 0.001);
    assert_int_equal(f->rec.n, 1); /* one request's worth at the end of the block, no burst */
    advance(f, 1.0 / 8);           /* the rate is now 8/s */
    assert_int_equal(f->rec.n, 2);
    ratelimit_get_stats(f->rl, &st);
    assert_int_equal(st.rate_limited, 1);
    assert_true(fabs(st.rate - 8.0) < 1e-9);
    fx_free(f);
}

/* A day's Retry-After blocks for the cap, not the day: the next request asks again. */
static void test_retry_after_capped(void **state)
{
    (void)state;
    struct fx *f = fx_new(RATELIMIT_TOKEN, 10, 5);
    ratelimit_on_429(f->rl, 86400.0);
    ratelimit_acquire(f->rl, 1, RATELIMIT_ORDERS, on_admit, &f->tags[0]);
    pump(f->base);
    struct ratelimit_stats st;
    ratelimit_get_stats(f->rl, &st);
    assert_true(st.blocked_for_s > RATELIMIT_MAX_RETRY_AFTER_S - 0.001 &&
                st.blocked_for_s <= RATELIMIT_MAX_RETRY_AFTER_S);
    advance(f, RATELIMIT_MAX_RETRY_AFTER_S - 0.01);
    assert_int_equal(f->rec.n, 0);
    advance(f, 0.02);
    assert_int_equal(f->rec.n, 1);
    fx_free(f);
}

static void test_adaptive_decrease_and_recovery(void **state)
{
    (void)state;
    struct fx *f = fx_new(RATELIMIT_TOKEN, 10, 5);
    struct ratelimit_stats st;
    ratelimit_on_429(f->rl, 0.1);
    ratelimit_on_429(f->rl, 0.1); /* same burst of 429s: counted, not compounded */
    ratelimit_get_stats(f->rl, &st);
    assert_true(fabs(st.rate - 8.0) < 1e-9);
    assert_int_equal(st.rate_limited, 2);
    f->clk.t += 1.0;
    for (int i = 0; i < 100; i++) ratelimit_on_success(f->rl);
    ratelimit_get_stats(f->rl, &st);
    assert_true(fabs(st.rate - 8.0) < 1e-9); /* held for 5 s after a 429 */
    f->clk.t += 4.0;
    for (int i = 0; i < 49; i++) ratelimit_on_success(f->rl);
    ratelimit_get_stats(f->rl, &st);
    assert_true(fabs(st.rate - 8.0) < 1e-9);
    ratelimit_on_success(f->rl);
    ratelimit_get_stats(f->rl, &st);
    assert_true(fabs(st.rate - 8.5) < 1e-9); /* additive: +5 % of the configured rate */
    for (int i = 0; i < 100; i++) ratelimit_on_success(f->rl);
    ratelimit_get_stats(f->rl, &st);
    assert_true(fabs(st.rate - 8.5) < 1e-9); /* one step per 2 s at most */
    for (int k = 0; k < 5; k++) {
        f->clk.t += 2.0;
        for (int i = 0; i < 50; i++) ratelimit_on_success(f->rl);
    }
    ratelimit_get_stats(f->rl, &st);
    assert_true(fabs(st.rate - 9.5) < 1e-9); /* stays under the rate that drew the 429 */
    f->clk.t += 601;
    for (int i = 0; i < 50; i++) ratelimit_on_success(f->rl);
    f->clk.t += 2.0;
    for (int i = 0; i < 50; i++) ratelimit_on_success(f->rl);
    ratelimit_get_stats(f->rl, &st);
    assert_true(fabs(st.rate - 10.0) < 1e-9); /* never above the configured rate */
    /* Repeated 429s a second apart drive it to the floor (rate / 10), not below. */
    for (int i = 0; i < 30; i++) {
        f->clk.t += 1.0;
        ratelimit_on_429(f->rl, 0);
    }
    ratelimit_get_stats(f->rl, &st);
    assert_true(fabs(st.rate - 1.0) < 1e-9);
    fx_free(f);
}

static void test_cost_admission_and_refund(void **state)
{
    (void)state;
    struct fx *f = fx_new(RATELIMIT_COST, 100, 2000);
    struct ratelimit_stats st;
    ratelimit_acquire(f->rl, 1500, RATELIMIT_ORDERS, on_admit, &f->tags[0]);
    ratelimit_acquire(f->rl, 800, RATELIMIT_ORDERS, on_admit, &f->tags[1]);
    pump(f->base);
    assert_int_equal(f->rec.n, 1);
    assert_true(fabs(ratelimit_wait_s(f->rl, 800) - 3.0) < 1e-9);
    /* Shopify charged 1400 (actual) and reports 600 left: the mirror takes its word. */
    struct ratelimit_cost_status cs = { 2000, 600, 100 };
    ratelimit_cost_settle(f->rl, 1500, &cs, -1, 0);
    assert_true(fabs(ratelimit_wait_s(f->rl, 800) - 2.0) < 1e-9);
    advance(f, 1.99);
    assert_int_equal(f->rec.n, 1);
    advance(f, 0.01);
    assert_int_equal(f->rec.n, 2);
    /* Without a throttleStatus, the actual cost refunds requested - actual. */
    ratelimit_get_stats(f->rl, &st);
    double before = st.available;
    ratelimit_cost_settle(f->rl, 800, NULL, 300, 0);
    ratelimit_get_stats(f->rl, &st);
    assert_true(fabs(st.available - before - 500) < 1e-6);
    fx_free(f);
}

static void test_cost_inflight_not_double_counted(void **state)
{
    (void)state;
    struct fx *f = fx_new(RATELIMIT_COST, 100, 2000);
    struct ratelimit_stats st;
    ratelimit_acquire(f->rl, 100, RATELIMIT_ORDERS, on_admit, &f->tags[0]);
    ratelimit_acquire(f->rl, 100, RATELIMIT_ORDERS, on_admit, &f->tags[1]);
    pump(f->base);
    assert_int_equal(f->rec.n, 2);
    /* A's response: Shopify has 1000 left, but B (still in flight) will take its 100 too. */
    struct ratelimit_cost_status cs = { 2000, 1000, 100 };
    ratelimit_cost_settle(f->rl, 100, &cs, -1, 0);
    ratelimit_get_stats(f->rl, &st);
    assert_true(fabs(st.available - 900) < 1e-6);
    fx_free(f);
}

static void test_throttled_wait(void **state)
{
    (void)state;
    struct fx *f = fx_new(RATELIMIT_COST, 100, 2000);
    struct ratelimit_stats st;
    ratelimit_acquire(f->rl, 862, RATELIMIT_INVENTORY, on_admit, &f->tags[0]);
    pump(f->base);
    assert_int_equal(f->rec.n, 1);
    /* The research doc's THROTTLED example: requested 862, available 572, restore 200. */
    struct ratelimit_cost_status cs = { 4000, 572, 200 };
    ratelimit_cost_settle(f->rl, 862, &cs, -1, 1);
    assert_true(fabs(ratelimit_wait_s(f->rl, 862) - 1.45) < 1e-9);
    ratelimit_reacquire(f->rl, 862, RATELIMIT_INVENTORY, on_admit, &f->tags[1]);
    pump(f->base);
    advance(f, 1.44);
    assert_int_equal(f->rec.n, 1);
    advance(f, 0.01);
    assert_int_equal(f->rec.n, 2);
    ratelimit_get_stats(f->rl, &st);
    assert_int_equal(st.throttled, 1);
    assert_true(fabs(st.capacity - 4000) < 1e-9);
    assert_true(fabs(st.rate - 200) < 1e-9);
    /* A cost above the bucket is clamped, so it cannot wait forever. */
    ratelimit_acquire(f->rl, 1e9, RATELIMIT_REPORTS, on_admit, &f->tags[2]);
    advance(f, 20.0);
    assert_int_equal(f->rec.n, 3);
    fx_free(f);
}

static void test_free_cancels_waiters(void **state)
{
    (void)state;
    struct fx *f = fx_new(RATELIMIT_TOKEN, 1, 1);
    for (int i = 0; i < 4; i++) ratelimit_acquire(f->rl, 1, i, on_admit, &f->tags[i]);
    pump(f->base);
    struct rec *r = malloc(sizeof *r);
    *r = f->rec;
    for (int i = 0; i < 16; i++) f->tags[i].r = r;
    ratelimit_free(f->rl);
    assert_int_equal(r->n, 1);
    assert_int_equal(r->cancelled, 3);
    assert_int_equal(ratelimit_new(&f->rl, f->base, &(struct ratelimit_opts){ .rate = 0 }), -1);
    event_base_free(f->base);
    free(r);
    free(f);
}

struct realrec { int n; double t[8]; };

static void on_real(void *ud, int admitted)
{
    struct realrec *r = ud;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    if (admitted) r->t[r->n++] = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_real_timers(void **state)
{
    (void)state;
    struct event_base *base = event_base_new();
    struct ratelimit *rl;
    struct ratelimit_opts o = { .kind = RATELIMIT_TOKEN, .name = "real", .rate = 50, .burst = 1 };
    struct realrec r = { 0, { 0 } };
    assert_int_equal(ratelimit_new(&rl, base, &o), 0);
    for (int i = 0; i < 6; i++) ratelimit_acquire(rl, 1, RATELIMIT_ORDERS, on_real, &r);
    event_base_dispatch(base); /* returns once no timer is pending */
    assert_int_equal(r.n, 6);
    double span = r.t[5] - r.t[0];
    assert_true(span >= 0.099 && span < 0.25);
    for (int i = 1; i < 6; i++) assert_true(r.t[i] - r.t[i - 1] >= 0.0195);
    ratelimit_free(rl);
    event_base_free(base);
}

int main(void)
{
    log_setup(LOG_ERROR, LOG_LOGFMT, NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_token_bucket_timing),
        cmocka_unit_test(test_headroom),
        cmocka_unit_test(test_priority_order),
        cmocka_unit_test(test_retry_after_blocks),
        cmocka_unit_test(test_retry_after_capped),
        cmocka_unit_test(test_adaptive_decrease_and_recovery),
        cmocka_unit_test(test_cost_admission_and_refund),
        cmocka_unit_test(test_cost_inflight_not_double_counted),
        cmocka_unit_test(test_throttled_wait),
        cmocka_unit_test(test_free_cancels_waiters),
        cmocka_unit_test(test_real_timers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
