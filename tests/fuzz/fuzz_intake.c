/* libFuzzer target: the intake log as the next start finds it (intake_recover) — whatever a
 * crash, a full disk or a damaged sector left in the file. Whole records before the first bad
 * one go into events; nothing crashes, reads out of bounds or leaks (the sanitizers watch), and
 * afterwards the log is empty and takes new records. */
#include "intake.h"
#include "store.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

static char dir[64], dbpath[128], logpath[160];
static struct store *st;

static void cleanup(void)
{
    char path[200];
    store_close(st);
    unlink(logpath);
    unlink(dbpath);
    snprintf(path, sizeof path, "%s-wal", dbpath);
    unlink(path);
    snprintf(path, sizeof path, "%s-shm", dbpath);
    unlink(path);
    rmdir(dir);
}

static void setup(void)
{
    char err[512];
    /* In memory when it can be: each input opens a log, whose filler (logspace.h) syncs it and
     * writes a megabyte ahead of the record committed after recovery. */
    snprintf(dir, sizeof dir, "%s/ezsync-fuzz-intake-XXXXXX",
             access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
    if (!mkdtemp(dir)) abort();
    snprintf(dbpath, sizeof dbpath, "%s/f.db", dir);
    snprintf(logpath, sizeof logpath, "%s-intake", dbpath);
    if (store_open(&st, dbpath, 0, err, sizeof err)) {
        fprintf(stderr, "fuzz_intake: %s\n", err);
        abort();
    }
    /* Recovery's transactions sync; on a fuzzer's millions of inputs that is the disk's time,
     * not the code's. */
    store_set_durability(st, STORE_CRASH_SAFE);
    atexit(cleanup);
}

/* Mutations rarely keep a CRC right, and a record whose CRC fails is never decoded: with the
 * first byte odd, every record's CRC is set right first (the layout of intake.c: a 24-byte
 * header, the CRC at 16 over bytes 4..16 and the payload; records 64 bytes apart, or 8 as the
 * versions before 2026-12-07 wrote them when the first byte's second bit is set), so the
 * fuzzer reaches the checks of the payload's shape as well. */
static void fix_crcs(unsigned char *p, size_t n, size_t align)
{
    size_t off = 0;
    while (off <= n && n - off >= 24) {
        uint32_t len;
        memcpy(&len, p + off + 4, 4);
        if (len > n - off - 24) break;
        uLong c = crc32(crc32(0L, p + off + 4, 12), p + off + 24, len);
        uint32_t c32 = (uint32_t)c;
        memcpy(p + off + 16, &c32, 4);
        off += ((size_t)24 + len + align - 1) & ~(align - 1);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[512];
    if (!st) setup();
    if (!size) return 0;
    unsigned char *copy = malloc(size);
    if (!copy) abort();
    memcpy(copy, data + 1, size - 1);
    if (data[0] & 1) fix_crcs(copy, size - 1, data[0] & 2 ? 8 : 64);
    FILE *f = fopen(logpath, "wb");
    if (!f || (size > 1 && fwrite(copy, 1, size - 1, f) != size - 1) || fclose(f)) abort();
    free(copy);
    /* The mark as a fresh database has it: every sound record counts. */
    if (store_intake_set_mark(st, 0)) abort();
    struct intake *ik = intake_open(logpath, err, sizeof err);
    if (!ik) abort();
    int64_t before = store_event_count(st), backlog = store_backlog_total(st);
    long n = intake_recover(ik, st, err, sizeof err);
    if (n < 0 && !err[0]) abort();                     /* a failure names itself */
    if (n >= 0) {
        /* Each recovered record is at most one new row, each new row has its backlog entry
         * (the engine would never see it otherwise), and the log is empty after. */
        int64_t rows = store_event_count(st) - before;
        if (rows > n || store_backlog_total(st) - backlog != rows || intake_pending(ik) != 0)
            abort();
        struct store_event ev = { .source = "shopify", .topic = "orders/create",
                                  .dedupe_key = "fuzz-after", .body = "{}", .body_len = 2 };
        if (intake_holds(ik, "fuzz-after", err, sizeof err) == 0 &&
            store_event_exists(st, "fuzz-after") == 0) {
            if (intake_stage(ik, &ev, err, sizeof err) || intake_commit(ik, err, sizeof err) ||
                intake_holds(ik, "fuzz-after", err, sizeof err) != 1)
                abort();
        }
    }
    intake_close(ik);
    unlink(logpath);
    return 0;
}
