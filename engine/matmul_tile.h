/*
** matmul_tile.h: the weight tile and kernel arguments of the tiled product, shared by its
** AVX-512 VNNI kernel (matmul_avx512.c) and its AMX kernel (matmul_amx.c). Internal.
*/
#ifndef QORA_MATMUL_TILE_H
#define QORA_MATMUL_TILE_H

#include <immintrin.h>
#include <stdint.h>

#include "matmul_kernels.h"

#define MAX_SUB (GEMM_CHUNK / 16)    /* scaled blocks per chunk, at most */

/* One chunk of 16 rows: q[block][bl / 4][16 rows][4 values], s and m[block][16 rows]. */
typedef struct whalf {
  _Alignas(64) uint8_t q[GEMM_LANES * GEMM_CHUNK];
  _Alignas(64) float s[MAX_SUB * GEMM_LANES];
  _Alignas(64) float m[MAX_SUB * GEMM_LANES];
} whalf;

/* A tile of GEMM_ROWS rows: two halves of 16, one vector each in the kernel. */
typedef struct wtile {
  whalf h[GEMM_ROWS / GEMM_LANES];
} wtile;

/* What a kernel reads for one chunk, 16 or 32 rows and up to tok tokens. */
typedef struct tile_args {
  const whalf *w;
  int nbc;                          /* scaled blocks in the chunk */
  int tok;                          /* tokens per activation tile (GEMM_TOK or AMX_TOK) */
  const int8_t *aq;                 /* activation quants at the chunk's first block */
  const int32_t *an;                /* and their offsets, scales, min terms */
  const float *ad, *as;
  float *y;                         /* output of the tile's first token and row */
  int ldy;
  __mmask16 rows[2];                /* valid rows of each half */
  int accumulate;                   /* add to y (chunks after the first) */
} tile_args;

/*
** The AMX kernel (matmul_amx.c): T tokens (1 to AMX_TOK) by 16 R rows, blocks of bl values
** (32 or 16), with the min term when has_min; the same sums as the VNNI kernel, to the bit.
** Its weight tiles are signed: qora_amx_signed subtracts the type's offset. qora_amx_begin
** sets up the calling thread's tiles for bl and T tokens, qora_amx_end releases them.
*/
void qora_amx_begin(int bl, int T);
void qora_amx_signed(uint8_t *q, size_t n, int off);
void qora_amx_tile(int T, int bl, int has_min, int R, const tile_args *a);
void qora_amx_end(void);

#endif
