/* Unit tests for src/dryrun_read.c: the recording reader must see each line exactly as the old
 * jansson-based reader did (same fields, same refusals with the same messages), threaded or
 * not. The old reader is kept here as the reference. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "dryrun_read.h"
#include "dryrun_scan.h"
#include "test_rng.h"

#include <jansson.h>
#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the old reader (dryrun.c before the direct decoder), as the reference ---- */

static const char *jstr(json_t *o, const char *k) { return json_string_value(json_object_get(o, k)); }

static int kind_parse(const char *s)
{
    if (!s) return -1;
    if (strcmp(s, "shopify") == 0) return 0;
    if (strcmp(s, "orderez") == 0) return 1;
    if (strcmp(s, "notify") == 0) return 2;
    return -1;
}

static void assert_str(const char *want, const char *got, const char *what)
{
    if ((want == NULL) != (got == NULL) || (want && strcmp(want, got)))
        fail_msg("%s: want %s, got %s", what, want ? want : "(null)", got ? got : "(null)");
}

/* Compares what the new reader made of one line with what the old one would. */
static void check_event(const char *line, const struct dryrun_event *ev)
{
    json_error_t jerr;
    json_t *j = json_loadb(line, strlen(line), 0, &jerr);
    json_t *e = j ? json_object_get(j, "event") : NULL;
    const char *problem = NULL;
    if (!j) problem = jerr.text;
    else if (!json_is_object(e)) problem = "no \"event\" object";
    else if (!jstr(e, "source") || !jstr(e, "topic") || !jstr(e, "body"))
        problem = "event needs string source, topic and body";
    else if (strspn(jstr(e, "source"), "abcdefghijklmnopqrstuvwxyz_") != strlen(jstr(e, "source")))
        problem = "event source must be a lower-case name";
    else if (json_object_get(j, "calls") && !json_is_array(json_object_get(j, "calls")))
        problem = "\"calls\" must be an array";
    assert_str(problem, ev->problem, line);
    if (problem) {
        json_decref(j);
        return;
    }
    assert_int_equal(ev->id, json_integer_value(json_object_get(e, "id")));
    assert_int_equal(ev->received_at, json_integer_value(json_object_get(e, "received_at")));
    assert_int_equal(ev->job_id, json_integer_value(json_object_get(json_object_get(j, "job"), "id")));
    assert_str(jstr(e, "source"), ev->source, "source");
    assert_str(jstr(e, "topic"), ev->topic, "topic");
    assert_str(jstr(e, "body"), ev->body, "body");
    json_t *calls = json_object_get(j, "calls");
    assert_int_equal(ev->ncalls, json_array_size(calls));
    for (size_t i = 0; i < ev->ncalls; i++) {
        json_t *c = json_array_get(calls, i);
        const struct dryrun_call *dc = &ev->calls[i];
        assert_int_equal(dc->kind, kind_parse(jstr(c, "kind")));
        assert_str(jstr(c, "kind"), dc->kind_name, "kind");
        assert_str(jstr(c, "method"), dc->method, "method");
        assert_str(jstr(c, "path"), dc->path, "path");
        assert_str(jstr(c, "body"), dc->body, "call body");
        assert_str(jstr(c, "response"), dc->response, "response");
        assert_int_equal(dc->status, json_integer_value(json_object_get(c, "status")));
        assert_int_equal(dc->used, 0);
    }
    json_decref(j);
}

#define GOOD "{\"event\":{\"id\":7,\"source\":\"shopify\",\"topic\":\"orders/create\"," \
             "\"received_at\":1795707928915,\"body\":\"{\\\"id\\\":820982911946154508," \
             "\\\"name\\\":\\\"caf\\u00e9 \\\\ud83d\\\\ude00\\\"}\"},\"job\":{\"id\":42," \
             "\"state\":\"done\"},\"calls\":[{\"step\":1,\"kind\":\"orderez\",\"method\":\"GET\"," \
             "\"path\":\"/distributor/outlets?limit=1\",\"body\":null,\"status\":200," \
             "\"response\":\"{\\\"data\\\":[]}\"},{\"step\":2,\"kind\":\"shopify\",\"method\":" \
             "\"POST\",\"path\":\"/graphql.json\",\"body\":\"{\\\"query\\\":\\\"mutation X {" \
             "}\\\"}\",\"status\":200,\"response\":\"{}\"}]}"

static const char *const lines[] = {
    GOOD,
    "not json",
    "   ",
    "\r",
    "[]",
    "[1]",
    "1",
    "\"x\"",
    "null",
    "{}",
    "{\"event\":[]}",
    "{\"event\":{}}",
    "{\"event\":null}",
    "{\"event\":{\"source\":1,\"topic\":\"t\",\"body\":\"{}\"}}",
    "{\"event\":{\"source\":\"Shopify\",\"topic\":\"t\",\"body\":\"{}\"}}",
    "{\"event\":{\"source\":\"shop-ify\",\"topic\":\"t\",\"body\":\"{}\"}}",
    "{\"event\":{\"source\":\"shopify\",\"topic\":\"t\",\"body\":\"{}\"},\"calls\":null}",
    "{\"event\":{\"source\":\"shopify\",\"topic\":\"t\",\"body\":\"{}\"},\"calls\":{}}",
    "{\"event\":{\"source\":\"shopify\",\"topic\":\"t\",\"body\":\"{}\"},\"calls\":\"x\"}",
    "{\"event\":{\"source\":\"shopify\",\"topic\":\"t\",\"body\":\"{}\"},\"calls\":[1,null,[],"
    "{\"kind\":\"nope\",\"status\":200.0},{\"kind\":\"notify\",\"status\":\"200\",\"path\":1},"
    "{\"kind\":\"orderez\",\"kind\":\"shopify\",\"status\":-5}]}",
    "{\"event\":{\"id\":1.0,\"received_at\":\"5\",\"source\":\"shopify\",\"topic\":\"t\","
    "\"body\":\"{}\"},\"job\":{\"id\":\"5\"}}",
    "{\"event\":{\"id\":-9223372036854775808,\"source\":\"_\",\"topic\":\"\",\"body\":\"\"},"
    "\"job\":null}",
    "{\"event\":{\"id\":92233720368547758070,\"source\":\"s\",\"topic\":\"t\",\"body\":\"{}\"}}",
    "{\"event\":{\"source\":\"shopify\",\"topic\":\"t\",\"body\":\"a\\u0000b\"}}",
    "{\"event\":{\"source\":\"shopify\",\"topic\":\"t\",\"body\":\"a\\\\u0000b\"}}",
    /* \u0000 anywhere (a key, a field nothing reads) refuses the line, as jansson does */
    "{\"event\":{\"source\":\"shopify\",\"topic\":\"t\",\"body\":\"{}\"},\"x\":[\"\\u00e9\\u0000\"]}",
    "{\"event\":{\"source\":\"shopify\",\"topic\":\"t\",\"body\":\"{}\",\"k\\u0000\":1}}",
    "{\"event\":{\"source\":\"shopify\",\"topic\":\"t\",\"body\":\"\\ud800\"}}",
    "{\"event\":{\"source\":\"shopify\",\"topic\":\"t\",\"body\":\"\xff\"}}",
    "{\"event\":{\"source\":\"shopify\",\"topic\":\"t\",\"body\":\"{}\"}} x",
    "{\"event\":{\"source\":\"shopify\",\"topic\":\"t\",\"body\":\"{}\"}}\r",
    "{\"event\":{\"source\":\"shopify\",\"topic\":\"t\",\"body\":\"{}\"},\"event\":{\"source\":"
    "\"orderez\",\"topic\":\"u\",\"body\":\"[]\"}}",
    "{\"event\":{\"source\":\"shopify\",\"topic\":\"t\",\"body\":\"{}\"",
    /* repeated members, read straight from the text: the last one counts, whatever it is */
    "{\"event\":{\"source\":\"shopify\",\"topic\":\"t\",\"body\":\"{}\"},\"event\":1}",
    "{\"event\":{\"source\":\"shopify\",\"topic\":\"t\",\"body\":\"{}\",\"body\":\"[]\","
    "\"id\":3,\"id\":4.5,\"received_at\":1,\"received_at\":2},\"job\":{\"id\":5},\"job\":7}",
    "{\"job\":[],\"job\":{\"id\":5,\"id\":-6},\"event\":{\"source\":\"shopify\",\"topic\":"
    "\"t\",\"body\":\"{}\"}}",
    "{\"event\":{\"source\":\"shopify\",\"topic\":\"t\",\"body\":\"{}\",\"source\":null}}",
    "{\"event\":{\"source\":\"a_b\",\"topic\":\"\\u00e9\\n\",\"body\":\"\\ud83d\\ude00\",\"id\":"
    "true,\"received_at\":\"7\"},\"job\":{\"id\":9223372036854775807}}",
};

static char tmpl[4096];

/* Writes GOOD, a blank line and the case; reads them back and checks both events. */
static void run_case(const char *line, int threaded)
{
    FILE *f = fopen(tmpl, "w+");
    assert_non_null(f);
    fprintf(f, "%s\n\n%s\n", GOOD, line);
    rewind(f);
    struct dryrun_reader *r = dryrun_reader_open(f, threaded);
    assert_non_null(r);
    struct dryrun_event *ev = dryrun_reader_next(r);
    assert_non_null(ev);
    assert_int_equal(ev->lineno, 1);
    check_event(GOOD, ev);
    ev = dryrun_reader_next(r);
    assert_non_null(ev);
    assert_int_equal(ev->lineno, 3);
    assert_int_equal(ev->offset, (long)(strlen(GOOD) + strlen(line) + 3));
    check_event(line, ev);
    assert_null(dryrun_reader_next(r));
    dryrun_reader_close(r);
    fclose(f);
}

static void test_lines_as_before(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
        run_case(lines[i], 0);
        run_case(lines[i], 1);
    }
}

/* Nested deeper than the Lua decoder goes (128): jansson took it, so the reader does too. */
static void test_deep_line(void **state)
{
    (void)state;
    char line[2048];
    size_t k = (size_t)sprintf(line, "{\"event\":{\"source\":\"shopify\",\"topic\":\"t\",\"body\":"
                                     "\"{}\"},\"job\":{\"id\":3,\"x\":");
    for (int i = 0; i < 300; i++) line[k++] = '[';
    for (int i = 0; i < 300; i++) line[k++] = ']';
    strcpy(line + k, "}}");
    run_case(line, 0);
    run_case(line, 1);
}

/* Random edits of a good line: whichever way the reader takes (straight from the text when
 * dryrun_scan vouches for the line, else the full decode), it makes of it what the old reader
 * did; and the edits go both ways often enough to test both. */
static void test_edits_as_before(void **state)
{
    (void)state;
    static const char noise[] = "\"\\,:[]{}0-e.+ u\x80\xff\xc3\x01xtnS";
    const char *base = GOOD;
    size_t n0 = strlen(base);
    char *m = malloc(n0 + 3);
    struct dryrun_scan sc = { 0 };
    int vouched = 0, refused = 0;
    for (int k = 0; k < 3000; k++) {
        size_t n = rnd_edit(m, base, n0, noise, sizeof noise - 1);
        m[n] = '\0';
        if (memchr(m, '\n', n) || strlen(m) != n) continue; /* not one line, or a NUL */
        dryrun_scan_event_line(&sc, m, n) ? vouched++ : refused++;
        FILE *f = fopen(tmpl, "w+");
        assert_non_null(f);
        fprintf(f, "%s\n", m);
        rewind(f);
        struct dryrun_reader *r = dryrun_reader_open(f, 0);
        struct dryrun_event *ev = dryrun_reader_next(r);
        if (strspn(m, " \t\r") == n) {
            assert_null(ev);
        } else {
            assert_non_null(ev);
            m[n] = '\n'; /* as the reader reads it: a refusal's message may name the newline */
            m[n + 1] = '\0';
            check_event(m, ev);
        }
        dryrun_reader_close(r);
        fclose(f);
    }
    dryrun_scan_free(&sc);
    free(m);
    print_message("%d edits read from the text, %d decoded\n", vouched, refused);
    assert_true(vouched > 300 && refused > 300);
}

/* Many events through the ring (it wraps many times), each checked in order. */
static void test_many_events(void **state)
{
    (void)state;
    FILE *f = fopen(tmpl, "w+");
    assert_non_null(f);
    for (int i = 1; i <= 1000; i++)
        fprintf(f, "{\"event\":{\"id\":%d,\"source\":\"shopify\",\"topic\":\"t\",\"body\":\"{\\\"n\\\":%d}\"},"
                   "\"calls\":[{\"kind\":\"orderez\",\"method\":\"GET\",\"path\":\"/p/%d\"}]}\n", i, i, i);
    for (int threaded = 0; threaded < 2; threaded++) {
        rewind(f);
        struct dryrun_reader *r = dryrun_reader_open(f, threaded);
        struct dryrun_event *ev;
        int n = 0;
        char want[64];
        while ((ev = dryrun_reader_next(r)) != NULL) {
            n++;
            assert_null(ev->problem);
            assert_int_equal(ev->id, n);
            snprintf(want, sizeof want, "{\"n\":%d}", n);
            assert_string_equal(ev->body, want);
            snprintf(want, sizeof want, "/p/%d", n);
            assert_string_equal(ev->calls[0].path, want);
            if (n == 500 && threaded) break; /* closing midway stops the reader thread */
        }
        assert_int_equal(n, threaded ? 500 : 1000);
        dryrun_reader_close(r);
    }
    fclose(f);
}

/* prepare runs once for each event without a problem, in order, on its own event (here: its
 * id and body into the text), and the event carries what it made; a problem line has none. */
static void prepare_id(const struct dryrun_event *ev, struct dryrun_prep *p)
{
    struct dryrun_doc *d = p->doc;
    size_t need = strlen(ev->body) + 32;
    if (need > d->cap) {
        d->text = realloc(d->text, need);
        d->cap = need;
    }
    d->len = (size_t)snprintf(d->text, d->cap, "%lld %s", (long long)ev->id, ev->body);
}

static void test_prepare(void **state)
{
    (void)state;
    FILE *f = fopen(tmpl, "w+");
    assert_non_null(f);
    for (int i = 1; i <= 300; i++)
        fprintf(f, "{\"event\":{\"id\":%d,\"source\":\"shopify\",\"topic\":\"t\",\"body\":\"{\\\"n\\\":%d}\"}}\n",
                i, i);
    fprintf(f, "{\"event\":{\"id\":301,\"source\":\"Shopify\",\"topic\":\"t\",\"body\":\"{}\"}}\n");
    for (int threaded = 0; threaded < 2; threaded++) {
        rewind(f);
        struct dryrun_reader *r = dryrun_reader_open_prep(f, threaded, prepare_id);
        struct dryrun_event *ev;
        int n = 0;
        char want[64];
        while ((ev = dryrun_reader_next(r)) != NULL) {
            n++;
            if (n == 301) {
                assert_non_null(ev->problem);
                assert_null(ev->prep);
                break;
            }
            assert_null(ev->problem);
            assert_non_null(ev->prep);
            snprintf(want, sizeof want, "%d {\"n\":%d}", n, n);
            assert_string_equal(ev->prep->doc->text, want);
            assert_int_equal(ev->prep->doc->len, strlen(want));
        }
        assert_int_equal(n, 301);
        dryrun_reader_close(r);
    }
    fclose(f);
}

/* A doc still held after its event (lent to the rules: rules_ctx.event_lend) is never written
 * again: its slot makes another, and the held one keeps its text until it is let go, even
 * after the reader is closed. */
static void test_prepare_held(void **state)
{
    (void)state;
    FILE *f = fopen(tmpl, "w+");
    assert_non_null(f);
    for (int i = 1; i <= 200; i++)
        fprintf(f, "{\"event\":{\"id\":%d,\"source\":\"shopify\",\"topic\":\"t\",\"body\":\"{\\\"n\\\":%d}\"}}\n",
                i, i);
    for (int threaded = 0; threaded < 2; threaded++) {
        rewind(f);
        struct dryrun_reader *r = dryrun_reader_open_prep(f, threaded, prepare_id);
        struct dryrun_doc *held[8];
        char want[8][64];
        int nheld = 0, n = 0;
        struct dryrun_event *ev;
        while ((ev = dryrun_reader_next(r)) != NULL) {
            n++;
            assert_non_null(ev->prep);
            for (int k = 0; k < nheld; k++) {
                assert_ptr_not_equal(ev->prep->doc, held[k]);
                assert_string_equal(held[k]->text, want[k]);
            }
            char now[64];
            snprintf(now, sizeof now, "%d {\"n\":%d}", n, n);
            assert_string_equal(ev->prep->doc->text, now);
            if (n % 23 == 1 && nheld < 8) { /* held twice, as a run that ran again holds it */
                held[nheld] = ev->prep->doc;
                dryrun_doc_lend(held[nheld], +1);
                dryrun_doc_lend(held[nheld], +1);
                dryrun_doc_lend(held[nheld], -1);
                snprintf(want[nheld], sizeof want[nheld], "%s", now);
                nheld++;
            }
        }
        assert_int_equal(n, 200);
        assert_int_equal(nheld, 8);
        dryrun_reader_close(r);
        for (int k = 0; k < nheld; k++) {
            assert_string_equal(held[k]->text, want[k]);
            dryrun_doc_lend(held[k], -1); /* the last hold: freed */
        }
    }
    fclose(f);
}

/* Split anywhere, the two ranges read every line exactly once (the read index is built so). */
static void test_ranges(void **state)
{
    (void)state;
    FILE *f = fopen(tmpl, "w+");
    assert_non_null(f);
    for (int i = 1; i <= 20; i++)
        fprintf(f, "{\"event\":{\"id\":%d,\"source\":\"s\",\"topic\":\"t\",\"body\":\"%.*s\"}}\n%s", i,
                i, "xxxxxxxxxxxxxxxxxxxx", i % 5 ? "" : "\n");
    long size = ftell(f);
    for (long mid = 0; mid <= size; mid++) {
        int64_t seen = 0;
        long start[2] = { 0, mid }, end[2] = { mid, -1 };
        for (int part = 0; part < 2; part++) {
            struct dryrun_reader *r = dryrun_reader_open(f, 0);
            assert_int_equal(dryrun_reader_range(r, start[part], end[part]), 0);
            struct dryrun_event *ev;
            while ((ev = dryrun_reader_next(r)) != NULL) {
                assert_null(ev->problem);
                assert_int_equal(seen & (1LL << ev->id), 0);
                seen |= 1LL << ev->id;
            }
            dryrun_reader_close(r);
        }
        assert_int_equal(seen, ((1LL << 21) - 1) & ~1LL);
    }
    fclose(f);
}

static void old_operation_name(const char *body, char *out, size_t n)
{
    out[0] = '\0';
    json_t *b = body ? json_loads(body, 0, NULL) : NULL;
    const char *q = b ? json_string_value(json_object_get(b, "query")) : NULL;
    if (q) {
        while (*q == ' ' || *q == '\n' || *q == '\t') q++;
        size_t len = strcspn(q, "({");
        while (len > 0 && (q[len - 1] == ' ' || q[len - 1] == '\n')) len--;
        snprintf(out, n, "%.*s", (int)(len < n ? len : n - 1), q);
    }
    json_decref(b);
}

static void test_operation_name(void **state)
{
    (void)state;
    static const char *const bodies[] = {
        "{\"query\":\"mutation OrderWriteback($id: ID!) { x }\",\"variables\":{}}",
        "{\"query\":\"  \\n query Products {\\n }\"}", "{\"query\":\"{ shop { name } }\"}",
        "{\"query\":1}", "{}", "[]", "[{\"query\":\"query A {}\"}]", "\"query\"", "not json", "",
        "{\"query\":\"query A\\u0000 {}\"}", "{\"query\":\"query \\\\u0000 {}\"}",
        "{\"query\":\"query Deep {}\",\"variables\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
        "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
        "[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]"
        "]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}",
        "{\"query\":\"query " "AVeryLongOperationNameThatGoesOnAndOnAndOnAndOnAndOnAndOnAndOnAndOnAndOnAndOn"
        "AndOnAndOnAndOnAndOnAndOnAndOnAndOnAndOn {}\"}",
        NULL,
    };
    lua_State *L = luaL_newstate();
    char got[128], want[128];
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        old_operation_name(bodies[i], want, sizeof want);
        dryrun_operation_name(L, bodies[i], got, sizeof got);
        assert_string_equal(got, want);
        assert_int_equal(lua_gettop(L), 0);
    }
    lua_close(L);
}

int main(void)
{
    const char *dir = getenv("EZSYNC_TEST_TMP");
    snprintf(tmpl, sizeof tmpl, "%s/dryrun_read.jsonl", dir ? dir : "/tmp");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lines_as_before),
        cmocka_unit_test(test_deep_line),
        cmocka_unit_test(test_edits_as_before),
        cmocka_unit_test(test_many_events),
        cmocka_unit_test(test_prepare),
        cmocka_unit_test(test_prepare_held),
        cmocka_unit_test(test_ranges),
        cmocka_unit_test(test_operation_name),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    remove(tmpl);
    return rc;
}
