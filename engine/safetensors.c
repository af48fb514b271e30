/* safetensors.c: checked, memory-mapped reading of safetensors files and checkpoint folders. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <sys/mman.h>

#include "err.h"
#include "hf_config.h"
#include "json_keys.h"
#include "fileio.h"
#include "safetensors.h"
#include "utf8.h"

#define ST_MAX_INDEX (64u << 20)     /* bytes of model.safetensors.index.json we accept */
#define ST_MAX_INT 9007199254740992.0  /* 2^53: JSON numbers above it are not exact */


/* ================================================================ dtypes */

/* Every dtype the safetensors format defines, so any file's byte ranges can be checked. */
static const struct st_dtype {
  const char *name;
  int size;                 /* bytes per element */
  int type;                 /* what qora reads it as, or -1 */
} st_dtypes[] = {
  {"F32", 4, QORA_F32}, {"F16", 2, QORA_F16}, {"BF16", 2, QORA_BF16},
  {"F64", 8, -1}, {"I64", 8, -1}, {"U64", 8, -1}, {"I32", 4, -1}, {"U32", 4, -1},
  {"I16", 2, -1}, {"U16", 2, -1}, {"I8", 1, -1}, {"U8", 1, -1}, {"BOOL", 1, -1},
  {"F8_E4M3", 1, -1}, {"F8_E5M2", 1, -1}, {"F8_E8M0", 1, -1},
};

static const struct st_dtype *dtype_find(const char *name) {
  for (size_t i = 0; i < sizeof st_dtypes / sizeof st_dtypes[0]; i++)
    if (strcmp(st_dtypes[i].name, name) == 0)
      return &st_dtypes[i];
  return NULL;
}


/* ======================================================== header checks */

/* Reads a JSON number that must be an exact integer in [0, 2^53]. */
static int json_u64(const cJSON *item, uint64_t *out) {
  double v;

  if (!cJSON_IsNumber(item))
    return -1;
  v = item->valuedouble;
  if (!(v >= 0 && v <= ST_MAX_INT) || v != floor(v))
    return -1;
  *out = (uint64_t)v;
  return 0;
}

static int parse_shape(const st_file *f, st_tensor *t, const cJSON *shape, qora_err *err) {
  const cJSON *dim;
  uint64_t n = 1;

  if (!cJSON_IsArray(shape))
    return qora_fail(err, "%s: tensor %s: \"shape\" is missing or not an array", f->name,
                     t->name);
  if (cJSON_GetArraySize(shape) > ST_MAX_DIMS)
    return qora_fail(err, "%s: tensor %s has %d dimensions; qora reads at most %d", f->name,
                     t->name, cJSON_GetArraySize(shape), ST_MAX_DIMS);
  t->n_dims = 0;
  cJSON_ArrayForEach(dim, shape) {
    uint64_t d;

    if (json_u64(dim, &d) != 0)
      return qora_fail(err, "%s: tensor %s: shape holds something other than a "
                       "non-negative integer", f->name, t->name);
    if (__builtin_mul_overflow(n, d, &n))
      return qora_fail(err, "%s: tensor %s: shape overflows 64 bits", f->name, t->name);
    t->shape[t->n_dims++] = d;
  }
  t->n_elements = n;
  return 0;
}

/* Checks data_offsets [begin, end) against the data section and the dtype times the shape. */
static int parse_offsets(const st_file *f, st_tensor *t, int elem_size, const cJSON *offs,
                         qora_err *err) {
  uint64_t begin, end, want, data_size = f->size - f->data_offset;

  if (!cJSON_IsArray(offs) || cJSON_GetArraySize(offs) != 2 ||
      json_u64(cJSON_GetArrayItem(offs, 0), &begin) != 0 ||
      json_u64(cJSON_GetArrayItem(offs, 1), &end) != 0)
    return qora_fail(err, "%s: tensor %s: \"data_offsets\" must be two non-negative integers",
                     f->name, t->name);
  if (begin > end || end > data_size)
    return qora_fail(err, "%s: tensor %s: bytes [%llu, %llu) are not inside the %llu-byte "
                     "data section: the file is truncated or its header is wrong", f->name,
                     t->name, (unsigned long long)begin, (unsigned long long)end,
                     (unsigned long long)data_size);
  if (__builtin_mul_overflow(t->n_elements, (uint64_t)elem_size, &want) || want != end - begin)
    return qora_fail(err, "%s: tensor %s: %s shape needs %llu bytes but data_offsets give %llu",
                     f->name, t->name, t->dtype, (unsigned long long)t->n_elements * elem_size,
                     (unsigned long long)(end - begin));
  t->data = f->map + f->data_offset + begin;
  t->nbytes = end - begin;
  return 0;
}

static int parse_tensor(st_file *f, st_tensor *t, const cJSON *entry, qora_err *err) {
  const cJSON *dtype = cJSON_GetObjectItemCaseSensitive(entry, "dtype");
  const struct st_dtype *dt;
  const char *dup;

  if (!cJSON_IsObject(entry))
    return qora_fail(err, "%s: tensor %s: its entry is not a JSON object", f->name, t->name);
  if (json_key_twice(entry, &dup) < 0)
    return qora_fail(err, "%s: out of memory", f->name);
  if (dup != NULL)
    return qora_fail(err, "%s: tensor %s: \"%.40s\" is given twice", f->name, t->name, dup);
  if (!cJSON_IsString(dtype))
    return qora_fail(err, "%s: tensor %s: \"dtype\" is missing or not a string", f->name,
                     t->name);
  dt = dtype_find(dtype->valuestring);
  if (dt == NULL)
    return qora_fail(err, "%s: tensor %s: unknown dtype \"%.32s\"; qora reads F32, F16 and "
                     "BF16", f->name, t->name, dtype->valuestring);
  t->dtype = dt->name;
  t->type = dt->type;
  if (parse_shape(f, t, cJSON_GetObjectItemCaseSensitive(entry, "shape"), err) != 0)
    return -1;
  return parse_offsets(f, t, dt->size, cJSON_GetObjectItemCaseSensitive(entry, "data_offsets"),
                       err);
}

static int by_name(const void *a, const void *b) {
  return strcmp(((const st_tensor *)a)->name, ((const st_tensor *)b)->name);
}

static int by_begin(const void *a, const void *b) {
  const st_tensor *x = *(const st_tensor *const *)a, *y = *(const st_tensor *const *)b;

  if (x->data != y->data)
    return x->data < y->data ? -1 : 1;
  return x->nbytes < y->nbytes ? -1 : x->nbytes > y->nbytes;  /* empty tensors first */
}

/*
** Refuses two tensors sharing a name, and a data section the tensors do not tile exactly: as
** the safetensors format requires (and its reference reader checks), the tensors follow each
** other without gap or overlap from the first byte to the last. A header whose length is off
** by a byte would otherwise shift every tensor and load garbage.
*/
static int check_distinct(const st_file *f, qora_err *err) {
  const st_tensor **order;
  int rc = 0;

  for (size_t i = 1; i < f->n_tensors; i++)
    if (strcmp(f->tensors[i - 1].name, f->tensors[i].name) == 0)
      return qora_fail(err, "%s: tensor %s is listed twice in the header", f->name,
                       f->tensors[i].name);
  order = malloc((f->n_tensors + 1) * sizeof *order);
  if (order == NULL)
    return qora_fail(err, "%s: out of memory", f->name);
  for (size_t i = 0; i < f->n_tensors; i++)
    order[i] = &f->tensors[i];
  qsort(order, f->n_tensors, sizeof *order, by_begin);
  const uint8_t *at = f->map + f->data_offset, *end = f->map + f->size;
  for (size_t i = 0; i < f->n_tensors && rc == 0; i++) {
    const st_tensor *t = order[i];

    if ((const uint8_t *)t->data < at)
      rc = qora_fail(err, "%s: tensors %s and %s overlap in the data section: the header is "
                     "wrong", f->name, order[i - 1]->name, t->name);
    else if ((const uint8_t *)t->data > at)
      rc = qora_fail(err, "%s: %zu bytes before tensor %s belong to no tensor: the header is "
                     "wrong", f->name, (size_t)((const uint8_t *)t->data - at), t->name);
    at = (const uint8_t *)t->data + t->nbytes;
  }
  if (rc == 0 && at != end)
    rc = qora_fail(err, "%s: the last %zu bytes of the file belong to no tensor: the header is "
                   "wrong or the file is damaged", f->name, (size_t)(end - at));
  free(order);
  return rc;
}

/* Fills f->tensors from the parsed header object (names copied, __metadata__ skipped). */
static int parse_entries(st_file *f, const cJSON *root, qora_err *err) {
  const cJSON *entry;
  size_t n = 0;

  cJSON_ArrayForEach(entry, root)
    n++;
  f->tensors = calloc(n + 1, sizeof *f->tensors);
  if (f->tensors == NULL)
    return qora_fail(err, "%s: out of memory for %zu tensors", f->name, n);
  cJSON_ArrayForEach(entry, root) {
    st_tensor *t = &f->tensors[f->n_tensors];

    size_t len = strlen(entry->string), ok = utf8_check(entry->string, len);

    if (ok != len)          /* the format's header is JSON, which is UTF-8 */
      return qora_fail(err, "%s: the header holds a tensor name \"%.*s\" then a byte that is "
                       "not UTF-8: the file is damaged", f->name, (int)(ok < 64 ? ok : 64),
                       entry->string);
    if (strcmp(entry->string, "__metadata__") == 0)
      continue;
    t->name = strdup(entry->string);
    if (t->name == NULL)
      return qora_fail(err, "%s: out of memory", f->name);
    f->n_tensors++;
    if (parse_tensor(f, t, entry, err) != 0)
      return -1;
  }
  qsort(f->tensors, f->n_tensors, sizeof *f->tensors, by_name);
  return check_distinct(f, err);
}

/* Checks the length prefix, parses the JSON and every tensor entry. */
static int parse_header(st_file *f, qora_err *err) {
  uint64_t n = 0;
  const char *json = (const char *)f->map + 8, *end = NULL;
  cJSON *root;
  int rc;

  if (f->size < 8)
    return qora_fail(err, "%s: %llu bytes is too short for a safetensors file", f->name,
                     (unsigned long long)f->size);
  for (int i = 7; i >= 0; i--)
    n = n << 8 | f->map[i];
  if (n < 2 || n > ST_MAX_HEADER)
    return qora_fail(err, "%s: header length %llu is not plausible (safetensors allows 2 to "
                     "%u): not a safetensors file?", f->name, (unsigned long long)n,
                     ST_MAX_HEADER);
  if (n > f->size - 8)
    return qora_fail(err, "%s: header length %llu runs past the end of the %llu-byte file: "
                     "the file is truncated", f->name, (unsigned long long)n,
                     (unsigned long long)f->size);
  f->data_offset = 8 + n;
  if (json[0] != '{')
    return qora_fail(err, "%s: the header does not start with '{': not a safetensors file?",
                     f->name);

  root = cJSON_ParseWithLengthOpts(json, n, &end, 0);
  if (root == NULL || !cJSON_IsObject(root)) {
    cJSON_Delete(root);
    return qora_fail(err, "%s: the header is not a valid JSON object (error near byte %lld)",
                     f->name, (long long)(cJSON_GetErrorPtr() ?
                                          cJSON_GetErrorPtr() - json + 8 : -1));
  }
  for (; end < json + n; end++)
    if (*end != ' ' && *end != '\t' && *end != '\n' && *end != '\r' && *end != '\0') {
      cJSON_Delete(root);
      return qora_fail(err, "%s: unexpected bytes after the JSON header at byte %lld",
                       f->name, (long long)(end - json + 8));
    }
  rc = parse_entries(f, root, err);
  cJSON_Delete(root);
  return rc;
}


/* ================================================================ files */

static st_file *file_new(const char *name, qora_err *err) {
  st_file *f = calloc(1, sizeof *f);

  if (f == NULL || (f->name = strdup(name)) == NULL) {
    free(f);
    qora_fail(err, "%s: out of memory", name);
    return NULL;
  }
  return f;
}

st_file *st_open_memory(const void *data, uint64_t size, const char *name, qora_err *err) {
  st_file *f = file_new(name ? name : "(memory)", err);

  if (f == NULL)
    return NULL;
  f->map = data;
  f->size = size;
  if (parse_header(f, err) != 0) {
    st_close(f);
    return NULL;
  }
  return f;
}

/* Maps path read-only into f. */
static int map_file(st_file *f, const char *path, qora_err *err) {
  void *p = qora_map_file(path, &f->size, err);

  if (p == NULL)
    return -1;
  f->map = p;
  f->mapped = 1;
  if (f->size < 8)
    return qora_fail(err, "%s: %llu bytes is too short for a safetensors file", path,
                     (unsigned long long)f->size);
  return 0;
}

st_file *st_open(const char *path, qora_err *err) {
  st_file *f = file_new(path, err);

  if (f == NULL)
    return NULL;
  if (map_file(f, path, err) != 0 || parse_header(f, err) != 0) {
    st_close(f);
    return NULL;
  }
  return f;
}

void st_close(st_file *f) {
  if (f == NULL)
    return;
  if (f->mapped)
    munmap((void *)f->map, f->size);
  for (size_t i = 0; i < f->n_tensors; i++)
    free((char *)f->tensors[i].name);
  free(f->tensors);
  free(f->name);
  free(f);
}

const st_tensor *st_file_find(const st_file *f, const char *name) {
  st_tensor key = {.name = name};

  return bsearch(&key, f->tensors, f->n_tensors, sizeof *f->tensors, by_name);
}


/* =========================================================== checkpoints */

static int by_name_ptr(const void *a, const void *b) {
  return strcmp((*(const st_tensor *const *)a)->name, (*(const st_tensor *const *)b)->name);
}

static char *join_path(const char *dir, const char *name) {
  size_t n = strlen(dir) + strlen(name) + 2;
  char *p = malloc(n);

  if (p != NULL)
    snprintf(p, n, "%s/%s", dir, name);
  return p;
}

/* Opens one more file of c; shard names the file inside c->dir. */
static st_file *add_file(st_checkpoint *c, const char *shard, qora_err *err) {
  char *path = join_path(c->dir, shard);
  st_file *f;

  if (path == NULL) {
    qora_fail(err, "out of memory");
    return NULL;
  }
  f = st_open(path, err);
  free(path);
  if (f != NULL)
    c->files[c->n_files++] = f;
  return f;
}

/* A shard name must be a plain file name: the index may not point outside the folder. */
static int plain_name(const char *s) {
  return s[0] != '\0' && strchr(s, '/') == NULL && strcmp(s, ".") != 0 && strcmp(s, "..") != 0;
}

/* The file of c called shard, opening it on first use. */
static st_file *shard_file(st_checkpoint *c, const char *shard, const char *tensor,
                           qora_err *err) {
  char *path;

  for (size_t i = 0; i < c->n_files; i++)
    if (strcmp(strrchr(c->files[i]->name, '/') + 1, shard) == 0)
      return c->files[i];
  if (!plain_name(shard)) {
    qora_fail(err, "%s/model.safetensors.index.json: shard \"%.200s\" (for %s) is not a plain "
              "file name in the folder", c->dir, shard, tensor);
    return NULL;
  }
  path = join_path(c->dir, shard);
  if (path != NULL && access(path, F_OK) != 0) {
    qora_fail(err, "%s is missing: model.safetensors.index.json puts %s in it; download every "
              "shard of the checkpoint into %s", path, tensor, c->dir);
    free(path);
    return NULL;
  }
  free(path);
  return add_file(c, shard, err);
}

/* Resolves every entry of the index's weight_map to a tensor of its shard. */
static int load_index(st_checkpoint *c, const cJSON *map, size_t n, qora_err *err) {
  const cJSON *e;

  c->files = calloc(n + 1, sizeof *c->files);
  c->tensors = calloc(n + 1, sizeof *c->tensors);
  if (c->files == NULL || c->tensors == NULL)
    return qora_fail(err, "out of memory for %zu tensors", n);
  cJSON_ArrayForEach(e, map) {
    st_file *f;
    const st_tensor *t;

    if (!cJSON_IsString(e))
      return qora_fail(err, "%s/model.safetensors.index.json: weight_map entry %s is not a "
                       "file name", c->dir, e->string);
    f = shard_file(c, e->valuestring, e->string, err);
    if (f == NULL)
      return -1;
    t = st_file_find(f, e->string);
    if (t == NULL)
      return qora_fail(err, "%s: model.safetensors.index.json puts %s in it, but the file does "
                       "not hold it: the index and the shards do not match", f->name, e->string);
    c->tensors[c->n_tensors++] = t;
  }
  return 0;
}

static int open_index(st_checkpoint *c, const char *path, qora_err *err) {
  size_t len;
  char *text = qora_read_file(path, ST_MAX_INDEX, &len, err);
  cJSON *root, *map;
  int rc;

  if (text == NULL)
    return -1;
  root = json_object_of(text, len, path, err);
  free(text);
  if (root == NULL)
    return -1;
  map = cJSON_GetObjectItemCaseSensitive(root, "weight_map");
  if (!cJSON_IsObject(map) || cJSON_GetArraySize(map) == 0) {
    cJSON_Delete(root);
    return qora_fail(err, "%s: no \"weight_map\" object naming the tensors' shards", path);
  }
  rc = load_index(c, map, (size_t)cJSON_GetArraySize(map), err);
  cJSON_Delete(root);
  return rc;
}

static int open_single(st_checkpoint *c, qora_err *err) {
  st_file *f;

  c->files = calloc(1, sizeof *c->files);
  if (c->files == NULL || (f = add_file(c, "model.safetensors", err)) == NULL)
    return c->files == NULL ? qora_fail(err, "out of memory") : -1;
  c->tensors = calloc(f->n_tensors + 1, sizeof *c->tensors);
  if (c->tensors == NULL)
    return qora_fail(err, "out of memory");
  for (size_t i = 0; i < f->n_tensors; i++)
    c->tensors[c->n_tensors++] = &f->tensors[i];
  return 0;
}

/* Opens the index or the single file, then sorts the tensors and refuses duplicates. */
static int open_weights(st_checkpoint *c, qora_err *err) {
  char *index = join_path(c->dir, "model.safetensors.index.json");
  char *single = join_path(c->dir, "model.safetensors");
  int rc;

  if (index == NULL || single == NULL)
    rc = qora_fail(err, "out of memory");
  else if (access(index, F_OK) == 0)
    rc = open_index(c, index, err);
  else if (access(single, F_OK) == 0)
    rc = open_single(c, err);
  else
    rc = qora_fail(err, "%s holds neither model.safetensors nor model.safetensors.index.json: "
                   "is it a Hugging Face checkpoint folder?", c->dir);
  free(index);
  free(single);
  if (rc != 0)
    return rc;
  qsort(c->tensors, c->n_tensors, sizeof *c->tensors, by_name_ptr);
  for (size_t i = 1; i < c->n_tensors; i++)
    if (strcmp(c->tensors[i - 1]->name, c->tensors[i]->name) == 0)
      return qora_fail(err, "%s: tensor %s is listed twice in model.safetensors.index.json",
                       c->dir, c->tensors[i]->name);
  return 0;
}

st_checkpoint *st_checkpoint_open(const char *dir, qora_err *err) {
  st_checkpoint *c = calloc(1, sizeof *c);
  struct stat st;

  errno = 0;
  if (c == NULL || (c->dir = strdup(dir)) == NULL) {
    free(c);
    qora_fail(err, "out of memory");
    return NULL;
  }
  if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
    qora_fail(err, "%s: %s", dir, errno == ENOENT ? "no such folder" : "not a folder");
    st_checkpoint_close(c);
    return NULL;
  }
  if (open_weights(c, err) != 0) {
    st_checkpoint_close(c);
    return NULL;
  }
  return c;
}

void st_checkpoint_close(st_checkpoint *c) {
  if (c == NULL)
    return;
  for (size_t i = 0; i < c->n_files; i++)
    st_close(c->files[i]);
  free(c->files);
  free(c->tensors);
  free(c->dir);
  free(c);
}

const st_tensor *st_checkpoint_find(const st_checkpoint *c, const char *name) {
  st_tensor key = {.name = name};
  const st_tensor *kp = &key, *const *hit;

  hit = bsearch(&kp, c->tensors, c->n_tensors, sizeof *c->tensors, by_name_ptr);
  return hit ? *hit : NULL;
}

const st_tensor *st_checkpoint_get(const st_checkpoint *c, const char *name, qora_err *err) {
  const st_tensor *t = st_checkpoint_find(c, name);

  if (t == NULL)
    qora_fail(err, "%s: the checkpoint has no tensor %s", c->dir, name);
  else if (t->type < 0)
    qora_fail(err, "%s: tensor %s is %s; qora reads F32, F16 and BF16 weights", c->dir, name,
              t->dtype);
  return t && t->type >= 0 ? t : NULL;
}
