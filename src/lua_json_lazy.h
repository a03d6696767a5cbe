/* lua_json_lazy: a JSON document's Lua tables built on first touch, from its tape (json_tape.h).
 * Owns the lazy tables' metatables, their per-table state and the copy of the tape they read;
 * uses the decoders' builders (lua_json_internal.h), so every value is the one lua_json_decode
 * makes. Rules read a fraction of an event's payload: the rest is never built.
 *
 * A lazy table is a real table with a metatable of this module. An object makes a member on
 * its first read (nested objects and arrays as new lazy tables); an array fills whole on its
 * first touch; pairs, next, # and raw access fill the table whole, and it is an ordinary table
 * from then on (an array gets the ez.json.array marker, as decoded ones carry). What reads
 * tables raw (lua_next, lua_rawlen, lua_rawget*, the sandbox's next/rawget/...) must call
 * lua_json_lazy_force first. */
#ifndef EZ_LUA_JSON_LAZY_H
#define EZ_LUA_JSON_LAZY_H

#include <lua.h>
#include <stddef.h>

struct json_tape;

/* Pushes the value of the len bytes at s as lua_json_decode would, its tables lazy, built from
 * t (a tape of exactly s, which is copied: t and s may go once this returns). Without such a
 * tape, s is decoded eagerly by lua_json_decode (and its errors raised). May raise (memory). */
void lua_json_decode_lazy(lua_State *L, const struct json_tape *t, const char *s, size_t len);

/* The same, t and s lent instead of copied (a tape made on another thread for this state, as
 * the dry-run's): lend(owner, +1) once the document holds them, lend(owner, -1) when it is
 * collected (at a collection or lua_close, on the state's thread). A lazy table read after
 * that (only a finalizer could still reach one) raises instead of reading them. Without a
 * lend function, as lua_json_decode_lazy. */
typedef void (*lua_json_lend)(void *owner, int delta);
void lua_json_decode_lazy_lent(lua_State *L, const struct json_tape *t, const char *s, size_t len,
                               lua_json_lend lend, void *owner);

/* Fills the lazy table at idx (deep: and every table that filling makes, all the way down).
 * Returns 1 if it was lazy, 0 for anything else (a cheap check: no metatable, or not ours).
 * May raise (memory); the table is then left as it was. */
int lua_json_lazy_force(lua_State *L, int idx, int deep);

/* The same, protected, for code that must not raise: 0 done or not lazy, -1 on an error (the
 * error is dropped; a memory error sets *nomem when nomem is not NULL). */
int lua_json_lazy_pforce(lua_State *L, int idx, int *nomem);

/* next(), filling a lazy table first, with the base library's checks and results: the rules
 * sandbox's next, and the iterator pairs() returns. */
int lua_json_lazy_next(lua_State *L);

/* Sets next, pairs, rawget, rawset, rawlen, getmetatable and setmetatable in the table at the
 * top: the base library's, but filling a lazy table first. */
void lua_json_lazy_open_base(lua_State *L);

/* True when the value at idx is a lazy table not yet filled. Does not allocate. */
int lua_json_lazy_is(lua_State *L, int idx);

#endif
