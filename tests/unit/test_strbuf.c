/* Unit tests for src/strbuf.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "strbuf.h"

#include <stdlib.h>
#include <string.h>

static void test_append_and_take(void **state)
{
    (void)state;
    struct strbuf b = { 0 };
    assert_string_equal(strbuf_str(&b), "");
    strbuf_puts(&b, "id=");
    strbuf_printf(&b, "%lld", 820982911946154508LL);
    strbuf_put(&b, "xyz", 1);
    assert_string_equal(strbuf_str(&b), "id=820982911946154508x");
    assert_int_equal(b.len, strlen("id=820982911946154508x"));
    char *s = strbuf_take(&b);
    assert_string_equal(s, "id=820982911946154508x");
    assert_null(b.p);
    free(s);
    s = strbuf_take(&b); /* an empty buffer hands over "" */
    assert_string_equal(s, "");
    free(s);
}

static void test_grows_past_many_doublings(void **state)
{
    (void)state;
    struct strbuf b = { 0 };
    for (int i = 0; i < 100000; i++) strbuf_printf(&b, "%d,", i % 10);
    assert_int_equal(b.len, 200000);
    assert_int_equal(b.p[b.len], '\0');
    assert_int_equal(b.p[199998], '9');
    strbuf_free(&b);
    assert_null(b.p);
}

static void test_embedded_nul_is_kept(void **state)
{
    (void)state;
    struct strbuf b = { 0 };
    strbuf_put(&b, "a\0b", 3);
    assert_int_equal(b.len, 3);
    assert_memory_equal(b.p, "a\0b", 3);
    strbuf_free(&b);
}

/* A reset empties the text and keeps the buffer: the next text lands in the same memory. */
static void test_reset_keeps_the_buffer(void **state)
{
    (void)state;
    struct strbuf b = { 0 };
    strbuf_reset(&b);                           /* never used: still empty, no buffer */
    assert_string_equal(strbuf_str(&b), "");
    strbuf_puts(&b, "a longer first text");
    char *mem = b.p;
    size_t cap = b.cap;
    strbuf_reset(&b);
    assert_int_equal(b.len, 0);
    assert_string_equal(strbuf_str(&b), "");
    strbuf_puts(&b, "second");
    assert_ptr_equal(b.p, mem);
    assert_int_equal(b.cap, cap);
    assert_string_equal(strbuf_str(&b), "second");
    strbuf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_append_and_take),
        cmocka_unit_test(test_grows_past_many_doublings),
        cmocka_unit_test(test_embedded_nul_is_kept),
        cmocka_unit_test(test_reset_keeps_the_buffer),
    };
    return cmocka_run_group_tests_name("strbuf", tests, NULL, NULL);
}
