/* Tests for src/dlq.c through the built binary ($EZSYNC_BIN dlq ...) on a real database:
 * output, --json, retry / drop semantics and exit codes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "dlq.h"
#include "journal.h"
#include "log.h"
#include "store.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static char db[600];
static int64_t dead_id, queued_id;

/* Runs `ezsync dlq ARGS --db DB`; returns the exit code, stdout in out (malloc'd). */
static int run(const char *args, char **out)
{
    const char *bin = getenv("EZSYNC_BIN");
    char cmd[1500];
    snprintf(cmd, sizeof cmd, "'%s' dlq %s --db '%s' 2>/dev/null", bin ? bin : "./ezsync", args, db);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t len = 0, cap = 4096;
    char *buf = malloc(cap);
    size_t n;
    while ((n = fread(buf + len, 1, cap - len - 1, p)) > 0) {
        len += n;
        if (cap - len < 512) buf = realloc(buf, cap *= 2);
    }
    buf[len] = '\0';
    int status = pclose(p);
    if (out) *out = buf;
    else free(buf);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int64_t add_job(struct store *st, const char *topic, const char *entity, const char *key)
{
    struct store_event ev = { .source = "shopify", .topic = topic, .dedupe_key = key,
                              .body = "{\"id\":1}", .body_len = 8, .lane = STORE_LANE_NONE };
    int inserted;
    assert_int_equal(store_event_insert(st, &ev, &inserted), 0);
    struct store_job j = { .event_id = ev.id, .state = STORE_JOB_QUEUED, .priority = 0,
                           .entity_key = (char *)entity, .topic = (char *)topic };
    assert_int_equal(store_job_insert(st, &j), 0);
    return j.id;
}

static int setup(void **state)
{
    (void)state;
    char err[512];
    const char *dir = getenv("EZSYNC_TEST_TMP");
    struct store *st;
    snprintf(db, sizeof db, "%s/dlq-%d.db", dir && *dir ? dir : "/tmp", (int)getpid());
    unlink(db);
    assert_int_equal(store_open(&st, db, 0, err, sizeof err), 0);
    dead_id = add_job(st, "orders/create", "shopify:order:1", "k1");
    queued_id = add_job(st, "products/update", "shopify:product:2", "k2");
    assert_int_equal(store_job_start(st, dead_id, "v1"), 0);
    struct journal_request r = { 1, "POST", "/distributor/orders", "{}" };
    char hash[JOURNAL_HASH_LEN + 1];
    journal_hash(&r, hash);
    assert_int_equal(journal_record(st, dead_id, 1, &r, hash, 201, "{\"data\":{\"id\":9}}"), 0);
    assert_int_equal(store_job_finish(st, dead_id, STORE_JOB_DEAD, 0,
                     "orderez POST /distributor/orders: HTTP 422",
                     "orderez POST /distributor/orders: HTTP 422\nstack traceback:\n\t[rule]:3",
                     "{\"request\":{\"path\":\"/distributor/orders\"},\"status\":422}"), 0);
    store_close(st);
    return 0;
}

static void test_list(void **state)
{
    (void)state;
    char *out;
    assert_int_equal(run("list", &out), 0);
    assert_non_null(strstr(out, "ID"));
    assert_non_null(strstr(out, "orders/create"));
    assert_non_null(strstr(out, "shopify:order:1"));
    assert_non_null(strstr(out, "HTTP 422"));
    assert_null(strstr(out, "stack traceback"));
    assert_null(strstr(out, "products/update"));    /* queued: not a dead letter */
    free(out);
    assert_int_equal(run("list --json", &out), 0);
    json_t *arr = json_loads(out, 0, NULL);
    assert_int_equal(json_array_size(arr), 1);
    json_t *o = json_array_get(arr, 0);
    assert_int_equal(json_integer_value(json_object_get(o, "id")), dead_id);
    assert_int_equal(json_integer_value(json_object_get(o, "attempts")), 1);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(o, "failed_request"),
                                                        "status")), 422);
    json_decref(arr);
    free(out);
    assert_int_equal(run("list --state all --json", &out), 0);
    arr = json_loads(out, 0, NULL);
    assert_int_equal(json_array_size(arr), 2);
    json_decref(arr);
    free(out);
}

static void test_show(void **state)
{
    (void)state;
    char *out, args[64];
    snprintf(args, sizeof args, "show %lld --json", (long long)dead_id);
    assert_int_equal(run(args, &out), 0);
    json_t *o = json_loads(out, 0, NULL);
    assert_non_null(o);
    assert_non_null(strstr(json_string_value(json_object_get(o, "traceback")), "stack traceback"));
    json_t *j = json_object_get(o, "journal");
    assert_int_equal(json_array_size(j), 1);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(j, 0), "status")), 201);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(o, "event"), "id")), 1);
    json_decref(o);
    free(out);
    assert_int_equal(run("show 9999", NULL), 1);
}

static void test_retry_and_drop(void **state)
{
    (void)state;
    char args[64], err[512];
    snprintf(args, sizeof args, "retry %lld", (long long)queued_id);
    assert_int_equal(run(args, NULL), 1);             /* not dead */
    snprintf(args, sizeof args, "drop %lld", (long long)dead_id);
    assert_int_equal(run(args, NULL), 0);
    snprintf(args, sizeof args, "retry %lld", (long long)dead_id);
    assert_int_equal(run(args, NULL), 1);             /* dropped, not dead any more */
    /* back to dead, then retry: queued with attempts reset, journal kept */
    struct store *st;
    assert_int_equal(store_open(&st, db, 0, err, sizeof err), 0);
    struct store_job j;
    assert_int_equal(store_job_get(st, dead_id, &j), 0);
    assert_int_equal(j.state, STORE_JOB_DROPPED);
    store_job_free(&j);
    store_close(st);
    setup(NULL);
    snprintf(args, sizeof args, "retry %lld", (long long)dead_id);
    assert_int_equal(run(args, NULL), 0);
    assert_int_equal(store_open(&st, db, 0, err, sizeof err), 0);
    assert_int_equal(store_job_get(st, dead_id, &j), 0);
    assert_int_equal(j.state, STORE_JOB_QUEUED);
    assert_int_equal(j.attempts, 0);
    assert_null(j.last_error);
    store_job_free(&j);
    struct store_journal e;
    assert_int_equal(store_journal_get(st, dead_id, 1, &e), 0);
    store_journal_free(&e);
    store_close(st);
}

static void test_usage(void **state)
{
    (void)state;
    assert_int_equal(run("", NULL), 2);
    assert_int_equal(run("frobnicate", NULL), 2);
    assert_int_equal(run("show", NULL), 2);
    assert_int_equal(run("show abc", NULL), 2);
    assert_int_equal(run("list extra", NULL), 2);
    assert_int_equal(run("list --state nope", NULL), 2);
    char *out;
    assert_int_equal(run("--help", &out), 0);
    assert_non_null(strstr(out, "ezsync dlq list"));
    free(out);
    char saved[580];
    snprintf(saved, sizeof saved, "%.570s", db);
    snprintf(db, sizeof db, "%s.missing", saved);
    assert_int_equal(run("list", NULL), 1);
    snprintf(db, sizeof db, "%s", saved);
}

static int teardown(void **state)
{
    (void)state;
    unlink(db);
    return 0;
}

int main(void)
{
    log_setup(LOG_ERROR, LOG_LOGFMT, NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_list),
        cmocka_unit_test(test_show),
        cmocka_unit_test(test_retry_and_drop),
        cmocka_unit_test(test_usage),
    };
    return cmocka_run_group_tests_name("dlq", tests, setup, teardown);
}
