/* Unit tests for src/orderez.c against a loopback REST server: URL, method and headers, the
 * classification table (409 = OK), 429 + Retry-After blocking every request, priorities, cancel. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "log.h"
#include "net_testsrv.h"
#include "orderez.h"

#define TOKEN "oez_test_token_abcdef"

struct got {
    int done;
    enum remote_class cls;
    long status;
    char body[256];
    char error[512];
};

static void on_done(void *ud, const struct remote_result *r)
{
    struct got *g = ud;
    g->done++;
    g->cls = r->cls;
    g->status = r->status;
    snprintf(g->body, sizeof g->body, "%s", r->body);
    snprintf(g->error, sizeof g->error, "%s", r->error ? r->error : "");
}

struct fx {
    struct event_base *base;
    struct testsrv srv;
    struct testsrv_script script;
    struct http_client *http;
    struct orderez *o;
};

static struct fx *fx_new(const struct testsrv_canned *list, int n, double rate, double burst,
                         int retries)
{
    struct fx *f = calloc(1, sizeof *f);
    char url[64];
    f->base = event_base_new();
    f->script = (struct testsrv_script){ list, n };
    assert_int_equal(testsrv_start(&f->srv, f->base, testsrv_canned_handler, &f->script), 0);
    assert_int_equal(http_client_new(&f->http, f->base, NULL), 0);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", f->srv.port);
    struct orderez_opts o = { url, TOKEN, rate, burst, 0, retries, 0, NULL, NULL };
    assert_int_equal(orderez_new(&f->o, f->base, f->http, &o), 0);
    return f;
}

static void fx_free(struct fx *f)
{
    orderez_free(f->o);
    http_client_free(f->http);
    testsrv_stop(&f->srv);
    event_base_free(f->base);
    free(f);
}

static void test_request_shape(void **state)
{
    (void)state;
    struct testsrv_canned c[] = { { 200, NULL, "{\"data\":[],\"meta\":{\"page\":1}}" } };
    struct fx *f = fx_new(c, 1, 100, 10, 0);
    struct got g = { 0 }, h = { 0 };
    assert_int_equal(orderez_request(f->o, "GET", "/distributor/orders?page=2&limit=50", NULL,
                                     RATELIMIT_REPORTS, on_done, &g), 0);
    assert_true(testsrv_run_until(f->base, &g.done, 3000));
    assert_int_equal(g.cls, REMOTE_OK);
    const struct testsrv_req *r = &f->srv.reqs[0];
    assert_string_equal(r->method, "GET");
    assert_string_equal(r->uri, "/distributor/orders?page=2&limit=50");
    assert_string_equal(testsrv_header(r, "authorization"), "Bearer " TOKEN);
    assert_string_equal(testsrv_header(r, "accept"), "application/json");
    assert_null(testsrv_header(r, "content-type"));
    assert_int_equal(orderez_request(f->o, "POST", "/distributor/orders", "{\"externalRef\":\"1\"}",
                                     RATELIMIT_ORDERS, on_done, &h), 0);
    assert_true(testsrv_run_until(f->base, &h.done, 3000));
    r = &f->srv.reqs[1];
    assert_string_equal(r->method, "POST");
    assert_string_equal(r->body, "{\"externalRef\":\"1\"}");
    assert_string_equal(testsrv_header(r, "content-type"), "application/json");
    /* malformed calls are refused up front */
    assert_int_equal(orderez_request(f->o, "GET", "no-slash", NULL, 0, on_done, &g), -1);
    assert_int_equal(orderez_request(f->o, "GET", "/a b", NULL, 0, on_done, &g), -1);
    assert_int_equal(orderez_request(f->o, "BREW", "/x", NULL, 0, on_done, &g), -1);
    assert_int_equal(orderez_request(f->o, "GET", "/x", NULL, 9, on_done, &g), -1);
    fx_free(f);
}

static void test_classification(void **state)
{
    (void)state;
    static const struct {
        int status;
        const char *body;
        enum remote_class want;
        const char *err;
    } t[] = {
        { 200, "{\"data\":{\"id\":1}}", REMOTE_OK, NULL },
        { 201, "{\"data\":{\"id\":2}}", REMOTE_OK, NULL },
        { 409, "{\"error\":{\"message\":\"exists\",\"type\":\"conflict\",\"id\":7}}", REMOTE_OK, NULL },
        { 422, "{\"error\":{\"fields\":{\"name\":[\"required\"]},\"type\":\"UnprocessableEntity\"}}",
          REMOTE_PERMANENT, "HTTP 422 UnprocessableEntity" },
        { 404, "{\"error\":{\"message\":\"no such order\",\"type\":\"not_found\"}}", REMOTE_PERMANENT,
          "HTTP 404 not_found: no such order" },
        { 401, "{\"error\":{\"message\":\"bad token\",\"type\":\"unauthorized\"}}", REMOTE_PERMANENT,
          "unauthorized" },
        { 400, "oops", REMOTE_PERMANENT, "HTTP 400" },
        { 408, "", REMOTE_TRANSIENT, "HTTP 408" },
        { 500, "{\"error\":{\"message\":\"boom\",\"type\":\"internal\"}}", REMOTE_TRANSIENT,
          "internal: boom" },
        { 503, "", REMOTE_TRANSIENT, "HTTP 503" },
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        struct testsrv_canned c[] = { { t[i].status, NULL, t[i].body } };
        struct fx *f = fx_new(c, 1, 100, 10, 0);
        struct got g = { 0 };
        assert_int_equal(orderez_request(f->o, "POST", "/distributor/orders", "{}", 0, on_done, &g),
                         0);
        assert_true(testsrv_run_until(f->base, &g.done, 3000));
        if (g.cls != t[i].want)
            fail_msg("case %zu (HTTP %d): class %d, want %d", i, t[i].status, g.cls, t[i].want);
        assert_int_equal(g.status, t[i].status);
        assert_string_equal(g.body, t[i].body);
        if (t[i].err) assert_non_null(strstr(g.error, t[i].err));
        else assert_string_equal(g.error, "");
        assert_null(strstr(g.error, TOKEN));
        fx_free(f);
    }
}

static void test_retry_after_blocks_every_request(void **state)
{
    (void)state;
    struct testsrv_canned c[] = {
        { 429, "Retry-After: 0.6", "{\"error\":{\"message\":\"slow down\",\"type\":\"rate_limited\"}}" },
        { 200, NULL, "{\"data\":{}}" } };
    struct fx *f = fx_new(c, 2, 5, 1, 0);
    struct got g[3] = { { 0 } };
    for (int i = 0; i < 3; i++)
        assert_int_equal(orderez_request(f->o, "GET", "/distributor/stock", NULL, RATELIMIT_INVENTORY,
                                         on_done, &g[i]), 0);
    assert_true(testsrv_run_until(f->base, &g[2].done, 5000));
    assert_true(g[0].done && g[1].done);
    for (int i = 0; i < 3; i++) assert_int_equal(g[i].cls, REMOTE_OK);
    assert_int_equal(f->srv.nreq, 4);
    /* nothing reached the server before Retry-After had passed, and the 429'd one went first */
    for (int i = 1; i < 4; i++) assert_true(f->srv.reqs[i].t - f->srv.reqs[0].t >= 0.6);
    assert_int_equal(f->srv.reqs[1].peer_port, f->srv.reqs[0].peer_port); /* kept alive */
    struct ratelimit_stats st;
    ratelimit_get_stats(orderez_limiter(f->o), &st);
    assert_int_equal(st.rate_limited, 1);
    assert_true(st.rate < 5);
    fx_free(f);
}

static void test_429_persistent_is_transient(void **state)
{
    (void)state;
    struct testsrv_canned c[] = { { 429, "Retry-After: 0.05", "{\"error\":{\"type\":\"rate_limited\"}}" } };
    struct fx *f = fx_new(c, 1, 100, 10, 2);
    struct got g = { 0 };
    assert_int_equal(orderez_request(f->o, "GET", "/x", NULL, 0, on_done, &g), 0);
    assert_true(testsrv_run_until(f->base, &g.done, 5000));
    assert_int_equal(g.cls, REMOTE_TRANSIENT);
    assert_int_equal(g.status, 429);
    assert_non_null(strstr(g.error, "rate_limited"));
    assert_int_equal(f->srv.nreq, 3);
    fx_free(f);
}

static void test_orders_jump_the_queue(void **state)
{
    (void)state;
    struct testsrv_canned c[] = { { 200, NULL, "{\"data\":{}}" } };
    struct fx *f = fx_new(c, 1, 50, 1, 0);
    struct got g[4] = { { 0 } };
    orderez_request(f->o, "GET", "/distributor/products?page=1", NULL, RATELIMIT_CATALOG, on_done, &g[0]);
    orderez_request(f->o, "GET", "/distributor/products?page=2", NULL, RATELIMIT_CATALOG, on_done, &g[1]);
    orderez_request(f->o, "GET", "/distributor/stock", NULL, RATELIMIT_INVENTORY, on_done, &g[2]);
    orderez_request(f->o, "POST", "/distributor/orders", "{}", RATELIMIT_ORDERS, on_done, &g[3]);
    assert_true(testsrv_run_until(f->base, &g[1].done, 5000));
    assert_string_equal(f->srv.reqs[0].uri, "/distributor/orders");
    assert_string_equal(f->srv.reqs[1].uri, "/distributor/stock");
    assert_string_equal(f->srv.reqs[2].uri, "/distributor/products?page=1");
    assert_string_equal(f->srv.reqs[3].uri, "/distributor/products?page=2");
    fx_free(f);
}

static void test_transport_error_and_cancel(void **state)
{
    (void)state;
    struct event_base *base = event_base_new();
    struct http_client *http;
    struct orderez *o;
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", testsrv_dead_port());
    assert_int_equal(http_client_new(&http, base, NULL), 0);
    struct orderez_opts opts = { url, TOKEN, 1, 1, 0, 0, 0, NULL, NULL };
    assert_int_equal(orderez_new(&o, base, http, &opts), 0);
    struct got g[3] = { { 0 } };
    for (int i = 0; i < 3; i++)
        assert_int_equal(orderez_request(o, "GET", "/x", NULL, 0, on_done, &g[i]), 0);
    assert_true(testsrv_run_until(base, &g[0].done, 5000));
    assert_int_equal(g[0].cls, REMOTE_TRANSIENT);
    assert_int_equal(g[0].status, 0);
    assert_int_equal(orderez_pending(o), 2); /* the others wait for tokens (1/s) */
    orderez_free(o);
    for (int i = 1; i < 3; i++) {
        assert_int_equal(g[i].done, 1);
        assert_string_equal(g[i].error, "cancelled");
    }
    http_client_free(http);
    event_base_free(base);
}

int main(void)
{
    log_setup(LOG_ERROR, LOG_LOGFMT, NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request_shape),
        cmocka_unit_test(test_classification),
        cmocka_unit_test(test_retry_after_blocks_every_request),
        cmocka_unit_test(test_429_persistent_is_transient),
        cmocka_unit_test(test_orders_jump_the_queue),
        cmocka_unit_test(test_transport_error_and_cancel),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
