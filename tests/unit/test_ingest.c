/* Unit tests for src/ingest.c: header validation, the stored header JSON, signature check with
 * a rotating secret, the batch commit (dedupe inside and across batches, failure answers
 * nothing as stored), and group commit over real sockets: deliveries read in one loop turn
 * share one transaction (on the writer thread), and the on_events_stored hook sees their
 * consecutive ids. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "config.h"
#include "hmac.h"
#include "engine.h"
#include "ingest.h"
#include "ingest_internal.h"
#include "intake.h"
#include "log.h"
#include "metrics.h"
#include "store.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SHOP "test.myshopify.com"
#define SECRET "shpss_testsecret"

static struct evkeyvalq *headers_new(void)
{
    struct evkeyvalq *h = calloc(1, sizeof *h);
    h->tqh_first = NULL;  /* TAILQ_INIT without <sys/queue.h> */
    h->tqh_last = &h->tqh_first;
    return h;
}

static void headers_free(struct evkeyvalq *h)
{
    evhttp_clear_headers(h);
    free(h);
}

static struct evkeyvalq *good_headers(void)
{
    struct evkeyvalq *h = headers_new();
    evhttp_add_header(h, "x-shopify-topic", "orders/create");          /* lower case: HTTP/2 */
    evhttp_add_header(h, "X-Shopify-Shop-Domain", "Test.MyShopify.com");
    evhttp_add_header(h, "X-SHOPIFY-WEBHOOK-ID", "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043");
    evhttp_add_header(h, "X-Shopify-API-Version", "2026-10");
    evhttp_add_header(h, "X-Shopify-Event-Id", "98880550-7158-44d4-b7cd-2c97c8a091b5");
    evhttp_add_header(h, "X-Shopify-Hmac-Sha256", "Cpb1s9hB/iaH7ZiOZWOsSo6eDk862X7MR244j1d+m+k=");
    return h;
}

static void test_headers_ok(void **state)
{
    (void)state;
    struct evkeyvalq *h = good_headers();
    struct ingest_delivery d;
    const char *why = "unset";
    assert_int_equal(ingest_check_headers(h, SHOP, &d, &why), 0);
    assert_null(why);
    assert_string_equal(d.topic, "orders/create");
    assert_string_equal(d.webhook_id, "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043");
    assert_string_equal(d.event_id, "98880550-7158-44d4-b7cd-2c97c8a091b5");
    assert_null(d.triggered_at);
    headers_free(h);
}

static void test_headers_missing_each(void **state)
{
    (void)state;
    static const char *required[] = { "X-Shopify-Topic", "X-Shopify-Shop-Domain",
                                      "X-Shopify-Webhook-Id", "X-Shopify-API-Version" };
    for (size_t i = 0; i < 4; i++) {
        struct evkeyvalq *h = good_headers();
        struct ingest_delivery d;
        const char *why = NULL;
        evhttp_remove_header(h, required[i]);
        assert_int_equal(ingest_check_headers(h, SHOP, &d, &why), 400);
        assert_non_null(strstr(why, required[i]));
        headers_free(h);
        /* present but empty counts as missing */
        h = good_headers();
        evhttp_remove_header(h, required[i]);
        evhttp_add_header(h, required[i], "");
        assert_int_equal(ingest_check_headers(h, SHOP, &d, &why), 400);
        headers_free(h);
    }
}

static void test_headers_shop(void **state)
{
    (void)state;
    struct evkeyvalq *h = good_headers();
    struct ingest_delivery d;
    const char *why = NULL;
    assert_int_equal(ingest_check_headers(h, "other.myshopify.com", &d, &why), 403);
    assert_string_equal(why, "unknown shop");
    assert_int_equal(ingest_check_headers(h, NULL, &d, &why), 403);
    assert_int_equal(ingest_check_headers(h, "", &d, &why), 403);
    evhttp_remove_header(h, "X-Shopify-Shop-Domain");
    evhttp_add_header(h, "X-Shopify-Shop-Domain", SHOP ".evil.com");
    assert_int_equal(ingest_check_headers(h, SHOP, &d, &why), 403);
    headers_free(h);
}

static void test_headers_json(void **state)
{
    (void)state;
    struct evkeyvalq *h = good_headers();
    evhttp_add_header(h, "Authorization", "Bearer nope");
    evhttp_add_header(h, "X-Custom", "a");
    evhttp_add_header(h, "x-custom", "b \"quoted\"");
    char *json = ingest_headers_json(h);
    assert_non_null(json);
    assert_null(strstr(json, "hmac"));
    assert_null(strstr(json, "Cpb1s9hB"));
    assert_null(strstr(json, "authorization"));
    assert_non_null(strstr(json, "\"x-custom\":\"a, b \\\"quoted\\\"\""));
    assert_non_null(strstr(json, "\"x-shopify-topic\":\"orders/create\""));
    assert_int_equal(json[0], '{');
    free(json);
    headers_free(h);

    /* control characters are escaped; bytes that are not UTF-8 are replaced, not stored */
    h = headers_new();
    evhttp_add_header(h, "X-Tab", "a\tb\\c");
    evhttp_add_header(h, "X-Latin1", "caf\xe9");
    evhttp_add_header(h, "X-Utf8", "caf\xc3\xa9");
    json = ingest_headers_json(h);
    assert_string_equal(json, "{\"x-tab\":\"a\\u0009b\\\\c\",\"x-latin1\":\"(not utf-8)\","
                              "\"x-utf8\":\"caf\xc3\xa9\"}");
    free(json);
    headers_free(h);
    h = headers_new();
    json = ingest_headers_json(h);
    assert_string_equal(json, "{}");
    free(json);
    headers_free(h);

    /* Names compare without case, excluded ones in any case; a sequence cut short, an overlong
     * lead byte, a stray continuation byte, a lead past F4, an overlong 3-byte form, a
     * surrogate and a code point past U+10FFFF are not UTF-8; DEL and 4-byte UTF-8 pass. The
     * text is JSON jansson reads back. */
    h = headers_new();
    evhttp_add_header(h, "COOKIE", "c=1");
    evhttp_add_header(h, "x-shopify-hmac-sha256", "sig");
    evhttp_add_header(h, "X-A", "1");
    evhttp_add_header(h, "X-Cut", "caf\xc3");
    evhttp_add_header(h, "X-Over", "\xc0\xaf");
    evhttp_add_header(h, "X-Cont", "a\x80" "b");
    evhttp_add_header(h, "X-AB", "2");
    evhttp_add_header(h, "x-a", "3");
    evhttp_add_header(h, "X-Ok", "\x7f \xf0\x9f\x98\x80 Q\"");
    evhttp_add_header(h, "X-a", "4");
    evhttp_add_header(h, "X-F5", "\xf5\x80\x80\x80");
    evhttp_add_header(h, "X-E0", "\xe0\x80\xaf");
    evhttp_add_header(h, "X-Sur", "\xed\xa0\x80");
    evhttp_add_header(h, "X-Big", "\xf4\x90\x80\x80");
    json = ingest_headers_json(h);
    assert_string_equal(json, "{\"x-a\":\"1, 3, 4\",\"x-cut\":\"(not utf-8)\","
                              "\"x-over\":\"(not utf-8)\",\"x-cont\":\"(not utf-8)\","
                              "\"x-ab\":\"2\",\"x-ok\":\"\x7f \xf0\x9f\x98\x80 Q\\\"\","
                              "\"x-f5\":\"(not utf-8)\",\"x-e0\":\"(not utf-8)\","
                              "\"x-sur\":\"(not utf-8)\",\"x-big\":\"(not utf-8)\"}");
    json_t *back = json_loads(json, 0, NULL);
    assert_non_null(back);
    json_decref(back);
    free(json);
    headers_free(h);

    /* More headers than fit on the stack (48): every one kept, repeats still joined. */
    h = headers_new();
    char name[16], value[16];
    for (int i = 0; i < 100; i++) {
        snprintf(name, sizeof name, "X-H%d", i % 60);
        snprintf(value, sizeof value, "v%d", i);
        evhttp_add_header(h, name, value);
    }
    json = ingest_headers_json(h);
    assert_non_null(strstr(json, "\"x-h0\":\"v0, v60\""));
    assert_non_null(strstr(json, "\"x-h59\":\"v59\"}"));
    assert_non_null(strstr(json, "\"x-h39\":\"v39, v99\""));
    free(json);
    headers_free(h);
}

static void test_verify_rotation(void **state)
{
    (void)state;
    const char *body = "{\"id\":820982911946154508,\"name\":\"#1001\"}";
    const char *sig = "Cpb1s9hB/iaH7ZiOZWOsSo6eDk862X7MR244j1d+m+k=";
    size_t n = strlen(body);
    struct hmac_key *old = hmac_key_new(SECRET), *fresh = hmac_key_new("new-secret");
    assert_non_null(old);
    assert_non_null(fresh);
    assert_null(hmac_key_new(""));                                   /* unset: no key */
    assert_int_equal(ingest_verify(old, NULL, body, n, sig), 0);
    assert_int_equal(ingest_verify(fresh, old, body, n, sig), 0);    /* rotation */
    assert_int_equal(ingest_verify(fresh, NULL, body, n, sig), 401);
    assert_int_equal(ingest_verify(old, NULL, body, n, NULL), 401);
    assert_int_equal(ingest_verify(old, NULL, body, n, ""), 401);
    assert_int_equal(ingest_verify(NULL, NULL, body, n, sig), 401);
    assert_int_equal(ingest_verify(old, NULL, body, n - 1, sig), 401);
    hmac_key_free(old);
    hmac_key_free(fresh);
}

static struct store *open_store(const char *name)
{
    char path[512], err[512];
    const char *dir = getenv("EZSYNC_TEST_TMP");
    snprintf(path, sizeof path, "%s/%s", dir ? dir : "/tmp", name);
    unlink(path);
    /* and what a run before left beside it: its intake log would be replayed into this one */
    for (int i = 0; i < 3; i++) {
        char side[600];
        snprintf(side, sizeof side, "%s%s", path, (const char *[]){ "-wal", "-shm", "-intake" }[i]);
        unlink(side);
    }
    struct store *st = NULL;
    assert_int_equal(store_open(&st, path, 0, err, sizeof err), 0);
    return st;
}

static struct store_event event(const char *key)
{
    return (struct store_event){ .source = "shopify", .topic = "orders/create",
                                 .dedupe_key = key, .headers = "{}",
                                 .body = "{\"id\":820982911946154508}", .body_len = 25 };
}

static struct intake *open_log(const char *name)
{
    char path[512], err[512];
    const char *dir = getenv("EZSYNC_TEST_TMP");
    snprintf(path, sizeof path, "%s/%s", dir ? dir : "/tmp", name);
    unlink(path);
    struct intake *ik = intake_open(path, err, sizeof err);
    assert_non_null(ik);
    return ik;
}

/* Moves everything the log holds; returns the rows created. */
static size_t move_all(struct intake *ik, struct store *st)
{
    size_t total = 0, rows;
    int64_t first, last;
    char err[256];
    while (intake_pending(ik)) {
        assert_true(intake_move(ik, st, 1000, &rows, &first, &last, err, sizeof err) > 0);
        total += rows;
    }
    return total;
}

static void test_accept_batch(void **state)
{
    (void)state;
    struct store *st = open_store("batch.db");
    struct intake *ik = open_log("batch.db-intake");
    struct store_event a = event("a"), b = event("b"), a2 = event("a"), c = event("c");
    struct store_event *evs[] = { &a, &b, &a2 };
    int res[3];
    char err[256];
    assert_int_equal(ingest_accept_batch(st, ik, evs, res, 3, 1, err, sizeof err), 0);
    assert_int_equal(res[0], INGEST_STORED);
    assert_int_equal(res[1], INGEST_STORED);
    assert_int_equal(res[2], INGEST_DUPLICATE);     /* duplicate inside one batch */
    /* Acknowledged means in the log; events get them when the writer moves them. */
    assert_int_equal(intake_pending(ik), 2);
    assert_int_equal(store_event_count(st), 0);
    struct store_event b2 = event("b");
    c.topic = "products/update";
    struct store_event *evs2[] = { &c, &b2 };
    assert_int_equal(ingest_accept_batch(st, ik, evs2, res, 2, 1, err, sizeof err), 0);
    assert_int_equal(res[0], INGEST_STORED);
    assert_int_equal(res[1], INGEST_DUPLICATE);     /* duplicate of one still in the log */
    assert_int_equal(move_all(ik, st), 3);
    assert_int_equal(store_event_count(st), 3);
    struct store_event b3 = event("b");
    struct store_event *evs4[] = { &b3 };
    assert_int_equal(ingest_accept_batch(st, ik, evs4, res, 1, 1, err, sizeof err), 0);
    assert_int_equal(res[0], INGEST_DUPLICATE);     /* duplicate of one in events */
    assert_int_equal(intake_pending(ik), 0);
    /* Each event in the backlog lane of its topic's priority (orders/create 0,
     * products/update 3), no job yet; a body no job could use is stored all the same (it was
     * acknowledged). */
    struct store_event d = event("d");
    d.body = "{\"name\":\"#1001\"}";
    d.body_len = strlen(d.body);
    struct store_event *evs3[] = { &d };
    assert_int_equal(ingest_accept_batch(st, ik, evs3, res, 1, 1, err, sizeof err), 0);
    assert_int_equal(res[0], INGEST_STORED);
    assert_int_equal(move_all(ik, st), 1);
    struct store_event *bl;
    size_t n;
    assert_int_equal(store_backlog_read(st, 10, SIZE_MAX, &bl, &n), 0);
    assert_int_equal(n, 4);
    const char *want[] = { "a", "b", "d", "c" };    /* lane 0 by arrival, then lane 3 */
    int lanes[] = { 0, 0, 0, 3 };
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(bl[i].dedupe_key, want[i]);
        assert_int_equal(bl[i].lane, lanes[i]);
        struct store_job j;
        assert_int_equal(store_job_by_event(st, bl[i].id, &j), STORE_NOTFOUND);
    }
    assert_string_equal(bl[2].body, "{\"name\":\"#1001\"}");
    store_events_free(bl, n);
    int64_t depth[STORE_JOB_NPRIORITIES], oldest = 0;
    assert_int_equal(store_backlog_depth(st, depth, &oldest), 0);
    assert_int_equal(depth[0], 3);
    assert_int_equal(depth[3], 1);
    assert_true(oldest > 0);
    intake_close(ik);
    store_close(st);
}

/* In a burst (no store lookup) a repeat of a delivery already in events is staged like a new
 * one, and the move drops it: events keep one row per webhook id, and the move says the
 * record made none. A repeat still in the log is caught either way. */
static void test_accept_batch_burst(void **state)
{
    (void)state;
    char err[256];
    struct store *st = open_store("burst.db");
    struct intake *ik = open_log("burst.db-intake");
    struct store_event a = event("a");
    struct store_event *evs[] = { &a };
    int res[2];
    assert_int_equal(ingest_accept_batch(st, ik, evs, res, 1, 0, err, sizeof err), 0);
    assert_int_equal(move_all(ik, st), 1);
    struct store_event a2 = event("a"), b = event("b"), b2 = event("b");
    struct store_event *evs2[] = { &a2, &b };
    assert_int_equal(ingest_accept_batch(st, ik, evs2, res, 2, 0, err, sizeof err), 0);
    assert_int_equal(res[0], INGEST_STORED);        /* not looked up: in the log */
    assert_int_equal(res[1], INGEST_STORED);
    struct store_event *evs3[] = { &b2 };
    assert_int_equal(ingest_accept_batch(st, ik, evs3, res, 1, 0, err, sizeof err), 0);
    assert_int_equal(res[0], INGEST_DUPLICATE);     /* the log's own index, still checked */
    assert_int_equal(intake_pending(ik), 2);
    size_t rows = 0;
    int64_t first = 0, last = 0;
    assert_int_equal(intake_move(ik, st, 1000, &rows, &first, &last, err, sizeof err), 2);
    assert_int_equal(rows, 1);                      /* "a" dropped, "b" stored */
    assert_int_equal(store_event_count(st), 2);
    /* With the lookup, the same repeat is answered as one and never reaches the log. */
    struct store_event a3 = event("a");
    struct store_event *evs4[] = { &a3 };
    assert_int_equal(ingest_accept_batch(st, ik, evs4, res, 1, 1, err, sizeof err), 0);
    assert_int_equal(res[0], INGEST_DUPLICATE);
    assert_int_equal(intake_pending(ik), 0);
    intake_close(ik);
    store_close(st);
}

/* A log that cannot be written: every delivery of the batch fails (503), none counts as held,
 * and the next batch, on a log that works, stores them. */
static void test_accept_batch_failure(void **state)
{
    (void)state;
    char err[512];
    struct store *st = open_store("full.db");
    struct intake *ik = intake_open("/dev/full", err, sizeof err);
    assert_non_null(ik);
    struct store_event a = event("a"), b = event("b");
    struct store_event *evs[] = { &a, &b };
    int res[2] = { -1, -1 };
    assert_int_equal(ingest_accept_batch(st, ik, evs, res, 2, 1, err, sizeof err), -1);
    assert_int_equal(res[0], INGEST_FAILED);
    assert_int_equal(res[1], INGEST_FAILED);
    assert_non_null(strstr(err, "/dev/full"));
    assert_int_equal(intake_pending(ik), 0);
    assert_int_equal(intake_holds(ik, "a", err, sizeof err), 0);
    intake_close(ik);
    ik = open_log("full.db-intake");
    assert_int_equal(ingest_accept_batch(st, ik, evs, res, 2, 1, err, sizeof err), 0);
    assert_int_equal(res[0], INGEST_STORED);
    assert_int_equal(res[1], INGEST_STORED);
    assert_int_equal(move_all(ik, st), 2);
    intake_close(ik);
    store_close(st);
}

/* When deliveries go on into events before their replies: while the engine is short of work,
 * or the log is past its bounds; in a burst (a backlog to work on) not, and never for nothing
 * or on a backlog that could not be read. */
static void test_move_policy(void **state)
{
    (void)state;
    assert_int_equal(ingest_must_move(0, 0, 0), 0);                       /* nothing to move */
    assert_int_equal(ingest_must_move(1, 3000, 0), 1);                    /* quiet: feed it */
    assert_int_equal(ingest_must_move(500, 1 << 20, INGEST_FEED_BACKLOG - 1), 1);
    assert_int_equal(ingest_must_move(500, 1 << 20, INGEST_FEED_BACKLOG), 0);   /* a burst */
    assert_int_equal(ingest_must_move(500, 1 << 20, -1), 0);              /* unreadable */
    assert_int_equal(ingest_must_move(INGEST_LOG_MAX_RECORDS - 1, 1 << 20, 1 << 30), 0);
    assert_int_equal(ingest_must_move(INGEST_LOG_MAX_RECORDS, 1 << 20, 1 << 30), 1);
    assert_int_equal(ingest_must_move(10, INGEST_LOG_MAX_BYTES - 1, 1 << 30), 0);
    assert_int_equal(ingest_must_move(10, INGEST_LOG_MAX_BYTES, 1 << 30), 1);
    assert_int_equal(ingest_must_move(10, INGEST_LOG_MAX_BYTES, -1), 1);  /* bounds alone */
}

/* ---- group commit over real sockets ---- */

#define NREQ 24

struct client {
    struct event_base *base;
    struct store *st;
    int done, ok;
    int64_t hook_first[NREQ];
    size_t hook_n[NREQ], hooks;
};

static size_t hooked(const struct client *c)
{
    size_t total = 0;
    for (size_t i = 0; i < c->hooks && i < NREQ; i++) total += c->hook_n[i];
    return total;
}

static void on_reply(struct evhttp_request *req, void *arg)
{
    struct client *c = arg;
    if (req && evhttp_request_get_response_code(req) == 200) c->ok++;
    if (++c->done == NREQ && hooked(c) >= NREQ - 2) event_base_loopexit(c->base, NULL);
}

static void on_stored(void *ud, int64_t first, size_t n)
{
    struct client *c = ud;
    if (c->hooks < NREQ) {
        c->hook_first[c->hooks] = first;
        c->hook_n[c->hooks] = n;
    }
    c->hooks++;
    if (c->done == NREQ && hooked(c) >= NREQ - 2) event_base_loopexit(c->base, NULL);
}

static void send_delivery(struct client *c, struct evhttp_connection *conn, int i)
{
    char body[64], id[32], sig[HMAC_B64_LEN + 1];
    snprintf(body, sizeof body, "{\"id\":%d}", i);
    snprintf(id, sizeof id, "wh-%d", i % (NREQ - 2));   /* the last two repeat earlier ids */
    hmac_shopify_sign(SECRET, body, strlen(body), sig);
    struct evhttp_request *req = evhttp_request_new(on_reply, c);
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Host", "127.0.0.1");
    evhttp_add_header(h, "X-Shopify-Hmac-Sha256", sig);
    evhttp_add_header(h, "X-Shopify-Topic", "orders/create");
    evhttp_add_header(h, "X-Shopify-Shop-Domain", SHOP);
    evhttp_add_header(h, "X-Shopify-Webhook-Id", id);
    evhttp_add_header(h, "X-Shopify-API-Version", "2026-10");
    evbuffer_add(evhttp_request_get_output_buffer(req), body, strlen(body));
    evhttp_make_request(conn, req, EVHTTP_REQ_POST, INGEST_PATH);
}

static void test_group_commit(void **state)
{
    (void)state;
    struct config cfg;
    char err[512];
    config_defaults(&cfg);
    free(cfg.server_listen);
    cfg.server_listen = strdup("127.0.0.1:0");
    cfg.shopify_shop = strdup(SHOP);
    cfg.shopify_webhook_secret = strdup(SECRET);
    log_setup(LOG_WARN, LOG_LOGFMT, NULL);

    struct store *st = open_store("group.db");
    free(cfg.store_path);
    {
        char path[512];
        const char *dir = getenv("EZSYNC_TEST_TMP");
        snprintf(path, sizeof path, "%s/group.db", dir ? dir : "/tmp");
        cfg.store_path = strdup(path);
    }
    struct event_base *base = event_base_new();
    struct metrics *m = metrics_new();
    struct ingest in;
    struct client c = { .base = base };
    assert_int_equal(ingest_start(&in, base, &cfg, m, err, sizeof err), 0);
    in.on_events_stored = on_stored;
    in.on_events_stored_ud = &c;

    struct evhttp_connection *conns[NREQ];
    for (int i = 0; i < NREQ; i++) {
        conns[i] = evhttp_connection_base_new(base, NULL, "127.0.0.1",
                                              (ev_uint16_t)in.listener.port);
        send_delivery(&c, conns[i], i);
    }
    struct timeval limit = { 10, 0 };
    event_base_loopexit(base, &limit);
    event_base_dispatch(base);

    assert_int_equal(c.done, NREQ);
    assert_int_equal(c.ok, NREQ);                      /* duplicates are answered 200 too */
    assert_int_equal(in.events_stored, NREQ - 2);
    /* Fewer syncs than deliveries: requests read in one turn shared one. */
    assert_true(in.commits >= 1);
    assert_true(in.commits < NREQ);
    /* The writer moved them into events (the engine's backlog is empty: at once), and the
     * hook saw every new row exactly once. */
    assert_int_equal(hooked(&c), NREQ - 2);
    assert_int_equal(c.hook_first[0], 1);
    assert_int_equal(store_event_count(st), NREQ - 2);
    print_message("group commit: %d deliveries in %lld commits\n", NREQ, (long long)in.commits);

    for (int i = 0; i < NREQ; i++) evhttp_connection_free(conns[i]);
    ingest_close(&in);
    metrics_free(m);
    event_base_free(base);
    store_close(st);
    config_free(&cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_headers_ok),       cmocka_unit_test(test_headers_missing_each),
        cmocka_unit_test(test_headers_shop),     cmocka_unit_test(test_headers_json),
        cmocka_unit_test(test_verify_rotation),  cmocka_unit_test(test_accept_batch),
        cmocka_unit_test(test_accept_batch_burst),
        cmocka_unit_test(test_accept_batch_failure), cmocka_unit_test(test_move_policy), cmocka_unit_test(test_group_commit),
    };
    return cmocka_run_group_tests_name("ingest", tests, NULL, NULL);
}
