/* Unit tests for src/dryrun_index.c: a read is answered by its last recording in the file,
 * whichever chunk holds it and whichever way the chunks are built (threads or lookups, known or
 * unknown size); a line that straddles a chunk boundary counts once; writes are never indexed;
 * a read recorded nowhere is NULL. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "dryrun_index.h"
#include "rules.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LINES 997      /* not a multiple of anything below: lines fall across chunk bounds */
#define PATHS 37

static char path[128];
static long file_size, line_start[LINES];

/* Line i: an OrderEZ GET of /p/(i % PATHS) answered "r<i>", a POST (a write) of the same path,
 * and every 10th line a GraphQL query and a mutation; line lengths vary with i. */
static void write_recording(void)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    for (int i = 0; i < LINES; i++) {
        line_start[i] = ftell(f);
        fprintf(f, "{\"event\":{\"id\":%d,\"source\":\"shopify\",\"topic\":\"t\",\"body\":\"%*s\"},"
                   "\"calls\":[{\"kind\":\"orderez\",\"method\":\"GET\",\"path\":\"/p/%d\","
                   "\"status\":200,\"response\":\"r%d\"},{\"kind\":\"orderez\",\"method\":\"POST\","
                   "\"path\":\"/w/%d\",\"body\":\"{}\",\"status\":201,\"response\":\"w%d\"}",
                i, i % 50, "", i % PATHS, i, i % PATHS, i);
        if (i % 10 == 0)
            fprintf(f, ",{\"kind\":\"shopify\",\"method\":\"POST\",\"body\":\"{\\\"query\\\":\\\"query Q%d "
                       "{ shop { id } }\\\"}\",\"status\":200,\"response\":\"q%d\"},{\"kind\":\"shopify\","
                       "\"method\":\"POST\",\"body\":\"{\\\"query\\\":\\\"mutation M { x }\\\"}\","
                       "\"status\":200,\"response\":\"m%d\"}",
                    i % 30, i, i);
        fprintf(f, ",{\"kind\":\"orderez\",\"method\":\"GET\",\"path\":\"/u/%d\",\"status\":200,"
                   "\"response\":\"u%d\"}]}\n", i, i);
    }
    file_size = ftell(f);
    fclose(f);
}

static void check_answers(struct dryrun_index *ix)
{
    char p[32], want[32], body[96];
    /* in an order that reaches early chunks first, then late ones again */
    for (int k = 0; k < PATHS; k++) {
        int pk = (k * 7) % PATHS;
        int last = LINES - 1 - (LINES - 1 - pk) % PATHS; /* the last line i with i % PATHS == pk */
        snprintf(p, sizeof p, "/p/%d", pk);
        const struct dryrun_call *c = dryrun_index_find(ix, RULES_IO_ORDEREZ, "GET", p, NULL);
        assert_non_null(c);
        snprintf(want, sizeof want, "r%d", last);
        assert_string_equal(c->response, want);
        assert_int_equal(c->status, 200);
        assert_string_equal(c->path, p);
        /* writes are never answered from another event */
        snprintf(p, sizeof p, "/w/%d", k);
        assert_null(dryrun_index_find(ix, RULES_IO_ORDEREZ, "POST", p, "{}"));
    }
    for (int q = 0; q < 30; q++) {
        int last = -1;
        for (int i = 0; i < LINES; i += 10)
            if (i % 30 == q) last = i;
        snprintf(body, sizeof body, "{\"query\":\"query Q%d { shop { id } }\"}", q);
        const struct dryrun_call *c = dryrun_index_find(ix, RULES_IO_SHOPIFY, "POST", "/x", body);
        if (last < 0) {
            assert_null(c);
            continue;
        }
        assert_non_null(c);
        snprintf(want, sizeof want, "q%d", last);
        assert_string_equal(c->response, want);
    }
    assert_null(dryrun_index_find(ix, RULES_IO_SHOPIFY, "POST", "/x",
                                  "{\"query\":\"mutation M { x }\"}"));
    assert_null(dryrun_index_find(ix, RULES_IO_ORDEREZ, "GET", "/nowhere", NULL));
    for (int i = 0; i < LINES; i++) { /* recorded once each: every line is in one chunk */
        snprintf(p, sizeof p, "/u/%d", i);
        const struct dryrun_call *c = dryrun_index_find(ix, RULES_IO_ORDEREZ, "GET", p, NULL);
        if (!c) fail_msg("line %d (at byte %ld) is in no chunk", i, line_start[i]);
        snprintf(want, sizeof want, "u%d", i);
        assert_string_equal(c->response, want);
    }
}

static void test_last_recording_wins(void **state)
{
    (void)state;
    write_recording();
    /* size 1: the chunks' bounds fall on line starts (every chunk starts a line), as a
     * size that is a multiple of the chunk count can make them */
    static const struct { long size; int threads; } ways[] = {
        { 0, 0 }, { 0, 1 }, { 0, 2 }, { 1, 0 }, { 1, 2 }, { -1, 0 }, { -1, 2 }, { 5, 0 },
    };
    for (size_t w = 0; w < sizeof ways / sizeof ways[0]; w++) {
        long size = ways[w].size == 0 ? file_size
                    : ways[w].size == 1 ? line_start[LINES / DRYRUN_INDEX_CHUNKS] * DRYRUN_INDEX_CHUNKS
                                        : ways[w].size;
        struct dryrun_index *ix = dryrun_index_new(path, size, ways[w].threads);
        assert_non_null(ix);
        check_answers(ix);
        check_answers(ix); /* answers are stable once found */
        dryrun_index_free(ix);
    }
}

/* Built by lookups alone: an answer found while only the last chunks are in stays valid, and
 * the same, while the lookups that follow build and merge every other chunk. */
static void test_answers_stay(void **state)
{
    (void)state;
    write_recording();
    struct dryrun_index *ix = dryrun_index_new(path, file_size, 0);
    assert_non_null(ix);
    const struct dryrun_call *early = dryrun_index_find(ix, RULES_IO_ORDEREZ, "GET", "/p/3", NULL);
    assert_non_null(early);
    char want[32];
    snprintf(want, sizeof want, "r%d", LINES - 1 - (LINES - 1 - 3) % PATHS);
    assert_string_equal(early->response, want);
    assert_null(dryrun_index_find(ix, RULES_IO_ORDEREZ, "GET", "/nowhere", NULL)); /* all in */
    check_answers(ix);
    assert_string_equal(early->response, want);
    assert_ptr_equal(early, dryrun_index_find(ix, RULES_IO_ORDEREZ, "GET", "/p/3", NULL));
    dryrun_index_free(ix);
}

static int threads_now(void)
{
    DIR *d = opendir("/proc/self/task");
    int n = 0;
    assert_non_null(d);
    for (struct dirent *e; (e = readdir(d));) n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

/* No builder starts before a lookup needs more than the file's last chunk: a replay that looks
 * up no read, or only reads recorded again at the end, never reads the whole file twice. */
static void test_builders_start_when_needed(void **state)
{
    (void)state;
    write_recording();
    int before = threads_now();
    struct dryrun_index *ix = dryrun_index_new(path, file_size, 2);
    assert_non_null(ix);
    assert_int_equal(threads_now(), before);
    assert_null(dryrun_index_find(ix, RULES_IO_ORDEREZ, "POST", "/w/1", "{}")); /* a write */
    assert_int_equal(threads_now(), before);
    /* every /p/ path recurs in the last chunk: this lookup builds that chunk, and no more */
    const struct dryrun_call *c = dryrun_index_find(ix, RULES_IO_ORDEREZ, "GET", "/p/1", NULL);
    assert_non_null(c);
    char want[32];
    snprintf(want, sizeof want, "r%d", LINES - 1 - (LINES - 1 - 1) % PATHS);
    assert_string_equal(c->response, want);
    assert_int_equal(threads_now(), before);
    /* /u/0 is in the first chunk only: the builders start (and may be done by now) */
    check_answers(ix);
    dryrun_index_free(ix);
    assert_int_equal(threads_now(), before);
}

/* Freed while its builders are still at work (a replay that ends early): they stop after
 * their chunk; nothing leaks or hangs. */
static void test_free_midway(void **state)
{
    (void)state;
    write_recording();
    for (int i = 0; i < 20; i++) {
        struct dryrun_index *ix = dryrun_index_new(path, file_size, 2);
        if (i % 2) assert_non_null(dryrun_index_find(ix, RULES_IO_ORDEREZ, "GET", "/p/1", NULL));
        dryrun_index_free(ix);
    }
    dryrun_index_free(NULL);
    assert_null(dryrun_index_find(NULL, RULES_IO_ORDEREZ, "GET", "/p/1", NULL));
}

/* A missing file is an empty index, not a failure: every lookup is NULL. */
static void test_missing_file(void **state)
{
    (void)state;
    struct dryrun_index *ix = dryrun_index_new("/nonexistent/recording.jsonl", 100000, 2);
    assert_non_null(ix);
    assert_null(dryrun_index_find(ix, RULES_IO_ORDEREZ, "GET", "/p/1", NULL));
    dryrun_index_free(ix);
}

static int setup(void **state)
{
    (void)state;
    const char *dir = getenv("EZSYNC_TEST_TMP");
    snprintf(path, sizeof path, "%s/test_dryrun_index.%d.jsonl", dir ? dir : "/tmp", (int)getpid());
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    remove(path);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_last_recording_wins),
        cmocka_unit_test(test_answers_stay),
        cmocka_unit_test(test_builders_start_when_needed),
        cmocka_unit_test(test_free_midway),
        cmocka_unit_test(test_missing_file),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
