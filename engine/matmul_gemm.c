/*
** matmul_gemm.c: the portable half of the tiled path: which types it takes and how their
** activations are packed (see matmul_kernels.h for the layout). The kernels that read the
** packs are in matmul_avx512.c and matmul_avx2.c.
*/
#include <string.h>

#include "matmul_kernels.h"
#include "quant.h"

/* min_tok: measured where the tiled product overtakes the row kernels on one core. */
static const gemm_layout layouts[QORA_TYPE_COUNT] = {
  [QORA_Q4_0] = {32, 8, 0, 2},
  [QORA_Q8_0] = {32, 128, 0, 2},
  [QORA_Q4_1] = {32, 0, 1, 2},
  [QORA_Q4_K] = {32, 0, 1, 2},
  [QORA_Q5_K] = {32, 0, 1, 2},
  [QORA_Q6_K] = {16, 32, 0, 4},
};


/*
** On AVX2 the r16 kernels take 2 and 3 tokens of every type: ffn_down (11008 -> 2048) took
** 0.51 / 0.73 ms for 2 / 3 tokens of Q4_0 against the tiles' 1.59 / 1.68, Q4_K 0.55 / 0.84
** against 3.35 / 3.60, Q8_0 1.03 / 1.78 against 1.77 / 2.17 (bench_matmul -n 2,3, Zen 3, 2
** threads). From 4 tokens a batch takes the tiles on every level, so a prompt split into
** batches of 4 or more gives the same bits however it is split.
*/
int qora_gemm_min_tok(int type) {
  const gemm_layout *l = qora_gemm_layout(type);

  if (l == NULL)
    return 0;
  return qora_cpu_level() == QORA_CPU_AVX2 && l->min_tok < 4 ? 4 : l->min_tok;
}


const gemm_layout *qora_gemm_layout(int type) {
  if (type < 0 || type >= QORA_TYPE_COUNT || layouts[type].bl == 0)
    return NULL;
  return &layouts[type];
}


/* Quants, then neg[nb][tok] (int32), dy[nb][tok], sy[nb][tok] (float). */
size_t qora_gemm_tile_bytes(int type, int64_t cols, int tok) {
  int64_t nb = cols / layouts[type].bl;
  size_t bytes = (size_t)cols * tok + (size_t)nb * tok * 12;
  return (bytes + 63) & ~(size_t)63;
}


/* Block b of a token's q8 row: its quants, scale, and the min term's scale * sum. */
static const int8_t *act_block(int type, const void *q8, int64_t b, int bl, float *dy,
                               float *sy, int *sum) {
  const int8_t *qs;
  int s = 0;

  if (type == QORA_Q4_1) {
    const block_q8_1 *y = (const block_q8_1 *)q8 + b;
    qs = y->qs;
    *dy = qora_f16_to_f32(y->d);
    *sy = qora_f16_to_f32(y->s);
  } else if (bl == 32 && type != QORA_Q4_K && type != QORA_Q5_K) {
    const block_q8_0 *y = (const block_q8_0 *)q8 + b;
    qs = y->qs;
    *dy = qora_f16_to_f32(y->d);
    *sy = 0;
  } else {
    const block_q8_K *y = (const block_q8_K *)q8 + b * bl / QK_K;
    int sub = (int)(b * bl % QK_K);
    qs = y->qs + sub;
    *dy = y->d;
    s = bl == 16 ? y->bsums[sub / 16] : y->bsums[sub / 16] + y->bsums[sub / 16 + 1];
    *sy = y->d * (float)s;
    *sum = s;
    return qs;
  }
  for (int j = 0; j < bl; j++)
    s += qs[j];
  *sum = s;
  return qs;
}


void qora_gemm_pack_token(int type, int64_t cols, const void *q8, int t, int tok,
                          char *packed) {
  const gemm_layout *l = &layouts[type];
  int64_t nb = cols / l->bl;
  int slot = t % tok;
  char *tile = packed + (size_t)(t / tok) * qora_gemm_tile_bytes(type, cols, tok);
  int8_t *q = (int8_t *)tile;
  int32_t *neg = (int32_t *)(tile + (size_t)cols * tok);
  float *dy = (float *)(neg + nb * tok), *sy = dy + nb * tok;

  for (int64_t b = 0; b < nb; b++) {
    int sum;
    size_t at = (size_t)b * tok + slot;
    const int8_t *qs = act_block(type, q8, b, l->bl, &dy[at], &sy[at], &sum);
    memcpy(q + (b * tok + slot) * l->bl, qs, (size_t)l->bl);
    neg[at] = -l->off * sum;
  }
}


size_t qora_gemv_token_bytes(int type, int64_t cols) {
  if (type == QORA_Q4_K || type == QORA_Q5_K)
    return qora_row_size(QORA_Q8_K, cols);
  if (type != QORA_Q4_0 && type != QORA_Q4_1 && type != QORA_Q8_0)
    return 0;
  return (size_t)(cols / 64) * GEMV_PAIR_BYTES + (size_t)(cols / 32) * 4 + 64;
}


int qora_gemv_available(int type) {
  return qora_gemv_token_bytes(type, QK_K) > 0 && qora_gemm_available();
}


size_t qora_r16_token_bytes(int type, int64_t cols) {
  switch (type) {
  case QORA_Q4_0: case QORA_Q8_0: return (size_t)(cols / 32) * 40;
  case QORA_Q4_K: return (size_t)(cols / QK_K) * sizeof(r16_k4);
  case QORA_Q6_K: return (size_t)(cols / QK_K) * sizeof(r16_k6);
  default: return 0;
  }
}


int qora_r16_available(const qora_weight *w) {
  return w->r16 != NULL && qora_r16_token_bytes(w->type, QK_K) > 0 && qora_r16_cpu();
}


int qora_gemm_float_type(int type) {
  return type == QORA_F32 || type == QORA_F16 || type == QORA_BF16;
}


size_t qora_gemm_float_bytes(int64_t cols, int n_tok) {
  size_t tiles = ((size_t)n_tok + GEMM_TOK - 1) / GEMM_TOK;
  return tiles * (size_t)cols * GEMM_TOK * sizeof(float);
}


/*
** Blocks of 16 (Q6_K) stay on VNNI: a tile product over 16 values does half the work of one
** over 32 for the same loads, stores and float steps, and ran 10 % slower than vpdpbusd.
*/
int qora_gemm_tok(int type) {
  return qora_cpu_level() >= QORA_CPU_AMX && layouts[type].bl == 32 ? AMX_TOK : GEMM_TOK;
}


int qora_gemm_available(void) {
#if defined(__x86_64__)
  return qora_cpu_level() >= QORA_CPU_AVX512;
#else
  return 0;
#endif
}


int qora_r16_cpu(void) {
#if defined(__x86_64__)
  return qora_cpu_level() >= QORA_CPU_AVX2;
#else
  return 0;
#endif
}


int qora_gemm_takes(const qora_weight *w) {
#if defined(__x86_64__)
  if (qora_gemm_layout(w->type) == NULL)
    return 0;
  return qora_gemm_available() ||
         (qora_cpu_level() == QORA_CPU_AVX2 && (w->data != NULL || w->r16 != NULL));
#else
  return 0;
#endif
}
