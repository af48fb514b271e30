/*
** cands.c: the qora.Candidates userdata, a candidate set over the vocabulary that sampling
** policies narrow step by step. A session owns one, reloaded from its logits for each token;
** core.candidates(logits) makes a free-standing one from a Lua array (for tests and tools).
** Narrowing methods return the set itself, so steps chain: c:top_k(40):top_p(0.95).
*/
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lqora.h"


static lqora_cands *check_cands(lua_State *L) {
  return luaL_checkudata(L, 1, LQORA_CANDS);
}


/* A probability-like argument: a number that is not NaN. */
static float check_number(lua_State *L, int arg) {
  lua_Number x = luaL_checknumber(L, arg);

  luaL_argcheck(L, !isnan(x), arg, "NaN is not a valid value");
  return (float)x;
}


/*
** A penalty, finite as the float the engine computes with: inf - inf, or 0 * inf for a zero
** logit, would be a NaN logit, which argmax takes when it stands first.
*/
static float check_penalty(lua_State *L, int arg) {
  float x = check_number(L, arg);

  luaL_argcheck(L, isfinite(x), arg, "a penalty must be finite as a float32 (at most 3.4e38 "
                "in size)");
  return x;
}


/* min_keep: at least 1; more than a set can hold keeps it all (as top_k does with k). */
static int check_min_keep(lua_State *L, int arg) {
  lua_Integer k = lqora_optint(L, arg, 1);

  luaL_argcheck(L, k >= 1, arg, "min_keep must be at least 1");
  return k > INT32_MAX ? INT32_MAX : (int)k;
}


lqora_cands *lqora_cands_push(lua_State *L, int n_vocab) {
  lqora_cands *lc = lua_newuserdatauv(L, sizeof *lc, 0);

  lc->recent = NULL;
  lc->recent_cap = 0;
  if (qora_cands_init(&lc->c, n_vocab) != 0)
    luaL_error(L, "out of memory for %d candidates", n_vocab);
  luaL_setmetatable(L, LQORA_CANDS);
  return lc;
}


/* core.candidates(logits) -> a set holding ids 0 .. #logits - 1 with these logits. */
static int cands_new(lua_State *L) {
  lua_Integer n;
  float *logits;
  lqora_cands *lc;

  luaL_checktype(L, 1, LUA_TTABLE);
  n = luaL_len(L, 1);
  luaL_argcheck(L, n >= 1 && n <= INT32_MAX / 4, 1, "expected a non-empty array of logits");
  lc = lqora_cands_push(L, (int)n);
  logits = lc->c.logits;  /* load copies in place: ids and order are set below */

  for (lua_Integer i = 1; i <= n; i++) {
    int isnum;

    lua_geti(L, 1, i);
    logits[i - 1] = (float)lua_tonumberx(L, -1, &isnum);
    if (!isnum)
      return luaL_argerror(L, 1, lua_pushfstring(L, "element %I is not a number", i));
    lua_pop(L, 1);
  }
  qora_cands_load(&lc->c, logits, (int)n);
  return 1;
}


/* c:load(logits) reloads every candidate from a string of little-endian float32, one per id. */
static int cands_load(lua_State *L) {
  lqora_cands *lc = check_cands(L);
  size_t len;
  const char *s = lqora_checktext(L, 2, &len);

  luaL_argcheck(L, len == (size_t)lc->c.cap * sizeof(float), 2,
                lua_pushfstring(L, "expected %d float32 values (%d bytes)", lc->c.cap,
                                lc->c.cap * (int)sizeof(float)));
  if (((uintptr_t)s % sizeof(float)) == 0) {
    qora_cands_load(&lc->c, (const float *)s, lc->c.cap);
  } else {  /* Lua strings are aligned in practice; stay correct if one is not */
    memcpy(lc->c.logits, s, len);
    qora_cands_load(&lc->c, lc->c.logits, lc->c.cap);
  }
  lua_settop(L, 1);
  return 1;
}


static int cands_gc(lua_State *L) {
  lqora_cands *lc = check_cands(L);

  qora_cands_free(&lc->c);
  free(lc->recent);
  lc->recent = NULL;
  lc->recent_cap = 0;
  return 0;
}


/* c:penalize(history, repeat, frequency, presence[, last_n]): last_n ids of history count. */
static int cands_penalize(lua_State *L) {
  lqora_cands *lc = check_cands(L);
  lua_Integer len, last_n;
  float repeat, frequency, presence;
  int32_t *ids;

  luaL_checktype(L, 2, LUA_TTABLE);
  repeat = check_penalty(L, 3);
  luaL_argcheck(L, repeat > 0.0f, 3, "the repeat penalty must be positive (1 disables it)");
  frequency = check_penalty(L, 4);
  presence = check_penalty(L, 5);
  len = luaL_len(L, 2);
  last_n = lqora_optint(L, 6, len);
  luaL_argcheck(L, last_n >= 0, 6, "last_n must not be negative");
  if (last_n > len)
    last_n = len;

  ids = lqora_read_ids(L, 2, len - last_n + 1, len, &lc->recent, &lc->recent_cap);
  qora_cands_penalize(&lc->c, ids, (int)last_n, repeat, frequency, presence);
  lua_settop(L, 1);
  return 1;
}


static int cands_temperature(lua_State *L) {
  lqora_cands *lc = check_cands(L);

  qora_cands_temperature(&lc->c, check_number(L, 2));
  lua_settop(L, 1);
  return 1;
}


static int cands_top_k(lua_State *L) {
  lqora_cands *lc = check_cands(L);
  lua_Integer k = lqora_checkint(L, 2);

  qora_cands_top_k(&lc->c, k > INT32_MAX ? INT32_MAX : k < 0 ? 0 : (int)k);
  lua_settop(L, 1);
  return 1;
}


static int cands_top_p(lua_State *L) {
  lqora_cands *lc = check_cands(L);

  qora_cands_top_p(&lc->c, check_number(L, 2), check_min_keep(L, 3));
  lua_settop(L, 1);
  return 1;
}


static int cands_min_p(lua_State *L) {
  lqora_cands *lc = check_cands(L);

  qora_cands_min_p(&lc->c, check_number(L, 2), check_min_keep(L, 3));
  lua_settop(L, 1);
  return 1;
}


static int cands_softmax(lua_State *L) {
  lqora_cands *lc = check_cands(L);

  qora_cands_softmax(&lc->c);
  lua_settop(L, 1);
  return 1;
}


static int cands_argmax(lua_State *L) {
  lqora_cands *lc = check_cands(L);

  luaL_argcheck(L, lc->c.n > 0, 1, "the candidate set is empty");
  lua_pushinteger(L, qora_cands_argmax(&lc->c));
  return 1;
}


/* c:sample(rng) -> an id drawn from the candidates' probabilities. */
static int cands_sample(lua_State *L) {
  lqora_cands *lc = check_cands(L);
  qora_rng *r = luaL_checkudata(L, 2, LQORA_RNG);

  luaL_argcheck(L, lc->c.n > 0, 1, "the candidate set is empty");
  lua_pushinteger(L, qora_cands_pick(&lc->c, qora_rng_uniform(r)));
  return 1;
}


/* c:pick(u) -> the id that a uniform draw u in [0, 1) selects (sample with a given draw). */
static int cands_pick(lua_State *L) {
  lqora_cands *lc = check_cands(L);
  lua_Number u = luaL_checknumber(L, 2);

  luaL_argcheck(L, u >= 0 && u < 1, 2, "a uniform draw is in [0, 1)");
  luaL_argcheck(L, lc->c.n > 0, 1, "the candidate set is empty");
  lua_pushinteger(L, qora_cands_pick(&lc->c, u));
  return 1;
}


static int cands_count(lua_State *L) {
  lua_pushinteger(L, check_cands(L)->c.n);
  return 1;
}


/* c:get(i) -> id, logit, probability (nil until softmax, or after a step that changed them). */
static int cands_get(lua_State *L) {
  lqora_cands *lc = check_cands(L);
  lua_Integer i = lqora_checkint(L, 2);

  luaL_argcheck(L, i >= 1 && i <= lc->c.n, 2, "index out of the candidate set");
  lua_pushinteger(L, lc->c.ids[i - 1]);
  lua_pushnumber(L, lc->c.logits[i - 1]);
  if (lc->c.has_probs)
    lua_pushnumber(L, lc->c.probs[i - 1]);
  else
    lua_pushnil(L);
  return 3;
}


static int cands_tostring(lua_State *L) {
  lqora_cands *lc = check_cands(L);

  lua_pushfstring(L, "qora.Candidates (%d of %d)", lc->c.n, lc->c.cap);
  return 1;
}


void lqora_open_cands(lua_State *L) {
  static const luaL_Reg methods[] = {
    {"load", cands_load},
    {"penalize", cands_penalize},
    {"temperature", cands_temperature},
    {"top_k", cands_top_k},
    {"top_p", cands_top_p},
    {"min_p", cands_min_p},
    {"softmax", cands_softmax},
    {"argmax", cands_argmax},
    {"sample", cands_sample},
    {"pick", cands_pick},
    {"count", cands_count},
    {"get", cands_get},
    {"__len", cands_count},
    {"__tostring", cands_tostring},
    {"__gc", cands_gc},
    {NULL, NULL}
  };

  lqora_new_class(L, LQORA_CANDS, "cands", methods);
  lua_pushcfunction(L, cands_new);
  lua_setfield(L, -2, "candidates");
}
