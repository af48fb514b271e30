/*
** forward.c: the transformer of SmolLM3 and Llama, over a batch of tokens.
**
**   x = embed(ids)
**   for each layer:  x += Wo attn(rope(Wq n(x)), rope(Wk n(x)), Wv n(x))   (n = RMSNorm)
**                    x += Wdown (silu(Wgate n(x)) * Wup n(x))
**   logits = Wout n(x)
**
** Matrix products run on the model's thread pool; the other steps split the batch's tokens
** (or, for attention, its (token, key/value head) pairs) across the same threads.
*/
#include <math.h>
#include <string.h>

#include "attention.h"
#include "err.h"
#include "ops.h"
#include "quant.h"
#include "repack.h"
#include "session.h"

/* Below this many tokens a row-wise step runs on the calling thread alone. */
#define PARALLEL_MIN_ROWS 4

typedef struct step {
  qora_session *s;
  const qora_layer *l;
  int il;
  int n;                    /* tokens in the batch */
  const float *norm_w;      /* for the RMSNorm step */
  const float *src;
  float *dst;
} step;

typedef void (*row_fn)(const step *st, int t);

typedef struct rows_job {
  const step *st;
  row_fn fn;
  long n;
} rows_job;


static void rows_worker(void *ctx, int ith, int nth) {
  const rows_job *j = ctx;
  long lo, hi;

  qora_split(j->n, ith, nth, &lo, &hi);
  for (long t = lo; t < hi; t++)
    j->fn(j->st, (int)t);
}


/* Runs fn(st, t) for t in [0, n): on the pool when the batch is large enough. */
static void for_rows(const step *st, row_fn fn, int n) {
  rows_job j = { st, fn, n };

  if (n < PARALLEL_MIN_ROWS) {
    rows_worker(&j, 0, 1);
    return;
  }
  qora_pool_run(st->s->m->pool, rows_worker, &j);
}


/* ------------------------------------------------------------------ row steps */

/*
** A tied table is read back from the LM head's repacked copy when there is one: looking rows
** up in the stored layout would bring its mapped pages back into memory (the kernel maps 64 KB
** around each faulting row), up to a second copy of the table after a few thousand tokens. A
** folder's table has no stored layout left then (e->data NULL: qora_model_repack freed it).
*/
static void embed_row(const step *st, int t) {
  const qora_model *m = st->s->m;
  const qora_weight *e = &m->tok_embd;
  const qora_type_traits *tt = qora_type_get(e->type);
  int32_t id = ((const int32_t *)st->src)[t];
  float *x = st->s->x + (size_t)t * e->cols;
  _Alignas(64) uint8_t blk[sizeof(block_q6_K)];     /* the largest block with an r16 layout */

  if (e->data != NULL && (m->output.r16 == NULL || m->output.data != e->data)) {
    tt->to_float((const uint8_t *)e->data + (size_t)id * e->row_bytes, x, e->cols);
    return;
  }
  for (int64_t b = 0; b < e->cols / tt->blck; b++) {
    qora_r16_block(&m->output, id, b, blk);
    tt->to_float(blk, x + b * tt->blck, tt->blck);
  }
}


static void rmsnorm_row(const step *st, int t) {
  int n = st->s->m->info.n_embd;
  const float *x = st->src + (size_t)t * n;
  float *y = st->dst + (size_t)t * n;
  double ss = 0.0;
  float scale;

  for (int i = 0; i < n; i++)
    ss += (double)x[i] * x[i];
  scale = (float)(1.0 / sqrt(ss / n + st->s->m->info.norm_eps));
  for (int i = 0; i < n; i++)
    y[i] = x[i] * scale * st->norm_w[i];
}


static void add_row(const step *st, int t) {
  int n = st->s->m->info.n_embd;
  float *x = st->dst + (size_t)t * n;
  const float *d = st->src + (size_t)t * n;

  for (int i = 0; i < n; i++)
    x[i] += d[i];
}


static void swiglu_row(const step *st, int t) {
  int n = st->s->m->info.n_ff;
  float *g = st->s->gate + (size_t)t * n;
  const float *u = st->s->up + (size_t)t * n;

  qora_ops_get()->swiglu(g, u, n);
}


/* Cos and sin of every rotated pair at the token's position, YaRN's mscale included. */
static void rope_table_row(const step *st, int t) {
  const qora_rope *r = &st->s->m->rope;
  int half = r->n_dims / 2;
  double p = st->s->pos + t;

  for (int i = 0; i < half; i++) {
    double a = p * r->freq[i];
    st->s->cos[(size_t)t * half + i] = (float)cos(a) * r->mscale;
    st->s->sin[(size_t)t * half + i] = (float)sin(a) * r->mscale;
  }
}


/* Rotates adjacent pairs (2i, 2i + 1) of each head, as GGUF's row order expects. */
static void rope_heads(const qora_session *s, float *v, int n_heads, int t) {
  int hd = s->m->info.head_dim, half = hd / 2;
  const float *c = s->cos + (size_t)t * half, *sn = s->sin + (size_t)t * half;

  for (int h = 0; h < n_heads; h++) {
    float *x = v + (size_t)h * hd;
    for (int i = 0; i < half; i++) {
      float x0 = x[2 * i], x1 = x[2 * i + 1];
      x[2 * i] = x0 * c[i] - x1 * sn[i];
      x[2 * i + 1] = x0 * sn[i] + x1 * c[i];
    }
  }
}


static void store_kv(const qora_session *s, const float *src, uint8_t *dst, int n) {
  if (s->kv_type == QORA_F32) {
    memcpy(dst, src, (size_t)n * sizeof *src);
    return;
  }
  qora_type_get(QORA_F16)->from_float(src, dst, n);
}


/* RoPE on the token's q and k (where the layer uses it), then each head's k and v cached. */
static void qk_rope_store_row(const step *st, int t) {
  qora_session *s = st->s;
  const qora_model_info *in = &s->m->info;
  int nkv = in->n_head_kv * in->head_dim;
  float *q = s->q + (size_t)t * in->n_head * in->head_dim, *k = s->k + (size_t)t * nkv;

  if (st->l->use_rope) {
    rope_heads(s, q, in->n_head, t);
    rope_heads(s, k, in->n_head_kv, t);
  }
  for (int g = 0; g < in->n_head_kv; g++) {
    size_t at = (size_t)t * nkv + (size_t)g * in->head_dim;
    store_kv(s, s->k + at, qora_kv_at(s, s->k_cache, st->il, g, s->pos + t), in->head_dim);
    store_kv(s, s->v + at, qora_kv_at(s, s->v_cache, st->il, g, s->pos + t), in->head_dim);
  }
}


/* ------------------------------------------------------------------ blocks */

static void matmul(qora_session *s, const qora_weight *w, const float *x, int n, float *y) {
  qora_matmul(s->m->pool, w, x, (int)w->cols, n, y, (int)w->rows, s->mm_scratch);
}


/* Products that read the same activations x: one conversion and one pool job at decode. */
static void matmul_n(qora_session *s, int n, const qora_weight *const *w, const float *x,
                     int n_tok, float *const *y) {
  int ldy[QORA_FUSE_MAX];

  for (int i = 0; i < n; i++)
    ldy[i] = (int)w[i]->rows;
  qora_matmul_n(s->m->pool, n, w, x, (int)w[0]->cols, n_tok, y, ldy, s->mm_scratch);
}


/*
** The product after the pool's next jobs (w1, w2 NULL for fewer weights): a thread that waits
** at the end of one of them asks for the first lines of its share of it (qora_matmul_next).
*/
static void next_product(const step *st, int n_tok, const qora_weight *w0,
                         const qora_weight *w1, const qora_weight *w2) {
  const qora_weight *w[] = {w0, w1, w2};
  int n = w2 ? 3 : w1 ? 2 : 1;

  qora_matmul_next(st->s->m->pool, n, w, n_tok);
}


/* The first product of layer il, or the LM head after the last layer. */
static void next_layer(const step *st, int il, int n_tok) {
  const qora_model *m = st->s->m;

  if (il < m->info.n_layer) {
    const qora_layer *l = &m->layers[il];
    next_product(st, n_tok, &l->wq, &l->wk, &l->wv);
  } else {
    next_product(st, n_tok, &m->output, NULL, NULL);
  }
}


static void attention_block(step *st) {
  qora_session *s = st->s;
  const qora_layer *l = st->l;

  st->norm_w = l->attn_norm;
  st->src = s->x;
  st->dst = s->xn;
  for_rows(st, rmsnorm_row, st->n);
  const qora_weight *qkv[] = {&l->wq, &l->wk, &l->wv};
  float *const qkv_out[] = {s->q, s->k, s->v};
  next_product(st, st->n, &l->wo, NULL, NULL);     /* after qkv and attention */
  matmul_n(s, 3, qkv, s->xn, st->n, qkv_out);
  for_rows(st, qk_rope_store_row, st->n);
  qora_attention(s, st->il, st->n);
  next_product(st, st->n, &l->w_gate, &l->w_up, NULL);
  matmul(s, &l->wo, s->att, st->n, s->tmp);
  st->src = s->tmp;
  st->dst = s->x;
  for_rows(st, add_row, st->n);
}


static void ffn_block(step *st) {
  qora_session *s = st->s;
  const qora_layer *l = st->l;
  int n_embd = s->m->info.n_embd;
  step part = *st;

  st->norm_w = l->ffn_norm;
  st->src = s->x;
  st->dst = s->xn;
  for_rows(st, rmsnorm_row, st->n);
  const qora_weight *gate_up[] = {&l->w_gate, &l->w_up};
  float *const gate_up_out[] = {s->gate, s->up};
  /* equal parts: a tail of a few tokens would take the decode kernels, which round otherwise */
  int parts = (st->n + s->n_ffn - 1) / s->n_ffn, per = (st->n + parts - 1) / parts;
  for (int t0 = 0; t0 < st->n; t0 += per) {
    part.n = st->n - t0 < per ? st->n - t0 : per;
    next_product(st, part.n, &l->w_down, NULL, NULL);
    matmul_n(s, 2, gate_up, s->xn + (size_t)t0 * n_embd, part.n, gate_up_out);
    for_rows(&part, swiglu_row, part.n);
    next_layer(st, st->il + 1, part.n);
    matmul(s, &l->w_down, s->gate, part.n, s->tmp + (size_t)t0 * n_embd);
  }
  st->src = s->tmp;
  st->dst = s->x;
  for_rows(st, add_row, st->n);
}


/* Final norm and LM head: every row when all_logits is given, else the last one only. */
static void output_head(step *st, float *all_logits) {
  qora_session *s = st->s;
  int n_embd = s->m->info.n_embd, n_vocab = s->m->info.n_vocab;
  int first = all_logits ? 0 : st->n - 1;
  step last = *st;

  last.norm_w = s->m->output_norm;
  last.src = s->x + (size_t)first * n_embd;
  last.dst = s->xn;
  for_rows(&last, rmsnorm_row, st->n - first);
  next_layer(st, 0, all_logits ? st->n : 1);      /* the next token's */
  if (all_logits) {
    matmul(s, &s->m->output, s->xn, st->n, all_logits);
    memcpy(s->logits, all_logits + (size_t)(st->n - 1) * n_vocab, n_vocab * sizeof(float));
  } else {
    matmul(s, &s->m->output, s->xn, 1, s->logits);
  }
  s->has_logits = 1;
}


/*
** Damaged weights (NaN, infinities) show up as logits that are not finite: say so. x holds
** rows of n_vocab logits.
*/
static int check_finite(const float *x, int rows, int n_vocab, qora_err *err) {
  size_t n = (size_t)rows * n_vocab;

  for (size_t i = 0; i < n; i++)
    if (!isfinite(x[i]))
      return qora_fail(err, "the model produced a logit that is not a number (id %zu): its "
                       "weights are damaged or overflow; check the file", i % n_vocab);
  return 0;
}


int qora_forward(qora_session *s, const int32_t *ids, int n, float *all_logits, qora_err *err) {
  step st = { .s = s, .n = n, .src = (const float *)ids };

  if (n < 1 || n > s->n_batch || s->pos + n > s->n_ctx)
    return qora_fail(err, "internal: batch of %d at position %d does not fit", n, s->pos);
  for_rows(&st, embed_row, n);
  for_rows(&st, rope_table_row, n);
  for (int il = 0; il < s->m->info.n_layer; il++) {
    st.il = il;
    st.l = &s->m->layers[il];
    attention_block(&st);
    ffn_block(&st);
  }
  output_head(&st, all_logits);
  if (check_finite(all_logits ? all_logits : s->logits,       /* every row the caller sees */
                   all_logits ? n : 1, s->m->info.n_vocab, err) < 0) {
    s->has_logits = 0;      /* and the batch's cache rows are left out of the session */
    return -1;
  }
  s->pos += n;
  return 0;
}
