/* Unit tests for src/lua_json.c: JSON <-> Lua through jansson. Values are compared through the
 * encoder itself (sorted keys: a deterministic printer) and through Lua-side type checks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "lua_json.h"

#include <lauxlib.h>
#include <lualib.h>
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

static int teardown(void **state)
{
    (void)state;
    lua_close(L);
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
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
