/* Unit tests for src/shopify.c against a loopback GraphQL endpoint: URL and headers, idempotency
 * key injection, cost learning, THROTTLED wait-and-resend, the classification table, cancel. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "log.h"
#include "net_testsrv.h"
#include "shopify.h"

#include <jansson.h>

#define TOKEN "shpat_test_0123456789"

#define COST(req, act, avail) \
    "\"extensions\":{\"cost\":{\"requestedQueryCost\":" #req ",\"actualQueryCost\":" #act \
    ",\"throttleStatus\":{\"maximumAvailable\":2000.0,\"currentlyAvailable\":" #avail \
    ",\"restoreRate\":100.0}}}"

static const char *OK_BODY = "{\"data\":{\"shop\":{\"name\":\"x\"}}," COST(12, 10, 1990) "}";
static const char *THROTTLED_BODY =
    "{\"errors\":[{\"message\":\"Throttled\",\"extensions\":{\"code\":\"THROTTLED\"}}],"
    "\"extensions\":{\"cost\":{\"requestedQueryCost\":50,\"actualQueryCost\":null,"
    "\"throttleStatus\":{\"maximumAvailable\":2000.0,\"currentlyAvailable\":30,"
    "\"restoreRate\":100.0}}}}";

struct got {
    int done;
    double t;
    enum remote_class cls;
    long status;
    char error[512];
};

static void on_done(void *ud, const struct remote_result *r)
{
    struct got *g = ud;
    g->done++;
    g->t = testsrv_now();
    g->cls = r->cls;
    g->status = r->status;
    snprintf(g->error, sizeof g->error, "%s", r->error ? r->error : "");
}

struct fx {
    struct event_base *base;
    struct testsrv srv;
    struct testsrv_script script;
    struct http_client *http;
    struct shopify *s;
};

static struct fx *fx_new(const struct testsrv_canned *list, int n, int max_retries)
{
    struct fx *f = calloc(1, sizeof *f);
    char url[64];
    f->base = event_base_new();
    f->script = (struct testsrv_script){ list, n };
    assert_int_equal(testsrv_start(&f->srv, f->base, testsrv_canned_handler, &f->script), 0);
    assert_int_equal(http_client_new(&f->http, f->base, NULL), 0);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", f->srv.port);
    struct shopify_opts o = { url, "x.myshopify.com", "2026-10", TOKEN, 100, max_retries, 0, 0 };
    assert_int_equal(shopify_new(&f->s, f->base, f->http, &o), 0);
    return f;
}

static void fx_free(struct fx *f)
{
    shopify_free(f->s);
    http_client_free(f->http);
    testsrv_stop(&f->srv);
    event_base_free(f->base);
    free(f);
}

static enum remote_class run_one(struct fx *f, const char *body, const char *idem, struct got *g)
{
    memset(g, 0, sizeof *g);
    assert_int_equal(shopify_graphql(f->s, body, RATELIMIT_ORDERS, idem, on_done, g), 0);
    assert_true(testsrv_run_until(f->base, &g->done, 5000));
    return g->cls;
}

static const char *Q = "{\"query\":\"{ shop { name } }\"}";

static void test_url_headers_and_learning(void **state)
{
    (void)state;
    struct testsrv_canned c[] = { { 200, NULL, OK_BODY } };
    struct fx *f = fx_new(c, 1, 0);
    struct got g;
    assert_int_equal(run_one(f, Q, NULL, &g), REMOTE_OK);
    assert_int_equal(g.status, 200);
    const struct testsrv_req *r = &f->srv.reqs[0];
    assert_string_equal(r->method, "POST");
    assert_string_equal(r->uri, "/admin/api/2026-10/graphql.json");
    assert_string_equal(testsrv_header(r, "x-shopify-access-token"), TOKEN);
    assert_string_equal(testsrv_header(r, "content-type"), "application/json");
    assert_string_equal(r->body, Q); /* sent as given when nothing is injected */
    assert_true(shopify_learned_cost(f->s, "{ shop { name } }") == 12);
    assert_true(shopify_learned_cost(f->s, "{ other }") < 0);
    struct ratelimit_stats st;
    ratelimit_get_stats(shopify_limiter(f->s), &st);
    assert_true(st.capacity == 2000 && st.available >= 1990 && st.available <= 2000);
    assert_int_equal(shopify_pending(f->s), 0);
    fx_free(f);
}

/* A throttle status out of all reason leaves the limiter as it was: a restore rate of 1e-300
 * would hold every later call for ever, a huge bucket would let everything through. */
static void test_unreasonable_throttle_status_ignored(void **state)
{
    (void)state;
    static const char *bad[] = {
        "{\"data\":{},\"extensions\":{\"cost\":{\"requestedQueryCost\":12,\"actualQueryCost\":10,"
        "\"throttleStatus\":{\"maximumAvailable\":2000.0,\"currentlyAvailable\":1990,"
        "\"restoreRate\":1e-300}}}}",
        "{\"data\":{},\"extensions\":{\"cost\":{\"requestedQueryCost\":12,\"actualQueryCost\":10,"
        "\"throttleStatus\":{\"maximumAvailable\":1e300,\"currentlyAvailable\":1e300,"
        "\"restoreRate\":100.0}}}}",
    };
    for (int i = 0; i < 2; i++) {
        struct testsrv_canned c[] = { { 200, NULL, OK_BODY }, { 200, NULL, bad[i] } };
        struct fx *f = fx_new(c, 2, 0);
        struct got g;
        assert_int_equal(run_one(f, Q, NULL, &g), REMOTE_OK);
        assert_int_equal(run_one(f, Q, NULL, &g), REMOTE_OK);
        struct ratelimit_stats st;
        ratelimit_get_stats(shopify_limiter(f->s), &st);
        assert_true(st.capacity == 2000);                 /* from the first, sane answer */
        assert_true(st.rate == 100.0);
        assert_true(st.available <= 2000);
        fx_free(f);
    }
}

static json_t *sent_variables(struct fx *f, int i)
{
    json_t *root = json_loads(f->srv.reqs[i].body, 0, NULL);
    json_t *v = json_incref(json_object_get(root, "variables"));
    json_decref(root);
    return v;
}

static void test_idempotency_key_injection(void **state)
{
    (void)state;
    struct testsrv_canned c[] = { { 200, NULL, OK_BODY } };
    struct fx *f = fx_new(c, 1, 0);
    struct got g;
    const char *m = "{\"query\":\"mutation M($idempotencyKey: String!, $id: ID!) { x(id: $id) "
                    "@idempotent(key: $idempotencyKey) { id } }\",\"variables\":"
                    "{\"id\":820982911946154508}}";
    run_one(f, m, "job-7-step-2", &g);
    json_t *v = sent_variables(f, 0);
    assert_string_equal(json_string_value(json_object_get(v, "idempotencyKey")), "job-7-step-2");
    /* the 64-bit id survives the re-serialisation exactly */
    assert_true(json_integer_value(json_object_get(v, "id")) == 820982911946154508LL);
    json_decref(v);
    /* A key the caller set is kept. */
    const char *m2 = "{\"query\":\"mutation M($idempotencyKey: String!) { y }\",\"variables\":"
                     "{\"idempotencyKey\":\"mine\"}}";
    run_one(f, m2, "job-7-step-3", &g);
    v = sent_variables(f, 1);
    assert_string_equal(json_string_value(json_object_get(v, "idempotencyKey")), "mine");
    json_decref(v);
    /* No variables at all: created. */
    run_one(f, "{\"query\":\"mutation($idempotencyKey: String!) { z }\"}", "k3", &g);
    v = sent_variables(f, 2);
    assert_string_equal(json_string_value(json_object_get(v, "idempotencyKey")), "k3");
    json_decref(v);
    /* Not declared (or only a longer name): nothing injected. */
    run_one(f, "{\"query\":\"mutation($idempotencyKeyOld: String) { z }\",\"variables\":{}}", "k4",
            &g);
    v = sent_variables(f, 3);
    assert_null(json_object_get(v, "idempotencyKey"));
    json_decref(v);
    fx_free(f);
}

static void test_throttled_waits_and_resends(void **state)
{
    (void)state;
    struct testsrv_canned c[] = { { 200, NULL, THROTTLED_BODY }, { 200, NULL, OK_BODY } };
    struct fx *f = fx_new(c, 2, 0);
    struct got g;
    assert_int_equal(run_one(f, Q, NULL, &g), REMOTE_OK);
    assert_int_equal(f->srv.nreq, 2);
    /* (requested 50 - available 30) / restore 100 = 0.2 s */
    double gap = f->srv.reqs[1].t - f->srv.reqs[0].t;
    assert_true(gap >= 0.195 && gap < 0.5);
    assert_string_equal(f->srv.reqs[1].body, f->srv.reqs[0].body);
    struct ratelimit_stats st;
    ratelimit_get_stats(shopify_limiter(f->s), &st);
    assert_int_equal(st.throttled, 1);
    fx_free(f);
}

static void test_throttled_persistent_is_transient(void **state)
{
    (void)state;
    static const char *tb =
        "{\"errors\":[{\"message\":\"Throttled\",\"extensions\":{\"code\":\"THROTTLED\"}}],"
        "\"extensions\":{\"cost\":{\"requestedQueryCost\":10,\"actualQueryCost\":null,"
        "\"throttleStatus\":{\"maximumAvailable\":2000.0,\"currentlyAvailable\":9.5,"
        "\"restoreRate\":1000.0}}}}";
    struct testsrv_canned c[] = { { 200, NULL, tb } };
    struct fx *f = fx_new(c, 1, 2);
    struct got g;
    assert_int_equal(run_one(f, Q, NULL, &g), REMOTE_TRANSIENT);
    assert_int_equal(f->srv.nreq, 3); /* first try + 2 resends */
    assert_non_null(strstr(g.error, "THROTTLED"));
    fx_free(f);
}

static void test_classification(void **state)
{
    (void)state;
    static const struct {
        int status;
        const char *header, *body;
        enum remote_class want;
    } t[] = {
        { 200, NULL, "{\"data\":{\"x\":{\"userErrors\":[{\"field\":[\"a\"],\"message\":\"bad\"}]}}}",
          REMOTE_OK },
        { 200, NULL, "{\"errors\":[{\"message\":\"Query cost is 1293, which exceeds the single "
                     "query max cost limit (1000).\",\"extensions\":{\"code\":\"MAX_COST_EXCEEDED\","
                     "\"cost\":1293,\"maxCost\":1000}}]}", REMOTE_PERMANENT },
        { 200, NULL, "{\"errors\":[{\"message\":\"Field 'nope' doesn't exist on type 'QueryRoot'\"}]}",
          REMOTE_PERMANENT },
        { 200, NULL, "{\"errors\":[{\"message\":\"Internal error\",\"extensions\":"
                     "{\"code\":\"INTERNAL_SERVER_ERROR\"}}]}", REMOTE_TRANSIENT },
        { 200, NULL, "<html>proxy</html>", REMOTE_TRANSIENT },
        { 500, NULL, "{}", REMOTE_TRANSIENT },
        { 502, NULL, "bad gateway", REMOTE_TRANSIENT },
        { 401, NULL, "{\"errors\":\"[API] Invalid API key or access token\"}", REMOTE_PERMANENT },
        { 404, NULL, "{\"errors\":\"Not Found\"}", REMOTE_PERMANENT },
        { 402, NULL, "{\"errors\":\"Unavailable Shop\"}", REMOTE_PERMANENT },
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        struct testsrv_canned c[] = { { t[i].status, t[i].header, t[i].body } };
        struct fx *f = fx_new(c, 1, 0);
        struct got g;
        enum remote_class got = run_one(f, Q, NULL, &g);
        if (got != t[i].want) fail_msg("case %zu (HTTP %d): class %d, want %d", i, t[i].status, got,
                                       t[i].want);
        assert_int_equal(g.status, t[i].status);
        if (got != REMOTE_OK) assert_true(g.error[0] != '\0');
        fx_free(f);
    }
}

static void test_http_429_resent_after_retry_after(void **state)
{
    (void)state;
    struct testsrv_canned c[] = { { 429, "Retry-After: 0.3", "{\"errors\":\"Throttled\"}" },
                                  { 200, NULL, OK_BODY } };
    struct fx *f = fx_new(c, 2, 0);
    struct got g;
    assert_int_equal(run_one(f, Q, NULL, &g), REMOTE_OK);
    assert_int_equal(f->srv.nreq, 2);
    assert_true(f->srv.reqs[1].t - f->srv.reqs[0].t >= 0.295);
    fx_free(f);
}

static void test_transport_error_is_transient(void **state)
{
    (void)state;
    struct event_base *base = event_base_new();
    struct http_client *http;
    struct shopify *s;
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", testsrv_dead_port());
    assert_int_equal(http_client_new(&http, base, NULL), 0);
    struct shopify_opts o = { url, NULL, "2026-10", TOKEN, 0, 0, 0, 0 };
    assert_int_equal(shopify_new(&s, base, http, &o), 0);
    struct got g = { 0 };
    assert_int_equal(shopify_graphql(s, Q, RATELIMIT_ORDERS, NULL, on_done, &g), 0);
    assert_true(testsrv_run_until(base, &g.done, 5000));
    assert_int_equal(g.cls, REMOTE_TRANSIENT);
    assert_int_equal(g.status, 0);
    /* Missing token or a body that is not a GraphQL request: refused up front. */
    assert_int_equal(shopify_graphql(s, "{\"variables\":{}}", 0, NULL, on_done, &g), -1);
    assert_int_equal(shopify_graphql(s, "not json", 0, NULL, on_done, &g), -1);
    struct shopify *s2;
    struct shopify_opts bad = { url, NULL, "2026-10", NULL, 0, 0, 0, 0 };
    assert_int_equal(shopify_new(&s2, base, http, &bad), -1);
    shopify_free(s);
    http_client_free(http);
    event_base_free(base);
}

/* Copies of a document never seen are not all admitted on a guess: the first goes out, the
 * others wait for its answer (and its requestedQueryCost). */
static void test_unknown_document_probed_once(void **state)
{
    (void)state;
    struct testsrv_canned c[] = { { 200, NULL, OK_BODY } };
    struct fx *f = fx_new(c, 1, 0);
    struct got g[3] = { { 0 } };
    for (int i = 0; i < 3; i++)
        assert_int_equal(shopify_graphql(f->s, Q, RATELIMIT_ORDERS, NULL, on_done, &g[i]), 0);
    assert_true(testsrv_run_until(f->base, &g[2].done, 3000));
    assert_int_equal(f->srv.nreq, 3);
    for (int i = 0; i < 3; i++) assert_int_equal(g[i].cls, REMOTE_OK);
    assert_true(f->srv.reqs[1].t >= g[0].t && f->srv.reqs[2].t >= g[0].t);
    assert_int_equal(shopify_pending(f->s), 0);
    fx_free(f);
}

static void test_free_cancels_pending(void **state)
{
    (void)state;
    struct testsrv_canned c[] = { { 0, NULL, NULL } }; /* the server never answers */
    struct fx *f = fx_new(c, 1, 0);
    struct got g[3] = { { 0 } };
    /* 1500 + 1500 > the 2000-point bucket: the second and third wait in the limiter. */
    for (int i = 0; i < 3; i++)
        assert_int_equal(shopify_graphql_est(f->s, Q, RATELIMIT_CATALOG, NULL, 1500, on_done, &g[i]),
                         0);
    int never = 0;
    testsrv_run_until(f->base, &never, 100);
    assert_int_equal(f->srv.nreq, 1);
    assert_int_equal(shopify_pending(f->s), 3);
    shopify_free(f->s);
    f->s = NULL;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(g[i].done, 1);
        assert_int_equal(g[i].cls, REMOTE_TRANSIENT);
        assert_string_equal(g[i].error, "cancelled");
    }
    fx_free(f); /* the http client then drops the orphaned in-flight request */
}

int main(void)
{
    log_setup(LOG_ERROR, LOG_LOGFMT, NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_url_headers_and_learning),
        cmocka_unit_test(test_unreasonable_throttle_status_ignored),
        cmocka_unit_test(test_idempotency_key_injection),
        cmocka_unit_test(test_throttled_waits_and_resends),
        cmocka_unit_test(test_throttled_persistent_is_transient),
        cmocka_unit_test(test_classification),
        cmocka_unit_test(test_http_429_resent_after_retry_after),
        cmocka_unit_test(test_transport_error_is_transient),
        cmocka_unit_test(test_unknown_document_probed_once),
        cmocka_unit_test(test_free_cancels_pending),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
