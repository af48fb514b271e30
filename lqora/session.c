/*
** session.c: the qora.Session userdata: a KV cache and scratch memory over a model. Its user
** values are the model (kept alive while the session lives) and the session's candidate set,
** reloaded from the last logits by s:candidates() so that sampling allocates nothing.
** A session also takes the model's tokenizer methods, which keep working after model:close().
*/
#include <stdlib.h>
#include <string.h>

#include "lqora.h"

enum { UV_MODEL = 1, UV_CANDS = 2 };

typedef struct lqora_session {
  qora_session *s;          /* NULL once closed */
  lqora_model *model;
  int n_vocab;
  int32_t *ids;             /* reusable buffer for the ids of s:eval */
  int ids_cap;
} lqora_session;

static const char *const KV_TYPES[] = { "f16", "f32", NULL };

/* The engine's limits (engine/session.c), checked here for a message naming the option. */
#define QORA_LUA_MAX_CTX (1 << 24)
#define QORA_LUA_MAX_BATCH (1 << 16)


static lqora_session *check_open(lua_State *L, int arg) {
  lqora_session *ls = luaL_checkudata(L, arg, LQORA_SESSION);

  if (ls->s == NULL)
    luaL_error(L, "the session is closed: open a new one with model:session()");
  return ls;
}


static lqora_session *check_session(lua_State *L) {
  return check_open(L, 1);
}


qora_model *lqora_session_model(lua_State *L, int arg) {
  return check_open(L, arg)->model->m;
}


static int session_close(lua_State *L) {
  lqora_session *ls = luaL_checkudata(L, 1, LQORA_SESSION);

  if (ls->s != NULL) {
    qora_session_free(ls->s);
    ls->s = NULL;
    ls->model->n_sessions--;
    lqora_model_release(ls->model);
  }
  free(ls->ids);
  ls->ids = NULL;
  ls->ids_cap = 0;
  return 0;
}


static int opt_size(lua_State *L, int arg, const char *what, lua_Integer max) {
  lua_Integer v = lqora_optint(L, arg, 0);

  if (v < 0 || v > max)
    luaL_argerror(L, arg, lua_pushfstring(L, "%s must be from 1 to %d, or 0 or nil for the "
                                          "default", what, (int)max));
  return (int)v;
}


/* m:session([ctx[, batch[, kv_type]]]) -> a session; 0 or nil picks the engine's default. */
int lqora_session_new(lua_State *L) {
  lqora_model *lm = lqora_check_model(L, 1);
  qora_session_opts opts = { 0 };
  qora_err err = { "" };
  lqora_session *ls;

  opts.n_ctx = opt_size(L, 2, "ctx", QORA_LUA_MAX_CTX);
  opts.n_batch = opt_size(L, 3, "batch", QORA_LUA_MAX_BATCH);
  lqora_opttext(L, 4, NULL);   /* checkoption alone would read the number 1 as "1" */
  opts.kv_f32 = luaL_checkoption(L, 4, "f16", KV_TYPES) == 1;

  ls = lua_newuserdatauv(L, sizeof *ls, 2);
  memset(ls, 0, sizeof *ls);
  ls->n_vocab = qora_model_get_info(lm->m)->n_vocab;
  lua_pushvalue(L, 1);
  lua_setiuservalue(L, -2, UV_MODEL);
  lqora_cands_push(L, ls->n_vocab > 0 ? ls->n_vocab : 1);
  lua_setiuservalue(L, -2, UV_CANDS);

  ls->s = qora_session_new(lm->m, &opts, &err);
  if (ls->s == NULL)
    return luaL_error(L, "%s", err.msg[0] ? err.msg : "the session could not be made");
  ls->model = lm;
  lm->n_sessions++;
  luaL_setmetatable(L, LQORA_SESSION);
  return 1;
}


/* Reads the ids at arg (an integer or an array) into ls->ids; returns their count. */
static int read_ids(lua_State *L, lqora_session *ls, int arg) {
  lua_Integer n;

  if (lua_isinteger(L, arg)) {
    int32_t id = lqora_check_id(L, arg, lua_tointeger(L, arg), ls->n_vocab);

    lqora_ids_reserve(L, 1, &ls->ids, &ls->ids_cap);
    ls->ids[0] = id;
    return 1;
  }

  luaL_argexpected(L, lua_istable(L, arg), arg, "token id or array of token ids");
  n = luaL_len(L, arg);
  lqora_read_ids(L, arg, 1, n, &ls->ids, &ls->ids_cap);
  for (lua_Integer i = 0; i < n; i++)
    if (ls->ids[i] < 0 || ls->ids[i] >= ls->n_vocab)
      luaL_argerror(L, arg, lua_pushfstring(L, "element %I is token id %d, outside the "
                                            "vocabulary (0 to %d)", i + 1, ls->ids[i],
                                            ls->n_vocab - 1));
  return (int)n;
}


/*
** s:eval(ids[, all_logits]) appends ids (an array, or one id) to the cache. With all_logits
** it returns a string of little-endian float32 logits, one row of n_vocab per id.
*/
static int session_eval(lua_State *L) {
  lqora_session *ls = check_session(L);
  int all = lqora_optbool(L, 3);
  int n = read_ids(L, ls, 2);
  qora_err err = { "" };
  luaL_Buffer b;
  float *rows = NULL;

  if (n == 0)
    return 0;
  if (all) {
    size_t bytes = (size_t)n * ls->n_vocab * sizeof *rows;

    rows = (float *)luaL_buffinitsize(L, &b, bytes);
  }
  if (qora_session_eval(ls->s, ls->ids, n, rows, &err) != 0)
    return luaL_error(L, "%s", err.msg);
  if (!all)
    return 0;
  luaL_pushresultsize(&b, (size_t)n * ls->n_vocab * sizeof *rows);
  return 1;
}


/* s:candidates() -> the session's candidate set, loaded with the last logits. */
static int session_candidates(lua_State *L) {
  lqora_session *ls = check_session(L);
  const float *logits = qora_session_logits(ls->s);
  lqora_cands *lc;

  if (logits == NULL)
    return luaL_error(L, "no logits yet: evaluate tokens before sampling");
  lua_getiuservalue(L, 1, UV_CANDS);
  lc = lua_touserdata(L, -1);
  qora_cands_load(&lc->c, logits, ls->n_vocab);
  return 1;
}


/* s:logits() -> the last logits as a string of n_vocab little-endian float32, or nil. */
static int session_logits(lua_State *L) {
  lqora_session *ls = check_session(L);
  const float *logits = qora_session_logits(ls->s);

  if (logits == NULL)
    lua_pushnil(L);
  else
    lua_pushlstring(L, (const char *)logits, (size_t)ls->n_vocab * sizeof *logits);
  return 1;
}


static int session_pos(lua_State *L) {
  lua_pushinteger(L, qora_session_pos(check_session(L)->s));
  return 1;
}


static int session_ctx(lua_State *L) {
  lua_pushinteger(L, qora_session_ctx(check_session(L)->s));
  return 1;
}


/* s:rewind(pos): forgets the cached tokens from pos on. */
static int session_rewind(lua_State *L) {
  lqora_session *ls = check_session(L);
  lua_Integer pos = lqora_checkint(L, 2);
  qora_err err = { "" };

  luaL_argcheck(L, pos >= 0 && pos <= qora_session_pos(ls->s), 2,
                "can only rewind to a position from 0 to the current one");
  if (qora_session_rewind(ls->s, (int)pos, &err) != 0)
    return luaL_error(L, "%s", err.msg);
  return 0;
}


static int session_model(lua_State *L) {
  luaL_checkudata(L, 1, LQORA_SESSION);
  lua_getiuservalue(L, 1, UV_MODEL);
  return 1;
}


static int session_tostring(lua_State *L) {
  lqora_session *ls = luaL_checkudata(L, 1, LQORA_SESSION);

  if (ls->s == NULL)
    lua_pushliteral(L, "qora.Session (closed)");
  else
    lua_pushfstring(L, "qora.Session (%d of %d tokens)", qora_session_pos(ls->s),
                    qora_session_ctx(ls->s));
  return 1;
}


void lqora_open_session(lua_State *L) {
  static const luaL_Reg methods[] = {
    {"eval", session_eval},
    {"candidates", session_candidates},
    {"logits", session_logits},
    {"pos", session_pos},
    {"ctx", session_ctx},
    {"rewind", session_rewind},
    {"model", session_model},
    {"close", session_close},
    {"__close", session_close},
    {"__gc", session_close},
    {"__tostring", session_tostring},
    {NULL, NULL}
  };

  lqora_new_class(L, LQORA_SESSION, "session", methods);
  luaL_getmetatable(L, LQORA_SESSION);
  lqora_add_token_methods(L, "session");
  lua_pop(L, 1);
}
