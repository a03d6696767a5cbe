/* Unit tests for src/admin.c: the route table (exact and prefix routes, 405 vs 404, one-line
 * registration replacing an earlier one) and the registries' limits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "admin.h"

#include <string.h>

static void h1(struct evhttp_request *req, void *ud) { (void)req; (void)ud; }
static void h2(struct evhttp_request *req, void *ud) { (void)req; (void)ud; }

static void test_routes(void **state)
{
    (void)state;
    static struct admin a;
    memset(&a, 0, sizeof a);
    int known;
    assert_int_equal(admin_route(&a, ADMIN_GET, "/api/v1/jobs", h1, NULL), 0);
    assert_int_equal(admin_route(&a, ADMIN_GET | ADMIN_POST, "/api/v1/jobs/*", h2, NULL), 0);
    assert_int_equal(admin_route(&a, ADMIN_POST, "/api/v1/reload", h1, NULL), 0);

    const struct admin_route *r = admin_match(&a, ADMIN_GET, "/api/v1/jobs", &known);
    assert_non_null(r);
    assert_ptr_equal(r->fn, h1);
    r = admin_match(&a, ADMIN_POST, "/api/v1/jobs/42/replay", &known);
    assert_non_null(r);
    assert_ptr_equal(r->fn, h2);
    assert_null(admin_match(&a, ADMIN_GET, "/api/v1/reload", &known));
    assert_true(known);                                         /* -> 405 */
    assert_null(admin_match(&a, ADMIN_GET, "/api/v1/nothing", &known));
    assert_false(known);                                        /* -> 404 */
    assert_null(admin_match(&a, ADMIN_GET, "/api/v1/jobsx", &known));

    /* registering the same path and methods again replaces the handler */
    assert_int_equal(admin_route(&a, ADMIN_GET, "/api/v1/jobs", h2, &a), 0);
    r = admin_match(&a, ADMIN_GET, "/api/v1/jobs", &known);
    assert_ptr_equal(r->fn, h2);
    assert_ptr_equal(r->ud, &a);
    assert_int_equal(a.nroutes, 3);
}

static int never(void *ud, char *why, size_t n) { (void)ud; (void)why; (void)n; return 0; }

static void test_limits(void **state)
{
    (void)state;
    static struct admin a;
    memset(&a, 0, sizeof a);
    char path[ADMIN_MAX_ROUTES + 1][16];
    for (int i = 0; i < ADMIN_MAX_ROUTES; i++) {
        snprintf(path[i], sizeof path[i], "/r%d", i);
        assert_int_equal(admin_route(&a, ADMIN_GET, path[i], h1, NULL), 0);
    }
    assert_int_equal(admin_route(&a, ADMIN_GET, "/one-too-many", h1, NULL), -1);
    for (int i = 0; i < ADMIN_MAX_CHECKS; i++)
        assert_int_equal(admin_ready_check(&a, "x", never, NULL), 0);
    assert_int_equal(admin_ready_check(&a, "x", never, NULL), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_routes),
        cmocka_unit_test(test_limits),
    };
    return cmocka_run_group_tests_name("admin", tests, NULL, NULL);
}
