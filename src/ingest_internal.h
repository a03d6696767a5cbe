/* ingest internals shared by the loop side (ingest.c) and the writer thread (ingest_writer.c):
 * a delivery on its way, and the hand-over between the two. */
#ifndef EZ_INGEST_INTERNAL_H
#define EZ_INGEST_INTERNAL_H

#include "store.h"

#include <event2/event.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

struct evhttp_request;

struct ingest_item {
    struct ingest_item *next;
    struct evhttp_request *req;  /* loop thread only */
    struct store_event ev;       /* strings point into data: the writer reads nothing else */
    int result;                  /* INGEST_*, set by the writer */
    /* Set on a finished batch's first item, which heads it in the writer's done list. */
    struct ingest_item *next_batch;
    size_t batch_n;
    int batch_rc;
    double batch_seconds;
    char *batch_err;             /* malloc'd; NULL when it is "out of memory" */
    size_t cap;                  /* bytes allocated, this header included */
    char data[];                 /* copies of the header values, the headers' JSON, the body */
};

/* The hand-over between the loop and the writer thread; todo/done/idle/quit under mu. The loop
 * appends to todo at the end of each of its turns, whatever the writer is doing; the writer
 * takes all of it as its next batch as soon as it is done with one, without waiting for the
 * loop to answer that one. When the loop handed over only after answering, each batch cost a
 * round trip of two wake-ups, on two busy cores (the bench's max rate: 24.0-29.4k req/s then,
 * 30.3-31.0k now, alternating). */
struct ingest_writer {
    pthread_t thread;
    int started;
    pthread_mutex_t mu;
    pthread_cond_t todo_cv, done_cv;
    struct ingest_item *todo, **todo_tail;
    size_t ntodo;
    struct ingest_item *done, **done_tail;    /* finished batches, oldest first */
    int idle;                    /* the writer waits for todo (the loop signals only then) */
    int quit;
    struct store *store;         /* the writer's own connection */
    struct intake *ik;           /* the acknowledgement log; writer thread only once started */
    struct checkpointer *ckpt;   /* set before the first batch; see checkpointer_behind */
    atomic_size_t pending;       /* acknowledged, not yet moved into events (for the loop) */
    atomic_size_t moved_rows;    /* rows the moves created since the loop last looked */
    atomic_size_t moved_records; /* records they took from the log (repeats dropped included) */
    atomic_llong moved_first;    /* the first of them */
    atomic_int move_failed;      /* moves have failed for INGEST_MOVE_FAIL_MS (readyz) */
    char move_err[512];          /* why, under mu */
    int64_t fail_since, retry_at;/* writer thread: monotonic ms, 0 while moves succeed */
    int64_t last_batch;          /* writer thread: monotonic ms a batch last came */
    int efd;                     /* eventfd: the writer tells the loop a batch is done */
    struct event *done_ev;
};

/* Opens the writer's store connection and the intake log (moving into events what a crash
 * left there), starts the thread; on_done(arg) runs on base's loop when a batch is done or
 * moves created rows. NULL with err. */
struct ingest_writer *ingest_writer_new(struct event_base *base, const char *path,
                                        event_callback_fn on_done, void *arg, char *err,
                                        size_t errlen);
/* Stops the thread (it moves what the log holds into events first) and frees it. */
void ingest_writer_free(struct ingest_writer *w);
double ingest_now_seconds(void);
/* The writer's policy (ingest.h): 1 when a move goes before the next replies, given what the
 * log holds (records, bytes) and the engine's backlog (-1 when it could not be read). */
int ingest_must_move(size_t pending, int64_t pending_bytes, int64_t backlog);

#endif
