/* lua_json_tape: lua_json_decode_tape, the Lua values of a tape (json_tape.h). It walks the
 * tokens as the text decoder (lua_json_fast.c) walks the text and builds with the same calls
 * (lua_json_internal.h): strings through the same cache, escaped ones through a Lua buffer of
 * the raw length as there, the same stack checks at the same points and the same way out when
 * one fails. So a tape gives what the text would, allocation for allocation. */
#include "lua_json.h"
#include "lua_json_internal.h"
#include "json_tape.h"

#include <lauxlib.h>
#include <string.h>

struct rp {
    lua_State *L;
    const struct json_tok *k;    /* the next token */
    const unsigned char *text, *end, *bytes;
    int array_mt, cache_tbl;
    struct scache *cache;
};

static int rp_value(struct rp *r);

static void rp_string(struct rp *r)
{
    lj_tape_string(r->L, r->cache, r->cache_tbl, r->k++, r->text, r->end, r->bytes);
}

static int rp_object(struct rp *r, int n)
{
    lua_State *L = r->L;
    int base = lua_gettop(L);
    for (int i = 0; i < n; i++) {
        if (!lj_object_room(L, i)) return -1;
        rp_string(r);
        if (rp_value(r)) return -1;
    }
    lj_object(L, base, n);
    return 0;
}

static int rp_array(struct rp *r, int n)
{
    lua_State *L = r->L;
    int base = lua_gettop(L);
    for (int i = 0; i < n; i++)
        if (!lj_array_room(L, i) || rp_value(r)) return -1;
    lj_array(L, base, n, r->array_mt);
    return 0;
}

/* Depth needs no check: the tape holds no more levels than the decoder takes. */
static int rp_value(struct rp *r)
{
    const struct json_tok *k = r->k;
    switch (k->kind) {
    case JT_OBJECT:
        luaL_checkstack(r->L, 4, "json: nesting too deep");
        r->k++;
        return rp_object(r, (int)k->n);
    case JT_ARRAY:
        luaL_checkstack(r->L, 4, "json: nesting too deep");
        r->k++;
        return rp_array(r, (int)k->n);
    default:
        lj_tape_scalar(r->L, r->cache, r->cache_tbl, k, r->text, r->end, r->bytes);
        break;
    }
    r->k++;
    return 0;
}

void lua_json_decode_tape(lua_State *L, const struct json_tape *t, const char *s, size_t len)
{
    if (!t || !t->text || t->text != s || t->len != len) {
        lua_json_decode(L, s, len);
        return;
    }
    /* from here as lua_json_decode */
    int base = lua_gettop(L);
    luaL_checkstack(L, 8, "json: nesting too deep");
    lua_json_push_array_mt(L);
    struct scache *cache = lua_json_push_scache(L);
    struct rp r = { L, t->tok, (const unsigned char *)s, (const unsigned char *)s + len,
                    t->bytes, base + 1, base + 2, cache };
    if (rp_value(&r) == 0) {
        lua_replace(L, base + 1);
        lua_settop(L, base + 1);
        return;
    }
    lua_json_decode_fallback(L, base, s, len);
}
