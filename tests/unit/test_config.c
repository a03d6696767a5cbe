/* Unit tests for src/config.c: the option table, the sandboxed evaluation, error messages. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "config.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int load(struct config *cfg, const char *src, char *err, size_t n)
{
    config_defaults(cfg);
    return config_load_string(cfg, src, "test.conf.lua", err, n);
}

static void test_defaults(void **state)
{
    (void)state;
    struct config cfg;
    config_defaults(&cfg);
    assert_string_equal(cfg.server_listen, "0.0.0.0:8080");
    assert_string_equal(cfg.server_admin_listen, "127.0.0.1:8081");
    assert_string_equal(cfg.shopify_api_version, "2026-10");
    assert_int_equal(cfg.server_max_body, 1048576);
    assert_true(cfg.orderez_rate > 9.99 && cfg.orderez_rate < 10.01);
    assert_null(cfg.shopify_access_token);
    config_free(&cfg);
}

static void test_every_option_has_help_and_parsable_default(void **state)
{
    (void)state;
    for (size_t i = 0; i < config_noptions; i++) {
        assert_non_null(config_options[i].help);
        if (config_options[i].type != CFG_MAP) /* maps (schedules) are whole sections */
            assert_true(strchr(config_options[i].key, '.') != NULL);
        /* secrets have no default: they must come from the environment */
        if (config_options[i].secret) assert_null(config_options[i].def);
    }
}

static void test_values_and_sections(void **state)
{
    (void)state;
    struct config cfg;
    char err[512] = "";
    int rc = load(&cfg, "return { server = { listen = '127.0.0.1:9000', max_body = 2048 },"
                        " orderez = { rate = 2.5 }, log = { format = 'json' } }", err, sizeof err);
    assert_int_equal(rc, 0);
    assert_string_equal(cfg.server_listen, "127.0.0.1:9000");
    assert_int_equal(cfg.server_max_body, 2048);
    assert_true(cfg.orderez_rate > 2.49 && cfg.orderez_rate < 2.51);
    assert_string_equal(cfg.log_format, "json");
    assert_string_equal(cfg.server_admin_listen, "127.0.0.1:8081"); /* default kept */
    config_free(&cfg);
}

static void test_unknown_key_names_it_and_nearest(void **state)
{
    (void)state;
    struct config cfg;
    char err[512] = "";
    assert_int_equal(load(&cfg, "return { server = { lisen = 'x' } }", err, sizeof err), -1);
    assert_non_null(strstr(err, "unknown key 'server.lisen'"));
    assert_non_null(strstr(err, "did you mean 'server.listen'"));
    config_free(&cfg);
    assert_int_equal(load(&cfg, "return { shopfy = { shop = 'x' } }", err, sizeof err), -1);
    assert_non_null(strstr(err, "unknown key 'shopfy'"));
    config_free(&cfg);
}

static void test_type_errors_do_not_echo_values(void **state)
{
    (void)state;
    struct config cfg;
    char err[512] = "";
    assert_int_equal(load(&cfg, "return { server = { max_body = 'big' } }", err, sizeof err), -1);
    assert_non_null(strstr(err, "server.max_body must be an integer"));
    config_free(&cfg);
    assert_int_equal(load(&cfg, "return { shopify = { access_token = 12345678 } }", err,
                          sizeof err), -1);
    assert_non_null(strstr(err, "shopify.access_token must be a string"));
    assert_null(strstr(err, "12345678"));
    config_free(&cfg);
    assert_int_equal(load(&cfg, "return { log = { level = 'loud' } }", err, sizeof err), -1);
    assert_non_null(strstr(err, "log.level"));
    config_free(&cfg);
}

static void test_env(void **state)
{
    (void)state;
    struct config cfg;
    char err[512] = "";
    setenv("EZ_TEST_TOKEN", "tok-from-env", 1);
    unsetenv("EZ_TEST_MISSING");
    assert_int_equal(load(&cfg, "return { orderez = { token = env 'EZ_TEST_TOKEN' } }", err,
                          sizeof err), 0);
    assert_string_equal(cfg.orderez_token, "tok-from-env");
    config_free(&cfg);
    assert_int_equal(load(&cfg, "return { orderez = { token = env 'EZ_TEST_MISSING' } }", err,
                          sizeof err), -1);
    assert_non_null(strstr(err, "environment variable EZ_TEST_MISSING is not set"));
    assert_non_null(strstr(err, "test.conf.lua:1"));
    config_free(&cfg);
    assert_int_equal(load(&cfg, "return { shopify = { previous_webhook_secret ="
                                " env('EZ_TEST_MISSING', false) } }", err, sizeof err), 0);
    assert_null(cfg.shopify_previous_webhook_secret);
    config_free(&cfg);
}

static void test_sandbox(void **state)
{
    (void)state;
    struct config cfg;
    char err[512] = "";
    const char *bad[] = { "io.open('/etc/passwd')", "os.execute('true')", "require 'os'",
                          "dofile('/etc/passwd')", "loadfile('/etc/passwd')",
                          "load('return 1')", "debug.getinfo(1)", NULL };
    for (const char **b = bad; *b; b++) {
        char src[256];
        snprintf(src, sizeof src, "%s\nreturn {}", *b);
        assert_int_equal(load(&cfg, src, err, sizeof err), -1);
        assert_non_null(strstr(err, "nil")); /* "attempt to call/index a nil value" */
        config_free(&cfg);
    }
}

static void test_bad_files(void **state)
{
    (void)state;
    struct config cfg;
    char err[512] = "";
    assert_int_equal(load(&cfg, "return {\n server = {\n listen = }", err, sizeof err), -1);
    assert_non_null(strstr(err, "test.conf.lua:3:"));
    config_free(&cfg);
    assert_int_equal(load(&cfg, "return 42", err, sizeof err), -1);
    assert_non_null(strstr(err, "must return a table"));
    config_free(&cfg);
    assert_int_equal(load(&cfg, "while true do end", err, sizeof err), -1);
    assert_non_null(strstr(err, "too long"));
    config_free(&cfg);
    assert_int_equal(load(&cfg, "return { [1] = 'x' }", err, sizeof err), -1);
    assert_non_null(strstr(err, "keys must be names"));
    config_free(&cfg);
    assert_int_equal(load(&cfg, "\x1bLua", err, sizeof err), -1); /* bytecode refused */
    config_free(&cfg);
    config_defaults(&cfg);
    assert_int_equal(config_load(&cfg, "/nonexistent/ezsync.conf.lua", err, sizeof err), -1);
    assert_non_null(strstr(err, "cannot open configuration"));
    config_free(&cfg);
}

static void test_secrets_registered_with_log(void **state)
{
    (void)state;
    struct config cfg;
    char err[512] = "";
    setenv("EZ_TEST_SECRET", "whsec-abcdef-123456", 1);
    assert_int_equal(load(&cfg, "return { shopify = { webhook_secret = env 'EZ_TEST_SECRET' } }",
                          err, sizeof err), 0);
    config_register_secrets(&cfg);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    log_setup(LOG_DEBUG, LOG_LOGFMT, f);
    log_info("loaded", "secret", cfg.shopify_webhook_secret);
    config_print(&cfg, f);
    fclose(f);
    log_setup(LOG_INFO, LOG_LOGFMT, NULL);
    assert_null(strstr(buf, "whsec-abcdef-123456"));
    assert_non_null(strstr(buf, "shopify.webhook_secret = (set)"));
    free(buf);
    log_clear_secrets();
    config_free(&cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_every_option_has_help_and_parsable_default),
        cmocka_unit_test(test_values_and_sections),
        cmocka_unit_test(test_unknown_key_names_it_and_nearest),
        cmocka_unit_test(test_type_errors_do_not_echo_values),
        cmocka_unit_test(test_env),
        cmocka_unit_test(test_sandbox),
        cmocka_unit_test(test_bad_files),
        cmocka_unit_test(test_secrets_registered_with_log),
    };
    return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
