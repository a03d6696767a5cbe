/* lua_json: JSON <-> Lua values, shared by the rules host (ez.json, request bodies, event
 * payloads) and the ezhost test module. Both ways go direct between text and Lua values; jansson
 * reports the errors (and formats floats). Integers stay exact int64 both ways; JSON
 * null is the light userdata ez.json.null; arrays carry a marker metatable so [] and {} survive a
 * round trip; output is deterministic (keys sorted). Every function may raise a Lua error and
 * frees its C memory first (jansson trees live in a GC-owned box until they are released). */
#ifndef EZ_LUA_JSON_H
#define EZ_LUA_JSON_H

#include <lua.h>
#include <stddef.h>

#define LUA_JSON_MAX_DEPTH 128

/* encode flags */
#define LUA_JSON_PRETTY 1

/* Decodes s and pushes the value; raises "json: <reason> (line L, column C)" on bad input. */
void lua_json_decode(lua_State *L, const char *s, size_t len);
/* The same, and *nul = 1 when a string of the value holds a NUL byte, which only a \u0000
 * escape can put there (a key with one is refused; jansson refuses both: see dryrun_read.c). */
void lua_json_decode_nul(lua_State *L, const char *s, size_t len, int *nul);
/* The same through a jansson tree: the reference the direct decoder falls back to for its error
 * messages (and that tests compare it with). */
void lua_json_decode_tree(lua_State *L, const char *s, size_t len);
/* The same from a tape of s (json_tape.h), made ahead, maybe on another thread: the same
 * values, by the same Lua calls, without reading the text. A tape that is NULL or not of s
 * (its text and len) is ignored: s is decoded as by lua_json_decode. */
struct json_tape;
void lua_json_decode_tape(lua_State *L, const struct json_tape *t, const char *s, size_t len);
/* How many texts this thread's lua_json_decode handed to the tree path (errors, and the odd
 * valid text it leaves to jansson, e.g. a number longer than 63 characters). For tests. */
unsigned long lua_json_decode_fallbacks(void);
unsigned long lua_json_encode_fallbacks(void); /* the same for lua_json_encode */

/* Encodes the value at idx and pushes it as a Lua string; returns that string (valid while it
 * stays on the stack). Raises on values JSON cannot hold (functions, NaN, mixed keys, cycles). */
const char *lua_json_encode(lua_State *L, int idx, int flags, size_t *len);
/* The same through a jansson tree: the reference the direct encoder falls back to for errors. */
const char *lua_json_encode_tree(lua_State *L, int idx, int flags, size_t *len);
/* What lua_json_encode (compact) gives for a table of n string fields keys[i] = vals[i], keys
 * sorted bytewise and free of NUL bytes, written straight from the strings: no table is built
 * and nothing is sorted. Pushes it and returns it; raises as lua_json_encode would. */
const char *lua_json_encode_fields(lua_State *L, int n, const char *const *keys,
                                   const char *const *vals);

/* Writes v's digits as "%lld" would (buf: 21 bytes at least) and returns their number: the
 * encoder's integers, without printf's format parsing. */
size_t lua_json_integer_text(char *buf, lua_Integer v);

/* Pushes ez.json.null. */
void lua_json_pushnull(lua_State *L);
int lua_json_isnull(lua_State *L, int idx);

/* Sets the array marker metatable on the table at idx. */
void lua_json_setarray(lua_State *L, int idx);

/* Pushes the ez.json table: encode, decode, null, array. */
int lua_json_open(lua_State *L);

#endif
