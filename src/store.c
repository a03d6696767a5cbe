/* store: SQLite backend. WAL with synchronous=FULL, because a webhook is acknowledged only after
 * its commit and an acknowledged delivery must survive power loss, not just a process crash. */
#include "store_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Migrations, applied in order from PRAGMA user_version; index i brings the schema to i+1. */
static const char *migrations[] = {
    "CREATE TABLE events ("
    "  id INTEGER PRIMARY KEY,"
    "  source TEXT NOT NULL, topic TEXT NOT NULL, dedupe_key TEXT NOT NULL UNIQUE,"
    "  event_id TEXT, triggered_at TEXT, shop TEXT, api_version TEXT,"
    "  headers TEXT, body BLOB NOT NULL, received_at INTEGER NOT NULL);"
    "CREATE INDEX events_event_id ON events(event_id, topic);"
    "CREATE TABLE jobs ("
    "  id INTEGER PRIMARY KEY, event_id INTEGER NOT NULL REFERENCES events(id),"
    "  state TEXT NOT NULL, priority INTEGER NOT NULL, entity_key TEXT NOT NULL,"
    "  topic TEXT NOT NULL DEFAULT '',"
    "  attempts INTEGER NOT NULL DEFAULT 0, next_at INTEGER NOT NULL DEFAULT 0,"
    "  last_error TEXT, traceback TEXT, rules_version TEXT,"
    "  created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);"
    "CREATE INDEX jobs_ready ON jobs(state, priority, next_at, id);"
    "CREATE INDEX jobs_entity ON jobs(entity_key, id);"
    "CREATE UNIQUE INDEX jobs_event ON jobs(event_id);"
    "CREATE TABLE journal ("
    "  job_id INTEGER NOT NULL, step INTEGER NOT NULL, remote TEXT NOT NULL,"
    "  request_hash TEXT NOT NULL, request TEXT NOT NULL, status INTEGER,"
    "  response TEXT, created_at INTEGER NOT NULL, PRIMARY KEY (job_id, step));"
    "CREATE TABLE idmap ("
    "  kind TEXT NOT NULL, shopify_id TEXT NOT NULL, orderez_id TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL, PRIMARY KEY (kind, shopify_id));"
    "CREATE INDEX idmap_orderez ON idmap(kind, orderez_id);"
    "CREATE TABLE kv ("
    "  ns TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,"
    "  updated_at INTEGER NOT NULL, PRIMARY KEY (ns, key));"
    "CREATE TABLE snapshots ("
    "  kind TEXT NOT NULL, id TEXT NOT NULL, data TEXT NOT NULL,"
    "  updated_at INTEGER NOT NULL, PRIMARY KEY (kind, id));"
    "CREATE TABLE inventory_writes ("
    "  id INTEGER PRIMARY KEY, remote TEXT NOT NULL, item TEXT NOT NULL, location TEXT NOT NULL,"
    "  quantity INTEGER NOT NULL, origin TEXT NOT NULL, job_id INTEGER,"
    "  created_at INTEGER NOT NULL);"
    "CREATE INDEX inventory_writes_item ON inventory_writes(remote, item, location, created_at);"
    "CREATE TABLE audit ("
    "  id INTEGER PRIMARY KEY, at INTEGER NOT NULL, job_id INTEGER, entity TEXT NOT NULL,"
    "  action TEXT NOT NULL, detail TEXT);"
    "CREATE INDEX audit_entity ON audit(entity, id);",
    /* 2: the engine's job columns (the request a dead job failed on, run timestamps for the
     * latency metrics) and a partial index that makes the per-entity ordering check cheap. */
    "ALTER TABLE jobs ADD COLUMN failed_request TEXT;"
    "ALTER TABLE jobs ADD COLUMN started_at INTEGER;"
    "ALTER TABLE jobs ADD COLUMN finished_at INTEGER;"
    "CREATE INDEX jobs_pending_entity ON jobs(entity_key, id)"
    "  WHERE state IN ('queued','running','retry_wait');",
    /* 3: `blocked` marks a queued job that waits behind an unfinished job of its entity, kept
     * up to date at insert and when a job finishes, so finding runnable jobs reads only the
     * heads (was: a probe per queued job, quadratic when one entity had a backlog). */
    "ALTER TABLE jobs ADD COLUMN blocked INTEGER NOT NULL DEFAULT 0;"
    "UPDATE jobs SET blocked = 1 WHERE state = 'queued' AND EXISTS (SELECT 1 FROM jobs p"
    "  WHERE p.entity_key = jobs.entity_key AND p.id < jobs.id"
    "  AND p.state IN ('queued','running','retry_wait'));"
    "CREATE INDEX jobs_runnable ON jobs(state, blocked, priority, next_at, id);",
    /* 4: indexes no query reads, each an insert into a b-tree for every delivery: jobs_ready
     * (replaced by jobs_runnable), jobs_entity (by the partial jobs_pending_entity) and the
     * X-Shopify-Event-Id index (the column is kept; nothing looks events up by it). */
    "DROP INDEX IF EXISTS jobs_ready;"
    "DROP INDEX IF EXISTS jobs_entity;"
    "DROP INDEX IF EXISTS events_event_id;",
    /* 5: the backlog. A webhook's commit before its 200 was the event and its job: eight
     * b-tree inserts and a parse of the body per delivery, for jobs the engine consumes at the
     * remotes' rate limits, hundreds a second at most, while a flash sale delivers thousands.
     * Now the commit is the event and one small entry here (lane = the topic's priority); the
     * engine makes jobs from it, lane by lane, as it has room. Events an earlier version stored
     * without a job (it jobbed them after the commit) join lane 0. */
    "CREATE TABLE backlog (lane INTEGER NOT NULL, event_id INTEGER NOT NULL,"
    "  PRIMARY KEY (lane, event_id)) WITHOUT ROWID;"
    "INSERT INTO backlog (lane, event_id) SELECT 0, id FROM events"
    "  WHERE NOT EXISTS (SELECT 1 FROM jobs j WHERE j.event_id = events.id);",
    /* 6: jobs by state and priority, kept by triggers. The dashboard (every 5 s) and every
     * metrics scrape counted them with a GROUP BY over all jobs ever, done ones included, on
     * the event loop: 0.38 s at 500,000 jobs, a stall of every webhook in flight. Jobs change
     * state at the engine's pace, so two small updates per change cost nothing that matters. */
    "CREATE TABLE job_counts (state TEXT NOT NULL, priority INTEGER NOT NULL,"
    "  n INTEGER NOT NULL, PRIMARY KEY (state, priority)) WITHOUT ROWID;"
    "INSERT INTO job_counts (state, priority, n)"
    "  SELECT state, priority, count(*) FROM jobs GROUP BY state, priority;"
    "CREATE TRIGGER jobs_count_insert AFTER INSERT ON jobs BEGIN"
    "  INSERT INTO job_counts (state, priority, n) VALUES (new.state, new.priority, 1)"
    "    ON CONFLICT (state, priority) DO UPDATE SET n = n + 1;"
    "END;"
    "CREATE TRIGGER jobs_count_update AFTER UPDATE OF state, priority ON jobs"
    "  WHEN old.state IS NOT new.state OR old.priority IS NOT new.priority BEGIN"
    "  UPDATE job_counts SET n = n - 1 WHERE state = old.state AND priority = old.priority;"
    "  INSERT INTO job_counts (state, priority, n) VALUES (new.state, new.priority, 1)"
    "    ON CONFLICT (state, priority) DO UPDATE SET n = n + 1;"
    "END;"
    "CREATE TRIGGER jobs_count_delete AFTER DELETE ON jobs BEGIN"
    "  UPDATE job_counts SET n = n - 1 WHERE state = old.state AND priority = old.priority;"
    "END;",
    /* 7: the backlog by lane, kept by triggers, for the same reason: every status request and
     * metrics scrape counted it with a GROUP BY on the event loop, 6 ms at 100,000 entries
     * (and its oldest entry with another scan, 12 ms) — a stall of every webhook in flight,
     * just when a flash sale makes the backlog long. An entry costs the webhook writer one
     * more small upsert (a row of five), in the transaction it commits anyway. */
    "CREATE TABLE backlog_counts (lane INTEGER PRIMARY KEY, n INTEGER NOT NULL);"
    "INSERT INTO backlog_counts (lane, n) SELECT lane, count(*) FROM backlog GROUP BY lane;"
    "CREATE TRIGGER backlog_count_insert AFTER INSERT ON backlog BEGIN"
    "  INSERT INTO backlog_counts (lane, n) VALUES (new.lane, 1)"
    "    ON CONFLICT (lane) DO UPDATE SET n = n + 1;"
    "END;"
    "CREATE TRIGGER backlog_count_delete AFTER DELETE ON backlog BEGIN"
    "  UPDATE backlog_counts SET n = n - 1 WHERE lane = old.lane;"
    "END;",
    /* 8: the intake mark: the sequence number of the last record of the webhook receiver's
     * intake log (intake.h) moved into events, set in the same transaction as the rows, so a
     * restart replays exactly the records after it. */
    "CREATE TABLE IF NOT EXISTS intake (id INTEGER PRIMARY KEY CHECK (id = 1),"
    "  moved_seq INTEGER NOT NULL);"
    "INSERT OR IGNORE INTO intake (id, moved_seq) VALUES (1, 0);",
};
#define NMIGRATIONS ((int)(sizeof migrations / sizeof migrations[0]))

int64_t store_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

const char *store_errmsg(const struct store *st) { return st->err; }

/* SQLite's own busy handler sleeps 1, 2, 5, 10 ms ... between tries, so a connection that meets
 * another's commit (the webhook writer's takes ~0.5 ms) waits 1–3 ms, and on the event loop
 * every request waits with it (p99 at half rate). Short sleeps that grow from 50 us to 1 ms
 * take the lock soon after it is free, for a few more wake-ups in a long wait. */
static int busy_wait(void *arg, int tries)
{
    struct store *st = arg;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (tries == 0) st->busy_since = now;
    double waited_ms = (double)(now.tv_sec - st->busy_since.tv_sec) * 1e3 +
                       (double)(now.tv_nsec - st->busy_since.tv_nsec) / 1e6;
    if (waited_ms >= st->busy_ms) return 0;
    long us = 50L << (tries < 5 ? tries : 5);
    if (us > 1000) us = 1000;
    struct timespec d = { 0, us * 1000 };
    nanosleep(&d, NULL);
    return 1;
}

void store_set_busy_timeout(struct store *st, int ms)
{
    st->busy_ms = ms;
    sqlite3_busy_handler(st->db, busy_wait, st);
}


void store_set_autocheckpoint(struct store *st, int pages)
{
    sqlite3_wal_autocheckpoint(st->db, pages);
}

int store_checkpoint(struct store *st, int restart, int *log_pages, int *copied_pages)
{
    int nlog = 0, ncopied = 0;
    int rc = sqlite3_wal_checkpoint_v2(st->db, NULL, restart ? SQLITE_CHECKPOINT_RESTART
                                                             : SQLITE_CHECKPOINT_PASSIVE,
                                       &nlog, &ncopied);
    if (log_pages) *log_pages = nlog;
    if (copied_pages) *copied_pages = ncopied;
    /* BUSY: another connection (the checkpointer thread) is checkpointing right now; the log
     * is being copied, which is all the caller wanted. */
    if (!restart && (rc & 0xff) == SQLITE_BUSY) return 0;
    return rc == SQLITE_OK ? 0 : store_fail(st, "checkpoint");
}

int store_fail(struct store *st, const char *what)
{
    snprintf(st->err, sizeof st->err, "%s: %s", what, sqlite3_errmsg(st->db));
    if (st->tx_depth > 0) st->tx_failed = 1;
    return -1;
}

sqlite3_stmt *store_stmt(struct store *st, const char *sql)
{
    for (int i = 0; i < st->nstmts; i++)
        if (st->stmts[i].sql == sql) {
            sqlite3_reset(st->stmts[i].stmt);
            sqlite3_clear_bindings(st->stmts[i].stmt);
            return st->stmts[i].stmt;
        }
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v3(st->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s, NULL) != SQLITE_OK) {
        store_fail(st, "prepare");
        return NULL;
    }
    if (st->nstmts < STORE_MAX_STMTS) {
        st->stmts[st->nstmts].sql = sql;
        st->stmts[st->nstmts].stmt = s;
        st->nstmts++;
    }
    /* Past the cache size a statement would leak; the cap is far above the number of
     * distinct statements the code has, and a unit test checks we stay under it. */
    return s;
}

void store_bind_text(sqlite3_stmt *s, int i, const char *v)
{
    if (v) sqlite3_bind_text(s, i, v, -1, SQLITE_TRANSIENT);
    else sqlite3_bind_null(s, i);
}

char *store_column_dup(sqlite3_stmt *s, int i)
{
    const unsigned char *t = sqlite3_column_text(s, i);
    return t ? strdup((const char *)t) : NULL;
}

static int exec(struct store *st, const char *sql, const char *what)
{
    char *msg = NULL;
    if (sqlite3_exec(st->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        snprintf(st->err, sizeof st->err, "%s: %s", what, msg ? msg : sqlite3_errmsg(st->db));
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

int store_set_cache_kib(struct store *st, int kib)
{
    char sql[64];
    snprintf(sql, sizeof sql, "PRAGMA cache_size=-%d", kib > 0 ? kib : 1);
    return exec(st, sql, "setting the page cache");
}

int store_set_durability(struct store *st, enum store_durability d)
{
    /* In WAL mode NORMAL syncs at checkpoints only; FULL syncs the WAL at every commit. */
    return exec(st, d == STORE_DURABLE ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL",
                "setting durability");
}

int store_schema_version(struct store *st)
{
    sqlite3_stmt *s;
    int v = -1;
    if (sqlite3_prepare_v2(st->db, "PRAGMA user_version", -1, &s, NULL) == SQLITE_OK) {
        if (sqlite3_step(s) == SQLITE_ROW) v = sqlite3_column_int(s, 0);
        sqlite3_finalize(s);
    }
    return v;
}

static int migrate(struct store *st)
{
    int v = store_schema_version(st);
    if (v < 0) return store_fail(st, "reading schema version");
    if (v > NMIGRATIONS) {
        snprintf(st->err, sizeof st->err,
                 "database schema version %d is newer than this ezsync knows (%d): upgrade ezsync",
                 v, NMIGRATIONS);
        return -1;
    }
    for (; v < NMIGRATIONS; v++) {
        char pragma[64];
        snprintf(pragma, sizeof pragma, "PRAGMA user_version=%d", v + 1);
        if (exec(st, "BEGIN IMMEDIATE", "migration") || exec(st, migrations[v], "migration") ||
            exec(st, pragma, "migration") || exec(st, "COMMIT", "migration")) {
            sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
            return -1;
        }
    }
    return 0;
}

int store_open(struct store **out, const char *path, int flags, char *err, size_t errlen)
{
    struct store *st = calloc(1, sizeof *st);
    *out = NULL;
    if (!st) {
        snprintf(err, errlen, "store: out of memory");
        return -1;
    }
    int oflags = (flags & STORE_READONLY) ? SQLITE_OPEN_READONLY
                                          : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
    if (sqlite3_open_v2(path, &st->db, oflags | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "store %s: cannot open: %s", path,
                 st->db ? sqlite3_errmsg(st->db) : "out of memory");
        goto fail;
    }
    store_set_busy_timeout(st, 5000);
    sqlite3_extended_result_codes(st->db, 1);
    /* The first statement that reads the file: a corrupt or foreign file fails here. */
    if (exec(st, "PRAGMA foreign_keys=ON; PRAGMA synchronous=FULL", "configure") ||
        (!(flags & STORE_READONLY) && exec(st, "PRAGMA journal_mode=WAL", "enable WAL")) ||
        store_schema_version(st) < 0) {
        snprintf(err, errlen, "store %s: %s", path, st->err[0] ? st->err : sqlite3_errmsg(st->db));
        goto fail;
    }
    if (!(flags & STORE_READONLY) && migrate(st)) {
        snprintf(err, errlen, "store %s: %s", path, st->err);
        goto fail;
    }
    *out = st;
    return 0;
fail:
    sqlite3_close(st->db);
    free(st);
    return -1;
}

void store_close(struct store *st)
{
    if (!st) return;
    for (int i = 0; i < st->nstmts; i++) sqlite3_finalize(st->stmts[i].stmt);
    sqlite3_close(st->db);
    free(st);
}

int store_read_begin(struct store *st)
{
    if (st->tx_depth > 0) return 0;       /* inside a transaction already: its snapshot */
    return exec(st, "BEGIN DEFERRED", "begin a read");
}

void store_read_end(struct store *st)
{
    if (st->tx_depth == 0 && !sqlite3_get_autocommit(st->db))
        sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL);
}

int store_begin(struct store *st)
{
    if (st->tx_depth++ > 0) return 0;
    st->tx_failed = 0;
    /* IMMEDIATE: take the write lock now, so a busy database fails here, before any work. */
    if (exec(st, "BEGIN IMMEDIATE", "begin")) {
        st->tx_depth = 0;
        return -1;
    }
    return 0;
}

int store_commit(struct store *st)
{
    if (st->tx_depth == 0) {
        snprintf(st->err, sizeof st->err, "commit without begin");
        return -1;
    }
    if (--st->tx_depth > 0) return 0;
    if (st->tx_failed) {
        sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
        return -1;
    }
    if (exec(st, "COMMIT", "commit")) {
        sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
        return -1;
    }
    return 0;
}

void store_rollback(struct store *st)
{
    if (st->tx_depth == 0) return;
    if (--st->tx_depth > 0) {
        st->tx_failed = 1;
        return;
    }
    sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
}
