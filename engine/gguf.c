/*
** gguf.c: reading GGUF files. The layout (https://github.com/ggml-org/ggml/blob/master/docs/
** gguf.md): magic "GGUF", version, tensor count, metadata count, the metadata, the tensor
** infos, padding to the alignment, then the tensor data. All numbers little-endian.
** gguf_open walks everything once and checks it against the file size, so later accessors
** only follow pointers that are known to lie inside the map.
*/
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "err.h"
#include "fileio.h"
#include "gguf.h"
#include "quant.h"

#define GGUF_MAGIC "GGUF"
#define GGUF_DEFAULT_ALIGNMENT 32
#define GGUF_MAX_DIMS 4
#define GGUF_MAX_ELEMS (UINT64_C(1) << 50)  /* far above any real tensor; keeps sizes exact */

/* A cursor over the file image; every read checks the bytes left. */
typedef struct cursor {
  const uint8_t *base;
  uint64_t size;
  uint64_t pos;
  qora_err *err;
  const char *what;         /* what is being read, for messages */
} cursor;

static const size_t vtype_size[GGUF_VTYPE_COUNT] = {
  [GGUF_U8] = 1, [GGUF_I8] = 1, [GGUF_U16] = 2, [GGUF_I16] = 2, [GGUF_U32] = 4,
  [GGUF_I32] = 4, [GGUF_F32] = 4, [GGUF_BOOL] = 1, [GGUF_U64] = 8, [GGUF_I64] = 8,
  [GGUF_F64] = 8,
};

/* ------------------------------------------------------------------ reading */

static int need(cursor *c, uint64_t n) {
  if (n > c->size - c->pos)
    return qora_fail(c->err, "%s at byte %llu runs past the end of the file (%llu bytes); "
                     "the file is cut short or corrupt; copy or download it again", c->what,
                     (unsigned long long)c->pos, (unsigned long long)c->size);
  return 0;
}


static int read_bytes(cursor *c, void *out, uint64_t n) {
  if (need(c, n) < 0)
    return -1;
  memcpy(out, c->base + c->pos, n);
  c->pos += n;
  return 0;
}


static int read_u32(cursor *c, uint32_t *v) {
  return read_bytes(c, v, 4);
}


static int read_u64(cursor *c, uint64_t *v) {
  return read_bytes(c, v, 8);
}


static int read_str(cursor *c, gguf_str *s) {
  uint64_t len;

  if (read_u64(c, &len) < 0 || need(c, len) < 0)
    return -1;
  s->ptr = (const char *)c->base + c->pos;
  s->len = len;
  c->pos += len;
  return 0;
}


/* Skips over one array's elements, checking each string. */
static int skip_array(cursor *c, gguf_kv *kv) {
  uint64_t size;

  if (kv->arr_type >= GGUF_VTYPE_COUNT || kv->arr_type == GGUF_ARRAY)
    return qora_fail(c->err, "metadata %.*s: arrays of type %u are not supported",
                     (int)kv->key.len, kv->key.ptr, kv->arr_type);
  if (kv->arr_type == GGUF_STRING) {
    gguf_str s;
    for (uint64_t i = 0; i < kv->n; i++)
      if (read_str(c, &s) < 0)
        return -1;
    return 0;
  }
  size = vtype_size[kv->arr_type];
  if (kv->n > (c->size - c->pos) / size)
    return need(c, UINT64_MAX);
  c->pos += kv->n * size;
  return 0;
}


static int read_value(cursor *c, gguf_kv *kv) {
  uint64_t start;

  if (read_u32(c, &kv->type) < 0)
    return -1;
  kv->n = 1;
  if (kv->type == GGUF_ARRAY) {
    if (read_u32(c, &kv->arr_type) < 0 || read_u64(c, &kv->n) < 0)
      return -1;
    start = c->pos;
    kv->data = c->base + start;
    if (skip_array(c, kv) < 0)
      return -1;
  } else if (kv->type == GGUF_STRING) {
    gguf_str s;
    start = c->pos;
    kv->data = c->base + start;
    if (read_str(c, &s) < 0)
      return -1;
  } else if (kv->type < GGUF_VTYPE_COUNT) {
    start = c->pos;
    kv->data = c->base + start;
    if (need(c, vtype_size[kv->type]) < 0)
      return -1;
    c->pos += vtype_size[kv->type];
  } else {
    return qora_fail(c->err, "metadata %.*s has unknown value type %u; is this a GGUF file "
                     "from a newer writer?", (int)kv->key.len, kv->key.ptr, kv->type);
  }
  kv->nbytes = c->pos - start;
  return 0;
}


static int read_kvs(cursor *c, gguf_file *f) {
  /* The smallest entry is a key length, a type and one byte. */
  if (f->n_kv > (c->size - c->pos) / 13)
    return qora_fail(c->err, "header claims %llu metadata entries, more than the file (%llu "
                     "bytes) can hold: it is cut short or corrupt; copy or download it again",
                     (unsigned long long)f->n_kv, (unsigned long long)c->size);
  f->kv = calloc(f->n_kv ? f->n_kv : 1, sizeof *f->kv);
  if (f->kv == NULL)
    return qora_fail(c->err, "out of memory reading metadata");
  for (uint64_t i = 0; i < f->n_kv; i++) {
    gguf_kv *kv = &f->kv[i];
    c->what = "a metadata key";
    if (read_str(c, &kv->key) < 0)
      return -1;
    c->what = "a metadata value";
    if (read_value(c, kv) < 0)
      return -1;
  }
  return 0;
}


/* Orders strings by length, then by their bytes. */
static int str_order(const void *a, const void *b) {
  const gguf_str *x = *(const gguf_str *const *)a, *y = *(const gguf_str *const *)b;

  if (x->len != y->len)
    return x->len < y->len ? -1 : 1;
  return memcmp(x->ptr, y->ptr, x->len);
}


/*
** The n strings at base, stride bytes apart, sorted by str_order into *index (which the caller
** frees); *dup is set to one that appears twice, or to NULL. Sorting keeps a hostile file of a
** million names from costing a million squared comparisons, here and in every later lookup.
*/
static int sort_names(const void *base, uint64_t n, size_t stride, const gguf_str ***index,
                      const gguf_str **dup, qora_err *err) {
  const gguf_str **order = malloc((n ? n : 1) * sizeof *order);

  *index = order;
  *dup = NULL;
  if (order == NULL)
    return qora_fail(err, "out of memory checking names");
  for (uint64_t i = 0; i < n; i++)
    order[i] = (const gguf_str *)((const uint8_t *)base + i * stride);
  qsort(order, n, sizeof *order, str_order);
  for (uint64_t i = 1; i < n && *dup == NULL; i++)
    if (str_order(&order[i - 1], &order[i]) == 0)
      *dup = order[i];
  return 0;
}


static int check_keys(gguf_file *f, qora_err *err) {
  const gguf_str *dup;

  if (sort_names(&f->kv->key, f->n_kv, sizeof *f->kv, &f->key_index, &dup, err) < 0)
    return -1;
  if (dup != NULL)
    return qora_fail(err, "metadata key %.*s appears twice; the file is corrupt",
                     (int)dup->len, dup->ptr);
  return 0;
}


/* ------------------------------------------------------------------ tensors */

static int read_tensor_info(cursor *c, gguf_tensor *t) {
  uint64_t elems = 1;

  c->what = "a tensor name";
  if (read_str(c, &t->name) < 0)
    return -1;
  c->what = "a tensor description";
  if (read_u32(c, &t->n_dims) < 0)
    return -1;
  if (t->n_dims < 1 || t->n_dims > GGUF_MAX_DIMS)
    return qora_fail(c->err, "tensor %.*s has %u dimensions; GGUF allows 1 to 4",
                     (int)t->name.len, t->name.ptr, t->n_dims);
  for (int d = 0; d < GGUF_MAX_DIMS; d++)
    t->ne[d] = 1;
  for (uint32_t d = 0; d < t->n_dims; d++) {
    if (read_u64(c, &t->ne[d]) < 0)
      return -1;
    if (t->ne[d] == 0 || t->ne[d] > GGUF_MAX_ELEMS / elems)
      return qora_fail(c->err, "tensor %.*s has an impossible shape: %s %u is %llu%s",
                       (int)t->name.len, t->name.ptr, t->ne[d] ? "with it, dimension" :
                       "dimension", d, (unsigned long long)t->ne[d],
                       t->ne[d] ? " and the tensor would be too large" : "");
    elems *= t->ne[d];
  }
  if (read_u32(c, &t->type) < 0 || read_u64(c, &t->offset) < 0)
    return -1;
  return 0;
}


/* Sizes a tensor and checks that its bytes lie inside the data section. */
static int place_tensor(const gguf_file *f, gguf_tensor *t, qora_err *err) {
  const qora_type_traits *tt = qora_type_get((int)t->type);
  uint64_t blck, elems = t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3];

  if (t->offset % f->alignment)
    return qora_fail(err, "tensor %.*s starts at offset %llu, not a multiple of the file's "
                     "alignment %llu; the file is corrupt", (int)t->name.len, t->name.ptr,
                     (unsigned long long)t->offset, (unsigned long long)f->alignment);
  if (tt == NULL)
    return 0;               /* the model loader names the unsupported type */
  blck = (uint64_t)tt->blck;
  if (t->ne[0] % blck)
    return qora_fail(err, "tensor %.*s: rows of %llu values do not split into blocks of %llu",
                     (int)t->name.len, t->name.ptr, (unsigned long long)t->ne[0],
                     (unsigned long long)blck);
  t->nbytes = elems / blck * tt->type_size;
  if (t->offset > f->size - f->data_offset || t->nbytes > f->size - f->data_offset - t->offset)
    return qora_fail(err, "tensor %.*s (%llu bytes from byte %llu) runs past the end of the "
                     "file (%llu bytes): the file is cut short; copy or download it again",
                     (int)t->name.len, t->name.ptr, (unsigned long long)t->nbytes,
                     (unsigned long long)(f->data_offset + t->offset),
                     (unsigned long long)f->size);
  t->data = f->map + f->data_offset + t->offset;
  return 0;
}


static int by_offset(const void *a, const void *b) {
  const gguf_tensor *x = *(gguf_tensor *const *)a, *y = *(gguf_tensor *const *)b;
  return x->offset < y->offset ? -1 : x->offset > y->offset;
}


/* Refuses duplicate names and tensors whose bytes overlap. */
static int check_tensor_set(gguf_file *f, qora_err *err) {
  gguf_tensor **order = malloc((f->n_tensors ? f->n_tensors : 1) * sizeof *order);
  const gguf_str *dup;
  int rc = 0;

  if (order == NULL)
    return qora_fail(err, "out of memory checking tensors");
  for (uint64_t i = 0; i < f->n_tensors; i++)
    order[i] = &f->tensors[i];
  qsort(order, f->n_tensors, sizeof *order, by_offset);
  for (uint64_t i = 1; i < f->n_tensors && rc == 0; i++) {
    const gguf_tensor *a = order[i - 1], *b = order[i];
    if (a->nbytes && a->offset + a->nbytes > b->offset)
      rc = qora_fail(err, "tensors %.*s and %.*s overlap in the file; the file is corrupt",
                     (int)a->name.len, a->name.ptr, (int)b->name.len, b->name.ptr);
  }
  free(order);
  if (rc == 0 && sort_names(&f->tensors->name, f->n_tensors, sizeof *f->tensors,
                            &f->tensor_index, &dup, err) < 0)
    return -1;
  if (rc == 0 && dup != NULL)
    rc = qora_fail(err, "tensor %.*s appears twice; the file is corrupt", (int)dup->len,
                   dup->ptr);
  return rc;
}


static int read_tensors(cursor *c, gguf_file *f) {
  /* The smallest info is a name length, dims, one dimension, a type and an offset. */
  if (f->n_tensors > (c->size - c->pos) / 32)
    return qora_fail(c->err, "header claims %llu tensors, more than the file (%llu bytes) can "
                     "hold: it is cut short or corrupt; copy or download it again",
                     (unsigned long long)f->n_tensors, (unsigned long long)c->size);
  f->tensors = calloc(f->n_tensors ? f->n_tensors : 1, sizeof *f->tensors);
  if (f->tensors == NULL)
    return qora_fail(c->err, "out of memory reading tensor infos");
  for (uint64_t i = 0; i < f->n_tensors; i++)
    if (read_tensor_info(c, &f->tensors[i]) < 0)
      return -1;
  return 0;
}


/* ------------------------------------------------------------------ opening */

static int read_alignment(gguf_file *f, qora_err *err) {
  uint32_t a = GGUF_DEFAULT_ALIGNMENT;
  int rc = gguf_get_u32(f, "general.alignment", &a, err);

  if (rc < 0)
    return -1;
  /* The format asks for a multiple of 8: below that, F32 and F16 weights could lie at
  ** addresses that do not fit their type. */
  if (a < 8 || (a & (a - 1)) || a > 1u << 20)
    return qora_fail(err, "general.alignment is %u; GGUF requires a power of two, at least 8; "
                     "the file is corrupt", a);
  f->alignment = a;
  return 0;
}


static int parse(gguf_file *f, qora_err *err) {
  cursor c = { f->map, f->size, 0, err, "the header" };
  char magic[4];

  if (read_bytes(&c, magic, 4) < 0 || memcmp(magic, GGUF_MAGIC, 4) != 0) {
    if (f->size >= 9 && f->map[8] == '{')   /* a safetensors header starts there */
      return qora_fail(err, "%s is not a GGUF file: it looks like a safetensors file, part of "
                       "a Hugging Face folder; load the folder (qora --model-path DIR)",
                       f->path);
    return qora_fail(err, "%s is not a GGUF file (no GGUF magic)", f->path);
  }
  if (read_u32(&c, &f->version) < 0)
    return -1;
  if (f->version != 2 && f->version != 3)
    return qora_fail(err, "GGUF version %u is not supported (qora reads versions 2 and 3)",
                     f->version);
  if (read_u64(&c, &f->n_tensors) < 0 || read_u64(&c, &f->n_kv) < 0)
    return -1;
  if (read_kvs(&c, f) < 0 || check_keys(f, err) < 0 || read_tensors(&c, f) < 0 ||
      read_alignment(f, err) < 0)
    return -1;
  f->data_offset = (c.pos + f->alignment - 1) / f->alignment * f->alignment;
  if (f->n_tensors && f->data_offset > f->size)
    return qora_fail(err, "the tensor data section is missing; the file is truncated");
  for (uint64_t i = 0; i < f->n_tensors; i++)
    if (place_tensor(f, &f->tensors[i], err) < 0)
      return -1;
  return check_tensor_set(f, err);
}


/* Validates an image; path only names it in messages. */
static gguf_file *open_image(const void *data, uint64_t size, const char *path, qora_err *err) {
  gguf_file *f = calloc(1, sizeof *f);

  if (f == NULL) {
    qora_fail(err, "out of memory");
    return NULL;
  }
  f->path = path;
  f->map = data;
  f->size = size;
  if (parse(f, err) < 0) {
    gguf_close(f);
    return NULL;
  }
  return f;
}


gguf_file *gguf_open_memory(const void *data, uint64_t size, qora_err *err) {
  return open_image(data, size, "(memory)", err);
}


gguf_file *gguf_open(const char *path, qora_err *err) {
  uint64_t size;
  void *map = qora_map_file(path, &size, err);
  gguf_file *f;

  if (map == NULL)
    return NULL;
  f = open_image(map, size, path, err);
  if (f == NULL) {
    munmap(map, size);
    return NULL;
  }
  f->path = strdup(path);
  f->owns_map = 1;
  return f;
}


void gguf_close(gguf_file *f) {
  if (f == NULL)
    return;
  if (f->owns_map) {
    munmap((void *)f->map, f->size);
    free((char *)f->path);
  }
  free(f->kv);
  free(f->tensors);
  free(f->key_index);
  free(f->tensor_index);
  free(f);
}


/* ------------------------------------------------------------------ lookups */

int gguf_str_eq(gguf_str s, const char *c) {
  size_t n = strlen(c);
  return s.len == n && memcmp(s.ptr, c, n) == 0;
}


/* The string of index (n, sorted by str_order) equal to the NUL-terminated name, or NULL. */
static const gguf_str *search(const gguf_str *const *index, uint64_t n, const char *name) {
  gguf_str want = { name, strlen(name) };
  const gguf_str *key = &want, *const *hit;

  if (n == 0)
    return NULL;
  hit = bsearch(&key, index, n, sizeof *index, str_order);
  return hit ? *hit : NULL;
}


const gguf_kv *gguf_find(const gguf_file *f, const char *key) {
  const gguf_str *s = search(f->key_index, f->n_kv, key);

  return s ? (const gguf_kv *)((const char *)s - offsetof(gguf_kv, key)) : NULL;
}


const gguf_tensor *gguf_find_tensor(const gguf_file *f, const char *name) {
  const gguf_str *s = search(f->tensor_index, f->n_tensors, name);

  return s ? (const gguf_tensor *)((const char *)s - offsetof(gguf_tensor, name)) : NULL;
}


static int is_int_type(uint32_t t) {
  return t <= GGUF_I32 || t == GGUF_U64 || t == GGUF_I64 || t == GGUF_BOOL;
}


/* Reads element i of a numeric value or array as int64 (u64 above INT64_MAX saturates). */
static int64_t load_int(uint32_t type, const uint8_t *p) {
  union { uint8_t u8; int8_t i8; uint16_t u16; int16_t i16; uint32_t u32; int32_t i32;
          uint64_t u64; int64_t i64; } v;

  memcpy(&v, p, vtype_size[type]);
  switch (type) {
  case GGUF_U8: case GGUF_BOOL: return v.u8;
  case GGUF_I8: return v.i8;
  case GGUF_U16: return v.u16;
  case GGUF_I16: return v.i16;
  case GGUF_U32: return v.u32;
  case GGUF_I32: return v.i32;
  case GGUF_U64: return v.u64 > INT64_MAX ? INT64_MAX : (int64_t)v.u64;
  default: return v.i64;
  }
}


static double load_float(uint32_t type, const uint8_t *p) {
  float f;
  double d;

  if (type == GGUF_F32) {
    memcpy(&f, p, 4);
    return f;
  }
  if (type == GGUF_F64) {
    memcpy(&d, p, 8);
    return d;
  }
  return (double)load_int(type, p);
}


int64_t gguf_arr_int(const gguf_kv *kv, uint64_t i) {
  return load_int(kv->arr_type, kv->data + i * vtype_size[kv->arr_type]);
}


double gguf_arr_float(const gguf_kv *kv, uint64_t i) {
  return load_float(kv->arr_type, kv->data + i * vtype_size[kv->arr_type]);
}


static int wrong_type(const gguf_kv *kv, const char *want, qora_err *err) {
  return qora_fail(err, "metadata %.*s should be %s (type %u found); the file is corrupt",
                   (int)kv->key.len, kv->key.ptr, want, kv->type);
}


int gguf_get_u32(const gguf_file *f, const char *key, uint32_t *out, qora_err *err) {
  const gguf_kv *kv = gguf_find(f, key);
  int64_t v;

  if (kv == NULL)
    return 0;
  if (!is_int_type(kv->type))
    return wrong_type(kv, "an integer", err);
  v = load_int(kv->type, kv->data);
  if (v < 0 || v > UINT32_MAX)
    return qora_fail(err, "metadata %s is %lld, out of range", key, (long long)v);
  *out = (uint32_t)v;
  return 1;
}


int gguf_get_f32(const gguf_file *f, const char *key, float *out, qora_err *err) {
  const gguf_kv *kv = gguf_find(f, key);

  if (kv == NULL)
    return 0;
  if (kv->type != GGUF_F32 && kv->type != GGUF_F64)
    return wrong_type(kv, "a float", err);
  *out = (float)load_float(kv->type, kv->data);
  return 1;
}


int gguf_get_bool(const gguf_file *f, const char *key, int *out, qora_err *err) {
  const gguf_kv *kv = gguf_find(f, key);

  if (kv == NULL)
    return 0;
  if (!is_int_type(kv->type))
    return wrong_type(kv, "a boolean", err);
  *out = load_int(kv->type, kv->data) != 0;
  return 1;
}


int gguf_get_str(const gguf_file *f, const char *key, gguf_str *out, qora_err *err) {
  const gguf_kv *kv = gguf_find(f, key);

  if (kv == NULL)
    return 0;
  if (kv->type != GGUF_STRING)
    return wrong_type(kv, "a string", err);
  memcpy(&out->len, kv->data, 8);
  out->ptr = (const char *)kv->data + 8;
  return 1;
}


int gguf_str_array(const gguf_kv *kv, gguf_str *out, qora_err *err) {
  const uint8_t *p = kv->data;

  if (kv->type != GGUF_ARRAY || kv->arr_type != GGUF_STRING)
    return wrong_type(kv, "an array of strings", err);
  for (uint64_t i = 0; i < kv->n; i++) {
    memcpy(&out[i].len, p, 8);
    out[i].ptr = (const char *)p + 8;
    p += 8 + out[i].len;
  }
  return 0;
}
