/* store_state: kv (rule state), idmap (cross-system links), snapshots (last known remote
 * state) and audit (per-record history). */
#include "store_internal.h"

#include <stdio.h>
#include <stdlib.h>

static int step_done(struct store *st, sqlite3_stmt *s, const char *what)
{
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? 0 : store_fail(st, what);
}

/* One text column of one row: 0 with *out set, STORE_NOTFOUND, or -1. */
static int one_text(struct store *st, sqlite3_stmt *s, char **out, const char *what)
{
    *out = NULL;
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        *out = store_column_dup(s, 0);
        sqlite3_reset(s);
        return 0;
    }
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? STORE_NOTFOUND : store_fail(st, what);
}

int store_kv_get(struct store *st, const char *ns, const char *key, char **value)
{
    sqlite3_stmt *s = store_stmt(st, "SELECT value FROM kv WHERE ns = ? AND key = ?");
    if (!s) return -1;
    store_bind_text(s, 1, ns);
    store_bind_text(s, 2, key);
    return one_text(st, s, value, "reading kv");
}

/* Runs an upsert whose parameters are (key1, key2, value, now). sql must be a literal: the
 * statement cache is keyed by its address. */
static int upsert(struct store *st, const char *sql, const char *k1, const char *k2,
                  const char *value, const char *what)
{
    sqlite3_stmt *s = store_stmt(st, sql);
    if (!s) return -1;
    store_bind_text(s, 1, k1);
    store_bind_text(s, 2, k2);
    store_bind_text(s, 3, value);
    sqlite3_bind_int64(s, 4, store_now_ms());
    return step_done(st, s, what);
}

int store_kv_put(struct store *st, const char *ns, const char *key, const char *value)
{
    return upsert(st,
                  "INSERT INTO kv (ns, key, value, updated_at) VALUES (?,?,?,?)"
                  " ON CONFLICT(ns, key) DO UPDATE SET value = excluded.value,"
                  " updated_at = excluded.updated_at",
                  ns, key, value, "writing kv");
}

int store_kv_delete(struct store *st, const char *ns, const char *key)
{
    sqlite3_stmt *s = store_stmt(st, "DELETE FROM kv WHERE ns = ? AND key = ?");
    if (!s) return -1;
    store_bind_text(s, 1, ns);
    store_bind_text(s, 2, key);
    return step_done(st, s, "deleting kv");
}

int store_idmap_put(struct store *st, const char *kind, const char *shopify_id,
                    const char *orderez_id)
{
    sqlite3_stmt *s = store_stmt(st,
        "INSERT INTO idmap (kind, shopify_id, orderez_id, created_at) VALUES (?,?,?,?)"
        " ON CONFLICT(kind, shopify_id) DO UPDATE SET orderez_id = excluded.orderez_id");
    if (!s) return -1;
    store_bind_text(s, 1, kind);
    store_bind_text(s, 2, shopify_id);
    store_bind_text(s, 3, orderez_id);
    sqlite3_bind_int64(s, 4, store_now_ms());
    return step_done(st, s, "writing idmap");
}

int store_idmap_get_orderez(struct store *st, const char *kind, const char *shopify_id,
                            char **orderez_id)
{
    sqlite3_stmt *s = store_stmt(st,
        "SELECT orderez_id FROM idmap WHERE kind = ? AND shopify_id = ?");
    if (!s) return -1;
    store_bind_text(s, 1, kind);
    store_bind_text(s, 2, shopify_id);
    return one_text(st, s, orderez_id, "reading idmap");
}

int store_idmap_get_shopify(struct store *st, const char *kind, const char *orderez_id,
                            char **shopify_id)
{
    /* Several Shopify records may share one OrderEZ record (two customers, one outlet):
     * the oldest link is the canonical one. */
    sqlite3_stmt *s = store_stmt(st,
        "SELECT shopify_id FROM idmap WHERE kind = ? AND orderez_id = ?"
        " ORDER BY created_at, rowid LIMIT 1");
    if (!s) return -1;
    store_bind_text(s, 1, kind);
    store_bind_text(s, 2, orderez_id);
    return one_text(st, s, shopify_id, "reading idmap");
}

int64_t store_idmap_count(struct store *st, const char *kind)
{
    sqlite3_stmt *s = store_stmt(st, "SELECT count(*) FROM idmap WHERE ? IS NULL OR kind = ?");
    if (!s) return -1;
    store_bind_text(s, 1, kind);
    store_bind_text(s, 2, kind);
    int64_t n = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int64(s, 0) : -1;
    sqlite3_reset(s);
    return n;
}

int store_audit_add(struct store *st, int64_t job_id, const char *entity, const char *action,
                    const char *detail)
{
    sqlite3_stmt *s = store_stmt(st,
        "INSERT INTO audit (at, job_id, entity, action, detail) VALUES (?,?,?,?,?)");
    if (!s) return -1;
    sqlite3_bind_int64(s, 1, store_now_ms());
    if (job_id > 0) sqlite3_bind_int64(s, 2, job_id);
    else sqlite3_bind_null(s, 2);
    store_bind_text(s, 3, entity);
    store_bind_text(s, 4, action);
    store_bind_text(s, 5, detail);
    return step_done(st, s, "writing audit");
}

int store_snapshot_get(struct store *st, const char *kind, const char *id, char **data)
{
    sqlite3_stmt *s = store_stmt(st, "SELECT data FROM snapshots WHERE kind = ? AND id = ?");
    if (!s) return -1;
    store_bind_text(s, 1, kind);
    store_bind_text(s, 2, id);
    return one_text(st, s, data, "reading snapshot");
}

int store_snapshot_raise(struct store *st, const char *kind, const char *id, int64_t value)
{
    char text[24];
    snprintf(text, sizeof text, "%lld", (long long)value);
    return upsert(st,
                  "INSERT INTO snapshots (kind, id, data, updated_at) VALUES (?,?,?,?)"
                  " ON CONFLICT(kind, id) DO UPDATE SET data = excluded.data,"
                  " updated_at = excluded.updated_at"
                  " WHERE CAST(snapshots.data AS INTEGER) < CAST(excluded.data AS INTEGER)",
                  kind, id, text, "writing snapshot");
}

int store_snapshot_put(struct store *st, const char *kind, const char *id, const char *data)
{
    return upsert(st,
                  "INSERT INTO snapshots (kind, id, data, updated_at) VALUES (?,?,?,?)"
                  " ON CONFLICT(kind, id) DO UPDATE SET data = excluded.data,"
                  " updated_at = excluded.updated_at",
                  kind, id, data, "writing snapshot");
}
