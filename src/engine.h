/* engine: the job engine. Turns stored events into durable jobs (one per event; webhook
 * deliveries from the store's backlog when it has room for them), runs them
 * with bounded concurrency, strictly one at a time and in order per entity key, by topic
 * priority,
 * journals every outbound call, retries transient failures with capped full-jitter backoff and
 * dead-letters the rest. It uses the rule host and the remotes only through the two
 * function-pointer interfaces below (the service wires the adapters), the store for all state
 * and libevent for every timer: nothing here blocks or sleeps. */
/* Wiring (service.c): eng = engine_new(base, store, cfg, &runner, &remotes); engine_start(eng);
 * the ingest calls engine_notify_events(eng) after each commit; poller_new / scheduler_new get
 * (void (*)(void *))engine_notify_events with eng as notify data. On SIGTERM:
 * engine_stop(eng, 1, cb, ud) and leave the loop in cb; free the remotes, then engine_free. */
#ifndef EZ_ENGINE_H
#define EZ_ENGINE_H

#include "store.h"

#include <stddef.h>
#include <stdint.h>

struct event_base;
struct config;

/* ---- the runner: the rule host, behind an adapter ---- */

enum engine_run_status {
    ENGINE_RUN_DONE,             /* the run finished */
    ENGINE_RUN_WAIT,             /* the run needs an outbound call, described in *io */
    ENGINE_RUN_FAILED,           /* the run raised an error (see error / error_is_transient) */
};

enum engine_io_kind { ENGINE_IO_SHOPIFY = 0, ENGINE_IO_ORDEREZ = 1, ENGINE_IO_NOTIFY = 2 };
#define ENGINE_NREMOTES 3

/* One outbound call. For ENGINE_IO_SHOPIFY the body is the whole GraphQL request
 * {"query": ..., "variables": ...} and path is advisory ("/graphql.json"); for OrderEZ it is
 * the REST method, path (with query string) and JSON body (NULL for none); for notify, the
 * adapter's own encoding (method = channel). */
struct engine_io {
    int kind;                    /* enum engine_io_kind */
    const char *method, *path, *body;
};

/* What the runner is told about a job. Strings stay valid for the whole run. */
struct engine_job_info {
    int64_t id, event_id;
    const char *topic;           /* e.g. "orders/create", "orderez/order.status_changed" */
    const char *source;          /* "shopify", "orderez", "schedule" */
    const char *entity_key;      /* e.g. "shopify:order:450789469" */
    int priority;                /* 0 (order creation) .. 4 (reports) */
    int attempt;                 /* 1 on the first attempt */
};

struct engine_runner {
    void *ud;
    /* Starts a run of the rules for job with its event's raw JSON body. Sets *run (may be
     * NULL only when nothing needs finishing). On WAIT fills *io; io's strings stay valid
     * until the next call on this run. */
    enum engine_run_status (*start)(void *ud, const struct engine_job_info *job,
                                    const char *event_json, void **run, struct engine_io *io);
    /* Gives the pending call's response: HTTP status and body (recorded responses are
     * replayed through here too). transport_error is NULL for an ordinary answer; it is set
     * when the remote classified the answer as permanent (e.g. 422): the rule host should
     * raise it as a Lua error at the call site (so the job dead-letters with the rule's
     * traceback) unless the rule asked to handle errors itself. Such a step is not journaled,
     * so a retry from the dead-letter queue sends it again. Transient failures never reach
     * the rule: the engine retries the job. Same return convention as start. */
    enum engine_run_status (*resume)(void *ud, void *run, int status, const char *body,
                                     const char *transport_error, struct engine_io *io);
    /* On FAILED: message, then a newline and the traceback. Valid until finish. */
    const char *(*error)(void *ud, void *run);
    /* On FAILED: nonzero when the error is worth retrying (e.g. an I/O failure that surfaced
     * as a Lua error); zero for rule errors, which dead-letter the job. May be NULL. */
    int (*error_is_transient)(void *ud, void *run);
    /* The id of the rules version that start() would use now (recorded on the job). */
    const char *(*version)(void *ud);
    /* Frees a run (after DONE, FAILED, or when the engine abandons it at stop). */
    void (*finish)(void *ud, void *run);
};

/* ---- the remotes: HTTP client + rate limiters, behind an adapter ---- */

enum engine_call_class {
    ENGINE_CALL_OK = 0,          /* an answer the rules should see (any status they handle) */
    ENGINE_CALL_TRANSIENT = 1,   /* network error, 429, 5xx, THROTTLED: retry the job later */
    ENGINE_CALL_PERMANENT = 2,   /* an answer no retry can fix (e.g. 401, 422): dead letter */
};

/* done: called exactly once per accepted send, possibly before send returns. body is the
 * response body (may be NULL), error a transport/classification message (NULL when OK).
 * Both are only valid during the call. retry_after_s: the answer's Retry-After (<= 0: none). */
typedef void (*engine_send_done)(void *cbud, int cls, long status, const char *body,
                                 const char *error, double retry_after_s);

struct engine_remotes {
    void *ud;
    /* Queues io behind the remote's rate limiter at priority (0 first .. 4 = polls).
     * idem_key (NULL for reads by pollers) goes into Shopify's @idempotent(key:) and the
     * like. Returns 0 when accepted, -1 when not (done is then never called). */
    int (*send)(void *ud, const struct engine_io *io, int priority, const char *idem_key,
                engine_send_done done, void *cbud);
};

/* ---- the engine ---- */

struct engine;

/* Reads engine.concurrency, engine.retry_base_ms, engine.retry_cap_ms, engine.max_attempts
 * and engine.sweep_ms from cfg. runner and remotes are copied. NULL on failure. */
struct engine *engine_new(struct event_base *base, struct store *st, const struct config *cfg,
                          const struct engine_runner *runner,
                          const struct engine_remotes *remotes);
/* Recovers the jobs a crash left running (they replay their journal), jobs pending events
 * and starts the periodic sweep. 0 or -1. */
int engine_start(struct engine *eng);
/* Stops starting jobs. graceful: jobs waiting on a response keep waiting; each, once its
 * response is journaled, goes back to queued (its attempt refunded) and stopped(ud) runs
 * when none is left. Not graceful: stopped(ud) runs at once; waiting jobs are requeued by
 * engine_free and will re-send their pending step under the same idempotency key. */
void engine_stop(struct engine *eng, int graceful, void (*stopped)(void *ud), void *ud);
/* Frees everything. Call after the remotes adapter can no longer call a done callback. */
void engine_free(struct engine *eng);

/* New events or jobs were committed (the webhook receiver's backlog, pollers, schedules):
 * the engine looks for work on its next loop turn. */
void engine_notify_events(struct engine *eng);
/* The webhook receiver's hook: events joined the backlog (and nothing else changed). */
void engine_notify_backlog(struct engine *eng);

/* ---- for the admin API, metrics and tests ---- */

/* Jobs in state ("queued", "dead", ... or NULL for all), newest first, as a JSON array;
 * *json_out is malloc'd. 0, or -1 (bad state name or store error). */
int engine_jobs_list(struct engine *eng, const char *state, int limit, char **json_out);
/* A dead job back to queued with attempts reset (it runs the current rules; its journal
 * replays what still matches). 0, 1 when no dead job has that id, -1 on error. */
int engine_job_retry(struct engine *eng, int64_t id);

#define ENGINE_LATENCY_BUCKETS 12
/* Upper bounds (ms) of the latency histogram buckets; the last bucket is +Inf. */
extern const int64_t engine_latency_bounds_ms[ENGINE_LATENCY_BUCKETS - 1];

struct engine_stats {
    int64_t depth[STORE_JOB_NSTATES][STORE_JOB_NPRIORITIES]; /* jobs by state, priority */
    int64_t backlog[STORE_JOB_NPRIORITIES]; /* events stored, not jobbed yet, by lane */
    int64_t oldest_pending_age_ms; /* event age of the oldest backlog event or queued/retry_wait
                                    * job; 0 none */
    int running;                 /* jobs in flight in this process */
    /* since start, this process: */
    uint64_t started, done, dead, retried, replayed_steps, sent_steps, diverged;
    uint64_t held;               /* jobs that waited for a remote that was down (no attempt) */
    /* by enum engine_io_kind: down now (outage.h), and how often it went down */
    int remote_down[ENGINE_NREMOTES];
    uint64_t remote_outages[ENGINE_NREMOTES];
    /* event received -> job done or dead, cumulative counts per bucket (Prometheus style) */
    uint64_t latency_count[ENGINE_LATENCY_BUCKETS];
    uint64_t latency_total;
    double latency_sum_ms;
    uint64_t attempts_hist[ENGINE_LATENCY_BUCKETS]; /* finished jobs by attempts (1..11, 12+) */
};
int engine_stats(struct engine *eng, struct engine_stats *out);

/* Capped full-jitter backoff for attempt n (1-based): uniform in [0, min(cap, base*2^(n-1))].
 * rnd is a uniform 64-bit random value (exposed for tests). */
int64_t engine_backoff_ms(long base_ms, long cap_ms, int attempt, uint64_t rnd);

/* ---- engine_topics.c: what an event means to the queue ---- */
struct engine_topic_class {
    int priority;                /* by topic: 0 order creation > 1 order updates, fulfilment,
                                  * refunds > 2 inventory > 3 catalog, customers > 4 reports */
    char *entity;                /* ordering key, e.g. "shopify:order:450789469" */
    /* a Shopify order event: its id and updated_at (for the catch-up poller), else NULL */
    char *order_id, *order_updated_at;
};
/* A topic's priority, from the topic alone (the webhook receiver's backlog lane). */
int engine_topics_priority(const char *topic);
/* Classifies an event by topic and JSON body (parsed with exact int64 ids). Returns 0, or -1
 * with the reason in err when the body cannot be used: the job is then dead-lettered. */
/* Classification in two steps, for a caller that parses bodies apart from the job inserts
 * (the engine's backlog batches, before the write lock is taken): the peek parses the body for
 * the ids the topic's job needs; classify_peeked builds the class (and messages) with the id. */
#define ENGINE_PEEK_MAX 5
struct engine_peek_field {
    const char *path;            /* "id", "customer.id": at most one dot */
    int type;                    /* internal: none, integer, string, other */
    char text[256];              /* the string, or the integer's digits */
    size_t alen;                 /* the path split once: a = path[0..alen), b after the dot */
    const char *b;               /* NULL for a top-level path */
    size_t blen;
};
struct engine_peek {
    int rc;                      /* 0, or -1: the body cannot be used (why says so) */
    char why[200];
    size_t n;
    struct engine_peek_field f[ENGINE_PEEK_MAX];
};
void engine_topics_peek(const char *topic, const char *body, size_t body_len,
                        struct engine_peek *pk);
int engine_topics_classify_peeked(int64_t event_id, const char *topic,
                                  const struct engine_peek *pk, struct engine_topic_class *out,
                                  char *err, size_t errlen);
/* Both steps at once. */
int engine_topics_classify(int64_t event_id, const char *topic, const char *body,
                           size_t body_len, struct engine_topic_class *out, char *err,
                           size_t errlen);
void engine_topics_free(struct engine_topic_class *c);

/* Creates the job of a stored event (queued, or dead with the reason when its body cannot be
 * used; *dead tells which), from pk when the body was peeked already (else NULL) and notes a Shopify order for the catch-up poller. Called in the
 * transaction that stored the event, so an event never exists without its job. 0 or -1. */
int engine_job_for_event(struct store *st, const struct store_event *ev,
                         const struct engine_peek *pk, int *dead);
/* store_event_insert and, when the event is new, its job, in one transaction (nested in the
 * caller's, if any): pollers, schedules and rule emits store events this way (few, and their
 * jobs are wanted now). The webhook receiver stores only the event, in the backlog, for the
 * engine to job when it has room. *dead (may be NULL) as above. 0 or -1. */
int engine_event_store(struct store *st, struct store_event *ev, const struct engine_peek *pk,
                       int *inserted, int *dead);

#endif
