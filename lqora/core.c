/*
** core.c: luaopen_qora_core, the entry of the C module. The Lua layer (lua/qora/init.lua)
** requires it as "qora.core" and builds the public API on top.
*/
#include "lqora.h"


int luaopen_qora_core(lua_State *L) {
  lua_newtable(L);
  lqora_open_json(L);
  return 1;
}
