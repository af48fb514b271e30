/*
** gguf.h: a checked reader of GGUF v3 files (little-endian), memory-mapped.
** Every count, offset, size and string length is checked against the file by gguf_open, so
** the accessors below never read outside the map. Strings point into the map and are not
** NUL-terminated.
*/
#ifndef QORA_GGUF_H
#define QORA_GGUF_H

#include <stddef.h>
#include <stdint.h>

#include "qora.h"

enum gguf_vtype {
  GGUF_U8 = 0, GGUF_I8 = 1, GGUF_U16 = 2, GGUF_I16 = 3, GGUF_U32 = 4, GGUF_I32 = 5,
  GGUF_F32 = 6, GGUF_BOOL = 7, GGUF_STRING = 8, GGUF_ARRAY = 9, GGUF_U64 = 10, GGUF_I64 = 11,
  GGUF_F64 = 12, GGUF_VTYPE_COUNT = 13
};

typedef struct gguf_str {
  const char *ptr;
  uint64_t len;
} gguf_str;

typedef struct gguf_kv {
  gguf_str key;
  uint32_t type;            /* enum gguf_vtype */
  uint32_t arr_type;        /* element type when type is GGUF_ARRAY */
  uint64_t n;               /* element count for arrays, 1 otherwise */
  const uint8_t *data;      /* the value (for arrays: the first element) inside the map */
  uint64_t nbytes;          /* bytes of the value (for arrays: of all elements) */
} gguf_kv;

typedef struct gguf_tensor {
  gguf_str name;
  uint32_t n_dims;
  uint64_t ne[4];           /* ne[0] is the row length (fastest varying); unused dims are 1 */
  uint32_t type;            /* a GGML type id (qora_type); may be one qora cannot compute */
  uint64_t offset;          /* from the start of the data section */
  const void *data;         /* inside the map; NULL when the type's size is unknown */
  uint64_t nbytes;          /* 0 when the type's size is unknown */
} gguf_tensor;

typedef struct gguf_file {
  const char *path;
  const uint8_t *map;
  uint64_t size;
  uint32_t version;
  uint64_t n_kv;
  gguf_kv *kv;
  uint64_t n_tensors;
  gguf_tensor *tensors;
  uint64_t alignment;
  uint64_t data_offset;     /* start of the tensor data section */
  const gguf_str **key_index;     /* (n_kv) the keys by length, then bytes: for gguf_find */
  const gguf_str **tensor_index;  /* (n_tensors) the tensor names, in the same order */
  int owns_map;             /* 1 when opened from a path: the map is ours to unmap */
} gguf_file;

/* Opens and validates path. On failure returns NULL and explains in err. */
gguf_file *gguf_open(const char *path, qora_err *err);

/* Validates an in-memory image (not copied; must outlive the result). For tests and fuzzing. */
gguf_file *gguf_open_memory(const void *data, uint64_t size, qora_err *err);

void gguf_close(gguf_file *f);

/* Lookups by binary search in the indexes gguf_open sorts once: a million names cost 20 steps. */
const gguf_kv *gguf_find(const gguf_file *f, const char *key);
const gguf_tensor *gguf_find_tensor(const gguf_file *f, const char *name);

/*
** Typed getters: return 1 and set *out when key exists with a compatible type (any integer
** type that fits, for integers; F32 or F64 for floats), 0 when absent, -1 (with err) when
** present with the wrong type or out of range.
*/
int gguf_get_u32(const gguf_file *f, const char *key, uint32_t *out, qora_err *err);
int gguf_get_f32(const gguf_file *f, const char *key, float *out, qora_err *err);
int gguf_get_bool(const gguf_file *f, const char *key, int *out, qora_err *err);
int gguf_get_str(const gguf_file *f, const char *key, gguf_str *out, qora_err *err);

/* Fills out[0..kv->n) with the strings of a string array (kv->arr_type must be GGUF_STRING). */
int gguf_str_array(const gguf_kv *kv, gguf_str *out, qora_err *err);

/* Element i of a numeric array as int64 / double (kv->arr_type numeric; i < kv->n). */
int64_t gguf_arr_int(const gguf_kv *kv, uint64_t i);
double gguf_arr_float(const gguf_kv *kv, uint64_t i);

/* 1 when s equals the NUL-terminated c. */
int gguf_str_eq(gguf_str s, const char *c);

#endif
