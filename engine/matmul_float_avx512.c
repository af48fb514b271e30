/*
** matmul_float_avx512.c: the tiled product for batches of tokens with F32, F16 or BF16
** weights (AVX-512). Activations are rounded to the weight type, as the row kernels see them,
** and packed as floats by tiles of GEMM_TOK tokens, value-major ([column][token]). Weights are
** converted to floats 32 rows by FLOAT_CHUNK columns at a time and transposed so that lane r
** of a vector is row r: one FMA then advances 16 rows for one token.
*/
#if defined(__x86_64__)

#include <immintrin.h>
#include <string.h>

#include "matmul_kernels.h"
#include "quant_kernels.h"

/* Converted weights of one chunk: half h, column k, row r at w[h][k * 16 + r]. */
typedef struct ftile {
  _Alignas(64) float w[GEMM_ROWS / GEMM_LANES][FLOAT_CHUNK * GEMM_LANES];
} ftile;


/* Token t's activations x, rounded to type, into its slot of the tiles at packed. */
void qora_gemm_float_pack_token(int type, int64_t cols, const float *x, int t, float *packed) {
  float *tile = packed + (size_t)(t / GEMM_TOK) * cols * GEMM_TOK + t % GEMM_TOK;
  for (int64_t k = 0; k < cols; k++) {
    float v = x[k];
    if (type == QORA_F16)
      v = _cvtsh_ss(_cvtss_sh(v, 0));
    else if (type == QORA_BF16)
      v = qora_bf16_to_f32(qora_f32_to_bf16(v));
    tile[k * GEMM_TOK] = v;
  }
}

/* ------------------------------------------------------------------ weight tiles */

/* 16 values of a row from column c, n of them (the rest 0), as floats. */
static inline __m512 load_row16(int type, const char *row, int64_t c, int n) {
  __mmask16 m = (__mmask16)((1u << n) - 1);
  if (type == QORA_F32)
    return _mm512_maskz_loadu_ps(m, (const float *)row + c);
  __m256i h = _mm256_maskz_loadu_epi16(m, (const uint16_t *)row + c);
  if (type == QORA_F16)
    return _mm512_cvtph_ps(h);
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}


/* 16 x 16 floats transposed in four rounds, each swapping a vector index bit with a lane bit. */
static inline void transpose_16x16(__m512 z[16]) {
  static const int32_t idx[4][2][16] = {
    {{0, 16, 2, 18, 4, 20, 6, 22, 8, 24, 10, 26, 12, 28, 14, 30},
     {1, 17, 3, 19, 5, 21, 7, 23, 9, 25, 11, 27, 13, 29, 15, 31}},
    {{0, 1, 16, 17, 4, 5, 20, 21, 8, 9, 24, 25, 12, 13, 28, 29},
     {2, 3, 18, 19, 6, 7, 22, 23, 10, 11, 26, 27, 14, 15, 30, 31}},
    {{0, 1, 2, 3, 16, 17, 18, 19, 8, 9, 10, 11, 24, 25, 26, 27},
     {4, 5, 6, 7, 20, 21, 22, 23, 12, 13, 14, 15, 28, 29, 30, 31}},
    {{0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23},
     {8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31}},
  };
#pragma GCC unroll 4
  for (int round = 0, bit = 1; round < 4; round++, bit <<= 1) {
    __m512i vc = _mm512_loadu_si512(idx[round][0]), vd = _mm512_loadu_si512(idx[round][1]);
#pragma GCC unroll 16
    for (int j = 0; j < 16; j++) {
      if (j & bit)
        continue;
      __m512 c = _mm512_permutex2var_ps(z[j], vc, z[j | bit]);
      __m512 d = _mm512_permutex2var_ps(z[j], vd, z[j | bit]);
      z[j] = c;
      z[j | bit] = d;
    }
  }
}


/* Rows [r0, r0 + nr) (others repeat row r0), columns [c0, c0 + kc), into out[k * 16 + r]. */
static void pack_float_half(float *out, const qora_weight *w, long r0, int nr, int64_t c0,
                            int kc) {
  const char *row[GEMM_LANES];
  for (int r = 0; r < GEMM_LANES; r++)
    row[r] = (const char *)w->data + (size_t)(r0 + (r < nr ? r : 0)) * w->row_bytes;

  for (int k = 0; k < kc; k += 16) {
    int n = kc - k < 16 ? kc - k : 16;
    __m512 z[16];
#pragma GCC unroll 16
    for (int r = 0; r < 16; r++)
      z[r] = load_row16(w->type, row[r], c0 + k, n);
    transpose_16x16(z);
    for (int i = 0; i < n; i++)
      _mm512_store_ps(out + (size_t)(k + i) * GEMM_LANES, z[i]);
  }
}

/* ------------------------------------------------------------------ the kernel */

typedef struct ftile_args {
  const float *w[2];            /* the halves at the chunk's first column */
  const float *a;               /* the token tile at the chunk's first column */
  int kc;
  float *y;
  int ldy;
  __mmask16 rows[2];
  int accumulate;
} ftile_args;


static inline __attribute__((always_inline)) void ftile_dot(const int T, const int R,
                                                            const ftile_args *a) {
  __m512 acc[2][GEMM_TOK];
#pragma GCC unroll 2
  for (int h = 0; h < R; h++)
#pragma GCC unroll 8
    for (int t = 0; t < T; t++)
      acc[h][t] = _mm512_setzero_ps();

  for (int k = 0; k < a->kc; k++) {
    __m512 w[2];
#pragma GCC unroll 2
    for (int h = 0; h < R; h++)
      w[h] = _mm512_load_ps(a->w[h] + (size_t)k * GEMM_LANES);
#pragma GCC unroll 8
    for (int t = 0; t < T; t++) {
      __m512 x = _mm512_set1_ps(a->a[(size_t)k * GEMM_TOK + t]);
#pragma GCC unroll 2
      for (int h = 0; h < R; h++)
        acc[h][t] = _mm512_fmadd_ps(w[h], x, acc[h][t]);
    }
  }

#pragma GCC unroll 2
  for (int h = 0; h < R; h++)
#pragma GCC unroll 8
    for (int t = 0; t < T; t++) {
      float *y = a->y + (size_t)t * a->ldy + h * GEMM_LANES;
      if (a->accumulate)
        acc[h][t] = _mm512_add_ps(acc[h][t], _mm512_maskz_loadu_ps(a->rows[h], y));
      _mm512_mask_storeu_ps(y, a->rows[h], acc[h][t]);
    }
}

#define FLOAT_CASES(R) \
  switch (T) { \
  case 1: ftile_dot(1, R, a); break; \
  case 2: ftile_dot(2, R, a); break; \
  case 3: ftile_dot(3, R, a); break; \
  case 4: ftile_dot(4, R, a); break; \
  case 5: ftile_dot(5, R, a); break; \
  default: ftile_dot(6, R, a); break; \
  }

_Static_assert(GEMM_TOK == 6, "FLOAT_CASES covers 1 to 6 tokens");

static void ftile_full(int T, const ftile_args *a) { FLOAT_CASES(2) }
static void ftile_half(int T, const ftile_args *a) { FLOAT_CASES(1) }


void qora_gemm_float_rows(const qora_weight *w, const float *packed, int n_tok, float *y,
                          int ldy, long tile_lo, long tile_hi) {
  size_t tile_floats = (size_t)w->cols * GEMM_TOK;
  ftile ft;

  for (int64_t c0 = 0; c0 < w->cols; c0 += FLOAT_CHUNK) {
    int kc = w->cols - c0 < FLOAT_CHUNK ? (int)(w->cols - c0) : FLOAT_CHUNK;
    for (long ti = tile_lo; ti < tile_hi; ti++) {
      long r0 = ti * GEMM_ROWS;
      int nr = w->rows - r0 < GEMM_ROWS ? (int)(w->rows - r0) : GEMM_ROWS;
      int n0 = nr < GEMM_LANES ? nr : GEMM_LANES, n1 = nr - n0;
      pack_float_half(ft.w[0], w, r0, n0, c0, kc);
      if (n1 > 0)
        pack_float_half(ft.w[1], w, r0 + GEMM_LANES, n1, c0, kc);
      for (int t0 = 0; t0 < n_tok; t0 += GEMM_TOK) {
        ftile_args a = {
          .w = {ft.w[0], ft.w[1]}, .kc = kc,
          .a = packed + (size_t)(t0 / GEMM_TOK) * tile_floats + (size_t)c0 * GEMM_TOK,
          .y = y + (size_t)t0 * ldy + r0, .ldy = ldy,
          .rows = {(__mmask16)((1u << n0) - 1), (__mmask16)((1u << n1) - 1)},
          .accumulate = c0 > 0,
        };
        (n1 > 0 ? ftile_full : ftile_half)(n_tok - t0, &a);
      }
    }
  }
}

#endif
