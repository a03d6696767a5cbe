/* Unit tests for src/dryrun_scan.c and the reader's calls-only mode built on it: a line the scan
 * vouches for must yield exactly the calls the full read yields (the same strings, statuses,
 * kinds), a doubtful line must be refused (the reader then reads it fully), and the ordinary
 * recorded line must be vouched for, or the scan is only overhead. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "dryrun_read.h"
#include "dryrun_scan.h"
#include "test_rng.h"

#include <jansson.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A recorded line as `ezsync record` writes it, with the awkward parts in it: escapes, \u
 * surrogates, UTF-8, ids above 2^53, fractions, empty containers, nulls, nesting, a repeated
 * member (the last one counts). */
#define EVENT "\"event\":{\"id\":7,\"source\":\"shopify\",\"topic\":\"orders/create\"," \
              "\"received_at\":1795707928915,\"body\":\"{\\\"id\\\":820982911946154508," \
              "\\\"name\\\":\\\"caf\\u00e9 \\\\ud83d\\\\ude00 \xe2\x82\xac\\\",\\\"a\\\":[[],{}]}\"}"
#define CALLS "\"calls\":[{\"step\":1,\"kind\":\"orderez\",\"method\":\"GET\"," \
              "\"path\":\"/distributor/outlets?limit=1&q=caf\xc3\xa9\",\"body\":null,\"status\":200," \
              "\"response\":\"{\\\"data\\\":[{\\\"id\\\":9223372036854775807}]}\"}," \
              "{\"step\":2,\"kind\":\"shopify\",\"method\":\"POST\",\"path\":\"/graphql.json\"," \
              "\"body\":\"{\\\"query\\\":\\\"mutation X {}\\\"}\",\"status\":200,\"response\":\"{}\"}," \
              "{\"step\":3,\"kind\":\"notify\",\"kind\":\"shopify\",\"method\":\"POST\",\"body\":\"{\\\"query\\\":" \
              "\\\"query Q { shop { id } }\\\\n\\\",\\\"v\\\":\\\"\\ud83d\\ude00\\\"}\"," \
              "\"status\":-9223372036854775808,\"response\":\"\\\"\\\\\\\"\\\"\",\"x\":[1.5,-0.25,{}]}]"
#define GOOD "{" EVENT ",\"job\":{\"id\":42,\"state\":\"done\"}," CALLS "}"

/* What the journal index wants; here also a path, to see the filter's arguments are right. */
static int want(int kind, const char *method, const char *body)
{
    if (kind == 1) return method && strcmp(method, "GET") == 0;
    if (kind == 0) return body && !strstr(body, "mutation");
    return method && strcmp(method, "PUT") == 0;
}

static void scan_ok(const char *line, int vouched)
{
    struct dryrun_scan sc = { 0 };
    int got = dryrun_scan_line(&sc, line, strlen(line));
    if (got != vouched) fail_msg("scan says %d, want %d: %s", got, vouched, line);
    dryrun_scan_free(&sc);
}

static void test_vouches(void **state)
{
    (void)state;
    static const char *const yes[] = {
        GOOD, GOOD "\n", GOOD "\r\n", " \t" GOOD, "{}", "{\"calls\":[]}", "{" CALLS "}",
        "{\"calls\":[{}],\"x\":9223372036854775807,\"y\":-9223372036854775808,\"z\":0.5}",
        "{\"calls\":[{\"kind\":\"orderez\",\"kind\":\"shopify\",\"status\":200.0}]}",
        "{\"a\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}",
        "{\"a\":-0.123456789012345678901234567890123456789012345678901234567890}",
        "{\"a\":{\"c\\u0061lls\":[]}}", /* escapes in keys below the calls' fields are fine */
        "{\"a\":\"\\\\u0000\"}", /* an escaped backslash, then text: no NUL */
    };
    static const char *const no[] = {
        "", "\n", "[]", "1", "null", "\"x\"", "not json", GOOD "x", GOOD ",", "{" EVENT,
        "{\"calls\":{}}", "{\"calls\":null}", "{\"calls\":[1]}", "{\"calls\":[null]}",
        "{\"calls\":[[]]}", "{\"calls\":[],\"calls\":[]}", "{\"c\\u0061lls\":[]}",
        "{\"c\\u0061llz\":1}",
        "{\"calls\":[{\"k\\u0069nd\":\"x\"}]}", "{\"a\":\"\\u0000\"}", "{\"k\\u0000\":1}",
        "{\"a\":1e3}", "{\"a\":1E3}", "{\"a\":1.5e-3}", "{\"a\":9223372036854775808}",
        "{\"a\":-9223372036854775809}", "{\"a\":12345678901234567890}", "{\"a\":01}",
        "{\"a\":1.}", "{\"a\":.5}", "{\"a\":-}", "{\"a\":+1}",
        "{\"a\":0.12345678901234567890123456789012345678901234567890123456789012}",
        "{\"a\":\"\xff\"}", "{\"a\":\"\xc3\"}", "{\"a\":\"\xed\xa0\x80\"}", "{\"a\":\"\x01\"}",
        "{\"a\":\"\\ud800\"}", "{\"a\":\"\\udc00\"}", "{\"a\":\"\\ud800\\u0041\"}",
        "{\"a\":\"\\x\"}", "{\"a\":\"\\u00g0\"}", "{\"a\":\"abc}", "{\"a\":\"abc\\\"}",
        "{\"a\":tru}", "{\"a\":nul}", "{\"a\":[1,]}", "{\"a\":{,}}", "{\"a\" 1}", "{\"a\":1,}",
        "{'a':1}", "{\"a\":[1\f]}",
    };
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) scan_ok(yes[i], 1);
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++) scan_ok(no[i], 0);
    char deep[256];
    for (int n = 60; n <= 66; n++) { /* the line is depth 1, so n-1 arrays inside */
        size_t k = (size_t)sprintf(deep, "{\"a\":");
        for (int i = 1; i < n; i++) deep[k++] = '[';
        for (int i = 1; i < n; i++) deep[k++] = ']';
        deep[k++] = '}';
        deep[k] = '\0';
        scan_ok(deep, n <= 64);
    }
}

/* The spans are the values' raw text, the last of a repeated member. */
static void test_spans(void **state)
{
    (void)state;
    const char *line = "{\"calls\":[{\"kind\":\"a\",\"status\": 200 ,\"kind\" : \"b\\\"\",\"x\":{}},"
                       "{\"body\":{\"k\":[1]},\"path\":null}]}";
    struct dryrun_scan sc = { 0 };
    assert_int_equal(dryrun_scan_line(&sc, line, strlen(line)), 1);
    assert_int_equal(sc.ncalls, 2);
    const struct dryrun_span *f = sc.calls[0].f;
    assert_int_equal(f[DRYRUN_F_KIND].n, 5);
    assert_memory_equal(f[DRYRUN_F_KIND].s, "\"b\\\"\"", 5);
    assert_int_equal(f[DRYRUN_F_STATUS].n, 3);
    assert_memory_equal(f[DRYRUN_F_STATUS].s, "200", 3);
    assert_null(f[DRYRUN_F_METHOD].s);
    f = sc.calls[1].f;
    assert_int_equal(f[DRYRUN_F_BODY].n, 9);
    assert_memory_equal(f[DRYRUN_F_BODY].s, "{\"k\":[1]}", 9);
    assert_memory_equal(f[DRYRUN_F_PATH].s, "null", 4);
    assert_null(f[DRYRUN_F_KIND].s);
    dryrun_scan_free(&sc);
}

/* Strings are stepped over a word at a time: the scan must vouch for a string exactly when
 * jansson takes it (it refuses \u0000 too), whatever sits where in the words, bytes that share
 * a flag with a neighbour included ('#' after '"', ']' after '\\', ' ' after a control). */
static void string_case(const char *str, size_t n)
{
    char line[256];
    size_t k = (size_t)snprintf(line, sizeof line, "{\"a\":\"");
    memcpy(line + k, str, n);
    k += n;
    k += (size_t)snprintf(line + k, sizeof line - k, "\"}");
    json_t *j = json_loadb(line, k, 0, NULL);
    struct dryrun_scan sc = { 0 };
    int got = dryrun_scan_line(&sc, line, k);
    if (got != (j != NULL)) fail_msg("scan %d, jansson %d: %.*s", got, j != NULL, (int)k, line);
    json_decref(j);
    dryrun_scan_free(&sc);
}

static void test_string_words(void **state)
{
    (void)state;
    char str[128];
    for (int b = 1; b < 256; b++) {
        for (int at = 0; at < 20; at++) {
            size_t n = 0;
            for (int i = 0; i < 24; i++) {
                if (i == at) str[n++] = (char)b;
                else if (i % 3 == 0) str[n++] = '\\', str[n++] = '"';
                else str[n++] = (char)('a' + i);
            }
            string_case(str, n);
        }
    }
    static const char *const pieces[] = {
        "\\\"", "\\\\", "\\/", "\\n", "\\u00e9", "\\u20AC", "\\ud83d\\ude00", "\\u0000",
        "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80", "\xc3", "\xed\xa0\x80", "\x1f", "\\x",
        "\\ud83d", "\\", "\"", "\\\"#", "\\\\]", "\x1f ", "\\\"\\\"\\\"",
    };
    size_t np = sizeof pieces / sizeof pieces[0];
    for (size_t x = 0; x < np; x++)
        for (size_t y = 0; y < np; y++)
            for (int at = 0; at < 17; at++)
                for (int gap = 0; gap < 10; gap += 3) {
                    size_t n = 0;
                    for (int i = 0; i < at; i++) str[n++] = 'p';
                    n += (size_t)sprintf(str + n, "%s", pieces[x]);
                    for (int i = 0; i < gap; i++) str[n++] = 'q';
                    n += (size_t)sprintf(str + n, "%s", pieces[y]);
                    for (int i = 0; i < 12; i++) str[n++] = 'r';
                    string_case(str, n);
                }
}

static void same_str(const char *want_s, const char *got, const char *what, const char *line)
{
    if ((want_s == NULL) != (got == NULL) || (want_s && strcmp(want_s, got)))
        fail_msg("%s: want %s, got %s in %s", what, want_s ? want_s : "(null)",
                 got ? got : "(null)", line);
}

static char path[64];

/* Reads the line both ways; the calls-only read must carry exactly the wanted calls. */
static void both_ways(const char *line, size_t len)
{
    FILE *f = fopen(path, "w+");
    assert_non_null(f);
    fwrite(line, 1, len, f);
    fputc('\n', f);
    struct dryrun_reader *full = dryrun_reader_open(f, 0), *part = NULL;
    rewind(f);
    struct dryrun_event *a = dryrun_reader_next(full);
    FILE *g = fopen(path, "r");
    assert_non_null(g);
    part = dryrun_reader_open(g, 0);
    dryrun_reader_only_calls(part, want);
    struct dryrun_event *b = dryrun_reader_next(part);
    if (!a) {
        assert_null(b);
    } else {
        assert_non_null(b);
        /* the wanted calls of each, in order (a line read whole carries the others too) */
        size_t i = 0, j = 0;
        for (;;) {
            while (i < a->ncalls && !want(a->calls[i].kind, a->calls[i].method, a->calls[i].body))
                i++;
            while (j < b->ncalls && !want(b->calls[j].kind, b->calls[j].method, b->calls[j].body))
                j++;
            if (i == a->ncalls || j == b->ncalls) break;
            const struct dryrun_call *x = &a->calls[i++], *y = &b->calls[j++];
            if (x->kind != y->kind || x->status != y->status)
                fail_msg("kind %d / %d, status %lld / %lld in %s", x->kind, y->kind,
                         (long long)x->status, (long long)y->status, line);
            same_str(x->kind_name, y->kind_name, "kind", line);
            same_str(x->method, y->method, "method", line);
            same_str(x->path, y->path, "path", line);
            same_str(x->body, y->body, "body", line);
            same_str(x->response, y->response, "response", line);
        }
        if (i != a->ncalls || j != b->ncalls) fail_msg("a call missing or extra in %s", line);
    }
    dryrun_reader_close(full);
    dryrun_reader_close(part);
    fclose(f);
    fclose(g);
}


static void test_same_calls(void **state)
{
    (void)state;
    both_ways(GOOD, strlen(GOOD));
    /* wanted calls with odd fields: read as the full read reads them */
    static const char *const lines[] = {
        "{\"calls\":[{\"kind\":\"orderez\",\"method\":\"GET\",\"status\":200.0,\"path\":1}]}",
        "{\"calls\":[{\"kind\":\"orderez\",\"method\":\"GET\",\"status\":-0,\"path\":null}]}",
        "{\"calls\":[{\"kind\":\"orderez\",\"method\":\"GET\",\"status\":\"200\",\"path\":[]}]}",
        "{\"calls\":[{\"kind\":\"orderez\",\"method\":\"GET\",\"status\":0.5,\"response\":{}}]}",
        "{\"calls\":[{\"kind\":\"orderez\",\"method\":\"GET\",\"status\":9223372036854775807}]}",
        "{\"calls\":[{\"kind\":\"orderez\",\"method\":\"GET\",\"status\":true,\"body\":\"\"}]}",
        "{\"calls\":[{\"kind\":\"shopify\",\"body\":\"q \\u00e9\\n\\\"\",\"response\":\"\"}]}",
        "{\"calls\":[{\"kind\":\"notify\",\"method\":\"PUT\",\"path\":\"\\ud83d\\ude00\"}]}",
    };
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) both_ways(lines[i], strlen(lines[i]));
    static const char noise[] = "\"\\,:[]{}0-e.+ u\n\x80\xff\xc3\x01xtn";
    const char *base = GOOD;
    size_t n0 = strlen(base);
    char *m = malloc(n0 + 2);
    struct dryrun_scan sc = { 0 };
    int vouched = 0, refused = 0;
    for (int k = 0; k < 3000; k++) { /* one random edit each: to delete, insert, or cut */
        size_t n = rnd_edit(m, base, n0, noise, sizeof noise - 1);
        if (memchr(m, '\n', n)) continue; /* two lines: not one case */
        m[n] = '\0';
        if (memchr(m, '\0', n)) continue;
        dryrun_scan_line(&sc, m, n) ? vouched++ : refused++;
        both_ways(m, n);
    }
    dryrun_scan_free(&sc);
    free(m);
    print_message("%d edits vouched for, %d refused\n", vouched, refused);
    assert_true(vouched > 300 && refused > 300);
}

static int setup(void **state)
{
    (void)state;
    snprintf(path, sizeof path, "/tmp/test_dryrun_scan.%d", (int)getpid());
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    remove(path);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vouches),
        cmocka_unit_test(test_spans),
        cmocka_unit_test(test_string_words),
        cmocka_unit_test(test_same_calls),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
