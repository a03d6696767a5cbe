/* logspace: the filler on real files — it prepares space past the log's writes and never under
 * them, even while the log outruns it; it stops at a cut-back; a log without one still
 * writes durably. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include "logspace.h"
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static char path[512];

static int open_file(const char *name)
{
    const char *dir = getenv("EZSYNC_TEST_TMP");
    snprintf(path, sizeof path, "%s/%s.log", dir ? dir : "/tmp", name);
    unlink(path);
    int fd = open(path, O_RDWR | O_CREAT, 0600);
    assert_true(fd >= 0);
    return fd;
}

static int64_t size_of(int fd)
{
    struct stat sb;
    assert_int_equal(fstat(fd, &sb), 0);
    return (int64_t)sb.st_size;
}

/* Waits (up to 20 s: a slow disk under a loaded test run) until the filler reports at least
 * want bytes ready; the figure is what counts, not how long it took. */
static void wait_ready(struct logspace *ls, int64_t want)
{
    for (int i = 0; i < 2000 && logspace_ready(ls) < want; i++) {
        struct timespec ts = { 0, 10 * 1000000L };
        nanosleep(&ts, NULL);
    }
    assert_true(logspace_ready(ls) >= want);
}

static void fill_pattern(unsigned char *b, size_t n, uint32_t seed)
{
    for (size_t i = 0; i < n; i++) b[i] = (unsigned char)((seed * 2654435761u + i * 40503u) >> 13 | 1);
}

/* A claim asks for space past the write: it comes, written as zeros and synced, and the bytes
 * written before it are untouched. */
static void test_fills_ahead(void **state)
{
    (void)state;
    char err[256];
    int fd = open_file("ahead");
    struct logspace *ls = logspace_start(fd, path, err, sizeof err);
    assert_non_null(ls);
    unsigned char rec[1000], back[1000];
    fill_pattern(rec, sizeof rec, 7);
    logspace_claim(ls, 0, sizeof rec);
    assert_int_equal(logspace_write(fd, rec, sizeof rec, 0), 0);
    wait_ready(ls, (int64_t)sizeof rec + LOGSPACE_AHEAD_MIN);
    assert_true(size_of(fd) >= (int64_t)sizeof rec + LOGSPACE_AHEAD_MIN);
    assert_int_equal(pread(fd, back, sizeof back, 0), (ssize_t)sizeof back);
    assert_memory_equal(back, rec, sizeof rec);
    unsigned char z[4096];
    assert_int_equal(pread(fd, z, sizeof z, 500000), (ssize_t)sizeof z);
    for (size_t i = 0; i < sizeof z; i++) assert_int_equal(z[i], 0);
    /* How far ahead grows with the log: at 8 MB written, 8 MB ahead. */
    logspace_claim(ls, 8 << 20, 1);
    wait_ready(ls, (16 << 20) + 1);
    logspace_stop(ls);
    close(fd);
    unlink(path);
}

/* The log writes big records faster than the filler (no pause between them), so its writes
 * keep reaching the piece being filled: every byte written must read back, never a zero. */
static void test_never_under_the_log(void **state)
{
    (void)state;
    char err[256];
    int fd = open_file("race");
    struct logspace *ls = logspace_start(fd, path, err, sizeof err);
    assert_non_null(ls);
    size_t cap = 64 << 10;
    unsigned char *rec = malloc(cap), *back = malloc(cap);
    int64_t off = 0;
    uint32_t rng = 12345;
    enum { N = 4000 };
    static int64_t offs[N];
    static size_t lens[N];
    for (int i = 0; i < N; i++) {
        rng = rng * 1103515245u + 12345u;
        size_t len = 512 + (rng >> 8) % (cap - 512);
        fill_pattern(rec, len, (uint32_t)i);
        logspace_claim(ls, off, (int64_t)len);
        /* Unsynced but for every 100th (a synced write each time would leave the filler far
         * ahead): what is checked is where the zeros land, not durability. */
        if (i % 100 == 99) assert_int_equal(logspace_write(fd, rec, len, off), 0);
        else assert_int_equal(pwrite(fd, rec, len, off), (ssize_t)len);
        offs[i] = off;
        lens[i] = len;
        off += (int64_t)len;
    }
    logspace_stop(ls);            /* the piece in progress ends first */
    for (int i = 0; i < N; i++) {
        fill_pattern(rec, lens[i], (uint32_t)i);
        assert_int_equal(pread(fd, back, lens[i], offs[i]), (ssize_t)lens[i]);
        assert_memory_equal(back, rec, lens[i]);
    }
    free(rec);
    free(back);
    close(fd);
    unlink(path);
}

/* A cut-back takes the file and the prepared space back to the size asked, and nothing is
 * filled again until the log writes. Without a filler (NULL) the calls still do their part. */
static void test_truncate(void **state)
{
    (void)state;
    char err[256];
    int fd = open_file("cut");
    struct logspace *ls = logspace_start(fd, path, err, sizeof err);
    assert_non_null(ls);
    logspace_claim(ls, 0, 3 << 20);
    wait_ready(ls, 6 << 20);
    assert_int_equal(logspace_truncate(ls, fd, 1 << 20), 0);
    assert_int_equal(size_of(fd), 1 << 20);
    assert_int_equal(logspace_ready(ls), 1 << 20);
    struct timespec ts = { 0, 100 * 1000000L };
    nanosleep(&ts, NULL);
    assert_int_equal(size_of(fd), 1 << 20);          /* not grown back meanwhile */
    /* The log starts over from 0: within what is ready, nothing more is needed... */
    logspace_claim(ls, 0, 100);
    nanosleep(&ts, NULL);
    assert_int_equal(size_of(fd) < (3 << 20), 1);
    logspace_stop(ls);
    /* ...and without a filler: a cut, a claim that does nothing, a durable write. */
    assert_int_equal(logspace_truncate(NULL, fd, 10), 0);
    assert_int_equal(size_of(fd), 10);
    logspace_claim(NULL, 0, 5);
    assert_int_equal(logspace_write(fd, "hello", 5, 10), 0);
    assert_int_equal(size_of(fd), 15);
    assert_int_equal(logspace_ready(NULL), 0);
    logspace_stop(NULL);
    close(fd);
    unlink(path);
}

/* A file the filler cannot write (opened read-only here) is not an error for the log: the
 * filler stops trying, says so once, and the thread still stops cleanly. */
static void test_cannot_fill(void **state)
{
    (void)state;
    char err[256];
    int fd = open_file("ro");
    close(fd);
    fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    struct logspace *ls = logspace_start(fd, path, err, sizeof err);
    assert_non_null(ls);
    logspace_claim(ls, 0, 100);
    struct timespec ts = { 0, 50 * 1000000L };
    nanosleep(&ts, NULL);
    assert_int_equal(logspace_ready(ls), 0);
    assert_int_equal(size_of(fd), 0);
    logspace_stop(ls);
    close(fd);
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fills_ahead), cmocka_unit_test(test_never_under_the_log),
        cmocka_unit_test(test_truncate), cmocka_unit_test(test_cannot_fill),
    };
    return cmocka_run_group_tests_name("logspace", tests, NULL, NULL);
}
