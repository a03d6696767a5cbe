/* lua_json_lazy: see lua_json_lazy.h. Building an order's ~800 strings and ~150 tables was
 * ~46 % of a dry-run's rule thread, for rules that read a fraction of them.
 *
 * An object makes a member when it is first read (the last member of that name, as decoding
 * sets them in order), sets it raw and marks it, so later reads are plain table reads and a
 * member the rule assigned or deleted never comes back. An array is filled whole on its first
 * touch (rules walk arrays whole; a half-made sequence would need care in every #). Whatever
 * looks past metamethods (pairs, next, #, raw access, C readers) fills the table whole first,
 * and a table filled whole is an ordinary table: no metatable (an array: the ez.json.array
 * marker, as decoded ones carry), nothing of this module left in it.
 *
 * The state a rule cannot see: a document is one userdata holding a copy of the tape, its text
 * and the marks (GC-managed, so allocated through the rules state's allocator and counted
 * against its memory cap, and alive as long as any of its lazy tables), or only the marks and
 * the lender's tape and text (lua_json_decode_lazy_lent: copying them was ~6 % of a dry-run's
 * rule thread, and made most of the bytes its collector paced itself by), with two metatables of
 * its own, objects' and arrays' (the latter named "ez.json.array" as the marker is, so
 * tostring and error messages read the same), each holding the document under a light key;
 * a lazy table holds its token under another light key (tok_key). */
#include "lua_json_lazy.h"
#include "json_tape.h"
#include "lua_json.h"
#include "lua_json_internal.h"

#include <lauxlib.h>
#include <math.h>
#include <string.h>

static const char doc_key = 'd';  /* in a lazy metatable: its document */
/* in a lazy table, under this light key no rule can make: its token (an integer) or, for a
 * large object once read, its lazy_index. The key goes when the table is filled whole, and all
 * that could see it (next, pairs, C readers) fill first. It was a weak registry table: ~800
 * instructions an insertion in its rehashes, and an ephemeron for the collector to walk. */
static const char tok_key = 't';

/* The userdata of a document: this header, then the tokens, the unescaped bytes, the text and
 * the marks. Its user values: 1 the objects' metatable, 2 the arrays'. */
struct lazy_doc {
    const struct json_tok *tok;
    size_t ntok;
    const unsigned char *text, *end, *bytes;
    /* bit j: the member whose value is token j was made (or assigned, or deleted) in its
     * object, so its source value must not come back when its slot is empty */
    unsigned char *marks;
    /* the last lazy table of this document made or looked up, and its token: rules read a
     * few members of one table in a row. Sound though the table may be collected: a new lazy table of this document at the
     * same address is entered here as it is made, and no other table calls these
     * metamethods with this document. */
    const void *last_t;
    size_t last_i;
    const struct lazy_index *last_ix;
    lua_json_lend lend;          /* set: tok, bytes and text are lent (see doc_gc) */
    void *owner;
};

/* The members of a large object by name: open addressing on a hash of the name's words (those
 * of the string cache, lua_json_internal.h), each slot the member's value token + 1 (0: empty),
 * the last of a name kept. A scan cost ~8 instructions a member, and an order's top level has
 * ~80 that rules read a third of, some again and again (missing ones every time). */
#define INDEX_MIN 32            /* fewer members: scanned */
struct lazy_index {
    size_t tok;                 /* the object's token */
    size_t mask;
    uint32_t slot[];
};

static int marked(const struct lazy_doc *d, size_t j)
{
    return d->marks[j >> 3] & (1u << (j & 7));
}

static void mark(struct lazy_doc *d, size_t j)
{
    d->marks[j >> 3] |= (unsigned char)(1u << (j & 7));
}

/* The token after the value at j. */
static size_t after(const struct lazy_doc *d, size_t j)
{
    const struct json_tok *k = &d->tok[j];
    return k->kind == JT_OBJECT || k->kind == JT_ARRAY ? (size_t)k->v.end : j + 1;
}

static const unsigned char *name_of(const struct lazy_doc *d, const struct json_tok *kt);

/* The value token of the member named k (klen bytes) of the object at token i: the last one
 * of that name, as decoding sets them in order. 0 when there is none (0 is never a member). */
static size_t find_member(const struct lazy_doc *d, size_t i, const char *k, size_t klen)
{
    size_t found = 0, j = i + 1, end = (size_t)d->tok[i].v.end;
    while (j < end) {
        const struct json_tok *kt = &d->tok[j];
        if (kt->n == klen && memcmp(name_of(d, kt), k, klen) == 0) found = j + 1;
        j = after(d, j + 1);
    }
    return found;
}

static size_t name_hash(const unsigned char *s, size_t n)
{
    struct scache_key k = scache_key_of(s, n, s + n);
    return (size_t)(((k.first * UINT64_C(0x9E3779B97F4A7C15)) ^ k.last ^ k.mid) *
                    UINT64_C(0xFF51AFD7ED558CCD) >> 29);
}

static const unsigned char *name_of(const struct lazy_doc *d, const struct json_tok *kt)
{
    /* the unescaped bytes of a JT_ESCAPED name, the text's of a JT_STRING one */
    return (kt->kind == JT_STRING ? d->text : d->bytes) + kt->v.s.off;
}

static size_t index_find(const struct lazy_doc *d, const struct lazy_index *ix, const char *k,
                         size_t klen)
{
    for (size_t h = name_hash((const unsigned char *)k, klen) & ix->mask, s; (s = ix->slot[h]);
         h = (h + 1) & ix->mask) {
        const struct json_tok *kt = &d->tok[s - 2];
        if (kt->n == klen && memcmp(name_of(d, kt), k, klen) == 0) return s - 1;
    }
    return 0;
}

/* Pushes the index of the object at token i (a userdata: GC-owned, counted in the cap). */
static struct lazy_index *index_push(lua_State *L, const struct lazy_doc *d, size_t i)
{
    size_t size = 16;
    while (size < 2 * (size_t)d->tok[i].n) size *= 2;
    struct lazy_index *ix = lua_newuserdatauv(L, sizeof *ix + size * sizeof ix->slot[0], 0);
    ix->tok = i;
    ix->mask = size - 1;
    memset(ix->slot, 0, size * sizeof ix->slot[0]);
    for (size_t j = i + 1, end = (size_t)d->tok[i].v.end; j < end; j = after(d, j + 1)) {
        const struct json_tok *kt = &d->tok[j];
        const unsigned char *name = name_of(d, kt);
        size_t h = name_hash(name, kt->n) & ix->mask, s;
        for (; (s = ix->slot[h]); h = (h + 1) & ix->mask) {
            const struct json_tok *ot = &d->tok[s - 2];
            if (ot->n == kt->n && memcmp(name_of(d, ot), name, kt->n) == 0) break;
        }
        ix->slot[h] = (uint32_t)(j + 2); /* a later namesake takes the slot over */
    }
    return ix;
}

/* What building needs: the document and the string cache on the stack. */
struct bld {
    lua_State *L;
    struct lazy_doc *d;
    int doc, cache_tbl;
    struct scache *cache;
};

static void check_held(lua_State *L, const struct lazy_doc *d)
{
    if (!d->tok) luaL_error(L, "json: a table read after its document was collected");
}

/* Sets b up for the document at doc; pushes the cache's table. */
static void bld_open(struct bld *b, lua_State *L, int doc)
{
    luaL_checkstack(L, 16, "json: nesting too deep");
    b->L = L;
    b->d = lua_touserdata(L, doc);
    check_held(L, b->d);
    b->doc = doc;
    b->cache = lua_json_push_scache(L);
    b->cache_tbl = lua_gettop(L);
}

/* The same in a metamethod, from its upvalues (see make_mts): nothing to look up. */
static void bld_upvalues(struct bld *b, lua_State *L)
{
    luaL_checkstack(L, 16, "json: nesting too deep");
    b->L = L;
    b->d = lua_touserdata(L, lua_upvalueindex(1));
    check_held(L, b->d);
    b->doc = lua_upvalueindex(1);
    b->cache_tbl = lua_upvalueindex(2);
    b->cache = lua_touserdata(L, lua_upvalueindex(3));
}

/* Pushes the value of token j: a scalar as the decoders make it; an object or array as a new
 * lazy table sized for its members (an empty one as the decoders make it: nothing to defer).
 * Needs 4 stack slots. */
static void push_value(struct bld *b, size_t j)
{
    lua_State *L = b->L;
    const struct json_tok *k = &b->d->tok[j];
    if (!lj_tape_scalar(L, b->cache, b->cache_tbl, k, b->d->text, b->d->end, b->d->bytes)) return;
    int arr = k->kind == JT_ARRAY, n = (int)k->n;
    if (n == 0) {
        lua_createtable(L, 0, 0);
        if (arr) lua_json_setarray(L, -1);
        return;
    }
    lua_createtable(L, arr ? n : 0, arr ? 1 : n + 1); /* + the token's slot */
    lua_getiuservalue(L, b->doc, 1 + arr);
    lua_setmetatable(L, -2);
    lua_pushinteger(L, (lua_Integer)j);
    lua_rawsetp(L, -2, &tok_key);
    b->d->last_t = lua_topointer(L, -1);
    b->d->last_i = j;
    b->d->last_ix = NULL;
}

static void push_key(struct bld *b, size_t j)
{
    lj_tape_string(b->L, b->cache, b->cache_tbl, &b->d->tok[j], b->d->text, b->d->end,
                   b->d->bytes);
}

/* The lazy table at t is now whole: an ordinary table from here on. */
static void unlazy(struct bld *b, int t, int arr)
{
    lua_State *L = b->L;
    if (arr) lua_json_push_array_mt(L);
    else lua_pushnil(L);
    lua_setmetatable(L, t);
    lua_pushnil(L);
    lua_rawsetp(L, t, &tok_key);
}

/* Fills the lazy table at t (absolute), of token i, with every member it lacks, in document
 * order, then makes it ordinary. A member already made or assigned (marked) is left as the
 * rule left it, and so is any earlier member of the same name (the last one is the one that
 * counts, and only the last one is ever marked). Members are made on the stack first and set
 * afterwards, each marked as it is set: a memory error leaves a table whose every member is
 * either set and marked or still to come, which a later fill completes. An object too large
 * for the stack is set member by member. */
static void fill_members(struct bld *b, int t, size_t i)
{
    lua_State *L = b->L;
    struct lazy_doc *d = b->d;
    const struct json_tok *k = &d->tok[i];
    int obj = k->kind == JT_OBJECT, n = (int)k->n, seen = 0;
    int base = lua_gettop(L);
    size_t end = (size_t)k->v.end;
    if (obj) { /* the names of the marked members: their earlier namesakes stay out */
        for (size_t j = i + 1; j < end; j = after(d, j + 1)) {
            if (!marked(d, j + 1)) continue;
            if (!seen) {
                lua_createtable(L, 0, 4);
                seen = lua_gettop(L);
            }
            push_key(b, j);
            lua_pushboolean(L, 1);
            lua_rawset(L, seen);
        }
    }
    int top = lua_gettop(L), nset = 0;
    int at_once = k->n < 1u << 24 && lua_checkstack(L, 3 * n + 8);
    for (size_t j = i + 1, m = 1; j < end; m++) {
        if (!at_once) luaL_checkstack(L, 8, "json: nesting too deep");
        size_t v = obj ? j + 1 : j, next = after(d, v);
        if (obj && marked(d, v)) {
            j = next;
            continue;
        }
        if (obj) {
            push_key(b, j);
            if (seen) {
                lua_pushvalue(L, -1);
                if (lua_rawget(L, seen) != LUA_TNIL) {
                    lua_pop(L, 2);
                    j = next;
                    continue;
                }
                lua_pop(L, 1);
            }
        } else {
            lua_pushinteger(L, (lua_Integer)m);
        }
        push_value(b, v);
        lua_pushinteger(L, (lua_Integer)v);
        if (!at_once) {
            lua_insert(L, -3);
            lua_rawset(L, t);
            if (obj) mark(d, (size_t)lua_tointeger(L, -1));
            lua_pop(L, 1);
        } else {
            nset++;
        }
        j = next;
    }
    for (int s = 0; s < nset; s++) { /* in document order: of namesakes, the last one wins */
        lua_pushvalue(L, top + 1 + 3 * s);
        lua_pushvalue(L, top + 2 + 3 * s);
        lua_rawset(L, t);
        if (obj) mark(d, (size_t)lua_tointeger(L, top + 3 + 3 * s));
    }
    lua_settop(L, base);
    unlazy(b, t, !obj);
}

/* The token of the lazy table at t, and its index if it has one; raises if it has neither. */
static size_t token_of(lua_State *L, int t, const struct lazy_index **ix)
{
    int type = lua_rawgetp(L, t, &tok_key);
    size_t i;
    *ix = NULL;
    if (type == LUA_TUSERDATA) {
        *ix = lua_touserdata(L, -1);
        i = (*ix)->tok;
    } else if (type == LUA_TNUMBER) {
        i = (size_t)lua_tointeger(L, -1);
    } else {
        return (size_t)luaL_error(L, "json: a lazy table lost its place");
    }
    lua_pop(L, 1);
    return i;
}

static int fill(lua_State *L, int t, int deep)
{
    luaL_checkstack(L, 16, "json: nesting too deep");
    if (!lua_getmetatable(L, t)) return 0;
    if (lua_rawgetp(L, -1, &doc_key) != LUA_TUSERDATA) {
        lua_pop(L, 2);
        return 0;
    }
    int base = lua_gettop(L) - 2; /* base+1 mt, base+2 doc */
    struct bld b;
    bld_open(&b, L, base + 2);
    const struct lazy_index *ix;
    fill_members(&b, t, token_of(L, t, &ix));
    if (deep) { /* a table still lazy is one the rule cannot have changed but for members */
        lua_pushnil(L);
        while (lua_next(L, t)) {
            if (lua_type(L, -1) == LUA_TTABLE) fill(L, lua_gettop(L), 1);
            lua_pop(L, 1);
        }
    }
    lua_settop(L, base);
    return 1;
}

/* ---- the metamethods: C closures, upvalues the document, the string cache's table and the
 * cache ---- */

/* An array is filled whole on its first touch (rules walk arrays whole); an object makes the
 * member asked for, if it has one that was never made. */
/* token_of for a metamethod's table, through the document's last table */
static size_t token_of_mm(struct bld *b)
{
    const void *t = lua_topointer(b->L, 1);
    if (t != b->d->last_t) {
        b->d->last_i = token_of(b->L, 1, &b->d->last_ix);
        b->d->last_t = t;
    }
    return b->d->last_i;
}

/* The value token of the member of the metamethod's object (token i) named by the string at
 * index 2, or 0. A large object gets its index on its first read (kept in its token's slot,
 * which the document's last table points into: alive while the table is lazy). */
static size_t member_mm(struct bld *b, size_t i)
{
    lua_State *L = b->L;
    size_t klen;
    const char *k = lua_tolstring(L, 2, &klen);
    if (b->d->tok[i].n < INDEX_MIN) return find_member(b->d, i, k, klen);
    if (!b->d->last_ix) {
        b->d->last_ix = index_push(L, b->d, i);
        lua_rawsetp(L, 1, &tok_key); /* over the integer: no allocation */
    }
    return index_find(b->d, b->d->last_ix, k, klen);
}

static int lazy_index(lua_State *L)
{
    lua_settop(L, 2);
    struct bld b;
    bld_upvalues(&b, L);
    size_t i = token_of_mm(&b), j;
    if (b.d->tok[i].kind == JT_ARRAY) {
        fill_members(&b, 1, i);
        lua_pushvalue(L, 2);
        lua_rawget(L, 1);
        return 1;
    }
    if (lua_type(L, 2) != LUA_TSTRING || !(j = member_mm(&b, i)) || marked(b.d, j)) {
        lua_pushnil(L);
        return 1;
    }
    lua_pushvalue(L, 2);
    push_value(&b, j);
    lua_pushvalue(L, -1);
    lua_insert(L, -3);   /* ... value key value */
    lua_rawset(L, 1);
    mark(b.d, j);
    return 1;
}

/* Sets t[k] = v in a new table: for the message Lua's own assignment raises (nil or NaN k). */
static int set_in_new(lua_State *L)
{
    lua_newtable(L);
    lua_insert(L, 1);
    lua_rawset(L, 1);
    return 0;
}

/* A member assigned before it was read is never made: the mark keeps it from coming back. An
 * assignment Lua refuses (a nil or NaN key) raises Lua's own message with the assigning line's
 * position, as the assignment itself would (luaL_where's level 1 is the function that
 * triggered the metamethod). */
static int lazy_newindex(lua_State *L)
{
    lua_settop(L, 3);
    if (lua_isnil(L, 2) || (lua_type(L, 2) == LUA_TNUMBER && !lua_isinteger(L, 2) &&
                            isnan(lua_tonumber(L, 2)))) {
        lua_pushcfunction(L, set_in_new);
        lua_pushvalue(L, 2);
        lua_pushvalue(L, 3);
        if (lua_pcall(L, 2, 0, 0) == LUA_OK) return 0; /* v nil: nothing to set, no error */
        luaL_where(L, 1);
        lua_insert(L, -2);
        lua_concat(L, 2);
        return lua_error(L);
    }
    struct bld b;
    bld_upvalues(&b, L);
    size_t i = token_of_mm(&b), j = 0;
    if (b.d->tok[i].kind == JT_ARRAY) {
        fill_members(&b, 1, i);
    } else if (lua_type(L, 2) == LUA_TSTRING) {
        j = member_mm(&b, i);
    }
    lua_settop(L, 3);
    lua_rawset(L, 1);
    if (j) mark(b.d, j); /* after the set, which may fail (memory) and leave it unassigned */
    return 0;
}

static int lazy_len(lua_State *L)
{
    fill(L, 1, 0);
    lua_pushinteger(L, (lua_Integer)lua_rawlen(L, 1));
    return 1;
}

static int lazy_pairs(lua_State *L)
{
    fill(L, 1, 0);
    lua_pushcfunction(L, lua_json_lazy_next);
    lua_pushvalue(L, 1);
    lua_pushnil(L);
    return 3;
}

/* The two metatables of the document at doc, as its user values: __index and __newindex the
 * same two closures in both (__len and __pairs fill the table whole: no upvalue needed). */
static void make_mts(lua_State *L, int doc)
{
    luaL_checkstack(L, 12, "json: nesting too deep");
    int base = lua_gettop(L);
    lua_pushvalue(L, doc);
    lua_json_push_scache(L);
    lua_rawgetp(L, LUA_REGISTRYINDEX, lua_json_scache_key());
    lua_pushvalue(L, base + 1);
    lua_pushvalue(L, base + 2);
    lua_pushvalue(L, base + 3);
    lua_pushcclosure(L, lazy_newindex, 3);        /* base+4 */
    lua_insert(L, base + 1);
    lua_pushcclosure(L, lazy_index, 3);           /* base+2 */
    for (int arr = 0; arr < 2; arr++) {
        lua_createtable(L, 0, 6);
        lua_pushvalue(L, base + 2);
        lua_setfield(L, -2, "__index");
        lua_pushvalue(L, base + 1);
        lua_setfield(L, -2, "__newindex");
        lua_pushcfunction(L, lazy_len);
        lua_setfield(L, -2, "__len");
        lua_pushcfunction(L, lazy_pairs);
        lua_setfield(L, -2, "__pairs");
        if (arr) {
            lua_pushliteral(L, "ez.json.array");
            lua_setfield(L, -2, "__name");
        }
        lua_pushvalue(L, doc);
        lua_rawsetp(L, -2, &doc_key);
        lua_setiuservalue(L, doc, 1 + arr);
    }
    lua_settop(L, base);
}

static const char doc_mt_key = 'g';  /* in the registry: a lent document's metatable */

/* A lent document is collected: give the tape and text back, and make sure nothing reads
 * them again (check_held). Called once by the collector; __metatable keeps rules from
 * reaching it (they cannot reach the document anyway). */
static int doc_gc(lua_State *L)
{
    struct lazy_doc *d = lua_touserdata(L, 1);
    if (d && d->lend) {
        lua_json_lend lend = d->lend;
        d->lend = NULL;
        d->tok = NULL;
        d->ntok = 0;
        lend(d->owner, -1);
    }
    return 0;
}

static void push_doc_mt(lua_State *L)
{
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &doc_mt_key) == LUA_TTABLE) return;
    lua_pop(L, 1);
    lua_createtable(L, 0, 2);
    lua_pushcfunction(L, doc_gc);
    lua_setfield(L, -2, "__gc");
    lua_pushliteral(L, "ez.json");
    lua_setfield(L, -2, "__metatable");
    lua_pushvalue(L, -1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &doc_mt_key);
}

void lua_json_decode_lazy(lua_State *L, const struct json_tape *t, const char *s, size_t len)
{
    lua_json_decode_lazy_lent(L, t, s, len, NULL, NULL);
}

void lua_json_decode_lazy_lent(lua_State *L, const struct json_tape *t, const char *s, size_t len,
                               lua_json_lend lend, void *owner)
{
    if (!t || !t->text || t->text != s || t->len != len || !t->ntok ||
        (t->tok[0].kind != JT_OBJECT && t->tok[0].kind != JT_ARRAY)) {
        lua_json_decode_tape(L, t, s, len); /* no tape (then from s), or no table to defer */
        return;
    }
    luaL_checkstack(L, 16, "json: nesting too deep");
    size_t toks = t->ntok * sizeof *t->tok, nmarks = (t->ntok + 7) / 8;
    struct lazy_doc *d;
    if (lend) {
        push_doc_mt(L); /* first: nothing is held if this raises */
        d = lua_newuserdatauv(L, sizeof *d + nmarks, 2);
        d->tok = t->tok;
        d->bytes = t->bytes;
        d->text = (const unsigned char *)s;
        d->marks = (unsigned char *)(d + 1);
        d->lend = lend;
        d->owner = owner;
        lua_insert(L, -2);
        lua_setmetatable(L, -2); /* allocates nothing: doc_gc is armed before the hold */
        lend(owner, +1);
    } else {
        d = lua_newuserdatauv(L, sizeof *d + toks + t->nbytes + len + nmarks, 2);
        unsigned char *p = (unsigned char *)(d + 1); /* the header keeps the tokens aligned */
        memcpy(p, t->tok, toks);
        d->tok = (const struct json_tok *)p;
        p += toks;
        if (t->nbytes) memcpy(p, t->bytes, t->nbytes);
        d->bytes = p;
        p += t->nbytes;
        memcpy(p, s, len);
        d->text = p;
        d->marks = p + len;
        d->lend = NULL;
    }
    int doc = lua_gettop(L);
    d->ntok = t->ntok;
    d->end = d->text + len;
    memset(d->marks, 0, nmarks);
    d->last_t = NULL;
    d->last_i = 0;
    d->last_ix = NULL;
    make_mts(L, doc);
    struct bld b;
    bld_open(&b, L, doc);
    push_value(&b, 0); /* the root: a table with members, or an empty one */
    lua_replace(L, doc);
    lua_settop(L, doc);
}

int lua_json_lazy_is(lua_State *L, int idx)
{
    if (!lua_checkstack(L, 2)) return 0;
    if (!lua_getmetatable(L, idx)) return 0;
    int lazy = lua_rawgetp(L, -1, &doc_key) == LUA_TUSERDATA;
    lua_pop(L, 2);
    return lazy;
}

int lua_json_lazy_force(lua_State *L, int idx, int deep)
{
    return fill(L, lua_absindex(L, idx), deep);
}

static int pforce(lua_State *L)
{
    fill(L, 1, 0);
    return 0;
}

int lua_json_lazy_pforce(lua_State *L, int idx, int *nomem)
{
    if (!lua_checkstack(L, 4)) return -1;
    if (!lua_json_lazy_is(L, idx)) return 0;
    idx = lua_absindex(L, idx);
    lua_pushcfunction(L, pforce);
    lua_pushvalue(L, idx);
    int st = lua_pcall(L, 1, 0, 0);
    if (st == LUA_OK) return 0;
    if (nomem && st == LUA_ERRMEM) *nomem = 1;
    lua_pop(L, 1);
    return -1;
}

int lua_json_lazy_next(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 2);
    lua_json_lazy_force(L, 1, 0);
    if (lua_next(L, 1)) return 2;
    lua_pushnil(L);
    return 1;
}

/* ---- the base functions that see past metamethods: each fills a lazy table first, then does
 * what the base library's does (lbaselib.c, Lua 5.4), with its checks and messages. Every
 * table goes through them, so pairs() still returns the global next. ---- */

static int base_pairs_cont(lua_State *L, int status, lua_KContext k)
{
    (void)L, (void)status, (void)k;
    return 3;
}

static int base_pairs(lua_State *L)
{
    luaL_checkany(L, 1);
    lua_json_lazy_force(L, 1, 0);
    if (luaL_getmetafield(L, 1, "__pairs") == LUA_TNIL) {
        lua_pushcfunction(L, lua_json_lazy_next);
        lua_pushvalue(L, 1);
        lua_pushnil(L);
    } else {
        lua_pushvalue(L, 1);
        /* protected: the sandbox's pairs is reachable only from rule code, which runs inside a
         * lua_resume'd run or a lua_pcall; a rule's __pairs may yield, as in the base library */
        lua_callk(L, 1, 3, 0, base_pairs_cont);
    }
    return 3;
}

static int base_rawget(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    luaL_checkany(L, 2);
    lua_settop(L, 2);
    lua_json_lazy_force(L, 1, 0);
    lua_rawget(L, 1);
    return 1;
}

static int base_rawset(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    luaL_checkany(L, 2);
    luaL_checkany(L, 3);
    lua_settop(L, 3);
    lua_json_lazy_force(L, 1, 0);
    lua_rawset(L, 1);
    return 1;
}

static int base_rawlen(lua_State *L)
{
    int t = lua_type(L, 1);
    luaL_argexpected(L, t == LUA_TTABLE || t == LUA_TSTRING, 1, "table or string");
    if (t == LUA_TTABLE) lua_json_lazy_force(L, 1, 0);
    lua_pushinteger(L, (lua_Integer)lua_rawlen(L, 1));
    return 1;
}

static int base_getmetatable(lua_State *L)
{
    luaL_checkany(L, 1);
    if (lua_type(L, 1) == LUA_TTABLE) lua_json_lazy_force(L, 1, 0);
    if (!lua_getmetatable(L, 1)) {
        lua_pushnil(L);
        return 1;
    }
    luaL_getmetafield(L, 1, "__metatable");
    return 1;
}

/* setmetatable without the sandbox's rules (rules_load.c has its own, which fills too) */
static int base_setmetatable(lua_State *L)
{
    int t = lua_type(L, 2);
    luaL_checktype(L, 1, LUA_TTABLE);
    luaL_argexpected(L, t == LUA_TNIL || t == LUA_TTABLE, 2, "nil or table");
    lua_json_lazy_force(L, 1, 0);
    if (luaL_getmetafield(L, 1, "__metatable") != LUA_TNIL)
        return luaL_error(L, "cannot change a protected metatable");
    lua_settop(L, 2);
    lua_setmetatable(L, 1);
    return 1;
}

void lua_json_lazy_open_base(lua_State *L)
{
    static const luaL_Reg fns[] = {
        { "next", lua_json_lazy_next }, { "pairs", base_pairs }, { "rawget", base_rawget },
        { "rawset", base_rawset }, { "rawlen", base_rawlen },
        { "getmetatable", base_getmetatable }, { "setmetatable", base_setmetatable },
        { NULL, NULL },
    };
    luaL_setfuncs(L, fns, 0);
}
