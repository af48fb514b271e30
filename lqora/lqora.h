/*
** lqora.h: the pieces of the qora.core Lua module. Each file in lqora/ adds its functions and
** metatables to the module table with an opener called by luaopen_qora_core.
*/
#ifndef LQORA_H
#define LQORA_H

#include <lua.h>
#include <lauxlib.h>

#include "qora.h"

/* Metatable names (registry keys) of the userdata types. */
#define LQORA_MODEL "qora.Model"
#define LQORA_SESSION "qora.Session"
#define LQORA_CANDS "qora.Candidates"
#define LQORA_RNG "qora.Rng"
#define LQORA_STREAM "qora.TextStream"

/* Openers: each receives the module table at stack index -1 and leaves the stack as it was. */
void lqora_open_json(lua_State *L);
void lqora_open_cands(lua_State *L);
void lqora_open_rng(lua_State *L);
void lqora_open_model(lua_State *L);
void lqora_open_session(lua_State *L);
void lqora_open_stream(lua_State *L);
void lqora_open_interrupt(lua_State *L);

/* A loaded model; sessions count themselves so that closing the model waits for them. */
typedef struct lqora_model {
  qora_model *m;            /* NULL once freed */
  int n_sessions;           /* live sessions on m */
  int closed;               /* closed or collected: free m when the last session goes */
} lqora_model;

/* A candidate set with a reusable buffer for the ids of a penalty's history. */
typedef struct lqora_cands {
  qora_cands c;
  int32_t *recent;
  int recent_cap;
} lqora_cands;

/* Checks that argument arg is an open model and returns it. */
lqora_model *lqora_check_model(lua_State *L, int arg);

/* The model under the open session at arg (alive while the session is); raises otherwise. */
qora_model *lqora_session_model(lua_State *L, int arg);

/*
** The tokenizer of the model or session at arg. A session answers for its model even after
** model:close(), since its weights stay until the last session goes.
*/
const qora_tokenizer *lqora_check_tokenizer(lua_State *L, int arg);

/*
** The integer at arg. Only a number of integer subtype counts: a numeric string ("3") or a
** float (3.0) is refused, so that a caller's slip never moves the cache.
*/
lua_Integer lqora_checkint(lua_State *L, int arg);
lua_Integer lqora_optint(lua_State *L, int arg, lua_Integer def);

/* id (read from arg) as a token id of a vocabulary of n; an argument error names it if not. */
int32_t lqora_check_id(lua_State *L, int arg, lua_Integer id, int n);

/*
** The string at arg (its length in *len when len is not NULL). Only a string counts:
** luaL_checklstring would take the number 123 as the text "123", so that m:tokenize(123) ran.
** lqora_opttext gives def when the argument is absent or nil.
*/
const char *lqora_checktext(lua_State *L, int arg, size_t *len);
const char *lqora_opttext(lua_State *L, int arg, const char *def);

/* The string at arg as a file path: text without a NUL byte, which would cut it short. */
const char *lqora_checkpath(lua_State *L, int arg);

/* The boolean at arg, 0 when absent or nil; any other type is refused ("no" is not false). */
int lqora_optbool(lua_State *L, int arg);

/* Pushes a new, empty candidate set over n_vocab tokens; raises an error when out of memory. */
lqora_cands *lqora_cands_push(lua_State *L, int n_vocab);

/* Grows the id buffer *buf (of *cap entries) to hold n; raises an error when out of memory. */
int32_t *lqora_ids_reserve(lua_State *L, lua_Integer n, int32_t **buf, int *cap);

/*
** Reads the integers of the table at arg, t[first] .. t[last], into a buffer grown as needed
** (*buf, *cap; freed by the owner); raises an argument error on a non-integer element.
*/
int32_t *lqora_read_ids(lua_State *L, int arg, lua_Integer first, lua_Integer last,
                        int32_t **buf, int *cap);

/* Frees the model once it is closed and its last session is gone. */
void lqora_model_release(lqora_model *lm);

/* The text of a token in output: its bytes, or for a control token its text when special. */
const char *lqora_token_piece(const qora_tokenizer *tk, int32_t id, int special, size_t *len);

/* Methods of the model implemented beside their userdata: m:session(...), m:stream(...). */
int lqora_session_new(lua_State *L);
int lqora_stream_new(lua_State *L);

/* Adds the tokenizer's methods (tokenize, detokenize, token, token_id, is_eog, stream) to the
** metatable at the top of the stack; models and sessions share them. noun: as for
** lqora_add_methods. */
void lqora_add_token_methods(lua_State *L, const char *noun);

/*
** Adds the functions of l to the metatable at the top of the stack. Each method (a name not
** starting with "__") first checks its self: called on anything else, as obj.method() for
** obj:method(), it raises "calling 'method' on bad self (qora.Model expected, got no value;
** call it as model:method(...))", where noun is "model".
*/
void lqora_add_methods(lua_State *L, const char *noun, const luaL_Reg *l);

/* Creates the metatable tname with the methods of l (see lqora_add_methods), __index
** pointing to itself. */
void lqora_new_class(lua_State *L, const char *tname, const char *noun, const luaL_Reg *l);

#endif
