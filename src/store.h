/* store: durable state behind one interface (SQLite today; the planned PostgreSQL backend
 * implements the same functions, so nothing outside store*.c may assume SQLite or write SQL).
 * Owns the schema and its migrations. Tables: events, jobs, journal, idmap, kv, snapshots,
 * inventory_writes, audit. Every function returns 0 on success and -1 on error, with the
 * reason in store_errmsg(); "not found" is a distinct return value where it matters. */
#ifndef EZ_STORE_H
#define EZ_STORE_H

#include <stddef.h>
#include <stdint.h>

struct store;

#define STORE_NOTFOUND 1
#define STORE_SCHEMA_VERSION 8

/* flags for store_open */
#define STORE_READONLY 1

int store_open(struct store **out, const char *path, int flags, char *err, size_t errlen);
void store_close(struct store *st);
const char *store_errmsg(const struct store *st);
int store_schema_version(struct store *st);
/* How long a write waits for another process's lock before failing (default 5000 ms). */
void store_set_busy_timeout(struct store *st, int ms);
/* The connection's page cache, in KiB (SQLite's default is 2000). */
int store_set_cache_kib(struct store *st, int kib);

/* Checkpoint policy (a no-op for a backend without a write-ahead log). By default a commit that
 * leaves the log past ~1000 pages checkpoints it inside the commit, which then takes tens of ms:
 * a process with a checkpointer of its own turns that off (pages = 0) on every connection. */
void store_set_autocheckpoint(struct store *st, int pages);
/* Durability of this connection's commits: STORE_DURABLE (default: on disk before the commit
 * returns, survives power loss) or STORE_CRASH_SAFE (survives a process crash; on power loss
 * the newest commits may be lost until the next durable commit or checkpoint syncs them).
 * Webhook acknowledgements need STORE_DURABLE; see service.c for who may use the other. */
enum store_durability { STORE_DURABLE, STORE_CRASH_SAFE };
int store_set_durability(struct store *st, enum store_durability d);
/* Copies the log into the database without blocking writers or readers (restart = 0), or, with
 * restart = 1, waits (up to the busy timeout) for the writer so the log is copied completely and
 * the next commit starts it from the beginning: the log stops growing. *log_pages and
 * *copied_pages (either may be NULL) tell how far it got. Returns 0, or -1 (for restart = 1,
 * busy included; a passive copy that meets another one in progress is not an error). */
int store_checkpoint(struct store *st, int restart, int *log_pages, int *copied_pages);

/* Transactions nest by counting: only the outermost begin/commit touch the database, so a
 * caller can batch (group commit) calls that each open their own transaction. */
int store_begin(struct store *st);
/* One snapshot for several reads (a lock taken once, not per statement); no writes inside. */
int store_read_begin(struct store *st);
void store_read_end(struct store *st);
int store_commit(struct store *st);
void store_rollback(struct store *st);

/* ---- events: one row per accepted webhook delivery or polled change ---- */
struct store_event {
    int64_t id;              /* out: assigned on insert */
    const char *source;      /* "shopify", "orderez", "schedule" */
    const char *topic;       /* e.g. "orders/create" */
    const char *dedupe_key;  /* X-Shopify-Webhook-Id, or the poller's change key */
    const char *event_id;    /* X-Shopify-Event-Id (may be NULL) */
    const char *triggered_at;/* X-Shopify-Triggered-At (may be NULL) */
    const char *shop;
    const char *api_version;
    const char *headers;     /* JSON object of the delivery headers (secrets excluded) */
    const char *body;
    size_t body_len;
    int64_t received_at;     /* ms since the epoch; 0 = now */
    int lane;                /* in: the backlog lane the engine jobs it from (0 first; the
                              * webhook receiver gives the topic's priority), or
                              * STORE_LANE_NONE: the caller makes its job in the same
                              * transaction. out (store_backlog_read): its lane. */
};
#define STORE_LANE_NONE (-1)

/* Inserts unless dedupe_key is already stored; *inserted tells which. A new event with a lane
 * joins the backlog in the same statement's transaction. */
int store_event_insert(struct store *st, struct store_event *ev, int *inserted);
/* 1 when an event with this dedupe key is stored, 0 when not, -1 on error. */
int store_event_exists(struct store *st, const char *dedupe_key);
/* The intake mark (intake.h): the last intake record moved into events. */
int store_intake_mark(struct store *st, int64_t *seq);
int store_intake_set_mark(struct store *st, int64_t seq);
int64_t store_event_count(struct store *st);

/* Reads one event; strings are copies the caller frees with store_event_free. */
int store_event_get(struct store *st, int64_t id, struct store_event *out);
void store_event_free(struct store_event *ev);

/* ---- kv: small state rules keep between runs, by namespace ---- */
/* *value is malloc'd (caller frees); STORE_NOTFOUND when absent. */
int store_kv_get(struct store *st, const char *ns, const char *key, char **value);
int store_kv_put(struct store *st, const char *ns, const char *key, const char *value);
int store_kv_delete(struct store *st, const char *ns, const char *key);

/* ---- idmap: every cross-system link, written in the same transaction as its step ---- */
/* kind: "order", "line", "customer", "product", "location", "fulfillment", ... */
int store_idmap_put(struct store *st, const char *kind, const char *shopify_id,
                    const char *orderez_id);
int store_idmap_get_orderez(struct store *st, const char *kind, const char *shopify_id,
                            char **orderez_id);
int store_idmap_get_shopify(struct store *st, const char *kind, const char *orderez_id,
                            char **shopify_id);
int64_t store_idmap_count(struct store *st, const char *kind);

/* ---- audit: per-record history a merchant can read ---- */
int store_audit_add(struct store *st, int64_t job_id, const char *entity, const char *action,
                    const char *detail);

/* ---- snapshots: last known remote state, for poll diffs ---- */
int store_snapshot_get(struct store *st, const char *kind, const char *id, char **data);
int store_snapshot_put(struct store *st, const char *kind, const char *id, const char *data);
/* Stores value (as decimal text) unless the snapshot already holds a larger integer: one
 * statement where a read and a write would be two (it runs for every order delivery). */
int store_snapshot_raise(struct store *st, const char *kind, const char *id, int64_t value);

int64_t store_now_ms(void);

/* ---- jobs: the engine's durable queue, one job per event (store_jobs.c) ---- */
enum store_job_state {
    STORE_JOB_QUEUED, STORE_JOB_RUNNING, STORE_JOB_RETRY_WAIT, STORE_JOB_DONE, STORE_JOB_DEAD,
    STORE_JOB_DROPPED,           /* a dead letter the operator discarded; kept for the record */
    STORE_JOB_NSTATES
};
#define STORE_JOB_NPRIORITIES 5  /* 0 (order creation) .. 4 (reports) */

const char *store_job_state_name(int state);   /* "queued", ... */
int store_job_state_parse(const char *name);   /* -1 when unknown */

struct store_job {
    int64_t id, event_id;
    int state, priority, attempts;
    char *entity_key, *topic, *source;
    int64_t next_at;             /* ms; when a retry_wait job becomes runnable */
    char *last_error, *traceback, *failed_request, *rules_version;
    int64_t created_at, updated_at, started_at, finished_at;
    int64_t received_at;         /* of its event */
};
void store_job_free(struct store_job *job);
void store_jobs_free(struct store_job *jobs, size_t n);

/* ---- the backlog: stored events the engine has not made into jobs yet ----
 * The webhook receiver commits only the event (and its backlog entry) before the 200; the
 * engine makes jobs when it has room for them, lane by lane. An event has a backlog entry or
 * a job, never both once a transaction ends. */
/* Up to limit backlog events by lane, then id (the order the engine jobs them in), stopping
 * after the one whose body takes the total to max_bytes. Free with store_events_free. */
int store_backlog_read(struct store *st, int limit, size_t max_bytes, struct store_event **out,
                       size_t *n);
/* The first lane with events in the backlog, -1 when it is empty. */
int store_backlog_first_lane(struct store *st, int *lane);
int store_job_priority(struct store *st, int64_t id, int *priority);   /* or NOTFOUND */
/* 1 when the event has a job, 0 when not, -1 on error. */
int store_event_jobbed(struct store *st, int64_t event_id);
/* Takes an event off the backlog (in the transaction that inserts its job). */
int store_backlog_remove(struct store *st, int lane, int64_t event_id);
/* Backlog events by lane (lanes past the last counted in the last), and the oldest one's
 * received_at (0 when the backlog is empty). */
/* Entries in the backlog, every lane (kept by triggers: one small read). */
int64_t store_backlog_total(struct store *st);
int store_backlog_depth(struct store *st, int64_t depth[STORE_JOB_NPRIORITIES], int64_t *oldest);
void store_events_free(struct store_event *evs, size_t n);

/* Inserts a job for job->event_id in job->state (queued, or dead with last_error when the
 * event cannot be processed at all); sets job->id. */
int store_job_insert(struct store *st, struct store_job *job);
int store_job_get(struct store *st, int64_t id, struct store_job *out);   /* or NOTFOUND */
int store_job_by_event(struct store *st, int64_t event_id, struct store_job *out); /* or NOTFOUND */
/* Ids of up to limit events after after_id, oldest first (`ezsync record`). */
int store_events_after(struct store *st, int64_t after_id, int limit, int64_t *ids, size_t *n);

/* Up to limit queued jobs that may start now: each is the oldest unfinished job (queued,
 * running or retry_wait) of its entity key, by priority then id. */
int store_jobs_runnable(struct store *st, int limit, int64_t *ids, size_t *n);
/* How many jobs are queued (runnable or blocked), counting no further than limit. */
int store_jobs_queued(struct store *st, int limit, int64_t *n);
/* retry_wait jobs whose next_at has passed become queued again; *n = how many. */
int store_jobs_promote_due(struct store *st, int64_t now, int *n);
/* Earliest next_at of the retry_wait jobs; 0 when there is none. */
int store_jobs_next_retry(struct store *st, int64_t *next_at);

/* queued -> running, attempts + 1, recording the rules version. */
int store_job_start(struct store *st, int64_t id, const char *rules_version);
/* running -> done | retry_wait (next_at) | dead (error, traceback, failed request). */
int store_job_finish(struct store *st, int64_t id, int state, int64_t next_at,
                     const char *error, const char *traceback, const char *failed_request);
/* running -> retry_wait until next_at with the attempt given back: the job met a remote that
 * is down (outage.h), which says nothing about the job. error should start "waiting for
 * <remote>: " (store_jobs_release_held finds the job by it). */
int store_job_hold(struct store *st, int64_t id, int64_t next_at, const char *error);
/* The jobs hold() parked for remote (their last_error starts "waiting for <remote>: ") run
 * now: it is back. *n = how many. */
int store_jobs_release_held(struct store *st, const char *remote, int *n);
/* running -> queued; refund = 1 gives the attempt back (an orderly stop is not a failure). */
int store_job_requeue(struct store *st, int64_t id, int refund);
/* Start-up: every running job (left so by a crash) back to queued; *n = how many. */
int store_jobs_recover(struct store *st, int *n);
/* dead -> queued with attempts and errors reset; NOTFOUND when no dead job has that id. */
int store_job_retry(struct store *st, int64_t id);
/* dead -> dropped; NOTFOUND when no dead job has that id. */
int store_job_drop(struct store *st, int64_t id);

/* Newest first; state < 0 lists every state. Free with store_jobs_free. */
int store_jobs_list(struct store *st, int state, int limit, struct store_job **out, size_t *n);
/* Job counts by state and priority. */
int store_jobs_depth(struct store *st, int64_t depth[STORE_JOB_NSTATES][STORE_JOB_NPRIORITIES]);
/* received_at of the event of the oldest queued or retry_wait job; 0 when none. */
int store_jobs_oldest_pending(struct store *st, int64_t *received_at);

/* ---- journal: every outbound call of a job, by step (store_jobs.c) ---- */
struct store_journal {
    int64_t job_id;
    int step;                    /* 1, 2, ... */
    char *remote;                /* "shopify", "orderez", "notify" */
    char *request_hash;          /* hex sha256 */
    char *request;               /* JSON {kind, method, path, body} */
    int status;                  /* HTTP status of the recorded response */
    char *response;
    int64_t created_at;
};
int store_journal_get(struct store *st, int64_t job_id, int step, struct store_journal *out);
int store_journal_put(struct store *st, const struct store_journal *e);
/* Deletes the steps >= from_step of a job; *n = how many. */
int store_journal_truncate(struct store *st, int64_t job_id, int from_step, int *n);
int store_journal_list(struct store *st, int64_t job_id, struct store_journal **out, size_t *n);
void store_journal_free(struct store_journal *e);
void store_journals_free(struct store_journal *es, size_t n);

#endif
