/*
** safetensors.h: a checked reader of Hugging Face safetensors files, memory-mapped, and of the
** checkpoint folders that hold them (one model.safetensors, or shards named by
** model.safetensors.index.json).
**
** A file is 8 bytes of little-endian header length N, N bytes of JSON, then the data section.
** The JSON maps each tensor name to {"dtype", "shape", "data_offsets": [begin, end)}, offsets
** counted from the start of the data section; "__metadata__" holds free text and is ignored.
** st_open checks every field against the file, so a tensor's bytes always lie inside the map,
** match its dtype and shape, and overlap no other tensor's.
*/
#ifndef QORA_SAFETENSORS_H
#define QORA_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "qora.h"

#define ST_MAX_DIMS 8
#define ST_MAX_HEADER (100u << 20)   /* safetensors' own limit on the JSON header */

typedef struct st_tensor {
  const char *name;
  const char *dtype;        /* as the file spells it: "BF16", "I64", ... */
  int type;                 /* QORA_F32, QORA_F16, QORA_BF16; -1 for a dtype qora cannot use */
  int n_dims;
  uint64_t shape[ST_MAX_DIMS];  /* outermost first: a [rows][cols] matrix is {rows, cols} */
  uint64_t n_elements;
  const void *data;         /* inside the map; not always aligned: read it with memcpy */
  uint64_t nbytes;
} st_tensor;

typedef struct st_file {
  char *name;               /* the path, for messages */
  const uint8_t *map;
  uint64_t size;
  int mapped;               /* 1 when map is ours to munmap */
  uint64_t data_offset;     /* 8 + header length */
  size_t n_tensors;
  st_tensor *tensors;       /* sorted by name */
} st_file;

/* Maps and validates path. On failure returns NULL and explains in err. */
st_file *st_open(const char *path, qora_err *err);

/* Validates an in-memory image (not copied; must outlive the result), for tests. */
st_file *st_open_memory(const void *data, uint64_t size, const char *name, qora_err *err);

void st_close(st_file *f);

/* The tensor called name, or NULL. */
const st_tensor *st_file_find(const st_file *f, const char *name);

/* ----------------------------------------------------------- checkpoint folders */

typedef struct st_checkpoint {
  char *dir;
  size_t n_files;
  st_file **files;
  size_t n_tensors;
  const st_tensor **tensors;  /* every tensor of every file, sorted by name */
} st_checkpoint;

/*
** Opens the weights of a Hugging Face folder: model.safetensors.index.json and the shards it
** names when the index exists, else model.safetensors. Every shard is opened and checked, and
** the index must agree with the shards.
*/
st_checkpoint *st_checkpoint_open(const char *dir, qora_err *err);
void st_checkpoint_close(st_checkpoint *c);

/* The tensor called name, or NULL. */
const st_tensor *st_checkpoint_find(const st_checkpoint *c, const char *name);

/* The tensor called name in a dtype qora reads (F32, F16, BF16); NULL with a message if not. */
const st_tensor *st_checkpoint_get(const st_checkpoint *c, const char *name, qora_err *err);

#endif
