/* Unit tests for src/metrics.c: the exact Prometheus text (HELP/TYPE, labels, cumulative
 * histogram buckets with +Inf, _sum/_count), idempotent registration and gauge functions. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "metrics.h"

#include <stdlib.h>
#include <string.h>

static double seven(void *ud) { return *(double *)ud; }

static void test_counter_gauge_text(void **state)
{
    (void)state;
    struct metrics *m = metrics_new();
    struct metric *a = metrics_counter(m, "t_requests_total", "code=\"200\"", "requests\nby code");
    struct metric *b = metrics_counter(m, "t_requests_total", "code=\"401\"", "ignored");
    metrics_inc(a);
    metrics_inc(a);
    metrics_add(b, 3);
    assert_ptr_equal(metrics_counter(m, "t_requests_total", "code=\"200\"", NULL), a);
    assert_null(metrics_gauge(m, "t_requests_total", NULL, "wrong type"));
    metrics_set(metrics_gauge(m, "t_temp", NULL, "a gauge"), 0.5);
    double v = 7;
    metrics_gauge_fn(m, "t_fn", NULL, "from a function", seven, &v);
    size_t len;
    char *text = metrics_render(m, &len);
    assert_string_equal(text,
        "# HELP t_requests_total requests\\nby code\n"
        "# TYPE t_requests_total counter\n"
        "t_requests_total{code=\"200\"} 2\n"
        "t_requests_total{code=\"401\"} 3\n"
        "# HELP t_temp a gauge\n"
        "# TYPE t_temp gauge\n"
        "t_temp 0.5\n"
        "# HELP t_fn from a function\n"
        "# TYPE t_fn gauge\n"
        "t_fn 7\n");
    assert_int_equal(len, strlen(text));
    free(text);
    /* re-registering a gauge function replaces it (the engine takes over queue depth) */
    double w = 42;
    metrics_gauge_fn(m, "t_fn", NULL, NULL, seven, &w);
    assert_true(metrics_value(metrics_gauge(m, "t_fn", NULL, NULL)) == 42);
    metrics_free(m);
}

static void test_histogram_text(void **state)
{
    (void)state;
    struct metrics *m = metrics_new();
    const double bounds[] = { 0.001, 0.01, 0.1 };
    struct metric *h = metrics_histogram(m, "t_seconds", "op=\"commit\"", "latency", bounds, 3);
    metrics_observe(h, 0.0005);
    metrics_observe(h, 0.001);   /* le is inclusive */
    metrics_observe(h, 0.05);
    metrics_observe(h, 3);
    char *text = metrics_render(m, NULL);
    assert_string_equal(text,
        "# HELP t_seconds latency\n"
        "# TYPE t_seconds histogram\n"
        "t_seconds_bucket{op=\"commit\",le=\"0.001\"} 2\n"
        "t_seconds_bucket{op=\"commit\",le=\"0.01\"} 2\n"
        "t_seconds_bucket{op=\"commit\",le=\"0.1\"} 3\n"
        "t_seconds_bucket{op=\"commit\",le=\"+Inf\"} 4\n"
        "t_seconds_sum{op=\"commit\"} 3.0515\n"
        "t_seconds_count{op=\"commit\"} 4\n");
    free(text);
    assert_true(metrics_value(h) == 4);
    metrics_free(m);
}

static void test_unlabelled_histogram_and_null_safety(void **state)
{
    (void)state;
    struct metrics *m = metrics_new();
    const double bounds[] = { 1, 2 };
    metrics_observe(metrics_histogram(m, "t_batch", NULL, "sizes", bounds, 2), 2);
    char *text = metrics_render(m, NULL);
    assert_non_null(strstr(text, "t_batch_bucket{le=\"1\"} 0\nt_batch_bucket{le=\"2\"} 1\n"
                                 "t_batch_bucket{le=\"+Inf\"} 1\nt_batch_sum 2\nt_batch_count 1\n"));
    free(text);
    metrics_inc(NULL);
    metrics_observe(NULL, 1);
    metrics_set(NULL, 1);
    metrics_register_process(m);
    text = metrics_render(m, NULL);
    assert_non_null(strstr(text, "# TYPE process_resident_memory_bytes gauge\n"));
    assert_null(strstr(text, "process_resident_memory_bytes 0\n"));
    free(text);
    metrics_free(m);
    /* an empty registry renders as an empty string, not NULL */
    m = metrics_new();
    text = metrics_render(m, NULL);
    assert_string_equal(text, "");
    free(text);
    metrics_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counter_gauge_text),
        cmocka_unit_test(test_histogram_text),
        cmocka_unit_test(test_unlabelled_histogram_and_null_safety),
    };
    return cmocka_run_group_tests_name("metrics", tests, NULL, NULL);
}
