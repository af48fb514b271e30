/*
** tok_gguf_build.h: writes small GGUF v3 images in memory, for tests that need vocabularies
** with chosen (or broken) metadata.
*/
#ifndef QORA_TOK_GGUF_BUILD_H
#define QORA_TOK_GGUF_BUILD_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gguf.h"

typedef struct gbuf {
  unsigned char *p;
  size_t n, cap;
  uint64_t n_kv;
} gbuf;

static inline void gb_put(gbuf *b, const void *src, size_t n) {
  if (b->n + n > b->cap) {
    b->cap = (b->n + n) * 2 + 256;
    b->p = realloc(b->p, b->cap);
  }
  memcpy(b->p + b->n, src, n);
  b->n += n;
}


static inline void gb_u32v(gbuf *b, uint32_t v) { gb_put(b, &v, 4); }
static inline void gb_u64v(gbuf *b, uint64_t v) { gb_put(b, &v, 8); }

static inline void gb_strv(gbuf *b, const char *s, size_t n) {
  gb_u64v(b, n);
  gb_put(b, s, n);
}


static inline void gb_key(gbuf *b, const char *key, uint32_t type) {
  gb_strv(b, key, strlen(key));
  gb_u32v(b, type);
  b->n_kv++;
}


static inline void gb_str(gbuf *b, const char *key, const char *val) {
  gb_key(b, key, GGUF_STRING);
  gb_strv(b, val, strlen(val));
}


static inline void gb_u32(gbuf *b, const char *key, uint32_t v) {
  gb_key(b, key, GGUF_U32);
  gb_u32v(b, v);
}


static inline void gb_bool(gbuf *b, const char *key, int v) {
  unsigned char c = (unsigned char)(v != 0);

  gb_key(b, key, GGUF_BOOL);
  gb_put(b, &c, 1);
}


/* An array of n strings; lens[i] may be NULL for NUL-terminated strings. */
static inline void gb_strs(gbuf *b, const char *key, const char *const *s, const size_t *lens,
                    size_t n) {
  gb_key(b, key, GGUF_ARRAY);
  gb_u32v(b, GGUF_STRING);
  gb_u64v(b, n);
  for (size_t i = 0; i < n; i++)
    gb_strv(b, s[i], lens ? lens[i] : strlen(s[i]));
}


static inline void gb_i32s(gbuf *b, const char *key, const int32_t *v, size_t n) {
  gb_key(b, key, GGUF_ARRAY);
  gb_u32v(b, GGUF_I32);
  gb_u64v(b, n);
  gb_put(b, v, n * 4);
}


/* The finished image: header, then the key-value pairs written so far (no tensors). */
static inline unsigned char *gb_image(const gbuf *b, size_t *n) {
  unsigned char *img = malloc(24 + b->n + 32);
  uint32_t version = 3;
  uint64_t zero = 0;

  memcpy(img, "GGUF", 4);
  memcpy(img + 4, &version, 4);
  memcpy(img + 8, &zero, 8);
  memcpy(img + 16, &b->n_kv, 8);
  memcpy(img + 24, b->p, b->n);
  memset(img + 24 + b->n, 0, 32);   /* room for the aligned (empty) data section */
  *n = 24 + b->n + 32;
  return img;
}

#endif
