/* Unit tests for src/log.c: both formats, levels, and that a secret never reaches output. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *capture(enum log_format fmt, void (*emit)(void))
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    log_setup(LOG_DEBUG, fmt, f);
    emit();
    fclose(f);
    log_setup(LOG_INFO, LOG_LOGFMT, NULL);
    return buf;
}

static void emit_plain(void) { log_info("job done", "job_id", "42", "topic", "orders/create"); }

static void test_logfmt_fields(void **state)
{
    (void)state;
    char *out = capture(LOG_LOGFMT, emit_plain);
    assert_non_null(strstr(out, " level=info msg=\"job done\" job_id=42 topic=orders/create\n"));
    assert_int_equal(strncmp(out, "ts=", 3), 0);
    free(out);
}

static void test_json_fields(void **state)
{
    (void)state;
    char *out = capture(LOG_JSON, emit_plain);
    assert_non_null(strstr(out, "\"level\":\"info\",\"msg\":\"job done\",\"job_id\":\"42\","
                                "\"topic\":\"orders/create\"}\n"));
    free(out);
}

static void emit_escapes(void) { log_warn("odd", "v", "a \"q\"\nb", "empty", ""); }

static void test_escaping(void **state)
{
    (void)state;
    char *out = capture(LOG_LOGFMT, emit_escapes);
    assert_non_null(strstr(out, "v=\"a \\\"q\\\"\\nb\" empty=\"\"\n"));
    /* exactly one line */
    assert_ptr_equal(strchr(out, '\n'), out + strlen(out) - 1);
    free(out);
    out = capture(LOG_JSON, emit_escapes);
    assert_non_null(strstr(out, "\"v\":\"a \\\"q\\\"\\nb\""));
    free(out);
}


static void test_level_filter(void **state)
{
    (void)state;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    log_setup(LOG_WARN, LOG_LOGFMT, f);
    log_info("hidden");
    log_debug("hidden too");
    log_error("shown");
    fclose(f);
    assert_null(strstr(buf, "hidden"));
    assert_non_null(strstr(buf, "msg=shown"));
    free(buf);
    log_setup(LOG_INFO, LOG_LOGFMT, NULL);
}

static void emit_secret(void)
{
    log_info("token is s3cr3t-token-value", "auth", "Bearer s3cr3t-token-value",
             "quoted", "x\"s3cr3t-token-value\"");
    log_error("with quote", "v", "pa\"ss\"word-secret");
}

static void test_secret_never_printed(void **state)
{
    (void)state;
    log_add_secret("s3cr3t-token-value");
    log_add_secret("pa\"ss\"word-secret"); /* changes when escaped: must still be caught */
    log_add_secret("abc");                 /* too short to redact; must not mangle output */
    for (int fmt = LOG_LOGFMT; fmt <= LOG_JSON; fmt++) {
        char *out = capture((enum log_format)fmt, emit_secret);
        assert_null(strstr(out, "s3cr3t"));
        assert_null(strstr(out, "word-secret"));
        assert_non_null(strstr(out, "[REDACTED]"));
        free(out);
    }
    log_clear_secrets();
    char *out = capture(LOG_LOGFMT, emit_secret);
    assert_non_null(strstr(out, "s3cr3t-token-value"));
    free(out);
}

static void test_parse(void **state)
{
    (void)state;
    enum log_level lv;
    enum log_format lf;
    assert_int_equal(log_level_parse("warn", &lv), 0);
    assert_int_equal(lv, LOG_WARN);
    assert_int_equal(log_level_parse("verbose", &lv), -1);
    assert_int_equal(log_format_parse("json", &lf), 0);
    assert_int_equal(lf, LOG_JSON);
    assert_int_equal(log_format_parse("xml", &lf), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_logfmt_fields), cmocka_unit_test(test_json_fields),
        cmocka_unit_test(test_escaping),      cmocka_unit_test(test_level_filter),
        cmocka_unit_test(test_secret_never_printed), cmocka_unit_test(test_parse),
    };
    return cmocka_run_group_tests_name("log", tests, NULL, NULL);
}
