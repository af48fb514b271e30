/*
** matmul_r16_avx512.c: decode kernels (a few tokens) on weights in the r16 layout of
** repack.h, with AVX-512 VNNI. Lane r of every vector is row r of a group of 16, so each
** vpdpbusd advances 16 dot products by 4 values and the 16 results leave in one store, with
** no horizontal sum and no gather. A high nibble is used in place, as 16 times its value
** (AND 0xF0), and the factor is taken out once per block: no shifts for 4-bit weights.
*/
#if defined(__x86_64__)

#include <immintrin.h>
#include <string.h>

#include "matmul_kernels.h"
#include "prefetch_x86.h"
#include "quant_kernels.h"
#include "repack.h"

#define VEC 64


/* ------------------------------------------------------------------ activation extras */

/*
** Q4_0, Q8_0: the token's quants qs[nb][32] again, then neg[nb] = -off * sum of each block's
** quants, then dy[nb]. The copy puts every block's quants on a 32-byte boundary: in the
** 34-byte blocks of Q8_0 one 4-byte read in 32 straddles two cache lines, and with one thread
** streaming Q4_0 weights from memory (bench_matmul -t 1 -n 1 -m 2048, 4 rounds taking turns)
** ffn_down went from 19.8 to 20.9 GB/s to 21.2 to 22.8, ffn_up from 23.3 to 25.8 to 25.1 to
** 27.3, lm_head 24.0 to 27.9 to 26.1 to 27.3; ahead in 2 of 3 more rounds. Decoding, the
** bandwidth of this host swings more than that.
*/
typedef struct pack32 {
  const int8_t *qs;
  const int32_t *neg;
  const float *dy;
} pack32;

static pack32 pack32_at(const char *extra, int64_t nb) {
  const int32_t *neg = (const int32_t *)(extra + nb * 32);
  return (pack32){ (const int8_t *)extra, neg, (const float *)(neg + nb) };
}


/* ------------------------------------------------------------------ kernels */

static inline __m512i bcast4(const int8_t *p) {
  int32_t v;
  memcpy(&v, p, sizeof v);
  return _mm512_set1_epi32(v);
}


static inline __m512i vload(const uint8_t *p) {
  return _mm512_loadu_si512((const void *)p);
}


static inline __m512 f16x16(const uint8_t *p) {
  return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)p));
}


/* One Q4_0 block of 16 rows added to f. */
static inline __m512 blk_q4_0(const uint8_t *q, const uint8_t *d, const int8_t *yq,
                              int32_t neg, float dy, __m512 f) {
  const __m512i lo4 = _mm512_set1_epi8(0x0f), hi4 = _mm512_set1_epi8((char)0xf0);
  __m512i lo = _mm512_set1_epi32(neg), hi = _mm512_setzero_si512();

#pragma GCC unroll 4
  for (int k = 0; k < 4; k++) {
    __m512i v = vload(q + k * VEC);
    lo = _mm512_dpbusd_epi32(lo, _mm512_and_si512(v, lo4), bcast4(yq + 4 * k));
    hi = _mm512_dpbusd_epi32(hi, _mm512_and_si512(v, hi4), bcast4(yq + 16 + 4 * k));
  }
  __m512i acc = _mm512_add_epi32(lo, _mm512_srai_epi32(hi, 4));   /* hi is 16 x its sum */
  __m512 s = _mm512_mul_ps(f16x16(d), _mm512_set1_ps(dy));
  return _mm512_fmadd_ps(_mm512_cvtepi32_ps(acc), s, f);
}


/* One Q8_0 block of 16 rows added to f. */
static inline __m512 blk_q8_0(const uint8_t *q, const uint8_t *d, const int8_t *yq,
                              int32_t neg, float dy, __m512 f) {
  __m512i a0 = _mm512_set1_epi32(neg), a1 = _mm512_setzero_si512();

#pragma GCC unroll 4
  for (int k = 0; k < 8; k += 2) {
    a0 = _mm512_dpbusd_epi32(a0, vload(q + k * VEC), bcast4(yq + 4 * k));
    a1 = _mm512_dpbusd_epi32(a1, vload(q + (k + 1) * VEC), bcast4(yq + 4 * k + 4));
  }
  __m512 s = _mm512_mul_ps(f16x16(d), _mm512_set1_ps(dy));
  return _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(a0, a1)), s, f);
}


/*
** Groups of Q4_0 (q8 = 0) or Q8_0 (q8 = 1) rows at q[0..ns) against one token: 16 dot
** products each. Always inlined with constant q8 and ns, so each case gets its own loop.
*/
static inline __attribute__((always_inline))
void groups_32(const uint8_t *const *q, int ns, int64_t nb, const int8_t *qs,
               const int32_t *neg, const float *dy, int q8, size_t pf, __m512 *f) {
  size_t qb = q8 ? 8 * VEC : 4 * VEC;
  __m512 a[R16_STREAMS];

#pragma GCC unroll 4
  for (int s = 0; s < ns; s++)
    a[s] = _mm512_setzero_ps();
  for (int64_t b = 0; b < nb; b++) {
    size_t qa = qora_r16_q_at(b, qb), da = qora_r16_d_at(b, qb);
#pragma GCC unroll 4
    for (int s = 0; s < ns; s++) {
      prefetch_ahead(q[s] + qa, qb + 32, pf);
      a[s] = q8 ? blk_q8_0(q[s] + qa, q[s] + da, qs + 32 * b, neg[b], dy[b], a[s])
                : blk_q4_0(q[s] + qa, q[s] + da, qs + 32 * b, neg[b], dy[b], a[s]);
    }
  }
#pragma GCC unroll 4
  for (int s = 0; s < ns; s++)
    f[s] = a[s];
}


/* Byte k of every 32-bit lane, zero-extended (vpshufb control). */
static inline __m512i byte_ctl(int k) {
  return _mm512_add_epi32(_mm512_set1_epi32((int)(0x80808000u | (unsigned)k)),
                          _mm512_setr_epi32(0, 4, 8, 12, 0, 4, 8, 12, 0, 4, 8, 12, 0, 4, 8, 12));
}


/*
** One Q4_K block of 16 rows: d * sum_j sc_j * dot_j - dmin * sum_j mn_j * bsum_j, times the
** activation scale. Vector c holds sub-block 2 (c / 8) in its low nibbles and the next one in
** its high nibbles; the 6-bit scales and mins are unpacked for 16 rows at once.
*/
static inline __attribute__((always_inline))
__m512 sb_q4_K(const uint8_t *q, const block_q8_K *y, const r16_k4 *k, const __m512i ctl[4],
               size_t pf, __m512 f) {
  const __m512i lo4 = _mm512_set1_epi8(0x0f), hi4 = _mm512_set1_epi8((char)0xf0);
  __m512i sc[2], mn[2];
  qora_r16_k4_unpack(vload(q), vload(q + VEC), vload(q + 2 * VEC), sc, mn);
  __m512 fl = _mm512_setzero_ps(), fh = _mm512_setzero_ps();

  enum { K4_QUARTER = R16_ROWS * sizeof(block_q4_K) / 4 };   /* prefetched by quarters */

#pragma GCC unroll 4
  for (int g = 0; g < 4; g++) {
    __m512i al = _mm512_setzero_si512(), ah = _mm512_setzero_si512();
    prefetch_ahead(q + g * K4_QUARTER, K4_QUARTER, pf);
#pragma GCC unroll 8
    for (int c = 0; c < 8; c++) {
      __m512i v = vload(q + R16_K4_Q + (8 * g + c) * VEC);
      al = _mm512_dpbusd_epi32(al, _mm512_and_si512(v, lo4), bcast4(y->qs + 64 * g + 4 * c));
      ah = _mm512_dpbusd_epi32(ah, _mm512_and_si512(v, hi4),
                               bcast4(y->qs + 64 * g + 32 + 4 * c));
    }
    int j = 2 * g;
    __m512 sl = _mm512_cvtepi32_ps(_mm512_shuffle_epi8(sc[j / 4], ctl[j % 4]));
    __m512 sh = _mm512_cvtepi32_ps(_mm512_shuffle_epi8(sc[j / 4], ctl[j % 4 + 1]));
    fl = _mm512_fmadd_ps(_mm512_cvtepi32_ps(al), sl, fl);
    fh = _mm512_fmadd_ps(_mm512_cvtepi32_ps(ah), sh, fh);   /* 16 x */
  }
  __m512i mh = _mm512_dpbusd_epi32(_mm512_setzero_si512(), mn[0], bcast4(k->hi));
  __m512i ml = _mm512_dpbusd_epi32(_mm512_setzero_si512(), mn[0], bcast4(k->lo));
  mh = _mm512_dpbusd_epi32(mh, mn[1], bcast4(k->hi + 4));
  ml = _mm512_dpbusd_epi32(ml, mn[1], bcast4(k->lo + 4));
  __m512 mins = _mm512_cvtepi32_ps(_mm512_add_epi32(_mm512_slli_epi32(mh, 6), ml));
  __m512 dy = _mm512_set1_ps(k->d);
  __m512 sums = _mm512_fmadd_ps(fh, _mm512_set1_ps(1.0f / 16), fl);
  f = _mm512_fmadd_ps(sums, _mm512_mul_ps(f16x16(q + R16_K4_D), dy), f);
  return _mm512_fnmadd_ps(mins, _mm512_mul_ps(f16x16(q + R16_K4_D + 2 * R16_ROWS), dy), f);
}


/* Groups of Q4_K rows at q[0..ns) against one token, as groups_32. */
static inline __attribute__((always_inline))
void groups_q4_K(const uint8_t *const *q, int ns, int64_t nb, const block_q8_K *y,
                 const r16_k4 *k, size_t pf, __m512 *f) {
  __m512i ctl[4] = {byte_ctl(0), byte_ctl(1), byte_ctl(2), byte_ctl(3)};
  __m512 a[R16_STREAMS];

#pragma GCC unroll 4
  for (int s = 0; s < ns; s++)
    a[s] = _mm512_setzero_ps();
  for (int64_t i = 0; i < nb; i++)
#pragma GCC unroll 4
    for (int s = 0; s < ns; s++) {
      const block_q8_K *ys = &y[i];
      __asm__("" : "+r"(ys));   /* else GCC spills the broadcasts it shares between streams */
      a[s] = sb_q4_K(q[s] + i * R16_ROWS * sizeof(block_q4_K), ys, &k[i], ctl, pf, a[s]);
    }
#pragma GCC unroll 4
  for (int s = 0; s < ns; s++)
    f[s] = a[s];
}


/*
** One Q6_K block of 16 rows: per sub-block of 16 values, quads 0-2 are the low 6 bits of
** vectors A, B, C and quad 3 is put together from their top 2 bits; the values are offset by
** -32 through the accumulator's start, then scaled by the sub-block's signed scale.
*/
static inline __m512 sb_q6_K(const uint8_t *q, const block_q8_K *y, const r16_k6 *k,
                             size_t pf) {
  const __m512i m6 = _mm512_set1_epi8(0x3f);
  __m512 fs = _mm512_setzero_ps();
#pragma GCC unroll 16
  for (int s = 0; s < 16; s++) {
    const uint8_t *v = q + qora_r16_q6_sub(s);
    if (s % 4 == 0)
      prefetch_ahead(q + qora_r16_q6_scales(s), R16_Q6_BLOCK / 4, pf);
    __m512i a = vload(v), b = vload(v + VEC), c = vload(v + 2 * VEC);
    __m512i d = qora_r16_q6_top(a, b, c);
    __m512i acc = _mm512_set1_epi32(k->neg[s]);
    acc = _mm512_dpbusd_epi32(acc, _mm512_and_si512(a, m6), bcast4(y->qs + 16 * s));
    acc = _mm512_dpbusd_epi32(acc, _mm512_and_si512(b, m6), bcast4(y->qs + 16 * s + 4));
    acc = _mm512_dpbusd_epi32(acc, _mm512_and_si512(c, m6), bcast4(y->qs + 16 * s + 8));
    acc = _mm512_dpbusd_epi32(acc, _mm512_and_si512(d, m6), bcast4(y->qs + 16 * s + 12));
    __m512 sc = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(
        _mm_loadu_si128((const __m128i *)(q + qora_r16_q6_scales(s)))));
    fs = _mm512_fmadd_ps(_mm512_cvtepi32_ps(acc), sc, fs);
  }
  return fs;
}


/* Groups of Q6_K rows at q[0..ns) against one token, as groups_32. */
static inline __attribute__((always_inline))
void groups_q6_K(const uint8_t *const *q, int ns, int64_t nb, const block_q8_K *y,
                 const r16_k6 *k, size_t pf, __m512 *f) {
  __m512 a[R16_STREAMS];

#pragma GCC unroll 4
  for (int s = 0; s < ns; s++)
    a[s] = _mm512_setzero_ps();
  for (int64_t i = 0; i < nb; i++) {
    __m512 yd = _mm512_set1_ps(k[i].d);   /* the token block's scale */
#pragma GCC unroll 4
    for (int s = 0; s < ns; s++) {
      __m512 ds = _mm512_mul_ps(f16x16(q[s] + qora_r16_d_at(i, R16_Q6_BLOCK)), yd);
      const block_q8_K *ys = &y[i];
      __asm__("" : "+r"(ys));   /* else GCC spills the broadcasts it shares between streams */
      a[s] = _mm512_fmadd_ps(sb_q6_K(q[s] + qora_r16_q_at(i, R16_Q6_BLOCK), ys, &k[i], pf), ds,
                             a[s]);
    }
  }
#pragma GCC unroll 4
  for (int s = 0; s < ns; s++)
    f[s] = a[s];
}


/* The 16 rows of each group at q[0..ns) of w against one token, into f[0..ns). */
static inline __attribute__((always_inline))
void groups_dot(const qora_weight *w, const uint8_t *const *q, int ns, const char *extra,
                const char *q8, size_t pf, __m512 *f) {
  switch (w->type) {
  case QORA_Q4_0: case QORA_Q8_0: {
    int64_t nb = w->cols / 32;
    pack32 p = pack32_at(extra, nb);
    if (w->type == QORA_Q4_0)
      groups_32(q, ns, nb, p.qs, p.neg, p.dy, 0, pf, f);
    else
      groups_32(q, ns, nb, p.qs, p.neg, p.dy, 1, pf, f);
    return;
  }
  case QORA_Q4_K:
    groups_q4_K(q, ns, w->cols / QK_K, (const void *)q8, (const void *)extra, pf, f);
    return;
  default:
    groups_q6_K(q, ns, w->cols / QK_K, (const void *)q8, (const void *)extra, pf, f);
  }
}


/* groups_dot with ns = n: a loop of its own for each count of streams. */
typedef void dot_fn(const qora_weight *w, const uint8_t *const *q, const char *extra,
                    const char *q8, size_t pf, __m512 *f);
#define DOT_N(n)                                                                       \
  static void dot_##n(const qora_weight *w, const uint8_t *const *q, const char *extra, \
                      const char *q8, size_t pf, __m512 *f) {                          \
    groups_dot(w, q, n, extra, q8, pf, f);                                             \
  }
DOT_N(1)
DOT_N(2)
DOT_N(3)
DOT_N(4)
static dot_fn *const dot_n[R16_STREAMS] = {dot_1, dot_2, dot_3, dot_4};


static void store_group(const qora_weight *w, long g, __m512 f, float *y) {
  int64_t r0 = (int64_t)g * R16_ROWS;
  int nr = w->rows - r0 < R16_ROWS ? (int)(w->rows - r0) : R16_ROWS;

  _mm512_mask_storeu_ps(y + r0, (__mmask16)((1u << nr) - 1), f);
}


/*
** Groups [g, g + ns * part) of w against one token, as ns streams of part groups each: stream
** k walks groups g + k * part onwards, and the streams advance a block at a time together.
*/
static void run_streams(const qora_weight *w, const char *extra, const char *q8, float *y,
                        long g, int ns, long part, size_t pf) {
  size_t gb = qora_r16_group_bytes(w);

  for (long i = 0; i < part; i++) {
    const uint8_t *q[R16_STREAMS];
    __m512 f[R16_STREAMS];
    for (int k = 0; k < ns; k++)
      q[k] = (const uint8_t *)w->r16 + (size_t)(g + k * part + i) * gb;
    dot_n[ns - 1](w, q, extra, q8, pf, f);
    for (int k = 0; k < ns; k++)
      store_group(w, g + k * part + i, f[k], y);
  }
}


void qora_r16_rows(const qora_weight *w, const char *extra, size_t stride, const char *q8,
                   size_t qrow, int n_tok, float *y, int ldy, long g_lo, long g_hi) {
  r16_walk wk = qora_r16_walk();
  size_t pf = w->type == QORA_Q4_0 || w->type == QORA_Q8_0 ? wk.prefetch32 : wk.prefetch;

  if (n_tok == 1) {
    while (g_lo < g_hi) {
      int ns = g_hi - g_lo < wk.streams ? (int)(g_hi - g_lo) : wk.streams;
      long part = (g_hi - g_lo) / ns;
      run_streams(w, extra, q8, y, g_lo, ns, part, pf);
      g_lo += ns * part;
    }
    return;
  }
  for (long g = g_lo; g < g_hi; g++) {
    const uint8_t *q = (const uint8_t *)w->r16 + (size_t)g * qora_r16_group_bytes(w);
    for (int t = 0; t < n_tok; t++) {
      __m512 f;
      dot_1(w, &q, extra + t * stride, q8 + t * qrow, pf, &f);
      store_group(w, g, f, y + (size_t)t * ldy);
    }
  }
}

#endif
