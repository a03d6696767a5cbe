/* Unit tests for src/httpd.c: listen-address parsing and the bearer-token check. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "httpd.h"

#include <event2/http.h>
#include <string.h>

static void test_parse_hostport(void **state)
{
    (void)state;
    char host[64];
    int port = -1;
    assert_int_equal(httpd_parse_hostport("127.0.0.1:8080", host, sizeof host, &port), 0);
    assert_string_equal(host, "127.0.0.1");
    assert_int_equal(port, 8080);
    assert_int_equal(httpd_parse_hostport("0.0.0.0:0", host, sizeof host, &port), 0);
    assert_int_equal(port, 0);
    assert_int_equal(httpd_parse_hostport("[::1]:9000", host, sizeof host, &port), 0);
    assert_string_equal(host, "::1");
    assert_int_equal(port, 9000);
    assert_int_equal(httpd_parse_hostport("localhost", host, sizeof host, &port), -1);
    assert_int_equal(httpd_parse_hostport(":80", host, sizeof host, &port), -1);
    assert_int_equal(httpd_parse_hostport("h:", host, sizeof host, &port), -1);
    assert_int_equal(httpd_parse_hostport("h:65536", host, sizeof host, &port), -1);
    assert_int_equal(httpd_parse_hostport("h:80x", host, sizeof host, &port), -1);
    assert_int_equal(httpd_parse_hostport("[::1]9000", host, sizeof host, &port), -1);
    assert_int_equal(httpd_parse_hostport(NULL, host, sizeof host, &port), -1);
}

static int bearer(const char *header, const char *token)
{
    struct evhttp_request *req = evhttp_request_new(NULL, NULL);
    if (header) evhttp_add_header(evhttp_request_get_input_headers(req), "authorization", header);
    int ok = httpd_bearer_ok(req, token);
    evhttp_request_free(req);
    return ok;
}

static void test_bearer(void **state)
{
    (void)state;
    assert_true(bearer("Bearer s3cret-admin", "s3cret-admin"));
    assert_true(bearer("bearer s3cret-admin", "s3cret-admin"));    /* scheme is case-insensitive */
    assert_false(bearer("Bearer s3cret-admin", "s3cret-admiN"));
    assert_false(bearer("Bearer s3cret-admin2", "s3cret-admin"));  /* prefix is not enough */
    assert_false(bearer("Bearer s3cret", "s3cret-admin"));
    assert_false(bearer("Basic s3cret-admin", "s3cret-admin"));
    assert_false(bearer("s3cret-admin", "s3cret-admin"));
    assert_false(bearer(NULL, "s3cret-admin"));
    assert_false(bearer("Bearer ", ""));                             /* no token: nobody gets in */
    assert_false(bearer("Bearer x", NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_hostport),
        cmocka_unit_test(test_bearer),
    };
    return cmocka_run_group_tests_name("httpd", tests, NULL, NULL);
}
