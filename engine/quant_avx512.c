/*
** quant_avx512.c: AVX-512 (F, BW, VL, DQ, VNNI, BF16) kernels, chosen at run time on CPUs
** that have all of them. Quantizers match the scalar reference bit for bit; the dot products
** sum in another order (float lanes across blocks).
*/
#if defined(__x86_64__)

#include <float.h>
#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "hsum_x86.h"
#include "quant_kernels.h"

#define F16(h) _cvtsh_ss(h)
#define ROUND_NEAREST (_MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)

/* ------------------------------------------------------------------ helpers */

/* Two 32-byte pieces (p and q) as one vector: p in the low half. */
static inline __m512i load_2x32(const void *p, const void *q) {
  __m512i lo = _mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)p));
  return _mm512_inserti64x4(lo, _mm256_loadu_si256((const __m256i *)q), 1);
}


/* Nibbles of two 32-value blocks (16 bytes each) in value order: lo0 hi0 lo1 hi1. */
static inline __m512i nibbles_2x32(const uint8_t *p, const uint8_t *q) {
  __m256i raw = _mm256_set_m128i(_mm_loadu_si128((const __m128i *)q),
                                 _mm_loadu_si128((const __m128i *)p));
  __m512i z = _mm512_inserti64x4(_mm512_castsi256_si512(raw), _mm256_srli_epi16(raw, 4), 1);
  z = _mm512_and_si512(z, _mm512_set1_epi8(0x0f));
  return _mm512_shuffle_i64x2(z, z, _MM_SHUFFLE(3, 1, 2, 0));
}


/* Lanes 0-7 hold a, lanes 8-15 hold b. */
static inline __m512 two_scales(float a, float b) {
  return _mm512_insertf32x8(_mm512_set1_ps(a), _mm256_set1_ps(b), 1);
}


/* Nibbles of one block as 32 bytes (the tail of an odd block count). */
static inline __m256i nibbles_32(const uint8_t *p) {
  __m128i b = _mm_loadu_si128((const __m128i *)p), m = _mm_set1_epi8(0x0f);
  return _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(b, 4), m), _mm_and_si128(b, m));
}


/* sum(u8 x * s8 y) - off * sum(y), for 32 values, as 8 int32 lanes. */
static inline __m256i dot_off_32(__m256i x, __m256i y, int off) {
  __m256i s = _mm256_dpbusd_epi32(_mm256_setzero_si256(), x, y);
  __m256i c = _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_set1_epi8((char)off), y);
  return _mm256_sub_epi32(s, c);
}


/* The same for 64 values (two blocks). */
static inline __m512i dot_off_64(__m512i x, __m512i y, int off) {
  __m512i s = _mm512_dpbusd_epi32(_mm512_setzero_si512(), x, y);
  __m512i c = _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_set1_epi8((char)off), y);
  return _mm512_sub_epi32(s, c);
}

/* ------------------------------------------------------------------ quantizers */

/* Lanes of v that are NaN or infinite (see any_not_finite in quant_ref.c). */
static inline __mmask16 not_finite(__m512 v) {
  return _mm512_cmp_ps_mask(_mm512_abs_ps(v), _mm512_set1_ps(FLT_MAX), _CMP_NLE_UQ);
}


/*
** One block of 32 exactly as the scalar q8_block: d = amax / 127, x * (127 / amax) rounded;
** a NaN d and zero quants when a value is NaN or infinite.
*/
static inline void q8_block(const float *x, float *d_out, int8_t *qs, int *sum) {
  __m512 a = _mm512_loadu_ps(x), b = _mm512_loadu_ps(x + 16);
  if (not_finite(a) | not_finite(b)) {
    memset(qs, 0, 32);
    *sum = 0;
    *d_out = NAN;
    return;
  }
  float m = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(a), _mm512_abs_ps(b)));
  __m512 id = _mm512_set1_ps(m != 0 ? 127.0f / m : 0);
  __m512i qa = _mm512_cvtps_epi32(_mm512_roundscale_ps(_mm512_mul_ps(a, id), ROUND_NEAREST));
  __m512i qb = _mm512_cvtps_epi32(_mm512_roundscale_ps(_mm512_mul_ps(b, id), ROUND_NEAREST));
  _mm_storeu_si128((__m128i *)qs, _mm512_cvtsepi32_epi8(qa));
  _mm_storeu_si128((__m128i *)(qs + 16), _mm512_cvtsepi32_epi8(qb));
  *sum = _mm512_reduce_add_epi32(_mm512_add_epi32(qa, qb));
  *d_out = m / 127.0f;
}


static void from_float_q8_0(const float *x, void *y, int64_t n) {
  block_q8_0 *b = y;
  for (int64_t i = 0; i < n / QK8_0; i++, x += QK8_0) {
    float d;
    int sum;
    q8_block(x, &d, b[i].qs, &sum);
    b[i].d = _cvtss_sh(d, 0);
  }
}


static void from_float_q8_1(const float *x, void *y, int64_t n) {
  block_q8_1 *b = y;
  for (int64_t i = 0; i < n / QK8_1; i++, x += QK8_1) {
    float d;
    int sum;
    q8_block(x, &d, b[i].qs, &sum);
    b[i].d = _cvtss_sh(d, 0);
    b[i].s = _cvtss_sh(d * (float)sum, 0);
  }
}


/*
** The signed value of largest magnitude among the 256 (the first, as the scalar loop finds);
** NaN when one of them is NaN or infinite.
*/
static float signed_max_256(const float *x) {
  __m512 amax = _mm512_setzero_ps();
  __mmask16 bad = 0;
  for (int j = 0; j < QK_K; j += 16) {
    __m512 v = _mm512_loadu_ps(x + j);
    amax = _mm512_max_ps(amax, _mm512_abs_ps(v));
    bad |= not_finite(v);
  }
  if (bad)
    return NAN;
  __m512 m = _mm512_set1_ps(_mm512_reduce_max_ps(amax));
  for (int j = 0; j < QK_K; j += 16) {
    __mmask16 hit = _mm512_cmp_ps_mask(_mm512_abs_ps(_mm512_loadu_ps(x + j)), m, _CMP_EQ_OQ);
    if (hit)
      return x[j + __builtin_ctz(hit)];
  }
  return 0;
}


static void from_float_q8_K(const float *x, void *y, int64_t n) {
  block_q8_K *b = y;
  for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
    float max = signed_max_256(x);
    memset(&b[i], 0, sizeof b[i]);
    b[i].d = isnan(max) ? NAN : 0.0f;
    if (max == 0 || isnan(max))
      continue;
    float iscale = -127.0f / max;
    __m512 is = _mm512_set1_ps(iscale);
    for (int j = 0; j < QK_K; j += 16) {
      __m512 v = _mm512_roundscale_ps(_mm512_mul_ps(_mm512_loadu_ps(x + j), is), ROUND_NEAREST);
      __m512i q = _mm512_min_epi32(_mm512_cvtps_epi32(v), _mm512_set1_epi32(127));
      _mm_storeu_si128((__m128i *)(b[i].qs + j), _mm512_cvtsepi32_epi8(q));
      b[i].bsums[j / 16] = (int16_t)_mm512_reduce_add_epi32(q);
    }
    b[i].d = 1 / iscale;
  }
}


static void from_float_f16(const float *x, void *y, int64_t n) {
  qora_f16 *h = y;
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    _mm256_storeu_si256((__m256i *)(h + i), _mm512_cvtps_ph(_mm512_loadu_ps(x + i), 0));
  for (; i < n; i++)
    h[i] = _cvtss_sh(x[i], 0);
}


/* Round to nearest even as qora_f32_to_bf16 (subnormals kept, unlike vcvtneps2bf16). */
static void from_float_bf16(const float *x, void *y, int64_t n) {
  qora_bf16 *h = y;
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    __m512i u = _mm512_loadu_si512(x + i);
    __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
    __m512i r = _mm512_add_epi32(u, _mm512_add_epi32(lsb, _mm512_set1_epi32(0x7fff)));
    r = _mm512_srli_epi32(r, 16);
    __mmask16 nan = _mm512_cmpgt_epi32_mask(_mm512_and_si512(u, _mm512_set1_epi32(0x7fffffff)),
                                            _mm512_set1_epi32(0x7f800000));
    __m512i q = _mm512_or_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(64));
    r = _mm512_mask_mov_epi32(r, nan, q);
    _mm256_storeu_si256((__m256i *)(h + i), _mm512_cvtepi32_epi16(r));
  }
  for (; i < n; i++)
    h[i] = qora_f32_to_bf16(x[i]);
}

/* ------------------------------------------------------------------ float dot products */

static void vec_dot_f32(int n, float *s, const void *vx, const void *vy) {
  const float *x = vx, *y = vy;
  __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
  int i = 0;
  for (; i + 32 <= n; i += 32) {
    a0 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i), _mm512_loadu_ps(y + i), a0);
    a1 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i + 16), _mm512_loadu_ps(y + i + 16), a1);
  }
  float sum = _mm512_reduce_add_ps(_mm512_add_ps(a0, a1));
  for (; i < n; i++)
    sum += x[i] * y[i];
  *s = sum;
}


static inline __m512 load_f16(const qora_f16 *p) {
  return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)p));
}


static void vec_dot_f16(int n, float *s, const void *vx, const void *vy) {
  const qora_f16 *x = vx, *y = vy;
  __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
  int i = 0;
  for (; i + 32 <= n; i += 32) {
    a0 = _mm512_fmadd_ps(load_f16(x + i), load_f16(y + i), a0);
    a1 = _mm512_fmadd_ps(load_f16(x + i + 16), load_f16(y + i + 16), a1);
  }
  float sum = _mm512_reduce_add_ps(_mm512_add_ps(a0, a1));
  for (; i < n; i++)
    sum += F16(x[i]) * F16(y[i]);
  *s = sum;
}


/* vdpbf16ps: 32 products per instruction, summed in pairs into float lanes. */
static void vec_dot_bf16(int n, float *s, const void *vx, const void *vy) {
  const qora_bf16 *x = vx, *y = vy;
  __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
  int i = 0;
  for (; i + 64 <= n; i += 64) {
    a0 = _mm512_dpbf16_ps(a0, (__m512bh)_mm512_loadu_si512(x + i),
                          (__m512bh)_mm512_loadu_si512(y + i));
    a1 = _mm512_dpbf16_ps(a1, (__m512bh)_mm512_loadu_si512(x + i + 32),
                          (__m512bh)_mm512_loadu_si512(y + i + 32));
  }
  for (; i + 32 <= n; i += 32)
    a0 = _mm512_dpbf16_ps(a0, (__m512bh)_mm512_loadu_si512(x + i),
                          (__m512bh)_mm512_loadu_si512(y + i));
  float sum = _mm512_reduce_add_ps(_mm512_add_ps(a0, a1));
  for (; i < n; i++)
    sum += qora_bf16_to_f32(x[i]) * qora_bf16_to_f32(y[i]);
  *s = sum;
}

/* ------------------------------------------------------------------ 32-value blocks */

static void vec_dot_q4_0_q8_0(int n, float *s, const void *vx, const void *vy) {
  const block_q4_0 *x = vx;
  const block_q8_0 *y = vy;
  int nb = n / QK8_0, i = 0;
  __m512 acc = _mm512_setzero_ps();
  for (; i + 2 <= nb; i += 2) {
    __m512i qx = nibbles_2x32(x[i].qs, x[i + 1].qs);
    __m512i qy = load_2x32(y[i].qs, y[i + 1].qs);
    __m512 d = two_scales(F16(x[i].d) * F16(y[i].d), F16(x[i + 1].d) * F16(y[i + 1].d));
    acc = _mm512_fmadd_ps(d, _mm512_cvtepi32_ps(dot_off_64(qx, qy, 8)), acc);
  }
  float sum = _mm512_reduce_add_ps(acc);
  if (i < nb) {
    __m256i qy = _mm256_loadu_si256((const __m256i *)y[i].qs);
    __m256 p = _mm256_cvtepi32_ps(dot_off_32(nibbles_32(x[i].qs), qy, 8));
    sum += hsum256_ps(p) * (F16(x[i].d) * F16(y[i].d));
  }
  *s = sum;
}


static void vec_dot_q4_1_q8_1(int n, float *s, const void *vx, const void *vy) {
  const block_q4_1 *x = vx;
  const block_q8_1 *y = vy;
  int nb = n / QK8_1, i = 0;
  __m512 acc = _mm512_setzero_ps();
  float mins = 0;
  for (; i + 2 <= nb; i += 2) {
    __m512i qx = nibbles_2x32(x[i].qs, x[i + 1].qs);
    __m512i qy = load_2x32(y[i].qs, y[i + 1].qs);
    __m512 d = two_scales(F16(x[i].d) * F16(y[i].d), F16(x[i + 1].d) * F16(y[i + 1].d));
    __m512i p = _mm512_dpbusd_epi32(_mm512_setzero_si512(), qx, qy);
    acc = _mm512_fmadd_ps(d, _mm512_cvtepi32_ps(p), acc);
    mins += F16(x[i].m) * F16(y[i].s) + F16(x[i + 1].m) * F16(y[i + 1].s);
  }
  float sum = _mm512_reduce_add_ps(acc);
  if (i < nb) {
    __m256i qy = _mm256_loadu_si256((const __m256i *)y[i].qs);
    __m256i p = _mm256_dpbusd_epi32(_mm256_setzero_si256(), nibbles_32(x[i].qs), qy);
    sum += hsum256_ps(_mm256_cvtepi32_ps(p)) * (F16(x[i].d) * F16(y[i].d));
    mins += F16(x[i].m) * F16(y[i].s);
  }
  *s = sum + mins;
}


/* Q8_0 weights go unsigned by flipping the sign bit (x + 128), then 128 * sum(y) comes off. */
static void vec_dot_q8_0_q8_0(int n, float *s, const void *vx, const void *vy) {
  const block_q8_0 *x = vx, *y = vy;
  const __m512i flip = _mm512_set1_epi8((char)0x80);
  int nb = n / QK8_0, i = 0;
  __m512 acc = _mm512_setzero_ps();
  for (; i + 2 <= nb; i += 2) {
    __m512i qx = _mm512_xor_si512(load_2x32(x[i].qs, x[i + 1].qs), flip);
    __m512i qy = load_2x32(y[i].qs, y[i + 1].qs);
    __m512 d = two_scales(F16(x[i].d) * F16(y[i].d), F16(x[i + 1].d) * F16(y[i + 1].d));
    acc = _mm512_fmadd_ps(d, _mm512_cvtepi32_ps(dot_off_64(qx, qy, 128)), acc);
  }
  float sum = _mm512_reduce_add_ps(acc);
  if (i < nb) {
    __m256i qx = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)x[i].qs),
                                  _mm512_castsi512_si256(flip));
    __m256i qy = _mm256_loadu_si256((const __m256i *)y[i].qs);
    sum += hsum256_ps(_mm256_cvtepi32_ps(dot_off_32(qx, qy, 128))) *
           (F16(x[i].d) * F16(y[i].d));
  }
  *s = sum;
}

/* ------------------------------------------------------------------ K blocks */

/*
** The K-quant kernels keep float accumulators across blocks (one conversion per block, one
** reduction per row), so they round differently from the scalar reference; the integer sums
** inside a block are exact.
*/

/* int16 lane l takes element (first + l / per) of the 8 or 16 scales in v. */
static inline __m512i spread16(__m512i v, int first, int per) {
  __m512i l = _mm512_set_epi16(31, 30, 29, 28, 27, 26, 25, 24, 23, 22, 21, 20, 19, 18, 17, 16,
                               15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
  __m512i idx = _mm512_add_epi16(_mm512_srli_epi16(l, per == 16 ? 4 : 3),
                                 _mm512_set1_epi16((short)first));
  return _mm512_permutexvar_epi16(idx, v);
}


/* sum_j mn[j] * (bsums[2j] + bsums[2j + 1]) as 8 int32 lanes. */
static inline __m256i k_mins(const block_q8_K *y, uint64_t mn) {
  __m128i m8 = _mm_cvtsi64_si128((long long)mn);
  __m256i m16 = _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(m8, m8));   /* each min twice */
  return _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)y->bsums), m16);
}


/* The 4 groups of 64 of a Q4_K / Q5_K block against y, scale-weighted, as int32 lanes. */
static inline __m512i k_groups(const __m512i q[4], const int8_t *y, uint64_t sc) {
  __m512i s16 = _mm512_castsi128_si512(_mm_cvtepu8_epi16(_mm_cvtsi64_si128((long long)sc)));
  __m512i acc = _mm512_setzero_si512();
#pragma GCC unroll 4
  for (int g = 0; g < 4; g++) {
    __m512i p = _mm512_maddubs_epi16(q[g], _mm512_loadu_si512(y + 64 * g));
    acc = _mm512_dpwssd_epi32(acc, p, spread16(s16, 2 * g, 16));
  }
  return acc;
}


static inline __m512i join(__m256i lo, __m256i hi) {
  return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
}


static void vec_dot_q4_K_q8_K(int n, float *s, const void *vx, const void *vy) {
  const block_q4_K *x = vx;
  const block_q8_K *y = vy;
  const __m256i m4 = _mm256_set1_epi8(0x0f);
  __m512 acc = _mm512_setzero_ps();
  __m256 accm = _mm256_setzero_ps();
  for (int i = 0; i < n / QK_K; i++) {
    uint64_t sc, mn;
    qora_k4_scales_mins(x[i].scales, &sc, &mn);
    __m512i q[4];
    for (int g = 0; g < 4; g++) {
      __m256i raw = _mm256_loadu_si256((const __m256i *)(x[i].qs + 32 * g));
      q[g] = join(_mm256_and_si256(raw, m4), _mm256_and_si256(_mm256_srli_epi16(raw, 4), m4));
    }
    __m512i sumi = k_groups(q, y[i].qs, sc);
    acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sumi), _mm512_set1_ps(y[i].d * F16(x[i].d)), acc);
    accm = _mm256_fmadd_ps(_mm256_cvtepi32_ps(k_mins(&y[i], mn)),
                           _mm256_set1_ps(y[i].d * F16(x[i].dmin)), accm);
  }
  *s = _mm512_reduce_add_ps(acc) - hsum256_ps(accm);
}


static void vec_dot_q5_K_q8_K(int n, float *s, const void *vx, const void *vy) {
  const block_q5_K *x = vx;
  const block_q8_K *y = vy;
  const __m256i m4 = _mm256_set1_epi8(0x0f), b4 = _mm256_set1_epi8(0x10);
  __m512 acc = _mm512_setzero_ps();
  __m256 accm = _mm256_setzero_ps();
  for (int i = 0; i < n / QK_K; i++) {
    uint64_t sc, mn;
    qora_k4_scales_mins(x[i].scales, &sc, &mn);
    __m256i qh = _mm256_loadu_si256((const __m256i *)x[i].qh);
    __m512i q[4];
    for (int g = 0; g < 4; g++) {
      __m256i raw = _mm256_loadu_si256((const __m256i *)(x[i].qs + 32 * g));
      /* bit 2g of qh is the fifth bit of the low half, bit 2g + 1 of the high half */
      __m256i hlo = _mm256_and_si256(g < 2 ? _mm256_slli_epi16(qh, 4 - 2 * g)
                                           : _mm256_srli_epi16(qh, 2 * g - 4), b4);
      __m256i hhi = _mm256_and_si256(g < 2 ? _mm256_slli_epi16(qh, 3 - 2 * g)
                                           : _mm256_srli_epi16(qh, 2 * g - 3), b4);
      q[g] = join(_mm256_or_si256(_mm256_and_si256(raw, m4), hlo),
                  _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(raw, 4), m4), hhi));
    }
    __m512i sumi = k_groups(q, y[i].qs, sc);
    acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sumi), _mm512_set1_ps(y[i].d * F16(x[i].d)), acc);
    accm = _mm256_fmadd_ps(_mm256_cvtepi32_ps(k_mins(&y[i], mn)),
                           _mm256_set1_ps(y[i].d * F16(x[i].dmin)), accm);
  }
  *s = _mm512_reduce_add_ps(acc) - hsum256_ps(accm);
}


/*
** Quants of one Q6_K half (128 values) as 2 vectors of u8 0..63 in value order: values 0-63
** take the low nibbles of ql[0..64) with qh bits 0-1 (first 32) and 2-3 (next 32); values
** 64-127 the high nibbles with bits 4-5 and 6-7.
*/
static inline void q6_half(const uint8_t *ql, const uint8_t *qh, __m512i q[2]) {
  const __m512i m4 = _mm512_set1_epi8(0x0f), m30 = _mm512_set1_epi8(0x30);
  __m512i l = _mm512_loadu_si512(ql);
  __m512i h = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)qh));
  __m512i up = _mm512_sllv_epi16(h, join(_mm256_set1_epi16(4), _mm256_set1_epi16(2)));
  __m512i down = _mm512_srlv_epi16(h, join(_mm256_setzero_si256(), _mm256_set1_epi16(2)));
  q[0] = _mm512_or_si512(_mm512_and_si512(l, m4), _mm512_and_si512(up, m30));
  q[1] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(l, 4), m4),
                         _mm512_and_si512(down, m30));
}


/* sum_j sc[j] * dot(q - 32, y) = sum_j sc[j] * dot(q, y) - 32 * sum_j sc[j] * bsums[j]. */
static void vec_dot_q6_K_q8_K(int n, float *s, const void *vx, const void *vy) {
  const block_q6_K *x = vx;
  const block_q8_K *y = vy;
  __m512 acc = _mm512_setzero_ps();
  __m256 acco = _mm256_setzero_ps();
  for (int i = 0; i < n / QK_K; i++) {
    __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)x[i].scales));
    __m512i sc = _mm512_castsi256_si512(sc16);
    __m512i sumi = _mm512_setzero_si512();
#pragma GCC unroll 2
    for (int h = 0; h < 2; h++) {
      __m512i q[2];
      q6_half(x[i].ql + 64 * h, x[i].qh + 32 * h, q);
#pragma GCC unroll 2
      for (int k = 0; k < 2; k++) {
        __m512i p = _mm512_maddubs_epi16(q[k], _mm512_loadu_si512(y[i].qs + 128 * h + 64 * k));
        sumi = _mm512_dpwssd_epi32(sumi, p, spread16(sc, 8 * h + 4 * k, 8));
      }
    }
    float d = y[i].d * F16(x[i].d);
    __m256i off = _mm256_madd_epi16(sc16, _mm256_loadu_si256((const __m256i *)y[i].bsums));
    acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sumi), _mm512_set1_ps(d), acc);
    acco = _mm256_fmadd_ps(_mm256_cvtepi32_ps(off), _mm256_set1_ps(32 * d), acco);
  }
  *s = _mm512_reduce_add_ps(acc) - hsum256_ps(acco);
}

/* ------------------------------------------------------------------ install */

void qora_quant_install_avx512(qora_type_traits *t) {
  t[QORA_F32].vec_dot = vec_dot_f32;
  t[QORA_F16].vec_dot = vec_dot_f16;
  t[QORA_F16].from_float = from_float_f16;
  t[QORA_BF16].vec_dot = vec_dot_bf16;
  t[QORA_BF16].from_float = from_float_bf16;
  t[QORA_Q4_0].vec_dot = vec_dot_q4_0_q8_0;
  t[QORA_Q4_1].vec_dot = vec_dot_q4_1_q8_1;
  t[QORA_Q8_0].vec_dot = vec_dot_q8_0_q8_0;
  t[QORA_Q8_0].from_float = from_float_q8_0;
  t[QORA_Q8_1].from_float = from_float_q8_1;
  t[QORA_Q8_K].from_float = from_float_q8_K;
  t[QORA_Q4_K].vec_dot = vec_dot_q4_K_q8_K;
  t[QORA_Q5_K].vec_dot = vec_dot_q5_K_q8_K;
  t[QORA_Q6_K].vec_dot = vec_dot_q6_K_q8_K;
}

#endif
