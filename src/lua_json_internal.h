/* lua_json_internal: what lua_json.c (shared parts, jansson paths) and lua_json_fast.c (the
 * direct decoder and encoder) share. Not for other modules. */
#ifndef EZ_LUA_JSON_INTERNAL_H
#define EZ_LUA_JSON_INTERNAL_H

#include <jansson.h>
#include <lua.h>

/* C memory owned by a userdata whose __gc frees it, so a Lua error cannot leak it */
struct jbox {
    json_t *root;
    char *text;
};
struct jbox *lua_json_box_push(lua_State *L);
void lua_json_box_clear(struct jbox *b);

void lua_json_push_array_mt(lua_State *L);
/* True when the table at idx carries the array marker. Does not allocate. */
int lua_json_is_marked_array(lua_State *L, int idx);

#endif
