/*
** quant_avx2.c: AVX2 + FMA + F16C kernels (compiled with those flags, chosen at run time).
** The activation quantizers and the K-quant dot products match the scalar reference bit for
** bit; the 32-value and float dot products sum in a different order (a few ulps apart).
*/
#if defined(__x86_64__)

#include <float.h>
#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "hsum_x86.h"
#include "quant_kernels.h"

#define F16(h) _cvtsh_ss(h)

/* ------------------------------------------------------------------ helpers */

static inline float hmax_ps(__m256 v) {
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  m = _mm_max_ss(m, _mm_movehdup_ps(m));
  return _mm_cvtss_f32(m);
}


static inline __m256 abs_ps(__m256 v) {
  return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), v);
}


/* 16 bytes of nibbles to 32 bytes: the low nibbles first, then the high ones. */
static inline __m256i nibbles_32(const uint8_t *p) {
  __m128i b = _mm_loadu_si128((const __m128i *)p);
  __m128i m = _mm_set1_epi8(0x0f);
  __m128i lo = _mm_and_si128(b, m), hi = _mm_and_si128(_mm_srli_epi16(b, 4), m);
  return _mm256_set_m128i(hi, lo);
}


/* Pairs of products of unsigned x and signed y, summed into 8 int32. */
static inline __m256i dot_us8(__m256i x, __m256i y) {
  return _mm256_madd_epi16(_mm256_maddubs_epi16(x, y), _mm256_set1_epi16(1));
}


/* The same for signed x: the sign moves to y so maddubs sees |x|. */
static inline __m256i dot_ss8(__m256i x, __m256i y) {
  return dot_us8(_mm256_sign_epi8(x, x), _mm256_sign_epi8(y, x));
}


/* 32 int32 (already rounded, |v| <= 127) in 4 vectors to 32 int8, in order. */
static inline __m256i pack_i8(__m256i a, __m256i b, __m256i c, __m256i d) {
  __m256i ab = _mm256_packs_epi32(a, b), cd = _mm256_packs_epi32(c, d);
  __m256i v = _mm256_packs_epi16(ab, cd);
  return _mm256_permutevar8x32_epi32(v, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

#define ROUND_NEAREST (_MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)

/* ------------------------------------------------------------------ quantizers */

/* Lanes of v that are NaN or infinite, as a movemask (see any_not_finite in quant_ref.c). */
static inline int not_finite(__m256 v) {
  return _mm256_movemask_ps(_mm256_cmp_ps(abs_ps(v), _mm256_set1_ps(FLT_MAX), _CMP_NLE_UQ));
}


/*
** One block of 32 as the scalar q8_block does: d = amax / 127, x * (127 / amax) rounded; a
** NaN d and zero quants when a value is NaN or infinite.
*/
static inline __m256i q8_block(const float *x, float *d_out) {
  __m256 v[4];
  __m256 amax = _mm256_setzero_ps();
  int bad = 0;
  for (int k = 0; k < 4; k++) {
    v[k] = _mm256_loadu_ps(x + 8 * k);
    amax = _mm256_max_ps(amax, abs_ps(v[k]));
    bad |= not_finite(v[k]);
  }
  if (bad) {
    *d_out = NAN;
    return _mm256_setzero_si256();
  }
  float m = hmax_ps(amax);
  __m256 id = _mm256_set1_ps(m != 0 ? 127.0f / m : 0);
  __m256i q[4];
  for (int k = 0; k < 4; k++)
    q[k] = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v[k], id), ROUND_NEAREST));
  *d_out = m / 127.0f;
  return pack_i8(q[0], q[1], q[2], q[3]);
}


static void from_float_q8_0(const float *x, void *y, int64_t n) {
  block_q8_0 *b = y;
  for (int64_t i = 0; i < n / QK8_0; i++, x += QK8_0) {
    float d;
    _mm256_storeu_si256((__m256i *)b[i].qs, q8_block(x, &d));
    b[i].d = _cvtss_sh(d, 0);
  }
}


static void from_float_q8_1(const float *x, void *y, int64_t n) {
  block_q8_1 *b = y;
  for (int64_t i = 0; i < n / QK8_1; i++, x += QK8_1) {
    float d;
    __m256i q = q8_block(x, &d);
    _mm256_storeu_si256((__m256i *)b[i].qs, q);
    int sum = hsum256_epi32(_mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(1), q),
                                              _mm256_set1_epi16(1)));
    b[i].d = _cvtss_sh(d, 0);
    b[i].s = _cvtss_sh(d * (float)sum, 0);
  }
}


/*
** The signed value of largest magnitude among n (the first one, as the scalar loop finds);
** NaN when one of them is NaN or infinite.
*/
static float signed_max(const float *x, int n) {
  __m256 amax = _mm256_setzero_ps();
  int bad = 0;
  for (int j = 0; j < n; j += 8) {
    __m256 v = _mm256_loadu_ps(x + j);
    amax = _mm256_max_ps(amax, abs_ps(v));
    bad |= not_finite(v);
  }
  if (bad)
    return NAN;
  float m = hmax_ps(amax);
  __m256 mv = _mm256_set1_ps(m);
  for (int j = 0; j < n; j += 8) {
    int hit = _mm256_movemask_ps(_mm256_cmp_ps(abs_ps(_mm256_loadu_ps(x + j)), mv, _CMP_EQ_OQ));
    if (hit)
      return x[j + __builtin_ctz((unsigned)hit)];
  }
  return 0;
}


static void from_float_q8_K(const float *x, void *y, int64_t n) {
  block_q8_K *b = y;
  for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
    float max = signed_max(x, QK_K);
    memset(&b[i], 0, sizeof b[i]);
    b[i].d = isnan(max) ? NAN : 0.0f;
    if (max == 0 || isnan(max))
      continue;
    float iscale = -127.0f / max;
    __m256 is = _mm256_set1_ps(iscale);
    for (int j = 0; j < QK_K; j += 32) {
      __m256i q[4];
      for (int k = 0; k < 4; k++) {
        __m256 v = _mm256_mul_ps(_mm256_loadu_ps(x + j + 8 * k), is);
        q[k] = _mm256_min_epi32(_mm256_cvtps_epi32(_mm256_round_ps(v, ROUND_NEAREST)),
                                _mm256_set1_epi32(127));
      }
      __m256i p = pack_i8(q[0], q[1], q[2], q[3]);
      _mm256_storeu_si256((__m256i *)(b[i].qs + j), p);
      /* Sums of 16: pairs to int16, then the 8 pairs of each half to one lane. */
      __m256i s16 = _mm256_maddubs_epi16(_mm256_set1_epi8(1), p);
      __m256i s32 = _mm256_madd_epi16(s16, _mm256_set1_epi16(1));
      int32_t t[8];
      _mm256_storeu_si256((__m256i *)t, s32);
      b[i].bsums[j / 16] = (int16_t)(t[0] + t[1] + t[2] + t[3]);
      b[i].bsums[j / 16 + 1] = (int16_t)(t[4] + t[5] + t[6] + t[7]);
    }
    b[i].d = 1 / iscale;
  }
}


static void from_float_f16(const float *x, void *y, int64_t n) {
  qora_f16 *h = y;
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm_storeu_si128((__m128i *)(h + i), _mm256_cvtps_ph(_mm256_loadu_ps(x + i), 0));
  for (; i < n; i++)
    h[i] = _cvtss_sh(x[i], 0);
}


/* Round to nearest even, as qora_f32_to_bf16; NaN keeps a set quiet bit. */
static inline __m128i bf16_8(const float *x) {
  __m256i u = _mm256_loadu_si256((const __m256i *)x);
  __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(1));
  __m256i r = _mm256_srli_epi32(_mm256_add_epi32(u, _mm256_add_epi32(lsb,
                                _mm256_set1_epi32(0x7fff))), 16);
  __m256i nan = _mm256_cmpgt_epi32(_mm256_and_si256(u, _mm256_set1_epi32(0x7fffffff)),
                                   _mm256_set1_epi32(0x7f800000));
  __m256i q = _mm256_or_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(64));
  r = _mm256_blendv_epi8(r, q, nan);
  __m128i lo = _mm256_castsi256_si128(r), hi = _mm256_extracti128_si256(r, 1);
  return _mm_packus_epi32(lo, hi);
}


static void from_float_bf16(const float *x, void *y, int64_t n) {
  qora_bf16 *h = y;
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm_storeu_si128((__m128i *)(h + i), bf16_8(x + i));
  for (; i < n; i++)
    h[i] = qora_f32_to_bf16(x[i]);
}

/* ------------------------------------------------------------------ float dot products */

static void vec_dot_f32(int n, float *s, const void *vx, const void *vy) {
  const float *x = vx, *y = vy;
  __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(),
                   _mm256_setzero_ps()};
  int i = 0;
  for (; i + 32 <= n; i += 32)
    for (int k = 0; k < 4; k++)
      acc[k] = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 8 * k), _mm256_loadu_ps(y + i + 8 * k),
                               acc[k]);
  float sum = hsum256_ps(_mm256_add_ps(_mm256_add_ps(acc[0], acc[1]),
                                       _mm256_add_ps(acc[2], acc[3])));
  for (; i < n; i++)
    sum += x[i] * y[i];
  *s = sum;
}


static inline __m256 load_f16(const qora_f16 *p) {
  return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
}


static inline __m256 load_bf16(const qora_bf16 *p) {
  __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p));
  return _mm256_castsi256_ps(_mm256_slli_epi32(w, 16));
}


static void vec_dot_f16(int n, float *s, const void *vx, const void *vy) {
  const qora_f16 *x = vx, *y = vy;
  __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(),
                   _mm256_setzero_ps()};
  int i = 0;
  for (; i + 32 <= n; i += 32)
    for (int k = 0; k < 4; k++)
      acc[k] = _mm256_fmadd_ps(load_f16(x + i + 8 * k), load_f16(y + i + 8 * k), acc[k]);
  float sum = hsum256_ps(_mm256_add_ps(_mm256_add_ps(acc[0], acc[1]),
                                       _mm256_add_ps(acc[2], acc[3])));
  for (; i < n; i++)
    sum += F16(x[i]) * F16(y[i]);
  *s = sum;
}


static void vec_dot_bf16(int n, float *s, const void *vx, const void *vy) {
  const qora_bf16 *x = vx, *y = vy;
  __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(),
                   _mm256_setzero_ps()};
  int i = 0;
  for (; i + 32 <= n; i += 32)
    for (int k = 0; k < 4; k++)
      acc[k] = _mm256_fmadd_ps(load_bf16(x + i + 8 * k), load_bf16(y + i + 8 * k), acc[k]);
  float sum = hsum256_ps(_mm256_add_ps(_mm256_add_ps(acc[0], acc[1]),
                                       _mm256_add_ps(acc[2], acc[3])));
  for (; i < n; i++)
    sum += qora_bf16_to_f32(x[i]) * qora_bf16_to_f32(y[i]);
  *s = sum;
}

/* ------------------------------------------------------------------ 32-value blocks */

static void vec_dot_q4_0_q8_0(int n, float *s, const void *vx, const void *vy) {
  const block_q4_0 *x = vx;
  const block_q8_0 *y = vy;
  __m256 acc = _mm256_setzero_ps();
  for (int i = 0; i < n / QK8_0; i++) {
    __m256i qx = _mm256_sub_epi8(nibbles_32(x[i].qs), _mm256_set1_epi8(8));
    __m256i qy = _mm256_loadu_si256((const __m256i *)y[i].qs);
    __m256 p = _mm256_cvtepi32_ps(dot_ss8(qx, qy));
    acc = _mm256_fmadd_ps(_mm256_set1_ps(F16(x[i].d) * F16(y[i].d)), p, acc);
  }
  *s = hsum256_ps(acc);
}


static void vec_dot_q4_1_q8_1(int n, float *s, const void *vx, const void *vy) {
  const block_q4_1 *x = vx;
  const block_q8_1 *y = vy;
  __m256 acc = _mm256_setzero_ps();
  float mins = 0;
  for (int i = 0; i < n / QK8_1; i++) {
    __m256i qy = _mm256_loadu_si256((const __m256i *)y[i].qs);
    __m256 p = _mm256_cvtepi32_ps(dot_us8(nibbles_32(x[i].qs), qy));
    acc = _mm256_fmadd_ps(_mm256_set1_ps(F16(x[i].d) * F16(y[i].d)), p, acc);
    mins += F16(x[i].m) * F16(y[i].s);
  }
  *s = hsum256_ps(acc) + mins;
}


static void vec_dot_q8_0_q8_0(int n, float *s, const void *vx, const void *vy) {
  const block_q8_0 *x = vx, *y = vy;
  __m256 acc = _mm256_setzero_ps();
  for (int i = 0; i < n / QK8_0; i++) {
    __m256i qx = _mm256_loadu_si256((const __m256i *)x[i].qs);
    __m256i qy = _mm256_loadu_si256((const __m256i *)y[i].qs);
    __m256 p = _mm256_cvtepi32_ps(dot_ss8(qx, qy));
    acc = _mm256_fmadd_ps(_mm256_set1_ps(F16(x[i].d) * F16(y[i].d)), p, acc);
  }
  *s = hsum256_ps(acc);
}

/* ------------------------------------------------------------------ K blocks */

/* sum_j mn[j] * (bsums[2j] + bsums[2j + 1]) for the 8 sub-blocks of 32. */
static inline int k_minsum(const block_q8_K *y, const uint8_t mn[8]) {
  __m128i m8 = _mm_loadl_epi64((const __m128i *)mn);
  __m256i m16 = _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(m8, m8));   /* each min twice */
  __m256i bs = _mm256_loadu_si256((const __m256i *)y->bsums);
  return hsum256_epi32(_mm256_madd_epi16(bs, m16));
}


/* sc-weighted dot of 64 values: q (u8) against y, low 32 with sc_lo, high 32 with sc_hi. */
static inline __m256i k_dot64(__m256i qlo, __m256i qhi, const int8_t *y, int sc_lo, int sc_hi) {
  __m256i plo = _mm256_maddubs_epi16(qlo, _mm256_loadu_si256((const __m256i *)y));
  __m256i phi = _mm256_maddubs_epi16(qhi, _mm256_loadu_si256((const __m256i *)(y + 32)));
  return _mm256_add_epi32(_mm256_madd_epi16(plo, _mm256_set1_epi16((short)sc_lo)),
                          _mm256_madd_epi16(phi, _mm256_set1_epi16((short)sc_hi)));
}


static void vec_dot_q4_K_q8_K(int n, float *s, const void *vx, const void *vy) {
  const block_q4_K *x = vx;
  const block_q8_K *y = vy;
  const __m256i m4 = _mm256_set1_epi8(0x0f);
  float sum = 0;
  for (int i = 0; i < n / QK_K; i++) {
    uint8_t sc[8], mn[8];
    qora_k4_scales(x[i].scales, sc, mn);
    __m256i acc = _mm256_setzero_si256();
    for (int g = 0; g < 4; g++) {
      __m256i q = _mm256_loadu_si256((const __m256i *)(x[i].qs + 32 * g));
      __m256i lo = _mm256_and_si256(q, m4), hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
      acc = _mm256_add_epi32(acc, k_dot64(lo, hi, y[i].qs + 64 * g, sc[2 * g], sc[2 * g + 1]));
    }
    sum += qora_k_combine(y[i].d, F16(x[i].d), F16(x[i].dmin), hsum256_epi32(acc),
                          k_minsum(&y[i], mn));
  }
  *s = sum;
}


static void vec_dot_q5_K_q8_K(int n, float *s, const void *vx, const void *vy) {
  const block_q5_K *x = vx;
  const block_q8_K *y = vy;
  const __m256i m4 = _mm256_set1_epi8(0x0f), one = _mm256_set1_epi8(1);
  float sum = 0;
  for (int i = 0; i < n / QK_K; i++) {
    uint8_t sc[8], mn[8];
    qora_k4_scales(x[i].scales, sc, mn);
    __m256i qh = _mm256_loadu_si256((const __m256i *)x[i].qh);
    __m256i acc = _mm256_setzero_si256();
    for (int g = 0; g < 4; g++) {
      __m256i q = _mm256_loadu_si256((const __m256i *)(x[i].qs + 32 * g));
      __m256i blo = _mm256_and_si256(_mm256_srli_epi16(qh, 2 * g), one);
      __m256i bhi = _mm256_and_si256(_mm256_srli_epi16(qh, 2 * g + 1), one);
      __m256i lo = _mm256_or_si256(_mm256_and_si256(q, m4), _mm256_slli_epi16(blo, 4));
      __m256i hi = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q, 4), m4),
                                   _mm256_slli_epi16(bhi, 4));
      acc = _mm256_add_epi32(acc, k_dot64(lo, hi, y[i].qs + 64 * g, sc[2 * g], sc[2 * g + 1]));
    }
    sum += qora_k_combine(y[i].d, F16(x[i].d), F16(x[i].dmin), hsum256_epi32(acc),
                          k_minsum(&y[i], mn));
  }
  *s = sum;
}


/* 16 int16: sc[a] in the low 8 lanes, sc[a + 1] in the high 8 (two sub-blocks of 16). */
static inline __m256i q6_scales(const int8_t *sc, int a) {
  return _mm256_set_m128i(_mm_set1_epi16(sc[a + 1]), _mm_set1_epi16(sc[a]));
}


/* Quants of one Q6_K half (128 values) as 4 vectors of u8 0..63, in value order. */
static inline void q6_half(const uint8_t *ql, const uint8_t *qh, __m256i q[4]) {
  const __m256i m4 = _mm256_set1_epi8(0x0f), m2 = _mm256_set1_epi8(3);
  __m256i l0 = _mm256_loadu_si256((const __m256i *)ql);
  __m256i l1 = _mm256_loadu_si256((const __m256i *)(ql + 32));
  __m256i h = _mm256_loadu_si256((const __m256i *)qh);
  for (int k = 0; k < 4; k++) {
    __m256i l = k & 1 ? l1 : l0;
    __m256i lo4 = k & 2 ? _mm256_and_si256(_mm256_srli_epi16(l, 4), m4) : _mm256_and_si256(l, m4);
    __m256i hi2 = _mm256_and_si256(_mm256_srli_epi16(h, 2 * k), m2);
    q[k] = _mm256_or_si256(lo4, _mm256_slli_epi16(hi2, 4));
  }
}


/*
** Q6_K: sum_j sc[j] * dot(q - 32, y) = sum_j sc[j] * dot(q, y) - 32 * sum_j sc[j] * bsums[j],
** so maddubs can take the unsigned quants.
*/
static void vec_dot_q6_K_q8_K(int n, float *s, const void *vx, const void *vy) {
  const block_q6_K *x = vx;
  const block_q8_K *y = vy;
  float sum = 0;
  for (int i = 0; i < n / QK_K; i++) {
    __m256i acc = _mm256_setzero_si256();
    for (int h = 0; h < 2; h++) {
      __m256i q[4];
      q6_half(x[i].ql + 64 * h, x[i].qh + 32 * h, q);
      for (int k = 0; k < 4; k++) {
        const int8_t *yq = y[i].qs + 128 * h + 32 * k;
        __m256i p = _mm256_maddubs_epi16(q[k], _mm256_loadu_si256((const __m256i *)yq));
        acc = _mm256_add_epi32(acc, _mm256_madd_epi16(p, q6_scales(x[i].scales, 8 * h + 2 * k)));
      }
    }
    __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)x[i].scales));
    __m256i bs = _mm256_loadu_si256((const __m256i *)y[i].bsums);
    int sumi = hsum256_epi32(acc) - 32 * hsum256_epi32(_mm256_madd_epi16(sc16, bs));
    sum += y[i].d * F16(x[i].d) * (float)sumi;
  }
  *s = sum;
}

/* ------------------------------------------------------------------ install */

void qora_quant_install_avx2(qora_type_traits *t) {
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
