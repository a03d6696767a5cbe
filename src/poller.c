/* poller: see poller.h. A cycle is a chain of remote calls; each response is delivered on the
 * loop through an event (never inside the remote's callback) and handled by phase. Snapshots
 * are canonical JSON (sorted keys), so "unchanged" is a string compare, and records polled
 * again through the overlap window emit nothing. */
#include "poller.h"

#include "config.h"
#include "engine.h"
#include "log.h"
#include "store.h"

#include <event2/event.h>
#include <inttypes.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PAGE_LIMIT 100
#define MAX_PAGES 1000           /* a runaway paginator must not poll forever */
#define POLL_PRIORITY 4
#define POLLER_MAX_AHEAD_MS (10 * 60 * 1000) /* see advance() */

enum phase { PH_ORDERS, PH_SHIPMENTS, PH_STOCK, PH_SHOPIFY };

struct cycle {
    struct poller *p;
    enum phase phase;
    int page;
    int64_t since_ms, wm_ms;     /* query from since; the new watermark (max seen) */
    json_t *changed;             /* orders waiting for their shipments: [{id, topic, ...}] */
    size_t next;                 /* index into changed */
    char *cursor;                /* Shopify pagination */
    int events, ok;
    void (*done)(void *ud, int ok);
    void *ud;
    struct event *ev;            /* response delivery */
    int cls;
    long status;
    char *body, *error;
};

struct poller {
    struct event_base *base;
    struct store *st;
    struct engine_remotes remotes;
    void (*notify)(void *ud);
    void *notify_ud;
    long oez_interval_ms, shop_interval_ms, overlap_ms;
    struct event *oez_timer, *shop_timer;
    struct cycle *oez, *shop;
    int stopped;
};

/* ---- time ---- */

/* n decimal digits at p as a number in [lo, hi], else -1. */
static int digits(const char *p, int n, int lo, int hi)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9') return -1;
        v = v * 10 + (p[i] - '0');
    }
    return v >= lo && v <= hi ? v : -1;
}

/* RFC 3339 as the APIs write it: YYYY-MM-DDTHH:MM:SS, optional fraction, then Z or an offset
 * (+HH:MM or +HHMM). Every field is its digits within its range: sscanf's %2d took " 1",
 * "-1" and month 13, and timegm turned those into some other time. */
int poller_time_parse(const char *iso, int64_t *ms)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    if (!iso || strnlen(iso, 19) < 19 || iso[4] != '-' || iso[7] != '-' ||
        (iso[10] != 'T' && iso[10] != 't') || iso[13] != ':' || iso[16] != ':')
        return -1;
    int y = digits(iso, 4, 1, 9999), mo = digits(iso + 5, 2, 1, 12),
        d = digits(iso + 8, 2, 1, 31), h = digits(iso + 11, 2, 0, 23),
        mi = digits(iso + 14, 2, 0, 59), s = digits(iso + 17, 2, 0, 60);
    if (y < 0 || mo < 0 || d < 0 || h < 0 || mi < 0 || s < 0) return -1;
    const char *p = iso + 19;
    int64_t frac = 0;
    if (*p == '.') {
        int n = 0;
        for (p++; *p >= '0' && *p <= '9'; p++, n++)
            if (n < 3) frac = frac * 10 + (*p - '0');
        if (n == 0) return -1;
        while (n > 0 && n < 3) frac *= 10, n++;
    }
    int64_t offset = 0;
    if (*p == '+' || *p == '-') {
        int sign = *p == '+' ? 1 : -1, oh = digits(p + 1, 2, 0, 23);
        if (oh < 0) return -1;                        /* (p[1], p[2] are digits: p[3] exists) */
        int colon = p[3] == ':', om = digits(p + 3 + colon, 2, 0, 59);
        if (om < 0 || p[5 + colon] != '\0') return -1;
        offset = (int64_t)(oh * 60 + om) * 60 * sign;
    } else if (*p == 'Z' || *p == 'z') {
        if (p[1] != '\0') return -1;
    } else if (*p != '\0') {
        return -1;
    }
    tm.tm_year = y - 1900, tm.tm_mon = mo - 1, tm.tm_mday = d;
    tm.tm_hour = h, tm.tm_min = mi, tm.tm_sec = s;
    *ms = ((int64_t)timegm(&tm) - offset) * 1000 + frac;
    return 0;
}

void poller_time_format(int64_t ms, char *out, size_t len)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    snprintf(out, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
}

/* ---- helpers ---- */

static char *canonical(json_t *v)
{
    return json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
}

static void short_hash(const char *s, char out[17])
{
    unsigned char md[32];
    unsigned int n = 0;
    memset(md, 0, sizeof md);
    EVP_Digest(s, strlen(s), md, &n, EVP_sha256(), NULL);
    for (int i = 0; i < 8; i++) snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/* Ids arrive as numbers or strings (and may exceed 2^53): always as exact text. */
static int id_text(json_t *v, char *out, size_t len)
{
    if (json_is_integer(v)) snprintf(out, len, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    else if (json_is_string(v) && json_string_length(v) > 0 && json_string_length(v) < len)
        snprintf(out, len, "%s", json_string_value(v));
    else return -1;
    return 0;
}

static const char *str_field(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static int64_t field_ms(json_t *o, const char *k)
{
    int64_t ms = 0;
    return poller_time_parse(str_field(o, k), &ms) == 0 ? ms : 0;
}

/* A row's time moves the watermark forward, but never past now + POLLER_MAX_AHEAD_MS: one row
 * stamped far ahead (a remote's bug, a clock set wrong) made every later poll ask from that
 * time on and miss every change until then. Capped, a remote whose clock runs ahead only has
 * its last minutes read again (diffed against the snapshots: nothing emitted twice). */
static void advance(struct cycle *c, int64_t ms)
{
    int64_t cap = store_now_ms() + POLLER_MAX_AHEAD_MS;
    if (ms > cap) ms = cap;
    if (ms > c->wm_ms) c->wm_ms = ms;
}

static int64_t watermark_get(struct poller *p, const char *name, int64_t dflt)
{
    char *v = NULL;
    int64_t wm = dflt;
    if (store_kv_get(p->st, "poller", name, &v) == 0 && v) wm = strtoll(v, NULL, 10);
    free(v);
    return wm;
}

static int watermark_put(struct poller *p, const char *name, int64_t ms)
{
    char v[24];
    snprintf(v, sizeof v, "%" PRId64, ms);
    return store_kv_put(p->st, "poller", name, v);
}

/* Inside the caller's transaction. Counts stored events in c->events. */
static int emit(struct cycle *c, const char *source, const char *topic, const char *dedupe,
                json_t *body)
{
    char *text = json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER);
    struct store_event ev = { .source = source, .topic = topic, .dedupe_key = dedupe,
                              .body = text, .body_len = text ? strlen(text) : 0 };
    int inserted = 0;
    int rc = text ? engine_event_store(c->p->st, &ev, NULL, &inserted, NULL) : -1;
    if (rc == 0 && inserted) {
        c->events++;
        log_info("change detected", "topic", topic, "key", dedupe);
    }
    free(text);
    return rc;
}

/* The data array of an OrderEZ list answer; *more says whether another page follows. */
static json_t *parse_list(const char *body, int page, int *more, json_t **root)
{
    *more = 0;
    *root = json_loads(body ? body : "", 0, NULL);
    json_t *data = json_object_get(*root, "data");
    if (!json_is_array(data)) return NULL;
    json_t *tp = json_object_get(json_object_get(*root, "meta"), "totalPages");
    if (json_is_integer(tp)) *more = page < json_integer_value(tp);
    else *more = json_array_size(data) >= PAGE_LIMIT;
    if (page >= MAX_PAGES) *more = 0;
    return data;
}

/* ---- driving a cycle ---- */

static void on_done(void *cbud, int cls, long status, const char *body, const char *error,
                    double retry_after_s)
{
    (void)retry_after_s;   /* the next cycle is the poller's retry */
    struct cycle *c = cbud;
    c->cls = cls;
    c->status = status;
    free(c->body);
    free(c->error);
    c->body = body ? strdup(body) : NULL;
    c->error = error ? strdup(error) : NULL;
    event_active(c->ev, 0, 1);
}

static void end_cycle(struct cycle *c, int ok);

static void request(struct cycle *c, int kind, const char *method, const char *path,
                    const char *body)
{
    struct engine_io io = { kind, method, path, body };
    if (c->p->remotes.send(c->p->remotes.ud, &io, POLL_PRIORITY, NULL, on_done, c)) {
        log_warn("poll request not accepted", "path", path);
        end_cycle(c, 0);
    }
}

static void request_list(struct cycle *c, const char *what, int64_t since_ms)
{
    char iso[40], path[256];
    poller_time_format(since_ms, iso, sizeof iso);
    snprintf(path, sizeof path, "/distributor/%s?updatedSince=%s&page=%d&limit=%d", what, iso,
             c->page, PAGE_LIMIT);
    request(c, ENGINE_IO_ORDEREZ, "GET", path, NULL);
}

static void arm(struct poller *p, struct event *timer, long ms)
{
    if (p->stopped || !timer || ms <= 0) return;
    struct timeval tv = { (time_t)(ms / 1000), (suseconds_t)((ms % 1000) * 1000) };
    evtimer_add(timer, &tv);
}

static void end_cycle(struct cycle *c, int ok)
{
    struct poller *p = c->p;
    int shopify = c->phase == PH_SHOPIFY;
    if (!ok) log_warn("poll cycle failed; the next one covers it", "poller",
                      shopify ? "shopify" : "orderez", "error", c->error);
    if (c->events && p->notify) p->notify(p->notify_ud);
    if (c->done) c->done(c->ud, ok);
    if (shopify) p->shop = NULL;
    else p->oez = NULL;
    event_free(c->ev);
    json_decref(c->changed);
    free(c->cursor);
    free(c->body);
    free(c->error);
    free(c);
    if (shopify) arm(p, p->shop_timer, p->shop_interval_ms);
    else arm(p, p->oez_timer, p->oez_interval_ms);
}

/* ---- OrderEZ orders ---- */

static void diff_order(struct cycle *c, json_t *order)
{
    char id[128];
    if (id_text(json_object_get(order, "id"), id, sizeof id)) return;
    int64_t upd = field_ms(order, "updatedAt");
    advance(c, upd);
    char *now = canonical(order), *was = NULL;
    store_snapshot_get(c->p->st, "orderez.order", id, &was);
    json_t *before = was ? json_loads(was, 0, NULL) : NULL;
    const char *topic = NULL;
    if (!now || (was && strcmp(was, now) == 0)) goto cleanup;
    if (before && upd && field_ms(before, "updatedAt") > upd) goto cleanup; /* stale page */
    const char *s0 = str_field(before, "status"), *s1 = str_field(order, "status");
    if (!before) topic = "orderez/order.created";
    else if ((s0 || s1) && (!s0 || !s1 || strcmp(s0, s1) != 0)) topic = "orderez/order.status_changed";
    else topic = "orderez/order.updated";
    json_array_append_new(c->changed, json_pack("{s:s, s:s, s:O?, s:O}", "id", id, "topic",
                                                topic, "before", before, "after", order));
cleanup:
    json_decref(before);
    free(now);
    free(was);
}

static void next_shipments(struct cycle *c);

static void on_orders(struct cycle *c)
{
    json_t *root = NULL;
    int more = 0;
    json_t *data = parse_list(c->body, c->page, &more, &root);
    if (!data) {
        json_decref(root);
        free(c->error);
        c->error = strdup("orders: answer has no data array");
        end_cycle(c, 0);
        return;
    }
    for (size_t i = 0; i < json_array_size(data); i++) diff_order(c, json_array_get(data, i));
    json_decref(root);
    if (more) {
        c->page++;
        request_list(c, "orders", c->since_ms);
        return;
    }
    c->phase = PH_SHIPMENTS;
    c->next = 0;
    next_shipments(c);
}

static void start_stock(struct cycle *c);

static void next_shipments(struct cycle *c)
{
    if (c->next >= json_array_size(c->changed)) {
        if (watermark_put(c->p, "orderez.orders", c->wm_ms)) {
            end_cycle(c, 0);
            return;
        }
        start_stock(c);
        return;
    }
    char path[256];
    json_t *item = json_array_get(c->changed, c->next);
    snprintf(path, sizeof path, "/distributor/orders/%s/shipments",
             json_string_value(json_object_get(item, "id")));
    request(c, ENGINE_IO_ORDEREZ, "GET", path, NULL);
}

/* The order's event and snapshot with its shipments' events and snapshots, in one
 * transaction: a crash in between cannot leave an order marked seen with shipments unseen. */
static int write_order(struct cycle *c, json_t *item, json_t *shipments)
{
    struct store *st = c->p->st;
    const char *id = json_string_value(json_object_get(item, "id"));
    json_t *after = json_object_get(item, "after");
    char key[400], hash[17], ent[200], sid[128];
    char *snap = canonical(after);
    if (!snap || store_begin(st)) goto fail_nobegin;
    short_hash(snap, hash);
    snprintf(ent, sizeof ent, "orderez:order:%s", id);
    snprintf(key, sizeof key, "orderez:order:%s:%s:%s", id,
             str_field(after, "updatedAt") ? str_field(after, "updatedAt") : "-", hash);
    json_t *body = json_pack("{s:s, s:s, s:O, s:O}", "entity", ent, "id", id, "before",
                             json_object_get(item, "before") ? json_object_get(item, "before")
                                                             : json_null(), "after", after);
    int rc = body ? emit(c, "orderez", json_string_value(json_object_get(item, "topic")), key,
                         body) : -1;
    json_decref(body);
    if (rc || store_snapshot_put(st, "orderez.order", id, snap)) goto fail;
    for (size_t i = 0; i < json_array_size(shipments); i++) {
        json_t *sh = json_array_get(shipments, i);
        char *now = NULL, *was = NULL;
        if (id_text(json_object_get(sh, "id"), sid, sizeof sid)) continue;
        now = canonical(sh);
        if (!now || store_snapshot_get(st, "orderez.shipment", sid, &was) < 0) rc = -1;
        if (rc == 0 && !(was && strcmp(was, now) == 0)) {
            json_t *b = was ? json_loads(was, 0, NULL) : json_null();
            short_hash(now, hash);
            snprintf(key, sizeof key, "orderez:shipment:%s:%s", sid, hash);
            json_t *ebody = json_pack("{s:s, s:s, s:s, s:o, s:O}", "entity", ent, "id", sid,
                                      "order_id", id, "before", b ? b : json_null(),
                                      "after", sh);
            rc = ebody ? emit(c, "orderez", was ? "orderez/shipment.updated"
                                                : "orderez/shipment.created", key, ebody) : -1;
            json_decref(ebody);
            if (rc == 0) rc = store_snapshot_put(st, "orderez.shipment", sid, now);
        }
        free(now);
        free(was);
        if (rc) goto fail;
    }
    free(snap);
    return store_commit(st);
fail:
    store_rollback(st);
fail_nobegin:
    free(snap);
    log_error("cannot store polled order", "id", id, "error", store_errmsg(st));
    return -1;
}

static void on_shipments(struct cycle *c)
{
    json_t *item = json_array_get(c->changed, c->next);
    json_t *root = NULL, *data = NULL;
    if (c->cls == ENGINE_CALL_OK) {
        int more;
        data = parse_list(c->body, 1, &more, &root);
    } else {
        /* A permanent answer (e.g. 404: no shipments resource for this order): the order's
         * own change still counts. */
        log_warn("cannot list shipments", "order", json_string_value(json_object_get(item, "id")),
                 "error", c->error);
    }
    int rc = write_order(c, item, data);
    json_decref(root);
    if (rc) {
        end_cycle(c, 0);
        return;
    }
    c->next++;
    next_shipments(c);
}

/* ---- OrderEZ stock ---- */

static void start_stock(struct cycle *c)
{
    c->phase = PH_STOCK;
    c->page = 1;
    int64_t wm = watermark_get(c->p, "orderez.stock", store_now_ms());
    c->wm_ms = wm;
    c->since_ms = wm - c->p->overlap_ms;
    request_list(c, "stock", c->since_ms);
}

static int diff_stock(struct cycle *c, json_t *lvl)
{
    struct store *st = c->p->st;
    char wh[128], key[512], ent[400], hash[17];
    const char *sku = str_field(lvl, "sku");
    int rc = 0;
    if (!sku || id_text(json_object_get(lvl, "warehouseId"), wh, sizeof wh)) return 0;
    int64_t upd = field_ms(lvl, "updatedAt");
    advance(c, upd);
    char *sk = ent + snprintf(ent, sizeof ent, "orderez:stock:"); /* snapshot id: sku@wh */
    snprintf(sk, sizeof ent - (size_t)(sk - ent), "%s@%s", sku, wh);
    char *now = canonical(lvl), *was = NULL;
    if (!now || store_snapshot_get(st, "orderez.stock", sk, &was) < 0) rc = -1;
    if (rc == 0 && !(was && strcmp(was, now) == 0)) {
        json_t *before = was ? json_loads(was, 0, NULL) : NULL;
        if (!(before && upd && field_ms(before, "updatedAt") > upd)) {
            short_hash(now, hash);
            snprintf(key, sizeof key, "%s:%s:%s", ent,
                     str_field(lvl, "updatedAt") ? str_field(lvl, "updatedAt") : "-", hash);
            json_t *body = json_pack("{s:s, s:s, s:s, s:O?, s:O}", "entity", ent, "sku", sku,
                                     "warehouseId", wh, "before", before, "after", lvl);
            rc = body ? emit(c, "orderez", "orderez/stock.changed", key, body) : -1;
            json_decref(body);
            if (rc == 0) rc = store_snapshot_put(st, "orderez.stock", sk, now);
        }
        json_decref(before);
    }
    free(now);
    free(was);
    return rc;
}

static void on_stock(struct cycle *c)
{
    json_t *root = NULL;
    int more = 0, rc = -1;
    json_t *data = parse_list(c->body, c->page, &more, &root);
    if (data && store_begin(c->p->st) == 0) {
        rc = 0;
        for (size_t i = 0; i < json_array_size(data) && rc == 0; i++)
            rc = diff_stock(c, json_array_get(data, i));
        /* The last page's transaction carries the watermark. */
        if (rc == 0 && !more) rc = watermark_put(c->p, "orderez.stock", c->wm_ms);
        if (rc == 0) rc = store_commit(c->p->st);
        else store_rollback(c->p->st);
    }
    json_decref(root);
    if (rc) {
        log_error("cannot store polled stock", "error", data ? store_errmsg(c->p->st)
                                                             : "answer has no data array");
        end_cycle(c, 0);
        return;
    }
    if (more) {
        c->page++;
        request_list(c, "stock", c->since_ms);
        return;
    }
    end_cycle(c, 1);
}

/* ---- Shopify catch-up ---- */

static const char catchup_query[] =
    "query EzsyncCatchUp($q: String!, $after: String) {"
    " orders(first: 100, after: $after, query: $q, sortKey: UPDATED_AT) {"
    " edges { node { id legacyResourceId updatedAt } }"
    " pageInfo { hasNextPage endCursor } } }";

static void request_shopify(struct cycle *c)
{
    char iso[40], q[96];
    poller_time_format(c->since_ms, iso, sizeof iso);
    snprintf(q, sizeof q, "updated_at:>'%s'", iso);
    json_t *req = json_pack("{s:s, s:{s:s, s:s?}}", "query", catchup_query, "variables",
                            "q", q, "after", c->cursor);
    char *body = req ? json_dumps(req, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(req);
    if (!body) {
        end_cycle(c, 0);
        return;
    }
    request(c, ENGINE_IO_SHOPIFY, "POST", "/graphql.json", body);
    free(body);
}

int poller_shopify_seen(struct store *st, const char *order_id, const char *updated_at)
{
    int64_t ms;
    if (poller_time_parse(updated_at, &ms)) return 0; /* nothing comparable: ignore */
    return store_snapshot_raise(st, "shopify.order", order_id, ms);
}

static int catchup_node(struct cycle *c, json_t *node)
{
    char id[64], key[300];
    const char *gid = str_field(node, "id"), *upd = str_field(node, "updatedAt");
    int64_t ms, seen = 0;
    char *was = NULL;
    if (!gid || !upd || poller_time_parse(upd, &ms)) return 0;
    if (id_text(json_object_get(node, "legacyResourceId"), id, sizeof id)) {
        const char *slash = strrchr(gid, '/');
        if (!slash || !slash[1]) return 0;
        snprintf(id, sizeof id, "%s", slash + 1);
    }
    advance(c, ms);
    if (store_snapshot_get(c->p->st, "shopify.order", id, &was) < 0) return -1;
    if (was) seen = strtoll(was, NULL, 10);
    free(was);
    if (seen >= ms) return 0;    /* a webhook (or an earlier catch-up) already brought it */
    char *end;
    long long num = strtoll(id, &end, 10);
    json_t *jid = *end ? json_string(id) : json_integer((json_int_t)num);
    json_t *body = json_pack("{s:o, s:s, s:s, s:b}", "id", jid, "admin_graphql_api_id", gid,
                             "updated_at", upd, "ezsync_catchup", 1);
    snprintf(key, sizeof key, "shopify:catchup:%s:%s", gid, upd);
    int rc = body ? emit(c, "shopify", "orders/updated", key, body) : -1;
    json_decref(body);
    return rc ? rc : poller_shopify_seen(c->p->st, id, upd);
}

static void on_shopify(struct cycle *c)
{
    json_t *root = json_loads(c->body ? c->body : "", 0, NULL);
    json_t *orders = json_object_get(json_object_get(root, "data"), "orders");
    json_t *edges = json_object_get(orders, "edges");
    json_t *info = json_object_get(orders, "pageInfo");
    int more = json_is_true(json_object_get(info, "hasNextPage")), rc = -1;
    if (json_is_array(edges) && store_begin(c->p->st) == 0) {
        rc = 0;
        for (size_t i = 0; i < json_array_size(edges) && rc == 0; i++)
            rc = catchup_node(c, json_object_get(json_array_get(edges, i), "node"));
        if (rc == 0 && (!more || c->page >= MAX_PAGES))
            rc = watermark_put(c->p, "shopify.orders", c->wm_ms);
        if (rc == 0) rc = store_commit(c->p->st);
        else store_rollback(c->p->st);
    }
    const char *cursor = str_field(info, "endCursor");
    free(c->cursor);
    c->cursor = cursor ? strdup(cursor) : NULL;
    json_decref(root);
    if (rc) {
        free(c->error);
        c->error = strdup(edges ? "cannot store catch-up events" : "answer has no orders");
        end_cycle(c, 0);
        return;
    }
    if (more && c->cursor && c->page < MAX_PAGES) {
        c->page++;
        request_shopify(c);
        return;
    }
    end_cycle(c, 1);
}

/* ---- cycle start and response dispatch ---- */

static void on_response(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct cycle *c = arg;
    if (c->p->stopped) {
        end_cycle(c, 0);
        return;
    }
    if (c->cls != ENGINE_CALL_OK && c->phase != PH_SHIPMENTS) {
        end_cycle(c, 0);
        return;
    }
    if (c->cls == ENGINE_CALL_TRANSIENT) { /* shipments: try the whole order next cycle */
        end_cycle(c, 0);
        return;
    }
    switch (c->phase) {
    case PH_ORDERS: on_orders(c); break;
    case PH_SHIPMENTS: on_shipments(c); break;
    case PH_STOCK: on_stock(c); break;
    case PH_SHOPIFY: on_shopify(c); break;
    }
}

static struct cycle *new_cycle(struct poller *p, enum phase ph, void (*done)(void *, int),
                               void *ud)
{
    struct cycle *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->p = p;
    c->phase = ph;
    c->page = 1;
    c->done = done;
    c->ud = ud;
    c->changed = json_array();
    c->ev = event_new(p->base, -1, 0, on_response, c);
    if (!c->ev || !c->changed) {
        if (c->ev) event_free(c->ev);
        json_decref(c->changed);
        free(c);
        return NULL;
    }
    return c;
}

int poller_run_orderez(struct poller *p, void (*done)(void *ud, int ok), void *ud)
{
    if (p->oez || p->stopped) return -1;
    struct cycle *c = new_cycle(p, PH_ORDERS, done, ud);
    if (!c) return -1;
    p->oez = c;
    /* First run: start from now (not the whole history); the watermark then persists, so
     * downtime is covered by the next start. */
    c->wm_ms = watermark_get(p, "orderez.orders", store_now_ms());
    c->since_ms = c->wm_ms - p->overlap_ms;
    request_list(c, "orders", c->since_ms);
    return 0;
}

int poller_run_shopify(struct poller *p, void (*done)(void *ud, int ok), void *ud)
{
    if (p->shop || p->stopped) return -1;
    struct cycle *c = new_cycle(p, PH_SHOPIFY, done, ud);
    if (!c) return -1;
    p->shop = c;
    c->wm_ms = watermark_get(p, "shopify.orders", store_now_ms());
    c->since_ms = c->wm_ms - p->overlap_ms;
    request_shopify(c);
    return 0;
}

static void on_oez_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    poller_run_orderez(arg, NULL, NULL);
}

static void on_shop_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct poller *p = arg;
    int lane = -1;
    /* Order deliveries still in the backlog (lanes 0 and 1: a flash sale the engine is
     * working through) are orders the catch-up would find unseen and emit again, only for the
     * rules to find them done. Deferred, it loses nothing: its watermark has not moved. */
    if (store_backlog_first_lane(p->st, &lane) == 0 && lane >= 0 && lane <= 1) {
        log_debug("shopify catch-up deferred: order deliveries wait to become jobs");
        arm(p, p->shop_timer, p->shop_interval_ms < 5000 ? p->shop_interval_ms : 5000);
        return;
    }
    poller_run_shopify(p, NULL, NULL);
}

struct poller *poller_new(struct event_base *base, struct store *st, const struct config *cfg,
                          const struct engine_remotes *remotes, void (*notify)(void *ud),
                          void *notify_ud)
{
    struct poller *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->base = base;
    p->st = st;
    p->remotes = *remotes;
    p->notify = notify;
    p->notify_ud = notify_ud;
    p->oez_interval_ms = cfg->poller_orderez_interval_ms;
    p->shop_interval_ms = cfg->poller_shopify_interval_ms;
    p->overlap_ms = cfg->poller_overlap_ms;
    p->oez_timer = evtimer_new(base, on_oez_timer, p);
    p->shop_timer = evtimer_new(base, on_shop_timer, p);
    if (!p->oez_timer || !p->shop_timer) {
        poller_free(p);
        return NULL;
    }
    return p;
}

int poller_start(struct poller *p)
{
    p->stopped = 0;
    struct timeval now = { 0, 0 };
    if (p->oez_interval_ms > 0) evtimer_add(p->oez_timer, &now);
    if (p->shop_interval_ms > 0) evtimer_add(p->shop_timer, &now);
    return 0;
}

void poller_stop(struct poller *p)
{
    p->stopped = 1;
    evtimer_del(p->oez_timer);
    evtimer_del(p->shop_timer);
}

void poller_free(struct poller *p)
{
    if (!p) return;
    p->stopped = 1;
    if (p->oez) end_cycle(p->oez, 0);
    if (p->shop) end_cycle(p->shop, 0);
    if (p->oez_timer) event_free(p->oez_timer);
    if (p->shop_timer) event_free(p->shop_timer);
    free(p);
}
