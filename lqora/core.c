/*
** core.c: luaopen_qora_core, the entry of the C module. The Lua layer (lua/qora/init.lua)
** requires it as "qora.core" and builds the public API on top.
*/
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lqora.h"


/* Raises the error of a method called on something other than its object (see below). */
static int bad_self(lua_State *L) {
  const char *name = lua_tostring(L, lua_upvalueindex(2));
  const char *got;

  if (luaL_getmetafield(L, 1, "__name") == LUA_TSTRING)
    got = lua_tostring(L, -1);
  else if (lua_type(L, 1) == LUA_TLIGHTUSERDATA)
    got = "light userdata";
  else
    got = luaL_typename(L, 1);  /* "no value" for m.session() */
  lua_getfield(L, lua_upvalueindex(3), "__name");
  return luaL_error(L, "calling '%s' on bad self (%s expected, got %s; call it as %s:%s(...))",
                    name, lua_tostring(L, -1), got, lua_tostring(L, lua_upvalueindex(4)), name);
}


/*
** A method as its class holds it: runs the method, in this same call, once self (argument 1)
** is an object of the class, so that obj.method() for obj:method() is told apart from a bad
** argument. Upvalues: the method, its name, the class's metatable, the noun of the hint.
*/
static int checked_method(lua_State *L) {
  if (!lua_getmetatable(L, 1) || !lua_rawequal(L, -1, lua_upvalueindex(3)))
    return bad_self(L);
  lua_pop(L, 1);
  return lua_tocfunction(L, lua_upvalueindex(1))(L);
}


void lqora_add_methods(lua_State *L, const char *noun, const luaL_Reg *l) {
  for (; l->name != NULL; l++) {
    lua_pushcfunction(L, l->func);
    if (strncmp(l->name, "__", 2) != 0) {  /* metamethods check their self themselves */
      lua_pushstring(L, l->name);
      lua_pushvalue(L, -3);
      lua_pushstring(L, noun);
      lua_pushcclosure(L, checked_method, 4);
    }
    lua_setfield(L, -2, l->name);
  }
}


void lqora_new_class(lua_State *L, const char *tname, const char *noun, const luaL_Reg *l) {
  luaL_newmetatable(L, tname);
  lqora_add_methods(L, noun, l);
  lua_pushvalue(L, -1);
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
}


lua_Integer lqora_checkint(lua_State *L, int arg) {
  if (lua_isinteger(L, arg))
    return lua_tointeger(L, arg);
  if (lua_type(L, arg) == LUA_TNUMBER && lua_tonumber(L, arg) != lua_tonumber(L, arg))
    luaL_argerror(L, arg, "integer expected, got nan");   /* %f writes "-nan" or "nan" */
  if (lua_type(L, arg) == LUA_TNUMBER)
    luaL_argerror(L, arg, lua_pushfstring(L, "integer expected, got the float %f",
                                          lua_tonumber(L, arg)));
  return luaL_typeerror(L, arg, "integer");
}


int32_t lqora_check_id(lua_State *L, int arg, lua_Integer id, int n) {
  if (id < 0 || id >= n)
    luaL_argerror(L, arg, lua_pushfstring(L, "token id %I is outside the vocabulary (0 to %d)",
                                          id, n - 1));
  return (int32_t)id;
}


lua_Integer lqora_optint(lua_State *L, int arg, lua_Integer def) {
  return lua_isnoneornil(L, arg) ? def : lqora_checkint(L, arg);
}


const char *lqora_checktext(lua_State *L, int arg, size_t *len) {
  if (lua_type(L, arg) != LUA_TSTRING)
    luaL_typeerror(L, arg, "string");
  return lua_tolstring(L, arg, len);
}


const char *lqora_opttext(lua_State *L, int arg, const char *def) {
  return lua_isnoneornil(L, arg) ? def : lqora_checktext(L, arg, NULL);
}


const char *lqora_checkpath(lua_State *L, int arg) {
  size_t len;
  const char *path = lqora_checktext(L, arg, &len);

  luaL_argcheck(L, strlen(path) == len, arg, "the path contains a NUL byte");
  return path;
}


int lqora_optbool(lua_State *L, int arg) {
  if (lua_isnoneornil(L, arg))
    return 0;
  luaL_checktype(L, arg, LUA_TBOOLEAN);
  return lua_toboolean(L, arg);
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
    isint = lua_isinteger(L, -1);  /* not lua_tointegerx: "5" and 5.0 are not token ids */
    id = lua_tointeger(L, -1);
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
  lua_Integer fd = lqora_checkint(L, 1);

  luaL_argcheck(L, fd >= 0 && fd <= 2, 1, "expected 0 (stdin), 1 (stdout) or 2 (stderr)");
  lua_pushboolean(L, isatty((int)fd));
  return 1;
}


/* core.cores() -> the cores the process may run on (for the CLI's warning about --threads). */
static int core_cores(lua_State *L) {
  lua_pushinteger(L, qora_cores());
  return 1;
}


/*
** core.stat(path) -> { kind = "file" | "directory" | "other", dev = ..., ino = ... } (symbolic
** links followed), or nil and a message. dev and ino tell whether two paths are one file.
*/
static int core_stat(lua_State *L) {
  const char *path = lqora_checkpath(L, 1);
  struct stat st;

  if (stat(path, &st) != 0) {
    luaL_pushfail(L);
    lua_pushfstring(L, "%s: %s", path, strerror(errno));
    return 2;
  }
  lua_createtable(L, 0, 3);
  lua_pushstring(L, S_ISREG(st.st_mode) ? "file" : S_ISDIR(st.st_mode) ? "directory" : "other");
  lua_setfield(L, -2, "kind");
  lua_pushinteger(L, (lua_Integer)st.st_dev);
  lua_setfield(L, -2, "dev");
  lua_pushinteger(L, (lua_Integer)st.st_ino);
  lua_setfield(L, -2, "ino");
  return 1;
}


/* core.cpu_kernels() -> the kernels the engine runs on this CPU ("avx2", ...), for --version. */
static int core_cpu_kernels(lua_State *L) {
  lua_pushstring(L, qora_cpu_kernels());
  return 1;
}


/*
** core.check_save_path(path[, folder]) -> true, or nil and why a save there is refused (a
** name of another format than GGUF, a file of the checkpoint folder the model comes from, a
** FIFO or a device), so that the command refuses it before a long conversion.
*/
static int core_check_save_path(lua_State *L) {
  const char *path = lqora_checkpath(L, 1);
  const char *folder = lua_isnoneornil(L, 2) ? NULL : lqora_checkpath(L, 2);
  qora_err err = { "" };

  if (qora_save_path_check(path, folder, &err) != 0) {
    luaL_pushfail(L);
    lua_pushstring(L, err.msg);
    return 2;
  }
  lua_pushboolean(L, 1);
  return 1;
}


int luaopen_qora_core(lua_State *L) {
  lua_newtable(L);
  lua_pushcfunction(L, core_now);
  lua_setfield(L, -2, "now");
  lua_pushcfunction(L, core_isatty);
  lua_setfield(L, -2, "isatty");
  lua_pushcfunction(L, core_cores);
  lua_setfield(L, -2, "cores");
  lua_pushcfunction(L, core_stat);
  lua_setfield(L, -2, "stat");
  lua_pushcfunction(L, core_check_save_path);
  lua_setfield(L, -2, "check_save_path");
  lua_pushcfunction(L, core_cpu_kernels);
  lua_setfield(L, -2, "cpu_kernels");
  lqora_open_json(L);
  lqora_open_cands(L);
  lqora_open_rng(L);
  lqora_open_model(L);
  lqora_open_session(L);
  lqora_open_stream(L);
  lqora_open_interrupt(L);
  return 1;
}
