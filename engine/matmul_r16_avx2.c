/*
** matmul_r16_avx2.c: decode kernels (a few tokens) on weights in the r16 layout of repack.h,
** with AVX2. A 64-byte vector of the layout is two 32-byte halves of 8 rows each (row r in
** 32-bit lane r), read side by side against the same broadcast activation words. vpmaddubsw
** multiplies unsigned weights by signed activations into 16-bit pairs; those add up in 16
** bits while they cannot overflow, then widen once, so each vector step serves 8 rows with no
** horizontal sum. 4-bit weights take the type's offset through the accumulator's start (Q4_0)
** or their mins (Q4_K); Q6_K its -32 through the activations' sums; Q8_0 (stored as value +
** 128) goes back to signed and moves its sign onto the activations.
*/
#if defined(__x86_64__)

#include <immintrin.h>
#include <string.h>

#include "matmul_kernels.h"
#include "prefetch_x86.h"
#include "quant_kernels.h"
#include "repack.h"

#define VEC 64


static inline __m256i bcast4(const int8_t *p) {
  int32_t v;
  memcpy(&v, p, sizeof v);
  return _mm256_set1_epi32(v);
}


/* Half h (rows 8h to 8h + 7) of the 64-byte vector at p. */
static inline __m256i half(const uint8_t *p, int h) {
  return _mm256_loadu_si256((const __m256i *)(p + 32 * h));
}


static inline __m256 f16x8(const uint8_t *p, int h) {
  return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(p + 16 * h)));
}


static inline __m256i widen(__m256i s16) {
  return _mm256_madd_epi16(s16, _mm256_set1_epi16(1));
}

/* ------------------------------------------------------------------ 32-value blocks */

/*
** One Q4_0 block of 16 rows added to f[2]: the 8 products of 4-bit weights by 4 activation
** bytes sum to at most 8 * 2 * 15 * 127 = 30480, so they add up in 16 bits.
*/
static inline __attribute__((always_inline))
void blk_q4_0(const uint8_t *q, const uint8_t *d, const int8_t *yq, int32_t neg, float dy,
              __m256 f[2]) {
  const __m256i m4 = _mm256_set1_epi8(0x0f);
  __m256i s[2];

#pragma GCC unroll 4
  for (int k = 0; k < 4; k++) {
    __m256i ylo = bcast4(yq + 4 * k), yhi = bcast4(yq + 16 + 4 * k);
#pragma GCC unroll 2
    for (int h = 0; h < 2; h++) {
      __m256i v = half(q + k * VEC, h);
      __m256i p = _mm256_add_epi16(
          _mm256_maddubs_epi16(_mm256_and_si256(v, m4), ylo),
          _mm256_maddubs_epi16(_mm256_and_si256(_mm256_srli_epi16(v, 4), m4), yhi));
      s[h] = k == 0 ? p : _mm256_add_epi16(s[h], p);
      __asm__("" : "+x"(s[h]));   /* no sum tree: see matmul_avx2.c */
    }
  }
  __m256 vdy = _mm256_set1_ps(dy);
#pragma GCC unroll 2
  for (int h = 0; h < 2; h++) {
    __m256i acc = _mm256_add_epi32(widen(s[h]), _mm256_set1_epi32(neg));
    f[h] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(acc), _mm256_mul_ps(f16x8(d, h), vdy), f[h]);
  }
}


/* One Q8_0 block of 16 rows added to f[2]: signed weights, |pair| <= 2 * 128 * 127. */
static inline __attribute__((always_inline))
void blk_q8_0(const uint8_t *q, const uint8_t *d, const int8_t *yq, float dy, __m256 f[2]) {
  const __m256i flip = _mm256_set1_epi8((char)0x80);
  __m256i acc[2] = {_mm256_setzero_si256(), _mm256_setzero_si256()};

#pragma GCC unroll 8
  for (int k = 0; k < 8; k++) {
    __m256i y = bcast4(yq + 4 * k);
#pragma GCC unroll 2
    for (int h = 0; h < 2; h++) {
      __m256i w = _mm256_xor_si256(half(q + k * VEC, h), flip);
      __m256i p = _mm256_maddubs_epi16(_mm256_sign_epi8(w, w), _mm256_sign_epi8(y, w));
      acc[h] = _mm256_add_epi32(acc[h], widen(p));
      __asm__("" : "+x"(acc[h]));
    }
  }
  __m256 vdy = _mm256_set1_ps(dy);
#pragma GCC unroll 2
  for (int h = 0; h < 2; h++)
    f[h] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(acc[h]), _mm256_mul_ps(f16x8(d, h), vdy), f[h]);
}


/* A group of Q4_0 (q8 = 0) or Q8_0 (q8 = 1) rows against one token, into f[2]. */
static inline __attribute__((always_inline))
void group_32(const uint8_t *g, int64_t nb, const int8_t *qs, const int32_t *neg,
              const float *dy, int q8, size_t pf, __m256 f[2]) {
  size_t qb = q8 ? 8 * VEC : 4 * VEC;

  f[0] = f[1] = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; b++) {
    size_t qa = qora_r16_q_at(b, qb), da = qora_r16_d_at(b, qb);
    prefetch_ahead(g + qa, qb + 32, pf);
    if (q8)
      blk_q8_0(g + qa, g + da, qs + 32 * b, dy[b], f);
    else
      blk_q4_0(g + qa, g + da, qs + 32 * b, neg[b], dy[b], f);
  }
}

/* ------------------------------------------------------------------ K blocks */

/*
** Per 32-bit lane, byte k of the lane twice as a 16-bit pair (k, k) or bytes k and k + 1 as
** (k, k + 1): vpshufb controls that turn packed 8-bit scales into vpmaddwd operands.
*/
static inline __m256i pair_ctl(int k0, int k1) {
  __m256i base = _mm256_setr_epi32(0, 0x40004, 0x80008, 0xc000c, 0, 0x40004, 0x80008, 0xc000c);
  int c = (int)(0x80008000u | (unsigned)k1 << 16 | (unsigned)k0);
  return _mm256_add_epi32(_mm256_set1_epi32(c), base);
}


/*
** One Q4_K block of 16 rows: d * sum_j sc_j * dot_j - dmin * sum_j mn_j * bsum_j, times the
** activation scale, all sums in integers. Vector c holds sub-block 2 (c / 8) in its low
** nibbles and the next one in its high nibbles; the 12 packed scale bytes of each row are
** unpacked as repack.h's qora_r16_k4_unpack does, 8 rows at a time.
*/
static inline __attribute__((always_inline))
void blk_q4_K(const uint8_t *q, const block_q8_K *y, size_t pf, __m256 f[2]) {
  const __m256i m4 = _mm256_set1_epi8(0x0f), m6 = _mm256_set1_epi32(0x3f3f3f3f);
  const __m256i n4 = _mm256_set1_epi32(0x0f0f0f0f), m2 = _mm256_set1_epi32(0x03030303);
  __m256 dy = _mm256_set1_ps(y->d);
  __m256i sc[2][2], acc[2];

  prefetch_ahead(q, R16_ROWS * sizeof(block_q4_K), pf);
#pragma GCC unroll 2
  for (int h = 0; h < 2; h++) {   /* the min terms first, so the mins need no register later */
    __m256i u0 = half(q, h), u1 = half(q + VEC, h), u2 = half(q + 2 * VEC, h);
    __m256i mn[2] = {
      _mm256_and_si256(u1, m6),
      _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi32(u2, 4), n4),
                      _mm256_slli_epi32(_mm256_and_si256(_mm256_srli_epi32(u1, 6), m2), 4)),
    };
    __m256i mins = _mm256_setzero_si256();
#pragma GCC unroll 8
    for (int j = 0; j < 8; j++) {
      __m256i m = _mm256_shuffle_epi8(mn[j / 4], pair_ctl(j % 4, j % 4));
      __m256i b = bcast4((const int8_t *)&y->bsums[2 * j]);
      mins = _mm256_add_epi32(mins, _mm256_madd_epi16(m, b));
    }
    __m256 dmin = _mm256_mul_ps(f16x8(q + R16_K4_D + 2 * R16_ROWS, h), dy);
    f[h] = _mm256_fnmadd_ps(_mm256_cvtepi32_ps(mins), dmin, f[h]);
    sc[h][0] = _mm256_and_si256(u0, m6);
    sc[h][1] = _mm256_or_si256(_mm256_and_si256(u2, n4), _mm256_slli_epi32(
        _mm256_and_si256(_mm256_srli_epi32(u0, 6), m2), 4));
    acc[h] = _mm256_setzero_si256();
  }
#pragma GCC unroll 4
  for (int g = 0; g < 4; g++) {
    __m256i s[2][2];
#pragma GCC unroll 8
    for (int c = 0; c < 8; c++) {
      __m256i ylo = bcast4(y->qs + 64 * g + 4 * c), yhi = bcast4(y->qs + 64 * g + 32 + 4 * c);
#pragma GCC unroll 2
      for (int h = 0; h < 2; h++) {
        __m256i v = half(q + R16_K4_Q + (8 * g + c) * VEC, h);
        __m256i pl = _mm256_maddubs_epi16(_mm256_and_si256(v, m4), ylo);
        __m256i ph = _mm256_maddubs_epi16(_mm256_and_si256(_mm256_srli_epi16(v, 4), m4), yhi);
        s[h][0] = c == 0 ? pl : _mm256_add_epi16(s[h][0], pl);
        s[h][1] = c == 0 ? ph : _mm256_add_epi16(s[h][1], ph);
        __asm__("" : "+x"(s[h][0]), "+x"(s[h][1]));   /* no sum tree: see matmul_avx2.c */
      }
    }
    int j = 2 * g;
#pragma GCC unroll 2
    for (int h = 0; h < 2; h++) {
      __m256i sl = _mm256_shuffle_epi8(sc[h][j / 4], pair_ctl(j % 4, j % 4));
      __m256i sh = _mm256_shuffle_epi8(sc[h][j / 4], pair_ctl(j % 4 + 1, j % 4 + 1));
      acc[h] = _mm256_add_epi32(acc[h], _mm256_add_epi32(_mm256_madd_epi16(s[h][0], sl),
                                                         _mm256_madd_epi16(s[h][1], sh)));
    }
  }
#pragma GCC unroll 2
  for (int h = 0; h < 2; h++) {
    __m256 d = _mm256_mul_ps(f16x8(q + R16_K4_D, h), dy);
    f[h] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(acc[h]), d, f[h]);
  }
}


/* The 8 signed scales of half h at p, each as a 16-bit pair (sc, sc) in its 32-bit lane. */
static inline __m256i q6_scale_pairs(const uint8_t *p, int h) {
  __m128i s = _mm_loadl_epi64((const __m128i *)(p + 8 * h));
  return _mm256_cvtepi8_epi16(_mm_unpacklo_epi8(s, s));
}


/*
** One Q6_K block of 16 rows: per sub-block of 16 values, quads 0-2 are the low 6 bits of
** vectors A, B, C and quad 3 their top 2 bits; two products of 6-bit weights (at most 2 * 2 *
** 63 * 127) add up in 16 bits. The weights are value + 32: sum_s sc_s * (dot_s - 32 bsum_s).
** One mask serves every split: the top 2 bits of each byte, which 16-bit shifts by 6, 4 and
** 2 move down without crossing into the next byte.
*/
static inline __attribute__((always_inline))
void blk_q6_K(const uint8_t *q, const uint8_t *d, const block_q8_K *y, size_t pf, __m256 f[2]) {
  const __m256i top2 = _mm256_set1_epi8((char)0xc0);
  __m256i acc[2] = {_mm256_setzero_si256(), _mm256_setzero_si256()};
  __m256i off[2] = {_mm256_setzero_si256(), _mm256_setzero_si256()};

#pragma GCC unroll 16
  for (int s = 0; s < 16; s++) {
    const uint8_t *v = q + qora_r16_q6_sub(s), *sp = q + qora_r16_q6_scales(s);
    if (s % 4 == 0)
      prefetch_ahead(sp, R16_Q6_BLOCK / 4, pf);
#pragma GCC unroll 2
    for (int h = 0; h < 2; h++) {
      __m256i a = half(v, h), b = half(v + VEC, h), c = half(v + 2 * VEC, h);
      __m256i top = _mm256_or_si256(
          _mm256_or_si256(_mm256_srli_epi16(_mm256_and_si256(a, top2), 6),
                          _mm256_srli_epi16(_mm256_and_si256(b, top2), 4)),
          _mm256_srli_epi16(_mm256_and_si256(c, top2), 2));
      __m256i p0 = _mm256_add_epi16(
          _mm256_maddubs_epi16(_mm256_andnot_si256(top2, a), bcast4(y->qs + 16 * s)),
          _mm256_maddubs_epi16(_mm256_andnot_si256(top2, b), bcast4(y->qs + 16 * s + 4)));
      __m256i p1 = _mm256_add_epi16(
          _mm256_maddubs_epi16(_mm256_andnot_si256(top2, c), bcast4(y->qs + 16 * s + 8)),
          _mm256_maddubs_epi16(top, bcast4(y->qs + 16 * s + 12)));
      __m256i sc = q6_scale_pairs(sp, h);
      acc[h] = _mm256_add_epi32(acc[h], _mm256_add_epi32(_mm256_madd_epi16(p0, sc),
                                                         _mm256_madd_epi16(p1, sc)));
      __asm__("" : "+x"(acc[h]));   /* no sum tree: see matmul_avx2.c */
      if (s % 2 == 0) {   /* (sc_s, sc_s+1) against (bsum_s, bsum_s+1) */
        __m128i two = _mm_unpacklo_epi8(_mm_loadl_epi64((const __m128i *)(sp + 8 * h)),
                                        _mm_loadl_epi64((const __m128i *)(sp + R16_ROWS +
                                                                          8 * h)));
        __m256i bs = bcast4((const int8_t *)&y->bsums[s]);
        off[h] = _mm256_add_epi32(off[h], _mm256_madd_epi16(_mm256_cvtepi8_epi16(two), bs));
      }
    }
  }
  __m256 dy = _mm256_set1_ps(y->d);
#pragma GCC unroll 2
  for (int h = 0; h < 2; h++) {
    __m256i sum = _mm256_sub_epi32(acc[h], _mm256_slli_epi32(off[h], 5));
    f[h] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum), _mm256_mul_ps(f16x8(d, h), dy), f[h]);
  }
}

/* ------------------------------------------------------------------ driver */

/* The 16 rows of group g of w against one token (its converted row q8, its extras). */
static void group_dot(const qora_weight *w, const uint8_t *g, const char *extra,
                      const char *q8, size_t pf, __m256 f[2]) {
  switch (w->type) {
  case QORA_Q4_0: case QORA_Q8_0: {
    int64_t nb = w->cols / 32;
    const int32_t *neg = (const int32_t *)(extra + nb * 32);
    const float *dy = (const float *)(neg + nb);
    if (w->type == QORA_Q4_0)
      group_32(g, nb, (const int8_t *)extra, neg, dy, 0, pf, f);
    else
      group_32(g, nb, (const int8_t *)extra, neg, dy, 1, pf, f);
    return;
  }
  case QORA_Q4_K: {
    const block_q8_K *y = (const block_q8_K *)q8;
    f[0] = f[1] = _mm256_setzero_ps();
    for (int64_t i = 0; i < w->cols / QK_K; i++)
      blk_q4_K(g + (size_t)i * R16_ROWS * sizeof(block_q4_K), &y[i], pf, f);
    return;
  }
  default: {
    const block_q8_K *y = (const block_q8_K *)q8;
    f[0] = f[1] = _mm256_setzero_ps();
    for (int64_t i = 0; i < w->cols / QK_K; i++)
      blk_q6_K(g + qora_r16_q_at(i, R16_Q6_BLOCK), g + qora_r16_d_at(i, R16_Q6_BLOCK), &y[i],
               pf, f);
  }
  }
}


static void store_group(const qora_weight *w, long g, const __m256 f[2], float *y) {
  int64_t r0 = (int64_t)g * R16_ROWS;
  int nr = w->rows - r0 < R16_ROWS ? (int)(w->rows - r0) : R16_ROWS;
  __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);

  for (int h = 0; h < 2 && 8 * h < nr; h++)
    _mm256_maskstore_ps(y + r0 + 8 * h, _mm256_cmpgt_epi32(_mm256_set1_epi32(nr - 8 * h), lane),
                        f[h]);
}


/*
** One run through the groups, whatever the walk's streams: several far-apart runs read side
** by side were measured only for the AVX-512 kernels (Intel); AMD takes one.
*/
void qora_r16_rows_avx2(const qora_weight *w, const char *extra, size_t stride, const char *q8,
                        size_t qrow, int n_tok, float *y, int ldy, long g_lo, long g_hi) {
  r16_walk wk = qora_r16_walk();
  size_t pf = w->type == QORA_Q4_0 || w->type == QORA_Q8_0 ? wk.prefetch32 : wk.prefetch;
  size_t gb = qora_r16_group_bytes(w);

  for (long g = g_lo; g < g_hi; g++) {
    const uint8_t *q = (const uint8_t *)w->r16 + (size_t)g * gb;
    for (int t = 0; t < n_tok; t++) {
      __m256 f[2];
      group_dot(w, q, extra + t * stride, q8 + t * qrow, pf, f);
      store_group(w, g, f, y + (size_t)t * ldy);
    }
  }
}

#endif
