/*
** hsum_x86.h: horizontal sums of a 256-bit vector, for the AVX2 and AVX-512 kernel files.
** Static inline, so each file compiles them with its own -m flags; include it only inside
** those files' #if defined(__x86_64__).
*/
#ifndef QORA_HSUM_X86_H
#define QORA_HSUM_X86_H

#include <immintrin.h>

/* The 8 floats of v added as ((0+4) + (2+6)) + ((1+5) + (3+7)). */
static inline float hsum256_ps(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}


static inline int hsum256_epi32(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_unpackhi_epi64(s, s));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 1));
  return _mm_cvtsi128_si32(s);
}

#endif
