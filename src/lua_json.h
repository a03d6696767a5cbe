/* lua_json: JSON <-> Lua values on jansson, shared by the rules host (ez.json, request bodies,
 * event payloads) and the ezhost test module. Integers stay exact int64 both ways; JSON null is
 * the light userdata ez.json.null; arrays carry a marker metatable so [] and {} survive a round
 * trip; output is deterministic (keys sorted). Every function may raise a Lua error and frees its
 * C memory first (jansson trees live in a GC-owned box until they are released). */
#ifndef EZ_LUA_JSON_H
#define EZ_LUA_JSON_H

#include <lua.h>
#include <stddef.h>

#define LUA_JSON_MAX_DEPTH 128

/* encode flags */
#define LUA_JSON_PRETTY 1

/* Decodes s and pushes the value; raises "json: <reason> (line L, column C)" on bad input. */
void lua_json_decode(lua_State *L, const char *s, size_t len);

/* Encodes the value at idx and pushes it as a Lua string; returns that string (valid while it
 * stays on the stack). Raises on values JSON cannot hold (functions, NaN, mixed keys, cycles). */
const char *lua_json_encode(lua_State *L, int idx, int flags, size_t *len);

/* Pushes ez.json.null. */
void lua_json_pushnull(lua_State *L);
int lua_json_isnull(lua_State *L, int idx);

/* Sets the array marker metatable on the table at idx. */
void lua_json_setarray(lua_State *L, int idx);

/* Pushes the ez.json table: encode, decode, null, array. */
int lua_json_open(lua_State *L);

#endif
