/*
** matmul_avx512.c: the tiled product for batches of tokens with AVX-512 VNNI. A weight tile
** holds 32 rows of one chunk of columns as u8, transposed so that 32-bit lane r of a vector
** is 4 consecutive values of row r; vpdpbusd with 4 broadcast activation bytes then advances
** 16 dot products at once. Each weight vector serves GEMM_TOK tokens and each broadcast two
** weight vectors, from registers.
*/
#if defined(__x86_64__)

#include <immintrin.h>
#include <string.h>

#include "matmul_kernels.h"
#include "quant_kernels.h"

#define F16(h) _cvtsh_ss(h)
#define MAX_SUB (GEMM_CHUNK / 16)    /* scaled blocks per chunk, at most */

/* One chunk of 16 rows: q[block][bl / 4][16 rows][4 values], s and m[block][16 rows]. */
typedef struct whalf {
  _Alignas(64) uint8_t q[GEMM_LANES * GEMM_CHUNK];
  _Alignas(64) float s[MAX_SUB * GEMM_LANES];
  _Alignas(64) float m[MAX_SUB * GEMM_LANES];
} whalf;

/* A tile of GEMM_ROWS rows: two halves of 16, one vector each in the kernel. */
typedef struct wtile {
  whalf h[GEMM_ROWS / GEMM_LANES];
} wtile;

/* What the kernel reads for one chunk, 16 or 32 rows and up to GEMM_TOK tokens. */
typedef struct tile_args {
  const whalf *w;
  int nbc;                          /* scaled blocks in the chunk */
  const int8_t *aq;                 /* activation quants at the chunk's first block */
  const int32_t *an;                /* and their offsets, scales, min terms */
  const float *ad, *as;
  float *y;                         /* output of the tile's first token and row */
  int ldy;
  __mmask16 rows[2];                /* valid rows of each half */
  int accumulate;                   /* add to y (chunks after the first) */
} tile_args;

/* ------------------------------------------------------------------ weight unpacking */

/*
** Each function turns one block (32 values, or 256 for K-quants) into u8 values in order
** and the scale and min of each scaled block, such that value = s * (u8 - off) + m.
*/
typedef void (*unpack_fn)(const void *blk, uint8_t *v, float *s, float *m);


static void nibbles(const uint8_t *qs, uint8_t *v) {
  __m128i b = _mm_loadu_si128((const __m128i *)qs), m4 = _mm_set1_epi8(0x0f);
  _mm_storeu_si128((__m128i *)v, _mm_and_si128(b, m4));
  _mm_storeu_si128((__m128i *)(v + 16), _mm_and_si128(_mm_srli_epi16(b, 4), m4));
}


static void unpack_q4_0(const void *blk, uint8_t *v, float *s, float *m) {
  const block_q4_0 *b = blk;
  nibbles(b->qs, v);
  s[0] = F16(b->d);
  m[0] = 0;
}


static void unpack_q4_1(const void *blk, uint8_t *v, float *s, float *m) {
  const block_q4_1 *b = blk;
  nibbles(b->qs, v);
  s[0] = F16(b->d);
  m[0] = F16(b->m);
}


static void unpack_q8_0(const void *blk, uint8_t *v, float *s, float *m) {
  const block_q8_0 *b = blk;
  __m256i q = _mm256_loadu_si256((const __m256i *)b->qs);
  _mm256_storeu_si256((__m256i *)v, _mm256_xor_si256(q, _mm256_set1_epi8((char)0x80)));
  s[0] = F16(b->d);
  m[0] = 0;
}


static void k4_scales(const qora_f16 d, const qora_f16 dmin, const uint8_t *packed, float *s,
                      float *m) {
  uint8_t sc[8], mn[8];
  qora_k4_scales(packed, sc, mn);
  for (int j = 0; j < 8; j++) {
    s[j] = F16(d) * sc[j];
    m[j] = -F16(dmin) * mn[j];
  }
}


static void unpack_q4_K(const void *blk, uint8_t *v, float *s, float *m) {
  const block_q4_K *b = blk;
  const __m256i m4 = _mm256_set1_epi8(0x0f);
  for (int g = 0; g < 4; g++) {
    __m256i q = _mm256_loadu_si256((const __m256i *)(b->qs + 32 * g));
    _mm256_storeu_si256((__m256i *)(v + 64 * g), _mm256_and_si256(q, m4));
    _mm256_storeu_si256((__m256i *)(v + 64 * g + 32),
                        _mm256_and_si256(_mm256_srli_epi16(q, 4), m4));
  }
  k4_scales(b->d, b->dmin, b->scales, s, m);
}


static void unpack_q5_K(const void *blk, uint8_t *v, float *s, float *m) {
  const block_q5_K *b = blk;
  const __m256i m4 = _mm256_set1_epi8(0x0f), one = _mm256_set1_epi8(1);
  __m256i qh = _mm256_loadu_si256((const __m256i *)b->qh);
  for (int g = 0; g < 4; g++) {
    __m256i q = _mm256_loadu_si256((const __m256i *)(b->qs + 32 * g));
    __m256i blo = _mm256_and_si256(_mm256_srli_epi16(qh, 2 * g), one);
    __m256i bhi = _mm256_and_si256(_mm256_srli_epi16(qh, 2 * g + 1), one);
    _mm256_storeu_si256((__m256i *)(v + 64 * g),
                        _mm256_or_si256(_mm256_and_si256(q, m4), _mm256_slli_epi16(blo, 4)));
    _mm256_storeu_si256((__m256i *)(v + 64 * g + 32),
                        _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q, 4), m4),
                                        _mm256_slli_epi16(bhi, 4)));
  }
  k4_scales(b->d, b->dmin, b->scales, s, m);
}


static void unpack_q6_K(const void *blk, uint8_t *v, float *s, float *m) {
  const block_q6_K *b = blk;
  const __m256i m4 = _mm256_set1_epi8(0x0f), m2 = _mm256_set1_epi8(3);
  for (int h = 0; h < 2; h++) {
    __m256i l0 = _mm256_loadu_si256((const __m256i *)(b->ql + 64 * h));
    __m256i l1 = _mm256_loadu_si256((const __m256i *)(b->ql + 64 * h + 32));
    __m256i qh = _mm256_loadu_si256((const __m256i *)(b->qh + 32 * h));
    for (int k = 0; k < 4; k++) {
      __m256i l = k & 1 ? l1 : l0;
      __m256i lo4 = k & 2 ? _mm256_and_si256(_mm256_srli_epi16(l, 4), m4)
                          : _mm256_and_si256(l, m4);
      __m256i hi2 = _mm256_and_si256(_mm256_srli_epi16(qh, 2 * k), m2);
      _mm256_storeu_si256((__m256i *)(v + 128 * h + 32 * k),
                          _mm256_or_si256(lo4, _mm256_slli_epi16(hi2, 4)));
    }
  }
  float d = F16(b->d);
  for (int j = 0; j < 16; j++) {
    s[j] = d * b->scales[j];
    m[j] = 0;
  }
}


static unpack_fn unpacker(int type) {
  switch (type) {
  case QORA_Q4_0: return unpack_q4_0;
  case QORA_Q4_1: return unpack_q4_1;
  case QORA_Q8_0: return unpack_q8_0;
  case QORA_Q4_K: return unpack_q4_K;
  case QORA_Q5_K: return unpack_q5_K;
  case QORA_Q6_K: return unpack_q6_K;
  }
  return NULL;
}


/*
** Transposes 16 rows x 8 dwords (32 values of each row, v + 32 * r) into 8 vectors whose lane
** r holds dword kk of row r. Vector j starts with rows j and j + 8; three rounds of vpermt2d
** then swap a vector index bit with a lane bit each, which leaves lane = row.
*/
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


/* Block u's F16 scale (at byte off) of 16 rows, row_bytes apart; 0 for rows from nr on. */
static inline __m512 gather_scales(const char *base, size_t row_bytes, int nr, size_t off) {
  __m512i idx = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11,
                                                     12, 13, 14, 15),
                                   _mm512_set1_epi32((int)row_bytes));
  __m512i g = _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), (__mmask16)((1u << nr) - 1),
                                          idx, base + off, 1);
  return _mm512_cvtph_ps(_mm512_cvtepi32_epi16(g));
}


/*
** Q4_0 and Q8_0 straight from the rows: vector j gathers rows j and j + 8 of one block, then
** one transpose. Rows from nr on read row 0 again (their scale is 0).
*/
static void pack_half_q8(whalf *wh, const qora_weight *w, long r0, int nr, int64_t c0,
                         int64_t cc) {
  int four_bit = w->type == QORA_Q4_0;
  size_t bsize = four_bit ? sizeof(block_q4_0) : sizeof(block_q8_0);
  const char *base = (const char *)w->data + (size_t)r0 * w->row_bytes + (size_t)(c0 / 32) * bsize;
  const char *row[GEMM_LANES];
  for (int r = 0; r < GEMM_LANES; r++)
    row[r] = base + (size_t)(r < nr ? r : 0) * w->row_bytes + 2;   /* the quants */

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
    _mm512_store_ps(&wh->s[u * GEMM_LANES], gather_scales(base, w->row_bytes, nr, at));
  }
}


/* Fills wh with rows [r0, r0 + nr) and columns [c0, c0 + cc); missing rows get scale 0. */
static void pack_half(whalf *wh, const qora_weight *w, const gemm_layout *l, long r0, int nr,
                      int64_t c0, int64_t cc) {
  const qora_type_traits *tt = qora_type_get(w->type);
  unpack_fn unpack = unpacker(w->type);
  int kk_n = l->bl / 4, nsub = tt->blck / l->bl;
  _Alignas(64) uint8_t v[GEMM_LANES][QK_K];
  float s[16], m[16];
  const char *base = (const char *)w->data + (size_t)r0 * w->row_bytes +
                     (size_t)(c0 / tt->blck) * tt->type_size;

  if (w->type == QORA_Q4_0 || w->type == QORA_Q8_0) {
    pack_half_q8(wh, w, r0, nr, c0, cc);
    return;
  }
  for (int u = 0; u < cc / tt->blck; u++) {
    for (int r = 0; r < GEMM_LANES; r++) {
      if (r < nr)
        unpack(base + (size_t)r * w->row_bytes + (size_t)u * tt->type_size, v[r], s, m);
      else
        for (int j = 0; j < nsub; j++)
          s[j] = m[j] = 0;
      for (int j = 0; j < nsub; j++) {
        wh->s[(u * nsub + j) * GEMM_LANES + r] = s[j];
        wh->m[(u * nsub + j) * GEMM_LANES + r] = m[j];
      }
    }
    for (int j = 0; j < nsub; j++) {
      int b = u * nsub + j;
      if (kk_n == 8) {
        transpose_rows(&v[0][j * 32], QK_K, &wh->q[b * 8 * 64]);
        continue;
      }
      for (int r = 0; r < GEMM_LANES; r++)
        for (int kk = 0; kk < kk_n; kk++)
          memcpy(&wh->q[((b * kk_n + kk) * GEMM_LANES + r) * 4], &v[r][j * l->bl + 4 * kk], 4);
    }
  }
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

void qora_gemm_rows(const qora_weight *w, const char *packed, int n_tok, float *y, int ldy,
                    long tile_lo, long tile_hi) {
  const gemm_layout *l = qora_gemm_layout(w->type);
  void (*full)(int, const tile_args *) = l->bl == 16 ? tile_16 : l->has_min ? tile_32_min
                                                                          : tile_32;
  void (*half)(int, const tile_args *) = l->bl == 16 ? half_16 : l->has_min ? half_32_min
                                                                          : half_32;
  size_t tile_bytes = qora_gemm_tile_bytes(w->type, w->cols);
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
      pack_half(&wt.h[0], w, l, r0, n0, c0, cc);
      if (n1 > 0)
        pack_half(&wt.h[1], w, l, r0 + GEMM_LANES, n1, c0, cc);
      for (int t0 = 0; t0 < n_tok; t0 += GEMM_TOK) {
        const char *at = packed + (size_t)(t0 / GEMM_TOK) * tile_bytes;
        const int32_t *an = (const int32_t *)(at + (size_t)w->cols * GEMM_TOK);
        const float *ad = (const float *)(an + nb * GEMM_TOK);
        tile_args a = {
          .w = wt.h, .nbc = (int)(cc / l->bl),
          .aq = (const int8_t *)at + c0 * GEMM_TOK, .an = an + b0 * GEMM_TOK,
          .ad = ad + b0 * GEMM_TOK, .as = ad + nb * GEMM_TOK + b0 * GEMM_TOK,
          .y = y + (size_t)t0 * ldy + r0, .ldy = ldy,
          .rows = {(__mmask16)((1u << n0) - 1), (__mmask16)((1u << n1) - 1)},
          .accumulate = c0 > 0,
        };
        (n1 > 0 ? full : half)(n_tok - t0, &a);
      }
    }
  }
}

#endif
