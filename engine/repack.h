/*
** repack.h: weights rearranged once, at load, for the decode kernels ("r16" layout).
**
** Rows go by groups of 16 and each group is one contiguous run of 16 * row_bytes bytes, its
** start aligned to 64 bytes (the last group is padded with zero rows, whose scales are 0).
** Inside a group, a 64-byte vector holds 4 bytes of each of the 16 rows, row r in 32-bit
** lane r, so one vpdpbusd with 4 broadcast activation bytes advances 16 dot products and no
** horizontal sum is ever needed.
** Per type, for a group of rows whose blocks are numbered b (32 values) or i (256 values):
**
**   Q4_0  block b's quants (256 bytes): vector k (0-3), lane r = qs[4k, 4k + 4) of row r (low
**         nibbles are values 4k + j, high nibbles 16 + 4k + j); its d[16 rows] as F16.
**   Q8_0  block b's quants (512 bytes): vector k (0-7), lane r = qs[4k, 4k + 4) of row r,
**         each byte XOR 0x80 (so u8 = value + 128); its d[16 rows] as F16.
**   Q4_K  2304 bytes per block i: 3 vectors of the 12 packed scale bytes (lane r = bytes
**         [4u, 4u + 4)); from R16_K4_D, d[16] and dmin[16] as F16; from R16_K4_Q, vector c,
**         lane r = qs[4c, 4c + 4) of row r.
**   Q6_K  3328 bytes per block i, by quarters of 4 sub-blocks: the quarter's scales as
**         [sub-block][16 rows] bytes, then per sub-block s of 16 values (value 16 s + 4 q + j
**         as 6-bit u_q = value + 32) three vectors whose lane r byte j is
**         A = u_0 | (u_3 & 3) << 6, B = u_1 | (u_3 >> 2 & 3) << 6, C = u_2 | (u_3 >> 4) << 6,
**         so three quads take one AND each and the fourth is put together from the top
**         bits; its d[16 rows] as F16.
**
** Q4_0, Q8_0 and Q6_K blocks go by pairs: both blocks' d (64 bytes), then both blocks' quants
** (qora_r16_d_at, qora_r16_q_at), so that a group is one sequential run with its scales
** inside: on AMD Zen 4 the hardware prefetcher streams one run at up to 1.4 times the speed
** of quants and scales read as two. An odd last block has 32 bytes of zeros after its d.
** A group takes as many bytes as its 16 rows in the stored layout, up to the 64-byte alignment.
*/
#ifndef QORA_REPACK_H
#define QORA_REPACK_H

#include <stddef.h>
#include <stdint.h>

#include "matmul.h"

#define R16_ROWS 16
/*
** A Q4_K block's quants start here, after the scales that the kernel reads first: decoding
** SmolLM3-3B Q4_K_M on 2 threads with the scales at the block's end instead was slower in 8
** of 9 alternating pairs, by 2 to 4 % (bench_qora -p 16 -n 64).
*/
#define R16_K4_Q (4 * 64)
#define R16_K4_D (3 * 64)                   /* its d[16] as F16, then dmin[16] 32 bytes on */
#define R16_Q6_BLOCK (16 * 3 * 64 + 16 * R16_ROWS)   /* a Q6_K block of 16 rows, but d */

/*
** Offsets in a Q6_K block of 16 rows of sub-block s's three vectors and of its 16 scales:
** the block goes by quarters, each the scales of its 4 sub-blocks (64 bytes), then their
** vectors, so the kernel reads it front to back. The layout before this one (all the scales
** at the block's end, quads split in nibbles and a vector of high bits, 17 vector operations
** to unpack a sub-block against 9 now) streamed Q6_K ffn_down on 2 threads at 27 to 29 GB/s,
** this one at 31 to 38 (bench_matmul, 3 alternating runs, Zen 4).
*/
static inline size_t qora_r16_q6_sub(int s) {
  return (size_t)(s / 4) * (64 + 4 * 3 * 64) + 64 + (size_t)(s % 4) * 3 * 64;
}

static inline size_t qora_r16_q6_scales(int s) {
  return (size_t)(s / 4) * (64 + 4 * 3 * 64) + (size_t)(s % 4) * R16_ROWS;
}

/*
** Offsets in a group of block b's 16 F16 scales and of its quants, for blocks whose quants
** take qb bytes (256 Q4_0, 512 Q8_0, R16_Q6_BLOCK Q6_K).
*/
static inline size_t qora_r16_d_at(int64_t b, size_t qb) {
  return (size_t)(b / 2) * (64 + 2 * qb) + (size_t)(b % 2) * 32;
}

static inline size_t qora_r16_q_at(int64_t b, size_t qb) {
  return (size_t)(b / 2) * (64 + 2 * qb) + 64 + (size_t)(b % 2) * qb;
}

/* 1 when type has an r16 layout. */
int qora_r16_type(int type);

/* Distance between groups: 16 * w->row_bytes rounded up to 64. */
static inline size_t qora_r16_group_bytes(const qora_weight *w) {
  return (R16_ROWS * w->row_bytes + 63) & ~(size_t)63;
}

/* Bytes of w in the r16 layout (whole groups), or 0 when its type has none. */
size_t qora_r16_bytes(const qora_weight *w);

/*
** Writes groups [g_lo, g_hi) of w (stored layout, w->data) in the r16 layout at out: the
** portable reference, and the same with AVX2 or AVX-512 gathers (x86-64 builds, CPUs that
** have them).
*/
void qora_r16_pack(const qora_weight *w, void *out, long g_lo, long g_hi);
void qora_r16_pack_avx2(const qora_weight *w, void *out, long g_lo, long g_hi);
void qora_r16_pack_avx512(const qora_weight *w, void *out, long g_lo, long g_hi);

/*
** Block b of row `row` of w, read back from its r16 layout into out in the stored layout (one
** block of w's type): the embedding lookup of a tied table reads the repacked copy this way,
** so the mapped pages of the stored one stay out of memory.
*/
void qora_r16_block(const qora_weight *w, int64_t row, int64_t b, void *out);

/*
** Row `row` of w in the stored layout (w->row_bytes bytes at out): copied from w->data, or read
** back from w->r16 when the stored copy was freed (qora_model_repack).
*/
void qora_r16_row(const qora_weight *w, int64_t row, void *out);

/*
** The longest row whose stored copy qora_model_repack frees: the scalar row kernels (tests
** force them) read such a row back into a buffer of this size on their stack. 64 KB is a Q8_0 row of 61,000 values; longer rows keep their stored copy.
*/
#define R16_ROW_MAX (64u << 10)

/*
** Repacks w into out (qora_r16_bytes(w) bytes, 64-byte aligned) on the pool's threads and
** points w->r16 at it. w->data stays valid: other paths and the saver read it.
*/
void qora_r16_repack(qora_pool *pool, qora_weight *w, void *out);

/*
** Repacks every matrix of a model whose type has an r16 layout, when the CPU runs the r16
** kernels, into one buffer the model owns; every product on that CPU then reads the copy
** alone (one token or a batch). The stored layout goes as each matrix is done: a GGUF's mapped
** pages are released (they stay in the page cache, and the paths that read them, embedding
** rows of an untied table or lower CPU levels, fault them back in); a matrix the model
** converted into its own buffer (a checkpoint folder) is freed and w->data set to NULL, as is
** the embedding's when it is the tied LM head. Saving and the lower CPU levels then read its
** rows back from the copy (qora_r16_row).
** Out of memory, the model keeps the stored layout alone; nothing fails. With huge set, the
** buffer is aligned to 2 MB and advised to the kernel as huge pages (qora_load_opts).
*/
struct qora_model;
void qora_model_repack(struct qora_model *m, int huge);

#if defined(__AVX512F__)
#include <immintrin.h>

/*
** The 6-bit scales (sc) and mins (mn) of 8 Q4_K sub-blocks of 16 rows, from the 12 packed
** bytes of each row in lanes u0 u1 u2: byte j of sc[j / 4] lane r is row r's sub-block j.
*/
static inline __attribute__((always_inline))
void qora_r16_k4_unpack(__m512i u0, __m512i u1, __m512i u2, __m512i sc[2], __m512i mn[2]) {
  const __m512i m6 = _mm512_set1_epi32(0x3f3f3f3f), m4 = _mm512_set1_epi32(0x0f0f0f0f);
  const __m512i m2 = _mm512_set1_epi32(0x03030303);

  sc[0] = _mm512_and_si512(u0, m6);
  sc[1] = _mm512_or_si512(_mm512_and_si512(u2, m4),
                          _mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(u0, 6), m2), 4));
  mn[0] = _mm512_and_si512(u1, m6);
  mn[1] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi32(u2, 4), m4),
                          _mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(u1, 6), m2), 4));
}

/*
** Quad 3 of a Q6_K sub-block from the top 2 bits of its vectors a, b, c, in bits 0-5 of each
** byte; bits 6-7 hold stray bits of the next byte (16-bit shifts), for the caller's AND 0x3f.
*/
static inline __attribute__((always_inline))
__m512i qora_r16_q6_top(__m512i a, __m512i b, __m512i c) {
  const __m512i m2 = _mm512_set1_epi8(0x03), m4 = _mm512_set1_epi8(0x0f);
  __m512i t = _mm512_ternarylogic_epi32(_mm512_srli_epi16(a, 6), _mm512_srli_epi16(b, 4), m2,
                                        0xE4);               /* m2 ? a : b, bit by bit */

  return _mm512_ternarylogic_epi32(t, _mm512_srli_epi16(c, 2), m4, 0xE4);
}
#endif

#endif
