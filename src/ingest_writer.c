/* ingest_writer: the webhook writer thread (see ingest.h). It takes what the loop queued as its
 * next batch, checks every delivery against the intake log (and, at a quiet time, the store:
 * moves_first) for a duplicate, appends the new ones to the log and syncs it (the
 * acknowledgement), and moves what the log holds into events when that costs the
 * acknowledgements nothing (see INGEST_IDLE_MOVE_MS and must_move).
 * It owns its store connection and the intake log; it touches nothing of the loop's but the
 * items it was handed and the hand-over fields under the mutex. */
#include "ingest.h"
#include "ingest_internal.h"

#include "checkpointer.h"
#include "engine.h"
#include "intake.h"
#include "log.h"
#include "store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

double ingest_now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int ingest_accept_batch(struct store *st, struct intake *ik, struct store_event **evs,
                        int *results, size_t n, int check_store, char *err, size_t errlen)
{
    size_t i;
    for (i = 0; i < n; i++) results[i] = INGEST_FAILED;
    /* The batch's lookups share one read transaction (one lock, not one per delivery); it
     * ends before the log is synced, so it pins nothing the checkpointer copies meanwhile. */
    if (check_store && store_read_begin(st)) {
        snprintf(err, errlen, "%s", store_errmsg(st));
        goto fail;
    }
    for (i = 0; i < n; i++) {
        /* The event alone, the body unread: what the 200 promises is that the delivery is on
         * disk; it reaches events, and the engine's backlog lane, when the writer moves it. */
        evs[i]->lane = engine_topics_priority(evs[i]->topic);
        if (!evs[i]->received_at) evs[i]->received_at = store_now_ms();
        /* New unless the log (staged ones included: a repeat inside this batch) or, with
         * check_store, the store already has it. */
        int held = intake_holds(ik, evs[i]->dedupe_key, err, errlen);
        if (held < 0) goto fail;
        if (!held && check_store && (held = store_event_exists(st, evs[i]->dedupe_key)) < 0) {
            snprintf(err, errlen, "%s", store_errmsg(st));
            goto fail;
        }
        if (held) {
            results[i] = INGEST_DUPLICATE;
            continue;
        }
        if (intake_stage(ik, evs[i], err, errlen)) goto fail;
        results[i] = INGEST_STORED;
    }
    if (check_store) store_read_end(st);
    if (intake_commit(ik, err, errlen)) goto failed;
    return 0;
fail:
    if (check_store) store_read_end(st);
    intake_abort(ik);
failed:
    for (i = 0; i < n; i++) results[i] = INGEST_FAILED;
    return -1;
}

static int64_t mono_ms(void) { return (int64_t)(ingest_now_seconds() * 1000.0); }

/* Moves up to max acknowledged deliveries into events; tells the loop about the rows. A move
 * that fails (most often another connection holding the write lock past the writer's short
 * busy wait) is tried again INGEST_MOVE_RETRY_MS later; the deliveries stay in the log, and
 * acknowledgements go on. Only failures lasting INGEST_MOVE_FAIL_MS are reported. */
static long move_some(struct ingest_writer *w, size_t max)
{
    char err[512];
    size_t rows = 0;
    int64_t first = 0, last = 0, now = mono_ms();
    long moved = intake_move(w->ik, w->store, max, &rows, &first, &last, err, sizeof err);
    if (moved < 0) {
        if (!w->fail_since) w->fail_since = now;
        w->retry_at = now + INGEST_MOVE_RETRY_MS;
        if (now - w->fail_since >= INGEST_MOVE_FAIL_MS && !atomic_load(&w->move_failed)) {
            pthread_mutex_lock(&w->mu);
            snprintf(w->move_err, sizeof w->move_err, "%s", err);
            pthread_mutex_unlock(&w->mu);
            atomic_store(&w->move_failed, 1);
            log_error("ingest: cannot move acknowledged deliveries into events", "error", err);
        }
        return -1;
    }
    w->fail_since = w->retry_at = 0;
    if (atomic_exchange(&w->move_failed, 0))
        log_info("ingest: acknowledged deliveries move into events again");
    atomic_store(&w->pending, intake_pending(w->ik));
    if (moved > 0) {
        long long zero = 0;
        if (rows) atomic_compare_exchange_strong(&w->moved_first, &zero, (long long)first);
        atomic_fetch_add(&w->moved_rows, rows);
        atomic_fetch_add(&w->moved_records, (size_t)moved);
        uint64_t one = 1;
        if (write(w->efd, &one, sizeof one) < 0) { /* the loop also looks at its next batch */ }
    }
    return moved;
}

/* While acknowledgements keep coming, moving waits (a move is a commit into the database, the
 * very cost the log takes off the acknowledgement), unless the engine is running out of work,
 * or the log holds more than the writer lets it (then each batch is followed by a move, and
 * acknowledgements go at the rate events can be stored). */
int ingest_must_move(size_t pending, int64_t pending_bytes, int64_t backlog)
{
    if (!pending) return 0;
    if (pending >= INGEST_LOG_MAX_RECORDS || pending_bytes >= INGEST_LOG_MAX_BYTES) return 1;
    return backlog >= 0 && backlog < INGEST_FEED_BACKLOG;
}

/* 1 when the next batch goes on into events before its replies (as must_move would say once
 * it is in the log): a quiet time, or a log over its bounds. Its deliveries are then looked up
 * in the store too, so a repeat of one already moved is answered as a repeat. In a burst the
 * replies leave first, and the store is not read on their way: the lookup (a random page of
 * the dedupe index per delivery, read through a cache of 512 KB) took ~30 % of the writer's
 * time per delivery. A repeat of a delivery already in events (Shopify's retry of one whose
 * 200 was lost) is then written to the log and dropped by the move, which dedupes every row
 * it inserts (and counts it as a dedupe hit). */
static int moves_first(struct ingest_writer *w, int64_t *backlog)
{
    size_t pending = intake_pending(w->ik) + 1;
    int64_t bytes = intake_pending_bytes(w->ik);
    *backlog = -1;
    if (ingest_must_move(pending, bytes, INT64_MAX)) return 1;
    *backlog = store_backlog_total(w->store);
    return ingest_must_move(pending, bytes, *backlog);
}

/* After the batch: whether it goes on into events before its replies. backlog is what
 * moves_first read for the batch (-1: not read), not read again: only the engine changes it
 * meanwhile, and only down. */
static int must_move(struct ingest_writer *w, int64_t backlog)
{
    size_t pending = intake_pending(w->ik);
    if (!pending || (w->retry_at && mono_ms() < w->retry_at)) return 0;
    int64_t bytes = intake_pending_bytes(w->ik);
    /* The backlog is read only when the log's bounds do not decide alone. */
    if (ingest_must_move(pending, bytes, INT64_MAX)) return 1;
    if (backlog < 0) backlog = store_backlog_total(w->store);
    return ingest_must_move(pending, bytes, backlog);
}

/* Between two commits of its own (the writer's moves), finish the checkpoint the checkpointer
 * cannot (see checkpointer.h), so the database's log restarts and stays bounded. */
static void catch_up(struct ingest_writer *w)
{
    if (!checkpointer_behind(w->ckpt)) return;
    int log_pages = 0, copied = 0;
    if (store_checkpoint(w->store, 0, &log_pages, &copied) == 0 && copied >= log_pages)
        checkpointer_caught_up(w->ckpt);
}

static void *writer_main(void *arg)
{
    struct ingest_writer *w = arg;
    pthread_setname_np(pthread_self(), "ez-ingest-write");
    for (;;) {
        pthread_mutex_lock(&w->mu);
        while (!w->todo && !w->quit) {
            w->idle = 1;
            if (!intake_pending(w->ik)) {
                pthread_cond_wait(&w->todo_cv, &w->mu);
                continue;
            }
            /* Deliveries wait in the log: move them once no batch came for a moment (or
             * when a failed move is due again). */
            int64_t wait_ms = INGEST_IDLE_MOVE_MS;
            if (w->retry_at) {
                wait_ms = w->retry_at - mono_ms();
                if (wait_ms < INGEST_IDLE_MOVE_MS) wait_ms = INGEST_IDLE_MOVE_MS;
            }
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            ts.tv_sec += (time_t)(wait_ms / 1000);
            ts.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
            while (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            if (pthread_cond_timedwait(&w->todo_cv, &w->mu, &ts) == 0 || w->todo || w->quit)
                continue;
            w->idle = 0;                 /* moving: a batch that comes waits for the move */
            pthread_mutex_unlock(&w->mu);
            /* Small moves while batches keep coming now and then (one that arrives waits for
             * the move in progress), large ones once the traffic has stopped. */
            int quiet = mono_ms() - w->last_batch >= INGEST_QUIET_MS;
            if (move_some(w, quiet ? INGEST_MOVE_IDLE : INGEST_MOVE_TRICKLE) > 0) catch_up(w);
            pthread_mutex_lock(&w->mu);
        }
        w->idle = 0;
        struct ingest_item *items = w->todo;
        size_t n = w->ntodo;
        w->todo = NULL;
        w->todo_tail = &w->todo;
        w->ntodo = 0;
        pthread_mutex_unlock(&w->mu);
        w->last_batch = mono_ms();
        if (!items) {
            /* quit: nothing queued. What the log holds goes into events before the exit,
             * unless the store refuses (then the next start replays it). */
            if (intake_pending(w->ik)) {
                char nbuf[32];
                snprintf(nbuf, sizeof nbuf, "%zu", intake_pending(w->ik));
                log_info("ingest: moving acknowledged deliveries into events before the exit",
                         "deliveries", nbuf);
            }
            while (intake_pending(w->ik)) {
                if (move_some(w, INGEST_MOVE_IDLE) >= 0) continue;
                if (mono_ms() - w->fail_since >= INGEST_MOVE_FAIL_MS) break;
                struct timespec pause = { 0, INGEST_MOVE_RETRY_MS * 1000000L };
                nanosleep(&pause, NULL);
            }
            if (intake_pending(w->ik))
                log_warn("ingest: acknowledged deliveries stay in the intake log until the next start");
            break;
        }

        struct store_event **evs = malloc(n * sizeof *evs);
        int *results = calloc(n, sizeof *results);
        char err[512] = "out of memory";
        int rc = -1;
        int64_t backlog = -1;
        double t0 = ingest_now_seconds();
        struct ingest_item *it = items;
        if (evs && results) {
            for (size_t i = 0; i < n; i++, it = it->next) evs[i] = &it->ev;
            int first = moves_first(w, &backlog);
            rc = ingest_accept_batch(w->store, w->ik, evs, results, n, first, err, sizeof err);
        }
        /* While the engine has little to do (or the log is over its bounds), the batch goes
         * on into events before its replies: at a quiet time a 200 means the delivery is in
         * events too, as a reader of the database expects; in a burst, once the engine has
         * work queued, the replies leave as soon as the log is synced. */
        if (rc == 0 && must_move(w, backlog)) move_some(w, INGEST_MOVE_BUSY > n ? INGEST_MOVE_BUSY : n);
        double seconds = ingest_now_seconds() - t0;
        it = items;
        for (size_t i = 0; i < n; i++, it = it->next) it->result = results ? results[i] : 0;
        free(evs);
        free(results);
        atomic_store(&w->pending, intake_pending(w->ik));

        items->next_batch = NULL;
        items->batch_n = n;
        items->batch_rc = rc;
        items->batch_seconds = seconds;
        items->batch_err = rc ? strdup(err) : NULL;
        pthread_mutex_lock(&w->mu);
        *w->done_tail = items;
        w->done_tail = &items->next_batch;
        pthread_cond_signal(&w->done_cv);
        pthread_mutex_unlock(&w->mu);
        uint64_t one = 1;
        if (write(w->efd, &one, sizeof one) < 0) { /* the loop also polls on flush */ }
        catch_up(w);
    }
    return NULL;
}

void ingest_writer_free(struct ingest_writer *w)
{
    if (!w) return;
    if (w->started) {
        pthread_mutex_lock(&w->mu);
        w->quit = 1;
        pthread_cond_signal(&w->todo_cv);
        pthread_mutex_unlock(&w->mu);
        pthread_join(w->thread, NULL);
    }
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->todo_cv);
    pthread_cond_destroy(&w->done_cv);
    if (w->done_ev) event_free(w->done_ev);
    if (w->efd >= 0) close(w->efd);
    intake_close(w->ik);
    store_close(w->store);
    free(w);
}

struct ingest_writer *ingest_writer_new(struct event_base *base, const char *path,
                                        event_callback_fn on_done, void *arg, char *err,
                                        size_t errlen)
{
    struct ingest_writer *w = calloc(1, sizeof *w);
    if (!w) {
        snprintf(err, errlen, "ingest: out of memory");
        return NULL;
    }
    pthread_condattr_t ca;
    pthread_mutex_init(&w->mu, NULL);
    w->todo_tail = &w->todo;
    w->done_tail = &w->done;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);     /* the writer's idle wait */
    pthread_cond_init(&w->todo_cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_cond_init(&w->done_cv, NULL);
    w->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (w->efd < 0 || !(w->done_ev = event_new(base, w->efd, EV_READ | EV_PERSIST, on_done, arg)) ||
        event_add(w->done_ev, NULL)) {
        snprintf(err, errlen, "ingest: cannot create the writer's wake-up event");
        goto fail;
    }
    /* A connection of its own: SQLite handles are not shared across threads here. */
    if (store_open(&w->store, path, 0, err, errlen)) goto fail;
    /* The checkpointer (ingest_start) copies the log; a commit that checkpointed would hold
     * every acknowledgement in its batch for the length of the copy. */
    store_set_autocheckpoint(w->store, 0);
    /* Its pages are appended ones (events, the backlog) and random ones of the dedupe index,
     * which no cache of a few MB holds after a burst: a small cache costs it nothing and keeps
     * the process within its memory budget. */
    store_set_cache_kib(w->store, INGEST_WRITER_CACHE_KIB);
    /* Deliveries acknowledged before a crash and not yet moved go into events now, before
     * anything new is accepted. */
    char logpath[4096];
    if (snprintf(logpath, sizeof logpath, "%s-intake", path) >= (int)sizeof logpath) {
        snprintf(err, errlen, "ingest: store.path is too long");
        goto fail;
    }
    if (!(w->ik = intake_open(logpath, err, errlen))) goto fail;
    long recovered = intake_recover(w->ik, w->store, err, errlen);
    if (recovered < 0) goto fail;
    if (err[0]) log_error("ingest: the intake log was damaged", "error", err);
    /* Recovery above may wait for the lock as long as any connection; a move later does not
     * hold acknowledgements up that long (move_some). */
    store_set_busy_timeout(w->store, INGEST_MOVE_BUSY_MS);
    if (recovered > 0) {
        char nbuf[32];
        snprintf(nbuf, sizeof nbuf, "%ld", recovered);
        /* Only a run that ended without its shutdown (a crash, kill -9, power loss) leaves
         * any: worth a warning. */
        log_warn("ingest: moved acknowledged deliveries the last run left in the intake log into events",
                 "deliveries", nbuf);
    }
    if (pthread_create(&w->thread, NULL, writer_main, w)) {
        snprintf(err, errlen, "ingest: cannot start the writer thread");
        goto fail;
    }
    w->started = 1;
    return w;
fail:
    ingest_writer_free(w);
    return NULL;
}

