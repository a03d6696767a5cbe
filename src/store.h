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
#define STORE_SCHEMA_VERSION 1

/* flags for store_open */
#define STORE_READONLY 1

int store_open(struct store **out, const char *path, int flags, char *err, size_t errlen);
void store_close(struct store *st);
const char *store_errmsg(const struct store *st);
int store_schema_version(struct store *st);
/* How long a write waits for another process's lock before failing (default 5000 ms). */
void store_set_busy_timeout(struct store *st, int ms);

/* Transactions nest by counting: only the outermost begin/commit touch the database, so a
 * caller can batch (group commit) calls that each open their own transaction. */
int store_begin(struct store *st);
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
};

/* Inserts unless dedupe_key is already stored; *inserted tells which. */
int store_event_insert(struct store *st, struct store_event *ev, int *inserted);
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

int64_t store_now_ms(void);

#endif
