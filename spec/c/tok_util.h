/*
** tok_util.h: helpers the tokenizer tests share: finding reference vectors, parsing id lists,
** comparing id sequences with a diagnostic at the first difference (files: fixture_io.h).
*/
#ifndef QORA_TOK_UTIL_H
#define QORA_TOK_UTIL_H

#include <stdlib.h>
#include <string.h>

#include "fixture_io.h"
#include "qora.h"
#include "tap.h"

/*
** A path among the reference vectors: $QORA_VECTORS, or ../shared/vectors/ from the repository
** root. The result lives until the fourth call after this one.
*/
static inline const char *vec_path(const char *rel) {
  static char buf[4][1024];
  static int next;
  const char *dir = getenv("QORA_VECTORS");
  char *b = buf[next++ % 4];

  snprintf(b, sizeof buf[0], "%s/%s", dir && *dir ? dir : "../shared/vectors", rel);
  return b;
}


/* Parses whitespace-separated ids from s[0..n) into out (which it grows). */
static inline void parse_ids(const char *s, size_t n, qora_tokens *out) {
  size_t i = 0;

  out->n = 0;
  while (i < n) {
    char *end;
    long v;

    while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
      i++;
    if (i >= n)
      break;
    v = strtol(s + i, &end, 10);
    if (out->n == out->cap) {
      out->cap = out->cap ? out->cap * 2 : 64;
      out->ids = realloc(out->ids, out->cap * sizeof *out->ids);
    }
    out->ids[out->n++] = (int32_t)v;
    i = (size_t)(end - s);
  }
}


/* 1 when got equals want; otherwise prints the first difference. */
static inline int same_ids(const qora_tokens *want, const qora_tokens *got) {
  size_t n = want->n < got->n ? want->n : got->n;

  for (size_t i = 0; i < n; i++) {
    if (want->ids[i] != got->ids[i]) {
      TAP_DIAG("first difference at index %zu: expected %d, got %d", i, want->ids[i],
               got->ids[i]);
      return 0;
    }
  }
  if (want->n != got->n) {
    TAP_DIAG("expected %zu ids, got %zu", want->n, got->n);
    return 0;
  }
  return 1;
}

#endif
