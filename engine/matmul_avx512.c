/*
** matmul_avx512.c: the tiled product for batches of tokens with AVX-512 VNNI. A weight tile
** holds 32 rows of one chunk of columns as u8, transposed so that 32-bit lane r of a vector
** is 4 consecutive values of row r; vpdpbusd with 4 broadcast activation bytes then advances
** 16 dot products at once. Each weight vector serves GEMM_TOK tokens and each broadcast two
** weight vectors, from registers.
*/
#if defined(__x86_64__)

#include <immintrin.h>
#include <stddef.h>
#include <string.h>

#include "matmul_kernels.h"
#include "matmul_tile.h"
#include "kblock_values.h"
#include "quant_kernels.h"
#include "repack.h"

/* ------------------------------------------------------------------ weight unpacking */

/*
** A tile holds each row's values as u8 (value = s * (u8 - off) + m per scaled block). The
** scales of 16 rows are computed together from gathered fields; the values are unpacked row
** by row into a staging area and then transposed, 32 values at a time.
*/

/* A 32-bit field at byte off of 16 rows (row_bytes apart) of one block; 0 from row nr on. */
static inline __m512i gather_field(const char *blk, size_t row_bytes, int nr, size_t off) {
  __m512i idx = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11,
                                                     12, 13, 14, 15),
                                   _mm512_set1_epi32((int)row_bytes));
  return _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), (__mmask16)((1u << nr) - 1), idx,
                                     blk + off, 1);
}


/* The same for an F16 field, as floats. */
static inline __m512 gather_f16s(const char *blk, size_t row_bytes, int nr, size_t off) {
  return _mm512_cvtph_ps(_mm512_cvtepi32_epi16(gather_field(blk, row_bytes, nr, off)));
}


/* Byte k (0-3) of each lane, unsigned or signed, as floats. */
static inline __m512 byte_ps(__m512i v, int k, int is_signed) {
  __m512i b = _mm512_slli_epi32(v, 24 - 8 * k);
  return _mm512_cvtepi32_ps(is_signed ? _mm512_srai_epi32(b, 24) : _mm512_srli_epi32(b, 24));
}


/* d * scale and -dmin * min of 8 sub-blocks of 16 rows, from the 12 packed bytes u0 u1 u2. */
static void scales_k4_from(__m512 d, __m512 dmin, __m512i u0, __m512i u1, __m512i u2, float *s,
                           float *m) {
  __m512i sc[2], mn[2];

  qora_r16_k4_unpack(u0, u1, u2, sc, mn);
  for (int j = 0; j < 8; j++) {
    _mm512_store_ps(s + j * GEMM_LANES, _mm512_mul_ps(d, byte_ps(sc[j / 4], j % 4, 0)));
    _mm512_store_ps(m + j * GEMM_LANES,
                    _mm512_mul_ps(_mm512_sub_ps(_mm512_setzero_ps(), dmin),
                                  byte_ps(mn[j / 4], j % 4, 0)));
  }
}


/* Q4_K / Q5_K: the same from a block of 16 rows in the stored layout. */
static void scales_k4(const char *blk, size_t rb, int nr, float *s, float *m) {
  scales_k4_from(gather_f16s(blk, rb, nr, 0), gather_f16s(blk, rb, nr, 2),
                 gather_field(blk, rb, nr, 4), gather_field(blk, rb, nr, 8),
                 gather_field(blk, rb, nr, 12), s, m);
}


/* Q6_K: d * scale of the 16 sub-blocks of 16 (signed 8-bit scales). */
static void scales_q6_K(const char *blk, size_t rb, int nr, float *s, float *m) {
  __m512 d = gather_f16s(blk, rb, nr, offsetof(block_q6_K, d));
  for (int g = 0; g < 4; g++) {
    __m512i w = gather_field(blk, rb, nr, offsetof(block_q6_K, scales) + 4 * g);
    for (int k = 0; k < 4; k++) {
      _mm512_store_ps(s + (4 * g + k) * GEMM_LANES, _mm512_mul_ps(d, byte_ps(w, k, 1)));
      _mm512_store_ps(m + (4 * g + k) * GEMM_LANES, _mm512_setzero_ps());
    }
  }
}


static inline void transpose_16x8(__m512i z[8], uint8_t *out) {
  static const int32_t idx[3][2][16] = {
    {{0, 16, 2, 18, 4, 20, 6, 22, 8, 24, 10, 26, 12, 28, 14, 30},
     {1, 17, 3, 19, 5, 21, 7, 23, 9, 25, 11, 27, 13, 29, 15, 31}},
    {{0, 1, 16, 17, 4, 5, 20, 21, 8, 9, 24, 25, 12, 13, 28, 29},
     {2, 3, 18, 19, 6, 7, 22, 23, 10, 11, 26, 27, 14, 15, 30, 31}},
    {{0, 1, 2, 3, 16, 17, 18, 19, 8, 9, 10, 11, 24, 25, 26, 27},
     {4, 5, 6, 7, 20, 21, 22, 23, 12, 13, 14, 15, 28, 29, 30, 31}},
  };
#pragma GCC unroll 3
  for (int round = 0, bit = 1; round < 3; round++, bit <<= 1) {
    __m512i ic = _mm512_loadu_si512(idx[round][0]), id = _mm512_loadu_si512(idx[round][1]);
#pragma GCC unroll 8
    for (int j = 0; j < 8; j++) {
      if (j & bit)
        continue;
      __m512i c = _mm512_permutex2var_epi32(z[j], ic, z[j | bit]);
      __m512i d = _mm512_permutex2var_epi32(z[j], id, z[j | bit]);
      z[j] = c;
      z[j | bit] = d;
    }
  }
#pragma GCC unroll 8
  for (int kk = 0; kk < 8; kk++)
    _mm512_store_si512(out + kk * 64, z[kk]);
}


/* The same from 16 rows of 32 values at v + stride * r. */
static void transpose_rows(const uint8_t *v, int stride, uint8_t *out) {
  __m512i z[8];
  for (int j = 0; j < 8; j++)
    z[j] = _mm512_inserti64x4(_mm512_castsi256_si512(
        _mm256_load_si256((const __m256i *)(v + j * stride))),
        _mm256_load_si256((const __m256i *)(v + (j + 8) * stride)), 1);
  transpose_16x8(z, out);
}


/*
** Q4_0, Q4_1 and Q8_0 straight from the rows: vector j takes rows j and j + 8 of one block,
** then one transpose. Rows from nr on read row 0 again (their scale is 0).
*/
static void pack_half_32(whalf *wh, const qora_weight *w, const char *base, int nr,
                         int64_t cc) {
  int four_bit = w->type != QORA_Q8_0, has_min = w->type == QORA_Q4_1;
  size_t bsize = qora_type_get(w->type)->type_size, qoff = has_min ? 4 : 2;
  const char *row[GEMM_LANES];
  for (int r = 0; r < GEMM_LANES; r++)
    row[r] = base + (size_t)(r < nr ? r : 0) * w->row_bytes + qoff;

  for (int u = 0; u < cc / 32; u++) {
    __m512i z[8];
    size_t at = (size_t)u * bsize;
    for (int j = 0; j < 8; j++) {
      if (four_bit) {
        __m256i raw = _mm256_inserti128_si256(_mm256_castsi128_si256(
            _mm_loadu_si128((const __m128i *)(row[j] + at))),
            _mm_loadu_si128((const __m128i *)(row[j + 8] + at)), 1);
        __m512i n = _mm512_inserti64x4(_mm512_castsi256_si512(raw), _mm256_srli_epi16(raw, 4), 1);
        n = _mm512_and_si512(n, _mm512_set1_epi8(0x0f));
        z[j] = _mm512_shuffle_i64x2(n, n, _MM_SHUFFLE(3, 1, 2, 0));   /* lo j, hi j, lo, hi */
      } else {
        __m512i b = _mm512_inserti64x4(_mm512_castsi256_si512(
            _mm256_loadu_si256((const __m256i *)(row[j] + at))),
            _mm256_loadu_si256((const __m256i *)(row[j + 8] + at)), 1);
        z[j] = _mm512_xor_si512(b, _mm512_set1_epi8((char)0x80));
      }
    }
    transpose_16x8(z, &wh->q[u * 8 * 64]);
    _mm512_store_ps(&wh->s[u * GEMM_LANES], gather_f16s(base + at, w->row_bytes, nr, 0));
    if (has_min)
      _mm512_store_ps(&wh->m[u * GEMM_LANES], gather_f16s(base + at, w->row_bytes, nr, 2));
  }
}


/* K-quants: per block of 256, the scales of 16 rows, then each row's values, transposed. */
static void pack_half_K(whalf *wh, const qora_weight *w, const char *base, int nr,
                        int64_t cc) {
  size_t bsize = qora_type_get(w->type)->type_size;
  values_fn values = w->type == QORA_Q4_K ? values_q4_K : w->type == QORA_Q5_K ? values_q5_K
                                                                               : values_q6_K;
  int nsub = w->type == QORA_Q6_K ? 16 : 8;
  _Alignas(64) uint8_t v[GEMM_LANES][QK_K];

  for (int u = 0; u < cc / QK_K; u++) {
    const char *blk = base + (size_t)u * bsize;
    float *s = &wh->s[u * nsub * GEMM_LANES], *m = &wh->m[u * nsub * GEMM_LANES];
    if (nsub == 16)
      scales_q6_K(blk, w->row_bytes, nr, s, m);
    else
      scales_k4(blk, w->row_bytes, nr, s, m);
    for (int r = 0; r < GEMM_LANES; r++)
      values(blk + (size_t)(r < nr ? r : 0) * w->row_bytes, v[r]);
    /* 32 values at a time: one block of 32, or two of 16 whose vectors follow each other. */
    for (int j = 0; j < QK_K / 32; j++)
      transpose_rows(&v[0][j * 32], QK_K, &wh->q[(u * QK_K / 32 + j) * 8 * 64]);
  }
}


/* ------------------------------------------------------------------ from the r16 layout */

/*
** Weights repacked at load (repack.h) are already 16 rows to a vector: a tile only splits the
** nibbles and widens the scales, with no gather and no transpose. Missing rows are zeros.
*/

static inline __m512i lo_nibbles(__m512i v) {
  return _mm512_and_si512(v, _mm512_set1_epi8(0x0f));
}


static inline __m512i hi_nibbles(__m512i v) {
  return _mm512_and_si512(_mm512_srli_epi16(v, 4), _mm512_set1_epi8(0x0f));
}


static inline __m512 f16x16(const uint8_t *p) {
  return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)p));
}


/* Q4_0 and Q8_0: blocks [b0, b0 + nbc) of a group. */
static void r16_half_32(whalf *wh, const qora_weight *w, const uint8_t *grp, int64_t b0,
                        int nbc) {
  int q8 = w->type == QORA_Q8_0, nvec = q8 ? 8 : 4;
  size_t qb = (size_t)nvec * 64;

  for (int u = 0; u < nbc; u++) {
    const uint8_t *q = grp + qora_r16_q_at(b0 + u, qb);
    uint8_t *out = &wh->q[u * 8 * 64];
    for (int k = 0; k < nvec; k++) {
      __m512i v = _mm512_loadu_si512((const void *)(q + k * 64));
      if (q8) {
        _mm512_store_si512(out + k * 64, v);
        continue;
      }
      _mm512_store_si512(out + k * 64, lo_nibbles(v));         /* values 4k .. 4k + 3 */
      _mm512_store_si512(out + (4 + k) * 64, hi_nibbles(v));   /* values 16 + 4k .. */
    }
    _mm512_store_ps(&wh->s[u * GEMM_LANES], f16x16(grp + qora_r16_d_at(b0 + u, qb)));
  }
}


/* Q4_K: blocks [i0, i0 + n) of a group; vector c splits into sub-blocks 2 (c / 8) and + 1. */
static void r16_half_q4_K(whalf *wh, const uint8_t *grp, int64_t i0, int n) {
  for (int u = 0; u < n; u++) {
    const uint8_t *q = grp + (size_t)(i0 + u) * R16_ROWS * sizeof(block_q4_K);
    for (int c = 0; c < 32; c++) {
      __m512i v = _mm512_loadu_si512((const void *)(q + R16_K4_Q + c * 64));
      int j = 2 * (c / 8), kk = c % 8;
      _mm512_store_si512(&wh->q[((u * 8 + j) * 8 + kk) * 64], lo_nibbles(v));
      _mm512_store_si512(&wh->q[((u * 8 + j + 1) * 8 + kk) * 64], hi_nibbles(v));
    }
    __m512 d = f16x16(q + R16_K4_D), dmin = f16x16(q + R16_K4_D + 2 * R16_ROWS);
    __m512i u0 = _mm512_loadu_si512((const void *)(q));
    __m512i u1 = _mm512_loadu_si512((const void *)(q + 64));
    __m512i u2 = _mm512_loadu_si512((const void *)(q + 2 * 64));
    scales_k4_from(d, dmin, u0, u1, u2, &wh->s[u * 8 * GEMM_LANES], &wh->m[u * 8 * GEMM_LANES]);
  }
}


/*
** Q6_K: blocks [i0, i0 + n) of a group, as 6-bit values and d * scale per sub-block of 16.
** Quads 0-2 are the low 6 bits of vectors a, b, c; quad 3 is their top 2 bits (repack.h).
*/
static void r16_half_q6_K(whalf *wh, const uint8_t *grp, int64_t i0, int n) {
  const __m512i m6 = _mm512_set1_epi8(0x3f);

  for (int u = 0; u < n; u++) {
    const uint8_t *q = grp + qora_r16_q_at(i0 + u, R16_Q6_BLOCK);
    __m512 d = f16x16(grp + qora_r16_d_at(i0 + u, R16_Q6_BLOCK));
    for (int s = 0; s < 16; s++) {
      const uint8_t *p = q + qora_r16_q6_sub(s);
      __m512i a = _mm512_loadu_si512((const void *)p);
      __m512i b = _mm512_loadu_si512((const void *)(p + 64));
      __m512i c = _mm512_loadu_si512((const void *)(p + 128));
      __m512i v[4] = {a, b, c, qora_r16_q6_top(a, b, c)};
      for (int k = 0; k < 4; k++)
        _mm512_store_si512(&wh->q[((u * 16 + s) * 4 + k) * 64], _mm512_and_si512(v[k], m6));
      __m512 sc = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(
          _mm_loadu_si128((const __m128i *)(q + qora_r16_q6_scales(s)))));
      _mm512_store_ps(&wh->s[(u * 16 + s) * GEMM_LANES], _mm512_mul_ps(d, sc));
      _mm512_store_ps(&wh->m[(u * 16 + s) * GEMM_LANES], _mm512_setzero_ps());
    }
  }
}


/* Rows [r0, r0 + 16) (r0 a multiple of 16) and columns [c0, c0 + cc) from w->r16. */
static void r16_half(whalf *wh, const qora_weight *w, long r0, int64_t c0, int64_t cc) {
  const uint8_t *grp = (const uint8_t *)w->r16 + (size_t)(r0 / R16_ROWS) * qora_r16_group_bytes(w);

  if (w->type == QORA_Q4_K)
    r16_half_q4_K(wh, grp, c0 / QK_K, (int)(cc / QK_K));
  else if (w->type == QORA_Q6_K)
    r16_half_q6_K(wh, grp, c0 / QK_K, (int)(cc / QK_K));
  else
    r16_half_32(wh, w, grp, c0 / 32, (int)(cc / 32));
}

/* ------------------------------------------------------------------ tile packing */

/* Fills wh with rows [r0, r0 + nr) and columns [c0, c0 + cc); missing rows get scale 0. */
static void pack_half(whalf *wh, const qora_weight *w, long r0, int nr, int64_t c0,
                      int64_t cc) {
  const qora_type_traits *tt = qora_type_get(w->type);

  if (w->r16) {
    r16_half(wh, w, r0, c0, cc);
    return;
  }
  const char *base = (const char *)w->data + (size_t)r0 * w->row_bytes +
                     (size_t)(c0 / tt->blck) * tt->type_size;

  if (tt->blck == 32)
    pack_half_32(wh, w, base, nr, cc);
  else
    pack_half_K(wh, w, base, nr, cc);
}

/* ------------------------------------------------------------------ the kernel */

static inline int32_t load32(const int8_t *p) {
  int32_t v;
  memcpy(&v, p, sizeof v);
  return v;
}


/*
** 16 R rows x T tokens over one chunk. T, KK (bl / 4), MIN and R are constants in every
** caller, so the loops unroll and the accumulators live in registers; with R = 2 each
** broadcast activation word feeds two vpdpbusd.
*/
static inline __attribute__((always_inline)) void tile_dot(const int T, const int KK,
                                                           const int MIN, const int R,
                                                           const tile_args *a) {
  const int bl = 4 * KK;
  __m512 f[2][GEMM_TOK];
#pragma GCC unroll 2
  for (int h = 0; h < R; h++)
#pragma GCC unroll 8
    for (int t = 0; t < T; t++)
      f[h][t] = _mm512_setzero_ps();

  for (int b = 0; b < a->nbc; b++) {
    const int8_t *q = a->aq + (size_t)b * GEMM_TOK * bl;
    __m512i acc[2][GEMM_TOK];
#pragma GCC unroll 8
    for (int t = 0; t < T; t++) {
      acc[0][t] = _mm512_set1_epi32(a->an[b * GEMM_TOK + t]);   /* -off * sum(q) */
      if (R == 2)
        acc[1][t] = acc[0][t];
    }
#pragma GCC unroll 8
    for (int kk = 0; kk < KK; kk++) {
      __m512i w[2];
#pragma GCC unroll 2
      for (int h = 0; h < R; h++)
        w[h] = _mm512_load_si512(a->w[h].q + ((size_t)b * KK + kk) * 64);
#pragma GCC unroll 8
      for (int t = 0; t < T; t++) {
        __m512i y = _mm512_set1_epi32(load32(q + t * bl + 4 * kk));
#pragma GCC unroll 2
        for (int h = 0; h < R; h++)
          acc[h][t] = _mm512_dpbusd_epi32(acc[h][t], w[h], y);
      }
    }
#pragma GCC unroll 2
    for (int h = 0; h < R; h++) {
      __m512 s = _mm512_load_ps(a->w[h].s + b * GEMM_LANES);
#pragma GCC unroll 8
      for (int t = 0; t < T; t++) {
        __m512 dy = _mm512_set1_ps(a->ad[b * GEMM_TOK + t]);
        f[h][t] = _mm512_fmadd_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(acc[h][t]), dy), s, f[h][t]);
      }
      if (MIN) {
        __m512 m = _mm512_load_ps(a->w[h].m + b * GEMM_LANES);
#pragma GCC unroll 8
        for (int t = 0; t < T; t++)
          f[h][t] = _mm512_fmadd_ps(m, _mm512_set1_ps(a->as[b * GEMM_TOK + t]), f[h][t]);
      }
    }
  }

#pragma GCC unroll 2
  for (int h = 0; h < R; h++)
#pragma GCC unroll 8
    for (int t = 0; t < T; t++) {
      float *y = a->y + (size_t)t * a->ldy + h * GEMM_LANES;
      if (a->accumulate)
        f[h][t] = _mm512_add_ps(f[h][t], _mm512_maskz_loadu_ps(a->rows[h], y));
      _mm512_mask_storeu_ps(y, a->rows[h], f[h][t]);
    }
}

#define TOKEN_CASES(KK, MIN, R) \
  switch (T) { \
  case 1: tile_dot(1, KK, MIN, R, a); break; \
  case 2: tile_dot(2, KK, MIN, R, a); break; \
  case 3: tile_dot(3, KK, MIN, R, a); break; \
  case 4: tile_dot(4, KK, MIN, R, a); break; \
  case 5: tile_dot(5, KK, MIN, R, a); break; \
  default: tile_dot(6, KK, MIN, R, a); break; \
  }

_Static_assert(GEMM_TOK == 6, "TOKEN_CASES covers 1 to 6 tokens");

static void tile_32(int T, const tile_args *a) { TOKEN_CASES(8, 0, 2) }
static void tile_32_min(int T, const tile_args *a) { TOKEN_CASES(8, 1, 2) }
static void tile_16(int T, const tile_args *a) { TOKEN_CASES(4, 0, 2) }
static void half_32(int T, const tile_args *a) { TOKEN_CASES(8, 0, 1) }
static void half_32_min(int T, const tile_args *a) { TOKEN_CASES(8, 1, 1) }
static void half_16(int T, const tile_args *a) { TOKEN_CASES(4, 0, 1) }

/* ------------------------------------------------------------------ driver */

void qora_gemm_rows(const qora_weight *w, const char *packed, int tok, int n_tok, float *y,
                    int ldy, long tile_lo, long tile_hi) {
  const gemm_layout *l = qora_gemm_layout(w->type);
  void (*full)(int, const tile_args *) = l->bl == 16 ? tile_16 : l->has_min ? tile_32_min
                                                                          : tile_32;
  void (*half)(int, const tile_args *) = l->bl == 16 ? half_16 : l->has_min ? half_32_min
                                                                          : half_32;
  int amx = tok == AMX_TOK, amx_tok = 0;
  size_t tile_bytes = qora_gemm_tile_bytes(w->type, w->cols, tok);
  int64_t nb = w->cols / l->bl;
  wtile wt;

  /* Chunks outside, so one chunk of every token's activations stays in cache. */
  for (int64_t c0 = 0; c0 < w->cols; c0 += GEMM_CHUNK) {
    int64_t cc = w->cols - c0 < GEMM_CHUNK ? w->cols - c0 : GEMM_CHUNK;
    int64_t b0 = c0 / l->bl;
    for (long ti = tile_lo; ti < tile_hi; ti++) {
      long r0 = ti * GEMM_ROWS;
      int nr = w->rows - r0 < GEMM_ROWS ? (int)(w->rows - r0) : GEMM_ROWS;
      int n0 = nr < GEMM_LANES ? nr : GEMM_LANES, n1 = nr - n0;
      pack_half(&wt.h[0], w, r0, n0, c0, cc);
      if (n1 > 0)
        pack_half(&wt.h[1], w, r0 + GEMM_LANES, n1, c0, cc);
      for (int h = 0; amx && l->off && h < (n1 > 0 ? 2 : 1); h++)
        qora_amx_signed(wt.h[h].q, (size_t)cc * GEMM_LANES, l->off);
      for (int t0 = 0; t0 < n_tok; t0 += tok) {
        const char *at = packed + (size_t)(t0 / tok) * tile_bytes;
        const int32_t *an = (const int32_t *)(at + (size_t)w->cols * tok);
        const float *ad = (const float *)(an + nb * tok);
        tile_args a = {
          .w = wt.h, .nbc = (int)(cc / l->bl), .tok = tok,
          .aq = (const int8_t *)at + c0 * tok, .an = an + b0 * tok,
          .ad = ad + b0 * tok, .as = ad + nb * tok + b0 * tok,
          .y = y + (size_t)t0 * ldy + r0, .ldy = ldy,
          .rows = {(__mmask16)((1u << n0) - 1), (__mmask16)((1u << n1) - 1)},
          .accumulate = c0 > 0,
        };
        int T = n_tok - t0 < tok ? n_tok - t0 : tok;
        if (amx && T != amx_tok)
          qora_amx_begin(l->bl, amx_tok = T);
        if (amx)
          qora_amx_tile(T, l->bl, l->has_min, n1 > 0 ? 2 : 1, &a);
        else
          (n1 > 0 ? full : half)(T, &a);
      }
    }
  }
  if (amx_tok)
    qora_amx_end();
}

#endif
