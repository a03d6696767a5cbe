/* Unit tests for src/http_client.c against a real loopback server in the same event loop:
 * GET/POST, headers, keep-alive reuse (connections counted server-side), timeout, connection
 * refused, Retry-After parsing, cancellation on free. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "http_client.h"
#include "net_testsrv.h"

#include <curl/curl.h>

struct got {
    int done;
    long status;
    char body[4096];
    char error[256];
    double retry_after;
};

static void on_done(void *ud, const struct http_response *res)
{
    struct got *g = ud;
    g->done++;
    g->status = res->status;
    snprintf(g->body, sizeof g->body, "%s", res->body);
    snprintf(g->error, sizeof g->error, "%s", res->error ? res->error : "");
    g->retry_after = res->retry_after_s;
}

static void handler(struct testsrv *s, struct evhttp_request *req, const struct testsrv_req *r,
                    void *ud)
{
    (void)s;
    (void)ud;
    char body[2048];
    if (strncmp(r->uri, "/hang", 5) == 0) return; /* never answers */
    if (strcmp(r->uri, "/429") == 0) {
        testsrv_reply(req, 429, "Retry-After: 2.5", "{\"error\":{\"type\":\"rate_limited\"}}");
        return;
    }
    snprintf(body, sizeof body, "%s %s %.900s", r->method, r->uri, r->body);
    testsrv_reply(req, 200, NULL, body);
}

struct fixture {
    struct event_base *base;
    struct testsrv srv;
    struct http_client *c;
    char url[128];
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    f->base = event_base_new();
    assert_int_equal(testsrv_start(&f->srv, f->base, handler, NULL), 0);
    struct http_client_opts o = { .timeout_ms = 5000, .max_host_connections = 4 };
    assert_int_equal(http_client_new(&f->c, f->base, &o), 0);
    snprintf(f->url, sizeof f->url, "http://127.0.0.1:%d", f->srv.port);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    http_client_free(f->c);
    testsrv_stop(&f->srv);
    event_base_free(f->base);
    free(f);
    return 0;
}

static void test_get_and_post(void **state)
{
    struct fixture *f = *state;
    struct got g1 = { 0 }, g2 = { 0 };
    char url[256];
    snprintf(url, sizeof url, "%s/a?x=1", f->url);
    const char *hdrs[] = { "X-Test: yes", "Content-Type: application/json", NULL };
    struct http_request get = { "GET", url, hdrs, NULL, 0, 0 };
    struct http_request post = { "POST", url, hdrs, "{\"k\":1}", 7, 0 };
    assert_int_equal(http_client_send(f->c, &get, on_done, &g1), 0);
    assert_int_equal(http_client_send(f->c, &post, on_done, &g2), 0);
    assert_int_equal(g1.done + g2.done, 0); /* never from inside send */
    assert_int_equal(http_client_inflight(f->c), 2);
    assert_true(testsrv_run_until(f->base, &g1.done, 2000));
    assert_true(testsrv_run_until(f->base, &g2.done, 2000));
    assert_int_equal(g1.status, 200);
    assert_string_equal(g1.body, "GET /a?x=1 ");
    assert_int_equal(g2.status, 200);
    assert_string_equal(g2.body, "POST /a?x=1 {\"k\":1}");
    assert_true(g1.retry_after < 0);
    assert_int_equal(http_client_inflight(f->c), 0);
    assert_int_equal(f->srv.nreq, 2);
    const struct testsrv_req *r = f->srv.reqs[0].method[0] == 'P' ? &f->srv.reqs[0]
                                                                   : &f->srv.reqs[1];
    assert_string_equal(testsrv_header(r, "x-test"), "yes");
    assert_string_equal(testsrv_header(r, "content-type"), "application/json");
    assert_null(testsrv_header(r, "expect"));
}

static void test_other_methods(void **state)
{
    struct fixture *f = *state;
    struct got g = { 0 };
    char url[256];
    snprintf(url, sizeof url, "%s/p/1", f->url);
    struct http_request patch = { "PATCH", url, NULL, "{}", 2, 0 };
    assert_int_equal(http_client_send(f->c, &patch, on_done, &g), 0);
    assert_true(testsrv_run_until(f->base, &g.done, 2000));
    assert_string_equal(g.body, "PATCH /p/1 {}");
    memset(&g, 0, sizeof g);
    struct http_request del = { "DELETE", url, NULL, NULL, 0, 0 };
    assert_int_equal(http_client_send(f->c, &del, on_done, &g), 0);
    assert_true(testsrv_run_until(f->base, &g.done, 2000));
    assert_string_equal(g.body, "DELETE /p/1 ");
}

static void test_keepalive_reuse(void **state)
{
    struct fixture *f = *state;
    char url[256];
    snprintf(url, sizeof url, "%s/k", f->url);
    for (int i = 0; i < 10; i++) {
        struct got g = { 0 };
        struct http_request req = { "POST", url, NULL, "x", 1, 0 };
        assert_int_equal(http_client_send(f->c, &req, on_done, &g), 0);
        assert_true(testsrv_run_until(f->base, &g.done, 2000));
        assert_int_equal(g.status, 200);
    }
    assert_int_equal(f->srv.nreq, 10);
    assert_int_equal(testsrv_distinct_peers(&f->srv), 1);
    assert_int_equal(http_client_connections_opened(f->c), 1);
}

static void test_retry_after_header(void **state)
{
    struct fixture *f = *state;
    struct got g = { 0 };
    char url[256];
    snprintf(url, sizeof url, "%s/429", f->url);
    struct http_request req = { "GET", url, NULL, NULL, 0, 0 };
    assert_int_equal(http_client_send(f->c, &req, on_done, &g), 0);
    assert_true(testsrv_run_until(f->base, &g.done, 2000));
    assert_int_equal(g.status, 429);
    assert_true(g.retry_after > 2.49 && g.retry_after < 2.51);
}

static void test_parse_retry_after(void **state)
{
    (void)state;
    time_t now = curl_getdate("Wed, 21 Oct 2015 07:28:00 GMT", NULL);
    assert_true(http_client_parse_retry_after("2.0", now) == 2.0);
    assert_true(http_client_parse_retry_after(" 120 \r\n", now) == 120.0);
    assert_true(http_client_parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now) == 30.0);
    assert_true(http_client_parse_retry_after("Wed, 21 Oct 2015 07:27:00 GMT", now) == 0.0);
    assert_true(http_client_parse_retry_after("soon", now) < 0);
    assert_true(http_client_parse_retry_after("-3", now) < 0);
    assert_true(http_client_parse_retry_after("2x", now) < 0);
    assert_true(http_client_parse_retry_after("", now) < 0);
    assert_true(http_client_parse_retry_after("1e400", now) < 0);      /* infinity */
    assert_true(http_client_parse_retry_after("86400", now) == 86400.0); /* the limiter caps it */
}

static void test_timeout(void **state)
{
    struct fixture *f = *state;
    struct got g = { 0 };
    char url[256];
    snprintf(url, sizeof url, "%s/hang", f->url);
    struct http_request req = { "GET", url, NULL, NULL, 0, 200 };
    double t0 = testsrv_now();
    assert_int_equal(http_client_send(f->c, &req, on_done, &g), 0);
    assert_true(testsrv_run_until(f->base, &g.done, 3000));
    double took = testsrv_now() - t0;
    assert_int_equal(g.status, 0);
    assert_non_null(strstr(g.error, "timed out"));
    assert_true(took >= 0.19 && took < 1.5);
}

static void test_connection_refused(void **state)
{
    struct fixture *f = *state;
    struct got g = { 0 };
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/x", testsrv_dead_port());
    struct http_request req = { "GET", url, NULL, NULL, 0, 0 };
    assert_int_equal(http_client_send(f->c, &req, on_done, &g), 0);
    assert_true(testsrv_run_until(f->base, &g.done, 3000));
    assert_int_equal(g.status, 0);
    assert_true(g.error[0] != '\0');
}

static void test_rejects_bad_requests(void **state)
{
    struct fixture *f = *state;
    struct got g = { 0 };
    const char *bad[] = { "X-Evil: a\r\nInjected: b", NULL };
    struct http_request r1 = { "GET", f->url, bad, NULL, 0, 0 };
    struct http_request r2 = { "GET", NULL, NULL, NULL, 0, 0 };
    struct http_request r3 = { "GET", "file:///etc/passwd", NULL, NULL, 0, 0 };
    assert_int_equal(http_client_send(f->c, &r1, on_done, &g), -1);
    assert_int_equal(http_client_send(f->c, &r2, on_done, &g), -1);
    /* file:// is refused by the protocol allow-list: either at send or as a transport error. */
    if (http_client_send(f->c, &r3, on_done, &g) == 0) {
        assert_true(testsrv_run_until(f->base, &g.done, 2000));
        assert_int_equal(g.status, 0);
    }
    assert_int_equal(http_client_inflight(f->c), 0);
}

static void test_cancel_on_free(void **state)
{
    struct fixture *f = *state;
    struct got g[3] = { { 0 } };
    char url[256];
    snprintf(url, sizeof url, "%s/hang", f->url);
    struct http_request req = { "GET", url, NULL, NULL, 0, 0 };
    for (int i = 0; i < 3; i++) assert_int_equal(http_client_send(f->c, &req, on_done, &g[i]), 0);
    int three = 0;
    while (f->srv.nreq < 3 && !three) {
        testsrv_run_until(f->base, &three, 50);
    }
    assert_int_equal(f->srv.nreq, 3);
    http_client_free(f->c);
    f->c = NULL;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(g[i].done, 1);
        assert_int_equal(g[i].status, 0);
        assert_string_equal(g[i].error, "cancelled");
    }
}

/* Freeing the client from inside a done callback is deferred until the callback returns. */
struct self_free { struct http_client *c; struct got g; int done; };

static void on_done_free(void *ud, const struct http_response *res)
{
    struct self_free *sf = ud;
    on_done(&sf->g, res);
    http_client_free(sf->c);
    sf->done = 1;
}

static void test_free_from_callback(void **state)
{
    struct fixture *f = *state;
    struct self_free sf = { f->c, { 0 }, 0 };
    struct got hung = { 0 };
    char url[256], hang[256];
    snprintf(url, sizeof url, "%s/x", f->url);
    snprintf(hang, sizeof hang, "%s/hang", f->url);
    struct http_request req = { "GET", url, NULL, NULL, 0, 0 };
    struct http_request req2 = { "GET", hang, NULL, NULL, 0, 0 };
    assert_int_equal(http_client_send(f->c, &req2, on_done, &hung), 0);
    assert_int_equal(http_client_send(f->c, &req, on_done_free, &sf), 0);
    assert_true(testsrv_run_until(f->base, &sf.done, 2000));
    f->c = NULL;
    assert_int_equal(sf.g.status, 200);
    assert_int_equal(hung.done, 1);
    assert_string_equal(hung.error, "cancelled");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_get_and_post, setup, teardown),
        cmocka_unit_test_setup_teardown(test_other_methods, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keepalive_reuse, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retry_after_header, setup, teardown),
        cmocka_unit_test(test_parse_retry_after),
        cmocka_unit_test_setup_teardown(test_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_connection_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rejects_bad_requests, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancel_on_free, setup, teardown),
        cmocka_unit_test_setup_teardown(test_free_from_callback, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
