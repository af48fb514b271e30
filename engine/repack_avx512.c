/*
** repack_avx512.c: the r16 layout of repack.h written with AVX-512 gathers: each output vector
** is one gather of a 32-bit field from 16 rows, so a model repacks at close to the speed of
** copying it. Writes the same bytes as qora_r16_pack (repack.c), its reference.
*/
#if defined(__x86_64__)

#include <immintrin.h>
#include <stddef.h>
#include <string.h>

#include "quant.h"
#include "repack.h"

#define VEC 64

typedef struct rows16 {
  const char *base;                 /* row 0 of the group */
  __m512i idx;                      /* byte offset of row r from base, in lane r */
  __mmask16 live;                   /* rows that exist */
} rows16;


static rows16 group_rows(const qora_weight *w, long g) {
  int64_t r0 = (int64_t)g * R16_ROWS;
  int nr = w->rows - r0 < R16_ROWS ? (int)(w->rows - r0) : R16_ROWS;
  rows16 r = {
    (const char *)w->data + (size_t)r0 * w->row_bytes,
    _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                       _mm512_set1_epi32((int)w->row_bytes)),
    (__mmask16)((1u << nr) - 1),
  };
  return r;
}


/* The 32-bit field at byte off of every row (0 for missing rows). */
static inline __m512i field(const rows16 *r, size_t off) {
  return _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), r->live, r->idx, r->base + off, 1);
}


static inline void put(uint8_t *out, __m512i v) {
  _mm512_storeu_si512((void *)out, v);
}


/* The F16 at byte off of every row, 16 of them. */
static inline void put_f16(uint8_t *out, const rows16 *r, size_t off) {
  _mm256_storeu_si256((__m256i *)out, _mm512_cvtepi32_epi16(field(r, off)));
}


static void pack_32(const qora_weight *w, long g, uint8_t *out) {
  rows16 r = group_rows(w, g);
  int q8 = w->type == QORA_Q8_0, nvec = q8 ? 8 : 4;
  size_t bsize = q8 ? sizeof(block_q8_0) : sizeof(block_q4_0);
  int64_t nb = w->cols / 32;
  size_t qb = (size_t)nvec * VEC;
  __m512i flip = _mm512_set1_epi8(q8 ? (char)0x80 : 0);

  for (int64_t b = 0; b < nb; b++) {
    for (int k = 0; k < nvec; k++)
      put(out + qora_r16_q_at(b, qb) + k * VEC,
          _mm512_maskz_xor_epi32(r.live, field(&r, (size_t)b * bsize + 2 + 4 * k), flip));
    put_f16(out + qora_r16_d_at(b, qb), &r, (size_t)b * bsize);
  }
  if (nb % 2)
    memset(out + qora_r16_d_at(nb - 1, qb) + 2 * R16_ROWS, 0, 2 * R16_ROWS);
}


static void pack_q4_K(const qora_weight *w, long g, uint8_t *out) {
  rows16 r = group_rows(w, g);

  for (int64_t i = 0; i < w->cols / QK_K; i++, out += R16_ROWS * sizeof(block_q4_K)) {
    size_t at = (size_t)i * sizeof(block_q4_K);
    for (int c = 0; c < QK_K / 8; c++)
      put(out + R16_K4_Q + c * VEC, field(&r, at + offsetof(block_q4_K, qs) + 4 * c));
    for (int u = 0; u < 3; u++)
      put(out + u * VEC, field(&r, at + offsetof(block_q4_K, scales) + 4 * u));
    put_f16(out + R16_K4_D, &r, at + offsetof(block_q4_K, d));
    put_f16(out + R16_K4_D + 2 * R16_ROWS, &r, at + offsetof(block_q4_K, dmin));
  }
}


/*
** Sub-block s of a Q6_K block: its 16 values share a half h and a quarter, and take 16
** consecutive bytes of ql (one nibble of each) and of qh (2 bits of each); dword q of those
** bytes is quad q of the sub-block.
*/
static void pack_q6_sub(const rows16 *r, size_t at, int s, uint8_t *out) {
  const __m512i m4 = _mm512_set1_epi8(0x0f), m2 = _mm512_set1_epi8(3);
  int h = s / 8, quarter = (s % 8) / 2, l0 = 16 * (s % 2);
  size_t ql = at + offsetof(block_q6_K, ql) + 64 * h + 32 * (quarter & 1) + l0;
  size_t qh = at + offsetof(block_q6_K, qh) + 32 * h + l0;
  __m512i u[4];

  for (int q = 0; q < 4; q++) {
    __m512i lq = field(r, ql + 4 * q), hq = field(r, qh + 4 * q);
    __m512i lo = _mm512_and_si512(quarter & 2 ? _mm512_srli_epi32(lq, 4) : lq, m4);
    __m512i hi = _mm512_and_si512(_mm512_srli_epi32(hq, 2 * quarter), m2);
    u[q] = _mm512_or_si512(lo, _mm512_slli_epi32(hi, 4));
  }
  for (int q = 0; q < 3; q++) {
    __m512i d = _mm512_and_si512(_mm512_srli_epi32(u[3], 2 * q), m2);   /* 2 bits of u3 */
    put(out + q * VEC, _mm512_or_si512(u[q], _mm512_slli_epi32(d, 6)));
  }
}


static void pack_q6_K(const qora_weight *w, long g, uint8_t *out) {
  rows16 r = group_rows(w, g);
  int64_t nb = w->cols / QK_K;
  uint8_t *grp = out;

  for (int64_t i = 0; i < nb; i++) {
    size_t at = (size_t)i * sizeof(block_q6_K);
    out = grp + qora_r16_q_at(i, R16_Q6_BLOCK);
    for (int s = 0; s < 16; s++)
      pack_q6_sub(&r, at, s, out + qora_r16_q6_sub(s));
    for (int c = 0; c < 4; c++) {
      __m512i sc = field(&r, at + offsetof(block_q6_K, scales) + 4 * c);
      for (int t = 0; t < 4; t++)
        _mm_storeu_si128((__m128i *)(out + qora_r16_q6_scales(4 * c + t)),
                         _mm512_cvtepi32_epi8(_mm512_srli_epi32(sc, 8 * t)));
    }
    /* d is the block's last 2 bytes: read the 4 ending there, not past the tensor */
    __m512i dd = field(&r, at + offsetof(block_q6_K, d) - 2);
    _mm256_storeu_si256((__m256i *)(grp + qora_r16_d_at(i, R16_Q6_BLOCK)),
                        _mm512_cvtepi32_epi16(_mm512_srli_epi32(dd, 16)));
  }
  if (nb % 2)
    memset(grp + qora_r16_d_at(nb - 1, R16_Q6_BLOCK) + 2 * R16_ROWS, 0, 2 * R16_ROWS);
}


void qora_r16_pack_avx512(const qora_weight *w, void *out, long g_lo, long g_hi) {
  size_t group = qora_r16_group_bytes(w);

  for (long g = g_lo; g < g_hi; g++) {
    uint8_t *o = (uint8_t *)out + (size_t)g * group;
    if (w->type == QORA_Q4_K)
      pack_q4_K(w, g, o);
    else if (w->type == QORA_Q6_K)
      pack_q6_K(w, g, o);
    else
      pack_32(w, g, o);
  }
}

#endif
