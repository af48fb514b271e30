/*
** lqora.h: the pieces of the qora.core Lua module. Each file in lqora/ adds its functions and
** metatables to the module table with an opener called by luaopen_qora_core.
*/
#ifndef LQORA_H
#define LQORA_H

#include <lua.h>
#include <lauxlib.h>

/* Openers: each receives the module table at stack index -1 and leaves the stack as it was. */
void lqora_open_json(lua_State *L);

#endif
