/* libFuzzer target: one JSON text through every decoder the rules see it by. The direct
 * decoder (webhook bodies in the service, answers), the tape and its eager decode (answers in
 * the dry-run), and the lazy tables built from the tape (event payloads) must give the same
 * value: their encodings (keys sorted) are compared byte for byte, and a difference aborts, as
 * does a text the tape takes and the decoder refuses. Text they both refuse is fine (an error,
 * not a crash); the sanitizers catch the rest. */
#include "json_tape.h"
#include "lua_json.h"
#include "lua_json_lazy.h"

#include <lauxlib.h>
#include <lualib.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct args {
    const char *s;
    size_t n;
    const struct json_tape *t;
};

/* Encodes the value at idx, or pushes nil when it cannot be encoded (a value the decoders made
 * always can; nil then means all of them agree it cannot). */
static int encode_or_nil(lua_State *L)
{
    lua_json_encode(L, 1, 0, NULL);
    return 1;
}

static const char *encoded(lua_State *L, int idx, size_t *len)
{
    lua_pushcfunction(L, encode_or_nil);
    lua_pushvalue(L, idx);
    if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
        lua_pop(L, 1);
        lua_pushnil(L);
        *len = 0;
        return NULL;
    }
    return lua_tolstring(L, -1, len);
}

static void same(const char *what, const char *a, size_t an, const char *b, size_t bn)
{
    if (an == bn && (!an || memcmp(a, b, an) == 0)) return;
    fprintf(stderr, "fuzz_json: %s differs:\n  %.*s\n  %.*s\n", what, (int)an, a ? a : "",
            (int)bn, b ? b : "");
    abort();
}

static int run(lua_State *L)
{
    struct args *a = lua_touserdata(L, 1);
    lua_json_decode(L, a->s, a->n);                          /* 2; raises on bad text */
    size_t n1, n2, n3;
    const char *e1 = encoded(L, 2, &n1);                      /* 3 */
    if (!a->t) return 0;
    lua_json_decode_tape(L, a->t, a->s, a->n);                /* 4 */
    const char *e2 = encoded(L, 4, &n2);                      /* 5 */
    same("tape decode", e1, n1, e2, n2);
    lua_json_decode_lazy(L, a->t, a->s, a->n);                /* 6 */
    const char *e3 = encoded(L, 6, &n3);                      /* 7 */
    same("lazy decode", e1, n1, e3, n3);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static lua_State *L;
    if (!L) {
        L = luaL_newstate();
        luaL_openlibs(L);
    }
    struct json_tape tape = { 0 };
    struct args a = { (const char *)data, size, NULL };
    if (json_tape_parse(&tape, a.s, a.n) == 0) a.t = &tape;
    lua_settop(L, 0);
    lua_pushcfunction(L, run);
    lua_pushlightuserdata(L, &a);
    if (lua_pcall(L, 1, 0, 0) != LUA_OK && a.t) {
        /* the tape takes only what the direct decoder decodes itself (json_tape.h) */
        fprintf(stderr, "fuzz_json: taped, yet the decoder refused it: %s\n", lua_tostring(L, -1));
        abort();
    }
    lua_settop(L, 0);
    lua_gc(L, LUA_GCCOLLECT);
    json_tape_free(&tape);
    return 0;
}
