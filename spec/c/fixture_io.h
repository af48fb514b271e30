/*
** fixture_io.h: reading the tests' reference files (a whole file, a list of token ids, a run
** of raw floats) and measuring how far a result is from one. The readers return NULL (or -1)
** when the file is missing or short, so that a test can say which fixture it could not read.
*/
#ifndef QORA_FIXTURE_IO_H
#define QORA_FIXTURE_IO_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* Reads a whole file, NUL-terminated (not counted in *len); NULL when it cannot. */
static inline char *slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  char *buf = NULL;
  long n = -1;

  *len = 0;
  if (f == NULL)
    return NULL;
  if (fseek(f, 0, SEEK_END) == 0)
    n = ftell(f);
  if (n >= 0 && fseek(f, 0, SEEK_SET) == 0)
    buf = malloc((size_t)n + 1);
  if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
    free(buf);
    buf = NULL;
  }
  fclose(f);
  if (buf) {
    buf[n] = '\0';
    *len = (size_t)n;
  }
  return buf;
}


/* Reads up to cap whitespace-separated integers; returns the count, -1 if no file. */
static inline int read_id_file(const char *path, int32_t *ids, int cap) {
  FILE *f = fopen(path, "r");
  int n = 0;
  long v;

  if (f == NULL)
    return -1;
  while (n < cap && fscanf(f, "%ld", &v) == 1)
    ids[n++] = (int32_t)v;
  fclose(f);
  return n;
}


/* The first want floats of a raw float32 file (logits); NULL if it has fewer. */
static inline float *read_floats(const char *path, size_t want) {
  FILE *f = fopen(path, "rb");
  float *buf = malloc(want * sizeof *buf);

  if (f == NULL || fread(buf, sizeof *buf, want, f) != want) {
    free(buf);
    buf = NULL;
  }
  if (f)
    fclose(f);
  return buf;
}


/* How far a result is from its reference, over n values. */
typedef struct diff {
  double max, rms;
  size_t at;                /* index of the largest difference */
} diff;

static inline diff compare(const float *a, const float *b, size_t n) {
  diff d = { 0, 0, 0 };

  for (size_t i = 0; i < n; i++) {
    double e = fabs((double)a[i] - b[i]);
    if (!(e <= d.max)) {    /* NaN counts as the largest */
      d.max = isnan(e) ? INFINITY : e;
      d.at = i;
    }
    d.rms += e * e;
  }
  d.rms = sqrt(d.rms / (double)(n ? n : 1));
  return d;
}

#endif
