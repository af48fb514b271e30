/*
** model.c: the qora.Model userdata: loading a GGUF file or a Hugging Face folder, describing
** the model, tokenizing, saving.
** Sessions keep their model alive (it is their user value) and count themselves in it, so an
** explicit m:close() frees the weights only when the last session is gone. Until then the
** sessions keep working, and answer the tokenizer's questions (s:tokenize, s:is_eog, ...)
** that the closed model no longer takes.
*/
#include <stdlib.h>
#include <string.h>

#include "lqora.h"

static const char *const TOKEN_TYPES[] = {
  "undefined", "normal", "unknown", "control", "user_defined", "unused", "byte"
};


lqora_model *lqora_check_model(lua_State *L, int arg) {
  lqora_model *lm = luaL_checkudata(L, arg, LQORA_MODEL);

  if (lm->m == NULL || lm->closed)
    luaL_error(L, "the model is closed: load it again for new calls (its open sessions keep "
               "working)");
  return lm;
}


const qora_tokenizer *lqora_check_tokenizer(lua_State *L, int arg) {
  lqora_model *lm = luaL_testudata(L, arg, LQORA_MODEL);

  if (lm != NULL)
    return qora_model_tokenizer(lqora_check_model(L, arg)->m);
  if (luaL_testudata(L, arg, LQORA_SESSION) == NULL)
    luaL_typeerror(L, arg, "qora.Model or qora.Session");
  return qora_model_tokenizer(lqora_session_model(L, arg));
}


void lqora_model_release(lqora_model *lm) {
  if (lm->m != NULL && lm->closed && lm->n_sessions == 0) {
    qora_model_free(lm->m);
    lm->m = NULL;
  }
}


const char *lqora_token_piece(const qora_tokenizer *tk, int32_t id, int special, size_t *len) {
  if (qora_token_type(tk, id) == QORA_TOKEN_CONTROL) {
    *len = 0;
    return special ? qora_token_text(tk, id, len) : "";
  }
  return qora_token_bytes(tk, id, len);
}


/* The token id at arg, checked against the vocabulary. */
static int32_t check_token(lua_State *L, int arg, const qora_tokenizer *tk) {
  return lqora_check_id(L, arg, lqora_checkint(L, arg), qora_vocab_size(tk));
}


/*
** core.load(path[, threads[, quant[, progress[, keep_layout[, small_pages]]]]]) -> model, or nil
** and a message when the file or folder cannot be used. quant (Hugging Face folders only) is
** checked by the engine; keep_layout skips repacking the weights for decoding (a faster load,
** slower decoding); small_pages keeps the repacked copy off huge pages (see qora.h).
*/
static int model_load(lua_State *L) {
  const char *path = lqora_checkpath(L, 1);
  lua_Integer threads = lqora_optint(L, 2, 0);
  qora_load_opts opts = { .quant = lqora_opttext(L, 3, NULL), .progress = lqora_optbool(L, 4),
                          .keep_layout = lqora_optbool(L, 5),
                          .small_pages = lqora_optbool(L, 6) };
  qora_err err = { "" };
  lqora_model *lm;

  luaL_argcheck(L, threads >= 0 && threads <= 256, 2, "threads must be from 0 (all cores) "
                "to 256");
  opts.n_threads = (int)threads;
  lm = lua_newuserdatauv(L, sizeof *lm, 0);
  memset(lm, 0, sizeof *lm);
  luaL_setmetatable(L, LQORA_MODEL);

  lm->m = qora_model_load(path, &opts, &err);
  if (lm->m == NULL) {
    luaL_pushfail(L);
    lua_pushstring(L, err.msg[0] ? err.msg : "the model could not be loaded");
    return 2;
  }
  return 1;
}


/* m:save(path) -> true, or nil and a message when the file cannot be written. */
static int model_save(lua_State *L) {
  lqora_model *lm = lqora_check_model(L, 1);
  const char *path = lqora_checkpath(L, 2);
  qora_err err = { "" };

  if (qora_model_save(lm->m, path, &err) != 0) {
    luaL_pushfail(L);
    lua_pushstring(L, err.msg[0] ? err.msg : "the model could not be saved");
    return 2;
  }
  lua_pushboolean(L, 1);
  return 1;
}


static int model_close(lua_State *L) {
  lqora_model *lm = luaL_checkudata(L, 1, LQORA_MODEL);

  lm->closed = 1;
  lqora_model_release(lm);
  return 0;
}


static void set_int(lua_State *L, const char *k, lua_Integer v) {
  lua_pushinteger(L, v);
  lua_setfield(L, -2, k);
}


static void set_num(lua_State *L, const char *k, lua_Number v) {
  lua_pushnumber(L, v);
  lua_setfield(L, -2, k);
}


/* A table { Q4_1 = 210, F32 = 61, ... } of tensor counts by type. */
static void push_type_counts(lua_State *L, const qora_model_info *in) {
  lua_newtable(L);
  for (int t = 0; t < QORA_TYPE_COUNT; t++) {
    const char *name = qora_type_name(t);

    if (in->type_counts[t] == 0)
      continue;
    if (name == NULL)
      name = lua_pushfstring(L, "type%d", t);
    else
      lua_pushstring(L, name);
    lua_pushinteger(L, in->type_counts[t]);
    lua_settable(L, -3);
  }
}


/* m:info() -> a new table describing the model (see lua/qora/init.lua for the fields). */
static int model_info(lua_State *L) {
  lqora_model *lm = lqora_check_model(L, 1);
  const qora_model_info *in = qora_model_get_info(lm->m);
  const qora_tokenizer *tk = qora_model_tokenizer(lm->m);
  const char *tmpl;
  size_t len;

  lua_newtable(L);
  lua_pushstring(L, in->arch);
  lua_setfield(L, -2, "arch");
  lua_pushstring(L, in->name);
  lua_setfield(L, -2, "name");
  lua_pushboolean(L, in->has_weights);
  lua_setfield(L, -2, "has_weights");
  set_int(L, "n_layer", in->n_layer);
  set_int(L, "n_embd", in->n_embd);
  set_int(L, "n_ff", in->n_ff);
  set_int(L, "n_head", in->n_head);
  set_int(L, "n_head_kv", in->n_head_kv);
  set_int(L, "head_dim", in->head_dim);
  set_int(L, "n_vocab", in->n_vocab);
  set_int(L, "n_ctx_train", in->n_ctx_train);
  set_num(L, "rope_theta", in->rope_theta);
  set_num(L, "norm_eps", in->norm_eps);
  lua_pushboolean(L, in->tied_embeddings);
  lua_setfield(L, -2, "tied_embeddings");
  set_int(L, "n_params", (lua_Integer)in->n_params);
  set_int(L, "weight_bytes", (lua_Integer)in->weight_bytes);
  set_int(L, "threads", qora_model_threads(lm->m));
  push_type_counts(L, in);
  lua_setfield(L, -2, "tensor_types");

  if (qora_token_bos(tk) >= 0)
    set_int(L, "bos_id", qora_token_bos(tk));
  if (qora_token_eos(tk) >= 0)
    set_int(L, "eos_id", qora_token_eos(tk));
  tmpl = qora_model_meta_str(lm->m, "tokenizer.chat_template", &len);
  if (tmpl != NULL) {
    lua_pushlstring(L, tmpl, len);
    lua_setfield(L, -2, "chat_template");
  }
  return 1;
}


/* m:meta(key) -> the string value of a metadata key, or nil. */
static int model_meta(lua_State *L) {
  lqora_model *lm = lqora_check_model(L, 1);
  size_t len;
  const char *key = lqora_checktext(L, 2, &len), *v;

  luaL_argcheck(L, strlen(key) == len, 2, "the key contains a NUL byte");  /* read up to it */
  v = qora_model_meta_str(lm->m, key, &len);

  if (v == NULL)
    lua_pushnil(L);
  else
    lua_pushlstring(L, v, len);
  return 1;
}


/* m:tokenize(text[, special[, bos]]) -> array of ids; text that is not UTF-8 raises. */
static int model_tokenize(lua_State *L) {
  const qora_tokenizer *tk = lqora_check_tokenizer(L, 1);
  size_t len;
  const char *text = lqora_checktext(L, 2, &len);
  int flags = (lqora_optbool(L, 3) ? QORA_TOK_SPECIAL : 0) | (lqora_optbool(L, 4) ? QORA_TOK_BOS
                                                                                  : 0);
  qora_tokens toks = { 0 };
  qora_err err = { "" };

  if (qora_tokenize(tk, text, len, flags, &toks, &err) != 0) {
    qora_tokens_free(&toks);
    return luaL_error(L, "%s", err.msg);
  }
  lua_createtable(L, (int)toks.n, 0);
  for (size_t i = 0; i < toks.n; i++) {
    lua_pushinteger(L, toks.ids[i]);
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
  qora_tokens_free(&toks);
  return 1;
}


/* m:detokenize(ids[, special]) -> the bytes the ids stand for, concatenated. */
static int model_detokenize(lua_State *L) {
  const qora_tokenizer *tk = lqora_check_tokenizer(L, 1);
  int special = lqora_optbool(L, 3);
  lua_Integer n;
  luaL_Buffer b;

  luaL_checktype(L, 2, LUA_TTABLE);
  n = luaL_len(L, 2);
  luaL_buffinit(L, &b);
  for (lua_Integer i = 1; i <= n; i++) {
    size_t len;
    int isint;
    lua_Integer id;
    const char *piece;

    lua_geti(L, 2, i);
    isint = lua_isinteger(L, -1);
    id = lua_tointeger(L, -1);
    lua_pop(L, 1);
    if (!isint)
      return luaL_argerror(L, 2, lua_pushfstring(L, "element %I is not a token id", i));
    if (id < 0 || id >= qora_vocab_size(tk))
      return luaL_argerror(L, 2, lua_pushfstring(L, "element %I is token id %I, outside the "
                                                 "vocabulary (0 to %d)", i, id,
                                                 qora_vocab_size(tk) - 1));
    piece = lqora_token_piece(tk, (int32_t)id, special, &len);
    luaL_addlstring(&b, piece, len);
  }
  luaL_pushresult(&b);
  return 1;
}


/* m:token(id) -> the token's bytes (its text for a control token) and its type's name. */
static int model_token(lua_State *L) {
  const qora_tokenizer *tk = lqora_check_tokenizer(L, 1);
  int32_t id = check_token(L, 2, tk);
  int type = qora_token_type(tk, id);
  size_t len;
  const char *s = lqora_token_piece(tk, id, 1, &len);

  lua_pushlstring(L, s, len);
  lua_pushstring(L, type >= 0 && type <= QORA_TOKEN_BYTE ? TOKEN_TYPES[type] : "undefined");
  return 2;
}


/* m:token_id(text) -> the id whose vocabulary text is exactly text, or nil. */
static int model_token_id(lua_State *L) {
  const qora_tokenizer *tk = lqora_check_tokenizer(L, 1);
  size_t len;
  const char *text = lqora_checktext(L, 2, &len);
  int32_t id = qora_token_find(tk, text, len);

  if (id < 0)
    lua_pushnil(L);
  else
    lua_pushinteger(L, id);
  return 1;
}


static int model_is_eog(lua_State *L) {
  const qora_tokenizer *tk = lqora_check_tokenizer(L, 1);

  lua_pushboolean(L, qora_token_is_eog(tk, check_token(L, 2, tk)));
  return 1;
}


static int model_tostring(lua_State *L) {
  lqora_model *lm = luaL_checkudata(L, 1, LQORA_MODEL);

  if (lm->m == NULL || lm->closed)
    lua_pushliteral(L, "qora.Model (closed)");
  else
    lua_pushfstring(L, "qora.Model (%s, %d layers)", qora_model_get_info(lm->m)->arch,
                    qora_model_get_info(lm->m)->n_layer);
  return 1;
}


void lqora_add_token_methods(lua_State *L, const char *noun) {
  static const luaL_Reg methods[] = {
    {"tokenize", model_tokenize},
    {"detokenize", model_detokenize},
    {"token", model_token},
    {"token_id", model_token_id},
    {"is_eog", model_is_eog},
    {"stream", lqora_stream_new},
    {NULL, NULL}
  };

  lqora_add_methods(L, noun, methods);
}


void lqora_open_model(lua_State *L) {
  static const luaL_Reg methods[] = {
    {"info", model_info},
    {"meta", model_meta},
    {"session", lqora_session_new},
    {"save", model_save},
    {"close", model_close},
    {"__close", model_close},
    {"__gc", model_close},
    {"__tostring", model_tostring},
    {NULL, NULL}
  };

  lqora_new_class(L, LQORA_MODEL, "model", methods);
  luaL_getmetatable(L, LQORA_MODEL);
  lqora_add_token_methods(L, "model");
  lua_pop(L, 1);
  lua_pushcfunction(L, model_load);
  lua_setfield(L, -2, "load");
}
