/*
** matmul.h: products of a weight matrix with a batch of activation rows, on the thread pool.
*/
#ifndef QORA_MATMUL_H
#define QORA_MATMUL_H

#include <stddef.h>
#include <stdint.h>

#include "pool.h"

/*
** A weight matrix: rows of cols values each, stored row after row in type. Never copied; a
** loader may add a copy rearranged for the decode kernels (repack.h), which every product then
** reads, and free the stored one (data NULL: a folder's matrices, qora_model_repack).
*/
typedef struct qora_weight {
  int type;
  int64_t rows;
  int64_t cols;
  size_t row_bytes;
  const void *data;
  const void *r16;          /* the r16 layout of data (repack.h), or NULL */
} qora_weight;

/* Bytes of scratch qora_matmul needs for n_tok activation rows of w->cols values (any
** alignment; 0 for F32 weights, which read the activations in place). */
size_t qora_matmul_scratch(const qora_weight *w, int n_tok);

/*
** y[t * ldy + r] = sum_k w[r][k] * x[t * ldx + k], for t < n_tok and r < w->rows.
** Activations are converted once to the weight type's vec_dot_type, in scratch. w->type must
** have a vec_dot and w->cols be a multiple of its block size (the loader checks both).
** Allocates nothing and takes no lock; the pool's threads share the rows. Batches repack
** weight tiles on each thread's stack (about 100 KB).
*/
void qora_matmul(qora_pool *pool, const qora_weight *w, const float *x, int ldx, int n_tok,
                 float *y, int ldy, void *scratch);

/*
** The products of n (at most QORA_FUSE_MAX) weights with the same activations, y[i] with
** ldy[i]: as n calls of qora_matmul, but decode on repacked weights of one activation type
** converts once and runs one pool job. scratch: the largest qora_matmul_scratch of them.
*/
#define QORA_FUSE_MAX 4

void qora_matmul_n(qora_pool *pool, int n, const qora_weight *const *w, const float *x,
                   int ldx, int n_tok, float *const *y, const int *ldy, void *scratch);

/*
** Names the product (n weights with the same activations, as qora_matmul_n, for n_tok tokens)
** that follows the pool's next jobs: while a thread waits at the end of each of them, it asks
** for the first lines of its share of that product into L2, so the memory bus stays busy
** across the barrier. n 0, or a product off the decode path, names none. The weights must
** stay valid as long as the pool does. Changes no result.
*/
void qora_matmul_next(qora_pool *pool, int n, const qora_weight *const *w, int n_tok);

#endif
