/*
** matmul_avx2.c: the tiled product for batches of tokens with AVX2 (no VNNI). The activations
** are packed as for the AVX-512 kernel (matmul_kernels.h); a weight tile holds 8 rows of one
** chunk of columns as u8, transposed so that 32-bit lane r of a vector is 4 consecutive values
** of row r. vpmaddubsw against 4 broadcast activation bytes then advances 8 dot products by 4
** values each; its 16-bit sums are added up as far as they cannot overflow, then widened. The
** integer sum of each block is exact; the float steps differ from the AVX-512 kernel's (chunks
** of 1024 columns, K blocks scaled in integers), so the two agree to rounding, not bit for bit.
*/
#if defined(__x86_64__)

#include <immintrin.h>
#include <string.h>

#include "kblock_values.h"
#include "matmul_kernels.h"
#include "quant_kernels.h"
#include "repack.h"

#define A2_LANES 8                  /* weight rows per vector */
#define A2_CHUNK 1024               /* columns per weight tile: the tile stays in L1 */
#define A2_SUB (A2_CHUNK / 16)      /* scaled blocks per chunk, at most */
#define A2_TOK 6                    /* tokens per kernel call, at most (GEMM_TOK) */

_Static_assert(GEMM_CHUNK % A2_CHUNK == 0 && A2_CHUNK % 256 == 0, "chunks hold K blocks");
_Static_assert(GEMM_ROWS % A2_LANES == 0, "a thread's tile of rows is whole weight tiles");

/*
** One chunk of 8 rows: q[block][bl / 4][8 rows][4 values], s and m[block][8 rows]. K blocks
** also keep each sub-block's integer scale as a 16-bit pair (sc, sc) per row and d per row
** and block of 256, so their kernel scales in integers and turns to floats once a block.
*/
typedef struct a2tile {
  _Alignas(32) uint8_t q[A2_LANES * A2_CHUNK];
  _Alignas(32) float s[A2_SUB * A2_LANES];
  _Alignas(32) float m[A2_SUB * A2_LANES];
  _Alignas(32) int32_t sc[A2_SUB * A2_LANES];
  _Alignas(32) float d[A2_CHUNK / QK_K * A2_LANES];
} a2tile;


/* A signed scale as the 16-bit pair (sc, sc) in one 32-bit word. */
static inline int32_t scale_pair(int sc) {
  uint32_t h = (uint16_t)(int16_t)sc;
  return (int32_t)(h | h << 16);
}

/* ------------------------------------------------------------------ weight tiles */

/* Lane r of out[k] = 32-bit word k of v[r]: an 8 x 8 transpose of words. */
static void transpose_8x8(const __m256i v[8], uint8_t *out) {
  __m256i t[8], u[8];
  for (int i = 0; i < 8; i += 2) {
    t[i] = _mm256_unpacklo_epi32(v[i], v[i + 1]);
    t[i + 1] = _mm256_unpackhi_epi32(v[i], v[i + 1]);
  }
  for (int i = 0; i < 8; i += 4) {
    u[i] = _mm256_unpacklo_epi64(t[i], t[i + 2]);
    u[i + 1] = _mm256_unpackhi_epi64(t[i], t[i + 2]);
    u[i + 2] = _mm256_unpacklo_epi64(t[i + 1], t[i + 3]);
    u[i + 3] = _mm256_unpackhi_epi64(t[i + 1], t[i + 3]);
  }
  for (int k = 0; k < 4; k++) {
    _mm256_store_si256((__m256i *)(out + 32 * k), _mm256_permute2x128_si256(u[k], u[k + 4],
                                                                             0x20));
    _mm256_store_si256((__m256i *)(out + 32 * (k + 4)),
                       _mm256_permute2x128_si256(u[k], u[k + 4], 0x31));
  }
}


/* The 32 values of one Q4_0 / Q4_1 block as u8 (low nibbles, then high), or Q8_0's as i8. */
static inline __m256i values_32(const char *qs, int four_bit) {
  if (!four_bit)
    return _mm256_loadu_si256((const __m256i *)qs);
  __m128i b = _mm_loadu_si128((const __m128i *)qs), m = _mm_set1_epi8(0x0f);
  return _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(b, 4), m), _mm_and_si128(b, m));
}


/* Q4_0, Q4_1 and Q8_0: rows from nr on read row 0 again, with scale and min 0. */
static void pack_32(a2tile *t, const qora_weight *w, const char *base, int nr, int64_t cc) {
  int four_bit = w->type != QORA_Q8_0, has_min = w->type == QORA_Q4_1;
  size_t bsize = qora_type_get(w->type)->type_size, qoff = has_min ? 4 : 2;

  for (int u = 0; u < cc / 32; u++) {
    __m256i v[A2_LANES];
    for (int r = 0; r < A2_LANES; r++) {
      const char *blk = base + (size_t)(r < nr ? r : 0) * w->row_bytes + (size_t)u * bsize;
      const qora_f16 *h = (const qora_f16 *)blk;
      v[r] = values_32(blk + qoff, four_bit);
      t->s[u * A2_LANES + r] = r < nr ? qora_f16_to_f32(h[0]) : 0.0f;
      t->m[u * A2_LANES + r] = r < nr && has_min ? qora_f16_to_f32(h[1]) : 0.0f;
    }
    transpose_8x8(v, &t->q[u * 8 * 32]);
  }
}


/*
** One row's scales (d * scale), min terms (-dmin * min) and scale pairs per sub-block of a K
** block (at stride A2_LANES), and its d.
*/
static void scales_K(int type, const char *blk, int nr_ok, float *s, float *m, int32_t *sc,
                     float *d_out) {
  if (type == QORA_Q6_K) {
    const block_q6_K *b = (const block_q6_K *)blk;
    float d = nr_ok ? qora_f16_to_f32(b->d) : 0.0f;
    for (int j = 0; j < 16; j++) {
      s[j * A2_LANES] = d * (float)b->scales[j];
      m[j * A2_LANES] = 0.0f;
      sc[j * A2_LANES] = scale_pair(b->scales[j]);
    }
    *d_out = d;
    return;
  }
  const block_q4_K *b = (const block_q4_K *)blk;   /* Q5_K starts the same way */
  uint8_t scu[8], mn[8];
  float d = nr_ok ? qora_f16_to_f32(b->d) : 0.0f, dmin = nr_ok ? qora_f16_to_f32(b->dmin) : 0;
  qora_k4_scales(b->scales, scu, mn);
  for (int j = 0; j < 8; j++) {
    s[j * A2_LANES] = d * (float)scu[j];
    m[j * A2_LANES] = -dmin * (float)mn[j];
    sc[j * A2_LANES] = scale_pair(scu[j]);
  }
  *d_out = d;
}


/* K-quants: per block of 256, each row's scales and values, then 32 values at a time. */
static void pack_K(a2tile *t, const qora_weight *w, const char *base, int nr, int64_t cc) {
  size_t bsize = qora_type_get(w->type)->type_size;
  values_fn values = w->type == QORA_Q4_K ? values_q4_K : w->type == QORA_Q5_K ? values_q5_K
                                                                               : values_q6_K;
  int nsub = w->type == QORA_Q6_K ? 16 : 8;
  _Alignas(32) uint8_t v[A2_LANES][QK_K];

  for (int u = 0; u < cc / QK_K; u++) {
    for (int r = 0; r < A2_LANES; r++) {
      const char *blk = base + (size_t)(r < nr ? r : 0) * w->row_bytes + (size_t)u * bsize;
      size_t at = (size_t)u * nsub * A2_LANES + r;
      scales_K(w->type, blk, r < nr, &t->s[at], &t->m[at], &t->sc[at], &t->d[u * A2_LANES + r]);
      values(blk, v[r]);
    }
    /* One block of 32, or two of 16 whose vectors follow each other. */
    for (int j = 0; j < QK_K / 32; j++) {
      __m256i z[A2_LANES];
      for (int r = 0; r < A2_LANES; r++)
        z[r] = _mm256_load_si256((const __m256i *)&v[r][32 * j]);
      transpose_8x8(z, &t->q[(u * QK_K / 32 + j) * 8 * 32]);
    }
  }
}

/* ------------------------------------------------------------------ from the r16 layout */

/*
** Weights repacked at load (repack.h) hold 16 rows to a 64-byte vector, row r in 32-bit lane
** r: the 8 rows of a tile are one 32-byte half of every vector (h = 0 or 1), already in the
** tile's order. Missing rows are zeros with scale 0.
*/

static inline __m256i half_at(const uint8_t *p, int h) {
  return _mm256_loadu_si256((const __m256i *)(p + 32 * h));
}


static inline __m256i lo_nibbles(__m256i v) {
  return _mm256_and_si256(v, _mm256_set1_epi8(0x0f));
}


static inline __m256i hi_nibbles(__m256i v) {
  return _mm256_and_si256(_mm256_srli_epi16(v, 4), _mm256_set1_epi8(0x0f));
}


/* 8 F16 of a group's 16 (its half h) as floats. */
static inline __m256 f16x8(const uint8_t *p, int h) {
  return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(p + 16 * h)));
}


/* Q4_0 and Q8_0 (stored as value + 128: back to signed): blocks [b0, b0 + n). */
static void r16_32(a2tile *t, int type, const uint8_t *grp, int h, int64_t b0, int n) {
  int q8 = type == QORA_Q8_0;
  size_t qb = q8 ? 8 * 64 : 4 * 64;

  for (int u = 0; u < n; u++) {
    const uint8_t *q = grp + qora_r16_q_at(b0 + u, qb);
    uint8_t *out = &t->q[u * 8 * 32];
    for (int k = 0; k < (q8 ? 8 : 4); k++) {
      __m256i v = half_at(q + k * 64, h);
      if (q8) {
        _mm256_store_si256((__m256i *)(out + k * 32), _mm256_xor_si256(v, _mm256_set1_epi8(
            (char)0x80)));
        continue;
      }
      _mm256_store_si256((__m256i *)(out + k * 32), lo_nibbles(v));
      _mm256_store_si256((__m256i *)(out + (4 + k) * 32), hi_nibbles(v));
    }
    _mm256_store_ps(&t->s[u * A2_LANES], f16x8(grp + qora_r16_d_at(b0 + u, qb), h));
    _mm256_store_ps(&t->m[u * A2_LANES], _mm256_setzero_ps());
  }
}


/* Q4_K: blocks [i0, i0 + n); vector c holds sub-blocks 2 (c / 8) (low nibbles) and + 1. */
static void r16_q4_K(a2tile *t, const uint8_t *grp, int h, int64_t i0, int n) {
  for (int u = 0; u < n; u++) {
    const uint8_t *q = grp + (size_t)(i0 + u) * R16_ROWS * sizeof(block_q4_K);
    for (int c = 0; c < 32; c++) {
      __m256i v = half_at(q + R16_K4_Q + c * 64, h);
      int j = 2 * (c / 8), kk = c % 8;
      _mm256_store_si256((__m256i *)&t->q[((u * 8 + j) * 8 + kk) * 32], lo_nibbles(v));
      _mm256_store_si256((__m256i *)&t->q[((u * 8 + j + 1) * 8 + kk) * 32], hi_nibbles(v));
    }
    for (int r = 0; r < A2_LANES; r++) {
      uint8_t packed[12], sc[8], mn[8];
      for (int k = 0; k < 3; k++)
        memcpy(packed + 4 * k, q + k * 64 + 4 * (8 * h + r), 4);
      qora_k4_scales(packed, sc, mn);
      const uint8_t *dd = q + R16_K4_D + 2 * (8 * h + r);
      float d = qora_f16_to_f32(*(const qora_f16 *)dd);
      float dmin = qora_f16_to_f32(*(const qora_f16 *)(dd + 2 * R16_ROWS));
      for (int j = 0; j < 8; j++) {
        t->s[(u * 8 + j) * A2_LANES + r] = d * (float)sc[j];
        t->m[(u * 8 + j) * A2_LANES + r] = -dmin * (float)mn[j];
        t->sc[(u * 8 + j) * A2_LANES + r] = scale_pair(sc[j]);
      }
      t->d[u * A2_LANES + r] = d;
    }
  }
}


/*
** Q6_K: blocks [i0, i0 + n). Sub-block s's quads 0-2 are the low 6 bits of its vectors a, b,
** c, quad 3 their top 2 bits each (repack.h).
*/
static void r16_q6_K(a2tile *t, const uint8_t *grp, int h, int64_t i0, int n) {
  const __m256i m6 = _mm256_set1_epi8(0x3f);

  for (int u = 0; u < n; u++) {
    const uint8_t *q = grp + qora_r16_q_at(i0 + u, R16_Q6_BLOCK);
    __m256 d = f16x8(grp + qora_r16_d_at(i0 + u, R16_Q6_BLOCK), h);
    for (int s = 0; s < 16; s++) {
      const uint8_t *p = q + qora_r16_q6_sub(s);
      __m256i a = half_at(p, h), b = half_at(p + 64, h), c = half_at(p + 128, h);
      __m256i top = _mm256_or_si256(
          _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(a, 6), _mm256_set1_epi8(0x03)),
                          _mm256_and_si256(_mm256_srli_epi16(b, 4), _mm256_set1_epi8(0x0c))),
          _mm256_and_si256(_mm256_srli_epi16(c, 2), _mm256_set1_epi8(0x30)));
      __m256i v[4] = {a, b, c, top};
      for (int k = 0; k < 4; k++)
        _mm256_store_si256((__m256i *)&t->q[((u * 16 + s) * 4 + k) * 32],
                           _mm256_and_si256(v[k], m6));
      __m256i sc = _mm256_cvtepi8_epi32(
          _mm_loadl_epi64((const __m128i *)(q + qora_r16_q6_scales(s) + 8 * h)));
      _mm256_store_ps(&t->s[(u * 16 + s) * A2_LANES], _mm256_mul_ps(d, _mm256_cvtepi32_ps(sc)));
      _mm256_store_ps(&t->m[(u * 16 + s) * A2_LANES], _mm256_setzero_ps());
      _mm256_store_si256((__m256i *)&t->sc[(u * 16 + s) * A2_LANES], _mm256_or_si256(
          _mm256_slli_epi32(sc, 16), _mm256_and_si256(sc, _mm256_set1_epi32(0xffff))));
    }
    _mm256_store_ps(&t->d[u * A2_LANES], d);
  }
}


/* Rows [r0, r0 + 8) (r0 a multiple of 8) and columns [c0, c0 + cc) from w->r16. */
static void r16_tile(a2tile *t, const qora_weight *w, long r0, int64_t c0, int64_t cc) {
  const uint8_t *grp = (const uint8_t *)w->r16 + (size_t)(r0 / R16_ROWS) *
                       qora_r16_group_bytes(w);
  int h = (int)(r0 % R16_ROWS) / A2_LANES;

  if (w->type == QORA_Q4_K)
    r16_q4_K(t, grp, h, c0 / QK_K, (int)(cc / QK_K));
  else if (w->type == QORA_Q6_K)
    r16_q6_K(t, grp, h, c0 / QK_K, (int)(cc / QK_K));
  else
    r16_32(t, w->type, grp, h, c0 / 32, (int)(cc / 32));
}

/* ------------------------------------------------------------------ the kernel */

/* What the kernel reads for one chunk, 8 rows and up to A2_TOK tokens. */
typedef struct a2args {
  const a2tile *w;
  int nbc;                          /* scaled blocks in the chunk */
  const int8_t *aq;                 /* activation quants at the chunk's first block */
  const int32_t *an;                /* and their offsets, scales, min terms */
  const float *ad, *as;
  float *y;                         /* output of the first token and row */
  int ldy;
  __m256i rows;                     /* valid rows: all ones in their lanes */
  int accumulate;                   /* add to y (chunks after the first) */
} a2args;


/* The T tokens' 8 rows into y, added to what the chunks before left there. */
static inline __attribute__((always_inline)) void store_tokens(const int T, __m256 *f,
                                                               const a2args *a) {
#pragma GCC unroll 8
  for (int t = 0; t < T; t++) {
    float *y = a->y + (size_t)t * a->ldy;
    if (a->accumulate)
      f[t] = _mm256_add_ps(f[t], _mm256_maskload_ps(y, a->rows));
    _mm256_maskstore_ps(y, a->rows, f[t]);
  }
}


static inline int32_t load32(const int8_t *p) {
  int32_t v;
  memcpy(&v, p, sizeof v);
  return v;
}


/*
** 8 rows x T tokens over one chunk. G is how many vpmaddubsw results add up in 16 bits before
** they are widened: their pairs are at most 2 * 127 * the largest weight, so 8 for 4-bit
** weights, 4 for 5-bit, 2 for 6-bit; 0 means signed 8-bit weights, whose sign moves to the
** activations (one at a time). T, KK (bl / 4), MIN and G are constants in every caller.
*/
static inline __attribute__((always_inline)) void tile_dot(const int T, const int KK,
                                                           const int MIN, const int G,
                                                           const a2args *a) {
  const int bl = 4 * KK, step = G ? G : 1;
  const __m256i ones = _mm256_set1_epi16(1);
  __m256 f[A2_TOK];
#pragma GCC unroll 8
  for (int t = 0; t < T; t++)
    f[t] = _mm256_setzero_ps();

  for (int b = 0; b < a->nbc; b++) {
    const int8_t *q = a->aq + (size_t)b * GEMM_TOK * bl;
    __m256i acc[A2_TOK];
#pragma GCC unroll 8
    for (int k0 = 0; k0 < KK; k0 += step) {
      __m256i s16[A2_TOK];
#pragma GCC unroll 8
      for (int k = k0; k < k0 + step; k++) {
        __m256i w = _mm256_load_si256((const __m256i *)(a->w->q + ((size_t)b * KK + k) * 32));
        __m256i wu = G ? w : _mm256_sign_epi8(w, w);
#pragma GCC unroll 8
        for (int t = 0; t < T; t++) {
          __m256i y = _mm256_set1_epi32(load32(q + t * bl + 4 * k));
          __m256i p = _mm256_maddubs_epi16(wu, G ? y : _mm256_sign_epi8(y, w));
          s16[t] = k == k0 ? p : _mm256_add_epi16(s16[t], p);
          __asm__("" : "+x"(s16[t]));   /* else GCC makes the sum a tree and spills products */
        }
      }
      /* Widened here, not into a sum started before: with G = KK no third set stays live. */
#pragma GCC unroll 8
      for (int t = 0; t < T; t++) {
        __m256i wide = _mm256_madd_epi16(s16[t], ones);
        acc[t] = k0 == 0 ? wide : _mm256_add_epi32(acc[t], wide);
        __asm__("" : "+x"(acc[t]));
      }
    }
    if (G) {
#pragma GCC unroll 8
      for (int t = 0; t < T; t++)   /* -off * sum(q) */
        acc[t] = _mm256_add_epi32(acc[t], _mm256_set1_epi32(a->an[b * GEMM_TOK + t]));
    }
    __m256 s = _mm256_load_ps(a->w->s + b * A2_LANES);
#pragma GCC unroll 8
    for (int t = 0; t < T; t++) {
      __m256 dy = _mm256_set1_ps(a->ad[b * GEMM_TOK + t]);
      f[t] = _mm256_fmadd_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(acc[t]), dy), s, f[t]);
    }
    if (MIN) {
      __m256 m = _mm256_load_ps(a->w->m + b * A2_LANES);
#pragma GCC unroll 8
      for (int t = 0; t < T; t++)
        f[t] = _mm256_fmadd_ps(m, _mm256_set1_ps(a->as[b * GEMM_TOK + t]), f[t]);
    }
  }

  store_tokens(T, f, a);
}

/*
** 8 rows x T tokens of K blocks over one chunk: each sub-block's 16-bit sums widen through
** vpmaddwd by its integer scale, so a block of 256 turns to floats once, by d and the
** activation scale. The mins (Q4_K, Q5_K: -dmin * min against d * the sub-block's sum) or
** Q6_K's -32 offsets (d * scale against the activation scale times -32 * the sum) go in a
** pass of their own over the chunk. KK, NSUB (sub-blocks of a block) and G as in tile_dot.
*/
static inline __attribute__((always_inline)) void tile_dot_k(const int T, const int KK,
                                                             const int NSUB, const int MIN,
                                                             const int G, const a2args *a) {
  const int bl = 4 * KK;
  __m256 f[A2_TOK];
#pragma GCC unroll 8
  for (int t = 0; t < T; t++)
    f[t] = _mm256_setzero_ps();

  for (int u = 0; u < a->nbc / NSUB; u++) {
    __m256i acc[A2_TOK];
    for (int j = 0; j < NSUB; j++) {
      int b = u * NSUB + j;
      const int8_t *q = a->aq + (size_t)b * GEMM_TOK * bl;
      __m256i sc = _mm256_load_si256((const __m256i *)(a->w->sc + b * A2_LANES));
#pragma GCC unroll 8
      for (int k0 = 0; k0 < KK; k0 += G) {
        __m256i s16[A2_TOK];
#pragma GCC unroll 8
        for (int k = k0; k < k0 + G; k++) {
          __m256i w = _mm256_load_si256((const __m256i *)(a->w->q + ((size_t)b * KK + k) * 32));
#pragma GCC unroll 8
          for (int t = 0; t < T; t++) {
            __m256i p = _mm256_maddubs_epi16(w, _mm256_set1_epi32(load32(q + t * bl + 4 * k)));
            s16[t] = k == k0 ? p : _mm256_add_epi16(s16[t], p);
            __asm__("" : "+x"(s16[t]));   /* no sum tree: see tile_dot */
          }
        }
#pragma GCC unroll 8
        for (int t = 0; t < T; t++) {
          __m256i wide = _mm256_madd_epi16(s16[t], sc);
          acc[t] = j == 0 && k0 == 0 ? wide : _mm256_add_epi32(acc[t], wide);
          __asm__("" : "+x"(acc[t]));
        }
      }
    }
    __m256 d = _mm256_load_ps(a->w->d + u * A2_LANES);
#pragma GCC unroll 8
    for (int t = 0; t < T; t++) {
      __m256 dy = _mm256_set1_ps(a->ad[u * NSUB * GEMM_TOK + t]);
      f[t] = _mm256_fmadd_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(acc[t]), dy), d, f[t]);
    }
  }

  for (int b = 0; b < a->nbc; b++) {
    __m256 x = _mm256_load_ps((MIN ? a->w->m : a->w->s) + b * A2_LANES);
#pragma GCC unroll 8
    for (int t = 0; t < T; t++) {
      int at = b * GEMM_TOK + t;
      float z = MIN ? a->as[at] : a->ad[at] * (float)a->an[at];
      f[t] = _mm256_fmadd_ps(x, _mm256_set1_ps(z), f[t]);
    }
  }

  store_tokens(T, f, a);
}

#define TOKEN_CASES(FN, ...) \
  switch (T) { \
  case 1: FN(1, __VA_ARGS__, a); break; \
  case 2: FN(2, __VA_ARGS__, a); break; \
  case 3: FN(3, __VA_ARGS__, a); break; \
  case 4: FN(4, __VA_ARGS__, a); break; \
  case 5: FN(5, __VA_ARGS__, a); break; \
  default: FN(6, __VA_ARGS__, a); break; \
  }

_Static_assert(GEMM_TOK == A2_TOK, "TOKEN_CASES covers 1 to GEMM_TOK tokens");

typedef void (*kernel_fn)(int T, const a2args *a);

static void k_q4_0(int T, const a2args *a) { TOKEN_CASES(tile_dot, 8, 0, 8) }
static void k_q4_1(int T, const a2args *a) { TOKEN_CASES(tile_dot, 8, 1, 8) }
static void k_q8_0(int T, const a2args *a) { TOKEN_CASES(tile_dot, 8, 0, 0) }
static void k_q4_K(int T, const a2args *a) { TOKEN_CASES(tile_dot_k, 8, 8, 1, 8) }
static void k_q5_K(int T, const a2args *a) { TOKEN_CASES(tile_dot_k, 8, 8, 1, 4) }
static void k_q6_K(int T, const a2args *a) { TOKEN_CASES(tile_dot_k, 4, 16, 0, 2) }

/* The kernel of type, and how many tokens it takes at once (its registers allow). */
static kernel_fn kernel_of(int type, int *tmax) {
  *tmax = 6;
  switch (type) {
  case QORA_Q4_0: return k_q4_0;
  case QORA_Q4_1: return k_q4_1;
  case QORA_Q4_K: return k_q4_K;
  case QORA_Q5_K: return k_q5_K;
  case QORA_Q6_K: return k_q6_K;
  default: *tmax = 3; return k_q8_0;
  }
}

/* ------------------------------------------------------------------ driver */

static void pack_tile(a2tile *t, const qora_weight *w, long r0, int nr, int64_t c0,
                      int64_t cc) {
  const qora_type_traits *tt = qora_type_get(w->type);

  if (w->r16) {
    r16_tile(t, w, r0, c0, cc);
    return;
  }
  const char *base = (const char *)w->data + (size_t)r0 * w->row_bytes +
                     (size_t)(c0 / tt->blck) * tt->type_size;

  if (tt->blck == 32)
    pack_32(t, w, base, nr, cc);
  else
    pack_K(t, w, base, nr, cc);
}


void qora_gemm_rows_avx2(const qora_weight *w, const char *packed, int n_tok, float *y,
                         int ldy, long tile_lo, long tile_hi) {
  const gemm_layout *l = qora_gemm_layout(w->type);
  size_t tile_bytes = qora_gemm_tile_bytes(w->type, w->cols, GEMM_TOK);
  int64_t nb = w->cols / l->bl;
  long r_hi = tile_hi * GEMM_ROWS < w->rows ? tile_hi * GEMM_ROWS : w->rows;
  int tmax;
  kernel_fn kernel = kernel_of(w->type, &tmax);
  a2tile wt;

  for (int64_t c0 = 0; c0 < w->cols; c0 += A2_CHUNK) {
    int64_t cc = w->cols - c0 < A2_CHUNK ? w->cols - c0 : A2_CHUNK;
    int64_t b0 = c0 / l->bl;
    for (long r0 = tile_lo * GEMM_ROWS; r0 < r_hi; r0 += A2_LANES) {
      int nr = r_hi - r0 < A2_LANES ? (int)(r_hi - r0) : A2_LANES;
      pack_tile(&wt, w, r0, nr, c0, cc);
      __m256i rows = _mm256_cmpgt_epi32(_mm256_set1_epi32(nr),
                                        _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
      for (int t0 = 0; t0 < n_tok; t0 += tmax) {
        int tile = t0 / GEMM_TOK, slot = t0 % GEMM_TOK;
        const char *at = packed + (size_t)tile * tile_bytes;
        const int32_t *an = (const int32_t *)(at + (size_t)w->cols * GEMM_TOK);
        const float *ad = (const float *)(an + nb * GEMM_TOK);
        a2args a = {
          .w = &wt, .nbc = (int)(cc / l->bl),
          .aq = (const int8_t *)at + c0 * GEMM_TOK + slot * l->bl,
          .an = an + b0 * GEMM_TOK + slot, .ad = ad + b0 * GEMM_TOK + slot,
          .as = ad + nb * GEMM_TOK + b0 * GEMM_TOK + slot,
          .y = y + (size_t)t0 * ldy + r0, .ldy = ldy, .rows = rows, .accumulate = c0 > 0,
        };
        int T = n_tok - t0 < tmax ? n_tok - t0 : tmax;
        if (slot + T > GEMM_TOK)
          T = GEMM_TOK - slot;
        kernel(T, &a);
      }
    }
  }
}

#endif
