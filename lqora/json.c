/*
** json.c: JSON for Lua through cJSON, keeping the key order of objects.
**
** How JSON values look in Lua (json_decode builds them, json_encode reads them):
**   object  a table of its fields whose metatable is its own
**           { __name = "qora.json.object", keys = { "k1", "k2", ... } }: keys lists the field
**           names in document order. A repeated name keeps its first place and its last value,
**           as Python's json module does.
**   array   a sequence whose metatable is the shared core.json_array ("qora.json.array"),
**           so that [] and {} stay distinct.
**   null    core.json_null, a light userdata (NULL pointer), so that null fields and array
**           elements are present.
**   number  an integer when written without fraction or exponent and within 64 bits,
**           otherwise a float: the same split Python's json makes, so 1 and 1.0 keep their
**           difference (Python prints them as 1 and 1.0). Wider integers become floats.
**   string  the UTF-8 bytes; \u0000 is refused because cJSON strings end at a NUL byte.
** Errors come back as nil, message; the message gives the byte offset, line and column.
*/
#include <cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "lqora.h"

#define JSON_ARRAY "qora.json.array"
#define JSON_OBJECT "qora.json.object"
#define JSON_GUARD "qora.json.guard"

#if !defined(JSON_MAXDEPTH)
#define JSON_MAXDEPTH 1000 /* cJSON_NESTING_LIMIT: deeper input is refused by cJSON too */
#endif


/* ======================================================================================= */
/* A cJSON tree owned by a Lua userdata, so that a Lua error on the way frees it.         */
/* ======================================================================================= */

static cJSON **guard_new(lua_State *L) {
  cJSON **box = lua_newuserdatauv(L, sizeof(cJSON *), 0);
  *box = NULL;
  luaL_setmetatable(L, JSON_GUARD);
  return box;
}


static int guard_gc(lua_State *L) {
  cJSON **box = luaL_checkudata(L, 1, JSON_GUARD);
  cJSON_Delete(*box);
  *box = NULL;
  return 0;
}


/* ======================================================================================= */
/* Lexical checks cJSON leaves out, and where each number starts.                          */
/* ======================================================================================= */

/* What the scan found: offsets of the numbers in document order, or the first fault. */
typedef struct {
  size_t *num_at;     /* NULL while counting */
  size_t n_num;
  size_t bad_at;
  const char *bad;    /* NULL when the text is clean */
} scan_result;


/* Length of the JSON number at s (RFC 8259 grammar), or 0 when the text there is not one. */
static size_t number_len(const char *s, size_t n) {
  size_t i = 0, d;

  if (i < n && s[i] == '-') i++;
  if (i < n && s[i] == '0') i++;
  else if (i < n && s[i] >= '1' && s[i] <= '9') while (i < n && s[i] >= '0' && s[i] <= '9') i++;
  else return 0;

  if (i < n && s[i] == '.') {
    for (d = ++i; i < n && s[i] >= '0' && s[i] <= '9'; i++) {}
    if (i == d) return 0;
  }
  if (i < n && (s[i] == 'e' || s[i] == 'E')) {
    i++;
    if (i < n && (s[i] == '+' || s[i] == '-')) i++;
    for (d = i; i < n && s[i] >= '0' && s[i] <= '9'; i++) {}
    if (i == d) return 0;
  }
  if (i < n && strchr("0123456789+-.eE", s[i]) && s[i] != '\0') return 0;  /* as in "01" */
  return i;
}


/* Checks the string literal at s[0] == '"'; returns its length with quotes, or 0 on a fault. */
static size_t string_len(const char *s, size_t n, scan_result *r, size_t base) {
  size_t i = 1;

  while (i < n && s[i] != '"') {
    unsigned char c = (unsigned char)s[i];
    if (c < 0x20) {
      r->bad = "control character inside a string (write it as an escape such as \\n)";
      r->bad_at = base + i;
      return 0;
    }
    if (c == '\\' && i + 1 < n && s[i + 1] == 'u') {
      int zero = 1;
      for (int k = 2; k < 6; k++) {
        if (i + k >= n || !strchr("0123456789abcdefABCDEF", s[i + k]) || s[i + k] == '\0') {
          r->bad = "\\u must be followed by four hexadecimal digits";
          r->bad_at = base + i;
          return 0;
        }
        zero &= s[i + k] == '0';
      }
      if (zero) {
        r->bad = "\\u0000 (a NUL character) is not supported in strings";
        r->bad_at = base + i;
        return 0;
      }
      i += 6;
    } else {
      i += c == '\\' ? 2 : 1;
    }
  }
  return i < n ? i + 1 : 0;
}


/* Walks text that cJSON accepted: strings are checked, numbers checked and located. */
static void scan(const char *s, size_t n, scan_result *r) {
  size_t i = 0;

  r->n_num = 0;
  r->bad = NULL;
  while (i < n && !r->bad) {
    if (s[i] == '"') {
      size_t len = string_len(s + i, n - i, r, i);
      i += len ? len : n;
    } else if (s[i] == '-' || (s[i] >= '0' && s[i] <= '9')) {
      size_t len = number_len(s + i, n - i);
      if (len == 0) {
        r->bad = "malformed number (JSON numbers look like -12, 0.5 or 1e-3)";
        r->bad_at = i;
        return;
      }
      if (r->num_at) r->num_at[r->n_num] = i;
      r->n_num++;
      i += len;
    } else {
      i++;
    }
  }
}


/* ======================================================================================= */
/* Decoding                                                                                */
/* ======================================================================================= */

/* Pushes nil and "json: what at byte N (line L, column C)"; returns 2 for `return`. */
static int decode_error(lua_State *L, const char *s, size_t at, const char *what) {
  size_t line = 1, col = 1;

  for (size_t i = 0; i < at; i++) {
    if (s[i] == '\n') { line++; col = 1; }
    else if (((unsigned char)s[i] & 0xC0) != 0x80) col++;
  }
  lua_pushnil(L);
  lua_pushfstring(L, "json: %s at byte %I (line %I, column %I)", what, (lua_Integer)at + 1,
                  (lua_Integer)line, (lua_Integer)col);
  return 2;
}


typedef struct {
  const char *text;
  size_t len;
  const size_t *num_at;
  size_t next_num;
} decoder;


/* Pushes the number whose text starts at the decoder's next number offset. */
static void push_number(lua_State *L, decoder *d, const cJSON *item) {
  const char *p = d->text + d->num_at[d->next_num++];
  size_t len = number_len(p, (size_t)(d->text + d->len - p));
  int is_int = memchr(p, '.', len) == NULL && memchr(p, 'e', len) == NULL &&
               memchr(p, 'E', len) == NULL;

  if (is_int) {
    char *end;
    errno = 0;
    long long v = strtoll(p, &end, 10);
    if (errno == 0 && end == p + len) {
      lua_pushinteger(L, (lua_Integer)v);
      return;
    }
  }
  lua_pushnumber(L, item->valuedouble);
}


static void push_value(lua_State *L, decoder *d, const cJSON *item);


/* Pushes an object table with its own metatable listing the keys in order. */
static void push_object(lua_State *L, decoder *d, const cJSON *item) {
  int n = cJSON_GetArraySize(item), n_keys = 0;

  lua_createtable(L, 0, n);
  lua_createtable(L, n, 0);
  for (const cJSON *c = item->child; c; c = c->next) {
    lua_pushstring(L, c->string);
    if (lua_rawget(L, -3) == LUA_TNIL) {
      lua_pushstring(L, c->string);
      lua_rawseti(L, -3, ++n_keys);
    }
    lua_pop(L, 1);
    lua_pushstring(L, c->string);
    push_value(L, d, c);
    lua_rawset(L, -4);
  }
  lua_createtable(L, 0, 2);
  lua_pushliteral(L, JSON_OBJECT);
  lua_setfield(L, -2, "__name");
  lua_insert(L, -2);
  lua_setfield(L, -2, "keys");
  lua_setmetatable(L, -2);
}


static void push_array(lua_State *L, decoder *d, const cJSON *item) {
  lua_Integer i = 0;

  lua_createtable(L, cJSON_GetArraySize(item), 0);
  for (const cJSON *c = item->child; c; c = c->next) {
    push_value(L, d, c);
    lua_rawseti(L, -2, ++i);
  }
  luaL_setmetatable(L, JSON_ARRAY);
}


static void push_value(lua_State *L, decoder *d, const cJSON *item) {
  luaL_checkstack(L, 8, "json: nesting too deep");
  if (cJSON_IsObject(item)) push_object(L, d, item);
  else if (cJSON_IsArray(item)) push_array(L, d, item);
  else if (cJSON_IsString(item)) lua_pushstring(L, item->valuestring);
  else if (cJSON_IsNumber(item)) push_number(L, d, item);
  else if (cJSON_IsBool(item)) lua_pushboolean(L, cJSON_IsTrue(item));
  else lua_pushlightuserdata(L, NULL);
}


/* Offset of the first byte that breaks UTF-8, or n when the text is valid. */
static size_t utf8_bad_at(const char *s, size_t n) {
  size_t i = 0;

  while (i < n) {
    utf8proc_int32_t cp;
    utf8proc_ssize_t len = utf8proc_iterate((const utf8proc_uint8_t *)s + i,
                                            (utf8proc_ssize_t)(n - i), &cp);
    if (len <= 0) return i;
    i += (size_t)len;
  }
  return n;
}


/* json_decode(text) -> value | nil, message */
static int json_decode(lua_State *L) {
  size_t n;
  const char *s = lqora_checktext(L, 1, &n);
  const char *end = NULL;
  scan_result r = {0};
  const char *nul = memchr(s, '\0', n);
  size_t bad = utf8_bad_at(s, nul ? (size_t)(nul - s) : n);

  if (nul && bad == (size_t)(nul - s)) return decode_error(L, s, bad, "NUL byte in the text");
  if (bad < n) return decode_error(L, s, bad, "invalid UTF-8");

  cJSON **tree = guard_new(L);
  *tree = cJSON_ParseWithLengthOpts(s, n + 1, &end, 1);  /* + 1: Lua strings end with NUL */
  if (*tree == NULL) {
    size_t at = end && end >= s && end <= s + n ? (size_t)(end - s) : n;
    return decode_error(L, s, at, at >= n ? "unexpected end of text" : "syntax error");
  }

  scan(s, n, &r);
  if (r.bad) return decode_error(L, s, r.bad_at, r.bad);
  r.num_at = lua_newuserdatauv(L, (r.n_num ? r.n_num : 1) * sizeof(size_t), 0);
  scan(s, n, &r);

  decoder d = { s, n, r.num_at, 0 };
  push_value(L, &d, *tree);
  cJSON_Delete(*tree);
  *tree = NULL;
  return 1;
}


/* ======================================================================================= */
/* Encoding                                                                                */
/* ======================================================================================= */

/* Where a new item goes: into parent (under key when parent is an object) or, for the root,
** into the guard box. Every item is attached as soon as it exists, so a Lua error raised
** while its children are encoded frees it with the rest of the tree. */
typedef struct {
  cJSON *parent;
  const char *key;
  cJSON **root;
} slot;


static cJSON *put(lua_State *L, const slot *at, cJSON *item) {
  if (item == NULL) luaL_error(L, "json: out of memory");
  if (at->parent == NULL) {
    *at->root = item;
    return item;
  }
  cJSON_bool ok = at->key ? cJSON_AddItemToObject(at->parent, at->key, item)
                          : cJSON_AddItemToArray(at->parent, item);
  if (!ok) {
    cJSON_Delete(item);
    luaL_error(L, "json: out of memory");
  }
  return item;
}


static void encode(lua_State *L, int idx, const slot *at, int depth);


/* An object key kept alive by its table while the keys are sorted. */
typedef struct {
  const char *s;
  size_t len;
} key_ref;


static int key_cmp(const void *a, const void *b) {
  const key_ref *x = a, *y = b;
  int c = memcmp(x->s, y->s, x->len < y->len ? x->len : y->len);
  return c ? c : (x->len > y->len) - (x->len < y->len);
}


/* Shortest text that reads back as the same double, marked as a float (1.0, not 1). */
static void format_float(char *buf, size_t size, double x) {
  for (int prec = 1; prec <= 17; prec++) {
    snprintf(buf, size, "%.*g", prec, x);
    if (strtod(buf, NULL) == x) break;
  }
  if (strchr(buf, 'e') && fabs(x) >= 1 && fabs(x) < 1e16)
    snprintf(buf, size, "%.0f", x);  /* 100.0 rather than 1e+02 */
  if (strpbrk(buf, ".e") == NULL) strncat(buf, ".0", size - strlen(buf) - 1);
}


static void encode_number(lua_State *L, int idx, const slot *at) {
  char buf[40];

  if (lua_isinteger(L, idx)) {
    snprintf(buf, sizeof buf, "%lld", (long long)lua_tointeger(L, idx));
  } else {
    double x = lua_tonumber(L, idx);
    if (!isfinite(x))   /* named here: %f writes NaN as "-nan" or "nan" */
      luaL_error(L, "json: cannot encode %s (JSON has no NaN or infinity)",
                 x != x ? "nan" : x > 0 ? "inf" : "-inf");
    format_float(buf, sizeof buf, x);
  }
  put(L, at, cJSON_CreateRaw(buf));
}


static void encode_string(lua_State *L, int idx, const slot *at) {
  size_t n;
  const char *s = lua_tolstring(L, idx, &n);
  size_t bad = utf8_bad_at(s, n);

  if (bad < n)
    luaL_error(L, "json: string is not valid UTF-8 at byte %I; convert it to UTF-8 first",
               (lua_Integer)bad + 1);
  if (strlen(s) != n) luaL_error(L, "json: strings with NUL bytes are not supported");
  put(L, at, cJSON_CreateString(s));
}


/* Length of t when it is a plain sequence 1..n with no other keys, else -1 (0 when empty). */
static lua_Integer sequence_len(lua_State *L, int t) {
  lua_Integer count = 0, max = 0;

  lua_pushnil(L);
  while (lua_next(L, t)) {
    lua_pop(L, 1);
    if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 1) {
      lua_pop(L, 1);
      return -1;
    }
    if (lua_tointeger(L, -1) > max) max = lua_tointeger(L, -1);
    count++;
  }
  return count == max ? count : -1;
}


static void encode_array(lua_State *L, int t, lua_Integer n, const slot *at, int depth) {
  cJSON *arr = put(L, at, cJSON_CreateArray());
  slot child = { arr, NULL, NULL };

  for (lua_Integer i = 1; i <= n; i++) {
    lua_rawgeti(L, t, i);
    encode(L, lua_gettop(L), &child, depth + 1);
    lua_pop(L, 1);
  }
}


/* The string at the top of the stack becomes a field of obj, its value taken from t. */
static void encode_field(lua_State *L, int t, cJSON *obj, int depth) {
  slot child = { obj, lua_tostring(L, -1), NULL };

  lua_pushvalue(L, -1);
  lua_rawget(L, t);
  if (!lua_isnil(L, -1)) encode(L, lua_gettop(L), &child, depth + 1);
  lua_pop(L, 1);
}


/* Pushes a set of the names in the keys list of t's object metatable (empty if none). */
static void push_listed(lua_State *L, int t) {
  lua_newtable(L);
  int kind = luaL_getmetafield(L, t, "keys");
  if (kind != LUA_TTABLE) {
    if (kind != LUA_TNIL) lua_pop(L, 1);
    return;
  }
  for (lua_Integer i = 1; lua_rawgeti(L, -1, i) != LUA_TNIL; i++) {
    if (lua_type(L, -1) != LUA_TSTRING) luaL_error(L, "json: object keys list holds a non-string");
    lua_pushboolean(L, 1);
    lua_rawset(L, -4);
  }
  lua_pop(L, 2);
}


/* Fields named in the keys list, in its order, then the other fields sorted by name. */
static void encode_object(lua_State *L, int t, const slot *at, int depth) {
  cJSON *obj = put(L, at, cJSON_CreateObject());
  size_t n_rest = 0;

  push_listed(L, t);
  int set = lua_gettop(L);
  int kind = luaL_getmetafield(L, t, "keys");
  if (kind == LUA_TTABLE) {
    for (lua_Integer i = 1; lua_rawgeti(L, -1, i) != LUA_TNIL; i++) {
      encode_field(L, t, obj, depth);
      lua_pop(L, 1);
    }
    lua_pop(L, 2);
  } else if (kind != LUA_TNIL) {
    lua_pop(L, 1);
  }

  lua_pushnil(L);
  while (lua_next(L, t)) {
    lua_pop(L, 1);
    if (lua_type(L, -1) != LUA_TSTRING)
      luaL_error(L, "json: a table with %s keys is neither an array nor an object",
                 luaL_typename(L, -1));
    lua_pushvalue(L, -1);
    if (lua_rawget(L, set) == LUA_TNIL) n_rest++;
    lua_pop(L, 1);
  }

  key_ref *rest = lua_newuserdatauv(L, (n_rest ? n_rest : 1) * sizeof(key_ref), 0);
  size_t k = 0;
  lua_pushnil(L);
  while (lua_next(L, t)) {
    lua_pop(L, 1);
    lua_pushvalue(L, -1);
    if (lua_rawget(L, set) == LUA_TNIL) {
      rest[k].s = lua_tolstring(L, -2, &rest[k].len);  /* kept alive by t itself */
      k++;
    }
    lua_pop(L, 1);
  }
  qsort(rest, n_rest, sizeof *rest, key_cmp);
  for (k = 0; k < n_rest; k++) {
    lua_pushlstring(L, rest[k].s, rest[k].len);
    encode_field(L, t, obj, depth);
    lua_pop(L, 1);
  }
  lua_pop(L, 2);
}


static void encode_table(lua_State *L, int t, const slot *at, int depth) {
  lua_Integer n;
  int kind = luaL_getmetafield(L, t, "__name");
  const char *name = kind == LUA_TSTRING ? lua_tostring(L, -1) : "";
  int is_array = strcmp(name, JSON_ARRAY) == 0, is_object = strcmp(name, JSON_OBJECT) == 0;

  if (kind != LUA_TNIL) lua_pop(L, 1);
  if (is_array) encode_array(L, t, (lua_Integer)lua_rawlen(L, t), at, depth);
  else if (!is_object && (n = sequence_len(L, t)) > 0) encode_array(L, t, n, at, depth);
  else encode_object(L, t, at, depth);
}


static void encode(lua_State *L, int idx, const slot *at, int depth) {
  if (depth > JSON_MAXDEPTH)
    luaL_error(L, "json: nesting deeper than %d (does a table contain itself?)", JSON_MAXDEPTH);
  luaL_checkstack(L, 8, "json: nesting too deep");

  switch (lua_type(L, idx)) {
  case LUA_TNIL: put(L, at, cJSON_CreateNull()); break;
  case LUA_TBOOLEAN: put(L, at, cJSON_CreateBool(lua_toboolean(L, idx))); break;
  case LUA_TNUMBER: encode_number(L, idx, at); break;
  case LUA_TSTRING: encode_string(L, idx, at); break;
  case LUA_TTABLE: encode_table(L, idx, at, depth); break;
  case LUA_TLIGHTUSERDATA:
    if (lua_touserdata(L, idx) == NULL) {
      put(L, at, cJSON_CreateNull());
      break;
    }
    /* fall through */
  default:
    luaL_error(L, "json: cannot encode a %s value", luaL_typename(L, idx));
  }
}


/* json_encode(value) -> string; raises an error for values JSON cannot hold */
static int json_encode(lua_State *L) {
  luaL_checkany(L, 1);
  lua_settop(L, 1);
  cJSON **tree = guard_new(L);
  slot root = { NULL, NULL, tree };

  encode(L, 1, &root, 0);
  char *text = cJSON_PrintUnformatted(*tree);
  if (text == NULL) return luaL_error(L, "json: out of memory");
  lua_pushstring(L, text);
  cJSON_free(text);
  cJSON_Delete(*tree);
  *tree = NULL;
  return 1;
}


/* ======================================================================================= */
/* Opener                                                                                  */
/* ======================================================================================= */

void lqora_open_json(lua_State *L) {
  luaL_newmetatable(L, JSON_GUARD);
  lua_pushcfunction(L, guard_gc);
  lua_setfield(L, -2, "__gc");
  lua_pop(L, 1);

  lua_pushcfunction(L, json_decode);
  lua_setfield(L, -2, "json_decode");
  lua_pushcfunction(L, json_encode);
  lua_setfield(L, -2, "json_encode");
  lua_pushlightuserdata(L, NULL);
  lua_setfield(L, -2, "json_null");
  luaL_newmetatable(L, JSON_ARRAY);
  lua_setfield(L, -2, "json_array");
}
