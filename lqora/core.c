/*
** core.c: luaopen_qora_core, the entry of the C module. The Lua layer (lua/qora/init.lua)
** requires it as "qora.core" and builds the public API on top.
*/
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "lqora.h"


void lqora_new_class(lua_State *L, const char *tname, const luaL_Reg *l) {
  luaL_newmetatable(L, tname);
  luaL_setfuncs(L, l, 0);
  lua_pushvalue(L, -1);
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
}


int32_t *lqora_ids_reserve(lua_State *L, lua_Integer n, int32_t **buf, int *cap) {
  if (n > *cap) {
    int32_t *grown;

    if (n > INT32_MAX / 4)
      luaL_error(L, "too many token ids (%I)", n);
    grown = realloc(*buf, (size_t)n * sizeof *grown);
    if (grown == NULL)
      luaL_error(L, "out of memory for %I token ids", n);
    *buf = grown;
    *cap = (int)n;
  }
  return *buf;
}


int32_t *lqora_read_ids(lua_State *L, int arg, lua_Integer first, lua_Integer last,
                        int32_t **buf, int *cap) {
  lqora_ids_reserve(L, last - first + 1, buf, cap);
  for (lua_Integer i = first; i <= last; i++) {
    int isint;
    lua_Integer id;

    lua_geti(L, arg, i);
    id = lua_tointegerx(L, -1, &isint);
    if (!isint || id < INT32_MIN || id > INT32_MAX)
      luaL_argerror(L, arg, lua_pushfstring(L, "element %I is not a token id", i));
    (*buf)[i - first] = (int32_t)id;
    lua_pop(L, 1);
  }
  return *buf;
}


/* core.now() -> seconds on a monotonic clock, for timings that threads do not distort. */
static int core_now(lua_State *L) {
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  lua_pushnumber(L, (lua_Number)ts.tv_sec + (lua_Number)ts.tv_nsec * 1e-9);
  return 1;
}


/* core.isatty(fd) -> true when the file descriptor (0, 1, 2) is a terminal. */
static int core_isatty(lua_State *L) {
  lua_Integer fd = luaL_checkinteger(L, 1);

  luaL_argcheck(L, fd >= 0 && fd <= 2, 1, "expected 0 (stdin), 1 (stdout) or 2 (stderr)");
  lua_pushboolean(L, isatty((int)fd));
  return 1;
}


int luaopen_qora_core(lua_State *L) {
  lua_newtable(L);
  lua_pushcfunction(L, core_now);
  lua_setfield(L, -2, "now");
  lua_pushcfunction(L, core_isatty);
  lua_setfield(L, -2, "isatty");
  lqora_open_json(L);
  lqora_open_cands(L);
  lqora_open_rng(L);
  lqora_open_model(L);
  lqora_open_session(L);
  lqora_open_stream(L);
  return 1;
}
