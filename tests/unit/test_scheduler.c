/* Unit tests for src/scheduler.c: cron parsing, next/previous fire times (TZ=UTC), the
 * schedules config entry checks, and ticking with catch-up after downtime on a real store. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "config.h"
#include "log.h"
#include "scheduler.h"
#include "store.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define T0 1735689600LL          /* 2025-01-01T00:00:00Z, a Wednesday */
#define MIN 60LL
#define HOUR 3600LL
#define DAY 86400LL

static struct scheduler_cron parse(const char *expr)
{
    struct scheduler_cron c;
    char err[256];
    if (scheduler_cron_parse(expr, &c, err, sizeof err)) fail_msg("%s: %s", expr, err);
    return c;
}

static void test_parse_errors(void **state)
{
    (void)state;
    const char *bad[] = { "61 * * * *", "* * *", "* * * * * *", "a b c d e", "1- * * * *",
                          "5-1 * * * *", "*/0 * * * *", "* 24 * * *", "* * 0 * *",
                          "* * * 13 *", "* * * * 8", "1,,2 * * * *", "1, * * * *", "" };
    struct scheduler_cron c;
    char err[256];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        if (scheduler_cron_parse(bad[i], &c, err, sizeof err) == 0) fail_msg("accepted '%s'", bad[i]);
        assert_true(err[0] != '\0');
    }
    assert_int_equal(scheduler_cron_parse("61 * * * *", &c, err, sizeof err), -1);
    assert_non_null(strstr(err, "minute"));
    c = parse("0 9 * jan-mar mon-fri");
    assert_int_equal(c.months, (1u << 1) | (1u << 2) | (1u << 3));
    assert_int_equal(c.weekdays, 0x3e);
    c = parse("0 0 * * 7");
    assert_int_equal(c.weekdays, 1);              /* 7 is Sunday */
    c = parse("5/20 * * * *");
    assert_int_equal(c.minutes, (1ULL << 5) | (1ULL << 25) | (1ULL << 45));
}

static void test_next_and_prev(void **state)
{
    (void)state;
    struct scheduler_cron c = parse("*/5 * * * *");
    assert_int_equal(scheduler_cron_next(&c, T0), T0 + 5 * MIN);
    assert_int_equal(scheduler_cron_next(&c, T0 + 1), T0 + 5 * MIN);
    assert_int_equal(scheduler_cron_prev(&c, T0), T0);
    assert_int_equal(scheduler_cron_prev(&c, T0 + 299), T0);
    c = parse("0 3 * * *");
    assert_int_equal(scheduler_cron_next(&c, T0), T0 + 3 * HOUR);
    assert_int_equal(scheduler_cron_prev(&c, T0), T0 - 21 * HOUR);
    c = parse("@daily");
    assert_int_equal(scheduler_cron_next(&c, T0), T0 + DAY);
    c = parse("0 0 29 2 *");                       /* the next leap day */
    struct tm tm = { .tm_year = 128, .tm_mon = 1, .tm_mday = 29 };
    assert_int_equal(scheduler_cron_next(&c, T0), (int64_t)timegm(&tm));
    c = parse("0 0 1 * 1");                        /* the 1st OR a Monday, as cron does */
    assert_int_equal(scheduler_cron_next(&c, T0), T0 + 5 * DAY);
    assert_int_equal(scheduler_cron_next(&c, T0 + 5 * DAY), T0 + 12 * DAY);
    c = parse("0 0 1 * *");
    assert_int_equal(scheduler_cron_prev(&c, T0 - 1), T0 - 31 * DAY);
    c = parse("30 12 * * sat");
    assert_int_equal(scheduler_cron_next(&c, T0), T0 + 3 * DAY + 12 * HOUR + 30 * MIN);
    c = parse("0 0 31 2 *");
    assert_int_equal(scheduler_cron_next(&c, T0), -1);
    char err[256];
    assert_int_equal(scheduler_validate("x", "0 0 31 2 *", err, sizeof err), -1);
    assert_non_null(strstr(err, "never fires"));
    assert_int_equal(scheduler_validate("bad name", "* * * * *", err, sizeof err), -1);
}

static void test_config_schedules(void **state)
{
    (void)state;
    struct config cfg;
    char err[512];
    config_defaults(&cfg);
    assert_int_equal(config_load_string(&cfg, "return { schedules = { ping = \"*/5 * * * *\","
                     " reconcile = \"0 3 * * *\" } }", "t.lua", err, sizeof err), 0);
    assert_int_equal(cfg.schedules.n, 2);
    config_free(&cfg);
    config_defaults(&cfg);
    assert_int_equal(config_load_string(&cfg, "return { schedules = { nightly = \"0 25 * * *\" } }",
                                        "t.lua", err, sizeof err), -1);
    assert_non_null(strstr(err, "schedules.nightly"));
    assert_non_null(strstr(err, "hour"));
    assert_int_equal(config_load_string(&cfg, "return { schedules = { nightly = 3 } }", "t.lua",
                                        err, sizeof err), -1);
    assert_non_null(strstr(err, "schedules"));
    assert_int_equal(config_load_string(&cfg, "return { schedules = \"0 3 * * *\" }", "t.lua",
                                        err, sizeof err), -1);
    config_free(&cfg);
}

static int64_t count_topic(struct store *st, const char *topic, int *catch_ups)
{
    int64_t n = 0, total = store_event_count(st);
    *catch_ups = 0;
    for (int64_t id = 1; id <= total; id++) {
        struct store_event ev;
        if (store_event_get(st, id, &ev)) continue;
        if (strcmp(ev.topic, topic) == 0) {
            n++;
            json_t *b = json_loads(ev.body, 0, NULL);
            *catch_ups += json_is_true(json_object_get(b, "catch_up"));
            json_decref(b);
        }
        store_event_free(&ev);
    }
    return n;
}

static void notified(void *ud) { (*(int *)ud)++; }

static void test_tick_and_catch_up(void **state)
{
    (void)state;
    char path[600], err[512];
    const char *dir = getenv("EZSYNC_TEST_TMP");
    snprintf(path, sizeof path, "%s/scheduler-%d.db", dir && *dir ? dir : "/tmp", (int)getpid());
    unlink(path);
    struct store *st;
    assert_int_equal(store_open(&st, path, 0, err, sizeof err), 0);
    struct config cfg;
    config_defaults(&cfg);
    assert_int_equal(config_load_string(&cfg, "return { schedules = { ping = \"*/5 * * * *\","
                     " nightly = \"0 3 * * *\" } }", "t.lua", err, sizeof err), 0);
    int notes = 0;
    struct scheduler *s = scheduler_new(NULL, st, &cfg, notified, &notes);
    assert_non_null(s);
    int cu;
    /* first start, between fire times: the past is not replayed */
    assert_int_equal(scheduler_tick(s, T0 + 2 * MIN), 0);
    assert_int_equal(scheduler_tick(s, T0 + 5 * MIN + 10), 1);
    assert_int_equal(scheduler_tick(s, T0 + 5 * MIN + 40), 0);     /* same minute: once */
    assert_int_equal(notes, 1);
    assert_int_equal(scheduler_tick(s, T0 + 3 * HOUR), 2);        /* both fire */
    assert_int_equal(count_topic(st, "schedule/nightly", &cu), 1);
    /* three days down: one catch-up run each, the latest, not one per missed time */
    assert_int_equal(scheduler_tick(s, T0 + 3 * DAY + 4 * HOUR + 2 * MIN), 2);
    assert_int_equal(count_topic(st, "schedule/nightly", &cu), 2);
    assert_int_equal(cu, 1);
    assert_int_equal(count_topic(st, "schedule/ping", &cu), 3);
    assert_int_equal(cu, 1);
    struct store_event ev;
    /* a restarted scheduler (state in kv) does not fire again for the same minute */
    scheduler_free(s);
    s = scheduler_new(NULL, st, &cfg, notified, &notes);
    assert_int_equal(scheduler_tick(s, T0 + 3 * DAY + 4 * HOUR + 3 * MIN), 0);
    char key[64];
    snprintf(key, sizeof key, "schedule:nightly:%lld", (long long)((T0 + 3 * DAY + 3 * HOUR) / 60));
    int found = 0;
    for (int64_t id = 1; id <= store_event_count(st); id++) {
        assert_int_equal(store_event_get(st, id, &ev), 0);
        found += strcmp(ev.dedupe_key, key) == 0 && strcmp(ev.source, "schedule") == 0;
        store_event_free(&ev);
    }
    assert_int_equal(found, 1);
    scheduler_free(s);
    config_free(&cfg);
    store_close(st);
    unlink(path);
}

int main(void)
{
    setenv("TZ", "UTC", 1);
    tzset();
    log_setup(LOG_ERROR, LOG_LOGFMT, NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_next_and_prev),
        cmocka_unit_test(test_config_schedules),
        cmocka_unit_test(test_tick_and_catch_up),
    };
    return cmocka_run_group_tests_name("scheduler", tests, NULL, NULL);
}
