/* checkpointer: see checkpointer.h. */
#include "checkpointer.h"

#include "log.h"
#include "store.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

struct checkpointer {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int quit;
    struct store *st;            /* the thread's own connection; it never writes rows */
    long runs;                   /* under mu */
    int log_pages;
    atomic_int behind;
    int interval_ms;             /* thread only: the next wait */
};

/* Returns whether the log had anything new since the previous run. */
static int run_once(struct checkpointer *c)
{
    int log_pages = 0, copied = 0;
    if (store_checkpoint(c->st, 0, &log_pages, &copied)) log_pages = 0;
    atomic_store(&c->behind, log_pages > CHECKPOINTER_BEHIND_PAGES);
    pthread_mutex_lock(&c->mu);
    int changed = log_pages != c->log_pages || copied < log_pages;
    c->runs++;
    c->log_pages = log_pages;
    pthread_mutex_unlock(&c->mu);
    return changed;
}

static void *main_loop(void *arg)
{
    struct checkpointer *c = arg;
    pthread_setname_np(pthread_self(), "ez-checkpoint"); /* top -H, perf: which thread is which */
    pthread_mutex_lock(&c->mu);
    while (!c->quit) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_nsec += c->interval_ms * 1000000L;
        while (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&c->cv, &c->mu, &ts);
        if (c->quit) break;
        pthread_mutex_unlock(&c->mu);
        /* An idle store is looked at less and less often (no wake-up 200 times a second for
         * nothing); the first commit seen brings the short interval back. */
        if (run_once(c)) c->interval_ms = CHECKPOINTER_INTERVAL_MS;
        else if (c->interval_ms < CHECKPOINTER_IDLE_MS) c->interval_ms *= 2;
        pthread_mutex_lock(&c->mu);
    }
    pthread_mutex_unlock(&c->mu);
    run_once(c);
    return NULL;
}

struct checkpointer *checkpointer_start(const char *path, char *err, size_t errlen)
{
    struct checkpointer *c = calloc(1, sizeof *c);
    pthread_condattr_t ca;
    if (!c) {
        snprintf(err, errlen, "checkpointer: out of memory");
        return NULL;
    }
    if (store_open(&c->st, path, 0, err, errlen)) {
        free(c);
        return NULL;
    }
    c->interval_ms = CHECKPOINTER_INTERVAL_MS;
    pthread_mutex_init(&c->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&c->cv, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&c->thread, NULL, main_loop, c)) {
        snprintf(err, errlen, "checkpointer: cannot start the thread");
        pthread_mutex_destroy(&c->mu);
        pthread_cond_destroy(&c->cv);
        store_close(c->st);
        free(c);
        return NULL;
    }
    return c;
}

void checkpointer_stop(struct checkpointer *c)
{
    if (!c) return;
    pthread_mutex_lock(&c->mu);
    c->quit = 1;
    pthread_cond_signal(&c->cv);
    pthread_mutex_unlock(&c->mu);
    pthread_join(c->thread, NULL);
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cv);
    store_close(c->st);
    free(c);
}

int checkpointer_behind(struct checkpointer *c) { return c && atomic_load(&c->behind); }

void checkpointer_caught_up(struct checkpointer *c)
{
    if (c) atomic_store(&c->behind, 0);
}

void checkpointer_stats(struct checkpointer *c, long *runs, int *log_pages)
{
    pthread_mutex_lock(&c->mu);
    if (runs) *runs = c->runs;
    if (log_pages) *log_pages = c->log_pages;
    pthread_mutex_unlock(&c->mu);
}
