/* store_events: the events table (raw deliveries and polled changes, deduplicated). */
#include "store_internal.h"

#include <stdlib.h>
#include <string.h>

/* The event and its backlog entry: one transaction (nested in the caller's, if any), so an
 * event is never stored without the entry that makes the engine job it. */
static int insert(struct store *st, struct store_event *ev, int *inserted)
{
    static const char sql[] =
        "INSERT INTO events (source, topic, dedupe_key, event_id, triggered_at, shop,"
        " api_version, headers, body, received_at) VALUES (?,?,?,?,?,?,?,?,?,?)"
        " ON CONFLICT(dedupe_key) DO NOTHING";
    sqlite3_stmt *s = store_stmt(st, sql);
    if (!s) return -1;
    store_bind_text(s, 1, ev->source);
    store_bind_text(s, 2, ev->topic);
    store_bind_text(s, 3, ev->dedupe_key);
    store_bind_text(s, 4, ev->event_id);
    store_bind_text(s, 5, ev->triggered_at);
    store_bind_text(s, 6, ev->shop);
    store_bind_text(s, 7, ev->api_version);
    store_bind_text(s, 8, ev->headers);
    sqlite3_bind_blob(s, 9, ev->body ? ev->body : "", (int)ev->body_len, SQLITE_STATIC);
    sqlite3_bind_int64(s, 10, ev->received_at ? ev->received_at : store_now_ms());
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    if (rc != SQLITE_DONE) return store_fail(st, "storing event");
    if (sqlite3_changes(st->db) != 1) return 0;      /* a duplicate: nothing new */
    ev->id = sqlite3_last_insert_rowid(st->db);
    if (ev->lane != STORE_LANE_NONE) {
        sqlite3_stmt *b = store_stmt(st, "INSERT INTO backlog (lane, event_id) VALUES (?, ?)");
        if (!b) return -1;
        int lane = ev->lane < 0 ? 0 : ev->lane;
        if (lane >= STORE_JOB_NPRIORITIES) lane = STORE_JOB_NPRIORITIES - 1;
        sqlite3_bind_int(b, 1, lane);
        sqlite3_bind_int64(b, 2, ev->id);
        rc = sqlite3_step(b);
        sqlite3_reset(b);
        if (rc != SQLITE_DONE) return store_fail(st, "queueing event");
    }
    *inserted = 1;
    return 0;
}

int store_event_insert(struct store *st, struct store_event *ev, int *inserted)
{
    *inserted = 0;
    if (store_begin(st)) return -1;
    if (insert(st, ev, inserted)) {
        *inserted = 0;
        store_rollback(st);
        return -1;
    }
    if (store_commit(st)) {
        *inserted = 0;
        return -1;
    }
    return 0;
}

int store_event_exists(struct store *st, const char *dedupe_key)
{
    sqlite3_stmt *s = store_stmt(st, "SELECT 1 FROM events WHERE dedupe_key = ?");
    if (!s) return -1;
    store_bind_text(s, 1, dedupe_key);
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    if (rc == SQLITE_ROW) return 1;
    return rc == SQLITE_DONE ? 0 : store_fail(st, "looking up an event");
}

int store_intake_mark(struct store *st, int64_t *seq)
{
    sqlite3_stmt *s = store_stmt(st, "SELECT moved_seq FROM intake WHERE id = 1");
    if (!s) return -1;
    int rc = sqlite3_step(s);
    *seq = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
    sqlite3_reset(s);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : store_fail(st, "reading the intake mark");
}

int store_intake_set_mark(struct store *st, int64_t seq)
{
    sqlite3_stmt *s = store_stmt(st, "UPDATE intake SET moved_seq = ? WHERE id = 1");
    if (!s) return -1;
    sqlite3_bind_int64(s, 1, seq);
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? 0 : store_fail(st, "setting the intake mark");
}

int64_t store_event_count(struct store *st)
{
    sqlite3_stmt *s = store_stmt(st, "SELECT count(*) FROM events");
    if (!s) return -1;
    int64_t n = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int64(s, 0) : -1;
    sqlite3_reset(s);
    return n;
}

int store_event_get(struct store *st, int64_t id, struct store_event *out)
{
    static const char sql[] =
        "SELECT source, topic, dedupe_key, event_id, triggered_at, shop, api_version, headers,"
        " body, received_at FROM events WHERE id = ?";
    memset(out, 0, sizeof *out);
    sqlite3_stmt *s = store_stmt(st, sql);
    if (!s) return -1;
    sqlite3_bind_int64(s, 1, id);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_DONE) {
        sqlite3_reset(s);
        return STORE_NOTFOUND;
    }
    if (rc != SQLITE_ROW) {
        sqlite3_reset(s);
        return store_fail(st, "reading event");
    }
    out->id = id;
    out->source = store_column_dup(s, 0);
    out->topic = store_column_dup(s, 1);
    out->dedupe_key = store_column_dup(s, 2);
    out->event_id = store_column_dup(s, 3);
    out->triggered_at = store_column_dup(s, 4);
    out->shop = store_column_dup(s, 5);
    out->api_version = store_column_dup(s, 6);
    out->headers = store_column_dup(s, 7);
    int n = sqlite3_column_bytes(s, 8);
    char *body = malloc((size_t)n + 1);
    if (body) {
        if (n) memcpy(body, sqlite3_column_blob(s, 8), (size_t)n);
        body[n] = '\0';
    }
    out->body = body;
    out->body_len = body ? (size_t)n : 0;
    out->received_at = sqlite3_column_int64(s, 9);
    sqlite3_reset(s);
    return 0;
}

void store_event_free(struct store_event *ev)
{
    free((char *)ev->source);
    free((char *)ev->topic);
    free((char *)ev->dedupe_key);
    free((char *)ev->event_id);
    free((char *)ev->triggered_at);
    free((char *)ev->shop);
    free((char *)ev->api_version);
    free((char *)ev->headers);
    free((char *)ev->body);
    memset(ev, 0, sizeof *ev);
}
