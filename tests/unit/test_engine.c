/* Unit tests for src/engine.c (+ engine_topics.c): real SQLite files, the real libevent loop,
 * a scripted fake runner and a table-driven fake remote (engine_fakes.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "config.h"
#include "engine.h"
#include "engine_fakes.h"
#include "engine_fixture.h"
#include "journal.h"
#include "log.h"
#include "store.h"

#include <inttypes.h>
#include <jansson.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- ordering and priorities ---- */

static struct fake_script one_call[] = {
    { "orders/updated", { { 1, "POST", "/x", "{\"a\":1}" } }, 1, 0, 0, NULL },
    { "orders/create", { { 1, "POST", "/orders", "{}" } }, 1, 0, 0, NULL },
    { "products/update", { { 1, "PATCH", "/products", "{}" } }, 1, 0, 0, NULL },
};

static void test_ordering_per_entity(void **state)
{
    (void)state;
    struct fx f;
    fx_open(&f, "order");
    f.fr.scripts = one_call;
    f.fr.nscripts = 3;
    f.fm.delay_ms = 2;
    f.fm.vary_delay = 1;
    const char *ids[] = { "1001", "1002", "1003", "820982911946154508" };
    int64_t evs[24];
    for (int i = 0; i < 24; i++) evs[i] = add_order_event(&f, "orders/updated", ids[i % 4], i);
    fx_engine(&f);
    assert_true(wait_state(&f, STORE_JOB_DONE, 24, 5000));
    assert_int_equal(f.fr.overlap_violations, 0);
    assert_true(f.fr.max_active > 1);          /* concurrency was used ... */
    assert_true(f.fr.max_active <= 4);         /* ... within engine.concurrency */
    /* per entity, jobs started in event order */
    for (int e = 0; e < 4; e++) {
        int64_t last = 0;
        char key[64];
        snprintf(key, sizeof key, "shopify:order:%s", ids[e]);
        for (int i = 0; i < f.fr.nstart; i++) {
            if (strcmp(f.fr.start_entity[i], key)) continue;
            assert_true(f.fr.start_order[i] > last);
            last = f.fr.start_order[i];
        }
        assert_true(last > 0);
    }
    (void)evs;
    /* each order's updated_at was noted for the Shopify catch-up poller */
    char *seen = NULL;
    assert_int_equal(store_snapshot_get(f.st, "shopify.order", "820982911946154508", &seen), 0);
    assert_non_null(seen);
    free(seen);
    fx_close(&f);
}

static void test_priorities(void **state)
{
    (void)state;
    struct fx f;
    fx_open(&f, "prio");
    f.cfg.engine_concurrency = 1;
    f.fr.scripts = one_call;
    f.fr.nscripts = 3;
    f.fm.delay_ms = 3;
    char id[32];
    for (int i = 0; i < 20; i++) {
        snprintf(id, sizeof id, "%d", 500 + i);
        add_order_event(&f, "products/update", id, i);
    }
    fx_engine(&f);
    assert_true(wait_state(&f, STORE_JOB_DONE, 2, 2000)); /* the catalog backlog is moving */
    int64_t e1 = add_order_event(&f, "orders/create", "77", 1);
    int64_t e2 = add_order_event(&f, "orders/create", "78", 2);
    engine_notify_events(f.eng);
    assert_true(wait_state(&f, STORE_JOB_DONE, 22, 5000));
    int64_t j1 = job_of_event(&f, e1), j2 = job_of_event(&f, e2);
    int pos1 = -1, pos2 = -1;
    for (int i = 0; i < f.fr.nstart; i++) {
        if (f.fr.start_order[i] == j1) pos1 = i;
        if (f.fr.start_order[i] == j2) pos2 = i;
    }
    /* the orders overtook the 17+ catalog jobs still queued */
    assert_true(pos1 >= 0 && pos1 <= 5);
    assert_true(pos2 >= 0 && pos2 <= 6);
    struct store_job j = get_job(&f, j1);
    assert_int_equal(j.priority, 0);
    store_job_free(&j);
    fx_close(&f);
}

/* Deliveries wait in the backlog until the engine has room: with every queued job blocked
 * behind one entity whose head waits for a retry, the engine jobs a runway of 512 and then a
 * batch of 128 a second (not the whole backlog at once), and another entity's event further
 * back still gets through. */
static void test_backlog_runway(void **state)
{
    (void)state;
    struct fx f;
    fx_open(&f, "runway");
    f.cfg.engine_concurrency = 2;
    f.fr.scripts = one_call;
    f.fr.nscripts = 3;
    struct store_event head = { .source = "shopify", .topic = "orders/updated",
                                .dedupe_key = "head", .body = "{\"id\":1}", .body_len = 8,
                                .lane = STORE_LANE_NONE };
    int inserted = 0;
    assert_int_equal(store_event_insert(f.st, &head, &inserted), 0);
    struct store_job hj = { .event_id = head.id, .state = STORE_JOB_QUEUED, .priority = 1,
                            .entity_key = "shopify:order:1", .topic = "orders/updated" };
    assert_int_equal(store_job_insert(f.st, &hj), 0);
    assert_int_equal(store_job_start(f.st, hj.id, "rules-v1"), 0);
    assert_int_equal(store_job_finish(f.st, hj.id, STORE_JOB_RETRY_WAIT, store_now_ms() + 600000,
                                      "down", NULL, NULL), 0);
    int64_t other = -1;
    for (int i = 0; i < 1000; i++) {
        if (i == 700) other = add_order_event(&f, "orders/updated", "2", i);
        else add_order_event(&f, "orders/updated", "1", i);
    }
    int64_t t0 = store_now_ms();
    fx_engine(&f);
    assert_true(wait_state(&f, STORE_JOB_DONE, 1, 5000));   /* the other entity's job */
    int64_t elapsed = store_now_ms() - t0;
    struct store_job j = get_job(&f, job_of_event(&f, other));
    assert_int_equal(j.state, STORE_JOB_DONE);
    store_job_free(&j);
    int64_t jobbed = fake_count_state(f.st, STORE_JOB_QUEUED);
    struct engine_stats es;
    assert_int_equal(engine_stats(f.eng, &es), 0);
    int64_t backlog = 0;
    for (int p = 0; p < STORE_JOB_NPRIORITIES; p++) backlog += es.backlog[p];
    /* 512 + 128 at once, then 128 per second; event 700 needed one trickle batch. */
    assert_true(jobbed + 1 >= 640);
    assert_true(jobbed + 1 <= 640 + 128 * (1 + elapsed / 1000));
    assert_int_equal(backlog, 1000 - (jobbed + 1));
    assert_true(backlog > 0);
    assert_int_equal(es.backlog[1], backlog);    /* orders/updated: lane 1 */
    assert_true(es.oldest_pending_age_ms >= 0);
    fx_close(&f);
}

/* ---- retries ---- */

static void test_backoff_bounds(void **state)
{
    (void)state;
    for (int attempt = 1; attempt <= 30; attempt++) {
        int64_t ceil = 500;
        for (int i = 1; i < attempt && ceil < 300000; i++) ceil *= 2;
        if (ceil > 300000) ceil = 300000;
        int64_t max = 0;
        uint64_t x = 88172645463325252ULL;
        for (int k = 0; k < 2000; k++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            int64_t d = engine_backoff_ms(500, 300000, attempt, x);
            assert_true(d >= 0 && d <= ceil);
            if (d > max) max = d;
        }
        assert_true(max > ceil * 9 / 10);      /* full jitter reaches the ceiling */
        assert_int_equal(engine_backoff_ms(500, 300000, attempt, (uint64_t)ceil), ceil);
    }
    assert_int_equal(engine_backoff_ms(500, 300000, 1, 0), 0);
}


static void test_retry_then_success_stable_keys(void **state)
{
    (void)state;
    struct fx f;
    fx_open(&f, "retry");
    f.fr.scripts = two_calls;
    f.fr.nscripts = 1;
    fake_route_add(&f.fm, "/distributor/orders", ENGINE_CALL_TRANSIENT, 503, "busy", 2);
    fake_route_add(&f.fm, "/distributor/outlets", ENGINE_CALL_OK, 201, "{\"data\":{\"id\":5}}", -1);
    int64_t ev = add_order_event(&f, "orders/create", "42", 0);
    int64_t t0 = store_now_ms();
    fx_engine(&f);
    assert_true(wait_state(&f, STORE_JOB_DONE, 1, 3000));
    struct store_job j = get_job(&f, job_of_event(&f, ev));
    assert_int_equal(j.attempts, 3);
    assert_int_equal(fake_count_path(&f.fm, "/distributor/outlets"), 1); /* replayed twice */
    assert_int_equal(fake_count_path(&f.fm, "/distributor/orders"), 3);
    char want[48];
    journal_idem_key(j.event_id, 2, want);
    for (int i = 0; i < f.fm.ncalls; i++)
        if (strcmp(f.fm.paths[i], "/distributor/orders") == 0) assert_string_equal(f.fm.keys[i], want);
    assert_true(store_now_ms() - t0 < 2000);   /* base 5 ms, cap 20 ms: no long sleeps */
    assert_string_equal(j.rules_version, "rules-v1");
    store_job_free(&j);
    struct engine_stats s;
    assert_int_equal(engine_stats(f.eng, &s), 0);
    assert_int_equal(s.retried, 2);
    assert_int_equal(s.replayed_steps, 2);
    assert_int_equal(s.depth[STORE_JOB_DONE][0], 1);
    fx_close(&f);
}

static void test_max_attempts_dead(void **state)
{
    (void)state;
    struct fx f;
    fx_open(&f, "maxatt");
    f.cfg.engine_max_attempts = 3;
    f.fr.scripts = two_calls;
    f.fr.nscripts = 1;
    /* A 500 is this request failing (a 503 would be the remote being down: see below). */
    fake_route_add(&f.fm, "/distributor/outlets", ENGINE_CALL_TRANSIENT, 500, "boom", -1);
    int64_t ev = add_order_event(&f, "orders/create", "43", 0);
    fx_engine(&f);
    assert_true(wait_state(&f, STORE_JOB_DEAD, 1, 3000));
    struct store_job j = get_job(&f, job_of_event(&f, ev));
    assert_int_equal(j.attempts, 3);
    assert_non_null(strstr(j.last_error, "gave up after 3 attempts"));
    assert_non_null(strstr(j.last_error, "500"));
    assert_int_equal(f.fm.ncalls, 3);
    store_job_free(&j);
    fx_close(&f);
}

static void test_transient_rule_error_retries(void **state)
{
    (void)state;
    struct fx f;
    fx_open(&f, "transrule");
    f.fr.transient_failures = 2;
    add_order_event(&f, "orders/paid", "44", 0);
    fx_engine(&f);
    assert_true(wait_state(&f, STORE_JOB_DONE, 1, 3000));
    assert_int_equal(f.fr.started, 3);
    fx_close(&f);
}

static void test_permanent_dead_with_request_and_traceback(void **state)
{
    (void)state;
    struct fx f;
    fx_open(&f, "perm");
    f.fr.scripts = two_calls;
    f.fr.nscripts = 1;
    fake_route_add(&f.fm, "/distributor/orders", ENGINE_CALL_PERMANENT, 422,
                   "{\"error\":{\"type\":\"UnprocessableEntity\"}}", -1);
    int64_t ev = add_order_event(&f, "orders/create", "45", 0);
    fx_engine(&f);
    assert_true(wait_state(&f, STORE_JOB_DEAD, 1, 3000));
    struct store_job j = get_job(&f, job_of_event(&f, ev));
    assert_int_equal(j.attempts, 1);
    assert_non_null(strstr(j.last_error, "422"));
    assert_null(strchr(j.last_error, '\n'));   /* first line only; the rest is traceback */
    assert_non_null(j.traceback);
    assert_non_null(strstr(j.traceback, "stack traceback"));
    json_t *req = json_loads(j.failed_request, 0, NULL);
    assert_non_null(req);
    assert_string_equal(json_string_value(json_object_get(json_object_get(req, "request"), "path")),
                        "/distributor/orders");
    assert_int_equal(json_integer_value(json_object_get(req, "status")), 422);
    json_decref(req);
    /* step 1 is journaled, the failed step 2 is not (a DLQ retry must send it again) */
    struct store_journal e;
    assert_int_equal(store_journal_get(f.st, j.id, 1, &e), 0);
    store_journal_free(&e);
    assert_int_equal(store_journal_get(f.st, j.id, 2, &e), STORE_NOTFOUND);
    store_job_free(&j);
    fx_close(&f);
}

static struct fake_script rule_error[] = {
    { "customers/update", { { 0 } }, 0, 1, 0, "rules/customers.lua:7: attempt to index a nil value" },
};

static void test_rule_error_dead(void **state)
{
    (void)state;
    struct fx f;
    fx_open(&f, "ruleerr");
    f.fr.scripts = rule_error;
    f.fr.nscripts = 1;
    int64_t ev = fake_add_event(f.st, "shopify", "customers/update", "c1", "{\"id\":9}");
    fx_engine(&f);
    assert_true(wait_state(&f, STORE_JOB_DEAD, 1, 3000));
    struct store_job j = get_job(&f, job_of_event(&f, ev));
    assert_string_equal(j.last_error, "rules/customers.lua:7: attempt to index a nil value");
    assert_non_null(strstr(j.traceback, "in function 'handle'"));
    assert_int_equal(j.attempts, 1);
    store_job_free(&j);
    /* the dead letter does not block later jobs of the same customer */
    fake_add_event(f.st, "shopify", "customers/update", "c2", "{\"id\":9}");
    rule_error[0].fail_at_end = 0;
    engine_notify_events(f.eng);
    assert_true(wait_state(&f, STORE_JOB_DONE, 1, 3000));
    rule_error[0].fail_at_end = 1;
    fx_close(&f);
}

static void test_unparseable_body_dead(void **state)
{
    (void)state;
    struct fx f;
    fx_open(&f, "badjson");
    int64_t ev = fake_add_event(f.st, "shopify", "orders/create", "bad", "{\"id\": 12,");
    int64_t ev2 = fake_add_event(f.st, "shopify", "orders/create", "noid", "{\"name\":\"x\"}");
    fx_engine(&f);
    fake_run_for(f.base, 30);
    struct store_job j = get_job(&f, job_of_event(&f, ev));
    assert_int_equal(j.state, STORE_JOB_DEAD);
    assert_non_null(strstr(j.last_error, "not valid JSON"));
    store_job_free(&j);
    j = get_job(&f, job_of_event(&f, ev2));
    assert_int_equal(j.state, STORE_JOB_DEAD);
    assert_non_null(strstr(j.last_error, "no usable id"));
    store_job_free(&j);
    assert_int_equal(f.fr.started, 0);
    fx_close(&f);
}

/* ---- journal: crash recovery, divergence, synchronous remotes ---- */

static void test_crash_recovery_replays_journal(void **state)
{
    (void)state;
    struct fx f;
    char err[512];
    fx_open(&f, "crash");
    /* The state a crash leaves: a running job whose step 1 is journaled. */
    int64_t ev = add_order_event(&f, "orders/create", "46", 0);
    struct store_job job = { .event_id = ev, .state = STORE_JOB_QUEUED, .priority = 0,
                             .entity_key = "shopify:order:46", .topic = "orders/create" };
    assert_int_equal(store_job_insert(f.st, &job), 0);
    assert_int_equal(store_job_start(f.st, job.id, "rules-v1"), 0);
    const struct fake_call *c1 = &two_calls[0].calls[0];
    struct journal_request r1 = { c1->kind, c1->method, c1->path, c1->body };
    char hash[JOURNAL_HASH_LEN + 1];
    journal_hash(&r1, hash);
    assert_int_equal(journal_record(f.st, job.id, 1, &r1, hash, 201, "{\"data\":{\"id\":77}}"), 0);
    store_close(f.st);
    assert_int_equal(store_open(&f.st, f.path, 0, err, sizeof err), 0);
    f.fr.scripts = two_calls;
    f.fr.nscripts = 1;
    fx_engine(&f);
    assert_true(wait_state(&f, STORE_JOB_DONE, 1, 3000));
    assert_int_equal(f.fm.ncalls, 1);                   /* only step 2 was sent */
    assert_string_equal(f.fm.paths[0], "/distributor/orders");
    char want[48];
    journal_idem_key(job.event_id, 2, want);
    assert_string_equal(f.fm.keys[0], want);
    assert_int_equal(f.fr.statuses[0], 201);            /* step 1 answered from the journal */
    assert_string_equal(f.fr.bodies[0], "{\"data\":{\"id\":77}}");
    struct store_job j = get_job(&f, job.id);
    assert_int_equal(j.attempts, 2);                    /* the crashed attempt stays counted */
    store_job_free(&j);
    fx_close(&f);
}

static int64_t audit_count(const char *path, const char *action)
{
    sqlite3 *db;
    sqlite3_stmt *s;
    int64_t n = -1;
    sqlite3_open(path, &db);
    sqlite3_prepare_v2(db, "SELECT count(*) FROM audit WHERE action = ?", -1, &s, NULL);
    sqlite3_bind_text(s, 1, action, -1, SQLITE_STATIC);
    if (sqlite3_step(s) == SQLITE_ROW) n = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    sqlite3_close(db);
    return n;
}

static struct fake_script diverging[] = {
    { "orders/create", { { 1, "POST", "/distributor/outlets", "{\"name\":\"A\"}" },
                         { 1, "POST", "/distributor/orders", "{\"externalRef\":\"1\"}" },
                         { 1, "POST", "/distributor/notes", "{}" } },
      3, 0, 0, NULL },
};

/* The rules change step 2 once the first attempt has sent it (before its third step fails):
 * whatever the retry's jitter, the retry runs the changed rules. */
static void change_step2(struct fake_remote *fm, int n, void *ud)
{
    (void)fm;
    (void)ud;
    if (n == 2) diverging[0].calls[1].body = "{\"externalRef\":\"1\",\"notes\":\"v2\"}";
}

static void test_journal_divergence(void **state)
{
    (void)state;
    struct fx f;
    fx_open(&f, "diverge");
    f.cfg.engine_retry_base_ms = 100;
    f.cfg.engine_retry_cap_ms = 100;
    f.fr.scripts = diverging;
    f.fr.nscripts = 1;
    fake_route_add(&f.fm, "/distributor/notes", ENGINE_CALL_TRANSIENT, 503, "", 1);
    f.fm.on_call = change_step2;
    int64_t ev = add_order_event(&f, "orders/create", "47", 0);
    fx_engine(&f);
    assert_true(wait_state(&f, STORE_JOB_DONE, 1, 3000));
    f.fm.on_call = NULL;
    diverging[0].calls[1].body = "{\"externalRef\":\"1\"}";
    /* step 1 replayed; step 2 and (dropped) step 3 sent live */
    assert_int_equal(fake_count_path(&f.fm, "/distributor/outlets"), 1);
    assert_int_equal(fake_count_path(&f.fm, "/distributor/orders"), 2);
    assert_int_equal(fake_count_path(&f.fm, "/distributor/notes"), 2);
    assert_int_equal(audit_count(f.path, "journal_diverged"), 1);
    int64_t id = job_of_event(&f, ev);
    struct store_journal e;
    assert_int_equal(store_journal_get(f.st, id, 2, &e), 0);
    assert_non_null(strstr(e.request, "v2"));
    store_journal_free(&e);
    struct engine_stats s;
    engine_stats(f.eng, &s);
    assert_int_equal(s.diverged, 1);
    fx_close(&f);
}

static void test_synchronous_remote(void **state)
{
    (void)state;
    struct fx f;
    fx_open(&f, "sync");
    f.fm.sync = 1;
    f.fr.scripts = diverging;
    f.fr.nscripts = 1;
    for (int i = 0; i < 5; i++) {
        char id[16];
        snprintf(id, sizeof id, "%d", 60 + i);
        add_order_event(&f, "orders/create", id, i);
    }
    fx_engine(&f);
    assert_true(wait_state(&f, STORE_JOB_DONE, 5, 3000));
    assert_int_equal(f.fm.ncalls, 15);
    fx_close(&f);
}

/* ---- stop, admin API ---- */

static void on_stopped(void *ud) { (*(int *)ud)++; }

static void test_graceful_stop_parks_and_resumes(void **state)
{
    (void)state;
    struct fx f;
    fx_open(&f, "stop");
    f.fr.scripts = two_calls;
    f.fr.nscripts = 1;
    f.fm.delay_ms = 30;
    int64_t ev = add_order_event(&f, "orders/create", "48", 0);
    fx_engine(&f);
    fake_run_for(f.base, 10);                  /* step 1 in flight */
    assert_int_equal(f.fm.ncalls, 1);
    int stopped = 0;
    engine_stop(f.eng, 1, on_stopped, &stopped);
    assert_int_equal(stopped, 0);
    fake_run_for(f.base, 80);
    assert_int_equal(stopped, 1);
    assert_int_equal(f.fm.ncalls, 1);          /* nothing new started */
    int64_t id = job_of_event(&f, ev);
    struct store_job j = get_job(&f, id);
    assert_int_equal(j.state, STORE_JOB_QUEUED);
    assert_int_equal(j.attempts, 0);           /* an orderly stop is not a failed attempt */
    store_job_free(&j);
    engine_free(f.eng);
    /* restart: step 1 comes from the journal */
    fx_engine(&f);
    assert_true(wait_state(&f, STORE_JOB_DONE, 1, 3000));
    assert_int_equal(fake_count_path(&f.fm, "/distributor/outlets"), 1);
    assert_int_equal(fake_count_path(&f.fm, "/distributor/orders"), 1);
    fx_close(&f);
}

static void test_jobs_list_retry_stats(void **state)
{
    (void)state;
    struct fx f;
    fx_open(&f, "admin");
    f.fr.scripts = rule_error;
    f.fr.nscripts = 1;
    fake_add_event(f.st, "shopify", "customers/update", "c1", "{\"id\":11}");
    fx_engine(&f);
    assert_true(wait_state(&f, STORE_JOB_DEAD, 1, 3000));
    char *json = NULL;
    assert_int_equal(engine_jobs_list(f.eng, "dead", 10, &json), 0);
    json_t *arr = json_loads(json, 0, NULL);
    assert_int_equal(json_array_size(arr), 1);
    json_t *o = json_array_get(arr, 0);
    int64_t id = json_integer_value(json_object_get(o, "id"));
    assert_string_equal(json_string_value(json_object_get(o, "entity")), "shopify:customer:11");
    assert_non_null(json_string_value(json_object_get(o, "traceback")));
    json_decref(arr);
    free(json);
    assert_int_equal(engine_jobs_list(f.eng, "bogus", 10, &json), -1);
    struct engine_stats s;
    assert_int_equal(engine_stats(f.eng, &s), 0);
    assert_int_equal(s.dead, 1);
    assert_int_equal(s.latency_total, 1);
    assert_int_equal(s.depth[STORE_JOB_DEAD][3], 1);
    /* fixed rules, then retry from the dead-letter queue */
    rule_error[0].fail_at_end = 0;
    f.fr.version = "rules-v2";
    assert_int_equal(engine_job_retry(f.eng, id), 0);
    assert_int_equal(engine_job_retry(f.eng, id), 1);  /* no longer dead */
    assert_true(wait_state(&f, STORE_JOB_DONE, 1, 3000));
    rule_error[0].fail_at_end = 1;
    struct store_job j = get_job(&f, id);
    assert_int_equal(j.attempts, 1);
    assert_string_equal(j.rules_version, "rules-v2");
    assert_null(j.last_error);
    store_job_free(&j);
    fx_close(&f);
}

/* ---- topic table ---- */

static void classify_ok(const char *topic, const char *body, int prio, const char *entity)
{
    struct engine_topic_class c;
    char err[256];
    assert_int_equal(engine_topics_classify(7, topic, body, strlen(body), &c, err, sizeof err), 0);
    assert_int_equal(c.priority, prio);
    assert_string_equal(c.entity, entity);
    engine_topics_free(&c);
}

static void test_classify(void **state)
{
    (void)state;
    classify_ok("orders/create", "{\"id\":820982911946154508}", 0, "shopify:order:820982911946154508");
    classify_ok("orders/cancelled", "{\"id\":\"5\"}", 1, "shopify:order:5");
    /* regression (flash sale: one customer, two outlets): orders serialize per buyer */
    classify_ok("orders/create", "{\"id\":7,\"customer\":{\"id\":115310627314723954}}", 0,
                "shopify:buyer:115310627314723954");
    classify_ok("orders/updated", "{\"id\":8,\"customer\":{\"id\":115310627314723954}}", 1,
                "shopify:buyer:115310627314723954");
    classify_ok("orders/create", "{\"id\":9,\"customer\":null,\"email\":\"Guest@Example.com\"}", 0,
                "shopify:buyer:guest@example.com");
    classify_ok("orders/edited", "{\"order_edit\":{\"order_id\":6}}", 1, "shopify:order:6");
    classify_ok("refunds/create", "{\"id\":1,\"order_id\":8}", 1, "shopify:order:8");
    classify_ok("fulfillments/update", "{\"id\":1,\"order_id\":9}", 1, "shopify:order:9");
    classify_ok("inventory_levels/update", "{\"inventory_item_id\":3,\"location_id\":4}", 2,
                "shopify:inventory:3:4");
    classify_ok("products/update", "{\"id\":10}", 3, "shopify:product:10");
    classify_ok("customers/create", "{\"id\":11}", 3, "shopify:customer:11");
    classify_ok("orderez/order.created", "{\"entity\":\"orderez:order:1\"}", 0, "orderez:order:1");
    classify_ok("orderez/shipment.created", "{\"entity\":\"orderez:order:1\"}", 1, "orderez:order:1");
    classify_ok("orderez/stock.changed", "{\"entity\":\"orderez:stock:A@1\"}", 2, "orderez:stock:A@1");
    classify_ok("schedule/reconcile", "not even json", 4, "schedule:reconcile");
    classify_ok("collections/update", "{\"id\":12}", 3, "collections:12");
    classify_ok("app/whatever", "{}", 3, "event:7");
    /* The SAX reader: only the paths asked for, at their depth; the last repeated key wins;
     * ids exact at any size; escapes decoded. */
    classify_ok("orders/create", "{\"line_items\":[{\"id\":5,\"customer\":{\"id\":1}}],"
                "\"customer\":{\"x\":{\"id\":4},\"id\":3},\"id\":7}", 0, "shopify:buyer:3");
    classify_ok("products/update", "{\"id\":1,\"id\":2}", 3, "shopify:product:2");
    classify_ok("products/update", "{\"id\":123456789012345678901234}", 3,
                "shopify:product:123456789012345678901234");
    classify_ok("orders/create", "{\"id\":1,\"email\":\"G\\u00fcst@Example.COM\"}", 0,
                "shopify:buyer:g\xc3\xbcst@example.com");
    classify_ok("orders/create", "{\"id\":1,\"customer\":{\"id\":true},\"email\":\"a@b\"}", 0,
                "shopify:buyer:a@b");
    struct engine_topic_class c;
    char err[256];
    assert_int_equal(engine_topics_classify(7, "orders/create", "[1]", 3, &c, err, sizeof err), -1);
    assert_non_null(strstr(err, "not a JSON object"));
    assert_int_equal(engine_topics_classify(7, "orders/create", "{\"id\":1.5}", 10, &c, err,
                                            sizeof err), -1);
    assert_non_null(strstr(err, "no usable id"));
    assert_int_equal(engine_topics_classify(7, "orders/create", "{\"id\":1", 7, &c, err,
                                            sizeof err), -1);
    assert_non_null(strstr(err, "not valid JSON"));
    assert_int_equal(engine_topics_classify(7, "orders/create", "{\"id\":1} x", 10, &c, err,
                                            sizeof err), -1);
    assert_non_null(strstr(err, "not valid JSON"));
    /* Nesting as deep as a 1 MiB body allows: read without recursion, closed or not. */
    size_t depth = 200000, len = 0;
    char *deep = malloc(2 * depth + 32);
    assert_non_null(deep);
    len += (size_t)sprintf(deep, "{\"x\":");
    memset(deep + len, '[', depth);
    len += depth;
    memset(deep + len, ']', depth);
    len += depth;
    len += (size_t)sprintf(deep + len, ",\"id\":5}");
    assert_int_equal(engine_topics_classify(7, "products/update", deep, len, &c, err, sizeof err), 0);
    assert_string_equal(c.entity, "shopify:product:5");
    engine_topics_free(&c);
    assert_int_equal(engine_topics_classify(7, "products/update", deep, 6 + depth, &c, err,
                                            sizeof err), -1);
    assert_non_null(strstr(err, "not valid JSON"));
    free(deep);
    const char *upd = "{\"id\":1,\"updated_at\":\"2025-01-01T00:00:00-05:00\"}";
    assert_int_equal(engine_topics_classify(7, "orders/updated", upd, strlen(upd), &c, err,
                                            sizeof err), 0);
    assert_string_equal(c.order_id, "1");
    assert_string_equal(c.order_updated_at, "2025-01-01T00:00:00-05:00");
    engine_topics_free(&c);
}

int main(void)
{
    log_setup(LOG_ERROR, LOG_LOGFMT, NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ordering_per_entity),
        cmocka_unit_test(test_priorities),
        cmocka_unit_test(test_backlog_runway),
        cmocka_unit_test(test_backoff_bounds),
        cmocka_unit_test(test_retry_then_success_stable_keys),
        cmocka_unit_test(test_max_attempts_dead),
        cmocka_unit_test(test_transient_rule_error_retries),
        cmocka_unit_test(test_permanent_dead_with_request_and_traceback),
        cmocka_unit_test(test_rule_error_dead),
        cmocka_unit_test(test_unparseable_body_dead),
        cmocka_unit_test(test_crash_recovery_replays_journal),
        cmocka_unit_test(test_journal_divergence),
        cmocka_unit_test(test_synchronous_remote),
        cmocka_unit_test(test_graceful_stop_parks_and_resumes),
        cmocka_unit_test(test_jobs_list_retry_stats),
        cmocka_unit_test(test_classify),
    };
    return cmocka_run_group_tests_name("engine", tests, NULL, NULL);
}
