/*
** rng.c: the qora.Rng userdata, the seeded random source of sampling (xoshiro256** seeded
** through splitmix64). The same seed gives the same numbers on every platform.
*/
#include "lqora.h"


static qora_rng *check_rng(lua_State *L) {
  return luaL_checkudata(L, 1, LQORA_RNG);
}


/* Sets the four state words from the array at arg; xoshiro cannot leave the all-zero state. */
static void rng_set_state(lua_State *L, qora_rng *r, int arg) {
  uint64_t any = 0;

  luaL_argcheck(L, luaL_len(L, arg) == 4, arg, "a state is an array of 4 integers");
  for (int i = 0; i < 4; i++) {
    int isint;

    lua_geti(L, arg, i + 1);
    isint = lua_isinteger(L, -1);
    r->s[i] = (uint64_t)lua_tointeger(L, -1);
    luaL_argcheck(L, isint, arg, "a state is an array of 4 integers");
    any |= r->s[i];
    lua_pop(L, 1);
  }
  luaL_argcheck(L, any != 0, arg, "the all-zero state is not allowed");
}


/* core.rng(seed) or core.rng({s0, s1, s2, s3}): a seed integer, or a raw xoshiro state. */
static int rng_new(lua_State *L) {
  qora_rng *r;

  if (!lua_istable(L, 1))
    lqora_checkint(L, 1);
  r = lua_newuserdatauv(L, sizeof *r, 0);
  if (lua_istable(L, 1))
    rng_set_state(L, r, 1);
  else
    qora_rng_seed(r, (uint64_t)lua_tointeger(L, 1));
  luaL_setmetatable(L, LQORA_RNG);
  return 1;
}


/* r:next() -> the next 64-bit output as a Lua integer (wrapped to signed). */
static int rng_next(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)qora_rng_next(check_rng(L)));
  return 1;
}


static int rng_uniform(lua_State *L) {
  lua_pushnumber(L, qora_rng_uniform(check_rng(L)));
  return 1;
}


static int rng_state(lua_State *L) {
  qora_rng *r = check_rng(L);

  for (int i = 0; i < 4; i++)
    lua_pushinteger(L, (lua_Integer)r->s[i]);
  return 4;
}


static int rng_seed(lua_State *L) {
  qora_rng *r = check_rng(L);

  qora_rng_seed(r, (uint64_t)lqora_checkint(L, 2));
  lua_settop(L, 1);
  return 1;
}


void lqora_open_rng(lua_State *L) {
  static const luaL_Reg methods[] = {
    {"next", rng_next},
    {"uniform", rng_uniform},
    {"state", rng_state},
    {"seed", rng_seed},
    {NULL, NULL}
  };

  lqora_new_class(L, LQORA_RNG, "rng", methods);
  lua_pushcfunction(L, rng_new);
  lua_setfield(L, -2, "rng");
}
