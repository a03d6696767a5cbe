/* Unit tests for the rules host (src/rules*.c): loading and validation, the sandbox (one case
 * per removed function), instruction and memory limits, the yield/resume I/O path against a
 * fake backend, error kinds, reload keeping the old version, refcounted versions, the
 * directory watch, and `ezsync check` on a broken rule. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "config.h"
#include "json_tape.h"
#include "log.h"
#include "rules.h"
#include "store.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char dir[512];

static void write_file(const char *name, const char *text)
{
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* A fresh rules directory per test. */
static int setup(void **state)
{
    (void)state;
    const char *base = getenv("EZSYNC_TEST_TMP");
    snprintf(dir, sizeof dir, "%s/rulesXXXXXX", base && *base ? base : "/tmp");
    assert_non_null(mkdtemp(dir));
    char lib[600];
    snprintf(lib, sizeof lib, "%s/lib", dir);
    mkdir(lib, 0755);
    log_setup(LOG_ERROR, LOG_LOGFMT, NULL);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static int open_rules(struct rules **r, long budget, long mem_mb, char *err, size_t errlen)
{
    struct config cfg;
    config_defaults(&cfg);
    free(cfg.rules_dir);
    cfg.rules_dir = strdup(dir);
    cfg.rules_instruction_budget = budget;
    cfg.rules_memory_mb = mem_mb;
    int rc = rules_open(r, &cfg, err, errlen);
    config_free(&cfg);
    return rc;
}

static struct rules *must_open(long budget, long mem_mb)
{
    char err[2048];
    struct rules *r = NULL;
    if (open_rules(&r, budget, mem_mb, err, sizeof err)) fail_msg("rules_open: %s", err);
    return r;
}

/* Runs topic to the end without I/O; returns the status, error copied into err. */
static enum rules_status run_sync(struct rules *r, const char *topic, const struct rules_ctx *ctx,
                                  char *err, size_t errlen)
{
    struct rules_run *run = NULL;
    enum rules_status st = rules_run_start(r, topic, "{\"id\":1}", ctx, &run);
    assert_non_null(run);
    snprintf(err, errlen, "%s", rules_run_error(run));
    rules_run_free(run);
    return st;
}

static void test_load_and_version(void **state)
{
    (void)state;
    write_file("a.lua", "return { name = 'a', on = { ['schedule/a'] = function(e) "
                        "return e.id end } }\n");
    struct rules *r = must_open(100000, 16);
    const char *id = rules_version_id(r);
    assert_int_equal(strlen(id), 12);
    assert_true(rules_handles(r, "schedule/a"));
    assert_false(rules_handles(r, "schedule/b"));
    char err[2048];
    assert_int_equal(run_sync(r, "schedule/a", NULL, err, sizeof err), RULES_DONE);
    assert_int_equal(run_sync(r, "schedule/b", NULL, err, sizeof err), RULES_NOHANDLER);
    assert_non_null(strstr(err, "schedule/b"));
    rules_close(r);
}

static void expect_load_error(const char *file, const char *text, const char *fragment)
{
    char err[2048];
    struct rules *r = NULL;
    write_file(file, text);
    assert_int_equal(open_rules(&r, 100000, 16, err, sizeof err), -1);
    if (!strstr(err, fragment)) fail_msg("want '%s' in: %s", fragment, err);
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", dir, file);
    unlink(p);
}

static void test_validation(void **state)
{
    (void)state;
    expect_load_error("s.lua", "return {\n on = {\n ['schedule/x'] = function(e) x = = 1 end } }",
                      "s.lua:3:");
    expect_load_error("n.lua", "return 42", "n.lua: a rule file must return a table");
    expect_load_error("o.lua", "return { name = 'o' }", "o.lua: the rule table needs on");
    expect_load_error("t.lua", "return { on = { ['orders/create'] = function() end } }",
                      "bad topic 'orders/create'");
    expect_load_error("f.lua", "return { on = { ['schedule/x'] = 1 } }", "must be a function");
    expect_load_error("k.lua", "return { on = {}, self_test = function() end }",
                      "unknown key 'self_test'");
    expect_load_error("p.lua", "return { on = {\n['schedule/x'] = function(a, b) end } }",
                      "p.lua:2: handler for schedule/x takes (event) only");
    expect_load_error("c.lua", "return { on = {}, self_check = function()\n"
                               "  assert(1 == 2, 'profile broken') end }",
                      "c.lua: self_check failed: ");
    expect_load_error("g.lua", "helper = 1\nreturn { on = {} }",
                      "g.lua:1: assignment to undeclared global 'helper'");
    expect_load_error("lib/m.lua", "local M = {}\nM.x = (nil)()\nreturn M", "lib/m.lua:2:");
    write_file("a.lua", "return { on = { ['schedule/x'] = function() end } }");
    expect_load_error("b.lua", "return { on = { ['schedule/x'] = function() end } }",
                      "already handled by");
}

/* One topic per removed capability; each must fail with a recognisable message. */
static void test_sandbox(void **state)
{
    (void)state;
    static const struct { const char *topic, *code, *fragment; } cases[] = {
        { "os_execute", "os.execute('true')", "field 'execute'" },
        { "os_exit", "os.exit(1)", "field 'exit'" },
        { "os_getenv", "os.getenv('HOME')", "field 'getenv'" },
        { "io_open", "io.open('/etc/passwd')", "undeclared global 'io'" },
        { "require_os", "require 'os'", "module 'os' not found" },
        { "require_io", "require 'io'", "module 'io' not found" },
        { "require_path", "require '../secret'", "not found" },
        { "debug", "debug.getinfo(1)", "undeclared global 'debug'" },
        { "bytecode", "load('\\27Lua' .. string.rep('x', 20))", "binary chunks are not allowed" },
        { "load_mode", "load('return 1', 'x', 'b')", "only mode \"t\"" },
        { "dofile", "dofile('/etc/passwd')", "undeclared global 'dofile'" },
        { "loadfile", "loadfile('/etc/passwd')", "undeclared global 'loadfile'" },
        { "package", "package.loadlib('x', 'y')", "undeclared global 'package'" },
        { "string_dump", "string.dump(function() end)", "field 'dump'" },
        { "collectgarbage", "collectgarbage('stop')", "undeclared global 'collectgarbage'" },
        { "print", "print('x')", "undeclared global 'print'" },
        { "global_read", "local _ = undefined_thing", "undeclared global 'undefined_thing'" },
        { "global_write", "leak = 1", "assignment to undeclared global 'leak'" },
        { "gc_meta", "setmetatable({}, { __gc = function() end })", "__gc metamethods" },
        { "ez_io_at_top", "coroutine.wrap(function() ez.orderez.request('GET', '/x') end)()",
          "inside a coroutine the rule created" },
        { "bare_yield", "coroutine.yield()", "coroutine.yield() outside" },
    };
    char src[8192] = "return { on = {\n";
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char line[256];
        snprintf(line, sizeof line, "['schedule/%s'] = function() %s end,\n", cases[i].topic,
                 cases[i].code);
        strcat(src, line);
    }
    strcat(src, "['schedule/allowed'] = function()\n"
                "  assert(os.time() > 0 and os.clock() >= 0 and os.date('!%Y') >= '2024')\n"
                "  assert(load('return 1 + 1')() == 2)\n"
                "  assert(select('#', load('x =')) == 2)\n"
                "  assert(string.format('%d', 7) == '7' and utf8.char(233) == '\\u{e9}')\n"
                "  assert(math.type(820982911946154508) == 'integer')\n"
                "  assert(coroutine.wrap(function() coroutine.yield(5) end)() == 5)\n"
                "  assert(_VERSION == 'Lua 5.4')\n"
                /* tostring writes integers itself (see fast_tostring): the same text */
                "  for _, v in ipairs({0, 7, -1, 820982911946154508, math.maxinteger, math.mininteger}) do\n"
                "    assert(tostring(v) == string.format('%d', v), tostring(v))\n"
                "  end\n"
                "  assert(tostring(1.5) == '1.5' and tostring(2^63) == '9.2233720368548e+18')\n"
                "  assert(tostring(-0.0) == '-0.0' and tostring(3.0) == '3.0')\n"
                "  assert(tostring(nil) == 'nil' and tostring(true) == 'true' and tostring('s') == 's')\n"
                "  assert(tostring(setmetatable({}, {__tostring = function() return 'T' end})) == 'T')\n"
                "  assert(tostring({}):match('^table: ') and select('#', tostring(1, 2)) == 1)\n"
                "  assert(not pcall(tostring) and select(2, pcall(tostring)):match('value expected'))\n"
                "end } }\n");
    write_file("sandbox.lua", src);
    struct rules *r = must_open(1000000, 16);
    char err[4096], topic[64];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(topic, sizeof topic, "schedule/%s", cases[i].topic);
        enum rules_status st = run_sync(r, topic, NULL, err, sizeof err);
        if (st != RULES_ERROR || !strstr(err, cases[i].fragment))
            fail_msg("%s: status %s, error: %s", cases[i].topic, rules_status_name(st), err);
    }
    if (run_sync(r, "schedule/allowed", NULL, err, sizeof err) != RULES_DONE)
        fail_msg("allowed: %s", err);
    rules_close(r);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_instruction_budget(void **state)
{
    (void)state;
    write_file("loop.lua",
        "return { on = {\n"
        "['schedule/spin'] = function() while true do end end,\n"
        "['schedule/pcall'] = function()\n"
        "  while true do pcall(function() while true do end end) end end,\n"
        "['schedule/xpcall'] = function()\n"
        "  while true do xpcall(function() while true do end end, function(e) return e end) end\n"
        "end,\n"
        "['schedule/sort'] = function()\n"   /* a C boundary: the hook cannot yield there */
        "  local t = {3, 1, 2}\n"
        "  while true do pcall(table.sort, t, function(a, b)\n"
        "    while true do pcall(function() while true do end end) end end) end end,\n"
        "['schedule/inner'] = function()\n"
        "  local co = coroutine.wrap(function() while true do end end)\n"
        "  while true do pcall(co) end end,\n"
        "['schedule/ok'] = function() local n = 0 for i = 1, 1000 do n = n + i end end,\n"
        "} }\n");
    struct rules *r = must_open(200000, 16);
    const char *topics[] = { "schedule/spin", "schedule/pcall", "schedule/xpcall",
                             "schedule/sort", "schedule/inner" };
    char err[4096];
    for (size_t i = 0; i < sizeof topics / sizeof topics[0]; i++) {
        double t0 = now_s();
        enum rules_status st = run_sync(r, topics[i], NULL, err, sizeof err);
        if (st != RULES_KILLED) fail_msg("%s: %s: %s", topics[i], rules_status_name(st), err);
        assert_non_null(strstr(err, "instruction budget of 200000 exhausted"));
        assert_non_null(strstr(err, "loop.lua:"));
        assert_true(now_s() - t0 < 2.0);
        assert_int_equal(run_sync(r, "schedule/ok", NULL, err, sizeof err), RULES_DONE);
    }
    struct rules_stats s;
    rules_stats(r, &s);
    assert_int_equal(s.runs_killed, 5);
    rules_close(r);
}

static void test_memory_cap(void **state)
{
    (void)state;
    write_file("mem.lua",
        "return { on = {\n"
        "['schedule/table'] = function() local t = {} for i = 1, 1 << 27 do t[i] = i end end,\n"
        "['schedule/string'] = function() local s = string.rep('x', 1 << 30) return #s end,\n"
        "['schedule/concat'] = function() local s = 'x'\n"
        "  for i = 1, 40 do s = s .. s end return #s end,\n"
        "['schedule/caught'] = function() local t = {}\n"
        "  local ok = pcall(function() for i = 1, 1 << 27 do t[i] = {} end end)\n"
        "  error('after pcall: ' .. tostring(ok)) end,\n"
        "['schedule/ok'] = function() local t = {} for i = 1, 1000 do t[i] = {i} end end,\n"
        "} }\n");
    struct rules *r = must_open(1000000000, 16);
    const char *topics[] = { "schedule/table", "schedule/string", "schedule/concat" };
    char err[4096];
    for (size_t i = 0; i < sizeof topics / sizeof topics[0]; i++) {
        enum rules_status st = run_sync(r, topics[i], NULL, err, sizeof err);
        if (st != RULES_NOMEM) fail_msg("%s: %s: %s", topics[i], rules_status_name(st), err);
        assert_non_null(strstr(err, "memory cap"));
        assert_int_equal(run_sync(r, "schedule/ok", NULL, err, sizeof err), RULES_DONE);
        struct rules_stats s;
        rules_stats(r, &s);
        assert_true(s.memory_bytes <= (size_t)16 << 20);
    }
    /* a rule that swallows the memory error still ends cleanly */
    enum rules_status st = run_sync(r, "schedule/caught", NULL, err, sizeof err);
    assert_true(st == RULES_ERROR || st == RULES_NOMEM);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    assert_true(ru.ru_maxrss < 200 * 1024);  /* KiB: nowhere near the 1 GiB asked for */
    rules_close(r);
}

/* ---- the I/O path against a fake backend ---- */

static char emitted[256];

static void on_emit(void *ud, const char *topic, const char *payload)
{
    (void)ud;
    snprintf(emitted, sizeof emitted, "%s %s", topic, payload);
}

/* Runs topic to the end without I/O with ctx; the result JSON (or "") copied into out. */
static enum rules_status run_result(struct rules *r, const char *topic, const struct rules_ctx *ctx,
                                    char *out, size_t outlen)
{
    struct rules_run *run = NULL;
    enum rules_status st = rules_run_start(r, topic, "{\"id\":1}", ctx, &run);
    assert_non_null(run);
    const char *res = rules_run_result(run);
    snprintf(out, outlen, "%s", res ? res : rules_run_error(run));
    rules_run_free(run);
    return st;
}

/* Unmetered runs (rules_ctx.unmetered): a run that ends unmetered ends as it would metered;
 * one that might have spent the budget, a runaway (also where the hook cannot yield), and one
 * that runs a coroutine made unhooked or hooked, ends in RULES_RETRY, and run again metered it
 * gets what a metered run gets. Nothing here depends on this machine's speed: the fast runs
 * have a bound of 100 ms (budget 10^9) and the slow one does ~8 M instructions against a
 * bound of 1 ms (10^7 at 0.1 ns). */
static void test_unmetered(void **state)
{
    (void)state;
    write_file("u.lua",
        "local gen = coroutine.wrap(function()\n"  /* made at load: hooked */
        "  while true do local n = 0 for i = 1, 5000 do n = n + i end coroutine.yield(n) end end)\n"
        "return { on = {\n"
        "['schedule/ok'] = function() local n = 0 for i = 1, 1000 do n = n + i end\n"
        "  return { n = n } end,\n"
        "['schedule/io'] = function()\n"
        "  local res = ez.orderez.request('GET', '/distributor/orders')\n"
        "  return { status = res.status } end,\n"
        "['schedule/slow'] = function() local n = 0 for i = 1, 4000000 do n = n + 1 end\n"
        "  return { n = n } end,\n"
        "['schedule/spin'] = function() while true do end end,\n"
        "['schedule/pcall'] = function()\n"
        "  while true do pcall(function() while true do end end) end end,\n"
        "['schedule/sort'] = function()\n"
        "  local t = {3, 1, 2}\n"
        "  while true do pcall(table.sort, t, function(a, b)\n"
        "    while true do pcall(function() while true do end end) end end) end end,\n"
        "['schedule/co'] = function()\n"
        "  local f = coroutine.wrap(function() coroutine.yield(7) end)\n"
        "  return { v = f() } end,\n"
        "['schedule/gen'] = function() return { v = gen() } end,\n"
        "} }\n");
    struct rules_ctx fast = { .unmetered = 1 }, metered = { 0 };
    char out[4096];
    struct rules_stats s0, s1;

    struct rules *r = must_open(1000000000, 16);
    rules_stats(r, &s0);
    assert_int_equal(run_result(r, "schedule/ok", &fast, out, sizeof out), RULES_DONE);
    assert_string_equal(out, "{\"n\":500500}");
    /* only Lua's time counts: the host may hold a yielded run as long as it likes */
    struct rules_run *run = NULL;
    assert_int_equal(rules_run_start(r, "schedule/io", "{}", &fast, &run), RULES_YIELD);
    struct timespec pause = { 0, 150000000 }; /* past the 100 ms bound */
    nanosleep(&pause, NULL);
    struct rules_io_result res = { 200, "{}", NULL, NULL };
    assert_int_equal(rules_run_resume(run, &res), RULES_DONE);
    assert_string_equal(rules_run_result(run), "{\"status\":200}");
    rules_run_free(run);
    /* a coroutine: made in the run (no hook), or at load (hooked, 10k instructions) */
    assert_int_equal(run_result(r, "schedule/co", &fast, out, sizeof out), RULES_RETRY);
    assert_int_equal(run_result(r, "schedule/co", &metered, out, sizeof out), RULES_DONE);
    assert_string_equal(out, "{\"v\":7}");
    assert_int_equal(run_result(r, "schedule/gen", &fast, out, sizeof out), RULES_RETRY);
    assert_int_equal(run_result(r, "schedule/gen", &metered, out, sizeof out), RULES_DONE);
    assert_string_equal(out, "{\"v\":12502500}");
    /* runaways: the watchdog stops them within a few of its 10 ms periods */
    const char *runaways[] = { "schedule/spin", "schedule/pcall", "schedule/sort" };
    for (size_t i = 0; i < 3; i++) {
        double t0 = now_s();
        enum rules_status st = run_result(r, runaways[i], &fast, out, sizeof out);
        if (st != RULES_RETRY) fail_msg("%s: %s: %s", runaways[i], rules_status_name(st), out);
        assert_true(now_s() - t0 < 2.0);
        assert_int_equal(run_result(r, "schedule/ok", &fast, out, sizeof out), RULES_DONE);
    }
    rules_stats(r, &s1);
    assert_int_equal(s1.runs - s0.runs, 7); /* the retried runs are not counted */
    assert_int_equal(s1.runs_failed + s1.runs_killed, s0.runs_failed + s0.runs_killed);
    rules_close(r);

    r = must_open(10000000, 16);
    assert_int_equal(run_result(r, "schedule/slow", &fast, out, sizeof out), RULES_RETRY);
    assert_int_equal(run_result(r, "schedule/slow", &metered, out, sizeof out), RULES_DONE);
    assert_string_equal(out, "{\"n\":4000000}");
    assert_int_equal(run_result(r, "schedule/spin", &fast, out, sizeof out), RULES_RETRY);
    assert_int_equal(run_result(r, "schedule/spin", &metered, out, sizeof out), RULES_KILLED);
    assert_non_null(strstr(out, "instruction budget of 10000000 exhausted"));
    rules_close(r);

    /* a budget too small for a useful bound: metered regardless */
    r = must_open(200000, 16);
    assert_int_equal(run_result(r, "schedule/spin", &fast, out, sizeof out), RULES_KILLED);
    assert_int_equal(run_result(r, "schedule/co", &fast, out, sizeof out), RULES_DONE);
    rules_close(r);
}

static void test_io_yield_resume(void **state)
{
    (void)state;
    write_file("lib/profile.lua", "return { orders = '/distributor/orders' }\n");
    write_file("io.lua",
        "local profile = require 'profile'\n"
        "return { on = { ['shopify/orders/create'] = function(event)\n"
        "  local order = event.payload\n"
        "  local resp, status = ez.shopify.graphql('query($id: ID!) { order(id: $id) { name } }',\n"
        "                                          { id = 'gid://shopify/Order/' .. order.id })\n"
        "  assert(status == 200 and resp.data.order.name == '#1001', 'graphql result')\n"
        "  local res = ez.orderez.request('POST', profile.orders, {\n"
        "    query = { tags = { 'a', 'b c' }, dry = false, limit = 5 },\n"
        "    body = { externalRef = tostring(order.id), lines = ez.json.array(), total = '12.30' } })\n"
        "  assert(res.status == 201 and res.body.data.id == 'oz-1', 'orderez result')\n"
        "  ez.idmap.put('order', order.id, res.body.data.id)\n"
        "  assert(ez.idmap.get('order', 820982911946154508) == 'oz-1')\n"
        "  assert(ez.idmap.find('order', 'oz-1') == '820982911946154508')\n"
        "  ez.kv.put('last', { id = order.id })\n"
        "  assert(ez.kv.get('last').id == 820982911946154508)\n"
        "  local ok, why = ez.notify('slack', 'order synced')\n"
        "  assert(ok == false and why == 'HTTP 500', why)\n"
        "  ez.emit('schedule/after', { id = order.id })\n"
        "  assert(ez.now() == 1700000000000)\n"
        "end } }\n");
    struct rules *r = must_open(1000000, 16);
    struct store *st = NULL;
    char err[2048];
    assert_int_equal(store_open(&st, ":memory:", 0, err, sizeof err), 0);
    struct rules_ctx ctx = { .store = st, .job_id = 42, .emit = on_emit,
                             .now_ms = 1700000000000LL };
    struct rules_run *run = NULL;
    enum rules_status s = rules_run_start(r, "shopify/orders/create",
        "{\"id\":5,\"payload\":{\"id\":820982911946154508}}", &ctx, &run);
    assert_int_equal(s, RULES_YIELD);
    const struct rules_io *io = rules_run_io(run);
    assert_int_equal(io->kind, RULES_IO_SHOPIFY);
    assert_string_equal(io->method, "POST");
    assert_null(io->path);
    assert_string_equal(io->body, "{\"query\":\"query($id: ID!) { order(id: $id) { name } }\","
                                  "\"variables\":{\"id\":\"gid://shopify/Order/820982911946154508\"}}");
    assert_int_equal(io->seq, 1);
    struct rules_io_result res1 = { 200, "{\"data\":{\"order\":{\"name\":\"#1001\"}}}", NULL, NULL };
    assert_int_equal(rules_run_resume(run, &res1), RULES_YIELD);
    io = rules_run_io(run);
    assert_int_equal(io->kind, RULES_IO_ORDEREZ);
    assert_string_equal(io->method, "POST");
    assert_string_equal(io->path, "/distributor/orders?dry=false&limit=5&tags=a&tags=b%20c");
    assert_string_equal(io->body, "{\"externalRef\":\"820982911946154508\",\"lines\":[],"
                                  "\"total\":\"12.30\"}");
    struct rules_io_result res2 = { 201, "{\"data\":{\"id\":\"oz-1\"}}", NULL, NULL };
    assert_int_equal(rules_run_resume(run, &res2), RULES_YIELD);
    io = rules_run_io(run);
    assert_int_equal(io->kind, RULES_IO_NOTIFY);
    assert_null(io->method);
    assert_string_equal(io->path, "slack");
    assert_string_equal(io->body, "{\"text\":\"order synced\"}");
    struct rules_io_result res3 = { 500, "", NULL, NULL };
    s = rules_run_resume(run, &res3);
    if (s != RULES_DONE) fail_msg("%s", rules_run_error(run));
    assert_null(rules_run_io(run));
    assert_string_equal(emitted, "schedule/after {\"id\":820982911946154508}");
    rules_run_free(run);
    char *v = NULL;
    assert_int_equal(store_idmap_get_orderez(st, "order", "820982911946154508", &v), 0);
    assert_string_equal(v, "oz-1");
    free(v);
    assert_int_equal(store_kv_get(st, "rules", "last", &v), 0);
    assert_string_equal(v, "{\"id\":820982911946154508}");
    free(v);
    store_close(st);
    rules_close(r);
}

/* Events and answers made into tapes ahead (the dry-run's reader thread) reach the rule from
 * the tape: a tape changed after it was made shows that it, not the text, was read. */
static void test_io_from_tapes(void **state)
{
    (void)state;
    write_file("tape.lua",
        "return { on = { ['shopify/tape/test'] = function(event)\n"
        "  local resp = ez.shopify.graphql('query { x }', {})\n"
        "  assert(resp.data.name == '#1001', 'graphql result')\n"
        "  return { id = event.payload.id }\n"
        "end } }\n");
    struct rules *r = must_open(1000000, 16);
    const char *ev = "{\"id\":5,\"payload\":{\"id\":820982911946154508}}";
    const char *answer = "{\"data\":{\"name\":\"#1001\"}}";
    struct json_tape te = { 0 }, ta = { 0 };
    for (int round = 0; round < 3; round++) {
        assert_int_equal(json_tape_parse(&te, ev, strlen(ev)), 0);
        assert_int_equal(json_tape_parse(&ta, answer, strlen(answer)), 0);
        /* tokens: {  "id" 5  "payload" {  "id" 820982911946154508 */
        assert_int_equal(te.tok[6].kind, JT_INTEGER);
        if (round == 1) te.tok[6].v.i = 7;
        /* tokens: {  "data" {  "name" "#1001" */
        assert_int_equal(ta.tok[4].kind, JT_STRING);
        if (round == 2) ta.tok[4].kind = JT_TRUE;
        struct rules_ctx ctx = { .job_id = 1, .event_tape = &te };
        struct rules_run *run = NULL;
        assert_int_equal(rules_run_start(r, "shopify/tape/test", ev, &ctx, &run), RULES_YIELD);
        struct rules_io_result res = { 200, answer, NULL, &ta };
        enum rules_status st = rules_run_resume(run, &res);
        if (round == 2) {
            assert_int_equal(st, RULES_ERROR);
            assert_non_null(strstr(rules_run_error(run), "graphql result"));
        } else {
            if (st != RULES_DONE) fail_msg("%s", rules_run_error(run));
            assert_string_equal(rules_run_result(run),
                                round == 1 ? "{\"id\":7}" : "{\"id\":820982911946154508}");
        }
        rules_run_free(run);
    }
    json_tape_free(&te);
    json_tape_free(&ta);
    rules_close(r);
}

static void test_error_kinds(void **state)
{
    (void)state;
    write_file("k.lua",
        "return { on = {\n"
        "['schedule/net'] = function() ez.orderez.request('GET', '/distributor/warehouses') end,\n"
        "['schedule/bug'] = function()\n"
        "  local t = nil\n"
        "  return t.field\n"
        "end,\n"
        "['schedule/store'] = function() ez.kv.get('x') end,\n"
        "['schedule/phase'] = function() end,\n"
        "} }\n");
    struct rules *r = must_open(1000000, 16);
    struct rules_run *run = NULL;
    assert_int_equal(rules_run_start(r, "schedule/net", NULL, NULL, &run), RULES_YIELD);
    struct rules_io_result fail = { 0, NULL, "connection refused", NULL };
    assert_int_equal(rules_run_resume(run, &fail), RULES_ERROR);
    assert_int_equal(rules_run_error_kind(run), RULES_EK_TRANSIENT);
    assert_int_equal(strncmp(rules_run_error(run), "transient: orderez: connection refused", 38), 0);
    assert_non_null(strstr(rules_run_error(run), "stack traceback"));
    rules_run_free(run);
    assert_int_equal(rules_run_start(r, "schedule/bug", NULL, NULL, &run), RULES_ERROR);
    assert_int_equal(rules_run_error_kind(run), RULES_EK_RULE);
    assert_non_null(strstr(rules_run_error(run), "k.lua:5: attempt to index a nil value"));
    assert_non_null(strstr(rules_run_error(run), "stack traceback"));
    rules_run_free(run);
    assert_int_equal(rules_run_start(r, "schedule/store", NULL, NULL, &run), RULES_ERROR);
    assert_non_null(strstr(rules_run_error(run), "ez.kv.get: no store"));
    rules_run_free(run);
    rules_close(r);
}

static void test_reload_keeps_old(void **state)
{
    (void)state;
    write_file("a.lua", "return { on = { ['schedule/a'] = function() end } }\n");
    struct rules *r = must_open(100000, 16);
    char id1[32], err[2048];
    snprintf(id1, sizeof id1, "%s", rules_version_id(r));
    assert_int_equal(rules_reload(r, err, sizeof err), 0);     /* unchanged */
    assert_string_equal(rules_version_id(r), id1);
    write_file("a.lua", "return { on = {\n ['schedule/a'] = function() if end } }\n");
    assert_int_equal(rules_reload(r, err, sizeof err), -1);
    assert_non_null(strstr(err, "a.lua:2:"));
    assert_string_equal(rules_version_id(r), id1);
    assert_int_equal(run_sync(r, "schedule/a", NULL, err, sizeof err), RULES_DONE);
    struct rules_stats s;
    rules_stats(r, &s);
    assert_int_equal(s.reloads_failed, 1);
    assert_non_null(strstr(s.last_error, "a.lua:2:"));
    write_file("a.lua", "return { on = { ['schedule/b'] = function() end } }\n");
    assert_int_equal(rules_reload(r, err, sizeof err), 0);
    assert_string_not_equal(rules_version_id(r), id1);
    assert_true(rules_handles(r, "schedule/b"));
    rules_stats(r, &s);
    assert_string_equal(s.last_error, "");
    rules_close(r);
}

/* The most memory the state held between 300 runs that each leave garbage behind. */
static size_t peak_between_runs(struct rules *r)
{
    char err[2048];
    size_t peak = 0;
    for (int i = 0; i < 300; i++) {
        assert_int_equal(run_sync(r, "schedule/g", NULL, err, sizeof err), RULES_DONE);
        struct rules_stats s;
        rules_stats(r, &s);
        if (s.memory_bytes > peak) peak = s.memory_bytes;
    }
    return peak;
}

/* rules_set_gc: a larger pause lets the heap grow further between cycles (the collector is
 * deterministic, so the peaks compare reliably), on the serving version and on a reloaded one. */
static void test_gc_setting(void **state)
{
    (void)state;
#define GARBAGE_RULE "return { on = { ['schedule/g'] = function() local t = {} " \
                     "for i = 1, 300 do t[i] = { i, tostring(i) } end end } }\n"
    write_file("g.lua", GARBAGE_RULE);
    struct rules *r = must_open(10000000, 64);
    size_t lua_default = peak_between_runs(r);
    rules_set_gc(r, 400, 0);
    size_t paused = peak_between_runs(r);
    if (paused < lua_default * 3 / 2)
        fail_msg("pause 400: peak %zu, Lua's default %zu", paused, lua_default);
    char err[2048];
    char id[32];
    snprintf(id, sizeof id, "%s", rules_version_id(r));
    write_file("g.lua", "-- a new version\n" GARBAGE_RULE);
    assert_int_equal(rules_reload(r, err, sizeof err), 0);
    assert_string_not_equal(rules_version_id(r), id);
    size_t reloaded = peak_between_runs(r);
    if (reloaded < lua_default * 3 / 2)
        fail_msg("after a reload: peak %zu, Lua's default %zu", reloaded, lua_default);
    rules_close(r);
}

/* A run in flight keeps its version after a swap, and finishes on it. */
static void test_refcount_across_swap(void **state)
{
    (void)state;
    write_file("a.lua", "return { on = { ['schedule/a'] = function()\n"
                        "  local res = ez.orderez.request('GET', '/x')\n"
                        "  assert(res.body.v == 1) end } }\n");
    struct rules *r = must_open(100000, 16);
    char id1[32], err[2048];
    snprintf(id1, sizeof id1, "%s", rules_version_id(r));
    struct rules_run *run = NULL;
    assert_int_equal(rules_run_start(r, "schedule/a", NULL, NULL, &run), RULES_YIELD);
    write_file("a.lua", "return { on = { ['schedule/a'] = function() error('new') end } }\n");
    assert_int_equal(rules_reload(r, err, sizeof err), 0);
    assert_string_not_equal(rules_version_id(r), id1);
    struct rules_stats s;
    rules_stats(r, &s);
    assert_int_equal(s.versions_alive, 2);
    struct rules_io_result res = { 200, "{\"v\":1}", NULL, NULL };
    assert_int_equal(rules_run_resume(run, &res), RULES_DONE);
    assert_string_equal(rules_run_version(run), id1);
    rules_run_free(run);
    rules_stats(r, &s);
    assert_int_equal(s.versions_alive, 1);
    rules_close(r);
}

static void collect_uuids(struct rules *r, int64_t job, char out[3][40])
{
    struct rules_run *run = NULL;
    struct rules_ctx ctx = { .job_id = job };
    assert_int_equal(rules_run_start(r, "schedule/u", NULL, &ctx, &run), RULES_YIELD);
    const char *body = rules_run_io(run)->body;   /* ["u1","u2","u3"] */
    assert_int_equal(sscanf(body, "[\"%36[^\"]\",\"%36[^\"]\",\"%36[^\"]\"]", out[0], out[1],
                            out[2]), 3);
    rules_run_free(run);
}

static void test_uuid(void **state)
{
    (void)state;
    write_file("u.lua", "return { on = { ['schedule/u'] = function()\n"
                        "  ez.orderez.request('POST', '/u', { body = ez.json.array({ ez.uuid(),\n"
                        "    ez.uuid(), ez.uuid() }) }) end } }\n");
    struct rules *r = must_open(100000, 16);
    char a[3][40], b[3][40], c[3][40];
    collect_uuids(r, 7, a);
    collect_uuids(r, 7, b);
    collect_uuids(r, 0, c);
    for (int i = 0; i < 3; i++) {
        assert_string_equal(a[i], b[i]);          /* a retried job makes the same requests */
        assert_string_not_equal(a[i], c[i]);
        assert_int_equal(strlen(a[i]), 36);
        assert_int_equal(a[i][14], '4');
    }
    assert_string_not_equal(a[0], a[1]);
    rules_close(r);
}

/* The exact set of ez names: adding or removing one must be a deliberate edit here and in
 * rules/README.md. */
static void test_api_surface(void **state)
{
    (void)state;
    write_file("api.lua",
        "return { on = { ['schedule/api'] = function()\n"
        "  local names = {}\n"
        "  for k, v in pairs(ez) do\n"
        "    if type(v) == 'table' then\n"
        "      for k2 in pairs(v) do names[#names + 1] = k .. '.' .. k2 end\n"
        "    else names[#names + 1] = k end\n"
        "  end\n"
        "  table.sort(names)\n"
        "  error(table.concat(names, ' '), 0)\n"
        "end } }\n");
    struct rules *r = must_open(100000, 16);
    char err[4096];
    assert_int_equal(run_sync(r, "schedule/api", NULL, err, sizeof err), RULES_ERROR);
    *strchr(err, '\n') = 0;
    assert_string_equal(err,
        "emit idmap.find idmap.get idmap.put json.array json.decode json.encode json.null "
        "kv.get kv.put log.debug log.error log.info log.warn notify now orderez.request "
        "shopify.graphql uuid");
    rules_close(r);
}

static void test_watch(void **state)
{
    (void)state;
    write_file("a.lua", "return { on = { ['schedule/a'] = function() end } }\n");
    struct rules *r = must_open(100000, 16);
    struct event_base *base = event_base_new();
    assert_int_equal(rules_watch(r, base), 0);
    char id1[32];
    snprintf(id1, sizeof id1, "%s", rules_version_id(r));
    write_file("b.lua", "return { on = { ['schedule/b'] = function() end } }\n");
    struct timeval tv = { 3, 0 };
    event_base_loopexit(base, &tv);
    event_base_dispatch(base);
    assert_string_not_equal(rules_version_id(r), id1);
    assert_true(rules_handles(r, "schedule/b"));
    rules_close(r);
    event_base_free(base);
}

/* `ezsync check` on a rules directory with a syntax error: exit 2 naming file and line. */
static void test_check_command(void **state)
{
    (void)state;
    const char *bin = getenv("EZSYNC_BIN");
    if (!bin || access(bin, X_OK)) skip();
    write_file("good.lua", "return { on = { ['schedule/a'] = function(_) end } }\n");
    char conf[700], cmd[2048], out[8192] = "";
    snprintf(conf, sizeof conf, "%s/conf.lua.txt", dir);
    FILE *f = fopen(conf, "w");
    fputs("return { rules = { dir = 'unused' } }\n", f);
    fclose(f);
    snprintf(cmd, sizeof cmd, "'%s' check -c '%s' --rules '%s' 2>&1", bin, conf, dir);
    FILE *p = popen(cmd, "r");
    fread(out, 1, sizeof out - 1, p);
    int rc = pclose(p);
    if (WEXITSTATUS(rc) != 0) fail_msg("check on good rules: %s", out);
    write_file("bad.lua", "return { on = {\n  ['schedule/b'] = function(_)\n    local x = = 1\n"
                          "  end } }\n");
    memset(out, 0, sizeof out);
    p = popen(cmd, "r");
    fread(out, 1, sizeof out - 1, p);
    rc = pclose(p);
    assert_int_equal(WEXITSTATUS(rc), 2);
    if (!strstr(out, "bad.lua:3:")) fail_msg("want bad.lua:3: in: %s", out);
}

/* The event's tables are lazy (lua_json_lazy.h): through the sandbox's pairs, next, rawget,
 * rawlen, getmetatable and setmetatable, ez.json.encode, ez.log's fields and ez.orderez's
 * query they read as the decoded tables did. */
static void test_lazy_event(void **state)
{
    (void)state;
    write_file("lazy.lua",
        "return { on = { ['shopify/lazy/test'] = function(event)\n"
        "  local p = event.payload\n"
        "  local n = 0 for k in pairs(p) do n = n + 1 end\n"
        "  local r = { n = n, nxt = next(p.items), rg = rawget(p, 'name'), rl = rawlen(p.items),\n"
        "    len = #p.items, mt = getmetatable(p.items).__name, omt = tostring(getmetatable(p.obj)),\n"
        "    eq = rawequal(p.obj, p.obj), pn = select(1, pairs(p)) == next }\n"
        "  ez.log.error('lazy fields', p.obj)\n"
        "  ez.orderez.request('GET', '/q', { query = p.q })\n"
        "  r.enc = ez.json.encode(p.obj)\n"
        "  setmetatable(p.obj2, { __index = function() return 'dflt' end })\n"
        "  r.d = p.obj2.zz .. p.obj2.k\n"
        "  return r\n"
        "end } }\n");
    struct rules *r = must_open(1000000, 16);
    const char *ev = "{\"id\":1,\"payload\":{\"name\":\"N\",\"items\":[10,20,30],"
                     "\"obj\":{\"b\":2,\"a\":[1]},\"obj2\":{\"k\":\"v\"},"
                     "\"q\":{\"ids\":[1,2],\"z\":\"y\"}}}";
    struct rules_ctx ctx = { .job_id = 1 };
    struct rules_run *run = NULL;
    enum rules_status st = rules_run_start(r, "shopify/lazy/test", ev, &ctx, &run);
    if (st != RULES_YIELD) fail_msg("%s", rules_run_error(run));
    assert_string_equal(rules_run_io(run)->path, "/q?ids=1&ids=2&z=y");
    struct rules_io_result res = { 200, "{}", NULL, NULL };
    st = rules_run_resume(run, &res);
    if (st != RULES_DONE) fail_msg("%s", rules_run_error(run));
    assert_string_equal(rules_run_result(run),
                        "{\"d\":\"dfltv\",\"enc\":\"{\\\"a\\\":[1],\\\"b\\\":2}\",\"eq\":true,"
                        "\"len\":3,\"mt\":\"ez.json.array\",\"n\":5,\"nxt\":1,\"omt\":\"nil\","
                        "\"pn\":true,\"rg\":\"N\",\"rl\":3}");
    rules_run_free(run);
    rules_close(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_load_and_version, setup, teardown),
        cmocka_unit_test_setup_teardown(test_validation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sandbox, setup, teardown),
        cmocka_unit_test_setup_teardown(test_instruction_budget, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unmetered, setup, teardown),
        cmocka_unit_test_setup_teardown(test_memory_cap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_io_yield_resume, setup, teardown),
        cmocka_unit_test_setup_teardown(test_io_from_tapes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lazy_event, setup, teardown),
        cmocka_unit_test_setup_teardown(test_error_kinds, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reload_keeps_old, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gc_setting, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refcount_across_swap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_uuid, setup, teardown),
        cmocka_unit_test_setup_teardown(test_api_surface, setup, teardown),
        cmocka_unit_test_setup_teardown(test_watch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_check_command, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
