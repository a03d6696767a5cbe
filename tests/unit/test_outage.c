/* Unit tests for src/outage.c: when a remote counts as down, how long jobs wait for it, and
 * what brings it back. The clock is passed in, so every case is exact. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "outage.h"

enum { SHOP = 0, OEZ = 1 };

/* Signals below the threshold cost attempts as usual; the third in a row takes it down. */
static void test_three_signals_in_a_row(void **state)
{
    (void)state;
    struct outage o;
    int down = 0;
    outage_init(&o, 30000);
    assert_int_equal(outage_failure(&o, OEZ, 0, 0, 1000, &down), 0);
    assert_int_equal(down, 0);
    assert_int_equal(outage_failure(&o, OEZ, 502, 0, 1001, &down), 0);
    assert_int_equal(o.r[OEZ].down, 0);
    assert_int_equal(outage_failure(&o, OEZ, 504, 0, 1002, &down), 1002 + OUTAGE_PROBE_MIN_MS);
    assert_int_equal(down, 1);
    assert_int_equal(o.r[OEZ].down, 1);
    assert_int_equal(o.r[OEZ].outages, 1);
    assert_int_equal(o.r[SHOP].down, 0);   /* per remote */
    /* Stragglers of the same round: held until the same time, and it does not go down twice. */
    assert_int_equal(outage_failure(&o, OEZ, 0, 0, 1500, &down), 1002 + OUTAGE_PROBE_MIN_MS);
    assert_int_equal(down, 0);
    assert_int_equal(o.r[OEZ].outages, 1);
    assert_int_equal(o.r[OEZ].holds, 2);
    /* The gate: held until the probe time while down; never for the other remote. */
    assert_int_equal(outage_gate(&o, OEZ, 1600), 2002);
    assert_int_equal(outage_gate(&o, SHOP, 1600), 0);
    assert_int_equal(outage_gate(&o, OUTAGE_REMOTES, 1600), 0);
    /* At the probe time one call goes through; the next ones wait for its answer. */
    assert_int_equal(outage_gate(&o, OEZ, 2002), 0);
    assert_int_equal(outage_gate(&o, OEZ, 2003), 3002);
    /* The probe fails: the next round is twice as far. */
    assert_int_equal(outage_failure(&o, OEZ, 0, 0, 2010, &down), 2010 + 2 * OUTAGE_PROBE_MIN_MS);
    assert_int_equal(outage_gate(&o, OEZ, 2011), 2010 + 2 * OUTAGE_PROBE_MIN_MS);
    /* A probe that never answers: another goes after the first hold's length. */
    assert_int_equal(outage_gate(&o, OEZ, 4010), 0);
    assert_int_equal(outage_gate(&o, OEZ, 4500), 5010);
    assert_int_equal(outage_gate(&o, OEZ, 5010), 0);
    /* An answer opens it. */
    outage_answer(&o, OEZ, 5100);
    assert_int_equal(outage_gate(&o, OEZ, 5100), 0);
    assert_int_equal(outage_gate(&o, OEZ, 5101), 0);
}

/* An answer between two signals means the remote is there: the count starts over. */
static void test_answer_resets(void **state)
{
    (void)state;
    struct outage o;
    int down = 0;
    outage_init(&o, 30000);
    outage_failure(&o, OEZ, 0, 0, 0, &down);
    outage_failure(&o, OEZ, 0, 0, 1, &down);
    assert_int_equal(outage_answer(&o, OEZ, 2), -1);   /* was not down */
    assert_int_equal(outage_failure(&o, OEZ, 0, 0, 3, &down), 0);
    assert_int_equal(outage_failure(&o, OEZ, 0, 0, 4, &down), 0);
    assert_int_equal(o.r[OEZ].down, 0);
    /* A 500 or a 429 is an answer too: this request failed, the remote did not. */
    assert_int_equal(outage_failure(&o, OEZ, 500, 0, 5, &down), 0);
    assert_int_equal(outage_failure(&o, OEZ, 0, 0, 6, &down), 0);
    assert_int_equal(outage_failure(&o, OEZ, 429, 3.0, 7, &down), 0);
    assert_int_equal(outage_failure(&o, OEZ, 0, 0, 8, &down), 0);
    assert_int_equal(outage_failure(&o, OEZ, 0, 0, 9, &down), 0);
    assert_int_equal(o.r[OEZ].down, 0);
    assert_true(outage_failure(&o, OEZ, 0, 0, 10, &down) > 0);
    /* Back: says how long it was down, and the next failure counts from zero again. */
    assert_int_equal(outage_answer(&o, OEZ, 5010), 5000);
    assert_int_equal(o.r[OEZ].down, 0);
    assert_int_equal(outage_failure(&o, OEZ, 0, 0, 5011, &down), 0);
}

/* Each failed probe round doubles the hold, up to the cap. */
static void test_holds_double_to_the_cap(void **state)
{
    (void)state;
    struct outage o;
    int down = 0;
    outage_init(&o, 5000);
    int64_t t = 0, until = 0;
    for (int i = 0; i < 3; i++) until = outage_failure(&o, SHOP, 0, 0, t, &down);
    assert_int_equal(until, 1000);
    const int64_t want[] = { 2000, 4000, 5000, 5000 };
    for (int i = 0; i < 4; i++) {
        t = until;                                   /* the round released at hold_until */
        until = outage_failure(&o, SHOP, 0, 0, t, &down);
        assert_int_equal(until - t, want[i]);
        assert_int_equal(down, 0);
    }
    /* A short cap also shortens the first hold. */
    outage_init(&o, 20);
    for (int i = 0; i < 3; i++) until = outage_failure(&o, SHOP, 0, 0, 100, &down);
    assert_int_equal(until, 120);
}

/* A 503 that says Retry-After is believed at once, and no hold ends before it; a Retry-After
 * beyond the cap is clamped to it. */
static void test_retry_after(void **state)
{
    (void)state;
    struct outage o;
    int down = 0;
    outage_init(&o, 30000);
    assert_int_equal(outage_failure(&o, OEZ, 503, 12.0, 1000, &down), 13000);
    assert_int_equal(down, 1);
    assert_int_equal(outage_failure(&o, OEZ, 503, 10.0, 2000, &down), 13000);  /* earlier: kept */
    outage_init(&o, 30000);
    assert_int_equal(outage_failure(&o, OEZ, 503, 86400.0, 0, &down), 30000);
    /* Retry-After on a 502 is not enough on its own (only a 503 says "unavailable"). */
    outage_init(&o, 30000);
    assert_int_equal(outage_failure(&o, OEZ, 502, 5.0, 0, &down), 0);
    assert_int_equal(down, 0);
}

/* The engine pauses while a core remote is down, until the latest hold among them ends. */
static void test_paused_until(void **state)
{
    (void)state;
    struct outage o;
    int down = 0;
    const unsigned core = 1u << SHOP | 1u << OEZ;
    outage_init(&o, 30000);
    assert_int_equal(outage_paused_until(&o, core, 0), 0);
    outage_failure(&o, 2, 503, 10.0, 0, &down);             /* the notify sink: not core */
    assert_int_equal(o.r[2].down, 1);
    assert_int_equal(outage_paused_until(&o, core, 0), 0);
    assert_int_equal(outage_paused_until(&o, 1u << 2, 0), 10000);
    outage_failure(&o, OEZ, 503, 5.0, 0, &down);
    outage_failure(&o, SHOP, 503, 7.0, 0, &down);
    assert_int_equal(outage_paused_until(&o, core, 100), 7000);
    assert_int_equal(outage_paused_until(&o, 1u << OEZ, 100), 5000);
    assert_int_equal(outage_paused_until(&o, core, 7000), 0); /* probe time: running again */
    outage_answer(&o, SHOP, 200);
    assert_int_equal(outage_paused_until(&o, core, 300), 5000);
}

static void test_signals_and_bad_remote(void **state)
{
    (void)state;
    assert_true(outage_is_signal(0));
    assert_true(outage_is_signal(502));
    assert_true(outage_is_signal(503));
    assert_true(outage_is_signal(504));
    assert_false(outage_is_signal(500));
    assert_false(outage_is_signal(429));
    assert_false(outage_is_signal(408));
    assert_false(outage_is_signal(200));
    struct outage o;
    int down = 1;
    outage_init(&o, 1000);
    assert_int_equal(outage_failure(&o, OUTAGE_REMOTES, 0, 0, 0, &down), 0);
    assert_int_equal(down, 0);
    assert_int_equal(outage_failure(&o, -1, 0, 0, 0, &down), 0);
    assert_int_equal(outage_answer(&o, OUTAGE_REMOTES, 0), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_three_signals_in_a_row),
        cmocka_unit_test(test_answer_resets),
        cmocka_unit_test(test_holds_double_to_the_cap),
        cmocka_unit_test(test_retry_after),
        cmocka_unit_test(test_paused_until),
        cmocka_unit_test(test_signals_and_bad_remote),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
