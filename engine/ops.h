/*
** ops.h: the row kernels of the forward pass besides matrix products, chosen by CPU level
** like the matrix kernels: attention over cached keys and values, SwiGLU, and softmax's
** exponentials. Each has a scalar reference (ops.c) that the SIMD versions are tested against.
*/
#ifndef QORA_OPS_H
#define QORA_OPS_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

/*
** Over cached keys and values, in the cache's type (F16 or F32):
**   scores: s[h * ss + j] = scale * dot(q + h * hd, row j of k) for h < group, j < n
**   accum:  out[h * hd + i] += p[h * ps + j] * (row j of v)[i]       for h < group, j < n
** Rows are stride bytes apart; each row holds hd values. scores may ask for the rows of v
** (the same positions' values, or NULL) to be brought into L2 while it reads the keys, as
** the key/value walk says (qora_kv_set_walk); it never reads them.
*/
typedef void (*qora_scores_fn)(const void *k, const void *v, size_t stride, int n,
                               const float *q, int group, int hd, float scale, float *s,
                               int ss);
typedef void (*qora_accum_fn)(const void *v, size_t stride, int n, const float *p, int ps,
                              int group, int hd, float *out);

/*
** attend: the whole of a range for group query heads, with s[h][j] the scores above:
**   max[h] = the largest s[h][j] over j < n (n >= 1),
**   sum[h] = the sum over j of e[h][j] = exp(max(s[h][j] - max[h], QORA_EXP_MIN)),
**   out[h * hd + i] = the sum over j of e[h][j] * (row j of v)[i].
** work holds group * QORA_ATTEND_BLOCK floats. The order of the additions, hence the last
** bits, depends on the walk over the keys (qora_kv_set_walk).
*/
#define QORA_ATTEND_BLOCK 64

typedef void (*qora_attend_fn)(const void *k, const void *v, size_t stride, int n,
                               const float *q, int group, int hd, float scale, float *max,
                               float *sum, float *out, float *work);

/* Exponents below this are raised to it: exp stays a normal float (subnormals are slow). */
#define QORA_EXP_MIN -87.3f

/*
** exp(x) with x raised to QORA_EXP_MIN, a NaN x kept (fmaxf would drop it): a NaN score,
** from a damaged weight or an overflow, must reach the logits, which are checked.
*/
static inline float qora_exp_floor(float x) {
  return expf(x < QORA_EXP_MIN ? QORA_EXP_MIN : x);
}

/*
** Prefill attention works on tiles of QORA_TILE query rows, stored transposed so that the
** rows are the vector lanes: qt[d * QORA_TILE + r], st[j * QORA_TILE + r], ot[d * QORA_TILE + r].
** Keys and values come widened to floats, one row per key: kb[j * hd + d].
**   tile_scores: st[j][r] = sum_d kb[j][d] * qt[d][r]            for j < nk, every r
**   tile_accum:  ot[d][r] += sum_j vb[j][d] * st[j][r]           for d < hd, every r
*/
#define QORA_TILE 64

typedef void (*qora_tile_scores_fn)(const float *qt, const float *kb, int nk, int hd,
                                    float *st);
typedef void (*qora_tile_accum_fn)(const float *st, const float *vb, int nk, int hd,
                                   float *ot);

typedef struct qora_ops {
  qora_scores_fn scores_f16, scores_f32;
  qora_accum_fn accum_f16, accum_f32;
  qora_attend_fn attend_f16, attend_f32;
  qora_tile_scores_fn tile_scores;
  qora_tile_accum_fn tile_accum;
  /* g[i] = silu(g[i]) * u[i] */
  void (*swiglu)(float *g, const float *u, int n);
  /* the largest of x[0 .. n), n >= 1 (a NaN in x may or may not be returned) */
  float (*max)(const float *x, int n);
  /* x[i] = exp(max(x[i] - max, QORA_EXP_MIN)), so never subnormal; returns their sum */
  float (*exp_sum)(float *x, int n, float max);
  /* x[i] = exp(max(x[i] - m[i], QORA_EXP_MIN)) */
  void (*exp_sub)(float *x, const float *m, int n);
  /* y[i] = x[i], F16 to float */
  void (*widen_f16)(const uint16_t *x, float *y, int n);
} qora_ops;

/* The kernels of the active CPU level (qora_cpu_level). */
const qora_ops *qora_ops_get(void);

/*
** How decoding's scores walk a head's cached keys (the results depend on neither field): runs,
** 1 or 4, is how many far-apart runs of the range are read side by side, four keys at a time
** taking one from each (AVX-512 only); v_ahead, how many rows ahead the values are asked for
** while the keys are read (0: not asked; AVX2 and AVX-512), and whether attend asks for the
** next block's keys and values while it adds a block's values. Chosen per CPU at first use;
** returns -1 on a bad value.
*/
typedef struct qora_kv_walk {
  int runs;
  int v_ahead;
} qora_kv_walk;

int qora_kv_set_walk(int runs, int v_ahead);
qora_kv_walk qora_kv_get_walk(void);

/* The walk in force, read by the kernels; set only through the two functions above. */
extern qora_kv_walk qora_kv_walk_now;

/* The scalar reference and the SIMD overlays (x86-64 builds only). */
void qora_ops_install_scalar(qora_ops *o);
void qora_ops_install_avx2(qora_ops *o);
void qora_ops_install_avx512(qora_ops *o);

#endif
