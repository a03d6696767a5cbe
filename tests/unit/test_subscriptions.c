/* Unit tests for src/subscriptions.c: topic names and when the module is off. (The check
 * itself runs against the Shopify simulator in tests/e2e/subscriptions.test.mjs.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "config.h"
#include "subscriptions.h"

#include <string.h>

static void test_topic_enum(void **state)
{
    (void)state;
    char out[64];
    assert_int_equal(subscriptions_topic_enum("orders/create", out, sizeof out), 0);
    assert_string_equal(out, "ORDERS_CREATE");
    assert_int_equal(subscriptions_topic_enum("inventory_levels/update", out, sizeof out), 0);
    assert_string_equal(out, "INVENTORY_LEVELS_UPDATE");
    assert_int_equal(subscriptions_topic_enum("orders/create\"x", out, sizeof out), -1);
    assert_int_equal(subscriptions_topic_enum("", out, sizeof out), -1);
    assert_int_equal(subscriptions_topic_enum("orders/create", out, 5), -1);
}

static void test_off_without_an_address(void **state)
{
    (void)state;
    struct config cfg;
    config_defaults(&cfg);
    struct engine_remotes r = { 0 };
    assert_null(subscriptions_new(NULL, &cfg, NULL, &r));
    unsigned checks, created;
    subscriptions_counts(NULL, &checks, &created);
    assert_int_equal(checks + created, 0);
    config_free(&cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_topic_enum),
        cmocka_unit_test(test_off_without_an_address),
    };
    return cmocka_run_group_tests_name("subscriptions", tests, NULL, NULL);
}
