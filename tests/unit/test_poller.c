/* Unit tests for src/poller.c: a fake remote answering list pages (matched on path and body),
 * the real loop and a real SQLite file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "config.h"
#include "engine_fakes.h"
#include "log.h"
#include "poller.h"
#include "store.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- a remote that answers by substring of path + body ---- */

struct answer { const char *match; int cls; const char *body; };

struct pfake {
    struct event_base *base;
    struct answer answers[32];
    int nanswers;
    int ncalls;
    char calls[64][700];
    int prios[64];
};

struct pending { struct event *ev; engine_send_done done; void *cbud; int cls; const char *body; };

static void answer_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct pending *p = arg;
    p->done(p->cbud, p->cls, p->cls ? 503 : 200, p->body, p->cls ? "HTTP 503" : NULL, 0);
    event_free(p->ev);
    free(p);
}

static int pfake_send(void *ud, const struct engine_io *io, int priority, const char *idem_key,
                      engine_send_done done, void *cbud)
{
    struct pfake *f = ud;
    assert_null(idem_key);
    char all[700];
    snprintf(all, sizeof all, "%s %s", io->path, io->body ? io->body : "");
    if (f->ncalls < 64) {
        snprintf(f->calls[f->ncalls], sizeof f->calls[0], "%s", all);
        f->prios[f->ncalls] = priority;
    }
    f->ncalls++;
    struct pending *p = calloc(1, sizeof *p);
    p->done = done;
    p->cbud = cbud;
    p->body = "{\"data\":[],\"meta\":{\"page\":1,\"totalPages\":1}}";
    /* the last matching answer wins, so a test can override earlier ones */
    for (int i = 0; i < f->nanswers; i++)
        if (strstr(all, f->answers[i].match)) {
            p->cls = f->answers[i].cls;
            p->body = f->answers[i].body;
        }
    p->ev = evtimer_new(f->base, answer_cb, p);
    struct timeval tv = { 0, 500 };
    evtimer_add(p->ev, &tv);
    return 0;
}

static void on(struct pfake *f, const char *match, const char *body)
{
    struct answer a = { match, 0, body };
    f->answers[f->nanswers++] = a;
}

static int count_calls(struct pfake *f, const char *sub)
{
    int n = 0;
    for (int i = 0; i < f->ncalls && i < 64; i++) n += strstr(f->calls[i], sub) != NULL;
    return n;
}

/* ---- fixture ---- */

struct fx {
    char path[600];
    struct store *st;
    struct event_base *base;
    struct config cfg;
    struct pfake rem;
    struct poller *p;
    int notified, finished, ok;
};

static void notify_cb(void *ud) { ((struct fx *)ud)->notified++; }

static void fx_open(struct fx *f, const char *name)
{
    char err[512];
    const char *dir = getenv("EZSYNC_TEST_TMP");
    memset(f, 0, sizeof *f);
    snprintf(f->path, sizeof f->path, "%s/poller-%s-%d.db", dir && *dir ? dir : "/tmp", name,
             (int)getpid());
    unlink(f->path);
    assert_int_equal(store_open(&f->st, f->path, 0, err, sizeof err), 0);
    f->base = event_base_new();
    f->rem.base = f->base;
    config_defaults(&f->cfg);
    struct engine_remotes r = { &f->rem, pfake_send };
    f->p = poller_new(f->base, f->st, &f->cfg, &r, notify_cb, f);
    assert_non_null(f->p);
}

static void fx_close(struct fx *f)
{
    poller_free(f->p);
    store_close(f->st);
    event_base_free(f->base);
    config_free(&f->cfg);
    unlink(f->path);
}

static void cycle_done(void *ud, int ok)
{
    struct fx *f = ud;
    f->finished++;
    f->ok = ok;
}

static int finished(void *ud) { return ((struct fx *)ud)->finished > 0; }

/* Runs one cycle; returns how many events it stored. */
static int64_t cycle(struct fx *f, int shopify)
{
    int64_t before = store_event_count(f->st);
    f->finished = 0;
    if (shopify) assert_int_equal(poller_run_shopify(f->p, cycle_done, f), 0);
    else assert_int_equal(poller_run_orderez(f->p, cycle_done, f), 0);
    assert_true(fake_run_until(f->base, finished, f, 3000));
    return store_event_count(f->st) - before;
}

/* The newest n events' topics, oldest first, joined by spaces. */
static void last_topics(struct fx *f, int64_t n, char *out, size_t len)
{
    int64_t total = store_event_count(f->st);
    out[0] = '\0';
    for (int64_t id = total - n + 1; id <= total; id++) {
        struct store_event ev;
        assert_int_equal(store_event_get(f->st, id, &ev), 0);
        snprintf(out + strlen(out), len - strlen(out), "%s%s", out[0] ? " " : "", ev.topic);
        store_event_free(&ev);
    }
}

/* ---- tests ---- */

static void test_time_parse(void **state)
{
    (void)state;
    int64_t ms;
    assert_int_equal(poller_time_parse("2025-01-01T00:00:00Z", &ms), 0);
    assert_int_equal(ms, 1735689600000LL);
    assert_int_equal(poller_time_parse("2025-01-01T00:00:00.250Z", &ms), 0);
    assert_int_equal(ms, 1735689600250LL);
    assert_int_equal(poller_time_parse("2024-12-31T19:00:00-05:00", &ms), 0);
    assert_int_equal(ms, 1735689600000LL);
    assert_int_equal(poller_time_parse("2025-01-01T05:30:00+0530", &ms), 0);
    assert_int_equal(ms, 1735689600000LL);
    assert_int_equal(poller_time_parse("2025-01-01", &ms), -1);
    assert_int_equal(poller_time_parse("2025-01-01T00:00:00 junk", &ms), -1);
    /* each field its digits within its range: timegm made these some other time */
    static const char *bad[] = {
        "2025-13-01T00:00:00Z", "2025-00-10T00:00:00Z", "2025-01-32T00:00:00Z",
        "2025-01-01T24:00:00Z", "2025-01-01T00:60:00Z", "2025-01-01T00:00:61Z",
        "2025- 1-01T00:00:00Z", "2025-01--1T00:00:00Z", "+025-01-01T00:00:00Z",
        "2025-01-01T00:00:00+24:00", "2025-01-01T00:00:00+05:60", "2025-01-01T00:00:00+5",
        "2025-01-01T00:00:00+05:30x", "2025-01-01T00:00:00Zx", "2025-01-01T00:00:00.Z",
        "2025-01-01T00:00:0", "",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        if (poller_time_parse(bad[i], &ms) != -1) fail_msg("accepted %s", bad[i]);
    assert_int_equal(poller_time_parse("2025-01-01t00:00:00.5z", &ms), 0);
    assert_int_equal(ms, 1735689600500LL);
    assert_int_equal(poller_time_parse("2024-12-31T23:00:00", &ms), 0);   /* no zone: UTC */
    assert_int_equal(ms, 1735686000000LL);
    char buf[40];
    poller_time_format(1735689600250LL, buf, sizeof buf);
    assert_string_equal(buf, "2025-01-01T00:00:00.250Z");
}

static const char page1_v1[] =
    "{\"data\":[{\"id\":1,\"status\":\"accepted\",\"updatedAt\":\"2025-03-01T10:00:00Z\"},"
    "{\"id\":820982911946154508,\"status\":\"pending\",\"updatedAt\":\"2025-03-01T10:01:00Z\"}],"
    "\"meta\":{\"page\":1,\"limit\":100,\"total\":3,\"totalPages\":2}}";
static const char page2_v1[] =
    "{\"data\":[{\"id\":\"3\",\"status\":\"pending\",\"updatedAt\":\"2025-03-01T10:02:00Z\"}],"
    "\"meta\":{\"page\":2,\"limit\":100,\"total\":3,\"totalPages\":2}}";
static const char page1_v2[] =
    "{\"data\":[{\"id\":1,\"status\":\"shipped\",\"updatedAt\":\"2025-03-01T11:00:00Z\"},"
    "{\"id\":820982911946154508,\"status\":\"pending\",\"updatedAt\":\"2025-03-01T10:01:00Z\"}],"
    "\"meta\":{\"page\":1,\"limit\":100,\"total\":3,\"totalPages\":2}}";
static const char ship1_v1[] =
    "{\"data\":[{\"id\":10,\"orderId\":1,\"status\":\"scheduled\",\"trackingNumber\":null}]}";
static const char ship1_v2[] =
    "{\"data\":[{\"id\":10,\"orderId\":1,\"status\":\"shipped\",\"trackingNumber\":\"1Z9\"},"
    "{\"id\":11,\"orderId\":1,\"status\":\"scheduled\",\"trackingNumber\":null}]}";

static void test_orders_diff(void **state)
{
    (void)state;
    struct fx f;
    char topics[512];
    fx_open(&f, "orders");
    on(&f.rem, "/distributor/orders?", page1_v1);
    on(&f.rem, "&page=2&", page2_v1);
    on(&f.rem, "/distributor/orders/1/shipments", ship1_v1);
    /* a previous run's watermark */
    int64_t ms;
    poller_time_parse("2025-03-01T09:00:00Z", &ms);
    char v[24];
    snprintf(v, sizeof v, "%lld", (long long)ms);
    assert_int_equal(store_kv_put(f.st, "poller", "orderez.orders", v), 0);
    /* first poll: three new orders, one with a shipment */
    assert_int_equal(cycle(&f, 0), 4);
    assert_true(f.ok);
    assert_int_equal(f.notified, 1);
    last_topics(&f, 4, topics, sizeof topics);
    assert_string_equal(topics, "orderez/order.created orderez/shipment.created "
                                "orderez/order.created orderez/order.created");
    struct store_event ev;
    assert_int_equal(store_event_get(f.st, 3, &ev), 0);
    json_t *b = json_loads(ev.body, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(b, "entity")),
                        "orderez:order:820982911946154508");
    assert_true(json_is_null(json_object_get(b, "before")));
    assert_int_equal(json_integer_value(json_object_get(json_object_get(b, "after"), "id")),
                     820982911946154508LL);
    assert_string_equal(ev.source, "orderez");
    json_decref(b);
    store_event_free(&ev);
    for (int i = 0; i < f.rem.ncalls; i++) assert_int_equal(f.rem.prios[i], 4);
    /* watermark = newest updatedAt seen; the next poll asks from it minus the overlap */
    char *wm = NULL;
    assert_int_equal(store_kv_get(f.st, "poller", "orderez.orders", &wm), 0);
    poller_time_parse("2025-03-01T10:02:00Z", &ms);
    assert_int_equal(strtoll(wm, NULL, 10), ms);
    free(wm);
    /* second poll, nothing changed (and everything is inside the overlap): no events */
    f.rem.ncalls = 0;
    assert_int_equal(cycle(&f, 0), 0);
    assert_int_equal(count_calls(&f.rem, "updatedSince=2025-03-01T10:00:00.000Z&page=1"), 1);
    assert_int_equal(count_calls(&f.rem, "/shipments"), 0);
    assert_int_equal(f.notified, 1);
    /* order 1 ships: one status change, its shipment updated and a second one created */
    on(&f.rem, "/distributor/orders?", page1_v2);
    on(&f.rem, "&page=2&", page2_v1);
    on(&f.rem, "/distributor/orders/1/shipments", ship1_v2);
    f.rem.ncalls = 0;
    assert_int_equal(cycle(&f, 0), 3);
    last_topics(&f, 3, topics, sizeof topics);
    assert_string_equal(topics, "orderez/order.status_changed orderez/shipment.updated "
                                "orderez/shipment.created");
    assert_int_equal(count_calls(&f.rem, "/shipments"), 1);  /* only the changed order */
    assert_int_equal(store_event_get(f.st, store_event_count(f.st) - 2, &ev), 0);
    b = json_loads(ev.body, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(json_object_get(b, "before"), "status")),
                        "accepted");
    assert_string_equal(json_string_value(json_object_get(json_object_get(b, "after"), "status")),
                        "shipped");
    json_decref(b);
    store_event_free(&ev);
    /* and again: nothing */
    assert_int_equal(cycle(&f, 0), 0);
    fx_close(&f);
}

/* A row stamped far ahead moves the watermark at most ten minutes past now: the next poll
 * still asks from about now, so changes until 2099 are not skipped. */
static void test_future_row_caps_the_watermark(void **state)
{
    (void)state;
    static const char future[] =
        "{\"data\":[{\"id\":7,\"status\":\"accepted\",\"updatedAt\":\"2099-01-01T00:00:00Z\"}],"
        "\"meta\":{\"page\":1,\"limit\":100,\"total\":1,\"totalPages\":1}}";
    struct fx f;
    fx_open(&f, "future");
    on(&f.rem, "/distributor/orders?", future);
    on(&f.rem, "/distributor/orders/7/shipments", "{\"data\":[]}");
    assert_int_equal(cycle(&f, 0), 1);
    char *wm = NULL;
    assert_int_equal(store_kv_get(f.st, "poller", "orderez.orders", &wm), 0);
    int64_t w = strtoll(wm, NULL, 10), now = store_now_ms();
    free(wm);
    assert_true(w <= now + 10 * 60 * 1000 && w > now + 9 * 60 * 1000);
    f.rem.ncalls = 0;
    assert_int_equal(cycle(&f, 0), 0);
    assert_int_equal(count_calls(&f.rem, "updatedSince=209"), 0);  /* (2098-12-31... with the overlap) */
    assert_true(count_calls(&f.rem, "/distributor/orders?updatedSince=") >= 1);
    fx_close(&f);
}

static void test_stock_diff_and_failure(void **state)
{
    (void)state;
    struct fx f;
    fx_open(&f, "stock");
    on(&f.rem, "/distributor/stock?",
       "{\"data\":[{\"sku\":\"A-1\",\"warehouseId\":1,\"onHand\":5,\"available\":5,"
       "\"updatedAt\":\"2025-03-01T10:00:00Z\"},{\"sku\":\"B-2\",\"warehouseId\":\"2\","
       "\"onHand\":1,\"available\":0,\"updatedAt\":\"2025-03-01T10:00:00Z\"}],"
       "\"meta\":{\"totalPages\":1}}");
    assert_int_equal(cycle(&f, 0), 2);
    assert_int_equal(cycle(&f, 0), 0);
    on(&f.rem, "/distributor/stock?",
       "{\"data\":[{\"sku\":\"A-1\",\"warehouseId\":1,\"onHand\":4,\"available\":4,"
       "\"updatedAt\":\"2025-03-01T10:05:00Z\"}],\"meta\":{\"totalPages\":1}}");
    assert_int_equal(cycle(&f, 0), 1);
    struct store_event ev;
    assert_int_equal(store_event_get(f.st, store_event_count(f.st), &ev), 0);
    assert_string_equal(ev.topic, "orderez/stock.changed");
    assert_non_null(strstr(ev.body, "\"entity\":\"orderez:stock:A-1@1\""));
    assert_non_null(strstr(ev.dedupe_key, "orderez:stock:A-1@1:2025-03-01T10:05:00Z:"));
    store_event_free(&ev);
    /* an outage: the cycle fails, nothing is stored, the watermark stays */
    char *wm1 = NULL, *wm2 = NULL;
    store_kv_get(f.st, "poller", "orderez.orders", &wm1);
    struct answer down = { "/distributor/orders?", 1, "" };
    f.rem.answers[f.rem.nanswers++] = down;
    assert_int_equal(cycle(&f, 0), 0);
    assert_false(f.ok);
    store_kv_get(f.st, "poller", "orderez.orders", &wm2);
    assert_string_equal(wm1, wm2);
    free(wm1);
    free(wm2);
    fx_close(&f);
}

static void test_shopify_catchup(void **state)
{
    (void)state;
    struct fx f;
    fx_open(&f, "shopify");
    /* a webhook already brought order 100 as of 15:00Z (its updated_at is in shop time) */
    assert_int_equal(poller_shopify_seen(f.st, "100", "2025-01-01T10:00:00-05:00"), 0);
    on(&f.rem, "/graphql.json",
       "{\"data\":{\"orders\":{\"edges\":["
       "{\"node\":{\"id\":\"gid://shopify/Order/100\",\"legacyResourceId\":\"100\","
       "\"updatedAt\":\"2025-01-01T15:00:00Z\"}},"
       "{\"node\":{\"id\":\"gid://shopify/Order/820982911946154508\","
       "\"updatedAt\":\"2025-01-01T16:00:00Z\"}}],"
       "\"pageInfo\":{\"hasNextPage\":true,\"endCursor\":\"c1\"}}}}");
    on(&f.rem, "\"after\":\"c1\"",
       "{\"data\":{\"orders\":{\"edges\":["
       "{\"node\":{\"id\":\"gid://shopify/Order/100\",\"legacyResourceId\":\"100\","
       "\"updatedAt\":\"2025-01-01T17:00:00Z\"}}],"
       "\"pageInfo\":{\"hasNextPage\":false,\"endCursor\":\"c2\"}}}}");
    assert_int_equal(cycle(&f, 1), 2);
    assert_true(f.ok);
    assert_int_equal(f.rem.ncalls, 2);
    assert_non_null(strstr(f.rem.calls[0], "updated_at:>'"));
    struct store_event ev;
    assert_int_equal(store_event_get(f.st, 1, &ev), 0);
    assert_string_equal(ev.topic, "orders/updated");
    assert_string_equal(ev.source, "shopify");
    assert_string_equal(ev.dedupe_key,
                        "shopify:catchup:gid://shopify/Order/820982911946154508:2025-01-01T16:00:00Z");
    json_t *b = json_loads(ev.body, 0, NULL);
    assert_int_equal(json_integer_value(json_object_get(b, "id")), 820982911946154508LL);
    json_decref(b);
    store_event_free(&ev);
    /* the same answers again: nothing new */
    assert_int_equal(cycle(&f, 1), 0);
    fx_close(&f);
}

static int called(void *ud) { return ((struct pfake *)ud)->ncalls > 0; }

/* The timed catch-up waits while order deliveries sit in the backlog, and runs once they
 * became jobs. */
static void test_shopify_catchup_deferred(void **state)
{
    (void)state;
    struct fx f;
    fx_open(&f, "deferred");
    on(&f.rem, "/graphql.json",
       "{\"data\":{\"orders\":{\"edges\":[],\"pageInfo\":{\"hasNextPage\":false}}}}");
    struct store_event ev = { .source = "shopify", .topic = "orders/create", .dedupe_key = "w1",
                              .body = "{\"id\":1}", .body_len = 8, .lane = 0 };
    int inserted = 0;
    assert_int_equal(store_event_insert(f.st, &ev, &inserted), 0);
    poller_free(f.p);
    f.cfg.poller_shopify_interval_ms = 20;
    f.cfg.poller_orderez_interval_ms = 0;
    struct engine_remotes r = { &f.rem, pfake_send };
    f.p = poller_new(f.base, f.st, &f.cfg, &r, notify_cb, &f);
    assert_non_null(f.p);
    assert_int_equal(poller_start(f.p), 0);
    assert_false(fake_run_until(f.base, called, &f.rem, 300));   /* several periods: deferred */
    assert_int_equal(f.rem.ncalls, 0);
    assert_int_equal(store_backlog_remove(f.st, 0, ev.id), 0);
    assert_true(fake_run_until(f.base, called, &f.rem, 2000));
    assert_non_null(strstr(f.rem.calls[0], "EzsyncCatchUp"));
    poller_stop(f.p);
    fake_run_for(f.base, 100);   /* the fake's answer arrives and the cycle ends */
    fx_close(&f);
}

int main(void)
{
    log_setup(LOG_ERROR, LOG_LOGFMT, NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_time_parse),
        cmocka_unit_test(test_orders_diff),
        cmocka_unit_test(test_future_row_caps_the_watermark),
        cmocka_unit_test(test_stock_diff_and_failure),
        cmocka_unit_test(test_shopify_catchup),
        cmocka_unit_test(test_shopify_catchup_deferred),
    };
    return cmocka_run_group_tests_name("poller", tests, NULL, NULL);
}
