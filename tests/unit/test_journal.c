/* Unit tests for src/journal.c and the jobs/journal part of the store (store_jobs.c), on a
 * real SQLite file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "journal.h"
#include "log.h"
#include "store.h"

#include <jansson.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct store *open_tmp(char *path, size_t len, const char *name)
{
    const char *dir = getenv("EZSYNC_TEST_TMP");
    char err[512];
    struct store *st = NULL;
    snprintf(path, len, "%s/journal-%s-%d.db", dir && *dir ? dir : "/tmp", name, (int)getpid());
    unlink(path);
    assert_int_equal(store_open(&st, path, 0, err, sizeof err), 0);
    return st;
}

static int64_t add_job(struct store *st, const char *entity, int prio, int seq)
{
    char key[64];
    snprintf(key, sizeof key, "k-%s-%d", entity, seq);
    struct store_event ev = { .source = "shopify", .topic = "orders/updated", .dedupe_key = key,
                              .body = "{}", .body_len = 2, .lane = STORE_LANE_NONE };
    int inserted;
    assert_int_equal(store_event_insert(st, &ev, &inserted), 0);
    struct store_job j = { .event_id = ev.id, .state = STORE_JOB_QUEUED, .priority = prio,
                           .entity_key = (char *)entity, .topic = "orders/updated" };
    assert_int_equal(store_job_insert(st, &j), 0);
    return j.id;
}

static void test_hash_and_keys(void **state)
{
    (void)state;
    char a[JOURNAL_HASH_LEN + 1], b[JOURNAL_HASH_LEN + 1];
    struct journal_request r = { 1, "POST", "/distributor/orders", "{\"x\":1}" };
    journal_hash(&r, a);
    assert_int_equal(strlen(a), 64);
    journal_hash(&r, b);
    assert_string_equal(a, b);                  /* stable */
    struct journal_request variants[] = {
        { 0, "POST", "/distributor/orders", "{\"x\":1}" },
        { 1, "PUT", "/distributor/orders", "{\"x\":1}" },
        { 1, "POST", "/distributor/order", "{\"x\":1}" },
        { 1, "POST", "/distributor/orders", "{\"x\":2}" },
        { 1, "POST", "/distributor/orders{\"x\":1}", "" }, /* bytes moved between fields */
        { 1, "POST", "/distributor/orders", NULL },
    };
    for (size_t i = 0; i < sizeof variants / sizeof variants[0]; i++) {
        journal_hash(&variants[i], b);
        assert_string_not_equal(a, b);
    }
    char key[JOURNAL_IDEM_KEY_LEN];
    journal_idem_key(820982911946154508LL, 3, key);
    assert_string_equal(key, "ezsync-ev820982911946154508-3");
    char *json = journal_request_json(&r);
    json_t *o = json_loads(json, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(o, "remote")), "orderez");
    assert_string_equal(json_string_value(json_object_get(o, "path")), "/distributor/orders");
    json_decref(o);
    free(json);
}

/* What a dead letter keeps: the request, the status, the answer cut to a size on a UTF-8
 * boundary, the error; an answer that is not UTF-8 is left out, the rest kept. */
static void test_failed_request_json(void **state)
{
    (void)state;
    struct journal_request r = { 1, "POST", "/distributor/orders", "{\"x\":1}" };
    char *j = journal_failed_request_json(&r, 422, "{\"error\":\"bad\"}", "HTTP 422", 100);
    json_t *o = json_loads(j, 0, NULL);
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(json_object_get(o, "request"), "path")),
                        "/distributor/orders");
    assert_int_equal(json_integer_value(json_object_get(o, "status")), 422);
    assert_string_equal(json_string_value(json_object_get(o, "response")), "{\"error\":\"bad\"}");
    assert_string_equal(json_string_value(json_object_get(o, "error")), "HTTP 422");
    json_decref(o);
    free(j);
    /* "caf\u00e9" is 5 bytes: a cut at 4 would split the e-acute; it is cut at 3 */
    j = journal_failed_request_json(&r, 500, "caf\xc3\xa9", NULL, 4);
    o = json_loads(j, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(o, "response")), "caf");
    assert_true(json_is_null(json_object_get(o, "error")));
    json_decref(o);
    free(j);
    j = journal_failed_request_json(&r, 502, "caf\xe9", "HTTP 502", 100);
    o = json_loads(j, 0, NULL);
    assert_non_null(o);
    assert_null(json_object_get(o, "response"));
    assert_int_equal(json_integer_value(json_object_get(o, "status")), 502);
    assert_non_null(json_object_get(o, "request"));
    json_decref(o);
    free(j);
}

static void test_lookup_replay_and_divergence(void **state)
{
    (void)state;
    char path[512], h1[JOURNAL_HASH_LEN + 1], h2[JOURNAL_HASH_LEN + 1];
    struct store *st = open_tmp(path, sizeof path, "lookup");
    assert_int_equal(store_schema_version(st), STORE_SCHEMA_VERSION);
    int64_t job = add_job(st, "shopify:order:1", 0, 1);
    struct journal_request r1 = { 1, "GET", "/a", NULL }, r2 = { 1, "POST", "/b", "{}" };
    journal_hash(&r1, h1);
    journal_hash(&r2, h2);
    int status;
    char *resp;
    assert_int_equal(journal_lookup(st, job, 1, h1, "e", &status, &resp), JOURNAL_MISS);
    assert_int_equal(journal_record(st, job, 1, &r1, h1, 200, "{\"a\":1}"), 0);
    assert_int_equal(journal_record(st, job, 2, &r2, h2, 201, "{\"b\":2}"), 0);
    assert_int_equal(journal_lookup(st, job, 1, h1, "e", &status, &resp), JOURNAL_REPLAY);
    assert_int_equal(status, 200);
    assert_string_equal(resp, "{\"a\":1}");
    free(resp);
    /* step 1 asked with another request: the whole recorded tail goes, with an audit entry */
    assert_int_equal(journal_lookup(st, job, 1, h2, "shopify:order:1", &status, &resp),
                     JOURNAL_DIVERGED);
    assert_null(resp);
    struct store_journal *steps;
    size_t n;
    assert_int_equal(store_journal_list(st, job, &steps, &n), 0);
    assert_int_equal(n, 0);
    store_journals_free(steps, n);
    assert_int_equal(journal_lookup(st, job, 2, h2, "e", &status, &resp), JOURNAL_MISS);
    store_close(st);
    unlink(path);
}

/* Regression: with one entity's backlog the runnable query probed every queued job (quadratic
 * over a flash sale from one buyer). Now `blocked` marks waiters; a backlog hands over one job
 * at a time, in order, as each head finishes. */
static void test_backlog_of_one_entity_hands_over_in_order(void **state)
{
    (void)state;
    char path[512];
    struct store *st = open_tmp(path, sizeof path, "backlog");
    int64_t first = 0, other;
    for (int i = 0; i < 300; i++) {
        int64_t id = add_job(st, "buyer:1", 0, i + 1);
        if (!first) first = id;
    }
    other = add_job(st, "buyer:2", 0, 1000);
    int64_t ids[10];
    size_t n;
    for (int i = 0; i < 300; i++) {
        assert_int_equal(store_jobs_runnable(st, 10, ids, &n), 0);
        assert_int_equal(n, i == 0 ? 2 : 1);
        assert_int_equal(ids[0], first + i);
        if (i == 0) assert_int_equal(ids[1], other);
        assert_int_equal(store_job_start(st, ids[0], "v"), 0);
        if (i == 0) assert_int_equal(store_job_start(st, other, "v"), 0);
        /* every 7th attempt waits for a retry first: its successor stays blocked meanwhile */
        if (i % 7 == 3) {
            assert_int_equal(store_job_finish(st, ids[0], STORE_JOB_RETRY_WAIT, 1, "503", NULL, NULL), 0);
            assert_int_equal(store_jobs_runnable(st, 10, ids, &n), 0);
            assert_int_equal(n, 0);
            int promoted;
            assert_int_equal(store_jobs_promote_due(st, store_now_ms(), &promoted), 0);
            assert_int_equal(store_job_start(st, first + i, "v"), 0);
        }
        assert_int_equal(store_job_finish(st, first + i, i % 50 == 10 ? STORE_JOB_DEAD : STORE_JOB_DONE,
                                          0, NULL, NULL, NULL), 0);
    }
    assert_int_equal(store_jobs_runnable(st, 10, ids, &n), 0);
    assert_int_equal(n, 0);
    store_close(st);
    unlink(path);
}

/* The engine's sweep runs on the event loop's connection while the webhook writer commits on
 * its own: a sweep with nothing due must not wait for the writer's lock (it only reads); one
 * with something due takes the lock as before. */
static void test_promote_reads_before_writing(void **state)
{
    (void)state;
    char path[512];
    struct store *st = open_tmp(path, sizeof path, "promote");
    int64_t a = add_job(st, "A", 3, 1);
    int64_t later = store_now_ms() + 60000;
    assert_int_equal(store_job_start(st, a, "v1"), 0);
    assert_int_equal(store_job_finish(st, a, STORE_JOB_RETRY_WAIT, later, "503", NULL, NULL), 0);
    sqlite3 *other;
    assert_int_equal(sqlite3_open(path, &other), SQLITE_OK);
    assert_int_equal(sqlite3_exec(other, "BEGIN IMMEDIATE; INSERT INTO kv(ns, key, value, "
                                  "updated_at) VALUES ('t', 'held', 'x', 0)", NULL, NULL, NULL),
                     SQLITE_OK);
    store_set_busy_timeout(st, 30);
    int promoted = -1;
    assert_int_equal(store_jobs_promote_due(st, store_now_ms(), &promoted), 0); /* not due */
    assert_int_equal(promoted, 0);
    assert_int_equal(store_jobs_promote_due(st, later, &promoted), -1);        /* due: locked */
    assert_non_null(strstr(store_errmsg(st), "locked"));
    assert_int_equal(sqlite3_exec(other, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(other);
    assert_int_equal(store_jobs_promote_due(st, later, &promoted), 0);
    assert_int_equal(promoted, 1);
    store_close(st);
    unlink(path);
}

static void test_runnable_order_and_states(void **state)
{
    (void)state;
    char path[512];
    struct store *st = open_tmp(path, sizeof path, "runnable");
    int64_t a1 = add_job(st, "A", 3, 1), a2 = add_job(st, "A", 3, 2);
    int64_t b1 = add_job(st, "B", 1, 1), c1 = add_job(st, "C", 0, 1);
    int64_t ids[10];
    size_t n;
    assert_int_equal(store_jobs_runnable(st, 10, ids, &n), 0);
    assert_int_equal(n, 3);                       /* a2 waits behind a1 */
    assert_int_equal(ids[0], c1);                 /* priority first */
    assert_int_equal(ids[1], b1);
    assert_int_equal(ids[2], a1);
    assert_int_equal(store_jobs_runnable(st, 2, ids, &n), 0);
    assert_int_equal(n, 2);
    /* a1 running, then waiting for a retry: a2 still waits */
    assert_int_equal(store_job_start(st, a1, "v1"), 0);
    assert_int_equal(store_job_start(st, a1, "v1"), STORE_NOTFOUND); /* not queued any more */
    assert_int_equal(store_jobs_runnable(st, 10, ids, &n), 0);
    assert_int_equal(n, 2);
    int64_t later = store_now_ms() + 60000;
    assert_int_equal(store_job_finish(st, a1, STORE_JOB_RETRY_WAIT, later, "503", NULL, NULL), 0);
    assert_int_equal(store_jobs_runnable(st, 10, ids, &n), 0);
    assert_int_equal(n, 2);
    int64_t next;
    assert_int_equal(store_jobs_next_retry(st, &next), 0);
    assert_int_equal(next, later);
    int promoted;
    assert_int_equal(store_jobs_promote_due(st, store_now_ms(), &promoted), 0);
    assert_int_equal(promoted, 0);
    assert_int_equal(store_jobs_promote_due(st, later, &promoted), 0);
    assert_int_equal(promoted, 1);
    /* a1 dead: it no longer holds a2 back */
    assert_int_equal(store_job_start(st, a1, "v1"), 0);
    assert_int_equal(store_job_finish(st, a1, STORE_JOB_DEAD, 0, "boom", "tb", "{}"), 0);
    assert_int_equal(store_jobs_runnable(st, 10, ids, &n), 0);
    assert_int_equal(n, 3);
    assert_int_equal(ids[2], a2);
    struct store_job j;
    assert_int_equal(store_job_get(st, a1, &j), 0);
    assert_int_equal(j.attempts, 2);
    assert_string_equal(j.traceback, "tb");
    store_job_free(&j);
    /* retry from the dead-letter queue resets attempts; drop only applies to dead jobs */
    assert_int_equal(store_job_retry(st, a1), 0);
    assert_int_equal(store_job_retry(st, a1), STORE_NOTFOUND);
    assert_int_equal(store_job_get(st, a1, &j), 0);
    assert_int_equal(j.attempts, 0);
    assert_int_equal(j.state, STORE_JOB_QUEUED);
    assert_null(j.last_error);
    store_job_free(&j);
    assert_int_equal(store_job_drop(st, a1), STORE_NOTFOUND);
    /* crash recovery and orderly requeue */
    assert_int_equal(store_job_start(st, b1, "v1"), 0);
    assert_int_equal(store_job_start(st, c1, "v1"), 0);
    assert_int_equal(store_job_requeue(st, c1, 1), 0);
    int recovered;
    assert_int_equal(store_jobs_recover(st, &recovered), 0);
    assert_int_equal(recovered, 1);
    assert_int_equal(store_job_get(st, b1, &j), 0);
    assert_int_equal(j.state, STORE_JOB_QUEUED);
    assert_int_equal(j.attempts, 1);
    store_job_free(&j);
    assert_int_equal(store_job_get(st, c1, &j), 0);
    assert_int_equal(j.attempts, 0);
    store_job_free(&j);
    int64_t depth[STORE_JOB_NSTATES][STORE_JOB_NPRIORITIES];
    assert_int_equal(store_jobs_depth(st, depth), 0);
    assert_int_equal(depth[STORE_JOB_QUEUED][3], 2);
    assert_int_equal(depth[STORE_JOB_QUEUED][0], 1);
    store_close(st);
    unlink(path);
}

/* An event stored with a lane waits in the backlog until taken off it; one stored with
 * STORE_LANE_NONE (its job comes with it) never joins. */
static void test_backlog(void **state)
{
    (void)state;
    char path[512];
    struct store *st = open_tmp(path, sizeof path, "backlog");
    add_job(st, "A", 1, 1);
    struct store_event ev = { .source = "orderez", .topic = "orderez/stock.changed",
                              .dedupe_key = "x1", .body = "{\"a\":1}", .body_len = 7, .lane = 2 };
    struct store_event ev0 = { .source = "shopify", .topic = "orders/create",
                               .dedupe_key = "x2", .body = "{}", .body_len = 2, .lane = 0 };
    struct store_event big = { .source = "shopify", .topic = "x", .dedupe_key = "x3",
                               .body = "{}", .body_len = 2, .lane = 99 };
    int inserted;
    assert_int_equal(store_event_insert(st, &ev, &inserted), 0);
    assert_int_equal(store_event_insert(st, &ev0, &inserted), 0);
    assert_int_equal(store_event_insert(st, &big, &inserted), 0);
    struct store_event *evs;
    size_t n;
    assert_int_equal(store_backlog_read(st, 10, SIZE_MAX, &evs, &n), 0);
    assert_int_equal(n, 3);
    assert_int_equal(evs[0].id, ev0.id);        /* lane 0 first, though stored later */
    assert_int_equal(evs[1].id, ev.id);
    assert_int_equal(evs[1].lane, 2);
    assert_string_equal(evs[1].body, "{\"a\":1}");
    assert_string_equal(evs[1].topic, "orderez/stock.changed");
    assert_int_equal(evs[2].lane, STORE_JOB_NPRIORITIES - 1);   /* clamped */
    store_events_free(evs, n);
    assert_int_equal(store_backlog_read(st, 1, SIZE_MAX, &evs, &n), 0);  /* the limit holds */
    assert_int_equal(n, 1);
    store_events_free(evs, n);
    /* and the byte cap: the row that reaches it is the last (bodies of 2 and 7 bytes) */
    assert_int_equal(store_backlog_read(st, 10, 2, &evs, &n), 0);
    assert_int_equal(n, 1);
    store_events_free(evs, n);
    assert_int_equal(store_backlog_read(st, 10, 3, &evs, &n), 0);
    assert_int_equal(n, 2);
    store_events_free(evs, n);
    assert_int_equal(store_event_jobbed(st, ev.id), 0);
    assert_int_equal(store_backlog_remove(st, 2, ev.id), 0);
    assert_int_equal(store_backlog_remove(st, 0, ev0.id), 0);
    assert_int_equal(store_backlog_remove(st, STORE_JOB_NPRIORITIES - 1, big.id), 0);
    assert_int_equal(store_backlog_read(st, 10, SIZE_MAX, &evs, &n), 0);
    assert_int_equal(n, 0);
    free(evs);
    int64_t depth[STORE_JOB_NPRIORITIES], oldest = -1;
    assert_int_equal(store_backlog_depth(st, depth, &oldest), 0);
    assert_int_equal(oldest, 0);
    for (int i = 0; i < STORE_JOB_NPRIORITIES; i++) assert_int_equal(depth[i], 0);
    assert_int_equal(store_job_state_parse("retry_wait"), STORE_JOB_RETRY_WAIT);
    assert_int_equal(store_job_state_parse("nope"), -1);
    store_close(st);
    unlink(path);
}

int main(void)
{
    log_setup(LOG_ERROR, LOG_LOGFMT, NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hash_and_keys),
        cmocka_unit_test(test_failed_request_json),
        cmocka_unit_test(test_lookup_replay_and_divergence),
        cmocka_unit_test(test_promote_reads_before_writing),
        cmocka_unit_test(test_runnable_order_and_states),
        cmocka_unit_test(test_backlog_of_one_entity_hands_over_in_order),
        cmocka_unit_test(test_backlog),
    };
    return cmocka_run_group_tests_name("journal", tests, NULL, NULL);
}
