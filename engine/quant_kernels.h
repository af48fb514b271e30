/*
** quant_kernels.h: the kernels behind the traits table (internal to the quant_*.c files and
** their tests). The scalar ones are the reference every SIMD variant is tested against.
*/
#ifndef QORA_QUANT_KERNELS_H
#define QORA_QUANT_KERNELS_H

#include <string.h>

#include "quant.h"

/* ------------------------------------------------------------ scalar reference */

void qora_to_float_f32(const void *x, float *y, int64_t n);
void qora_to_float_f16(const void *x, float *y, int64_t n);
void qora_to_float_bf16(const void *x, float *y, int64_t n);
void qora_to_float_q4_0(const void *x, float *y, int64_t n);
void qora_to_float_q4_1(const void *x, float *y, int64_t n);
void qora_to_float_q8_0(const void *x, float *y, int64_t n);
void qora_to_float_q8_1(const void *x, float *y, int64_t n);
void qora_to_float_q4_K(const void *x, float *y, int64_t n);
void qora_to_float_q5_K(const void *x, float *y, int64_t n);
void qora_to_float_q6_K(const void *x, float *y, int64_t n);
void qora_to_float_q8_K(const void *x, float *y, int64_t n);

void qora_from_float_f32(const float *x, void *y, int64_t n);
void qora_from_float_f16(const float *x, void *y, int64_t n);
void qora_from_float_bf16(const float *x, void *y, int64_t n);
void qora_from_float_q4_0(const float *x, void *y, int64_t n);
void qora_from_float_q4_1(const float *x, void *y, int64_t n);
void qora_from_float_q8_0(const float *x, void *y, int64_t n);
void qora_from_float_q8_1(const float *x, void *y, int64_t n);
void qora_from_float_q8_K(const float *x, void *y, int64_t n);

void qora_vec_dot_f32(int n, float *s, const void *x, const void *y);
void qora_vec_dot_f16(int n, float *s, const void *x, const void *y);
void qora_vec_dot_bf16(int n, float *s, const void *x, const void *y);
void qora_vec_dot_q4_0_q8_0(int n, float *s, const void *x, const void *y);
void qora_vec_dot_q4_1_q8_1(int n, float *s, const void *x, const void *y);
void qora_vec_dot_q8_0_q8_0(int n, float *s, const void *x, const void *y);
void qora_vec_dot_q4_K_q8_K(int n, float *s, const void *x, const void *y);
void qora_vec_dot_q5_K_q8_K(int n, float *s, const void *x, const void *y);
void qora_vec_dot_q6_K_q8_K(int n, float *s, const void *x, const void *y);

/*
** The 6-bit scales and mins of a Q4_K / Q5_K block: 8 sub-blocks of 32 values, packed in
** 12 bytes (GGML's get_scale_min_k4 layout).
*/
void qora_k4_scales(const uint8_t *packed, uint8_t sc[8], uint8_t mn[8]);

/* The same 8 scales and 8 mins as the bytes of two words, unpacked with 32-bit masks. */
static inline void qora_k4_scales_mins(const uint8_t *packed, uint64_t *sc, uint64_t *mn) {
  uint32_t u[3];
  memcpy(u, packed, sizeof u);
  uint32_t sc_hi = (u[2] & 0x0f0f0f0f) | ((u[0] >> 6) & 0x03030303) << 4;
  uint32_t mn_hi = ((u[2] >> 4) & 0x0f0f0f0f) | ((u[1] >> 6) & 0x03030303) << 4;
  *sc = (u[0] & 0x3f3f3f3f) | (uint64_t)sc_hi << 32;
  *mn = (u[1] & 0x3f3f3f3f) | (uint64_t)mn_hi << 32;
}

/*
** One Q4_K / Q5_K block's contribution from exact integer sums: yd * d * sumi minus
** yd * dmin * minsum. Every level evaluates this same expression (with -std=c11, GCC does not
** fuse it into FMAs), so the K-quant kernels agree bit for bit.
*/
static inline float qora_k_combine(float yd, float d, float dmin, int sumi, int minsum) {
  return yd * d * (float)sumi - yd * dmin * (float)minsum;
}

/* -------------------------------------------------------------- SIMD overlays */

/* Replace the scalar kernels in t[QORA_TYPE_COUNT] by the level's; x86-64 builds only. */
void qora_quant_install_avx2(qora_type_traits *t);
void qora_quant_install_avx512(qora_type_traits *t);

#endif
