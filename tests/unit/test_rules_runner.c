/* Unit tests for src/rules_runner.c: the engine's runner over the real rules host and a real
 * SQLite store — topic naming, the event envelope, yields as engine calls, the audit of a
 * handler's result, topics without a rule, and ez.emit storing an event. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "config.h"
#include "log.h"
#include "rules.h"
#include "rules_runner.h"
#include "store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static char dir[512];
static struct rules *rules;
static struct store *st;
static int emitted;

static void on_emit(void *ud) { (void)ud; emitted++; }

static const char rule[] =
    "return { on = {\n"
    "  ['shopify/orders/create'] = function(ev)\n"
    "    local res = ez.orderez.request('POST', '/distributor/orders', { body = { ref = ev.payload.id } })\n"
    "    if res.status ~= 201 then error('refused: ' .. res.status) end\n"
    "    ez.idmap.put('order', ev.payload.id, res.body.data.id)\n"
    "    return { synced = res.body.data.id, topic = ev.topic, source = ev.source }\n"
    "  end,\n"
    "  ['shopify/orders/updated'] = function(ev) return { skipped = 'test order' } end,\n"
    "  ['orderez/order.created'] = function(ev) ez.emit('rule/hello', { n = ev.payload.n }) end,\n"
    "} }\n";

static int setup(void **state)
{
    (void)state;
    char path[600], err[512];
    snprintf(dir, sizeof dir, "/tmp/ezsync-runner-XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/r.lua", dir);
    FILE *f = fopen(path, "w");
    fputs(rule, f);
    fclose(f);
    log_setup(LOG_ERROR, LOG_LOGFMT, NULL);
    struct config cfg;
    config_defaults(&cfg);
    free(cfg.rules_dir);
    cfg.rules_dir = strdup(dir);
    if (rules_open(&rules, &cfg, err, sizeof err)) fail_msg("%s", err);
    config_free(&cfg);
    snprintf(path, sizeof path, "%s/x.db", dir);
    if (store_open(&st, path, 0, err, sizeof err)) fail_msg("%s", err);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    rules_close(rules);
    store_close(st);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void test_topic_names(void **state)
{
    (void)state;
    char t[64];
    rules_runner_topic("shopify", "orders/create", t, sizeof t);
    assert_string_equal(t, "shopify/orders/create");
    rules_runner_topic("orderez", "orderez/order.created", t, sizeof t);
    assert_string_equal(t, "orderez/order.created");
    rules_runner_topic("schedule", "schedule/ping", t, sizeof t);
    assert_string_equal(t, "schedule/ping");
}

static struct engine_runner make(struct rules_runner *rr)
{
    struct engine_runner er;
    memset(rr, 0, sizeof *rr);
    rr->rules = rules;
    rr->store = st;
    rr->on_emit = on_emit;
    rules_runner_init(rr, &er);
    return er;
}

static void test_a_run_yields_calls_and_audits_its_result(void **state)
{
    (void)state;
    struct rules_runner rr;
    struct engine_runner er = make(&rr);
    struct engine_job_info job = { .id = 7, .event_id = 70, .topic = "orders/create",
                                   .source = "shopify", .entity_key = "shopify:buyer:1" };
    void *run = NULL;
    struct engine_io io;
    assert_int_equal(er.start(er.ud, &job, "{\"id\":820982911946154508}", &run, &io), ENGINE_RUN_WAIT);
    assert_int_equal(io.kind, ENGINE_IO_ORDEREZ);
    assert_string_equal(io.method, "POST");
    assert_string_equal(io.path, "/distributor/orders");
    assert_string_equal(io.body, "{\"ref\":820982911946154508}");
    assert_int_equal(er.resume(er.ud, run, 201, "{\"data\":{\"id\":10001}}", NULL, &io), ENGINE_RUN_DONE);
    er.finish(er.ud, run);
    char *v = NULL;
    assert_int_equal(store_idmap_get_orderez(st, "order", "820982911946154508", &v), 0);
    assert_string_equal(v, "10001");
    free(v);
}

static void test_a_permanent_answer_fails_the_run_with_the_rule_error(void **state)
{
    (void)state;
    struct rules_runner rr;
    struct engine_runner er = make(&rr);
    struct engine_job_info job = { .id = 8, .event_id = 80, .topic = "orders/create",
                                   .source = "shopify", .entity_key = "x" };
    void *run = NULL;
    struct engine_io io;
    assert_int_equal(er.start(er.ud, &job, "{\"id\":5}", &run, &io), ENGINE_RUN_WAIT);
    assert_int_equal(er.resume(er.ud, run, 422, "{\"error\":{}}", "HTTP 422", &io), ENGINE_RUN_FAILED);
    assert_non_null(strstr(er.error(er.ud, run), "refused: 422"));
    assert_false(er.error_is_transient(er.ud, run));
    er.finish(er.ud, run);
    /* a transport failure is transient: the engine retries the job */
    assert_int_equal(er.start(er.ud, &job, "{\"id\":5}", &run, &io), ENGINE_RUN_WAIT);
    assert_int_equal(er.resume(er.ud, run, 0, NULL, "connection refused", &io), ENGINE_RUN_FAILED);
    assert_true(er.error_is_transient(er.ud, run));
    er.finish(er.ud, run);
}

static void test_skips_are_audited_and_unknown_topics_are_done(void **state)
{
    (void)state;
    struct rules_runner rr;
    struct engine_runner er = make(&rr);
    struct engine_job_info job = { .id = 9, .event_id = 90, .topic = "orders/updated",
                                   .source = "shopify", .entity_key = "shopify:buyer:2" };
    void *run = NULL;
    struct engine_io io;
    assert_int_equal(er.start(er.ud, &job, "{\"id\":6}", &run, &io), ENGINE_RUN_DONE);
    er.finish(er.ud, run);
    job.topic = "products/update"; /* no rule handles it: nothing to do, not a failure */
    assert_int_equal(er.start(er.ud, &job, "{\"id\":6}", &run, &io), ENGINE_RUN_DONE);
    assert_null(run);
    /* the store has no audit reader (the admin API will get one); the sqlite3 CLI reads it */
    char cmd[1400], path[600];
    snprintf(cmd, sizeof cmd, "sqlite3 '%s/x.db' \"SELECT action || '|' || entity || '|' || detail"
             " FROM audit WHERE job_id = 9\" > '%s/audit.txt'", dir, dir);
    assert_int_equal(system(cmd), 0);
    snprintf(path, sizeof path, "%s/audit.txt", dir);
    FILE *f = fopen(path, "r");
    char line[256] = "";
    assert_non_null(fgets(line, sizeof line, f));
    fclose(f);
    assert_string_equal(line, "skipped|shopify:buyer:2|{\"skipped\":\"test order\"}\n");
}

static void test_emit_stores_an_event_once_per_job_and_step(void **state)
{
    (void)state;
    struct rules_runner rr;
    struct engine_runner er = make(&rr);
    struct engine_job_info job = { .id = 11, .event_id = 110, .topic = "orderez/order.created",
                                   .source = "orderez", .entity_key = "orderez:order:1" };
    void *run = NULL;
    struct engine_io io;
    int64_t before = store_event_count(st);
    emitted = 0;
    assert_int_equal(er.start(er.ud, &job, "{\"n\":3}", &run, &io), ENGINE_RUN_DONE);
    er.finish(er.ud, run);
    assert_int_equal(store_event_count(st), before + 1);
    assert_int_equal(emitted, 1);
    /* the same job replayed (a retry) emits nothing new */
    assert_int_equal(er.start(er.ud, &job, "{\"n\":3}", &run, &io), ENGINE_RUN_DONE);
    er.finish(er.ud, run);
    assert_int_equal(store_event_count(st), before + 1);
    assert_int_equal(emitted, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_topic_names),
        cmocka_unit_test(test_a_run_yields_calls_and_audits_its_result),
        cmocka_unit_test(test_a_permanent_answer_fails_the_run_with_the_rule_error),
        cmocka_unit_test(test_skips_are_audited_and_unknown_topics_are_done),
        cmocka_unit_test(test_emit_stores_an_event_once_per_job_and_step),
    };
    return cmocka_run_group_tests_name("rules_runner", tests, setup, teardown);
}
