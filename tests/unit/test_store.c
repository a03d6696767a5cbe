/* Unit tests for the store (src/store*.c) on real SQLite files in a temp directory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "checkpointer.h"
#include "store.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static char dir[256];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/ezsync-store-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static struct store *open_db(const char *name)
{
    char path[300], err[512];
    struct store *st;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int rc = store_open(&st, path, 0, err, sizeof err);
    if (rc) fail_msg("open: %s", err);
    return st;
}

static void test_migrates_to_current_version(void **state)
{
    (void)state;
    struct store *st = open_db("a.db");
    assert_int_equal(store_schema_version(st), STORE_SCHEMA_VERSION);
    store_close(st);
    st = open_db("a.db"); /* reopening applies nothing twice */
    assert_int_equal(store_schema_version(st), STORE_SCHEMA_VERSION);
    store_close(st);
}

static void test_wal_and_full_sync(void **state)
{
    (void)state;
    struct store *st = open_db("w.db");
    store_close(st);
    char path[300];
    snprintf(path, sizeof path, "%s/w.db", dir);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_stmt *s;
    sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &s, NULL);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(s, 0), "wal");
    sqlite3_finalize(s);
    sqlite3_close(db);
}

static void test_event_insert_dedupes(void **state)
{
    (void)state;
    struct store *st = open_db("e.db");
    const char body[] = "{\"id\":820982911946154508,\"name\":\"#1001\"}";
    struct store_event ev = { .source = "shopify", .topic = "orders/create",
                              .dedupe_key = "wh-1", .event_id = "ev-1", .shop = "x.myshopify.com",
                              .headers = "{}", .body = body, .body_len = sizeof body - 1 };
    int inserted = -1;
    assert_int_equal(store_event_insert(st, &ev, &inserted), 0);
    assert_int_equal(inserted, 1);
    int64_t id = ev.id;
    assert_true(id > 0);
    assert_int_equal(store_event_insert(st, &ev, &inserted), 0);
    assert_int_equal(inserted, 0);
    assert_int_equal(store_event_count(st), 1);

    struct store_event got;
    assert_int_equal(store_event_get(st, id, &got), 0);
    assert_string_equal(got.topic, "orders/create");
    assert_int_equal(got.body_len, sizeof body - 1);
    assert_memory_equal(got.body, body, sizeof body - 1); /* raw bytes, int64 untouched */
    assert_null(got.triggered_at);
    store_event_free(&got);
    assert_int_equal(store_event_get(st, id + 100, &got), STORE_NOTFOUND);
    store_close(st);
}

static void test_group_commit_and_rollback(void **state)
{
    (void)state;
    struct store *st = open_db("g.db");
    char key[32];
    assert_int_equal(store_begin(st), 0);
    for (int i = 0; i < 50; i++) {
        snprintf(key, sizeof key, "k%d", i);
        struct store_event ev = { .source = "shopify", .topic = "t", .dedupe_key = key,
                                  .body = "{}", .body_len = 2 };
        int ins;
        assert_int_equal(store_begin(st), 0); /* nested: no-op */
        assert_int_equal(store_event_insert(st, &ev, &ins), 0);
        assert_int_equal(store_commit(st), 0);
    }
    store_rollback(st);
    assert_int_equal(store_event_count(st), 0);
    assert_int_equal(store_begin(st), 0);
    struct store_event ev = { .source = "s", .topic = "t", .dedupe_key = "x", .body = "", .body_len = 0 };
    int ins;
    assert_int_equal(store_event_insert(st, &ev, &ins), 0);
    assert_int_equal(store_commit(st), 0);
    assert_int_equal(store_event_count(st), 1);
    assert_int_equal(store_commit(st), -1); /* commit without begin is an error, not a crash */
    store_close(st);
}

static void test_kv_idmap_snapshots_audit(void **state)
{
    (void)state;
    struct store *st = open_db("k.db");
    char *v = NULL;
    assert_int_equal(store_kv_get(st, "rules", "a", &v), STORE_NOTFOUND);
    assert_int_equal(store_kv_put(st, "rules", "a", "1"), 0);
    assert_int_equal(store_kv_put(st, "rules", "a", "2"), 0);
    assert_int_equal(store_kv_get(st, "rules", "a", &v), 0);
    assert_string_equal(v, "2");
    free(v);
    assert_int_equal(store_kv_get(st, "other", "a", &v), STORE_NOTFOUND);
    assert_int_equal(store_kv_delete(st, "rules", "a"), 0);
    assert_int_equal(store_kv_get(st, "rules", "a", &v), STORE_NOTFOUND);

    assert_int_equal(store_idmap_put(st, "customer", "115310627314723954", "77"), 0);
    assert_int_equal(store_idmap_put(st, "customer", "115310627314723955", "77"), 0);
    assert_int_equal(store_idmap_get_orderez(st, "customer", "115310627314723954", &v), 0);
    assert_string_equal(v, "77");
    free(v);
    assert_int_equal(store_idmap_get_shopify(st, "customer", "77", &v), 0);
    assert_string_equal(v, "115310627314723954"); /* the oldest link wins */
    free(v);
    assert_int_equal(store_idmap_get_orderez(st, "order", "115310627314723954", &v), STORE_NOTFOUND);
    assert_int_equal(store_idmap_count(st, "customer"), 2);
    assert_int_equal(store_idmap_count(st, NULL), 2);

    assert_int_equal(store_snapshot_put(st, "order", "5", "{\"status\":\"accepted\"}"), 0);
    assert_int_equal(store_snapshot_get(st, "order", "5", &v), 0);
    assert_string_equal(v, "{\"status\":\"accepted\"}");
    free(v);
    assert_int_equal(store_audit_add(st, 0, "order:5", "skipped", "test order"), 0);
    store_close(st);
}

static void test_corrupt_file_is_a_clear_error(void **state)
{
    (void)state;
    char path[300], err[512] = "";
    snprintf(path, sizeof path, "%s/corrupt.db", dir);
    FILE *f = fopen(path, "w");
    for (int i = 0; i < 512; i++) fputs("this is not a database file ", f);
    fclose(f);
    struct store *st = NULL;
    assert_int_equal(store_open(&st, path, 0, err, sizeof err), -1);
    assert_null(st);
    assert_non_null(strstr(err, path));
    assert_non_null(strstr(err, "not a database"));
}

static void test_unwritable_is_a_clear_error(void **state)
{
    (void)state;
    char path[300], err[512] = "";
    snprintf(path, sizeof path, "%s/no/such/dir/x.db", dir);
    struct store *st = NULL;
    assert_int_equal(store_open(&st, path, 0, err, sizeof err), -1);
    assert_non_null(strstr(err, "cannot open"));
}

struct holder { sqlite3 *db; int hold_ms; };

static void *hold_then_commit(void *arg)
{
    struct holder *h = arg;
    struct timespec d = { 0, h->hold_ms * 1000000L };
    nanosleep(&d, NULL);
    sqlite3_exec(h->db, "COMMIT", NULL, NULL, NULL);
    return NULL;
}

/* A writer that meets another connection's transaction gets the lock once it is released:
 * the wait ends with the other's commit, long before the timeout. */
static void test_busy_wait_ends_at_release(void **state)
{
    (void)state;
    struct store *st = open_db("w.db");
    char path[300];
    snprintf(path, sizeof path, "%s/w.db", dir);
    struct holder h = { NULL, 40 };
    assert_int_equal(sqlite3_open(path, &h.db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(h.db, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, hold_then_commit, &h), 0);
    store_set_busy_timeout(st, 20000);
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    assert_int_equal(store_begin(st), 0);
    clock_gettime(CLOCK_MONOTONIC, &b);
    assert_int_equal(store_commit(st), 0);
    pthread_join(t, NULL);
    sqlite3_close(h.db);
    double waited_ms = (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6;
    assert_true(waited_ms < 10000);   /* ended by the release, not by the 20 s timeout */
    store_close(st);
}

static int index_count(sqlite3 *db, const char *name)
{
    sqlite3_stmt *s;
    int n = -1;
    if (sqlite3_prepare_v2(db, "SELECT count(*) FROM sqlite_master WHERE type='index' AND name=?",
                           -1, &s, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
    if (sqlite3_step(s) == SQLITE_ROW) n = sqlite3_column_int(s, 0);
    sqlite3_finalize(s);
    return n;
}

/* A version-3 database (as the previous release left it) loses the three indexes no query
 * reads when it is opened, and keeps its rows. */
static void test_migration_4_drops_unread_indexes(void **state)
{
    (void)state;
    struct store *st = open_db("m4.db");
    struct store_event ev = { .source = "shopify", .topic = "t", .dedupe_key = "k",
                              .event_id = "e", .headers = "{}", .body = "{}", .body_len = 2 };
    int inserted = 0;
    assert_int_equal(store_event_insert(st, &ev, &inserted), 0);
    store_close(st);
    char path[300];
    snprintf(path, sizeof path, "%s/m4.db", dir);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db,
        "CREATE INDEX jobs_ready ON jobs(state, priority, next_at, id);"
        "CREATE INDEX jobs_entity ON jobs(entity_key, id);"
        "CREATE INDEX events_event_id ON events(event_id, topic);"
        "DROP TABLE backlog; DELETE FROM jobs;"
        "DROP TRIGGER jobs_count_insert; DROP TRIGGER jobs_count_update; DROP TRIGGER jobs_count_delete; DROP TABLE job_counts;"
        "DROP TABLE backlog_counts;" "PRAGMA user_version=3", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    st = open_db("m4.db");
    assert_int_equal(store_schema_version(st), STORE_SCHEMA_VERSION);
    assert_int_equal(store_event_count(st), 1);
    store_close(st);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(index_count(db, "jobs_ready"), 0);
    assert_int_equal(index_count(db, "jobs_entity"), 0);
    assert_int_equal(index_count(db, "events_event_id"), 0);
    assert_int_equal(index_count(db, "jobs_pending_entity"), 1);
    sqlite3_close(db);
}

/* A version-4 database: every event that has no job yet (that version jobbed them after the
 * commit) joins the backlog's first lane; events with jobs do not. */
static void test_migration_5_backlog(void **state)
{
    (void)state;
    struct store *st = open_db("m5.db");
    int inserted = 0;
    struct store_event a = { .source = "shopify", .topic = "orders/create", .dedupe_key = "a",
                             .body = "{}", .body_len = 2, .lane = STORE_LANE_NONE };
    struct store_event b = a, c = a;
    b.dedupe_key = "b";
    c.dedupe_key = "c";
    assert_int_equal(store_event_insert(st, &a, &inserted), 0);
    assert_int_equal(store_event_insert(st, &b, &inserted), 0);
    assert_int_equal(store_event_insert(st, &c, &inserted), 0);
    struct store_job j = { .event_id = b.id, .state = STORE_JOB_DONE, .priority = 0,
                           .entity_key = "e", .topic = "orders/create" };
    assert_int_equal(store_job_insert(st, &j), 0);
    store_close(st);
    char path[300];
    snprintf(path, sizeof path, "%s/m5.db", dir);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "DROP TABLE backlog;" "DROP TRIGGER jobs_count_insert; DROP TRIGGER jobs_count_update; DROP TRIGGER jobs_count_delete; DROP TABLE job_counts;"
                                  "DROP TABLE backlog_counts;" "PRAGMA user_version=4", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    st = open_db("m5.db");
    assert_int_equal(store_schema_version(st), STORE_SCHEMA_VERSION);
    struct store_event *evs;
    size_t n;
    assert_int_equal(store_backlog_read(st, 10, SIZE_MAX, &evs, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(evs[0].id, a.id);
    assert_int_equal(evs[1].id, c.id);
    assert_int_equal(evs[0].lane, 0);
    assert_int_equal(evs[1].lane, 0);
    store_events_free(evs, n);
    store_close(st);
}

/* store_jobs_depth as a GROUP BY over the jobs table would count it. */
static void depth_by_scan(const char *path, int64_t want[STORE_JOB_NSTATES][STORE_JOB_NPRIORITIES])
{
    sqlite3 *db;
    sqlite3_stmt *q;
    memset(want, 0, sizeof(int64_t) * STORE_JOB_NSTATES * STORE_JOB_NPRIORITIES);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT state, priority, count(*) FROM jobs"
                                        " GROUP BY state, priority", -1, &q, NULL), SQLITE_OK);
    while (sqlite3_step(q) == SQLITE_ROW)
        want[store_job_state_parse((const char *)sqlite3_column_text(q, 0))]
            [sqlite3_column_int(q, 1)] = sqlite3_column_int64(q, 2);
    sqlite3_finalize(q);
    sqlite3_close(db);
}

/* The counts the triggers keep match a scan of the jobs after every kind of state change,
 * in a random order of 400 operations, and survive a migration from a database without
 * them. */
static void test_job_counts(void **state)
{
    (void)state;
    char path[300];
    snprintf(path, sizeof path, "%s/counts.db", dir);
    struct store *st = open_db("counts.db");
    int64_t ids[120];
    int n = 0;
    uint64_t r = 0x9E3779B97F4A7C15ULL;
    for (int op = 0; op < 400; op++) {
        r ^= r << 13; r ^= r >> 7; r ^= r << 17;
        int64_t id = n ? ids[r % (uint64_t)n] : 0;
        switch (n < 3 ? 0 : (int)((r >> 8) % 7)) {
        case 0: if (n < 120) {
            char key[32];
            snprintf(key, sizeof key, "c%d", op);
            struct store_event ev = { .source = "shopify", .topic = "orders/create",
                                      .dedupe_key = key, .body = "{}", .body_len = 2,
                                      .lane = STORE_LANE_NONE };
            int ins = 0;
            assert_int_equal(store_event_insert(st, &ev, &ins), 0);
            struct store_job j = { .event_id = ev.id, .state = STORE_JOB_QUEUED,
                                   .priority = (int)((r >> 20) % STORE_JOB_NPRIORITIES),
                                   .entity_key = key, .topic = "orders/create" };
            assert_int_equal(store_job_insert(st, &j), 0);
            ids[n++] = j.id;
            break;
        }
        /* fall through */
        case 1: store_job_start(st, id, "v1"); break;
        case 2: store_job_finish(st, id, STORE_JOB_DONE, 0, NULL, NULL, NULL); break;
        case 3: store_job_finish(st, id, STORE_JOB_DEAD, 0, "x", NULL, NULL); break;
        case 4: store_job_finish(st, id, STORE_JOB_RETRY_WAIT, 1, "x", NULL, NULL); break;
        case 5: { int k = 0; store_jobs_promote_due(st, store_now_ms(), &k); store_job_retry(st, id); break; }
        default: store_job_drop(st, id); break;
        }
        if (op % 50 == 49) {
            int64_t got[STORE_JOB_NSTATES][STORE_JOB_NPRIORITIES], want[STORE_JOB_NSTATES][STORE_JOB_NPRIORITIES];
            assert_int_equal(store_jobs_depth(st, got), 0);
            depth_by_scan(path, want);
            assert_memory_equal(got, want, sizeof got);
        }
    }
    int64_t before[STORE_JOB_NSTATES][STORE_JOB_NPRIORITIES], after[STORE_JOB_NSTATES][STORE_JOB_NPRIORITIES];
    depth_by_scan(path, before);
    assert_true(before[STORE_JOB_DONE][0] + before[STORE_JOB_DONE][1] + before[STORE_JOB_DEAD][0] +
                before[STORE_JOB_QUEUED][0] + before[STORE_JOB_QUEUED][1] > 0);
    store_close(st);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "DROP TRIGGER jobs_count_insert; DROP TRIGGER jobs_count_update; DROP TRIGGER jobs_count_delete; DROP TABLE job_counts;"
                                  "DROP TRIGGER backlog_count_insert; DROP TRIGGER backlog_count_delete; DROP TABLE backlog_counts;" "PRAGMA user_version=5", NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    st = open_db("counts.db");
    assert_int_equal(store_jobs_depth(st, after), 0);
    assert_memory_equal(after, before, sizeof after);
    store_close(st);
}

/* store_backlog_depth as the GROUP BY scans it replaced would count it. */
static void backlog_by_scan(const char *path, int64_t want[STORE_JOB_NPRIORITIES], int64_t *oldest)
{
    sqlite3 *db;
    sqlite3_stmt *q;
    memset(want, 0, sizeof(int64_t) * STORE_JOB_NPRIORITIES);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT lane, count(*) FROM backlog GROUP BY lane", -1,
                                        &q, NULL), SQLITE_OK);
    while (sqlite3_step(q) == SQLITE_ROW) want[sqlite3_column_int(q, 0)] = sqlite3_column_int64(q, 1);
    sqlite3_finalize(q);
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT coalesce(min(e.received_at), 0) FROM events e"
                                        " WHERE e.id IN (SELECT min(event_id) FROM backlog GROUP BY lane)",
                                        -1, &q, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    *oldest = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    sqlite3_close(db);
}

/* The backlog's counts by lane, kept by triggers, and its oldest entry match the scans after
 * every insert and removal in a random order (lanes of every priority, duplicates, entries
 * taken from the middle), and survive a migration from a database without them. */
static void test_backlog_counts(void **state)
{
    (void)state;
    char path[300];
    snprintf(path, sizeof path, "%s/bcounts.db", dir);
    struct store *st = open_db("bcounts.db");
    struct { int lane; int64_t id; } live[200];
    int n = 0;
    uint64_t r = 0xD1B54A32D192ED03ULL;
    for (int op = 0; op < 600; op++) {
        r ^= r << 13; r ^= r >> 7; r ^= r << 17;
        if (n < 3 || (r >> 10) % 3 != 0) {
            if (n == 200) continue;
            char key[32];
            /* every tenth a duplicate of an earlier delivery: stored once, queued once */
            snprintf(key, sizeof key, "b%d", op % 10 == 9 ? op - 9 : op);
            struct store_event ev = { .source = "shopify", .topic = "orders/create",
                                      .dedupe_key = key, .body = "{}", .body_len = 2,
                                      .lane = (int)((r >> 20) % STORE_JOB_NPRIORITIES),
                                      .received_at = 1700000000000 + op };
            int ins = 0;
            assert_int_equal(store_event_insert(st, &ev, &ins), 0);
            if (ins) {
                live[n].lane = ev.lane;
                live[n++].id = ev.id;
            }
        } else {
            int k = (int)((r >> 30) % (uint64_t)n);
            assert_int_equal(store_backlog_remove(st, live[k].lane, live[k].id), 0);
            live[k] = live[--n];
        }
        if (op % 40 == 39) {
            int64_t got[STORE_JOB_NPRIORITIES], want[STORE_JOB_NPRIORITIES], go, wo;
            assert_int_equal(store_backlog_depth(st, got, &go), 0);
            backlog_by_scan(path, want, &wo);
            assert_memory_equal(got, want, sizeof got);
            assert_int_equal(go, wo);
        }
    }
    int64_t before[STORE_JOB_NPRIORITIES], after[STORE_JOB_NPRIORITIES], bo, ao;
    backlog_by_scan(path, before, &bo);
    assert_true(n > 0 && bo > 0);
    store_close(st);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "DROP TRIGGER backlog_count_insert; DROP TRIGGER backlog_count_delete;"
                                  " DROP TABLE backlog_counts; PRAGMA user_version=6", NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    st = open_db("bcounts.db");
    assert_int_equal(store_backlog_depth(st, after, &ao), 0);
    assert_memory_equal(after, before, sizeof after);
    assert_int_equal(ao, bo);
    store_close(st);
}

/* The catch-up poller's "seen" times only move forward, whatever order deliveries come in. */
static void test_snapshot_raise(void **state)
{
    (void)state;
    struct store *st = open_db("raise.db");
    char *v = NULL;
    assert_int_equal(store_snapshot_raise(st, "k", "1", 1735743600000), 0);
    assert_int_equal(store_snapshot_get(st, "k", "1", &v), 0);
    assert_string_equal(v, "1735743600000");
    free(v);
    assert_int_equal(store_snapshot_raise(st, "k", "1", 999), 0);          /* older: kept */
    assert_int_equal(store_snapshot_get(st, "k", "1", &v), 0);
    assert_string_equal(v, "1735743600000");
    free(v);
    assert_int_equal(store_snapshot_raise(st, "k", "1", 1735743600001), 0); /* newer: raised */
    assert_int_equal(store_snapshot_get(st, "k", "1", &v), 0);
    assert_string_equal(v, "1735743600001");
    free(v);
    assert_int_equal(store_snapshot_get(st, "k", "2", &v), STORE_NOTFOUND);
    store_close(st);
}

static void test_locked_is_a_clear_error(void **state)
{
    (void)state;
    struct store *st = open_db("l.db");
    char path[300];
    snprintf(path, sizeof path, "%s/l.db", dir);
    sqlite3 *other;
    assert_int_equal(sqlite3_open(path, &other), SQLITE_OK);
    assert_int_equal(sqlite3_exec(other, "BEGIN EXCLUSIVE", NULL, NULL, NULL), SQLITE_OK);
    store_set_busy_timeout(st, 50);
    assert_int_equal(store_begin(st), -1);
    assert_non_null(strstr(store_errmsg(st), "locked"));
    sqlite3_exec(other, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_close(other);
    assert_int_equal(store_begin(st), 0); /* usable again once the lock is gone */
    assert_int_equal(store_commit(st), 0);
    store_close(st);
}

static void test_newer_schema_refused(void **state)
{
    (void)state;
    struct store *st = open_db("n.db");
    store_close(st);
    char path[300], err[512] = "";
    snprintf(path, sizeof path, "%s/n.db", dir);
    sqlite3 *db;
    sqlite3_open(path, &db);
    sqlite3_exec(db, "PRAGMA user_version=999", NULL, NULL, NULL);
    sqlite3_close(db);
    assert_int_equal(store_open(&st, path, 0, err, sizeof err), -1);
    assert_non_null(strstr(err, "newer than this ezsync knows"));
}

static off_t file_size(const char *name)
{
    char path[300];
    struct stat sb;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return stat(path, &sb) == 0 ? sb.st_size : -1;
}

/* The receiver's checkpoint policy: commits never checkpoint (autocheckpoint off), a
 * checkpointer thread copies the log, and the writer finishes the copy between commits when
 * told it is behind. Under sustained commits the log file must stay bounded. */
static void test_checkpointer_bounds_the_log(void **state)
{
    (void)state;
    char path[300], err[512], key[32], body[3000];
    struct store *st = open_db("c.db");
    snprintf(path, sizeof path, "%s/c.db", dir);
    store_set_autocheckpoint(st, 0);
    struct checkpointer *ck = checkpointer_start(path, err, sizeof err);
    if (!ck) fail_msg("checkpointer: %s", err);
    memset(body, 'x', sizeof body);
    off_t max_wal = 0;
    for (int batch = 0; batch < 600; batch++) {   /* ~30k pages through the log */
        assert_int_equal(store_begin(st), 0);
        for (int i = 0; i < 50; i++) {
            struct store_event ev = { .source = "shopify", .topic = "orders/create",
                                      .dedupe_key = key, .headers = "{}", .body = body,
                                      .body_len = sizeof body };
            int inserted = 0;
            snprintf(key, sizeof key, "k-%d-%d", batch, i);
            assert_int_equal(store_event_insert(st, &ev, &inserted), 0);
        }
        assert_int_equal(store_commit(st), 0);
        if (checkpointer_behind(ck)) {
            /* As the receiver's writer does: a full copy of its own clears the flag at once,
             * not at the checkpointer's next run (else the next commits each checkpoint). */
            int log_pages = 0, copied = 0;
            assert_int_equal(store_checkpoint(st, 0, &log_pages, &copied), 0);
            if (copied >= log_pages) {
                checkpointer_caught_up(ck);
                assert_false(checkpointer_behind(ck));
            }
        }
        off_t w = file_size("c.db-wal");
        if (w > max_wal) max_wal = w;
    }
    long runs = 0;
    checkpointer_stats(ck, &runs, NULL);
    checkpointer_stop(ck);
    assert_true(runs > 0);
    /* Behind-threshold plus what lands before the writer's catch-up: far below the ~120 MB
     * that went through it. */
    assert_true(max_wal < (off_t)(4 * CHECKPOINTER_BEHIND_PAGES) * 4120);
    assert_int_equal(store_event_count(st), 30000);
    store_close(st);
}

/* An idle store is not looked at every CHECKPOINTER_INTERVAL_MS: the checkpointer backs off
 * while the log does not change, and comes back to the short interval when it does. */
static void test_checkpointer_idles(void **state)
{
    (void)state;
    char path[300], err[512];
    struct store *st = open_db("i.db");
    snprintf(path, sizeof path, "%s/i.db", dir);
    struct checkpointer *ck = checkpointer_start(path, err, sizeof err);
    if (!ck) fail_msg("checkpointer: %s", err);
    struct timespec d = { 1, 200000000L };
    nanosleep(&d, NULL);
    long idle = 0, busy = 0;
    checkpointer_stats(ck, &idle, NULL);
    /* 1.2 s at the short interval would be ~240 runs; backing off to 320 ms gives ~8. */
    assert_true(idle >= 2 && idle <= 20);
    struct timespec tick = { 0, 2000000L };
    for (int i = 0; i < 300; i++) {               /* ~0.6 s of steady commits */
        char key[32];
        struct store_event ev = { .source = "shopify", .topic = "t", .dedupe_key = key,
                                  .headers = "{}", .body = "{}", .body_len = 2 };
        int inserted = 0;
        snprintf(key, sizeof key, "i-%d", i);
        assert_int_equal(store_event_insert(st, &ev, &inserted), 0);
        nanosleep(&tick, NULL);
    }
    checkpointer_stats(ck, &busy, NULL);
    checkpointer_stop(ck);
    assert_true(busy - idle > 20);                /* back to the short interval */
    store_close(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_migrates_to_current_version),
        cmocka_unit_test(test_wal_and_full_sync),
        cmocka_unit_test(test_event_insert_dedupes),
        cmocka_unit_test(test_group_commit_and_rollback),
        cmocka_unit_test(test_kv_idmap_snapshots_audit),
        cmocka_unit_test(test_corrupt_file_is_a_clear_error),
        cmocka_unit_test(test_unwritable_is_a_clear_error),
        cmocka_unit_test(test_locked_is_a_clear_error),
        cmocka_unit_test(test_busy_wait_ends_at_release),
        cmocka_unit_test(test_snapshot_raise),
        cmocka_unit_test(test_migration_4_drops_unread_indexes),
        cmocka_unit_test(test_migration_5_backlog),
        cmocka_unit_test(test_job_counts),
        cmocka_unit_test(test_backlog_counts),
        cmocka_unit_test(test_checkpointer_idles),
        cmocka_unit_test(test_newer_schema_refused),
        cmocka_unit_test(test_checkpointer_bounds_the_log),
    };
    return cmocka_run_group_tests_name("store", tests, setup, teardown);
}
