/*
** session.h: a session's state (internal): its KV cache and the scratch memory of one batch.
** Everything is allocated when the session is made; evaluation allocates nothing.
*/
#ifndef QORA_SESSION_H
#define QORA_SESSION_H

#include "model.h"

/*
** The feed-forward part of a batch runs over at most this many tokens at a time: its two
** n_ff-wide buffers are the largest of a batch (45 MB for 512 tokens of SmolLM3-3B), and
** 256 tokens per product keep the tiled kernels as fast as 512 (prompt speed within noise).
*/
#ifndef QORA_FFN_TOKENS
#define QORA_FFN_TOKENS 256
#endif

struct qora_session {
  qora_model *m;
  int n_ctx;
  int n_batch;
  int n_ffn;                /* min(n_batch, QORA_FFN_TOKENS) */
  int kv_type;              /* QORA_F16 or QORA_F32 */
  int pos;                  /* tokens in the cache */
  size_t kv_row;            /* bytes of one head's key (or value) at one position */
  uint8_t *k_cache;         /* (n_layer, n_head_kv, n_ctx, head_dim) in kv_type */
  uint8_t *v_cache;         /* same layout */
  float *x;                 /* (n_batch, n_embd) the residual stream */
  float *xn;                /* (n_batch, n_embd) normalized input of a block */
  float *q;                 /* (n_batch, n_head * head_dim) */
  float *k;                 /* (n_batch, n_head_kv * head_dim) */
  float *v;                 /* (n_batch, n_head_kv * head_dim) */
  float *att;               /* (n_batch, n_head * head_dim) attention output */
  float *gate;              /* (n_ffn, n_ff) */
  float *up;                /* (n_ffn, n_ff) */
  float *tmp;               /* (n_batch, n_embd) a block's output before the residual add */
  float *cos;               /* (n_batch, head_dim / 2) RoPE of the batch's positions */
  float *sin;
  float *scores;            /* attention scratch (see qora_attention_scratch) */
  float *logits;            /* (n_vocab) after the last evaluated token */
  int has_logits;
  void *mm_scratch;         /* activations converted for matmul */
};

/*
** Head g's row at position pos of layer il. Positions are the inner index so that attention
** reads each head's keys and values as one sequential run.
*/
static inline uint8_t *qora_kv_at(const qora_session *s, uint8_t *cache, int il, int g,
                                  int pos) {
  size_t row = ((size_t)il * s->m->info.n_head_kv + g) * s->n_ctx + pos;

  return cache + row * s->kv_row;
}


/* Runs the transformer on ids[0..n) at positions pos.., n <= n_batch. */
int qora_forward(qora_session *s, const int32_t *ids, int n, float *all_logits, qora_err *err);

#endif
