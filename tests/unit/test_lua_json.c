/* Unit tests for src/lua_json.c and lua_json_fast.c: JSON <-> Lua, direct and through jansson. Values are compared through the
 * encoder itself (sorted keys: a deterministic printer) and through Lua-side type checks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "json_tape.h"
#include "lua_json.h"
#include "test_rng.h"

#include <lauxlib.h>
#include <lualib.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static lua_State *L;

static int setup(void **state)
{
    (void)state;
    L = luaL_newstate();
    luaL_openlibs(L);
    lua_json_open(L);
    lua_setglobal(L, "json");
    return 0;
}

static struct json_tape tape;

static int teardown(void **state)
{
    (void)state;
    lua_close(L);
    json_tape_free(&tape);
    return 0;
}

/* Runs chunk; returns its string result, or "ERR: <message>". Caller frees. */
static char *eval(const char *chunk)
{
    char *out;
    if (luaL_dostring(L, chunk) != LUA_OK) {
        const char *m = lua_tostring(L, -1);
        out = malloc(strlen(m) + 6);
        sprintf(out, "ERR: %s", m);
    } else {
        out = strdup(lua_isstring(L, -1) ? lua_tostring(L, -1) : "(not a string)");
    }
    lua_settop(L, 0);
    return out;
}

#define EXPECT(chunk, want)                                                                   \
    do {                                                                                      \
        char *got_ = eval(chunk);                                                             \
        assert_string_equal(got_, want);                                                      \
        free(got_);                                                                           \
    } while (0)

#define EXPECT_ERR(chunk, fragment)                                                           \
    do {                                                                                      \
        char *got_ = eval(chunk);                                                             \
        if (strncmp(got_, "ERR: ", 5) || !strstr(got_, fragment))                             \
            fail_msg("want an error with '%s', got '%s'", fragment, got_);                    \
        free(got_);                                                                           \
    } while (0)

/* The vector that made the project drop cJSON: an id above 2^53. */
static void test_int64_exact(void **state)
{
    (void)state;
    EXPECT("local t = json.decode('{\"id\":820982911946154508}')\n"
           "assert(math.type(t.id) == 'integer' and t.id == 820982911946154508)\n"
           "return json.encode(t)", "{\"id\":820982911946154508}");
    EXPECT("return json.encode({ id = 820982911946154508 })", "{\"id\":820982911946154508}");
    EXPECT("return json.encode(json.decode('[9223372036854775807,-9223372036854775808]'))",
           "[9223372036854775807,-9223372036854775808]");
    EXPECT_ERR("return json.decode('[92233720368547758070]')", "too big");
}

static void test_numbers(void **state)
{
    (void)state;
    EXPECT("local t = json.decode('[10, 1.5, 1.0, -0.25, 1e3]')\n"
           "return math.type(t[1])..' '..math.type(t[2])..' '..math.type(t[3])..' '"
           "..math.type(t[5])", "integer float float float");
    EXPECT("return json.encode({1.5, 0.1, 3.0})", "[1.5,0.10000000000000001,3.0]");
    EXPECT("local s = json.encode(0.1) return tostring(json.decode(s) == 0.1)", "true");
    EXPECT("return json.decode('{\"price\":\"12.30\"}').price", "12.30");
    EXPECT("return math.type(json.decode('{\"price\":\"12.30\"}').price) or 'string'", "string");
    EXPECT_ERR("return json.encode(0/0)", "NaN");
    EXPECT_ERR("return json.encode({x = math.huge})", "infinity");
}

static void test_empty_array_vs_object(void **state)
{
    (void)state;
    EXPECT("return json.encode(json.decode('{\"a\":[],\"b\":{},\"c\":[[]]}'))",
           "{\"a\":[],\"b\":{},\"c\":[[]]}");
    EXPECT("return json.encode({})", "{}");
    EXPECT("return json.encode(json.array())", "[]");
    EXPECT("return json.encode(json.array({1, 2}))", "[1,2]");
    EXPECT("return json.encode({1, 2, 'x'})", "[1,2,\"x\"]");
}

static void test_null(void **state)
{
    (void)state;
    EXPECT("local t = json.decode('{\"a\":null,\"b\":[null,1]}')\n"
           "assert(t.a == json.null and t.b[1] == json.null and t.b[2] == 1)\n"
           "return json.encode(t)", "{\"a\":null,\"b\":[null,1]}");
    EXPECT("return json.encode(json.null)", "null");
    EXPECT("return json.encode(nil)", "null");
}

static void test_sorted_and_pretty(void **state)
{
    (void)state;
    EXPECT("return json.encode({ b = 1, a = 2, c = { z = 1, y = 2 } })",
           "{\"a\":2,\"b\":1,\"c\":{\"y\":2,\"z\":1}}");
    EXPECT("return json.encode({ a = { 1 } }, { pretty = true })",
           "{\n  \"a\": [\n    1\n  ]\n}");
}

static void test_depth_limit(void **state)
{
    (void)state;
    EXPECT_ERR("return json.decode(string.rep('[', 200) .. string.rep(']', 200))",
               "nesting deeper than 128 levels");
    EXPECT("return json.encode(json.decode(string.rep('[', 100) .. string.rep(']', 100)))"
           ":sub(1, 3)", "[[[");
    EXPECT_ERR("local t = {} t.self = t return json.encode(t)", "nesting deeper than 128");
}

static void test_utf8(void **state)
{
    (void)state;
    EXPECT("return json.decode('\"caf\\\\u00e9 \\\\ud83d\\\\ude00\"')", "caf\xc3\xa9 \xf0\x9f\x98\x80");
    EXPECT("return json.encode('caf\\xc3\\xa9')", "\"caf\xc3\xa9\"");
    EXPECT_ERR("return json.decode('\"\\xff\"')", "json:");
    EXPECT_ERR("return json.encode('\\xff')", "invalid UTF-8");
    EXPECT_ERR("return json.encode({ ['\\xff'] = 1 })", "invalid UTF-8");
}

static void test_unencodable(void **state)
{
    (void)state;
    EXPECT_ERR("return json.encode({ 1, 2, x = 3 })", "mixing array and object");
    EXPECT_ERR("return json.encode({ [1] = 1, [3] = 3 })", "sparse array");
    EXPECT_ERR("return json.encode({ f = print })", "cannot encode a function");
    EXPECT_ERR("return json.encode({ [true] = 1 })", "key of type boolean");
    EXPECT_ERR("return json.decode('{\"a\":')", "json:");
}

/* ---- the direct decoder against the jansson tree (the reference) ----
 * lua_json_decode must give the same value as lua_json_decode_tree wherever the tree path
 * succeeds, and fail wherever it fails (with its message: the direct decoder falls back to it).
 * Checked on edge cases, on random documents and on random mutations of them. */

/* Deep equality of the values at a and b: same types, integer/float subtype, bit-identical
 * floats (-0.0 stays -0.0), same keys, same array marker. */
static int same_value(int a, int b, int depth)
{
    a = lua_absindex(L, a);
    b = lua_absindex(L, b);
    if (lua_type(L, a) != lua_type(L, b) || depth > 200) return 0;
    luaL_checkstack(L, 8, "same_value");
    switch (lua_type(L, a)) {
    case LUA_TNUMBER:
        if (lua_isinteger(L, a) != lua_isinteger(L, b)) return 0;
        if (lua_isinteger(L, a)) return lua_tointeger(L, a) == lua_tointeger(L, b);
        {
            lua_Number x = lua_tonumber(L, a), y = lua_tonumber(L, b);
            return memcmp(&x, &y, sizeof x) == 0;
        }
    case LUA_TTABLE: {
        int ma = lua_getmetatable(L, a), mb = lua_getmetatable(L, b);
        int same = ma == mb && (!ma || lua_rawequal(L, -1, -2));
        lua_pop(L, ma + mb);
        if (!same) return 0;
        size_t na = 0, nb = 0;
        lua_pushnil(L);
        while (lua_next(L, a)) {
            na++;
            lua_pushvalue(L, -2);
            lua_rawget(L, b);
            int ok = same_value(-2, -1, depth + 1);
            lua_pop(L, 2);
            if (!ok) {
                lua_pop(L, 1);
                return 0;
            }
        }
        lua_pushnil(L);
        while (lua_next(L, b)) nb++, lua_pop(L, 1);
        return na == nb;
    }
    default:
        return lua_rawequal(L, a, b);
    }
}

/* (text, how): how 0 the direct decoder, 1 the tree, 2 the tape made of the text (if any) */
static int call_decode(lua_State *Ls)
{
    size_t len;
    const char *s = lua_tolstring(Ls, 1, &len);
    int how = (int)lua_tointeger(Ls, 2);
    if (how == 2) {
        int taped = json_tape_parse(&tape, s, len) == 0;
        lua_json_decode_tape(Ls, taped ? &tape : NULL, s, len);
    } else if (how == 1) {
        lua_json_decode_tree(Ls, s, len);
    } else {
        lua_json_decode(Ls, s, len);
    }
    return 1;
}

/* The tape must give exactly what the direct decoder gives (value or error, top at fast), and
 * exist exactly where the direct decoder did the work itself (fell_back 0). */
static void check_tape(const char *text, size_t len, int fast, int fell_back)
{
    int taped = json_tape_parse(&tape, text, len) == 0;
    if (taped == fell_back)
        fail_msg("tape %s where the direct decoder %s [%.*s]", taped ? "made" : "refused",
                 fell_back ? "fell back" : "did not", (int)len, text);
    lua_pushcfunction(L, call_decode);
    lua_pushlstring(L, text, len);
    lua_pushinteger(L, 2);
    int st = lua_pcall(L, 2, 1, 0);
    if (st != fast) fail_msg("tape %s, direct %s, on [%.*s]", st ? "failed" : "ok",
                             fast ? "failed" : "ok", (int)len, text);
    if (st == LUA_OK ? !same_value(-2, -1, 0) : strcmp(lua_tostring(L, -2), lua_tostring(L, -1)))
        fail_msg("tape and direct decoder differ on [%.*s]", (int)len, text);
    lua_pop(L, 1);
}

static long diff_cases, diff_ok;

/* Decodes text both ways and fails the test on any difference. */
static void differential(const char *text, size_t len)
{
    int top = lua_gettop(L);
    unsigned long fallbacks = lua_json_decode_fallbacks();
    lua_pushcfunction(L, call_decode);
    lua_pushlstring(L, text, len);
    lua_pushinteger(L, 0);
    int fast = lua_pcall(L, 2, 1, 0);
    int fell_back = lua_json_decode_fallbacks() != fallbacks;
    check_tape(text, len, fast, fell_back);
    lua_pushcfunction(L, call_decode);
    lua_pushlstring(L, text, len);
    lua_pushinteger(L, 1);
    int tree = lua_pcall(L, 2, 1, 0);
    diff_cases++;
    if (fast != tree)
        fail_msg("direct decoder %s, tree %s, on [%.*s]", fast ? lua_tostring(L, -2) : "ok",
                 tree ? lua_tostring(L, -1) : "ok", (int)len, text);
    if (fast == LUA_OK) {
        diff_ok++;
        /* valid JSON is the fast path's to decode: only over-long numbers are left to jansson,
         * and text after a NUL byte (jansson takes a NUL for the end of the input) */
        if (fell_back && !memmem(text, len, "12345678901234567890123456789012345678901", 41) &&
            !memchr(text, '\0', len))
            fail_msg("the direct decoder refused valid JSON [%.*s] %lu %lu", (int)len, text, fallbacks, lua_json_decode_fallbacks());
        if (!same_value(-2, -1, 0)) fail_msg("different values for [%.*s]", (int)len, text);
    } else if (strcmp(lua_tostring(L, -2), lua_tostring(L, -1)) != 0) {
        fail_msg("different errors '%s' / '%s'", lua_tostring(L, -2), lua_tostring(L, -1));
    }
    lua_settop(L, top);
}

static void test_decoder_edge_cases(void **state)
{
    (void)state;
    static const char *const cases[] = {
        "0", "-0", "-0.0", "0.0", "1", "-1", "10", "01", "-01", "00", "1.", ".5", "1.5", "-1.5e3",
        "1e3", "1E+3", "1e-3", "1e", "1e+", "1ee3", "1.5.5", "--1", "-", "+1", "1x", "0x10",
        "9223372036854775807", "-9223372036854775808", "9223372036854775808",
        "-9223372036854775809", "18446744073709551616", "99999999999999999999",
        "0000000000000000000001", "1234567890123456789", "12345678901234567890",
        "1e308", "1e309", "-1e309", "1e-400", "4.9e-324", "2.2250738585072014e-308",
        "0.1000000000000000055511151231257827021181583404541015625",
        "123456789012345678901234567890123456789012345678901234567890.5e-3",
        "1.7976931348623157e308", "3.141592653589793238462643383279",
        "true", "false", "null", "tru", "nul", "truex", "True", "NULL", "[true1]",
        "\"\"", "\"a\"", "\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"", "\"\\u0041\\u00e9\\u20ac\"",
        "\"\\ud83d\\ude00\"", "\"\\uD83D\\uDE00\"", "\"\\ud83d\"", "\"\\ude00\"",
        "\"\\ud83d\\u0041\"", "\"\\ud83dx\"", "\"\\ud83d\\\"", "\"\\u00\"", "\"\\u00g0\"",
        "\"\\u0000\"", "\"a\\u0000b\"", "{\"\\u0000\":1}", "{\"a\\u0000\":1}", "\"\\x\"",
        "\"\\'\"", "\"\t\"", "\"\n\"", "\"\x01\"", "\"\x7f\"", "\"caf\xc3\xa9\"",
        "\"\xe2\x82\xac\"", "\"\xf0\x9f\x98\x80\"", "\"\xc0\x80\"", "\"\xc1\xbf\"",
        "\"\xe0\x80\xaf\"", "\"\xed\xa0\x80\"", "\"\xf4\x90\x80\x80\"", "\"\xf5\x80\x80\x80\"",
        "\"\xff\"", "\"\x80\"", "\"\xc3\"", "\"\xe2\x82\"", "\"abc", "\"abc\\", "\"abc\\\"",
        "[]", "{}", "[ ]", "{ }", "[1,]", "[,1]", "[1 2]", "{\"a\" 1}", "{\"a\":}", "{\"a\":1,}",
        "{,}", "{1:2}", "{'a':1}", "{\"a\":1 \"b\":2}", "[1,[2,[3,{}]]]", "[", "]", "{", "}",
        "", " ", "\n", " 1 ", "1 2", "[] []", "[]x", "\xef\xbb\xbf[]", "[1]\x00", "\x00",
        "{\"a\":1,\"a\":2}", "{\"a\":[],\"a\":{}}", "{\"a\":{\"b\":1},\"a\":null}",
        "{\"\":0}", "[null,null]", "[[],[[]],{}]", "{\"a\":[null,{\"b\":[]}]}",
        " \t\r\n[ \t\r\n1 \t\r\n, \t\r\n{ \"x\" : \"y\" } ] \t\r\n", "[1\f]", "[1\v]",
        "{\"id\":820982911946154508,\"p\":\"12.30\",\"q\":1.0}",
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        differential(cases[i], strlen(cases[i]));
    /* NUL bytes inside the text, which strlen above cannot carry */
    differential("\"a\0b\"", 5);
    differential("[1,\0]", 5);
    differential("1\0", 2);
    /* nesting around the limit: 128 levels decode, a value on level 129 does not */
    char deep[700];
    for (int n = 126; n <= 130; n++) {
        for (int tail = 0; tail < 3; tail++) {
            size_t k = 0;
            for (int i = 0; i < n; i++) deep[k++] = '[';
            if (tail == 1) deep[k++] = '1';
            if (tail == 2) k += (size_t)sprintf(deep + k, "{\"a\":1}");
            for (int i = 0; i < n; i++) deep[k++] = ']';
            differential(deep, k);
            deep[k++] = ','; /* deep and invalid: the syntax error wins, as before */
            differential(deep, k);
        }
    }
}


struct gen {
    char *buf;
    size_t len, cap;
};

static void put(struct gen *g, const char *s, size_t n)
{
    if (g->len + n + 1 > g->cap) {
        g->cap = (g->len + n + 1) * 2;
        g->buf = realloc(g->buf, g->cap);
    }
    memcpy(g->buf + g->len, s, n);
    g->len += n;
}
static void puts_(struct gen *g, const char *s)
{
    put(g, s, strlen(s));
}

static void gen_ws(struct gen *g)
{
    static const char *const ws[] = { "", "", "", " ", "\n", "\t", "\r\n  " };
    puts_(g, ws[rnd(7)]);
}

static void gen_string(struct gen *g)
{
    static const char *const parts[] = {
        "a", "id", "line_items", "Caf\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80", "\\\"",
        "\\\\", "\\/", "\\b", "\\f", "\\n", "\\r", "\\t", "\\u0041", "\\u00E9", "\\u20ac",
        "\\ud83d\\ude00", "\\u0000", "\\uFFFF", "\\u07ff", "\\u0800", " ", "gid://shopify/Order/1",
        "{\\\"x\\\":[1,2]}", "\xdf\xbf", "\xef\xbf\xbf", "\xf4\x8f\xbf\xbf",
    };
    put(g, "\"", 1);
    for (unsigned i = rnd(6); i > 0; i--) puts_(g, parts[rnd(sizeof parts / sizeof parts[0])]);
    put(g, "\"", 1);
}

static void gen_number(struct gen *g)
{
    static const char *const fixed[] = {
        "0", "-0", "9223372036854775807", "-9223372036854775808", "9223372036854775808",
        "1e400", "1e-400", "0.5", "-0.0", "1E2", "2.5e+3", "7e-1", "820982911946154508",
    };
    char b[48];
    switch (rnd(4)) {
    case 0: puts_(g, fixed[rnd(sizeof fixed / sizeof fixed[0])]); return;
    case 1: snprintf(b, sizeof b, "%lld", (long long)rnd(2000000) - 1000000); break;
    case 2: snprintf(b, sizeof b, "%u.%u", rnd(100000), rnd(1000)); break;
    default:
        snprintf(b, sizeof b, "%s%u%s%ue%s%u", rnd(2) ? "-" : "", 1 + rnd(9), rnd(2) ? "." : "",
                 rnd(1000), rnd(2) ? "-" : "", rnd(330));
    }
    puts_(g, b);
}

static void gen_value(struct gen *g, int depth)
{
    unsigned k = depth > 6 ? 2 + rnd(6) : rnd(8);
    switch (k) {
    case 0:
    case 1: {
        int obj = k == 0;
        put(g, obj ? "{" : "[", 1);
        gen_ws(g);
        for (unsigned i = 0, n = rnd(5); i < n; i++) {
            if (i) put(g, ",", 1), gen_ws(g);
            if (obj) gen_string(g), gen_ws(g), put(g, ":", 1), gen_ws(g);
            gen_value(g, depth + 1);
            gen_ws(g);
        }
        put(g, obj ? "}" : "]", 1);
        return;
    }
    case 2:
    case 3: gen_string(g); return;
    case 4:
    case 5: gen_number(g); return;
    default: {
        static const char *const lit[] = { "true", "false", "null" };
        puts_(g, lit[rnd(3)]);
    }
    }
}

/* Short strings come from a per-state cache of the last string per slot: strings that share a
 * slot or most of their words (here: the same length, first and last 8 bytes) must still come back
 * as themselves, and more distinct strings than slots must evict cleanly, over and over. */
struct nul_args {
    const char *s;
    int nul;
};

static int call_decode_nul(lua_State *Ls)
{
    struct nul_args *a = lua_touserdata(Ls, 1);
    lua_json_decode_nul(Ls, a->s, strlen(a->s), &a->nul);
    return 1;
}

/* lua_json_decode_nul says when a string or key decodes to one with a NUL byte: only an
 * escape can put one there, at any depth (a key cannot have one: the decoder refuses those);
 * text that merely reads \u0000 (an escaped backslash before it) is not one. */
static void test_decoder_nul_flag(void **state)
{
    (void)state;
    static const struct { const char *text; int nul; } cases[] = {
        { "\"a\\u0000b\"", 1 }, { "{\"k\":{\"\\u00e9\":\"\\u0000\"}}", 1 }, { "[1,{\"a\":[\"\\u00e9\\u0000\"]}]", 1 },
        { "\"\\u0000\"", 1 }, { "\"a\\\\u0000b\"", 0 }, { "{\"a\":\"\\u00e9\\n\"}", 0 },
        { "[\"plain\",1,null,true]", 0 }, { "\"\\u0001\"", 0 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        struct nul_args a = { cases[i].text, -1 };
        lua_settop(L, 0);
        lua_pushcfunction(L, call_decode_nul);
        lua_pushlightuserdata(L, &a);
        if (lua_pcall(L, 1, 1, 0) != LUA_OK) fail_msg("%s: %s", cases[i].text, lua_tostring(L, -1));
        if (a.nul != cases[i].nul) fail_msg("%s: nul %d, want %d", cases[i].text, a.nul, cases[i].nul);
    }
    lua_settop(L, 0);
}

static void test_decoder_string_cache(void **state)
{
    (void)state;
    const char *same_slot = "[\"abcdefghXijklmnop\",\"abcdefghYijklmnop\",\"abcdefghXijklmnop\"]";
    for (int round = 0; round < 3; round++) differential(same_slot, strlen(same_slot));
    lua_settop(L, 0);
    lua_pushcfunction(L, call_decode);
    lua_pushstring(L, same_slot);
    lua_pushinteger(L, 0);
    assert_int_equal(lua_pcall(L, 2, 1, 0), LUA_OK);
    lua_rawgeti(L, 1, 1);
    lua_rawgeti(L, 1, 2);
    assert_string_equal(lua_tostring(L, -2), "abcdefghXijklmnop");
    assert_string_equal(lua_tostring(L, -1), "abcdefghYijklmnop");
    lua_settop(L, 0);

    /* A hit compares words, not bytes (the first and last 8, the middle ones past 16, one
     * masked word below 8): strings of every cached length that differ in any one byte, alone
     * (the last string of the text, read byte by byte) and followed by more text. */
    for (int len = 1; len <= 24; len++) {
        for (int at = 0; at < len; at++) {
            char a[32], b[32], pair[128];
            for (int i = 0; i < len; i++) a[i] = b[i] = (char)('a' + i);
            b[at] = 'Z';
            int n = snprintf(pair, sizeof pair, "[\"%.*s\",\"%.*s\",\"%.*s\"]", len, a, len, b,
                             len, a);
            differential(pair, (size_t)n);
            n = snprintf(pair, sizeof pair, "\"%.*s\"", len, b);
            differential(pair, (size_t)n);
        }
    }

    static char doc[200000];
    for (int round = 0; round < 2; round++) {
        size_t n = 0;
        doc[n++] = '{';
        for (int i = 0; i < 3000; i++) /* keys of 1 to 30 bytes, values from a small set */
            n += (size_t)snprintf(doc + n, sizeof doc - n, "%s\"%.*s%d\":\"v%d\"", i ? "," : "",
                                  i % 27, "kkkkkkkkkkkkkkkkkkkkkkkkkkkkk", i, (i * 7 + round) % 50);
        doc[n++] = '}';
        differential(doc, n);
    }
}

/* Strings are scanned a word (8 bytes) at a time: every byte value at every position of a
 * word, and pairs of escapes and multi-byte sequences straddling word boundaries, as values
 * and as keys, whole and cut short, must decode as jansson decodes them. */
static void test_decoder_string_words(void **state)
{
    (void)state;
    char doc[128];
    for (int b = 0; b < 256; b++) {
        for (int at = 0; at < 20; at++) {
            for (int key = 0; key < 2; key++) {
                size_t n = 0;
                if (key) doc[n++] = '{';
                doc[n++] = '"';
                for (int i = 0; i < 24; i++) doc[n++] = i == at ? (char)b : (char)('a' + i);
                doc[n++] = '"';
                if (key) n += (size_t)sprintf(doc + n, ":1}");
                differential(doc, n);
            }
        }
    }
    static const char *const pieces[] = {
        "\\\"", "\\\\", "\\/", "\\n", "\\u00e9", "\\u20AC", "\\ud83d\\ude00", "\\u0000",
        "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80", "\xc3", "\xed\xa0\x80", "\x1f", "\\x",
        "\\ud83d", "\\",
    };
    size_t np = sizeof pieces / sizeof pieces[0];
    for (size_t x = 0; x < np; x++) {
        for (size_t y = 0; y < np; y++) {
            for (int at = 0; at < 17; at++) {
                for (int gap = 0; gap < 10; gap += 3) {
                    size_t n = 0;
                    doc[n++] = '"';
                    for (int i = 0; i < at; i++) doc[n++] = 'p';
                    n += (size_t)sprintf(doc + n, "%s", pieces[x]);
                    for (int i = 0; i < gap; i++) doc[n++] = 'q';
                    n += (size_t)sprintf(doc + n, "%s", pieces[y]);
                    for (int i = 0; i < 9; i++) doc[n++] = 'r';
                    doc[n++] = '"';
                    differential(doc, n);
                    for (size_t cut = n - 12; cut < n; cut++) differential(doc, cut);
                }
            }
        }
    }
}

/* Long strings are unescaped 16 bytes a step (json_text.h, unescape_simple) once 33 bytes are
 * left: each piece at every offset of a block, next to another at every gap, in strings long
 * enough for the block steps, and runs of escapes end to end, must decode as jansson decodes
 * them; as must long random strings of every piece, whole and cut short. */
static void test_decoder_long_strings(void **state)
{
    (void)state;
    static const char *const pieces[] = {
        "\\\"", "\\\\", "\\/", "\\n", "\\b", "\\u00e9", "\\ud83d\\ude00", "\\u0000",
        "\xc3\xa9", "\xf0\x9f\x98\x80", "\xc3", "\x1f", "\x7f", "\\x", "\\", "\"",
    };
    size_t np = sizeof pieces / sizeof pieces[0];
    char doc[256];
    for (size_t x = 0; x < np; x++) {
        for (size_t y = 0; y < np; y++) {
            for (int at = 0; at < 40; at += (at < 20 ? 1 : 3)) {
                for (int gap = 0; gap < 18; gap += (gap < 3 ? 1 : 5)) {
                    for (int key = 0; key < 2; key++) {
                        size_t n = 0;
                        if (key) doc[n++] = '{';
                        doc[n++] = '"';
                        for (int i = 0; i < at; i++) doc[n++] = (char)('a' + i % 26);
                        n += (size_t)sprintf(doc + n, "%s", pieces[x]);
                        for (int i = 0; i < gap; i++) doc[n++] = 'q';
                        n += (size_t)sprintf(doc + n, "%s", pieces[y]);
                        for (int i = 0; i < 40; i++) doc[n++] = 'r';
                        doc[n++] = '"';
                        if (key) n += (size_t)sprintf(doc + n, ":1}");
                        differential(doc, n);
                    }
                }
            }
        }
    }
    for (size_t x = 0; x < np; x++) { /* the piece end to end, 1 to 60 times */
        for (int times = 1; times <= 60; times++) {
            size_t n = 0;
            doc[n++] = '"';
            for (int i = 0; i < times && n + 16 < sizeof doc; i++)
                n += (size_t)sprintf(doc + n, "%s", pieces[x]);
            doc[n++] = '"';
            differential(doc, n);
        }
    }
    static const char *const good[] = {
        "a", "id", "Caf\xc3\xa9", "\\\"", "\\\\", "\\/", "\\n", "\\t", "\\u00E9",
        "\\ud83d\\ude00", "{\\\"x\\\":[1,2]}", "\xe2\x82\xac", " ", "0123456789",
    };
    char big[4096];
    for (int k = 0; k < 3000; k++) {
        size_t n = 0;
        big[n++] = '"';
        for (unsigned i = 20 + rnd(200); i > 0 && n + 32 < sizeof big; i--)
            n += (size_t)sprintf(big + n, "%s", good[rnd(sizeof good / sizeof good[0])]);
        big[n++] = '"';
        differential(big, n);
        differential(big, n - 1 - rnd(40)); /* cut short */
    }
}

static void test_decoder_random(void **state)
{
    (void)state;
    static const char noise[] = "\"\\,:[]{}0-e.+ u\n\x80\xff\xc3\x01xtn";
    struct gen g = { NULL, 0, 0 };
    char *m = NULL;
    diff_cases = diff_ok = 0;
    for (int doc = 0; doc < 10000; doc++) {
        g.len = 0;
        gen_ws(&g);
        gen_value(&g, 0);
        gen_ws(&g);
        differential(g.buf, g.len);
        m = realloc(m, g.len + 2);
        for (int k = 0; k < 12; k++) { /* one random edit each */
            size_t n = rnd_edit(m, g.buf, g.len, noise, sizeof noise - 1);
            differential(m, n);
        }
    }
    free(m);
    free(g.buf);
    /* the generator must reach both outcomes plentifully, or this test proves little */
    print_message("%ld texts, %ld valid\n", diff_cases, diff_ok);
    assert_true(diff_ok > 5000 && diff_cases - diff_ok > 5000);
}

/* Real webhook payloads from the bench fixtures, whole and cut at every byte. */
static void test_decoder_fixtures(void **state)
{
    (void)state;
    static const char *const files[] = { "scripts/bench/orders_create.json",
                                         "scripts/bench/rules_order.json" };
    for (size_t i = 0; i < 2; i++) {
        FILE *f = fopen(files[i], "rb");
        assert_non_null(f);
        char buf[65536];
        size_t n = fread(buf, 1, sizeof buf, f);
        fclose(f);
        differential(buf, n);
        for (size_t cut = 0; cut < n; cut += 7) differential(buf, cut);
    }
}

/* ---- the direct encoder against the jansson tree ---- */

static int call_encode(lua_State *Ls)
{
    int tree = lua_toboolean(Ls, 2), pretty = lua_toboolean(Ls, 3);
    lua_settop(Ls, 1);
    if (tree) lua_json_encode_tree(Ls, 1, pretty ? LUA_JSON_PRETTY : 0, NULL);
    else lua_json_encode(Ls, 1, pretty ? LUA_JSON_PRETTY : 0, NULL);
    return 1;
}

/* Encodes the value at idx both ways, compact and pretty; fails the test on any difference. */
static void encode_both(int idx)
{
    idx = lua_absindex(L, idx);
    for (int pretty = 0; pretty < 2; pretty++) {
        int st[2];
        for (int tree = 0; tree < 2; tree++) {
            lua_pushcfunction(L, call_encode);
            lua_pushvalue(L, idx);
            lua_pushboolean(L, tree);
            lua_pushboolean(L, pretty);
            st[tree] = lua_pcall(L, 3, 1, 0);
        }
        if (st[0] != st[1] || strcmp(lua_tostring(L, -1), lua_tostring(L, -2)) != 0)
            fail_msg("encoders differ (pretty %d): direct [%s] tree [%s]", pretty,
                     lua_tostring(L, -2), lua_tostring(L, -1));
        lua_pop(L, 2);
    }
}

/* The direct encoder keeps one buffer per state. A finalizer that the collector runs while an
 * encode is under way (it can step when a long key, a new string, is pushed) and encodes in
 * turn must get a buffer of its own: both texts come out whole, however the two interleave. */
static void test_encoder_nested_in_finalizer(void **state)
{
    (void)state;
    EXPECT("collectgarbage('incremental', 10, 400)\n"
           "local inner, bad = 0, 0\n"
           "local t = {}\n"
           "for i = 1, 300 do t[string.rep('k', 50) .. i] = string.rep('v', i % 40) end\n"
           "local want = json.encode(t)\n"
           "for round = 1, 40 do\n"
           "  for i = 1, 200 do\n"
           "    setmetatable({}, {__gc = function()\n"
           "      inner = inner + 1\n"
           "      if json.encode({n = i, s = 'x'}) ~= '{\"n\":' .. i .. ',\"s\":\"x\"}' then bad = bad + 1 end\n"
           "    end})\n"
           "  end\n"
           "  if json.encode(t) ~= want then return 'outer text changed' end\n"
           "end\n"
           "collectgarbage()\n"
           "collectgarbage('incremental', 200, 100)\n"
           "return (inner > 0 and bad == 0) and 'ok' or ('inner ' .. inner .. ' bad ' .. bad)",
           "ok");
}

static int call_encode_fields(lua_State *l)
{
    static const char *const keys[] = { "a", "a b", "kind", "\xc3\xa9" }; /* sorted bytewise */
    const char *vals[4];
    for (int i = 0; i < 4; i++) vals[i] = lua_tostring(l, i + 1);
    lua_json_encode_fields(l, 4, keys, vals);
    return 1;
}

/* lua_json_encode_fields writes what lua_json_encode writes for the same table, escapes and
 * all, and raises the same error for a value that is not UTF-8. */
static void test_encode_fields(void **state)
{
    (void)state;
    static const char *const values[] = { "", "x", "42", "tab\there \"q\" \\ /", "\x01\x1f\x7f",
                                          "\xe2\x82\xac", "\xff", "\xc3" };
    size_t nv = sizeof values / sizeof values[0];
    for (size_t v = 0; v < nv; v++) {
        for (int which = 0; which < 2; which++) {
            lua_settop(L, 0);
            lua_pushcfunction(L, call_encode_fields);
            for (int i = 0; i < 4; i++) lua_pushstring(L, i == 2 ? values[v] : "plain");
            int st = lua_pcall(L, 4, 1, 0);
            lua_pushcfunction(L, call_encode);
            lua_createtable(L, 0, 4);
            static const char *const keys[] = { "a", "a b", "kind", "\xc3\xa9" };
            for (int i = 0; i < 4; i++) {
                lua_pushstring(L, i == 2 ? values[v] : "plain");
                lua_setfield(L, -2, keys[i]);
            }
            lua_pushboolean(L, which); /* the direct encoder, then the tree */
            lua_pushboolean(L, 0);
            int want = lua_pcall(L, 3, 1, 0);
            assert_int_equal(st, want);
            assert_string_equal(lua_tostring(L, 1), lua_tostring(L, 2));
        }
    }
    lua_settop(L, 0);
}

static void test_encoder_differential(void **state)
{
    (void)state;
    /* values only Lua makes: what JSON text cannot carry, and what the encoder must refuse */
    static const char tricky[] =
        "local t = {\n"
        "  {}, json.array(), {1, 2, 3}, {[1] = 1, [3] = 3}, {1, 2, x = 3}, {[0] = 1}, {[-1] = 1},\n"
        "  {[1.5] = 1}, {[true] = 1}, {a = print}, {f = 0/0}, {f = math.huge}, {f = -math.huge},\n"
        "  {0.1, 1.0, -0.0, 1e300, 5e-324, 123456789.125, 2^53, 1/3, -2.5e-7, 100.0, 1e16, 1e17},\n"
        "  {math.maxinteger, math.mininteger, 0, -1}, {s = 'a\\0b'}, {['a\\0b'] = 1},\n"
        "  {s = '\\xff'}, {['\\xff'] = 1}, {s = '\\1\\2\\31\\127 \"\\\\/\\b\\f\\n\\r\\t'},\n"
        "  {s = 'caf\\xc3\\xa9 \\xf0\\x9f\\x98\\x80 \\xed\\xa0\\x80'}, {b = 'ab', a = 'x', B = 1, [''] = 0, aa = 2},\n"
        "  {n = json.null, t = true, f = false}, json.array({json.null, {}, json.array()}),\n"
        "  {k = coroutine.create(print)}, {nested = {deeper = {deepest = json.array({1, {x = 'y'}})}}},\n"
        "  'plain', 42, 1.5, true, json.null, {[2] = 'b', [1] = 'a'}, {['1'] = 'string key'},\n"
        "}\n"
        "local deep = {} local cur = deep for i = 1, 127 do cur.x = {} cur = cur.x end t[#t + 1] = deep\n"
        "local deeper = {} cur = deeper for i = 1, 128 do cur.x = {} cur = cur.x end t[#t + 1] = deeper\n"
        "local cyc = {} cyc.self = cyc t[#t + 1] = cyc\n"
        "local arr = json.array({1, 2}) arr[4] = 4 t[#t + 1] = arr\n"
        "local big = {} for i = 1, 300 do big['k' .. i] = i end t[#t + 1] = big\n"
        "return t\n";
    assert_int_equal(luaL_dostring(L, tricky), LUA_OK);
    int t = lua_gettop(L);
    for (lua_Integer i = 1; i <= (lua_Integer)lua_rawlen(L, t); i++) {
        lua_rawgeti(L, t, i);
        encode_both(-1);
        lua_pop(L, 1);
    }
    lua_pushnil(L);
    encode_both(-1); /* nil: null */
    lua_settop(L, 0);
    /* everything the random documents decode to */
    struct gen g = { NULL, 0, 0 };
    for (int doc = 0; doc < 5000; doc++) {
        g.len = 0;
        gen_value(&g, 0);
        lua_pushcfunction(L, call_decode);
        lua_pushlstring(L, g.buf, g.len);
        lua_pushinteger(L, 1);
        if (lua_pcall(L, 2, 1, 0) == LUA_OK) {
            unsigned long before = lua_json_encode_fallbacks();
            encode_both(-1);
            /* whatever JSON text decodes to, the direct encoder writes itself */
            if (lua_json_encode_fallbacks() != before)
                fail_msg("the direct encoder handed over [%.*s]", (int)g.len, g.buf);
        }
        lua_settop(L, 0);
    }
    free(g.buf);
    /* and the real payloads */
    static const char *const files[] = { "scripts/bench/orders_create.json",
                                         "scripts/bench/rules_order.json" };
    for (size_t i = 0; i < 2; i++) {
        FILE *f = fopen(files[i], "rb");
        assert_non_null(f);
        char buf[65536];
        size_t n = fread(buf, 1, sizeof buf, f);
        fclose(f);
        lua_json_decode(L, buf, n);
        encode_both(-1);
        lua_settop(L, 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_int64_exact),
        cmocka_unit_test(test_numbers),
        cmocka_unit_test(test_empty_array_vs_object),
        cmocka_unit_test(test_null),
        cmocka_unit_test(test_sorted_and_pretty),
        cmocka_unit_test(test_depth_limit),
        cmocka_unit_test(test_utf8),
        cmocka_unit_test(test_unencodable),
        cmocka_unit_test(test_decoder_edge_cases),
        cmocka_unit_test(test_decoder_nul_flag),
        cmocka_unit_test(test_decoder_string_cache),
        cmocka_unit_test(test_decoder_string_words),
        cmocka_unit_test(test_decoder_long_strings),
        cmocka_unit_test(test_decoder_random),
        cmocka_unit_test(test_decoder_fixtures),
        cmocka_unit_test(test_encoder_nested_in_finalizer),
        cmocka_unit_test(test_encode_fields),
        cmocka_unit_test(test_encoder_differential),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
