/* lua_ez: the `ez` API that rules call. lua_ez.c builds the table from one entry point per area
 * (lua_ez_<area>.c, each with one static luaL_Reg) and holds the helpers the bindings share:
 * phase gating (I/O and store only inside a run), the I/O yield, id coercion, tracing.
 * Uses rules_internal.h for the current run and lua_json.h. */
#ifndef EZ_LUA_EZ_H
#define EZ_LUA_EZ_H

#include "rules_internal.h"

#include <lua.h>

/* Pushes a new ez table with every area. */
void lua_ez_open(lua_State *L);

/* Entry points: each adds its field(s) to the ez table at the top of the stack. */
void lua_ez_open_shopify(lua_State *L);
void lua_ez_open_orderez(lua_State *L);
void lua_ez_open_idmap(lua_State *L);
void lua_ez_open_kv(lua_State *L);
void lua_ez_open_log(lua_State *L);
void lua_ez_open_misc(lua_State *L);

#define LUA_EZ_NEED_RUN   1   /* only inside a rule run (not while loading or in self_check) */
#define LUA_EZ_NEED_STORE 2   /* ... and with a store in the run's context */
#define LUA_EZ_NEED_MAIN  4   /* ... on the run's own coroutine (I/O yields to the host) */

/* The current run, or raises "<fname>: ..." when the phase does not allow the call. Returns
 * NULL (without raising) only when need is 0 and no run is active. */
struct rules_run *lua_ez_run(lua_State *L, const char *fname, int need);

/* Records the call in the run and yields to the host; k runs on resume with the result in
 * lua_ez_result(). Strings are copied. Never returns normally. */
int lua_ez_yield(lua_State *L, struct rules_run *run, enum rules_io_kind kind,
                 const char *method, const char *path, const char *body, lua_KFunction k);
const struct rules_io_result *lua_ez_result(lua_State *L);

/* Pushes the decoded response body; pushes nil and returns 0 when it is empty or not JSON. */
int lua_ez_push_body(lua_State *L, const struct rules_io_result *res);

/* Raises the transient error for a transport failure (status 0). */
int lua_ez_transient(lua_State *L, const char *what, const struct rules_io_result *res);
/* Raises RULES_TRANSIENT_PREFIX + message, without a position in front (the prefix must lead
 * the message for the host to classify it; the traceback has the position). */
int lua_ez_transient_error(lua_State *L, const char *fmt, ...);

/* An id argument (integer or string; ids > 2^53 stay exact) as a string; pushes nothing,
 * the returned pointer lives in buf or in the Lua string at idx. */
const char *lua_ez_id(lua_State *L, int idx, char *buf, size_t buflen);

/* Reports a state write or log line to ctx.trace: encodes the table at idx. */
void lua_ez_trace(lua_State *L, struct rules_run *run, const char *what, int idx);
/* The same for a write whose fields are all strings (see lua_json_encode_fields). */
void lua_ez_trace_fields(lua_State *L, struct rules_run *run, const char *what, int n,
                         const char *const *keys, const char *const *vals);

#endif
