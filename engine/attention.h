/*
** attention.h: causal attention of a batch over the KV cache (internal).
*/
#ifndef QORA_ATTENTION_H
#define QORA_ATTENTION_H

#include <stddef.h>

#include "session.h"

/*
** Row kernels over cached keys and values, in the cache's type (F16 or F32):
**   scores: s[h * ss + j] = scale * dot(q + h * hd, row j of k) for h < group, j < n
**   accum:  out[h * hd + i] += p[h * ps + j] * (row j of v)[i]       for h < group, j < n
** Rows are stride bytes apart; each row holds hd values.
*/
typedef void (*qora_attn_scores_fn)(const void *k, size_t stride, int n, const float *q,
                                    int group, int hd, float scale, float *s, int ss);
typedef void (*qora_attn_accum_fn)(const void *v, size_t stride, int n, const float *p,
                                   int ps, int group, int hd, float *out);

typedef struct qora_attn_kernels {
  qora_attn_scores_fn scores_f16, scores_f32;
  qora_attn_accum_fn accum_f16, accum_f32;
} qora_attn_kernels;

/* The kernels of the active CPU level (qora_cpu_level). */
const qora_attn_kernels *qora_attn_get(void);

/* The scalar reference and the SIMD overlays (x86-64 builds only). */
void qora_attn_install_scalar(qora_attn_kernels *k);
void qora_attn_install_avx2(qora_attn_kernels *k);
void qora_attn_install_avx512(qora_attn_kernels *k);

/* Scratch floats per thread that qora_attention needs for a session. */
size_t qora_attention_scratch(int n_ctx, int group, int head_dim, int n_threads);

/* Attention of layer il for the batch's n tokens: reads s->q and the cache, writes s->att. */
void qora_attention(qora_session *s, int il, int n);

#endif
