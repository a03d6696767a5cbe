/* engine: see engine.h. A job lives in one slot from start to finish; every response is
 * delivered to its slot through a libevent event (never inside the remote's callback), so a
 * remote that answers synchronously cannot re-enter a run, and the stack never grows with the
 * number of steps. */
#include "engine.h"

#include "config.h"
#include "dlq.h"
#include "journal.h"
#include "log.h"
#include "outage.h"
#include "poller.h"

#include <event2/event.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ERROR_MAX 2000           /* bytes of a response body kept in last_error */

const int64_t engine_latency_bounds_ms[ENGINE_LATENCY_BUCKETS - 1] = {
    10, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 60000, 300000,
};

struct engine_slot {
    struct engine *eng;
    int busy;
    struct store_job job;
    struct engine_job_info info;
    void *run;
    int step;                    /* number of the pending (or last) outbound call */
    struct journal_request req;  /* the pending call (owned copies) */
    char hash[JOURNAL_HASH_LEN + 1];
    char *failed_request;        /* set while a permanent failure is shown to the rule */
    struct event *resp_ev;       /* delivers the response on the loop */
    int awaiting;
    int resp_cls;
    long resp_status;
    double resp_retry_after_s;
    char *resp_body, *resp_error;
};

struct engine {
    struct event_base *base;
    struct store *st;
    struct engine_runner runner;
    struct engine_remotes remotes;
    long concurrency, retry_base_ms, retry_cap_ms, max_attempts, sweep_ms;
    struct engine_slot *slots;
    int nrunning;
    struct event *pick_ev, *sweep_ev, *retry_ev, *trickle_ev;
    int64_t retry_armed_at;      /* 0: the retry timer is not armed */
    int started, stopping;
    int hungry;                  /* the last pick left slots free */
    int backlog_empty;           /* the last backlog read found nothing (until the next notify) */
    int64_t refill_at;           /* ms; no backlog jobbing before (the trickle) */
    void (*stopped)(void *ud);
    void *stopped_ud;
    uint64_t rng;
    struct outage outage;        /* which remotes are down (their failures cost no attempt) */
    struct engine_stats ctr;     /* counters only; engine_stats() adds the store's view */
};

static void advance(struct engine_slot *sl, enum engine_run_status rs, struct engine_io *io);

static char *xstrdup(const char *s) { return s ? strdup(s) : NULL; }

static uint64_t next_random(struct engine *eng)
{
    /* xorshift64*: plenty for jitter, and no global state (rand() is process-wide). */
    uint64_t x = eng->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    eng->rng = x;
    return x * 0x2545F4914F6CDD1DULL;
}

int64_t engine_backoff_ms(long base_ms, long cap_ms, int attempt, uint64_t rnd)
{
    if (base_ms < 1) base_ms = 1;
    if (cap_ms < base_ms) cap_ms = base_ms;
    int64_t ceil = base_ms;
    for (int i = 1; i < attempt && ceil < cap_ms; i++) ceil *= 2;
    if (ceil > cap_ms) ceil = cap_ms;
    return (int64_t)(rnd % (uint64_t)(ceil + 1));
}

static void job_id_text(int64_t id, char *buf, size_t len)
{
    snprintf(buf, len, "%" PRId64, id);
}

/* ---- job creation ----
 * Events wait in the store's backlog (the webhook receiver commits nothing else before its
 * 200) until a pick finds fewer runnable jobs than free slots, or a lane of higher priority
 * than a job about to start: then one batch becomes jobs, lane by lane (by topic priority),
 * oldest first within a lane. So jobs are made at the pace
 * the engine runs them, bounded by the remotes' rate limits, not at the pace deliveries
 * arrive, and a batch pays one transaction and one body parse per event, off the ack path. */
#define JOB_BATCH 128
#define JOB_BATCH_BYTES (2u << 20)   /* bodies read at once: 128 orders are ~1.5 MB */
/* Queued jobs past which the backlog is jobbed only a batch per TRICKLE_MS: slots idle with
 * that many queued means they wait behind a few busy entities (or a remote that is down), and
 * jobbing further helps only the other entities in the backlog. The trickle bounds the work
 * spent on that look-ahead (and the head-of-line wait of those other entities). */
#define RUNWAY 512
#define TRICKLE_MS 1000

/* Jobs up to JOB_BATCH backlog events. Returns how many, or -1. */
static int job_backlog(struct engine *eng)
{
    struct store_event *evs = NULL;
    struct engine_peek *pk = NULL;
    size_t n = 0;
    int made = -1;
    uint64_t dead_total = 0;
    if (store_backlog_read(eng->st, JOB_BATCH, JOB_BATCH_BYTES, &evs, &n)) goto cleanup;
    if (n == 0) {
        made = 0;
        goto cleanup;
    }
    /* The bodies are parsed before the write lock is taken: the webhook writer's commits
     * (which every waiting delivery waits for) are held up only by the inserts. */
    if (!(pk = malloc(n * sizeof *pk))) goto cleanup;
    for (size_t i = 0; i < n; i++)
        engine_topics_peek(evs[i].topic, evs[i].body, evs[i].body_len, &pk[i]);
    if (store_begin(eng->st)) goto cleanup;
    for (size_t i = 0; i < n; i++) {
        int dead = 0;
        /* An event stored with its job and a backlog entry both (a producer that forgot
         * STORE_LANE_NONE) is taken off the backlog, not jobbed twice: a failing insert here
         * would stall the whole backlog behind it. */
        int jobbed = store_event_jobbed(eng->st, evs[i].id);
        if (jobbed < 0 || (!jobbed && engine_job_for_event(eng->st, &evs[i], &pk[i], &dead)) ||
            store_backlog_remove(eng->st, evs[i].lane, evs[i].id)) {
            store_rollback(eng->st);
            goto cleanup;
        }
        dead_total += (uint64_t)dead;
    }
    if (store_commit(eng->st)) goto cleanup;
    eng->ctr.dead += dead_total;
    made = (int)n;
cleanup:
    if (made < 0) log_error("cannot create jobs", "error", evs && !pk ? "out of memory"
                                                                     : store_errmsg(eng->st));
    free(pk);
    store_events_free(evs, n);
    return made;
}

/* ---- scheduling ---- */

static void schedule_pick(struct engine *eng)
{
    if (eng->pick_ev && !eng->stopping) event_active(eng->pick_ev, 0, 1);
}

static void arm_retry(struct engine *eng, int64_t next_at)
{
    if (next_at <= 0 || eng->stopping) return;
    if (eng->retry_armed_at && eng->retry_armed_at <= next_at) return;
    int64_t delay = next_at - store_now_ms();
    if (delay < 0) delay = 0;
    struct timeval tv = { (time_t)(delay / 1000), (suseconds_t)((delay % 1000) * 1000) };
    eng->retry_armed_at = next_at;
    evtimer_add(eng->retry_ev, &tv);
}

static void rearm_retry(struct engine *eng)
{
    int64_t next_at = 0;
    if (store_jobs_next_retry(eng->st, &next_at) == 0) arm_retry(eng, next_at);
}

static void promote(struct engine *eng)
{
    int n = 0;
    if (store_jobs_promote_due(eng->st, store_now_ms(), &n))
        log_error("cannot promote due retries", "error", store_errmsg(eng->st));
}

static void on_trickle(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    schedule_pick(arg);
}

static void arm_trickle(struct engine *eng)
{
    if (eng->stopping || evtimer_pending(eng->trickle_ev, NULL)) return;
    int64_t delay = eng->refill_at - store_now_ms();
    if (delay < 0) delay = 0;
    struct timeval tv = { (time_t)(delay / 1000), (suseconds_t)((delay % 1000) * 1000) };
    evtimer_add(eng->trickle_ev, &tv);
}

static void on_retry_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct engine *eng = arg;
    eng->retry_armed_at = 0;
    promote(eng);
    rearm_retry(eng);
    schedule_pick(eng);
}

/* The sweep catches what no hook announced: events from another process, dead letters
 * retried from the CLI, retries whose timer was lost. */
static void on_sweep(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct engine *eng = arg;
    if (eng->stopping) return;
    promote(eng);
    rearm_retry(eng);
    schedule_pick(eng);
}

/* ---- finishing a job ---- */

static void record_latency(struct engine *eng, const struct store_job *job)
{
    double ms = (double)(store_now_ms() - (job->received_at ? job->received_at : job->created_at));
    int b = 0;
    while (b < ENGINE_LATENCY_BUCKETS - 1 && ms > (double)engine_latency_bounds_ms[b]) b++;
    eng->ctr.latency_count[b]++;
    eng->ctr.latency_total++;
    eng->ctr.latency_sum_ms += ms;
    int a = job->attempts < 1 ? 0 : job->attempts - 1;
    if (a >= ENGINE_LATENCY_BUCKETS) a = ENGINE_LATENCY_BUCKETS - 1;
    eng->ctr.attempts_hist[a]++;
}

static void release(struct engine_slot *sl)
{
    struct engine *eng = sl->eng;
    if (sl->run && eng->runner.finish) eng->runner.finish(eng->runner.ud, sl->run);
    store_job_free(&sl->job);
    free((char *)sl->req.method);
    free((char *)sl->req.path);
    free((char *)sl->req.body);
    free(sl->failed_request);
    free(sl->resp_body);
    free(sl->resp_error);
    struct event *ev = sl->resp_ev;
    memset(sl, 0, sizeof *sl);
    sl->eng = eng;
    sl->resp_ev = ev;
    eng->nrunning--;
    if (eng->stopping && eng->nrunning == 0 && eng->stopped) {
        void (*cb)(void *) = eng->stopped;
        eng->stopped = NULL;
        cb(eng->stopped_ud);
    }
    schedule_pick(eng);
}

static void finish(struct engine_slot *sl, int state, int64_t next_at, const char *error,
                   const char *traceback, const char *failed_request)
{
    struct engine *eng = sl->eng;
    char id[24];
    job_id_text(sl->job.id, id, sizeof id);
    sl->job.attempts = sl->info.attempt;
    if (store_job_finish(eng->st, sl->job.id, state, next_at, error, traceback, failed_request))
        log_error("cannot record job result", "job_id", id, "error", store_errmsg(eng->st));
    switch (state) {
    case STORE_JOB_DONE:
        eng->ctr.done++;
        record_latency(eng, &sl->job);
        log_info("job done", "job_id", id, "topic", sl->job.topic, "entity", sl->job.entity_key);
        break;
    case STORE_JOB_RETRY_WAIT: {
        char delay[24];
        snprintf(delay, sizeof delay, "%" PRId64, next_at - store_now_ms());
        eng->ctr.retried++;
        log_warn("job will be retried", "job_id", id, "topic", sl->job.topic, "delay_ms", delay,
                 "error", error);
        arm_retry(eng, next_at);
        break;
    }
    default:
        eng->ctr.dead++;
        record_latency(eng, &sl->job);
        log_error("job dead-lettered", "job_id", id, "topic", sl->job.topic,
                  "entity", sl->job.entity_key, "error", error);
        break;
    }
    release(sl);
}

/* "message\nstack traceback:..." -> first line as the error, the whole text as traceback. */
static void fail(struct engine_slot *sl, int transient, const char *msg, const char *traceback,
                 const char *failed_request)
{
    struct engine *eng = sl->eng;
    char *error = NULL;
    size_t n = strcspn(msg ? msg : "", "\n");
    if (!msg || !*msg) msg = "unknown error";
    if (msg[n] && !traceback) traceback = msg;
    if (transient && sl->info.attempt < eng->max_attempts) {
        int64_t delay = engine_backoff_ms(eng->retry_base_ms, eng->retry_cap_ms, sl->info.attempt,
                                          next_random(eng));
        error = strndup(msg, n);
        finish(sl, STORE_JOB_RETRY_WAIT, store_now_ms() + delay, error, traceback,
               failed_request);
    } else {
        size_t len = n + 64;
        error = malloc(len);
        if (error) {
            if (transient) snprintf(error, len, "gave up after %d attempts: %.*s",
                                    sl->info.attempt, (int)n, msg);
            else snprintf(error, len, "%.*s", (int)n, msg);
        }
        finish(sl, STORE_JOB_DEAD, 0, error ? error : msg, traceback, failed_request);
    }
    free(error);
}

/* A stopping engine parks a job at its yield point: back to queued, attempt refunded. */
static void park(struct engine_slot *sl)
{
    char id[24];
    job_id_text(sl->job.id, id, sizeof id);
    if (store_job_requeue(sl->eng->st, sl->job.id, 1))
        log_error("cannot requeue job", "job_id", id, "error", store_errmsg(sl->eng->st));
    else log_info("job parked for restart", "job_id", id);
    release(sl);
}

/* ---- running a job ---- */

static void on_send_done(void *cbud, int cls, long status, const char *body, const char *error,
                         double retry_after_s)
{
    struct engine_slot *sl = cbud;
    if (!sl->awaiting) return;   /* a stray second call: the contract says exactly once */
    sl->awaiting = 0;
    sl->resp_cls = cls;
    sl->resp_status = status;
    sl->resp_retry_after_s = retry_after_s;
    free(sl->resp_body);
    free(sl->resp_error);
    sl->resp_body = xstrdup(body);
    sl->resp_error = xstrdup(error);
    event_active(sl->resp_ev, 0, 1);
}

/* The job's call met a remote that is down: back to retry_wait until `until` (plus up to a
 * quarter of the hold, so the held jobs do not all probe in the same millisecond), the attempt
 * refunded. */
static void hold(struct engine_slot *sl, int64_t now, int64_t until, const char *error)
{
    struct engine *eng = sl->eng;
    char id[24];
    job_id_text(sl->job.id, id, sizeof id);
    uint64_t spread = until > now + 4 ? (uint64_t)(until - now) / 4 : 1;
    int64_t next_at = until + (int64_t)(next_random(eng) % spread);
    char *why = NULL;
    const char *name = journal_remote_name(sl->req.kind);
    size_t len = strlen(name) + strlen(error) + 16;
    if ((why = malloc(len))) snprintf(why, len, "waiting for %s: %s", name, error);
    if (store_job_hold(eng->st, sl->job.id, next_at, why ? why : error))
        log_error("cannot hold job", "job_id", id, "error", store_errmsg(eng->st));
    free(why);
    eng->ctr.held++;
    arm_retry(eng, next_at);
    release(sl);
}

/* What the answer says about the remote: down (log it once), back (log it), or neither. A
 * failure on a remote that is down holds the job (returns 1). */
static int outage_check(struct engine_slot *sl, const char *msg)
{
    struct engine *eng = sl->eng;
    int remote = (int)sl->req.kind;
    const char *name = journal_remote_name(sl->req.kind);
    int64_t now = store_now_ms();
    if (sl->resp_cls != ENGINE_CALL_TRANSIENT) {
        int64_t was = outage_answer(&eng->outage, remote, now);
        if (was >= 0) {
            char ms[24], count[24];
            int n = 0;
            if (store_jobs_release_held(eng->st, name, &n))
                log_error("cannot release held jobs", "error", store_errmsg(eng->st));
            snprintf(ms, sizeof ms, "%" PRId64, was);
            snprintf(count, sizeof count, "%d", n);
            log_info("remote is back; held jobs resume", "remote", name, "down_ms", ms,
                     "jobs", count);
            if (n) arm_retry(eng, now);
        }
        return 0;
    }
    int went_down = 0;
    int64_t until = outage_failure(&eng->outage, remote, sl->resp_status,
                                   sl->resp_retry_after_s, now, &went_down);
    if (went_down)
        log_warn("remote is down: jobs wait for it without spending attempts, one probes it",
                 "remote", name, "error", msg);
    if (!until) return 0;
    hold(sl, now, until, msg);
    return 1;
}

static void send_step(struct engine_slot *sl)
{
    struct engine *eng = sl->eng;
    char key[JOURNAL_IDEM_KEY_LEN];
    struct engine_io io = { sl->req.kind, sl->req.method, sl->req.path, sl->req.body };
    journal_idem_key(sl->job.event_id, sl->step, key);
    /* The remote is down and this is not its probe: wait with the others, send nothing. */
    int64_t now = store_now_ms(), until = outage_gate(&eng->outage, (int)io.kind, now);
    if (until) {
        hold(sl, now, until, "held until the next probe");
        return;
    }
    sl->awaiting = 1;
    eng->ctr.sent_steps++;
    if (eng->remotes.send(eng->remotes.ud, &io, sl->job.priority, key, on_send_done, sl)) {
        sl->awaiting = 0;
        fail(sl, 1, "remote did not accept the call", NULL, NULL);
    }
}

static void on_response(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct engine_slot *sl = arg;
    struct engine *eng = sl->eng;
    struct engine_io io;
    char msg[ERROR_MAX + 256];
    memset(&io, 0, sizeof io);
    const char *remote = journal_remote_name(sl->req.kind);
    if (sl->resp_cls != ENGINE_CALL_TRANSIENT) outage_check(sl, NULL);
    if (sl->resp_cls == ENGINE_CALL_OK) {
        if (journal_record(eng->st, sl->job.id, sl->step, &sl->req, sl->hash,
                           (int)sl->resp_status, sl->resp_body)) {
            snprintf(msg, sizeof msg, "cannot journal step %d: %s", sl->step,
                     store_errmsg(eng->st));
            fail(sl, 1, msg, NULL, NULL);
            return;
        }
        if (eng->stopping) {
            park(sl);
            return;
        }
        advance(sl, eng->runner.resume(eng->runner.ud, sl->run, (int)sl->resp_status,
                                       sl->resp_body ? sl->resp_body : "", NULL, &io), &io);
        return;
    }
    snprintf(msg, sizeof msg, "%s %s %s: %s%s(status %ld)%s%.*s", remote,
             sl->req.method ? sl->req.method : "", sl->req.path ? sl->req.path : "",
             sl->resp_error ? sl->resp_error : "", sl->resp_error ? " " : "", sl->resp_status,
             sl->resp_body && *sl->resp_body ? ": " : "", ERROR_MAX,
             sl->resp_body ? sl->resp_body : "");
    if (sl->resp_cls == ENGINE_CALL_TRANSIENT || eng->stopping) {
        if (eng->stopping) park(sl);
        else if (!outage_check(sl, msg)) fail(sl, 1, msg, NULL, NULL);
        return;
    }
    /* Permanent: show it to the rule, which raises it where the call was made (traceback)
     * or handles it; the step is not journaled so a later retry sends it again. */
    free(sl->failed_request);
    sl->failed_request = journal_failed_request_json(&sl->req, sl->resp_status, sl->resp_body,
                                                     msg, ERROR_MAX);
    advance(sl, eng->runner.resume(eng->runner.ud, sl->run, (int)sl->resp_status,
                                   sl->resp_body ? sl->resp_body : "", msg, &io), &io);
}

static int copy_request(struct engine_slot *sl, const struct engine_io *io)
{
    free((char *)sl->req.method);
    free((char *)sl->req.path);
    free((char *)sl->req.body);
    sl->req.kind = io->kind;
    sl->req.method = xstrdup(io->method);
    sl->req.path = xstrdup(io->path);
    sl->req.body = xstrdup(io->body);
    if ((io->method && !sl->req.method) || (io->path && !sl->req.path) ||
        (io->body && !sl->req.body))
        return -1;
    journal_hash(&sl->req, sl->hash);
    return 0;
}

/* Drives a run until it needs a live call, finishes or fails. Recorded steps are replayed
 * here in a loop (no request sent). */
static void advance(struct engine_slot *sl, enum engine_run_status rs, struct engine_io *io)
{
    struct engine *eng = sl->eng;
    for (;;) {
        if (rs == ENGINE_RUN_DONE) {
            finish(sl, STORE_JOB_DONE, 0, NULL, NULL, NULL);
            return;
        }
        if (rs == ENGINE_RUN_FAILED) {
            const char *err = eng->runner.error ? eng->runner.error(eng->runner.ud, sl->run) : NULL;
            int transient = eng->runner.error_is_transient &&
                            eng->runner.error_is_transient(eng->runner.ud, sl->run);
            fail(sl, transient, err ? err : "rule run failed", NULL, sl->failed_request);
            return;
        }
        if (rs != ENGINE_RUN_WAIT) {
            fail(sl, 0, "runner returned an unknown status", NULL, NULL);
            return;
        }
        free(sl->failed_request);
        sl->failed_request = NULL;
        sl->step++;
        if (copy_request(sl, io)) {
            fail(sl, 1, "out of memory", NULL, NULL);
            return;
        }
        int status = 0;
        char *response = NULL;
        int m = journal_lookup(eng->st, sl->job.id, sl->step, sl->hash, sl->job.entity_key,
                               &status, &response);
        if (m < 0) {
            char msg[600];
            snprintf(msg, sizeof msg, "journal: %s", store_errmsg(eng->st));
            fail(sl, 1, msg, NULL, NULL);
            return;
        }
        if (m != JOURNAL_REPLAY) {
            if (m == JOURNAL_DIVERGED) eng->ctr.diverged++;
            send_step(sl);
            return;
        }
        eng->ctr.replayed_steps++;
        memset(io, 0, sizeof *io);
        rs = eng->runner.resume(eng->runner.ud, sl->run, status, response ? response : "", NULL,
                                io);
        free(response);
    }
}

static void start_job(struct engine *eng, struct engine_slot *sl, int64_t id)
{
    struct store_event ev;
    struct engine_io io;
    char sid[24];
    int rc;
    memset(&ev, 0, sizeof ev);
    memset(&io, 0, sizeof io);
    job_id_text(id, sid, sizeof sid);
    if (store_job_get(eng->st, id, &sl->job)) return;
    const char *version = eng->runner.version ? eng->runner.version(eng->runner.ud) : NULL;
    rc = store_job_start(eng->st, id, version);
    if (rc) {
        /* NOTFOUND: no longer queued (another process took it, or it was retried). */
        if (rc < 0) log_error("cannot start job", "job_id", sid, "error", store_errmsg(eng->st));
        store_job_free(&sl->job);
        return;
    }
    sl->busy = 1;
    eng->nrunning++;
    eng->ctr.started++;
    sl->info.id = sl->job.id;
    sl->info.event_id = sl->job.event_id;
    sl->info.topic = sl->job.topic;
    sl->info.source = sl->job.source;
    sl->info.entity_key = sl->job.entity_key;
    sl->info.priority = sl->job.priority;
    sl->info.attempt = sl->job.attempts + 1;
    rc = store_event_get(eng->st, sl->job.event_id, &ev);
    if (rc) {
        char msg[600];
        snprintf(msg, sizeof msg, "cannot read event %" PRId64 ": %s", sl->job.event_id,
                 rc == STORE_NOTFOUND ? "not found" : store_errmsg(eng->st));
        fail(sl, rc != STORE_NOTFOUND, msg, NULL, NULL);
        return;
    }
    log_debug("job started", "job_id", sid, "topic", sl->job.topic, "entity", sl->job.entity_key);
    enum engine_run_status rs = eng->runner.start(eng->runner.ud, &sl->info, ev.body, &sl->run,
                                                  &io);
    store_event_free(&ev);
    advance(sl, rs, &io);
}

static void on_pick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct engine *eng = arg;
    if (eng->stopping || !eng->started) return;
    int free_slots = (int)eng->concurrency - eng->nrunning;
    if (free_slots <= 0) return;
    /* Shopify or OrderEZ down: no job starts until its next probe. Nearly every job needs
     * them, and each one started would run its rule to the call only to be held, the backlog
     * becoming jobs at the pick's pace meanwhile: the whole backlog once per probe round.
     * (A notification sink being down pauses nothing: its jobs are held one by one.) */
    int64_t paused = outage_paused_until(&eng->outage, 1u << ENGINE_IO_SHOPIFY |
                                         1u << ENGINE_IO_ORDEREZ, store_now_ms());
    if (paused) {
        arm_retry(eng, paused);
        return;
    }
    int64_t *ids = calloc((size_t)free_slots, sizeof *ids);
    size_t n = 0;
    if (!ids) return;
    if (store_jobs_runnable(eng->st, free_slots, ids, &n)) {
        log_error("cannot find runnable jobs", "error", store_errmsg(eng->st));
        n = 0;
    }
    /* The backlog becomes jobs (a batch) when slots would idle or when it holds events of a
     * higher priority than a job about to start, so orders still overtake a catalog backlog.
     * Below the runway the next batch follows on the next loop turn (so a long backlog never
     * holds the loop); past it, idle slots get a batch per TRICKLE_MS. */
    int more = 0, lane = -1, prio = 0;
    int64_t now = store_now_ms(), queued = 0;
    if (!eng->backlog_empty && store_backlog_first_lane(eng->st, &lane) == 0 && lane < 0)
        eng->backlog_empty = 1;
    int jump = lane >= 0 && n > 0 && store_job_priority(eng->st, ids[n - 1], &prio) == 0 &&
               lane < prio;
    int idle = lane >= 0 && !jump && (int)n < free_slots && now >= eng->refill_at &&
               store_jobs_queued(eng->st, RUNWAY, &queued) == 0;
    if (jump || idle) {
        int made = job_backlog(eng);
        if (made == 0) eng->backlog_empty = 1;
        if (idle && queued >= RUNWAY) eng->refill_at = now + TRICKLE_MS;
        else more = made > 0;   /* a batch may stop short at its byte cap */
        if (made > 0 && store_jobs_runnable(eng->st, free_slots, ids, &n)) {
            log_error("cannot find runnable jobs", "error", store_errmsg(eng->st));
            n = 0;
        }
    }
    for (size_t i = 0; i < n && !eng->stopping; i++) {
        struct engine_slot *sl = NULL;
        for (long k = 0; k < eng->concurrency && !sl; k++)
            if (!eng->slots[k].busy) sl = &eng->slots[k];
        if (!sl) break;
        start_job(eng, sl, ids[i]);
    }
    free(ids);
    eng->hungry = eng->nrunning < eng->concurrency;
    if (more && eng->hungry) schedule_pick(eng);
    else if (eng->hungry && !eng->backlog_empty && eng->refill_at > now) arm_trickle(eng);
}

/* ---- lifecycle ---- */

struct engine *engine_new(struct event_base *base, struct store *st, const struct config *cfg,
                          const struct engine_runner *runner,
                          const struct engine_remotes *remotes)
{
    struct engine *eng = calloc(1, sizeof *eng);
    if (!eng) return NULL;
    eng->base = base;
    eng->st = st;
    eng->runner = *runner;
    eng->remotes = *remotes;
    eng->concurrency = cfg->engine_concurrency > 0 ? cfg->engine_concurrency : 1;
    eng->retry_base_ms = cfg->engine_retry_base_ms;
    eng->retry_cap_ms = cfg->engine_retry_cap_ms;
    eng->max_attempts = cfg->engine_max_attempts > 0 ? cfg->engine_max_attempts : 1;
    eng->sweep_ms = cfg->engine_sweep_ms > 0 ? cfg->engine_sweep_ms : 1000;
    /* Probes of a down remote at most every 30 s (or the retry cap, when shorter). */
    outage_init(&eng->outage, eng->retry_cap_ms > 0 && eng->retry_cap_ms < 30000 ? eng->retry_cap_ms
                                                                                : 30000);
    eng->rng = (uint64_t)store_now_ms() ^ ((uint64_t)getpid() << 32) ^ (uint64_t)(uintptr_t)eng;
    if (!eng->rng) eng->rng = 0x9E3779B97F4A7C15ULL;
    eng->slots = calloc((size_t)eng->concurrency, sizeof *eng->slots);
    eng->pick_ev = event_new(base, -1, 0, on_pick, eng);
    eng->sweep_ev = event_new(base, -1, EV_PERSIST, on_sweep, eng);
    eng->retry_ev = evtimer_new(base, on_retry_timer, eng);
    eng->trickle_ev = evtimer_new(base, on_trickle, eng);
    if (!eng->slots || !eng->pick_ev || !eng->sweep_ev || !eng->retry_ev || !eng->trickle_ev)
        goto fail;
    for (long i = 0; i < eng->concurrency; i++) {
        eng->slots[i].eng = eng;
        eng->slots[i].resp_ev = event_new(base, -1, 0, on_response, &eng->slots[i]);
        if (!eng->slots[i].resp_ev) goto fail;
    }
    return eng;
fail:
    engine_free(eng);
    return NULL;
}

int engine_start(struct engine *eng)
{
    int n = 0;
    if (store_jobs_recover(eng->st, &n)) {
        log_error("cannot recover interrupted jobs", "error", store_errmsg(eng->st));
        return -1;
    }
    if (n > 0) {
        char cnt[16];
        snprintf(cnt, sizeof cnt, "%d", n);
        log_info("resuming jobs interrupted by a crash (their journal replays)", "jobs", cnt);
    }
    eng->started = 1;
    eng->stopping = 0;
    struct timeval tv = { (time_t)(eng->sweep_ms / 1000), (suseconds_t)(eng->sweep_ms % 1000) * 1000 };
    evtimer_add(eng->sweep_ev, &tv);
    promote(eng);
    rearm_retry(eng);
    schedule_pick(eng);
    return 0;
}

void engine_stop(struct engine *eng, int graceful, void (*stopped)(void *ud), void *ud)
{
    eng->stopping = 1;
    evtimer_del(eng->sweep_ev);
    evtimer_del(eng->retry_ev);
    evtimer_del(eng->trickle_ev);
    eng->retry_armed_at = 0;
    if (graceful && eng->nrunning > 0) {
        eng->stopped = stopped;
        eng->stopped_ud = ud;
        return;
    }
    if (stopped) stopped(ud);
}

void engine_free(struct engine *eng)
{
    if (!eng) return;
    eng->stopping = 1;
    eng->stopped = NULL;
    for (long i = 0; eng->slots && i < eng->concurrency; i++) {
        struct engine_slot *sl = &eng->slots[i];
        if (sl->busy) park(sl);
        if (sl->resp_ev) event_free(sl->resp_ev);
    }
    free(eng->slots);
    if (eng->pick_ev) event_free(eng->pick_ev);
    if (eng->sweep_ev) event_free(eng->sweep_ev);
    if (eng->retry_ev) event_free(eng->retry_ev);
    if (eng->trickle_ev) event_free(eng->trickle_ev);
    free(eng);
}

void engine_notify_events(struct engine *eng)
{
    if (!eng) return;
    eng->backlog_empty = 0;
    schedule_pick(eng);
}

void engine_notify_backlog(struct engine *eng)
{
    if (!eng) return;
    eng->backlog_empty = 0;
    /* Only a hungry engine can use a new backlog entry, and only when the trickle allows:
     * otherwise the commit (hundreds a second in a flash sale) costs the loop nothing. */
    if (eng->hungry && store_now_ms() >= eng->refill_at) schedule_pick(eng);
}

/* ---- admin and metrics ---- */

int engine_jobs_list(struct engine *eng, const char *state, int limit, char **json_out)
{
    int st = state ? store_job_state_parse(state) : -1;
    *json_out = NULL;
    if (state && st < 0) return -1;
    return dlq_jobs_json(eng->st, st, limit > 0 ? limit : 100, json_out);
}

int engine_job_retry(struct engine *eng, int64_t id)
{
    int rc = store_job_retry(eng->st, id);
    if (rc == 0) schedule_pick(eng);
    return rc == STORE_NOTFOUND ? 1 : rc;
}

int engine_stats(struct engine *eng, struct engine_stats *out)
{
    *out = eng->ctr;
    out->running = eng->nrunning;
    for (int i = 0; i < OUTAGE_REMOTES && i < ENGINE_NREMOTES; i++) {
        out->remote_down[i] = eng->outage.r[i].down;
        out->remote_outages[i] = (uint64_t)eng->outage.r[i].outages;
    }
    int64_t oldest = 0, oldest_backlog = 0;
    if (store_jobs_depth(eng->st, out->depth) || store_jobs_oldest_pending(eng->st, &oldest) ||
        store_backlog_depth(eng->st, out->backlog, &oldest_backlog))
        return -1;
    if (oldest_backlog && (!oldest || oldest_backlog < oldest)) oldest = oldest_backlog;
    out->oldest_pending_age_ms = oldest ? store_now_ms() - oldest : 0;
    return 0;
}
