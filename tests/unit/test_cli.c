/* Unit tests for src/cli.c: config path resolution, --help detection, config loading codes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "cli.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void test_default_config_path(void **state)
{
    (void)state;
    unsetenv("EZSYNC_CONFIG");
    assert_string_equal(cli_default_config(), "ezsync.conf.lua");
    setenv("EZSYNC_CONFIG", "/etc/ezsync/x.lua", 1);
    assert_string_equal(cli_default_config(), "/etc/ezsync/x.lua");
    unsetenv("EZSYNC_CONFIG");
}

static void test_wants_help(void **state)
{
    (void)state;
    char *a[] = { "check", "-c", "x", "--help" };
    char *b[] = { "check", "-c", "--", "--help" };
    char *c[] = { "check", "-h" };
    char *d[] = { "check", "-c", "help.lua" };
    assert_true(cli_wants_help(4, a));
    assert_false(cli_wants_help(4, b));
    assert_true(cli_wants_help(2, c));
    assert_false(cli_wants_help(3, d));
}

static void test_load_config_exit_codes(void **state)
{
    (void)state;
    char path[] = "/tmp/ezsync-cli-XXXXXX.lua";
    int fd = mkstemps(path, 4);
    assert_true(fd >= 0);
    const char good[] = "return { store = { path = 'x.db' } }";
    assert_int_equal(write(fd, good, sizeof good - 1), (ssize_t)(sizeof good - 1));
    close(fd);
    struct config cfg;
    assert_int_equal(cli_load_config(&cfg, path), EXIT_OK);
    assert_string_equal(cfg.store_path, "x.db");
    config_free(&cfg);
    FILE *f = fopen(path, "w");
    fputs("return { store = { paht = 'x.db' } }", f);
    fclose(f);
    assert_int_equal(cli_load_config(&cfg, path), EXIT_USAGE);
    unlink(path);
    assert_int_equal(cli_load_config(&cfg, path), EXIT_USAGE); /* missing file */
    log_setup(LOG_INFO, LOG_LOGFMT, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_config_path),
        cmocka_unit_test(test_wants_help),
        cmocka_unit_test(test_load_config_exit_codes),
    };
    return cmocka_run_group_tests_name("cli", tests, NULL, NULL);
}
