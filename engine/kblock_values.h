/*
** kblock_values.h: the 256 values of one Q4_K, Q5_K or Q6_K block as u8, in value order,
** for the tiled products' weight tiles (matmul_avx2.c, matmul_avx512.c). Static inline with
** AVX2 intrinsics: include it only in files compiled with AVX2 or more, inside their
** #if defined(__x86_64__).
*/
#ifndef QORA_KBLOCK_VALUES_H
#define QORA_KBLOCK_VALUES_H

#include <immintrin.h>

#include "quant.h"

/* The 256 values of one K block as u8, in order. */
typedef void (*values_fn)(const void *blk, uint8_t *v);


static inline void values_q4_K(const void *blk, uint8_t *v) {
  const block_q4_K *b = blk;
  const __m256i m4 = _mm256_set1_epi8(0x0f);
  for (int g = 0; g < 4; g++) {
    __m256i q = _mm256_loadu_si256((const __m256i *)(b->qs + 32 * g));
    _mm256_store_si256((__m256i *)(v + 64 * g), _mm256_and_si256(q, m4));
    _mm256_store_si256((__m256i *)(v + 64 * g + 32),
                       _mm256_and_si256(_mm256_srli_epi16(q, 4), m4));
  }
}


static inline void values_q5_K(const void *blk, uint8_t *v) {
  const block_q5_K *b = blk;
  const __m256i m4 = _mm256_set1_epi8(0x0f), one = _mm256_set1_epi8(1);
  __m256i qh = _mm256_loadu_si256((const __m256i *)b->qh);
  for (int g = 0; g < 4; g++) {
    __m256i q = _mm256_loadu_si256((const __m256i *)(b->qs + 32 * g));
    __m256i blo = _mm256_and_si256(_mm256_srli_epi16(qh, 2 * g), one);
    __m256i bhi = _mm256_and_si256(_mm256_srli_epi16(qh, 2 * g + 1), one);
    _mm256_store_si256((__m256i *)(v + 64 * g),
                       _mm256_or_si256(_mm256_and_si256(q, m4), _mm256_slli_epi16(blo, 4)));
    _mm256_store_si256((__m256i *)(v + 64 * g + 32),
                       _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q, 4), m4),
                                       _mm256_slli_epi16(bhi, 4)));
  }
}


static inline void values_q6_K(const void *blk, uint8_t *v) {
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
      _mm256_store_si256((__m256i *)(v + 128 * h + 32 * k),
                         _mm256_or_si256(lo4, _mm256_slli_epi16(hi2, 4)));
    }
  }
}

#endif
