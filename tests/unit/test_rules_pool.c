/* Unit tests for src/rules_pool.c: blocks are aligned, distinct and keep their bytes across
 * moves between size classes and to and from malloc; freed blocks are reused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "rules_pool.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void fill(unsigned char *b, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++) b[i] = (unsigned char)(seed + i * 7);
}

static int holds(const unsigned char *b, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        if (b[i] != (unsigned char)(seed + i * 7)) return 0;
    return 1;
}

static void test_blocks_are_aligned_and_distinct(void **state)
{
    (void)state;
    struct rules_pool p;
    memset(&p, 0, sizeof p);
    enum { N = 5000 };
    unsigned char **b = calloc(N, sizeof *b);
    size_t *n = calloc(N, sizeof *n);
    for (unsigned i = 0; i < N; i++) {
        n[i] = 1 + (i * 37) % RULES_POOL_MAX;
        b[i] = rules_pool_realloc(&p, NULL, 0, n[i]);
        assert_non_null(b[i]);
        assert_int_equal((uintptr_t)b[i] % 16, 0);
        fill(b[i], n[i], i);
    }
    for (unsigned i = 0; i < N; i++) assert_true(holds(b[i], n[i], i)); /* nothing overlapped */
    for (unsigned i = 0; i < N; i++) rules_pool_dealloc(&p, b[i], n[i]);
    free(b);
    free(n);
    rules_pool_release(&p);
}

static void test_realloc_keeps_bytes(void **state)
{
    (void)state;
    struct rules_pool p;
    memset(&p, 0, sizeof p);
    /* grows through every class, into malloc, further in malloc, then back down */
    static const size_t sizes[] = { 1, 16, 17, 100, 256, 257, 4000, 100000, 300, 200, 32, 3 };
    size_t old = sizes[0];
    unsigned char *b = rules_pool_realloc(&p, NULL, 0, old);
    fill(b, old, 5);
    for (size_t i = 1; i < sizeof sizes / sizeof *sizes; i++) {
        size_t n = sizes[i];
        b = rules_pool_realloc(&p, b, old, n);
        assert_non_null(b);
        assert_true(holds(b, old < n ? old : n, 5));
        fill(b, n, 5);
        old = n;
    }
    rules_pool_dealloc(&p, b, old);
    rules_pool_release(&p);
}

static void test_freed_blocks_are_reused(void **state)
{
    (void)state;
#if defined(__SANITIZE_ADDRESS__)
    skip(); /* blocks come straight from malloc under ASan */
#endif
    struct rules_pool p;
    memset(&p, 0, sizeof p);
    void *a = rules_pool_alloc(&p, 40), *b = rules_pool_alloc(&p, 40);
    assert_ptr_not_equal(a, b);
    rules_pool_free(&p, a, 33);              /* same class: 33..48 bytes */
    assert_ptr_equal(rules_pool_alloc(&p, 48), a);
    assert_ptr_not_equal(rules_pool_alloc(&p, 48), a);
    /* staying in its class, a block does not move */
    assert_ptr_equal(rules_pool_realloc(&p, b, 40, 47), b);
    rules_pool_release(&p);
    assert_null(p.chunks);
    assert_non_null(rules_pool_alloc(&p, 8)); /* usable again */
    rules_pool_release(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_blocks_are_aligned_and_distinct),
        cmocka_unit_test(test_realloc_keeps_bytes),
        cmocka_unit_test(test_freed_blocks_are_reused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
