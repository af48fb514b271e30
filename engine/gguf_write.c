/*
** gguf_write.c: a streaming writer of GGUF v3 files.
** Layout (all little-endian): "GGUF", u32 version, u64 n_tensors, u64 n_kv, the key/values,
** the tensor infos, zero padding to the alignment, then each tensor's data padded to it.
*/
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "err.h"
#include "gguf_write.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "gguf_write.c writes host-order values: port it before using it on a big-endian host"
#endif

#define GGUF_VERSION 3
#define DEFAULT_ALIGNMENT 32
#define MAX_TENSOR_NAME 63          /* llama.cpp refuses longer names (GGML_MAX_NAME - 1) */
#define WRITE_BUFFER (1 << 20)

typedef struct wkv {
  char *key;
  uint32_t type;            /* enum gguf_vtype */
  uint8_t *val;             /* the value as the file stores it, after the type */
  uint64_t val_len;
} wkv;

typedef struct wtensor {
  char *name;
  uint32_t n_dims;
  uint64_t ne[4];
  uint32_t type;
  uint64_t nbytes;
  uint64_t offset;          /* from the start of the data section, set by begin */
} wtensor;

struct gguf_writer {
  wkv *kv;
  size_t n_kv, cap_kv;
  wtensor *t;
  size_t n_t, cap_t;
  uint64_t alignment;
  FILE *f;
  char *path, *tmp;
  int state;                /* 0: gathering, 1: writing data, 2: finished, -1: failed */
  size_t cur;               /* tensor receiving data */
  uint64_t cur_done;        /* bytes of it written so far */
  uint64_t file_size;
};


/* ---------------------------------------------------------- small helpers */

static char *dup_str(const char *s, size_t n) {
  char *d = malloc(n + 1);

  if (d != NULL) {
    memcpy(d, s, n);
    d[n] = '\0';
  }
  return d;
}


/* Bytes of one element of a fixed-size type, or 0 for STRING, ARRAY and unknown types. */
static uint64_t vtype_size(uint32_t t) {
  switch (t) {
  case GGUF_U8: case GGUF_I8: case GGUF_BOOL: return 1;
  case GGUF_U16: case GGUF_I16: return 2;
  case GGUF_U32: case GGUF_I32: case GGUF_F32: return 4;
  case GGUF_U64: case GGUF_I64: case GGUF_F64: return 8;
  default: return 0;
  }
}


static int check_open(gguf_writer *w, const char *what, qora_err *err) {
  if (w->state != 0)
    return qora_fail(err, "gguf writer: cannot %s after gguf_writer_begin", what);
  return 0;
}


static wkv *find_kv(gguf_writer *w, const char *key) {
  for (size_t i = 0; i < w->n_kv; i++)
    if (strcmp(w->kv[i].key, key) == 0)
      return &w->kv[i];
  return NULL;
}


/* Stores key = (type, val[0..len)), taking ownership of val (freed on failure too). */
static int put_kv(gguf_writer *w, const char *key, uint32_t type, uint8_t *val, uint64_t len,
                  qora_err *err) {
  wkv *kv;

  if (check_open(w, "set metadata", err) != 0) {
    free(val);
    return -1;
  }
  if (key == NULL || key[0] == '\0') {
    free(val);
    return qora_fail(err, "gguf writer: metadata key must be non-empty");
  }
  kv = find_kv(w, key);
  if (kv == NULL) {
    if (w->n_kv == w->cap_kv) {
      size_t cap = w->cap_kv ? 2 * w->cap_kv : 16;
      wkv *grown = realloc(w->kv, cap * sizeof *grown);
      if (grown == NULL) {
        free(val);
        return qora_fail(err, "gguf writer: out of memory adding key %s", key);
      }
      w->kv = grown;
      w->cap_kv = cap;
    }
    kv = &w->kv[w->n_kv];
    kv->key = dup_str(key, strlen(key));
    if (kv->key == NULL) {
      free(val);
      return qora_fail(err, "gguf writer: out of memory adding key %s", key);
    }
    w->n_kv++;
  } else {
    free(kv->val);
  }
  kv->type = type;
  kv->val = val;
  kv->val_len = len;
  return 0;
}


/* A scalar of a fixed-size type. */
static int put_scalar(gguf_writer *w, const char *key, uint32_t type, const void *v,
                      qora_err *err) {
  uint64_t n = vtype_size(type);
  uint8_t *val = malloc(n);

  if (val == NULL)
    return qora_fail(err, "gguf writer: out of memory setting %s", key);
  memcpy(val, v, n);
  return put_kv(w, key, type, val, n, err);
}


/* ---------------------------------------------------------------- setters */

int gguf_writer_set_u8(gguf_writer *w, const char *key, uint8_t v, qora_err *err) {
  return put_scalar(w, key, GGUF_U8, &v, err);
}

int gguf_writer_set_i8(gguf_writer *w, const char *key, int8_t v, qora_err *err) {
  return put_scalar(w, key, GGUF_I8, &v, err);
}

int gguf_writer_set_u16(gguf_writer *w, const char *key, uint16_t v, qora_err *err) {
  return put_scalar(w, key, GGUF_U16, &v, err);
}

int gguf_writer_set_i16(gguf_writer *w, const char *key, int16_t v, qora_err *err) {
  return put_scalar(w, key, GGUF_I16, &v, err);
}

int gguf_writer_set_u32(gguf_writer *w, const char *key, uint32_t v, qora_err *err) {
  return put_scalar(w, key, GGUF_U32, &v, err);
}

int gguf_writer_set_i32(gguf_writer *w, const char *key, int32_t v, qora_err *err) {
  return put_scalar(w, key, GGUF_I32, &v, err);
}

int gguf_writer_set_u64(gguf_writer *w, const char *key, uint64_t v, qora_err *err) {
  return put_scalar(w, key, GGUF_U64, &v, err);
}

int gguf_writer_set_i64(gguf_writer *w, const char *key, int64_t v, qora_err *err) {
  return put_scalar(w, key, GGUF_I64, &v, err);
}

int gguf_writer_set_f32(gguf_writer *w, const char *key, float v, qora_err *err) {
  return put_scalar(w, key, GGUF_F32, &v, err);
}

int gguf_writer_set_f64(gguf_writer *w, const char *key, double v, qora_err *err) {
  return put_scalar(w, key, GGUF_F64, &v, err);
}

int gguf_writer_set_bool(gguf_writer *w, const char *key, int v, qora_err *err) {
  uint8_t b = v != 0;

  return put_scalar(w, key, GGUF_BOOL, &b, err);
}


int gguf_writer_set_strn(gguf_writer *w, const char *key, const char *s, uint64_t len,
                         qora_err *err) {
  uint8_t *val;

  if (len > SIZE_MAX - 8 || (val = malloc(8 + len)) == NULL)
    return qora_fail(err, "gguf writer: out of memory setting %s", key);
  memcpy(val, &len, 8);
  if (len > 0)
    memcpy(val + 8, s, len);
  return put_kv(w, key, GGUF_STRING, val, 8 + len, err);
}


int gguf_writer_set_str(gguf_writer *w, const char *key, const char *s, qora_err *err) {
  return gguf_writer_set_strn(w, key, s, strlen(s), err);
}


/* An array value: element type, count, then body[0..body_len) as the file stores it. */
static int put_array(gguf_writer *w, const char *key, uint32_t elem, uint64_t n,
                     const void *body, uint64_t body_len, qora_err *err) {
  uint8_t *val;

  if (body_len > SIZE_MAX - 12 || (val = malloc(12 + body_len)) == NULL)
    return qora_fail(err, "gguf writer: out of memory setting %s", key);
  memcpy(val, &elem, 4);
  memcpy(val + 4, &n, 8);
  if (body_len > 0)
    memcpy(val + 12, body, body_len);
  return put_kv(w, key, GGUF_ARRAY, val, 12 + body_len, err);
}


int gguf_writer_set_arr(gguf_writer *w, const char *key, uint32_t elem, const void *data,
                        uint64_t n, qora_err *err) {
  uint64_t size = vtype_size(elem);

  if (size == 0)
    return qora_fail(err, "gguf writer: %s: element type %u is not a number or boolean "
                     "(use gguf_writer_set_str_arr for strings)", key, elem);
  if (n > (UINT64_MAX - 12) / size)
    return qora_fail(err, "gguf writer: %s: array of %llu elements is too large", key,
                     (unsigned long long)n);
  if (elem == GGUF_BOOL)
    for (uint64_t i = 0; i < n; i++)
      if (((const uint8_t *)data)[i] > 1)
        return qora_fail(err, "gguf writer: %s: boolean %llu is %u, not 0 or 1", key,
                         (unsigned long long)i, ((const uint8_t *)data)[i]);
  return put_array(w, key, elem, n, data, n * size, err);
}


int gguf_writer_set_str_arr(gguf_writer *w, const char *key, const char *const *strs,
                            const uint64_t *lens, uint64_t n, qora_err *err) {
  uint64_t total = 0, at = 0;
  uint8_t *body;
  int rc;

  for (uint64_t i = 0; i < n; i++)
    total += 8 + (lens ? lens[i] : strlen(strs[i]));
  if (total > SIZE_MAX || (body = malloc(total ? total : 1)) == NULL)
    return qora_fail(err, "gguf writer: out of memory setting %s", key);
  for (uint64_t i = 0; i < n; i++) {
    uint64_t len = lens ? lens[i] : strlen(strs[i]);
    memcpy(body + at, &len, 8);
    if (len > 0)
      memcpy(body + at + 8, strs[i], len);
    at += 8 + len;
  }
  rc = put_array(w, key, GGUF_STRING, n, body, total, err);
  free(body);
  return rc;
}


int gguf_writer_copy_kv(gguf_writer *w, const gguf_kv *kv, qora_err *err) {
  char key[256];

  if (kv->key.len == 0 || kv->key.len >= sizeof key)
    return qora_fail(err, "gguf writer: cannot copy a key of %llu bytes",
                     (unsigned long long)kv->key.len);
  memcpy(key, kv->key.ptr, kv->key.len);
  key[kv->key.len] = '\0';
  if (kv->type == GGUF_ARRAY)
    return put_array(w, key, kv->arr_type, kv->n, kv->data, kv->nbytes, err);
  if (kv->type == GGUF_STRING)   /* the reader points at the length, then the bytes */
    return gguf_writer_set_strn(w, key, (const char *)kv->data + 8, kv->nbytes - 8, err);
  if (vtype_size(kv->type) == 0)
    return qora_fail(err, "gguf writer: %s has unknown type %u", key, kv->type);
  return put_scalar(w, key, kv->type, kv->data, err);
}


int gguf_writer_remove(gguf_writer *w, const char *key) {
  wkv *kv = w->state == 0 ? find_kv(w, key) : NULL;

  if (kv == NULL)
    return 0;
  free(kv->key);
  free(kv->val);
  memmove(kv, kv + 1, (size_t)(w->kv + w->n_kv - (kv + 1)) * sizeof *kv);
  w->n_kv--;
  return 1;
}


/* ---------------------------------------------------------------- tensors */

static int check_tensor(gguf_writer *w, const char *name, uint32_t n_dims, const uint64_t *ne,
                        qora_err *err) {
  size_t len = name ? strlen(name) : 0;
  uint64_t count = 1;

  if (len == 0 || len > MAX_TENSOR_NAME)
    return qora_fail(err, "gguf writer: tensor name \"%s\" must have 1 to %d bytes",
                     name ? name : "", MAX_TENSOR_NAME);
  if (n_dims < 1 || n_dims > 4)
    return qora_fail(err, "gguf writer: tensor %s has %u dimensions; GGUF allows 1 to 4",
                     name, n_dims);
  for (uint32_t d = 0; d < n_dims; d++) {
    if (ne[d] == 0 || ne[d] > (uint64_t)INT64_MAX / count)
      return qora_fail(err, "gguf writer: tensor %s: dimension %u is %llu (must be at least 1 "
                       "and the element count must fit in 63 bits)", name, d,
                       (unsigned long long)ne[d]);
    count *= ne[d];
  }
  for (size_t i = 0; i < w->n_t; i++)
    if (strcmp(w->t[i].name, name) == 0)
      return qora_fail(err, "gguf writer: tensor %s is added twice", name);
  return 0;
}


/* Values and bytes per block of the types qora names; 0 for others, whose size is trusted. */
static int type_geometry(uint32_t type, uint64_t *blck, uint64_t *bytes) {
  switch (type) {
  case QORA_F32: *blck = 1; *bytes = 4; return 1;
  case QORA_F16: case QORA_BF16: *blck = 1; *bytes = 2; return 1;
  case QORA_Q4_0: *blck = 32; *bytes = 18; return 1;
  case QORA_Q4_1: *blck = 32; *bytes = 20; return 1;
  case QORA_Q8_0: *blck = 32; *bytes = 34; return 1;
  case QORA_Q8_1: *blck = 32; *bytes = 36; return 1;
  case QORA_Q4_K: *blck = 256; *bytes = 144; return 1;
  case QORA_Q5_K: *blck = 256; *bytes = 176; return 1;
  case QORA_Q6_K: *blck = 256; *bytes = 210; return 1;
  case QORA_Q8_K: *blck = 256; *bytes = 292; return 1;
  default: return 0;
  }
}


/* A size that disagrees with the type would make a file that readers refuse. */
static int check_size(const char *name, uint32_t type, const uint64_t *ne, uint32_t n_dims,
                      uint64_t nbytes, qora_err *err) {
  uint64_t blck, bytes, rows = 1;

  if (!type_geometry(type, &blck, &bytes))
    return 0;
  if (ne[0] % blck != 0)
    return qora_fail(err, "gguf writer: tensor %s: rows of %llu values do not split into "
                     "blocks of %llu (type %u)", name, (unsigned long long)ne[0],
                     (unsigned long long)blck, type);
  for (uint32_t d = 1; d < n_dims; d++)
    rows *= ne[d];
  if (ne[0] / blck * bytes * rows != nbytes)
    return qora_fail(err, "gguf writer: tensor %s: %llu bytes given, its shape and type need "
                     "%llu", name, (unsigned long long)nbytes,
                     (unsigned long long)(ne[0] / blck * bytes * rows));
  return 0;
}


int gguf_writer_add_tensor(gguf_writer *w, const char *name, uint32_t type, uint32_t n_dims,
                           const uint64_t *ne, uint64_t nbytes, qora_err *err) {
  wtensor *t;

  if (check_open(w, "add a tensor", err) != 0 || check_tensor(w, name, n_dims, ne, err) != 0 ||
      check_size(name, type, ne, n_dims, nbytes, err) != 0)
    return -1;
  if (w->n_t == w->cap_t) {
    size_t cap = w->cap_t ? 2 * w->cap_t : 64;
    wtensor *grown = realloc(w->t, cap * sizeof *grown);
    if (grown == NULL)
      return qora_fail(err, "gguf writer: out of memory adding tensor %s", name);
    w->t = grown;
    w->cap_t = cap;
  }
  t = &w->t[w->n_t];
  memset(t, 0, sizeof *t);
  t->name = dup_str(name, strlen(name));
  if (t->name == NULL)
    return qora_fail(err, "gguf writer: out of memory adding tensor %s", name);
  t->n_dims = n_dims;
  for (uint32_t d = 0; d < 4; d++)
    t->ne[d] = d < n_dims ? ne[d] : 1;
  t->type = type;
  t->nbytes = nbytes;
  w->n_t++;
  return 0;
}


/* ----------------------------------------------------------------- output */

static uint64_t pad_to(uint64_t x, uint64_t a) {
  return (x + a - 1) / a * a;
}


static int fail_io(gguf_writer *w, qora_err *err) {
  int e = errno;

  w->state = -1;
  return qora_fail(err, "cannot write %s: %s", w->tmp, strerror(e));
}


static int put(gguf_writer *w, const void *p, size_t n, qora_err *err) {
  if (n > 0 && fwrite(p, 1, n, w->f) != n)
    return fail_io(w, err);
  return 0;
}


static int put_zeros(gguf_writer *w, uint64_t n, qora_err *err) {
  static const uint8_t zeros[64];

  while (n > 0) {
    size_t k = n < sizeof zeros ? (size_t)n : sizeof zeros;
    if (put(w, zeros, k, err) != 0)
      return -1;
    n -= k;
  }
  return 0;
}


static int put_str(gguf_writer *w, const char *s, qora_err *err) {
  uint64_t len = strlen(s);

  if (put(w, &len, 8, err) != 0)
    return -1;
  return put(w, s, len, err);
}


/* Reads general.alignment when set: GGUF wants a u32, a power of two and a multiple of 8. */
static int resolve_alignment(gguf_writer *w, qora_err *err) {
  wkv *kv = find_kv(w, "general.alignment");
  uint32_t a;

  w->alignment = DEFAULT_ALIGNMENT;
  if (kv == NULL)
    return 0;
  if (kv->type != GGUF_U32)
    return qora_fail(err, "gguf writer: general.alignment must be a u32 (set it with "
                     "gguf_writer_set_u32)");
  memcpy(&a, kv->val, 4);
  if (a < 8 || (a & (a - 1)) != 0)
    return qora_fail(err, "gguf writer: general.alignment is %u; it must be a power of two, "
                     "at least 8", a);
  w->alignment = a;
  return 0;
}


static int put_header(gguf_writer *w, qora_err *err) {
  uint32_t version = GGUF_VERSION;
  uint64_t n_t = w->n_t, n_kv = w->n_kv;

  if (put(w, "GGUF", 4, err) || put(w, &version, 4, err) || put(w, &n_t, 8, err) ||
      put(w, &n_kv, 8, err))
    return -1;
  for (size_t i = 0; i < w->n_kv; i++) {
    const wkv *kv = &w->kv[i];
    if (put_str(w, kv->key, err) || put(w, &kv->type, 4, err) ||
        put(w, kv->val, kv->val_len, err))
      return -1;
  }
  return 0;
}


static int put_tensor_infos(gguf_writer *w, qora_err *err) {
  uint64_t offset = 0;

  for (size_t i = 0; i < w->n_t; i++) {
    wtensor *t = &w->t[i];
    t->offset = offset;
    if (put_str(w, t->name, err) || put(w, &t->n_dims, 4, err) ||
        put(w, t->ne, 8 * t->n_dims, err) || put(w, &t->type, 4, err) ||
        put(w, &t->offset, 8, err))
      return -1;
    offset += pad_to(t->nbytes, w->alignment);
  }
  return 0;
}


/* What a file type is called in a message: the kinds of file a save must not replace. */
static const char *special_kind(mode_t mode) {
  return S_ISFIFO(mode) ? "a named pipe (FIFO)" : S_ISCHR(mode) ? "a character device"
         : S_ISBLK(mode) ? "a block device" : S_ISSOCK(mode) ? "a socket"
         : S_ISLNK(mode) ? "a symbolic link" : S_ISDIR(mode) ? "a folder" : "not a regular file";
}


int gguf_writer_check_target(const char *path, qora_err *err) {
  struct stat st;

  /* lstat: a symbolic link is replaced by the rename, and what it points to, a device too,
  ** is left as it was; a folder is refused with its own message. */
  if (lstat(path, &st) != 0 || S_ISREG(st.st_mode) || S_ISLNK(st.st_mode) ||
      S_ISDIR(st.st_mode))
    return 0;
  return qora_fail(err, "cannot save to %s: it is %s, which saving would replace with a "
                   "regular file; give the name of a regular file or a new one, such as "
                   "model.gguf", path, special_kind(st.st_mode));
}


int gguf_writer_begin(gguf_writer *w, const char *path, qora_err *err) {
  size_t n = strlen(path);
  struct stat st;
  long header;

  if (check_open(w, "begin twice", err) != 0 || resolve_alignment(w, err) != 0)
    return -1;
  if (n == 0)
    return qora_fail(err, "no file name given (an empty path); give one such as model.gguf");
  if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))   /* found now, not after the whole file */
    return qora_fail(err, "cannot write %s: it is a folder; give a file path such as "
                     "%s%smodel.gguf", path, path, path[n - 1] == '/' ? "" : "/");
  if (gguf_writer_check_target(path, err) != 0)
    return -1;
  free(w->path);
  free(w->tmp);
  w->path = dup_str(path, n);
  w->tmp = malloc(n + 5);
  if (w->path == NULL || w->tmp == NULL)
    return qora_fail(err, "gguf writer: out of memory");
  memcpy(w->tmp, path, n);
  memcpy(w->tmp + n, ".tmp", 5);
  /* fopen would follow a link and write where it points, and wait on a FIFO for a reader */
  if (lstat(w->tmp, &st) == 0 && !S_ISREG(st.st_mode))
    return qora_fail(err, "cannot save to %s: %s, where the file is written first, is %s; "
                     "remove it or give another name", path, w->tmp, special_kind(st.st_mode));
  w->f = fopen(w->tmp, "wb");
  if (w->f == NULL)
    return qora_fail(err, "cannot create %s: %s (is the folder there and writable?)", w->tmp,
                     strerror(errno));
  setvbuf(w->f, NULL, _IOFBF, WRITE_BUFFER);
  w->state = 1;
  if (put_header(w, err) != 0 || put_tensor_infos(w, err) != 0)
    return -1;
  header = ftell(w->f);
  if (header < 0)
    return fail_io(w, err);
  if (put_zeros(w, pad_to((uint64_t)header, w->alignment) - (uint64_t)header, err) != 0)
    return -1;
  w->file_size = pad_to((uint64_t)header, w->alignment);
  for (size_t i = 0; i < w->n_t; i++)
    w->file_size += pad_to(w->t[i].nbytes, w->alignment);
  return 0;
}


/* Skips over finished tensors, writing each one's padding. */
static int advance(gguf_writer *w, qora_err *err) {
  while (w->cur < w->n_t && w->cur_done == w->t[w->cur].nbytes) {
    uint64_t n = w->t[w->cur].nbytes;
    if (put_zeros(w, pad_to(n, w->alignment) - n, err) != 0)
      return -1;
    w->cur++;
    w->cur_done = 0;
  }
  return 0;
}


int gguf_writer_write(gguf_writer *w, const void *data, size_t n, qora_err *err) {
  const uint8_t *p = data;

  if (w->state != 1)
    return qora_fail(err, "gguf writer: write needs a begun, unfinished, unfailed writer");
  while (n > 0) {
    uint64_t room;
    size_t k;
    if (advance(w, err) != 0)
      return -1;
    if (w->cur == w->n_t) {
      w->state = -1;
      return qora_fail(err, "gguf writer: %zu bytes beyond the last tensor's data", n);
    }
    room = w->t[w->cur].nbytes - w->cur_done;
    k = room < n ? (size_t)room : n;
    if (put(w, p, k, err) != 0)
      return -1;
    w->cur_done += k;
    p += k;
    n -= k;
  }
  return 0;
}


int gguf_writer_finish(gguf_writer *w, qora_err *err) {
  FILE *f = w->f;

  if (w->state != 1)
    return qora_fail(err, "gguf writer: finish needs a begun, unfinished, unfailed writer");
  if (advance(w, err) != 0)
    return -1;
  if (w->cur < w->n_t) {
    const wtensor *t = &w->t[w->cur];
    w->state = -1;
    return qora_fail(err, "gguf writer: tensor %s got %llu of its %llu bytes", t->name,
                     (unsigned long long)w->cur_done, (unsigned long long)t->nbytes);
  }
  w->f = NULL;
  if (fclose(f) != 0)
    return fail_io(w, err);
  if (rename(w->tmp, w->path) != 0) {
    w->state = -1;
    return qora_fail(err, "cannot rename %s to %s: %s", w->tmp, w->path, strerror(errno));
  }
  w->state = 2;
  return 0;
}


uint64_t gguf_writer_file_size(const gguf_writer *w) {
  return w->file_size;
}


/* ---------------------------------------------------------- life cycle */

gguf_writer *gguf_writer_new(qora_err *err) {
  gguf_writer *w = calloc(1, sizeof *w);

  if (w == NULL)
    qora_fail(err, "gguf writer: out of memory");
  return w;
}


void gguf_writer_free(gguf_writer *w) {
  if (w == NULL)
    return;
  if (w->f != NULL)
    fclose(w->f);
  if (w->state != 2 && w->tmp != NULL && w->state != 0)
    remove(w->tmp);
  for (size_t i = 0; i < w->n_kv; i++) {
    free(w->kv[i].key);
    free(w->kv[i].val);
  }
  for (size_t i = 0; i < w->n_t; i++)
    free(w->t[i].name);
  free(w->kv);
  free(w->t);
  free(w->path);
  free(w->tmp);
  free(w);
}
