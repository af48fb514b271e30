/*
** repack_avx2.c: the r16 layout of repack.h written with AVX2 gathers, one half of a group (8
** rows, the 32-byte half of every vector) at a time: each half vector is one gather of a
** 32-bit field from 8 rows. Writes the same bytes as qora_r16_pack (repack.c), its reference;
** repack_avx512.c does the same 16 rows at a time.
*/
#if defined(__x86_64__)

#include <immintrin.h>
#include <stddef.h>
#include <string.h>

#include "quant.h"
#include "repack.h"

#define VEC 64
#define HALF 8                      /* rows of a half group */

typedef struct rows8 {
  const char *base;                 /* the half's first row */
  __m256i idx;                      /* byte offset of row r from base, in lane r */
  __m256i live;                     /* rows that exist: all ones in their lanes */
  int h;                            /* which half: its bytes start at 32 h in a vector */
} rows8;


static rows8 half_rows(const qora_weight *w, long g, int h) {
  int64_t r0 = (int64_t)g * R16_ROWS + HALF * h;
  int nr = w->rows - r0 < HALF ? (int)(w->rows - r0) : HALF;
  __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  rows8 r = {
    (const char *)w->data + (size_t)(nr > 0 ? r0 : 0) * w->row_bytes,
    _mm256_mullo_epi32(lane, _mm256_set1_epi32((int)w->row_bytes)),
    _mm256_cmpgt_epi32(_mm256_set1_epi32(nr), lane),
    h,
  };
  return r;
}


/* The 32-bit field at byte off of every row (0 for missing rows). */
static inline __m256i field(const rows8 *r, size_t off) {
  return _mm256_mask_i32gather_epi32(_mm256_setzero_si256(), (const int *)(r->base + off),
                                     r->idx, r->live, 1);
}


/* Stores v as this half of the 64-byte vector at out. */
static inline void put(uint8_t *out, const rows8 *r, __m256i v) {
  _mm256_storeu_si256((__m256i *)(out + 32 * r->h), v);
}


/* The low 16 bits of each lane, 8 of them in order. */
static inline __m128i low16(__m256i v) {
  __m256i p = _mm256_packus_epi32(_mm256_and_si256(v, _mm256_set1_epi32(0xffff)),
                                  _mm256_setzero_si256());
  return _mm256_castsi256_si128(_mm256_permute4x64_epi64(p, _MM_SHUFFLE(3, 1, 2, 0)));
}


/* The low byte of each lane, 8 of them in order, in the low 8 bytes. */
static inline __m128i low8(__m256i v) {
  __m256i ctl = _mm256_setr_epi8(0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
                                 0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1);
  __m256i p = _mm256_shuffle_epi8(v, ctl);
  return _mm_unpacklo_epi32(_mm256_castsi256_si128(p), _mm256_extracti128_si256(p, 1));
}


/* The F16 at byte off of every row: this half's 8 of a group's 16 (2 bytes each) at out. */
static inline void put_f16(uint8_t *out, const rows8 *r, size_t off) {
  _mm_storeu_si128((__m128i *)(out + 16 * r->h), low16(field(r, off)));
}


static void pack_32(const qora_weight *w, const rows8 *r, uint8_t *out) {
  int q8 = w->type == QORA_Q8_0, nvec = q8 ? 8 : 4;
  size_t bsize = q8 ? sizeof(block_q8_0) : sizeof(block_q4_0);
  int64_t nb = w->cols / 32;
  size_t qb = (size_t)nvec * VEC;
  __m256i flip = _mm256_and_si256(r->live, _mm256_set1_epi8(q8 ? (char)0x80 : 0));

  for (int64_t b = 0; b < nb; b++) {
    for (int k = 0; k < nvec; k++)
      put(out + qora_r16_q_at(b, qb) + k * VEC, r,
          _mm256_xor_si256(field(r, (size_t)b * bsize + 2 + 4 * k), flip));
    put_f16(out + qora_r16_d_at(b, qb), r, (size_t)b * bsize);
  }
  if (nb % 2)
    memset(out + qora_r16_d_at(nb - 1, qb) + 2 * R16_ROWS, 0, 2 * R16_ROWS);
}


static void pack_q4_K(const qora_weight *w, const rows8 *r, uint8_t *out) {
  for (int64_t i = 0; i < w->cols / QK_K; i++, out += R16_ROWS * sizeof(block_q4_K)) {
    size_t at = (size_t)i * sizeof(block_q4_K);
    for (int c = 0; c < QK_K / 8; c++)
      put(out + R16_K4_Q + c * VEC, r, field(r, at + offsetof(block_q4_K, qs) + 4 * c));
    for (int u = 0; u < 3; u++)
      put(out + u * VEC, r, field(r, at + offsetof(block_q4_K, scales) + 4 * u));
    put_f16(out + R16_K4_D, r, at + offsetof(block_q4_K, d));
    put_f16(out + R16_K4_D + 2 * R16_ROWS, r, at + offsetof(block_q4_K, dmin));
  }
}


/* Sub-block s of a Q6_K block, as repack_avx512.c's pack_q6_sub does for 16 rows. */
static void pack_q6_sub(const rows8 *r, size_t at, int s, uint8_t *out) {
  const __m256i m4 = _mm256_set1_epi8(0x0f), m2 = _mm256_set1_epi8(3);
  int h = s / 8, quarter = (s % 8) / 2, l0 = 16 * (s % 2);
  size_t ql = at + offsetof(block_q6_K, ql) + 64 * h + 32 * (quarter & 1) + l0;
  size_t qh = at + offsetof(block_q6_K, qh) + 32 * h + l0;
  __m256i u[4];

  for (int q = 0; q < 4; q++) {
    __m256i lq = field(r, ql + 4 * q), hq = field(r, qh + 4 * q);
    __m256i lo = _mm256_and_si256(quarter & 2 ? _mm256_srli_epi32(lq, 4) : lq, m4);
    __m256i hi = _mm256_and_si256(_mm256_srli_epi32(hq, 2 * quarter), m2);
    u[q] = _mm256_or_si256(lo, _mm256_slli_epi32(hi, 4));
  }
  for (int q = 0; q < 3; q++) {
    __m256i d = _mm256_and_si256(_mm256_srli_epi32(u[3], 2 * q), m2);   /* 2 bits of u3 */
    put(out + q * VEC, r, _mm256_or_si256(u[q], _mm256_slli_epi32(d, 6)));
  }
}


static void pack_q6_K(const qora_weight *w, const rows8 *r, uint8_t *grp) {
  int64_t nb = w->cols / QK_K;

  for (int64_t i = 0; i < nb; i++) {
    size_t at = (size_t)i * sizeof(block_q6_K);
    uint8_t *out = grp + qora_r16_q_at(i, R16_Q6_BLOCK);
    for (int s = 0; s < 16; s++)
      pack_q6_sub(r, at, s, out + qora_r16_q6_sub(s));
    for (int c = 0; c < 4; c++) {
      __m256i sc = field(r, at + offsetof(block_q6_K, scales) + 4 * c);
      for (int t = 0; t < 4; t++)
        _mm_storel_epi64((__m128i *)(out + qora_r16_q6_scales(4 * c + t) + HALF * r->h),
                         low8(_mm256_srli_epi32(sc, 8 * t)));
    }
    /* d is the block's last 2 bytes: read the 4 ending there, not past the tensor */
    __m256i dd = field(r, at + offsetof(block_q6_K, d) - 2);
    _mm_storeu_si128((__m128i *)(grp + qora_r16_d_at(i, R16_Q6_BLOCK) + 16 * r->h),
                     low16(_mm256_srli_epi32(dd, 16)));
  }
  if (nb % 2)
    memset(grp + qora_r16_d_at(nb - 1, R16_Q6_BLOCK) + 2 * R16_ROWS, 0, 2 * R16_ROWS);
}


void qora_r16_pack_avx2(const qora_weight *w, void *out, long g_lo, long g_hi) {
  size_t group = qora_r16_group_bytes(w);

  for (long g = g_lo; g < g_hi; g++) {
    uint8_t *o = (uint8_t *)out + (size_t)g * group;
    for (int h = 0; h < 2; h++) {
      rows8 r = half_rows(w, g, h);
      if (w->type == QORA_Q4_K)
        pack_q4_K(w, &r, o);
      else if (w->type == QORA_Q6_K)
        pack_q6_K(w, &r, o);
      else
        pack_32(w, &r, o);
    }
  }
}

#endif
