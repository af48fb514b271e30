/* attention_avx512.c: the attention row kernels with AVX-512 (16 floats a vector). */
#if defined(__x86_64__)
#include <immintrin.h>

#define VEC __m512
#define W 16
#define VZERO() _mm512_setzero_ps()
#define VLOAD(p) _mm512_loadu_ps(p)
#define VLOAD_F16(p) _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(p)))
#define VSTORE(p, v) _mm512_storeu_ps(p, v)
#define VSET1(x) _mm512_set1_ps(x)
#define VFMA(a, b, c) _mm512_fmadd_ps(a, b, c)
#define VSUM(v) _mm512_reduce_add_ps(v)
#define INSTALL qora_attn_install_avx512

#include "attention_simd.h"
#endif
