/*
** test_gguf_write.c: the GGUF writer. A file with every value type and a few tensors is read
** back with the reader; a minimal file is compared byte for byte with one assembled by hand
** from the format's description; misuse is refused with a message and leaves no file.
*/
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "gguf.h"
#include "gguf_write.h"
#include "tap.h"

static char dir[] = "/tmp/qora-gguf-write-XXXXXX";
static char path[256];


static int exists(const char *p) {
  struct stat st;

  return stat(p, &st) == 0;
}


static int is_kind(const char *p, mode_t kind) {
  struct stat st;

  return lstat(p, &st) == 0 && (st.st_mode & S_IFMT) == kind;
}


static const char *at(const char *name) {
  snprintf(path, sizeof path, "%s/%s", dir, name);
  return path;
}


/* Tensor data: byte i of tensor k is (k * 31 + i) mod 251, easy to check and never periodic
** with the alignment. */
static void fill(uint8_t *p, size_t n, int k) {
  for (size_t i = 0; i < n; i++)
    p[i] = (uint8_t)((k * 31 + i) % 251);
}


static int check_fill(const uint8_t *p, size_t n, int k) {
  for (size_t i = 0; i < n; i++)
    if (p[i] != (uint8_t)((k * 31 + i) % 251)) {
      TAP_DIAG("tensor %d byte %zu: expected %d, got %d", k, i, (k * 31 + (int)i) % 251, p[i]);
      return 0;
    }
  return 1;
}


/* --------------------------------------------------------- every value type */

static const char *const WORDS[] = {"", "hello", "h\xc3\xa9llo w\xc3\xb6rld", "<|im_end|>"};

static void set_all_types(gguf_writer *w, qora_err *err) {
  static const int16_t i16s[] = {-32768, -1, 0, 32767};
  static const uint64_t u64s[] = {0, 1, UINT64_MAX};
  static const double f64s[] = {-0.5, 1e300};
  static const uint8_t bools[] = {1, 0, 1};
  static const float f32s[] = {1.5f, -2.25f};
  static const int32_t none[1];

  gguf_writer_set_str(w, "general.architecture", "test", err);
  gguf_writer_set_u8(w, "t.u8", 250, err);
  gguf_writer_set_i8(w, "t.i8", -120, err);
  gguf_writer_set_u16(w, "t.u16", 65000, err);
  gguf_writer_set_i16(w, "t.i16", -32000, err);
  gguf_writer_set_u32(w, "t.u32", 4000000000u, err);
  gguf_writer_set_i32(w, "t.i32", -2000000000, err);
  gguf_writer_set_u64(w, "t.u64", UINT64_C(18000000000000000000), err);
  gguf_writer_set_i64(w, "t.i64", INT64_C(-9000000000000000000), err);
  gguf_writer_set_f32(w, "t.f32", 0.1f, err);
  gguf_writer_set_f64(w, "t.f64", 0.1, err);
  gguf_writer_set_bool(w, "t.bool", 1, err);
  gguf_writer_set_strn(w, "t.nul", "a\0b", 3, err);
  gguf_writer_set_arr(w, "t.arr_i16", GGUF_I16, i16s, 4, err);
  gguf_writer_set_arr(w, "t.arr_u64", GGUF_U64, u64s, 3, err);
  gguf_writer_set_arr(w, "t.arr_f64", GGUF_F64, f64s, 2, err);
  gguf_writer_set_arr(w, "t.arr_bool", GGUF_BOOL, bools, 3, err);
  gguf_writer_set_arr(w, "t.arr_f32", GGUF_F32, f32s, 2, err);
  gguf_writer_set_arr(w, "t.arr_empty", GGUF_I32, none, 0, err);
  gguf_writer_set_str_arr(w, "t.arr_str", WORDS, NULL, 4, err);
  gguf_writer_set_u32(w, "t.replaced", 1, err);
  gguf_writer_set_str(w, "t.removed", "gone", err);
  gguf_writer_set_u32(w, "t.replaced", 2, err);
  gguf_writer_remove(w, "t.removed");
}


static int scalar_is(const gguf_file *f, const char *key, uint32_t type, const void *v, size_t n) {
  const gguf_kv *kv = gguf_find(f, key);
  int ok = kv && kv->type == type && kv->nbytes == n && memcmp(kv->data, v, n) == 0;

  if (!ok)
    TAP_DIAG("%s: type %d, %llu bytes", key, kv ? (int)kv->type : -1,
             kv ? (unsigned long long)kv->nbytes : 0ull);
  return ok;
}


static void check_all_types(const gguf_file *f) {
  uint8_t u8 = 250; int8_t i8 = -120; uint16_t u16 = 65000; int16_t i16 = -32000;
  uint32_t u32 = 4000000000u; int32_t i32 = -2000000000;
  uint64_t u64 = UINT64_C(18000000000000000000); int64_t i64 = INT64_C(-9000000000000000000);
  float f32 = 0.1f; double f64 = 0.1; uint8_t b = 1;
  const gguf_kv *kv;
  gguf_str s, strs[4];
  qora_err err;

  TAP_OK(scalar_is(f, "t.u8", GGUF_U8, &u8, 1) && scalar_is(f, "t.i8", GGUF_I8, &i8, 1) &&
         scalar_is(f, "t.u16", GGUF_U16, &u16, 2) && scalar_is(f, "t.i16", GGUF_I16, &i16, 2) &&
         scalar_is(f, "t.u32", GGUF_U32, &u32, 4) && scalar_is(f, "t.i32", GGUF_I32, &i32, 4),
         "reads back 8, 16 and 32-bit integers with their types");
  TAP_OK(scalar_is(f, "t.u64", GGUF_U64, &u64, 8) && scalar_is(f, "t.i64", GGUF_I64, &i64, 8) &&
         scalar_is(f, "t.f32", GGUF_F32, &f32, 4) && scalar_is(f, "t.f64", GGUF_F64, &f64, 8) &&
         scalar_is(f, "t.bool", GGUF_BOOL, &b, 1),
         "reads back 64-bit integers, floats, doubles and booleans bit for bit");
  TAP_OK(gguf_get_str(f, "general.architecture", &s, &err) == 1 && gguf_str_eq(s, "test"),
         "reads back a string");
  TAP_OK(gguf_get_str(f, "t.nul", &s, &err) == 1 && s.len == 3 && memcmp(s.ptr, "a\0b", 3) == 0,
         "keeps a NUL inside a string given with its length");
  kv = gguf_find(f, "t.arr_i16");
  TAP_OK(kv && kv->type == GGUF_ARRAY && kv->arr_type == GGUF_I16 && kv->n == 4 &&
         gguf_arr_int(kv, 0) == -32768 && gguf_arr_int(kv, 3) == 32767, "reads an i16 array");
  kv = gguf_find(f, "t.arr_u64");
  TAP_OK(kv && kv->arr_type == GGUF_U64 && kv->n == 3 && kv->nbytes == 24 &&
         memcmp((const uint8_t *)kv->data + 16, &(uint64_t){UINT64_MAX}, 8) == 0,
         "reads a u64 array");
  kv = gguf_find(f, "t.arr_f64");
  TAP_OK(kv && kv->arr_type == GGUF_F64 && gguf_arr_float(kv, 0) == -0.5 &&
         gguf_arr_float(kv, 1) == 1e300, "reads an f64 array");
  kv = gguf_find(f, "t.arr_f32");
  TAP_OK(kv && kv->arr_type == GGUF_F32 && gguf_arr_float(kv, 1) == -2.25, "reads an f32 array");
  kv = gguf_find(f, "t.arr_bool");
  TAP_OK(kv && kv->arr_type == GGUF_BOOL && kv->n == 3 && memcmp(kv->data, "\1\0\1", 3) == 0,
         "reads a bool array");
  kv = gguf_find(f, "t.arr_empty");
  TAP_OK(kv && kv->arr_type == GGUF_I32 && kv->n == 0 && kv->nbytes == 0, "reads an empty array");
  kv = gguf_find(f, "t.arr_str");
  TAP_OK(kv && kv->arr_type == GGUF_STRING && kv->n == 4 && gguf_str_array(kv, strs, &err) == 0 &&
         strs[0].len == 0 && gguf_str_eq(strs[1], "hello") && gguf_str_eq(strs[2], WORDS[2]) &&
         gguf_str_eq(strs[3], "<|im_end|>"), "reads an array of strings, the empty one too");
  TAP_OK(gguf_get_u32(f, "t.replaced", &u32, &err) == 1 && u32 == 2 &&
         gguf_str_eq(f->kv[20].key, "t.replaced") && gguf_find(f, "t.removed") == NULL &&
         f->n_kv == 21, "a replaced key keeps its place and value count; a removed key is gone");
}


/* ------------------------------------------------------------------ tensors */

/* Shapes and sizes: a Q4_0 matrix, a 3-D F32 tensor, an F16 vector of odd byte count. */
static const struct { const char *name; uint32_t type, n_dims; uint64_t ne[4], nbytes; } TS[] = {
  {"blk.0.attn_q.weight", QORA_Q4_0, 2, {64, 3}, 3 * 2 * 18},
  {"cube", QORA_F32, 3, {5, 2, 3}, 30 * 4},
  {"odd.f16", QORA_F16, 1, {7}, 14},
};
#define N_TS 3


static int add_tensors(gguf_writer *w, qora_err *err) {
  for (int k = 0; k < N_TS; k++)
    if (gguf_writer_add_tensor(w, TS[k].name, TS[k].type, TS[k].n_dims, TS[k].ne,
                               TS[k].nbytes, err) != 0)
      return -1;
  return 0;
}


/* Streams all tensors' bytes in pieces of `piece` bytes that cross tensor boundaries. */
static int stream(gguf_writer *w, size_t piece, qora_err *err) {
  uint8_t all[1024];
  size_t n = 0;

  for (int k = 0; k < N_TS; k++) {
    fill(all + n, TS[k].nbytes, k);
    n += TS[k].nbytes;
  }
  for (size_t i = 0; i < n; i += piece)
    if (gguf_writer_write(w, all + i, i + piece < n ? piece : n - i, err) != 0)
      return -1;
  return 0;
}


static void check_tensors(const gguf_file *f, uint64_t align) {
  int ok = f->n_tensors == N_TS && f->data_offset % align == 0;

  for (int k = 0; ok && k < N_TS; k++) {
    const gguf_tensor *t = gguf_find_tensor(f, TS[k].name);
    ok = t && t->type == TS[k].type && t->n_dims == TS[k].n_dims && t->offset % align == 0 &&
         t->nbytes == TS[k].nbytes && t->data && check_fill(t->data, t->nbytes, k);
    for (uint32_t d = 0; ok && d < 4; d++)
      ok = t->ne[d] == (d < TS[k].n_dims ? TS[k].ne[d] : 1);
  }
  TAP_OK(ok, "reads back %d tensors with shapes, types and data, aligned to %llu", N_TS,
         (unsigned long long)align);
}


static void test_round_trip(uint32_t align, size_t piece) {
  qora_err err = {{0}};
  gguf_writer *w = gguf_writer_new(&err);
  gguf_file *f;
  struct stat st;

  set_all_types(w, &err);
  if (align)
    gguf_writer_set_u32(w, "general.alignment", align, &err);
  int ok = add_tensors(w, &err) == 0 && gguf_writer_begin(w, at("all.gguf"), &err) == 0 &&
           stream(w, piece, &err) == 0 && gguf_writer_finish(w, &err) == 0;
  TAP_OK(ok, "writes metadata of every type and 3 tensors in pieces of %zu bytes", piece);
  if (!ok)
    TAP_DIAG("%s", err.msg);
  TAP_OK(stat(path, &st) == 0 && (uint64_t)st.st_size == gguf_writer_file_size(w) &&
         !exists(at("all.gguf.tmp")), "the file has the announced size and no .tmp is left");
  gguf_writer_free(w);
  f = gguf_open(at("all.gguf"), &err);
  if (!TAP_OK(f != NULL, "the reader opens it")) {
    TAP_DIAG("%s", err.msg);
    return;
  }
  if (align == 0)
    check_all_types(f);
  check_tensors(f, align ? align : 32);
  gguf_close(f);
}


/* ------------------------------------------------------------ exact bytes */

/* The smallest useful file, assembled by hand from the GGUF description. */
static void test_exact_bytes(void) {
  static const uint8_t want[] = {
    'G', 'G', 'U', 'F', 3, 0, 0, 0,                  /* magic, version 3 */
    1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0,  /* 1 tensor, 1 key */
    1, 0, 0, 0, 0, 0, 0, 0, 'k', 4, 0, 0, 0, 7, 0, 0, 0,  /* "k": u32 7 */
    1, 0, 0, 0, 0, 0, 0, 0, 't', 1, 0, 0, 0,         /* "t", 1 dimension */
    3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,              /* ne 3, type F32 */
    0, 0, 0, 0, 0, 0, 0, 0,                          /* offset 0 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,  /* pad 74 to 96 */
    1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,           /* data */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,  /* pad to 32 */
  };
  static const uint8_t data[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
  qora_err err = {{0}};
  gguf_writer *w = gguf_writer_new(&err);
  uint8_t got[256];
  size_t n = 0;
  FILE *f;

  gguf_writer_set_u32(w, "k", 7, &err);
  gguf_writer_add_tensor(w, "t", QORA_F32, 1, (uint64_t[]){3}, 12, &err);
  gguf_writer_begin(w, at("tiny.gguf"), &err);
  gguf_writer_write(w, data, 12, &err);
  gguf_writer_finish(w, &err);
  gguf_writer_free(w);
  f = fopen(path, "rb");
  if (f) {
    n = fread(got, 1, sizeof got, f);
    fclose(f);
  }
  size_t i = 0;
  while (i < n && i < sizeof want && got[i] == want[i])
    i++;
  if (!TAP_OK(n == sizeof want && i == n, "writes exactly the bytes the format describes"))
    TAP_DIAG("%zu bytes (want %zu); first difference at byte %zu", n, sizeof want, i);
}


/* ------------------------------------------------------------- copying keys */

static void test_copy(void) {
  qora_err err = {{0}};
  gguf_file *src = gguf_open(at("all.gguf"), &err), *dst;
  gguf_writer *w = gguf_writer_new(&err);
  int ok = src != NULL;

  for (uint64_t i = 0; ok && i < src->n_kv; i++)
    ok = gguf_writer_copy_kv(w, &src->kv[i], &err) == 0;
  ok = ok && gguf_writer_begin(w, at("copy.gguf"), &err) == 0 &&
       gguf_writer_finish(w, &err) == 0;
  gguf_writer_free(w);
  dst = ok ? gguf_open(path, &err) : NULL;
  ok = dst && dst->n_kv == src->n_kv && dst->n_tensors == 0;
  for (uint64_t i = 0; ok && i < src->n_kv; i++) {
    const gguf_kv *a = &src->kv[i], *b = &dst->kv[i];
    ok = a->key.len == b->key.len && !memcmp(a->key.ptr, b->key.ptr, a->key.len) &&
         a->type == b->type && a->arr_type == b->arr_type && a->n == b->n &&
         a->nbytes == b->nbytes && !memcmp(a->data, b->data, a->nbytes);
    if (!ok)
      TAP_DIAG("key %llu (%.*s) differs", (unsigned long long)i, (int)a->key.len, a->key.ptr);
  }
  if (!TAP_OK(ok, "copies every key of a file, of every type, unchanged and in order"))
    TAP_DIAG("%s", err.msg);
  gguf_close(src);
  gguf_close(dst);
}


/* ------------------------------------------------------------------ misuse */

static void test_misuse(void) {
  qora_err err = {{0}};
  gguf_writer *w = gguf_writer_new(&err);
  uint64_t ne[2] = {32, 2}, zero[1] = {0};
  char long_name[80], tmp_of_dir[sizeof dir + 4], slashed[sizeof dir + 1];
  char hint[sizeof dir + 16];

  memset(long_name, 'x', 64);
  long_name[64] = '\0';
  TAP_OK(gguf_writer_add_tensor(w, "a", QORA_Q4_0, 2, ne, 36, &err) == 0 &&
         gguf_writer_add_tensor(w, "a", QORA_Q4_0, 2, ne, 36, &err) == -1 &&
         strstr(err.msg, "twice"), "refuses a tensor name given twice: %s", err.msg);
  TAP_OK(gguf_writer_add_tensor(w, long_name, QORA_F32, 1, ne, 128, &err) == -1 &&
         strstr(err.msg, "63"), "refuses a name llama.cpp could not read: %s", err.msg);
  TAP_OK(gguf_writer_add_tensor(w, "b", QORA_F32, 5, ne, 4, &err) == -1 &&
         gguf_writer_add_tensor(w, "b", QORA_F32, 1, zero, 0, &err) == -1,
         "refuses 5 dimensions and an empty dimension");
  TAP_OK(gguf_writer_add_tensor(w, "c", QORA_Q4_0, 2, ne, 35, &err) == -1 &&
         strstr(err.msg, "need 36"), "refuses a size its shape and type disagree with: %s",
         err.msg);
  TAP_OK(gguf_writer_set_arr(w, "s", GGUF_STRING, "x", 1, &err) == -1 &&
         gguf_writer_set_arr(w, "b", GGUF_BOOL, "\2", 1, &err) == -1 &&
         gguf_writer_set_u32(w, "", 1, &err) == -1,
         "refuses a string array as numbers, a boolean of 2 and an empty key");
  gguf_writer_set_u32(w, "general.alignment", 24, &err);
  TAP_OK(gguf_writer_begin(w, at("bad.gguf"), &err) == -1 && strstr(err.msg, "power of two"),
         "refuses an alignment that is not a power of two: %s", err.msg);
  gguf_writer_set_u32(w, "general.alignment", 4, &err);
  TAP_OK(gguf_writer_begin(w, at("bad.gguf"), &err) == -1 && strstr(err.msg, "at least 8"),
         "refuses an alignment below GGUF's 8, which readers refuse: %s", err.msg);
  gguf_writer_set_u32(w, "general.alignment", 64, &err);
  TAP_OK(gguf_writer_begin(w, at("bad.gguf"), &err) == 0 &&
         gguf_writer_set_u32(w, "late", 1, &err) == -1 && strstr(err.msg, "begin"),
         "refuses metadata after begin: %s", err.msg);
  TAP_OK(gguf_writer_write(w, long_name, 32, &err) == 0 &&
         gguf_writer_finish(w, &err) == -1 && strstr(err.msg, "got 32 of its 36"),
         "refuses to finish with missing bytes: %s", err.msg);
  gguf_writer_free(w);
  TAP_OK(!exists(at("bad.gguf")) && !exists(at("bad.gguf.tmp")),
         "a failed file leaves neither the file nor its .tmp");

  w = gguf_writer_new(&err);
  gguf_writer_add_tensor(w, "a", QORA_F32, 1, ne, 128, &err);
  TAP_OK(gguf_writer_begin(w, at("over.gguf"), &err) == 0 &&
         gguf_writer_write(w, long_name, 64, &err) == 0 &&
         gguf_writer_write(w, long_name, 65, &err) == -1 && strstr(err.msg, "beyond"),
         "refuses bytes beyond the last tensor: %s", err.msg);
  gguf_writer_free(w);
  w = gguf_writer_new(&err);
  snprintf(tmp_of_dir, sizeof tmp_of_dir, "%s.tmp", dir);
  TAP_OK(gguf_writer_begin(w, dir, &err) == -1 && strstr(err.msg, "folder") &&
         !exists(tmp_of_dir), "refuses a folder before writing anything: %s", err.msg);
  gguf_writer_free(w);
  w = gguf_writer_new(&err);
  snprintf(slashed, sizeof slashed, "%s/", dir);
  snprintf(hint, sizeof hint, "%s/model.gguf", dir);
  TAP_OK(gguf_writer_begin(w, slashed, &err) == -1 && strstr(err.msg, hint) &&
         !strstr(err.msg, "//model.gguf"), "names a file in a folder given with its slash: %s",
         err.msg);
  gguf_writer_free(w);
  w = gguf_writer_new(&err);
  TAP_OK(gguf_writer_begin(w, "", &err) == -1 && strstr(err.msg, "no file name given") &&
         !exists(".tmp"), "refuses an empty path before writing anything: %s", err.msg);
  gguf_writer_free(w);
  w = gguf_writer_new(&err);
  TAP_OK(gguf_writer_begin(w, "/nonexistent-dir/x.gguf", &err) == -1 &&
         strstr(err.msg, "/nonexistent-dir/x.gguf.tmp"), "names a path it cannot create: %s",
         err.msg);
  gguf_writer_free(w);
}


/* Saves a one-tensor file over name, of kind (made by the caller); 1 when it is refused,
** the thing there is left as it was and no .tmp is left. */
static int refuses_over(const char *name, mode_t kind, qora_err *err) {
  gguf_writer *w = gguf_writer_new(err);
  uint64_t ne[1] = {8};
  float data[8] = {0};
  char tmp[sizeof path + 4];
  int refused;

  gguf_writer_add_tensor(w, "a", QORA_F32, 1, ne, 32, err);
  refused = gguf_writer_begin(w, at(name), err) == -1;
  if (!refused) {
    gguf_writer_write(w, data, sizeof data, err);
    gguf_writer_finish(w, err);
  }
  gguf_writer_free(w);
  snprintf(tmp, sizeof tmp, "%s.tmp", at(name));
  return refused && is_kind(at(name), kind) && !exists(tmp);
}


/* A FIFO or a device named by mistake (/dev/null) must not be replaced by a regular file. */
static void test_special_targets(void) {
  qora_err err = {{0}};

  TAP_OK(mkfifo(at("pipe.gguf"), 0600) == 0 && refuses_over("pipe.gguf", S_IFIFO, &err) &&
         strstr(err.msg, "it is a named pipe (FIFO), which saving would replace"),
         "refuses a FIFO before writing anything, and leaves it: %s", err.msg);
  unlink(at("pipe.gguf"));
  TAP_OK(mkfifo(at("pipe.gguf"), 0600) == 0 && symlink("pipe.gguf", at("link.gguf")) == 0 &&
         !refuses_over("link.gguf", S_IFREG, &err) && is_kind(at("link.gguf"), S_IFREG) &&
         is_kind(at("pipe.gguf"), S_IFIFO),
         "saves over a symbolic link to a FIFO, leaving the FIFO as it was");
  unlink(at("link.gguf"));
  unlink(at("pipe.gguf"));
  if (geteuid() != 0) {
    TAP_OK(1, "refuses a character device # SKIP only root makes one");
    return;
  }
  err.msg[0] = '\0';
  TAP_OK(mknod(at("null.gguf"), S_IFCHR | 0600, makedev(1, 3)) == 0 &&
         refuses_over("null.gguf", S_IFCHR, &err) && strstr(err.msg, "a character device"),
         "refuses a character device (a null device made here) and leaves it: %s", err.msg);
  unlink(at("null.gguf"));
}


/* A symbolic link where PATH.tmp goes would take the file's bytes to what it points to. */
static void test_tmp_in_the_way(void) {
  qora_err err = {{0}};
  gguf_writer *w = gguf_writer_new(&err);
  uint64_t ne[1] = {8};
  char victim[sizeof path], got[8] = "";
  FILE *f = fopen(at("victim"), "w");
  int begun;

  snprintf(victim, sizeof victim, "%s", path);
  fputs("keep", f);
  fclose(f);
  symlink("victim", at("x.gguf.tmp"));
  gguf_writer_add_tensor(w, "a", QORA_F32, 1, ne, 32, &err);
  begun = gguf_writer_begin(w, at("x.gguf"), &err) == 0;
  gguf_writer_free(w);
  f = fopen(victim, "r");
  fread(got, 1, sizeof got - 1, f);
  fclose(f);
  TAP_OK(!begun && strstr(err.msg, "x.gguf.tmp, where the file is written first, is a symbolic "
                          "link; remove it") && strcmp(got, "keep") == 0,
         "refuses a symbolic link where the .tmp goes, and writes nothing through it: %s",
         err.msg);
  unlink(at("x.gguf.tmp"));
  unlink(victim);
}


int main(void) {
  if (mkdtemp(dir) == NULL) {
    printf("Bail out! cannot make a temporary folder\n");
    return 1;
  }
  test_round_trip(0, 7);
  test_round_trip(64, 1000);
  test_round_trip(8, 1);
  test_exact_bytes();
  test_copy();
  test_misuse();
  test_special_targets();
  test_tmp_in_the_way();
  const char *names[] = {"all.gguf", "tiny.gguf", "copy.gguf"};
  for (int i = 0; i < 3; i++)
    unlink(at(names[i]));
  rmdir(dir);
  return tap_done();
}
