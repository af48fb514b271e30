/*
** gguf_write.h: a writer of GGUF v3 files (little-endian).
**
** Metadata and tensor infos are gathered in memory; tensor data is then streamed in the order
** the tensors were added, in pieces of any size, so a multi-gigabyte file never sits in
** memory. The writer pads each tensor to the file's alignment (general.alignment, default 32)
** by itself. The file is written as PATH.tmp and renamed to PATH by gguf_writer_finish, so an
** interrupted write never leaves a file that looks complete.
**
**   gguf_writer *w = gguf_writer_new(&err);
**   gguf_writer_set_str(w, "general.architecture", "smollm3", &err);
**   gguf_writer_add_tensor(w, "token_embd.weight", QORA_Q4_0, 2, ne, nbytes, &err);
**   gguf_writer_begin(w, path, &err);       // header, metadata, tensor infos
**   gguf_writer_write(w, data, n, &err);    // as many times as needed
**   gguf_writer_finish(w, &err);            // checks every byte came, renames
**   gguf_writer_free(w);
*/
#ifndef QORA_GGUF_WRITE_H
#define QORA_GGUF_WRITE_H

#include <stddef.h>
#include <stdint.h>

#include "gguf.h"
#include "qora.h"

typedef struct gguf_writer gguf_writer;

/* A new, empty writer; NULL (with err) when out of memory. */
gguf_writer *gguf_writer_new(qora_err *err);

/* Frees w; when the file was begun but not finished, removes the partial PATH.tmp. */
void gguf_writer_free(gguf_writer *w);

/*
** Metadata setters. Setting a key that is already set replaces its value in place (the key
** keeps its position). Keys must be non-empty. All return 0, or -1 with err.
*/
int gguf_writer_set_u8(gguf_writer *w, const char *key, uint8_t v, qora_err *err);
int gguf_writer_set_i8(gguf_writer *w, const char *key, int8_t v, qora_err *err);
int gguf_writer_set_u16(gguf_writer *w, const char *key, uint16_t v, qora_err *err);
int gguf_writer_set_i16(gguf_writer *w, const char *key, int16_t v, qora_err *err);
int gguf_writer_set_u32(gguf_writer *w, const char *key, uint32_t v, qora_err *err);
int gguf_writer_set_i32(gguf_writer *w, const char *key, int32_t v, qora_err *err);
int gguf_writer_set_u64(gguf_writer *w, const char *key, uint64_t v, qora_err *err);
int gguf_writer_set_i64(gguf_writer *w, const char *key, int64_t v, qora_err *err);
int gguf_writer_set_f32(gguf_writer *w, const char *key, float v, qora_err *err);
int gguf_writer_set_f64(gguf_writer *w, const char *key, double v, qora_err *err);
int gguf_writer_set_bool(gguf_writer *w, const char *key, int v, qora_err *err);

/* A NUL-terminated string, or len bytes of s (which may hold NULs). */
int gguf_writer_set_str(gguf_writer *w, const char *key, const char *s, qora_err *err);
int gguf_writer_set_strn(gguf_writer *w, const char *key, const char *s, uint64_t len,
                         qora_err *err);

/*
** An array of n numbers or booleans of type elem (a gguf_vtype other than STRING and ARRAY),
** given as n packed little-endian elements (booleans one byte each, 0 or 1).
*/
int gguf_writer_set_arr(gguf_writer *w, const char *key, uint32_t elem, const void *data,
                        uint64_t n, qora_err *err);

/* An array of n strings; lens may be NULL when every string is NUL-terminated. */
int gguf_writer_set_str_arr(gguf_writer *w, const char *key, const char *const *strs,
                            const uint64_t *lens, uint64_t n, qora_err *err);

/* Copies one key and its value, of any type, from a file opened with gguf_open. */
int gguf_writer_copy_kv(gguf_writer *w, const gguf_kv *kv, qora_err *err);

/* Removes a key; returns 1 when it was set, 0 when it was not. */
int gguf_writer_remove(gguf_writer *w, const char *key);

/*
** Declares the next tensor: ne[0] is the row length, unused dims need not be given (n_dims
** 1 to 4), type is a GGML type id, nbytes its data size (qora_row_size(type, ne[0]) times the
** rows; checked for the types qora names, trusted for others). Names must be unique and at
** most 63 bytes long (llama.cpp's limit).
*/
int gguf_writer_add_tensor(gguf_writer *w, const char *name, uint32_t type, uint32_t n_dims,
                           const uint64_t *ne, uint64_t nbytes, qora_err *err);

/*
** Refuses a path where a FIFO, a device or a socket is: the file is written to PATH.tmp and
** renamed over PATH, which would put a regular file in its place. gguf_writer_begin checks it;
** a caller may ask before long work.
*/
int gguf_writer_check_target(const char *path, qora_err *err);

/* Writes header, metadata and tensor infos to PATH.tmp. No setter may be called after. */
int gguf_writer_begin(gguf_writer *w, const char *path, qora_err *err);

/* Appends n bytes of tensor data; pieces may span tensors. Refuses bytes beyond the last. */
int gguf_writer_write(gguf_writer *w, const void *data, size_t n, qora_err *err);

/* Checks that every tensor's data was written, flushes, closes and renames PATH.tmp to PATH. */
int gguf_writer_finish(gguf_writer *w, qora_err *err);

/* Bytes the finished file will have (valid once begun). */
uint64_t gguf_writer_file_size(const gguf_writer *w);

#endif
