/*
** matmul.c: weight matrix x activation rows on the thread pool. The activations are first
** converted to the weight type's vec_dot_type (once per product, split over the threads),
** then the output rows are split over the threads. A few tokens go through the r16 kernels
** when the weights were repacked (matmul_r16.c), else the row kernels or the type's vec_dot;
** batches go through the tiled kernels of matmul_kernels.h when the CPU has them.
*/
#include <stdint.h>

#include "matmul.h"
#include "matmul_kernels.h"
#include "quant.h"
#include "repack.h"

#define SCRATCH_ALIGN 64

/* Rows of weights done together, so their bytes are reused across the tokens from cache. */
#define ROW_TILE 16

typedef struct mm_job {
  qora_pool *pool;
  const qora_weight *w;
  const qora_type_traits *vt;   /* the activation type's traits */
  qora_vec_dot_fn vec_dot;
  const float *x;
  int ldx;
  int n_tok;
  float *y;
  int ldy;
  char *q;                      /* converted activations, one row of qrow bytes per token */
  size_t qrow;
  char *packed;                 /* activation tiles for the tiled path, or NULL */
  int tok;                      /* and their tokens per tile */
  float *fpacked;               /* float activation tiles for float weights, or NULL */
  char *gemv;                   /* activation packs for the row kernels, or NULL */
  size_t gemv_stride;
} mm_job;


static char *align_up(void *p) {
  uintptr_t u = (uintptr_t)p;
  return (char *)((u + SCRATCH_ALIGN - 1) & ~(uintptr_t)(SCRATCH_ALIGN - 1));
}


static size_t align_size(size_t n) {
  return (n + SCRATCH_ALIGN - 1) & ~(size_t)(SCRATCH_ALIGN - 1);
}


/* Activation tiles of tok tokens for n_tok tokens. */
static size_t tiles_bytes(const qora_weight *w, int n_tok, int tok) {
  return qora_gemm_tile_bytes(w->type, w->cols, tok) * (((size_t)n_tok + tok - 1) / tok);
}


/*
** The converted rows, then the packs of either path (whatever the CPU level, for tests); room
** for n_tok tokens is room for fewer.
*/
size_t qora_matmul_scratch(const qora_weight *w, int n_tok) {
  const qora_type_traits *t = qora_type_get(w->type);
  const gemm_layout *gl = qora_gemm_layout(w->type);
  size_t rows, tiles = 0, gemv, r16 = qora_r16_scratch(w, n_tok);

  if (t == NULL)
    return 0;
  if (qora_gemm_float_type(w->type)) {
    rows = t->vec_dot_type == QORA_F32 ? 0 : align_size(qora_row_size(w->type, w->cols) * n_tok);
    tiles = n_tok >= FLOAT_MIN_TOK ? qora_gemm_float_bytes(w->cols, n_tok) : 0;
    return rows + tiles + SCRATCH_ALIGN;
  }
  rows = align_size(qora_row_size(t->vec_dot_type, w->cols) * (size_t)n_tok);
  if (gl && n_tok >= gl->min_tok) {    /* room for either level's tiles */
    size_t vnni = tiles_bytes(w, n_tok, GEMM_TOK), amx = tiles_bytes(w, n_tok, AMX_TOK);
    tiles = vnni > amx ? vnni : amx;
  }
  gemv = align_size(qora_gemv_token_bytes(w->type, w->cols)) * (size_t)n_tok;
  rows += (tiles > gemv ? tiles : gemv) + SCRATCH_ALIGN;
  return rows > r16 ? rows : r16;
}


static void convert_part(void *ctx, int ith, int nth) {
  mm_job *j = ctx;
  long lo, hi;

  qora_split(j->n_tok, ith, nth, &lo, &hi);
  for (long t = lo; t < hi; t++) {
#if defined(__x86_64__)
    if (j->fpacked) {
      qora_gemm_float_pack_token(j->w->type, j->w->cols, j->x + t * j->ldx, (int)t, j->fpacked);
      continue;
    }
#endif
    j->vt->from_float(j->x + t * j->ldx, j->q + t * j->qrow, j->w->cols);
    if (j->packed)
      qora_gemm_pack_token(j->w->type, j->w->cols, j->q + t * j->qrow, (int)t, j->tok,
                           j->packed);
#if defined(__x86_64__)
    if (j->gemv)
      qora_gemv_pack_token(j->w->type, j->w->cols, j->q + t * j->qrow,
                           j->gemv + t * j->gemv_stride);
#endif
  }
}


static void gemv_part(void *ctx, int ith, int nth) {
  mm_job *j = ctx;
  long lo, hi;

  qora_split(j->w->rows, ith, nth, &lo, &hi);
#if defined(__x86_64__)
  qora_gemv_rows(j->w, j->gemv, j->gemv_stride, j->q, j->qrow, j->n_tok, j->y, j->ldy, lo, hi);
#endif
}


static void gemm_part(void *ctx, int ith, int nth) {
  mm_job *j = ctx;
  long lo, hi;

  qora_split((j->w->rows + GEMM_ROWS - 1) / GEMM_ROWS, ith, nth, &lo, &hi);
#if defined(__x86_64__)
  if (j->fpacked)
    qora_gemm_float_rows(j->w, j->fpacked, j->n_tok, j->y, j->ldy, lo, hi);
  else if (qora_gemm_available())
    qora_gemm_rows(j->w, j->packed, j->tok, j->n_tok, j->y, j->ldy, lo, hi);
  else
    qora_gemm_rows_avx2(j->w, j->packed, j->n_tok, j->y, j->ldy, lo, hi);
#endif
}


/*
** The row kernels on a matrix held only in the r16 layout (the scalar level, which tests
** force): each row is read back into the stored layout first, so the sums are those of the
** stored copy, bit for bit.
*/
static void dot_rows_r16(const mm_job *j, long lo, long hi) {
  _Alignas(64) uint8_t row[R16_ROW_MAX];
  int n = (int)j->w->cols;

  for (long r = lo; r < hi; r++) {
    qora_r16_row(j->w, r, row);
    for (int t = 0; t < j->n_tok; t++)
      j->vec_dot(n, &j->y[(size_t)t * j->ldy + r], row, j->q + t * j->qrow);
  }
}


static void dot_part(void *ctx, int ith, int nth) {
  mm_job *j = ctx;
  const char *wd = j->w->data;
  size_t wrow = j->w->row_bytes;
  int n = (int)j->w->cols;
  long lo, hi;

  qora_split(j->w->rows, ith, nth, &lo, &hi);
  if (wd == NULL) {
    dot_rows_r16(j, lo, hi);
    return;
  }
  for (long r0 = lo; r0 < hi; r0 += ROW_TILE) {
    long r1 = r0 + ROW_TILE < hi ? r0 + ROW_TILE : hi;
    for (int t = 0; t < j->n_tok; t++) {
      const char *q = j->q + t * j->qrow;
      float *y = j->y + (size_t)t * j->ldy;
      for (long r = r0; r < r1; r++)
        j->vec_dot(n, &y[r], wd + r * wrow, q);
    }
  }
}


/* Float weights in batches: activations packed as floats, no conversion rows needed. */
static int float_tiles(mm_job *j, void *scratch) {
  const qora_weight *w = j->w;

  if (!qora_gemm_float_type(w->type) || j->n_tok < FLOAT_MIN_TOK || !qora_gemm_available())
    return 0;
  size_t rows = w->type == QORA_F32 ? 0 : qora_row_size(w->type, w->cols) * j->n_tok;
  j->fpacked = (float *)(align_up(scratch) + align_size(rows));
  qora_pool_run(j->pool, convert_part, j);
  return 1;
}


void qora_matmul(qora_pool *pool, const qora_weight *w, const float *x, int ldx, int n_tok,
                 float *y, int ldy, void *scratch) {
  const qora_type_traits *t = qora_type_get(w->type);
  mm_job j = {
    .w = w, .vt = qora_type_get(t->vec_dot_type), .vec_dot = t->vec_dot, .pool = pool,
    .x = x, .ldx = ldx, .n_tok = n_tok, .y = y, .ldy = ldy,
  };

  if (qora_r16_path(w, n_tok)) {
    qora_matmul_r16(pool, w, x, ldx, n_tok, y, ldy, scratch);
    return;
  }
  if (float_tiles(&j, scratch)) {
    qora_pool_run(pool, gemm_part, &j);
    return;
  }
  if (t->vec_dot_type == QORA_F32) {
    j.q = (char *)x;            /* F32 weights read the activations as they are */
    j.qrow = (size_t)ldx * sizeof *x;
  } else {
    j.q = align_up(scratch);
    j.qrow = qora_row_size(t->vec_dot_type, w->cols);
    char *after = j.q + align_size(j.qrow * (size_t)n_tok);
    const gemm_layout *gl = qora_gemm_layout(w->type);
    if (gl && n_tok >= qora_gemm_min_tok(w->type) && qora_gemm_takes(w)) {
      j.packed = after;
      j.tok = qora_gemm_tok(w->type);
    }
    else if (qora_gemv_available(w->type)) {
      j.gemv = after;
      j.gemv_stride = align_size(qora_gemv_token_bytes(w->type, w->cols));
    }
    if (n_tok == 1)
      convert_part(&j, 0, 1);   /* one row: not worth waking the pool */
    else
      qora_pool_run(pool, convert_part, &j);
  }
  qora_pool_run(pool, j.packed || j.fpacked ? gemm_part : j.gemv ? gemv_part : dot_part, &j);
}
