/*
** stream.c: the qora.TextStream userdata, turning generated ids into text pieces that hold
** only whole UTF-8 characters: bytes of a character split across tokens wait for the rest.
** Its user value is the model or session it was made from, whose vocabulary it reads.
*/
#include "lqora.h"

typedef struct lqora_stream {
  qora_utf8 u;
  int special;              /* control tokens come out as their text, not as nothing */
} lqora_stream;


/* m:stream([special]) or s:stream([special]) -> a new text stream over the vocabulary. */
int lqora_stream_new(lua_State *L) {
  lqora_stream *st;
  int special;

  lqora_check_tokenizer(L, 1);
  special = lqora_optbool(L, 2);
  st = lua_newuserdatauv(L, sizeof *st, 1);
  st->u.n_held = 0;
  st->special = special;
  lua_pushvalue(L, 1);
  lua_setiuservalue(L, -2, 1);
  luaL_setmetatable(L, LQORA_STREAM);
  return 1;
}


static lqora_stream *check_stream(lua_State *L, const qora_tokenizer **tk) {
  lqora_stream *st = luaL_checkudata(L, 1, LQORA_STREAM);

  lua_getiuservalue(L, 1, 1);
  *tk = lqora_check_tokenizer(L, lua_gettop(L));
  lua_pop(L, 1);
  return st;
}


/* st:push(id) -> the whole characters completed by this token (maybe ""). */
static int stream_push(lua_State *L) {
  const qora_tokenizer *tk;
  lqora_stream *st = check_stream(L, &tk);
  int32_t id = lqora_check_id(L, 2, lqora_checkint(L, 2), qora_vocab_size(tk));
  size_t len, cap;
  const char *piece;
  char *out;
  luaL_Buffer b;

  piece = lqora_token_piece(tk, id, st->special, &len);
  cap = 3 * (len + 4);  /* enough for every byte to become U+FFFD, as qora.h promises */
  out = luaL_buffinitsize(L, &b, cap);
  luaL_pushresultsize(&b, qora_utf8_push(&st->u, piece, len, out, cap));
  return 1;
}


/* st:flush() -> U+FFFD for each byte still held (or ""); the stream starts afresh. */
static int stream_flush(lua_State *L) {
  lqora_stream *st = luaL_checkudata(L, 1, LQORA_STREAM);
  char out[3 * 8];

  lua_pushlstring(L, out, qora_utf8_flush(&st->u, out, sizeof out));
  return 1;
}


void lqora_open_stream(lua_State *L) {
  static const luaL_Reg methods[] = {
    {"push", stream_push},
    {"flush", stream_flush},
    {NULL, NULL}
  };

  lqora_new_class(L, LQORA_STREAM, "stream", methods);
}
