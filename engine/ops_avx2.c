/* ops_avx2.c: the row kernels with AVX2, FMA and F16C (8 floats a vector). */
#if defined(__x86_64__)
#include <immintrin.h>

#include "hsum_x86.h"

/* The sums of four vectors: three horizontal adds, then the halves added. */
static inline __m128 sum4(__m256 a, __m256 b, __m256 c, __m256 d) {
  __m256 s = _mm256_hadd_ps(_mm256_hadd_ps(a, b), _mm256_hadd_ps(c, d));

  return _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
}

/* p * 2^n for integral n in [-126, 127]: n goes straight into the exponent bits. */
static inline __m256 scale2(__m256 p, __m256 n) {
  __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)),
                                23);
  return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

/*
** The sums of eight vectors, a[0..7], as one vector: the additions of sum4 for each (pairs,
** then pairs of pairs, then the halves), so each sum has the bits sum4 gives it; half the
** horizontal adds of two sum4 calls on four vectors each, and one vector to store.
*/
static inline __m256 sum8(const __m256 a[8]) {
  __m256 lo = _mm256_hadd_ps(_mm256_hadd_ps(a[0], a[1]), _mm256_hadd_ps(a[2], a[3]));
  __m256 hi = _mm256_hadd_ps(_mm256_hadd_ps(a[4], a[5]), _mm256_hadd_ps(a[6], a[7]));

  return _mm256_add_ps(_mm256_permute2f128_ps(lo, hi, 0x20),
                       _mm256_permute2f128_ps(lo, hi, 0x31));
}

/* Scores of two heads for four keys (a[h * 4 + r]), scaled: head 0's to t0, head 1's to t1. */
#define VSUM2X4(a, scale, t0, t1) do {                                  \
    __m256 s8_ = _mm256_mul_ps(sum8(a), _mm256_set1_ps(scale));          \
    _mm_storeu_ps(t0, _mm256_castps256_ps128(s8_));                      \
    _mm_storeu_ps(t1, _mm256_extractf128_ps(s8_, 1));                    \
  } while (0)

#define VEC __m256
#define W 8
#define VZERO() _mm256_setzero_ps()
#define VLOAD(p) _mm256_loadu_ps(p)
#define VLOAD_F16(p) _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(p)))
#define VSTORE(p, v) _mm256_storeu_ps(p, v)
#define VSET1(x) _mm256_set1_ps(x)
#define VFMA(a, b, c) _mm256_fmadd_ps(a, b, c)
#define VSUM(v) hsum256_ps(v)
#define VADD(a, b) _mm256_add_ps(a, b)
#define VSUB(a, b) _mm256_sub_ps(a, b)
#define VMUL(a, b) _mm256_mul_ps(a, b)
#define VDIV(a, b) _mm256_div_ps(a, b)
#define VMAX(a, b) _mm256_max_ps(a, b)
#define VMIN(a, b) _mm256_min_ps(a, b)
#define VROUND(v) _mm256_round_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
#define VSCALE2(p, n) scale2(p, n)
#define VSUM4(acc, out) _mm_storeu_ps(out, sum4(acc[0], acc[1], acc[2], acc[3]))
#define ACC_V 2
#define TILE_KJ 2
#define TILE_KD 2
#define SC_HEAD_PAIRS 1            /* 16 registers: see score_rows_h2 */
#define INSTALL qora_ops_install_avx2

#include "ops_simd.h"
#endif
