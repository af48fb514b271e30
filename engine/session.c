/*
** session.c: making sessions, evaluating batches, rewinding.
*/
#include <stdlib.h>
#include <string.h>

#include "attention.h"
#include "err.h"
#include "quant.h"
#include "session.h"
#include "tokenizer.h"

#define DEFAULT_CTX 4096
#define DEFAULT_BATCH 512


/* Scratch for the largest product of a batch; the feed-forward ones take n_ffn tokens. */
static size_t max_scratch(const qora_model *m, int n_batch, int n_ffn) {
  const qora_model_info *in = &m->info;
  size_t best = qora_matmul_scratch(&m->output, n_batch);

  for (int il = 0; il < in->n_layer; il++) {
    const qora_layer *l = &m->layers[il];
    const qora_weight *ws[] = { &l->wq, &l->wk, &l->wv, &l->wo, &l->w_gate, &l->w_up,
                                &l->w_down };
    for (size_t i = 0; i < sizeof ws / sizeof *ws; i++) {
      size_t need = qora_matmul_scratch(ws[i], i < 4 ? n_batch : n_ffn);
      best = need > best ? need : best;
    }
  }
  return best;
}


static float *floats(size_t n, int *ok) {
  float *p = calloc(n ? n : 1, sizeof *p);
  *ok &= p != NULL;
  return p;
}


static int allocate(qora_session *s) {
  const qora_model_info *in = &s->m->info;
  size_t b = (size_t)s->n_batch, nq = (size_t)in->n_head * in->head_dim;
  size_t nkv = (size_t)in->n_head_kv * in->head_dim;
  size_t group = (size_t)(in->n_head / in->n_head_kv);
  int ok = 1;

  s->kv_row = (size_t)in->head_dim * (s->kv_type == QORA_F32 ? 4 : 2);
  s->k_cache = calloc((size_t)in->n_layer * in->n_head_kv * s->n_ctx, s->kv_row);
  s->v_cache = calloc((size_t)in->n_layer * in->n_head_kv * s->n_ctx, s->kv_row);
  ok &= s->k_cache != NULL && s->v_cache != NULL;
  s->x = floats(b * in->n_embd, &ok);
  s->xn = floats(b * in->n_embd, &ok);
  s->tmp = floats(b * in->n_embd, &ok);
  s->q = floats(b * nq, &ok);
  s->att = floats(b * nq, &ok);
  s->k = floats(b * nkv, &ok);
  s->v = floats(b * nkv, &ok);
  s->gate = floats((size_t)s->n_ffn * in->n_ff, &ok);
  s->up = floats((size_t)s->n_ffn * in->n_ff, &ok);
  s->cos = floats(b * in->head_dim / 2, &ok);
  s->sin = floats(b * in->head_dim / 2, &ok);
  s->scores = floats(qora_attention_scratch(s->n_ctx, in->n_head_kv, (int)group, in->head_dim,
                                            qora_pool_size(s->m->pool)), &ok);
  s->logits = floats((size_t)in->n_vocab, &ok);
  s->mm_scratch = malloc(max_scratch(s->m, s->n_batch, s->n_ffn) + 64);
  return ok && s->mm_scratch != NULL;
}


qora_session *qora_session_new(qora_model *m, const qora_session_opts *opts, qora_err *err) {
  const qora_model_info *in = &m->info;
  qora_session_opts o = opts ? *opts : (qora_session_opts){ 0 };
  qora_session *s;

  if (!in->has_weights) {
    qora_fail(err, "%s: a vocabulary without weights (the file has no tensors); it can "
              "tokenize but not run: give a model file", m->gguf ? m->gguf->path : "model");
    return NULL;
  }
  if (o.n_ctx == 0)   /* a training context of 0 is unknown, as the qora command reads it */
    o.n_ctx = in->n_ctx_train > 0 && in->n_ctx_train < DEFAULT_CTX ? in->n_ctx_train
                                                                   : DEFAULT_CTX;
  if (o.n_batch == 0)
    o.n_batch = DEFAULT_BATCH;
  if (o.n_ctx < 1 || o.n_ctx > (1 << 24) || o.n_batch < 1 || o.n_batch > (1 << 16) ||
      (o.kv_f32 != 0 && o.kv_f32 != 1)) {
    qora_fail(err, "session options out of range (context %d, batch %d, kv_f32 %d)",
              o.n_ctx, o.n_batch, o.kv_f32);
    return NULL;
  }
  if (o.n_batch > o.n_ctx)
    o.n_batch = o.n_ctx;
  s = calloc(1, sizeof *s);
  if (s == NULL) {
    qora_fail(err, "out of memory");
    return NULL;
  }
  s->m = m;
  s->n_ctx = o.n_ctx;
  s->n_batch = o.n_batch;
  s->n_ffn = o.n_batch < QORA_FFN_TOKENS ? o.n_batch : QORA_FFN_TOKENS;
  s->kv_type = o.kv_f32 ? QORA_F32 : QORA_F16;
  if (!allocate(s)) {
    qora_session_free(s);
    qora_fail(err, "out of memory for a session of %d tokens; ask for a smaller context",
              o.n_ctx);
    return NULL;
  }
  return s;
}


void qora_session_free(qora_session *s) {
  if (s == NULL)
    return;
  free(s->k_cache);
  free(s->v_cache);
  free(s->x);
  free(s->xn);
  free(s->tmp);
  free(s->q);
  free(s->att);
  free(s->k);
  free(s->v);
  free(s->gate);
  free(s->up);
  free(s->cos);
  free(s->sin);
  free(s->scores);
  free(s->logits);
  free(s->mm_scratch);
  free(s);
}


int qora_session_eval(qora_session *s, const int32_t *ids, int n, float *all_logits,
                      qora_err *err) {
  int n_vocab = s->m->info.n_vocab, pos0 = s->pos;

  if (n < 0 || (n > 0 && ids == NULL))
    return qora_fail(err, "no tokens to evaluate");
  if (n > s->n_ctx - s->pos)
    return qora_fail(err, "%d more %s not fit: the context holds %d and %d %s used; make a "
                     "session with a larger context or rewind", n,
                     n == 1 ? "token does" : "tokens do", s->n_ctx, s->pos,
                     s->pos == 1 ? "is" : "are");
  for (int i = 0; i < n; i++)
    if (ids[i] < 0 || ids[i] >= n_vocab)
      return qora_fail(err, "token id %d at index %d is outside the vocabulary (0 to %d)",
                       (int)ids[i], i, n_vocab - 1);
  /*
  ** Batches as even as can be (513 tokens in batches of 512: 257 and 256): a batch of one
  ** token would go through the decode kernels, whose logits differ in the last bits from the
  ** prompt kernels', which give batches of four or more tokens the logits of one batch.
  */
  int batches = n > 0 ? (n + s->n_batch - 1) / s->n_batch : 0;

  for (int done = 0, b = 0; done < n; b++) {
    int chunk = n / batches + (b < n % batches);
    float *rows = all_logits ? all_logits + (size_t)done * n_vocab : NULL;
    if (qora_forward(s, ids + done, chunk, rows, err) < 0) {
      s->pos = pos0;        /* all or nothing: the batches already done are forgotten too */
      return -1;
    }
    done += chunk;
  }
  return 0;
}


float *qora_session_logits(qora_session *s) {
  return s->has_logits ? s->logits : NULL;
}


int qora_session_pos(const qora_session *s) {
  return s->pos;
}


int qora_session_ctx(const qora_session *s) {
  return s->n_ctx;
}


int qora_session_rewind(qora_session *s, int pos, qora_err *err) {
  if (pos < 0 || pos > s->pos)
    return qora_fail(err, "cannot rewind to %d: the session holds %d tokens", pos, s->pos);
  if (pos < s->pos)
    s->has_logits = 0;      /* the logits belonged to a token now forgotten */
  s->pos = pos;             /* (a rewind to the current position forgets nothing) */
  return 0;
}
