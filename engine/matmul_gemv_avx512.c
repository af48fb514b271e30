/*
** matmul_gemv_avx512.c: row kernels for a few tokens (decode) with AVX-512 VNNI, for Q4_0,
** Q4_1, Q8_0, Q4_K and Q5_K weights in their stored layout. Per pair of blocks one vpdpbusd
** takes 64 weights; the per-block scales of a row are gathered 16 at a time and spread over
** the lanes with one permute. K blocks unpack 128 weights per vector pair against activations
** stored in that order. A block costs a few instructions, so decode stays bound by the memory
** bus rather than by the core.
*/
#if defined(__x86_64__)

#include <immintrin.h>
#include <string.h>

#include "hsum_x86.h"
#include "matmul_kernels.h"
#include "quant_kernels.h"

/* A token's pack for one pair of blocks (see qora_gemv_pack_token). */
typedef struct gemv_pair {
  int8_t q[64];
  int32_t neg[16];
  float dy[16];
} gemv_pair;

_Static_assert(sizeof(gemv_pair) == GEMV_PAIR_BYTES, "gemv pair layout");

/* ------------------------------------------------------------------ activation packs */

/*
** 4-bit weights unpack a pair to [b0 values 0-15, b1 0-15, b0 16-31, b1 16-31]: 32-bit lanes
** 0-3 and 8-11 belong to b0, 4-7 and 12-15 to b1. 8-bit weights keep [b0, b1].
*/
static void pack_pair(int four_bit, const int8_t *y0, const int8_t *y1, float d0, float d1,
                      int off, gemv_pair *p) {
  int s0 = 0, s1 = 0;
  for (int j = 0; j < 32; j++) {
    s0 += y0[j];
    s1 += y1[j];
  }
  memset(p->neg, 0, sizeof p->neg);
  if (four_bit) {
    memcpy(p->q, y0, 16);
    memcpy(p->q + 16, y1, 16);
    memcpy(p->q + 32, y0 + 16, 16);
    memcpy(p->q + 48, y1 + 16, 16);
    for (int l = 0; l < 16; l++)
      p->dy[l] = (l / 4) % 2 ? d1 : d0;
    p->neg[0] = -off * s0;
    p->neg[4] = -off * s1;
  } else {
    memcpy(p->q, y0, 32);
    memcpy(p->q + 32, y1, 32);
    for (int l = 0; l < 16; l++)
      p->dy[l] = l < 8 ? d0 : d1;
    p->neg[0] = -off * s0;
    p->neg[8] = -off * s1;
  }
}


/*
** 64 bytes of Q4_K / Q5_K quants (two groups of 32 bytes) unpack, low nibbles then high, to
** values [0, 32) + [64, 96) and [32, 64) + [96, 128) of their 128: the activations follow.
*/
static void pack_k(const block_q8_K *y, int64_t nb, block_q8_K *out) {
  static const int from[8] = {0, 64, 32, 96, 128, 192, 160, 224};
  for (int64_t i = 0; i < nb; i++) {
    out[i] = y[i];
    for (int k = 0; k < 8; k++)
      memcpy(out[i].qs + 32 * k, y[i].qs + from[k], 32);
  }
}


void qora_gemv_pack_token(int type, int64_t cols, const void *q8, char *out) {
  int64_t nb = cols / 32;
  gemv_pair *pairs = (gemv_pair *)out;
  float *sy = (float *)(out + (size_t)(nb / 2) * GEMV_PAIR_BYTES);

  if (type == QORA_Q4_K || type == QORA_Q5_K) {
    pack_k(q8, cols / QK_K, (block_q8_K *)out);
    return;
  }
  if (type == QORA_Q4_1) {
    const block_q8_1 *y = q8;
    for (int64_t b = 0; b + 1 < nb; b += 2)
      pack_pair(1, y[b].qs, y[b + 1].qs, _cvtsh_ss(y[b].d), _cvtsh_ss(y[b + 1].d), 0,
                &pairs[b / 2]);
    for (int64_t b = 0; b < nb; b++)
      sy[b] = _cvtsh_ss(y[b].s);
    return;
  }
  const block_q8_0 *y = q8;
  for (int64_t b = 0; b + 1 < nb; b += 2)
    pack_pair(type == QORA_Q4_0, y[b].qs, y[b + 1].qs, _cvtsh_ss(y[b].d),
              _cvtsh_ss(y[b + 1].d), type == QORA_Q4_0 ? 8 : 128, &pairs[b / 2]);
}

/* ------------------------------------------------------------------ row kernels */

/* The F16 at offset off of n (< 16) consecutive blocks of size bytes, as floats. */
static inline __m512 gather_f16(const void *blocks, int size, int off, int n) {
  __m512i idx = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11,
                                                     12, 13, 14, 15), _mm512_set1_epi32(size));
  __mmask16 m = (__mmask16)((1u << n) - 1);
  __m512i g = _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), m, idx,
                                          (const char *)blocks + off, 1);
  return _mm512_cvtph_ps(_mm512_cvtepi32_epi16(g));
}


/* Lane l of the pair p (0..7) of a group takes the scale of block 2p + (l / w) % 2. */
static inline __m512i pair_index(int p, int w) {
  __m512i l = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  __m512i half = _mm512_and_si512(_mm512_srli_epi32(l, w == 4 ? 2 : 3), _mm512_set1_epi32(1));
  return _mm512_add_epi32(half, _mm512_set1_epi32(2 * p));
}


static inline __m512i nibbles_pair(const uint8_t *q0, const uint8_t *q1) {
  __m256i raw = _mm256_inserti128_si256(_mm256_castsi128_si256(
      _mm_loadu_si128((const __m128i *)q0)), _mm_loadu_si128((const __m128i *)q1), 1);
  __m512i z = _mm512_inserti64x4(_mm512_castsi256_si512(raw), _mm256_srli_epi16(raw, 4), 1);
  return _mm512_and_si512(z, _mm512_set1_epi8(0x0f));
}


static inline __m512i bytes_pair(const int8_t *q0, const int8_t *q1) {
  __m512i z = _mm512_inserti64x4(_mm512_castsi256_si512(
      _mm256_loadu_si256((const __m256i *)q0)), _mm256_loadu_si256((const __m256i *)q1), 1);
  return _mm512_xor_si512(z, _mm512_set1_epi8((char)0x80));
}


/* One pair: f += dx * dy * (dot(u8 weights, y) - off * sum(y)), lane by lane. */
static inline __m512 pair_dot(__m512 f, __m512i wq, const gemv_pair *p, __m512 dx) {
  __m512i acc = _mm512_dpbusd_epi32(_mm512_load_si512(p->neg), wq, _mm512_load_si512(p->q));
  __m512 v = _mm512_mul_ps(_mm512_cvtepi32_ps(acc), _mm512_load_ps(p->dy));
  return _mm512_fmadd_ps(v, dx, f);
}


/*
** Full groups of 16 blocks alternate pairs between two accumulators, so consecutive pairs do
** not wait on each other's multiply-add.
*/
static float row_q4_0(const block_q4_0 *x, int nb, const gemv_pair *pk, const block_q8_0 *y) {
  __m512 f = _mm512_setzero_ps(), g = _mm512_setzero_ps();
  int b = 0;
  for (; b + 16 <= nb; b += 16) {
    __m512 d = gather_f16(x + b, sizeof *x, 0, 16);
#pragma GCC unroll 4
    for (int p = 0; p < 8; p += 2) {
      f = pair_dot(f, nibbles_pair(x[b + 2 * p].qs, x[b + 2 * p + 1].qs), &pk[b / 2 + p],
                   _mm512_permutexvar_ps(pair_index(p, 4), d));
      g = pair_dot(g, nibbles_pair(x[b + 2 * p + 2].qs, x[b + 2 * p + 3].qs),
                   &pk[b / 2 + p + 1], _mm512_permutexvar_ps(pair_index(p + 1, 4), d));
    }
  }
  if (b + 1 < nb) {
    int n = nb - b;
    __m512 d = gather_f16(x + b, sizeof *x, 0, n);
    for (int p = 0; 2 * p + 1 < n; p++)
      f = pair_dot(f, nibbles_pair(x[b + 2 * p].qs, x[b + 2 * p + 1].qs), &pk[b / 2 + p],
                   _mm512_permutexvar_ps(pair_index(p, 4), d));
  }
  float s = _mm512_reduce_add_ps(_mm512_add_ps(f, g)), last = 0;
  if (nb % 2)
    qora_vec_dot_q4_0_q8_0(32, &last, x + nb - 1, y + nb - 1);
  return s + last;
}


static float row_q4_1(const block_q4_1 *x, int nb, const gemv_pair *pk, const block_q8_1 *y,
                      const float *sy) {
  __m512 f = _mm512_setzero_ps(), fm = _mm512_setzero_ps();
  int b = 0;
  for (; b + 1 < nb; b += 16) {
    int n = nb - b < 16 ? nb - b : 16;
    __m512 d = gather_f16(x + b, sizeof *x, 0, n);
    __m512 m = gather_f16(x + b, sizeof *x, 2, n & ~1);
    fm = _mm512_fmadd_ps(m, _mm512_maskz_loadu_ps((__mmask16)((1u << (n & ~1)) - 1), sy + b),
                         fm);
    for (int p = 0; 2 * p + 1 < n; p++) {
      __m512 dx = _mm512_permutexvar_ps(pair_index(p, 4), d);
      f = pair_dot(f, nibbles_pair(x[b + 2 * p].qs, x[b + 2 * p + 1].qs), &pk[b / 2 + p], dx);
    }
  }
  float s = _mm512_reduce_add_ps(f) + _mm512_reduce_add_ps(fm), last = 0;
  if (nb % 2)
    qora_vec_dot_q4_1_q8_1(32, &last, x + nb - 1, y + nb - 1);
  return s + last;
}


static float row_q8_0(const block_q8_0 *x, int nb, const gemv_pair *pk, const block_q8_0 *y) {
  __m512 f = _mm512_setzero_ps();
  int b = 0;
  for (; b + 1 < nb; b += 16) {
    int n = nb - b < 16 ? nb - b : 16;
    __m512 d = gather_f16(x + b, sizeof *x, 0, n);
    if (n == 16) {
#pragma GCC unroll 8
      for (int p = 0; p < 8; p++) {
        __m512 dx = _mm512_permutexvar_ps(pair_index(p, 8), d);
        f = pair_dot(f, bytes_pair(x[b + 2 * p].qs, x[b + 2 * p + 1].qs), &pk[b / 2 + p], dx);
      }
      continue;
    }
    for (int p = 0; 2 * p + 1 < n; p++) {
      __m512 dx = _mm512_permutexvar_ps(pair_index(p, 8), d);
      f = pair_dot(f, bytes_pair(x[b + 2 * p].qs, x[b + 2 * p + 1].qs), &pk[b / 2 + p], dx);
    }
  }
  float s = _mm512_reduce_add_ps(f), last = 0;
  if (nb % 2)
    qora_vec_dot_q8_0_q8_0(32, &last, x + nb - 1, y + nb - 1);
  return s + last;
}


/* int16 lanes 0-15 take scale a of the 8 in s16, lanes 16-31 scale b. */
static inline __m512i two_of(__m512i s16, int a, int b) {
  __m512i idx = _mm512_inserti64x4(_mm512_set1_epi16((short)a), _mm256_set1_epi16((short)b), 1);
  return _mm512_permutexvar_epi16(idx, s16);
}


/*
** One K block: q[k] holds 64 u8 values whose sub-blocks (of 32) are sub[k][0] and sub[k][1];
** y is the packed activation. Adds scale-weighted sums to acc and the min term to accm.
*/
static inline void k_block(const __m512i q[4], const block_q8_K *y, uint64_t sc, uint64_t mn,
                           float d, float dmin, __m512 *acc, __m256 *accm) {
  static const int sub[4][2] = {{0, 2}, {1, 3}, {4, 6}, {5, 7}};
  __m512i s16 = _mm512_castsi128_si512(_mm_cvtepu8_epi16(_mm_cvtsi64_si128((long long)sc)));
  __m512i sumi = _mm512_setzero_si512();
#pragma GCC unroll 4
  for (int k = 0; k < 4; k++) {
    __m512i p = _mm512_maddubs_epi16(q[k], _mm512_loadu_si512(y->qs + 64 * k));
    sumi = _mm512_dpwssd_epi32(sumi, p, two_of(s16, sub[k][0], sub[k][1]));
  }
  __m128i m8 = _mm_cvtsi64_si128((long long)mn);
  __m256i m16 = _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(m8, m8));   /* each min twice */
  __m256i mins = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)y->bsums), m16);
  *acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sumi), _mm512_set1_ps(y->d * d), *acc);
  *accm = _mm256_fmadd_ps(_mm256_cvtepi32_ps(mins), _mm256_set1_ps(y->d * dmin), *accm);
}


static float finish_k(__m512 acc, __m256 accm) {
  return _mm512_reduce_add_ps(acc) - hsum256_ps(accm);
}


static float row_q4_K(const block_q4_K *x, int nb, const block_q8_K *y) {
  const __m512i m4 = _mm512_set1_epi8(0x0f);
  __m512 acc = _mm512_setzero_ps();
  __m256 accm = _mm256_setzero_ps();
  for (int i = 0; i < nb; i++) {
    uint64_t sc, mn;
    qora_k4_scales_mins(x[i].scales, &sc, &mn);
    __m512i r0 = _mm512_loadu_si512(x[i].qs), r1 = _mm512_loadu_si512(x[i].qs + 64);
    __m512i q[4] = {_mm512_and_si512(r0, m4), _mm512_and_si512(_mm512_srli_epi16(r0, 4), m4),
                    _mm512_and_si512(r1, m4), _mm512_and_si512(_mm512_srli_epi16(r1, 4), m4)};
    k_block(q, &y[i], sc, mn, _cvtsh_ss(x[i].d), _cvtsh_ss(x[i].dmin), &acc, &accm);
  }
  return finish_k(acc, accm);
}


/* The fifth bits: for values unpacked as in q[k], bit (2g + half) of qh moves to bit 4. */
static inline __m512i fifth_bits(__m512i qh2, int k) {
  static const short shl[4][2] = {{4, 2}, {3, 1}, {0, 0}, {0, 0}};
  static const short shr[4][2] = {{0, 0}, {0, 0}, {0, 2}, {1, 3}};
  __m512i up = _mm512_inserti64x4(_mm512_set1_epi16(shl[k][0]), _mm256_set1_epi16(shl[k][1]), 1);
  __m512i dn = _mm512_inserti64x4(_mm512_set1_epi16(shr[k][0]), _mm256_set1_epi16(shr[k][1]), 1);
  __m512i v = _mm512_srlv_epi16(_mm512_sllv_epi16(qh2, up), dn);
  return _mm512_and_si512(v, _mm512_set1_epi8(0x10));
}


static float row_q5_K(const block_q5_K *x, int nb, const block_q8_K *y) {
  const __m512i m4 = _mm512_set1_epi8(0x0f);
  __m512 acc = _mm512_setzero_ps();
  __m256 accm = _mm256_setzero_ps();
  for (int i = 0; i < nb; i++) {
    uint64_t sc, mn;
    qora_k4_scales_mins(x[i].scales, &sc, &mn);
    __m512i r0 = _mm512_loadu_si512(x[i].qs), r1 = _mm512_loadu_si512(x[i].qs + 64);
    __m512i qh2 = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)x[i].qh));
    __m512i q[4] = {_mm512_and_si512(r0, m4), _mm512_and_si512(_mm512_srli_epi16(r0, 4), m4),
                    _mm512_and_si512(r1, m4), _mm512_and_si512(_mm512_srli_epi16(r1, 4), m4)};
#pragma GCC unroll 4
    for (int k = 0; k < 4; k++)
      q[k] = _mm512_or_si512(q[k], fifth_bits(qh2, k));
    k_block(q, &y[i], sc, mn, _cvtsh_ss(x[i].d), _cvtsh_ss(x[i].dmin), &acc, &accm);
  }
  return finish_k(acc, accm);
}


void qora_gemv_rows(const qora_weight *w, const char *packed, size_t stride, const char *q8,
                    size_t qrow, int n_tok, float *y, int ldy, long lo, long hi) {
  int nb = (int)(w->cols / 32);
  const float *sy_of = (const float *)(packed + (size_t)(nb / 2) * GEMV_PAIR_BYTES);

  for (long r = lo; r < hi; r++) {
    const void *row = (const char *)w->data + (size_t)r * w->row_bytes;
    for (int t = 0; t < n_tok; t++) {
      const gemv_pair *pk = (const gemv_pair *)(packed + t * stride);
      const void *yq = q8 + t * qrow;
      float v;
      if (w->type == QORA_Q4_K)
        v = row_q4_K(row, nb / 8, (const block_q8_K *)pk);
      else if (w->type == QORA_Q5_K)
        v = row_q5_K(row, nb / 8, (const block_q8_K *)pk);
      else if (w->type == QORA_Q4_0)
        v = row_q4_0(row, nb, pk, yq);
      else if (w->type == QORA_Q8_0)
        v = row_q8_0(row, nb, pk, yq);
      else
        v = row_q4_1(row, nb, pk, yq, (const float *)((const char *)sy_of + t * stride));
      y[(size_t)t * ldy + r] = v;
    }
  }
}

#endif
