/* logspace: see logspace.h. */
#include "logspace.h"

#include "log.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

struct logspace {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t work_cv;       /* the filler waits here for space to fill */
    pthread_cond_t piece_cv;      /* a claim or a truncate waits here for the piece to end */
    int fd, quit, failed;
    char *name;
    int64_t ready;                /* [0, ready) is written and synced, as far as the filler knows */
    int64_t wend;                 /* the log's write end as last claimed: zeros go only past it */
    int64_t need;                 /* fill up to here */
    int64_t piece_from, piece_to; /* the piece being written; empty when none */
    /* LOGSPACE_PIECE of them, mapped and never written: only read, they stay the kernel's one
     * zero page and cost the process no memory. */
    unsigned char *zeros;
};

static int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }
static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

static int write_zeros(int fd, const unsigned char *zeros, int64_t from, int64_t to)
{
    while (from < to) {
        ssize_t r = pwrite(fd, zeros, (size_t)(to - from), (off_t)from);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return -1;
        from += r;
    }
    return fdatasync(fd);
}

static void *fill_main(void *arg)
{
    struct logspace *ls = arg;
    pthread_setname_np(pthread_self(), "ez-intake-fill");
    pthread_mutex_lock(&ls->mu);
    while (!ls->quit) {
        int64_t from = max64(ls->ready, ls->wend);
        if (ls->failed || from >= ls->need) {
            pthread_cond_wait(&ls->work_cv, &ls->mu);
            continue;
        }
        /* Pieces end on LOGSPACE_PIECE boundaries: the first one after a claim is short. */
        int64_t to = (from / LOGSPACE_PIECE + 1) * LOGSPACE_PIECE;
        ls->piece_from = from;
        ls->piece_to = to;
        pthread_mutex_unlock(&ls->mu);
        int rc = write_zeros(ls->fd, ls->zeros, from, to);
        int saved = errno;
        pthread_mutex_lock(&ls->mu);
        ls->piece_from = ls->piece_to = 0;
        pthread_cond_broadcast(&ls->piece_cv);
        if (rc == 0) {
            ls->ready = max64(ls->ready, to);
        } else {
            /* Most likely a full disk. The log still works (its appends then extend the file
             * as they did without a filler); filling resumes when the log starts over. */
            ls->failed = 1;
            log_warn("intake: cannot prepare space ahead of the log", "file", ls->name, "error",
                     strerror(saved));
        }
    }
    pthread_mutex_unlock(&ls->mu);
    return NULL;
}

struct logspace *logspace_start(int fd, const char *name, char *err, size_t errlen)
{
    struct stat sb;
    struct logspace *ls = calloc(1, sizeof *ls);
    if (!ls || !(ls->name = strdup(name))) {
        snprintf(err, errlen, "logspace: out of memory");
        goto fail;
    }
    ls->zeros = mmap(NULL, LOGSPACE_PIECE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (ls->zeros == MAP_FAILED) {
        ls->zeros = NULL;
        snprintf(err, errlen, "logspace: out of memory");
        goto fail;
    }
    /* What the file holds counts as ready once synced: after a crash its size may not be. */
    if (fdatasync(fd) || fstat(fd, &sb)) {
        snprintf(err, errlen, "logspace: %s: %s", name, strerror(errno));
        goto fail;
    }
    ls->fd = fd;
    ls->ready = ls->need = (int64_t)sb.st_size;
    pthread_mutex_init(&ls->mu, NULL);
    pthread_cond_init(&ls->work_cv, NULL);
    pthread_cond_init(&ls->piece_cv, NULL);
    if (pthread_create(&ls->thread, NULL, fill_main, ls)) {
        snprintf(err, errlen, "logspace: cannot start a thread");
        pthread_mutex_destroy(&ls->mu);
        pthread_cond_destroy(&ls->work_cv);
        pthread_cond_destroy(&ls->piece_cv);
        goto fail;
    }
    return ls;
fail:
    if (ls) {
        if (ls->zeros) munmap(ls->zeros, LOGSPACE_PIECE);
        free(ls->name);
    }
    free(ls);
    return NULL;
}

void logspace_stop(struct logspace *ls)
{
    if (!ls) return;
    pthread_mutex_lock(&ls->mu);
    ls->quit = 1;
    pthread_cond_signal(&ls->work_cv);
    pthread_mutex_unlock(&ls->mu);
    pthread_join(ls->thread, NULL);
    pthread_mutex_destroy(&ls->mu);
    pthread_cond_destroy(&ls->work_cv);
    pthread_cond_destroy(&ls->piece_cv);
    munmap(ls->zeros, LOGSPACE_PIECE);
    free(ls->name);
    free(ls);
}

void logspace_claim(struct logspace *ls, int64_t off, int64_t len)
{
    if (!ls) return;
    int64_t end = off + len;
    pthread_mutex_lock(&ls->mu);
    /* The piece in progress was placed past the previous write end: this write reaches it only
     * when the log outran the filler. Its zeros must land first. */
    while (ls->piece_from < ls->piece_to && ls->piece_from < end && off < ls->piece_to)
        pthread_cond_wait(&ls->piece_cv, &ls->mu);
    ls->wend = end;
    ls->need = end + min64(max64(end, LOGSPACE_AHEAD_MIN), LOGSPACE_AHEAD_MAX);
    if (max64(ls->ready, end) < ls->need) pthread_cond_signal(&ls->work_cv);
    pthread_mutex_unlock(&ls->mu);
}

int logspace_truncate(struct logspace *ls, int fd, int64_t size)
{
    struct stat sb;
    int rc = 0;
    if (ls) {
        pthread_mutex_lock(&ls->mu);
        while (ls->piece_from < ls->piece_to) pthread_cond_wait(&ls->piece_cv, &ls->mu);
    }
    if (fstat(fd, &sb) == 0 && sb.st_size > size) rc = ftruncate(fd, (off_t)size);
    if (ls) {
        ls->ready = min64(ls->ready, size);
        ls->wend = min64(ls->wend, size);
        ls->need = min64(ls->need, size);
        ls->failed = 0;
        pthread_mutex_unlock(&ls->mu);
    }
    return rc;
}

int64_t logspace_ready(struct logspace *ls)
{
    if (!ls) return 0;
    pthread_mutex_lock(&ls->mu);
    int64_t r = ls->ready;
    pthread_mutex_unlock(&ls->mu);
    return r;
}

int logspace_write(int fd, const void *buf, size_t n, int64_t off)
{
    size_t done = 0;
    while (done < n) {
        struct iovec v = { (char *)buf + done, n - done };
        ssize_t r = pwritev2(fd, &v, 1, (off_t)(off + (int64_t)done), RWF_DSYNC);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0 && done == 0 && (errno == EOPNOTSUPP || errno == EINVAL || errno == ENOSYS))
            break;                       /* a kernel or file system without it: below */
        if (r <= 0) return -1;
        done += (size_t)r;
    }
    if (done == n) return 0;
    while (done < n) {
        ssize_t r = pwrite(fd, (const char *)buf + done, n - done, (off_t)(off + (int64_t)done));
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return -1;
        done += (size_t)r;
    }
    return fdatasync(fd);
}
