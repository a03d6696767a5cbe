/* Unit tests for src/dryrun_state.c: the dry-run's in-memory idmap/kv must answer every call as
 * the store (store_state.c, an in-memory SQLite database) does, the reference here. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "dryrun_state.h"
#include "rules.h"
#include "store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct rules_state_ops *ops = &dryrun_state_ops;

static void check_get(struct store *st, struct dryrun_state *s, const char *kind, const char *id,
                      int reverse)
{
    char *want = NULL;
    const char *got = NULL;
    int wrc = (reverse ? store_idmap_get_shopify : store_idmap_get_orderez)(st, kind, id, &want);
    int grc = ops->idmap_get(s, kind, id, reverse, &got);
    assert_int_equal(grc, wrc);
    if (wrc == 0) assert_string_equal(got, want);
    else assert_null(got);
    free(want);
}

static void check_kv(struct store *st, struct dryrun_state *s, const char *key)
{
    char *want = NULL;
    const char *got = NULL;
    int wrc = store_kv_get(st, "rules", key, &want);
    assert_int_equal(ops->kv_get(s, "rules", key, &got), wrc);
    if (wrc == 0) assert_string_equal(got, want);
    free(want);
}

static void test_idmap_basics(void **state)
{
    (void)state;
    struct dryrun_state *s = dryrun_state_new();
    const char *v;
    assert_int_equal(ops->idmap_get(s, "order", "1", 0, &v), STORE_NOTFOUND);
    assert_int_equal(ops->idmap_get(s, "order", "oz-1", 1, &v), STORE_NOTFOUND);
    assert_int_equal(ops->idmap_put(s, "order", "1", "oz-1"), 0);
    assert_int_equal(ops->idmap_get(s, "order", "1", 0, &v), 0);
    assert_string_equal(v, "oz-1");
    assert_int_equal(ops->idmap_get(s, "line", "1", 0, &v), STORE_NOTFOUND); /* kinds apart */
    /* two customers, one outlet: the reverse lookup gives the oldest link */
    assert_int_equal(ops->idmap_put(s, "customer", "b", "105"), 0);
    assert_int_equal(ops->idmap_put(s, "customer", "a", "105"), 0);
    assert_int_equal(ops->idmap_get(s, "customer", "105", 1, &v), 0);
    assert_string_equal(v, "b");
    /* b moves to another outlet: a is the only link left; b keeps its age */
    assert_int_equal(ops->idmap_put(s, "customer", "b", "106"), 0);
    assert_int_equal(ops->idmap_get(s, "customer", "105", 1, &v), 0);
    assert_string_equal(v, "a");
    assert_int_equal(ops->idmap_put(s, "customer", "b", "105"), 0);
    assert_int_equal(ops->idmap_get(s, "customer", "105", 1, &v), 0);
    assert_string_equal(v, "b");
    assert_int_equal(ops->idmap_get(s, "customer", "106", 1, &v), STORE_NOTFOUND);
    /* "ab"+"c" is not "a"+"bc" */
    assert_int_equal(ops->idmap_put(s, "ab", "c", "x"), 0);
    assert_int_equal(ops->idmap_get(s, "a", "bc", 0, &v), STORE_NOTFOUND);
    dryrun_state_free(s);
}

static void test_kv_basics(void **state)
{
    (void)state;
    struct dryrun_state *s = dryrun_state_new();
    const char *v;
    assert_int_equal(ops->kv_get(s, "rules", "k", &v), STORE_NOTFOUND);
    assert_int_equal(ops->kv_put(s, "rules", "k", NULL), 0); /* deleting the absent is fine */
    assert_int_equal(ops->kv_put(s, "rules", "k", "{\"a\":1}"), 0);
    assert_int_equal(ops->kv_get(s, "rules", "k", &v), 0);
    assert_string_equal(v, "{\"a\":1}");
    assert_int_equal(ops->kv_put(s, "rules", "k", "2"), 0);
    assert_int_equal(ops->kv_get(s, "rules", "k", &v), 0);
    assert_string_equal(v, "2");
    assert_int_equal(ops->kv_get(s, "other", "k", &v), STORE_NOTFOUND);
    assert_int_equal(ops->kv_put(s, "rules", "k", NULL), 0);
    assert_int_equal(ops->kv_get(s, "rules", "k", &v), STORE_NOTFOUND);
    assert_int_equal(ops->kv_put(s, "rules", "k", "3"), 0);
    assert_int_equal(ops->kv_get(s, "rules", "k", &v), 0);
    assert_string_equal(v, "3");
    dryrun_state_free(s);
}

/* Random operations on both, many more than the first table sizes (the tables grow). The
 * reverse table is built on the first reverse lookup: from the first operation on, or only
 * after `late` operations (built then from every link so far). */
static void same_as_store(int late)
{
    struct store *st = NULL;
    char err[256];
    assert_int_equal(store_open(&st, ":memory:", 0, err, sizeof err), 0);
    struct dryrun_state *s = dryrun_state_new();
    static const char *const kinds[] = { "order", "line", "customer", "variant" };
    unsigned seed = 7;
    char a[32], b[32], val[48];
    for (int i = 0; i < 20000; i++) {
        seed = seed * 1103515245u + 12345u;
        unsigned r = seed >> 8;
        const char *kind = kinds[r % 4];
        snprintf(a, sizeof a, "%u", (r >> 2) % 3000);
        snprintf(b, sizeof b, "oz-%u", (r >> 14) % 500);
        switch ((r >> 24) % 6) {
        case 0:
        case 1: {
            int want = store_idmap_put(st, kind, a, b);
            assert_int_equal(ops->idmap_put(s, kind, a, b), want);
            break;
        }
        case 2: check_get(st, s, kind, a, 0); break;
        case 3: if (i >= late) check_get(st, s, kind, b, 1); break;
        case 4:
            snprintf(val, sizeof val, "{\"v\":%u}", r % 97);
            if (r % 5 == 0) {
                assert_int_equal(store_kv_delete(st, "rules", a), 0);
                assert_int_equal(ops->kv_put(s, "rules", a, NULL), 0);
            } else {
                assert_int_equal(store_kv_put(st, "rules", a, val), 0);
                assert_int_equal(ops->kv_put(s, "rules", a, val), 0);
            }
            break;
        default: check_kv(st, s, a); break;
        }
    }
    for (int k = 0; k < 4; k++)
        for (int i = 0; i < 3000; i += 7) {
            snprintf(a, sizeof a, "%d", i);
            check_get(st, s, kinds[k], a, 0);
            snprintf(b, sizeof b, "oz-%d", i % 500);
            check_get(st, s, kinds[k], b, 1);
            check_kv(st, s, a);
        }
    dryrun_state_free(s);
    store_close(st);
}

static void test_same_as_store(void **state)
{
    (void)state;
    same_as_store(0);
}

static void test_same_as_store_reverse_late(void **state)
{
    (void)state;
    same_as_store(15000);
}

/* Attempts (dryrun_state_begin): random writes, each attempt kept or undone at random. The
 * store gets the writes of kept attempts only: after every attempt the two must answer alike,
 * values and the reverse lookup's oldest link (ages restored by a rollback) included. */
static void attempts(int late)
{
    struct store *st = NULL;
    char err[256];
    assert_int_equal(store_open(&st, ":memory:", 0, err, sizeof err), 0);
    struct dryrun_state *s = dryrun_state_new();
    static const char *const kinds[] = { "customer", "variant" };
    struct op { int kv; const char *kind; char a[16], b[16]; int del; } ops_[16];
    unsigned seed = 11;
    int undone = 0;
    for (int round = 0; round < 3000; round++) {
        dryrun_state_begin(s);
        seed = seed * 1103515245u + 12345u;
        int n = 1 + (int)((seed >> 8) % 16);
        for (int i = 0; i < n; i++) {
            seed = seed * 1103515245u + 12345u;
            unsigned r = seed >> 8;
            struct op *o = &ops_[i];
            o->kv = r % 3 == 0;
            o->kind = kinds[(r >> 2) % 2];
            snprintf(o->a, sizeof o->a, "%u", (r >> 3) % 200);
            snprintf(o->b, sizeof o->b, "oz-%u", (r >> 11) % 40);
            o->del = o->kv && (r >> 17) % 4 == 0;
            if (o->kv) assert_int_equal(ops->kv_put(s, "rules", o->a, o->del ? NULL : o->b), 0);
            else assert_int_equal(ops->idmap_put(s, o->kind, o->a, o->b), 0);
        }
        if ((seed >> 20) % 3 == 0) {
            dryrun_state_rollback(s);
            undone++;
        } else {
            for (int i = 0; i < n; i++) {
                struct op *o = &ops_[i];
                if (o->kv && o->del) assert_int_equal(store_kv_delete(st, "rules", o->a), 0);
                else if (o->kv) assert_int_equal(store_kv_put(st, "rules", o->a, o->b), 0);
                else assert_int_equal(store_idmap_put(st, o->kind, o->a, o->b), 0);
            }
            if (round % 2) dryrun_state_commit(s); /* else the next begin commits */
        }
        char a[16], b[16];
        for (int i = 0; i < 200; i += (round % 50 == 0 ? 1 : 37)) {
            snprintf(a, sizeof a, "%d", i);
            snprintf(b, sizeof b, "oz-%d", i % 40);
            for (int k = 0; k < 2; k++) {
                check_get(st, s, kinds[k], a, 0);
                if (round >= late) check_get(st, s, kinds[k], b, 1);
            }
            check_kv(st, s, a);
        }
    }
    assert_true(undone > 500);
    dryrun_state_free(s);
    store_close(st);
}

static void test_attempts(void **state)
{
    (void)state;
    attempts(0);
}

/* The reverse table is first built in round 2000's checks, after ~700 rollbacks: from the
 * values the rollbacks restored. */
static void test_attempts_reverse_late(void **state)
{
    (void)state;
    attempts(2000);
}

/* A reverse lookup first made inside an attempt builds the table from the attempt's writes
 * too; its rollback must then take them out of it again. */
static void test_reverse_built_in_attempt(void **state)
{
    (void)state;
    struct dryrun_state *s = dryrun_state_new();
    const char *got;
    assert_int_equal(ops->idmap_put(s, "customer", "1", "oz-1"), 0);
    dryrun_state_begin(s);
    assert_int_equal(ops->idmap_put(s, "customer", "1", "oz-2"), 0);
    assert_int_equal(ops->idmap_put(s, "customer", "2", "oz-1"), 0);
    assert_int_equal(ops->idmap_get(s, "customer", "oz-2", 1, &got), 0);
    assert_string_equal(got, "1");
    assert_int_equal(ops->idmap_get(s, "customer", "oz-1", 1, &got), 0);
    assert_string_equal(got, "2");
    dryrun_state_rollback(s);
    assert_int_equal(ops->idmap_get(s, "customer", "oz-2", 1, &got), STORE_NOTFOUND);
    assert_int_equal(ops->idmap_get(s, "customer", "oz-1", 1, &got), 0);
    assert_string_equal(got, "1");
    dryrun_state_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_idmap_basics),
        cmocka_unit_test(test_kv_basics),
        cmocka_unit_test(test_same_as_store),
        cmocka_unit_test(test_same_as_store_reverse_late),
        cmocka_unit_test(test_attempts),
        cmocka_unit_test(test_attempts_reverse_late),
        cmocka_unit_test(test_reverse_built_in_attempt),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
