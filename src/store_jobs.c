/* store_jobs: the jobs table (the engine's durable queue) and the journal of each job's
 * outbound calls. States are stored as words so the table reads well in a SQL shell. */
#include "store_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *state_names[STORE_JOB_NSTATES] = {
    "queued", "running", "retry_wait", "done", "dead", "dropped",
};

const char *store_job_state_name(int state)
{
    return state >= 0 && state < STORE_JOB_NSTATES ? state_names[state] : "?";
}

int store_job_state_parse(const char *name)
{
    for (int i = 0; name && i < STORE_JOB_NSTATES; i++)
        if (strcmp(state_names[i], name) == 0) return i;
    return -1;
}

static int step_done(struct store *st, sqlite3_stmt *s, const char *what)
{
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? 0 : store_fail(st, what);
}

/* An UPDATE that must touch exactly one row: 0, STORE_NOTFOUND, or -1. */
static int update_one(struct store *st, sqlite3_stmt *s, const char *what)
{
    if (step_done(st, s, what)) return -1;
    return sqlite3_changes(st->db) == 1 ? 0 : STORE_NOTFOUND;
}

static char *blob_dup(sqlite3_stmt *s, int i, size_t *len)
{
    int n = sqlite3_column_bytes(s, i);
    char *p = malloc((size_t)n + 1);
    if (!p) return NULL;
    if (n) memcpy(p, sqlite3_column_blob(s, i), (size_t)n);
    p[n] = '\0';
    if (len) *len = (size_t)n;
    return p;
}

/* Grows *arr (of elem-sized items) so that index n fits. */
static int grow(void **arr, size_t *cap, size_t n, size_t elem)
{
    if (n < *cap) return 0;
    size_t ncap = *cap ? *cap * 2 : 16;
    void *p = realloc(*arr, ncap * elem);
    if (!p) return -1;
    memset((char *)p + *cap * elem, 0, (ncap - *cap) * elem);
    *arr = p;
    *cap = ncap;
    return 0;
}

void store_events_free(struct store_event *evs, size_t n)
{
    for (size_t i = 0; evs && i < n; i++) store_event_free(&evs[i]);
    free(evs);
}

static int one_int64(struct store *st, const char *sql, int64_t *out, const char *what);

int store_backlog_read(struct store *st, int limit, size_t max_bytes, struct store_event **out,
                       size_t *n)
{
    size_t bytes = 0;
    /* The backlog's primary key is (lane, event_id): this walks it in order, a probe into
     * events per row. */
    static const char sql[] =
        "SELECT e.id, e.source, e.topic, e.dedupe_key, e.body, e.received_at, b.lane"
        " FROM backlog b JOIN events e ON e.id = b.event_id ORDER BY b.lane, b.event_id LIMIT ?";
    struct store_event *arr = NULL;
    size_t cap = 0, cnt = 0;
    int rc;
    *out = NULL;
    *n = 0;
    sqlite3_stmt *s = store_stmt(st, sql);
    if (!s) return -1;
    sqlite3_bind_int(s, 1, limit);
    while (bytes < max_bytes && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (grow((void **)&arr, &cap, cnt, sizeof *arr)) break;
        struct store_event *e = &arr[cnt++];
        e->id = sqlite3_column_int64(s, 0);
        e->source = store_column_dup(s, 1);
        e->topic = store_column_dup(s, 2);
        e->dedupe_key = store_column_dup(s, 3);
        e->body = blob_dup(s, 4, &e->body_len);
        e->received_at = sqlite3_column_int64(s, 5);
        e->lane = sqlite3_column_int(s, 6);
        bytes += e->body_len;
    }
    if (bytes >= max_bytes) rc = SQLITE_DONE;   /* enough for one batch: the rest waits */
    if (rc != SQLITE_DONE) {
        store_fail(st, "reading the backlog");
        sqlite3_reset(s);
        store_events_free(arr, cnt);
        return -1;
    }
    sqlite3_reset(s);
    *out = arr;
    *n = cnt;
    return 0;
}

int store_backlog_first_lane(struct store *st, int *lane)
{
    sqlite3_stmt *s = store_stmt(st, "SELECT lane FROM backlog ORDER BY lane LIMIT 1");
    *lane = -1;
    if (!s) return -1;
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) *lane = sqlite3_column_int(s, 0);
    sqlite3_reset(s);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : store_fail(st, "reading the backlog");
}

int store_job_priority(struct store *st, int64_t id, int *priority)
{
    sqlite3_stmt *s = store_stmt(st, "SELECT priority FROM jobs WHERE id = ?");
    *priority = 0;
    if (!s) return -1;
    sqlite3_bind_int64(s, 1, id);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) *priority = sqlite3_column_int(s, 0);
    sqlite3_reset(s);
    if (rc == SQLITE_DONE) return STORE_NOTFOUND;
    return rc == SQLITE_ROW ? 0 : store_fail(st, "reading a job");
}

int store_event_jobbed(struct store *st, int64_t event_id)
{
    sqlite3_stmt *s = store_stmt(st, "SELECT 1 FROM jobs WHERE event_id = ?");
    if (!s) return -1;
    sqlite3_bind_int64(s, 1, event_id);
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    if (rc == SQLITE_ROW) return 1;
    return rc == SQLITE_DONE ? 0 : store_fail(st, "looking up a job");
}

int store_backlog_remove(struct store *st, int lane, int64_t event_id)
{
    sqlite3_stmt *s = store_stmt(st, "DELETE FROM backlog WHERE lane = ? AND event_id = ?");
    if (!s) return -1;
    sqlite3_bind_int(s, 1, lane);
    sqlite3_bind_int64(s, 2, event_id);
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? 0 : store_fail(st, "taking an event off the backlog");
}

int64_t store_backlog_total(struct store *st)
{
    int64_t n = 0;
    if (one_int64(st, "SELECT coalesce(sum(n), 0) FROM backlog_counts", &n, "counting the backlog"))
        return -1;
    return n;
}

int store_backlog_depth(struct store *st, int64_t depth[STORE_JOB_NPRIORITIES], int64_t *oldest)
{
    int rc;
    memset(depth, 0, sizeof(int64_t) * STORE_JOB_NPRIORITIES);
    *oldest = 0;
    /* Kept by triggers (migration 7): a row per lane, however long the backlog. */
    sqlite3_stmt *s = store_stmt(st, "SELECT lane, n FROM backlog_counts");
    if (!s) return -1;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        int lane = sqlite3_column_int(s, 0);
        if (lane < 0) lane = 0;
        if (lane >= STORE_JOB_NPRIORITIES) lane = STORE_JOB_NPRIORITIES - 1;
        depth[lane] += sqlite3_column_int64(s, 1);
    }
    sqlite3_reset(s);
    if (rc != SQLITE_DONE) return store_fail(st, "counting the backlog");
    /* Ids grow with arrival, so each lane's oldest is its first entry: one index seek per
     * lane that has any (a min() under GROUP BY read every entry). */
    return one_int64(st,
        "SELECT coalesce(min(e.received_at), 0) FROM events e WHERE e.id IN"
        " (SELECT (SELECT b.event_id FROM backlog b WHERE b.lane = c.lane ORDER BY b.event_id"
        "  LIMIT 1) FROM backlog_counts c WHERE c.n > 0)", oldest, "reading the backlog");
}

int store_job_insert(struct store *st, struct store_job *job)
{
    static const char sql[] =
        "INSERT INTO jobs (event_id, state, priority, entity_key, topic, attempts, next_at,"
        " last_error, created_at, updated_at, finished_at, blocked) VALUES (?,?,?,?,?,0,0,?,?,?,?,"
        " ?2 = 'queued' AND EXISTS (SELECT 1 FROM jobs p WHERE p.entity_key = ?4"
        "  AND p.state IN ('queued','running','retry_wait')))";
    sqlite3_stmt *s = store_stmt(st, sql);
    if (!s) return -1;
    int64_t now = store_now_ms();
    sqlite3_bind_int64(s, 1, job->event_id);
    store_bind_text(s, 2, store_job_state_name(job->state));
    sqlite3_bind_int(s, 3, job->priority);
    store_bind_text(s, 4, job->entity_key);
    store_bind_text(s, 5, job->topic);
    store_bind_text(s, 6, job->last_error);
    sqlite3_bind_int64(s, 7, now);
    sqlite3_bind_int64(s, 8, now);
    if (job->state == STORE_JOB_DEAD) sqlite3_bind_int64(s, 9, now);
    else sqlite3_bind_null(s, 9);
    if (step_done(st, s, "creating job")) return -1;
    job->id = sqlite3_last_insert_rowid(st->db);
    job->created_at = job->updated_at = now;
    return 0;
}

#define JOB_COLUMNS \
    "j.id, j.event_id, j.state, j.priority, j.attempts, j.entity_key, j.topic, e.source," \
    " j.next_at, j.last_error, j.traceback, j.failed_request, j.rules_version, j.created_at," \
    " j.updated_at, j.started_at, j.finished_at, e.received_at"

static void job_from_row(sqlite3_stmt *s, struct store_job *j)
{
    memset(j, 0, sizeof *j);
    j->id = sqlite3_column_int64(s, 0);
    j->event_id = sqlite3_column_int64(s, 1);
    j->state = store_job_state_parse((const char *)sqlite3_column_text(s, 2));
    j->priority = sqlite3_column_int(s, 3);
    j->attempts = sqlite3_column_int(s, 4);
    j->entity_key = store_column_dup(s, 5);
    j->topic = store_column_dup(s, 6);
    j->source = store_column_dup(s, 7);
    j->next_at = sqlite3_column_int64(s, 8);
    j->last_error = store_column_dup(s, 9);
    j->traceback = store_column_dup(s, 10);
    j->failed_request = store_column_dup(s, 11);
    j->rules_version = store_column_dup(s, 12);
    j->created_at = sqlite3_column_int64(s, 13);
    j->updated_at = sqlite3_column_int64(s, 14);
    j->started_at = sqlite3_column_int64(s, 15);
    j->finished_at = sqlite3_column_int64(s, 16);
    j->received_at = sqlite3_column_int64(s, 17);
}

void store_job_free(struct store_job *job)
{
    if (!job) return;
    free(job->entity_key);
    free(job->topic);
    free(job->source);
    free(job->last_error);
    free(job->traceback);
    free(job->failed_request);
    free(job->rules_version);
    memset(job, 0, sizeof *job);
}

void store_jobs_free(struct store_job *jobs, size_t n)
{
    for (size_t i = 0; jobs && i < n; i++) store_job_free(&jobs[i]);
    free(jobs);
}

int store_job_get(struct store *st, int64_t id, struct store_job *out)
{
    static const char sql[] =
        "SELECT " JOB_COLUMNS " FROM jobs j JOIN events e ON e.id = j.event_id WHERE j.id = ?";
    memset(out, 0, sizeof *out);
    sqlite3_stmt *s = store_stmt(st, sql);
    if (!s) return -1;
    sqlite3_bind_int64(s, 1, id);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) job_from_row(s, out);
    sqlite3_reset(s);
    if (rc == SQLITE_ROW) return 0;
    return rc == SQLITE_DONE ? STORE_NOTFOUND : store_fail(st, "reading job");
}

int store_job_by_event(struct store *st, int64_t event_id, struct store_job *out)
{
    static const char sql[] =
        "SELECT " JOB_COLUMNS " FROM jobs j JOIN events e ON e.id = j.event_id"
        " WHERE j.event_id = ?";
    memset(out, 0, sizeof *out);
    sqlite3_stmt *s = store_stmt(st, sql);
    if (!s) return -1;
    sqlite3_bind_int64(s, 1, event_id);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) job_from_row(s, out);
    sqlite3_reset(s);
    if (rc == SQLITE_ROW) return 0;
    return rc == SQLITE_DONE ? STORE_NOTFOUND : store_fail(st, "reading job");
}

int store_events_after(struct store *st, int64_t after_id, int limit, int64_t *ids, size_t *n)
{
    int rc;
    *n = 0;
    sqlite3_stmt *s = store_stmt(st, "SELECT id FROM events WHERE id > ? ORDER BY id LIMIT ?");
    if (!s) return -1;
    sqlite3_bind_int64(s, 1, after_id);
    sqlite3_bind_int(s, 2, limit);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW && *n < (size_t)limit)
        ids[(*n)++] = sqlite3_column_int64(s, 0);
    sqlite3_reset(s);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : store_fail(st, "listing events");
}

int store_jobs_runnable(struct store *st, int limit, int64_t *ids, size_t *n)
{
    /* Only the heads of their entities (blocked = 0), by priority then id: an index range,
     * however long the queue behind one busy entity is. */
    static const char sql[] =
        "SELECT id FROM jobs WHERE state = 'queued' AND blocked = 0"
        " ORDER BY priority, next_at, id LIMIT ?";
    int rc;
    *n = 0;
    sqlite3_stmt *s = store_stmt(st, sql);
    if (!s) return -1;
    sqlite3_bind_int(s, 1, limit);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW && *n < (size_t)limit)
        ids[(*n)++] = sqlite3_column_int64(s, 0);
    sqlite3_reset(s);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : store_fail(st, "finding runnable jobs");
}

int store_jobs_queued(struct store *st, int limit, int64_t *n)
{
    sqlite3_stmt *s = store_stmt(st,
        "SELECT count(*) FROM (SELECT 1 FROM jobs WHERE state = 'queued' LIMIT ?)");
    *n = 0;
    if (!s) return -1;
    sqlite3_bind_int(s, 1, limit);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) *n = sqlite3_column_int64(s, 0);
    sqlite3_reset(s);
    return rc == SQLITE_ROW ? 0 : store_fail(st, "counting queued jobs");
}

/* Looks before it writes: an UPDATE takes the write lock even when it changes nothing, and on
 * the event loop's connection (the engine's sweep and retry timer) that meant waiting for the
 * webhook writer's commit, fsync included, with every request on the loop waiting too. A read
 * never waits in WAL mode, and most sweeps find nothing due. */
int store_jobs_promote_due(struct store *st, int64_t now, int *n)
{
    *n = 0;
    sqlite3_stmt *s = store_stmt(st,
        "SELECT 1 FROM jobs WHERE state = 'retry_wait' AND next_at <= ? LIMIT 1");
    if (!s) return -1;
    sqlite3_bind_int64(s, 1, now);
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    if (rc == SQLITE_DONE) return 0;
    if (rc != SQLITE_ROW) return store_fail(st, "reading due retries");
    s = store_stmt(st,
        "UPDATE jobs SET state = 'queued', next_at = 0, updated_at = ?"
        " WHERE state = 'retry_wait' AND next_at <= ?");
    if (!s) return -1;
    sqlite3_bind_int64(s, 1, now);
    sqlite3_bind_int64(s, 2, now);
    if (step_done(st, s, "promoting due retries")) return -1;
    *n = sqlite3_changes(st->db);
    return 0;
}

static int one_int64(struct store *st, const char *sql, int64_t *out, const char *what)
{
    sqlite3_stmt *s = store_stmt(st, sql);
    *out = 0;
    if (!s) return -1;
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) *out = sqlite3_column_int64(s, 0);
    sqlite3_reset(s);
    return rc == SQLITE_ROW ? 0 : store_fail(st, what);
}

int store_jobs_next_retry(struct store *st, int64_t *next_at)
{
    return one_int64(st, "SELECT coalesce(min(next_at), 0) FROM jobs WHERE state = 'retry_wait'",
                     next_at, "reading next retry");
}

int store_jobs_oldest_pending(struct store *st, int64_t *received_at)
{
    return one_int64(st,
        "SELECT coalesce(min(e.received_at), 0) FROM jobs j JOIN events e ON e.id = j.event_id"
        " WHERE j.state IN ('queued','retry_wait')", received_at, "reading oldest job");
}

int store_job_start(struct store *st, int64_t id, const char *rules_version)
{
    sqlite3_stmt *s = store_stmt(st,
        "UPDATE jobs SET state = 'running', attempts = attempts + 1, rules_version = ?,"
        " started_at = ?, updated_at = ? WHERE id = ? AND state = 'queued'");
    if (!s) return -1;
    int64_t now = store_now_ms();
    store_bind_text(s, 1, rules_version);
    sqlite3_bind_int64(s, 2, now);
    sqlite3_bind_int64(s, 3, now);
    sqlite3_bind_int64(s, 4, id);
    return update_one(st, s, "starting job");
}

/* After a job of this entity finished (done, dead): its oldest blocked successor becomes a head
 * unless another unfinished job of the entity is still ahead of it. */
static int unblock_next(struct store *st, int64_t finished_id)
{
    sqlite3_stmt *s = store_stmt(st,
        "UPDATE jobs SET blocked = 0 WHERE id = (SELECT n.id FROM jobs n, jobs f"
        "  WHERE f.id = ?1 AND n.entity_key = f.entity_key AND n.state = 'queued'"
        /* restates the partial index's condition, so the planner may use it */
        "  AND n.state IN ('queued','running','retry_wait')"
        "  AND n.blocked = 1 ORDER BY n.id LIMIT 1)"
        " AND NOT EXISTS (SELECT 1 FROM jobs p WHERE p.entity_key = jobs.entity_key"
        "  AND p.id < jobs.id AND p.state IN ('queued','running','retry_wait'))");
    if (!s) return -1;
    sqlite3_bind_int64(s, 1, finished_id);
    return step_done(st, s, "unblocking the next job");
}

int store_job_finish(struct store *st, int64_t id, int state, int64_t next_at,
                     const char *error, const char *traceback, const char *failed_request)
{
    sqlite3_stmt *s = store_stmt(st,
        "UPDATE jobs SET state = ?, next_at = ?, last_error = ?, traceback = ?,"
        " failed_request = ?, updated_at = ?, finished_at = ? WHERE id = ? AND state = 'running'");
    if (!s) return -1;
    int64_t now = store_now_ms();
    store_bind_text(s, 1, store_job_state_name(state));
    sqlite3_bind_int64(s, 2, state == STORE_JOB_RETRY_WAIT ? next_at : 0);
    store_bind_text(s, 3, error);
    store_bind_text(s, 4, traceback);
    store_bind_text(s, 5, failed_request);
    sqlite3_bind_int64(s, 6, now);
    if (state == STORE_JOB_RETRY_WAIT) sqlite3_bind_null(s, 7);
    else sqlite3_bind_int64(s, 7, now);
    sqlite3_bind_int64(s, 8, id);
    if (update_one(st, s, "finishing job")) return -1;
    return state == STORE_JOB_RETRY_WAIT ? 0 : unblock_next(st, id);
}

int store_job_hold(struct store *st, int64_t id, int64_t next_at, const char *error)
{
    sqlite3_stmt *s = store_stmt(st,
        "UPDATE jobs SET state = 'retry_wait', next_at = ?, last_error = ?, updated_at = ?,"
        " attempts = max(attempts - 1, 0) WHERE id = ? AND state = 'running'");
    if (!s) return -1;
    sqlite3_bind_int64(s, 1, next_at);
    store_bind_text(s, 2, error);
    sqlite3_bind_int64(s, 3, store_now_ms());
    sqlite3_bind_int64(s, 4, id);
    return update_one(st, s, "holding job");
}

int store_jobs_release_held(struct store *st, const char *remote, int *n)
{
    /* retry_wait rows only (the jobs_ready index), then the prefix: no schema of its own for
     * a state that lasts as long as an outage. */
    sqlite3_stmt *s = store_stmt(st,
        "UPDATE jobs SET next_at = ?, updated_at = ? WHERE state = 'retry_wait' AND next_at > ?"
        " AND substr(last_error, 1, length(?)) = ?");
    *n = 0;
    if (!s) return -1;
    char prefix[64];
    snprintf(prefix, sizeof prefix, "waiting for %s: ", remote);
    int64_t now = store_now_ms();
    sqlite3_bind_int64(s, 1, now);
    sqlite3_bind_int64(s, 2, now);
    sqlite3_bind_int64(s, 3, now);
    store_bind_text(s, 4, prefix);
    store_bind_text(s, 5, prefix);
    if (step_done(st, s, "releasing held jobs")) return -1;
    *n = sqlite3_changes(st->db);
    return 0;
}

int store_job_requeue(struct store *st, int64_t id, int refund)
{
    sqlite3_stmt *s = store_stmt(st,
        "UPDATE jobs SET state = 'queued', next_at = 0, updated_at = ?,"
        " attempts = max(attempts - ?, 0) WHERE id = ? AND state = 'running'");
    if (!s) return -1;
    sqlite3_bind_int64(s, 1, store_now_ms());
    sqlite3_bind_int(s, 2, refund ? 1 : 0);
    sqlite3_bind_int64(s, 3, id);
    return update_one(st, s, "requeueing job");
}

int store_jobs_recover(struct store *st, int *n)
{
    /* The interrupted attempt stays counted: a job that crashes the process every time must
     * still reach max_attempts instead of looping forever. */
    sqlite3_stmt *s = store_stmt(st,
        "UPDATE jobs SET state = 'queued', next_at = 0, updated_at = ? WHERE state = 'running'");
    *n = 0;
    if (!s) return -1;
    sqlite3_bind_int64(s, 1, store_now_ms());
    if (step_done(st, s, "recovering jobs")) return -1;
    *n = sqlite3_changes(st->db);
    return 0;
}

int store_job_retry(struct store *st, int64_t id)
{
    sqlite3_stmt *s = store_stmt(st,
        "UPDATE jobs SET state = 'queued', attempts = 0, next_at = 0, last_error = NULL,"
        " traceback = NULL, failed_request = NULL, finished_at = NULL, updated_at = ?,"
        " blocked = EXISTS (SELECT 1 FROM jobs p WHERE p.entity_key = jobs.entity_key"
        "  AND p.id < jobs.id AND p.state IN ('queued','running','retry_wait'))"
        " WHERE id = ? AND state = 'dead'");
    if (!s) return -1;
    sqlite3_bind_int64(s, 1, store_now_ms());
    sqlite3_bind_int64(s, 2, id);
    return update_one(st, s, "retrying job");
}

int store_job_drop(struct store *st, int64_t id)
{
    sqlite3_stmt *s = store_stmt(st,
        "UPDATE jobs SET state = 'dropped', updated_at = ? WHERE id = ? AND state = 'dead'");
    if (!s) return -1;
    sqlite3_bind_int64(s, 1, store_now_ms());
    sqlite3_bind_int64(s, 2, id);
    return update_one(st, s, "dropping job");
}

int store_jobs_list(struct store *st, int state, int limit, struct store_job **out, size_t *n)
{
    static const char sql[] =
        "SELECT " JOB_COLUMNS " FROM jobs j JOIN events e ON e.id = j.event_id"
        " WHERE ? IS NULL OR j.state = ? ORDER BY j.id DESC LIMIT ?";
    struct store_job *arr = NULL;
    size_t cap = 0, cnt = 0;
    int rc;
    *out = NULL;
    *n = 0;
    sqlite3_stmt *s = store_stmt(st, sql);
    if (!s) return -1;
    const char *name = state >= 0 ? store_job_state_name(state) : NULL;
    store_bind_text(s, 1, name);
    store_bind_text(s, 2, name);
    sqlite3_bind_int(s, 3, limit);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (grow((void **)&arr, &cap, cnt, sizeof *arr)) break;
        job_from_row(s, &arr[cnt++]);
    }
    sqlite3_reset(s);
    if (rc != SQLITE_DONE) {
        store_jobs_free(arr, cnt);
        return store_fail(st, "listing jobs");
    }
    *out = arr;
    *n = cnt;
    return 0;
}

int store_jobs_depth(struct store *st, int64_t depth[STORE_JOB_NSTATES][STORE_JOB_NPRIORITIES])
{
    /* Kept by triggers (migration 6): a few rows, however many jobs there are. */
    sqlite3_stmt *s = store_stmt(st, "SELECT state, priority, n FROM job_counts");
    int rc;
    memset(depth, 0, sizeof(int64_t) * STORE_JOB_NSTATES * STORE_JOB_NPRIORITIES);
    if (!s) return -1;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        int state = store_job_state_parse((const char *)sqlite3_column_text(s, 0));
        int prio = sqlite3_column_int(s, 1);
        if (state < 0) continue;
        if (prio < 0) prio = 0;
        if (prio >= STORE_JOB_NPRIORITIES) prio = STORE_JOB_NPRIORITIES - 1;
        depth[state][prio] += sqlite3_column_int64(s, 2);
    }
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? 0 : store_fail(st, "counting jobs");
}

/* ---- journal ---- */

static void journal_from_row(sqlite3_stmt *s, struct store_journal *e)
{
    memset(e, 0, sizeof *e);
    e->job_id = sqlite3_column_int64(s, 0);
    e->step = sqlite3_column_int(s, 1);
    e->remote = store_column_dup(s, 2);
    e->request_hash = store_column_dup(s, 3);
    e->request = store_column_dup(s, 4);
    e->status = sqlite3_column_int(s, 5);
    e->response = store_column_dup(s, 6);
    e->created_at = sqlite3_column_int64(s, 7);
}

#define JOURNAL_COLUMNS \
    "job_id, step, remote, request_hash, request, status, response, created_at"

int store_journal_get(struct store *st, int64_t job_id, int step, struct store_journal *out)
{
    sqlite3_stmt *s = store_stmt(st,
        "SELECT " JOURNAL_COLUMNS " FROM journal WHERE job_id = ? AND step = ?");
    memset(out, 0, sizeof *out);
    if (!s) return -1;
    sqlite3_bind_int64(s, 1, job_id);
    sqlite3_bind_int(s, 2, step);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) journal_from_row(s, out);
    sqlite3_reset(s);
    if (rc == SQLITE_ROW) return 0;
    return rc == SQLITE_DONE ? STORE_NOTFOUND : store_fail(st, "reading journal");
}

int store_journal_put(struct store *st, const struct store_journal *e)
{
    /* REPLACE: a step re-sent after a crash (or after divergence) overwrites its record. */
    sqlite3_stmt *s = store_stmt(st,
        "INSERT OR REPLACE INTO journal (" JOURNAL_COLUMNS ") VALUES (?,?,?,?,?,?,?,?)");
    if (!s) return -1;
    sqlite3_bind_int64(s, 1, e->job_id);
    sqlite3_bind_int(s, 2, e->step);
    store_bind_text(s, 3, e->remote);
    store_bind_text(s, 4, e->request_hash);
    store_bind_text(s, 5, e->request);
    sqlite3_bind_int(s, 6, e->status);
    store_bind_text(s, 7, e->response);
    sqlite3_bind_int64(s, 8, e->created_at ? e->created_at : store_now_ms());
    return step_done(st, s, "writing journal");
}

int store_journal_truncate(struct store *st, int64_t job_id, int from_step, int *n)
{
    sqlite3_stmt *s = store_stmt(st, "DELETE FROM journal WHERE job_id = ? AND step >= ?");
    *n = 0;
    if (!s) return -1;
    sqlite3_bind_int64(s, 1, job_id);
    sqlite3_bind_int(s, 2, from_step);
    if (step_done(st, s, "truncating journal")) return -1;
    *n = sqlite3_changes(st->db);
    return 0;
}

int store_journal_list(struct store *st, int64_t job_id, struct store_journal **out, size_t *n)
{
    sqlite3_stmt *s = store_stmt(st,
        "SELECT " JOURNAL_COLUMNS " FROM journal WHERE job_id = ? ORDER BY step");
    struct store_journal *arr = NULL;
    size_t cap = 0, cnt = 0;
    int rc;
    *out = NULL;
    *n = 0;
    if (!s) return -1;
    sqlite3_bind_int64(s, 1, job_id);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (grow((void **)&arr, &cap, cnt, sizeof *arr)) break;
        journal_from_row(s, &arr[cnt++]);
    }
    sqlite3_reset(s);
    if (rc != SQLITE_DONE) {
        store_journals_free(arr, cnt);
        return store_fail(st, "listing journal");
    }
    *out = arr;
    *n = cnt;
    return 0;
}

void store_journal_free(struct store_journal *e)
{
    if (!e) return;
    free(e->remote);
    free(e->request_hash);
    free(e->request);
    free(e->response);
    memset(e, 0, sizeof *e);
}

void store_journals_free(struct store_journal *es, size_t n)
{
    for (size_t i = 0; es && i < n; i++) store_journal_free(&es[i]);
    free(es);
}
