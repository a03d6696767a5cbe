/* syncprobe: how long this disk takes to make a write durable, measured beside the ingest
 * benchmark so its latency figures can be read against the disk's own. Writes BYTES at the
 * same places of a preallocated file (as a reused write-ahead log is written) and syncs each
 * with fdatasync, as SQLite does for its log.
 * usage: syncprobe FILE [COUNT=300] [BYTES=65536]
 * prints: SYNCPROBE count=N bytes=B p50_us=.. p99_us=.. max_us=.. */
#define _POSIX_C_SOURCE 200809L
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

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

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: syncprobe FILE [COUNT] [BYTES]\n");
        return 2;
    }
    int count = argc > 2 ? atoi(argv[2]) : 300;
    size_t bytes = argc > 3 ? (size_t)atol(argv[3]) : 65536;
    const int slots = 64;
    if (count < 1 || bytes < 1) {
        fprintf(stderr, "syncprobe: COUNT and BYTES must be positive\n");
        return 2;
    }
    char *buf = malloc(bytes);
    double *t = malloc((size_t)count * sizeof *t);
    int fd = open(argv[1], O_CREAT | O_TRUNC | O_WRONLY, 0600);
    if (!buf || !t || fd < 0) {
        perror("syncprobe");
        return 1;
    }
    memset(buf, 'x', bytes);
    /* The file exists at full size before timing: growing it is not what a reused log does. */
    for (int i = 0; i < slots; i++)
        if (pwrite(fd, buf, bytes, (off_t)i * (off_t)bytes) != (ssize_t)bytes) {
            perror("syncprobe: write");
            return 1;
        }
    if (fsync(fd)) {
        perror("syncprobe: fsync");
        return 1;
    }
    for (int i = 0; i < count; i++) {
        double t0 = now_us();
        if (pwrite(fd, buf, bytes, (off_t)(i % slots) * (off_t)bytes) != (ssize_t)bytes ||
            fdatasync(fd)) {
            perror("syncprobe: write and sync");
            return 1;
        }
        t[i] = now_us() - t0;
    }
    qsort(t, (size_t)count, sizeof *t, cmp);
    printf("SYNCPROBE count=%d bytes=%zu p50_us=%.0f p99_us=%.0f max_us=%.0f\n", count, bytes,
           t[count / 2], t[(count * 99) / 100], t[count - 1]);
    close(fd);
    unlink(argv[1]);
    free(buf);
    free(t);
    return 0;
}
