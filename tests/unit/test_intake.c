/* intake: the acknowledgement log on real files and a real store — round trips of every field,
 * the dedupe index under many keys, crash recovery (exactly the records past the mark), torn
 * and damaged tails, reuse of the file, and failing writes and moves. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include "intake.h"
#include "store.h"
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dbpath[512], logpath[600];

static struct store *fresh(const char *name)
{
    char err[512];
    const char *dir = getenv("EZSYNC_TEST_TMP");
    snprintf(dbpath, sizeof dbpath, "%s/%s.db", dir ? dir : "/tmp", name);
    snprintf(logpath, sizeof logpath, "%s-intake", dbpath);
    unlink(dbpath);
    unlink(logpath);
    struct store *st = NULL;
    assert_int_equal(store_open(&st, dbpath, 0, err, sizeof err), 0);
    return st;
}

static struct intake *open_log(void)
{
    char err[512];
    struct intake *ik = intake_open(logpath, err, sizeof err);
    assert_non_null(ik);
    return ik;
}

static struct store_event event(const char *key, const char *body)
{
    return (struct store_event){ .source = "shopify", .topic = "orders/create",
                                 .dedupe_key = key, .headers = "{\"x\":1}", .body = body,
                                 .body_len = strlen(body), .lane = 0 };
}

static void append(struct intake *ik, const char *prefix, int from, int to)
{
    char err[256], key[64], body[64];
    for (int i = from; i < to; i++) {
        snprintf(key, sizeof key, "%s-%d", prefix, i);
        snprintf(body, sizeof body, "{\"n\":%d}", i);
        struct store_event ev = event(key, body);
        assert_int_equal(intake_holds(ik, key, err, sizeof err), 0);
        assert_int_equal(intake_stage(ik, &ev, err, sizeof err), 0);
        assert_int_equal(intake_holds(ik, key, err, sizeof err), 1);   /* staged counts */
    }
    assert_int_equal(intake_commit(ik, err, sizeof err), 0);
}

static long move(struct intake *ik, struct store *st, size_t max, size_t *rows)
{
    char err[256];
    int64_t first, last;
    size_t r = 0;
    long n = intake_move(ik, st, max, &r, &first, &last, err, sizeof err);
    if (rows) *rows = r;
    if (r) assert_true(last >= first && first > 0);
    return n;
}

/* Every field, NULLs, a body with NULs and one larger than a move's read, survive the log. */
static void test_round_trip(void **state)
{
    (void)state;
    char err[256];
    struct store *st = fresh("round");
    struct intake *ik = open_log();
    size_t big_len = INTAKE_MOVE_BYTES + 12345;
    char *big = malloc(big_len);
    for (size_t i = 0; i < big_len; i++) big[i] = (char)('a' + i % 26);
    struct store_event a = { .source = "shopify", .topic = "orders/create", .dedupe_key = "k-a",
                             .event_id = "evt-1", .triggered_at = "2026-11-26T10:00:00Z",
                             .shop = "s.myshopify.com", .api_version = "2026-10",
                             .headers = "{\"x-shopify-topic\":\"orders/create\"}",
                             .body = "bin\0ary", .body_len = 7, .received_at = 1234, .lane = 2 };
    struct store_event b = { .source = "orderez", .topic = "stock/changed", .dedupe_key = "k-b",
                             .body = big, .body_len = big_len, .lane = 4 };
    struct store_event c = event("k-c", "{\"名\":\"Zürich ☕\"}");
    assert_int_equal(intake_stage(ik, &a, err, sizeof err), 0);
    assert_int_equal(intake_stage(ik, &b, err, sizeof err), 0);
    assert_int_equal(intake_stage(ik, &c, err, sizeof err), 0);
    assert_int_equal(intake_commit(ik, err, sizeof err), 0);
    assert_int_equal(intake_pending(ik), 3);
    assert_true(intake_pending_bytes(ik) > (int64_t)big_len);
    /* One at a time: the big record is read on its own. */
    size_t rows;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(move(ik, st, 1, &rows), 1);
        assert_int_equal(rows, 1);
    }
    assert_int_equal(intake_pending(ik), 0);
    assert_int_equal(intake_pending_bytes(ik), 0);
    struct store_event got;
    assert_int_equal(store_event_get(st, 1, &got), 0);
    assert_string_equal(got.source, "shopify");
    assert_string_equal(got.dedupe_key, "k-a");
    assert_string_equal(got.event_id, "evt-1");
    assert_string_equal(got.triggered_at, "2026-11-26T10:00:00Z");
    assert_string_equal(got.shop, "s.myshopify.com");
    assert_string_equal(got.api_version, "2026-10");
    assert_string_equal(got.headers, "{\"x-shopify-topic\":\"orders/create\"}");
    assert_int_equal(got.body_len, 7);
    assert_memory_equal(got.body, "bin\0ary", 7);
    assert_int_equal(got.received_at, 1234);
    store_event_free(&got);
    assert_int_equal(store_event_get(st, 2, &got), 0);
    assert_string_equal(got.source, "orderez");
    assert_null(got.event_id);
    assert_null(got.headers);
    assert_int_equal(got.body_len, big_len);
    assert_memory_equal(got.body, big, big_len);
    assert_true(got.received_at > 0);                /* 0 meant now, at staging */
    store_event_free(&got);
    assert_int_equal(store_event_get(st, 3, &got), 0);
    assert_string_equal(got.body, "{\"名\":\"Zürich ☕\"}");
    store_event_free(&got);
    /* Each in its lane's backlog. */
    int64_t depth[STORE_JOB_NPRIORITIES], oldest;
    assert_int_equal(store_backlog_depth(st, depth, &oldest), 0);
    assert_int_equal(depth[0], 1);
    assert_int_equal(depth[2], 1);
    assert_int_equal(depth[4], 1);
    free(big);
    intake_close(ik);
    store_close(st);
}

/* Thousands of keys through the dedupe index, moved in uneven chunks: a key is held exactly
 * while its record waits (the index's deletions keep every other key findable). */
static void test_many_keys(void **state)
{
    (void)state;
    char err[256], key[64];
    struct store *st = fresh("many");
    struct intake *ik = open_log();
    const int N = 6000;
    append(ik, "m", 0, N / 2);
    append(ik, "m", N / 2, N);
    assert_int_equal(intake_pending(ik), (size_t)N);
    int moved = 0;
    size_t chunk = 7;
    while (moved < N) {
        long n = move(ik, st, chunk, NULL);
        assert_true(n > 0);
        moved += (int)n;
        chunk = chunk * 3 % 997 + 1;
        /* Sample keys on both sides of the boundary. */
        for (int i = 0; i < N; i += 37) {
            snprintf(key, sizeof key, "m-%d", i);
            assert_int_equal(intake_holds(ik, key, err, sizeof err), i >= moved);
            assert_int_equal(store_event_exists(st, key), i < moved);
        }
    }
    assert_int_equal(store_event_count(st), N);
    assert_int_equal(intake_holds(ik, "m-0", err, sizeof err), 0);
    intake_close(ik);
    store_close(st);
}

/* A crash (the log closed with records not moved): the next start moves exactly the ones past
 * the mark, once, and starts the file over. */
static void test_recover(void **state)
{
    (void)state;
    char err[256];
    struct store *st = fresh("recover");
    struct intake *ik = open_log();
    assert_int_equal(intake_recover(ik, st, err, sizeof err), 0);    /* nothing yet */
    append(ik, "r", 0, 10);
    assert_int_equal(move(ik, st, 4, NULL), 4);
    append(ik, "r", 10, 15);
    intake_close(ik);                                   /* crash: 11 acknowledged, not moved */
    assert_int_equal(store_event_count(st), 4);
    int64_t mark;
    assert_int_equal(store_intake_mark(st, &mark), 0);
    assert_int_equal(mark, 4);

    ik = open_log();
    assert_int_equal(intake_recover(ik, st, err, sizeof err), 11);
    assert_int_equal(store_event_count(st), 15);
    assert_int_equal(intake_pending(ik), 0);
    assert_int_equal(store_intake_mark(st, &mark), 0);
    assert_int_equal(mark, 15);
    /* Numbers go on from the mark; the file is written from its start again, and the records
     * of before that still follow there are not taken for new ones. */
    append(ik, "r", 15, 16);
    intake_close(ik);
    ik = open_log();
    assert_int_equal(intake_recover(ik, st, err, sizeof err), 1);
    assert_int_equal(store_event_count(st), 16);
    assert_int_equal(store_intake_mark(st, &mark), 0);
    assert_int_equal(mark, 16);
    /* A clean run: nothing to recover. */
    intake_close(ik);
    ik = open_log();
    assert_int_equal(intake_recover(ik, st, err, sizeof err), 0);
    assert_int_equal(store_event_count(st), 16);
    intake_close(ik);
    store_close(st);
}

static off_t file_size(const char *path)
{
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    return sb.st_size;
}

/* A torn last record (the crash came during its write: it was never acknowledged) and a
 * damaged one: recovery takes every sound record before it and stops there. */
static void test_torn_and_damaged(void **state)
{
    (void)state;
    char err[256];
    struct store *st = fresh("torn");
    struct intake *ik = open_log();
    append(ik, "t", 0, 5);
    off_t size = (off_t)intake_pending_bytes(ik);       /* the records' end: zeros follow */
    intake_close(ik);
    assert_true(file_size(logpath) >= size);
    assert_int_equal(truncate(logpath, size - size / 10), 0);   /* half the fifth: torn */
    ik = open_log();
    assert_int_equal(intake_recover(ik, st, err, sizeof err), 4);
    assert_string_equal(err, "");                       /* a torn tail loses nothing acked */
    assert_int_equal(store_event_exists(st, "t-3"), 1);
    assert_int_equal(store_event_exists(st, "t-4"), 0);
    append(ik, "u", 0, 3);
    off_t rec = (off_t)(intake_pending_bytes(ik) / 3);  /* three records of one size */
    intake_close(ik);
    /* Flip a byte inside the second record's payload: its CRC no longer matches. */
    int fd = open(logpath, O_RDWR);
    assert_true(fd >= 0);
    char byte;
    uint32_t len;                  /* the payload's length, its body {"n":1} and a NUL last */
    assert_int_equal(pread(fd, &len, 4, rec + 4), 4);
    off_t at = rec + 24 + (off_t)len - 3;   /* the digit: the shape stays sound */
    assert_int_equal(pread(fd, &byte, 1, at), 1);
    assert_true(byte >= '0' && byte <= '9');
    byte ^= 0x01;
    assert_int_equal(pwrite(fd, &byte, 1, at), 1);
    close(fd);
    ik = open_log();
    assert_int_equal(intake_recover(ik, st, err, sizeof err), 2);
    assert_int_equal(store_event_exists(st, "u-0"), 1);
    assert_int_equal(store_event_exists(st, "u-1"), 0);
    assert_int_equal(store_event_exists(st, "u-2"), 1);    /* after the damaged one: kept */
    char want[160];
    snprintf(want, sizeof want, "record at offset %lld is damaged: acknowledged deliveries lost "
             "with it: 1 ", (long long)rec);
    assert_non_null(strstr(err, want));
    intake_close(ik);
    store_close(st);
}

/* Records start on 64-byte boundaries (the dedupe index keeps offsets in those units), and a
 * log written by the versions before them, whose records follow each other on 8-byte ones,
 * is still recovered whole: every record, none counted as lost. */
static void test_alignment_and_old_logs(void **state)
{
    (void)state;
    char err[256];
    struct store *st = fresh("align");
    struct intake *ik = open_log();
    append(ik, "a", 0, 1);
    int64_t one = intake_pending_bytes(ik);
    append(ik, "a", 1, 3);
    assert_int_equal(one % 64, 0);
    assert_int_equal(intake_pending_bytes(ik), 3 * one);   /* the same size each, aligned */
    intake_close(ik);
    /* The same three records packed on 8-byte boundaries, as an older version wrote them. */
    unsigned char *buf = malloc((size_t)(3 * one));
    int fd = open(logpath, O_RDWR);
    assert_true(fd >= 0);
    assert_int_equal(pread(fd, buf, (size_t)(3 * one), 0), 3 * one);
    uint32_t len;
    memcpy(&len, buf + 4, 4);
    size_t packed = (24 + len + 7) & ~(size_t)7;
    assert_true(packed < (size_t)one);
    memmove(buf + packed, buf + one, (size_t)one);
    memmove(buf + 2 * packed, buf + 2 * one, (size_t)one);
    assert_int_equal(ftruncate(fd, 0), 0);
    assert_int_equal(pwrite(fd, buf, 3 * packed, 0), (ssize_t)(3 * packed));
    close(fd);
    free(buf);
    ik = open_log();
    assert_int_equal(intake_recover(ik, st, err, sizeof err), 3);
    assert_string_equal(err, "");
    assert_int_equal(store_event_exists(st, "a-2"), 1);
    intake_close(ik);
    store_close(st);
}

/* Garbage where the log should be: nothing recovered, nothing crashes, the log works after. */
static void test_garbage_file(void **state)
{
    (void)state;
    char err[256];
    struct store *st = fresh("garbage");
    FILE *f = fopen(logpath, "wb");
    assert_non_null(f);
    unsigned char junk[4096];
    for (size_t i = 0; i < sizeof junk; i++) junk[i] = (unsigned char)(i * 131 + 7);
    memcpy(junk, "EZI1", 4);                          /* even a magic number to start with */
    fwrite(junk, 1, sizeof junk, f);
    fclose(f);
    struct intake *ik = open_log();
    assert_int_equal(intake_recover(ik, st, err, sizeof err), 0);
    append(ik, "g", 0, 2);
    assert_int_equal(move(ik, st, 10, NULL), 2);
    assert_int_equal(store_event_count(st), 2);
    intake_close(ik);
    store_close(st);
}

/* A store that cannot be written: the move fails, the records stay (held, pending, in the file
 * for the next start), and a later move, with a store that works, takes them. */
static void test_move_failure(void **state)
{
    (void)state;
    char err[256];
    struct store *st = fresh("movefail");
    store_close(st);
    assert_int_equal(store_open(&st, dbpath, STORE_READONLY, err, sizeof err), 0);
    struct intake *ik = open_log();
    append(ik, "f", 0, 3);
    size_t rows = 99;
    int64_t first, last;
    assert_int_equal(intake_move(ik, st, 10, &rows, &first, &last, err, sizeof err), -1);
    assert_non_null(strstr(err, "moving into events"));
    assert_int_equal(rows, 0);
    assert_int_equal(intake_pending(ik), 3);
    assert_int_equal(intake_holds(ik, "f-1", err, sizeof err), 1);
    store_close(st);
    intake_close(ik);
    assert_int_equal(store_open(&st, dbpath, 0, err, sizeof err), 0);
    ik = open_log();
    assert_int_equal(intake_recover(ik, st, err, sizeof err), 3);
    assert_int_equal(store_event_count(st), 3);
    intake_close(ik);
    store_close(st);
}

/* A record already in events (a crash after its move's commit, before the file started over,
 * with the mark lost to a restored database) is not stored twice. */
static void test_replay_is_idempotent(void **state)
{
    (void)state;
    char err[256];
    struct store *st = fresh("idem");
    struct intake *ik = open_log();
    append(ik, "i", 0, 4);
    intake_close(ik);
    ik = open_log();
    assert_int_equal(intake_recover(ik, st, err, sizeof err), 4);
    intake_close(ik);
    /* Same records again, numbered afresh, as if the mark had gone back. */
    unlink(logpath);
    assert_int_equal(store_intake_set_mark(st, 0), 0);
    ik = open_log();
    append(ik, "i", 0, 4);
    append(ik, "j", 0, 1);
    intake_close(ik);
    ik = open_log();
    assert_int_equal(intake_recover(ik, st, err, sizeof err), 5);
    assert_int_equal(store_event_count(st), 5);
    intake_close(ik);
    store_close(st);
}

/* A burst that grew the file past INTAKE_KEEP_BYTES gives the disk back once moved. */
static void test_file_shrinks(void **state)
{
    (void)state;
    char err[256], key[32];
    struct store *st = fresh("shrink");
    struct intake *ik = open_log();
    size_t len = 1 << 20;
    char *body = malloc(len);
    memset(body, 'x', len);
    for (int i = 0; i < (int)(INTAKE_KEEP_BYTES / (long)len) + 2; i++) {
        snprintf(key, sizeof key, "s-%d", i);
        struct store_event ev = event(key, "");
        ev.body = body;
        ev.body_len = len;
        assert_int_equal(intake_stage(ik, &ev, err, sizeof err), 0);
        assert_int_equal(intake_commit(ik, err, sizeof err), 0);
    }
    assert_true(file_size(logpath) > INTAKE_KEEP_BYTES);
    while (intake_pending(ik)) assert_true(move(ik, st, 16, NULL) > 0);
    /* Cut back, the first INTAKE_KEEP_BYTES kept for the next burst, and the log starts over
     * in them: its first record is read back from offset 0. */
    assert_int_equal(file_size(logpath), INTAKE_KEEP_BYTES);
    append(ik, "after", 0, 2);
    assert_int_equal(intake_pending_bytes(ik) > 0 && intake_pending_bytes(ik) < 4096, 1);
    assert_int_equal(file_size(logpath) >= INTAKE_KEEP_BYTES, 1);
    assert_int_equal(move(ik, st, 16, NULL), 2);
    assert_int_equal(store_event_exists(st, "after-1"), 1);
    free(body);
    intake_close(ik);
    store_close(st);
}

/* A second opener of the same log (another ezsync on the same store) is refused, by name;
 * once the first closes, it can open. */
static void test_one_writer(void **state)
{
    (void)state;
    char err[512];
    struct store *st = fresh("lock");
    struct intake *ik = open_log();
    assert_null(intake_open(logpath, err, sizeof err));
    assert_non_null(strstr(err, "in use by another process"));
    assert_non_null(strstr(err, "lock.db-intake"));
    intake_close(ik);
    ik = open_log();
    intake_close(ik);
    store_close(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),         cmocka_unit_test(test_many_keys),
        cmocka_unit_test(test_recover),            cmocka_unit_test(test_torn_and_damaged),
        cmocka_unit_test(test_garbage_file),       cmocka_unit_test(test_move_failure),
        cmocka_unit_test(test_replay_is_idempotent), cmocka_unit_test(test_file_shrinks),
        cmocka_unit_test(test_one_writer), cmocka_unit_test(test_alignment_and_old_logs),
    };
    return cmocka_run_group_tests_name("intake", tests, NULL, NULL);
}
