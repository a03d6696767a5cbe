/* syncprobe: how long this disk takes to make a write durable, measured beside the ingest
 * benchmark so its latency figures can be read against the disk's own. Writes BYTES at a time
 * into a preallocated file (as a reused write-ahead log is written) and syncs each write with
 * fdatasync, as SQLite does for its log.
 *   back to back (no RATE): the same SLOTS places over and over, nothing else in between;
 *   paced (RATE syncs a second, each due at i/RATE): onward through a 64 MB file, as a log
 *     that keeps being appended to at a webhook receiver's commit rate. The ingest bench runs
 *     this beside a server that does no disk work at all, to show what a disk that syncs at
 *     that rate does to the machine's latency, whoever syncs.
 * usage: syncprobe FILE [COUNT=300] [BYTES=65536] [RATE]
 * prints: SYNCPROBE count=N bytes=B p50_us=.. p99_us=.. max_us=.. over5ms=.. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define SLOTS 64                        /* back to back: places reused */
#define PACED_FILE (64L << 20)          /* paced: the log's size */

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double now_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

/* Sleeps until the monotonic clock reads due_us (at once when it is past). */
static void sleep_until(double due_us)
{
    long long ns = (long long)(due_us * 1e3);
    struct timespec t = { (time_t)(ns / 1000000000LL), (long)(ns % 1000000000LL) };
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &t, NULL) == EINTR) {}
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 5) {
        fprintf(stderr, "usage: syncprobe FILE [COUNT] [BYTES] [RATE]\n");
        return 2;
    }
    int count = argc > 2 ? atoi(argv[2]) : 300;
    size_t bytes = argc > 3 ? (size_t)atol(argv[3]) : 65536;
    double rate = argc > 4 ? atof(argv[4]) : 0;
    if (count < 1 || bytes < 1 || (argc > 4 && !(rate > 0 && rate <= 1e6))) {
        fprintf(stderr, "syncprobe: COUNT and BYTES must be positive, RATE in (0, 1e6] syncs/s\n");
        return 2;
    }
    long slots = rate > 0 ? PACED_FILE / (long)bytes : SLOTS;
    if (slots < 1) slots = 1;
    char *buf = malloc(bytes);
    double *t = malloc((size_t)count * sizeof *t);
    int fd = open(argv[1], O_CREAT | O_TRUNC | O_WRONLY, 0600);
    if (!buf || !t || fd < 0) {
        perror("syncprobe");
        return 1;
    }
    memset(buf, 'x', bytes);
    /* The file exists at full size before timing: growing it is not what a reused log does. */
    for (long i = 0; i < slots; i++)
        if (pwrite(fd, buf, bytes, (off_t)i * (off_t)bytes) != (ssize_t)bytes) {
            perror("syncprobe: write");
            return 1;
        }
    if (fsync(fd)) {
        perror("syncprobe: fsync");
        return 1;
    }
    int over = 0;
    double start = now_us();
    for (int i = 0; i < count; i++) {
        if (rate > 0) sleep_until(start + (double)i * 1e6 / rate);
        double t0 = now_us();
        if (pwrite(fd, buf, bytes, (off_t)(i % slots) * (off_t)bytes) != (ssize_t)bytes ||
            fdatasync(fd)) {
            perror("syncprobe: write and sync");
            return 1;
        }
        t[i] = now_us() - t0;
        over += t[i] > 5000;
    }
    qsort(t, (size_t)count, sizeof *t, cmp);
    printf("SYNCPROBE count=%d bytes=%zu p50_us=%.0f p99_us=%.0f max_us=%.0f over5ms=%d\n", count,
           bytes, t[count / 2], t[(count * 99) / 100], t[count - 1], over);
    close(fd);
    unlink(argv[1]);
    free(buf);
    free(t);
    return 0;
}
