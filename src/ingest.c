/* ingest: see ingest.h. The request handler does only cheap, synchronous checks and queues the
 * delivery; a zero-timeout event, which libevent runs after the callbacks already active in this
 * turn, hands everything queued to the writer thread (ingest_writer.c), which takes all that
 * waits as one batch: one append to the intake log, one fsync. The sync runs off the loop so the
 * loop keeps reading and verifying the next batch meanwhile: throughput is bounded by the slower
 * of the two, not their sum. While a batch is in the writer, new deliveries accumulate, so
 * batches grow with load on their own. Every reply, metric and hook stays on the loop thread. */
#include "ingest.h"
#include "ingest_internal.h"

#include "strbuf.h"

#include "checkpointer.h"
#include "config.h"
#include "hmac.h"
#include "json_text.h"
#include "log.h"
#include "metrics.h"
#include "store.h"

#include <ctype.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

enum reject { R_PATH, R_METHOD, R_SIZE, R_HMAC, R_HEADERS, R_SHOP, R_STORE };
static const char *reject_names[] = { "path", "method", "size", "hmac", "headers", "shop",
                                      "store" };

int ingest_verify(struct hmac_key *key, struct hmac_key *previous, const void *body, size_t len,
                  const char *hmac_header)
{
    if (!hmac_header || !*hmac_header) return 401;
    if (hmac_key_verify(key, body, len, hmac_header)) return 0;
    if (hmac_key_verify(previous, body, len, hmac_header)) return 0;
    return 401;
}

/* One pass over the headers (names case-insensitive) instead of a lookup per header: this runs
 * for every delivery. */
static void scan_headers(const struct evkeyvalq *h, struct ingest_delivery *d)
{
    static const struct { const char *suffix; size_t off; } want[] = {
        { "hmac-sha256", offsetof(struct ingest_delivery, hmac) },
        { "topic", offsetof(struct ingest_delivery, topic) },
        { "shop-domain", offsetof(struct ingest_delivery, shop) },
        { "webhook-id", offsetof(struct ingest_delivery, webhook_id) },
        { "api-version", offsetof(struct ingest_delivery, api_version) },
        { "event-id", offsetof(struct ingest_delivery, event_id) },
        { "triggered-at", offsetof(struct ingest_delivery, triggered_at) },
    };
    memset(d, 0, sizeof *d);
    for (const struct evkeyval *kv = h->tqh_first; kv; kv = kv->next.tqe_next) {
        if (strncasecmp(kv->key, "x-shopify-", 10) != 0 || !*kv->value) continue;
        for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
            const char **slot = (const char **)((char *)d + want[i].off);
            if (!*slot && strcasecmp(kv->key + 10, want[i].suffix) == 0) {
                *slot = kv->value;
                break;
            }
        }
    }
}

int ingest_check_headers(const struct evkeyvalq *h, const char *shop, struct ingest_delivery *d,
                         const char **why)
{
    scan_headers(h, d);
    if (!d->topic) { *why = "missing X-Shopify-Topic"; return 400; }
    if (!d->shop) { *why = "missing X-Shopify-Shop-Domain"; return 400; }
    if (!d->webhook_id) { *why = "missing X-Shopify-Webhook-Id"; return 400; }
    if (!d->api_version) { *why = "missing X-Shopify-API-Version"; return 400; }
    /* Domains are case-insensitive; an unset shopify.shop refuses everyone. */
    if (!shop || !*shop || strcasecmp(d->shop, shop) != 0) { *why = "unknown shop"; return 403; }
    *why = NULL;
    return 0;
}

/* Credentials never reach the database, whatever the client sent. By length first: this runs
 * for every header of every delivery. */
static int header_excluded(const char *name, size_t n)
{
    switch (n) {
    case 6: return strcasecmp(name, "Cookie") == 0;
    case 13: return strcasecmp(name, "Authorization") == 0;
    case 19: return strcasecmp(name, "Proxy-Authorization") == 0;
    case 21: return strcasecmp(name, "X-Shopify-Hmac-Sha256") == 0;
    default: return 0;
    }
}

/* n bytes at s as a JSON string body (no quotes); lower-cases when asked (header names). One
 * pass through a stack buffer: this runs for every header of every delivery. Header bytes
 * need not be UTF-8, which JSON strings must be: such a value is replaced by a marker rather
 * than dropping the delivery (the raw body is what matters). */
static void jstr(struct strbuf *b, const char *s, size_t n, int lower)
{
    char buf[256];
    size_t o = 0, at = b->len;
    const unsigned char *p = (const unsigned char *)s, *end = p + n;
    if (!lower) {
        /* A value: its plain runs (no quote, backslash, control or non-ASCII byte) found 16
         * bytes a step and copied whole; this ran a byte at a time, ~11k instructions a
         * delivery for its ~12 headers. */
        while (p < end) {
            size_t k = plain_run(p, end);
            strbuf_put(b, (const char *)p, k);
            if ((p += k) == end) break;
            unsigned c = *p;
            if (c == '"' || c == '\\') {
                char esc[2] = { '\\', (char)c };
                strbuf_put(b, esc, 2);
                p++;
            } else if (c < 0x20) {
                char u[8];
                strbuf_put(b, u, (size_t)snprintf(u, sizeof u, "\\u%04x", c));
                p++;
            } else {
                size_t t = utf8_len(p, end);       /* the decoder's rules, as below */
                if (!t) goto not_utf8;
                strbuf_put(b, (const char *)p, t);
                p += t;
            }
        }
        return;
    }
    while (p < end) {
        if (o > sizeof buf - 8) {
            strbuf_put(b, buf, o);
            o = 0;
        }
        unsigned c = *p;
        if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {
            buf[o++] = (char)(lower && c >= 'A' && c <= 'Z' ? c + 32 : c);
            p++;
        } else if (c == '"' || c == '\\') {
            buf[o++] = '\\';
            buf[o++] = (char)c;
            p++;
        } else if (c < 0x20) {
            o += (size_t)snprintf(buf + o, sizeof buf - o, "\\u%04x", c);
            p++;
        } else {
            /* the decoder's rules (jansson's): a lead and continuation bytes are not enough —
             * F5 up, overlong forms, surrogates and code points past U+10FFFF stored text
             * that no JSON reader takes (found by tests/fuzz/fuzz_headers) */
            size_t t = utf8_len(p, end);
            if (!t) goto not_utf8;
            memcpy(buf + o, p, t);
            o += t;
            p += t;
        }
    }
    strbuf_put(b, buf, o);
    return;
not_utf8:
    if (b->p && !b->oom) b->p[b->len = at] = '\0';
    strbuf_puts(b, "(not utf-8)");
}

char *ingest_headers_json(const struct evkeyvalq *h)
{
    struct strbuf b = { 0 };
    if (ingest_headers_json_to(h, &b)) {
        strbuf_free(&b);
        return NULL;
    }
    return strbuf_take(&b);
}

int ingest_headers_json_to(const struct evkeyvalq *h, struct strbuf *out)
{
    struct strbuf b = *out;
    /* The headers with their names' lengths, compared first: on the stack for any usual
     * request (a delivery has ~12 headers). */
    struct hdr { const struct evkeyval *kv; size_t len; } stack[48], *hs = stack;
    size_t n = 0, cap = sizeof stack / sizeof stack[0];
    for (const struct evkeyval *kv = h->tqh_first; kv; kv = kv->next.tqe_next) {
        if (n == cap) {
            struct hdr *bigger = malloc(2 * cap * sizeof *bigger);
            if (!bigger) goto oom;
            memcpy(bigger, hs, n * sizeof *hs);
            if (hs != stack) free(hs);
            hs = bigger;
            cap *= 2;
        }
        hs[n++] = (struct hdr){ kv, strlen(kv->key) };
    }
    int first = 1;
    strbuf_put(&b, "{", 1);
    for (size_t i = 0; i < n; i++) {
        const char *key = hs[i].kv->key;
        size_t klen = hs[i].len, j = 0;
        if (header_excluded(key, klen)) continue;
        /* A repeated header is one list-valued header (RFC 9110 5.3): emitted once, at its
         * first occurrence, with every value joined by ", ". */
        while (j < i && !(hs[j].len == klen && strcasecmp(hs[j].kv->key, key) == 0)) j++;
        if (j < i) continue;
        strbuf_put(&b, first ? "\"" : ",\"", first ? 1 : 2);
        first = 0;
        jstr(&b, key, klen, 1);
        strbuf_put(&b, "\":\"", 3);
        jstr(&b, hs[i].kv->value, strlen(hs[i].kv->value), 0);
        for (j = i + 1; j < n; j++)
            if (hs[j].len == klen && strcasecmp(hs[j].kv->key, key) == 0) {
                strbuf_put(&b, ", ", 2);
                jstr(&b, hs[j].kv->value, strlen(hs[j].kv->value), 0);
            }
        strbuf_put(&b, "\"", 1);
    }
    strbuf_put(&b, "}", 1);
    if (hs != stack) free(hs);
    *out = b;
    return b.oom ? -1 : 0;
oom:
    if (hs != stack) free(hs);
    *out = b;
    return -1;
}

static void reject(struct ingest *in, struct evhttp_request *req, enum reject r, int code,
                   const char *message)
{
    metrics_inc(in->m_rejected[r]);
    if (r == R_METHOD)
        evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", "POST");
    httpd_reply_error(req, code, message);
}

static char *put(char **p, const char *s, size_t n)
{
    char *start = *p;
    if (!s) return NULL;
    memcpy(start, s, n);
    start[n] = '\0';
    *p += n + 1;
    return start;
}

#define ITEM_ROUND 4096             /* items come in multiples of this, to be reused */
#define ITEM_SPARE_MAX 64           /* answered items kept (a batch's worth, ~256 KB) */
#define SCRATCH_KEEP (64u << 10)    /* a headers' buffer grown past this is not kept */

static struct ingest_item *item_alloc(struct ingest *in, size_t need)
{
    struct ingest_item *it = in->spare;
    if (it && it->cap >= need) {
        in->spare = it->next;
        in->nspare--;
        return it;
    }
    size_t cap = (need + ITEM_ROUND - 1) / ITEM_ROUND * ITEM_ROUND;
    if (!(it = malloc(cap))) return NULL;
    it->cap = cap;
    return it;
}

static void item_free(struct ingest *in, struct ingest_item *it)
{
    if (in->nspare < ITEM_SPARE_MAX && it->cap <= 2 * ITEM_ROUND) {
        it->next = in->spare;
        in->spare = it;
        in->nspare++;
        return;
    }
    free(it);
}

/* One allocation holding the delivery's header values, its headers' JSON and body, so the
 * writer thread reads only memory it was handed, never the request's buffers. */
static struct ingest_item *item_new(struct ingest *in, const struct ingest_delivery *d,
                                    const char *body, size_t len, const struct evkeyvalq *hdrs)
{
    const char *src[] = { d->topic, d->webhook_id, d->event_id, d->triggered_at, d->shop,
                          d->api_version };
    struct strbuf *hj = &in->scratch;
    if (hj->cap > SCRATCH_KEEP) strbuf_free(hj);
    strbuf_reset(hj);
    if (ingest_headers_json_to(hdrs, hj)) return NULL;
    size_t sz[6], total = len + 1 + hj->len + 1;
    for (int i = 0; i < 6; i++) total += (sz[i] = src[i] ? strlen(src[i]) : 0) + 1;
    struct ingest_item *it = item_alloc(in, sizeof *it + total);
    if (!it) return NULL;
    it->next = NULL;
    it->req = NULL;
    it->result = INGEST_FAILED;
    it->ev = (struct store_event){ 0 };
    char *p = it->data;
    it->ev.source = "shopify";
    it->ev.topic = put(&p, src[0], sz[0]);
    it->ev.dedupe_key = put(&p, src[1], sz[1]);
    it->ev.event_id = put(&p, src[2], sz[2]);
    it->ev.triggered_at = put(&p, src[3], sz[3]);
    it->ev.shop = put(&p, src[4], sz[4]);
    it->ev.api_version = put(&p, src[5], sz[5]);
    it->ev.body = put(&p, body, len);
    it->ev.body_len = len;
    it->ev.headers = put(&p, hj->p, hj->len);
    return it;
}

static void reply_item(struct ingest *in, struct ingest_item *it, int result)
{
    if (in->draining)
        evhttp_add_header(evhttp_request_get_output_headers(it->req), "Connection", "close");
    if (result == INGEST_STORED) {
        httpd_reply(it->req, 200, "application/json", "{\"ok\":true}\n");
    } else if (result == INGEST_DUPLICATE) {
        httpd_reply(it->req, 200, "application/json", "{\"ok\":true,\"duplicate\":true}\n");
    } else {
        metrics_inc(in->m_rejected[R_STORE]);
        httpd_reply_error(it->req, 503, "store unavailable, retry later");
    }
}

/* Loop side: hand what is pending to the writer, at the end of the loop's turn. While the
 * writer is busy with a batch, what it finds queued when it is done is its next batch: batches
 * grow with load on their own. */
static void dispatch(struct ingest *in)
{
    struct ingest_writer *w = in->writer;
    if (in->npending == 0) return;
    pthread_mutex_lock(&w->mu);
    *w->todo_tail = in->head;
    w->todo_tail = in->tail;
    w->ntodo += in->npending;
    if (w->idle) pthread_cond_signal(&w->todo_cv);
    pthread_mutex_unlock(&w->mu);
    in->outstanding += in->npending;
    in->head = NULL;
    in->tail = &in->head;
    in->npending = 0;
}

/* Loop side: answer a finished batch. */
static void complete(struct ingest *in, struct ingest_item *items, size_t n, int rc,
                     double seconds, const char *err)
{
    size_t dups = 0;
    in->outstanding -= n;
    metrics_set(in->m_pending, (double)(in->outstanding + in->npending));
    /* The commit ran on another thread; the loop's cached time is still current enough, but
     * refresh it anyway so the replies' write timeouts start from now. */
    event_base_update_cache_time(in->base);
    metrics_observe(in->m_commit_seconds, seconds);
    metrics_observe(in->m_batch, (double)n);
    for (struct ingest_item *it = items; it; it = it->next) {
        reply_item(in, it, it->result);
        dups += it->result == INGEST_DUPLICATE;
    }
    metrics_add(in->m_dedupe, (double)dups);
    if (rc) {
        metrics_inc(in->m_commit_failed);
        if (!in->last_commit_failed) log_error("ingest: commit failed", "error", err);
        in->last_commit_failed = 1;
        snprintf(in->last_error, sizeof in->last_error, "%s", err);
    } else {
        if (in->last_commit_failed) log_info("ingest: commits succeed again");
        in->last_commit_failed = 0;
        in->commits++;
        in->last_commit_ms = store_now_ms();
    }
    for (struct ingest_item *it = items, *nx; it; it = nx) {
        nx = it->next;
        item_free(in, it);
    }
}

/* Loop side: rows the writer's moves created since the last look (the engine's wake-up). */
static void take_moved(struct ingest *in)
{
    struct ingest_writer *w = in->writer;
    size_t rows = atomic_exchange(&w->moved_rows, 0);
    size_t records = atomic_exchange(&w->moved_records, 0);
    long long first = atomic_exchange(&w->moved_first, 0);
    metrics_set(in->m_log_pending, (double)atomic_load(&w->pending));
    /* Stored: the rows events got. A record that made none was a repeat of a delivery already
     * in events, staged in a burst without the store's lookup (moves_first). */
    metrics_add(in->m_moved, (double)records);
    metrics_add(in->m_stored, (double)rows);
    in->events_stored += (int64_t)rows;
    if (records > rows) metrics_add(in->m_dedupe, (double)(records - rows));
    if (rows && in->on_events_stored) in->on_events_stored(in->on_events_stored_ud, first, rows);
}

/* Answers the writer's finished batches, if there are any (wait: block until there is one). */
static void collect(struct ingest *in, int wait)
{
    struct ingest_writer *w = in->writer;
    if (!in->outstanding) return;
    pthread_mutex_lock(&w->mu);
    while (wait && !w->done) pthread_cond_wait(&w->done_cv, &w->mu);
    struct ingest_item *batches = w->done;
    w->done = NULL;
    w->done_tail = &w->done;
    pthread_mutex_unlock(&w->mu);
    for (struct ingest_item *b = batches, *nb; b; b = nb) {
        nb = b->next_batch;
        char *err = b->batch_err;
        complete(in, b, b->batch_n, b->batch_rc, b->batch_seconds, err ? err : "out of memory");
        free(err);
    }
}

static void on_done(evutil_socket_t fd, short what, void *arg)
{
    struct ingest *in = arg;
    uint64_t count;
    (void)what;
    if (read(fd, &count, sizeof count) < 0) { /* spurious wake-up: collect finds nothing */ }
    collect(in, 0);
    take_moved(in);
}

void ingest_flush(struct ingest *in)
{
    if (!in->writer) return;
    /* Until nothing is queued and nothing is with the writer. */
    dispatch(in);
    while (in->outstanding) collect(in, 1);
}

static void on_flush(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    dispatch(arg);
}

struct verdict { enum reject r; int code; const char *message; };

/* Every check that can refuse a request, cheapest first. The headers are collected in one pass,
 * but the signature is judged before any of the delivery's own claims, and the body is never
 * parsed. Returns 0 when the request is a delivery to store. */
static int validate(struct ingest *in, struct evhttp_request *req, struct ingest_delivery *d,
                    const char **body, size_t *len, struct verdict *v)
{
    const struct evkeyvalq *hdrs = evhttp_request_get_input_headers(req);
    struct evbuffer *buf = evhttp_request_get_input_buffer(req);
    *v = (struct verdict){ R_PATH, 404, "not found" };
    if (strcmp(httpd_path_ref(req), INGEST_PATH) != 0) return -1;
    *v = (struct verdict){ R_METHOD, 405, "method not allowed, use POST" };
    if (evhttp_request_get_command(req) != EVHTTP_REQ_POST) return -1;
    *len = evbuffer_get_length(buf);
    *v = (struct verdict){ R_SIZE, 413, "body too large" };
    if ((long)*len > in->cfg->server_max_body) return -1;
    *body = *len ? (const char *)evbuffer_pullup(buf, -1) : "";
    const char *why = NULL;
    int code = ingest_check_headers(hdrs, in->cfg->shopify_shop, d, &why);
    /* The signature is judged first: an unsigned request learns nothing about its headers. */
    *v = (struct verdict){ R_HMAC, 401, "invalid or missing X-Shopify-Hmac-Sha256" };
    if (ingest_verify(in->key, in->previous_key, *body, *len, d->hmac)) return -1;
    *v = (struct verdict){ code == 403 ? R_SHOP : R_HEADERS, code, why };
    return code ? -1 : 0;
}

static void on_request(struct evhttp_request *req, void *arg)
{
    struct ingest *in = arg;
    struct ingest_delivery d;
    struct ingest_item *it = NULL;
    const char *body = NULL;
    size_t len = 0;
    struct verdict v;

    if (validate(in, req, &d, &body, &len, &v)) goto refuse;
    v = (struct verdict){ R_STORE, 503, "out of memory, retry later" };
    it = item_new(in, &d, body, len, evhttp_request_get_input_headers(req));
    if (!it) goto refuse;
    it->req = req;
    *in->tail = it;
    in->tail = &it->next;
    if (in->npending++ == 0) event_active(in->flush_ev, 0, 0);
    metrics_set(in->m_pending, (double)(in->outstanding + in->npending));
    return;
refuse:
    reject(in, req, v.r, v.code, v.message);
}

int ingest_ready(void *ud, char *why, size_t whylen)
{
    struct ingest *in = ud;
    struct ingest_writer *w = in->writer;
    if (in->last_commit_failed) {
        snprintf(why, whylen, "last commit failed: %s", in->last_error);
        return -1;
    }
    if (!w || !atomic_load(&w->move_failed)) return 0;
    pthread_mutex_lock(&w->mu);
    snprintf(why, whylen, "cannot move acknowledged deliveries into events: %s", w->move_err);
    pthread_mutex_unlock(&w->mu);
    return -1;
}

void ingest_status(void *ud, json_t *status)
{
    struct ingest *in = ud;
    json_t *listeners = json_object_get(status, "listeners");
    if (listeners) json_object_set_new(listeners, "public", json_string(in->listener.addr));
    json_object_set_new(status, "events_stored", json_integer(in->events_stored));
    json_object_set_new(status, "intake_pending",
                        json_integer(in->writer ? (json_int_t)atomic_load(&in->writer->pending) : 0));
    json_object_set_new(status, "commits", json_integer(in->commits));
    json_object_set_new(status, "last_commit_ms",
                        in->last_commit_ms ? json_integer(in->last_commit_ms) : json_null());
    json_object_set_new(status, "last_commit_ok", json_boolean(!in->last_commit_failed));
}

static void register_metrics(struct ingest *in, struct metrics *m)
{
    in->m_stored = metrics_counter(m, "ezsync_events_stored_total", "source=\"shopify\"",
                                   "events the store took in (rows created in events)");
    in->m_dedupe = metrics_counter(m, "ezsync_webhook_dedupe_hits_total", NULL,
                                   "repeated webhook deliveries (answered 200, nothing stored): found "
                                   "before the reply, or dropped when moved into events");
    in->m_commit_seconds = metrics_histogram(m, "ezsync_ingest_commit_seconds", NULL,
                                             "time to commit one group of webhook deliveries",
                                             metrics_latency_buckets, metrics_latency_nbuckets);
    in->m_batch = metrics_histogram(m, "ezsync_ingest_batch_size", NULL,
                                    "webhook deliveries per group commit",
                                    metrics_size_buckets, metrics_size_nbuckets);
    in->m_commit_failed = metrics_counter(m, "ezsync_ingest_commit_failures_total", NULL,
                                          "group commits that failed (every delivery got 503)");
    in->m_pending = metrics_gauge(m, "ezsync_ingest_pending", NULL,
                                  "verified deliveries not yet answered (queued or being committed)");
    in->m_moved = metrics_counter(m, "ezsync_ingest_intake_moved_total", NULL,
                                  "deliveries moved from the intake log into events (repeats "
                                  "dropped there included)");
    in->m_log_pending = metrics_gauge(m, "ezsync_ingest_intake_pending", NULL,
                                      "acknowledged deliveries in the intake log, not yet in events");
    for (int r = 0; r < (int)(sizeof in->m_rejected / sizeof in->m_rejected[0]); r++) {
        char labels[48];
        snprintf(labels, sizeof labels, "reason=\"%s\"", reject_names[r]);
        in->m_rejected[r] = metrics_counter(m, "ezsync_webhook_rejected_total", labels,
                                            "webhook requests refused, by reason");
    }
}

int ingest_start(struct ingest *in, struct event_base *base, const struct config *cfg,
                 struct metrics *m, char *err, size_t errlen)
{
    memset(in, 0, sizeof *in);
    in->base = base;
    in->cfg = cfg;
    in->metrics = m;
    in->tail = &in->head;
    register_metrics(in, m);
    in->flush_ev = event_new(base, -1, 0, on_flush, in);
    if (!in->flush_ev) {
        snprintf(err, errlen, "ingest: out of memory");
        return -1;
    }
    if (!(in->writer = ingest_writer_new(base, cfg->store_path, on_done, in, err, errlen))) goto fail;
    if (!(in->ckpt = checkpointer_start(cfg->store_path, err, errlen))) goto fail;
    in->writer->ckpt = in->ckpt;   /* before any batch: the hand-over's mutex publishes it */
    if (!cfg->shopify_webhook_secret || !*cfg->shopify_webhook_secret)
        log_warn("shopify.webhook_secret is not set: every webhook will be refused (401)");
    /* NULL for an unset secret, which then verifies nothing. */
    in->key = hmac_key_new(cfg->shopify_webhook_secret);
    in->previous_key = hmac_key_new(cfg->shopify_previous_webhook_secret);
    if ((cfg->shopify_webhook_secret && *cfg->shopify_webhook_secret && !in->key) ||
        (cfg->shopify_previous_webhook_secret && *cfg->shopify_previous_webhook_secret &&
         !in->previous_key)) {
        snprintf(err, errlen, "ingest: cannot set up HMAC-SHA256");
        goto fail;
    }
    if (!cfg->shopify_shop || !*cfg->shopify_shop)
        log_warn("shopify.shop is not set: every webhook will be refused (403)");
    if (httpd_listen(&in->listener, base, "public", cfg->server_listen, cfg->server_timeout_ms,
                     cfg->server_max_body, on_request, in, m, err, errlen))
        goto fail;
    return 0;
fail:
    hmac_key_free(in->key);
    hmac_key_free(in->previous_key);
    in->key = in->previous_key = NULL;
    checkpointer_stop(in->ckpt);
    in->ckpt = NULL;
    ingest_writer_free(in->writer);
    in->writer = NULL;
    event_free(in->flush_ev);
    in->flush_ev = NULL;
    return -1;
}

void ingest_stop_accepting(struct ingest *in)
{
    in->draining = 1;
    httpd_stop_accepting(&in->listener);
}

void ingest_close(struct ingest *in)
{
    /* Answer what is queued or in the writer before the connections go away. */
    ingest_flush(in);
    httpd_close(&in->listener);
    ingest_writer_free(in->writer);
    in->writer = NULL;
    checkpointer_stop(in->ckpt);
    in->ckpt = NULL;
    if (in->flush_ev) event_free(in->flush_ev);
    in->flush_ev = NULL;
    hmac_key_free(in->key);
    hmac_key_free(in->previous_key);
    in->key = in->previous_key = NULL;
    while (in->spare) {
        struct ingest_item *nx = in->spare->next;
        free(in->spare);
        in->spare = nx;
    }
    in->nspare = 0;
    strbuf_free(&in->scratch);
}
