/*
** matmul_amx.c: the tiled product's kernel on AMX tiles. The VNNI kernel (matmul_avx512.c)
** spends most of its instructions on vpdpbusd, 16 rows by 4 values of one token each; one
** tdpbssd takes every token of the tile by 16 rows by a whole block. The weight tile is
** already in the layout AMX reads for its second operand (32-bit lane r holds 4 consecutive
** values of row r), made signed (the stored value minus the type's offset), and the
** activation tile keeps each token's block as one row, so both load as they are. The integer
** sums are exact either way, and the float steps after them are the VNNI kernel's, in its
** order: the results are the same to the bit.
**
** Tiles: 0, 2 and 4 the activations, weights and sums of an even block, 1, 3 and 5 those of
** an odd one; the halves of a weight tile take turns. The sums go through memory to the float
** steps (each block has its own scales), and a block's are read two blocks after they were
** stored: reading them at once left the core waiting on the store (one block later was 20 %
** faster, two another 2 to 8 %: ahead in 11 of 12 products, 3 rounds taking turns).
**
** 512 tokens on 2 threads of a 2-vCPU Xeon with AMX (bench_matmul -t 2 -n 512, levels taking
** turns, 2 rounds): ffn_up Q4_0 878-942 -> 1116-1281 GFLOP/s, Q4_K 801-838 -> 976-1033, Q8_0
** 909-913 -> 1133-1161; ffn_down 718-822 -> 895-1021. Tiles of 6 tokens (the VNNI kernel's)
** were slower than vpdpbusd (846 -> 698): too little work per tile product for its loads and
** stores.
*/
#if defined(__x86_64__)

#include <immintrin.h>
#include <string.h>

#include "matmul_tile.h"

/* The LDTILECFG operand (palette 1). */
typedef struct amx_config {
  uint8_t palette;
  uint8_t start_row;
  uint8_t reserved[14];
  uint16_t colsb[16];
  uint8_t rows[16];
} amx_config;

_Static_assert(sizeof(amx_config) == 64, "LDTILECFG reads 64 bytes");


void qora_amx_begin(int bl, int T) {
  amx_config c;

  memset(&c, 0, sizeof c);
  c.palette = 1;
  for (int i = 0; i < 2; i++) {
    c.rows[i] = (uint8_t)T;                 /* activations */
    c.colsb[i] = (uint16_t)bl;
    c.rows[2 + i] = (uint8_t)(bl / 4);      /* weights */
    c.colsb[2 + i] = 64;
    c.rows[4 + i] = (uint8_t)T;             /* sums */
    c.colsb[4 + i] = 64;
  }
  /* GCC's intrinsic tells the compiler it reads 8 bytes: make the other 56 be stored too */
  __asm__ volatile("" : : "r"(&c) : "memory");
  _tile_loadconfig(&c);
}


void qora_amx_end(void) {
  _tile_release();
}


/* Makes n bytes of weights signed: the stored value minus the type's offset. */
void qora_amx_signed(uint8_t *q, size_t n, int off) {
  __m512i o = _mm512_set1_epi8((char)off);

  for (size_t i = 0; i < n; i += 64)
    _mm512_store_si512((void *)(q + i), _mm512_sub_epi8(_mm512_load_si512((void *)(q + i)), o));
}


/* Block b's sums of half h into c[token][row]: tiles TA (activations), TB, TC. */
#define BLOCK_SUMS(TA, TB, TC, b, c) do { \
    _tile_loadd(TA, a->aq + (size_t)(b) * AMX_TOK * bl, bl); \
    _tile_loadd(TB, a->w[h].q + (size_t)(b) * bl * 16, 64); \
    _tile_zero(TC); \
    _tile_dpbssd(TC, TA, TB); \
    _tile_stored(TC, c, 64); \
  } while (0)


/* Adds block b's sums c of half h to f: the VNNI kernel's float steps, in its order. */
static inline __attribute__((always_inline))
void add_block(const int T, int has_min, const tile_args *a, int h, int b,
               int32_t c[AMX_TOK][GEMM_LANES], __m512 f[AMX_TOK]) {
  __m512 s = _mm512_load_ps(a->w[h].s + b * GEMM_LANES);

#pragma GCC unroll 16
  for (int t = 0; t < T; t++) {
    __m512i acc = _mm512_load_si512((const void *)c[t]);
    __m512 dy = _mm512_set1_ps(a->ad[b * AMX_TOK + t]);
    f[t] = _mm512_fmadd_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(acc), dy), s, f[t]);
  }
  if (has_min) {
    __m512 m = _mm512_load_ps(a->w[h].m + b * GEMM_LANES);
#pragma GCC unroll 16
    for (int t = 0; t < T; t++)
      f[t] = _mm512_fmadd_ps(m, _mm512_set1_ps(a->as[b * AMX_TOK + t]), f[t]);
  }
}


/*
** T tokens by the 16 rows of half h, two blocks at a time in their own tiles, so one block's
** sums are made while the other's are added up.
*/
static inline __attribute__((always_inline))
void amx_half(const int T, int h, int bl, int has_min, const tile_args *a) {
  _Alignas(64) int32_t c[4][AMX_TOK][GEMM_LANES];
  __m512 f[AMX_TOK];
  int b;

#pragma GCC unroll 16
  for (int t = 0; t < AMX_TOK; t++)    /* all of them: the compiler sees no holes */
    f[t] = _mm512_setzero_ps();
  /* a block's sums are read back two steps after they are stored, when they have landed */
  BLOCK_SUMS(0, 2, 4, 0, c[0]);
  if (a->nbc > 1)
    BLOCK_SUMS(1, 3, 5, 1, c[1]);
  for (b = 2; b + 1 < a->nbc; b += 2) {
    BLOCK_SUMS(0, 2, 4, b, c[b % 4]);
    add_block(T, has_min, a, h, b - 2, c[(b - 2) % 4], f);
    BLOCK_SUMS(1, 3, 5, b + 1, c[(b + 1) % 4]);
    add_block(T, has_min, a, h, b - 1, c[(b - 1) % 4], f);
  }
  if (b < a->nbc)
    BLOCK_SUMS(0, 2, 4, b, c[b % 4]);
  for (int k = b - 2 > 0 ? b - 2 : 0; k < a->nbc; k++)
    add_block(T, has_min, a, h, k, c[k % 4], f);

#pragma GCC unroll 16
  for (int t = 0; t < T; t++) {
    float *y = a->y + (size_t)t * a->ldy + h * GEMM_LANES;
    if (a->accumulate)
      f[t] = _mm512_add_ps(f[t], _mm512_maskz_loadu_ps(a->rows[h], y));
    _mm512_mask_storeu_ps(y, a->rows[h], f[t]);
  }
}


/* A last tile of fewer tokens: the same steps, with loops the compiler cannot unroll. */
static void amx_half_few(int T, int h, int bl, int has_min, const tile_args *a) {
  amx_half(T, h, bl, has_min, a);
}


void qora_amx_tile(int T, int bl, int has_min, int R, const tile_args *a) {
  for (int h = 0; h < R; h++)
    if (T == AMX_TOK)
      amx_half(AMX_TOK, h, bl, has_min, a);
    else
      amx_half_few(T, h, bl, has_min, a);
}

#endif
