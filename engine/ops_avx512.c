/* ops_avx512.c: the row kernels with AVX-512 (16 floats a vector). */
#if defined(__x86_64__)
#include <immintrin.h>

/* The sums of four vectors: halves added, then three horizontal adds. */
static inline __m128 sum4(__m512 a, __m512 b, __m512 c, __m512 d) {
  __m256 a2 = _mm256_add_ps(_mm512_castps512_ps256(a), _mm512_extractf32x8_ps(a, 1));
  __m256 b2 = _mm256_add_ps(_mm512_castps512_ps256(b), _mm512_extractf32x8_ps(b, 1));
  __m256 c2 = _mm256_add_ps(_mm512_castps512_ps256(c), _mm512_extractf32x8_ps(c, 1));
  __m256 d2 = _mm256_add_ps(_mm512_castps512_ps256(d), _mm512_extractf32x8_ps(d, 1));
  __m256 s = _mm256_hadd_ps(_mm256_hadd_ps(a2, b2), _mm256_hadd_ps(c2, d2));

  return _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
}

/* Lanes i of a and b added to lanes j: each imm picks two 128-bit lanes of a, then two of b. */
#define LANES(a, b, i, j) \
  _mm512_add_ps(_mm512_shuffle_f32x4(a, b, i), _mm512_shuffle_f32x4(a, b, j))

/*
** s[h * ss + r] = scale * (sum of acc[r][h]) for 4 keys r and 4 heads h: the 16 vectors are
** added down in a tree of shuffles, 45 operations where four sum4 take about 80. The tree
** leaves the sum of input m in lane perm[m], and perm is its own inverse, so the vectors go in
** by perm. Per cached key (head_dim 128, F16 rows in L2, one core of a Zen 4), the scores of
** four heads took 14.3 to 18.0 ns one key at a time, 12.3 to 13.2 four keys at a time with
** sum4, and 11.6 to 12.0 with this tree.
*/
static inline __attribute__((always_inline))
void sum4x4(__m512 acc[][4], float scale, float *s, int ss) {
  static const int perm[16] = {0, 2, 1, 3, 8, 10, 9, 11, 4, 6, 5, 7, 12, 14, 13, 15};
  __m512 v[16], u[8], w[4], x[2], y;

  _Pragma("GCC unroll 16")
  for (int m = 0; m < 16; m++)
    v[m] = acc[perm[m] % 4][perm[m] / 4];
  _Pragma("GCC unroll 16")
  for (int m = 0; m < 8; m++)
    u[m] = LANES(v[m], v[m + 8], 0x44, 0xEE);
  _Pragma("GCC unroll 16")
  for (int m = 0; m < 4; m++)
    w[m] = LANES(u[m], u[m + 4], 0x88, 0xDD);
  _Pragma("GCC unroll 16")
  for (int m = 0; m < 2; m++) {
    __m512d a = _mm512_castps_pd(w[m]), b = _mm512_castps_pd(w[m + 2]);
    x[m] = _mm512_add_ps(_mm512_castpd_ps(_mm512_unpacklo_pd(a, b)),
                         _mm512_castpd_ps(_mm512_unpackhi_pd(a, b)));
  }
  y = _mm512_mul_ps(_mm512_add_ps(_mm512_shuffle_ps(x[0], x[1], 0x88),
                                  _mm512_shuffle_ps(x[0], x[1], 0xDD)), _mm512_set1_ps(scale));
  _mm_storeu_ps(s, _mm512_castps512_ps128(y));
  _mm_storeu_ps(s + ss, _mm512_extractf32x4_ps(y, 1));
  _mm_storeu_ps(s + 2 * ss, _mm512_extractf32x4_ps(y, 2));
  _mm_storeu_ps(s + 3 * ss, _mm512_extractf32x4_ps(y, 3));
}

#define VEC __m512
#define W 16
#define VZERO() _mm512_setzero_ps()
#define VLOAD(p) _mm512_loadu_ps(p)
#define VLOAD_F16(p) _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(p)))
#define VSTORE(p, v) _mm512_storeu_ps(p, v)
#define VSET1(x) _mm512_set1_ps(x)
#define VFMA(a, b, c) _mm512_fmadd_ps(a, b, c)
#define VSUM(v) _mm512_reduce_add_ps(v)
#define VADD(a, b) _mm512_add_ps(a, b)
#define VSUB(a, b) _mm512_sub_ps(a, b)
#define VMUL(a, b) _mm512_mul_ps(a, b)
#define VDIV(a, b) _mm512_div_ps(a, b)
#define VMAX(a, b) _mm512_max_ps(a, b)
#define VMIN(a, b) _mm512_min_ps(a, b)
#define VROUND(v) _mm512_roundscale_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
#define VSCALE2(p, n) _mm512_scalef_ps(p, n)
#define VSUM4(acc, out) _mm_storeu_ps(out, sum4(acc[0], acc[1], acc[2], acc[3]))
#define ACC_V 4
#define SC_KEYS 4
#define VSUM4X4 sum4x4
#define TILE_KJ 4
#define TILE_KD 4
#define INSTALL qora_ops_install_avx512

#include "ops_simd.h"
#endif
