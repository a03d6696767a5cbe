/* ingest: the Shopify webhook receiver on the public listener. Owns the path from request to
 * durable delivery: HMAC check over the raw body (before anything is parsed), header
 * validation, dedupe on X-Shopify-Webhook-Id, and group commit (the deliveries verified in one
 * loop turn, or while the previous batch was being synced, are appended to the intake log and
 * synced at once by a writer thread, ingest_writer.c; then each gets its reply on the loop).
 * The writer moves them into events afterwards, or before the replies when nothing presses.
 * Uses httpd, hmac, intake, store, metrics. */
#ifndef EZ_INGEST_H
#define EZ_INGEST_H

#include "httpd.h"
#include "strbuf.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

struct checkpointer;
struct config;
struct event;
struct event_base;
struct evkeyvalq;
struct store;
struct store_event;
struct ingest_item;
struct ingest_writer;

#define INGEST_PATH "/webhooks/shopify"

/* The writer acknowledges a batch once it is in the intake log (intake.h), and moves
 * deliveries into events:
 *   - before the batch's replies (the oldest INGEST_MOVE_BUSY, or as many as the batch
 *     holds), while the engine's backlog is below INGEST_FEED_BACKLOG (at a
 *     quiet time a 200 also means "in events"; and the engine would run out of work) or the
 *     log holds more than INGEST_LOG_MAX_* (a burst longer than the log is meant to absorb:
 *     acknowledgements then go at the rate events are stored);
 *   - otherwise once no batch came for INGEST_IDLE_MOVE_MS: INGEST_MOVE_TRICKLE a
 *     transaction (a batch that comes meanwhile waits for it), or up to INGEST_MOVE_IDLE
 *     once none came for INGEST_QUIET_MS. A burst is acknowledged at the log's speed, and
 *     stored after. The pause is 10 ms, not 1: at a steady ~14,000 deliveries a second
 *     (batches ~0.4 ms apart) the loop's jitter left 1 ms gaps often enough that a move (a
 *     commit and its sync, a few ms) held up ~1 % of the replies, the p99 at half the
 *     benchmark's rate (10-32 ms against 4-11 ms with 10 ms, same runs). */
#define INGEST_IDLE_MOVE_MS 10
#define INGEST_MOVE_TRICKLE 32
#define INGEST_QUIET_MS 50
#define INGEST_MOVE_IDLE 4096
#define INGEST_MOVE_BUSY 64
#define INGEST_FEED_BACKLOG 1000
#define INGEST_LOG_MAX_RECORDS 400000
#define INGEST_LOG_MAX_BYTES (2048L << 20)
/* A move waits INGEST_MOVE_BUSY_MS for another connection's write lock; a failed one is tried
 * again INGEST_MOVE_RETRY_MS later, and reported (log, /readyz) after INGEST_MOVE_FAIL_MS. */
#define INGEST_MOVE_BUSY_MS 50
#define INGEST_WRITER_CACHE_KIB 512
#define INGEST_MOVE_RETRY_MS 200
#define INGEST_MOVE_FAIL_MS 5000

/* Called on the loop after acknowledged deliveries were moved into events: n rows created, the
 * first with id first_id; duplicates are not reported. The engine wakes up here. */
typedef void (*ingest_stored_fn)(void *ud, int64_t first_id, size_t n);

struct hmac_key;

struct ingest {
    struct event_base *base;
    const struct config *cfg;
    struct metrics *metrics;
    struct httpd_listener listener;
    struct event *flush_ev;            /* zero-timeout: runs once the current turn's reads end */
    struct ingest_item *head, **tail;  /* verified deliveries waiting for the next commit */
    size_t npending;
    size_t outstanding;                /* handed to the writer, not yet answered */
    struct ingest_writer *writer;      /* the commit thread and its store connection */
    struct checkpointer *ckpt;         /* keeps the log short, so commits never checkpoint */
    int draining;                      /* SIGTERM: replies carry Connection: close */
    struct hmac_key *key, *previous_key; /* shopify.webhook_secret / previous_webhook_secret */
    /* Loop side: answered items kept for the next deliveries (an item is ~4 KB, and glibc's
     * malloc sorts and merges such chunks on every call), and the headers' JSON built in one
     * buffer kept across requests. */
    struct ingest_item *spare;
    size_t nspare;
    struct strbuf scratch;

    ingest_stored_fn on_events_stored; /* optional hook, set by the engine */
    void *on_events_stored_ud;

    /* status, for /api/v1/status and /readyz */
    int64_t events_stored;             /* rows created since start */
    int64_t commits, last_commit_ms;   /* wall clock ms of the last successful commit */
    int last_commit_failed;
    char last_error[512];

    struct metric *m_stored, *m_dedupe, *m_commit_seconds, *m_batch, *m_commit_failed;
    struct metric *m_pending, *m_log_pending, *m_moved;
    struct metric *m_rejected[7];
};

/* Opens its own connection to store.path, starts the writer thread, binds server.listen and
 * starts serving. Returns 0, or -1 with the reason in err. */
int ingest_start(struct ingest *in, struct event_base *base, const struct config *cfg,
                 struct metrics *m, char *err, size_t errlen);
/* SIGTERM: stop accepting connections; requests already on open connections still finish. */
void ingest_stop_accepting(struct ingest *in);
/* Commits and answers everything queued or in flight, waiting for the writer (shutdown). */
void ingest_flush(struct ingest *in);
/* Flushes, then stops the writer and frees the listener. */
void ingest_close(struct ingest *in);

/* Readiness check (admin_ready_fn shape): fails while the last commit failed. */
int ingest_ready(void *ud, char *why, size_t whylen);
/* Status fields (admin_status_fn shape): events_stored, last_commit, listeners.public. */
void ingest_status(void *ud, json_t *status);

/* ---- the steps, exposed for unit tests ---- */

/* The delivery headers a webhook must carry; pointers into the request's header list. */
struct ingest_delivery {
    const char *hmac, *topic, *shop, *webhook_id, *api_version, *event_id, *triggered_at;
};

/* 0 when body carries a valid signature under key or (when set) previous; else 401. The keys
 * come from hmac_key_new (NULL for an unset secret: verifies nothing). */
int ingest_verify(struct hmac_key *key, struct hmac_key *previous, const void *body, size_t len,
                  const char *hmac_header);

/* Fills d from the headers (names case-insensitive). Returns 0, 400 when a required header is
 * missing or empty, or 403 when the shop domain is not shop; *why names the problem. */
int ingest_check_headers(const struct evkeyvalq *h, const char *shop, struct ingest_delivery *d,
                         const char **why);

/* The headers as a JSON object (lower-case names; the signature and any credentials left
 * out). malloc'd; NULL on OOM. */
char *ingest_headers_json(const struct evkeyvalq *h);
/* The same, appended to out (out->oom set on OOM): 0, or -1 on OOM. */
int ingest_headers_json_to(const struct evkeyvalq *h, struct strbuf *out);

enum { INGEST_FAILED = 0, INGEST_STORED = 1, INGEST_DUPLICATE = 2 };

struct intake;
/* Accepts evs[0..n): each new one (not in the intake log or staged, and with check_store not
 * in events either) is staged in the log with the backlog lane of its topic's priority (no body
 * parsed: the engine does that when it has room), then the log is synced; results[i] says what
 * became of each. Without check_store a repeat of a delivery already in events is staged like a
 * new one and dropped when moved (intake_move). Returns 0 when the log is synced, else -1 with
 * every result INGEST_FAILED and the reason in err. */
int ingest_accept_batch(struct store *st, struct intake *ik, struct store_event **evs,
                        int *results, size_t n, int check_store, char *err, size_t errlen);

#endif
