/* Unit tests for src/lua_json_lazy.c: lazy tables must behave as the eagerly decoded ones in
 * everything a rule can observe but pairs/next order. The main test is differential: the same
 * seeded sequence of random operations (reads, writes, #, ipairs, pairs, next, raw*, metatables,
 * table.*, json.encode, identity, assignment errors) runs on an eager and a lazy decode of
 * the same document, with the base functions the rules sandbox uses, and the two logs must be
 * equal. Documents: random ones (duplicate, escaped and non-ASCII keys, ids above 2^53, deep
 * nesting) and the bench's order fixtures. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "json_tape.h"
#include "lua_json.h"
#include "lua_json_lazy.h"
#include "test_rng.h"

#include <lauxlib.h>
#include <lualib.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A state with a memory cap that tests can lower, as the rules state has. */
static size_t mem_used, mem_limit = SIZE_MAX;
static void *capped_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    (void)ud;
    if (!ptr) osize = 0;
    if (nsize == 0) {
        free(ptr);
        mem_used -= osize;
        return NULL;
    }
    if (nsize > osize && mem_used - osize + nsize > mem_limit) return NULL;
    void *p = realloc(ptr, nsize);
    if (p) mem_used = mem_used - osize + nsize;
    return p;
}

static lua_State *L;
static struct json_tape tape;

/* The driver: runs nops seeded operations on root, returns their log. Keys come from the
 * document (sorted, so the choice does not depend on iteration order). Integer keys are
 * written only at #t + 1: a table with holes has more than one valid border, which two tables
 * built in different orders may answer differently (as any two Lua tables may). */
static const char driver[] =
    "local json = json\n"
    "return function(root, keys, seed, nops)\n"
    "  local log = {}\n"
    "  local desc\n"
    "  local function L(...) local t = table.pack(...)\n"
    "    for i = 1, t.n do t[i] = type(t[i]) == 'string' and t[i] or desc(t[i]) end\n"
    "    log[#log + 1] = table.concat(t, ' ') end\n"
    "  local s = seed\n"
    "  local function rnd(n) s = (s * 1103515245 + 12345) % 2147483648; return (s >> 8) % n end\n"
    "  local ids, nid = {}, 0\n"
    "  function desc(v)\n"
    "    local ty = type(v)\n"
    "    if ty == 'table' then\n"
    "      if not ids[v] then nid = nid + 1; ids[v] = nid end\n"
    "      return 'T' .. ids[v] .. '/' .. tostring(v):match('^[^:]*')\n"
    "    elseif ty == 'number' then\n"
    "      if math.type(v) == 'integer' then return 'i' .. string.format('%d', v) end\n"
    "      return 'f' .. string.format('%.17g', v)\n"
    "    elseif v == json.null then return 'null'\n"
    "    elseif ty == 'string' then return string.format('%q', v) end\n"
    "    return ty .. ':' .. tostring(v)\n"
    "  end\n"
    "  local function key()\n"
    "    local r = rnd(14)\n"
    "    if r < 7 and #keys > 0 then return keys[rnd(#keys) + 1] end\n"
    "    if r < 10 then return rnd(6) - 1 end\n"
    "    if r == 10 then return 1.0 end\n"
    "    if r == 11 then return '1' end\n"
    "    if r == 12 then return true end\n"
    "    return 'missing' .. rnd(3)\n"
    "  end\n"
    "  local function skey() local k = key() if type(k) ~= 'string' then k = 'k' .. rnd(3) end return k end\n"
    "  local function val()\n"
    "    local r = rnd(7)\n"
    "    if r == 0 then return nil elseif r == 1 then return rnd(100)\n"
    "    elseif r == 2 then return 's' .. rnd(10) elseif r == 3 then return { x = rnd(5) }\n"
    "    elseif r == 4 then return json.null elseif r == 5 then return 0.5 end\n"
    "    return true\n"
    "  end\n"
    "  local function order(a, b)\n"
    "    local x, y = type(a[1]) .. ':' .. tostring(a[1]), type(b[1]) .. ':' .. tostring(b[1])\n"
    "    return x < y\n"
    "  end\n"
    "  local function sorted(list) table.sort(list, order)\n"
    "    for i, kv in ipairs(list) do list[i] = desc(kv[1]) .. '=' .. desc(kv[2]) end\n"
    "    return table.concat(list, ',') end\n"
    "  if type(root) ~= 'table' then return desc(root) end\n"
    "  local cur, stack = root, {}\n"
    "  for op = 1, nops do\n"
    "    local r = rnd(30)\n"
    "    if r < 7 then\n"
    "      local k = key(); local v = cur[k]; L('get', desc(k), desc(v))\n"
    "      if type(v) == 'table' and rnd(3) > 0 then stack[#stack + 1] = cur; cur = v end\n"
    "    elseif r == 7 then cur = table.remove(stack) or root; L('up')\n"
    "    elseif r == 8 then local k, v = skey(), val(); cur[k] = v; L('set', desc(k), desc(v))\n"
    "    elseif r == 9 then L('len', #cur)\n"
    "    elseif r == 10 then local n = 0\n"
    "      for i, v in ipairs(cur) do L('ipairs', i, desc(v)); n = n + 1; if n > 40 then break end end\n"
    "    elseif r == 11 then local l = {} for k, v in pairs(cur) do l[#l + 1] = { k, v } end L('pairs', sorted(l))\n"
    "    elseif r == 12 then local l, k, v = {}, nil, nil\n"
    "      repeat k, v = next(cur, k); if k ~= nil then l[#l + 1] = { k, v } end until k == nil\n"
    "      L('next', sorted(l))\n"
    "    elseif r == 13 then local k = key(); L('rawget', desc(k), desc(rawget(cur, k)), rawlen(cur))\n"
    "    elseif r == 14 then local k, v = skey(), val(); rawset(cur, k, v); L('rawset', desc(k), desc(v))\n"
    "    elseif r == 15 then local mt = getmetatable(cur); L('getmt', mt and rawget(mt, '__name') or mt)\n"
    "    elseif r == 16 then local v = val(); if v == nil then v = 'n' end\n"
    "      if rnd(2) == 0 then table.insert(cur, v) else L('insert1', pcall(table.insert, cur, 1, v)) end\n"
    "      L('insert', #cur)\n"
    "    elseif r == 17 then\n"
    "      if rnd(2) == 0 then L('remove', desc(table.remove(cur))) else L('remove1', pcall(table.remove, cur, 1)) end\n"
    "    elseif r == 18 then L('concat', pcall(table.concat, cur, ','))\n"
    "    elseif r == 19 then local ok, e = pcall(table.sort, cur); L('sort', ok, e)\n"
    "      local l = {} for i = 1, #cur do l[i] = desc(cur[i]) end L('sorted', table.concat(l, ','))\n"
    "    elseif r == 20 then local a, b, c = table.unpack(cur, 1, 3); L('unpack', desc(a), desc(b), desc(c))\n"
    "    elseif r == 21 then L('encode', pcall(json.encode, cur))\n"
    "    elseif r == 22 then local k = key(); L('same', rawequal(cur[k], cur[k]), desc(cur[k]))\n"
    "    elseif r == 23 then local v = val(); cur[#cur + 1] = v; L('append', #cur, desc(v))\n"
    "    elseif r == 24 then L('name', tostring(cur):match('^[^:]*'), type(cur))\n"
    "    elseif r == 25 then L('nilkey', pcall(function() cur[nil] = 1 end))\n"
    "      L('nankey', pcall(function() cur[0/0] = 1 end))\n"
    "    elseif r == 26 then if #cur >= 2 then L('move', pcall(table.move, cur, 1, 2, #cur - 1)) end\n"
    "    elseif r == 27 then local k = skey(); cur[k] = nil; L('del', desc(k), desc(cur[k]))\n"
    "    elseif r == 28 then\n"
    "      if rnd(2) == 0 then setmetatable(cur, nil) else\n"
    "        setmetatable(cur, { __index = function(_, k) return 'mt:' .. tostring(k) end }) end\n"
    "      L('setmt', desc(cur[key()]))\n"
    "    else L('encroot', pcall(json.encode, root)) end\n"
    "  end\n"
    "  L('final', pcall(json.encode, root))\n"
    "  return table.concat(log, '\\n')\n"
    "end\n";

/* The sorted keys of every object in the document (an eager decode at the top). */
static const char keys_of[] =
    "local t = ...\n"
    "local seen, out = {}, {}\n"
    "local function walk(v, d)\n"
    "  if type(v) ~= 'table' or d > 200 then return end\n"
    "  for k, x in pairs(v) do\n"
    "    if type(k) == 'string' and not seen[k] then seen[k] = true; out[#out + 1] = k end\n"
    "    walk(x, d + 1)\n"
    "  end\n"
    "end\n"
    "walk(t, 0)\n"
    "table.sort(out)\n"
    "return out\n";

static int driver_ref = LUA_NOREF, keys_ref = LUA_NOREF;

static int setup(void **state)
{
    (void)state;
    L = lua_newstate(capped_alloc, NULL);
    luaL_openlibs(L);
    lua_pushglobaltable(L);
    lua_json_lazy_open_base(L);
    lua_pop(L, 1);
    lua_json_open(L);
    lua_setglobal(L, "json");
    if (luaL_loadbuffer(L, driver, sizeof driver - 1, "=driver") || lua_pcall(L, 0, 1, 0))
        fail_msg("driver: %s", lua_tostring(L, -1));
    driver_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    if (luaL_loadbuffer(L, keys_of, sizeof keys_of - 1, "=keys")) fail_msg("keys");
    keys_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    lua_close(L);
    json_tape_free(&tape);
    return 0;
}

/* A lent document's tape and text (lua_json_decode_lazy_lent), each its own: freed when the
 * document lets go of them. loans_out counts the holds not yet let go. */
struct loan {
    struct json_tape tape;
    char *text;
    int held;
};
static int loans_out;

static void lend(void *owner, int delta)
{
    loans_out += delta;
    ((struct loan *)owner)->held += delta;
    if (delta < 0) {
        struct loan *l = owner;
        json_tape_free(&l->tape);
        free(l->text);
        free(l);
    }
}

/* Pushes a lent document of text, as the dry-run lends its tapes. 1 if it is lazy. */
static int push_lent(lua_State *l, const char *text, size_t len)
{
    struct loan *ln = calloc(1, sizeof *ln);
    assert_non_null(ln);
    ln->text = malloc(len + 1);
    assert_non_null(ln->text);
    memcpy(ln->text, text, len);
    ln->text[len] = 0;
    int taped = json_tape_parse(&ln->tape, ln->text, len) == 0;
    lua_json_decode_lazy_lent(l, taped ? &ln->tape : NULL, ln->text, len, lend, ln);
    if (!ln->held) { /* nothing holds it: decoded eagerly */
        json_tape_free(&ln->tape);
        free(ln->text);
        free(ln);
        return 0;
    }
    assert_int_equal(ln->held, 1);
    return lua_json_lazy_is(l, -1);
}

/* Pushes the document: eagerly (0), lazily from a tape of it that is copied (1), or lent (2).
 * Returns 1 if the lazy one is lazy indeed (a tape was made and the document is a table with
 * members). */
static int push_doc(const char *text, size_t len, int lazy)
{
    if (!lazy) {
        lua_json_decode(L, text, len);
        return 0;
    }
    if (lazy == 2) return push_lent(L, text, len);
    int taped = json_tape_parse(&tape, text, len) == 0;
    lua_json_decode_lazy(L, taped ? &tape : NULL, text, len);
    memset(tape.tok, 0xA5, tape.tok_cap * sizeof *tape.tok); /* the copy must be what is read */
    return lua_json_lazy_is(L, -1);
}

static long lazy_docs, docs;

/* Runs the driver on an eager and on a lazy decode of text; the logs must be equal. */
static void differential(const char *text, size_t len, unsigned seed, int nops)
{
    lua_settop(L, 0);
    lua_rawgeti(L, LUA_REGISTRYINDEX, keys_ref);
    lua_json_decode(L, text, len);
    if (lua_pcall(L, 1, 1, 0)) fail_msg("keys: %s", lua_tostring(L, -1));
    int keys = lua_gettop(L);
    const char *log[3];
    for (int lazy = 0; lazy < 3; lazy++) {
        lua_rawgeti(L, LUA_REGISTRYINDEX, driver_ref);
        if (push_doc(text, len, lazy)) lazy_docs++;
        lua_pushvalue(L, keys);
        lua_pushinteger(L, seed);
        lua_pushinteger(L, nops);
        if (lua_pcall(L, 4, 1, 0)) fail_msg("%s run: %s\n%.*s", lazy ? "lazy" : "eager",
                                            lua_tostring(L, -1), (int)len, text);
        log[lazy] = lua_tostring(L, -1);
    }
    docs++;
    if (strcmp(log[1], log[2])) fail_msg("seed %u: the lent document differs from the copied one", seed);
    if (strcmp(log[0], log[1])) {
        if (getenv("LAZY_TEST_DUMP")) {
            FILE *f = fopen("/tmp/lazy_eager.log", "w");
            fputs(log[0], f);
            fclose(f);
            f = fopen("/tmp/lazy_lazy.log", "w");
            fputs(log[1], f);
            fclose(f);
        }
        const char *a = log[0], *b = log[1], *line = a;
        while (*a && *a == *b) {
            if (*a == '\n') line = a + 1;
            a++, b++;
        }
        fail_msg("seed %u differs at: %.200s\nlazy: %.200s\ndoc: %.*s", seed, line,
                 log[1] + (line - log[0]), (int)(len < 2000 ? len : 2000), text);
    }
    lua_settop(L, 0);
}

/* ---- documents ---- */

struct gen {
    char *buf;
    size_t len, cap;
};

static void put(struct gen *g, const char *s)
{
    size_t n = strlen(s);
    if (g->len + n + 1 > g->cap) {
        g->cap = (g->len + n + 1) * 2;
        g->buf = realloc(g->buf, g->cap);
    }
    memcpy(g->buf + g->len, s, n + 1);
    g->len += n;
}

/* Few distinct keys, so objects repeat them (duplicates) and the driver finds them; some
 * escaped (the same key written two ways) and some not ASCII. */
static void gen_key(struct gen *g)
{
    static const char *const keys[] = {
        "\"a\"", "\"b\"", "\"id\"", "\"line_items\"", "\"\\u0061\"", "\"Caf\xc3\xa9\"",
        "\"Caf\\u00e9\"", "\"\"", "\"1\"", "\"x y\"", "\"tab\\there\"", "\"\xf0\x9f\x98\x80\"",
        "\"price_set\"", "\"amount\"",
    };
    put(g, keys[rnd(sizeof keys / sizeof keys[0])]);
}

static void gen_scalar(struct gen *g)
{
    static const char *const vals[] = {
        "0", "-1", "42", "9007199254740993", "820982911946154508", "-9223372036854775808",
        "9223372036854775807", "0.5", "1e300", "-0.0", "2.5e-3", "true", "false", "null",
        "\"x\"", "\"12.50\"", "\"\"", "\"\\u20ac \\\"q\\\"\"", "\"Caf\xc3\xa9\"", "\"CAD\"",
        "\"gid://shopify/Order/820982911946154508\"",
    };
    put(g, vals[rnd(sizeof vals / sizeof vals[0])]);
}

static void gen_value(struct gen *g, int depth)
{
    unsigned k = depth > 5 ? 2 : depth == 0 ? rnd(2) : rnd(5);
    if (k >= 2) {
        gen_scalar(g);
        return;
    }
    int obj = k == 0;
    put(g, obj ? "{" : "[");
    /* large objects near the top (looked up through an index), small ones below */
    unsigned n = depth < 2 && rnd(3) == 0 ? 8 + rnd(24) : rnd(7);
    for (unsigned i = 0; i < n; i++) {
        if (i) put(g, rnd(4) ? "," : " ,\n ");
        if (obj) gen_key(g), put(g, ":");
        gen_value(g, depth + 1);
    }
    put(g, obj ? "}" : "]");
}

static void test_random_documents(void **state)
{
    (void)state;
    static const char noise[] = "\"\\,:[]{}0-e.+ u\n\x80\xc3\x01xtn";
    struct gen g = { 0 };
    for (unsigned i = 0; i < 6000; i++) {
        g.len = 0;
        put(&g, "");
        if (i % 7 == 0) gen_scalar(&g);
        else gen_value(&g, 0); /* a table at the top */
        if (i % 5 == 4) { /* an edit of it, when it is still JSON */
            char *m = malloc(g.len + 2);
            size_t n = rnd_edit(m, g.buf, g.len, noise, sizeof noise - 1);
            if (json_tape_parse(&tape, m, n) == 0) {
                memcpy(g.buf, m, n);
                g.len = n;
            }
            free(m);
        }
        differential(g.buf, g.len, i * 2654435761u + 1, 1 + (int)rnd(60));
    }
    free(g.buf);
    /* the lazy path must have been taken, not the eager fallback */
    if (lazy_docs < docs / 2) fail_msg("only %ld of %ld documents were lazy", lazy_docs, docs);
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    *len = fread(s, 1, (size_t)n, f);
    s[*len] = 0;
    fclose(f);
    return s;
}

static void test_fixtures(void **state)
{
    (void)state;
    static const char *const files[] = { "scripts/bench/orders_create.json",
                                         "scripts/bench/rules_order.json" };
    for (size_t f = 0; f < sizeof files / sizeof files[0]; f++) {
        size_t len = 0;
        char *s = read_file(files[f], &len);
        if (!s) fail_msg("cannot read %s", files[f]);
        for (unsigned seed = 1; seed <= 300; seed++) differential(s, len, seed, 200);
        free(s);
    }
}

/* ---- directed cases ---- */

/* Runs chunk with the document decoded as `t` (lazily or not); returns its string result. */
static char *with_doc(const char *doc, const char *chunk, int lazy)
{
    lua_settop(L, 0);
    if (luaL_loadbuffer(L, chunk, strlen(chunk), "=chunk")) fail_msg("%s", lua_tostring(L, -1));
    if (push_doc(doc, strlen(doc), lazy) != lazy) fail_msg("not lazy: %s", doc);
    if (lua_pcall(L, 1, 1, 0)) {
        char *e = malloc(strlen(lua_tostring(L, -1)) + 6);
        sprintf(e, "ERR: %s", lua_tostring(L, -1));
        return e;
    }
    char *out = strdup(lua_tostring(L, -1) ? lua_tostring(L, -1) : "(not a string)");
    lua_settop(L, 0);
    return out;
}

/* The lazy result is want, and so is the eager one. */
#define LAZY(doc, chunk, want)                                                                \
    do {                                                                                      \
        char *got_ = with_doc(doc, chunk, 1);                                                 \
        assert_string_equal(got_, want);                                                      \
        free(got_);                                                                           \
        if (!strstr(chunk, "raw_count")) {                                                    \
            got_ = with_doc(doc, chunk, 0);                                                   \
            assert_string_equal(got_, want);                                                  \
            free(got_);                                                                       \
        }                                                                                     \
    } while (0)

/* The same result lazily as eagerly (for what depends on the Lua version, say). */
#define SAME(doc, chunk)                                                                      \
    do {                                                                                      \
        char *lazy_ = with_doc(doc, chunk, 1), *eager_ = with_doc(doc, chunk, 0);             \
        assert_string_equal(lazy_, eager_);                                                   \
        free(lazy_);                                                                          \
        free(eager_);                                                                         \
    } while (0)

/* Raw keys of a table, not filling it: how much a read built (the lazy table's own light key
 * aside). */
static int raw_count(lua_State *l)
{
    int n = 0;
    lua_pushnil(l);
    while (lua_next(l, 1)) n += lua_type(l, -2) != LUA_TLIGHTUSERDATA, lua_pop(l, 1);
    lua_pushinteger(l, n);
    return 1;
}

static void test_builds_only_what_is_read(void **state)
{
    (void)state;
    lua_register(L, "raw_count", raw_count);
    const char *doc = "{\"a\":1,\"b\":{\"c\":[1,2,{\"d\":3}],\"e\":\"x\"},\"f\":[true],\"g\":null}";
    LAZY(doc, "local t = ... local n0 = raw_count(t) local c = t.b.c "
              "return n0 .. ' ' .. raw_count(t) .. ' ' .. raw_count(t.b) .. ' ' .. #c",
         "0 1 1 3");
    /* a read of a missing key builds nothing, every time */
    LAZY(doc, "local t = ... local _ = t.zz, t.zz, t[1], t[true] return tostring(raw_count(t))",
         "0");
    /* identity: the same table on every read, and after the parent is filled whole */
    LAZY(doc, "local t = ... local b = t.b local n = 0 for _ in pairs(t) do n = n + 1 end "
              "return tostring(rawequal(b, t.b) and rawequal(t.b.c, t.b.c) and n == 4)",
         "true");
}

static void test_writes_before_reads(void **state)
{
    (void)state;
    const char *doc = "{\"a\":1,\"b\":{\"c\":2},\"arr\":[1,2,3]}";
    LAZY(doc, "local t = ... t.a = nil return tostring(t.a) .. tostring(rawget(t, 'a'))",
         "nilnil");
    LAZY(doc, "local t = ... t.a = 5 local n = 0 for k, v in pairs(t) do n = n + 1 end "
              "return t.a .. ' ' .. n", "5 3");
    LAZY(doc, "local t = ... t.b = nil local n = 0 for k in pairs(t) do n = n + 1 end "
              "return tostring(t.b) .. ' ' .. n .. ' ' .. json.encode(t)",
         "nil 2 {\"a\":1,\"arr\":[1,2,3]}");
    LAZY(doc, "local t = ... local a = t.arr a[#a + 1] = 4 table.insert(a, 1, 0) "
              "return table.concat(a, ',') .. ' ' .. json.encode(a)", "0,1,2,3,4 [0,1,2,3,4]");
    LAZY(doc, "local t = ... local v = t.a t.a = nil t.a = nil return tostring(t.a) .. v",
         "nil1");
}

static void test_duplicate_keys(void **state)
{
    (void)state;
    /* the last one wins, whether read alone, after a write, or filled whole */
    const char *doc = "{\"k\":1,\"x\":0,\"k\":2,\"\\u006b\":3}";
    LAZY(doc, "local t = ... return tostring(t.k)", "3");
    LAZY(doc, "local t = ... local n = 0 for k, v in pairs(t) do n = n + 1 end "
              "return t.k .. ' ' .. n", "3 2");
    LAZY(doc, "local t = ... t.k = nil local n = 0 for k, v in pairs(t) do n = n + 1 end "
              "return tostring(t.k) .. ' ' .. n .. ' ' .. json.encode(t)", "nil 1 {\"x\":0}");
    LAZY(doc, "local t = ... local _ = t.k t.k = nil return tostring(next(t, 'x')) .. tostring(t.k)",
         "nilnil");
}

static void test_numbers_and_strings(void **state)
{
    (void)state;
    LAZY("{\"id\":820982911946154508,\"n\":9007199254740993,\"r\":0.1,\"m\":-9223372036854775808}",
         "local t = ... return string.format('%d %d %s %s %d', t.id, t.n, math.type(t.r), "
         "t.r == 0.1, t.m)",
         "820982911946154508 9007199254740993 float true -9223372036854775808");
    LAZY("{\"Caf\\u00e9\":\"\\u20ac \\\"q\\\"\",\"tab\\there\":[\"\\ud83d\\ude00\"]}",
         "local t = ... return t['Caf\\u{e9}'] .. '|' .. t['tab\\there'][1]",
         "\xe2\x82\xac \"q\"|\xf0\x9f\x98\x80");
    LAZY("{\"a\":null,\"b\":[null]}", "local t = ... return tostring(t.a == json.null and "
         "t.b[1] == json.null and #t.b == 1)", "true");
}

static void test_metatables(void **state)
{
    (void)state;
    const char *doc = "{\"o\":{\"x\":1},\"a\":[1,2],\"e\":[],\"eo\":{}}";
    LAZY(doc, "local t = ... return tostring(getmetatable(t)) .. ' ' .. "
              "getmetatable(t.a).__name .. ' ' .. getmetatable(t.e).__name .. ' ' .. "
              "tostring(getmetatable(t.o)) .. ' ' .. tostring(getmetatable(t.eo))",
         "nil ez.json.array ez.json.array nil nil");
    LAZY(doc, "local t = ... return tostring(t.a):match('^[^:]*') .. ' ' .. "
              "tostring(t.o):match('^[^:]*')", "ez.json.array table");
    LAZY(doc, "local t = ... local o = t.o setmetatable(o, {__index = function() return 7 end}) "
              "return o.x .. o.y", "17");
    LAZY(doc, "local t = ... json.array(t.o) return json.encode(t.o)", "[]");
    LAZY(doc, "local t = ... return json.encode(t)",
         "{\"a\":[1,2],\"e\":[],\"eo\":{},\"o\":{\"x\":1}}");
    SAME(doc, "local t = ... local ok, e = pcall(function() t.o[nil] = 1 end) "
              "local ok2, e2 = pcall(function() t.a[0/0] = 1 end) "
              "local ok3, e3 = pcall(function() t.eo[0/0] = nil end) "
              "return e .. '|' .. e2 .. '|' .. tostring(e3)");
}

/* The memory cap hit while a member is made: a Lua error like any allocation's, and the table
 * as it was; with room again, the same values and the same identity as if nothing happened. */
static void test_memory_cap(void **state)
{
    (void)state;
    const char *doc = "{\"big\":{\"s\":\"a string of some length, longer than the short ones\","
                      "\"n\":[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16]},\"k\":1}";
    lua_settop(L, 0);
    lua_gc(L, LUA_GCCOLLECT);
    push_doc(doc, strlen(doc), 1);
    luaL_loadstring(L, "local t = ... local b = t.big return b, b.s, #b.n");
    lua_pushvalue(L, 1);
    mem_limit = mem_used; /* no room at all */
    lua_gc(L, LUA_GCSTOP);
    assert_int_equal(lua_pcall(L, 1, 3, 0), LUA_ERRMEM);
    mem_limit = SIZE_MAX;
    lua_gc(L, LUA_GCRESTART);
    lua_pop(L, 1);
    luaL_loadstring(L, "local t = ... local b = t.big "
                       "return tostring(rawequal(b, t.big)) .. ' ' .. b.s .. ' ' .. #b.n .. ' ' "
                       ".. json.encode(t):len()");
    lua_pushvalue(L, 1);
    if (lua_pcall(L, 1, 1, 0)) fail_msg("%s", lua_tostring(L, -1));
    assert_string_equal(lua_tostring(L, -1),
                        "true a string of some length, longer than the short ones 16 118");
    lua_settop(L, 0);
}

/* A lent document holds its tape while any of its tables lives, lets go once they are all
 * collected, and at lua_close; a table read after that (a finalizer can still reach one) raises
 * instead of reading what was let go. */
static void test_lent(void **state)
{
    (void)state;
    const char *doc = "{\"a\":1,\"b\":{\"c\":[1,2],\"e\":\"x\"}}";
    lua_settop(L, 0);
    lua_gc(L, LUA_GCCOLLECT);
    int before = loans_out;
    assert_int_equal(push_lent(L, doc, strlen(doc)), 1);
    lua_getfield(L, -1, "b"); /* a nested lazy table keeps the document */
    lua_remove(L, -2);
    lua_gc(L, LUA_GCCOLLECT);
    assert_int_equal(loans_out, before + 1);
    lua_getfield(L, -1, "e");
    assert_string_equal(lua_tostring(L, -1), "x");
    lua_settop(L, 0);
    lua_gc(L, LUA_GCCOLLECT);
    assert_int_equal(loans_out, before);
    /* a scalar holds nothing; an empty table, nothing once collected */
    assert_int_equal(push_lent(L, "7", 1), 0);
    assert_int_equal(loans_out, before);
    assert_int_equal(push_lent(L, "[]", 2), 0);
    lua_settop(L, 0);
    lua_gc(L, LUA_GCCOLLECT);
    assert_int_equal(loans_out, before);

    /* The keeper's finalizer is marked before the document's, so it runs after it: the
     * document has let go when the finalizer reads a table of it. */
    if (luaL_dostring(L, "result = nil; box = {}; local b = box\n"
                         "keeper = setmetatable({}, { __gc = function()\n"
                         "  local ok, err = pcall(function() return b.t.b.e end)\n"
                         "  result = ok and 'read ' .. tostring(err) or err end })"))
        fail_msg("%s", lua_tostring(L, -1));
    lua_getglobal(L, "box");
    assert_int_equal(push_lent(L, doc, strlen(doc)), 1);
    lua_setfield(L, -2, "t");
    lua_settop(L, 0);
    if (luaL_dostring(L, "keeper = nil; box = nil")) fail_msg("%s", lua_tostring(L, -1));
    lua_gc(L, LUA_GCCOLLECT);
    lua_gc(L, LUA_GCCOLLECT);
    assert_int_equal(loans_out, before);
    lua_getglobal(L, "result");
    assert_non_null(strstr(lua_tostring(L, -1), "json: a table read after its document was collected"));
    lua_settop(L, 0);

    /* lua_close lets go of every document still alive */
    lua_State *l2 = luaL_newstate();
    assert_int_equal(push_lent(l2, doc, strlen(doc)), 1);
    lua_setglobal(l2, "kept");
    assert_int_equal(loans_out, before + 1);
    lua_close(l2);
    assert_int_equal(loans_out, before);
}

static int decode_bad(lua_State *l)
{
    static const char bad[] = "{\"a\":[1,}";
    lua_json_decode_lazy(l, NULL, bad, sizeof bad - 1);
    return 1;
}

/* No tape, or a tape of another text: decoded eagerly, errors included (jansson's). */
static void test_without_tape(void **state)
{
    (void)state;
    lua_settop(L, 0);
    lua_json_decode_lazy(L, NULL, "{\"a\":1}", 7);
    assert_false(lua_json_lazy_is(L, -1));
    lua_getfield(L, -1, "a");
    assert_int_equal(lua_tointeger(L, -1), 1);
    const char *other = "{\"a\":2}";
    assert_int_equal(json_tape_parse(&tape, other, 7), 0);
    lua_json_decode_lazy(L, &tape, "{\"a\":3}", 7);
    assert_false(lua_json_lazy_is(L, -1));
    lua_getfield(L, -1, "a");
    assert_int_equal(lua_tointeger(L, -1), 3);
    lua_pushcfunction(L, decode_bad);
    assert_int_equal(lua_pcall(L, 0, 1, 0), LUA_ERRRUN);
    assert_non_null(strstr(lua_tostring(L, -1), "line 1, column"));
    lua_settop(L, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_builds_only_what_is_read),
        cmocka_unit_test(test_writes_before_reads),
        cmocka_unit_test(test_duplicate_keys),
        cmocka_unit_test(test_numbers_and_strings),
        cmocka_unit_test(test_metatables),
        cmocka_unit_test(test_memory_cap),
        cmocka_unit_test(test_without_tape),
        cmocka_unit_test(test_lent),
        cmocka_unit_test(test_fixtures),
        cmocka_unit_test(test_random_documents),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
