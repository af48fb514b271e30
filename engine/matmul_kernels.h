/*
** matmul_kernels.h: the tiled path of qora_matmul for batches of tokens (internal to
** matmul*.c and their tests).
**
** Activations are packed by tiles of GEMM_TOK tokens (AMX_TOK for the AMX kernel; see
** qora_gemm_tok): per block of bl values, the quants of the tile's tokens side by side, then
** per block and token the integer that offsets the weights' bias (-off * sum of the block's
** quants), the activation scale and, for types with a min, d * sum of the quants. Weights are
** repacked on the fly, 32 rows and one chunk of columns at a time, into a small per-thread
** tile of two halves whose 32-bit lanes are 16 rows, so one vpdpbusd multiplies 16 rows by 4
** values of a token (and one tdpbssd 16 rows by a block of each token of a tile:
** matmul_amx.c).
*/
#ifndef QORA_MATMUL_KERNELS_H
#define QORA_MATMUL_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include "matmul.h"

#define GEMM_TOK 6                  /* tokens per activation tile (VNNI, floats) */
#define AMX_TOK 16                  /* tokens per activation tile on AMX */
#define GEMM_LANES 16               /* weight rows per vector (one 32-bit lane each) */
#define GEMM_ROWS 32                /* weight rows per tile */
#define GEMM_CHUNK 2048             /* columns per weight tile (a multiple of 256) */

/* How a weight type maps onto the tiled kernel. */
typedef struct gemm_layout {
  int bl;                           /* values per scaled block: 32, or 16 for Q6_K */
  int off;                          /* weights are stored as u8 = value + off */
  int has_min;                      /* a per-block additive term (Q4_1, Q4_K, Q5_K) */
  int min_tok;                      /* fewest tokens for which repacking the weights pays */
} gemm_layout;

/* The layout of type for the tiled path, or NULL when it has none. */
const gemm_layout *qora_gemm_layout(int type);

/* Fewest tokens for which a product of type takes the tiles at the CPU level in force. */
int qora_gemm_min_tok(int type);

/* Tokens per activation tile of type at the CPU level in force: GEMM_TOK, or AMX_TOK. */
int qora_gemm_tok(int type);

/* Bytes of one packed activation tile of tok tokens for rows of cols values. */
size_t qora_gemm_tile_bytes(int type, int64_t cols, int tok);

/*
** Packs token t (its activation row already converted to the vec_dot_type in q8) into its
** slot of the activation tiles of tok tokens starting at packed.
*/
void qora_gemm_pack_token(int type, int64_t cols, const void *q8, int t, int tok,
                          char *packed);

/* 1 when the CPU runs the tiled path (AVX-512 VNNI build and CPU). */
int qora_gemm_available(void);

/*
** 1 when a batch product of w takes the tiled path: the AVX-512 one, or the AVX2 one (which
** reads the r16 layout when w has it, else the stored rows).
*/
int qora_gemm_takes(const qora_weight *w);

/*
** Rows [tile_lo * GEMM_ROWS, min(tile_hi * GEMM_ROWS, rows)) of y for every token, from
** activation tiles of tok tokens (qora_gemm_tok(w->type) when they were packed: AMX_TOK runs
** the AMX kernel).
*/
void qora_gemm_rows(const qora_weight *w, const char *packed, int tok, int n_tok, float *y,
                    int ldy, long tile_lo, long tile_hi);

/* The same on AVX2 (matmul_avx2.c), from activation tiles of GEMM_TOK tokens. */
void qora_gemm_rows_avx2(const qora_weight *w, const char *packed, int n_tok, float *y,
                         int ldy, long tile_lo, long tile_hi);

/*
** Float weights (F32, F16, BF16) in batches: activations rounded to the weight type and packed
** as floats by tiles of GEMM_TOK tokens ([column][token]); weights converted to floats and
** transposed 32 rows by FLOAT_CHUNK columns at a time, per thread.
*/
#define FLOAT_CHUNK 256
#define FLOAT_MIN_TOK 4

int qora_gemm_float_type(int type);
size_t qora_gemm_float_bytes(int64_t cols, int n_tok);
void qora_gemm_float_pack_token(int type, int64_t cols, const float *x, int t, float *packed);
void qora_gemm_float_rows(const qora_weight *w, const float *packed, int n_tok, float *y,
                          int ldy, long tile_lo, long tile_hi);

/*
** Few tokens (decode) on AVX-512 VNNI, for Q4_0, Q4_1 and Q8_0: each token's converted row is
** repacked by pairs of blocks into the order the row kernel unpacks the weights in, with the
** weights' bias and the activation scales laid out per 32-bit lane. For Q4_K and Q5_K the
** pack is the Q8_K row with each block's quants in the order 64 bytes of weights unpack to.
*/
#define GEMV_PAIR_BYTES 192        /* 64 quants, 16 int32 offsets, 16 float scales */
/* After the pairs: per block, the activation's d * sum of quants (for Q4_1's min). */

/* Bytes of one token's pack, or 0 when type has no row kernel. */
size_t qora_gemv_token_bytes(int type, int64_t cols);

/* 1 when the CPU runs the row kernel of type. */
int qora_gemv_available(int type);

void qora_gemv_pack_token(int type, int64_t cols, const void *q8, char *out);

/*
** Rows [lo, hi) of y for n_tok tokens: token t's pack at packed + t * stride, its converted
** row at q8 + t * qrow.
*/
void qora_gemv_rows(const qora_weight *w, const char *packed, size_t stride, const char *q8,
                    size_t qrow, int n_tok, float *y, int ldy, long lo, long hi);

/*
** Few tokens (decode) on weights repacked in the r16 layout (repack.h), AVX-512 VNNI: per
** token, a few values per block beside the converted row (Q8_K, read as it is), or for Q4_0
** and Q8_0 a copy of the row's quants with them (matmul_r16_avx512.c, pack32).
*/
typedef struct r16_k4 {             /* Q4_K, per block of 256 */
  float d;
  int8_t hi[8], lo[8];              /* sum of sub-block j's 32 quants = 64 * hi[j] + lo[j] */
} r16_k4;

typedef struct r16_k6 {             /* Q6_K, per block of 256 */
  float d;
  int32_t neg[16];                  /* -32 * sum of each sub-block's 16 quants */
} r16_k6;

/*
** Q4_0 and Q8_0, 40 bytes a block: int8 qs[nb][32] (the converted row's quants, each block
** 32-byte aligned), int32 neg[nb] (-off * sum of the block's quants), then float dy[nb].
*/

/* Bytes of one token's extras for the r16 kernels of type, or 0 when it has none. */
size_t qora_r16_token_bytes(int type, int64_t cols);

/* 1 when the CPU runs the r16 kernels: AVX2 and above. */
int qora_r16_cpu(void);

/* 1 when the CPU runs the r16 kernels and w has been repacked. */
int qora_r16_available(const qora_weight *w);

/* 1 when a product of w with n_tok tokens takes the r16 path (matmul_r16.c). */
int qora_r16_path(const qora_weight *w, int n_tok);

/* Scratch of the r16 path (room for QORA_FUSE_MAX weight types), 0 when w's type has none. */
size_t qora_r16_scratch(const qora_weight *w, int n_tok);

void qora_matmul_r16(qora_pool *pool, const qora_weight *w, const float *x, int ldx,
                     int n_tok, float *y, int ldy, void *scratch);

void qora_r16_pack_token(int type, int64_t cols, const void *q8, char *out);

/*
** Groups of 16 rows [g_lo, g_hi) of y for n_tok tokens: token t's converted row at
** q8 + t * qrow, its extras at extra + t * stride.
*/
void qora_r16_rows(const qora_weight *w, const char *extra, size_t stride, const char *q8,
                   size_t qrow, int n_tok, float *y, int ldy, long g_lo, long g_hi);

/* The same with AVX2, one run through the groups (matmul_r16_avx2.c). */
void qora_r16_rows_avx2(const qora_weight *w, const char *extra, size_t stride, const char *q8,
                        size_t qrow, int n_tok, float *y, int ldy, long g_lo, long g_hi);

#define R16_STREAMS 4

/* A walk, as the r16 kernels read it. */
typedef struct r16_walk {
  int streams;            /* far-apart runs read side by side, 1 to R16_STREAMS */
  size_t prefetch;        /* bytes ahead: Q4_K, Q6_K */
  size_t prefetch32;      /* bytes ahead: Q4_0, Q8_0 (blocks of 32 values) */
  size_t idle;            /* bytes of the next product a waiting thread asks for */
} r16_walk;

/* The walk in force (matmul_r16.c keeps it: portable code, so any CPU may set and read it). */
r16_walk qora_r16_walk(void);

/*
** How a one-token product walks the weights: streams far-apart runs side by side (1 to 4),
** prefetch bytes ahead (the setter gives every type that distance; the CPU's own walk may
** give blocks of 32 values another, and the getter reports the K types'). Chosen per CPU at
** first use; the setter (tests, benchmarks; -1 for a value out of range) must not run while a
** product does.
*/
int qora_r16_set_walk(int streams, int prefetch);
void qora_r16_get_walk(int *streams, int *prefetch);

/*
** Bytes of the next product a thread waiting at the end of a decode job asks for (the walk's
** idle; 0: none), up to 4 MB, else -1; for tests and benchmarks, not while a product runs.
*/
int qora_r16_set_idle(size_t bytes);

#endif
